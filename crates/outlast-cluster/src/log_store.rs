//! The Raft log on disk: openraft's `RaftLogStorage` over `outlast-log`.
//!
//! Each entry is stored as one log record at its Raft index (postcard-encoded, checksummed by
//! the log). `append` reports the entries flushed only after the log's `fdatasync` returns, so
//! openraft never counts an entry toward a quorum before it is durable. The vote and the last
//! purged log id are small files written atomically. The committed log id is a hint written at
//! most every `COMMITTED_SAVE_EVERY` without fsync: after a restart openraft applies up to it at
//! once, so a restarted node serves nearly current state instead of an empty one until its
//! leader speaks; losing it only costs that. This module never looks inside commands.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{IOFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader};
use outlast_log::disk::Disk;
use outlast_log::{meta, Wal, WalOptions};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::types::{Entry, EntryPayload, LogId, TypeConfig, Vote};

const VOTE_META: &str = "vote";
const COMMITTED_META: &str = "committed";
/// How often the committed-index hint is written at most.
const COMMITTED_SAVE_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
const PURGED_META: &str = "last-purged-log-id";
/// The newest data format of any entry ever written into this log (see `format`).
const FORMAT_META: &str = "format";

/// The Raft log store. Clones share the same log (openraft reads through a clone while it
/// appends through another).
#[derive(Clone, Debug)]
pub struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    wal: Wal,
    vote: Option<Vote>,
    last_purged: Option<LogId>,
    committed: Option<LogId>,
    committed_saved_at: Option<tokio::time::Instant>,
    /// `FORMAT_META`'s value.
    format_mark: u32,
}

/// The newest data format written into the log in `dir` (`FORMAT_FIRST` for a new log).
pub(crate) fn format_mark(disk: &dyn Disk, dir: &Path) -> Result<u32, String> {
    match meta::load_on(disk, dir, FORMAT_META).map_err(|e| format!("{}: {e}", dir.display()))? {
        Some(bytes) => decode(&bytes).map_err(|e| format!("{}: format mark: {e}", dir.display())),
        None => Ok(outlast_engine::FORMAT_FIRST),
    }
}

