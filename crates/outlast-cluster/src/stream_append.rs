//! Pipelined replication: openraft's stream of AppendEntries to one follower, sent on one
//! connection without waiting for each reply, the replies read back in order.
//!
//! A leader's replication to a follower is a stream of requests openraft generates as entries
//! and commits come (`stream_append`). Sent one at a time, each would wait a round trip for the
//! one before; here up to `IN_FLIGHT_MAX` are on the wire at once, so across an ocean a
//! follower acknowledges entries one round trip after they were written, however many came
//! meanwhile. The connection is switched into this mode by a `Request::AppendStream` exchange
//! and carries nothing else until it closes.
//!
//! The sender (`send`) writes and reads in the caller's task, without spawning: requests leave
//! while earlier replies are awaited, and a reply is read into a buffer that survives an
//! abandoned read (`frame::take`). The follower (`serve`) hands the requests to
//! `Raft::stream_append`, which answers in order.
//!
//! Must never: reorder replies or pair a reply with another request than its own (openraft
//! matches them by order); keep a stream whose oldest request has waited longer than its
//! deadline (the follower may be gone: openraft starts a new stream on a new connection); or
//! let a follower's replies grow without bound (at most `IN_FLIGHT_MAX` requests are unanswered).

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use futures_util::{Stream, StreamExt};
use openraft::error::{NetworkError, RPCError};
use openraft::raft::{AppendEntriesRequest, StreamAppendError, StreamAppendResult};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
// Tokio's clock, not the OS's: in a simulation it is the simulated one.
use tokio::time::Instant;

use crate::elections::LeaderContact;
use crate::frame;
use crate::listener::next_frame;
use crate::rpc::{Reply, Request};
use crate::types::{Raft, TypeConfig};

/// Requests sent and not yet answered, at most, per stream. openraft's follower side keeps as
/// many in progress (`Raft::stream_append`'s buffer); more would only queue there.
pub const IN_FLIGHT_MAX: usize = 64;

/// How long the oldest unanswered request may wait for its reply, in heartbeat intervals (the
/// deadline openraft gives a stream). A reply waits behind the requests before it, each appended
/// and made durable by the follower, so one round trip is not enough under load; heartbeats,
/// which keep the leader's lease, go on connections of their own and are not held up.
pub const DEADLINE_HEARTBEATS: u32 = 4;

/// Bytes read from the socket at a time at most (a reply is a few dozen).
const READ_CHUNK_BYTES: usize = 16 << 10;

/// One reply on a stream, or why the stream ended.
pub type Item = Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>;

struct Sender<S, I> {
    input: I,
    input_done: bool,
    reader: tokio::io::ReadHalf<S>,
    writer: tokio::io::WriteHalf<S>,
    /// Bytes read and not yet taken as whole replies.
    buffer: Vec<u8>,
    /// When each unanswered request was written, oldest first.
    in_flight: VecDeque<Instant>,
    deadline: Duration,
    failed: bool,
}

fn broken(why: impl Into<String>) -> RPCError<TypeConfig> {
    let e = io::Error::new(io::ErrorKind::BrokenPipe, why.into());
    RPCError::Network(NetworkError::new(&e))
}

/// Sends `input`'s requests on `connection` (already switched into stream mode) and yields the
/// follower's replies in order; the first error ends the stream. Each request must be answered
/// within `deadline` of being written.
pub fn send<S, I>(connection: S, input: I, deadline: Duration) -> impl Stream<Item = Item> + Send + 'static
where
    S: AsyncRead + AsyncWrite + Send + 'static,
    I: Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static,
{
    let (reader, writer) = tokio::io::split(connection);
    let sender = Sender {
        input,
        input_done: false,
        reader,
        writer,
        buffer: Vec::new(),
        in_flight: VecDeque::new(),
        deadline,
        failed: false,
    };
    futures_util::stream::unfold(sender, |mut sender| async move {
        if sender.failed {
            return None;
        }
        let item = sender.next().await?;
        sender.failed = item.is_err();
        Some((item, sender))
    })
}

