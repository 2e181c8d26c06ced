//! How fast a restarted node catches up, on a 3-node loopback cluster of real processes.
//!
//! Two ways back, each measured over several rounds in one cluster:
//! - **From the log.** A follower is SIGKILLed, the cluster commits while it is down, and the
//!   follower is started again; the leader still holds every entry it missed, so openraft
//!   replays them to it as AppendEntries. Measured: process start to "applied as far as the
//!   leader", and the entries (and commands) per second that makes.
//! - **From a snapshot.** The cluster keeps no log behind its snapshots, the state is grown to
//!   a given number of accounts, the follower is killed, the leader snapshots (purging what the
//!   follower would need), and the follower is started again: it must install the snapshot.
//!   Measured: process start to caught up, and the snapshot's size.
//!
//! Both times include starting the process and opening its own log and state, as a real restart
//! does.

use std::path::Path;
use std::time::{Duration, Instant};

use outlast_cluster::config::NodeConfig;
use outlast_cluster::protocol::AdminRequest;
use outlast_cluster::protocol::{ClientReply, ClientRequest};

use crate::cluster_bench::create_accounts;
use crate::report::{spread, Spread};
use crate::svg::{Bar, Chart};
use outlast_lab::processes::ProcessCluster;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Commands committed while the follower is down, per log round.
    pub commands_behind: usize,
    /// Accounts in the state the snapshot carries.
    pub snapshot_accounts: usize,
    /// Rounds of each kind.
    pub rounds: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { commands_behind: 20_000, snapshot_accounts: 100_000, rounds: 3 }
    }
}

/// Commands committed while the follower is down in a snapshot round.
const BEHIND: usize = WRITERS * 64;
/// Clients that write while the follower is down (their commands share entries, as in service).
pub(crate) const WRITERS: usize = 16;
const DEADLINE: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(5);

/// One catch-up.
#[derive(Clone, Debug)]
pub struct CatchUp {
    /// Log entries the follower was behind.
    pub entries: u64,
    /// Process start to applied as far as the leader, ms.
    pub elapsed_ms: f64,
    /// Snapshot size in bytes (snapshot rounds only).
    pub snapshot_bytes: Option<u64>,
}

/// What the benchmark measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The configuration.
    pub config: Config,
    /// Catch-ups from the log.
    pub from_log: Vec<CatchUp>,
    /// Catch-ups by snapshot installation.
    pub from_snapshot: Vec<CatchUp>,
    /// The baseline: a restart that missed nothing (process start, own log and state opened,
    /// leader found), ms per round.
    pub idle_restart_ms: Vec<f64>,
}

impl Report {
    /// Entries per second over the log rounds.
    pub fn log_entries_per_sec(&self) -> Option<Spread> {
        spread(&self.from_log.iter().map(|c| c.entries as f64 / (c.elapsed_ms / 1e3)).collect::<Vec<_>>())
    }
    /// Commands per second over the log rounds.
    pub fn log_commands_per_sec(&self) -> Option<Spread> {
        let commands = self.config.commands_behind as f64;
        spread(&self.from_log.iter().map(|c| commands / (c.elapsed_ms / 1e3)).collect::<Vec<_>>())
    }
    /// Milliseconds to catch up by snapshot.
    pub fn snapshot_ms(&self) -> Option<Spread> {
        spread(&self.from_snapshot.iter().map(|c| c.elapsed_ms).collect::<Vec<_>>())
    }
}

impl Report {
    /// Restart-to-caught-up times: the idle baseline, from the log, by snapshot.
    pub fn chart(&self) -> Chart {
        let bar = |label: String, values: Vec<f64>| spread(&values).map(|s| Bar::ours(label, s.median, s.min, s.max));
        let entries = self.from_log.first().map(|c| c.entries).unwrap_or(0);
        let bytes = self.from_snapshot.iter().filter_map(|c| c.snapshot_bytes).max().unwrap_or(0);
        let bars = [
            bar("restart, nothing missed".into(), self.idle_restart_ms.clone()),
            bar(format!("from the log, ~{entries} entries"), self.from_log.iter().map(|c| c.elapsed_ms).collect()),
            bar(
                format!("by snapshot, {:.1} MB", bytes as f64 / 1e6),
                self.from_snapshot.iter().map(|c| c.elapsed_ms).collect(),
            ),
        ];
        Chart {
            title: "Recovery: process start to caught up".into(),
            unit: "ms".into(),
            groups: vec![(String::new(), bars.into_iter().flatten().collect())],
            lines: Vec::new(),
            log: false,
        }
    }
}

/// Commits `count` (a multiple of `WRITERS`) `CreateAccount` commands from account `first` on,
/// through the leader.
pub(crate) async fn write(cluster: &ProcessCluster, leader: u64, first: u64, count: usize) {
    assert!(count >= WRITERS && count % WRITERS == 0);
    create_accounts(cluster.dialer(), cluster.client_addr(leader), leader, WRITERS, count / WRITERS, first).await;
}