/// An entry's data format: its batch's; Raft's own entries are the first format.
fn entry_format(entry: &Entry) -> u32 {
    match &entry.payload {
        EntryPayload::Normal(batch) => batch.format,
        _ => outlast_engine::FORMAT_FIRST,
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_allocvec(value).expect("encoding into memory cannot fail")
}

pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, io::Error> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn read_error(error: &(impl std::error::Error + 'static)) -> io::Error {
    io::Error::other(format!("reading the log: {error}"))
}

fn write_error(error: &(impl std::error::Error + 'static)) -> io::Error {
    io::Error::other(format!("writing the log: {error}"))
}

impl LogStore {
    /// Opens the log in `dir`, verifying it (see `outlast_log::Wal::open`). A corrupt log is an
    /// error: the node must not start on it.
    pub fn open(dir: &Path) -> Result<LogStore, io::Error> {
        LogStore::open_on(outlast_log::disk::os(), dir)
    }

    /// `open` on `disk` (a simulated one in a simulation).
    pub fn open_on(disk: Arc<dyn Disk>, dir: &Path) -> Result<LogStore, io::Error> {
        let format_mark = format_mark(&*disk, dir).map_err(|e| read_error(&io::Error::other(e)))?;
        if let Some(why) = crate::format::refusal(format_mark, &format!("the log in {}", dir.display())) {
            return Err(read_error(&io::Error::other(why)));
        }
        let (wal, _recovery) = Wal::open_on(disk.clone(), dir, WalOptions::default()).map_err(|e| read_error(&e))?;
        let load = |name| -> Result<Option<Vec<u8>>, io::Error> {
            meta::load_on(&*disk, dir, name).map_err(|e| read_error(&e))
        };
        let vote = load(VOTE_META)?.map(|b| decode(&b)).transpose().map_err(|e| read_error(&e))?;
        let last_purged = load(PURGED_META)?.map(|b| decode(&b)).transpose().map_err(|e| read_error(&e))?;
        // A damaged hint is no hint.
        let committed: Option<LogId> = meta::load_on(&*disk, dir, COMMITTED_META)
            .ok()
            .flatten()
            .and_then(|b| decode::<Option<LogId>>(&b).ok())
            .flatten();
        // The hint never points past the log (a log cut at a torn tail may be shorter).
        let next_index = wal.next_index();
        let committed =
            committed.filter(|c| c.index < next_index || last_purged.is_some_and(|p: LogId| c.index <= p.index));
        let inner = Inner {
            disk,
            dir: dir.to_path_buf(),
            wal,
            vote,
            last_purged,
            committed,
            committed_saved_at: None,
            format_mark,
        };
        Ok(LogStore { inner: Arc::new(Mutex::new(inner)) })
    }

    /// The id of the last entry in the log (or of the last purged one, if none is left).
    pub fn last_log_id(&self) -> Result<Option<LogId>, io::Error> {
        let inner = self.lock();
        let (first, next) = (inner.wal.first_index(), inner.wal.next_index());
        if next <= first {
            return Ok(inner.last_purged);
        }
        let bytes = inner.wal.read(next - 1, next).map_err(|e| read_error(&e))?;
        let last: Entry = decode(&bytes[0]).map_err(|e| read_error(&e))?;
        Ok(Some(last.log_id))
    }

    /// Records `from..to` as stored (each one entry, postcard-encoded), stopping after about
    /// `bytes_max` bytes (at least one record). `Err` if `from` was purged.
    pub fn records(&self, from: u64, to: u64, bytes_max: usize) -> Result<Vec<Vec<u8>>, String> {
        let inner = self.lock();
        let (first, next) = (inner.wal.first_index(), inner.wal.next_index());
        if from < first {
            return Err(format!("entries before {first} were purged (covered by a snapshot)"));
        }
        let to = to.min(next);
        let mut records = Vec::new();
        let mut bytes = 0;
        let mut index = from;
        while index < to && (records.is_empty() || bytes < bytes_max) {
            let end = (index + 64).min(to);
            for record in inner.wal.read(index, end).map_err(|e| e.to_string())? {
                bytes += record.len();
                records.push(record);
            }
            index = end;
        }
        Ok(records)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock means a panic mid-write; the log's own recovery handles what is on
        // disk, and the in-memory index was updated only after each write succeeded.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, io::Error> {
        let inner = self.lock();
        let (first, next) = (inner.wal.first_index(), inner.wal.next_index());
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s + 1,
            Bound::Unbounded => first,
        }
        .max(first);
        let end = match range.end_bound() {
            Bound::Included(&e) => e + 1,
            Bound::Excluded(&e) => e,
            Bound::Unbounded => next,
        }
        .min(next);
        if start >= end {
            return Ok(Vec::new());
        }
        let records = inner.wal.read(start, end).map_err(|e| read_error(&e))?;
        records.iter().map(|bytes| decode(bytes).map_err(|e| read_error(&e))).collect()
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, io::Error> {
        Ok(self.lock().vote)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, io::Error> {
        let last_log_id = self.last_log_id()?;
        Ok(LogState { last_purged_log_id: self.lock().last_purged, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), io::Error> {
        let mut inner = self.lock();
        meta::save_on(&*inner.disk, &inner.dir, VOTE_META, &encode(vote))
            .map_err(|e| io::Error::other(format!("saving the vote: {e}")))?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), io::Error> {
        let mut inner = self.lock();
        inner.committed = committed;
        let due = inner.committed_saved_at.is_none_or(|at| at.elapsed() >= COMMITTED_SAVE_EVERY);
        if due {
            inner.committed_saved_at = Some(tokio::time::Instant::now());
            // A hint: failing to write it is not an error worth stopping for.
            if let Err(error) = meta::save_unsynced_on(&*inner.disk, &inner.dir, COMMITTED_META, &encode(&committed)) {
                tracing::warn!(%error, "cannot save the committed index hint");
            }
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, io::Error> {
        Ok(self.lock().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> Result<(), io::Error>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut newest = outlast_engine::FORMAT_FIRST;
        let encoded: Vec<(u64, Vec<u8>)> = entries
            .into_iter()
            .map(|e| {
                newest = newest.max(entry_format(&e));
                (e.log_id.index, encode(&e))
            })
            .collect();
        let mut inner = self.lock();
        // The mark is durable before the entries it covers: an older build never finds an
        // entry newer than the mark says.
        if newest > inner.format_mark {
            if let Err(error) = meta::save_on(&*inner.disk, &inner.dir, FORMAT_META, &encode(&newest)) {
                callback.io_completed(Err(io::Error::other(error.to_string())));
                return Err(write_error(&error));
            }
            inner.format_mark = newest;
        }
        // Durable before reported: `Wal::append` returns after fdatasync.
        match inner.wal.append(encoded.iter().map(|(index, bytes)| (*index, bytes.as_slice()))) {
            Ok(()) => {
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(error) => {
                callback.io_completed(Err(io::Error::other(error.to_string())));
                Err(write_error(&error))
            }
        }
    }

    async fn truncate_after(&mut self, last: Option<LogId>) -> Result<(), io::Error> {
        let mut inner = self.lock();
        let from = last.map_or(inner.wal.first_index(), |last| last.index + 1);
        inner.wal.truncate_from(from).map_err(|e| write_error(&e))
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), io::Error> {
        let mut inner = self.lock();
        // The purge point is recorded first, so a crash in between leaves extra entries behind
        // it, never a gap in front of it.
        meta::save_on(&*inner.disk, &inner.dir, PURGED_META, &encode(&log_id)).map_err(|e| write_error(&e))?;
        inner.last_purged = Some(log_id);
        inner.wal.purge_to(log_id.index).map_err(|e| write_error(&e))
    }
}
