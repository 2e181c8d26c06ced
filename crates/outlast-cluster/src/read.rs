//! Reads of applied state: linearizable through the leader's read index (forwarded once by a
//! follower), or from this node's own state when the caller accepts staleness; and catching
//! this node up to the leader's read index. Concurrent reads share read-index rounds
//! (`shared_round`), at the leader and at a follower asking it.
//!
//! Must never: answer a linearizable read from a node that has not confirmed its leadership
//! with a quorum, after the read arrived, and applied up to the read index. (A build with the
//! test-only feature `planted-faults` breaks this on purpose when told to; see `planted`.)

use openraft::async_runtime::WatchReceiver;
use std::time::Duration;

use openraft::error::{LinearizableReadError, RaftError};
use openraft::raft::ReadPolicy;

use crate::forward::{to_leader, FORWARD_DEADLINE};
use crate::network::Dialer;
use crate::protocol::{Answer, ClientReply, ClientRequest, Query};
use crate::shared_round::SharedRound;
use crate::state_machine::EngineReader;
use crate::types::{NodeId, TypeConfig};
use crate::write::Writer;

/// What a leader's confirmation round answers: the read index, applied here once it is `Ok`.
type Confirmed = Result<u64, RaftError<TypeConfig, LinearizableReadError<TypeConfig>>>;

/// A node's shared read-index rounds: its own confirmations as leader, and its requests for the
/// leader's read index when catching up.
#[derive(Default)]
pub struct ReadRounds {
    confirm: SharedRound<Confirmed>,
    fetch_index: SharedRound<Option<u64>>,
}

impl ReadRounds {
    /// Rounds started: (leadership confirmations, read-index requests as a follower).
    pub fn started(&self) -> (u64, u64) {
        (self.confirm.rounds_started(), self.fetch_index.rounds_started())
    }
}

/// Answers `query` (`forwarded` if it came from another node), forwarding through the writer's
/// pool to the leader when it must be linearizable and this node does not lead.
pub async fn read<D: Dialer>(
    writer: &Writer<D>,
    id: NodeId,
    query: Query,
    follower_ok: bool,
    forwarded: bool,
) -> ClientReply {
    if (follower_ok || planted_stale_read()) && query != Query::ReadIndex {
        return ClientReply::Read { answer: answer(&writer.reader, &query), node: id };
    }
    // A leader whose clock is past the bound is stepping back (`clocks`): confirming a read
    // index would send the followers the very heartbeats it stopped, and keep it leading.
    let leading = writer.raft.metrics().borrow_watched().state == openraft::ServerState::Leader;
    if leading {
        if let Some(why) = writer.clocks.unfit() {
            return ClientReply::NotSent(why);
        }
    }
    // `ensure_linearizable` returns once the read index it confirmed is applied here.
    match writer
        .reads
        .confirm
        .run(|| async { writer.raft.ensure_linearizable(ReadPolicy::ReadIndex).await.map(|read| read.index()) })
        .await
    {
        Ok(read_index) if query == Query::ReadIndex => {
            ClientReply::Read { answer: Answer::ReadIndex(read_index), node: id }
        }
        Ok(_) => ClientReply::Read { answer: answer(&writer.reader, &query), node: id },
        Err(error) => {
            let request = ClientRequest::Read { query, follower_ok: false, forwarded: true };
            let why = error.to_string();
            let pool = &writer.pool;
            to_leader(pool, error.forward_to_leader(), forwarded, request, FORWARD_DEADLINE, why, true).await
        }
    }
}

/// Waits (within `deadline`) until this node has applied every write the cluster committed
/// before the call: asks the leader for its read index (forwarding once if this node does not
/// lead) and waits to apply that far. False if that could not be done in time.
pub async fn catch_up<D: Dialer>(writer: &Writer<D>, id: NodeId, deadline: Duration) -> bool {
    if planted_stale_read() {
        return true;
    }
    let raft = &writer.raft;
    // A leader cut off from its quorum cannot confirm anything; no need to wait to learn that.
    if crate::quorum::lost(raft) {
        return false;
    }
    let work = async {
        let fetch = || async {
            match read(writer, id, Query::ReadIndex, false, false).await {
                ClientReply::Read { answer: Answer::ReadIndex(index), .. } => Some(index),
                _ => None,
            }
        };
        let Some(index) = writer.reads.fetch_index.run(fetch).await else { return false };
        raft.wait(Some(deadline)).applied_index_at_least(Some(index), "catch up").await.is_ok()
    };
    tokio::time::timeout(deadline, work).await.unwrap_or(false)
}

/// THE PLANTED FAULT stale-read (feature `planted-faults`, when planted): linearizable reads
/// and catching up skip the read index, so a node answers from whatever it has applied.
fn planted_stale_read() -> bool {
    #[cfg(feature = "planted-faults")]
    return crate::planted::is(crate::planted::Bug::StaleRead);
    #[cfg(not(feature = "planted-faults"))]
    false
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
