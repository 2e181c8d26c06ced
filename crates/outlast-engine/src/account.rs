//! An account: balances per asset and counts, plus `IdEntry`, what is remembered of a request.
//!
//! An id is remembered (in `ids::IdTable`) from the moment its request applies until both (a)
//! the request window has passed — after which no retry can be valid, because the engine rejects
//! requests whose client timestamp is older than the window — and (b) the order it created, if
//! any, has left the book. This module holds data only: it decides nothing about orders or money.

use serde::{Deserialize, Serialize};

use crate::event::Summary;
use crate::types::{AssetId, MarketId, OrderId};

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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Indexed by asset id; assets beyond the end have a zero balance.
    pub balances: Vec<Balance>,
    /// Orders of this account resting on any book.
    pub open_orders: u32,
    /// Records of this account in the engine's id ring (remembered ids not yet popped).
    pub queued_ids: u32,
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
}
