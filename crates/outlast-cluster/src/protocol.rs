//! The internal client protocol's messages, and a connection that carries them.
//!
//! Same framing as Raft RPCs (`frame`), separate listener and message types: client traffic
//! (commands, reads, status, administration) and consensus traffic live apart. This is the
//! protocol the API, the chaos tools, the benchmarks and the tests speak to a node's client
//! address; `internal_server` answers it.
//!
//! Must never: act on a request (that is `internal_server`'s job and the modules it calls);
//! this file only says what goes over the wire and how to exchange one message.

use std::collections::BTreeSet;
use std::io;
use std::time::Duration;

use outlast_engine::{CommandBody, Outcome};
use outlast_tls::{Identity, MaybeTls};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::frame;
use crate::network::{Dialer, TcpDialer};
use crate::types::{NodeId, NodeInfo};

/// A client's request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ClientRequest {
    /// Replicate and apply a command; the leader stamps its time.
    Submit {
        /// What to apply.
        body: CommandBody,
        /// Set by a node forwarding to the leader; a forwarded command is not forwarded again.
        forwarded: bool,
        /// Set by a node relaying a command only an operator may give (see `authority`): the
        /// operator token, which every node it passes through checks. A member's certificate
        /// alone gives account requests only.
        operator_token: Option<String>,
        /// Who gave an operator command, as the node that authenticated them recorded it (the
        /// audit trail's "who"); replaced by the name in the certificate when an operator
        /// dials directly, and dropped on account requests (see `internal_server`).
        operator: Option<String>,
    },
    /// This node's view of the cluster and of its applied state.
    Status,
    /// Change membership or snapshot (see `admin`).
    Admin {
        /// What to do.
        request: AdminRequest,
        /// Set by a node forwarding to the leader.
        forwarded: bool,
        /// As for `Submit`: administration is for operators only.
        operator_token: Option<String>,
    },
    /// Read applied state. Linearizable unless `follower_ok`: the leader confirms it still
    /// leads (a quorum round, openraft's read index) and waits until it has applied that far;
    /// a follower forwards such a read to the leader once. With `follower_ok`, the node answers
    /// from what it has applied, which may be behind.
    Read {
        /// What to read.
        query: Query,
        /// Accept this node's possibly stale state.
        follower_ok: bool,
        /// Set by a node forwarding to the leader.
        forwarded: bool,
    },
}

impl crate::frame::Formatted for ClientRequest {
    /// A submitted command's kind's format.
    fn format(&self) -> u32 {
        match self {
            ClientRequest::Submit { body, .. } => body.format_since(),
            _ => outlast_engine::FORMAT_FIRST,
        }
    }
}

impl crate::frame::Formatted for ClientReply {}

/// An administrative request (carried out by `admin`, at the leader).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum AdminRequest {
    /// Start replicating to a node that does not vote; returns once it has caught up.
    AddLearner {
        /// Its id.
        id: NodeId,
        /// How to reach it and where it is.
        info: NodeInfo,
    },
    /// Make exactly these nodes the voters (they must be members already); the others stay as
    /// learners until removed. Refused if one provider's loss would stop the new voter set.
    SetVoters {
        /// The new voter set.
        voters: BTreeSet<NodeId>,
        /// Allow a voter set that one provider's loss would stop.
        allow_unsafe_topology: bool,
    },
    /// Remove non-voting members.
    RemoveLearners {
        /// The learners to drop.
        ids: BTreeSet<NodeId>,
    },
    /// Build a snapshot now (the log behind it is purged by policy).
    Snapshot,
}

/// A read of applied state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Query {
    /// One account's balance of one asset.
    Balance {
        /// The account.
        account: outlast_engine::AccountId,
        /// The asset.
        asset: outlast_engine::AssetId,
    },
    /// The engine's digest.
    Digest,
    /// Run the engine's global invariant check (conservation, locks, books) on this state.
    Invariants,
    /// The leader's read index: once a node has applied this far, it has every write committed
    /// before the question was asked (always answered linearizably, by the leader).
    ReadIndex,
}

/// The answer to a `Query`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Answer {
    /// The balance, or `None` if the account does not exist.
    Balance(Option<outlast_engine::Balance>),
    /// The digest (hex).
    Digest(String),
    /// `Ok` or the first violation found.
    Invariants(Result<(), String>),
    /// The read index.
    ReadIndex(u64),
}

