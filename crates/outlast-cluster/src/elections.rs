//! Quick elections after a leader's loss: call the election the moment one can be won.
//!
//! openraft lets a follower campaign only after it has heard nothing for its leader lease
//! (`election_timeout_max`) plus a random election timeout, looked at on its tick (0.9: every
//! one and a half heartbeats, five to seven heartbeats of silence in all). Voters refuse every vote until
//! their own lease has run out, so nobody can win before the lease; everything after it is
//! waiting for nothing. This watcher calls the election as soon as the lease has run out (plus
//! a margin for the voters, who may have heard the last heartbeat a little later), one node at a
//! time in a fixed line, one exchange (a vote's deadline) apart, so the survivors do not split
//! their votes and the next in line steps in when the first is dead too.
//!
//! The line: once the leader is a quarter later than usual (a heartbeat near it, a round trip
//! far from it), a node asks every
//! other voter whether it is there and how far its log goes (`Ping` on a connection kept open
//! for it, so one round trip, bounded by the time until the first turn;
//! no leader means no log grows meanwhile, so every node sees the same logs). Nodes that do
//! not answer, and the lost leader, have no place. The rest line up longest log first — a
//! voter refuses a candidate whose log is shorter than its own, so the first in line can win
//! at once — then by the region's place in `region_order` (the preferred region, then the
//! succession regions), then by id. A wrong guess (a live node that did not answer, a log
//! compared while an entry was landing) costs at most a round, never safety.
//!
//! It only ever asks openraft to campaign; it never changes safety: a voter whose lease holds
//! refuses, a candidate with a shorter log loses. A node that has just refused a candidate with
//! a longer log than its own stands aside for a round, so that candidate can win. It must never
//! campaign while it hears from a leader, so "heard" is recorded by the RPC server on every
//! AppendEntries (alone or on a stream) or snapshot chunk the node accepted, and on every vote it granted (the
//! candidate it chose gets its chance).

use openraft::async_runtime::WatchReceiver;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::types::{LogId, Raft};
use openraft::ServerState;
use outlast_tls::Identity;
// Tokio's clock, not the OS's: in a simulation it is the simulated one.
use tokio::time::Instant;

use crate::frame;
use crate::network::{Dialer, Kept};
use crate::rpc::{Reply, Request};
use crate::types::NodeId;
use crate::LogStore;

/// How often the watcher looks; the granularity it adds to an election.
const CHECK_INTERVAL: Duration = Duration::from_millis(10);

/// When this node last accepted a message from a leader, and last refused a candidate whose
/// log is longer than its own. Cheap to clone; clones share.
#[derive(Clone, Debug)]
pub struct LeaderContact {
    epoch: Instant,
    /// Milliseconds after `epoch` plus one; zero means never.
    heard_ms: Arc<AtomicU64>,
    /// Milliseconds between the last two accepted messages; zero means fewer than two.
    gap_ms: Arc<AtomicU64>,
    /// Likewise, for the last refusal of a better candidate.
    better_candidate_ms: Arc<AtomicU64>,
}

impl Default for LeaderContact {
    fn default() -> Self {
        LeaderContact {
            epoch: Instant::now(),
            heard_ms: Arc::default(),
            gap_ms: Arc::default(),
            better_candidate_ms: Arc::default(),
        }
    }
}

impl LeaderContact {
    /// Records that a leader's message was accepted now.
    pub fn heard(&self) {
        let now_ms = self.now_ms();
        let before_ms = self.heard_ms.fetch_max(now_ms, Ordering::Relaxed);
        if before_ms != 0 && now_ms > before_ms {
            self.gap_ms.store(now_ms - before_ms, Ordering::Relaxed);
        }
    }

    /// The silence between the last two accepted messages, if there were two: how often this
    /// node hears its leader, which a follower far from the leader does less often than the
    /// heartbeat (the leader sends the next heartbeat when the last is answered).
    pub fn last_gap(&self) -> Option<Duration> {
        match self.gap_ms.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        }
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
    /// The leader's heartbeat interval.
    pub heartbeat: Duration,
    /// The longest an exchange between two voters may take, openraft's `election_timeout_min`
    /// (the deadline of a vote and, patched, of an AppendEntries: see
    /// `outlast_cluster::config::raft_timing_ms`); it spaces the candidates, so that a vote
    /// is answered before the next in line campaigns.
    pub exchange: Duration,
    /// Regions in the order their nodes campaign: the preferred region, then the succession
    /// regions (see `NodeConfig::succession_regions`); nodes elsewhere go last.
    pub region_order: Vec<String>,
}

