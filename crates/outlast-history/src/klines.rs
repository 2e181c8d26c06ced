//! Candles for every Binance kline interval, per market: one bounded series per interval, each
//! trade folded into all of them as it applies, so that every replica answers `klines` alike.
//!
//! A series holds candles with trades only (an interval without trades has none), the newest
//! `KLINES_PER_SERIES_MAX` of them (Binance's largest `limit`); the minute's series holds a day
//! for the 24-hour ticker. Another time zone is answered by folding a finer UTC series whose
//! interval divides the offset (`Klines::query`), so its reach is that series' reach: a candle
//! whose beginning that series no longer holds is left out, never answered partial (a month at
//! UTC+5:30, folded from half hours, is answered only while the month is under 20 days old).
//!
//! Must never: read a clock (a trade's engine time is the only time here).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::candles::{Candle, MINUTE_MS};

/// The newest candles a series keeps (Binance answers at most 1,000 per request).
pub const KLINES_PER_SERIES_MAX: usize = 1_000;
/// The minute's series keeps a day: the 24-hour ticker is read from it.
pub const MINUTE_KLINES_MAX: usize = 1_440;

const SECOND_MS: i64 = 1_000;
const HOUR_MS: i64 = 60 * MINUTE_MS as i64;
const DAY_MS: i64 = 24 * HOUR_MS;

/// A Binance kline interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Interval {
    /// `1s`
    S1,
    /// `1m`
    M1,
    /// `3m`
    M3,
    /// `5m`
    M5,
    /// `15m`
    M15,
    /// `30m`
    M30,
    /// `1h`
    H1,
    /// `2h`
    H2,
    /// `4h`
    H4,
    /// `6h`
    H6,
    /// `8h`
    H8,
    /// `12h`
    H12,
    /// `1d`
    D1,
    /// `3d`
    D3,
    /// `1w` (from Monday 00:00)
    W1,
    /// `1M` (from the first of the month)
    Mo1,
}

impl Interval {
    /// Every interval, finest first; a series' index in `Klines` is its place here.
    pub const ALL: [Interval; 16] = [
        Interval::S1,
        Interval::M1,
        Interval::M3,
        Interval::M5,
        Interval::M15,
        Interval::M30,
        Interval::H1,
        Interval::H2,
        Interval::H4,
        Interval::H6,
        Interval::H8,
        Interval::H12,
        Interval::D1,
        Interval::D3,
        Interval::W1,
        Interval::Mo1,
    ];

