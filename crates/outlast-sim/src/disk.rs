//! The simulated disk: turmoil's per-host file system behind `outlast_log::disk::Disk`.
//!
//! Writes are pending until synced; a crash loses what was pending (files never synced vanish)
//! and, with a block size set, may keep a torn prefix of a write. The log and snapshot code
//! above is the production code; only the file system under it is simulated.
//!
//! A disk can also be made to fail: while a `DiskErrors` fault lasts, each operation fails
//! with EIO at a rate the plan drew, decided by the simulation's own seeded generator (not
//! turmoil's, whose error rate is fixed for a whole run).
//!
//! Must never: touch the OS's file system.

use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use outlast_log::disk::{Disk, DiskFile};
use turmoil::fs::shim::std::fs as simfs;

use crate::rng::Rng;

/// A host's disk health, set by the simulation loop and read by every disk operation.
#[derive(Debug)]
pub struct DiskFaults {
    /// Chance per operation, in millionths, that it fails with EIO; 0 while healthy.
    error_ppm: AtomicU64,
    rng: Mutex<Rng>,
}

impl DiskFaults {
    /// A healthy disk whose failures, once switched on, are drawn from `seed` and `stream`.
    pub fn new(seed: u64, stream: u64) -> DiskFaults {
        DiskFaults { error_ppm: AtomicU64::new(0), rng: Mutex::new(Rng::new(seed, stream)) }
    }

    /// Makes operations fail at `error_ppm` (0: healthy again).
    pub fn set_error_ppm(&self, error_ppm: u64) {
        assert!(error_ppm <= 1_000_000);
        self.error_ppm.store(error_ppm, Ordering::Relaxed);
    }

    /// Fails the operation about to run, or lets it through.
    fn strike(&self, operation: &str) -> io::Result<()> {
        let error_ppm = self.error_ppm.load(Ordering::Relaxed);
        if error_ppm == 0 {
            return Ok(());
        }
        let draw = self.rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).below(1_000_000);
        if draw < error_ppm {
            return Err(io::Error::other(format!("simulated I/O error in {operation}")));
        }
        Ok(())
    }
}

/// The current host's simulated file system.
#[derive(Clone, Debug)]
pub struct SimDisk {
    faults: Arc<DiskFaults>,
}

impl SimDisk {
    /// The current host's disk, failing as `faults` says.
    pub fn new(faults: Arc<DiskFaults>) -> SimDisk {
        SimDisk { faults }
    }
}

impl Disk for SimDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        self.faults.strike("mkdir")?;
        simfs::create_dir_all(dir)
    }

    fn file_names(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.faults.strike("readdir")?;
        simfs::read_dir(dir)?.map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned())).collect()
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.faults.strike("read")?;
        simfs::read(path)
    }

    fn open(&self, path: &Path, create_new: bool) -> io::Result<Box<dyn DiskFile>> {
        self.faults.strike("open")?;
        let file = simfs::OpenOptions::new().read(true).write(true).create_new(create_new).open(path)?;
        Ok(Box::new(SimFile { file, faults: self.faults.clone() }))
    }

    fn write_new(&self, path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
        self.faults.strike("write")?;
        let mut file = simfs::File::create(path)?;
        file.write_all(bytes)?;
        if sync {
            self.faults.strike("fsync")?;
            file.sync_all()?;
        }
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        self.faults.strike("unlink")?;
        simfs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.faults.strike("rename")?;
        simfs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        self.faults.strike("fsync of a directory")?;
        simfs::sync_dir(dir)
    }
}

/// A simulated open file.
#[derive(Debug)]
struct SimFile {
    file: simfs::File,
    faults: Arc<DiskFaults>,
}

impl DiskFile for SimFile {
    fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        self.faults.strike("write")?;
        FileExt::write_all_at(&self.file, bytes, offset)
    }

    fn read_exact_at(&self, bytes: &mut [u8], offset: u64) -> io::Result<()> {
        self.faults.strike("read")?;
        FileExt::read_exact_at(&self.file, bytes, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.faults.strike("truncate")?;
        self.file.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.faults.strike("fdatasync")?;
        self.file.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.faults.strike("fsync")?;
        self.file.sync_all()
    }
}
