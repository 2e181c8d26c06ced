//! Rolling statistics as Binance shows them: `ticker/24hr`, `ticker` (a window of 1m to 7d),
//! `ticker/tradingDay` (since the day's start in a time zone), and the messages of the
//! `@ticker`, `@miniTicker` and all-market streams. One computation (`Stats`), four shapes.
//!
//! All read from the replicated history's candles (`History::ticker_since`), so windows start
//! at a minute boundary within the last day and at an hour boundary past it.
//!
//! Must never: answer an unbounded list: a request names at most 100 symbols.

use outlast_engine::Engine;
use outlast_history::{History, Interval, MINUTE_MS};
use serde_json::{json, Map, Value};

use crate::api::{now_ms, Shared};
use crate::endpoint::{answered, Decoded, Reply};
use crate::error::ApiError;
use crate::klines::zone_offset_ms;
use crate::names::Units;
use crate::params::Params;
use crate::public::{selected, symbol_count};

/// Longest rolling window (`7d`), in ms.
pub const WINDOW_MS_MAX: u64 = 7 * DAY_MS;
const HOUR_MS: u64 = 60 * MINUTE_MS;
const DAY_MS: u64 = 24 * HOUR_MS;

/// Which fields a ticker shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `ticker/24hr` FULL: the window's statistics, the previous close, last quantity and the top of the book.
    Day,
    /// `ticker` and `ticker/tradingDay` FULL: the window's statistics.
    Window,
    /// `type=MINI`: prices, volumes and trade ids only.
    Mini,
}

/// A market's statistics over a window, in its display units.
pub(crate) struct Stats {
    units: Units,
    ticker: outlast_history::Ticker,
    last_qty: u64,
    bid: (u64, u64),
    ask: (u64, u64),
    close_ms: u64,
}

impl Stats {
    /// `units`' market from `since_ms` to `now_ms`.
    pub(crate) fn of(engine: &Engine, history: &History, units: Units, since_ms: u64, now_ms: u64) -> Stats {
        let top = engine.depth(units.id, 1).expect("listed markets have books");
        Stats {
            ticker: history.ticker_since(units.id, since_ms, now_ms),
            last_qty: history.market_trades(units.id).last().map_or(0, |t| t.qty),
            bid: top.bids.first().copied().unwrap_or((0, 0)),
            ask: top.asks.first().copied().unwrap_or((0, 0)),
            close_ms: now_ms,
            units,
        }
    }

    /// The change from open to last: signed text, and percent with 3 decimals (statistics,
    /// not money).
    fn change(&self) -> (String, String) {
        let t = &self.ticker;
        let change = i128::from(t.last) - i128::from(t.open);
        let milli_pct = if t.open == 0 { 0 } else { change * 100_000 / i128::from(t.open) };
        let sign = if change < 0 { "-" } else { "" };
        let abs_change = change.unsigned_abs().min(u128::from(u64::MAX)) as u64;
        let pct = milli_pct.unsigned_abs();
        (format!("{sign}{}", self.units.price(abs_change)), format!("{sign}{}.{:03}", pct / 1000, pct % 1000))
    }

    fn weighted_average(&self) -> String {
        let t = &self.ticker;
        let weighted = if t.volume == 0 {
            0
        } else {
            let scale = 10u128.pow(u32::from(self.units.base_decimals));
            (u128::from(t.quote_volume) * scale / u128::from(t.volume)).min(u128::from(u64::MAX)) as u64
        };
        self.units.price(weighted)
    }

    fn trade_ids(&self) -> (i64, i64) {
        let t = &self.ticker;
        if t.count == 0 {
            (-1, -1)
        } else {
            (t.first_trade as i64, t.last_trade as i64)
        }
    }

