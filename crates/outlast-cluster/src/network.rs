//! The client side of the transport: openraft's `RaftNetworkV2` over frames on a byte stream.
//!
//! How a stream to a peer is obtained is a `Dialer`: TCP in a node (`TcpDialer`), something
//! else in a simulation, with the same frames and the same code above it.
//!
//! One connection per client, reused across its calls, taken from and returned to the node's
//! kept connections (`Kept`), and re-dialled after any error (a replication stream after a
//! failed one starts `RECONNECT_BACKOFF_MS` after that one did; openraft's backoff spaces only
//! snapshot attempts, by the same). Every call is bounded by
//! openraft's deadline for it; the exchange itself runs on (bounded) when the deadline cuts the
//! call off, so its connection is kept.
//! Replication and heartbeats are streams (`stream_append`, with a deadline per reply of its
//! own); snapshots are sent as chunks of `SNAPSHOT_CHUNK_BYTES`, each a call.
//! A peer that cannot be dialled is `Unreachable`; a broken exchange is a network error; an
//! error raised by the remote Raft is passed back as a remote error.
//!
//! Must never: carry anything but Raft's messages and pings. A request may arrive twice (a kept
//! connection that died after the write is retried on a new one; a cut-off request may still be
//! sent), which Raft tolerates and a command would not (commands go through `forward`).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use openraft::base::{BoxFuture, BoxStream};
use openraft::error::{NetworkError, RPCError, ReplicationClosed, StreamingError, Unreachable};
use openraft::network::{RPCOption, RaftNetworkFactory, RaftNetworkV2};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, TransferLeaderRequest, TransferLeaderResponse,
    VoteRequest, VoteResponse,
};
use openraft::OptionalSend;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
// Tokio's clock, not the OS's: in a simulation it is the simulated one.
use tokio::time::Instant;

use outlast_tls::{Connector, Identity, MaybeTls};

use crate::frame;
use crate::per_key::{PerKey, Unit};
use crate::rpc::{Reply, Request, SnapshotChunk};
use crate::types::{NodeId, NodeInfo, Snapshot, SnapshotData, TypeConfig, Vote};

/// Opens byte streams to other nodes (and, for tools, to any node) by address.
pub trait Dialer: Clone + Send + Sync + 'static {
    /// The stream type.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + Sync + 'static;
    /// Connects to `addr`, where `peer` must answer: a dialer with TLS refuses anyone else.
    fn dial(&self, addr: &str, peer: &Identity) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// Real TCP, with Nagle off (frames are small and latency-bound), optionally from a chosen
/// source address — on a multi-homed host, or so that a link proxy can tell which node a
/// connection comes from — and over mutual TLS when `tls` is set (every node with a `[tls]`
/// section, and the tools of an operator with a certificate).
#[derive(Clone, Debug, Default)]
pub struct TcpDialer {
    /// Connect from this address (any port) instead of the one the kernel picks.
    pub source_ip: Option<std::net::IpAddr>,
    /// Mutual TLS as this side's identity; clear text if `None`.
    pub tls: Option<Connector>,
}

impl TcpDialer {
    /// Plain TCP from wherever the kernel picks: a cluster without TLS.
    pub fn clear() -> TcpDialer {
        TcpDialer::default()
    }

    /// TCP over mutual TLS as `tls`'s identity.
    pub fn tls(tls: Connector) -> TcpDialer {
        TcpDialer { source_ip: None, tls: Some(tls) }
    }
}

impl Dialer for TcpDialer {
    type Stream = MaybeTls<TcpStream>;

    async fn dial(&self, addr: &str, peer: &Identity) -> io::Result<MaybeTls<TcpStream>> {
        let stream = match self.source_ip {
            None => TcpStream::connect(addr).await?,
            Some(source) => {
                let target = tokio::net::lookup_host(addr)
                    .await?
                    .find(|a| a.is_ipv4() == source.is_ipv4())
                    .ok_or_else(|| io::Error::new(io::ErrorKind::AddrNotAvailable, format!("{addr}: no address")))?;
                let socket =
                    if source.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
                socket.bind(std::net::SocketAddr::new(source, 0))?;
                socket.connect(target).await?
            }
        };
        stream.set_nodelay(true)?;
        match &self.tls {
            None => Ok(MaybeTls::Plain(stream)),
            Some(tls) => Ok(MaybeTls::Tls(Box::new(tls.connect(stream, peer).await?))),
        }
    }
}

