//! The client protocol: commands and status reads, on a node's client address.
//!
//! Same framing as Raft RPCs, separate listener and message types (client traffic and
//! consensus traffic live apart). A node that is not the leader forwards a command to the
//! leader once (never further, so a stale view cannot make a loop); the leader stamps the
//! command's time and replies after it is committed and applied. This is the internal protocol
//! the chaos tools and tests use; the Binance-compatible API will sit on top of it.

use std::io;
use std::time::Duration;

use openraft::Raft;
use outlast_engine::{CommandBody, Outcome};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::batcher::Batcher;
use crate::frame;
use crate::network::{Dialer, TcpDialer};
use crate::state_machine::EngineReader;
use crate::types::{NodeId, NodeInfo, TypeConfig};

/// A client's request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ClientRequest {
    /// Replicate and apply a command; the leader stamps its time.
    Submit {
        /// What to apply.
        body: CommandBody,
        /// Set by a node forwarding to the leader; a forwarded command is not forwarded again.
        forwarded: bool,
    },
    /// This node's view of the cluster and of its applied state.
    Status,
    /// Change membership or snapshot (see `admin`).
    Admin {
        /// What to do.
        request: crate::admin::AdminRequest,
        /// Set by a node forwarding to the leader.
        forwarded: bool,
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
    /// Not done, and not known to be done (no leader, leader unreachable, node stopping): the
    /// caller may retry the same command — the engine makes retries idempotent.
    Unavailable(String),
}

/// What a node reports about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStatus {
    /// The node.
    pub id: NodeId,
    /// The leader it knows of.
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
}

/// Sends one request to `addr` on a new connection and waits for the reply, within `deadline`
/// (connecting included).
pub async fn call(addr: &str, request: &ClientRequest, deadline: Duration) -> io::Result<ClientReply> {
    let exchange = async {
        let mut connection = Connection::open(addr).await?;
        connection.request(request, deadline).await
    };
    tokio::time::timeout(deadline, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("no reply from {addr} within {deadline:?}")))?
}

/// A kept-open connection to one node, for callers that send many requests.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
}

/// The dialer for connections to other nodes' client addresses (forwarding to the leader).
/// Process-wide: a node process is one node, and it dials from its own address so that a
/// link proxy applies the same faults to forwarding as to Raft traffic.
static PEER_DIALER: std::sync::OnceLock<TcpDialer> = std::sync::OnceLock::new();

/// Makes this process dial other nodes from `source` (set once, when a node starts).
pub fn dial_peers_from(source: std::net::IpAddr) {
    let _ = PEER_DIALER.set(TcpDialer { source_ip: Some(source) });
}

impl Connection {
    /// Connects to a node's client address.
    pub async fn open(addr: &str) -> io::Result<Connection> {
        let stream = match PEER_DIALER.get() {
            Some(dialer) => dialer.dial(addr).await?,
            None => {
                let stream = TcpStream::connect(addr).await?;
                stream.set_nodelay(true)?;
                stream
            }
        };
        Ok(Connection { stream })
    }

    /// Connects to a node's client address from `source`, so that a link proxy in front of it
    /// applies the links of whichever node owns `source` (benchmarks that stand in for a node).
    pub async fn open_from(addr: &str, source: std::net::IpAddr) -> io::Result<Connection> {
        Ok(Connection { stream: TcpDialer { source_ip: Some(source) }.dial(addr).await? })
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

/// Client connections served at once; more wait in the kernel's backlog. Bounds the tasks and
/// buffers a burst of clients can make a node hold.
pub const CLIENT_CONNECTIONS_MAX: usize = 4_096;

/// Serves the client protocol on `listener` until the listener fails.
/// `me` is this node's id and its configured description.
pub async fn serve_clients(
    listener: TcpListener,
    raft: Raft<TypeConfig>,
    reader: EngineReader,
    me: (NodeId, NodeInfo),
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(CLIENT_CONNECTIONS_MAX));
    let writer = Writer::new(raft);
    loop {
        let permit = permits.clone().acquire_owned().await.expect("the semaphore is never closed");
        let (stream, peer) = listener.accept().await?;
        let (writer, reader, me) = (writer.clone(), reader.clone(), me.clone());
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            if let Err(error) = serve_client_connection(stream, writer, reader, me).await {
                tracing::debug!(%peer, %error, "client connection closed");
            }
            drop(permit);
        });
    }
}

/// How long a forwarded command may take at the leader.
const FORWARD_DEADLINE: Duration = Duration::from_secs(10);

