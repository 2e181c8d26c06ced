//! `outlast backup`: a base, then the committed log, shipped continuously.
//!
//! Each round asks a node (through `Source`, the operator API with failover) for the records
//! after the last one shipped, replays them on the backup's own replica, writes them as one
//! segment object and then a new manifest. A node that no longer has those records (a snapshot
//! covered them) gets a new base instead, as does a backup whose segments have grown past
//! `base_every_records`; objects no manifest names any more are then deleted. A failed round is
//! retried from a new base after a pause (the last manifest stays valid meanwhile). Every
//! request, round and segment is bounded.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use outlast_cluster::restore::Replica;
use outlast_cluster::Export;
use serde_json::Value;

use crate::manifest::{self, Manifest, Object};
use crate::store::Destination;

/// How the backup reads the cluster: one operator GET, failing over between nodes.
pub trait Source {
    /// `GET path?params` on the operator API, as JSON.
    fn get(&self, path: &str, params: &[(&str, String)]) -> impl Future<Output = Result<Value, String>> + Send;
}

/// How a backup runs.
#[derive(Clone, Debug)]
pub struct ShipConfig {
    /// The cluster's id, recorded in the manifest.
    pub cluster: String,
    /// Time between rounds when caught up (the backup RPO is about this plus one upload).
    pub interval: Duration,
    /// Records shipped as segments before a new base is taken.
    pub base_every_records: u64,
    /// Ship until the backup holds everything the node had applied when this run began, then
    /// return (a one-off backup); otherwise run until `stop` says so.
    pub once: bool,
}

/// What a running backup has done, for its metrics (`outlast backup --metrics-addr`).
#[derive(Debug, Default)]
pub struct ShipStats {
    /// The last index a written manifest holds.
    pub last_index: AtomicU64,
    /// When that manifest was written, ms since the Unix epoch (0: none yet).
    pub written_utc_ms: AtomicU64,
    /// Rounds that failed (each retried after a pause).
    pub errors_total: AtomicU64,
}

impl ShipStats {
    fn wrote(&self, manifest: &Manifest) {
        self.last_index.store(manifest.last_index, Ordering::Relaxed);
        self.written_utc_ms.store(manifest.written_utc_ms, Ordering::Relaxed);
    }

    /// The Prometheus exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let metrics = [
            (
                "outlast_backup_last_success_timestamp_seconds",
                "gauge",
                "When the backup last wrote a manifest (Unix time).",
                self.written_utc_ms.load(Ordering::Relaxed) as f64 / 1e3,
            ),
            (
                "outlast_backup_last_index",
                "gauge",
                "The last log index the backup holds.",
                self.last_index.load(Ordering::Relaxed) as f64,
            ),
            (
                "outlast_backup_errors_total",
                "counter",
                "Backup rounds that failed and were retried.",
                self.errors_total.load(Ordering::Relaxed) as f64,
            ),
        ];
        for (name, kind, help, value) in metrics {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
        }
        out
    }
}

/// Pause after a failed round, doubling up to `RETRY_PAUSE_MAX`.
const RETRY_PAUSE_MIN: Duration = Duration::from_millis(200);
const RETRY_PAUSE_MAX: Duration = Duration::from_secs(30);

impl Default for ShipConfig {
    fn default() -> ShipConfig {
        ShipConfig {
            cluster: String::new(),
            interval: Duration::from_secs(1),
            base_every_records: 100_000,
            once: false,
        }
    }
}

fn decode_b64(text: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| format!("bad base64 from the node: {e}"))
}

fn now_utc_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A base and the manifest that starts from it.
async fn new_base<S: Source>(
    source: &S,
    destination: &Destination,
    config: &ShipConfig,
    scratch: &std::path::Path,
) -> Result<(Manifest, Replica), String> {
    let answer = source.get("/operator/v1/backup/base", &[]).await?;
    let bytes = decode_b64(answer["export"].as_str().ok_or("no export in the node's answer")?)?;
    let export = Export::from_bytes(&bytes)?;
    let index = export.last_log_id.map_or(0, |id| id.index);
    let key = format!("base/{index:020}.bin");
    let sha256 = destination.put(&key, bytes).await?;
    let _ = std::fs::remove_dir_all(scratch);
    let replica = Replica::new(scratch, &export).await?;
    let digest = replica.digest();
    if answer["digest"].as_str() != Some(digest.as_str()) {
        return Err(format!("the node's base digest {} is not the replica's {digest}", answer["digest"]));
    }
    let manifest = Manifest {
        format: manifest::FORMAT,
        state_format: manifest::STATE_FORMAT,
        log_format: manifest::LOG_FORMAT,
        cluster: config.cluster.clone(),
        base: Object { key, sha256, from: index, to: index },
        segments: Vec::new(),
        last_index: index,
        digest,
        written_utc_ms: now_utc_ms(),
    };
    Ok((manifest, replica))
}

