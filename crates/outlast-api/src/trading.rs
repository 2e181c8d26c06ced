//! Orders, trades and the account, for the account whose key signed the request.
//!
//! Isolation (OWASP API1): every lookup is by the caller's account first. An order id, client
//! order id or trade of another account gets exactly the answer a nonexistent one gets
//! (-2013 / -2011), so ids cannot be probed.

use outlast_engine::{
    AccountAction, AccountRequest, ClientId, CommandBody, Engine, OrderKind, OrderRef, OrderSpec, Outcome, StpMode,
    Summary,
};
use outlast_history::{OrderRecord, OrderType};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::api::Shared;
use crate::endpoint::{answered, then, Caller, Decoded, Reply};
use crate::error::ApiError;
use crate::names::{self, Units};
use crate::params::Params;

/// Most rows a history endpoint returns (Binance: 1,000).
pub const ROWS_MAX: usize = 1_000;

/// A request id derived from the signed bytes: a byte-identical retry repeats it (and so is
/// deduplicated), any other request differs.
pub fn derived_id(prefix: &str, bytes: &[u8]) -> ClientId {
    let hex: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
    let room = outlast_engine::CLIENT_ID_LEN_MAX - prefix.len();
    ClientId::new(&format!("{prefix}{}", &hex[..room])).expect("hex and the prefix are valid id characters")
}

/// A client id parameter (-1100 if it has characters Binance does not allow).
pub fn client_id(params: &Params, name: &str) -> Result<Option<ClientId>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(text) => ClientId::new(text).map(Some).ok_or_else(|| ApiError::illegal_chars(name)),
    }
}

/// An order as Binance's order endpoints show it.
pub fn order_json(units: &Units, r: &OrderRecord) -> Value {
    json!({
        "symbol": units.symbol,
        "orderId": r.id,
        "orderListId": -1,
        "clientOrderId": r.client_id.as_str(),
        "price": units.price(r.price),
        "origQty": units.qty(r.qty),
        "executedQty": units.qty(r.executed_qty),
        "cummulativeQuoteQty": units.price(r.executed_quote),
        "status": names::status(r.status),
        "timeInForce": names::tif(r.tif),
        "type": names::order_type(r.order_type),
        "side": names::side(r.side),
        "stopPrice": units.price(0),
        "icebergQty": units.qty(0),
        "time": r.placed_ms,
        "updateTime": r.updated_ms,
        "isWorking": r.status.is_open(),
        "workingTime": r.placed_ms,
        "origQuoteOrderQty": units.price(r.quote_qty),
        "selfTradePreventionMode": names::stp(r.stp),
    })
}

/// An open order the history no longer holds (evicted), rebuilt from the engine's book.
fn order_from_book(engine: &Engine, units: &Units, id: u64) -> Option<OrderRecord> {
    let view = engine.open_order(units.id, id)?;
    Some(OrderRecord {
        id: view.id,
        account: view.account,
        market: units.id,
        client_id: view.client_id,
        side: view.side,
        order_type: OrderType::Limit,
        tif: outlast_engine::TimeInForce::Gtc,
        stp: StpMode::None,
        price: view.price,
        qty: view.qty,
        quote_qty: 0,
        executed_qty: view.qty - view.remaining,
        executed_quote: view.executed_quote,
        status: if view.remaining == view.qty {
            outlast_engine::OrderStatus::New
        } else {
            outlast_engine::OrderStatus::PartiallyFilled
        },
        placed_ms: view.placed_ms,
        updated_ms: view.placed_ms,
    })
}

/// The caller's order `id` in this market, from history or the book.
fn own_order(api: &Shared, caller: &Caller, units: &Units, id: u64) -> Option<OrderRecord> {
    let engine = api.reader.read();
    let record = api.reader.history().order(id).cloned().or_else(|| order_from_book(&engine, units, id))?;
    (record.account == caller.account && record.market == units.id).then_some(record)
}