/// Connections to peers' Raft ports kept between uses. openraft makes a new client for every
/// election and every read-index round, and a new connection would pay the TCP and TLS
/// handshakes inside the RPC's deadline (`election_timeout_min` for a vote, a heartbeat or an
/// AppendEntries: across an ocean, less than three round trips). So a client whose last
/// exchange completed leaves its connection here when dropped, and the next client to the same
/// peer (or the campaigner's pings, see `elections`) takes it.
pub struct Kept<S> {
    streams: Arc<Mutex<HashMap<NodeId, Vec<(S, Instant)>>>>,
    /// New connections being made to each peer (see `DIALS_IN_FLIGHT_MAX`).
    dialling: PerKey<NodeId>,
}

impl<S> Clone for Kept<S> {
    fn clone(&self) -> Self {
        Kept { streams: self.streams.clone(), dialling: self.dialling.clone() }
    }
}

impl<S> Default for Kept<S> {
    fn default() -> Self {
        Kept { streams: Arc::default(), dialling: PerKey::default() }
    }
}

/// New connections made to one peer at once. A dial cut off by a deadline runs on (see
/// `Peer::call`), and openraft retries at once: against a peer that accepts and never finishes
/// its handshake, unbounded dials would pile up, each holding a socket there for seconds.
const DIALS_IN_FLIGHT_MAX: usize = 4;

impl<S> std::fmt::Debug for Kept<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kept")
    }
}

/// Connections kept per peer: a few clients at once (replication, a vote, read-index rounds).
const KEPT_PER_PEER_MAX: usize = 8;

/// Longest a connection is kept unused: under the listeners' idle timeout, so the peer has not
/// closed it (`listener::IDLE_TIMEOUT`); the campaigner's keep-alive pings use it sooner.
const KEPT_FOR: Duration = Duration::from_secs(30);

impl<S> Kept<S> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, Vec<(S, Instant)>>> {
        self.streams.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A kept connection to `peer`, the most recently used first.
    pub fn take(&self, peer: NodeId) -> Option<S> {
        let mut streams = self.lock();
        let kept = streams.get_mut(&peer)?;
        kept.retain(|(_, since)| since.elapsed() < KEPT_FOR);
        kept.pop().map(|(stream, _)| stream)
    }

    /// Room for one more new connection to `peer`, if fewer than `DIALS_IN_FLIGHT_MAX` are
    /// being made.
    fn start_dial(&self, peer: NodeId) -> Option<Unit<NodeId>> {
        self.dialling.take(peer, DIALS_IN_FLIGHT_MAX)
    }

    /// Keeps `stream`, whose last exchange with `peer` completed.
    pub fn put(&self, peer: NodeId, stream: S) {
        let mut streams = self.lock();
        let kept = streams.entry(peer).or_default();
        if kept.len() < KEPT_PER_PEER_MAX {
            kept.push((stream, Instant::now()));
        }
    }
}

/// Creates a [`Peer`] per target node from the address in its membership entry.
#[derive(Clone, Debug, Default)]
pub struct Network<D: Dialer = TcpDialer> {
    dialer: D,
    kept: Kept<D::Stream>,
}

impl<D: Dialer> Network<D> {
    /// A network that dials with `dialer`.
    pub fn new(dialer: D) -> Network<D> {
        Network { dialer, kept: Kept::default() }
    }

    /// A network that dials with `dialer` and shares kept connections with `kept`.
    pub fn with_kept(dialer: D, kept: Kept<D::Stream>) -> Network<D> {
        Network { dialer, kept }
    }
}

impl<D: Dialer> RaftNetworkFactory<TypeConfig> for Network<D> {
    type Network = Peer<D>;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> Peer<D> {
        self.client(target, node, Purpose::Replication)
    }

