//! What a run must never do, watched while it happens, and what it must reach once healed.
//!
//! Safety, continuously: at most one leader per term; every replica applies the same events at
//! the same log index (a committed entry is never lost or changed on any replica). Liveness,
//! after healing: every replica reaches the same applied index and state digest, the engine's
//! invariants (conservation of funds among them) hold on each, and every acknowledged deposit
//! was applied exactly once (see `driver`).
//!
//! Must never: change the cluster (it only observes).

use openraft::async_runtime::WatchReceiver;
use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

use openraft::ServerState;
use outlast_cluster::Raft;
use outlast_cluster::{EngineReader, NodeId};
use tokio::sync::broadcast::error::RecvError;

/// Everything the observers saw, shared by the nodes' watchers and the checks.
#[derive(Default)]
pub struct Observed {
    /// The leader seen in each term.
    pub leaders: BTreeMap<u64, NodeId>,
    /// Per log index: the hash of the events applied there, and the first node seen applying it.
    pub applied: BTreeMap<u64, (u64, NodeId)>,
    /// Each node's engine (its latest incarnation).
    pub readers: BTreeMap<NodeId, EngineReader>,
    /// Each node's Raft handle (its latest incarnation).
    pub rafts: BTreeMap<NodeId, Raft>,
    /// Broken rules, in the order seen.
    pub violations: Vec<String>,
    /// What happened, with simulated time: the run's fingerprint for the determinism check.
    pub trace: Vec<String>,
    /// Applied entries a watcher missed because it fell behind the feed.
    pub lagged: u64,
    /// Nodes that stopped on their own (a storage error) and wait for their supervisor.
    pub stopped: Vec<NodeId>,
}

/// Simulated ms since the start.
pub fn now_ms() -> u64 {
    turmoil::sim_elapsed().unwrap_or_default().as_millis() as u64
}

impl Observed {
    /// Records a trace line at the current simulated time (inside a host).
    pub fn note(&mut self, line: impl AsRef<str>) {
        self.note_at(now_ms(), line);
    }

    /// Records a trace line at simulated ms `at` (from the simulation loop, outside any host).
    pub fn note_at(&mut self, at: u64, line: impl AsRef<str>) {
        self.trace.push(format!("{at:>6} {}", line.as_ref()));
    }

    /// Records that node `id` stopped on its own, for the simulation loop to restart it.
    pub fn stopped(&mut self, id: NodeId, reason: &str) {
        self.note(format!("n{id} stopped: {reason}"));
        self.stopped.push(id);
    }

    /// Records a violation (and traces it) once: a rule broken again the same way adds nothing.
    pub fn violate(&mut self, why: String) {
        if self.violations.contains(&why) {
            return;
        }
        self.note(format!("VIOLATION {why}"));
        self.violations.push(why);
    }
}

fn lock(observed: &Mutex<Observed>) -> std::sync::MutexGuard<'_, Observed> {
    observed.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Starts watching node `id`'s Raft state and applied events.
pub fn watch(id: NodeId, raft: &Raft, reader: &EngineReader, observed: &Arc<Mutex<Observed>>) {
    {
        let mut o = lock(observed);
        o.readers.insert(id, reader.clone());
        o.rafts.insert(id, raft.clone());
        o.note(format!("n{id} started"));
    }
    let mut metrics = raft.metrics();
    let watched = observed.clone();
    tokio::spawn(async move {
        while metrics.changed().await.is_ok() {
            let (state, term) = {
                let m = metrics.borrow_and_update();
                (m.state, m.current_term)
            };
            if state != ServerState::Leader {
                continue;
            }
            let mut o = lock(&watched);
            match o.leaders.get(&term).copied() {
                None => {
                    o.leaders.insert(term, id);
                    o.note(format!("n{id} leads term {term}"));
                }
                Some(other) if other != id => o.violate(format!("two leaders in term {term}: n{other} and n{id}")),
                Some(_) => {}
            }
        }
    });
    let mut feed = reader.subscribe();
    let watched = observed.clone();
    tokio::spawn(async move {
        loop {
            match feed.recv().await {
                Ok(applied) => {
                    let mut hasher = DefaultHasher::new();
                    format!("{:?}", applied.events).hash(&mut hasher);
                    let hash = hasher.finish();
                    let mut o = lock(&watched);
                    match o.applied.get(&applied.index).copied() {
                        None => {
                            o.applied.insert(applied.index, (hash, id));
                        }
                        Some((seen, first)) if seen != hash => o.violate(format!(
                            "n{id} applied other events at index {} than n{first} did",
                            applied.index
                        )),
                        Some(_) => {}
                    }
                }
                Err(RecvError::Lagged(missed)) => lock(&watched).lagged += missed,
                Err(RecvError::Closed) => return,
            }
        }
    });
}

/// Whether every node has applied the same index with the same digest; the index if so.
pub fn converged(observed: &Mutex<Observed>, nodes: &[NodeId]) -> Option<(u64, String)> {
    let o = lock(observed);
    let mut seen = None;
    for id in nodes {
        let raft = o.rafts.get(id)?;
        let applied = raft.metrics().borrow_watched().last_applied.map(|l| l.index)?;
        let digest = o.readers.get(id)?.read().digest_hex();
        match &seen {
            None => seen = Some((applied, digest)),
            Some(first) if *first != (applied, digest.clone()) => return None,
            Some(_) => {}
        }
    }
    seen
}

/// The engine invariants on every node; each failure as a violation line.
pub fn invariants(o: &Observed) -> Vec<String> {
    o.readers
        .iter()
        .filter_map(|(id, reader)| reader.read().check_invariants().err().map(|e| format!("n{id} invariants: {e}")))
        .collect()
}

/// Shared handle.
pub type Shared = Arc<Mutex<Observed>>;

/// Locks the shared record.
pub fn shared(observed: &Shared) -> std::sync::MutexGuard<'_, Observed> {
    lock(observed)
}
