//! The one switch for planted faults: bugs a test build can be told to commit, to show that
//! the simulation's and the chaos checker's checks catch them (feature `planted-faults` only;
//! a normal build has none of this code).
//!
//! Each fault is implemented once, where the real code would go wrong: ack-before-commit in the
//! write path (`write`), ack-before-fsync in the log (`outlast_log::planted`), stale-read in the
//! read path (`read`), join-round-in-flight where reads share rounds (`shared_round`),
//! credit-unconfirmed and settle-unmined in custody's watcher and payer (`outlast_custody`).
//! `outlast node`
//! plants the one `OUTLAST_PLANTED_FAULT` names at start; `outlast simulate --plant NAME` plants
//! it for every run of the process.
//!
//! Must never: be reachable in a node built without the feature.

use std::sync::atomic::{AtomicU8, Ordering};

/// A plantable fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Bug {
    /// The leader acknowledges a client's money operation (an account request or a deposit) as
    /// soon as it has queued it, with the outcome predicted on a copy of its applied state, and
    /// replicates it afterwards: a leader that is cut off or dies then loses acknowledged writes.
    AckBeforeCommit = 1,
    /// Every node's log reports an append durable without its `fdatasync`: a crash then loses
    /// entries a quorum had acknowledged.
    AckBeforeFsync = 2,
    /// Every node serves linearizable reads from its own applied state without the leader's read
    /// index, and calls itself caught up without asking: a node that is behind (restarted, cut
    /// off, or just a few milliseconds late) then tells a client its acknowledged order does not
    /// exist.
    StaleRead = 3,
    /// Concurrent reads share the read-index round already in flight when they arrive, though
    /// it started before them: its read index can predate a write acknowledged before the read
    /// arrived, so the read misses it.
    JoinRoundInFlight = 4,
    /// Custody credits a deposit as soon as its block is at the head, one confirmation instead
    /// of the configured ones: a reorg then takes away a deposit the ledger already credited.
    CreditUnconfirmed = 5,
    /// Custody settles a withdrawal's payment as paid once it is broadcast, without waiting for
    /// its receipt: a payment a provider dropped is confirmed and never paid.
    SettleUnmined = 6,
}

impl Bug {
    /// Every plantable fault.
    pub const ALL: [Bug; 6] = [
        Bug::AckBeforeCommit,
        Bug::AckBeforeFsync,
        Bug::StaleRead,
        Bug::JoinRoundInFlight,
        Bug::CreditUnconfirmed,
        Bug::SettleUnmined,
    ];

    /// The fault's name, as `--plant` and `OUTLAST_PLANTED_FAULT` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Bug::AckBeforeCommit => "ack-before-commit",
            Bug::AckBeforeFsync => "ack-before-fsync",
            Bug::StaleRead => "stale-read",
            Bug::JoinRoundInFlight => "join-round-in-flight",
            Bug::CreditUnconfirmed => "credit-unconfirmed",
            Bug::SettleUnmined => "settle-unmined",
        }
    }

    /// The fault named `name`, if there is one.
    pub fn parse(name: &str) -> Option<Bug> {
        Bug::ALL.into_iter().find(|bug| bug.name() == name)
    }
}

static PLANTED: AtomicU8 = AtomicU8::new(0);

/// Plants `bug` for the whole process (a node, or every simulation run in it).
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
