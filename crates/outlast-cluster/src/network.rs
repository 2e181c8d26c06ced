//! The client side of the transport: openraft's `RaftNetwork` over frames on a byte stream.
//!
//! How a stream to a peer is obtained is a `Dialer`: TCP in a node (`TcpDialer`), something
//! else in a simulation, with the same frames and the same code above it.
//!
//! One connection per peer, reused across calls and re-dialled after any error (openraft's
//! replication retries with its own backoff). Every call is bounded by openraft's deadline for
//! it. A peer that cannot be dialled is `Unreachable`; a broken exchange is a network error;
//! an error raised by the remote Raft is passed back as a remote error.

use std::future::Future;
use std::io;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

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

/// Creates a [`Peer`] per target node from the address in its membership entry.
#[derive(Clone, Debug, Default)]
pub struct Network<D: Dialer = TcpDialer> {
    dialer: D,
}

impl<D: Dialer> Network<D> {
    /// A network that dials with `dialer`.
    pub fn new(dialer: D) -> Network<D> {
        Network { dialer }
    }
}

impl<D: Dialer> RaftNetworkFactory<TypeConfig> for Network<D> {
    type Network = Peer<D>;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> Peer<D> {
        Peer { target, addr: node.addr.clone(), dialer: self.dialer.clone(), stream: None }
    }
}

/// A connection to one peer.
#[derive(Debug)]
pub struct Peer<D: Dialer = TcpDialer> {
    target: NodeId,
    addr: String,
    dialer: D,
    stream: Option<D::Stream>,
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
        let fresh = self.stream.is_none();
        if fresh {
            let dialled = self.dialer.dial(&self.addr, &Identity::Node(self.target)).await;
            // A refused handshake is unreachable too: openraft pauses before the next try.
            self.stream = Some(dialled.map_err(CallError::Unreachable)?);
        }
        // A connection made just now and closed or reset before any reply most likely did not
        // reach a live peer: a link proxy (or a load balancer) accepts for a peer that is down.
        // openraft backs off only from `Unreachable`; calling it a network error made it retry
        // at once, thousands of times a second, each a log line. (Should the peer have crashed
        // after reading the request, only the pause before the retry differs.)
        let broken = if fresh { CallError::Unreachable } else { CallError::Network };
        let stream = self.stream.as_mut().expect("connected above");
        frame::write(stream, request).await.map_err(broken)?;
        match frame::read(stream).await.map_err(broken)? {
            Some(reply) => Ok(reply),
            None => Err(broken(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed the connection"))),
        }
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
