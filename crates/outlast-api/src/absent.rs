//! Binance features this exchange does not have (margin, futures), answered the way Binance
//! answers a market with nothing listed: valid and empty. Libraries ask for them on start
//! (stock CCXT's `load_markets` asks for the margin pairs and both futures exchangeInfos), and
//! an error there would stop them before their first spot call.
//!
//! Must never: list anything. Every answer here is empty; a real feature gets its own module.

use serde_json::{json, Value};

use crate::api::{now_ms, Shared};
use crate::endpoint::{answered, Caller, Decoded};
use crate::params::Params;

/// `/sapi/v1/margin/allPairs`, `/sapi/v1/margin/isolated/allPairs`: no margin pairs.
pub(crate) fn margin_pairs<'a>(_api: &'a Shared, _caller: &'a Caller, params: &Params) -> Decoded<'a> {
    params.get("symbol");
    answered(json!([]))
}

/// `/fapi/v1/exchangeInfo`, `/dapi/v1/exchangeInfo`: no futures symbols.
pub(crate) fn futures_exchange_info<'a>(_api: &'a Shared, _params: &Params) -> Decoded<'a> {
    answered(json!({
        "timezone": "UTC",
        "serverTime": now_ms(),
        "futuresType": "",
        "rateLimits": [],
        "exchangeFilters": [],
        "assets": [],
        "symbols": Value::Array(Vec::new()),
    }))
}
