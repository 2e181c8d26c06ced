//! Market data: ping, time, exchangeInfo, depth, trades and tickers, from this node's applied
//! state (followers answer too; they may be a few milliseconds behind the leader).

use outlast_engine::{Engine, MarketStatus};
use serde_json::{json, Value};

use crate::api::{now_ms, Shared};
use crate::endpoint::{answered, Decoded, Reply};
use crate::error::ApiError;
use crate::names::{self, Units};
use crate::params::Params;

/// Deepest book snapshot served (Binance: 5,000).
pub const DEPTH_LIMIT_MAX: usize = 5_000;
/// Most trades served (Binance: 1,000).
pub const TRADES_LIMIT_MAX: usize = 1_000;

// Every answer here is read from this node's state and cannot fail once its parameters are
// decoded, so each handler computes it while decoding.

pub(crate) fn ping<'a>(_api: &'a Shared, _params: &Params) -> Decoded<'a> {
    answered(json!({}))
}

pub(crate) fn time<'a>(_api: &'a Shared, _params: &Params) -> Decoded<'a> {
    answered(json!({ "serverTime": now_ms() }))
}

pub(crate) fn exchange_info<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    answered(exchange_info_json(&api.reader.read(), params)?)
}

pub(crate) fn depth<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    answered(depth_json(&api.reader.read(), params)?)
}

pub(crate) fn trades<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    answered(trades_json(api, &api.reader.read(), params)?)
}

pub(crate) fn ticker_price<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    answered(tickers(api, &api.reader.read(), Ticker::Price, params)?)
}

pub(crate) fn book_ticker<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    answered(tickers(api, &api.reader.read(), Ticker::Book, params)?)
}

pub(crate) fn ticker_24h<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    answered(tickers(api, &api.reader.read(), Ticker::Day, params)?)
}

/// Which ticker a request asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ticker {
    /// `/ticker/price`: the last price.
    Price,
    /// `/ticker/bookTicker`: the best bid and ask.
    Book,
    /// `/ticker/24hr`: the rolling day's statistics.
    Day,
}

/// Parses Binance's `symbols=["A","B"]` list.
fn symbol_list(text: &str) -> Result<Vec<String>, ApiError> {
    let inner =
        text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).ok_or_else(|| ApiError::mandatory("symbols"))?;
    let symbols: Vec<String> = inner.split(',').map(|s| s.trim().trim_matches('"').to_string()).collect();
    if symbols.iter().any(|s| s.is_empty()) || symbols.len() > 100 {
        return Err(ApiError::mandatory("symbols"));
    }
    Ok(symbols)
}

/// The markets a request names: `symbol`, `symbols`, or all of them.
fn selected(engine: &Engine, params: &Params) -> Result<(Vec<Units>, bool), ApiError> {
    match (params.get("symbol"), params.get("symbols")) {
        (Some(_), Some(_)) => Err(ApiError::mandatory("symbol")),
        (Some(symbol), None) => Ok((vec![Units::of(engine, symbol)?], true)),
        (None, Some(list)) => {
            let units = symbol_list(list)?.iter().map(|s| Units::of(engine, s)).collect::<Result<_, _>>()?;
            Ok((units, false))
        }
        (None, None) => Ok(((0..engine.markets().len() as u32).map(|id| Units::by_id(engine, id)).collect(), false)),
    }
}

fn exchange_info_json(engine: &Engine, params: &Params) -> Reply {
    for ignored in ["permissions", "showPermissionSets", "symbolStatus"] {
        params.get(ignored);
    }
    let (markets, _) = selected(engine, params)?;
    let symbols: Vec<Value> = markets
        .iter()
        .map(|units| {
            let market = &engine.markets()[units.id as usize];
            let spec = &market.spec;
            json!({
                "symbol": spec.symbol,
                "status": names::market_status(market.status),
                "baseAsset": units.base,
                "baseAssetPrecision": units.base_decimals,
                "quoteAsset": units.quote,
                "quotePrecision": units.quote_decimals,
                "quoteAssetPrecision": units.quote_decimals,
                "baseCommissionPrecision": units.base_decimals,
                "quoteCommissionPrecision": units.quote_decimals,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
                "icebergAllowed": false,
                "ocoAllowed": false,
                "otoAllowed": false,
                "quoteOrderQtyMarketAllowed": true,
                "allowTrailingStop": false,
                "cancelReplaceAllowed": true,
                "isSpotTradingAllowed": market.status != MarketStatus::Halted,
                "isMarginTradingAllowed": false,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": units.price(spec.tick_size),
                        "maxPrice": units.price(u64::MAX - u64::MAX % spec.tick_size),
                        "tickSize": units.price(spec.tick_size),
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": units.qty(spec.lot_size),
                        "maxQty": units.qty(u64::MAX - u64::MAX % spec.lot_size),
                        "stepSize": units.qty(spec.lot_size),
                    },
                    {
                        "filterType": "NOTIONAL",
                        "minNotional": units.price(spec.min_notional),
                        "applyMinToMarket": true,
                        "maxNotional": units.price(u64::MAX),
                        "applyMaxToMarket": false,
                        "avgPriceMins": 0,
                    },
                    { "filterType": "MAX_NUM_ORDERS", "maxNumOrders": engine.limits().open_orders_per_account_max },
                ],
                "permissions": [],
                "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "NONE",
                "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
                "makerCommissionPpm": spec.maker_fee_ppm,
                "takerCommissionPpm": spec.taker_fee_ppm,
            })
        })
        .collect();
    Ok(json!({
        "timezone": "UTC",
        "serverTime": now_ms(),
        "rateLimits": [
            { "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": crate::weights::IP_WEIGHT_PER_MINUTE_MAX },
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    }))
}

