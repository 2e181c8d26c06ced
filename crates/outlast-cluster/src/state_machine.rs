//! The state machine: committed entries applied to the engine, and engine snapshots.
//!
//! Applying is the engine's `apply` on each command, in log order; the outcome is what the
//! client that proposed the command gets back. A snapshot is the engine's canonical bytes plus
//! openraft's metadata, kept in one atomically written file, so a restarted node starts from it
//! and replays the log after it. This module never touches the log.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, RaftSnapshotBuilder, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership,
};
use outlast_engine::{Engine, Limits};
use outlast_log::meta;
use serde::{Deserialize, Serialize};

use crate::log_store::{decode, encode};
use crate::types::{NodeId, NodeInfo, TypeConfig};

const SNAPSHOT_META: &str = "snapshot";

/// The engine as openraft's state machine.
#[derive(Debug)]
pub struct StateMachine {
    dir: PathBuf,
    hash_seed: u64,
    /// Shared with readers (`EngineReader`); written only here, one batch of entries at a time.
    engine: Arc<RwLock<Engine>>,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, NodeInfo>,
    /// Scratch for events (their subscribers come with the API).
    events: Vec<outlast_engine::Event>,
}

/// What a snapshot file holds.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta<NodeId, NodeInfo>,
    engine: Vec<u8>,
}

fn snapshot_error(error: &(impl std::error::Error + 'static)) -> StorageError<NodeId> {
    StorageIOError::read_snapshot(None, AnyError::new(error)).into()
}

fn load_snapshot(dir: &Path) -> Result<Option<SnapshotFile>, StorageError<NodeId>> {
    match meta::load(dir, SNAPSHOT_META).map_err(|e| snapshot_error(&e))? {
        Some(bytes) => Ok(Some(decode(&bytes).map_err(|e| snapshot_error(&e))?)),
        None => Ok(None),
    }
}

impl StateMachine {
    /// Opens the state machine in `dir`: from its last snapshot if there is one, else empty
    /// with `limits`. `hash_seed` seeds the engine's user-keyed maps (see `Engine::with_hash_seed`).
    pub fn open(dir: &Path, limits: Limits, hash_seed: u64) -> Result<StateMachine, StorageError<NodeId>> {
        std::fs::create_dir_all(dir).map_err(|e| snapshot_error(&e))?;
        let mut machine = StateMachine {
            dir: dir.to_path_buf(),
            hash_seed,
            engine: Arc::new(RwLock::new(Engine::with_hash_seed(limits, hash_seed))),
            last_applied: None,
            membership: StoredMembership::default(),
            events: Vec::new(),
        };
        if let Some(file) = load_snapshot(dir)? {
            let engine = Engine::restore_with_seed(&file.engine, hash_seed).map_err(|e| snapshot_error(&e))?;
            machine.engine = Arc::new(RwLock::new(engine));
            machine.last_applied = file.meta.last_log_id;
            machine.membership = file.meta.last_membership;
        }
        Ok(machine)
    }

    /// A handle that reads the engine as it is applied (digests, balances, books).
    pub fn reader(&self) -> EngineReader {
        EngineReader { engine: self.engine.clone() }
    }

    fn write_engine(&self) -> std::sync::RwLockWriteGuard<'_, Engine> {
        // A panic while applying means a broken invariant, and the node is going down anyway.
        self.engine.write().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Read access to the applied engine, shared with the state machine.
#[derive(Clone, Debug)]
pub struct EngineReader {
    engine: Arc<RwLock<Engine>>,
}

impl EngineReader {
    /// Locks the engine for reading (briefly: applying waits meanwhile).
    pub fn read(&self) -> RwLockReadGuard<'_, Engine> {
        self.engine.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Builds a snapshot from a copy of the engine taken when it was asked for.
#[derive(Debug)]
pub struct SnapshotBuilder {
    dir: PathBuf,
    engine: Engine,
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, NodeInfo>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let engine = self.engine.snapshot();
        let snapshot_id = match self.last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id, id.index, self.engine.digest_hex()),
            None => format!("empty-{}", self.engine.digest_hex()),
        };
        let meta =
            SnapshotMeta { last_log_id: self.last_applied, last_membership: self.membership.clone(), snapshot_id };
        let file = SnapshotFile { meta: meta.clone(), engine };
        meta::save(&self.dir, SNAPSHOT_META, &encode(&file))
            .map_err(|e| StorageError::from(StorageIOError::write_snapshot(None, AnyError::new(&e))))?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(file.engine)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, NodeInfo>), StorageError<NodeId>> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Option<outlast_engine::Outcome>>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + openraft::OptionalSend,
        I::IntoIter: openraft::OptionalSend,
    {
        let mut replies = Vec::new();
        let engine = self.engine.clone();
        let mut engine = engine.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => replies.push(None),
                EntryPayload::Normal(command) => {
                    self.events.clear();
                    replies.push(Some(engine.apply(&command, &mut self.events)));
                }
                EntryPayload::Membership(membership) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), membership);
                    replies.push(None);
                }
            }
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            dir: self.dir.clone(),
            engine: self.engine.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, NodeInfo>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let bytes = snapshot.into_inner();
        // Restore checks every invariant: a bad snapshot is refused before anything changes.
        let engine = Engine::restore_with_seed(&bytes, self.hash_seed).map_err(|e| snapshot_error(&e))?;
        let file = SnapshotFile { meta: meta.clone(), engine: bytes };
        meta::save(&self.dir, SNAPSHOT_META, &encode(&file))
            .map_err(|e| StorageError::from(StorageIOError::write_snapshot(None, AnyError::new(&e))))?;
        *self.write_engine() = engine;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        Ok(load_snapshot(&self.dir)?
            .map(|file| Snapshot { meta: file.meta, snapshot: Box::new(Cursor::new(file.engine)) }))
    }
}
