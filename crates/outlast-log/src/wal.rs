//! The segmented write-ahead log.
//!
//! Records have consecutive indexes. They are appended to the newest segment file,
//! `segment-<first index, 20 digits>.log`; a segment past `segment_bytes_max` is closed and a
//! new one started. Every `append` is one `write` and one `fdatasync`, so a batch of records
//! costs one disk flush (group commit). Each record's offset is kept in memory, so reads are
//! one positioned read. Truncating a suffix (a Raft conflict) cuts files in place; purging a
//! prefix (after a snapshot) deletes whole segments only, and the log hides what remains below
//! its first index.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::disk::{Disk, DiskFile};
use crate::meta;
use crate::record::{self, Scanned};

/// Sizes that bound the log's files and records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalOptions {
    /// A segment is closed once it holds this many bytes (64 MiB: big enough that rolling is
    /// rare, small enough that deleting one after a purge is cheap).
    pub segment_bytes_max: u64,
    /// The largest record payload accepted (16 MiB: far above a batch of commands; a larger
    /// length in a header is treated as corruption).
    pub record_bytes_max: u32,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions { segment_bytes_max: 64 << 20, record_bytes_max: 16 << 20 }
    }
}

/// Why the log could not be opened or written.
#[derive(Debug)]
pub enum WalError {
    /// The operating system refused an operation on `path`.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A complete record (or the sequence of records) is wrong. The log refuses to open rather
    /// than drop or guess at records that may have been acknowledged.
    Corrupt {
        /// The segment file.
        path: PathBuf,
        /// Byte offset of the bad record in that file.
        offset: u64,
        /// The index the record should have had.
        index: u64,
        /// What is wrong.
        why: String,
    },
    /// The caller broke the log's contract (non-consecutive index, read outside the log,
    /// oversized record). Nothing was written.
    Misuse(String),
}

impl std::fmt::Display for WalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            WalError::Corrupt { path, offset, index, why } => write!(
                f,
                "log corrupt at {} offset {offset} (record {index}): {why}; refusing to start rather than lose \
                 acknowledged entries — restore this node from a peer",
                path.display()
            ),
            WalError::Misuse(why) => write!(f, "log misuse: {why}"),
        }
    }
}

impl std::error::Error for WalError {}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> WalError + '_ {
    move |source| WalError::Io { path: path.to_path_buf(), source }
}

/// What opening the log found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Records found.
    pub records: u64,
    /// Bytes of an incomplete last record cut from the end of the newest segment.
    pub torn_bytes_cut: u64,
}

#[derive(Debug)]
struct Segment {
    first_index: u64,
    path: PathBuf,
    /// Shared with `Unsynced` handles, which make it durable without the log's lock.
    file: Arc<dyn DiskFile>,
    /// Offset of each record, in index order.
    offsets: Vec<u64>,
    len_bytes: u64,
}

/// The log. See the module docs.
#[derive(Debug)]
pub struct Wal {
    disk: Arc<dyn Disk>,
    dir: PathBuf,
    options: WalOptions,
    /// Oldest first; never empty once opened.
    segments: Vec<Segment>,
    /// The first index readable (entries below were purged).
    first_index: u64,
    /// The index the next append must start at.
    next_index: u64,
}

const SEGMENT_PREFIX: &str = "segment-";
const SEGMENT_SUFFIX: &str = ".log";
/// Where purging has reached, so a restart does not resurrect purged records.
const PURGED_META: &str = "purged";

fn segment_path(dir: &Path, first_index: u64) -> PathBuf {
    dir.join(format!("{SEGMENT_PREFIX}{first_index:020}{SEGMENT_SUFFIX}"))
}

impl Wal {
    /// Opens (or creates) the log in `dir`, verifying every record. See the crate docs for
    /// what is cut and what is refused.
    pub fn open(dir: &Path, options: WalOptions) -> Result<(Wal, Recovery), WalError> {
        Wal::open_on(crate::disk::os(), dir, options)
    }

