//! Market data: ping, time, exchangeInfo, depth, the trade tape (`trades`, `historicalTrades`,
//! `aggTrades`) and the price and book tickers, from this node's applied
//! state (followers answer too; they may be a few milliseconds behind the leader).

use outlast_engine::{Engine, MarketStatus};
use outlast_history::MarketTrade;
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
    answered(trades_json(api, &api.reader.read(), params, false)?)
}

/// `historicalTrades`: the kept tape from `fromId` (no key needed, as at Binance today).
pub(crate) fn historical_trades<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    answered(trades_json(api, &api.reader.read(), params, true)?)
}

pub(crate) fn agg_trades<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    answered(agg_trades_json(api, &api.reader.read(), params)?)
}

pub(crate) fn ticker_price<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    answered(tickers(api, &api.reader.read(), Ticker::Price, params)?)
}

pub(crate) fn book_ticker<'a>(api: &'a Shared, params: &Params) -> Decoded<'a> {
    answered(tickers(api, &api.reader.read(), Ticker::Book, params)?)
}

/// Which ticker a request asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ticker {
    /// `/ticker/price`: the last price.
    Price,
    /// `/ticker/bookTicker`: the best bid and ask.
    Book,
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

/// How many markets a request names, for its weight (peeked: weight is charged before the
/// parameters are decoded; an unparsable list counts as one).
pub(crate) fn symbol_count(params: &Params) -> u32 {
    match params.peek("symbols") {
        Some(list) => symbol_list(list).map_or(1, |s| s.len() as u32),
        None => 1,
    }
}

/// The markets a request names: `symbol`, `symbols`, or all of them.
pub(crate) fn selected(engine: &Engine, params: &Params) -> Result<(Vec<Units>, bool), ApiError> {
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

/// The kept tape of `units`' market (the newest `HistoryLimits::trades_per_market_max`),
/// oldest first.
fn tape<'h>(history: &'h outlast_history::History, units: &Units) -> Vec<&'h MarketTrade> {
    history.market_trades(units.id).collect()
}

/// The first `limit` trades from id `from`, or the newest `limit`. A `from` older than the
/// kept tape starts at its oldest trade: the ids show the gap.
fn window<'t>(tape: &'t [&'t MarketTrade], from: Option<u64>, limit: usize) -> &'t [&'t MarketTrade] {
    match from {
        Some(from) => {
            let start = tape.partition_point(|t| t.id < from);
            &tape[start..tape.len().min(start + limit)]
        }
        None => &tape[tape.len().saturating_sub(limit)..],
    }
}

fn trade_row(units: &Units, t: &MarketTrade) -> Value {
    json!({
        "id": t.id,
        "price": units.price(t.price),
        "qty": units.qty(t.qty),
        "quoteQty": units.price(t.quote_qty),
        "time": t.ts_ms,
        "isBuyerMaker": t.buyer_is_maker,
        "isBestMatch": true,
    })
}

fn trades_json(api: &Shared, engine: &Engine, params: &Params, from_id: bool) -> Reply {
    let units = Units::of(engine, params.required("symbol")?)?;
    let limit = limit(params, 500, TRADES_LIMIT_MAX)?;
    let from = if from_id { params.u64("fromId")? } else { None };
    let history = api.reader.history();
    let tape = tape(&history, &units);
    Ok(Value::Array(window(&tape, from, limit).iter().map(|t| trade_row(&units, t)).collect()))
}

/// Longest `startTime`..`endTime` span of one `aggTrades` request, in ms (Binance: an hour).
pub const AGG_TRADES_SPAN_MS_MAX: u64 = 3_600_000;

/// `aggTrades`: each trade is its own aggregate here (aggregate id = trade id, first = last),
/// a valid reading of Binance's rule: aggregating is an optimisation of the tape, not its
/// meaning.
fn agg_trades_json(api: &Shared, engine: &Engine, params: &Params) -> Reply {
    let units = Units::of(engine, params.required("symbol")?)?;
    let limit = limit(params, 500, TRADES_LIMIT_MAX)?;
    let from = params.u64("fromId")?;
    let (start_ms, end_ms) = (params.u64("startTime")?, params.u64("endTime")?);
    if from.is_some() && (start_ms.is_some() || end_ms.is_some()) {
        return Err(ApiError::bad_combination("fromId cannot be sent with startTime or endTime"));
    }
    if let (Some(start), Some(end)) = (start_ms, end_ms) {
        if start > end {
            return Err(ApiError::bad_combination("startTime is after endTime"));
        }
        if end - start > AGG_TRADES_SPAN_MS_MAX {
            return Err(ApiError::span_too_long(AGG_TRADES_SPAN_MS_MAX / 3_600_000));
        }
    }
    let history = api.reader.history();
    let tape = tape(&history, &units);
    let chosen: Vec<&MarketTrade> = match (start_ms, end_ms) {
        (None, None) => window(&tape, from, limit).to_vec(),
        _ => {
            let within =
                |t: &&&MarketTrade| start_ms.is_none_or(|s| t.ts_ms >= s) && end_ms.is_none_or(|e| t.ts_ms <= e);
            let all: Vec<&MarketTrade> = tape.iter().filter(within).copied().collect();
            match start_ms {
                Some(_) => all.into_iter().take(limit).collect(),
                None => all[all.len().saturating_sub(limit)..].to_vec(),
            }
        }
    };
    let rows = chosen.iter().map(|t| {
        json!({
            "a": t.id, "p": units.price(t.price), "q": units.qty(t.qty), "f": t.id, "l": t.id,
            "T": t.ts_ms, "m": t.buyer_is_maker, "M": true,
        })
    });
    Ok(Value::Array(rows.collect()))
}

fn tickers(api: &Shared, engine: &Engine, ticker: Ticker, params: &Params) -> Reply {
    let (markets, single) = selected(engine, params)?;
    let history = api.reader.history();
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
            }
        })
        .collect();
    if single {
        Ok(rows.into_iter().next().unwrap_or(Value::Null))
    } else {
        Ok(Value::Array(rows))
    }
}