/// A node's reply.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ClientReply {
    /// The command was committed and applied; this is the engine's outcome.
    Outcome {
        /// What the engine made of it.
        outcome: Outcome,
        /// The log index it was committed at: a node that waits until it has applied this far
        /// reads its own write.
        index: u64,
    },
    /// The node's status.
    Status(NodeStatus),
    /// The answer to a read, and the node that answered it.
    Read {
        /// The answer.
        answer: Answer,
        /// The node whose state it came from.
        node: NodeId,
    },
    /// An administrative request was carried out.
    Done(String),
    /// Sent, and not known to be done (the leader did not answer, died, or lost its quorum with
    /// it in flight): it may or may not apply. The caller may retry the same command — the
    /// engine makes retries idempotent.
    Unavailable(String),
    /// Provably not done: refused before it reached any leader (no leader, the leader could not
    /// be connected to, or this node leads without a quorum). Safe to send anywhere.
    NotSent(String),
    /// Not done, and no node will do it: the sender may not give this command (see `authority`).
    Forbidden(String),
    /// Not done: the command's kind belongs to a data format the cluster has not finalised, or
    /// that this node's build does not read (see `format`). Changes nothing anywhere.
    NotEnabled(String),
}

/// What a node reports about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node.
    pub id: NodeId,
    /// The leader it knows of (none if this node leads without a quorum: see `quorum`).
    pub leader: Option<NodeId>,
    /// Its current term.
    pub term: u64,
    /// The last log index applied to its engine.
    pub last_applied: Option<u64>,
    /// Its engine's digest (hex).
    pub digest: String,
    /// Set when the cluster's membership describes this node differently from its own
    /// configuration (address or labels): the files disagree and one must be fixed.
    pub config_mismatch: Option<String>,
    /// Its wall clock when it answered, ms since the Unix epoch (0: not given), for the
    /// others' clock-offset samples (`clocks`).
    #[serde(default)]
    pub wall_ms: u64,
    /// The newest data format its build reads (see `format`).
    pub format_max: u32,
    /// The cluster's active data format, as far as it has applied.
    pub format: u32,
    /// The shortest recent round trip to each peer it samples, ms (`clocks`), for `outlast
    /// config check` to hold the Raft timing against.
    pub round_trips_ms: Vec<(NodeId, u64)>,
}

/// Sends one request to `peer` at `addr` on a new connection from `dialer` (a node's own, a
/// tool's with the operator's certificate, or simulated) and waits for the reply, within
/// `deadline` (connecting included).
pub async fn call_with<D: Dialer>(
    dialer: &D,
    addr: &str,
    peer: &Identity,
    request: &ClientRequest,
    deadline: Duration,
) -> io::Result<ClientReply> {
    let exchange = async {
        let mut connection = Connection::over(dialer.dial(addr, peer).await?);
        connection.request(request, deadline).await
    };
    tokio::time::timeout(deadline, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("no reply from {addr} within {deadline:?}")))?
}

/// A kept-open connection to one node, for callers that send many requests. TCP (over TLS if
/// the dialer has it) unless made `over` another stream.
#[derive(Debug)]
pub struct Connection<S = MaybeTls<TcpStream>> {
    stream: S,
}

impl Connection {
    /// Connects to `peer`'s client address `addr` through `dialer` (from its source address,
    /// if it has one, so that a link proxy applies that node's links; over TLS if it has it).
    pub async fn open(dialer: &TcpDialer, addr: &str, peer: &Identity) -> io::Result<Connection> {
        Ok(Connection { stream: dialer.dial(addr, peer).await? })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Connection<S> {
    /// A connection on a stream already open to a node's client address.
    pub fn over(stream: S) -> Connection<S> {
        Connection { stream }
    }

    /// Sends one request and waits for its reply, within `deadline`. After an error the
    /// connection must be dropped (it may hold half a frame).
    pub async fn request(&mut self, request: &ClientRequest, deadline: Duration) -> io::Result<ClientReply> {
        let exchange = async {
            frame::write(&mut self.stream, request).await?;
            frame::read(&mut self.stream)
                .await?
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "node closed the connection"))
        };
        tokio::time::timeout(deadline, exchange)
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("no reply within {deadline:?}")))?
    }
}