    /// `open` on `disk`.
    pub fn open_on(disk: Arc<dyn Disk>, dir: &Path, options: WalOptions) -> Result<(Wal, Recovery), WalError> {
        disk.create_dir_all(dir).map_err(io_error(dir))?;
        let purged = meta::load_on(&*disk, dir, PURGED_META).map_err(io_error(dir))?;
        let purged_to = match purged {
            Some(bytes) => Some(u64::from_le_bytes(
                bytes.as_slice().try_into().map_err(|_| WalError::Misuse("purge marker has the wrong size".into()))?,
            )),
            None => None,
        };
        let mut firsts = Vec::new();
        for name in disk.file_names(dir).map_err(io_error(dir))? {
            if let Some(number) = name.strip_prefix(SEGMENT_PREFIX).and_then(|n| n.strip_suffix(SEGMENT_SUFFIX)) {
                let first: u64 = number.parse().map_err(|_| WalError::Corrupt {
                    path: dir.join(&name),
                    offset: 0,
                    index: 0,
                    why: "segment file name is not an index".into(),
                })?;
                firsts.push(first);
            }
        }
        firsts.sort_unstable();
        let mut wal =
            Wal { disk, dir: dir.to_path_buf(), options, segments: Vec::new(), first_index: 0, next_index: 0 };
        let mut recovery = Recovery::default();
        let count = firsts.len();
        for (position, first) in firsts.into_iter().enumerate() {
            let last = position + 1 == count;
            recovery.torn_bytes_cut += wal.load_segment(first, last)?;
        }
        if wal.segments.is_empty() {
            // Raft logs may start at index 0 (openraft's initial membership entry).
            let start = purged_to.map_or(0, |p| p + 1);
            wal.create_segment(start)?;
            wal.first_index = start;
            wal.next_index = start;
        } else {
            wal.first_index = wal.segments[0].first_index.max(purged_to.map_or(0, |p| p + 1));
        }
        recovery.records = wal.next_index - wal.first_index;
        Ok((wal, recovery))
    }

    /// Reads and verifies one segment file; returns bytes cut from a torn tail.
    fn load_segment(&mut self, first_index: u64, last: bool) -> Result<u64, WalError> {
        let path = segment_path(&self.dir, first_index);
        let bytes = self.disk.read(&path).map_err(io_error(&path))?;
        if let Some(previous) = self.segments.last() {
            if first_index != self.next_index {
                let why =
                    format!("segment starts at {first_index} but the previous one ends before {}", self.next_index);
                return Err(WalError::Corrupt {
                    path: previous.path.clone(),
                    offset: previous.len_bytes,
                    index: self.next_index,
                    why,
                });
            }
        }
        let mut offsets = Vec::new();
        let mut offset = 0usize;
        let mut expected = first_index;
        let mut cut = 0;
        loop {
            match record::scan(&bytes, offset, self.options.record_bytes_max) {
                Scanned::Record { index, end, .. } => {
                    if index != expected {
                        let why = format!("record has index {index}");
                        return Err(WalError::Corrupt { path, offset: offset as u64, index: expected, why });
                    }
                    offsets.push(offset as u64);
                    offset = end;
                    expected += 1;
                }
                Scanned::End => break,
                Scanned::Incomplete if last => {
                    // A write cut short by a crash: never synced, so never acknowledged.
                    cut = (bytes.len() - offset) as u64;
                    break;
                }
                Scanned::Incomplete => {
                    let why = "incomplete record inside a closed segment".to_string();
                    return Err(WalError::Corrupt { path, offset: offset as u64, index: expected, why });
                }
                Scanned::Corrupt(why) => {
                    return Err(WalError::Corrupt { path, offset: offset as u64, index: expected, why: why.into() });
                }
            }
        }
        let file: Arc<dyn DiskFile> = Arc::from(self.disk.open(&path, false).map_err(io_error(&path))?);
        if cut > 0 {
            file.set_len(offset as u64).map_err(io_error(&path))?;
            file.sync_all().map_err(io_error(&path))?;
        }
        self.next_index = expected;
        self.segments.push(Segment { first_index, path, file, offsets, len_bytes: offset as u64 });
        Ok(cut)
    }

