//! The topology file: which nodes exist, where, and how far apart the regions are.
//!
//! ```toml
//! intra_region_ms = 1          # one-way latency inside a region
//! jitter_ms = 2                # extra random delay per chunk, 0..=jitter_ms
//! preferred_region = "us-east-1"
//! public_host = "localhost"    # the name in the nodes' public origins (https://NAME:800N)
//! network = "loopback"         # or "namespaces": the rehearsal on real addresses
//!
//! [[nodes]]
//! id = 1
//! provider = "aws"
//! region = "us-east-1"
//! zone = "us-east-1a"
//!
//! [[latency]]                  # one-way ms between two regions (both directions)
//! regions = ["us-east-1", "eu-west-1"]
//! ms = 38
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One node's place.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    /// Node id, 1 to 250 (it also numbers the node's loopback addresses).
    pub id: u64,
    /// Provider label.
    pub provider: String,
    /// Region label.
    pub region: String,
    /// Zone label.
    pub zone: String,
}

/// The one-way latency between two regions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionLatency {
    /// The two regions.
    pub regions: [String; 2],
    /// One-way delay in ms.
    pub ms: u32,
}

/// A topology.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// One-way latency between nodes of the same region, in ms.
    #[serde(default = "default_intra_ms")]
    pub intra_region_ms: u32,
    /// Jitter per chunk, in ms.
    #[serde(default)]
    pub jitter_ms: u32,
    /// Where the leader should be.
    #[serde(default)]
    pub preferred_region: Option<String>,
    /// Mutual TLS between the nodes and for the lab's tools (default on; `false` only to
    /// measure what TLS costs. Loopback clusters always run TLS).
    #[serde(default = "default_tls")]
    pub tls: bool,
    /// The host name in every node's public origin, `https://<public_host>:800N` (default
    /// `localhost`), and in its HTTPS certificate. Another name (resolved to 127.0.0.1 by the
    /// browser or `/etc/hosts`) makes the pages run on an origin no browser exempts from HTTPS.
    /// With TLS off the origins are `http://127.0.0.1:800N` whatever it says.
    #[serde(default = "default_public_host")]
    pub public_host: String,
    /// Where the nodes run: on loopback addresses behind link proxies (the default), or each
    /// in a network namespace of its own (`crate::namespaces`; needs root, iproute2 and
    /// nftables, TLS on, and carries no link latency).
    #[serde(default)]
    pub network: Network,
    /// The nodes.
    pub nodes: Vec<NodeSpec>,
    /// Latencies between regions; every pair of regions used must be listed.
    #[serde(default)]
    pub latency: Vec<RegionLatency>,
}

/// Where a lab's nodes run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// 127.0.1.N, peers through link proxies on 127.0.2.N that add the topology's latency.
    #[default]
    Loopback,
    /// A namespace per node, real addresses, host names, nftables cuts (`crate::namespaces`).
    Namespaces,
}

fn default_intra_ms() -> u32 {
    1
}

fn default_tls() -> bool {
    true
}

fn default_public_host() -> String {
    "localhost".into()
}

/// The built-in topology: five nodes over aws, gcp and azure in three regions, so that losing
/// any one provider or any one region keeps three of five voters. Latencies are typical one-way
/// figures between those regions (half the published round trips: ~65, ~75 and ~130 ms).
pub const DEFAULT: &str = r#"
intra_region_ms = 1
jitter_ms = 1
preferred_region = "us-east-1"

[[nodes]]
id = 1
provider = "aws"
region = "us-east-1"
zone = "us-east-1a"

[[nodes]]
id = 2
provider = "gcp"
region = "us-east-1"
zone = "us-east4-b"

[[nodes]]
id = 3
provider = "azure"
region = "eu-west-1"
zone = "westeurope-1"

[[nodes]]
id = 4
provider = "aws"
region = "eu-west-1"
zone = "eu-west-1b"

[[nodes]]
id = 5
provider = "gcp"
region = "us-west-2"
zone = "us-west1-a"

[[latency]]
regions = ["us-east-1", "us-west-2"]
ms = 32

[[latency]]
regions = ["us-east-1", "eu-west-1"]
ms = 38

[[latency]]
regions = ["us-west-2", "eu-west-1"]
ms = 65
"#;

impl Topology {
    /// The built-in topology.
    pub fn default_five() -> Topology {
        Topology::parse(DEFAULT).expect("the built-in topology is valid")
    }

    /// Reads a topology file.
    pub fn load(path: &Path) -> Result<Topology, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Topology::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses and checks topology text.
    pub fn parse(text: &str) -> Result<Topology, String> {
        let topology: Topology = toml::from_str(text).map_err(|e| e.to_string())?;
        topology.check()?;
        Ok(topology)
    }