    /// Its name, as Binance spells it.
    pub fn name(self) -> &'static str {
        const NAMES: [&str; 16] =
            ["1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"];
        NAMES[self as usize]
    }

    /// The interval named `name` (case matters: `1m` is a minute, `1M` a month).
    pub fn parse(name: &str) -> Option<Interval> {
        Interval::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Its length in ms; a month has none.
    pub fn fixed_ms(self) -> Option<i64> {
        let minutes = |m: i64| Some(m * MINUTE_MS as i64);
        match self {
            Interval::S1 => Some(SECOND_MS),
            Interval::M1 => minutes(1),
            Interval::M3 => minutes(3),
            Interval::M5 => minutes(5),
            Interval::M15 => minutes(15),
            Interval::M30 => minutes(30),
            Interval::H1 => Some(HOUR_MS),
            Interval::H2 => Some(2 * HOUR_MS),
            Interval::H4 => Some(4 * HOUR_MS),
            Interval::H6 => Some(6 * HOUR_MS),
            Interval::H8 => Some(8 * HOUR_MS),
            Interval::H12 => Some(12 * HOUR_MS),
            Interval::D1 => Some(DAY_MS),
            Interval::D3 => Some(3 * DAY_MS),
            Interval::W1 => Some(7 * DAY_MS),
            Interval::Mo1 => None,
        }
    }

    /// Where the interval holding `ts_ms` opens, with clocks `offset_ms` ahead of UTC; ms since
    /// the epoch (UTC), and never before it.
    pub fn open_ms(self, ts_ms: u64, offset_ms: i64) -> u64 {
        let local = ts_ms as i64 + offset_ms;
        let open = match self {
            // 1970-01-01 was a Thursday: weeks open three days before the epoch's multiples.
            Interval::W1 => local - (local + 3 * DAY_MS).rem_euclid(7 * DAY_MS),
            Interval::Mo1 => {
                let (year, month, _) = civil_from_days(local.div_euclid(DAY_MS));
                days_from_civil(year, month, 1) * DAY_MS
            }
            fixed => {
                let len = fixed.fixed_ms().expect("fixed");
                local - local.rem_euclid(len)
            }
        };
        (open - offset_ms).max(0) as u64
    }

    /// Where the interval after the one opening at `open_ms` opens.
    pub fn next_open_ms(self, open_ms: u64, offset_ms: i64) -> u64 {
        match self.fixed_ms() {
            Some(len) => open_ms + len as u64,
            None => {
                let local = open_ms as i64 + offset_ms;
                let (year, month, _) = civil_from_days(local.div_euclid(DAY_MS));
                let (year, month) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
                (days_from_civil(year, month, 1) * DAY_MS - offset_ms).max(0) as u64
            }
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of day `days` since 1970-01-01: (year, month 1–12, day 1–31), proleptic Gregorian
/// (Howard Hinnant's algorithm).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (year_of_era + era * 400 + i64::from(month <= 2), month, day)
}

/// One market's series, one per interval (in `Interval::ALL` order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Klines {
    series: Vec<VecDeque<Candle>>,
}

impl Default for Klines {
    fn default() -> Self {
        Klines { series: vec![VecDeque::new(); Interval::ALL.len()] }
    }
}

/// A trade as the candles see it.
#[derive(Clone, Copy, Debug)]
pub struct TradeTick {
    /// Trade id.
    pub id: u64,
    /// Price.
    pub price: u64,
    /// Base quantity.
    pub qty: u64,
    /// Quote amount.
    pub quote: u64,
    /// Whether the taker bought (Binance's "taker buy" volumes).
    pub taker_buys: bool,
    /// Engine time.
    pub ts_ms: u64,
}

impl Klines {
    /// Folds one trade into every series.
    pub fn add(&mut self, trade: TradeTick) {
        self.fold(&Candle::of(trade, trade.ts_ms), Interval::S1);
    }

    /// Folds a whole minute's candle (an older build's) into every series from a minute up.
    pub(crate) fn add_minute(&mut self, minute: Candle) {
        self.fold(&minute, Interval::M1);
    }

    /// Folds `candle` (trades from its `open_ms` on) into the series of `finest` and coarser.
    fn fold(&mut self, candle: &Candle, finest: Interval) {
        for (series, interval) in self.series.iter_mut().zip(Interval::ALL).filter(|(_, i)| *i >= finest) {
            let len_max = if interval == Interval::M1 { MINUTE_KLINES_MAX } else { KLINES_PER_SERIES_MAX };
            let open_ms = interval.open_ms(candle.open_ms, 0);
            match series.back_mut() {
                // A trade stamped before the newest candle opened (a new leader's clock a little
                // behind) joins the newest candle rather than reopening an old one.
                Some(newest) if newest.open_ms >= open_ms => newest.fold(candle),
                _ => {
                    if series.len() == len_max {
                        series.pop_front();
                    }
                    series.push_back(Candle { open_ms, ..candle.clone() });
                }
            }
            debug_assert!(series.len() <= len_max);
        }
    }

    /// Whether it has one series per interval, each within its bound (bytes of another layout
    /// can decode into something that has not).
    pub(crate) fn well_formed(&self) -> bool {
        self.series.len() == Interval::ALL.len()
            && self.series.iter().zip(Interval::ALL).all(|(series, interval)| {
                series.len() <= if interval == Interval::M1 { MINUTE_KLINES_MAX } else { KLINES_PER_SERIES_MAX }
            })
    }

    /// The minute's series (the 24-hour ticker reads it).
    pub fn minutes(&self) -> &VecDeque<Candle> {
        &self.series[Interval::M1 as usize]
    }

    /// Up to `limit` candles of `interval` with clocks `offset_ms` ahead of UTC, opening within
    /// `start_ms..=end_ms`: the first ones from `start_ms` if it is given, else the newest.
    pub fn query(
        &self,
        interval: Interval,
        offset_ms: i64,
        start_ms: Option<u64>,
        end_ms: Option<u64>,
        limit: usize,
    ) -> Vec<Candle> {
        let source = source_of(interval, offset_ms);
        let series = &self.series[source as usize];
        let mut candles: Vec<Candle> = Vec::new();
        for candle in series {
            let open_ms = interval.open_ms(candle.open_ms, offset_ms);
            match candles.last_mut() {
                Some(last) if last.open_ms == open_ms => last.fold(candle),
                _ => candles.push(Candle { open_ms, ..candle.clone() }),
            }
        }
        // Folded from a finer series that has dropped older candles: the first folded candle
        // may lack its beginning, and a partial candle is never answered as a whole one.
        let full = series.len() == if source == Interval::M1 { MINUTE_KLINES_MAX } else { KLINES_PER_SERIES_MAX };
        if source != interval && full && series.front().map(|c| c.open_ms) != candles.first().map(|c| c.open_ms) {
            candles.remove(0);
        }
        let within = |c: &&Candle| start_ms.is_none_or(|s| c.open_ms >= s) && end_ms.is_none_or(|e| c.open_ms <= e);
        let chosen: Vec<&Candle> = candles.iter().filter(within).collect();
        let chosen = match start_ms {
            Some(_) => &chosen[..chosen.len().min(limit)],
            None => &chosen[chosen.len().saturating_sub(limit)..],
        };
        chosen.iter().map(|c| (*c).clone()).collect()
    }
}

/// The series `interval` is read from with clocks `offset_ms` ahead of UTC: its own when the
/// offset moves none of its boundaries, else the coarsest finer one whose boundaries all stay
/// boundaries (its length divides both the offset and the interval, a day for a month).
fn source_of(interval: Interval, offset_ms: i64) -> Interval {
    let span = interval.fixed_ms().unwrap_or(DAY_MS);
    let fits = |len: i64| offset_ms.rem_euclid(len) == 0 && span % len == 0;
    if offset_ms == 0 || (interval.fixed_ms().is_some_and(fits) && interval != Interval::W1 && interval != Interval::D3)
    {
        return interval;
    }
    Interval::ALL
        .into_iter()
        .filter(|i| *i < interval && !matches!(i, Interval::W1 | Interval::D3 | Interval::Mo1))
        .rfind(|i| i.fixed_ms().is_some_and(fits))
        .unwrap_or(Interval::S1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000; // 2023-11-14 22:13:20 UTC, a Tuesday

    fn tick(id: u64, price: u64, ts_ms: u64) -> TradeTick {
        TradeTick { id, price, qty: 2, quote: 2 * price, taker_buys: id % 2 == 0, ts_ms }
    }

    #[test]
    fn dates_and_boundaries_match_the_calendar() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2024, 3, 1), 19_783);
        for days in [-800_000, -1, 0, 59, 11_016, 19_783, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        let hour = HOUR_MS as u64;
        assert_eq!(Interval::H4.open_ms(T0, 0), T0 - T0 % (4 * hour));
        assert_eq!(Interval::D1.open_ms(T0, 0), 1_699_920_000_000); // 2023-11-14 00:00 UTC
        assert_eq!(Interval::W1.open_ms(T0, 0), 1_699_833_600_000); // Monday 2023-11-13
        assert_eq!(Interval::Mo1.open_ms(T0, 0), 1_698_796_800_000); // 2023-11-01
        assert_eq!(Interval::Mo1.next_open_ms(1_698_796_800_000, 0), 1_701_388_800_000); // 2023-12-01
                                                                                         // At UTC+8 it is already Wednesday the 15th: the day opened at 16:00 UTC on the 14th.
        assert_eq!(Interval::D1.open_ms(T0, 8 * HOUR_MS), 1_699_977_600_000);
        for interval in Interval::ALL {
            assert_eq!(Interval::parse(interval.name()), Some(interval));
            let open = interval.open_ms(T0, 0);
            assert!(open <= T0 && T0 < interval.next_open_ms(open, 0), "{interval:?}");
        }
        assert_eq!(Interval::parse("1y"), None);
    }

    #[test]
    fn trades_fold_into_every_interval_and_series_stay_bounded() {
        let mut klines = Klines::default();
        klines.add(tick(1, 100, T0));
        klines.add(tick(2, 120, T0 + 10));
        klines.add(tick(3, 90, T0 + 1_500));
        let seconds = klines.query(Interval::S1, 0, None, None, 10);
        assert_eq!(seconds.len(), 2);
        let minute = &klines.query(Interval::M1, 0, None, None, 10)[0];
        assert_eq!((minute.open, minute.high, minute.low, minute.close, minute.count), (100, 120, 90, 90, 3));
        assert_eq!((minute.volume, minute.taker_buy_volume, minute.first_trade, minute.last_trade), (6, 2, 1, 3));
        for n in 0..1_100u64 {
            klines.add(tick(4 + n, 100, T0 + 2_000 + n * 1_000));
        }
        assert_eq!(klines.series[Interval::S1 as usize].len(), KLINES_PER_SERIES_MAX);
        let newest = klines.query(Interval::S1, 0, None, None, 5);
        assert_eq!(newest.last().unwrap().last_trade, 1_103);
        let from = klines.query(Interval::S1, 0, Some(T0 + 500_000), None, 3);
        assert_eq!(from[0].open_ms, T0 + 500_000);
        let until = klines.query(Interval::S1, 0, None, Some(T0 + 500_000), 2);
        assert_eq!(until.last().unwrap().open_ms, T0 + 500_000);
    }

    #[test]
    fn another_time_zone_folds_a_finer_series() {
        assert_eq!(source_of(Interval::D1, 8 * HOUR_MS), Interval::H8);
        assert_eq!(source_of(Interval::D1, 0), Interval::D1);
        assert_eq!(source_of(Interval::H1, 5 * HOUR_MS + 45 * MINUTE_MS as i64), Interval::M15);
        assert_eq!(source_of(Interval::M15, 5 * HOUR_MS + 45 * MINUTE_MS as i64), Interval::M15);
        assert_eq!(source_of(Interval::Mo1, -HOUR_MS), Interval::H1);
        let mut klines = Klines::default();
        // 15:00 and 17:00 UTC on one UTC day: two days at UTC+8 (23:00 and 01:00).
        let day = 1_699_920_000_000;
        klines.add(tick(1, 100, day + 15 * HOUR_MS as u64));
        klines.add(tick(2, 200, day + 17 * HOUR_MS as u64));
        assert_eq!(klines.query(Interval::D1, 0, None, None, 10).len(), 1);
        let east = klines.query(Interval::D1, 8 * HOUR_MS, None, None, 10);
        assert_eq!(
            east.iter().map(|c| (c.open_ms, c.close)).collect::<Vec<_>>(),
            [(day - 8 * HOUR_MS as u64, 100), (day + 16 * HOUR_MS as u64, 200)]
        );
    }
}

