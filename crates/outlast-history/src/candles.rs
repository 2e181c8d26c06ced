//! One-minute candles and the rolling 24-hour statistics built from them.

use serde::{Deserialize, Serialize};

/// One minute, in ms.
pub const MINUTE_MS: u64 = 60_000;
/// A day of minutes: the most candles a market keeps.
pub(crate) const CANDLES_MAX: usize = 1_440;

/// The trades of one market in one minute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candle {
    /// Start of the minute, ms since the epoch.
    pub open_ms: u64,
    /// First trade's price.
    pub open: u64,
    /// Highest price.
    pub high: u64,
    /// Lowest price.
    pub low: u64,
    /// Last trade's price.
    pub close: u64,
    /// Base volume.
    pub volume: u64,
    /// Quote volume.
    pub quote_volume: u64,
    /// Number of trades.
    pub count: u64,
    /// First trade id.
    pub first_trade: u64,
    /// Last trade id.
    pub last_trade: u64,
}

/// Statistics over the candles of the last 24 hours (Binance's `ticker/24hr`), to minute
/// resolution. Volumes saturate rather than wrap (they are statistics, not money).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ticker {
    /// Price of the first trade in the window (0 without trades).
    pub open: u64,
    /// Highest price.
    pub high: u64,
    /// Lowest price.
    pub low: u64,
    /// Last price.
    pub last: u64,
    /// Base volume.
    pub volume: u64,
    /// Quote volume.
    pub quote_volume: u64,
    /// Number of trades.
    pub count: u64,
    /// First trade id in the window (0 without trades).
    pub first_trade: u64,
    /// Last trade id in the window.
    pub last_trade: u64,
    /// Start of the window.
    pub open_ms: u64,
}

/// Adds one trade to the candle list, opening a new candle when the minute changes.
pub(crate) fn add_trade(
    candles: &mut std::collections::VecDeque<Candle>,
    id: u64,
    price: u64,
    qty: u64,
    quote: u64,
    ts_ms: u64,
) {
    let open_ms = ts_ms - ts_ms % MINUTE_MS;
    match candles.back_mut() {
        Some(candle) if candle.open_ms >= open_ms => {
            candle.high = candle.high.max(price);
            candle.low = candle.low.min(price);
            candle.close = price;
            candle.volume = candle.volume.saturating_add(qty);
            candle.quote_volume = candle.quote_volume.saturating_add(quote);
            candle.count += 1;
            candle.last_trade = id;
        }
        _ => {
            if candles.len() == CANDLES_MAX {
                candles.pop_front();
            }
            candles.push_back(Candle {
                open_ms,
                open: price,
                high: price,
                low: price,
                close: price,
                volume: qty,
                quote_volume: quote,
                count: 1,
                first_trade: id,
                last_trade: id,
            });
        }
    }
}

/// The 24-hour statistics at `now_ms`.
pub(crate) fn ticker(candles: &std::collections::VecDeque<Candle>, now_ms: u64) -> Ticker {
    let since_ms = now_ms.saturating_sub(24 * 60 * MINUTE_MS);
    let mut ticker = Ticker { open_ms: since_ms, ..Ticker::default() };
    for candle in candles.iter().filter(|c| c.open_ms >= since_ms) {
        if ticker.count == 0 {
            ticker.open = candle.open;
            ticker.low = candle.low;
            ticker.first_trade = candle.first_trade;
        }
        ticker.high = ticker.high.max(candle.high);
        ticker.low = ticker.low.min(candle.low);
        ticker.last = candle.close;
        ticker.volume = ticker.volume.saturating_add(candle.volume);
        ticker.quote_volume = ticker.quote_volume.saturating_add(candle.quote_volume);
        ticker.count += candle.count;
        ticker.last_trade = candle.last_trade;
    }
    ticker
}