impl ElectionTiming {
    /// The timing of a Raft configured with `heartbeat_ms` and `election_timeout_ms`.
    pub fn new(heartbeat_ms: u64, election_timeout_ms: [u64; 2], region_order: Vec<String>) -> ElectionTiming {
        ElectionTiming {
            lease: Duration::from_millis(election_timeout_ms[1]),
            heartbeat: Duration::from_millis(heartbeat_ms),
            exchange: Duration::from_millis(election_timeout_ms[0]),
            region_order,
        }
    }

    /// Silence after which the node at `rank` campaigns. The margin past the lease: the last
    /// heartbeat a voter heard may have left the leader up to one heartbeat (and a tick of
    /// openraft's) after this node's last, so the voter's lease may run that much later; a
    /// vote it refuses costs a whole turn of the line.
    pub fn due(&self, rank: usize) -> Duration {
        self.lease + self.heartbeat + self.heartbeat / 4 + self.exchange * rank as u32
    }

    /// Silence after which the leader is suspect and the other voters are asked how far their
    /// logs go: a quarter more than the node's usual silence (`last_gap`: a heartbeat near the
    /// leader, a round trip far from it), at least 1.25 heartbeats and at most an exchange
    /// (every gap is shorter: see `outlast_cluster::config::raft_timing_ms`). A fixed share of
    /// the lease would either ask on every gap far from the leader or ask too late near it.
    pub fn suspect_after(&self, last_gap: Option<Duration>) -> Duration {
        let least = self.heartbeat + self.heartbeat / 4;
        last_gap.map_or(least, |gap| (gap + gap / 4).max(least)).min(self.exchange)
    }

    /// How long the answers may take: until the first node's turn, and at least an exchange. A
    /// live voter that answers too late is taken for absent and may campaign at the same time
    /// as another (a split vote), so the bound is as long as the line allows and never shorter
    /// than a round trip on a new connection may take; a node that suspects late (far from the
    /// leader, so rarely first in line) then places itself after the first turn.
    pub fn ask_deadline(&self, last_gap: Option<Duration>) -> Duration {
        self.due(0).saturating_sub(self.suspect_after(last_gap)).max(self.exchange)
    }

    /// After a campaign that did not win, how long node `me` waits before the next: everyone
    /// else in line gets a turn first, and two nodes that both believed they were first (each
    /// took the other for absent) retry at different times, by their ids' order.
    pub fn retry_after(&self, me: NodeId, voters: &[NodeId]) -> Duration {
        let place = voters.iter().filter(|&&id| id < me).count() as u32;
        self.exchange * voters.len() as u32 + self.exchange / 2 * place
    }
}

/// A voter as the line sees it: id, region and the id of its last log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    /// The node.
    pub id: NodeId,
    /// Its region.
    pub region: String,
    /// How far its log goes.
    pub last_log: Option<LogId>,
}

/// This node's place in line among `present` (the voters that answered, this node included):
/// longest log first, then by the region's place in `region_order` (others last), then by id.
/// `present.len()` if this node is not among them.
pub fn rank(me: NodeId, present: &[Standing], region_order: &[String]) -> usize {
    let mut line: Vec<&Standing> = present.iter().collect();
    line.sort_by_key(|s| {
        let region = region_order.iter().position(|r| *r == s.region).unwrap_or(region_order.len());
        (std::cmp::Reverse(s.last_log), region, s.id)
    });
    line.iter().position(|s| s.id == me).unwrap_or(line.len())
}

/// How often every peer is pinged while the leader is heard (the first time
/// `KEEPALIVE_FIRST_AFTER` after the start), so that
/// kept connections to each are always there (`network::Kept`, shared with Raft's clients): a
/// ping, or a vote, when the leader is lost is then one round trip, not three (TCP and TLS
/// handshakes first).
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// When the first keep-alive round goes out after the node starts: soon, so that a leader lost
/// early still finds its survivors' connections warm, but not in the first moments. (Dialling
/// every peer thrice at once while the simulated cluster was still starting made one seed's run
/// differ between two fresh processes, a nondeterminism not yet understood.)
const KEEPALIVE_FIRST_AFTER: Duration = Duration::from_secs(1);

