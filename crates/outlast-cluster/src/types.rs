//! The openraft type configuration: what the replicated log carries and what applying returns.

use serde::{Deserialize, Serialize};

/// A node's id in the cluster.
pub type NodeId = u64;

/// What the cluster knows of a node: where to reach it and which failure domains it is in.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Raft RPC address, `host:port`.
    pub addr: String,
    /// Client address (commands and reads), `host:port`.
    pub client_addr: String,
    /// Cloud provider label, e.g. `aws`.
    pub provider: String,
    /// Region label, e.g. `us-east-1`.
    pub region: String,
    /// Zone label, e.g. `us-east-1a`.
    pub zone: String,
    /// The node's public origin (`https://host:port`): what users, the pages, CORS, the CSP and
    /// failover clients use, apart from where it listens (empty if it serves no API).
    pub public_url: String,
}

/// What one log entry carries: engine commands (stamped by the node that took them), applied in
/// order. Commands that arrive while the previous entry is being made durable share the next
/// entry, so they share its fsync and its replication round (see `batcher`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// The data format of the entry (`format::of_commands`): first in its encoding, so that
    /// it is known before the commands are decoded.
    pub format: u32,
    /// The commands, in the order they apply.
    pub commands: Vec<outlast_engine::Command>,
}

openraft::declare_raft_types!(
    /// Outlast's Raft types: log entries carry batches of engine commands, and applying one
    /// returns the engine's outcome per command (none for Raft's own blank and membership
    /// entries).
    pub TypeConfig:
        D = Batch,
        R = Vec<outlast_engine::Outcome>,
        NodeId = NodeId,
        Node = NodeInfo,
        // Standard Raft: one leader per term. openraft 0.10's default lets several candidates
        // lead one term and puts the node id into every log id, which would also misread every
        // log, vote and snapshot written before (by openraft 0.9 with `single-term-leader`, whose
        // encoding this one keeps).
        LeaderId = openraft::impls::leader_id_std::LeaderId<u64, NodeId>,
        AsyncRuntime = crate::runtime::Runtime,
);

/// A log entry.
pub type Entry = openraft::type_config::alias::EntryOf<TypeConfig>;
/// What a log entry carries for Raft.
pub type EntryPayload = openraft::type_config::alias::EntryPayloadOf<TypeConfig>;
/// A log entry's id: its term (with the leader's) and index.
pub type LogId = openraft::type_config::alias::LogIdOf<TypeConfig>;
/// A node's vote.
pub type Vote = openraft::type_config::alias::VoteOf<TypeConfig>;
/// A membership with the log id it was written at.
pub type StoredMembership = openraft::type_config::alias::StoredMembershipOf<TypeConfig>;
/// What a snapshot covers.
pub type SnapshotMeta = openraft::type_config::alias::SnapshotMetaOf<TypeConfig>;
/// A snapshot: its meta and the state's bytes.
pub type Snapshot = openraft::type_config::alias::SnapshotOf<TypeConfig, SnapshotData>;
/// A snapshot's bytes (the engine's state, see `state_machine`).
pub type SnapshotData = std::io::Cursor<Vec<u8>>;
/// A node's Raft.
pub type Raft = openraft::Raft<TypeConfig, crate::state_machine::StateMachine>;
/// A node's Raft metrics.
pub type RaftMetrics = openraft::RaftMetrics<TypeConfig>;

impl std::fmt::Display for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} commands (format {})", self.commands.len(), self.format)
    }
}