#[cfg(test)]
mod reach {
    use super::*;

    #[test]
    fn a_candle_the_finer_series_no_longer_covers_from_its_beginning_is_left_out() {
        let mut klines = Klines::default();
        let half_hour = 30 * MINUTE_MS;
        let day = 1_699_920_000_000u64;
        // 1,100 half hours of trades: the half-hour series keeps the newest 1,000 (about 20.8 days).
        for n in 0..1_100u64 {
            klines.add(TradeTick {
                id: n + 1,
                price: 100,
                qty: 1,
                quote: 100,
                taker_buys: true,
                ts_ms: day + n * half_hour,
            });
        }
        let zone = 5 * HOUR_MS + 30 * MINUTE_MS as i64;
        let days = klines.query(Interval::D1, zone, None, None, 1_000);
        let kept_from = klines.series[Interval::M30 as usize].front().unwrap().open_ms;
        assert!(days.first().unwrap().open_ms >= kept_from, "the first day is whole");
        assert!(days.iter().all(|d| d.count == 48 || d.open_ms == days.last().unwrap().open_ms), "whole days only");
        // In UTC the daily series itself is whole: nothing is left out.
        assert_eq!(klines.query(Interval::D1, 0, None, None, 1_000).iter().map(|d| d.count).sum::<u64>(), 1_100);
    }
}