impl<S: AsyncRead + AsyncWrite + Send + 'static, I: Stream<Item = AppendEntriesRequest<TypeConfig>> + Unpin>
    Sender<S, I>
{
    /// The next reply (sending requests meanwhile), an error, or `None` once openraft ended
    /// its requests and every one was answered.
    async fn next(&mut self) -> Option<Item> {
        loop {
            match frame::take::<Reply>(&mut self.buffer) {
                Ok(None) => {}
                Ok(Some(reply)) => return Some(self.answer(reply)),
                Err(e) => return Some(Err(broken(format!("a reply that does not decode: {e}")))),
            }
            if self.input_done && self.in_flight.is_empty() {
                return None;
            }
            let oldest_due = self.in_flight.front().map(|sent| *sent + self.deadline);
            let room = !self.input_done && self.in_flight.len() < IN_FLIGHT_MAX;
            let mut chunk = [0u8; READ_CHUNK_BYTES];
            // Every branch is cancel-safe: bytes read stay in `buffer`, a request not yet taken
            // from `input` stays there, a timer is remade.
            tokio::select! {
                biased;
                read = self.reader.read(&mut chunk) => match read {
                    Ok(0) if self.in_flight.is_empty() => {
                        // The follower closed an idle stream (its idle timeout): a new one will do.
                        return None;
                    }
                    Ok(0) => return Some(Err(broken("the follower closed the stream"))),
                    Ok(n) if self.in_flight.is_empty() => {
                        let _ = n;
                        return Some(Err(broken("a reply to no request")));
                    }
                    Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                    Err(e) => return Some(Err(RPCError::Network(NetworkError::new(&e)))),
                },
                () = sleep_until(oldest_due) => {
                    let why = format!("no reply within {} ms", self.deadline.as_millis());
                    let e = io::Error::new(io::ErrorKind::TimedOut, why);
                    return Some(Err(RPCError::Network(NetworkError::new(&e))));
                }
                request = self.input.next(), if room => match request {
                    None => self.input_done = true,
                    Some(request) => {
                        let sent = frame::write(&mut self.writer, &Request::AppendEntries(request)).await;
                        if let Err(e) = sent {
                            return Some(Err(RPCError::Network(NetworkError::new(&e))));
                        }
                        self.in_flight.push_back(Instant::now());
                    }
                },
            }
        }
    }

    fn answer(&mut self, reply: Reply) -> Item {
        if self.in_flight.pop_front().is_none() {
            return Err(broken("a reply to no request"));
        }
        match reply {
            Reply::Appended(Ok(result)) => Ok(result),
            // The follower's Raft stopped: unreachable for now, openraft backs off.
            Reply::Appended(Err(fatal)) => Err(RPCError::Unreachable(openraft::error::Unreachable::new(&fatal))),
            _ => Err(broken("a reply of the wrong kind on a stream")),
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Serves a connection switched into stream mode: every frame that follows is an AppendEntries
/// request, handed to `raft` in order, and each reply goes back in the same order. Ends when the
/// connection closes, stays idle past the listener's idle timeout, or carries anything else.
pub(crate) async fn serve<S>(connection: S, raft: Raft, contact: LeaderContact) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, mut writer) = tokio::io::split(connection);
    let requests = futures_util::stream::unfold(reader, |mut reader| async move {
        match next_frame::<_, Request>(&mut reader).await {
            Ok(Some(Request::AppendEntries(request))) => Some((request, reader)),
            Ok(Some(_)) => {
                tracing::warn!("a stream of AppendEntries carried another request: closed");
                None
            }
            Ok(None) => None,
            Err(error) => {
                tracing::debug!(%error, "an AppendEntries stream ended");
                None
            }
        }
    });
    let mut replies = std::pin::pin!(raft.stream_append(requests));
    while let Some(reply) = replies.next().await {
        // From a current leader, in or out of step with this log: the leader was heard.
        if matches!(&reply, Ok(Ok(_)) | Ok(Err(StreamAppendError::Conflict(_)))) {
            contact.heard();
        }
        let stopped = reply.is_err();
        frame::write(&mut writer, &Reply::Appended(reply)).await?;
        if stopped {
            break;
        }
    }
    Ok(())
}
