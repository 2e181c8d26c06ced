//! Binance's names for our enums, both ways, and a market's units for formatting.

use outlast_engine::{Engine, MarketId, MarketStatus, OrderStatus, Side, StpMode, TimeInForce};
use outlast_history::OrderType;

use crate::decimal;
use crate::error::ApiError;

/// `BUY` / `SELL`.
pub fn side(side: Side) -> &'static str {
    match side {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

/// Parses `BUY` / `SELL` (-1117).
pub fn parse_side(text: &str) -> Result<Side, ApiError> {
    match text {
        "BUY" => Ok(Side::Buy),
        "SELL" => Ok(Side::Sell),
        _ => Err(ApiError::invalid_enum(-1117, "side")),
    }
}

/// Binance's order status names.
pub fn status(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::New => "NEW",
        OrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
        OrderStatus::Filled => "FILLED",
        OrderStatus::Canceled => "CANCELED",
        OrderStatus::Expired => "EXPIRED",
        OrderStatus::ExpiredInMatch => "EXPIRED_IN_MATCH",
    }
}

/// `GTC` / `IOC` / `FOK`.
pub fn tif(tif: TimeInForce) -> &'static str {
    match tif {
        TimeInForce::Gtc => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
    }
}

/// Parses a time in force (-1115).
pub fn parse_tif(text: &str) -> Result<TimeInForce, ApiError> {
    match text {
        "GTC" => Ok(TimeInForce::Gtc),
        "IOC" => Ok(TimeInForce::Ioc),
        "FOK" => Ok(TimeInForce::Fok),
        _ => Err(ApiError::invalid_enum(-1115, "timeInForce")),
    }
}

/// `LIMIT` / `LIMIT_MAKER` / `MARKET`.
pub fn order_type(order_type: OrderType) -> &'static str {
    match order_type {
        OrderType::Limit => "LIMIT",
        OrderType::LimitMaker => "LIMIT_MAKER",
        OrderType::Market => "MARKET",
    }
}

/// Binance's STP mode names.
pub fn stp(mode: StpMode) -> &'static str {
    match mode {
        StpMode::None => "NONE",
        StpMode::ExpireTaker => "EXPIRE_TAKER",
        StpMode::ExpireMaker => "EXPIRE_MAKER",
        StpMode::ExpireBoth => "EXPIRE_BOTH",
    }
}

/// Parses an STP mode (-1100 family: Binance answers unknown enum values with -1100/-1102).
pub fn parse_stp(text: &str) -> Result<StpMode, ApiError> {
    match text {
        "NONE" => Ok(StpMode::None),
        "EXPIRE_TAKER" => Ok(StpMode::ExpireTaker),
        "EXPIRE_MAKER" => Ok(StpMode::ExpireMaker),
        "EXPIRE_BOTH" => Ok(StpMode::ExpireBoth),
        _ => Err(ApiError::mandatory("selfTradePreventionMode")),
    }
}

/// Binance's symbol status for a market status.
pub fn market_status(status: MarketStatus) -> &'static str {
    match status {
        MarketStatus::Trading => "TRADING",
        MarketStatus::CancelOnly => "BREAK",
        MarketStatus::Halted => "HALT",
    }
}

/// A market's identity and units, copied out of the engine.
#[derive(Clone, Debug)]
pub struct Units {
    /// Engine id.
    pub id: MarketId,
    /// Symbol, e.g. `BTCUSDT`.
    pub symbol: String,
    /// Base asset symbol.
    pub base: String,
    /// Quote asset symbol.
    pub quote: String,
    /// Base asset decimals (quantities).
    pub base_decimals: u8,
    /// Quote asset decimals (prices and quote amounts).
    pub quote_decimals: u8,
}

impl Units {
    /// The market named `symbol` (-1121 if none).
    pub fn of(engine: &Engine, symbol: &str) -> Result<Units, ApiError> {
        let id = engine.market_id(symbol).ok_or_else(ApiError::bad_symbol)?;
        Ok(Units::by_id(engine, id))
    }

    /// The market with engine id `id`, which must exist.
    pub fn by_id(engine: &Engine, id: MarketId) -> Units {
        let spec = &engine.markets()[id as usize].spec;
        let (base, quote) = (&engine.assets()[spec.base as usize], &engine.assets()[spec.quote as usize]);
        Units {
            id,
            symbol: spec.symbol.clone(),
            base: base.symbol.clone(),
            quote: quote.symbol.clone(),
            base_decimals: base.decimals,
            quote_decimals: quote.decimals,
        }
    }

    /// A price or quote amount as text.
    pub fn price(&self, value: u64) -> String {
        decimal::format(value, self.quote_decimals)
    }

    /// A base quantity as text.
    pub fn qty(&self, value: u64) -> String {
        decimal::format(value, self.base_decimals)
    }

    /// Parses a price or quote amount.
    pub fn parse_price(&self, name: &str, text: &str) -> Result<u64, ApiError> {
        parse_amount(name, text, self.quote_decimals)
    }

    /// Parses a base quantity.
    pub fn parse_qty(&self, name: &str, text: &str) -> Result<u64, ApiError> {
        parse_amount(name, text, self.base_decimals)
    }
}

/// Parses an amount parameter with `decimals` decimals.
pub fn parse_amount(name: &str, text: &str, decimals: u8) -> Result<u64, ApiError> {
    decimal::parse(text, decimals).map_err(|e| match e {
        decimal::DecimalError::Precision => ApiError::bad_precision(name),
        decimal::DecimalError::Malformed | decimal::DecimalError::Overflow => ApiError::mandatory(name),
    })
}

/// `YYYY-MM-DD HH:MM:SS` in UTC for ms since the epoch (Binance's wallet history times).
pub fn utc_text(ms: u64) -> String {
    let secs = ms / 1_000;
    let (days, rest) = ((secs / 86_400) as i64, secs % 86_400);
    let (year, month, day) = outlast_history::civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}", rest / 3_600, rest / 60 % 60, rest % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_text_matches_known_dates() {
        assert_eq!(super::utc_text(0), "1970-01-01 00:00:00");
        assert_eq!(super::utc_text(1_570_882_322_000), "2019-10-12 12:12:02");
        assert_eq!(super::utc_text(951_782_400_000), "2000-02-29 00:00:00");
    }
}