    async fn new_heartbeat_client(&mut self, target: NodeId, node: &NodeInfo) -> Peer<D> {
        self.client(target, node, Purpose::Heartbeat)
    }

    async fn new_snapshot_client(&mut self, target: NodeId, node: &NodeInfo) -> Peer<D> {
        self.client(target, node, Purpose::Snapshot)
    }
}

impl<D: Dialer> Network<D> {
    fn client(&self, target: NodeId, node: &NodeInfo, purpose: Purpose) -> Peer<D> {
        Peer::new(target, node.addr.clone(), self.dialer.clone(), self.kept.clone(), purpose)
    }
}

/// What openraft made a client for, which decides how its retries are spaced (see
/// `RECONNECT_BACKOFF_MS`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// Replication streams (and votes): a stream after a failed one is spaced by
    /// `stream_append` itself; openraft's backoff is off.
    Replication,
    /// Heartbeats, already one interval apart: not spaced, or the one after a failure would
    /// wait out its whole deadline; and never sent on a connection still being made.
    Heartbeat,
    /// Snapshot transfers, which do not stream: openraft's backoff spaces their retries.
    Snapshot,
}

/// A connection to one peer.
#[derive(Debug)]
pub struct Peer<D: Dialer = TcpDialer> {
    target: NodeId,
    addr: String,
    dialer: D,
    kept: Kept<D::Stream>,
    /// A connection whose last exchange completed (never one holding half a frame).
    stream: Option<D::Stream>,
    /// What openraft made this client for.
    purpose: Purpose,
    /// When this client's last stream began, and whether it failed (see `stream_append`'s
    /// pacing).
    last_stream: Option<(Instant, Arc<AtomicBool>)>,
}

impl<D: Dialer> Drop for Peer<D> {
    fn drop(&mut self) {
        if let Some(stream) = self.stream.take() {
            self.kept.put(self.target, stream);
        }
    }
}

/// Why a call failed: the peer could not be reached (a retry is spaced), or the exchange broke.
pub(crate) enum CallError {
    /// Refused, reset before any reply, or the handshake failed.
    Unreachable(io::Error),
    /// Broken or cut off by the deadline.
    Network(io::Error),
}

type Rpc<T> = Result<T, RPCError<TypeConfig>>;

/// Bytes of a snapshot per chunk (one frame each, well under `frame::FRAME_BYTES_MAX`).
pub const SNAPSHOT_CHUNK_BYTES: usize = 4 << 20;

/// Longest an exchange goes on after its caller's deadline cut the call off (see `Peer::call`).
const EXCHANGE_AFTER_CUTOFF_MAX: Duration = Duration::from_secs(5);

/// What an exchange is doing, for the error when a deadline cuts its call off.
const DOING: [&str; 3] = ["waiting on a kept connection", "dialling", "waiting on a new connection"];

impl<D: Dialer> Peer<D> {
    /// A client of node `target` at `addr` for `purpose` (kept connections shared through
    /// `kept`).
    pub(crate) fn new(target: NodeId, addr: String, dialer: D, kept: Kept<D::Stream>, purpose: Purpose) -> Peer<D> {
        Peer { target, addr, dialer, kept, stream: None, purpose, last_stream: None }
    }

