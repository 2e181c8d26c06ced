//! API keys: which account a key acts for.
//!
//! The registry is replicated state so that every node can tell whose request a signed call is,
//! and so that a revoked key stops working everywhere at the same log index. It holds only the
//! public key name and its account: the signing secret is never part of a command, the log or a
//! snapshot (the API layer derives it from the key name with a secret that only nodes hold).

use crate::engine::Engine;
use crate::event::{Outcome, Summary};
use crate::reject::Reject;
use crate::types::{AccountId, FEE_ACCOUNT};

/// Shortest API key name, in bytes (Binance's keys are 64).
pub const API_KEY_LEN_MIN: usize = 16;
/// Longest API key name, in bytes.
pub const API_KEY_LEN_MAX: usize = 64;

/// Whether `key` is a well-formed API key name: 16 to 64 ASCII letters and digits.
pub fn api_key_valid(key: &str) -> bool {
    (API_KEY_LEN_MIN..=API_KEY_LEN_MAX).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Engine {
    pub(crate) fn register_api_key(&mut self, key: &str, account: AccountId) -> Outcome {
        if !api_key_valid(key) {
            return Outcome::Rejected(Reject::InvalidApiKey);
        }
        if account == FEE_ACCOUNT {
            return Outcome::Rejected(Reject::ReservedAccount);
        }
        if !self.accounts.contains_key(&account) {
            return Outcome::Rejected(Reject::UnknownAccount);
        }
        if let Some(&owner) = self.api_keys.get(key) {
            return if owner == account {
                Outcome::Duplicate(Summary::ApiKeyRegistered(account))
            } else {
                Outcome::Rejected(Reject::DuplicateIdMismatch)
            };
        }
        if self.api_keys.len() as u64 >= self.limits.api_keys_max {
            return Outcome::Rejected(Reject::ApiKeysLimit);
        }
        self.api_keys.insert(key.to_string(), account);
        Outcome::Applied(Summary::ApiKeyRegistered(account))
    }

    pub(crate) fn revoke_api_key(&mut self, key: &str) -> Outcome {
        match self.api_keys.remove(key) {
            Some(account) => Outcome::Applied(Summary::ApiKeyRevoked(account)),
            None => Outcome::Rejected(Reject::UnknownApiKey),
        }
    }

    /// The account an API key acts for, if the key is registered.
    pub fn api_key_account(&self, key: &str) -> Option<AccountId> {
        self.api_keys.get(key).copied()
    }

    /// The API keys of an account, in name order.
    pub fn api_keys_of(&self, account: AccountId) -> Vec<&str> {
        self.api_keys.iter().filter(|(_, &owner)| owner == account).map(|(key, _)| key.as_str()).collect()
    }
}
