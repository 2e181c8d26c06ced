//! The messages nodes exchange: openraft's RPCs, one request and one reply per frame.

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::LogId;
use serde::{Deserialize, Serialize};

use crate::types::{NodeId, TypeConfig};

/// A request from one node to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Log replication and heartbeats.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Elections.
    Vote(VoteRequest<NodeId>),
    /// One chunk of a snapshot.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// Are you there, and how far does your log go? Asked by a follower whose leader went
    /// silent, of the other voters, to line up the candidates (see `elections`); changes nothing.
    Ping,
}

impl crate::frame::Formatted for Request {
    /// The newest format among the entries, or the snapshot's format.
    fn format(&self) -> u32 {
        match self {
            Request::AppendEntries(rpc) => rpc
                .entries
                .iter()
                .filter_map(|entry| match &entry.payload {
                    openraft::EntryPayload::Normal(batch) => Some(batch.format),
                    _ => None,
                })
                .fold(outlast_engine::FORMAT_FIRST, u32::max),
            Request::InstallSnapshot(rpc) => crate::format::of_snapshot_id(&rpc.meta.snapshot_id),
            Request::Vote(_) | Request::Ping => outlast_engine::FORMAT_FIRST,
        }
    }
}

impl crate::frame::Formatted for Reply {}

/// The reply to a `Request`, of the same kind.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// To `AppendEntries`.
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// To `Vote`.
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// To `InstallSnapshot`.
    InstallSnapshot(Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>),
    /// To `Ping`: the id of the last entry in the answering node's log.
    Pong(Option<LogId<NodeId>>),
}