    /// Sends `request` and waits for the reply, within `deadline`: on this client's connection,
    /// else on a kept one, else (or if the kept one has died) on a new one.
    ///
    /// A new connection's dial and first exchange run in a task of its own. Should the deadline
    /// cut the call off, the task still finishes them (within `EXCHANGE_AFTER_CUTOFF_MAX`) and
    /// keeps the connection for the next client. Otherwise a link whose round trip plus
    /// handshakes exceed the deadline (a new TLS connection across an ocean, within an
    /// AppendEntries' one-heartbeat deadline) would throw away every connection it made and
    /// dial again forever. A request the deadline cut off before it was sent is not sent late:
    /// the new connection is kept unused. (An exchange on an open connection stays in the
    /// caller's task: spawning every call made simulated runs differ within one process.)
    pub(crate) async fn call(&mut self, request: &Request, deadline: Duration) -> Result<Reply, CallError> {
        let frame = frame::encode(request).map_err(CallError::Network)?;
        let started = Instant::now();
        let cut_off = |doing: &str| {
            let why = format!("no reply within the deadline ({} ms, {doing})", deadline.as_millis());
            CallError::Network(io::Error::new(io::ErrorKind::TimedOut, why))
        };
        let (own, kept) = match self.stream.take() {
            Some(stream) => (Some(stream), None),
            None => (None, self.kept.take(self.target)),
        };
        if let Some(mut stream) = own {
            let exchange = Exchange::<D>::exchange_on(&mut stream, &frame, CallError::Network);
            return match tokio::time::timeout(deadline, exchange).await {
                Ok(Ok(reply)) => {
                    self.stream = Some(stream);
                    Ok(reply)
                }
                Ok(Err(error)) => Err(error),
                Err(_) => Err(cut_off(DOING[0])),
            };
        }
        if let Some(mut stream) = kept {
            let exchange = Exchange::<D>::exchange_on(&mut stream, &frame, CallError::Network);
            match tokio::time::timeout(deadline, exchange).await {
                Ok(Ok(reply)) => {
                    self.stream = Some(stream);
                    return Ok(reply);
                }
                // A kept connection may have died meanwhile: then once more on a new one.
                Ok(Err(_)) => {}
                Err(_) => return Err(cut_off(DOING[0])),
            }
        }
        let left = deadline.saturating_sub(started.elapsed());
        let Some(dialling) = self.kept.start_dial(self.target) else {
            let why = format!("{DIALS_IN_FLIGHT_MAX} connections to node {} are being made already", self.target);
            return Err(CallError::Unreachable(io::Error::new(io::ErrorKind::WouldBlock, why)));
        };
        let (replied, reply) = tokio::sync::oneshot::channel();
        let doing = Arc::new(std::sync::atomic::AtomicUsize::new(1));
        let exchange = Exchange {
            peer: (self.target, self.addr.clone()),
            dialer: self.dialer.clone(),
            kept: self.kept.clone(),
            doing: doing.clone(),
        };
        tokio::spawn(async move {
            exchange.run(frame, left.max(EXCHANGE_AFTER_CUTOFF_MAX), replied).await;
            drop(dialling);
        });
        match tokio::time::timeout(left, reply).await {
            Ok(Ok(Ok((reply, stream)))) => {
                self.stream = Some(stream);
                Ok(reply)
            }
            Ok(Ok(Err(error))) => Err(error),
            Ok(Err(_)) => Err(CallError::Network(io::Error::other("the exchange ended without a reply"))),
            Err(_) => Err(cut_off(DOING[doing.load(std::sync::atomic::Ordering::Relaxed)])),
        }
    }
}

impl<D: Dialer> Peer<D> {
    /// Opens a stream of `input` on this client's connection, a kept one, or a new one made by
    /// a `Ping` exchange (as any call makes one).
    async fn start_stream<S>(&mut self, input: S, option: RPCOption) -> Rpc<crate::stream_append::Sender<D::Stream, S>>
    where
        S: futures_util::Stream<Item = AppendEntriesRequest<TypeConfig>> + OptionalSend + Unpin + 'static,
    {
        // Also room for a new connection's TCP and TLS handshakes across an ocean before the
        // exchange (three round trips): more than one exchange's deadline.
        let deadline = option.hard_ttl() * crate::stream_append::DEADLINE_EXCHANGES;
        let connection = match self.stream.take().or_else(|| self.kept.take(self.target)) {
            Some(connection) => connection,
            // A heartbeat does not wait for a new connection: across an ocean the handshakes
            // and the exchange after them exceed its deadline, and a heartbeat cut off in
            // mid-exchange takes its connection with it, so every later one dialled again and
            // was cut off again (a leader that never reached a follower it had no kept
            // connection to). The dial goes on in the background and leaves its connection to
            // this client, or to the kept ones if the call was cut off first (see `call`), where
            // the next heartbeat, an interval later, finds it.
            None if self.purpose == Purpose::Heartbeat => {
                let _ = self.call(&Request::Ping, Duration::ZERO).await;
                let why =
                    format!("no connection to node {} yet: one is being made for the next heartbeat", self.target);
                return Err(RPCError::Unreachable(Unreachable::new(&io::Error::new(io::ErrorKind::NotConnected, why))));
            }
            None => {
                match self.call(&Request::Ping, deadline).await {
                    Ok(Reply::Pong(_)) => {}
                    Ok(_) => return Err(Self::mismatch()),
                    Err(CallError::Unreachable(e)) => return Err(RPCError::Unreachable(Unreachable::new(&e))),
                    Err(error) => return Err(Self::transport_error(error)),
                }
                self.stream.take().expect("a call that answered leaves its connection")
            }
        };
        crate::stream_append::Sender::start(connection, input, deadline).await
    }

