//! The client side of the transport: openraft's `RaftNetwork` over frames on a byte stream.
//!
//! How a stream to a peer is obtained is a `Dialer`: TCP in a node (`TcpDialer`), something
//! else in a simulation, with the same frames and the same code above it.
//!
//! One connection per peer, reused across calls and re-dialled after any error (openraft's
//! replication retries with its own backoff). Every call is bounded by openraft's deadline for
//! it. A peer that cannot be dialled is `Unreachable`; a broken exchange is a network error;
//! an error raised by the remote Raft is passed back as a remote error.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
// Tokio's clock, not the OS's: in a simulation it is the simulated one.
use tokio::time::Instant;

use outlast_tls::{Connector, Identity, MaybeTls};

use crate::frame;
use crate::rpc::{Reply, Request};
use crate::types::{NodeId, NodeInfo, TypeConfig};

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
/// handshakes inside the RPC's deadline (a vote gets `election_timeout_min`, an AppendEntries
/// one heartbeat: across an ocean, less than three round trips). So a client whose last
/// exchange completed leaves its connection here when dropped, and the next client to the same
/// peer (or the campaigner's pings, see `elections`) takes it.
pub struct Kept<S> {
    streams: Arc<Mutex<HashMap<NodeId, Vec<(S, Instant)>>>>,
}

impl<S> Clone for Kept<S> {
    fn clone(&self) -> Self {
        Kept { streams: self.streams.clone() }
    }
}

impl<S> Default for Kept<S> {
    fn default() -> Self {
        Kept { streams: Arc::default() }
    }
}

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
        let (dialer, kept) = (self.dialer.clone(), self.kept.clone());
        Peer { target, addr: node.addr.clone(), dialer, kept, stream: None, clean: true }
    }
}

/// A connection to one peer.
#[derive(Debug)]
pub struct Peer<D: Dialer = TcpDialer> {
    target: NodeId,
    addr: String,
    dialer: D,
    kept: Kept<D::Stream>,
    stream: Option<D::Stream>,
    /// No exchange is half done on `stream` (one cut off by a deadline may hold half a frame).
    clean: bool,
}

impl<D: Dialer> Drop for Peer<D> {
    fn drop(&mut self) {
        if let (Some(stream), true) = (self.stream.take(), self.clean) {
            self.kept.put(self.target, stream);
        }
    }
}

enum CallError {
    Unreachable(io::Error),
    Network(io::Error),
}

type Rpc<T, E = RaftError<NodeId>> = Result<T, RPCError<NodeId, NodeInfo, E>>;

