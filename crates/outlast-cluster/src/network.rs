//! The client side of the transport: openraft's `RaftNetwork` over TCP frames.
//!
//! One connection per peer, reused across calls and re-dialled after any error (openraft's
//! replication retries with its own backoff). Every call is bounded by openraft's deadline for
//! it. A peer that cannot be dialled is `Unreachable`; a broken exchange is a network error;
//! an error raised by the remote Raft is passed back as a remote error.

use std::io;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use tokio::net::TcpStream;

use crate::frame;
use crate::rpc::{Reply, Request};
use crate::types::{NodeId, NodeInfo, TypeConfig};

/// Creates a [`Peer`] per target node from the address in its membership entry.
#[derive(Clone, Debug, Default)]
pub struct Network;

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Peer;

    async fn new_client(&mut self, target: NodeId, node: &NodeInfo) -> Peer {
        Peer { target, addr: node.addr.clone(), stream: None }
    }
}

/// A connection to one peer.
#[derive(Debug)]
pub struct Peer {
    target: NodeId,
    addr: String,
    stream: Option<TcpStream>,
}

enum CallError {
    Unreachable(io::Error),
    Network(io::Error),
}

type Rpc<T, E = RaftError<NodeId>> = Result<T, RPCError<NodeId, NodeInfo, E>>;

impl Peer {
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
        if self.stream.is_none() {
            let stream = TcpStream::connect(&self.addr).await.map_err(CallError::Unreachable)?;
            stream.set_nodelay(true).map_err(CallError::Network)?;
            self.stream = Some(stream);
        }
        let stream = self.stream.as_mut().expect("connected above");
        frame::write(stream, request).await.map_err(CallError::Network)?;
        match frame::read(stream).await.map_err(CallError::Network)? {
            Some(reply) => Ok(reply),
            None => Err(CallError::Network(io::Error::new(io::ErrorKind::UnexpectedEof, "peer closed the connection"))),
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

impl RaftNetwork<TypeConfig> for Peer {
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