/// Connections kept warm to each voter: a node that wins an election needs one for its vote,
/// one for its replication stream and one for its heartbeats at once. openraft gives a
/// heartbeat one exchange (`election_timeout_min`), which across an ocean cannot fit a new
/// connection's handshakes: a
/// new leader whose heartbeat had to dial lost it, and openraft 0.10 refuses writes until a
/// quorum has acknowledged the new leader (measured: ~0.25 s more failover).
const WARM_PER_PEER: usize = 3;

/// Pings `id` at `addr` on `stream` if given (else, or if it has died, on a new connection)
/// within `deadline`: how far its log goes, and the connection, which answered.
async fn ping_on<D: Dialer>(
    dialer: D,
    (id, addr): (NodeId, String),
    stream: Option<D::Stream>,
    deadline: Duration,
) -> Option<(Option<LogId>, D::Stream)> {
    let ping = |mut stream: D::Stream| async move {
        frame::write(&mut stream, &Request::Ping).await?;
        match frame::read::<_, Reply>(&mut stream).await? {
            Some(Reply::Pong(last_log)) => Ok((last_log, stream)),
            _ => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "no pong")),
        }
    };
    let ask = async {
        if let Some(stream) = stream {
            if let Ok(answer) = ping(stream).await {
                return Ok(answer);
            }
        }
        ping(dialer.dial(&addr, &Identity::Node(id)).await?).await
    };
    tokio::time::timeout(deadline, ask).await.ok()?.ok()
}

/// Keeps `WARM_PER_PEER` connections to each of `nodes` open and kept: each kept one is pinged,
/// the missing ones are dialled.
async fn keep_warm<D: Dialer>(dialer: &D, kept: &Kept<D::Stream>, nodes: Vec<(NodeId, String)>, deadline: Duration) {
    let mut pings = tokio::task::JoinSet::new();
    for node in nodes {
        for _ in 0..WARM_PER_PEER {
            let (dialer, node, stream) = (dialer.clone(), node.clone(), kept.take(node.0));
            let id = node.0;
            pings.spawn(async move { ping_on(dialer, node, stream, deadline).await.map(|(_, stream)| (id, stream)) });
        }
    }
    while let Some(answer) = pings.join_next().await {
        if let Ok(Some((id, stream))) = answer {
            kept.put(id, stream);
        }
    }
}

/// How far the logs of `nodes` (id, Raft address) go, for those that answer a `Ping` within
/// `deadline`; on the kept connection to each if there is one (else, or if it has died, on a
/// new one), kept again after.
async fn ask<D: Dialer>(
    dialer: &D,
    kept: &Kept<D::Stream>,
    nodes: Vec<(NodeId, String)>,
    deadline: Duration,
) -> BTreeMap<NodeId, Option<LogId>> {
    let mut asks = tokio::task::JoinSet::new();
    for (id, addr) in nodes {
        let (dialer, stream) = (dialer.clone(), kept.take(id));
        asks.spawn(async move {
            ping_on(dialer, (id, addr), stream, deadline).await.map(|(last_log, stream)| (id, last_log, stream))
        });
    }
    let mut answers = BTreeMap::new();
    while let Some(answer) = asks.join_next().await {
        if let Ok(Some((id, last_log, stream))) = answer {
            answers.insert(id, last_log);
            kept.put(id, stream);
        }
    }
    answers
}

