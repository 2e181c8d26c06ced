//! Leadership in a preferred region: the leader should sit near the users.
//!
//! When a cluster names a `preferred_region`, one node — the lowest-id voter in that region, so
//! that nodes never compete — watches the leader. If the leader is elsewhere and this node is
//! healthy (it has applied everything it holds), it calls an election. Raft still decides: a
//! node whose log is behind cannot win, so this can cost an election but never safety. If that
//! node is down, leadership stays wherever it is.

use openraft::async_runtime::WatchReceiver;
use std::time::Duration;

use crate::types::Raft;
use openraft::ServerState;

use crate::types::NodeId;

/// How often the chosen node looks at who leads.
const CHECK_INTERVAL: Duration = Duration::from_millis(500);
/// Checks in a row that must find the leader elsewhere before campaigning, so a leadership
/// change in progress settles first.
const CHECKS_BEFORE_CAMPAIGN: u32 = 3;

/// Runs forever on node `id`; does something only if `id` is the region's designated node.
pub async fn keep_leader_in(raft: Raft, id: NodeId, region: String, clocks: crate::clocks::ClockWatch) {
    let mut misplaced = 0u32;
    loop {
        tokio::time::sleep(CHECK_INTERVAL).await;
        let metrics = raft.metrics().borrow_watched().clone();
        let membership = metrics.membership_config.membership();
        let designated =
            membership.voter_ids().filter(|voter| membership.get_node(voter).is_some_and(|n| n.region == region)).min();
        if designated != Some(id) || metrics.state == ServerState::Leader {
            misplaced = 0;
            continue;
        }
        let leader_region = metrics.current_leader.and_then(|l| membership.get_node(&l)).map(|n| n.region.clone());
        // Caught up, and a clock within the bound (see `clocks`).
        let healthy = metrics.last_applied.map(|a| a.index) == metrics.last_log_index && clocks.unfit().is_none();
        if leader_region.is_some_and(|r| r != region) && healthy {
            misplaced += 1;
        } else {
            misplaced = 0;
        }
        if misplaced >= CHECKS_BEFORE_CAMPAIGN {
            tracing::info!(node = id, %region, "leader outside the preferred region: calling an election");
            let _ = raft.trigger().elect(false).await;
            misplaced = 0;
        }
    }
}
