//! API errors: Binance's `{"code":…,"msg":"…"}` with its HTTP status and, where Binance has
//! one, its code.
//!
//! Codes and messages are part of the API: clients (CCXT among them) map them to exception
//! types, so a code must never change meaning. An error response never echoes a secret.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use outlast_engine::Reject;

/// An error response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Binance error code (negative).
    pub code: i32,
    /// Human-readable message.
    pub msg: String,
    /// What was done before the failure, for a request of several steps (`cancelReplace`).
    pub data: Option<serde_json::Value>,
}

impl ApiError {
    fn new(status: StatusCode, code: i32, msg: impl Into<String>) -> ApiError {
        ApiError { status, code, msg: msg.into(), data: None }
    }

    /// -1000: an unexpected failure inside the node.
    pub fn internal(why: &str) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, -1000, format!("An unknown error occurred: {why}"))
    }

    /// -1002: the operator credential is missing or wrong.
    pub fn unauthorized() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, -1002, "You are not authorized to execute this request.")
    }

    /// -1003: request weight exhausted for this minute.
    pub fn too_many_requests(limit: u32) -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            -1003,
            format!("Too much request weight used; current limit is {limit} request weight per 1 MINUTE."),
        )
    }

    /// -1007: the write was sent but its outcome is unknown (it may or may not apply; a retry
    /// with the same client id is safe).
    pub fn unknown_outcome(why: &str) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            -1007,
            format!("Timeout waiting for response from backend server. Send status unknown; execution status unknown. ({why})"),
        )
    }

    /// -1001: the node cannot serve this now (no leader, state not caught up); nothing was done.
    pub fn unavailable(why: &str) -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            -1001,
            format!("Internal error; unable to process your request. Please try again. ({why})"),
        )
    }

    /// -1021: timestamp outside the receive window.
    pub fn stale_timestamp() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, -1021, "Timestamp for this request is outside of the recvWindow.")
    }

    /// -1021: timestamp ahead of the server's clock.
    pub fn future_timestamp() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            -1021,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        )
    }

    /// -1022: the signature does not verify.
    pub fn bad_signature() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, -1022, "Signature for this request is not valid.")
    }

    /// -1100: a parameter has characters outside its legal set.
    pub fn illegal_chars(name: &str) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, -1100, format!("Illegal characters found in parameter '{name}'."))
    }

    /// -1101: a parameter was sent twice.
    pub fn duplicate_param(name: &str) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, -1101, format!("Duplicate values for a parameter detected: '{name}'."))
    }

    /// -1102: a mandatory parameter is missing, empty or malformed.
    pub fn mandatory(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            -1102,
            format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
        )
    }

    /// -1104: parameters the endpoint does not read.
    pub fn unread_params(names: &[String]) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            -1104,
            format!("Not all sent parameters were read; unknown: {}.", names.join(", ")),
        )
    }

    /// -1111: more decimals than the asset has.
    pub fn bad_precision(name: &str) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            -1111,
            format!("Parameter '{name}' has too much precision: more decimals than the asset allows."),
        )
    }

    /// -1115 / -1116 / -1117 and friends: an enum parameter with an unknown value.
    pub fn invalid_enum(code: i32, name: &str) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, format!("Invalid {name}."))
    }

    /// -1128: optional parameters that cannot go together.
    pub fn bad_combination(why: &str) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, -1128, format!("Combination of optional parameters invalid: {why}."))
    }

    /// -2021 / -2022: a cancel-replace of which one step (-2021) or both (-2022) failed;
    /// `data` says what each step did.
    pub fn cancel_replace(both_failed: bool, data: serde_json::Value) -> ApiError {
        let (code, msg) = if both_failed {
            (-2022, "Order cancel-replace failed.")
        } else {
            (-2021, "Order cancel-replace partially failed.")
        };
        ApiError { data: Some(data), ..ApiError::new(StatusCode::BAD_REQUEST, code, msg) }
    }

    /// 429 / -1003: an address opened more WebSocket connections than its window allows.
    pub fn too_many_connections(limit: u32, window_minutes: u64) -> ApiError {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            -1003,
            format!("Too many WebSocket connections; at most {limit} per {window_minutes} minutes from one address."),
        )
    }

    /// -1102: a WebSocket API message that is not a JSON object.
    pub fn malformed_json() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, -1102, "Malformed request: not a JSON object.")
    }

    /// -1020: a WebSocket API method this node does not serve.
    pub fn unknown_method() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, -1020, "This operation is not supported.")
    }

    /// -4056: `session.logon` takes an Ed25519 key (an HMAC secret must not prove a session).
    pub fn logon_needs_ed25519() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            -4056,
            "HMAC_SHA256 API key is not supported: log on with an Ed25519 key.",
        )
    }

    /// -2010 for an order list (OCO, OTO, OTOCO): not offered (see `order_lists`).
    pub fn no_order_lists() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            -2010,
            "Order lists (OCO, OTO, OTOCO) are not supported: the engine cannot yet hold linked orders atomically.",
        )
    }

    /// -1127: a `startTime`..`endTime` span longer than the endpoint allows.
    pub fn span_too_long(hours_max: u64) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            -1127,
            format!("More than {hours_max} hours between startTime and endTime."),
        )
    }

    /// -1121: unknown symbol.
    pub fn bad_symbol() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, -1121, "Invalid symbol.")
    }

    /// -1125: listen key unknown or not the caller's.
    pub fn bad_listen_key() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, -1125, "This listenKey does not exist.")
    }

    /// -1131: recvWindow out of range.
    pub fn bad_recv_window() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, -1131, "recvWindow must be less than or equal to 60000.")
    }

    /// -2013: no such order (for this account).
    pub fn no_such_order() -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, -2013, "Order does not exist.")
    }

    /// -2014: the API key header is not a key.
    pub fn bad_api_key_format() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, -2014, "API-key format invalid.")
    }

    /// -2015: unknown or revoked API key.
    pub fn rejected_api_key() -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, -2015, "Invalid API-key, IP, or permissions for action.")
    }

    /// 413 with -1000-family code: body or query too large.
    pub fn too_large(what: &str, size_bytes_max: usize) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, -1106, format!("The {what} exceeds {size_bytes_max} bytes."))
    }

    /// -1013: a filter failure or other order-rule rejection.
    pub fn filter(msg: &str) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, -1013, msg)
    }

    /// 409: the command's kind waits for an upgrade to be finalised (see
    /// `outlast_cluster::format`); nothing changed.
    pub fn not_enabled(why: &str) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, -1000, format!("Not enabled: {why}"))
    }

    /// A plain request to a WebSocket path.
    pub fn not_websocket(why: &str) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, -1000, format!("This path takes a WebSocket handshake: {why}"))
    }

    /// 400: a request the HTTP parser could not read (its request line or a header).
    pub fn malformed_request() -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            -1000,
            "Malformed request: its request line or a header could not be parsed.",
        )
    }

    /// 414: a request target over the parser's limit.
    pub fn target_too_long() -> ApiError {
        ApiError::new(StatusCode::URI_TOO_LONG, -1000, "The request target is too long.")
    }

    /// 431: a request head (target and headers) over its limit.
    pub fn head_too_large(size_bytes_max: usize) -> ApiError {
        ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            -1000,
            format!("The request headers are too large (at most {size_bytes_max} bytes with the target)."),
        )
    }

    /// 405 for a method a path does not take.
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, -1000, "Method not allowed for this path.")
    }

    /// 404 for a path that does not exist.
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, -1000, "Unknown path.")
    }

    /// An engine rejection of a new order (-2010), a cancel (-2011), or another request.
    /// Binance's message where it has one; the engine's stable name after it.
    pub fn rejected(reject: Reject, code: i32) -> ApiError {
        let msg = match reject {
            Reject::InsufficientFunds => "Account has insufficient balance for requested action.",
            Reject::UnknownOrder | Reject::NotOrderOwner => "Unknown order sent.",
            Reject::PriceOffTick => "Filter failure: PRICE_FILTER",
            Reject::QuantityOffLot | Reject::ZeroQuantity => "Filter failure: LOT_SIZE",
            Reject::BelowMinNotional => "Filter failure: NOTIONAL",
            Reject::MarketHalted | Reject::MarketCancelOnly => "Market is closed.",
            Reject::PostOnlyWouldTake => "Order would immediately match and take.",
            Reject::DuplicateIdMismatch | Reject::ClientOrderIdInUse => "Duplicate order sent.",
            Reject::OpenOrdersLimit => "Too many open orders.",
            Reject::InvalidMarket => {
                "Invalid market: tick size × step size must be a whole number of quote minor units, fees at most the maximum."
            }
            Reject::InvalidAsset => "Invalid asset: 1-16 upper-case letters and digits, at most 18 decimals.",
            Reject::UnknownAccount => "Unknown account.",
            Reject::WithdrawalStateConflict => "The withdrawal is not in a state that allows this step.",
            Reject::WithdrawalsPaused => "Withdrawals of this asset are paused.",
            Reject::FormatNotEnabled => "The cluster has not finalised the upgrade this command needs.",
            Reject::InvalidFormat => "Formats are finalised one at a time, up to what every voter's build reads.",
            Reject::RequestExpired | Reject::RequestFromFuture => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    -1021,
                    format!("Timestamp for this request is outside of the recvWindow. ({})", reject.name()),
                );
            }
            _ => "Request rejected.",
        };
        let code = match reject {
            Reject::PriceOffTick | Reject::QuantityOffLot | Reject::ZeroQuantity | Reject::BelowMinNotional => -1013,
            _ => code,
        };
        ApiError::new(StatusCode::BAD_REQUEST, code, format!("{msg} ({})", reject.name()))
    }

    /// The JSON body.
    pub fn body(&self) -> String {
        match &self.data {
            None => serde_json::json!({ "code": self.code, "msg": self.msg }).to_string(),
            Some(data) => serde_json::json!({ "code": self.code, "msg": self.msg, "data": data }).to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, [("content-type", "application/json")], self.body()).into_response();
        if self.status == StatusCode::TOO_MANY_REQUESTS {
            response.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static("60"));
        }
        response
    }
}

impl ApiError {
    /// A request id that was used before for a different kind of request.
    pub fn rejected_other(outcome: outlast_engine::Outcome) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            -2010,
            format!("Duplicate order sent: the id was used for another request ({outcome:?})."),
        )
    }
}
