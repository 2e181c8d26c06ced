//! The state machine: committed entries applied to the engine and its history, and snapshots.
//!
//! Applying is the engine's `apply` on each command, in log order; the outcome is what the
//! client that proposed the command gets back. The same outcome and events feed the read model
//! (`History`) and, after each batch, the event feed that market-data streams read. A snapshot
//! is the engine's canonical bytes and the history's, plus openraft's metadata, kept in one
//! atomically written file, so a restarted node starts from it and replays the log after it.
//! This module never touches the log.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use std::io;

use futures_util::TryStreamExt;
use openraft::storage::{EntryResponder, RaftStateMachine};
use openraft::RaftSnapshotBuilder;
use outlast_engine::{Engine, Event, Limits};
use outlast_history::{History, HistoryLimits};
use outlast_log::disk::Disk;
use outlast_log::meta;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::log_store::{decode, encode};
use crate::types::{EntryPayload, LogId, Snapshot, SnapshotData, SnapshotMeta, StoredMembership, TypeConfig};

const SNAPSHOT_META: &str = "snapshot";

/// Batches of applied events the feed buffers for its slowest subscriber. A subscriber that
/// falls further behind is told it lagged (and the API disconnects it) rather than skipping
/// silently.
pub const FEED_BATCHES_MAX: usize = 4_096;

/// The events of one applied log entry, as the feed delivers them.
#[derive(Clone, Debug)]
pub struct AppliedEvents {
    /// The log index of the entry.
    pub index: u64,
    /// Its events, in order (never empty).
    pub events: Vec<Event>,
}

/// The replicated state a snapshot carries: the engine's and the history's bytes.
#[derive(Serialize, Deserialize)]
struct StateBytes {
    engine: Vec<u8>,
    history: Vec<u8>,
}

impl StateBytes {
    fn restore(&self, hash_seed: u64) -> Result<(Engine, History), io::Error> {
        let engine = Engine::restore_with_seed(&self.engine, hash_seed).map_err(|e| snapshot_error(&e))?;
        let history = History::restore(&self.history).map_err(|e| snapshot_error(&e))?;
        Ok((engine, history))
    }
}

/// The engine as openraft's state machine.
#[derive(Debug)]
pub struct StateMachine {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    hash_seed: u64,
    /// Shared with readers (`EngineReader`); written only here, one batch of entries at a time.
    engine: Arc<RwLock<Engine>>,
    /// The read model; written right after the engine, under the engine's write lock.
    history: Arc<RwLock<History>>,
    feed: broadcast::Sender<Arc<AppliedEvents>>,
    last_applied: Option<LogId>,
    /// `last_applied`, for readers: written under the engine's write lock, so a reader holding
    /// the engine's read lock sees the id of exactly the state it reads.
    applied: Arc<RwLock<Option<LogId>>>,
    membership: StoredMembership,
}

/// What a snapshot file holds.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta,
    /// `StateBytes`, encoded: exactly what is sent to a follower that needs the snapshot.
    state: Vec<u8>,
}