/// Runs a backup into `destination` until `stop()` (or, with `once`, until caught up); returns
/// the last manifest written. A failed round (the cluster or the store unreachable) is counted
/// and retried after a pause that doubles up to 30 s; with `once` it is returned instead.
pub async fn ship<S: Source>(
    source: &S,
    destination: &Destination,
    config: &ShipConfig,
    stats: &ShipStats,
    stop: impl Fn() -> bool,
) -> Result<Manifest, String> {
    let scratch = tempfile::tempdir().map_err(|e| format!("scratch directory: {e}"))?;
    let replica_dir = scratch.path().join("replica");
    let mut pause = RETRY_PAUSE_MIN;
    let mut state = None;
    let mut target = None;
    loop {
        match round(source, destination, config, &replica_dir, &mut state, &mut target).await {
            Ok(Round { caught_up, idle }) => {
                pause = RETRY_PAUSE_MIN;
                let (manifest, _) = state.as_ref().expect("a successful round leaves a backup");
                stats.wrote(manifest);
                if (config.once && caught_up) || stop() {
                    return Ok(manifest.clone());
                }
                if idle {
                    tokio::time::sleep(config.interval).await;
                }
            }
            Err(error) if !config.once && !stop() => {
                // The replica may be ahead of the last manifest now: start again from a new base
                // (the last manifest stays valid meanwhile).
                state = None;
                stats.errors_total.fetch_add(1, Ordering::Relaxed);
                eprintln!("backup round failed (retrying in {pause:?}): {error}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_PAUSE_MAX);
            }
            Err(error) => return Err(error),
        }
    }
}

/// What a round did.
struct Round {
    /// The backup holds what the node had applied when the run began.
    caught_up: bool,
    /// Nothing new was shipped.
    idle: bool,
}

/// One round: a base if there is none (or the node purged what comes next, or the segments
/// grew past `base_every_records`), else the records after the last one shipped. Objects are
/// written before the manifest that names them.
async fn round<S: Source>(
    source: &S,
    destination: &Destination,
    config: &ShipConfig,
    replica_dir: &std::path::Path,
    state: &mut Option<(Manifest, Replica)>,
    target: &mut Option<u64>,
) -> Result<Round, String> {
    let Some((manifest, replica)) = state.as_mut() else {
        let (manifest, replica) = new_base(source, destination, config, replica_dir).await?;
        destination.put(manifest::NAME, manifest.to_bytes()).await?;
        *state = Some((manifest, replica));
        return Ok(Round { caught_up: false, idle: false });
    };
    let from = manifest.last_index + 1;
    let answer = source.get("/operator/v1/backup/log", &[("from", from.to_string())]).await?;
    let applied = answer["appliedIndex"].as_u64().unwrap_or(0);
    let target_index = *target.get_or_insert(applied);
    if answer.get("purged").is_some() || manifest.last_index - manifest.base.to >= config.base_every_records {
        let old = manifest.clone();
        let (fresh, fresh_replica) = new_base(source, destination, config, replica_dir).await?;
        destination.put(manifest::NAME, fresh.to_bytes()).await?;
        // The old objects are named by no manifest now.
        for object in std::iter::once(&old.base).chain(&old.segments) {
            if object.key != fresh.base.key {
                destination.delete(&object.key).await?;
            }
        }
        let caught_up = fresh.last_index >= target_index;
        *state = Some((fresh, fresh_replica));
        return Ok(Round { caught_up, idle: false });
    }
    let records: Vec<Vec<u8>> = match answer["records"].as_array() {
        Some(list) => list.iter().map(|r| decode_b64(r.as_str().unwrap_or(""))).collect::<Result<_, _>>()?,
        None => Vec::new(),
    };
    if !records.is_empty() {
        let to = from + records.len() as u64 - 1;
        let key = format!("log/{from:020}-{to:020}.bin");
        let bytes = postcard::to_allocvec(&records).map_err(|e| e.to_string())?;
        let sha256 = destination.put(&key, bytes).await?;
        replica.apply(&records).await?;
        let mut next = manifest.clone();
        next.segments.push(Object { key, sha256, from, to });
        next.last_index = to;
        next.digest = replica.digest();
        next.written_utc_ms = now_utc_ms();
        destination.put(manifest::NAME, next.to_bytes()).await?;
        *manifest = next;
    }
    Ok(Round { caught_up: manifest.last_index >= target_index, idle: records.is_empty() })
}
