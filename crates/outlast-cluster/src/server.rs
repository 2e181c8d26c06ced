//! The server side of the transport: answers peers' Raft RPCs on a `Listener` (TCP in a node,
//! simulated in a simulation).
//!
//! Each connection is served by its own task, one request at a time (or, switched into a
//! stream, AppendEntries pipelined: `stream_append`), up to
//! `CONNECTIONS_MAX` at once (more wait in the kernel's backlog). A malformed or oversized
//! frame closes that connection only; the node keeps serving. With TLS (a node with `[tls]`),
//! a connection's first bytes are a mutual-TLS handshake that only a current member's
//! certificate passes (`admitted`); nothing from anyone else reaches openraft. Besides
//! openraft's RPCs it answers `Ping` (how far this node's log goes; see `elections`).

use openraft::async_runtime::WatchReceiver;
use std::io;

use openraft::raft::AppendEntriesResponse;
use outlast_tls::{Acceptor, Admit, Identity};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::elections::LeaderContact;
use crate::frame;
use crate::listener::{next_frame, serve_bounded, Limits, Listener};
use crate::rpc::{Reply, Request, SnapshotChunk, SnapshotRefused};
use crate::types::{NodeId, Raft, Snapshot, SnapshotMeta, Vote};
use crate::LogStore;

/// Concurrent peer connections served. A cluster has a handful of peers, each with one
/// replication stream; this leaves room for reconnects without letting a flood of connections
/// exhaust memory.
pub const CONNECTIONS_MAX: usize = 256;

/// Concurrent peer connections from one address: a peer needs one for replication and a few
/// for election pings (and behind a link proxy or NAT, several peers share one address).
pub const CONNECTIONS_PER_SOURCE_MAX: usize = 64;

/// Largest snapshot a follower takes, bytes. Chunks are gathered in memory until the last one
/// arrives; a sender that never stops is refused here rather than exhausting memory.
pub const SNAPSHOT_BYTES_MAX: u64 = 4 << 30;

/// Serves Raft RPCs for `raft` (whose log is `log`) on `listener` until the listener fails,
/// recording in `contact` every message accepted from a leader; over mutual TLS if `tls`.
pub async fn serve<L: Listener>(
    listener: L,
    tls: Option<Acceptor>,
    raft: Raft,
    log: LogStore,
    contact: LeaderContact,
) -> io::Result<()> {
    let serve_one = |stream, _peer, slot| {
        let (tls, raft, log, contact) = (tls.clone(), raft.clone(), log.clone(), contact.clone());
        async move {
            // Held until the connection ends.
            let _slot = slot;
            match tls {
                None => serve_connection(stream, raft, log, contact).await,
                // Only a node that proves it is a member gets this far (see `admitted`).
                Some(tls) => serve_connection(tls.accept(stream).await?.0, raft, log, contact).await,
            }
        }
    };
    let limits = Limits { connections_max: CONNECTIONS_MAX, per_source_max: CONNECTIONS_PER_SOURCE_MAX };
    serve_bounded(listener, limits, "raft", tracing::Level::WARN, serve_one).await
}

