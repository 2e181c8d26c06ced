//! How long appends wait for `fdatasync`, measured where it happens: a fixed-bucket histogram
//! that the node's metrics publish (`outlast_log_fsync_seconds`). A slow disk is the first
//! sign of a gray failure, and commit latency cannot be read without it.
//!
//! The histogram is lock-free and bounded (one counter per bucket). It must never allocate or
//! block on the append path.

use std::sync::atomic::{AtomicU64, Ordering};

/// Bucket upper bounds, in µs (from a local NVMe flush to a cloud volume's worst seconds).
pub const BUCKETS_US: [u64; 12] =
    [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000];

/// A fixed-bucket latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

/// A histogram's counts at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Counts {
    /// Per bucket of `BUCKETS_US` (then +Inf), the observations at or below its bound.
    pub cumulative: [u64; BUCKETS_US.len() + 1],
    /// The sum of every observation, in µs.
    pub sum_us: u64,
}

impl Histogram {
    /// An empty histogram (usable in a `static`).
    pub const fn new() -> Histogram {
        Histogram { counts: [const { AtomicU64::new(0) }; BUCKETS_US.len() + 1], sum_us: AtomicU64::new(0) }
    }

    /// Records one observation.
    pub fn observe_us(&self, micros: u64) {
        let bucket = BUCKETS_US.iter().position(|&b| micros <= b).unwrap_or(BUCKETS_US.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counts now, cumulative as Prometheus wants them.
    pub fn counts(&self) -> Counts {
        let mut cumulative = [0; BUCKETS_US.len() + 1];
        let mut running = 0;
        for (i, count) in self.counts.iter().enumerate() {
            running += count.load(Ordering::Relaxed);
            cumulative[i] = running;
        }
        Counts { cumulative, sum_us: self.sum_us.load(Ordering::Relaxed) }
    }
}

/// Every `fdatasync` (or `fsync`) of a log segment in this process.
pub static FSYNC: Histogram = Histogram::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_bucket_and_counts_are_cumulative() {
        let h = Histogram::new();
        for micros in [50, 100, 101, 2_000_000] {
            h.observe_us(micros);
        }
        let counts = h.counts();
        assert_eq!(counts.cumulative[0], 2, "50 and 100 are at or below 100 µs");
        assert_eq!(counts.cumulative[1], 3);
        assert_eq!(counts.cumulative[BUCKETS_US.len() - 1], 3, "2 s is above the last bound");
        assert_eq!(counts.cumulative[BUCKETS_US.len()], 4);
        assert_eq!(counts.sum_us, 2_000_251);
    }
}
