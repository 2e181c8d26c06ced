//! The exchange's functions as incident reports name them (order placement, cancels,
//! withdrawal requests, deposit credits, account reads, market data, streams), and what a node
//! counts of each: requests served, and requests denied for unavailability (503: not done, or
//! fate unknown; or a 500). For streams: each batch of events delivered to a connection is
//! served, a connection closed by the node (fell behind, or a gap) is denied.
//!
//! Every endpoint's row names its function (`endpoints`); the front door counts each answer;
//! the status recorder takes the counts every sample and keeps the mode per function for the
//! status page. A business refusal (insufficient balance, unknown order) is an answer: served.
//!
//! Must never: block the request path (plain atomics).

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// An exchange function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Function {
    /// Placing orders.
    OrderPlacement = 0,
    /// Cancelling orders.
    Cancels = 1,
    /// Asking for withdrawals.
    WithdrawalRequests = 2,
    /// Crediting deposits (the chain watcher, through the operator API).
    DepositCredits = 3,
    /// Reading an account: orders, trades, balances, histories.
    AccountReads = 4,
    /// The book, trades and tickers.
    MarketData = 5,
    /// WebSocket streams.
    Streams = 6,
}

/// How many functions there are.
pub const FUNCTIONS: usize = 7;

impl Function {
    /// Every function, in the order reports list them.
    pub const ALL: [Function; FUNCTIONS] = [
        Function::OrderPlacement,
        Function::Cancels,
        Function::WithdrawalRequests,
        Function::DepositCredits,
        Function::AccountReads,
        Function::MarketData,
        Function::Streams,
    ];

    /// Its name in reports and on the status page.
    pub fn name(self) -> &'static str {
        match self {
            Function::OrderPlacement => "order placement",
            Function::Cancels => "cancels",
            Function::WithdrawalRequests => "withdrawal requests",
            Function::DepositCredits => "deposit credits",
            Function::AccountReads => "account reads",
            Function::MarketData => "market data",
            Function::Streams => "streams",
        }
    }
}

/// How a function fared over an interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// No requests.
    Idle,
    /// Requests were served, none denied.
    Up,
    /// Some served, some denied.
    Degraded,
    /// Requests were made and none was served.
    Down,
}

impl Mode {
    /// The mode of an interval with `served` and `denied` requests.
    pub fn of(served: u64, denied: u64) -> Mode {
        match (served, denied) {
            (0, 0) => Mode::Idle,
            (_, 0) => Mode::Up,
            (0, _) => Mode::Down,
            _ => Mode::Degraded,
        }
    }
}

/// Served and denied requests per function since the last `take`.
#[derive(Debug, Default)]
pub struct Counters {
    served: [AtomicU64; FUNCTIONS],
    denied: [AtomicU64; FUNCTIONS],
}

impl Counters {
    /// Counts one answer of `function`.
    pub fn note(&self, function: Function, served: bool) {
        let counters = if served { &self.served } else { &self.denied };
        counters[function as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Each function's mode since the last call, and a fresh start.
    pub fn take(&self) -> [Mode; FUNCTIONS] {
        let take = |c: &AtomicU64| c.swap(0, Ordering::Relaxed);
        std::array::from_fn(|i| Mode::of(take(&self.served[i]), take(&self.denied[i])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_turn_into_modes_and_start_again() {
        let counters = Counters::default();
        counters.note(Function::OrderPlacement, true);
        counters.note(Function::Cancels, true);
        counters.note(Function::Cancels, false);
        counters.note(Function::AccountReads, false);
        let modes = counters.take();
        assert_eq!(modes[Function::OrderPlacement as usize], Mode::Up);
        assert_eq!(modes[Function::Cancels as usize], Mode::Degraded);
        assert_eq!(modes[Function::AccountReads as usize], Mode::Down);
        assert_eq!(modes[Function::MarketData as usize], Mode::Idle);
        assert_eq!(counters.take(), [Mode::Idle; FUNCTIONS]);
        for (i, function) in Function::ALL.into_iter().enumerate() {
            assert_eq!(function as usize, i, "ALL is in index order");
        }
    }
}
