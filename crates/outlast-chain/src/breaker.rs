//! A circuit breaker for one upstream: after a run of failures the upstream is not asked for a
//! while, then one trial call decides whether it is back.
//!
//! Closed → (`FAILURES_CONSECUTIVE_MAX` failures in a row) → Open for a cool-down that doubles on
//! each trip in a row, from `OPEN_MS_MIN` to `OPEN_MS_MAX` → HalfOpen: one trial at a time; a
//! success closes it (and resets the cool-down), a failure opens it again.
//!
//! Time is passed in, so the state machine is tested without waiting. Must never: count a call
//! that was cancelled (a hedge that lost the race) as a failure; the caller records only calls
//! that finished.

use std::time::{Duration, Instant};

/// Failures in a row that open the breaker.
pub const FAILURES_CONSECUTIVE_MAX: u32 = 3;
/// The first cool-down.
pub const OPEN_MS_MIN: u64 = 1_000;
/// The longest cool-down.
pub const OPEN_MS_MAX: u64 = 30_000;

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Calls go through.
    Closed {
        /// Failures since the last success.
        failures: u32,
    },
    /// Calls are refused until `until`.
    Open {
        /// End of the cool-down.
        until: Instant,
    },
    /// One trial call is allowed; `trial` says whether it is in flight.
    HalfOpen {
        /// A trial is in flight.
        trial: bool,
    },
}

/// One upstream's breaker.
#[derive(Debug)]
pub struct Breaker {
    state: State,
    /// Cool-down of the next trip.
    open_ms: u64,
    /// Times it opened, for the status page.
    trips: u64,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker { state: State::Closed { failures: 0 }, open_ms: OPEN_MS_MIN, trips: 0 }
    }
}

impl Breaker {
    /// Its state.
    pub fn state(&self) -> State {
        self.state
    }

    /// How many times it opened.
    pub fn trips(&self) -> u64 {
        self.trips
    }

    /// Whether it is open at `now` (calls refused): for ranking, without taking a trial.
    pub fn is_open(&self, now: Instant) -> bool {
        match self.state {
            State::Open { until } => now < until,
            State::HalfOpen { trial } => trial,
            State::Closed { .. } => false,
        }
    }

    /// Whether a call may go at `now`; in half-open this takes the one trial.
    pub fn allow(&mut self, now: Instant) -> bool {
        match self.state {
            State::Closed { .. } => true,
            State::Open { until } if now < until => false,
            State::Open { .. } | State::HalfOpen { trial: false } => {
                self.state = State::HalfOpen { trial: true };
                true
            }
            State::HalfOpen { trial: true } => false,
        }
    }

    /// A call that went finished, well or not.
    pub fn record(&mut self, ok: bool, now: Instant) {
        if ok {
            if matches!(self.state, State::HalfOpen { .. }) {
                self.open_ms = OPEN_MS_MIN;
            }
            self.state = State::Closed { failures: 0 };
            return;
        }
        match self.state {
            State::Closed { failures } if failures + 1 < FAILURES_CONSECUTIVE_MAX => {
                self.state = State::Closed { failures: failures + 1 };
            }
            State::Closed { .. } => self.trip(now),
            State::HalfOpen { .. } => {
                self.open_ms = (self.open_ms * 2).min(OPEN_MS_MAX);
                self.trip(now);
            }
            // A call let through before it opened, finishing late: already open.
            State::Open { .. } => {}
        }
    }

    fn trip(&mut self, now: Instant) {
        self.trips += 1;
        self.state = State::Open { until: now + Duration::from_millis(self.open_ms) };
        assert!((OPEN_MS_MIN..=OPEN_MS_MAX).contains(&self.open_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_a_run_of_failures_and_one_trial_decides() {
        let start = Instant::now();
        let mut breaker = Breaker::default();
        for _ in 0..FAILURES_CONSECUTIVE_MAX - 1 {
            assert!(breaker.allow(start));
            breaker.record(false, start);
        }
        // A success in between resets the run.
        breaker.record(true, start);
        for _ in 0..FAILURES_CONSECUTIVE_MAX {
            assert!(breaker.allow(start));
            breaker.record(false, start);
        }
        assert!(!breaker.allow(start));
        assert!(breaker.is_open(start));
        assert_eq!(breaker.trips(), 1);

        let later = start + Duration::from_millis(OPEN_MS_MIN);
        assert!(breaker.allow(later), "the cool-down is over: one trial");
        assert!(!breaker.allow(later), "only one trial at a time");
        breaker.record(false, later);
        // The trial failed: open again, for twice as long.
        let before_double = later + Duration::from_millis(2 * OPEN_MS_MIN - 1);
        assert!(!breaker.allow(before_double));
        let after_double = later + Duration::from_millis(2 * OPEN_MS_MIN);
        assert!(breaker.allow(after_double));
        breaker.record(true, after_double);
        assert_eq!(breaker.state(), State::Closed { failures: 0 });
        assert_eq!(breaker.open_ms, OPEN_MS_MIN, "a success resets the cool-down");
    }

    #[test]
    fn the_cool_down_is_bounded() {
        let mut now = Instant::now();
        let mut breaker = Breaker::default();
        for _ in 0..FAILURES_CONSECUTIVE_MAX {
            breaker.record(false, now);
        }
        for _ in 0..20 {
            now += Duration::from_millis(OPEN_MS_MAX);
            assert!(breaker.allow(now));
            breaker.record(false, now);
        }
        assert_eq!(breaker.open_ms, OPEN_MS_MAX);
    }
}