impl<D: Dialer> Peer<D> {
    /// Sends `request` and waits for the reply, within `deadline`.
    async fn call(&mut self, request: &Request, deadline: Duration) -> Result<Reply, CallError> {
        let result = match tokio::time::timeout(deadline, self.exchange(request)).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Network(io::Error::new(io::ErrorKind::TimedOut, "no reply within the deadline"))),
        };
        if result.is_err() {
            // The stream may hold half a frame: never reuse it.
            self.stream = None;
        }
        result
    }

    async fn exchange(&mut self, request: &Request) -> Result<Reply, CallError> {
        self.clean = false;
        if self.stream.is_none() {
            if let Some(kept) = self.kept.take(self.target) {
                self.stream = Some(kept);
                // A kept connection may have died meanwhile: then once more on a new one.
                match self.exchange_on(request, CallError::Network).await {
                    Ok(reply) => {
                        self.clean = true;
                        return Ok(reply);
                    }
                    Err(_) => self.stream = None,
                }
            }
        }
        let reply = self.exchange_fresh_or_open(request).await;
        self.clean = reply.is_ok();
        reply
    }

    async fn exchange_on(&mut self, request: &Request, broken: fn(io::Error) -> CallError) -> Result<Reply, CallError> {
        let stream = self.stream.as_mut().expect("a stream to exchange on");
        frame::write(stream, request).await.map_err(broken)?;
        match frame::read(stream).await.map_err(broken)? {
            Some(reply) => Ok(reply),
            None => Err(broken(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed the connection"))),
        }
    }

    async fn exchange_fresh_or_open(&mut self, request: &Request) -> Result<Reply, CallError> {
        let fresh = self.stream.is_none();
        if fresh {
            // Dialled in a task of its own: should openraft's deadline cut this call off
            // during the handshakes, the connection is still made and kept for the next client
            // (across an ocean a new TLS connection takes two round trips of an AppendEntries'
            // one-heartbeat deadline).
            let (dialer, addr, target, kept) = (self.dialer.clone(), self.addr.clone(), self.target, self.kept.clone());
            let (sent, dialled) = tokio::sync::oneshot::channel();
            tokio::spawn(async move {
                let stream = dialer.dial(&addr, &Identity::Node(target)).await;
                if let Err(Ok(stream)) = sent.send(stream) {
                    kept.put(target, stream);
                }
            });
            let dialled = dialled.await.unwrap_or_else(|_| Err(io::Error::other("the dial was dropped")));
            // A refused handshake is unreachable too: openraft pauses before the next try.
            self.stream = Some(dialled.map_err(CallError::Unreachable)?);
        }
        // A connection made just now and closed or reset before any reply most likely did not
        // reach a live peer: a link proxy (or a load balancer) accepts for a peer that is down.
        // openraft backs off only from `Unreachable`; calling it a network error made it retry
        // at once, thousands of times a second, each a log line. (Should the peer have crashed
        // after reading the request, only the pause before the retry differs.)
        let broken: fn(io::Error) -> CallError = if fresh { CallError::Unreachable } else { CallError::Network };
        self.exchange_on(request, broken).await
    }

    fn transport_error<E: std::error::Error>(error: CallError) -> RPCError<NodeId, NodeInfo, E> {
        match error {
            CallError::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
            CallError::Network(e) => RPCError::Network(NetworkError::new(&e)),
        }
    }

    fn mismatch<E: std::error::Error>() -> RPCError<NodeId, NodeInfo, E> {
        let e = io::Error::new(io::ErrorKind::InvalidData, "reply of the wrong kind");
        RPCError::Network(NetworkError::new(&e))
    }
}

/// Pause between attempts to reach a peer that could not be reached (refused, or reset before
/// any reply). openraft's default is 500 ms, which a restarted node waits out before its leader
/// notices it is back (up to half a second of its catch-up; recovery benchmark) — and which,
/// longer than a LAN election timeout, would let a peer back from a flap call an election. A
/// refused connect costs a SYN and a RST, so ten attempts a second per peer are cheap (the log
/// limiter keeps their lines few).
pub const RECONNECT_BACKOFF_MS: u64 = 100;

impl<D: Dialer> RaftNetwork<TypeConfig> for Peer<D> {
    fn backoff(&self) -> openraft::network::Backoff {
        openraft::network::Backoff::new(std::iter::repeat(Duration::from_millis(RECONNECT_BACKOFF_MS)))
    }

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<AppendEntriesResponse<NodeId>> {
        match self.call(&Request::AppendEntries(rpc), option.hard_ttl()).await.map_err(Self::transport_error)? {
            Reply::AppendEntries(reply) => reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(Self::mismatch()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Rpc<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>> {
        match self.call(&Request::InstallSnapshot(rpc), option.hard_ttl()).await.map_err(Self::transport_error)? {
            Reply::InstallSnapshot(reply) => reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(Self::mismatch()),
        }
    }

    async fn vote(&mut self, rpc: VoteRequest<NodeId>, option: RPCOption) -> Rpc<VoteResponse<NodeId>> {
        match self.call(&Request::Vote(rpc), option.hard_ttl()).await.map_err(Self::transport_error)? {
            Reply::Vote(reply) => reply.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e))),
            _ => Err(Self::mismatch()),
        }
    }
}
