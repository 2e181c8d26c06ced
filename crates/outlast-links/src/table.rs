//! The rules of every directed link, shared by all proxies and changed at runtime.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::RwLock;

/// A node, as the link table names it.
pub type NodeId = u64;

/// What one directed link does to the bytes crossing it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkRule {
    /// One-way delay added to every chunk, in ms.
    pub latency_ms: u32,
    /// Extra delay drawn uniformly from 0..=jitter_ms per chunk (order is kept).
    pub jitter_ms: u32,
    /// Bytes are discarded (a partition in this direction).
    pub blocked: bool,
    /// Cap in bytes per second (0: none).
    pub bandwidth_bytes_per_sec: u64,
}

/// Directed link rules and the address each node dials from.
#[derive(Debug, Default)]
pub struct LinkTable {
    rules: RwLock<BTreeMap<(NodeId, NodeId), LinkRule>>,
    sources: RwLock<BTreeMap<IpAddr, NodeId>>,
    /// Bumped on every change, so connections notice a heal.
    version: std::sync::atomic::AtomicU64,
}

impl LinkTable {
    /// An empty table: every link is clean until a rule is set.
    pub fn new() -> LinkTable {
        LinkTable::default()
    }

    /// Node `node` dials from `ip`.
    pub fn set_source(&self, ip: IpAddr, node: NodeId) {
        self.sources.write().unwrap_or_else(|p| p.into_inner()).insert(ip, node);
    }

    /// The node that dials from `ip`, if known.
    pub fn node_of(&self, ip: IpAddr) -> Option<NodeId> {
        self.sources.read().unwrap_or_else(|p| p.into_inner()).get(&ip).copied()
    }

    /// Sets the rule of the link `from` → `to`.
    pub fn set(&self, from: NodeId, to: NodeId, rule: LinkRule) {
        self.rules.write().unwrap_or_else(|p| p.into_inner()).insert((from, to), rule);
        self.version.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Changes the rule of the link `from` → `to` in place.
    pub fn update(&self, from: NodeId, to: NodeId, change: impl FnOnce(&mut LinkRule)) {
        let mut rules = self.rules.write().unwrap_or_else(|p| p.into_inner());
        change(rules.entry((from, to)).or_default());
        drop(rules);
        self.version.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The rule of `from` → `to` (clean if none was set).
    pub fn rule(&self, from: NodeId, to: NodeId) -> LinkRule {
        self.rules.read().unwrap_or_else(|p| p.into_inner()).get(&(from, to)).copied().unwrap_or_default()
    }

    /// Every rule set, by link.
    pub fn rules(&self) -> BTreeMap<(NodeId, NodeId), LinkRule> {
        self.rules.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A number that changes whenever a rule does.
    pub fn version(&self) -> u64 {
        self.version.load(std::sync::atomic::Ordering::Relaxed)
    }
}
