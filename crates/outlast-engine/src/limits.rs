//! Every bound the engine enforces, in one place, each with the reason for its default.
//!
//! A limit is configuration, not a constant: it is part of the snapshot (and so of the digest),
//! because two replicas with different limits would accept different commands. Reaching a limit
//! is a rejection with its own code, never a panic and never silent dropping.

use serde::{Deserialize, Serialize};

/// The configured maxima. `Limits::default()` is what a production exchange would start with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Accounts, the fee account included. Bounds memory: an account costs a few hundred bytes.
    pub accounts_max: u64,
    /// Assets. Balances are a dense vector per account, so this bounds per-account memory.
    pub assets_max: u32,
    /// Markets. Each book is scanned when a snapshot is taken.
    pub markets_max: u32,
    /// Open orders per account (Binance's MAX_NUM_ORDERS is 200).
    pub open_orders_per_account_max: u32,
    /// Price levels per side of one book. Levels are a sorted vector, so this bounds the cost of
    /// inserting a level (a memmove) and the size of a depth snapshot.
    pub price_levels_per_side_max: u32,
    /// Resting orders in one book. Bounds the book's memory.
    pub orders_per_book_max: u32,
    /// How long a request id is remembered for idempotency, in ms. A request whose client
    /// timestamp is older than this is rejected as expired, so a retry can never outlive its
    /// dedup record. It covers the API's recvWindow (at most 60 s, as Binance) plus clock
    /// differences between gateway and leader; memory grows with request rate × window.
    pub request_window_ms: u64,
    /// How far a client timestamp may be ahead of the leader's clock, in ms (Binance: 1000).
    pub request_ahead_ms_max: u64,
    /// Request ids remembered per account inside the window. Bounds dedup memory per account;
    /// with the 90 s window it allows ~1,100 requests/s per account sustained (Binance allows
    /// 10 orders/s).
    pub requests_per_account_max: u32,
    /// Deposits remembered (forever, so a chain watcher can re-report any transaction).
    pub deposits_max: u64,
    /// Withdrawals kept (forever, they are the audit trail of money leaving).
    pub withdrawals_max: u64,
    /// Registered API keys, revoked ones included (revocation is final). Each costs about 200
    /// bytes and is scanned by nothing hot.
    pub api_keys_max: u64,
    /// Operator actions kept in the audit trail (the oldest is dropped beyond it). Each costs
    /// its command's size, a few hundred bytes.
    pub audit_records_max: u64,
    /// The highest fee rate a market may charge, in parts per million (10 %).
    pub fee_ppm_max: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            accounts_max: 1_000_000,
            assets_max: 1_024,
            markets_max: 1_024,
            open_orders_per_account_max: 200,
            price_levels_per_side_max: 10_000,
            orders_per_book_max: 1_000_000,
            request_window_ms: 90_000,
            request_ahead_ms_max: 1_000,
            requests_per_account_max: 100_000,
            deposits_max: 10_000_000,
            withdrawals_max: 10_000_000,
            api_keys_max: 1_000_000,
            audit_records_max: 10_000,
            fee_ppm_max: 100_000,
        }
    }
}
