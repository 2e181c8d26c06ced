//! Pipelined replication under replies that reach openraft twice or late (the simulation's
//! reply weather, `outlast_cluster::stream_append::weather`): the seeds that draw it pass every
//! check, and the faults really happen.

use outlast_sim::{run_seeds, Options};

/// Seeds searched; about half of them draw reply weather.
const SEEDS: u64 = 12;

#[test]
fn duplicated_and_late_replication_replies_break_nothing() {
    let mut with_weather = 0;
    let mut faults_made = 0;
    let failed = run_seeds(0, SEEDS, Options::default(), |outcome| {
        let made = outcome
            .trace
            .iter()
            .find_map(|line| {
                line.trim_start().split_once(' ')?.1.strip_suffix(" replication replies duplicated or late")
            })
            .map_or(0, |count| count.parse::<u64>().expect("a count"));
        if outcome.trace.iter().any(|line| line.contains("replication replies duplicated or late:")) {
            with_weather += 1;
            faults_made += made;
        }
        assert!(outcome.passed(), "seed {}: {:?}", outcome.seed, outcome.violations);
    });
    assert!(failed.is_empty());
    assert!(with_weather >= 2, "only {with_weather} of {SEEDS} seeds drew reply weather");
    assert!(faults_made >= 10, "only {faults_made} replies were duplicated or late");
}