fn snapshot_error(error: &(impl std::error::Error + 'static)) -> io::Error {
    io::Error::other(format!("reading a snapshot: {error}"))
}

fn snapshot_write_error(error: &(impl std::error::Error + 'static)) -> io::Error {
    io::Error::other(format!("writing a snapshot: {error}"))
}

/// The data format of `StateBytes` (the engine snapshot's, which leads it), if they decode.
pub(crate) fn state_format(state: &[u8]) -> Option<u32> {
    let state: StateBytes = decode(state).ok()?;
    postcard::take_from_bytes::<u32>(&state.engine).ok().map(|(format, _)| format)
}

/// The data format of the snapshot kept in `dir`, if there is one.
pub(crate) fn snapshot_format(disk: &dyn Disk, dir: &Path) -> Result<Option<u32>, String> {
    let file = load_snapshot(disk, dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(file.map(|file| state_format(&file.state).unwrap_or(outlast_engine::FORMAT_FIRST)))
}

fn load_snapshot(disk: &dyn Disk, dir: &Path) -> Result<Option<SnapshotFile>, io::Error> {
    match meta::load_on(disk, dir, SNAPSHOT_META).map_err(|e| snapshot_error(&e))? {
        Some(bytes) => Ok(Some(decode(&bytes).map_err(|e| snapshot_error(&e))?)),
        None => Ok(None),
    }
}

impl StateMachine {
    /// Opens the state machine in `dir`: from its last snapshot if there is one, else empty
    /// with `limits`. `hash_seed` seeds the engine's user-keyed maps (see `Engine::with_hash_seed`).
    pub fn open(dir: &Path, limits: Limits, hash_seed: u64) -> Result<StateMachine, io::Error> {
        StateMachine::open_on(outlast_log::disk::os(), dir, limits, hash_seed)
    }

    /// `open` on `disk` (a simulated one in a simulation).
    pub fn open_on(disk: Arc<dyn Disk>, dir: &Path, limits: Limits, hash_seed: u64) -> Result<StateMachine, io::Error> {
        disk.create_dir_all(dir).map_err(|e| snapshot_error(&e))?;
        let mut machine = StateMachine {
            disk: disk.clone(),
            dir: dir.to_path_buf(),
            hash_seed,
            engine: Arc::new(RwLock::new(Engine::with_hash_seed(limits, hash_seed))),
            history: Arc::new(RwLock::new(History::new(HistoryLimits::default()))),
            feed: broadcast::channel(FEED_BATCHES_MAX).0,
            last_applied: None,
            applied: Arc::new(RwLock::new(None)),
            membership: StoredMembership::default(),
        };
        if let Some(file) = load_snapshot(&*disk, dir)? {
            let state: StateBytes = decode(&file.state).map_err(|e| snapshot_error(&e))?;
            let (engine, history) = state.restore(hash_seed)?;
            machine.engine = Arc::new(RwLock::new(engine));
            machine.history = Arc::new(RwLock::new(history));
            machine.last_applied = file.meta.last_log_id;
            machine.applied = Arc::new(RwLock::new(file.meta.last_log_id));
            machine.membership = file.meta.last_membership;
        }
        Ok(machine)
    }

    /// A handle that reads the engine as it is applied (digests, balances, books).
    pub fn reader(&self) -> EngineReader {
        EngineReader {
            engine: self.engine.clone(),
            history: self.history.clone(),
            applied: self.applied.clone(),
            feed: self.feed.clone(),
            log: None,
        }
    }
}

/// The replicated state at one log index, as a backup takes it: `StateBytes`, encoded (what a
/// snapshot carries), and the id of the last entry applied to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    /// The last entry applied (none: the empty state).
    pub last_log_id: Option<LogId>,
    /// The engine's and the history's bytes.
    pub state: Vec<u8>,
}

impl Export {
    /// The export as bytes (postcard), as a backup stores it.
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// An export from `to_bytes`'s bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Export, String> {
        decode(bytes).map_err(|e| format!("not a state export: {e}"))
    }

    /// The engine's digest of this state (restoring it checks every invariant).
    pub fn digest(&self) -> Result<String, String> {
        let state: StateBytes = decode(&self.state).map_err(|e| format!("state: {e}"))?;
        let engine = Engine::restore_with_seed(&state.engine, 0).map_err(|e| format!("engine: {e}"))?;
        Ok(engine.digest_hex())
    }
}

/// Read access to the applied engine and history, shared with the state machine, and the feed
/// of applied events.
#[derive(Clone, Debug)]
pub struct EngineReader {
    engine: Arc<RwLock<Engine>>,
    history: Arc<RwLock<History>>,
    applied: Arc<RwLock<Option<LogId>>>,
    feed: broadcast::Sender<Arc<AppliedEvents>>,
    /// The node's log, for backups (`committed_records`); none in a reader of a bare machine.
    log: Option<crate::log_store::LogStore>,
}

impl EngineReader {
    /// This reader, able to read the node's log too.
    pub fn with_log(mut self, log: crate::log_store::LogStore) -> EngineReader {
        self.log = Some(log);
        self
    }

    /// The applied state and the id of its last entry, taken together (applying waits
    /// meanwhile): what a backup ships as its base.
    pub fn export(&self) -> Export {
        let engine = self.read();
        let history = self.history();
        let last_log_id = *self.applied.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        let state = encode(&StateBytes { engine: engine.snapshot(), history: history.snapshot() });
        Export { last_log_id, state }
    }

    /// The log's records `from..` up to the last applied entry, at most `count_max` of them and
    /// about `bytes_max` bytes (at least one): entries a quorum holds, as stored (postcard of
    /// openraft's entry). `Err` if `from` was purged (take an `export` instead) or there is no
    /// log here.
    pub fn committed_records(&self, from: u64, count_max: u64, bytes_max: usize) -> Result<Vec<Vec<u8>>, String> {
        let log = self.log.as_ref().ok_or("this reader has no log")?;
        let applied = self.applied.read().unwrap_or_else(|poisoned| poisoned.into_inner()).map_or(0, |id| id.index);
        log.records(from, applied.saturating_add(1).min(from.saturating_add(count_max)), bytes_max)
    }

    /// The index of the last applied entry (0: none).
    pub fn applied_index(&self) -> u64 {
        self.applied.read().unwrap_or_else(|poisoned| poisoned.into_inner()).map_or(0, |id| id.index)
    }
    /// Locks the engine for reading (briefly: applying waits meanwhile). Take it before
    /// `history` when holding both, as applying does.
    pub fn read(&self) -> RwLockReadGuard<'_, Engine> {
        self.engine.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Locks the history for reading.
    pub fn history(&self) -> RwLockReadGuard<'_, History> {
        self.history.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Subscribes to applied events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<AppliedEvents>> {
        self.feed.subscribe()
    }
}

/// Builds a snapshot from a copy of the engine taken when it was asked for.
#[derive(Debug)]
pub struct SnapshotBuilder {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    engine: Engine,
    history: History,
    last_applied: Option<LogId>,
    membership: StoredMembership,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<Snapshot, io::Error> {
        // The state's data format leads the engine's bytes (`state_format`).
        let state = encode(&StateBytes { engine: self.engine.snapshot(), history: self.history.snapshot() });
        let meta = SnapshotMeta { last_log_id: self.last_applied, last_membership: self.membership.clone() };
        let file = SnapshotFile { meta: meta.clone(), state };
        meta::save_on(&*self.disk, &self.dir, SNAPSHOT_META, &encode(&file)).map_err(|e| snapshot_write_error(&e))?;
        Ok(Snapshot { meta, snapshot: Cursor::new(file.state) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), io::Error> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, entries: Strm) -> Result<(), io::Error>
    where
        Strm:
            futures_util::Stream<Item = Result<EntryResponder<TypeConfig>, io::Error>> + Unpin + openraft::OptionalSend,
    {
        // Taken whole first: the engine's lock is a std lock, never held across an await.
        let entries: Vec<EntryResponder<TypeConfig>> = entries.try_collect().await?;
        let mut replies = Vec::with_capacity(entries.len());
        let mut applied = Vec::new();
        let (engine, history) = (self.engine.clone(), self.history.clone());
        // A panic while applying means a broken invariant, and the node is going down anyway.
        let mut engine = engine.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut history = history.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (entry, responder) in entries {
            self.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => replies.push((responder, Vec::new())),
                EntryPayload::Normal(batch) => {
                    let mut events = Vec::new();
                    let mut outcomes = Vec::with_capacity(batch.commands.len());
                    for (i, command) in batch.commands.iter().enumerate() {
                        // The next command's id slot is fetched while this one applies.
                        if let Some(next) = batch.commands.get(i + 1) {
                            engine.prefetch(next);
                        }
                        let first_event = events.len();
                        let outcome = engine.apply(command, &mut events);
                        history.record(&engine, command, &outcome, &events[first_event..]);
                        outcomes.push(outcome);
                    }
                    if !events.is_empty() {
                        applied.push(Arc::new(AppliedEvents { index: entry.log_id.index, events }));
                    }
                    replies.push((responder, outcomes));
                }
                EntryPayload::Membership(membership) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), membership);
                    replies.push((responder, Vec::new()));
                }
            }
        }
        *self.applied.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = self.last_applied;
        drop((engine, history));
        for batch in applied {
            // No subscribers is not an error: nobody is watching.
            let _ = self.feed.send(batch);
        }
        // Answered once the state readers see includes the entry.
        for (responder, outcomes) in replies {
            if let Some(responder) = responder {
                responder.send(outcomes);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            disk: self.disk.clone(),
            dir: self.dir.clone(),
            engine: self.engine.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone(),
            history: self.history.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
        }
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: SnapshotData) -> Result<(), io::Error> {
        let bytes = snapshot.into_inner();
        // Restore checks every invariant: a bad snapshot is refused before anything changes.
        let state: StateBytes = decode(&bytes).map_err(|e| snapshot_error(&e))?;
        let (engine, history) = state.restore(self.hash_seed)?;
        let file = SnapshotFile { meta: meta.clone(), state: bytes };
        meta::save_on(&*self.disk, &self.dir, SNAPSHOT_META, &encode(&file)).map_err(|e| snapshot_write_error(&e))?;
        let mut engine_guard = self.engine.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        *engine_guard = engine;
        *self.history.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = history;
        *self.applied.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = meta.last_log_id;
        drop(engine_guard);
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, io::Error> {
        Ok(load_snapshot(&*self.disk, &self.dir)?
            .map(|file| Snapshot { meta: file.meta, snapshot: Cursor::new(file.state) }))
    }
}
