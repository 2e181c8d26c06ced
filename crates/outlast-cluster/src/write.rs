//! The write path: a command submitted on any node is stamped and replicated by the leader.
//!
//! The leader stamps the command's time with its clock and hands it to its `batcher`; the reply
//! is the engine's outcome and the entry's log index, after commit and apply. A follower
//! forwards the command once to the leader through the node's dialer; with no reachable leader
//! it holds the command up to `ELECTION_WAIT` for the next one.
//!
//! Must never: acknowledge a command before it is committed and applied; send a command on to
//! another leader after an attempt whose fate is unknown unless the engine applies a repeat of
//! it as a duplicate (`resendable`: account requests and deposits) — any other command goes on
//! only if it provably never left this node (a connection that could not be made carried
//! nothing, or the leader answered `NotSent`); or answer `NotSent` for a command that may have
//! reached a leader. (A build with the test-only feature `planted-faults` breaks the first rule
//! on purpose when told to; see `planted`.)

use openraft::async_runtime::WatchReceiver;
use openraft::error::{ClientWriteError, ForwardReason, RaftError};
use std::sync::Arc;
use std::time::Duration;

use crate::types::Raft;
use outlast_engine::CommandBody;
use outlast_tls::Identity;

use crate::batcher::Batcher;
use crate::forward::{to_leader, FORWARD_DEADLINE};
use crate::network::{Dialer, TcpDialer};
use crate::pool::{Lease, Pool};
use crate::protocol::{ClientReply, ClientRequest};
use crate::state_machine::EngineReader;
use crate::types::NodeId;

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

/// A node's write side: its Raft handle, the batcher its commands go through, the clock it
/// stamps them with, its applied engine, and the dialer it forwards to the leader with. One
/// per node, shared by the internal protocol and the API. Cheap to clone.
#[derive(Clone)]
pub struct Writer<D: Dialer = TcpDialer> {
    /// The Raft handle.
    pub raft: Raft,
    /// Group commit (see `batcher`).
    pub batcher: Batcher,
    /// The stamping clock.
    pub clock: Clock,
    /// The applied engine.
    pub reader: EngineReader,
    /// How this node reaches other nodes' client addresses.
    pub dialer: D,
    /// Kept-open connections to them, for forwarding.
    pub pool: Pool<D>,
    /// Read-index rounds shared among concurrent reads (see `read`).
    pub reads: std::sync::Arc<crate::read::ReadRounds>,
    /// The operator token, relayed with commands only an operator may give (see `authority`);
    /// `None` on a node without an operator API.
    pub operator_token: Option<std::sync::Arc<str>>,
    /// How far this node's clock is from the others' (see `clocks`): past the bound, it does not
    /// stamp commands.
    pub clocks: crate::clocks::ClockWatch,
}

impl<D: Dialer> Writer<D> {
    /// A writer with its own batcher (must be called inside a Tokio runtime).
    pub fn new(raft: Raft, reader: EngineReader, clock: Clock, dialer: D) -> Writer<D> {
        let (batcher, pool, reads) = (Batcher::start(raft.clone()), Pool::new(dialer.clone()), Default::default());
        Writer { batcher, raft, clock, reader, pool, dialer, reads, operator_token: None, clocks: Default::default() }
    }
}

/// The operator token to relay with `body`: only with a command only an operator may give.
fn relayed_token<D: Dialer>(writer: &Writer<D>, body: &CommandBody) -> Option<String> {
    writer.operator_token.as_deref().filter(|_| crate::authority::operator_only(body)).map(String::from)
}

/// Most times one command is sent again to a newer leader after an attempt whose fate is unknown.
const RESENDS_MAX: u32 = 3;

/// Whether `body` may be sent again after an attempt whose fate is unknown: the engine applies
/// a repeat of it as a duplicate with the original outcome (an account request by (account,
/// request id), a deposit by its chain transaction id), so a second copy changes nothing.
fn resendable(body: &CommandBody) -> bool {
    matches!(body, CommandBody::Account(_) | CommandBody::Deposit { .. })
}

