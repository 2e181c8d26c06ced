//! The manifest: the one object that says what a backup holds. Readers trust nothing else.

use serde::{Deserialize, Serialize};

/// The manifest's own object name, under the destination's prefix.
pub const NAME: &str = "manifest.json";
/// This build's formats: of the manifest, of a base (`outlast_cluster::Export`, postcard), and
/// of a log segment (postcard list of log records as a node stores them).
pub const FORMAT: u32 = 1;
/// The formats of the state and the log records this build writes and reads.
pub const STATE_FORMAT: u32 = 1;
/// See `STATE_FORMAT`.
pub const LOG_FORMAT: u32 = 1;

/// One object the backup consists of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Object {
    /// Its name under the prefix.
    pub key: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Its first log index (a base: the index of its last applied entry).
    pub from: u64,
    /// Its last log index.
    pub to: u64,
}

/// What a backup holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Manifest {
    /// `FORMAT`.
    pub format: u32,
    /// `STATE_FORMAT` of the base.
    pub state_format: u32,
    /// `LOG_FORMAT` of the segments.
    pub log_format: u32,
    /// The cluster it was taken from (its certificates' cluster id).
    pub cluster: String,
    /// The base state.
    pub base: Object,
    /// Log segments after the base, consecutive, in order.
    pub segments: Vec<Object>,
    /// The last log index the backup holds: the state a restore rebuilds.
    pub last_index: u64,
    /// The engine's digest of that state (hex).
    pub digest: String,
    /// When this manifest was written, ms since the Unix epoch (the backup's age).
    pub written_utc_ms: u64,
}

impl Manifest {
    /// Parses and checks a manifest: formats this build reads, segments consecutive after the
    /// base, ending at `last_index`.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, String> {
        let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| format!("manifest: {e}"))?;
        if (manifest.format, manifest.state_format, manifest.log_format) != (FORMAT, STATE_FORMAT, LOG_FORMAT) {
            return Err(format!(
                "manifest formats {}/{}/{} are not this build's {FORMAT}/{STATE_FORMAT}/{LOG_FORMAT}: restore with the build that wrote it or a newer one",
                manifest.format, manifest.state_format, manifest.log_format
            ));
        }
        let mut next = manifest.base.to + 1;
        for segment in &manifest.segments {
            if segment.from != next || segment.to < segment.from {
                return Err(format!("manifest: segment {} does not follow index {}", segment.key, next - 1));
            }
            next = segment.to + 1;
        }
        if next - 1 != manifest.last_index {
            return Err(format!("manifest: segments end at {} but last_index is {}", next - 1, manifest.last_index));
        }
        Ok(manifest)
    }

    /// As written.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a manifest serialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(key: &str, from: u64, to: u64) -> Object {
        Object { key: key.into(), sha256: "00".into(), from, to }
    }

    #[test]
    fn a_manifest_round_trips_and_gaps_or_other_formats_are_refused() {
        let manifest = Manifest {
            format: FORMAT,
            state_format: STATE_FORMAT,
            log_format: LOG_FORMAT,
            cluster: "prod".into(),
            base: object("base/10", 10, 10),
            segments: vec![object("log/11", 11, 20), object("log/21", 21, 25)],
            last_index: 25,
            digest: "ab".into(),
            written_utc_ms: 1,
        };
        assert_eq!(Manifest::parse(&manifest.to_bytes()).unwrap(), manifest);
        let mut gap = manifest.clone();
        gap.segments[1].from = 22;
        assert!(Manifest::parse(&gap.to_bytes()).unwrap_err().contains("does not follow index 20"));
        let mut short = manifest.clone();
        short.last_index = 30;
        assert!(Manifest::parse(&short.to_bytes()).unwrap_err().contains("last_index"));
        let mut newer = manifest;
        newer.state_format = STATE_FORMAT + 1;
        assert!(Manifest::parse(&newer.to_bytes()).unwrap_err().contains("not this build's"));
    }
}
