//! Quick elections after a leader's loss: call the election the moment one can be won.
//!
//! openraft 0.9 lets a follower campaign only after it has heard nothing for its leader lease
//! (`election_timeout_max`) plus a random election timeout, looked at on a tick of one and a
//! half heartbeats: five to seven heartbeats of silence in all. Voters refuse every vote until
//! their own lease has run out, so nobody can win before the lease; everything after it is
//! waiting for nothing. This watcher calls the election as soon as the lease has run out (plus
//! a small margin for the voters, who heard the last heartbeat a little later), one node at a
//! time in a fixed order — preferred region first, then by id — one heartbeat apart, so the
//! survivors do not split their votes and the next in line steps in when the first is dead too.
//!
//! It only ever asks openraft to campaign; it never changes safety: a voter whose lease holds
//! refuses, a candidate with a shorter log loses. A node that has just refused a candidate with
//! a longer log than its own stands aside for a round, so that candidate can win. It must never campaign while it hears from a
//! leader, so "heard" is recorded by the RPC server on every AppendEntries or InstallSnapshot
//! the node accepted, and on every vote it granted (the candidate it chose gets its chance).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use openraft::{Raft, ServerState};
// Tokio's clock, not the OS's: in a simulation it is the simulated one.
use tokio::time::Instant;

use crate::types::{NodeId, TypeConfig};

/// How often the watcher looks; the granularity it adds to an election.
const CHECK_INTERVAL: Duration = Duration::from_millis(10);

/// When this node last accepted a message from a leader, and last refused a candidate whose
/// log is longer than its own. Cheap to clone; clones share.
#[derive(Clone, Debug)]
pub struct LeaderContact {
    epoch: Instant,
    /// Milliseconds after `epoch` plus one; zero means never.
    heard_ms: Arc<AtomicU64>,
    /// Likewise, for the last refusal of a better candidate.
    better_candidate_ms: Arc<AtomicU64>,
}

impl Default for LeaderContact {
    fn default() -> Self {
        LeaderContact { epoch: Instant::now(), heard_ms: Arc::default(), better_candidate_ms: Arc::default() }
    }
}

impl LeaderContact {
    /// Records that a leader's message was accepted now.
    pub fn heard(&self) {
        self.heard_ms.fetch_max(self.now_ms(), Ordering::Relaxed);
    }

    /// Records that this node just refused a vote to a candidate with a longer log.
    pub fn saw_better_candidate(&self) {
        self.better_candidate_ms.fetch_max(self.now_ms(), Ordering::Relaxed);
    }

    /// How long since the last accepted message, or `None` if there was none yet.
    pub fn silence(&self) -> Option<Duration> {
        self.since(&self.heard_ms)
    }

    /// How long since this node refused a better candidate, or `None` if it never did.
    pub fn since_better_candidate(&self) -> Option<Duration> {
        self.since(&self.better_candidate_ms)
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn since(&self, at: &AtomicU64) -> Option<Duration> {
        match at.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(self.epoch.elapsed().saturating_sub(Duration::from_millis(ms - 1))),
        }
    }
}

/// When to campaign.
#[derive(Clone, Debug)]
pub struct ElectionTiming {
    /// The voters' leader lease: openraft's `election_timeout_max`.
    pub lease: Duration,
    /// The leader's heartbeat interval; it spaces the candidates (a vote round trip is
    /// shorter than a heartbeat, see `Topology::raft_timing_ms`).
    pub heartbeat: Duration,
    /// Where the leader should be: nodes there go first.
    pub preferred_region: Option<String>,
}

impl ElectionTiming {
    /// Silence after which the node at `rank` campaigns.
    pub fn due(&self, rank: usize) -> Duration {
        self.lease + self.heartbeat / 4 + self.heartbeat * rank as u32
    }
}

/// This node's place in line among `voters` (id, region), leaving out the lost leader:
/// preferred-region nodes first, then by id.
pub fn rank(me: NodeId, voters: &[(NodeId, String)], lost_leader: Option<NodeId>, preferred: Option<&str>) -> usize {
    let mut line: Vec<&(NodeId, String)> = voters.iter().filter(|(id, _)| Some(*id) != lost_leader).collect();
    line.sort_by_key(|(id, region)| (Some(region.as_str()) != preferred, *id));
    line.iter().position(|(id, _)| *id == me).unwrap_or(line.len())
}