fn parse_order(engine: &Engine, params: &Params) -> Result<(Units, OrderSpec, Option<&'static str>), ApiError> {
    let units = Units::of(engine, params.required("symbol")?)?;
    let side = names::parse_side(params.required("side")?)?;
    let order_type = params.required("type")?;
    let tif = params.get("timeInForce");
    let price = params.get("price");
    let qty = params.get("quantity");
    let quote_qty = params.get("quoteOrderQty");
    let stp = params.get("selfTradePreventionMode").map(names::parse_stp).transpose()?.unwrap_or(StpMode::None);
    let response = match params.get("newOrderRespType") {
        None => None,
        Some("ACK") => Some("ACK"),
        Some("RESULT") => Some("RESULT"),
        Some("FULL") => Some("FULL"),
        Some(_) => return Err(ApiError::mandatory("newOrderRespType")),
    };
    let not_sent = |name: &str, value: Option<&str>| match value {
        Some(_) => Err(ApiError::filter(&format!("Parameter '{name}' sent when not required."))),
        None => Ok(()),
    };
    let qty_of = |text: Option<&str>| units.parse_qty("quantity", text.ok_or_else(|| ApiError::mandatory("quantity"))?);
    let price_of = |text: Option<&str>| units.parse_price("price", text.ok_or_else(|| ApiError::mandatory("price"))?);
    let kind = match order_type {
        "LIMIT" => {
            not_sent("quoteOrderQty", quote_qty)?;
            let tif = names::parse_tif(tif.ok_or_else(|| ApiError::mandatory("timeInForce"))?)?;
            OrderKind::Limit { price: price_of(price)?, qty: qty_of(qty)?, tif }
        }
        "LIMIT_MAKER" => {
            not_sent("quoteOrderQty", quote_qty)?;
            not_sent("timeInForce", tif)?;
            OrderKind::LimitMaker { price: price_of(price)?, qty: qty_of(qty)? }
        }
        "MARKET" => {
            not_sent("price", price)?;
            not_sent("timeInForce", tif)?;
            match (qty, quote_qty) {
                (Some(_), None) => OrderKind::MarketBase { qty: qty_of(qty)? },
                (None, Some(text)) => OrderKind::MarketQuote { quote_qty: units.parse_price("quoteOrderQty", text)? },
                _ => return Err(ApiError::mandatory("quantity")),
            }
        }
        "STOP_LOSS" | "STOP_LOSS_LIMIT" | "TAKE_PROFIT" | "TAKE_PROFIT_LIMIT" => {
            return Err(ApiError::invalid_enum(
                -1014,
                "order combination: stop and take-profit orders are not supported",
            ));
        }
        _ => return Err(ApiError::invalid_enum(-1116, "orderType")),
    };
    Ok((units.clone(), OrderSpec { market: units.id, side, kind, stp }, response))
}

pub(crate) fn new_order<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let order = decode_order(api, caller, params)?;
    then(place_order(api, caller, order))
}

/// `/order/test`: decoded and checked like a new order, then nothing is placed.
pub(crate) fn test_order<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    decode_order(api, caller, params)?;
    answered(json!({}))
}

/// A new order, decoded.
pub(crate) struct NewOrder {
    pub(crate) units: Units,
    pub(crate) spec: OrderSpec,
    /// `newOrderRespType`, if sent.
    pub(crate) response: Option<&'static str>,
    pub(crate) request_id: ClientId,
}

pub(crate) fn decode_order(api: &Shared, caller: &Caller, params: &Params) -> Result<NewOrder, ApiError> {
    let (units, spec, response) = parse_order(&api.reader.read(), params)?;
    let request_id = match client_id(params, "newClientOrderId")? {
        Some(id) => id,
        None => derived_id("o-", &caller.payload),
    };
    Ok(NewOrder { units, spec, response, request_id })
}

