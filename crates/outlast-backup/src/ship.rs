//! `outlast backup`: a base, then the committed log, shipped continuously.
//!
//! Each round asks a node (through `Source`, the operator API with failover) for the records
//! after the last one shipped, replays them on the backup's own replica, writes them as one
//! segment object and then a new manifest. A node that no longer has those records (a snapshot
//! covered them) gets a new base instead, as does a backup whose segments have grown past
//! `base_every_records`; objects no manifest names any more are then deleted. Every request,
//! round and segment is bounded.

use std::future::Future;
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
/// the last manifest written.
pub async fn ship<S: Source>(
    source: &S,
    destination: &Destination,
    config: &ShipConfig,
    stop: impl Fn() -> bool,
) -> Result<Manifest, String> {
    let scratch = tempfile::tempdir().map_err(|e| format!("scratch directory: {e}"))?;
    let replica_dir = scratch.path().join("replica");
    let (mut manifest, mut replica) = new_base(source, destination, config, &replica_dir).await?;
    destination.put(manifest::NAME, manifest.to_bytes()).await?;
    let mut target = None;
    loop {
        let from = manifest.last_index + 1;
        let answer = source.get("/operator/v1/backup/log", &[("from", from.to_string())]).await?;
        let applied = answer["appliedIndex"].as_u64().unwrap_or(0);
        let target_index = *target.get_or_insert(applied);
        let records: Vec<Vec<u8>> = match answer["records"].as_array() {
            Some(list) => list.iter().map(|r| decode_b64(r.as_str().unwrap_or(""))).collect::<Result<_, _>>()?,
            None => Vec::new(),
        };
        let shipped_since_base = manifest.last_index - manifest.base.to;
        if answer.get("purged").is_some() || shipped_since_base >= config.base_every_records {
            let old = manifest.clone();
            (manifest, replica) = new_base(source, destination, config, &replica_dir).await?;
            destination.put(manifest::NAME, manifest.to_bytes()).await?;
            // The old objects are named by no manifest now.
            for object in std::iter::once(&old.base).chain(&old.segments) {
                if object.key != manifest.base.key {
                    destination.delete(&object.key).await?;
                }
            }
            continue;
        }
        if !records.is_empty() {
            replica.apply(&records).await?;
            let to = from + records.len() as u64 - 1;
            let key = format!("log/{from:020}-{to:020}.bin");
            let bytes = postcard::to_allocvec(&records).map_err(|e| e.to_string())?;
            let sha256 = destination.put(&key, bytes).await?;
            manifest.segments.push(Object { key, sha256, from, to });
            manifest.last_index = to;
            manifest.digest = replica.digest();
            manifest.written_utc_ms = now_utc_ms();
            destination.put(manifest::NAME, manifest.to_bytes()).await?;
        }
        if config.once && manifest.last_index >= target_index {
            return Ok(manifest);
        }
        if stop() {
            return Ok(manifest);
        }
        if records.is_empty() {
            tokio::time::sleep(config.interval).await;
        }
    }
}
