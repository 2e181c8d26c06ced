//! What a seed does to the cluster: network weather for the whole safety phase and a schedule
//! of discrete faults, drawn from the seed alone.
//!
//! Ranges follow TigerBeetle's VOPR in spirit: every seed gets its own loss rate, latency and
//! a handful of partitions, isolations, crashes, restarts, latency spikes, clock jumps and
//! failing disks.
//!
//! Must never: draw from anything but the seed (a plan is a pure function of it).

use crate::rng::Rng;

/// Node ids in a simulated cluster.
pub const NODES: [u64; 5] = [1, 2, 3, 4, 5];

/// One discrete fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Cut every link between the two groups, both ways.
    Partition(Vec<u64>, Vec<u64>),
    /// Cut the link from one node to another only (replies still flow the other way).
    OneWay(u64, u64),
    /// Cut the current leader off from everyone.
    IsolateLeader,
    /// Kill a node's process: its tasks and memory are gone.
    Crash(u64),
    /// Start a crashed node again from its disk.
    Restart(u64),
    /// Make every message to and from a node take this long, ms.
    LatencySpike(u64, u64),
    /// Move a node's wall clock by this many ms (forward or back).
    ClockJump(u64, i64),
    /// Make a node's disk fail reads, writes and syncs with EIO, each with this chance in
    /// millionths, until healed.
    DiskErrors(u64, u64),
    /// Repair every link and disk and end latency spikes.
    Heal,
}

/// A seed's plan.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Per-tick chance (in millionths) that a healthy link goes down on its own.
    pub flap_ppm: u64,
    /// Per-tick chance (in millionths) that a link that went down on its own comes back.
    pub repair_ppm: u64,
    /// Message latency range, ms.
    pub latency_ms: (u64, u64),
    /// Discrete faults at simulated ms since the start, in time order.
    pub faults: Vec<(u64, Fault)>,
    /// With a value, writes are torn at this block size when a crash interrupts them.
    pub torn_block_bytes: Option<u64>,
    /// The nodes' `preferred_region`, if any: a leader elsewhere then hands leadership there
    /// (drawn after everything else, so it changes no other part of a seed's plan).
    pub preferred_region: Option<String>,
    /// Chance in a million that a follower's reply on a replication stream reaches openraft
    /// twice or after the next one (`outlast_cluster::stream_append::weather`); drawn last.
    pub reply_faults_ppm: u32,
}

/// How many discrete faults a plan holds at most.
pub const FAULTS_MAX: u64 = 8;

impl Plan {
    /// The plan for `seed` over a safety phase of `safety_ms`.
    pub fn draw(seed: u64, safety_ms: u64) -> Plan {
        let mut rng = Rng::new(seed, 1);
        // Loss as VOPR ranges it, 0–30 %: here the share of time a link spends down on its own.
        let loss_percent = rng.below(31);
        let repair_ppm = 20_000;
        let flap_ppm = repair_ppm * loss_percent / (100 - loss_percent).max(1);
        let low = rng.between(0, 5);
        let latency_ms = (low, low + rng.between(0, 20));
        let mut faults = Vec::new();
        let mut crashed: Vec<u64> = Vec::new();
        for _ in 0..rng.between(1, FAULTS_MAX) {
            let at = rng.between(safety_ms / 10, safety_ms * 9 / 10);
            let node = NODES[rng.below(NODES.len() as u64) as usize];
            let fault = match rng.below(9) {
                0 => {
                    let mut side: Vec<u64> = NODES.iter().copied().filter(|_| rng.percent(50)).collect();
                    if side.is_empty() || side.len() == NODES.len() {
                        side = vec![node];
                    }
                    let other = NODES.iter().copied().filter(|n| !side.contains(n)).collect();
                    Fault::Partition(side, other)
                }
                1 => {
                    let to = NODES[rng.below(NODES.len() as u64) as usize];
                    if to == node {
                        continue;
                    }
                    Fault::OneWay(node, to)
                }
                2 => Fault::IsolateLeader,
                // Never more than two down at once: a crash plan that kills a quorum tests
                // nothing but waiting.
                3 | 4 if !crashed.contains(&node) && crashed.len() < 2 => {
                    crashed.push(node);
                    Fault::Crash(node)
                }
                3 | 4 if !crashed.is_empty() => Fault::Restart(crashed.remove(0)),
                5 => Fault::LatencySpike(node, rng.between(50, 400)),
                6 => Fault::ClockJump(node, rng.between(0, 120_000) as i64 - 60_000),
                7 => Fault::DiskErrors(node, rng.between(10_000, 100_000)),
                _ => Fault::Heal,
            };
            faults.push((at, fault));
        }
        faults.sort_by_key(|(at, _)| *at);
        let torn_block_bytes = rng.percent(50).then_some(512);
        let preferred_region = rng.percent(50).then(|| format!("region-{}", rng.below(3)));
        let reply_faults_ppm = if rng.percent(50) { rng.between(20_000, 200_000) as u32 } else { 0 };
        Plan { flap_ppm, repair_ppm, latency_ms, faults, torn_block_bytes, preferred_region, reply_faults_ppm }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_is_a_function_of_its_seed() {
        let a = Plan::draw(7, 4_000);
        let b = Plan::draw(7, 4_000);
        assert_eq!(a.faults, b.faults);
        assert!(a.faults.windows(2).all(|w| w[0].0 <= w[1].0));
        let kinds: std::collections::BTreeSet<String> = (0..200)
            .flat_map(|seed| Plan::draw(seed, 4_000).faults)
            .map(|(_, f)| format!("{f:?}").split(['(', ' ']).next().unwrap().to_string())
            .collect();
        assert!(kinds.len() >= 9, "every kind of fault is drawn by some seed: {kinds:?}");
    }
}
