//! Small metadata files written atomically: the vote, the purge point, and the like.
//!
//! A value is written to `NAME.tmp`, synced, renamed over `NAME`, and the directory synced, so
//! after a crash `NAME` holds either the old value or the new one, never a mix. The file carries
//! a CRC32C so that a damaged value is reported, not trusted.

use std::io;
use std::path::Path;

use crate::disk::{Disk, OsDisk};

/// Writes `value` as `dir/name`, durably and atomically, on the OS's disk.
pub fn save(dir: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    save_on(&OsDisk, dir, name, value)
}

/// `save` on `disk`.
pub fn save_on(disk: &dyn Disk, dir: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    disk.write_new(&tmp, &with_checksum(value), true)?;
    disk.rename(&tmp, &dir.join(name))?;
    disk.sync_dir(dir)
}

/// Writes `value` as `dir/name` atomically but without syncing: after a crash the file holds
/// the new value, an older one, or none — for hints whose loss only costs time.
pub fn save_unsynced(dir: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    save_unsynced_on(&OsDisk, dir, name, value)
}

/// `save_unsynced` on `disk`.
pub fn save_unsynced_on(disk: &dyn Disk, dir: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    disk.write_new(&tmp, &with_checksum(value), false)?;
    disk.rename(&tmp, &dir.join(name))
}

fn with_checksum(value: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4 + value.len());
    bytes.extend_from_slice(&crc32c::crc32c(value).to_le_bytes());
    bytes.extend_from_slice(value);
    bytes
}

/// Reads `dir/name`: `Ok(None)` if it was never written, an error if it is damaged.
pub fn load(dir: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    load_on(&OsDisk, dir, name)
}

/// `load` on `disk`.
pub fn load_on(disk: &dyn Disk, dir: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let bytes = match disk.read(&dir.join(name)) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let damaged = || io::Error::new(io::ErrorKind::InvalidData, format!("{name}: checksum mismatch, file is damaged"));
    if bytes.len() < 4 {
        return Err(damaged());
    }
    let (crc, value) = bytes.split_at(4);
    if crc32c::crc32c(value) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err(damaged());
    }
    Ok(Some(value.to_vec()))
}

/// Makes a directory's entries (created, renamed, removed files) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    OsDisk.sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn saved_values_load_back_and_damage_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path(), "vote").unwrap(), None);
        save(dir.path(), "vote", b"term 3").unwrap();
        save(dir.path(), "vote", b"term 4").unwrap();
        assert_eq!(load(dir.path(), "vote").unwrap().as_deref(), Some(&b"term 4"[..]));
        // A leftover temporary file from a crash is ignored.
        fs::write(dir.path().join("vote.tmp"), b"garbage").unwrap();
        assert_eq!(load(dir.path(), "vote").unwrap().as_deref(), Some(&b"term 4"[..]));
        let mut bytes = fs::read(dir.path().join("vote")).unwrap();
        bytes[5] ^= 1;
        fs::write(dir.path().join("vote"), bytes).unwrap();
        assert_eq!(load(dir.path(), "vote").unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
