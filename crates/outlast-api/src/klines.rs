//! Candles as Binance serves them: `klines` and `uiKlines` for every interval, with `startTime`,
//! `endTime`, `limit` and `timeZone`, and `avgPrice`; all read from the replicated history
//! (`outlast_history::Klines`), so every node answers alike for the same applied index.
//!
//! Must never: synthesise a candle for an interval without trades (charts draw the gap; a
//! made-up candle would be a price nobody traded at).

use outlast_history::{Candle, Interval, KLINES_PER_SERIES_MAX, MINUTE_MS};
use serde_json::{json, Value};

use crate::api::{now_ms, Shared};
use crate::endpoint::{answered, Decoded, Reply};
use crate::error::ApiError;
use crate::names::Units;
use crate::params::Params;

/// Binance's `avgPrice` window, in minutes.
pub const AVERAGE_PRICE_MINUTES: u64 = 5;
/// The time zones Binance accepts, as minutes ahead of UTC.
const ZONE_MINUTES_RANGE: std::ops::RangeInclusive<i64> = -12 * 60..=14 * 60;

pub(crate) fn klines<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    answered(klines_json(api, params)?)
}

/// The same rows as `klines` (Binance's "optimised for presentation" variant has the same shape).
pub(crate) fn ui_klines<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    answered(klines_json(api, params)?)
}

pub(crate) fn avg_price<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    answered(avg_price_json(api, params)?)
}

/// `timeZone` as ms ahead of UTC: hours (`8`, `-1`) or hours and minutes (`05:45`, `-1:00`),
/// within [-12:00, +14:00].
pub fn zone_offset_ms(text: &str) -> Option<i64> {
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "00"));
    let digits = |t: &str, len: std::ops::RangeInclusive<usize>| {
        (len.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse::<i64>().ok()).flatten()
    };
    let (hours, minutes) = (digits(hours, 1..=2)?, digits(minutes, 2..=2)?);
    let total = sign * (hours * 60 + minutes);
    (minutes < 60 && ZONE_MINUTES_RANGE.contains(&total)).then_some(total * MINUTE_MS as i64)
}

fn klines_json(api: &Shared, params: &Params) -> Reply {
    let engine = api.reader.read();
    let units = Units::of(&engine, params.required("symbol")?)?;
    let interval = Interval::parse(params.required("interval")?).ok_or(ApiError::invalid_enum(-1120, "interval"))?;
    let offset_ms = match params.get("timeZone") {
        Some(text) => zone_offset_ms(text).ok_or_else(|| ApiError::mandatory("timeZone"))?,
        None => 0,
    };
    let (start_ms, end_ms) = (params.u64("startTime")?, params.u64("endTime")?);
    if let (Some(start), Some(end)) = (start_ms, end_ms) {
        if start > end {
            return Err(ApiError::bad_combination("startTime is after endTime"));
        }
    }
    let limit = match params.u64("limit")? {
        None => 500,
        Some(n @ 1..=1_000) => n as usize,
        Some(_) => return Err(ApiError::mandatory("limit")),
    };
    debug_assert!(limit <= KLINES_PER_SERIES_MAX);
    let history = api.reader.history();
    let candles = match history.klines(units.id) {
        Some(klines) => klines.query(interval, offset_ms, start_ms, end_ms, limit),
        None => Vec::new(),
    };
    Ok(Value::Array(candles.iter().map(|c| row(&units, interval, offset_ms, c)).collect()))
}

/// One candle as Binance's array: open time, OHLC, volume, close time, quote volume, trades,
/// taker buy base and quote volumes, and an unused field.
fn row(units: &Units, interval: Interval, offset_ms: i64, c: &Candle) -> Value {
    json!([
        c.open_ms,
        units.price(c.open),
        units.price(c.high),
        units.price(c.low),
        units.price(c.close),
        units.qty(c.volume),
        interval.next_open_ms(c.open_ms, offset_ms) - 1,
        units.price(c.quote_volume),
        c.count,
        units.qty(c.taker_buy_volume),
        units.price(c.taker_buy_quote_volume),
        "0",
    ])
}

/// The volume-weighted average price of the trades in the minutes that overlap the last five
/// (minute resolution: the history keeps minutes, not every trade), and the last trade's time
/// (Binance's `closeTime`); 0 without trades.
fn avg_price_json(api: &Shared, params: &Params) -> Reply {
    let engine = api.reader.read();
    let units = Units::of(&engine, params.required("symbol")?)?;
    let history = api.reader.history();
    let since_ms = now_ms().saturating_sub(AVERAGE_PRICE_MINUTES * MINUTE_MS);
    let (mut quote, mut base) = (0u128, 0u128);
    if let Some(klines) = history.klines(units.id) {
        for candle in klines.minutes().iter().filter(|c| c.open_ms >= since_ms - since_ms % MINUTE_MS) {
            quote += u128::from(candle.quote_volume);
            base += u128::from(candle.volume);
        }
    }
    let average = match base {
        0 => 0,
        base => u64::try_from(quote * 10u128.pow(u32::from(units.base_decimals)) / base).unwrap_or(u64::MAX),
    };
    let close_ms = history.market_trades(units.id).last().map_or(0, |t| t.ts_ms);
    Ok(json!({ "mins": AVERAGE_PRICE_MINUTES, "price": units.price(average), "closeTime": close_ms }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zones_parse_as_binance_accepts_them() {
        let hour = 60 * MINUTE_MS as i64;
        assert_eq!(zone_offset_ms("0"), Some(0));
        assert_eq!(zone_offset_ms("8"), Some(8 * hour));
        assert_eq!(zone_offset_ms("+08:00"), Some(8 * hour));
        assert_eq!(zone_offset_ms("-1:00"), Some(-hour));
        assert_eq!(zone_offset_ms("05:45"), Some(5 * hour + 45 * MINUTE_MS as i64));
        assert_eq!(zone_offset_ms("14"), Some(14 * hour));
        assert_eq!(zone_offset_ms("-12:00"), Some(-12 * hour));
        for bad in ["15", "-13", "14:01", "5:60", "5:5", "abc", "", "+", "1:00:00", "08h", "٣"] {
            assert_eq!(zone_offset_ms(bad), None, "{bad:?}");
        }
    }
}
