//! Pipelined replication: openraft's stream of AppendEntries to one follower, sent on one
//! connection without waiting for each reply, the replies read back in order.
//!
//! A leader's replication to a follower is a stream of requests openraft generates as entries
//! and commits come (`stream_append`); so is each heartbeat, a stream of one. Sent one at a
//! time, each request would wait a round trip for the one before; here up to `IN_FLIGHT_MAX` are
//! on the wire at once, so across an ocean a follower acknowledges entries one round trip after
//! they were written, however many came meanwhile.
//!
//! On the wire: `AppendStream`, then the requests as they come, then `EndStream` once openraft
//! ends the stream; the follower answers `StreamReady`, one `Appended` per request in order, and
//! `StreamEnded`. Nothing waits for `StreamReady`, so a stream on an open connection costs one
//! round trip, and after `StreamEnded` the connection is the client's again (a heartbeat every
//! interval reuses one connection). A stream cut off half-way closes its connection.
//!
//! The sender (`Sender`) writes and reads in the caller's task, without spawning: requests leave
//! while earlier replies are awaited, and replies are read into a buffer that survives an
//! abandoned read (`frame::take`). The follower (`serve`) hands the requests to
//! `Raft::stream_append`, which answers in order.
//!
//! Must never: reorder replies or pair a reply with another request than its own (openraft
//! matches them by order); keep a stream whose oldest request has waited longer than its
//! deadline (the follower may be gone: openraft starts a new stream); or let a follower's replies
//! grow without bound (at most `IN_FLIGHT_MAX` requests are unanswered).

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

/// How long the oldest unanswered request may wait for its reply, in units of the deadline
/// openraft gives a stream (the lower election timeout, as patched: see
/// `outlast_cluster::config::raft_timing_ms`). A reply waits behind the requests before it, each appended
/// and made durable by the follower, so one round trip is not enough under load; heartbeats,
/// which keep the leader's lease, go on connections of their own and are not held up.
pub const DEADLINE_EXCHANGES: u32 = 4;

/// Bytes read from the socket at a time at most (a reply is a few dozen).
const READ_CHUNK_BYTES: usize = 16 << 10;

/// One reply on a stream, or why the stream ended.
pub type Item = Result<StreamAppendResult<TypeConfig>, RPCError<TypeConfig>>;

/// The sending side of one stream on one connection.
pub(crate) struct Sender<S, I> {
    input: I,
    input_done: bool,
    reader: tokio::io::ReadHalf<S>,
    writer: tokio::io::WriteHalf<S>,
    /// Bytes read and not yet taken as whole replies.
    buffer: Vec<u8>,
    /// Whether `StreamReady` has been read.
    ready: bool,
    /// When `EndStream` was written (right when `input` ended), if it was.
    end_sent: Option<Instant>,
    /// Whether `StreamEnded` has been read: the connection is clean.
    ended: bool,
    /// When each unanswered request was written, oldest first.
    in_flight: VecDeque<Instant>,
    deadline: Duration,
    /// A reply held back by the simulation's reply weather, handed over after the next one.
    held: Option<StreamAppendResult<TypeConfig>>,
    /// A reply to hand over (again, or late) before reading on.
    again: Option<StreamAppendResult<TypeConfig>>,
}

fn broken(why: impl Into<String>) -> RPCError<TypeConfig> {
    let e = io::Error::new(io::ErrorKind::BrokenPipe, why.into());
    RPCError::Network(NetworkError::new(&e))
}

fn network(e: &io::Error) -> RPCError<TypeConfig> {
    RPCError::Network(NetworkError::new(e))
}

/// What a stream gives back when it ends: the connection, clean and reusable, or nothing.
pub(crate) type Returned<S> = Option<S>;

impl<S, I> Sender<S, I>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    I: Stream<Item = AppendEntriesRequest<TypeConfig>> + Send + Unpin + 'static,
{
    /// Starts a stream of `input`'s requests on `connection` (carrying single requests so far).
    /// Each request must be answered within `deadline` of being written.
    pub(crate) async fn start(connection: S, input: I, deadline: Duration) -> Result<Self, RPCError<TypeConfig>> {
        let (reader, mut writer) = tokio::io::split(connection);
        bounded(Instant::now() + deadline, frame::write(&mut writer, &Request::AppendStream)).await?;
        Ok(Sender {
            input,
            input_done: false,
            reader,
            writer,
            buffer: Vec::new(),
            ready: false,
            end_sent: None,
            ended: false,
            in_flight: VecDeque::new(),
            deadline,
            held: None,
            again: None,
        })
    }

