//! Leadership in a preferred region: the leader should sit near the users.
//!
//! When a cluster names a `preferred_region`, its designated node is the lowest-id voter in
//! that region (one node, so that nodes never compete). A leader elsewhere watches it: once the
//! designated node has the whole log and a clock this leader finds within the bound, the leader
//! hands it leadership (openraft's `transfer_leader`: the leader stops taking writes and the
//! designated node runs an election the voters accept even within the leader's lease, as the
//! Raft dissertation's leadership transfer does). A node whose log is behind cannot win, so this
//! can cost an election but never safety. If the designated node is down, leadership stays
//! wherever it is.
//!
//! (openraft 0.10 refuses a candidate's votes while a leader's quorum lease holds, the leader's
//! own vote included, so the designated node can no longer take leadership by calling an
//! election itself, as it did on 0.9.)

use std::time::Duration;

use openraft::async_runtime::WatchReceiver;
use openraft::ServerState;

use crate::types::{NodeId, Raft};

/// How often the leader looks at where it is.
const CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// Checks in a row that must find the designated node ready before the hand-over, so that a
/// leadership change in progress settles first.
const CHECKS_BEFORE_TRANSFER: u32 = 3;

/// Runs forever on node `id`; acts only while `id` leads from outside `region`.
pub async fn keep_leader_in(raft: Raft, id: NodeId, region: String, clocks: crate::clocks::ClockWatch) {
    let mut ready_checks = 0u32;
    loop {
        tokio::time::sleep(CHECK_INTERVAL).await;
        let metrics = raft.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership();
        let in_region = |node: &NodeId| membership.get_node(node).is_some_and(|n| n.region == region);
        let designated = membership.voter_ids().filter(in_region).min();
        let Some(designated) = designated.filter(|_| metrics.state == ServerState::Leader && !in_region(&id)) else {
            ready_checks = 0;
            continue;
        };
        // It holds everything this leader has written, and its clock is within the bound.
        let matched = metrics.replication.as_ref().and_then(|r| r.get(&designated).cloned()).flatten();
        let caught_up = matched.map(|m| m.index) == metrics.last_log_index;
        ready_checks = if caught_up && clocks.peer_fit(designated) { ready_checks + 1 } else { 0 };
        if ready_checks >= CHECKS_BEFORE_TRANSFER {
            tracing::info!(node = id, to = designated, %region, "leading outside the preferred region: handing leadership over");
            let _ = raft.trigger().transfer_leader(designated).await;
            ready_checks = 0;
        }
    }
}
