//! Bounds on the leader's clock, and the round trips to each peer, measured.
//!
//! The leader stamps every command with its wall clock (`write`), and the engine trusts those
//! stamps for time windows and expiries, so a leader whose clock is far off would write wrong
//! times into the log. Every `SAMPLE_INTERVAL` each node asks each other member for its status,
//! which carries the member's wall clock (`NodeStatus::wall_ms`); with the round trip measured
//! on the monotonic clock, the member's offset is its clock minus this node's at the middle of
//! the round trip. The question goes over a connection kept open to that peer, and only the
//! exchange is timed: timing a new connection's TCP and TLS handshakes too would count two or
//! three round trips as one, and put the middle of the sample in the wrong place. Of each
//! peer's last `SAMPLES_KEPT` samples, the one with the shortest round
//! trip is believed (the least queueing in it). This node's own skew is how far its clock is
//! from the median of the members' (its own included), so one bad clock cannot move a good
//! node's view. A node whose skew exceeds the bound (`clock_offset_ms_max`) stops leading: it
//! refuses to stamp commands, stops its heartbeats so the others elect someone else, does not
//! campaign (unless the cluster has gone `LAST_RESORT` without a leader: then only it may hold
//! the longest log), and says why in its log and its metrics; it takes part again once
//! its clock is back within the bound. The measured round trips are compared with the
//! declared `rtt_ms_max`: a longer one is reported, because a heartbeat shorter than the
//! real round trip never settles.
//!
//! Must never: change the log or the engine, or let an unknown skew (no samples yet, a lone
//! node) stop a node from leading.

use openraft::async_runtime::WatchReceiver;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::types::Raft;
// Tokio's clock for round trips: in a simulation it is the simulated one.
use tokio::time::Instant;

use crate::network::Dialer;
use crate::protocol::{ClientReply, ClientRequest, Connection};
use crate::types::NodeId;
use crate::write::Clock;
use crate::Identity;

/// How often each peer is sampled.
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);
/// Samples kept per peer; the shortest round trip among them is believed.
pub const SAMPLES_KEPT: usize = 8;
/// How long one sample may take.
const SAMPLE_DEADLINE: Duration = Duration::from_secs(1);

/// What is known of one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerClock {
    /// Its clock minus this node's, ms (the sample with the shortest round trip).
    pub offset_ms: i64,
    /// The shortest round trip among the kept samples, ms.
    pub rtt_ms: u64,
}

#[derive(Debug, Default)]
struct State {
    samples: BTreeMap<NodeId, VecDeque<(i64, u64)>>,
    skew_ms: Option<i64>,
    bound_ms: u64,
    /// The cluster has had no leader for `LAST_RESORT` although this node's clock is off: it
    /// may campaign (see `holds_back`).
    last_resort: bool,
}

/// How long a cluster may go without a leader before a node whose clock is off campaigns
/// anyway. Needed when the nodes with the longest logs are the ones whose clocks are off: the
/// others cannot win a vote until they catch up, and only a leader can catch them up. Such a
/// leader still stamps nothing (it refuses writes and reads) and sends no heartbeats, so once
/// its first entry has brought the others up to date, one of them takes over.
pub const LAST_RESORT: Duration = Duration::from_secs(3);

/// The clock view of one node, shared by its sampler, its write path and its metrics. Cheap to
/// clone; clones share.
#[derive(Clone, Debug, Default)]
pub struct ClockWatch {
    state: Arc<Mutex<State>>,
}