fn limit(params: &Params, default: usize, max: usize) -> Result<usize, ApiError> {
    match params.u64("limit")? {
        None => Ok(default),
        Some(0) => Err(ApiError::mandatory("limit")),
        Some(n) => Ok((n as usize).min(max)),
    }
}

/// Levels as Binance's `[["price","qty"], …]`.
fn levels(units: &Units, levels: &[(u64, u64)]) -> Value {
    Value::Array(levels.iter().map(|&(p, q)| json!([units.price(p), units.qty(q)])).collect())
}

fn depth_json(engine: &Engine, params: &Params) -> Reply {
    let units = Units::of(engine, params.required("symbol")?)?;
    let limit = limit(params, 100, DEPTH_LIMIT_MAX)?;
    let view = engine.depth(units.id, limit).ok_or_else(ApiError::bad_symbol)?;
    Ok(json!({
        "lastUpdateId": view.last_update_id,
        "bids": levels(&units, &view.bids),
        "asks": levels(&units, &view.asks),
    }))
}

fn trades_json(api: &Shared, engine: &Engine, params: &Params) -> Reply {
    let units = Units::of(engine, params.required("symbol")?)?;
    let limit = limit(params, 500, TRADES_LIMIT_MAX)?;
    let history = api.reader.history();
    let all: Vec<_> = history.market_trades(units.id).collect();
    let rows = all[all.len().saturating_sub(limit)..]
        .iter()
        .map(|t| {
            json!({
                "id": t.id,
                "price": units.price(t.price),
                "qty": units.qty(t.qty),
                "quoteQty": units.price(t.quote_qty),
                "time": t.ts_ms,
                "isBuyerMaker": t.buyer_is_maker,
                "isBestMatch": true,
            })
        })
        .collect();
    Ok(Value::Array(rows))
}

fn tickers(api: &Shared, engine: &Engine, ticker: Ticker, params: &Params) -> Reply {
    let (markets, single) = selected(engine, params)?;
    if ticker == Ticker::Day {
        match params.get("type") {
            None | Some("FULL") | Some("MINI") => {}
            Some(_) => return Err(ApiError::mandatory("type")),
        }
    }
    let history = api.reader.history();
    let now = now_ms();
    let rows: Vec<Value> = markets
        .iter()
        .map(|units| {
            let top = engine.depth(units.id, 1).expect("listed markets have books");
            let bid = top.bids.first().copied().unwrap_or((0, 0));
            let ask = top.asks.first().copied().unwrap_or((0, 0));
            match ticker {
                Ticker::Price => {
                    json!({ "symbol": units.symbol, "price": units.price(history.last_price(units.id)) })
                }
                Ticker::Book => json!({
                    "symbol": units.symbol,
                    "bidPrice": units.price(bid.0), "bidQty": units.qty(bid.1),
                    "askPrice": units.price(ask.0), "askQty": units.qty(ask.1),
                }),
                Ticker::Day => {
                    let t = history.ticker(units.id, now);
                    let change = i128::from(t.last) - i128::from(t.open);
                    // Statistics, not money: basis points of the open, shown with 3 decimals.
                    let change_milli_pct = if t.open == 0 { 0 } else { change * 100_000 / i128::from(t.open) };
                    let weighted = if t.volume == 0 {
                        0
                    } else {
                        let scale = 10u128.pow(u32::from(units.base_decimals));
                        (u128::from(t.quote_volume) * scale / u128::from(t.volume)).min(u128::from(u64::MAX)) as u64
                    };
                    let sign = if change < 0 { "-" } else { "" };
                    let abs_change = change.unsigned_abs().min(u128::from(u64::MAX)) as u64;
                    let pct = change_milli_pct.unsigned_abs();
                    json!({
                        "symbol": units.symbol,
                        "priceChange": format!("{sign}{}", units.price(abs_change)),
                        "priceChangePercent": format!("{sign}{}.{:03}", pct / 1000, pct % 1000),
                        "weightedAvgPrice": units.price(weighted),
                        "prevClosePrice": units.price(t.open),
                        "lastPrice": units.price(t.last),
                        "lastQty": units.qty(history.market_trades(units.id).last().map_or(0, |x| x.qty)),
                        "bidPrice": units.price(bid.0), "bidQty": units.qty(bid.1),
                        "askPrice": units.price(ask.0), "askQty": units.qty(ask.1),
                        "openPrice": units.price(t.open),
                        "highPrice": units.price(t.high),
                        "lowPrice": units.price(t.low),
                        "volume": units.qty(t.volume),
                        "quoteVolume": units.price(t.quote_volume),
                        "openTime": t.open_ms,
                        "closeTime": now,
                        "firstId": if t.count == 0 { -1 } else { t.first_trade as i64 },
                        "lastId": if t.count == 0 { -1 } else { t.last_trade as i64 },
                        "count": t.count,
                    })
                }
            }
        })
        .collect();
    if single {
        Ok(rows.into_iter().next().unwrap_or(Value::Null))
    } else {
        Ok(Value::Array(rows))
    }
}
