//! Bugs a simulation can plant to show that its checks catch them (feature `planted-bugs`
//! only; a normal build has none of this code).
//!
//! Must never: be reachable in a node built without the feature.

use std::sync::atomic::{AtomicU8, Ordering};

/// A plantable bug.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Bug {
    /// The leader acknowledges a command as soon as it has queued it, before it is committed:
    /// a leader that is cut off or dies then loses acknowledged writes.
    AckBeforeCommit = 1,
    /// Every node's log reports an append durable without its `fdatasync`: a crash then loses
    /// entries a quorum had acknowledged.
    AckBeforeFsync = 2,
}

static PLANTED: AtomicU8 = AtomicU8::new(0);

/// Plants `bug` for the whole process (a simulation run).
pub fn plant(bug: Bug) {
    PLANTED.store(bug as u8, Ordering::SeqCst);
    if bug == Bug::AckBeforeFsync {
        outlast_log::planted::skip_append_sync();
    }
}

/// Whether `bug` is planted.
pub fn is(bug: Bug) -> bool {
    PLANTED.load(Ordering::Relaxed) == bug as u8
}
