//! The impact of a run per exchange function, as postmortems give it: for order placement,
//! cancels, withdrawal requests, deposit credits, account reads, market data and streams, when
//! each was down or degraded and for how long.
//!
//! Judged from the history in `BUCKET_MS` steps, with the same functions and modes as the
//! status page (`outlast_api::function`): a step in which a function's requests met the
//! cluster's unavailability (refused as not done, -1001; fate unknown, -1007; or no answer) and
//! none succeeded is **down**; one in which some did and some did not, or a success took longer
//! than `SLOW_MS`, is **degraded**; one with requests all served in time is up, one without any
//! is idle (nothing was denied). Business refusals (insufficient balance, unknown order) are answers, not impact.
//! Reads are probed on every node, so one node refusing while others answer is degraded, not
//! down: a client fails over.
//!
//! Must never: judge correctness (that is the checker's); this is about availability only.

use serde::Serialize;

use crate::history::{Op, OpKind, OpResult};

/// Step of the judgement, ms: the read probes' interval, so that every step of a healthy run
/// has answers from every node.
pub const BUCKET_MS: u64 = crate::load::READ_PROBE_INTERVAL.as_millis() as u64;
/// A success slower than this degrades its function, ms.
pub const SLOW_MS: u64 = 1_000;

pub use outlast_api::function::{Function, Mode};

/// The function an operation exercises.
pub fn function_of(kind: OpKind) -> Function {
    match kind {
        OpKind::Place | OpKind::Retry => Function::OrderPlacement,
        OpKind::Cancel => Function::Cancels,
        OpKind::Withdraw => Function::WithdrawalRequests,
        OpKind::Deposit => Function::DepositCredits,
        OpKind::Read => Function::AccountReads,
        OpKind::MarketData => Function::MarketData,
        OpKind::Stream => Function::Streams,
    }
}

/// One stretch of a function's timeline in one mode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stretch {
    /// Start, ms since the run started.
    pub from_ms: u64,
    /// End, ms since the run started.
    pub to_ms: u64,
    /// The mode.
    pub mode: Mode,
}

/// One function's impact over the run.
#[derive(Clone, Debug, Serialize)]
pub struct Impact {
    /// The function.
    pub function: String,
    /// Requests made.
    pub requests: usize,
    /// Time down, ms.
    pub down_ms: u64,
    /// Time degraded, ms.
    pub degraded_ms: u64,
    /// Every stretch that was down or degraded, in order.
    pub stretches: Vec<Stretch>,
    /// The mode of every step from 0 (for the chart).
    pub steps: Vec<Mode>,
}

/// Whether a result means the cluster could not serve the request (not a business refusal).
pub fn unavailable(result: &OpResult) -> bool {
    matches!(result, OpResult::Unknown | OpResult::Fail(-1001 | -1007))
}

/// Every function's impact over `[0, end_ms)`.
pub fn impacts(ops: &[Op], end_ms: u64) -> Vec<Impact> {
    let steps = (end_ms / BUCKET_MS + 1) as usize;
    Function::ALL
        .into_iter()
        .map(|function| {
            // Per step: (served, denied, slow).
            let mut counts = vec![(0u32, 0u32, 0u32); steps];
            let mut requests = 0;
            // Steps in which some node's stream delivered updates: a quiet stream then is
            // one that stopped serving; in other steps nothing happened to send.
            let quiet = |op: &Op| op.seen.as_deref() == Some(crate::load::QUIET);
            let delivered: std::collections::BTreeSet<usize> = ops
                .iter()
                .filter(|op| op.kind == OpKind::Stream && op.result == OpResult::Ok && !quiet(op))
                .map(|op| (op.complete_ms / BUCKET_MS) as usize)
                .collect();
            for op in ops.iter().filter(|op| function_of(op.kind) == function) {
                let step = ((op.complete_ms / BUCKET_MS) as usize).min(steps - 1);
                if quiet(op) {
                    if delivered.contains(&step) {
                        requests += 1;
                        counts[step].1 += 1;
                    }
                    continue;
                }
                requests += 1;
                if unavailable(&op.result) {
                    // Denied for the whole time it waited.
                    let first = ((op.invoke_ms / BUCKET_MS) as usize).min(step);
                    counts[first..=step].iter_mut().for_each(|c| c.1 += 1);
                } else if op.complete_ms - op.invoke_ms > SLOW_MS {
                    // Slow for the whole time it waited.
                    let first = ((op.invoke_ms / BUCKET_MS) as usize).min(step);
                    counts[first..=step].iter_mut().for_each(|c| c.2 += 1);
                } else {
                    counts[step].0 += 1;
                }
            }
            let modes: Vec<Mode> = counts
                .iter()
                .map(|&(served, denied, slow)| match Mode::of(u64::from(served + slow), u64::from(denied)) {
                    Mode::Up if slow > 0 => Mode::Degraded,
                    mode => mode,
                })
                .collect();
            let mut stretches: Vec<Stretch> = Vec::new();
            for (i, &mode) in modes.iter().enumerate() {
                let (from_ms, to_ms) = (i as u64 * BUCKET_MS, (i as u64 + 1) * BUCKET_MS);
                match stretches.last_mut() {
                    Some(last) if last.mode == mode && last.to_ms == from_ms => last.to_ms = to_ms,
                    _ if matches!(mode, Mode::Up | Mode::Idle) => {}
                    _ => stretches.push(Stretch { from_ms, to_ms, mode }),
                }
            }
            let total = |mode| stretches.iter().filter(|s| s.mode == mode).map(|s| s.to_ms - s.from_ms).sum();
            Impact {
                function: function.name().to_string(),
                requests,
                down_ms: total(Mode::Down),
                degraded_ms: total(Mode::Degraded),
                stretches,
                steps: modes,
            }
        })
        .collect()
}

