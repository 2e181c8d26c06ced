//! Group commit for commands: every command that arrives while earlier entries are on their
//! way to durability rides in the next log entry, so concurrent clients share one fsync and one
//! replication round instead of paying one each.
//!
//! Each `client_write` is one log entry to openraft, with its own encoding, log record and reply;
//! under openraft 0.9, which also waited for each append's fsync before taking the next, the
//! leader's throughput without this was one command per fsync whatever the concurrency (0.10
//! merges queued appends itself, but an entry per command still costs a record and a reply
//! each). A lone client is not delayed: with nothing in flight its command leaves at once, alone.
//!
//! The batcher never reorders: commands enter an entry in arrival order and apply in that
//! order. It never answers for a command that did not commit: every waiter gets its own
//! outcome from the applied entry, or the write's error.

use std::sync::Arc;

use crate::types::Raft;
use openraft::error::{ClientWriteError, RaftError};
use outlast_engine::{Command, Outcome};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::types::{Batch, TypeConfig};

/// Commands per log entry at most (bounds an entry's size and apply time).
pub const BATCH_COMMANDS_MAX: usize = 1_024;
/// Entries in flight at once from one batcher: while they are made durable and replicated, the
/// next batch gathers. A flight lasts until commit, which across a WAN is a round trip or two,
/// so too few flights leave commands waiting here while openraft could already ship them in the
/// next AppendEntries (WAN benchmark, 16 clients: p50 273 ms with 2, 181 ms with 8; loopback
/// throughput at 256 clients within noise of each other).
pub const FLIGHTS_MAX: usize = 8;
/// Commands waiting for an entry; a full queue makes callers wait.
pub const QUEUED_MAX: usize = 16_384;

/// A write's error as openraft reports it.
pub type WriteError = RaftError<TypeConfig, ClientWriteError<TypeConfig>>;

/// What a waiting command gets back: its outcome and its entry's log index, or the error.
pub type Written = Result<(Outcome, u64), WriteError>;

struct Waiting {
    command: Command,
    reply: oneshot::Sender<Written>,
}

/// A handle to one node's batcher. Cheap to clone; the batcher stops when every handle is gone.
#[derive(Clone, Debug)]
pub struct Batcher {
    queue: mpsc::Sender<Waiting>,
}

impl Batcher {
    /// Starts a batcher writing through `raft`.
    pub fn start(raft: Raft) -> Batcher {
        let (queue, waiting) = mpsc::channel(QUEUED_MAX);
        tokio::spawn(run(raft, waiting));
        Batcher { queue }
    }

    /// Replicates `command` in the next entry and returns its outcome once applied here.
    pub async fn write(&self, command: Command) -> Result<Written, &'static str> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Waiting { command, reply }).await.map_err(|_| "the batcher stopped")?;
        answer.await.map_err(|_| "the batcher dropped the command")
    }
}

async fn run(raft: Raft, mut waiting: mpsc::Receiver<Waiting>) {
    let flights = Arc::new(Semaphore::new(FLIGHTS_MAX));
    loop {
        // A free flight first: while none is free, commands keep gathering in the queue.
        let Ok(flight) = flights.clone().acquire_owned().await else { return };
        let Some(first) = waiting.recv().await else { return };
        let mut batch = vec![first];
        while batch.len() < BATCH_COMMANDS_MAX {
            match waiting.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            let (commands, replies): (Vec<Command>, Vec<oneshot::Sender<Written>>) =
                batch.into_iter().map(|w| (w.command, w.reply)).unzip();
            let count = commands.len();
            let result = raft.client_write(Batch { format: crate::format::of_commands(&commands), commands }).await;
            drop(flight);
            match result {
                Ok(response) => {
                    let index = response.log_id.index;
                    assert_eq!(response.data.len(), count, "one outcome per command of the entry");
                    for (outcome, reply) in response.data.into_iter().zip(replies) {
                        let _ = reply.send(Ok((outcome, index)));
                    }
                }
                Err(error) => {
                    for reply in replies {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
        });
    }
}
