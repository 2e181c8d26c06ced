//! Replicated, durable commits on a 3-node loopback cluster of real processes: throughput and
//! latency at several client concurrencies, and the time from a leader's SIGKILL to the next
//! committed command.
//!
//! Clients keep one connection each to the leader and submit `CreateAccount` commands (cheap
//! for the engine, so the figure is the cost of replication: leader append + fsync, a quorum's
//! append + fsync, commit, apply). Every node fsyncs its log.

use std::path::Path;
use std::time::{Duration, Instant};

use outlast_cluster::protocol::{ClientReply, ClientRequest, Connection};
use outlast_cluster::{Identity, TcpDialer};
use outlast_engine::CommandBody;

use crate::api_bench::measure;
use crate::report::{quantile, spread, Spread};
use outlast_lab::processes::ProcessCluster;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Client concurrencies, one measurement each.
    pub concurrencies: Vec<usize>,
    /// Commands per client per measurement.
    pub commands_per_client: usize,
    /// Leader-kill trials.
    pub failover_trials: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { concurrencies: vec![1, 16, 256], commands_per_client: 200, failover_trials: 10 }
    }
}

/// One concurrency's result.
#[derive(Clone, Debug)]
pub struct Throughput {
    /// Concurrent clients.
    pub clients: usize,
    /// Committed commands per second.
    pub commits_per_sec: f64,
    /// Commit latency p50 and p99, in ms.
    pub latency_ms: [f64; 2],
}

/// The report.
#[derive(Clone, Debug)]
pub struct Report {
    /// The configuration.
    pub config: Config,
    /// Per concurrency, nodes on mutual TLS (as every cluster runs).
    pub throughput: Vec<Throughput>,
    /// Per concurrency, the same on a cluster in clear text (the baseline for TLS's cost).
    pub clear_throughput: Vec<Throughput>,
    /// Time from SIGKILL of the leader to the next commit, per trial, in ms.
    pub failover_ms: Vec<f64>,
    /// Spread of `failover_ms`.
    pub failover: Option<Spread>,
}

const DEADLINE: Duration = Duration::from_secs(30);

async fn load(cluster: &ProcessCluster, leader: u64, clients: usize, per_client: usize, base: u64) -> Throughput {
    let (commits_per_sec, latency_ms) =
        create_accounts(cluster.dialer(), cluster.client_addr(leader), leader, clients, per_client, base).await;
    Throughput { clients, commits_per_sec, latency_ms }
}

/// `clients` connections through `dialer` to node `to` at `addr`, each committing `per_client`
/// `CreateAccount` commands one after another (accounts from `base` on, none twice); returns
/// commits per second and p50 / p99 latency in ms. Panics if a commit fails: a benchmark
/// measures a healthy cluster.
pub(crate) async fn create_accounts(
    dialer: &TcpDialer,
    addr: &str,
    to: u64,
    clients: usize,
    per_client: usize,
    base: u64,
) -> (f64, [f64; 2]) {
    measure(clients, |client, start| {
        let (addr, dialer) = (addr.to_string(), dialer.clone());
        async move {
            let mut connection =
                Connection::open(&dialer, &addr, &Identity::Node(to)).await.expect("connect to the leader");
            start.wait().await;
            let mut latencies = Vec::with_capacity(per_client);
            for n in 0..per_client {
                let account = base + (client * per_client + n) as u64;
                let request = ClientRequest::Submit {
                    body: CommandBody::CreateAccount { account },
                    forwarded: false,
                    operator_token: None,
                    operator: None,
                };
                let sent = Instant::now();
                match connection.request(&request, DEADLINE).await {
                    Ok(ClientReply::Outcome { .. }) => latencies.push(sent.elapsed().as_micros() as u64),
                    other => panic!("commit failed during the benchmark: {other:?}"),
                }
            }
            latencies
        }
    })
    .await
}

/// SIGKILLs the leader while a client submits through another node; returns the time until a
/// command sent after the kill commits, in ms. Restarts the node and waits for convergence.
async fn failover_trial(cluster: &mut ProcessCluster, trial: u64) -> f64 {
    let ids = cluster.ids();
    let leader = cluster.leader(&ids, DEADLINE).await.expect("a leader");
    let via = *ids.iter().find(|&&id| id != leader).expect("a follower");
    let killed_at = Instant::now();
    cluster.kill(leader);
    let mut account = 10_000_000 + trial * 100_000;
    loop {
        account += 1;
        let request = ClientRequest::Submit {
            body: CommandBody::CreateAccount { account },
            forwarded: false,
            operator_token: None,
            operator: None,
        };
        let reply = cluster.call(via, &request, Duration::from_millis(500)).await;
        if let Ok(ClientReply::Outcome { .. }) = reply {
            break;
        }
        assert!(killed_at.elapsed() < DEADLINE, "no commit after the leader was killed");
    }
    let elapsed = killed_at.elapsed().as_secs_f64() * 1e3;
    cluster.spawn(leader, &[]).expect("restart");
    assert!(cluster.converged(&ids, DEADLINE).await, "the restarted node did not catch up");
    elapsed
}

