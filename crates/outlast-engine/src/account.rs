//! An account: balances per asset, open-order count, and the request ids it has used.
//!
//! The request-id table is what makes account requests idempotent. An id is remembered from the
//! moment its request applies until both (a) the request window has passed — after which no
//! retry can be valid, because the engine rejects requests whose client timestamp is older than
//! the window — and (b) the order it created, if any, has left the book. This module must never
//! decide anything about orders or money beyond keeping these records consistent.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

use crate::event::Summary;
use crate::types::{AssetId, ClientId, MarketId, OrderId};

/// One asset's balance in one account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    /// Free to use.
    pub available: u64,
    /// Held by open orders and pending withdrawals.
    pub locked: u64,
}

/// What the engine remembers about a request id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdEntry {
    /// Fingerprint of the request's action, to tell a retry from a different request.
    pub fingerprint: u64,
    /// Engine time the request applied.
    pub applied_ms: u64,
    /// What the request returned.
    pub summary: Summary,
    /// The open order this id names, while it rests on a book.
    pub open: Option<(MarketId, OrderId)>,
}

/// An account's state.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Indexed by asset id; assets beyond the end have a zero balance.
    pub balances: Vec<Balance>,
    /// Orders of this account resting on any book.
    pub open_orders: u32,
    /// Request ids in use (remembered, or naming an open order).
    pub ids: BTreeMap<ClientId, IdEntry>,
    /// (applied_ms, id) in apply order; drives forgetting. May name ids already replaced.
    pub id_queue: VecDeque<(u64, ClientId)>,
}

impl Account {
    /// The balance of `asset` (zero if never touched).
    pub fn balance(&self, asset: AssetId) -> Balance {
        self.balances.get(asset as usize).copied().unwrap_or_default()
    }

    /// Mutable balance of `asset`, growing the vector if needed.
    pub fn balance_mut(&mut self, asset: AssetId) -> &mut Balance {
        let index = asset as usize;
        if index >= self.balances.len() {
            self.balances.resize(index + 1, Balance::default());
        }
        &mut self.balances[index]
    }

    /// How many queued ids have aged out at `now_ms` (they sit at the front of the queue).
    pub fn expired_ids(&self, now_ms: u64, retention_ms: u64) -> usize {
        self.id_queue.iter().take_while(|(applied_ms, _)| applied_ms.saturating_add(retention_ms) < now_ms).count()
    }

    /// Forgets aged-out ids, except those still naming an open order.
    pub fn forget_expired_ids(&mut self, now_ms: u64, retention_ms: u64) {
        while let Some(&(applied_ms, id)) = self.id_queue.front() {
            if applied_ms.saturating_add(retention_ms) >= now_ms {
                break;
            }
            self.id_queue.pop_front();
            if let Some(entry) = self.ids.get(&id) {
                let aged = entry.applied_ms.saturating_add(retention_ms) < now_ms;
                if aged && entry.open.is_none() {
                    self.ids.remove(&id);
                }
            }
        }
    }

    /// Records that the order named by `id` left the book. Forgets the id if it has aged out.
    pub fn close_order(&mut self, id: ClientId, now_ms: u64, retention_ms: u64) {
        assert!(self.open_orders > 0, "an account closing an order had one open");
        self.open_orders -= 1;
        let entry = self.ids.get_mut(&id).expect("an open order's client id is remembered");
        assert!(entry.open.is_some(), "the id named an open order");
        entry.open = None;
        if entry.applied_ms.saturating_add(retention_ms) < now_ms {
            self.ids.remove(&id);
        }
    }
}