    /// The replies, in order; after the last (or an error), the connection goes to `give_back`
    /// if the stream ended cleanly.
    pub(crate) fn replies(
        self,
        give_back: impl FnOnce(S) + Send + 'static,
    ) -> impl Stream<Item = Item> + Send + 'static {
        futures_util::stream::unfold(Some((self, Some(give_back))), |state| async move {
            let (mut sender, mut give_back) = state?;
            match sender.next().await {
                Some(item) => {
                    let failed = item.is_err();
                    Some((item, (!failed).then_some((sender, give_back))))
                }
                None => {
                    if let (Some(connection), Some(give_back)) = (sender.into_connection(), give_back.take()) {
                        give_back(connection);
                    }
                    None
                }
            }
        })
    }

    /// The next reply (sending requests meanwhile), an error, or `None` once openraft ended
    /// its requests and every one was answered.
    async fn next(&mut self) -> Option<Item> {
        loop {
            if let Some(result) = self.again.take() {
                return Some(Ok(result));
            }
            match self.take_reply() {
                Ok(None) => {}
                Ok(Some(Ok(result))) => match weather::draw() {
                    Some(weather::Fault::Duplicate) => {
                        self.again = Some(result.clone());
                        return Some(Ok(result));
                    }
                    // Only while another reply is on its way, which brings it along.
                    Some(weather::Fault::Late) if self.held.is_none() && !self.in_flight.is_empty() => {
                        self.held = Some(result)
                    }
                    _ => {
                        self.again = self.held.take();
                        return Some(Ok(result));
                    }
                },
                Ok(Some(Err(error))) | Err(error) => return Some(Err(error)),
            }
            if self.ended {
                return self.held.take().map(Ok);
            }
            // The oldest request's reply is due; with none left, `StreamEnded` is.
            let oldest_due = self.in_flight.front().or(self.end_sent.as_ref()).map(|sent| *sent + self.deadline);
            let room = !self.input_done && self.in_flight.len() < IN_FLIGHT_MAX;
            let mut chunk = [0u8; READ_CHUNK_BYTES];
            // Every branch is cancel-safe: bytes read stay in `buffer`, a request not yet taken
            // from `input` stays there, a timer is remade.
            tokio::select! {
                biased;
                read = self.reader.read(&mut chunk) => match read {
                    // Idle past the follower's idle timeout: a new stream will do, quietly.
                    Ok(0) if self.in_flight.is_empty() && self.end_sent.is_none() => return None,
                    Ok(0) => return Some(Err(broken("the follower closed the stream"))),
                    Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
                    Err(e) => return Some(Err(network(&e))),
                },
                () = sleep_until(oldest_due) => {
                    let why = format!("no reply within {} ms", self.deadline.as_millis());
                    return Some(Err(network(&io::Error::new(io::ErrorKind::TimedOut, why))));
                }
                request = self.input.next(), if room => match request {
                    None => {
                        // Said at once, not after the last reply: ending costs no round trip.
                        self.input_done = true;
                        let due = self.write_due();
                        if let Err(error) = bounded(due, frame::write(&mut self.writer, &Request::EndStream)).await {
                            return Some(Err(error));
                        }
                        self.end_sent = Some(Instant::now());
                    }
                    Some(request) => {
                        // Bounded too: a follower that stopped reading fills the socket, and a
                        // write would wait for TCP to give up (minutes).
                        let due = self.write_due();
                        let sent = bounded(due, frame::write(&mut self.writer, &Request::AppendEntries(request))).await;
                        if let Err(error) = sent {
                            return Some(Err(error));
                        }
                        self.in_flight.push_back(Instant::now());
                    }
                },
            }
        }
    }

    /// When a write must be done: by the oldest unanswered request's deadline, or a deadline
    /// from now if none is unanswered.
    fn write_due(&self) -> Instant {
        self.in_flight.front().map_or_else(Instant::now, |sent| *sent) + self.deadline
    }

    /// The next whole reply in the buffer, if any: `StreamReady` first, then one per request.
    fn take_reply(&mut self) -> Result<Option<Item>, RPCError<TypeConfig>> {
        loop {
            let reply = match frame::take::<Reply>(&mut self.buffer) {
                Ok(None) => return Ok(None),
                Ok(Some(reply)) => reply,
                Err(e) => return Err(broken(format!("a reply that does not decode: {e}"))),
            };
            match reply {
                Reply::StreamReady if !self.ready => self.ready = true,
                Reply::StreamEnded if self.ready && self.end_sent.is_some() && self.in_flight.is_empty() => {
                    self.ended = true;
                    return Ok(None);
                }
                Reply::Appended(result) if self.ready && self.in_flight.pop_front().is_some() => {
                    return Ok(Some(match result {
                        Ok(result) => Ok(result),
                        // The follower's Raft stopped: unreachable for now; the next stream is
                        // spaced (`network::RECONNECT_BACKOFF_MS`).
                        Err(fatal) => Err(RPCError::Unreachable(openraft::error::Unreachable::new(&fatal))),
                    }));
                }
                other => return Err(broken(format!("an unexpected reply on a stream: {other:?}"))),
            }
        }
    }

    /// The connection, if the stream ended cleanly (`StreamEnded` read, nothing after it).
    fn into_connection(self) -> Returned<S> {
        (self.ended && self.buffer.is_empty()).then(|| self.reader.unsplit(self.writer))
    }
}

