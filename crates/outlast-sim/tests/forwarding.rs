//! The simulation runs the real forwarding path: the driver sends commands unmarked to any
//! node, a follower forwards them to the leader through its node's dialer, and the trace shows
//! each forward and how it ended.

use outlast_sim::Options;

/// Seeds searched for a run where a follower forwards a command to the leader and the leader
/// crashes while that forward is in flight. A search, not a pinned seed: any change to timing
/// (a new message, a connection kept) shifts which seeds do it.
const SEEDS_SEARCHED: u64 = 100;

/// A forward to a leader that crashed while it was in flight, and ended without an answer:
/// the trace lines of the forward, the crash and the forward's end.
fn crash_during_forward(trace: &[String]) -> Option<(usize, usize, usize)> {
    let text = |line: &String| line.trim_start().split_once(' ').map_or(String::new(), |(_, text)| text.to_string());
    // Forwards not yet ended: (line, from, leader, the line of the leader's crash meanwhile).
    let mut in_flight: Vec<(usize, String, String, Option<usize>)> = Vec::new();
    for (at, line) in trace.iter().enumerate() {
        let text = text(line);
        if let Some((from, leader)) = text.split_once(" forwards to leader ") {
            in_flight.push((at, from.to_string(), leader.to_string(), None));
        } else if let Some((from, rest)) = text.split_once("'s forward to ") {
            let (leader, end) = rest.split_once(": ").unwrap_or_default();
            let Some(done) = in_flight.iter().position(|(_, f, l, _)| f == from && l == leader) else { continue };
            let (forward, _, _, crash) = in_flight.remove(done);
            if let (Some(crash), "no answer") = (crash, end) {
                return Some((forward, crash, at));
            }
        } else if let Some(id) = text.strip_prefix("fault Crash(").and_then(|rest| rest.strip_suffix(')')) {
            let crashed = format!("n{id}");
            for (_, _, leader, crash) in &mut in_flight {
                if *leader == crashed && crash.is_none() {
                    *crash = Some(at);
                }
            }
        }
    }
    None
}

#[test]
fn a_follower_forwards_and_the_leader_crashes_with_the_forward_in_flight() {
    let mut found = Vec::new();
    outlast_sim::run_seeds(0, SEEDS_SEARCHED, Options::default(), |outcome| {
        if let Some((forward, crash, end)) = crash_during_forward(&outcome.trace) {
            assert!(forward < crash && crash < end, "seed {}: {:#?}", outcome.seed, outcome.trace);
            assert!(outcome.passed(), "seed {}: {:?}", outcome.seed, outcome.violations);
            found.push(outcome.seed);
        }
    });
    assert!(!found.is_empty(), "no seed of {SEEDS_SEARCHED} crashed a leader during a forward");
}