/// Runs the benchmark with `binary` as the `outlast` executable.
pub fn run(binary: &Path, config: &Config) -> std::io::Result<Report> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        // TLS against clear text, in the order clear, TLS, TLS, clear (ABBA), so that what a
        // run's order does (a warmer page cache, a busier disk) falls on both alike; each
        // figure is the mean of its two runs. Each run is a fresh cluster, stopped after.
        let mut runs: [Vec<Vec<Throughput>>; 2] = [Vec::new(), Vec::new()];
        for (run, tls) in [false, true, true, false].into_iter().enumerate() {
            let mut cluster = ProcessCluster::loopback(binary, &["aws", "gcp", "azure"], &[], |c| {
                if !tls {
                    c.tls = None
                }
            })?;
            cluster.spawn_all().map_err(std::io::Error::other)?;
            let ids = cluster.ids();
            let leader = cluster.leader(&ids, DEADLINE).await.ok_or_else(|| std::io::Error::other("no leader"))?;
            let mut measured = Vec::new();
            for (round, &clients) in config.concurrencies.iter().enumerate() {
                let base = 1 + ((run * config.concurrencies.len() + round) as u64) * 1_000_000;
                measured.push(load(&cluster, leader, clients, config.commands_per_client, base).await);
            }
            cluster.stop_all();
            runs[usize::from(tls)].push(measured);
        }
        let mean = |runs: &[Vec<Throughput>]| -> Vec<Throughput> {
            (0..config.concurrencies.len())
                .map(|i| {
                    let n = runs.len() as f64;
                    let sum = |f: &dyn Fn(&Throughput) -> f64| runs.iter().map(|r| f(&r[i])).sum::<f64>() / n;
                    Throughput {
                        clients: runs[0][i].clients,
                        commits_per_sec: sum(&|t| t.commits_per_sec),
                        latency_ms: [sum(&|t| t.latency_ms[0]), sum(&|t| t.latency_ms[1])],
                    }
                })
                .collect()
        };
        let (clear_throughput, throughput) = (mean(&runs[0]), mean(&runs[1]));
        // Leader kills on a cluster on TLS, as every cluster runs.
        let mut cluster = ProcessCluster::loopback(binary, &["aws", "gcp", "azure"], &[], |_| {})?;
        cluster.spawn_all().map_err(std::io::Error::other)?;
        cluster.leader(&cluster.ids(), DEADLINE).await.ok_or_else(|| std::io::Error::other("no leader"))?;
        let mut failover_ms = Vec::new();
        for trial in 0..config.failover_trials {
            failover_ms.push(failover_trial(&mut cluster, trial as u64).await);
        }
        let failover = spread(&failover_ms);
        Ok(Report { config: config.clone(), throughput, clear_throughput, failover_ms, failover })
    })
}

impl Report {
    /// The report as a BENCHMARKS.md section body.
    pub fn markdown(&self, machine: &str, command: &str, date: &str) -> String {
        let mut out = format!(
            "### Replicated durable commits: 3 node processes on loopback\n\n\
             - Command: `{command}`\n- Date: {date}\n- Machine: {machine}\n\
             - Setup: 3 `outlast node` processes (labels aws / gcp / azure) on 127.0.0.1, each fsyncing its \
             log; clients hold one connection each to the leader and submit `CreateAccount` commands; a \
             command counts when the leader replies after commit and apply. {per} commands per client. \
             Nodes and clients on mutual TLS 1.3 (rustls, ring), against the same cluster in clear text, \
             fresh clusters run in the order clear, TLS, TLS, clear; each figure is the mean of its two runs.\n\n\
             | clients | commits/s TLS | commits/s clear | TLS / clear | p50 ms TLS / clear | p99 ms TLS / clear |\n\
             |---|---|---|---|---|---|\n",
            per = self.config.commands_per_client
        );
        for (t, c) in self.throughput.iter().zip(&self.clear_throughput) {
            out += &format!(
                "| {} | {:.0} | {:.0} | {:.2} | {:.2} / {:.2} | {:.2} / {:.2} |\n",
                t.clients,
                t.commits_per_sec,
                c.commits_per_sec,
                t.commits_per_sec / c.commits_per_sec.max(1e-9),
                t.latency_ms[0],
                c.latency_ms[0],
                t.latency_ms[1],
                c.latency_ms[1]
            );
        }
        if let Some(f) = self.failover {
            let mut sorted: Vec<u64> = self.failover_ms.iter().map(|v| *v as u64).collect();
            sorted.sort_unstable();
            out += &format!(
                "\nLeader SIGKILL → next committed command (client retrying through a follower every ≤500 ms; \
                 default election timeout 150–300 ms), {} trials: median {:.0} ms, p99 {} ms, min {:.0} ms, max {:.0} ms.\n",
                self.failover_ms.len(),
                f.median,
                quantile(&sorted, 0.99),
                f.min,
                f.max
            );
        }
        out
    }
}