    fn transport_error(error: CallError) -> RPCError<TypeConfig> {
        match error {
            CallError::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
            CallError::Network(e) => RPCError::Network(NetworkError::new(&e)),
        }
    }

    fn mismatch() -> RPCError<TypeConfig> {
        let e = io::Error::new(io::ErrorKind::InvalidData, "reply of the wrong kind");
        RPCError::Network(NetworkError::new(&e))
    }

    /// An error the remote Raft raised: it has stopped, so it is unreachable for now.
    fn remote(error: impl std::error::Error + 'static) -> RPCError<TypeConfig> {
        RPCError::Unreachable(Unreachable::new(&error))
    }

    /// Sends `snapshot` chunk by chunk, each within `deadline`, until the follower answers the
    /// last one.
    async fn send_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        deadline: Duration,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let bytes = snapshot.snapshot.into_inner();
        let format = crate::state_machine::state_format(&bytes).unwrap_or(outlast_engine::FORMAT_FIRST);
        let mut offset = 0;
        loop {
            let end = (offset + SNAPSHOT_CHUNK_BYTES).min(bytes.len());
            let chunk = SnapshotChunk {
                vote,
                meta: snapshot.meta.clone(),
                format,
                offset_bytes: offset as u64,
                data: bytes[offset..end].to_vec(),
                done: end == bytes.len(),
            };
            let reply = self.call(&Request::Snapshot(chunk), deadline).await.map_err(|error| match error {
                CallError::Unreachable(e) => StreamingError::Unreachable(Unreachable::new(&e)),
                CallError::Network(e) => StreamingError::Network(NetworkError::new(&e)),
            })?;
            match reply {
                Reply::Snapshot(Ok(Some(answer))) => return Ok(answer),
                Reply::Snapshot(Ok(None)) if end < bytes.len() => offset = end,
                Reply::Snapshot(Ok(None)) => {
                    let e = io::Error::new(io::ErrorKind::InvalidData, "no answer to a snapshot's last chunk");
                    return Err(StreamingError::Network(NetworkError::new(&e)));
                }
                Reply::Snapshot(Err(refused)) => return Err(StreamingError::Unreachable(Unreachable::new(&refused))),
                _ => {
                    let e = io::Error::new(io::ErrorKind::InvalidData, "reply of the wrong kind");
                    return Err(StreamingError::Network(NetworkError::new(&e)));
                }
            }
        }
    }
}

/// A new connection's dial and first exchange, run in a task of its own by `Peer::call`.
struct Exchange<D: Dialer> {
    peer: (NodeId, String),
    dialer: D,
    kept: Kept<D::Stream>,
    /// Index into `DOING`.
    doing: Arc<std::sync::atomic::AtomicUsize>,
}

type Replied<S> = tokio::sync::oneshot::Sender<Result<(Reply, S), CallError>>;

