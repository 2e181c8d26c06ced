//! `POST /api/v3/order/cancelReplace`: cancel an order and place another in one request.
//!
//! STOP_ON_FAILURE is one engine command (`AccountAction::CancelReplace`): both happen, or
//! neither, under the new order's client id. A retry is that command again, so it can neither
//! cancel twice nor place a second order; one with a new client id finds its order already
//! canceled and does nothing. ALLOW_FAILURE places the new order even if the cancel fails, so
//! it is two commands, the cancel first (another command may be applied between them), each
//! with its own idempotency key: the cancel's `cancelNewClientOrderId` (else derived from the
//! order it cancels), the new order's `newClientOrderId` (else derived from the signed bytes).
//!
//! A step whose outcome is unknown (503) is answered as unknown, never as a failure: the
//! client must retry, not conclude.
//!
//! Must never: place the new order when the cancel failed under STOP_ON_FAILURE.

use outlast_engine::{AccountAction, AccountRequest, ClientId, CommandBody, OrderRef, Outcome, Reject, Summary};
use serde_json::{json, Value};

use crate::api::Shared;
use crate::endpoint::{then, Caller, Decoded, Reply};
use crate::error::ApiError;
use crate::params::Params;
use crate::trading::{cancel, canceled_json, client_id, decode_order, derived_id, place_order, placed_json, NewOrder};

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

/// A step that did not fail but may not have happened either (the cluster could not say).
fn unknown(result: &Result<Value, ApiError>) -> Option<ApiError> {
    result.as_ref().err().filter(|e| e.status.is_server_error()).cloned()
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
    then(async move {
        match mode {
            Mode::StopOnFailure => both_or_neither(api, caller, target, cancel_id, order).await,
            Mode::AllowFailure => cancel_then_place(api, caller, target, cancel_id, order).await,
        }
    })
}

/// STOP_ON_FAILURE: one command.
async fn both_or_neither(api: &Shared, caller: &Caller, target: OrderRef, cancel_id: ClientId, new: NewOrder) -> Reply {
    let NewOrder { units, spec, response, request_id } = new;
    let request = AccountRequest {
        account: caller.account,
        request_id: request_id.clone(),
        request_ts_ms: caller.timestamp_ms,
        action: AccountAction::CancelReplace { target, new_order: spec.clone() },
    };
    match api.write(CommandBody::Account(request)).await? {
        Outcome::Applied(Summary::Replaced { canceled, order, status })
        | Outcome::Duplicate(Summary::Replaced { canceled, order, status }) => Ok(json!({
            "cancelResult": "SUCCESS", "newOrderResult": "SUCCESS",
            "cancelResponse": canceled_json(api, caller, &units, canceled, &cancel_id)?,
            "newOrderResponse": placed_json(api, caller, &units, &spec, response, &request_id, order, status),
        })),
        Outcome::Rejected(reject @ (Reject::UnknownOrder | Reject::NotOrderOwner)) => {
            let cancel = ApiError::rejected(reject, -2011);
            Err(ApiError::cancel_replace(
                true,
                json!({
                    "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
                    "cancelResponse": { "code": cancel.code, "msg": cancel.msg }, "newOrderResponse": Value::Null,
                }),
            ))
        }
        Outcome::Rejected(reject) => {
            // The new order was refused, so the cancel did not happen either.
            let refused = ApiError::rejected(reject, -2010);
            Err(ApiError::cancel_replace(
                true,
                json!({
                    "cancelResult": "FAILURE", "newOrderResult": "FAILURE",
                    "cancelResponse": { "code": -2011, "msg": "Not canceled: the new order was refused, and the two happen together or not at all." },
                    "newOrderResponse": { "code": refused.code, "msg": refused.msg },
                }),
            ))
        }
        other => Err(ApiError::rejected_other(other)),
    }
}

/// ALLOW_FAILURE: the cancel, then the new order whatever the cancel did.
async fn cancel_then_place(
    api: &Shared,
    caller: &Caller,
    target: OrderRef,
    cancel_id: ClientId,
    new: NewOrder,
) -> Reply {
    let canceled = cancel(api, caller, new.units.clone(), target, cancel_id).await;
    if let Some(error) = unknown(&canceled) {
        return Err(error);
    }
    let placed = place_order(api, caller, new).await;
    if let Some(error) = unknown(&placed) {
        return Err(error);
    }
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
}