/// Runs forever on node `me`.
pub async fn campaign_when_due(raft: Raft<TypeConfig>, me: NodeId, contact: LeaderContact, timing: ElectionTiming) {
    let mut last_leader: Option<NodeId> = None;
    let mut campaigned_at: Option<Instant> = None;
    loop {
        tokio::time::sleep(CHECK_INTERVAL).await;
        let metrics = raft.metrics().borrow().clone();
        if let Some(leader) = metrics.current_leader.filter(|l| *l != me) {
            last_leader = Some(leader);
        }
        if metrics.state == ServerState::Leader || metrics.state == ServerState::Learner {
            campaigned_at = None;
            continue;
        }
        let membership = metrics.membership_config.membership();
        let voters: Vec<(NodeId, String)> = membership
            .voter_ids()
            .map(|id| (id, membership.get_node(&id).map(|n| n.region.clone()).unwrap_or_default()))
            .collect();
        if !voters.iter().any(|(id, _)| *id == me) {
            continue;
        }
        let Some(silence) = contact.silence() else { continue };
        let line = rank(me, &voters, last_leader, timing.preferred_region.as_deref());
        if silence < timing.due(line) {
            campaigned_at = None;
            continue;
        }
        // Once in, try again only after everyone else in line has had a turn.
        let retry_after = timing.heartbeat * voters.len() as u32;
        if campaigned_at.is_some_and(|at| at.elapsed() < retry_after) {
            continue;
        }
        // A candidate with a longer log asked us for a vote: stand aside. openraft
        // refuses such a candidate without adopting its term, and the candidate's next try
        // must find our term below its own; campaigning now would take that term from it,
        // round after round, a livelock that a lagging first-in-line node caused in tests.
        // Two rounds: the better candidate's retry may come just after ours would.
        if contact.since_better_candidate().is_some_and(|since| since < retry_after * 2) {
            continue;
        }
        tracing::info!(
            node = me,
            rank = line,
            silence_ms = silence.as_millis() as u64,
            "leader silent past its lease: campaigning"
        );
        let _ = raft.trigger().elect().await;
        campaigned_at = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn voters() -> Vec<(NodeId, String)> {
        [(1, "east"), (2, "east"), (3, "eu"), (4, "eu"), (5, "west")].map(|(id, r)| (id, r.to_string())).to_vec()
    }

    #[test]
    fn the_preferred_region_goes_first_and_the_lost_leader_is_skipped() {
        let v = voters();
        assert_eq!(rank(2, &v, Some(1), Some("east")), 0);
        assert_eq!(rank(3, &v, Some(1), Some("east")), 1);
        assert_eq!(rank(5, &v, Some(1), Some("west")), 0);
        assert_eq!(rank(2, &v, Some(1), Some("west")), 1);
        assert_eq!(rank(1, &v, Some(4), None), 0);
        assert_eq!(rank(5, &v, Some(4), None), 3);
        // Distinct ranks: no two nodes campaign at the same moment.
        let mut ranks: Vec<usize> = (1..=5).filter(|&id| id != 3).map(|id| rank(id, &v, Some(3), Some("eu"))).collect();
        ranks.sort();
        assert_eq!(ranks, vec![0, 1, 2, 3]);
    }

    #[test]
    fn contact_starts_unknown_and_measures_silence() {
        let contact = LeaderContact::default();
        assert_eq!(contact.silence(), None);
        contact.heard();
        assert!(contact.silence().unwrap() < Duration::from_secs(1));
        assert_eq!(contact.since_better_candidate(), None, "a better candidate is a separate record");
        contact.saw_better_candidate();
        assert!(contact.since_better_candidate().unwrap() < Duration::from_secs(1));
    }

    #[test]
    fn later_ranks_wait_a_heartbeat_each() {
        let timing = ElectionTiming {
            lease: Duration::from_millis(500),
            heartbeat: Duration::from_millis(100),
            preferred_region: None,
        };
        assert_eq!(timing.due(0), Duration::from_millis(525));
        assert_eq!(timing.due(2), Duration::from_millis(725));
    }
}