impl<D: Dialer> Exchange<D> {
    /// Dials, sends `frame` and hands the reply and the connection to `replied`; to the kept
    /// connections if the caller has gone. Gives up after `bound`.
    async fn run(self, frame: Vec<u8>, bound: Duration, replied: Replied<D::Stream>) {
        let target = self.peer.0;
        let kept = self.kept.clone();
        match tokio::time::timeout(bound, self.exchange(&frame, &replied)).await {
            Ok(Some(Ok((reply, stream)))) => {
                if let Err(Ok((_, stream))) = replied.send(Ok((reply, stream))) {
                    kept.put(target, stream);
                }
            }
            Ok(Some(Err(error))) => {
                let _ = replied.send(Err(error));
            }
            // The caller left before anything was sent; or the peer took longer than `bound`.
            Ok(None) | Err(_) => {}
        }
    }

    async fn exchange(
        &self,
        frame: &[u8],
        replied: &Replied<D::Stream>,
    ) -> Option<Result<(Reply, D::Stream), CallError>> {
        let (target, addr) = (self.peer.0, &self.peer.1);
        let mut stream = match self.dialer.dial(addr, &Identity::Node(target)).await {
            Ok(stream) => stream,
            // A refused handshake is unreachable too: the peer is not taking us now.
            Err(error) => return Some(Err(CallError::Unreachable(error))),
        };
        if replied.is_closed() {
            self.kept.put(target, stream);
            return None;
        }
        self.doing.store(2, std::sync::atomic::Ordering::Relaxed);
        // A connection made just now and closed or reset before any reply most likely did not
        // reach a live peer: a link proxy (or a load balancer) accepts for a peer that is down.
        // openraft's snapshot sender backs off at once only from `Unreachable` (from a network
        // error after ten tries); votes and pings report it as it is. (Should the peer have
        // crashed after reading the request, only the pause before the retry differs.)
        Some(Self::exchange_on(&mut stream, frame, CallError::Unreachable).await.map(|reply| (reply, stream)))
    }

