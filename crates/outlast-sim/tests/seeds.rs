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
    let failed = outlast_sim::run_seeds(1_000, 24, Options::default(), |_| {});
    assert!(failed.is_empty(), "failing seeds: {failed:?} (replay: outlast simulate --seeds 1 --from SEED --trace)");
}

#[test]
fn a_failing_disk_stops_its_node_and_the_supervisor_brings_it_back() {
    // Seed 1000's plan gives n3 a failing disk during the safety phase.
    let outcome = run_seed(1_000, Options::default());
    let line = |needle: &str| outcome.trace.iter().position(|l| l.contains(needle));
    let struck = line("fault DiskErrors(").expect("the plan fails a disk");
    let stopped = line("stopped: ").expect("a storage error stops the node");
    let restarted = line("supervisor restarts").expect("the supervisor restarts it");
    assert!(struck < stopped && stopped < restarted, "{:#?}", outcome.trace);
    assert!(outcome.passed(), "{:?}", outcome.violations);
}