    fn create_segment(&mut self, first_index: u64) -> Result<(), WalError> {
        let path = segment_path(&self.dir, first_index);
        // Only the newest segment is ever left unsynced (`append_unsynced` syncs the one it closes),
        // so an `Unsynced` handle needs to sync one file.
        if let Some(closed) = self.segments.last() {
            sync_data(&closed.file, &closed.path)?;
        }
        let file = Arc::from(self.disk.open(&path, true).map_err(io_error(&path))?);
        self.disk.sync_dir(&self.dir).map_err(io_error(&self.dir))?;
        self.segments.push(Segment { first_index, path, file, offsets: Vec::new(), len_bytes: 0 });
        Ok(())
    }

    /// The first readable index.
    pub fn first_index(&self) -> u64 {
        self.first_index
    }

    /// The index the next append must start at (one past the last record).
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// Appends records with consecutive indexes starting at `next_index()` and makes them
    /// durable before returning. An empty log (nothing readable) may start anywhere at or
    /// after its first index, e.g. just after a snapshot.
    pub fn append<'a>(&mut self, records: impl IntoIterator<Item = (u64, &'a [u8])>) -> Result<(), WalError> {
        self.append_unsynced(records)?;
        self.unsynced().sync()
    }

    /// What makes every record appended so far durable, without holding the log: several
    /// appends made meanwhile share the one `fdatasync` (group commit).
    pub fn unsynced(&self) -> Unsynced {
        let active = self.segments.last().expect("a log has a segment");
        Unsynced { file: active.file.clone(), path: active.path.clone() }
    }

    /// `append`, without making the records durable: they are readable at once, and durable
    /// once an `unsynced()` handle taken after this returns has synced. A crash before then may
    /// lose any suffix of them (never a record in the middle: the log cuts at the first bad one).
    pub fn append_unsynced<'a>(&mut self, records: impl IntoIterator<Item = (u64, &'a [u8])>) -> Result<(), WalError> {
        let mut buffer = Vec::new();
        let mut offsets = Vec::new();
        let mut start = None;
        let mut expected = self.next_index;
        for (index, payload) in records {
            if payload.len() > self.options.record_bytes_max as usize {
                return Err(WalError::Misuse(format!("record {index} has {} bytes", payload.len())));
            }
            if start.is_none() && index != expected && self.first_index == self.next_index && index > expected {
                // Starting a fresh log after a snapshot: restart it at `index`.
                self.restart_at(index)?;
                expected = index;
            }
            if index != expected {
                return Err(WalError::Misuse(format!("append of {index} where {expected} was expected")));
            }
            start.get_or_insert(index);
            offsets.push(buffer.len() as u64);
            record::encode(index, payload, &mut buffer);
            expected += 1;
        }
        if buffer.is_empty() {
            return Ok(());
        }
        let roll = {
            let active = self.segments.last().expect("a log has a segment");
            active.len_bytes > 0 && active.len_bytes + buffer.len() as u64 > self.options.segment_bytes_max
        };
        if roll {
            self.create_segment(self.next_index)?;
        }
        let active = self.segments.last_mut().expect("a log has a segment");
        let base = active.len_bytes;
        active.file.write_all_at(&buffer, base).map_err(io_error(&active.path))?;
        active.offsets.extend(offsets.into_iter().map(|o| base + o));
        active.len_bytes += buffer.len() as u64;
        self.next_index = expected;
        Ok(())
    }

    /// Reads the payloads of `from..to` (to exclusive).
    pub fn read(&self, from: u64, to: u64) -> Result<Vec<Vec<u8>>, WalError> {
        if from < self.first_index || to > self.next_index || from > to {
            let why = format!("read {from}..{to} outside {}..{}", self.first_index, self.next_index);
            return Err(WalError::Misuse(why));
        }
        let mut out = Vec::with_capacity((to - from) as usize);
        for index in from..to {
            out.push(self.read_one(index)?);
        }
        Ok(out)
    }

    fn read_one(&self, index: u64) -> Result<Vec<u8>, WalError> {
        let position = self.segments.partition_point(|s| s.first_index <= index) - 1;
        let segment = &self.segments[position];
        let slot = (index - segment.first_index) as usize;
        let offset = segment.offsets[slot];
        let end = segment.offsets.get(slot + 1).copied().unwrap_or(segment.len_bytes);
        let mut bytes = vec![0u8; (end - offset) as usize];
        segment.file.read_exact_at(&mut bytes, offset).map_err(io_error(&segment.path))?;
        match record::scan(&bytes, 0, self.options.record_bytes_max) {
            Scanned::Record { index: found, payload, .. } if found == index => Ok(bytes[payload].to_vec()),
            _ => Err(WalError::Corrupt {
                path: segment.path.clone(),
                offset,
                index,
                why: "record changed on disk after it was verified".into(),
            }),
        }
    }

    /// Removes records `index..` (a conflicting suffix), durably.
    pub fn truncate_from(&mut self, index: u64) -> Result<(), WalError> {
        if index >= self.next_index {
            return Ok(());
        }
        if index < self.first_index {
            return Err(WalError::Misuse(format!("truncate at {index} below the first index {}", self.first_index)));
        }
        while self.segments.len() > 1 && self.segments.last().expect("non-empty").first_index >= index {
            let segment = self.segments.pop().expect("non-empty");
            self.disk.remove(&segment.path).map_err(io_error(&segment.path))?;
        }
        self.disk.sync_dir(&self.dir).map_err(io_error(&self.dir))?;
        let active = self.segments.last_mut().expect("a log has a segment");
        let keep = index.saturating_sub(active.first_index) as usize;
        if keep < active.offsets.len() {
            let len = active.offsets[keep];
            active.file.set_len(len).map_err(io_error(&active.path))?;
            active.file.sync_all().map_err(io_error(&active.path))?;
            active.offsets.truncate(keep);
            active.len_bytes = len;
        }
        self.next_index = index;
        Ok(())
    }

    /// Forgets records `..=index` (covered by a snapshot), durably: whole segments below are
    /// deleted; the rest is hidden by the new first index.
    pub fn purge_to(&mut self, index: u64) -> Result<(), WalError> {
        if index < self.first_index {
            return Ok(());
        }
        meta::save_on(&*self.disk, &self.dir, PURGED_META, &index.to_le_bytes()).map_err(io_error(&self.dir))?;
        self.first_index = index + 1;
        if self.next_index < self.first_index {
            // Purged past the end (a snapshot newer than the log): the log restarts empty.
            self.restart_at(self.first_index)?;
            return Ok(());
        }
        while self.segments.len() > 1 && self.segments[1].first_index <= self.first_index {
            let segment = self.segments.remove(0);
            self.disk.remove(&segment.path).map_err(io_error(&segment.path))?;
        }
        self.disk.sync_dir(&self.dir).map_err(io_error(&self.dir))
    }

    /// Drops every segment and starts an empty log whose next index is `index`.
    fn restart_at(&mut self, index: u64) -> Result<(), WalError> {
        if let Some(purged) = index.checked_sub(1) {
            meta::save_on(&*self.disk, &self.dir, PURGED_META, &purged.to_le_bytes()).map_err(io_error(&self.dir))?;
        }
        for segment in self.segments.drain(..) {
            self.disk.remove(&segment.path).map_err(io_error(&segment.path))?;
        }
        self.create_segment(index)?;
        self.first_index = index;
        self.next_index = index;
        Ok(())
    }

    /// The directory the log lives in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The newest segment of a log, to be made durable without the log's lock (`Wal::unsynced`).
#[derive(Clone, Debug)]
pub struct Unsynced {
    file: Arc<dyn DiskFile>,
    path: PathBuf,
}

impl Unsynced {
    /// Makes every record appended before this handle was taken durable (`fdatasync`). Records
    /// appended since may be made durable too; only those before are promised.
    pub fn sync(&self) -> Result<(), WalError> {
        sync_data(&self.file, &self.path)
    }
}

/// `fdatasync` of one segment, timed (`latency::FSYNC`); skipped when the planted fault says so.
fn sync_data(file: &Arc<dyn DiskFile>, path: &Path) -> Result<(), WalError> {
    #[cfg(feature = "planted-faults")]
    if crate::planted::skips_append_sync() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    file.sync_data().map_err(io_error(path))?;
    crate::latency::FSYNC.observe_us(started.elapsed().as_micros() as u64);
    Ok(())
}