/// Replicates `body` (stamped with this node's clock) if this node leads, else forwards it to the
/// leader, waiting up to `ELECTION_WAIT` for one. The reply is the outcome and commit index;
/// `NotSent` when it provably went nowhere; `Unavailable` when its fate is unknown.
///
/// Gray failures cost no more than crashes: a leader that has lost its quorum refuses new
/// commands at once and answers one in flight as unknown (`quorum`); a forwarded command that
/// can safely be repeated (`resendable`) is sent again as soon as this node learns of a newer
/// leader, instead of waiting out the deadline on a leader that stopped answering (paused, or
/// unable to send), and again after an attempt that broke off.
///
/// `operator` is who gave an operator command, for the audit trail (`None` for an account
/// request, which names its account itself).
pub async fn submit<D: Dialer>(
    writer: &Writer<D>,
    body: CommandBody,
    operator: Option<String>,
    forwarded: bool,
) -> ClientReply {
    // Nothing of a format the cluster has not finalised enters the log: a voter on the older
    // build could not read it. Finalising itself waits until every voter could. (Only a kind
    // newer than the first format can be refused: the common path takes no engine lock.)
    if body.format_since() > outlast_engine::FORMAT_FIRST {
        if let Some(why) = crate::format::not_enabled(&body, writer.reader.read().format()) {
            return ClientReply::NotEnabled(why);
        }
    }
    if let CommandBody::FinalizeFormat { format } = &body {
        if !forwarded {
            if let Err(why) = crate::upgrade::voters_ready(writer, *format).await {
                return ClientReply::NotEnabled(why);
            }
        }
    }
    let raft = &writer.raft;
    let deadline = tokio::time::Instant::now() + ELECTION_WAIT;
    let mut resends = 0;
    // Whether some attempt may have reached a leader: from then on "not done" is not provable.
    let mut sent = false;
    loop {
        if crate::quorum::lost(raft) {
            return not_done(sent, "this node leads without a quorum behind it".into());
        }
        let command =
            outlast_engine::Command { ts_ms: (writer.clock)(), body: body.clone(), operator: operator.clone() };
        #[cfg(feature = "planted-faults")]
        if let Some(premature) = planted_ack_before_commit(writer, &command) {
            return premature;
        }
        let leading = raft.metrics().borrow_watched().state == openraft::ServerState::Leader;
        if leading {
            if let Some(why) = writer.clocks.unfit() {
                return not_done(sent, why);
            }
        }
        // `biased`: polled in this order, not by a random draw, so that a simulated run does not
        // depend on the thread's random state when both are ready at once.
        let written = tokio::select! {
            biased;
            written = writer.batcher.write(command) => written,
            () = crate::quorum::until_lost(raft) => {
                return ClientReply::Unavailable("the leader lost its quorum with the command in flight".into());
            }
        };
        let error = match written {
            Ok(Ok((outcome, index))) => return ClientReply::Outcome { outcome, index },
            Ok(Err(error)) => error,
            Err(why) => return ClientReply::Unavailable(why.into()),
        };
        // openraft 0.10 says whether the entry was appended: `ForwardToLeader` refuses a proposal
        // before appending it; `LogEntryDiscarded` means it was appended and then lost to another
        // leader's log, and may still commit through a node that holds it (so may a write whose
        // fate is unknown, a stopped Raft's).
        let refused = match &error {
            RaftError::APIError(ClientWriteError::ForwardToLeader(forward)) => Some(forward.reason),
            _ => None,
        };
        // Refused while no quorum acknowledged this leader within its lease (CheckQuorum): wait
        // for the next acknowledgement or a new leader, within the deadline, and try again.
        if refused == Some(ForwardReason::LeaseExpired) {
            if tokio::time::Instant::now() >= deadline {
                return not_done(sent, format!("no quorum acknowledged this leader within {ELECTION_WAIT:?}"));
            }
            // Not on any change of the metrics: openraft republishes them after every request it
            // handles, this refusal included, so that would be a busy loop (one that never lets
            // a simulation's clock move).
            let acked = raft.metrics().borrow_watched().last_quorum_acked;
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let _ = raft
                .wait(Some(remaining))
                .metrics(|m| m.state != openraft::ServerState::Leader || m.last_quorum_acked != acked, "a quorum ack")
                .await;
            continue;
        }
        if refused.is_none() {
            sent = true;
            if forwarded || !resendable(&body) {
                return ClientReply::Unavailable(format!("lost leadership with the command in flight: {error}"));
            }
        }
        let operator_token = relayed_token(writer, &body);
        let request =
            ClientRequest::Submit { body: body.clone(), forwarded: true, operator_token, operator: operator.clone() };
        let forward = match error.forward_to_leader() {
            Some(forward) if !forwarded => forward.clone(),
            other => {
                let why = error.to_string();
                return to_leader(&writer.pool, other, forwarded, request, FORWARD_DEADLINE, why, false).await;
            }
        };
        // The leader to wait past before the next attempt.
        let gone = match &forward.leader_node {
            Some(leader) => {
                let addr = &leader.client_addr;
                let peer = forward.leader_id.map_or(Identity::AnyNode, Identity::Node);
                // Only a command that may arrive twice rides a kept connection (see `pool`).
                match writer.pool.checkout(addr, &peer, resendable(&body), CONNECT_TIMEOUT).await {
                    Ok(Lease { mut connection, reused }) => {
                        let unknown = |e: std::io::Error| ClientReply::Unavailable(format!("leader {addr}: {e}"));
                        if !resendable(&body) || resends >= RESENDS_MAX {
                            let reply = connection.request(&request, FORWARD_DEADLINE).await;
                            if reply.is_ok() {
                                writer.pool.checkin(addr, connection);
                            }
                            match reply {
                                // The leader refused before doing anything: try the next one.
                                Ok(ClientReply::NotSent(_)) => forward.leader_id,
                                reply => return reply.unwrap_or_else(unknown),
                            }
                        } else {
                            resends += 1;
                            let answered = tokio::select! {
                                biased;
                                reply = connection.request(&request, FORWARD_DEADLINE) => Some(reply),
                                // A newer leader is known while the old one keeps silent.
                                true = changed_from(raft, forward.leader_id) => None,
                            };
                            match answered {
                                Some(Ok(reply)) => {
                                    writer.pool.checkin(addr, connection);
                                    match reply {
                                        ClientReply::NotSent(_) => forward.leader_id,
                                        reply => return reply,
                                    }
                                }
                                // A kept connection broke: the leader may be fine (it dropped an
                                // old connection). Repeating is safe: again at once, on a new one.
                                Some(Err(_)) if reused => {
                                    writer.pool.forget(addr);
                                    sent = true;
                                    None
                                }
                                // Broke off after sending: the command may or may not have
                                // applied; repeating it is safe, so it goes to the next leader.
                                Some(Err(_)) => {
                                    sent = true;
                                    forward.leader_id
                                }
                                None => {
                                    sent = true;
                                    None
                                }
                            }
                        }
                    }
                    // Could not connect: the command never left this node.
                    Err(_) => forward.leader_id,
                }
            }
            None => forward.leader_id,
        };
        // Paces the loop should this node's metrics and its write path briefly disagree.
        tokio::time::sleep(RETRY_PAUSE).await;
        if !wait_for_leader_other_than(raft, gone, deadline).await {
            return not_done(sent, format!("no reachable leader within {ELECTION_WAIT:?}"));
        }
    }
}

