//! What the pool knows of one upstream: its recent outcomes, the latency of its recent
//! answers, the head it last reported, and how often it disagreed with the others.
//!
//! Every window is a fixed-size ring, so old behaviour drains out and memory is bounded. Time is
//! passed in. Must never: record a cancelled call (a hedge that lost) as an outcome, or a failed
//! call's latency (a fast failure would look like a fast upstream).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Outcomes remembered for the error rate.
pub const OUTCOMES_MAX: usize = 50;
/// Latencies remembered for the quantiles.
pub const LATENCIES_MAX: usize = 64;
/// A reported head older than this is not believed (the upstream may have stopped).
pub const HEAD_STALE_MS: u64 = 10_000;

/// One upstream's recent record.
#[derive(Debug, Default)]
pub struct Health {
    /// true = success, newest last.
    outcomes: VecDeque<bool>,
    /// Successful calls' latencies in µs, newest last.
    latencies_us: VecDeque<u64>,
    /// The newest head it reported, and when.
    head: Option<(u64, Instant)>,
    /// Times its answer differed from what others agreed on.
    disagreements: u64,
    /// Until when it counts as slow: it kept a call past the hedge delay (see `pool`).
    slow_until: Option<Instant>,
    /// Calls that finished, all time.
    calls: u64,
    /// Of which failed.
    failures: u64,
}

impl Health {
    /// Records a finished call.
    pub fn record(&mut self, ok: bool, latency: Duration) {
        if self.outcomes.len() == OUTCOMES_MAX {
            self.outcomes.pop_front();
        }
        self.outcomes.push_back(ok);
        self.calls += 1;
        if ok {
            if self.latencies_us.len() == LATENCIES_MAX {
                self.latencies_us.pop_front();
            }
            self.latencies_us.push_back(latency.as_micros().min(u64::MAX as u128) as u64);
        } else {
            self.failures += 1;
        }
    }

    /// Records the head it reported at `now`. A head never goes backwards here: a lower report
    /// (a reorg to a shorter chain, or a lagging node behind a balancer) only refreshes the time.
    pub fn record_head(&mut self, head: u64, now: Instant) {
        let newest = self.head.map_or(head, |(old, _)| old.max(head));
        self.head = Some((newest, now));
    }

    /// Records that it kept a call past the hedge delay: it is ranked after the others until
    /// `until`, so that the next calls do not wait for it too.
    pub fn mark_slow(&mut self, until: Instant) {
        self.slow_until = Some(self.slow_until.map_or(until, |old| old.max(until)));
    }

    /// Whether it counts as slow at `now`.
    pub fn is_slow(&self, now: Instant) -> bool {
        self.slow_until.is_some_and(|until| now < until)
    }

    /// Records that its answer differed from the agreed one.
    pub fn record_disagreement(&mut self) {
        self.disagreements += 1;
    }

    /// Its head, if reported within `HEAD_STALE_MS` of `now`.
    pub fn head(&self, now: Instant) -> Option<u64> {
        let (head, seen) = self.head?;
        (now.saturating_duration_since(seen) <= Duration::from_millis(HEAD_STALE_MS)).then_some(head)
    }

    /// Failed share of the recent outcomes, in percent (0 with none).
    pub fn error_percent(&self) -> u64 {
        if self.outcomes.is_empty() {
            return 0;
        }
        let failed = self.outcomes.iter().filter(|ok| !**ok).count() as u64;
        failed * 100 / self.outcomes.len() as u64
    }

    /// The `percent` quantile of recent successful latencies, if any.
    pub fn latency_quantile(&self, percent: u64) -> Option<Duration> {
        assert!(percent <= 100);
        if self.latencies_us.is_empty() {
            return None;
        }
        let mut sorted: Vec<u64> = self.latencies_us.iter().copied().collect();
        sorted.sort_unstable();
        let rank = ((sorted.len() as u64 - 1) * percent).div_ceil(100) as usize;
        Some(Duration::from_micros(sorted[rank]))
    }

    /// Times it disagreed.
    pub fn disagreements(&self) -> u64 {
        self.disagreements
    }

    /// Calls finished and of which failed, all time.
    pub fn totals(&self) -> (u64, u64) {
        (self.calls, self.failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_bounded_and_only_successes_have_latency() {
        let mut health = Health::default();
        for i in 0..(OUTCOMES_MAX as u64 * 2) {
            health.record(i % 4 != 0, Duration::from_millis(i));
        }
        assert_eq!(health.outcomes.len(), OUTCOMES_MAX);
        assert_eq!(health.latencies_us.len(), LATENCIES_MAX);
        assert_eq!(health.error_percent(), 24, "12 of the last 50 failed");
        assert_eq!(health.totals(), (100, 25));
        // Only successes count: the newest 64 successes are 15..=99 without multiples of 4.
        assert_eq!(health.latency_quantile(0), Some(Duration::from_millis(15)));
        assert_eq!(health.latency_quantile(100), Some(Duration::from_millis(99)));
    }

    #[test]
    fn a_head_goes_stale_and_never_backwards() {
        let start = Instant::now();
        let mut health = Health::default();
        assert_eq!(health.head(start), None);
        health.record_head(10, start);
        health.record_head(8, start + Duration::from_millis(5));
        assert_eq!(health.head(start + Duration::from_millis(5)), Some(10));
        assert_eq!(health.head(start + Duration::from_millis(5 + HEAD_STALE_MS + 1)), None);
    }
}
