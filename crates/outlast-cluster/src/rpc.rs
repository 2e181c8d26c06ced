//! The messages nodes exchange: openraft's RPCs, one request and one reply per frame.

use openraft::error::{Fatal, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, StreamAppendResult, TransferLeaderRequest,
    TransferLeaderResponse, VoteRequest, VoteResponse,
};
use serde::{Deserialize, Serialize};

use crate::types::{LogId, SnapshotMeta, TypeConfig, Vote};

/// A request from one node to another.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    /// Log replication and heartbeats.
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// Elections.
    Vote(VoteRequest<TypeConfig>),
    /// One chunk of a snapshot.
    Snapshot(SnapshotChunk),
    /// The leader hands leadership to the receiver (or tells the others it is doing so).
    TransferLeader(TransferLeaderRequest<TypeConfig>),
    /// Switch this connection to a stream of AppendEntries (`stream_append`): answered with
    /// `StreamReady`; the requests that follow, without waiting, are `AppendEntries`, each
    /// answered `Appended` in order, until an `EndStream`.
    AppendStream,
    /// Ends a stream: answered `StreamEnded` once every request before it is answered; the
    /// connection then carries single requests again.
    EndStream,
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
            Request::Snapshot(chunk) => chunk.format,
            Request::Vote(_)
            | Request::Ping
            | Request::AppendStream
            | Request::EndStream
            | Request::TransferLeader(_) => outlast_engine::FORMAT_FIRST,
        }
    }
}

impl crate::frame::Formatted for Reply {}

/// The reply to a `Request`, of the same kind.
#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    /// To `AppendEntries`.
    AppendEntries(Result<AppendEntriesResponse<TypeConfig>, RaftError<TypeConfig>>),
    /// To `Vote`.
    Vote(Result<VoteResponse<TypeConfig>, RaftError<TypeConfig>>),
    /// To `Snapshot`: `None` for a chunk taken while more are to come, the follower's answer
    /// to the last one, or why the chunk was refused.
    Snapshot(Result<Option<SnapshotResponse<TypeConfig>>, SnapshotRefused>),
    /// To `Ping`: the id of the last entry in the answering node's log.
    Pong(Option<LogId>),
    /// To `TransferLeader`.
    TransferLeader(Result<TransferLeaderResponse<TypeConfig>, Fatal<TypeConfig>>),
    /// To `AppendStream`: the connection now carries a stream.
    StreamReady,
    /// To `EndStream`: every request of the stream was answered.
    StreamEnded,
    /// To an `AppendEntries` on a stream, in order; an error if the follower's Raft stopped.
    Appended(Result<StreamAppendResult<TypeConfig>, Fatal<TypeConfig>>),
}

/// One piece of a snapshot on its way to a follower. The chunks of one snapshot go in order on
/// one connection; the follower installs the snapshot when the last one arrives.
#[derive(Debug, Serialize, Deserialize)]
pub struct SnapshotChunk {
    /// The sender's vote: a follower that knows a newer one refuses the snapshot.
    pub vote: Vote,
    /// What the snapshot covers.
    pub meta: SnapshotMeta,
    /// The data format of the snapshot's state (`state_machine::state_format`), so that every
    /// chunk's frame carries it without decoding the state.
    pub format: u32,
    /// Where `data` starts in the snapshot's bytes.
    pub offset_bytes: u64,
    /// The bytes.
    pub data: Vec<u8>,
    /// Whether this is the last chunk.
    pub done: bool,
}

/// Why a follower refused a snapshot chunk.
#[derive(Debug, Serialize, Deserialize)]
pub enum SnapshotRefused {
    /// The chunk does not continue the snapshot this connection was sending (out of order, or
    /// its first chunk was missed): the sender starts over.
    OutOfOrder {
        /// The offset the follower expected.
        expected_bytes: u64,
    },
    /// The snapshot would be larger than a follower takes (`server::SNAPSHOT_BYTES_MAX`).
    TooLarge,
    /// The follower's Raft stopped.
    Fatal(Fatal<TypeConfig>),
}

impl std::fmt::Display for SnapshotRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotRefused::OutOfOrder { expected_bytes } => {
                write!(f, "snapshot chunk out of order (expected offset {expected_bytes})")
            }
            SnapshotRefused::TooLarge => f.write_str("snapshot larger than the follower takes"),
            SnapshotRefused::Fatal(fatal) => write!(f, "the follower's Raft stopped: {fatal}"),
        }
    }
}

impl std::error::Error for SnapshotRefused {}
