//! The openraft type configuration: what the replicated log carries and what applying returns.

use std::io::Cursor;

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
        SnapshotData = Cursor<Vec<u8>>,
);
