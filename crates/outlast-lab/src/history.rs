//! The operation history a chaos run records: every client operation with when it was invoked,
//! when it completed, where it went and how it ended.

use serde::{Deserialize, Serialize};

/// What an operation was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpKind {
    /// Place an order (its client order id is `client_id`).
    Place,
    /// The same order again, same client order id: must return the same order.
    Retry,
    /// Cancel an order by client order id.
    Cancel,
    /// Request a withdrawal (its `withdrawOrderId` is `client_id`).
    Withdraw,
    /// Credit a deposit, as the chain watcher would (its chain transaction id is `client_id`).
    Deposit,
    /// Look an order up by client order id on one node (`endpoint`), as a probe of whether
    /// reads see every acknowledged write: `seen` is the status it answered.
    Read,
    /// Ask one node (`endpoint`) for the order book, as a probe of market data.
    MarketData,
    /// A probe of one node's depth stream: a connection made (or not), or half a second of an
    /// open connection that delivered updates, or the connection's end.
    Stream,
}

impl OpKind {
    /// Whether it is a probe (a read, market data or a stream) rather than a change.
    pub fn is_probe(self) -> bool {
        matches!(self, OpKind::Read | OpKind::MarketData | OpKind::Stream)
    }
}

/// How an operation ended, as the client saw it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpResult {
    /// Acknowledged: the exchange says it applied.
    Ok,
    /// Refused by the exchange (its code); nothing may have changed.
    Fail(i64),
    /// No answer in time from any node: it may or may not have applied.
    Unknown,
}

/// One operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Op {
    /// Sequence number in the history.
    pub id: u64,
    /// The trader's account.
    pub account: u64,
    /// What.
    pub kind: OpKind,
    /// Its client order id or withdrawal id.
    pub client_id: String,
    /// The exchange's order id, when acknowledged.
    pub order_id: Option<u64>,
    /// ms since the run started, when invoked.
    pub invoke_ms: u64,
    /// ms since the run started, when it ended.
    pub complete_ms: u64,
    /// The endpoint it ended on.
    pub endpoint: String,
    /// How it ended.
    pub result: OpResult,
    /// For a read: the order's status as answered (`NEW`, `CANCELED`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<String>,
}

/// Something that happened to the cluster during the run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Incident {
    /// ms since the run started.
    pub at_ms: u64,
    /// What, e.g. `fault: SIGKILL provider aws (nodes 1, 4)` or `leader: node 3 (term 4)`.
    pub what: String,
}
