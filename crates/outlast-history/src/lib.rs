//! The read model behind the API: what the engine forgets but users ask for.
//!
//! The engine keeps only what matching and money need: open orders, balances, recent request
//! ids. Users also ask for closed orders, their trades, a market's recent trades, candles of
//! every interval, 24-hour statistics and their deposit and withdrawal histories. `History` keeps those, built only
//! from each applied command's outcome and events, so every replica that applied the same log
//! holds the same history, and it travels inside the state machine's snapshot.
//!
//! Every collection is bounded (`HistoryLimits`) and evicts its oldest entries first, in an
//! order that depends only on the log. This crate never reads a clock, does I/O, or changes the
//! engine.

#![deny(missing_docs)]

mod candles;
mod history;
mod klines;
mod legacy;
mod records;

pub use candles::{Candle, Ticker, MINUTE_MS};
pub use history::{History, HistoryError, HistoryLimits};
pub use klines::{civil_from_days, Interval, Klines, TradeTick, KLINES_PER_SERIES_MAX, MINUTE_KLINES_MAX};
pub use records::{AccountTrade, DepositRow, MarketTrade, OrderRecord, OrderType};
