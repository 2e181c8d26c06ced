//! Commit latency across a simulated WAN, next to its physical floor.
//!
//! A five-node cluster of real processes runs the built-in topology (aws / gcp / azure over
//! us-east-1, eu-west-1, us-west-2), every node-to-node link crossing a userspace link proxy
//! that adds the regions' one-way latency. A client sits next to the leader (as users near the
//! preferred region do) and submits commands straight to it.
//!
//! The floor is measured in the same run, not taken from the configuration: from the leader's
//! own address, a status request crosses each follower's link proxy and back, so its round
//! trip holds exactly the delay a replication round pays on that link (proxy included). A
//! commit needs a quorum, so the floor is the round trip to the follower that completes the
//! nearest quorum. Rounds alternate probe and load, so a noisy machine moves both.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use outlast_cluster::protocol::{ClientReply, ClientRequest, Connection};
use outlast_cluster::{Identity, TcpDialer};
use outlast_lab::up::{Cluster, NodeAddrs};

use crate::cluster_bench::create_accounts;
use crate::report::{spread, Spread};
use crate::svg::{Bar, Chart};

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Client concurrencies, one measurement each per round.
    pub concurrencies: Vec<usize>,
    /// Commands per client per measurement.
    pub commands_per_client: usize,
    /// Rounds (probe, then every concurrency).
    pub rounds: usize,
    /// Where the cluster's state goes (wiped first).
    pub dir: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            concurrencies: vec![1, 16],
            commands_per_client: 100,
            rounds: 3,
            dir: PathBuf::from("target/wan-bench"),
        }
    }
}

/// Status round trips per follower per probe (the median is kept).
const PROBES_PER_FOLLOWER: usize = 15;
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// How long the leader may take to settle in the preferred region.
const SETTLE_DEADLINE: Duration = Duration::from_secs(30);

/// One concurrency's latencies over the rounds.
#[derive(Clone, Debug)]
pub struct Latency {
    /// Concurrent clients.
    pub clients: usize,
    /// Commit latency p50 per round, ms.
    pub p50_ms: Spread,
    /// Commit latency p99 per round, ms.
    pub p99_ms: Spread,
    /// Committed commands per second per round.
    pub commits_per_sec: Spread,
    /// p50 minus that round's floor, ms.
    pub over_floor_ms: Spread,
}

/// What the benchmark measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The configuration.
    pub config: Config,
    /// The leader during the run, and its region.
    pub leader: (u64, String),
    /// Median round trip from the leader to each follower, ms (last round).
    pub rtt_ms: BTreeMap<u64, f64>,
    /// The configured round trip from the leader to each follower, ms.
    pub configured_rtt_ms: BTreeMap<u64, u32>,
    /// The measured floor per round, ms.
    pub floor_ms: Spread,
    /// Per concurrency.
    pub latency: Vec<Latency>,
}

/// Median round trip (ms) of a status request from `source` through node `to`'s link proxy.
async fn probe(dialer: &TcpDialer, source: std::net::IpAddr, to: u64) -> Result<f64, String> {
    let addr = NodeAddrs::of(to).client;
    let from = TcpDialer { source_ip: Some(source), ..dialer.clone() };
    let mut connection =
        Connection::open(&from, &addr, &Identity::Node(to)).await.map_err(|e| format!("probe {addr}: {e}"))?;
    let mut rtts = Vec::with_capacity(PROBES_PER_FOLLOWER);
    for _ in 0..PROBES_PER_FOLLOWER {
        let sent = Instant::now();
        match connection.request(&ClientRequest::Status, REQUEST_DEADLINE).await {
            Ok(ClientReply::Status(_)) => rtts.push(sent.elapsed().as_secs_f64() * 1e3),
            other => return Err(format!("probe {addr}: {other:?}")),
        }
    }
    Ok(spread(&rtts).expect("probes ran").median)
}

