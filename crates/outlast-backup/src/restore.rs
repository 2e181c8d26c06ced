//! `outlast restore`: a backup, checked and rebuilt, as new nodes' data directories.

use std::collections::BTreeMap;

use outlast_cluster::config::NodeConfig;
use outlast_cluster::{Export, NodeId, NodeInfo};

use crate::manifest::{self, Manifest};
use crate::store::{sha256_hex, Destination};

/// What a restore rebuilt.
#[derive(Clone, Debug)]
pub struct Restored {
    /// The manifest it followed.
    pub manifest: Manifest,
    /// The state's digest (equal to the manifest's, or the restore failed).
    pub digest: String,
}

async fn object(destination: &Destination, object: &manifest::Object) -> Result<Vec<u8>, String> {
    let bytes = destination.get(&object.key).await?.ok_or_else(|| format!("{} is missing", object.key))?;
    let sha = sha256_hex(&bytes);
    if sha != object.sha256 {
        return Err(format!("{} is damaged: SHA-256 {sha}, the manifest says {}", object.key, object.sha256));
    }
    Ok(bytes)
}

/// Reads, checks and replays the backup in `destination`: the state it holds.
pub async fn rebuild(destination: &Destination) -> Result<(Manifest, Export), String> {
    let bytes = destination.get(manifest::NAME).await?.ok_or_else(|| format!("{}: no backup here", destination.url))?;
    let manifest = Manifest::parse(&bytes)?;
    let base = Export::from_bytes(&object(destination, &manifest.base).await?)?;
    if base.last_log_id.map_or(0, |id| id.index) != manifest.base.to {
        return Err(format!("the base is not at index {} as the manifest says", manifest.base.to));
    }
    let mut records = Vec::new();
    for segment in &manifest.segments {
        let list: Vec<Vec<u8>> =
            postcard::from_bytes(&object(destination, segment).await?).map_err(|e| format!("{}: {e}", segment.key))?;
        if list.len() as u64 != segment.to - segment.from + 1 {
            return Err(format!("{} holds {} records, not {}", segment.key, list.len(), segment.to - segment.from + 1));
        }
        records.extend(list);
    }
    let scratch = tempfile::tempdir().map_err(|e| format!("scratch directory: {e}"))?;
    let state = outlast_cluster::restore::replay(scratch.path(), &base, &records).await?;
    let digest = state.digest()?;
    if digest != manifest.digest {
        return Err(format!(
            "the rebuilt state's digest {digest} is not the backup's {}: refusing it",
            manifest.digest
        ));
    }
    Ok((manifest, state))
}

/// Restores the backup in `destination` into the data directory of every node in `configs`
/// (the files of the new cluster: its members and their new addresses). Each directory must be
/// empty.
pub async fn restore(destination: &Destination, configs: &[NodeConfig]) -> Result<Restored, String> {
    let first = configs.first().ok_or("no node configuration to restore into")?;
    let members: BTreeMap<NodeId, NodeInfo> = first.members();
    for config in configs {
        if config.members() != members {
            return Err(format!("node {}'s file lists other members than node {}'s", config.id, first.id));
        }
    }
    let (manifest, state) = rebuild(destination).await?;
    for config in configs {
        outlast_cluster::restore::write_member(&config.data_dir, &state, &members).await?;
    }
    let digest = manifest.digest.clone();
    Ok(Restored { manifest, digest })
}