impl ClockWatch {
    /// A view whose bound is `bound_ms` (0: no bound).
    pub fn new(bound_ms: u64) -> ClockWatch {
        let watch = ClockWatch::default();
        watch.lock().bound_ms = bound_ms;
        watch
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records one sample of `peer`: its offset and the round trip, ms.
    pub fn record(&self, peer: NodeId, offset_ms: i64, rtt_ms: u64) {
        let mut state = self.lock();
        let kept = state.samples.entry(peer).or_default();
        kept.push_back((offset_ms, rtt_ms));
        while kept.len() > SAMPLES_KEPT {
            kept.pop_front();
        }
        let mut offsets: Vec<i64> = state.samples.values().filter_map(best).map(|p| p.offset_ms).collect();
        // This node's own clock counts as one of the members'.
        offsets.push(0);
        offsets.sort_unstable();
        let median = offsets[offsets.len() / 2];
        state.skew_ms = (offsets.len() > 2).then_some(-median);
    }

    /// Forgets a peer that left the membership.
    pub fn forget(&self, peer: NodeId) {
        self.lock().samples.remove(&peer);
    }

    /// Every sampled peer.
    pub fn peers(&self) -> BTreeMap<NodeId, PeerClock> {
        self.lock().samples.iter().filter_map(|(id, kept)| Some((*id, best(kept)?))).collect()
    }

    /// The shortest recent round trip to each sampled peer, ms.
    pub fn round_trips_ms(&self) -> Vec<(NodeId, u64)> {
        self.peers().into_iter().map(|(id, clock)| (id, clock.rtt_ms)).collect()
    }

    /// This node's clock minus the members' median, ms (none: too few samples to tell).
    pub fn skew_ms(&self) -> Option<i64> {
        self.lock().skew_ms
    }

    /// Whether this node must not campaign now: its clock is past the bound, and the cluster has
    /// not been leaderless for `LAST_RESORT`.
    pub fn holds_back(&self) -> bool {
        self.unfit().is_some() && !self.lock().last_resort
    }

    /// Whether `peer`'s clock, as this node sees it, is within the bound of this one's (also
    /// when it has not been sampled yet, or there is no bound).
    pub fn peer_fit(&self, peer: NodeId) -> bool {
        let state = self.lock();
        let Some(clock) = state.samples.get(&peer).and_then(best) else { return true };
        state.bound_ms == 0 || clock.offset_ms.unsigned_abs() <= state.bound_ms
    }

    /// Why this node must not stamp commands or confirm reads, if it must not: its clock is
    /// past the bound.
    pub fn unfit(&self) -> Option<String> {
        let state = self.lock();
        let skew = state.skew_ms?;
        (state.bound_ms > 0 && skew.unsigned_abs() > state.bound_ms).then(|| {
            format!(
                "this node's clock is {skew:+} ms from the cluster's median, past the bound of {} ms: it does not lead",
                state.bound_ms
            )
        })
    }
}

fn best(kept: &VecDeque<(i64, u64)>) -> Option<PeerClock> {
    kept.iter()
        .min_by_key(|(_, rtt)| *rtt)
        .map(|(offset_ms, rtt_ms)| PeerClock { offset_ms: *offset_ms, rtt_ms: *rtt_ms })
}

/// Runs forever on node `me`: samples every other member through `dialer`, keeps `watch`
/// current, and steps this node back from leading while its clock is past the bound (and
/// forward again once it is not). `rtt_ms_max` is the declared longest round trip, if any.
pub async fn watch_clocks<D: Dialer>(
    raft: Raft,
    me: NodeId,
    dialer: D,
    clock: Clock,
    watch: ClockWatch,
    rtt_ms_max: Option<u64>,
) {
    let mut unfit_before = false;
    let mut slow_reported = BTreeMap::new();
    let mut leaderless_since: Option<Instant> = None;
    // One open connection per peer, dropped when an exchange fails.
    let mut kept: BTreeMap<NodeId, Connection<D::Stream>> = BTreeMap::new();
    loop {
        tokio::time::sleep(SAMPLE_INTERVAL).await;
        let membership = raft.metrics().borrow_watched().membership_config.membership().clone();
        match raft.metrics().borrow_watched().current_leader {
            Some(_) => leaderless_since = None,
            None => {
                leaderless_since.get_or_insert_with(Instant::now);
            }
        }
        let last_resort = leaderless_since.is_some_and(|since| since.elapsed() >= LAST_RESORT);
        if watch.lock().last_resort != last_resort {
            watch.lock().last_resort = last_resort;
            if last_resort && watch.unfit().is_some() {
                tracing::warn!(
                    node = me,
                    "no leader for {LAST_RESORT:?}: campaigning although this node's clock is off"
                );
                raft.runtime_config().elect(true);
            } else if watch.unfit().is_some() {
                raft.runtime_config().elect(false);
            }
        }
        let peers: Vec<(NodeId, String)> =
            membership.nodes().filter(|(id, _)| **id != me).map(|(id, n)| (*id, n.client_addr.clone())).collect();
        for known in watch.peers().keys() {
            if !peers.iter().any(|(id, _)| id == known) {
                watch.forget(*known);
            }
        }
        kept.retain(|id, _| peers.iter().any(|(peer, _)| peer == id));
        for (peer, addr) in peers {
            let mut connection = match kept.remove(&peer) {
                Some(connection) => connection,
                None => match tokio::time::timeout(SAMPLE_DEADLINE, dialer.dial(&addr, &Identity::Node(peer))).await {
                    Ok(Ok(stream)) => Connection::over(stream),
                    // Unreachable now: no sample this round.
                    _ => continue,
                },
            };
            let sent_wall_ms = clock() as i64;
            let sent = Instant::now();
            let reply = connection.request(&ClientRequest::Status, SAMPLE_DEADLINE).await;
            let rtt_ms = sent.elapsed().as_millis() as u64;
            if let Ok(ClientReply::Status(status)) = reply {
                if status.wall_ms > 0 {
                    watch.record(peer, status.wall_ms as i64 - (sent_wall_ms + rtt_ms as i64 / 2), rtt_ms);
                }
                kept.insert(peer, connection);
            }
        }
        if let Some(max) = rtt_ms_max {
            for (peer, seen) in watch.peers() {
                let slow = seen.rtt_ms > max;
                if slow && slow_reported.insert(peer, true) != Some(true) {
                    tracing::warn!(
                        node = me,
                        peer,
                        rtt_ms = seen.rtt_ms,
                        rtt_ms_max = max,
                        "the round trip to this peer is longer than the declared rtt_ms_max: raise it, and the Raft timing with it (outlast config check)"
                    );
                } else if !slow {
                    slow_reported.remove(&peer);
                }
            }
        }
        let unfit = watch.unfit();
        if unfit.is_some() != unfit_before {
            unfit_before = unfit.is_some();
            let runtime = raft.runtime_config();
            match &unfit {
                Some(why) => {
                    tracing::warn!(node = me, "{why}; stepping back until it is within the bound");
                    runtime.elect(last_resort);
                    runtime.heartbeat(false);
                }
                None => {
                    tracing::warn!(node = me, "this node's clock is within the bound again: it may lead");
                    runtime.elect(true);
                    runtime.heartbeat(true);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_keeps_one_bad_clock_from_moving_a_good_node() {
        // On a good node of five: three peers agree with it, one is 2 s ahead.
        let good = ClockWatch::new(500);
        for (peer, offset) in [(2, 3), (3, -4), (4, 1), (5, 2_000)] {
            good.record(peer, offset, 10);
        }
        assert_eq!(good.skew_ms(), Some(-1));
        assert_eq!(good.unfit(), None);
        // On the bad node: every peer is 2 s behind it.
        let bad = ClockWatch::new(500);
        for (peer, offset) in [(1, -2_000), (2, -1_997), (3, -2_004), (4, -1_999)] {
            bad.record(peer, offset, 10);
        }
        assert_eq!(bad.skew_ms(), Some(1_999));
        assert!(bad.unfit().unwrap().contains("+1999 ms"));
    }

    #[test]
    fn the_shortest_round_trip_is_believed_and_too_few_samples_tell_nothing() {
        let watch = ClockWatch::new(500);
        watch.record(2, 900, 400);
        assert_eq!(watch.skew_ms(), None, "one peer and this node cannot outvote each other");
        watch.record(2, 5, 4);
        watch.record(2, 700, 300);
        assert_eq!(watch.peers()[&2], PeerClock { offset_ms: 5, rtt_ms: 4 });
        for _ in 0..SAMPLES_KEPT {
            watch.record(2, 50, 20);
        }
        assert_eq!(watch.peers()[&2], PeerClock { offset_ms: 50, rtt_ms: 20 }, "old samples age out");
    }
}
