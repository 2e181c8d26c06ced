//! The API's shared state and the write path every endpoint uses.
//!
//! A write is submitted through the cluster (this node if it leads, else forwarded once to the
//! leader). Its answer comes only after the command is committed on a quorum and applied. A
//! write whose fate is not known — the leader did not answer in time, or died — is reported as
//! unknown (HTTP 503, -1007), never as failed: the client retries with the same client order id
//! and the engine's idempotency makes that safe. A write that provably reached no leader (none
//! known, none could be connected to, or this node leads without a quorum) is refused with
//! HTTP 503, -1001: nothing was done, and any node may be asked. After a commit, the node waits until it has
//! applied that index itself, so the response (and the caller's next read here) sees the write.

use std::sync::Arc;
use std::time::{Duration, Instant};

use outlast_cluster::protocol::ClientReply;
use outlast_cluster::write::{submit, Writer};
use outlast_cluster::Raft;
use outlast_cluster::{EngineReader, NodeId, NodeInfo};
use outlast_engine::{CommandBody, Outcome};

use crate::auth::{Keyring, OperatorToken};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::weights::Weights;

/// How long a write may take before its outcome is reported unknown.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// How long a node waits to apply its own committed write before answering without it.
pub const APPLY_WAIT: Duration = Duration::from_secs(2);
/// How long a node may take to confirm that it has applied everything the cluster had committed
/// when asked (before a linearizable read, an unknown API key's second look, `/ready`): a
/// follower's question to the leader plus the leader's quorum round, across the widest WAN link
/// of `up`'s topology (~130 ms round trips) with room, and under a prober's usual 1 s timeout.
/// A node that cannot do it in this time is behind or cut off; the client is better served by
/// another node at once than by a longer wait.
pub const CATCH_UP_DEADLINE: Duration = Duration::from_millis(900);

/// Everything a request handler needs.
pub struct Api {
    /// Raft, for cluster state.
    pub raft: Raft,
    /// The node's one write path (shared with the internal protocol and forwarded commands).
    pub writer: Writer,
    /// Applied engine, history and event feed.
    pub reader: EngineReader,
    /// This node and its labels.
    pub me: (NodeId, NodeInfo),
    /// API-key secrets and listen keys.
    pub keyring: Keyring,
    /// What the status recorder saw (the status page's data).
    pub status: crate::status::StatusLog,
    /// The operator credential on the public listener (bearer token).
    pub operator: OperatorToken,
    /// Set once this node serves the operator plane (`serve_operator_plane`): from then on the
    /// public listener serves no operator endpoint at all (404), token or not.
    pub operator_plane: std::sync::atomic::AtomicBool,
    /// Request weight per IP and key.
    pub weights: Weights,
    /// The weight limits.
    pub weight_limits: crate::weights::WeightLimits,
    /// Prometheus metrics.
    pub metrics: Metrics,
    /// Served and denied requests per exchange function since the status recorder's last sample.
    pub functions: crate::function::Counters,
    /// The chains this node follows (set once at start; none if it follows none).
    pub chains: std::sync::OnceLock<Vec<outlast_custody::ChainHandle>>,
    /// The ticker streams' messages, shared by every connection.
    pub tickers: crate::tickers::TickerCache,
}

/// The shared handle.
pub type Shared = Arc<Api>;

/// Milliseconds since the epoch by this node's clock.
pub fn now_ms() -> u64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since_epoch.map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl Api {
    /// Replicates an account holder's command and returns its outcome once this node has
    /// applied it.
    pub async fn write(&self, body: CommandBody) -> Result<Outcome, ApiError> {
        self.write_as(None, body).await
    }

    /// `write`, for a command given by `operator` (recorded in the audit trail).
    pub async fn write_as(&self, operator: Option<&str>, body: CommandBody) -> Result<Outcome, ApiError> {
        let started = Instant::now();
        let operator = operator.map(str::to_string);
        let reply = tokio::time::timeout(WRITE_DEADLINE, submit(&self.writer, body, operator, false)).await;
        let (outcome, index) = match reply {
            Ok(ClientReply::Outcome { outcome, index }) => (outcome, index),
            Ok(ClientReply::Unavailable(why)) => return Err(self.unknown(&why)),
            Ok(ClientReply::NotSent(why)) => {
                self.metrics.writes_not_sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(ApiError::unavailable(&format!("not sent to any leader: {why}")));
            }
            // This node's API authenticated the caller, yet the cluster refused what it relayed:
            // the nodes' operator tokens differ (a configuration error, not the caller's).
            Ok(ClientReply::Forbidden(why)) => return Err(ApiError::internal(&format!("the cluster refused: {why}"))),
            Ok(ClientReply::NotEnabled(why)) => return Err(ApiError::not_enabled(&why)),
            Ok(other) => return Err(ApiError::internal(&format!("unexpected reply {other:?}"))),
            Err(_) => return Err(self.unknown("no commit within the deadline")),
        };
        self.metrics.commit_latency.observe_us(started.elapsed().as_micros() as u64);
        // Read-your-writes: a follower that forwarded the write answers after applying it too.
        let applied = self.raft.wait(Some(APPLY_WAIT)).applied_index_at_least(Some(index), "api write").await;
        if applied.is_err() {
            tracing::warn!(index, "answering a committed write before this node applied it");
        }
        Ok(outcome)
    }

    /// Waits until this node has applied every write the cluster committed before the call (the
    /// leader's quorum-confirmed read index; see `outlast_cluster::read::catch_up`). A node that
    /// cannot within `CATCH_UP_DEADLINE` answers -1001: nothing was done, any node may be asked.
    pub async fn catch_up(&self) -> Result<(), ApiError> {
        if self.caught_up().await {
            return Ok(());
        }
        self.metrics.reads_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Err(ApiError::unavailable("this node cannot confirm it has the cluster's latest state; try another node"))
    }

    /// `catch_up` without the answer or the count (for `/ready`, which probes call all day).
    pub async fn caught_up(&self) -> bool {
        outlast_cluster::read::catch_up(&self.writer, self.me.0, CATCH_UP_DEADLINE).await
    }

    fn unknown(&self, why: &str) -> ApiError {
        self.metrics.writes_unknown.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ApiError::unknown_outcome(why)
    }
}