/// Answers one client connection until it closes (any byte stream: TCP in a node, a simulated
/// one in a simulation).
pub async fn serve_client_connection<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    writer: Writer,
    reader: EngineReader,
    me: (NodeId, NodeInfo),
) -> io::Result<()> {
    let raft = &writer.raft;
    let id = me.0;
    while let Some(request) = frame::read::<_, ClientRequest>(&mut stream).await? {
        let reply = match request {
            ClientRequest::Status => ClientReply::Status(status(raft, &reader, &me)),
            ClientRequest::Admin { request, forwarded } => crate::admin::handle(raft, request, forwarded).await,
            ClientRequest::Submit { body, forwarded } => submit(&writer, body, forwarded).await,
            ClientRequest::Read { query, follower_ok, forwarded } => {
                read(raft, &reader, id, query, follower_ok, forwarded).await
            }
        };
        frame::write(&mut stream, &reply).await?;
    }
    Ok(())
}

/// How the membership describes `me`, if that differs from `me`'s own configuration.
pub fn config_mismatch(raft: &Raft<TypeConfig>, me: &(NodeId, NodeInfo)) -> Option<String> {
    let metrics = raft.metrics().borrow().clone();
    let known = metrics.membership_config.membership().get_node(&me.0).cloned()?;
    (known != me.1).then(|| format!("the cluster knows node {} as {known:?}, its configuration says {:?}", me.0, me.1))
}

/// Waits (within `deadline`) until this node has applied every write the cluster committed
/// before the call: asks the leader for its read index (forwarding once if this node does not
/// lead) and waits to apply that far. False if that could not be done in time.
pub async fn catch_up(raft: &Raft<TypeConfig>, reader: &EngineReader, id: NodeId, deadline: Duration) -> bool {
    let work = async {
        let request_reply = read(raft, reader, id, Query::ReadIndex, false, false).await;
        let ClientReply::Read { answer: Answer::ReadIndex(index), .. } = request_reply else { return false };
        raft.wait(Some(deadline)).applied_index_at_least(Some(index), "catch up").await.is_ok()
    };
    tokio::time::timeout(deadline, work).await.unwrap_or(false)
}

/// This node's status.
pub fn status(raft: &Raft<TypeConfig>, reader: &EngineReader, me: &(NodeId, NodeInfo)) -> NodeStatus {
    let metrics = raft.metrics().borrow().clone();
    NodeStatus {
        id: me.0,
        config_mismatch: config_mismatch(raft, me),
        leader: metrics.current_leader,
        term: metrics.current_term,
        last_applied: metrics.last_applied.map(|log_id| log_id.index),
        digest: reader.read().digest_hex(),
    }
}

fn answer(reader: &EngineReader, query: &Query) -> Answer {
    let engine = reader.read();
    match *query {
        Query::Balance { account, asset } => Answer::Balance(engine.balance(account, asset)),
        Query::Digest => Answer::Digest(engine.digest_hex()),
        Query::Invariants => Answer::Invariants(engine.check_invariants()),
        // Only meaningful when linearizable; `read` answers it before reaching here.
        Query::ReadIndex => Answer::ReadIndex(0),
    }
}

async fn read(
    raft: &Raft<TypeConfig>,
    reader: &EngineReader,
    id: NodeId,
    query: Query,
    follower_ok: bool,
    forwarded: bool,
) -> ClientReply {
    if follower_ok && query != Query::ReadIndex {
        return ClientReply::Read { answer: answer(reader, &query), node: id };
    }
    match raft.ensure_linearizable().await {
        Ok(read_log_id) if query == Query::ReadIndex => {
            ClientReply::Read { answer: Answer::ReadIndex(read_log_id.map_or(0, |l| l.index)), node: id }
        }
        // The read index is applied once ensure_linearizable returns.
        Ok(_) => ClientReply::Read { answer: answer(reader, &query), node: id },
        Err(error) => {
            let request = ClientRequest::Read { query, follower_ok: false, forwarded: true };
            to_leader(error.forward_to_leader(), forwarded, request, FORWARD_DEADLINE, error.to_string()).await
        }
    }
}

/// Where a node reads the time it stamps commands with: ms since the Unix epoch. The OS clock
/// in a node; a simulation's clock (which it may make jump) in a simulation.
pub type Clock = Arc<dyn Fn() -> u64 + Send + Sync>;

/// The OS clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        since_epoch.map(|d| d.as_millis() as u64).unwrap_or(0)
    })
}

/// How long a command waits for a new leader when there is none, or the one this node knows
/// refuses connections (it died): longer than an election takes, shorter than the API's
/// write deadline. Holding the command here turns an election into latency for the client
/// instead of an error it must back off from.
pub const ELECTION_WAIT: Duration = Duration::from_secs(3);

/// Connecting to the leader; a connection that cannot be made carried nothing, so the command
/// can safely go to the next leader.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Least time between two attempts of one command while it waits for a leader.
const RETRY_PAUSE: Duration = Duration::from_millis(5);

