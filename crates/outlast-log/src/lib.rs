//! Outlast's durable log: the bytes a node must never lose or silently change.
//!
//! A [`Wal`] stores opaque records (the replicated log's entries) by consecutive index in
//! segment files, each record checksummed with CRC32C, and makes an append durable with one
//! `fdatasync` per batch before it returns — nothing may be acknowledged before that. On open it
//! verifies every record: an incomplete record at the very end of the last segment is a torn
//! write from a crash (it was never durable, so never acknowledged) and is cut; any complete
//! record that fails its checksum, anywhere, is corruption and opening fails with its location —
//! the log is never silently shortened. Small metadata (the vote, the purge point) is written
//! atomically with [`meta`].
//!
//! This crate knows nothing of Raft or of the engine: records are bytes. It must never
//! acknowledge an append before `fdatasync` has returned.

#![deny(missing_docs)]

pub mod disk;
pub mod latency;
pub mod meta;
#[cfg(feature = "planted-faults")]
pub mod planted;
pub mod record;
mod wal;

pub use wal::{Recovery, Unsynced, Wal, WalError, WalOptions};