/// Runs forever on node `me`, whose log is `log`, asking peers through `dialer` on the
/// connections `kept` (shared with Raft's clients).
pub async fn campaign_when_due<D: Dialer>(
    raft: Raft,
    me: NodeId,
    log: LogStore,
    contact: LeaderContact,
    timing: ElectionTiming,
    (dialer, kept): (D, Kept<D::Stream>),
    clocks: crate::clocks::ClockWatch,
) {
    let mut last_leader: Option<NodeId> = None;
    let mut campaigned_at: Option<Instant> = None;
    let mut warm_due_at = Instant::now() + KEEPALIVE_FIRST_AFTER;
    // The voters that answered during this silence, this node included; `None` until asked.
    let mut present: Option<Vec<Standing>> = None;
    loop {
        tokio::time::sleep(CHECK_INTERVAL).await;
        let metrics = raft.metrics().borrow_watched().clone();
        if let Some(leader) = metrics.current_leader.filter(|l| *l != me) {
            last_leader = Some(leader);
        }
        if metrics.state == ServerState::Leader || metrics.state == ServerState::Learner {
            (campaigned_at, present) = (None, None);
            continue;
        }
        let membership = metrics.membership_config.membership();
        if !membership.voter_ids().any(|id| id == me) {
            continue;
        }
        let Some(silence) = contact.silence() else { continue };
        if silence < timing.suspect_after(contact.last_gap()) {
            (campaigned_at, present) = (None, None);
            if Instant::now() >= warm_due_at {
                warm_due_at = Instant::now() + KEEPALIVE_INTERVAL;
                let others: Vec<(NodeId, String)> = membership
                    .voter_ids()
                    .filter(|id| *id != me)
                    .filter_map(|id| membership.get_node(&id).map(|n| (id, n.addr.clone())))
                    .collect();
                // In the background: room for a new connection's handshakes across an ocean.
                let (dialer, kept, deadline) = (dialer.clone(), kept.clone(), timing.exchange * 4);
                tokio::spawn(async move { keep_warm(&dialer, &kept, others, deadline).await });
            }
            continue;
        }
        let Some(present) = &present else {
            let others: Vec<(NodeId, String)> = membership
                .voter_ids()
                .filter(|id| *id != me && Some(*id) != last_leader)
                .filter_map(|id| membership.get_node(&id).map(|n| (id, n.addr.clone())))
                .collect();
            let mut answers = ask(&dialer, &kept, others, timing.ask_deadline(contact.last_gap())).await;
            answers.insert(me, log.last_log_id().ok().flatten());
            let standing: Vec<Standing> = answers
                .into_iter()
                .map(|(id, last_log)| {
                    let region = membership.get_node(&id).map(|n| n.region.clone()).unwrap_or_default();
                    Standing { id, region, last_log }
                })
                .collect();
            tracing::info!(node = me, line = ?standing, "leader silent: the voters that answer");
            present = Some(standing);
            continue;
        };
        let line = rank(me, present, &timing.region_order);
        if silence < timing.due(line) {
            campaigned_at = None;
            continue;
        }
        // Once in, try again only after everyone else in line has had a turn.
        let voter_ids: Vec<NodeId> = membership.voter_ids().collect();
        let retry_after = timing.retry_after(me, &voter_ids);
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
        // A node whose clock is past the bound must not lead (see `clocks`), unless the
        // cluster has been leaderless too long without it.
        if clocks.holds_back() {
            continue;
        }
        tracing::info!(
            node = me,
            rank = line,
            silence_ms = silence.as_millis() as u64,
            "leader silent past its lease: campaigning"
        );
        let _ = raft.trigger().elect(false).await;
        campaigned_at = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(term: u64, index: u64) -> Option<LogId> {
        Some(LogId::new_term_index(term, index))
    }

    /// Five voters over three regions, all with the same log; `absent` did not answer.
    fn present(absent: &[NodeId]) -> Vec<Standing> {
        [(1, "east"), (2, "east"), (3, "eu"), (4, "eu"), (5, "west")]
            .into_iter()
            .filter(|(id, _)| !absent.contains(id))
            .map(|(id, region)| Standing { id, region: region.to_string(), last_log: log(2, 10) })
            .collect()
    }

    fn order(regions: &[&str]) -> Vec<String> {
        regions.iter().map(|r| r.to_string()).collect()
    }

    #[test]
    fn equal_logs_line_up_by_region_order_then_id() {
        let east_first = order(&["east", "west", "eu"]);
        assert_eq!(rank(2, &present(&[1]), &east_first), 0);
        assert_eq!(rank(5, &present(&[1]), &east_first), 1, "the succession region comes next");
        assert_eq!(rank(3, &present(&[1]), &east_first), 2);
        // The preferred region lost: its nodes did not answer and cost no slot.
        assert_eq!(rank(5, &present(&[1, 2]), &east_first), 0);
        assert_eq!(rank(4, &present(&[1, 2]), &east_first), 2);
        // Regions not in the order go last; no order at all is by id.
        assert_eq!(rank(5, &present(&[4]), &order(&["west"])), 0);
        assert_eq!(rank(2, &present(&[1]), &order(&["west"])), 1);
        assert_eq!(rank(1, &present(&[4]), &[]), 0);
        assert_eq!(rank(5, &present(&[4]), &[]), 3);
        assert_eq!(rank(1, &present(&[1]), &[]), 4, "not present: after everyone");
        // Distinct ranks: no two nodes campaign at the same moment.
        let line = present(&[3]);
        let mut ranks: Vec<usize> = line.iter().map(|s| rank(s.id, &line, &order(&["eu"]))).collect();
        ranks.sort();
        assert_eq!(ranks, vec![0, 1, 2, 3]);
    }

    #[test]
    fn the_longest_log_goes_first_whatever_its_region() {
        let east_first = order(&["east", "west", "eu"]);
        let mut line = present(&[1, 2]);
        line.iter_mut().find(|s| s.id == 4).unwrap().last_log = log(2, 11);
        assert_eq!(rank(4, &line, &east_first), 0, "one entry more beats the preferred order");
        assert_eq!(rank(5, &line, &east_first), 1);
        // A later term beats a higher index, as in Raft's own comparison.
        line.iter_mut().find(|s| s.id == 3).unwrap().last_log = log(3, 5);
        assert_eq!(rank(3, &line, &east_first), 0);
        line.iter_mut().find(|s| s.id == 5).unwrap().last_log = None;
        assert_eq!(rank(5, &line, &east_first), 2, "an empty or unreadable log goes last");
    }

    #[test]
    fn contact_starts_unknown_and_measures_silence() {
        let contact = LeaderContact::default();
        assert_eq!(contact.silence(), None);
        contact.heard();
        assert_eq!(contact.last_gap(), None, "one message is no gap");
        std::thread::sleep(Duration::from_millis(5));
        contact.heard();
        assert!(contact.last_gap().unwrap() >= Duration::from_millis(5));
        assert!(contact.silence().unwrap() < Duration::from_secs(1));
        assert_eq!(contact.since_better_candidate(), None, "a better candidate is a separate record");
        contact.saw_better_candidate();
        assert!(contact.since_better_candidate().unwrap() < Duration::from_secs(1));
    }

    #[test]
    fn later_ranks_wait_an_exchange_each() {
        // The WAN lab's timing: a 21 ms heartbeat, exchanges of 172 ms, a 182 ms lease.
        let timing = ElectionTiming::new(21, [172, 182], Vec::new());
        assert_eq!(timing.due(0), Duration::from_micros(182_000 + 21_000 + 5_250));
        assert_eq!(timing.due(2), timing.due(0) + Duration::from_millis(2 * 172));
        // Near the leader, a heartbeat's silence is usual; far from it, a round trip's.
        let (near, far) = (Some(Duration::from_millis(22)), Some(Duration::from_millis(80)));
        assert_eq!(timing.suspect_after(near), Duration::from_micros(27_500));
        assert_eq!(timing.suspect_after(far), Duration::from_millis(100));
        assert_eq!(
            timing.suspect_after(Some(Duration::from_millis(2))),
            Duration::from_micros(26_250),
            "at least 1.25 heartbeats"
        );
        assert_eq!(timing.suspect_after(None), Duration::from_micros(26_250));
        assert_eq!(timing.suspect_after(Some(Duration::from_secs(1))), timing.exchange, "at most an exchange");
        assert!(timing.ask_deadline(near) > timing.exchange, "room for the longest round trip");
        assert_eq!(timing.ask_deadline(far), timing.exchange, "never less than an exchange");
        assert_eq!(
            timing.suspect_after(near) + timing.ask_deadline(near),
            timing.due(0),
            "the answers are in before the first turn"
        );
        assert_eq!(timing.retry_after(1, &[1, 2, 3]), Duration::from_millis(3 * 172));
        assert_eq!(timing.retry_after(3, &[1, 2, 3]), Duration::from_millis(4 * 172), "distinct retries by id");
    }
}
