//! A candle (the trades of one market in one interval) and the rolling 24-hour statistics built
//! from the minute's candles.

use serde::{Deserialize, Serialize};

/// One minute, in ms.
pub const MINUTE_MS: u64 = 60_000;
/// The trades of one market in one interval.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candle {
    /// Start of the interval, ms since the epoch.
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
    /// Base volume of the trades whose taker bought.
    pub taker_buy_volume: u64,
    /// Quote volume of the trades whose taker bought.
    pub taker_buy_quote_volume: u64,
    /// Number of trades.
    pub count: u64,
    /// First trade id.
    pub first_trade: u64,
    /// Last trade id.
    pub last_trade: u64,
}

/// Statistics over the candles of a window (Binance's `ticker/24hr`, `ticker`,
/// `ticker/tradingDay`), to minute resolution within the last day and to the hour before it. Volumes saturate rather than wrap (they are statistics, not money).
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

impl Candle {
    /// A candle of one trade, opening at `open_ms`.
    pub(crate) fn of(trade: crate::klines::TradeTick, open_ms: u64) -> Candle {
        let (taker_buy_volume, taker_buy_quote_volume) =
            if trade.taker_buys { (trade.qty, trade.quote) } else { (0, 0) };
        Candle {
            open_ms,
            open: trade.price,
            high: trade.price,
            low: trade.price,
            close: trade.price,
            volume: trade.qty,
            quote_volume: trade.quote,
            taker_buy_volume,
            taker_buy_quote_volume,
            count: 1,
            first_trade: trade.id,
            last_trade: trade.id,
        }
    }

    /// Adds `later`'s trades (all after this candle's) to this candle.
    pub(crate) fn fold(&mut self, later: &Candle) {
        self.high = self.high.max(later.high);
        self.low = self.low.min(later.low);
        self.close = later.close;
        self.volume = self.volume.saturating_add(later.volume);
        self.quote_volume = self.quote_volume.saturating_add(later.quote_volume);
        self.taker_buy_volume = self.taker_buy_volume.saturating_add(later.taker_buy_volume);
        self.taker_buy_quote_volume = self.taker_buy_quote_volume.saturating_add(later.taker_buy_quote_volume);
        self.count += later.count;
        self.last_trade = later.last_trade;
    }
}

/// The statistics of the `candles` (oldest first) that open at or after `since_ms`.
pub(crate) fn ticker<'a>(candles: impl IntoIterator<Item = &'a Candle>, since_ms: u64) -> Ticker {
    let mut ticker = Ticker { open_ms: since_ms, ..Ticker::default() };
    for candle in candles.into_iter().filter(|c| c.open_ms >= since_ms) {
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
