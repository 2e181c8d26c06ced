//! The one fault this crate can plant, to show that the checks (the simulation's, the chaos
//! checker's) catch it (feature `planted-faults` only; a release build has none of this code). Switched on through
//! `outlast_cluster::planted`, the one switch for every planted fault.
//!
//! Must never: be reachable in a node built without the feature.

use std::sync::atomic::{AtomicBool, Ordering};

static SKIP_APPEND_SYNC: AtomicBool = AtomicBool::new(false);

/// Plants "acknowledge before fsync" for the whole process: `Wal::append` returns without
/// `fdatasync`, so an appended record is reported durable while it may still be lost in a crash.
pub fn skip_append_sync() {
    SKIP_APPEND_SYNC.store(true, Ordering::SeqCst);
}

/// Whether appends skip their `fdatasync`.
pub fn skips_append_sync() -> bool {
    SKIP_APPEND_SYNC.load(Ordering::Relaxed)
}