    fn check(&self) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("a topology needs at least one node".into());
        }
        let ids: BTreeSet<u64> = self.nodes.iter().map(|n| n.id).collect();
        if ids.len() != self.nodes.len() || ids.iter().any(|&id| id == 0 || id > 250) {
            return Err("node ids must be distinct, from 1 to 250".into());
        }
        let host = &self.public_host;
        let name_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-';
        if host.is_empty() || host.len() > 253 || !host.chars().all(name_char) || host.starts_with(['.', '-']) {
            return Err(format!("public_host {host:?}: a DNS name of a-z, 0-9, '.' and '-'"));
        }
        if self.network == Network::Namespaces && !self.tls {
            return Err("network = \"namespaces\" puts the nodes on real addresses: it needs tls = true".into());
        }
        let regions: BTreeSet<&str> = self.nodes.iter().map(|n| n.region.as_str()).collect();
        for a in &regions {
            for b in &regions {
                if a < b && self.region_latency_ms(a, b).is_none() {
                    return Err(format!("no [[latency]] entry between {a} and {b}"));
                }
            }
        }
        Ok(())
    }

    fn region_latency_ms(&self, a: &str, b: &str) -> Option<u32> {
        if a == b {
            return Some(self.intra_region_ms);
        }
        self.latency
            .iter()
            .find(|l| (l.regions[0] == a && l.regions[1] == b) || (l.regions[0] == b && l.regions[1] == a))
            .map(|l| l.ms)
    }

    /// The other regions in the order a new leader should come from when the preferred region
    /// is lost: nearest to the preferred region first (its nodes receive the leader's entries
    /// first, so they hold the freshest log), then by name. Empty without a preferred region.
    pub fn succession_regions(&self) -> Vec<String> {
        let Some(preferred) = self.preferred_region.as_deref() else { return Vec::new() };
        let mut regions: Vec<&str> = self.nodes.iter().map(|n| n.region.as_str()).filter(|r| *r != preferred).collect();
        regions.sort_by_key(|r| (self.region_latency_ms(preferred, r).unwrap_or(u32::MAX), *r));
        regions.dedup();
        regions.into_iter().map(String::from).collect()
    }

    /// The longest round trip between two nodes, jitter included, in ms.
    pub fn max_rtt_ms(&self) -> u32 {
        let ids: Vec<u64> = self.nodes.iter().map(|n| n.id).collect();
        let pairs = ids.iter().flat_map(|&a| ids.iter().map(move |&b| (a, b)));
        pairs.map(|(a, b)| self.latency_ms(a, b) + self.latency_ms(b, a) + 2 * self.jitter_ms).max().unwrap_or(0)
    }

    /// Raft timing for these distances (`outlast_cluster::config::raft_timing_ms` of the
    /// longest round trip): every exchange gets the lower election timeout to complete, so it
    /// must exceed the longest round trip (plus a margin for fsync and scheduling); the upper
    /// end is also the voters' leader lease, the least silence before anyone can win a vote, so
    /// it is the same on every node. Who campaigns first is not left to these timers but to
    /// the nodes' order (see `outlast_cluster::elections`).
    pub fn raft_timing_ms(&self) -> (u64, [u64; 2]) {
        outlast_cluster::config::raft_timing_ms(u64::from(self.max_rtt_ms()))
    }

    /// One-way latency from node `from` to node `to`, in ms.
    pub fn latency_ms(&self, from: u64, to: u64) -> u32 {
        let region = |id| self.nodes.iter().find(|n| n.id == id).map(|n| n.region.as_str()).unwrap_or("");
        self.region_latency_ms(region(from), region(to)).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_valid_and_symmetric() {
        let t = Topology::default_five();
        assert_eq!(t.nodes.len(), 5);
        assert_eq!(t.latency_ms(1, 3), 38);
        assert_eq!(t.latency_ms(3, 1), 38);
        assert_eq!(t.latency_ms(1, 2), 1);
        assert_eq!(t.latency_ms(5, 4), 65);
        assert_eq!(t.max_rtt_ms(), 132);
        assert_eq!(t.raft_timing_ms(), (21, [172, 182]));
        assert_eq!(
            t.succession_regions(),
            ["us-west-2", "eu-west-1"],
            "us-west-2 is 32 ms from us-east-1, eu-west-1 38"
        );
    }

    #[test]
    fn a_missing_latency_or_bad_id_is_refused_with_a_reason() {
        let missing = "[[nodes]]\nid = 1\nprovider = \"a\"\nregion = \"r1\"\nzone = \"z\"\n[[nodes]]\nid = 2\nprovider = \"b\"\nregion = \"r2\"\nzone = \"z\"\n";
        assert!(Topology::parse(missing).unwrap_err().contains("no [[latency]] entry between r1 and r2"));
        let host = format!("public_host = \"Exchange.test/\"\n{}", DEFAULT);
        assert!(Topology::parse(&host).unwrap_err().contains("public_host"));
        let bad = "[[nodes]]\nid = 0\nprovider = \"a\"\nregion = \"r1\"\nzone = \"z\"\n";
        assert!(Topology::parse(bad).unwrap_err().contains("from 1 to 250"));
    }
}
