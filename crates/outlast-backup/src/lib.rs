//! Continuous backups of a cluster to object storage, and restores onto new hosts.
//!
//! `ship` runs beside a cluster (`outlast backup`): it takes a base (a node's applied state at
//! some index, `Export`) and then, every interval, the committed log records after what it
//! already shipped, writes each as an object, replays them on a replica of its own to know the
//! state's digest, and only then replaces the `manifest` — the one object that says what the
//! backup holds (cluster id, formats, base, segments, last index, digest, each object's
//! SHA-256). A manifest is written after every object it names, so a reader never sees one
//! that points at something missing. `restore` (`outlast restore`) reads a manifest, checks
//! every object against it, replays the log onto the base, refuses a state whose digest
//! differs, and writes the data directories of a new cluster with a new membership.
//! `store` opens `s3://`, `gs://`, `az://` or `file://` destinations through `object_store`.
//!
//! The backup RPO is the interval plus one round of uploads: an acknowledged write is in the
//! backup once the manifest after its commit is written.
//!
//! Must never: ship a record that is not committed (it reads only what a node applied), or
//! write a manifest before the objects it names.

#![deny(missing_docs)]

pub mod manifest;
pub mod restore;
pub mod ship;
pub mod store;

pub use manifest::Manifest;
pub use ship::{ship, ShipConfig, ShipStats, Source};
pub use store::Destination;
