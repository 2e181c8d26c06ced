//! Request weight per minute, per IP and per API key, as Binance counts it.
//!
//! Fixed one-minute windows aligned to the clock (Binance's `X-MBX-USED-WEIGHT-1M`). The table
//! is bounded: when it is full, counters of past minutes are dropped first, and if every entry
//! is current the newcomer is refused (429) rather than the table growing without limit.

use std::collections::HashMap;
use std::sync::Mutex;

/// Weight one IP may use per minute (Binance: 6,000).
pub const IP_WEIGHT_PER_MINUTE_MAX: u32 = 6_000;
/// Weight one API key may use per minute.
pub const KEY_WEIGHT_PER_MINUTE_MAX: u32 = 6_000;
/// WebSocket connections one IP may open per `WS_CONNECTS_WINDOW_MS` (Binance: 300 every
/// 5 minutes).
pub const WS_CONNECTS_PER_WINDOW_MAX: u32 = 300;
/// The window WebSocket connections are counted in, in ms.
pub const WS_CONNECTS_WINDOW_MS: u64 = 5 * 60_000;

/// The limits a node enforces (Binance's defaults unless configured).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightLimits {
    /// Weight one client IP may use per minute.
    pub ip_per_minute: u32,
    /// Weight one API key may use per minute.
    pub key_per_minute: u32,
    /// WebSocket connections one client IP may open per `WS_CONNECTS_WINDOW_MS`.
    pub ws_connects_per_window: u32,
}

impl Default for WeightLimits {
    fn default() -> Self {
        WeightLimits {
            ip_per_minute: IP_WEIGHT_PER_MINUTE_MAX,
            key_per_minute: KEY_WEIGHT_PER_MINUTE_MAX,
            ws_connects_per_window: WS_CONNECTS_PER_WINDOW_MAX,
        }
    }
}

/// Distinct IPs and keys counted at once.
pub const COUNTERS_MAX: usize = 100_000;

/// Who is counted.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Counter {
    /// A client address.
    Ip(std::net::IpAddr),
    /// An API key name.
    Key(String),
    /// A client address's WebSocket connections (counted in `WS_CONNECTS_WINDOW_MS`).
    Connects(std::net::IpAddr),
}

/// The weight table.
#[derive(Debug, Default)]
pub struct Weights {
    /// Per counter: its window's length in ms, the window's index, the weight used in it.
    used: Mutex<HashMap<Counter, (u64, u64, u32)>>,
}

/// The result of charging a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charge {
    /// Allowed; the weight used this minute, this request included.
    Ok(u32),
    /// Over the limit; the weight used so far.
    Over(u32),
}

impl Weights {
    /// Adds `weight` to `counter` for the minute of `now_ms`, unless that exceeds `limit`.
    pub fn charge(&self, counter: Counter, weight: u32, limit: u32, now_ms: u64) -> Charge {
        self.charge_in(counter, weight, limit, now_ms, 60_000)
    }

    /// Adds `weight` to `counter` for the window of `window_ms` that `now_ms` is in, unless that
    /// exceeds `limit`.
    pub fn charge_in(&self, counter: Counter, weight: u32, limit: u32, now_ms: u64, window_ms: u64) -> Charge {
        assert!(window_ms > 0);
        let window = now_ms / window_ms;
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        if used.len() >= COUNTERS_MAX && !used.contains_key(&counter) {
            // Each counter by its own window: a full table drops only what has expired.
            used.retain(|_, (length_ms, index, _)| *index == now_ms / *length_ms);
            if used.len() >= COUNTERS_MAX {
                return Charge::Over(limit);
            }
        }
        let entry = used.entry(counter).or_insert((window_ms, window, 0));
        if (entry.0, entry.1) != (window_ms, window) {
            *entry = (window_ms, window, 0);
        }
        let total = entry.2.saturating_add(weight);
        if total > limit {
            return Charge::Over(entry.2);
        }
        entry.2 = total;
        Charge::Ok(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_is_refused_past_the_limit_and_resets_each_minute() {
        let weights = Weights::default();
        let ip = || Counter::Ip("127.0.0.1".parse().unwrap());
        assert_eq!(weights.charge(ip(), 6, 10, 0), Charge::Ok(6));
        assert_eq!(weights.charge(ip(), 5, 10, 1), Charge::Over(6));
        assert_eq!(weights.charge(ip(), 4, 10, 2), Charge::Ok(10));
        assert_eq!(weights.charge(ip(), 1, 10, 60_000), Charge::Ok(1));
        assert_eq!(weights.charge(Counter::Key("k".into()), 10, 10, 60_000), Charge::Ok(10));
        let connects = || Counter::Connects("127.0.0.1".parse().unwrap());
        let window = WS_CONNECTS_WINDOW_MS;
        assert_eq!(weights.charge_in(connects(), 2, 2, 0, window), Charge::Ok(2));
        assert_eq!(weights.charge_in(connects(), 1, 2, window - 1, window), Charge::Over(2), "one window");
        assert_eq!(weights.charge_in(connects(), 1, 2, window, window), Charge::Ok(1), "the next");
    }

    #[test]
    fn a_full_table_drops_only_counters_whose_own_window_ended() {
        let weights = Weights::default();
        let window = WS_CONNECTS_WINDOW_MS;
        let connects = || Counter::Connects("10.0.0.1".parse().unwrap());
        assert_eq!(weights.charge_in(connects(), 2, 2, 0, window), Charge::Ok(2));
        for n in 1..COUNTERS_MAX as u32 {
            weights.charge(Counter::Key(n.to_string()), 1, 10, 0);
        }
        // A minute later, a new counter needs room: the keys' minute is over, the connection
        // window is not, so the address's connections stay counted.
        assert_eq!(weights.charge(Counter::Key("new".into()), 1, 10, 60_000), Charge::Ok(1));
        assert_eq!(weights.charge_in(connects(), 1, 2, 60_000, window), Charge::Over(2));
    }
}