    /// The REST answer's object.
    pub(crate) fn rest(&self, shape: Shape) -> Value {
        let (u, t) = (&self.units, &self.ticker);
        let (first_id, last_id) = self.trade_ids();
        let mut row = Map::new();
        row.insert("symbol".into(), u.symbol.clone().into());
        if shape != Shape::Mini {
            let (change, percent) = self.change();
            row.insert("priceChange".into(), change.into());
            row.insert("priceChangePercent".into(), percent.into());
            row.insert("weightedAvgPrice".into(), self.weighted_average().into());
        }
        if shape == Shape::Day {
            row.insert("prevClosePrice".into(), u.price(t.open).into());
            row.insert("lastQty".into(), u.qty(self.last_qty).into());
            row.insert("bidPrice".into(), u.price(self.bid.0).into());
            row.insert("bidQty".into(), u.qty(self.bid.1).into());
            row.insert("askPrice".into(), u.price(self.ask.0).into());
            row.insert("askQty".into(), u.qty(self.ask.1).into());
        }
        row.insert("openPrice".into(), u.price(t.open).into());
        row.insert("highPrice".into(), u.price(t.high).into());
        row.insert("lowPrice".into(), u.price(t.low).into());
        row.insert("lastPrice".into(), u.price(t.last).into());
        row.insert("volume".into(), u.qty(t.volume).into());
        row.insert("quoteVolume".into(), u.price(t.quote_volume).into());
        row.insert("openTime".into(), t.open_ms.into());
        row.insert("closeTime".into(), self.close_ms.into());
        row.insert("firstId".into(), first_id.into());
        row.insert("lastId".into(), last_id.into());
        row.insert("count".into(), t.count.into());
        Value::Object(row)
    }

    /// The `@ticker` (full) or `@miniTicker` stream's message.
    pub(crate) fn stream(&self, full: bool) -> Value {
        let (u, t) = (&self.units, &self.ticker);
        if !full {
            return json!({
                "e": "24hrMiniTicker", "E": self.close_ms, "s": u.symbol,
                "c": u.price(t.last), "o": u.price(t.open), "h": u.price(t.high), "l": u.price(t.low),
                "v": u.qty(t.volume), "q": u.price(t.quote_volume),
            });
        }
        let (change, percent) = self.change();
        let (first_id, last_id) = self.trade_ids();
        json!({
            "e": "24hrTicker", "E": self.close_ms, "s": u.symbol,
            "p": change, "P": percent, "w": self.weighted_average(), "x": u.price(t.open),
            "c": u.price(t.last), "Q": u.qty(self.last_qty),
            "b": u.price(self.bid.0), "B": u.qty(self.bid.1), "a": u.price(self.ask.0), "A": u.qty(self.ask.1),
            "o": u.price(t.open), "h": u.price(t.high), "l": u.price(t.low),
            "v": u.qty(t.volume), "q": u.price(t.quote_volume),
            "O": t.open_ms, "C": self.close_ms, "F": first_id, "L": last_id, "n": t.count,
        })
    }
}

/// The ticker streams' messages (`@ticker`, `@miniTicker`, the all-market arrays), computed
/// once per market and form for each applied state and second, and shared by every
/// connection: a thousand subscribers cost one computation, not a thousand. Bounded: two
/// entries a market, dropped whenever the state or the second moves.
#[derive(Default)]
pub struct TickerCache {
    /// (the engine's last applied sequence, the second) → (market, full) → message.
    entries: std::sync::Mutex<((u64, u64), std::collections::BTreeMap<(outlast_engine::MarketId, bool), Value>)>,
}

impl TickerCache {
    /// `market`'s rolling 24-hour message, full or mini, as of now.
    pub(crate) fn message(&self, api: &Shared, market: outlast_engine::MarketId, full: bool) -> Value {
        let now = now_ms();
        let engine = api.reader.read();
        let key = (engine.last_seq(), now / 1_000);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.0 != key {
            *entries = (key, std::collections::BTreeMap::new());
        }
        let history = api.reader.history();
        let stats = || Stats::of(&engine, &history, Units::by_id(&engine, market), now.saturating_sub(DAY_MS), now);
        entries.1.entry((market, full)).or_insert_with(|| stats().stream(full)).clone()
    }
}

/// `type`: FULL (the default) or MINI.
fn mini(params: &Params) -> Result<bool, ApiError> {
    match params.get("type") {
        None | Some("FULL") => Ok(false),
        Some("MINI") => Ok(true),
        Some(_) => Err(ApiError::mandatory("type")),
    }
}

