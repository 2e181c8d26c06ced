//! One read-index round shared by every caller that asked while it waited.
//!
//! A linearizable read needs a read index learnt *after* the read arrived: the leader's commit
//! index, taken when it started confirming its leadership with a quorum. Any round that started
//! after the read arrived serves it as well as a round of its own. So rounds run one at a time,
//! and a caller that finds the last finished round was started after it arrived takes that
//! round's answer instead of starting another. Under load a read waits at most for the round in
//! flight and one more; the cluster sees one round per round trip instead of one per read, and
//! each round finds the connections it needs already open (with TLS a fresh one costs a
//! handshake that can outlast a heartbeat's deadline).
//!
//! Must never: hand a caller the answer of a round that started before the caller arrived.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};

/// Rounds producing a `T`, run one at a time and shared as above.
pub struct SharedRound<T> {
    /// How many rounds have started (the id of the latest).
    started: AtomicU64,
    /// The latest round to finish (id, answer); held while a round runs, so rounds never overlap.
    last: tokio::sync::Mutex<Option<(u64, T)>>,
}

impl<T> Default for SharedRound<T> {
    fn default() -> Self {
        SharedRound { started: AtomicU64::new(0), last: tokio::sync::Mutex::new(None) }
    }
}

impl<T: Clone> SharedRound<T> {
    /// The answer of a round that started after this call did: the last finished one if it
    /// qualifies, else `round()` run now. A round cancelled half-way (its caller gave up) leaves
    /// no answer; the next caller runs its own.
    pub async fn run<F, Fut>(&self, round: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let arrived_after = self.started.load(Ordering::SeqCst);
        // THE PLANTED FAULT join-round-in-flight (feature `planted-faults`, when planted).
        #[cfg(feature = "planted-faults")]
        let arrived_after = match crate::planted::is(crate::planted::Bug::JoinRoundInFlight) {
            true => arrived_after.saturating_sub(1),
            false => arrived_after,
        };
        // Tokio's mutex is fair: callers are served in the order they arrived.
        let mut last = self.last.lock().await;
        if let Some((id, answer)) = last.as_ref() {
            if *id > arrived_after {
                return answer.clone();
            }
        }
        let id = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(id > arrived_after, "a round's id grows past every caller that arrived before it");
        let answer = round().await;
        *last = Some((id, answer.clone()));
        answer
    }

    /// How many rounds have started (for tests and metrics).
    pub fn rounds_started(&self) -> u64 {
        self.started.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn callers_waiting_on_a_round_share_the_next_one() {
        let shared = Arc::new(SharedRound::<u64>::default());
        let (open, gate) = tokio::sync::watch::channel(false);
        // The first caller starts round 1 and holds it until the gate opens.
        let first = {
            let (shared, mut gate) = (shared.clone(), gate.clone());
            tokio::spawn(async move {
                shared
                    .run(|| async move {
                        gate.wait_for(|open| *open).await.unwrap();
                        1
                    })
                    .await
            })
        };
        while shared.rounds_started() < 1 {
            tokio::task::yield_now().await;
        }
        // Ten callers arrive while round 1 is in flight: it started before them, so none may
        // take its answer; they share one more round.
        let later: Vec<_> = (0..10)
            .map(|_| {
                let shared = shared.clone();
                tokio::spawn(async move { shared.run(|| async { shared.rounds_started() * 100 }).await })
            })
            .collect();
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        open.send(true).unwrap();
        assert_eq!(first.await.unwrap(), 1);
        for caller in later {
            assert_eq!(caller.await.unwrap(), 200, "served by round 2, started after they arrived");
        }
        assert_eq!(shared.rounds_started(), 2);
    }

    #[tokio::test]
    async fn a_caller_after_a_finished_round_runs_its_own() {
        let shared = SharedRound::<u64>::default();
        assert_eq!(shared.run(|| async { 7 }).await, 7);
        assert_eq!(shared.run(|| async { 8 }).await, 8, "round 1 finished before this call arrived");
        assert_eq!(shared.rounds_started(), 2);
    }

    #[tokio::test]
    async fn a_cancelled_round_leaves_no_answer() {
        let shared = SharedRound::<u64>::default();
        let cancelled = tokio::time::timeout(std::time::Duration::from_millis(1), shared.run(std::future::pending));
        assert!(cancelled.await.is_err());
        assert_eq!(shared.run(|| async { 9 }).await, 9);
    }
}
