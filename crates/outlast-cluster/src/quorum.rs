//! Whether this node, if it leads, is still backed by a quorum.
//!
//! openraft keeps a leader a leader until it hears of a higher term, so a leader cut off
//! from every peer (isolated, or unable to send: a one-way partition) still calls itself leader
//! for as long as the fault lasts, while the others elect a new one once their lease has run
//! out. Such a node must stop acting as leader towards clients: it accepts no new write (it
//! could never commit it), it is not ready, it reports no leader, and a write it holds in
//! flight is answered as unknown at once rather than at the client's deadline. That is the
//! client-facing half of stepping down; openraft has no call that gives up leadership without
//! disrupting the healed cluster (campaigning from a leader raises the term for everyone).
//! openraft 0.10 also refuses proposals itself after one lease without a quorum (`write` waits
//! and retries those); this module's longer rule decides when a write in flight is given up.
//!
//! The rule: a leader has lost its quorum once no quorum has acknowledged anything it sent for
//! longer than twice openraft's leader lease (`election_timeout_max`). After one lease the
//! voters may elect someone else; but a healthy leader's measure already reaches a heartbeat
//! and a tick (openraft sends heartbeats on its tick) plus the round trip to the quorum before
//! the next acknowledgement, close to one lease on a WAN (heartbeat 21 ms, tick 4 ms, up to a
//! 76 ms round trip, lease 182 ms), and more under load. Two leases keep a healthy leader clear of it and
//! still step a cut-off one down well before a client's 5 s deadline. openraft refreshes the
//! measure every tick. Not judged: a leader no quorum has acknowledged at all yet (just
//! elected), and a leader streaming a snapshot to the only voter that completes its quorum
//! (its clock stays at the stream's start) is judged by that — it cannot commit meanwhile
//! either.
//!
//! Must never: change Raft's state (it only reads metrics).

use openraft::async_runtime::WatchReceiver;
use openraft::Instant;
use openraft::ServerState;

use crate::types::{Raft, RaftMetrics};

/// Whether `metrics` show a leader that no quorum has acknowledged for more than `lease_ms`.
/// A leader that has not yet been acknowledged at all (just elected) has not lost anything.
pub fn lost_in(metrics: &RaftMetrics, lease_ms: u64) -> bool {
    let membership = metrics.membership_config.membership();
    // The only voter is its own quorum (openraft 0.10 does not refresh its acknowledgement time).
    let mut voters = membership.voter_ids();
    let alone = voters.next() == Some(metrics.id) && voters.next().is_none();
    metrics.state == ServerState::Leader
        && !alone
        && metrics.last_quorum_acked.is_some_and(|at| at.elapsed().as_millis() > u128::from(lease_ms))
}

/// How long without a quorum's acknowledgement a leader of `raft` is judged to have lost it.
fn limit_ms(raft: &Raft) -> u64 {
    2 * raft.config().election_timeout_max
}

/// Whether this node leads without a quorum behind it (see the module doc).
pub fn lost(raft: &Raft) -> bool {
    lost_in(&raft.metrics().borrow_watched(), limit_ms(raft))
}

/// Returns once this node is a leader that has lost its quorum (never, if that never happens).
pub async fn until_lost(raft: &Raft) {
    let limit = limit_ms(raft);
    if raft.wait(None).metrics(|m| lost_in(m, limit), "quorum lost").await.is_err() {
        // Raft stopped: nothing will be acknowledged any more, and nothing decided here either.
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    use std::ops::Sub;

    use super::*;

    #[test]
    fn only_a_leader_unacknowledged_for_longer_than_the_lease_has_lost_its_quorum() {
        let mut metrics = RaftMetrics::new_initial(1);
        metrics.state = ServerState::Leader;
        assert!(!lost_in(&metrics, 300), "just elected, nothing acknowledged yet");
        let acked_ago = |ms| Some(openraft::TokioInstant::now().sub(std::time::Duration::from_millis(ms)).into());
        metrics.last_quorum_acked = acked_ago(100);
        assert!(!lost_in(&metrics, 300));
        metrics.last_quorum_acked = acked_ago(301);
        assert!(lost_in(&metrics, 300));
        metrics.state = ServerState::Follower;
        assert!(!lost_in(&metrics, 300), "a follower has no quorum to lose");
    }
}