pub(crate) async fn place_order(api: &Shared, caller: &Caller, new: NewOrder) -> Reply {
    let NewOrder { units, spec, response, request_id } = new;
    let request = AccountRequest {
        account: caller.account,
        request_id,
        request_ts_ms: caller.timestamp_ms,
        action: AccountAction::PlaceOrder(spec),
    };
    let (order, status) = match api.write(CommandBody::Account(request)).await? {
        Outcome::Applied(Summary::OrderPlaced { order, status })
        | Outcome::Duplicate(Summary::OrderPlaced { order, status }) => (order, status),
        Outcome::Rejected(reject) => return Err(ApiError::rejected(reject, -2010)),
        other => return Err(ApiError::rejected_other(other)),
    };
    Ok(placed_json(api, caller, &units, &spec, response, &request_id, order, status))
}

/// A placed order's answer, as `newOrderRespType` (or the order type's default) asks.
#[allow(clippy::too_many_arguments)]
pub(crate) fn placed_json(
    api: &Shared,
    caller: &Caller,
    units: &Units,
    spec: &OrderSpec,
    response: Option<&'static str>,
    request_id: &ClientId,
    order: u64,
    status: outlast_engine::OrderStatus,
) -> Value {
    let ack = json!({
        "symbol": units.symbol,
        "orderId": order,
        "orderListId": -1,
        "clientOrderId": request_id.as_str(),
        "transactTime": caller.timestamp_ms,
    });
    let response = response.unwrap_or(match spec.kind {
        OrderKind::Limit { .. } | OrderKind::MarketBase { .. } | OrderKind::MarketQuote { .. } => "FULL",
        OrderKind::LimitMaker { .. } => "ACK",
    });
    let Some(record) = own_order(api, caller, units, order).filter(|_| response != "ACK") else {
        let mut ack = ack;
        if response != "ACK" {
            ack["status"] = json!(names::status(status));
        }
        return ack;
    };
    let mut value = order_json(units, &record);
    value["transactTime"] = json!(record.updated_ms);
    if response == "FULL" {
        let history = api.reader.history();
        let engine = api.reader.read();
        let fills: Vec<Value> = history
            .fills_of(caller.account, order)
            .map(|fill| {
                json!({
                    "price": units.price(fill.price),
                    "qty": units.qty(fill.qty),
                    "commission": crate::decimal::format(fill.commission, engine.assets()[fill.commission_asset as usize].decimals),
                    "commissionAsset": engine.assets()[fill.commission_asset as usize].symbol,
                    "tradeId": fill.id,
                })
            })
            .collect();
        value["fills"] = Value::Array(fills);
    }
    value
}

pub(crate) fn order_target(params: &Params) -> Result<OrderRef, ApiError> {
    match (params.u64("orderId")?, client_id(params, "origClientOrderId")?) {
        (Some(id), _) => Ok(OrderRef::Id(id)),
        (None, Some(client)) => Ok(OrderRef::Client(client)),
        (None, None) => Err(ApiError::mandatory("orderId")),
    }
}

pub(crate) fn query_order<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let units = Units::of(&api.reader.read(), params.required("symbol")?)?;
    let target = order_target(params)?;
    then(async move {
        let record = match target {
            OrderRef::Id(id) => own_order(api, caller, &units, id),
            OrderRef::Client(client) => api.reader.history().order_by_client_id(caller.account, &client).cloned(),
        };
        let record = record.filter(|r| r.market == units.id).ok_or_else(ApiError::no_such_order)?;
        Ok(order_json(&units, &record))
    })
}

pub(crate) fn cancel_order<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let units = Units::of(&api.reader.read(), params.required("symbol")?)?;
    let target = order_target(params)?;
    let request_id = match (client_id(params, "newClientOrderId")?, target) {
        (Some(id), _) => id,
        // A retried cancel of the same order is the same request.
        (None, OrderRef::Id(id)) => ClientId::new(&format!("cx:{id}")).expect("digits are valid"),
        (None, OrderRef::Client(client)) => derived_id("cx:", client.as_str().as_bytes()),
    };
    then(cancel(api, caller, units, target, request_id))
}

