//! Listen keys for the user data stream, as Binance has them: random, one open per account,
//! valid for `LISTEN_KEY_TTL_MS` after it was opened or last kept alive, closed on request.
//!
//! They are replicated state so that a client that fails over to another node keeps its key,
//! and so that closing or expiry ends the key on every node at one log index. The key itself is
//! drawn at random by the API node that is asked (the engine draws nothing); opening when the
//! account already has a key open for the same API key extends that one instead, and the drawn
//! key is dropped (opened through another API key, the old one is replaced).
//! Expiry is by engine time (the leader's stamps); a reader also checks its own clock, so a key
//! is never served past its time because no command has moved engine time since.
//!
//! Must never: let a key act for another account than the one that opened it, or outlive its
//! API key (a revoked key's listen key is dead: see `listen_key_live`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::event::{Outcome, Summary};
use crate::reject::Reject;
use crate::types::{AccountId, FEE_ACCOUNT};

/// How long a listen key lives after it was opened or last kept alive (Binance: 60 minutes).
pub const LISTEN_KEY_TTL_MS: u64 = 60 * 60 * 1_000;

/// What an account holder asks of their listen key.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ListenKeyAction {
    /// Open a listen key, or extend the account's open one. `listen_key` is the new key, drawn
    /// at random by the node that was asked; `api_key` is the key that asked (the stream ends
    /// if it is revoked).
    Open {
        /// The API key that asked.
        api_key: String,
        /// The new key, if the account has none open.
        listen_key: String,
    },
    /// Extend the key by `LISTEN_KEY_TTL_MS` from now.
    KeepAlive {
        /// The key.
        listen_key: String,
    },
    /// Close the key now.
    Close {
        /// The key.
        listen_key: String,
    },
}

/// A listen-key request, for the account the API authenticated.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ListenKeyRequest {
    /// Whose.
    pub account: AccountId,
    /// What.
    pub action: ListenKeyAction,
}

/// An open listen key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenKey {
    /// The key.
    pub key: String,
    /// The account whose events it streams.
    pub account: AccountId,
    /// The API key that opened it.
    pub api_key: String,
    /// Engine time after which it is closed, in ms since the epoch.
    pub expires_ms: u64,
}

/// The open listen keys and their indexes (state: in snapshots and the digest, by key).
#[derive(Clone, Debug, Default)]
pub(crate) struct ListenKeys {
    by_key: BTreeMap<String, ListenKey>,
    by_account: BTreeMap<AccountId, String>,
    by_expiry: BTreeSet<(u64, String)>,
}

impl ListenKeys {
    fn insert(&mut self, entry: ListenKey) {
        self.by_account.insert(entry.account, entry.key.clone());
        self.by_expiry.insert((entry.expires_ms, entry.key.clone()));
        self.by_key.insert(entry.key.clone(), entry);
    }

    fn remove(&mut self, key: &str) -> Option<ListenKey> {
        let entry = self.by_key.remove(key)?;
        self.by_account.remove(&entry.account);
        self.by_expiry.remove(&(entry.expires_ms, entry.key.clone()));
        Some(entry)
    }

    /// Drops every key whose time has come by `now_ms`: each key once, so cheap on average.
    fn expire(&mut self, now_ms: u64) {
        while let Some((expires_ms, key)) = self.by_expiry.first().cloned() {
            if expires_ms > now_ms {
                break;
            }
            self.remove(&key);
        }
    }

    /// Every open key, by key (for snapshots).
    pub(crate) fn all(&self) -> impl Iterator<Item = &ListenKey> {
        self.by_key.values()
    }

    /// Rebuilds from a snapshot's keys; `None` if two share a key or an account.
    pub(crate) fn restore(entries: Vec<ListenKey>) -> Option<ListenKeys> {
        let mut keys = ListenKeys::default();
        for entry in entries {
            if keys.by_key.contains_key(&entry.key) || keys.by_account.contains_key(&entry.account) {
                return None;
            }
            keys.insert(entry);
        }
        Some(keys)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}

impl Engine {
    pub(crate) fn listen_key_request(&mut self, request: &ListenKeyRequest) -> Outcome {
        let account = request.account;
        if account == FEE_ACCOUNT {
            return Outcome::Rejected(Reject::ReservedAccount);
        }
        if !self.accounts.contains_key(&account) {
            return Outcome::Rejected(Reject::UnknownAccount);
        }
        let now_ms = self.now_ms;
        let expires_ms = now_ms.saturating_add(LISTEN_KEY_TTL_MS);
        // Only open keys count: an expired one is gone, whether or not it was swept yet.
        let open = |key: &str| self.listen_keys.by_key.get(key).filter(|entry| entry.expires_ms > now_ms);
        // Decide first; change nothing unless the request is applied.
        let entry = match &request.action {
            ListenKeyAction::Open { api_key, listen_key } => {
                if self.api_key(api_key).is_none_or(|key| key.spec.account != account) {
                    return Outcome::Rejected(Reject::UnknownApiKey);
                }
                if !crate::api_keys::api_key_valid(listen_key) {
                    return Outcome::Rejected(Reject::InvalidApiKey);
                }
                let current = self.listen_keys.by_account.get(&account).and_then(|key| open(key));
                // The open key is extended only for the API key it was opened with: another
                // key gets a new listen key, so one opened by a key since revoked (stolen,
                // say) never comes back to life.
                let key = match current.filter(|current| current.api_key == *api_key) {
                    Some(current) => current.key.clone(),
                    None if open(listen_key).is_some() => return Outcome::Rejected(Reject::DuplicateIdMismatch),
                    None => listen_key.clone(),
                };
                Some(ListenKey { key, account, api_key: api_key.clone(), expires_ms })
            }
            ListenKeyAction::KeepAlive { listen_key } => match open(listen_key) {
                Some(entry) if entry.account == account => Some(ListenKey { expires_ms, ..entry.clone() }),
                _ => return Outcome::Rejected(Reject::UnknownListenKey),
            },
            ListenKeyAction::Close { listen_key } => match open(listen_key) {
                Some(entry) if entry.account == account => None,
                _ => return Outcome::Rejected(Reject::UnknownListenKey),
            },
        };
        self.listen_keys.expire(now_ms);
        match &request.action {
            ListenKeyAction::Open { .. } => {
                if let Some(old) = self.listen_keys.by_account.get(&account).cloned() {
                    self.listen_keys.remove(&old);
                }
            }
            ListenKeyAction::KeepAlive { listen_key } | ListenKeyAction::Close { listen_key } => {
                self.listen_keys.remove(listen_key);
            }
        }
        if let Some(entry) = entry {
            self.listen_keys.insert(entry);
        }
        assert!(self.listen_keys.len() <= self.accounts.len(), "one listen key per account at most");
        Outcome::Applied(Summary::ListenKey(account))
    }

    /// The account's open listen key, if any (by engine time; see `listen_key_live`).
    pub fn listen_key_of(&self, account: AccountId) -> Option<&ListenKey> {
        let key = self.listen_keys.by_account.get(&account)?;
        self.listen_keys.by_key.get(key).filter(|entry| entry.expires_ms > self.now_ms)
    }

    /// The listen key `key` if it may stream at `now_ms` (the reader's clock, or engine time if
    /// later): open, not expired, and its API key not revoked.
    pub fn listen_key_live(&self, key: &str, now_ms: u64) -> Option<&ListenKey> {
        let now_ms = now_ms.max(self.now_ms);
        let entry = self.listen_keys.by_key.get(key)?;
        (entry.expires_ms > now_ms && self.api_key(&entry.api_key).is_some()).then_some(entry)
    }
}
