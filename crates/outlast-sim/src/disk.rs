//! The simulated disk: turmoil's per-host file system behind `outlast_log::disk::Disk`.
//!
//! Writes are pending until synced; a crash loses what was pending (files never synced vanish)
//! and, with a block size set, may keep a torn prefix of a write. The log and snapshot code
//! above is the production code; only the file system under it is simulated.
//!
//! Must never: touch the OS's file system.

use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

use outlast_log::disk::{Disk, DiskFile};
use turmoil::fs::shim::std::fs as simfs;

/// The current host's simulated file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimDisk;

impl Disk for SimDisk {
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        simfs::create_dir_all(dir)
    }

    fn file_names(&self, dir: &Path) -> io::Result<Vec<String>> {
        simfs::read_dir(dir)?.map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned())).collect()
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        simfs::read(path)
    }

    fn open(&self, path: &Path, create_new: bool) -> io::Result<Box<dyn DiskFile>> {
        let file = simfs::OpenOptions::new().read(true).write(true).create_new(create_new).open(path)?;
        Ok(Box::new(SimFile(file)))
    }

    fn write_new(&self, path: &Path, bytes: &[u8], sync: bool) -> io::Result<()> {
        let mut file = simfs::File::create(path)?;
        file.write_all(bytes)?;
        if sync {
            file.sync_all()?;
        }
        Ok(())
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        simfs::remove_file(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        simfs::rename(from, to)
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        simfs::sync_dir(dir)
    }
}

/// A simulated open file.
#[derive(Debug)]
struct SimFile(simfs::File);

impl DiskFile for SimFile {
    fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        FileExt::write_all_at(&self.0, bytes, offset)
    }

    fn read_exact_at(&self, bytes: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(&self.0, bytes, offset)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }
}
