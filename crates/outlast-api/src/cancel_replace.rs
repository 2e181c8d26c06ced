//! `POST /api/v3/order/cancelReplace`: cancel an order and place another in one request.
//!
//! Two commands in the log, the cancel first: another command may be applied between them,
//! so the pair is not atomic (Binance's is not either, from the client's view, when the cancel
//! fails under ALLOW_FAILURE). Each step has its own idempotency key — the cancel's is
//! `cancelNewClientOrderId` (else derived from the order it cancels), the new order's is
//! `newClientOrderId` (else derived from the signed bytes) — so a retried request repeats
//! neither step.
//!
//! Must never: place the new order when the cancel failed under STOP_ON_FAILURE.

use outlast_engine::{ClientId, OrderRef};
use serde_json::{json, Value};

use crate::api::Shared;
use crate::endpoint::{then, Caller, Decoded};
use crate::error::ApiError;
use crate::params::Params;
use crate::trading::{cancel, client_id, decode_order, derived_id, place_order};

/// What happens to the new order when the cancel fails.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    StopOnFailure,
    AllowFailure,
}

/// A step's outcome as the answer's `data` shows it.
fn step(result: &Result<Value, ApiError>) -> (&'static str, Value) {
    match result {
        Ok(value) => ("SUCCESS", value.clone()),
        Err(error) => ("FAILURE", json!({ "code": error.code, "msg": error.msg })),
    }
}

pub(crate) fn cancel_replace<'a>(api: &'a Shared, caller: &'a Caller, params: &Params) -> Decoded<'a> {
    let mode = match params.required("cancelReplaceMode")? {
        "STOP_ON_FAILURE" => Mode::StopOnFailure,
        "ALLOW_FAILURE" => Mode::AllowFailure,
        _ => return Err(ApiError::mandatory("cancelReplaceMode")),
    };
    let target = match (params.u64("cancelOrderId")?, client_id(params, "cancelOrigClientOrderId")?) {
        (Some(id), _) => OrderRef::Id(id),
        (None, Some(client)) => OrderRef::Client(client),
        (None, None) => return Err(ApiError::mandatory("cancelOrderId")),
    };
    let cancel_id = match (client_id(params, "cancelNewClientOrderId")?, &target) {
        (Some(id), _) => id,
        (None, OrderRef::Id(id)) => ClientId::new(&format!("cx:{id}")).expect("digits are valid"),
        (None, OrderRef::Client(client)) => derived_id("cx:", client.as_str().as_bytes()),
    };
    for ignored in ["cancelRestrictions", "orderRateLimitExceededMode"] {
        params.get(ignored);
    }
    let order = decode_order(api, caller, params)?;
    let units = order.units.clone();
    then(async move {
        let canceled = cancel(api, caller, units, target, cancel_id).await;
        if canceled.is_err() && mode == Mode::StopOnFailure {
            let (_, cancel_response) = step(&canceled);
            let data = json!({
                "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                "cancelResponse": cancel_response, "newOrderResponse": Value::Null,
            });
            return Err(ApiError::cancel_replace(true, data));
        }
        let placed = place_order(api, caller, order).await;
        let (cancel_result, cancel_response) = step(&canceled);
        let (new_result, new_response) = step(&placed);
        let answer = json!({
            "cancelResult": cancel_result, "newOrderResult": new_result,
            "cancelResponse": cancel_response, "newOrderResponse": new_response,
        });
        match (canceled.is_ok(), placed.is_ok()) {
            (true, true) => Ok(answer),
            (false, false) => Err(ApiError::cancel_replace(true, answer)),
            _ => Err(ApiError::cancel_replace(false, answer)),
        }
    })
}