/// The reply when a command is given up on: provably not done if no attempt was ever sent,
/// else unknown.
fn not_done(sent: bool, why: String) -> ClientReply {
    if sent {
        ClientReply::Unavailable(why)
    } else {
        ClientReply::NotSent(why)
    }
}

/// Returns true once this node knows a leader other than `leader`; false only if Raft stops.
async fn changed_from(raft: &Raft, leader: Option<NodeId>) -> bool {
    let newer = |m: &crate::types::RaftMetrics| m.current_leader.is_some() && m.current_leader != leader;
    raft.wait(None).metrics(newer, "a newer leader").await.is_ok()
}

/// THE PLANTED FAULT ack-before-commit (feature `planted-faults`, when planted): a leader
/// answers a client's money operation (account request or deposit) at once with the outcome
/// predicted on a copy of its applied state, and replicates it afterwards; a leader that dies or
/// is cut off first loses a write it acknowledged. Set-up commands stay honest so that a run
/// reaches its workload. `None`: not planted, not the leader, or not such a command.
#[cfg(feature = "planted-faults")]
fn planted_ack_before_commit<D: Dialer>(writer: &Writer<D>, command: &outlast_engine::Command) -> Option<ClientReply> {
    let money = matches!(command.body, CommandBody::Account(_) | CommandBody::Deposit { .. });
    let leads = writer.raft.metrics().borrow_watched().state == openraft::ServerState::Leader;
    if !crate::planted::is(crate::planted::Bug::AckBeforeCommit) || !money || !leads {
        return None;
    }
    let outcome = writer.reader.read().clone().apply(command, &mut Vec::new());
    let (batcher, command) = (writer.batcher.clone(), command.clone());
    tokio::spawn(async move {
        let _ = batcher.write(command).await;
    });
    Some(ClientReply::Outcome { outcome, index: 0 })
}

/// Waits until this node knows a leader other than `gone`; false at `deadline`.
async fn wait_for_leader_other_than(raft: &Raft, gone: Option<NodeId>, deadline: tokio::time::Instant) -> bool {
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
