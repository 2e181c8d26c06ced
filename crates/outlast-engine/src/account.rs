//! An account: balances per asset, open-order count, and the request ids it has used.
//!
//! Ids are forgotten in the order they were remembered, through one engine-wide queue (appends
//! to one sequential buffer are far cheaper than to thousands of per-account ones).
//!
//! The request-id table is what makes account requests idempotent. An id is remembered from the
//! moment its request applies until both (a) the request window has passed — after which no
//! retry can be valid, because the engine rejects requests whose client timestamp is older than
//! the window — and (b) the order it created, if any, has left the book. This module must never
//! decide anything about orders or money beyond keeping these records consistent.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::event::Summary;
use crate::hasher::ClientIdBuildHasher;
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
    /// The order this request created, if any. It is open while it rests on that market's
    /// book; the engine asks the book rather than keeping a flag here, so that a fill or cancel
    /// need not touch this table.
    pub order: Option<(MarketId, OrderId)>,
}

/// An account's state.
#[derive(Clone, Debug)]
pub struct Account {
    /// Indexed by asset id; assets beyond the end have a zero balance.
    pub balances: Vec<Balance>,
    /// Orders of this account resting on any book.
    pub open_orders: u32,
    /// Request ids in use (remembered, or naming an open order). Never iterated into output
    /// without sorting.
    pub ids: HashMap<ClientId, IdEntry, ClientIdBuildHasher>,
    /// Entries of this account in the engine's id queue (remembered ids not yet forgotten).
    pub queued_ids: u32,
}

impl Account {
    /// An empty account whose id table is keyed by `hash_seed`.
    pub fn new(hash_seed: u64) -> Account {
        Account {
            balances: Vec::new(),
            open_orders: 0,
            ids: HashMap::with_hasher(ClientIdBuildHasher::with_seed(hash_seed)),
            queued_ids: 0,
        }
    }

    /// The id table as (id, entry) pairs sorted by id (a canonical order).
    pub fn ids_sorted(&self) -> Vec<(ClientId, IdEntry)> {
        let mut ids: Vec<(ClientId, IdEntry)> = self.ids.iter().map(|(k, v)| (*k, *v)).collect();
        ids.sort_unstable_by_key(|(k, _)| *k);
        ids
    }

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

    /// Records that an order of this account left the book. If the request that placed it has
    /// aged out of the window, its id was kept only for the open order: forget it now.
    pub fn close_order(&mut self, id: ClientId, placed_ms: u64, now_ms: u64, retention_ms: u64) {
        assert!(self.open_orders > 0, "an account closing an order had one open");
        self.open_orders -= 1;
        if placed_ms.saturating_add(retention_ms) < now_ms {
            let entry = self.ids.remove(&id);
            assert!(entry.is_some_and(|e| e.order.is_some()), "an open order's id is remembered");
        }
    }
}