/// Answers one peer connection, one request at a time, until it closes. Generic over the
/// stream so a simulated network can drive the same code.
pub(crate) async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    mut stream: S,
    raft: Raft,
    log: LogStore,
    contact: LeaderContact,
) -> io::Result<()> {
    // The snapshot this connection is sending, gathered chunk by chunk.
    let mut receiving: Option<Receiving> = None;
    while let Some(request) = next_frame::<_, Request>(&mut stream).await? {
        let reply = match request {
            Request::AppendEntries(rpc) => {
                let reply = raft.append_entries(rpc).await;
                if matches!(&reply, Ok(answer) if !matches!(answer, AppendEntriesResponse::HigherVote(_))) {
                    contact.heard();
                }
                Reply::AppendEntries(reply)
            }
            Request::Vote(rpc) => {
                let rpc_last_log = rpc.last_log_id;
                let reply = raft.vote(rpc).await;
                // As in Raft's rule: granting a vote restarts the wait, so a voter gives the
                // candidate it chose time to win before campaigning itself.
                if matches!(&reply, Ok(answer) if answer.vote_granted) {
                    contact.heard();
                }
                // Refused a candidate whose log is longer than ours: it should win, not us.
                // (openraft keeps our term when it refuses, so if we campaigned again we would
                // keep taking the term it needs; see `elections`.)
                if matches!(&reply, Ok(answer) if !answer.vote_granted && rpc_last_log > answer.last_log_id) {
                    contact.saw_better_candidate();
                }
                Reply::Vote(reply)
            }
            Request::Snapshot(chunk) => {
                let vote = chunk.vote;
                let reply = match take_chunk(&mut receiving, chunk) {
                    Err(refused) => Err(refused),
                    Ok(None) => Ok(None),
                    Ok(Some((vote, snapshot))) => {
                        raft.install_full_snapshot(vote, snapshot).await.map(Some).map_err(SnapshotRefused::Fatal)
                    }
                };
                // Taken, or installed with the sender's vote: the follower heard its leader.
                if matches!(&reply, Ok(None)) || matches!(&reply, Ok(Some(answer)) if answer.vote == vote) {
                    contact.heard();
                }
                Reply::Snapshot(reply)
            }
            // A log that cannot be read answers as empty: last in line.
            Request::Ping => Reply::Pong(log.last_log_id().ok().flatten()),
            Request::TransferLeader(request) => Reply::TransferLeader(raft.handle_transfer_leader(request).await),
            Request::AppendStream => {
                frame::write(&mut stream, &Reply::StreamReady).await?;
                match crate::stream_append::serve(stream, raft.clone(), contact.clone()).await? {
                    // Ended by the sender: the connection carries single requests again.
                    Some(back) => {
                        stream = back;
                        continue;
                    }
                    None => return Ok(()),
                }
            }
            // Only inside a stream (above).
            Request::EndStream => return Ok(()),
        };
        frame::write(&mut stream, &reply).await?;
    }
    Ok(())
}

/// A snapshot being received: whose, what it covers, and its bytes so far.
struct Receiving {
    vote: Vote,
    meta: SnapshotMeta,
    bytes: Vec<u8>,
}

/// Adds `chunk` to the snapshot being received; the whole snapshot once its last chunk is in.
/// A chunk at offset 0 starts a new snapshot (the sender started over); any other must continue
/// the one being received.
fn take_chunk(
    receiving: &mut Option<Receiving>,
    chunk: SnapshotChunk,
) -> Result<Option<(Vote, Snapshot)>, SnapshotRefused> {
    if chunk.offset_bytes == 0 {
        *receiving = Some(Receiving { vote: chunk.vote, meta: chunk.meta.clone(), bytes: Vec::new() });
    }
    let Some(current) = receiving.as_mut() else {
        return Err(SnapshotRefused::OutOfOrder { expected_bytes: 0 });
    };
    let expected_bytes = current.bytes.len() as u64;
    if chunk.offset_bytes != expected_bytes || chunk.vote != current.vote || chunk.meta != current.meta {
        *receiving = None;
        return Err(SnapshotRefused::OutOfOrder { expected_bytes });
    }
    if expected_bytes.saturating_add(chunk.data.len() as u64) > SNAPSHOT_BYTES_MAX {
        *receiving = None;
        return Err(SnapshotRefused::TooLarge);
    }
    current.bytes.extend_from_slice(&chunk.data);
    if !chunk.done {
        return Ok(None);
    }
    let done = receiving.take().expect("checked above");
    Ok(Some((done.vote, Snapshot { meta: done.meta, snapshot: std::io::Cursor::new(done.bytes) })))
}

/// Who may dial this node's Raft port: the nodes of the current membership (voters and
/// learners), and before the first membership is known (a fresh node waiting to be added) the
/// configured peers and `me`. A removed node's certificate stops opening connections here.
pub fn admitted(raft: Raft, configured: Vec<NodeId>) -> Admit {
    std::sync::Arc::new(move || {
        let metrics = raft.metrics().borrow_watched().clone();
        let members: Vec<NodeId> = metrics.membership_config.membership().nodes().map(|(id, _)| *id).collect();
        let ids = if members.is_empty() { configured.clone() } else { members };
        ids.into_iter().map(Identity::Node).collect()
    })
}
