//! What a node says about itself: its status (leader, term, applied index, digest), and
//! whether the cluster's membership describes it as its own configuration does.
//!
//! Must never: change anything (status is read from Raft's metrics and the applied engine).

use openraft::async_runtime::WatchReceiver;
use std::time::Duration;

use crate::types::Raft;

use crate::protocol::NodeStatus;
use crate::state_machine::EngineReader;
use crate::types::{NodeId, NodeInfo};

/// How often a node compares the membership's description of itself with its own.
const CONFIG_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// This node's status.
pub fn status(raft: &Raft, reader: &EngineReader, me: &(NodeId, NodeInfo)) -> NodeStatus {
    let metrics = raft.metrics().borrow_watched().clone();
    let engine = reader.read();
    NodeStatus {
        id: me.0,
        config_mismatch: config_mismatch(raft, me),
        // A leader without a quorum has stepped down towards clients (see `quorum`).
        leader: if crate::quorum::lost(raft) { None } else { metrics.current_leader },
        term: metrics.current_term,
        last_applied: metrics.last_applied.map(|log_id| log_id.index),
        digest: engine.digest_hex(),
        wall_ms: 0,
        format_max: crate::format::readable_max(),
        format: engine.format(),
        round_trips_ms: Vec::new(),
    }
}

/// How the membership describes `me`, if that differs from `me`'s own configuration.
pub fn config_mismatch(raft: &Raft, me: &(NodeId, NodeInfo)) -> Option<String> {
    let metrics = raft.metrics().borrow_watched().clone();
    let known = metrics.membership_config.membership().get_node(&me.0).cloned()?;
    (known != me.1).then(|| format!("the cluster knows node {} as {known:?}, its configuration says {:?}", me.0, me.1))
}

/// Runs forever: a node whose file disagrees with what the cluster was told about it says so
/// loudly (once per disagreement).
pub async fn report_config_mismatch(raft: Raft, me: (NodeId, NodeInfo)) {
    let mut reported = false;
    loop {
        tokio::time::sleep(CONFIG_CHECK_INTERVAL).await;
        match config_mismatch(&raft, &me) {
            Some(why) if !reported => {
                tracing::error!("configuration mismatch: {why}");
                reported = true;
            }
            Some(_) => {}
            None => reported = false,
        }
    }
}