pub(crate) async fn cancel(
    api: &Shared,
    caller: &Caller,
    units: Units,
    target: OrderRef,
    request_id: ClientId,
) -> Reply {
    let request = AccountRequest {
        account: caller.account,
        request_id,
        request_ts_ms: caller.timestamp_ms,
        action: AccountAction::CancelOrder { market: units.id, target },
    };
    let order = match api.write(CommandBody::Account(request)).await? {
        Outcome::Applied(Summary::OrderCanceled(order)) | Outcome::Duplicate(Summary::OrderCanceled(order)) => order,
        Outcome::Rejected(reject) => return Err(ApiError::rejected(reject, -2011)),
        other => return Err(ApiError::rejected_other(other)),
    };
    canceled_json(api, caller, &units, order, &request_id)
}

/// A canceled order's answer; `request_id` is the cancel's own client id.
pub(crate) fn canceled_json(api: &Shared, caller: &Caller, units: &Units, order: u64, request_id: &ClientId) -> Reply {
    let record = own_order(api, caller, units, order).ok_or_else(|| ApiError::unavailable("state not caught up"))?;
    let mut value = order_json(units, &record);
    value["origClientOrderId"] = json!(record.client_id.as_str());
    value["clientOrderId"] = json!(request_id.as_str());
    value["transactTime"] = json!(record.updated_ms);
    Ok(value)
}

/// The markets a request names with an optional `symbol`.
fn markets_of(engine: &Engine, params: &Params) -> Result<Vec<Units>, ApiError> {
    match params.get("symbol") {
        Some(symbol) => Ok(vec![Units::of(engine, symbol)?]),
        None => Ok((0..engine.markets().len() as u32).map(|id| Units::by_id(engine, id)).collect()),
    }
}

fn open_records(api: &Shared, caller: &Caller, units: &Units) -> Vec<OrderRecord> {
    let engine = api.reader.read();
    let history = api.reader.history();
    engine
        .open_orders(caller.account, units.id)
        .iter()
        .filter_map(|view| history.order(view.id).cloned().or_else(|| order_from_book(&engine, units, view.id)))
        .collect()
}

pub(crate) fn open_orders<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let markets = markets_of(&api.reader.read(), params)?;
    then(async move {
        let mut rows = Vec::new();
        for units in &markets {
            let mut records = open_records(api, caller, units);
            records.sort_by_key(|r| r.id);
            rows.extend(records.iter().map(|r| order_json(units, r)));
        }
        Ok(Value::Array(rows))
    })
}

pub(crate) fn cancel_open_orders<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let units = Units::of(&api.reader.read(), params.required("symbol")?)?;
    then(cancel_all(api, caller, units))
}

async fn cancel_all(api: &Shared, caller: &Caller, units: Units) -> Reply {
    let before: Vec<u64> = open_records(api, caller, &units).iter().map(|r| r.id).collect();
    let request = AccountRequest {
        account: caller.account,
        request_id: derived_id("ca-", &caller.payload),
        request_ts_ms: caller.timestamp_ms,
        action: AccountAction::CancelAll { market: units.id },
    };
    match api.write(CommandBody::Account(request)).await? {
        Outcome::Applied(Summary::CanceledAll { .. }) | Outcome::Duplicate(Summary::CanceledAll { .. }) => {}
        Outcome::Rejected(reject) => return Err(ApiError::rejected(reject, -2011)),
        other => return Err(ApiError::rejected_other(other)),
    }
    let rows = before
        .into_iter()
        .filter_map(|id| own_order(api, caller, &units, id))
        .filter(|r| r.status == outlast_engine::OrderStatus::Canceled)
        .map(|r| {
            let mut value = order_json(&units, &r);
            value["origClientOrderId"] = json!(r.client_id.as_str());
            value
        })
        .collect();
    Ok(Value::Array(rows))
}

/// `startTime` / `endTime` / `limit` of a history endpoint.
fn window(params: &Params, default: usize) -> Result<(u64, u64, usize), ApiError> {
    let start = params.u64("startTime")?.unwrap_or(0);
    let end = params.u64("endTime")?.unwrap_or(u64::MAX);
    let limit = match params.u64("limit")? {
        None => default,
        Some(0) => return Err(ApiError::mandatory("limit")),
        Some(n) => (n as usize).min(ROWS_MAX),
    };
    Ok((start, end, limit))
}

