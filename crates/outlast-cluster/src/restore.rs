//! A backup's state, rebuilt and written as a new cluster's data directories.
//!
//! A backup is a base (`Export`: the state at some index) and the committed log records after
//! it. `replay` applies the records to the base through the state machine's own `apply`, in
//! a scratch directory, and gives the state at the last record with its digest. `write_member`
//! then makes one new node's data directory hold exactly that state as a snapshot whose
//! membership is the new cluster's, an empty log that continues after it, and a vote in the
//! backup's last term, so the new nodes elect a leader among themselves and carry on from
//! that index with new addresses.
//!
//! Must never: write into a data directory that holds anything, or produce a state whose
//! digest was not checked by the caller against the backup's manifest.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::path::Path;

use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::Membership;
use outlast_engine::Limits;

use crate::log_store::{decode, LogStore};
use crate::state_machine::{Export, StateMachine};
use crate::types::{Entry, NodeId, NodeInfo, SnapshotMeta, StoredMembership, Vote};

/// A state machine that follows a backup: a base, then log records in order. `outlast backup`
/// keeps one to know the digest of what it shipped; a restore replays the whole backup on one.
pub struct Replica {
    machine: StateMachine,
    next: u64,
}

impl Replica {
    /// A replica at `base`, kept in `scratch` (a directory the caller removes).
    pub async fn new(scratch: &Path, base: &Export) -> Result<Replica, String> {
        let mut machine =
            StateMachine::open(scratch, Limits::default(), 0).map_err(|e| format!("scratch state: {e}"))?;
        if let Some(id) = base.last_log_id {
            let meta = SnapshotMeta { last_log_id: Some(id), last_membership: StoredMembership::default() };
            machine
                .install_snapshot(&meta, Cursor::new(base.state.clone()))
                .await
                .map_err(|e| format!("the backup's base does not restore: {e}"))?;
        }
        Ok(Replica { machine, next: base.last_log_id.map_or(1, |id| id.index + 1) })
    }

    /// Applies `records`, which must continue exactly where the replica is.
    pub async fn apply(&mut self, records: &[Vec<u8>]) -> Result<(), String> {
        let mut entries = Vec::with_capacity(records.len());
        for record in records {
            let entry: Entry = decode(record).map_err(|e| format!("log record {}: {e}", self.next))?;
            if entry.log_id.index != self.next {
                return Err(format!("log record {} is missing (found {})", self.next, entry.log_id.index));
            }
            self.next += 1;
            entries.push(Ok((entry, None)));
        }
        self.machine
            .apply(futures_util::stream::iter(entries))
            .await
            .map_err(|e| format!("applying the backup's log: {e}"))?;
        Ok(())
    }

    /// The index the next record must have.
    pub fn next_index(&self) -> u64 {
        self.next
    }

    /// The engine's digest now.
    pub fn digest(&self) -> String {
        self.machine.reader().read().digest_hex()
    }

    /// The state now.
    pub fn export(&self) -> Export {
        self.machine.reader().export()
    }
}

/// Applies `records` (consecutive log records right after `base`) to `base` in `scratch`;
/// returns the state after the last one.
pub async fn replay(scratch: &Path, base: &Export, records: &[Vec<u8>]) -> Result<Export, String> {
    let mut replica = Replica::new(scratch, base).await?;
    replica.apply(records).await?;
    Ok(replica.export())
}

/// Writes `state` into the empty `data_dir` of one node of a new cluster whose voters are
/// `members` (every one of them, with the addresses the new cluster uses).
pub async fn write_member(data_dir: &Path, state: &Export, members: &BTreeMap<NodeId, NodeInfo>) -> Result<(), String> {
    let id = state.last_log_id.ok_or("the backup holds no applied entry")?;
    if std::fs::read_dir(data_dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(format!("{} is not empty: a restore writes only into empty data directories", data_dir.display()));
    }
    let voters: BTreeSet<NodeId> = members.keys().copied().collect();
    let membership = Membership::new(vec![voters], members.clone()).map_err(|e| format!("the new membership: {e}"))?;
    let mut machine = StateMachine::open(&data_dir.join("state"), Limits::default(), 0)
        .map_err(|e| format!("{}: {e}", data_dir.display()))?;
    crate::state_machine::state_format(&state.state).ok_or("the backup's state does not decode")?;
    let meta = SnapshotMeta { last_log_id: Some(id), last_membership: StoredMembership::new(Some(id), membership) };
    machine
        .install_snapshot(&meta, Cursor::new(state.state.clone()))
        .await
        .map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let mut log = LogStore::open(&data_dir.join("log")).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    log.purge(id).await.map_err(|e| format!("{}: {e}", data_dir.display()))?;
    // A vote in the backup's last term, for nobody: the first election is in a later term, so
    // every entry the new leader writes comes after the restored ones.
    log.save_vote(&Vote::new(id.leader_id.term, 0)).await.map_err(|e| format!("{}: {e}", data_dir.display()))?;
    Ok(())
}
