//! The server side of the transport: answers peers' Raft RPCs on a `Listener` (TCP in a node,
//! simulated in a simulation).
//!
//! Each connection is served by its own task, one request at a time, up to
//! `CONNECTIONS_MAX` at once (more wait in the kernel's backlog). A malformed or oversized
//! frame closes that connection only; the node keeps serving.

use std::io;

use openraft::raft::AppendEntriesResponse;
use openraft::Raft;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::elections::LeaderContact;
use crate::frame;
use crate::listener::{serve_bounded, Listener};
use crate::rpc::{Reply, Request};
use crate::types::TypeConfig;

/// Concurrent peer connections served. A cluster has a handful of peers, each with one
/// replication stream; this leaves room for reconnects without letting a flood of connections
/// exhaust memory.
pub const CONNECTIONS_MAX: usize = 256;

/// Serves Raft RPCs for `raft` on `listener` until the listener fails, recording in `contact`
/// every message accepted from a leader.
pub async fn serve<L: Listener>(listener: L, raft: Raft<TypeConfig>, contact: LeaderContact) -> io::Result<()> {
    let serve_one = |stream| serve_connection(stream, raft.clone(), contact.clone());
    serve_bounded(listener, CONNECTIONS_MAX, "raft", tracing::Level::WARN, serve_one).await
}

/// Answers one peer connection, one request at a time, until it closes. Generic over the
/// stream so a simulated network can drive the same code.
pub(crate) async fn serve_connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    raft: Raft<TypeConfig>,
    contact: LeaderContact,
) -> io::Result<()> {
    while let Some(request) = frame::read::<_, Request>(&mut stream).await? {
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
            Request::InstallSnapshot(rpc) => {
                let vote = rpc.vote;
                let reply = raft.install_snapshot(rpc).await;
                // Accepted: the follower now holds the sender's vote.
                if matches!(&reply, Ok(answer) if answer.vote == vote) {
                    contact.heard();
                }
                Reply::InstallSnapshot(reply)
            }
        };
        frame::write(&mut stream, &reply).await?;
    }
    Ok(())
}
