//! `outlast bench backup`: the backup RPO under load, and how long a restore takes.
//!
//! A 3-node loopback cluster of real processes is grown to a given number of accounts; then
//! `outlast backup`'s shipping loop (the library, in this process) runs against it into a
//! local directory (`file://`: the tool's own cost, not a provider's network), while 16 clients
//! keep committing. Every 50 ms the leader's applied index is sampled, and the manifest is
//! watched: a sample's lag is the time until a manifest holds that index. That lag is what a
//! loss of the whole cluster at the sample's moment would cost: the backup RPO. Then the
//! backup is restored (every object read and checked, the log replayed onto the base, the
//! digest compared, three data directories written), timed, next to the same run's baseline:
//! a restarted follower catching up by snapshot on a state of the same size.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outlast_backup::{Destination, ShipConfig, Source};
use outlast_client::{Client, FailoverPolicy};
use outlast_cluster::config::NodeConfig;
use serde_json::Value;

use crate::recovery_bench::{applied, three_nodes, write, WRITERS};
use crate::report::{spread, Spread};

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Accounts in the state before the backup starts.
    pub accounts: usize,
    /// Seconds of load while the RPO is sampled.
    pub load_s: u64,
    /// The backup's interval between rounds, ms.
    pub interval_ms: u64,
}

/// What it measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The configuration.
    pub config: Config,
    /// Lag of each sample (ms): applied on the leader → held by a manifest.
    pub lags_ms: Vec<f64>,
    /// Commands committed during the load.
    pub commands: u64,
    /// The restored state's bytes (the base plus the replayed log).
    pub state_bytes: u64,
    /// Log records the restore replayed.
    pub records: u64,
    /// Restore: read, check and replay, ms.
    pub rebuild_ms: f64,
    /// Restore: three data directories written, ms.
    pub write_ms: f64,
    /// Baseline: a follower's catch-up by snapshot on the same state, ms.
    pub snapshot_catch_up_ms: Vec<f64>,
}

/// The operator API on the loopback cluster's public listeners, with its token.
struct TokenSource {
    client: Client,
    token: String,
}

impl Source for TokenSource {
    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Value, String> {
        self.client.operator(&self.token, "GET", path, params).await.map_err(|e| e.to_string())
    }
}

fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0)
}

/// Runs the benchmark with nodes from `binary`.
pub fn run(binary: &Path, config: &Config) -> Result<Report, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(measure(binary, config))
}

