//! Seeds through the whole simulated cluster.

use outlast_sim::{run_seed, Options};

/// Seeds whose plans include a crash, a partition and a leader isolation between them.
const SEEDS: [u64; 3] = [11, 15, 26];

#[test]
fn the_same_seed_gives_the_same_run() {
    for seed in SEEDS {
        let first = run_seed(seed, Options::default());
        let second = run_seed(seed, Options::default());
        assert!(first.acked > 0, "seed {seed}: the workload made progress");
        assert!(first.trace.iter().any(|l| l.contains("fault")), "seed {seed} injected faults");
        assert_eq!(first.trace, second.trace, "seed {seed} ran twice differently");
    }
}

#[test]
fn a_band_of_seeds_passes_every_check() {
    let failed = outlast_sim::run_seeds(1_000, 24, 2, Options::default(), |_| {});
    assert!(failed.is_empty(), "failing seeds: {failed:?} (replay: outlast simulate --seeds 1 --from SEED --trace)");
}