/// Now, ms since the Unix epoch (UTC).
pub fn now_utc_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// `ms` since the Unix epoch as UTC `HH:MM:SS.mmm`, with the date (`YYYY-MM-DD`) when `dated`.
pub fn utc(ms: u64, dated: bool) -> String {
    let text = format!("{}.{:03}", outlast_api::utc_text(ms), ms % 1000);
    if dated {
        text
    } else {
        text[11..].to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: OpKind, result: OpResult, invoke_ms: u64, complete_ms: u64) -> Op {
        Op {
            id: 0,
            account: 101,
            kind,
            client_id: "x".into(),
            order_id: None,
            invoke_ms,
            complete_ms,
            endpoint: "node".into(),
            result,
            seen: None,
        }
    }

    #[test]
    fn denied_requests_make_a_function_down_and_mixed_ones_degraded() {
        let ops = vec![
            op(OpKind::Place, OpResult::Ok, 0, 100),
            // Waited from 300 to 900 ms and got no answer: degraded in step 0 (another order
            // was served), down in step 1.
            op(OpKind::Place, OpResult::Unknown, 300, 900),
            // A refusal that is an answer is no impact.
            op(OpKind::Place, OpResult::Fail(-2010), 1000, 1010),
            op(OpKind::Cancel, OpResult::Fail(-1001), 500, 510),
            op(OpKind::Cancel, OpResult::Ok, 520, 600),
            op(OpKind::Deposit, OpResult::Ok, 0, 1200),
        ];
        let impacts = impacts(&ops, 1249);
        let of = |name: &str| impacts.iter().find(|i| i.function == name).unwrap().clone();
        let placement = of("order placement");
        assert_eq!(placement.requests, 3);
        assert_eq!(
            placement.stretches,
            vec![
                Stretch { from_ms: 0, to_ms: 500, mode: Mode::Degraded },
                Stretch { from_ms: 500, to_ms: 1000, mode: Mode::Down }
            ]
        );
        assert_eq!((placement.down_ms, placement.degraded_ms), (500, 500));
        assert_eq!(of("cancels").stretches, vec![Stretch { from_ms: 500, to_ms: 1000, mode: Mode::Degraded }]);
        assert_eq!(of("deposit credits").degraded_ms, 1500, "slow is degraded for as long as it waited");
        assert_eq!(of("market data").requests, 0);
        assert!(of("market data").stretches.is_empty(), "nothing asked, nothing denied");
    }

    #[test]
    fn a_quiet_stream_is_denied_only_while_another_delivers() {
        let quiet =
            |at: u64| Op { seen: Some(crate::load::QUIET.into()), ..op(OpKind::Stream, OpResult::Ok, at, at + 490) };
        let ops = vec![
            // Step 0: both quiet (no commits): idle. Step 1: one delivers, one quiet: degraded.
            quiet(0),
            quiet(0),
            op(OpKind::Stream, OpResult::Ok, 500, 990),
            quiet(500),
        ];
        let streams = impacts(&ops, 999).into_iter().find(|i| i.function == "streams").unwrap();
        assert_eq!(streams.steps[0], Mode::Idle);
        assert_eq!(streams.stretches, vec![Stretch { from_ms: 500, to_ms: 1000, mode: Mode::Degraded }]);
        assert_eq!(streams.requests, 2);
    }

    #[test]
    fn utc_times_are_civil() {
        assert_eq!(utc(1_795_795_200_123, true), "2026-11-27 16:00:00.123");
        assert_eq!(utc(3_723_004, false), "01:02:03.004");
    }
}