/// Waits (bounded) until the leader is in the preferred region (the cluster moves it there).
async fn settled_leader(cluster: &Cluster) -> Result<u64, String> {
    let preferred = cluster.topology.preferred_region.clone();
    let started = Instant::now();
    loop {
        let leader = cluster.leader().await?;
        let region = cluster.topology.nodes.iter().find(|n| n.id == leader).map(|n| n.region.clone());
        if preferred.is_none() || region == preferred {
            return Ok(leader);
        }
        if started.elapsed() > SETTLE_DEADLINE {
            return Err(format!("the leader stayed outside {preferred:?} for {SETTLE_DEADLINE:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the benchmark with `binary` as the `outlast` executable.
pub fn run(binary: &Path, config: &Config) -> Result<Report, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&config.dir);
    let (dir, topology) = outlast_lab::up::prepare(&config.dir, None)?;
    runtime.block_on(async {
        let cluster = Cluster::start(binary, dir, topology.clone()).await?;
        let result = measure_cluster(&cluster, config).await;
        cluster.shutdown().await;
        result
    })
}

async fn measure_cluster(cluster: &Cluster, config: &Config) -> Result<Report, String> {
    let leader = settled_leader(cluster).await?;
    let topology = &cluster.topology;
    let followers: Vec<u64> = cluster.ids().into_iter().filter(|&id| id != leader).collect();
    // The leader plus this many followers make a quorum.
    let followers_needed = followers.len().div_ceil(2);
    assert!(followers_needed >= 1 && followers_needed <= followers.len());
    let source = NodeAddrs::of(leader).source.expect("loopback nodes have a source address");
    let mut floors = Vec::new();
    let mut rtt_ms = BTreeMap::new();
    let mut per_clients: BTreeMap<usize, [Vec<f64>; 4]> = BTreeMap::new();
    for round in 0..config.rounds.max(1) {
        for &follower in &followers {
            rtt_ms.insert(follower, probe(cluster.dialer(), source, follower).await?);
        }
        let mut sorted: Vec<f64> = rtt_ms.values().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let floor = sorted[followers_needed - 1];
        floors.push(floor);
        for (index, &clients) in config.concurrencies.iter().enumerate() {
            let base = 1 + ((round * config.concurrencies.len() + index) as u64) * 1_000_000;
            let (rate, [p50, p99]) = create_accounts(
                cluster.dialer(),
                &NodeAddrs::of(leader).client_listen.to_string(),
                leader,
                clients,
                config.commands_per_client,
                base,
            )
            .await;
            eprintln!("round {round}: {clients} clients: p50 {p50:.1} ms, p99 {p99:.1} ms, floor {floor:.1} ms");
            let entry = per_clients.entry(clients).or_default();
            entry[0].push(p50);
            entry[1].push(p99);
            entry[2].push(rate);
            entry[3].push(p50 - floor);
        }
    }
    let latency = per_clients
        .into_iter()
        .map(|(clients, [p50, p99, rate, over])| Latency {
            clients,
            p50_ms: spread(&p50).expect("rounds ran"),
            p99_ms: spread(&p99).expect("rounds ran"),
            commits_per_sec: spread(&rate).expect("rounds ran"),
            over_floor_ms: spread(&over).expect("rounds ran"),
        })
        .collect();
    let region = topology.nodes.iter().find(|n| n.id == leader).map(|n| n.region.clone()).unwrap_or_default();
    let configured_rtt_ms = followers.iter().map(|&f| (f, 2 * topology.latency_ms(leader, f))).collect();
    Ok(Report {
        config: config.clone(),
        leader: (leader, region),
        rtt_ms,
        configured_rtt_ms,
        floor_ms: spread(&floors).expect("rounds ran"),
        latency,
    })
}

impl Report {
    /// Commit latency p50 and p99 per concurrency, with the floor and the goal as lines.
    pub fn chart(&self) -> Chart {
        let bar = |label: String, s: &Spread| Bar::ours(label, s.median, s.min, s.max);
        Chart {
            title: "WAN commit latency, five nodes in three regions".into(),
            unit: "ms".into(),
            groups: self
                .latency
                .iter()
                .map(|l| {
                    (
                        format!("{} client(s)", l.clients),
                        vec![bar("commit p50".into(), &l.p50_ms), bar("commit p99".into(), &l.p99_ms)],
                    )
                })
                .collect(),
            lines: vec![("floor".into(), self.floor_ms.median), ("goal p50 ≤".into(), self.floor_ms.median + 2.0)],
            log: false,
        }
    }
}

impl Report {
    /// The report as a BENCHMARKS.md section body.
    pub fn markdown(&self, machine: &str, command: &str, date: &str) -> String {
        let rtts: Vec<String> = self
            .rtt_ms
            .iter()
            .map(|(id, ms)| format!("n{id} {ms:.1} ms (configured {})", self.configured_rtt_ms[id]))
            .collect();
        let mut out = format!(
            "### WAN commit latency next to its floor\n\n\
             - Command: `{command}`\n- Date: {date}\n- Machine: {machine}\n\
             - Setup: `outlast up`'s five-node topology (aws / gcp / azure over us-east-1, eu-west-1, us-west-2; \
             one-way 1 ms inside a region, 32 / 38 / 65 ms between them, jitter ≤ 1 ms), every node-to-node \
             link through a userspace link proxy, every node fsyncing. Leader n{leader} in {region}; one client \
             connection per client next to it, {per} sequential `CreateAccount` commits each; {rounds} rounds.\n\
             - Floor, measured each round: a status request from the leader's address through each follower's \
             link proxy and back (median of {probes}); round trips {rtts}. A commit needs {needed} follower(s), so \
             the floor is the round trip to the nearest quorum: median {floor:.1} ms (min {fmin:.1}, max {fmax:.1}).\n\
             - Ceiling: a client waits for each reply before its next command, so by Little's law no replication \
             can commit more than clients ÷ floor per second.\n\n\
             | clients | commit p50 ms (median, min–max over rounds) | p99 ms | p50 − floor ms | commits/s | ceiling, clients ÷ floor |\n\
             |---|---|---|---|---|---|\n",
            leader = self.leader.0,
            region = self.leader.1,
            per = self.config.commands_per_client,
            rounds = self.config.rounds,
            probes = PROBES_PER_FOLLOWER,
            rtts = rtts.join(", "),
            needed = self.rtt_ms.len().div_ceil(2),
            floor = self.floor_ms.median,
            fmin = self.floor_ms.min,
            fmax = self.floor_ms.max,
        );
        for l in &self.latency {
            out += &format!(
                "| {} | {:.1} ({:.1}–{:.1}) | {:.1} ({:.1}–{:.1}) | {:+.1} ({:+.1}–{:+.1}) | {:.0} | {:.0} |\n",
                l.clients,
                l.p50_ms.median,
                l.p50_ms.min,
                l.p50_ms.max,
                l.p99_ms.median,
                l.p99_ms.min,
                l.p99_ms.max,
                l.over_floor_ms.median,
                l.over_floor_ms.min,
                l.over_floor_ms.max,
                l.commits_per_sec.median,
                l.clients as f64 / (self.floor_ms.median / 1e3),
            );
        }
        out
    }
}