/// `write`'s outcome, or a timeout error once `due` has passed.
async fn bounded(
    due: Instant,
    write: impl std::future::Future<Output = io::Result<()>>,
) -> Result<(), RPCError<TypeConfig>> {
    match tokio::time::timeout_at(due, write).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(network(&e)),
        Err(_) => {
            Err(network(&io::Error::new(io::ErrorKind::TimedOut, "a write to the follower did not finish in time")))
        }
    }
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due).await,
        None => std::future::pending().await,
    }
}

/// Serves a connection switched into stream mode (after its `StreamReady`): every frame that
/// follows is an AppendEntries request, handed to `raft` in order, each reply going back in the
/// same order, until `EndStream`, answered `StreamEnded` once every request before it is
/// answered. Returns the connection then, to carry single requests again; nothing if it closed,
/// stayed idle past the listener's idle timeout, or carried anything else.
pub(crate) async fn serve<S>(connection: S, raft: Raft, contact: LeaderContact) -> io::Result<Option<S>>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (reader, mut writer) = tokio::io::split(connection);
    // The reader comes back through `ended` when the sender ends the stream.
    let (ended, reader_back) = tokio::sync::oneshot::channel();
    let requests = futures_util::stream::unfold(Some((reader, ended)), |state| async move {
        let (mut reader, ended) = state?;
        match next_frame::<_, Request>(&mut reader).await {
            Ok(Some(Request::AppendEntries(request))) => Some((request, Some((reader, ended)))),
            Ok(Some(Request::EndStream)) => {
                let _ = ended.send(reader);
                None
            }
            Ok(Some(other)) => {
                tracing::warn!(request = ?other, "a stream of AppendEntries carried another request: closed");
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
            return Ok(None);
        }
    }
    // Every reply is out; the stream ended by `EndStream` or not at all.
    let Ok(reader) = reader_back.await else { return Ok(None) };
    frame::write(&mut writer, &Reply::StreamEnded).await?;
    Ok(Some(reader.unsplit(writer)))
}

/// Replies handed to openraft out of step with the wire, in a simulation only: one follower's
/// replies on one connection cannot arrive twice or out of order, but openraft must take them
/// so (a late reply of an abandoned stream, a transport that retries), and the simulation makes
/// them happen. Off (and drawing nothing) unless a simulation sets a chance on its thread.
pub mod weather {
    use std::cell::Cell;

    use openraft::AsyncRuntime;
    use rand::RngExt;

    thread_local! {
        static CHANCE_PPM: Cell<u32> = const { Cell::new(0) };
        static MADE: Cell<u64> = const { Cell::new(0) };
    }

    /// What happens to one reply.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Fault {
        /// Handed over twice.
        Duplicate,
        /// Handed over after the next reply.
        Late,
    }

    /// From now on, on this thread, each reply is duplicated or made late with a chance of
    /// `chance_ppm` in a million (0: never); the count of faults made starts again.
    pub fn set_chance_ppm(chance_ppm: u32) {
        CHANCE_PPM.with(|c| c.set(chance_ppm.min(1_000_000)));
        MADE.with(|m| m.set(0));
    }

    /// Faults made on this thread since `set_chance_ppm`.
    pub fn made() -> u64 {
        MADE.with(Cell::get)
    }

    /// The fault for the next reply, if any (from the runtime's random source: seeded in a
    /// simulation, so a seed replays).
    pub(crate) fn draw() -> Option<Fault> {
        let chance_ppm = CHANCE_PPM.with(Cell::get);
        if chance_ppm == 0 {
            return None;
        }
        let mut rng = crate::runtime::Runtime::thread_rng();
        if rng.random_range(0..1_000_000) >= chance_ppm {
            return None;
        }
        MADE.with(|m| m.set(m.get() + 1));
        Some(if rng.random_range(0..2) == 0 { Fault::Duplicate } else { Fault::Late })
    }
}