async fn measure(binary: &Path, config: &Config) -> Result<Report, String> {
    let (cluster, leader, _) = three_nodes(binary, |_: &mut NodeConfig| {}).await?;
    let base_account = 2_000_000_000u64;
    let accounts = config.accounts.div_ceil(WRITERS) * WRITERS;
    write(&cluster, leader, base_account, accounts).await;
    let endpoints = cluster.ids().iter().map(|id| format!("http://{}", cluster.api_addr(*id))).collect();
    let source = TokenSource {
        client: Client::new(endpoints, None, FailoverPolicy::default()),
        token: cluster.state_dir().read_token()?,
    };
    let store = tempfile::tempdir().map_err(|e| e.to_string())?;
    let url = format!("file://{}", store.path().display());
    let destination = Destination::open(&url)?;
    let ship_config = ShipConfig {
        cluster: "bench".into(),
        interval: Duration::from_millis(config.interval_ms),
        ..ShipConfig::default()
    };

    let stop = Arc::new(AtomicBool::new(false));
    let manifests: Arc<Mutex<Vec<(Instant, u64)>>> = Arc::default();
    let watcher = {
        let (stop, manifests, path) = (stop.clone(), manifests.clone(), store.path().join("manifest.json"));
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Some(manifest) =
                    std::fs::read(&path).ok().and_then(|bytes| outlast_backup::Manifest::parse(&bytes).ok())
                {
                    manifests.lock().unwrap_or_else(|p| p.into_inner()).push((Instant::now(), manifest.last_index));
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let shipping = {
        let stop = stop.clone();
        let stats = outlast_backup::ShipStats::default();
        async move {
            outlast_backup::ship(&source, &destination, &ship_config, &stats, || stop.load(Ordering::Relaxed)).await
        }
    };
    let load_and_sample = async {
        let load_stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (load_stop, dialer, addr) =
                (load_stop.clone(), cluster.dialer().clone(), cluster.client_addr(leader).to_string());
            tokio::spawn(async move {
                let mut next = base_account + accounts as u64;
                let mut commands = 0u64;
                while !load_stop.load(Ordering::Relaxed) {
                    crate::cluster_bench::create_accounts(&dialer, &addr, leader, WRITERS, 16, next).await;
                    next += (WRITERS * 16) as u64;
                    commands += (WRITERS * 16) as u64;
                }
                commands
            })
        };
        let mut samples = Vec::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(config.load_s) {
            if let Some(index) = applied(&cluster, leader).await {
                samples.push((Instant::now(), index));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        load_stop.store(true, Ordering::Relaxed);
        let commands = writer.await.unwrap_or(0);
        // Let the backup catch up with the last sample, then stop it.
        let last = samples.last().map_or(0, |(_, index)| *index);
        let deadline = Instant::now() + Duration::from_secs(60);
        while manifests.lock().unwrap_or_else(|p| p.into_inner()).last().is_none_or(|(_, i)| *i < last) {
            if Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        stop.store(true, Ordering::Relaxed);
        (samples, commands)
    };
    let (shipped, (samples, commands)) = tokio::join!(shipping, load_and_sample);
    shipped?;
    let _ = watcher.await;
    let manifests = manifests.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut lags_ms = Vec::new();
    for (at, index) in &samples {
        let held = manifests.iter().find(|(seen, last)| seen >= at && last >= index);
        match held {
            Some((seen, _)) => lags_ms.push(seen.duration_since(*at).as_secs_f64() * 1e3),
            None => return Err(format!("the backup never held index {index}")),
        }
    }
    drop(cluster);

    // Restore, timed, into three new data directories.
    let destination = Destination::open(&url)?;
    let started = Instant::now();
    let (manifest, state) = outlast_backup::restore::rebuild(&destination).await?;
    let rebuild_ms = started.elapsed().as_secs_f64() * 1e3;
    let targets = tempfile::tempdir().map_err(|e| e.to_string())?;
    let members = (1..=3u64)
        .map(|id| (id, outlast_cluster::NodeInfo { addr: format!("10.0.{id}.1:7100"), ..Default::default() }))
        .collect();
    let started = Instant::now();
    for id in 1..=3u64 {
        outlast_cluster::restore::write_member(&targets.path().join(format!("node{id}")), &state, &members).await?;
    }
    let write_ms = started.elapsed().as_secs_f64() * 1e3;
    let records = manifest.last_index - manifest.base.to;

    // The baseline: a follower catching up by snapshot on a state of the same size.
    let recovery = crate::recovery_bench::Config {
        commands_behind: 0,
        snapshot_accounts: accounts + commands as usize,
        rounds: 3,
    };
    let snapshot_catch_up_ms =
        crate::recovery_bench::snapshot_rounds(binary, &recovery).await?.iter().map(|c| c.elapsed_ms).collect();
    Ok(Report {
        config: config.clone(),
        lags_ms,
        commands,
        state_bytes: state.state.len() as u64,
        records,
        rebuild_ms,
        write_ms,
        snapshot_catch_up_ms,
    })
}

impl Report {
    /// The RPO samples' spread, ms.
    pub fn lag(&self) -> Option<Spread> {
        spread(&self.lags_ms)
    }

    /// The section for BENCHMARKS.md.
    pub fn markdown(&self, machine: &str, command: &str, date: &str) -> String {
        let baseline = spread(&self.snapshot_catch_up_ms).map(|s| s.median).unwrap_or(0.0);
        let restore_ms = self.rebuild_ms + self.write_ms;
        format!(
            "### Backups: RPO under load, and restore time\n\n\
             - Command: `{command}`\n- Date: {date}\n- Machine: {machine}\n\
             - Setup: 3 `outlast node` processes on loopback, each fsyncing, grown to {accounts} accounts; \
             `outlast backup`'s loop (interval {interval} ms) ships a base and then the committed log to a \
             local directory (`file://`: the tool's cost, without a provider's network) while {writers} \
             clients commit {commands} commands in {load} s. Every 50 ms the leader's applied index is \
             sampled; a sample's lag is the time until a manifest holds it: what losing the whole cluster at \
             that moment would cost.\n\n\
             | backup RPO over {samples} samples | p50 | p99 | max |\n|---|---|---|---|\n\
             | applied on the leader → in the backup, ms | {p50:.0} | {p99:.0} | {max:.0} |\n\n\
             | restore of a {mb:.1} MB state ({records} log records replayed onto the base) | ms |\n|---|---|\n\
             | read, check every object, replay, compare the digest | {rebuild:.0} |\n\
             | write three new data directories | {write:.0} |\n\
             | total | {restore:.0} |\n\
             | baseline, same run: a restarted follower catching up by snapshot on the same state (median of 3) | {baseline:.0} |\n\
             | ratio, restore / baseline | {ratio:.2} |\n",
            accounts = self.config.accounts,
            interval = self.config.interval_ms,
            writers = WRITERS,
            commands = self.commands,
            load = self.config.load_s,
            samples = self.lags_ms.len(),
            p50 = percentile(&self.lags_ms, 0.5),
            p99 = percentile(&self.lags_ms, 0.99),
            max = percentile(&self.lags_ms, 1.0),
            mb = self.state_bytes as f64 / 1e6,
            records = self.records,
            rebuild = self.rebuild_ms,
            write = self.write_ms,
            restore = restore_ms,
            ratio = if baseline > 0.0 { restore_ms / baseline } else { 0.0 },
        )
    }
}