    async fn exchange_on(
        stream: &mut D::Stream,
        frame: &[u8],
        broken: fn(io::Error) -> CallError,
    ) -> Result<Reply, CallError> {
        frame::write_encoded(stream, frame).await.map_err(broken)?;
        match frame::read(stream).await.map_err(broken)? {
            Some(reply) => Ok(reply),
            None => Err(broken(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed the connection"))),
        }
    }
}

/// Least time between the starts of two replication streams of one client when the first
/// failed (refused, reset, failed its handshake, hit its reply deadline or broke; not a stream
/// openraft itself dropped), and openraft's pause between two attempts to send a snapshot.
/// openraft's default is 500 ms, which a restarted node waits out before its leader notices it
/// is back (half a second of its catch-up; recovery benchmark), and which, longer than a LAN
/// election timeout, would let a peer back from a flap call an election. A refused connect
/// costs a SYN and a RST, so ten attempts a second per client are cheap (the log limiter keeps
/// their lines few).
pub const RECONNECT_BACKOFF_MS: u64 = 100;

impl<D: Dialer> RaftNetworkV2<TypeConfig> for Peer<D> {
    type SnapshotData = SnapshotData;

    /// `RECONNECT_BACKOFF_MS` between a snapshot's attempts; none for streams, whose pacing is
    /// `stream_append`'s. openraft (0.10.0-alpha.37) samples its backoff before each request of
    /// a stream, from when a stream failed until one of its replies comes back, so once a peer
    /// was back its first two requests each waited a backoff (the second is sent before the
    /// first is answered): 200 ms added to every restarted follower's catch-up. And it never
    /// paces a stream that cannot start, because `stream_append` connects before it takes the
    /// first request.
    fn backoff(&self) -> Option<openraft::network::Backoff> {
        let pause_ms = if self.purpose == Purpose::Snapshot { RECONNECT_BACKOFF_MS } else { 0 };
        Some(openraft::network::Backoff::new(std::iter::repeat(Duration::from_millis(pause_ms))))
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<AppendEntriesResponse<TypeConfig>> {
        match self.call(&Request::AppendEntries(rpc), option.hard_ttl()).await.map_err(Self::transport_error)? {
            Reply::AppendEntries(reply) => reply.map_err(Self::remote),
            _ => Err(Self::mismatch()),
        }
    }

    /// Pipelined (`stream_append`), a heartbeat being a stream of one: on this client's
    /// connection or a kept one (a new one is made by a `Ping` exchange, as any call makes one),
    /// given back to the kept ones when the stream ends cleanly.
    fn stream_append<'s, S>(
        &'s mut self,
        input: S,
        option: RPCOption,
    ) -> BoxFuture<'s, Rpc<BoxStream<'s, crate::stream_append::Item>>>
    where
        S: futures_util::Stream<Item = AppendEntriesRequest<TypeConfig>> + OptionalSend + Unpin + 'static,
    {
        Box::pin(async move {
            // A replication stream right after one that failed waits out the rest of
            // `RECONNECT_BACKOFF_MS` from that one's start: a peer that refuses, resets or fails
            // every stream at once is retried ten times a second, not in a loop; one whose
            // stream failed by its deadline, which took longer than that, is retried at once.
            // Heartbeats are not spaced (see `Purpose`), and a stream openraft dropped did not
            // fail.
            if let Some((began, failed)) = &self.last_stream {
                if self.purpose == Purpose::Replication && failed.load(Ordering::Acquire) {
                    tokio::time::sleep_until(*began + Duration::from_millis(RECONNECT_BACKOFF_MS)).await;
                }
            }
            let failed = Arc::new(AtomicBool::new(false));
            self.last_stream = Some((Instant::now(), failed.clone()));
            let sender = match self.start_stream(input, option).await {
                Ok(sender) => sender,
                Err(error) => {
                    failed.store(true, Ordering::Release);
                    return Err(error);
                }
            };
            let (kept, target) = (self.kept.clone(), self.target);
            let replies = sender.replies(move |connection| kept.put(target, connection)).inspect(move |item| {
                if item.is_err() {
                    failed.store(true, Ordering::Release);
                }
            });
            let replies: BoxStream<'s, crate::stream_append::Item> = Box::pin(replies);
            Ok(replies)
        })
    }

    async fn vote(&mut self, rpc: VoteRequest<TypeConfig>, option: RPCOption) -> Rpc<VoteResponse<TypeConfig>> {
        match self.call(&Request::Vote(rpc), option.hard_ttl()).await.map_err(Self::transport_error)? {
            Reply::Vote(reply) => reply.map_err(Self::remote),
            _ => Err(Self::mismatch()),
        }
    }

    async fn transfer_leader(
        &mut self,
        request: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<TransferLeaderResponse<TypeConfig>> {
        match self.call(&Request::TransferLeader(request), option.hard_ttl()).await.map_err(Self::transport_error)? {
            Reply::TransferLeader(reply) => reply.map_err(Self::remote),
            _ => Err(Self::mismatch()),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        tokio::select! {
            closed = cancel => Err(StreamingError::Closed(closed)),
            sent = self.send_snapshot(vote, snapshot, option.hard_ttl()) => sent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A peer that answers every request with a `Pong`.
    async fn ponging_peer() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    while let Ok(Some(_)) = frame::read::<_, Request>(&mut stream).await {
                        if frame::write(&mut stream, &Reply::Pong(None)).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_heartbeat_with_no_connection_fails_at_once_and_a_later_one_finds_it() {
        let addr = ponging_peer().await;
        let mut peer = Peer::new(2, addr, TcpDialer::clear(), Kept::default(), Purpose::Heartbeat);
        let heartbeat = || futures_util::stream::empty::<AppendEntriesRequest<TypeConfig>>();
        let option = || RPCOption::new(Duration::from_secs(5));
        let first = peer.stream_append(heartbeat(), option()).await.err().map(|e| e.to_string());
        assert!(
            first.as_deref().is_some_and(|why| why.contains("one is being made for the next heartbeat")),
            "not sent on a connection still being made: {first:?}"
        );
        // The dial went on in the background; a later heartbeat finds its connection.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match peer.stream_append(heartbeat(), option()).await {
                Ok(_) => break,
                Err(RPCError::Unreachable(_)) => {}
                Err(other) => panic!("{other}"),
            }
            assert!(Instant::now() < deadline, "no later heartbeat found a connection");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}