/// A node's write side: its Raft handle, the batcher its commands go through, and the clock
/// it stamps them with.
#[derive(Clone)]
pub struct Writer {
    /// The Raft handle.
    pub raft: Raft<TypeConfig>,
    /// Group commit (see `batcher`).
    pub batcher: Batcher,
    /// The stamping clock.
    pub clock: Clock,
}

impl Writer {
    /// A writer with its own batcher, stamping with the OS clock (must be called inside a Tokio
    /// runtime).
    pub fn new(raft: Raft<TypeConfig>) -> Writer {
        Writer::with_clock(raft, system_clock())
    }

    /// A writer stamping with `clock`.
    pub fn with_clock(raft: Raft<TypeConfig>, clock: Clock) -> Writer {
        Writer { batcher: Batcher::start(raft.clone()), raft, clock }
    }
}

/// Replicates `body` (stamped with this node's clock) if this node leads, else forwards it once to
/// the leader, waiting up to `ELECTION_WAIT` for one. The reply is the outcome and commit index,
/// or `Unavailable` when it is not known to be done.
pub async fn submit(writer: &Writer, body: CommandBody, forwarded: bool) -> ClientReply {
    let raft = &writer.raft;
    let deadline = tokio::time::Instant::now() + ELECTION_WAIT;
    loop {
        let command = outlast_engine::Command { ts_ms: (writer.clock)(), body: body.clone() };
        #[cfg(feature = "planted-bugs")]
        if crate::planted::is(crate::planted::Bug::AckBeforeCommit)
            && raft.metrics().borrow().state == openraft::ServerState::Leader
        {
            // THE PLANTED BUG: acknowledge now, replicate later.
            let (writer, command) = (writer.clone(), command.clone());
            tokio::spawn(async move {
                let _ = writer.batcher.write(command).await;
            });
            let summary = outlast_engine::Summary::AccountCreated(0);
            return ClientReply::Outcome { outcome: Outcome::Applied(summary), index: 0 };
        }
        let error = match writer.batcher.write(command).await {
            Ok(Ok((outcome, index))) => return ClientReply::Outcome { outcome, index },
            Ok(Err(error)) => error,
            Err(why) => return ClientReply::Unavailable(why.into()),
        };
        let request = ClientRequest::Submit { body: body.clone(), forwarded: true };
        let forward = match error.forward_to_leader() {
            Some(forward) if !forwarded => forward.clone(),
            other => return to_leader(other, forwarded, request, FORWARD_DEADLINE, error.to_string()).await,
        };
        // Only a command that provably never left this node may wait and go elsewhere.
        let unreachable = match &forward.leader_node {
            Some(leader) => match tokio::time::timeout(CONNECT_TIMEOUT, Connection::open(&leader.client_addr)).await {
                Ok(Ok(mut connection)) => {
                    return connection
                        .request(&request, FORWARD_DEADLINE)
                        .await
                        .unwrap_or_else(|e| ClientReply::Unavailable(format!("leader {}: {e}", leader.client_addr)))
                }
                _ => forward.leader_id,
            },
            None => forward.leader_id,
        };
        // Paces the loop should this node's metrics and its write path briefly disagree.
        tokio::time::sleep(RETRY_PAUSE).await;
        if !wait_for_leader_other_than(raft, unreachable, deadline).await {
            return ClientReply::Unavailable(format!("no reachable leader within {ELECTION_WAIT:?}"));
        }
    }
}

/// Waits until this node knows a leader other than `gone`; false at `deadline`.
async fn wait_for_leader_other_than(
    raft: &Raft<TypeConfig>,
    gone: Option<NodeId>,
    deadline: tokio::time::Instant,
) -> bool {
    let timeout = deadline.saturating_duration_since(tokio::time::Instant::now());
    if timeout.is_zero() {
        return false;
    }
    let changed = raft
        .wait(Some(timeout))
        .metrics(|m| m.current_leader.is_some() && m.current_leader != gone, "a reachable leader")
        .await;
    changed.is_ok()
}

/// After a local attempt failed with `error`: sends `request` (already marked forwarded) to the
/// leader that `forward` names, unless this request was itself forwarded — one hop at most, so
/// stale views of the leader cannot make a loop.
pub(crate) async fn to_leader(
    forward: Option<&openraft::error::ForwardToLeader<NodeId, crate::types::NodeInfo>>,
    forwarded: bool,
    request: ClientRequest,
    deadline: Duration,
    error: String,
) -> ClientReply {
    match forward {
        Some(forward) if !forwarded => match &forward.leader_node {
            Some(leader) => call(&leader.client_addr, &request, deadline)
                .await
                .unwrap_or_else(|e| ClientReply::Unavailable(format!("leader {}: {e}", leader.client_addr))),
            None => ClientReply::Unavailable("no leader yet".into()),
        },
        Some(_) => ClientReply::Unavailable("not the leader (forwarded once already)".into()),
        None => ClientReply::Unavailable(error),
    }
}