/// The rows from `from_id` on (first `limit`), or else the last `limit`.
fn take<T: Clone>(rows: Vec<T>, from_id: Option<u64>, id: impl Fn(&T) -> u64, limit: usize) -> Vec<T> {
    match from_id {
        Some(from) => rows.into_iter().filter(|r| id(r) >= from).take(limit).collect(),
        None => rows[rows.len().saturating_sub(limit)..].to_vec(),
    }
}

pub(crate) fn all_orders<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let units = Units::of(&api.reader.read(), params.required("symbol")?)?;
    let from = params.u64("orderId")?;
    let (start, end, limit) = window(params, 500)?;
    then(async move {
        let history = api.reader.history();
        let rows: Vec<OrderRecord> = history
            .orders_of(caller.account, units.id)
            .filter(|r| (start..=end).contains(&r.placed_ms))
            .cloned()
            .collect();
        Ok(Value::Array(take(rows, from, |r| r.id, limit).iter().map(|r| order_json(&units, r)).collect()))
    })
}

pub(crate) fn my_trades<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let units = Units::of(&api.reader.read(), params.required("symbol")?)?;
    let order = params.u64("orderId")?;
    let from = params.u64("fromId")?;
    let (start, end, limit) = window(params, 500)?;
    then(trades_of(api, caller, units, order, from, (start, end, limit)))
}

/// The caller's trades in one market, of one order or all, in a `window`.
async fn trades_of(
    api: &Shared,
    caller: &Caller,
    units: Units,
    order: Option<u64>,
    from: Option<u64>,
    (start, end, limit): (u64, u64, usize),
) -> Reply {
    let engine = api.reader.read();
    let history = api.reader.history();
    let rows: Vec<_> = history
        .trades_of(caller.account, units.id)
        .filter(|t| order.is_none_or(|o| t.order == o) && (start..=end).contains(&t.ts_ms))
        .cloned()
        .collect();
    let rows = take(rows, from, |t| t.id, limit);
    let json_rows = rows
        .iter()
        .map(|t| {
            let asset = &engine.assets()[t.commission_asset as usize];
            json!({
                "symbol": units.symbol,
                "id": t.id,
                "orderId": t.order,
                "orderListId": -1,
                "price": units.price(t.price),
                "qty": units.qty(t.qty),
                "quoteQty": units.price(t.quote_qty),
                "commission": crate::decimal::format(t.commission, asset.decimals),
                "commissionAsset": asset.symbol,
                "time": t.ts_ms,
                "isBuyer": t.is_buyer,
                "isMaker": t.is_maker,
                "isBestMatch": true,
            })
        })
        .collect();
    Ok(Value::Array(json_rows))
}

pub(crate) fn account<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let omit_zero = match params.get("omitZeroBalances") {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::mandatory("omitZeroBalances")),
    };
    then(async move { balances(api, caller, omit_zero) })
}

/// The caller's account and balances.
fn balances(api: &Shared, caller: &Caller, omit_zero: bool) -> Reply {
    let engine = api.reader.read();
    let balances: Vec<Value> = engine
        .assets()
        .iter()
        .enumerate()
        .filter_map(|(id, asset)| {
            let balance = engine.balance(caller.account, id as u32)?;
            if omit_zero && balance.available == 0 && balance.locked == 0 {
                return None;
            }
            Some(json!({
                "asset": asset.symbol,
                "free": crate::decimal::format(balance.available, asset.decimals),
                "locked": crate::decimal::format(balance.locked, asset.decimals),
            }))
        })
        .collect();
    Ok(json!({
        "makerCommission": 0,
        "takerCommission": 0,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "canTrade": true,
        "canWithdraw": true,
        "canDeposit": true,
        "brokered": false,
        "requireSelfTradePrevention": false,
        "preventSor": false,
        "updateTime": engine.now_ms(),
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": caller.account,
    }))
}