/// `windowSize`: `1m`–`59m`, `1h`–`23h` or `1d`–`7d`, in ms.
fn window_ms(text: &str) -> Option<u64> {
    if !text.is_ascii() {
        return None;
    }
    let split = text.len().checked_sub(1)?;
    let (number, unit) = text.split_at(split);
    if number.is_empty() || number.len() > 2 || !number.bytes().all(|b| b.is_ascii_digit()) || number.starts_with('0') {
        return None;
    }
    let n: u64 = number.parse().ok()?;
    match unit {
        "m" if n <= 59 => Some(n * MINUTE_MS),
        "h" if n <= 23 => Some(n * HOUR_MS),
        "d" if n <= 7 => Some(n * DAY_MS),
        _ => None,
    }
}

/// Binance's weight for `ticker` and `ticker/tradingDay`: 4 a symbol, at most 200.
pub(crate) fn window_weight(params: &Params) -> u32 {
    (4 * symbol_count(params)).min(200)
}

/// The rows for `selected` markets, one object for `symbol`, an array for `symbols`.
fn rows(api: &Shared, params: &Params, shape: Shape, since_ms: impl Fn(u64) -> u64) -> Reply {
    let engine = api.reader.read();
    let (markets, single) = selected(&engine, params)?;
    let history = api.reader.history();
    let now = now_ms();
    let rows = markets.into_iter().map(|units| Stats::of(&engine, &history, units, since_ms(now), now).rest(shape));
    let rows: Vec<Value> = rows.collect();
    Ok(if single { rows.into_iter().next().unwrap_or(Value::Null) } else { Value::Array(rows) })
}

/// `symbol` or `symbols` is required (Binance has no all-market form of these).
fn require_symbols(params: &Params) -> Result<(), ApiError> {
    if params.peek("symbol").is_none() && params.peek("symbols").is_none() {
        return Err(ApiError::mandatory("symbol"));
    }
    Ok(())
}

/// `/api/v3/ticker/24hr`: the last 24 hours, one market, some, or all.
pub(crate) fn day<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    let shape = if mini(params)? { Shape::Mini } else { Shape::Day };
    answered(rows(api, params, shape, |now| now.saturating_sub(DAY_MS))?)
}

/// `/api/v3/ticker`: a rolling window of `windowSize` (default `1d`).
pub(crate) fn rolling<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    require_symbols(params)?;
    let shape = if mini(params)? { Shape::Mini } else { Shape::Window };
    let window_ms = match params.get("windowSize") {
        None => DAY_MS,
        Some(text) => window_ms(text).ok_or_else(|| ApiError::mandatory("windowSize"))?,
    };
    debug_assert!(window_ms <= WINDOW_MS_MAX);
    answered(rows(api, params, shape, |now| now.saturating_sub(window_ms))?)
}

/// `/api/v3/ticker/tradingDay`: since the start of today in `timeZone` (default UTC).
pub(crate) fn trading_day<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    require_symbols(params)?;
    let shape = if mini(params)? { Shape::Mini } else { Shape::Window };
    let offset_ms = match params.get("timeZone") {
        Some(text) => zone_offset_ms(text).ok_or_else(|| ApiError::mandatory("timeZone"))?,
        None => 0,
    };
    answered(rows(api, params, shape, |now| Interval::D1.open_ms(now, offset_ms))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_sizes_are_binances() {
        assert_eq!(window_ms("1m"), Some(MINUTE_MS));
        assert_eq!(window_ms("59m"), Some(59 * MINUTE_MS));
        assert_eq!(window_ms("23h"), Some(23 * HOUR_MS));
        assert_eq!(window_ms("7d"), Some(WINDOW_MS_MAX));
        for bad in ["", "m", "0m", "60m", "24h", "8d", "01m", "1w", "1M", "100m", "-1m", "1.5h", "1é", "é"] {
            assert_eq!(window_ms(bad), None, "{bad}");
        }
    }
}
