//! Histories written by an older build, read by this one: a node upgraded in place restores the
//! snapshot its previous build wrote.
//!
//! Layout 1 (before klines) kept one series of minute candles per market, without taker-buy
//! volumes. It becomes today's layout with every interval from a minute up rebuilt by folding
//! those minutes; the seconds' series starts empty and the taker-buy volumes of those candles
//! are 0. Each node converts the snapshot it had, taken at its own index, and keeps a day of
//! minutes from there: candles that opened before the upgrade can differ between nodes for as
//! long as they are kept (a month's candle, a thousand months). Candles that open after every
//! node has upgraded agree.
//!
//! Must never: be tried before the current layout (postcard carries no version: the current
//! layout is the only one a fresh snapshot has).

use std::collections::{BTreeMap, VecDeque};

use outlast_engine::{AccountId, OrderId};
use serde::{Deserialize, Serialize};

use crate::candles::Candle;
use crate::history::{AccountHistory, History, HistoryLimits, MarketHistory};
use crate::klines::Klines;
use crate::records::{MarketTrade, OrderRecord};

#[derive(Deserialize, Serialize)]
struct CandleV1 {
    open_ms: u64,
    open: u64,
    high: u64,
    low: u64,
    close: u64,
    volume: u64,
    quote_volume: u64,
    count: u64,
    first_trade: u64,
    last_trade: u64,
}

#[derive(Deserialize, Serialize)]
struct MarketV1 {
    trades: VecDeque<MarketTrade>,
    candles: VecDeque<CandleV1>,
    last_price: u64,
}

#[derive(Deserialize, Serialize)]
struct HistoryV1 {
    limits: HistoryLimits,
    orders: BTreeMap<OrderId, OrderRecord>,
    accounts: BTreeMap<AccountId, AccountHistory>,
    markets: Vec<MarketV1>,
}

/// A layout-1 history, in today's layout; None if `bytes` are not one.
pub(crate) fn restore_v1(bytes: &[u8]) -> Option<History> {
    let (old, rest): (HistoryV1, &[u8]) = postcard::take_from_bytes(bytes).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let markets = old
        .markets
        .into_iter()
        .map(|market| {
            let mut klines = Klines::default();
            for c in market.candles {
                klines.add_minute(Candle {
                    open_ms: c.open_ms,
                    open: c.open,
                    high: c.high,
                    low: c.low,
                    close: c.close,
                    volume: c.volume,
                    quote_volume: c.quote_volume,
                    taker_buy_volume: 0,
                    taker_buy_quote_volume: 0,
                    count: c.count,
                    first_trade: c.first_trade,
                    last_trade: c.last_trade,
                });
            }
            MarketHistory { trades: market.trades, klines, last_price: market.last_price }
        })
        .collect();
    Some(History::from_parts(old.limits, old.orders, old.accounts, markets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::klines::Interval;

    fn minute(open_ms: u64, price: u64, trade: u64) -> CandleV1 {
        CandleV1 {
            open_ms,
            open: price,
            high: price,
            low: price,
            close: price,
            volume: 2,
            quote_volume: 2 * price,
            count: 1,
            first_trade: trade,
            last_trade: trade,
        }
    }

    #[test]
    fn an_older_builds_history_restores_with_its_minutes_folded_into_every_interval() {
        let hour = 3_600_000;
        let day = 1_699_920_000_000; // a UTC midnight
        let old = HistoryV1 {
            limits: HistoryLimits::default(),
            orders: BTreeMap::new(),
            accounts: BTreeMap::new(),
            markets: vec![
                MarketV1 {
                    trades: VecDeque::new(),
                    candles: [minute(day, 100, 1), minute(day + 60_000, 120, 2), minute(day + hour, 90, 3)].into(),
                    last_price: 90,
                },
                // A market without candles: its bytes are also today's layout, with no series.
                MarketV1 { trades: VecDeque::new(), candles: VecDeque::new(), last_price: 0 },
            ],
        };
        let bytes = postcard::to_allocvec(&old).unwrap();
        let history = History::restore(&bytes).unwrap();
        let klines = history.klines(0).unwrap();
        assert_eq!(klines.minutes().len(), 3);
        let hours = klines.query(Interval::H1, 0, None, None, 10);
        assert_eq!(
            hours.iter().map(|c| (c.open_ms, c.high, c.count)).collect::<Vec<_>>(),
            [(day, 120, 2), (day + hour, 90, 1)]
        );
        assert_eq!(klines.query(Interval::D1, 0, None, None, 10).len(), 1);
        assert!(klines.query(Interval::S1, 0, None, None, 10).is_empty(), "seconds were never kept");
        assert!(history.klines(1).unwrap().well_formed());
        assert_eq!(history.ticker(0, day + 2 * hour).count, 3);
        // And today's snapshot of it round-trips as today's layout.
        assert_eq!(History::restore(&history.snapshot()).unwrap(), history);
        assert!(History::restore(&bytes[..bytes.len() - 1]).is_err(), "cut bytes are refused");
    }
}