pub(crate) async fn applied(cluster: &ProcessCluster, id: u64) -> Option<u64> {
    cluster.status(id).await.and_then(|s| s.last_applied)
}

/// Restarts `follower` and waits until it has applied `target`; returns the time from start, ms.
async fn restart_and_catch_up(cluster: &mut ProcessCluster, follower: u64, target: u64) -> Result<f64, String> {
    let started = Instant::now();
    cluster.spawn(follower, &[]).map_err(|e| format!("restart node {follower}: {e}"))?;
    loop {
        if applied(cluster, follower).await.is_some_and(|a| a >= target) {
            return Ok(started.elapsed().as_secs_f64() * 1e3);
        }
        if started.elapsed() > DEADLINE {
            return Err(format!("node {follower} did not reach index {target} within {DEADLINE:?}"));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The size of node `id`'s saved snapshot.
fn snapshot_bytes(cluster: &ProcessCluster, id: u64) -> Option<u64> {
    std::fs::metadata(cluster.data_dir(id).join("state").join("snapshot")).map(|m| m.len()).ok()
}

/// A running three-node loopback cluster with `settings`, its leader and one follower.
pub(crate) async fn three_nodes(
    binary: &Path,
    settings: impl Fn(&mut NodeConfig),
) -> Result<(ProcessCluster, u64, u64), String> {
    let mut cluster =
        ProcessCluster::loopback(binary, &["aws", "gcp", "azure"], &[], settings).map_err(|e| e.to_string())?;
    cluster.spawn_all()?;
    let ids = cluster.ids();
    let leader = cluster.leader(&ids, DEADLINE).await.ok_or("no leader")?;
    let follower = *ids.iter().find(|&&id| id != leader).expect("a follower");
    Ok((cluster, leader, follower))
}

async fn log_rounds(binary: &Path, config: &Config) -> Result<(Vec<CatchUp>, Vec<f64>), String> {
    // No snapshot while measuring: every missed entry stays in the leader's log.
    let no_snapshots = |c: &mut NodeConfig| c.snapshot_every_entries = 100_000_000;
    let (mut cluster, leader, follower) = three_nodes(binary, no_snapshots).await?;
    let ids = cluster.ids();
    let (mut rounds, mut idle) = (Vec::new(), Vec::new());
    for round in 0..config.rounds {
        if !cluster.converged(&ids, DEADLINE).await {
            return Err("the cluster did not converge before a round".into());
        }
        let before = applied(&cluster, leader).await.ok_or("leader status")?;
        cluster.kill(follower);
        idle.push(restart_and_catch_up(&mut cluster, follower, before).await?);
        cluster.kill(follower);
        write(&cluster, leader, 1 + (round * config.commands_behind) as u64, config.commands_behind).await;
        let target = applied(&cluster, leader).await.ok_or("leader status")?;
        let elapsed_ms = restart_and_catch_up(&mut cluster, follower, target).await?;
        eprintln!("log round {round}: {} entries behind, caught up in {elapsed_ms:.0} ms", target - before);
        rounds.push(CatchUp { entries: target - before, elapsed_ms, snapshot_bytes: None });
    }
    Ok((rounds, idle))
}

pub(crate) async fn snapshot_rounds(binary: &Path, config: &Config) -> Result<Vec<CatchUp>, String> {
    // Nothing kept behind a snapshot: a follower that missed anything must install one.
    let settings = |c: &mut NodeConfig| {
        c.snapshot_every_entries = 100_000_000;
        c.log_kept_behind_snapshot = 0;
    };
    let (mut cluster, leader, follower) = three_nodes(binary, settings).await?;
    let ids = cluster.ids();
    let base = 1_000_000_000;
    write(&cluster, leader, base, config.snapshot_accounts).await;
    let mut rounds = Vec::new();
    for round in 0..config.rounds {
        if !cluster.converged(&ids, DEADLINE).await {
            return Err("the cluster did not converge before a round".into());
        }
        let before = applied(&cluster, leader).await.ok_or("leader status")?;
        cluster.kill(follower);
        write(&cluster, leader, base + (config.snapshot_accounts + round * BEHIND) as u64, BEHIND).await;
        let target = applied(&cluster, leader).await.ok_or("leader status")?;
        let leader_before = snapshot_modified(&cluster, leader);
        let leader_purged_before = purged_modified(&cluster, leader);
        let request = ClientRequest::Admin { request: AdminRequest::Snapshot, forwarded: false, operator_token: None };
        match cluster.call(leader, &request, DEADLINE).await {
            Ok(ClientReply::Done(_)) => {}
            other => return Err(format!("snapshot request: {other:?}")),
        }
        // The snapshot is built in the background; wait (bounded) until it is saved.
        let started = Instant::now();
        while snapshot_modified(&cluster, leader) == leader_before {
            if started.elapsed() > DEADLINE {
                return Err("the leader did not build its snapshot in time".into());
            }
            tokio::time::sleep(POLL).await;
        }
        // The leader purges its log only between replication attempts to the stopped
        // follower (openraft postpones a purge while entries are in flight): wait for it, or
        // the restarted follower may still be sent the entries instead of the snapshot.
        while purged_modified(&cluster, leader) == leader_purged_before {
            if started.elapsed() > DEADLINE {
                return Err("the leader did not purge its log behind the snapshot in time".into());
            }
            tokio::time::sleep(POLL).await;
        }
        let follower_before = snapshot_modified(&cluster, follower);
        let elapsed_ms = restart_and_catch_up(&mut cluster, follower, target).await?;
        if snapshot_modified(&cluster, follower) == follower_before {
            return Err(format!("node {follower} caught up without installing a snapshot"));
        }
        let bytes = snapshot_bytes(&cluster, leader);
        eprintln!(
            "snapshot round {round}: {} entries behind, {bytes:?} bytes, caught up in {elapsed_ms:.0} ms",
            target - before
        );
        rounds.push(CatchUp { entries: target - before, elapsed_ms, snapshot_bytes: bytes });
    }
    Ok(rounds)
}

/// When node `id` last saved a snapshot, if ever. Compared with an earlier reading, not with a
/// clock: file times come from the kernel's coarse clock and may read earlier than `now()`.
fn snapshot_modified(cluster: &ProcessCluster, id: u64) -> Option<std::time::SystemTime> {
    std::fs::metadata(cluster.data_dir(id).join("state").join("snapshot")).and_then(|m| m.modified()).ok()
}

/// When node `id` last recorded a purge of its log, if ever (compared like `snapshot_modified`).
fn purged_modified(cluster: &ProcessCluster, id: u64) -> Option<std::time::SystemTime> {
    std::fs::metadata(cluster.data_dir(id).join("log").join("last-purged-log-id")).and_then(|m| m.modified()).ok()
}

/// Runs the benchmark with `binary` as the `outlast` executable.
pub fn run(binary: &Path, config: &Config) -> Result<Report, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    // Writers share the commands evenly.
    let even = |n: usize| n.div_ceil(WRITERS) * WRITERS;
    let config = &Config {
        commands_behind: even(config.commands_behind),
        snapshot_accounts: even(config.snapshot_accounts),
        ..config.clone()
    };
    runtime.block_on(async {
        let (from_log, idle_restart_ms) = log_rounds(binary, config).await?;
        let from_snapshot = snapshot_rounds(binary, config).await?;
        Ok(Report { config: config.clone(), from_log, from_snapshot, idle_restart_ms })
    })
}

impl Report {
    /// The report as a BENCHMARKS.md section body.
    pub fn markdown(&self, machine: &str, command: &str, date: &str) -> String {
        let fmt = |s: Option<Spread>, scale: f64| match s {
            Some(s) => format!("{:.0} | {:.0} | {:.0}", s.median * scale, s.min * scale, s.max * scale),
            None => "— | — | —".into(),
        };
        let entries = spread(&self.from_log.iter().map(|c| c.entries as f64).collect::<Vec<_>>());
        let log_ms = spread(&self.from_log.iter().map(|c| c.elapsed_ms).collect::<Vec<_>>());
        let bytes = self.from_snapshot.iter().filter_map(|c| c.snapshot_bytes).max().unwrap_or(0);
        format!(
            "### Recovery: a restarted follower catching up\n\n\
             - Command: `{command}`\n- Date: {date}\n- Machine: {machine}\n\
             - Setup: 3 `outlast node` processes on loopback, each fsyncing. A follower is SIGKILLed, the \
             cluster commits while it is down ({writers} clients through the leader), and the follower is \
             started again; time runs from process start (own log and state opened) until it has applied \
             as far as the leader. {rounds} rounds of each kind. Baseline in the same run: a restart \
             that missed nothing takes {idle} ms (median, min, max) — process start, opening the \
             node's own log and state, and hearing from the leader.\n\n\
             | from the log ({commands} commands missed, ~{entries:.0} entries) | median | min | max |\n|---|---|---|---|\n\
             | catch-up time, ms | {log_ms} |\n\
             | log entries applied per second | {eps} |\n\
             | commands applied per second | {cps} |\n\n\
             | by snapshot ({accounts} accounts, snapshot {mb:.1} MB) | median | min | max |\n|---|---|---|---|\n\
             | process start → snapshot installed and caught up, ms | {snap} |\n",
            writers = WRITERS,
            idle = fmt(spread(&self.idle_restart_ms), 1.0).replace(" | ", ", "),
            rounds = self.config.rounds,
            commands = self.config.commands_behind,
            entries = entries.map(|s| s.median).unwrap_or(0.0),
            log_ms = fmt(log_ms, 1.0),
            eps = fmt(self.log_entries_per_sec(), 1.0),
            cps = fmt(self.log_commands_per_sec(), 1.0),
            accounts = self.config.snapshot_accounts,
            mb = bytes as f64 / 1e6,
            snap = fmt(self.snapshot_ms(), 1.0),
        )
    }
}
