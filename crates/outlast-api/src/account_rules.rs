//! The rules that apply to the caller's trading, as Binance's account endpoints show them:
//! `account/commission` (the market's fee rates), `rateLimit/order` (order-count limits) and
//! `myPreventedMatches`; and the order-list endpoints, which this exchange does not offer.
//!
//! Must never: show another account's data.

use serde_json::{json, Value};

use crate::api::Shared;
use crate::endpoint::{answered, then, Caller, Decoded};
use crate::error::ApiError;
use crate::names::Units;
use crate::params::Params;

/// `account/commission`: the market's maker and taker rates (parts per million, shown as a
/// fraction). There are no buyer/seller surcharges, taxes or discounts here.
pub(crate) fn commission<'a>(api: &'a Shared, _caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let engine = api.reader.read();
    let units = Units::of(&engine, params.required("symbol")?)?;
    let spec = &engine.markets()[units.id as usize].spec;
    let rate = |ppm: u32| crate::decimal::format(u64::from(ppm), 6);
    let zero = rate(0);
    let answer = json!({
        "symbol": units.symbol,
        "standardCommission": {
            "maker": rate(spec.maker_fee_ppm), "taker": rate(spec.taker_fee_ppm), "buyer": zero, "seller": zero,
        },
        "specialCommission": { "maker": zero, "taker": zero, "buyer": zero, "seller": zero },
        "taxCommission": { "maker": zero, "taker": zero, "buyer": zero, "seller": zero },
        "discount": { "enabledForAccount": false, "enabledForSymbol": false, "discountAsset": "", "discount": zero },
    });
    answered(answer)
}

/// `rateLimit/order`: no order-count limit applies here (orders are bounded by request weight
/// per key and IP, and by the open-order limit of `exchangeInfo`'s MAX_NUM_ORDERS), so the
/// list is empty, as Binance's is for an account without one.
pub(crate) fn order_rate_limits<'a>(_api: &'a Shared, _caller: &'a Caller, _params: &Params) -> Decoded<'a> {
    answered(json!([]))
}

/// `myPreventedMatches`: matches that self-trade prevention stopped. The engine expires the
/// order (EXPIRED_IN_MATCH, on the order and in the user stream) but keeps no record of the
/// match it prevented, so there is none to list: an empty, valid answer for a known symbol.
pub(crate) fn prevented_matches<'a>(api: &'a Shared, _caller: &'a Caller, params: &Params) -> Decoded<'a> {
    Units::of(&api.reader.read(), params.required("symbol")?)?;
    let by = ["preventedMatchId", "orderId", "fromPreventedMatchId"];
    let sent: Vec<u64> = by.iter().filter_map(|name| params.u64(name).transpose()).collect::<Result<_, _>>()?;
    if sent.is_empty() {
        return Err(ApiError::mandatory("orderId"));
    }
    params.u64("limit")?;
    then(async move { Ok(Value::Array(Vec::new())) })
}

/// `orderList/oco`, `orderList/oto`, `orderList/otoco`, `order/oco`: refused, clearly (the
/// engine has no order that cancels another atomically; two plain orders are not one).
pub(crate) fn place_order_list<'a>(_api: &'a Shared, _caller: &'a Caller, _params: &Params) -> Decoded<'a> {
    Err(ApiError::no_order_lists())
}

/// `openOrderList`, `allOrderList`: there are none.
pub(crate) fn order_lists<'a>(_api: &'a Shared, _caller: &'a Caller, params: &Params) -> Decoded<'a> {
    for ignored in ["fromId", "startTime", "endTime", "limit"] {
        params.get(ignored);
    }
    then(async move { Ok(Value::Array(Vec::new())) })
}
