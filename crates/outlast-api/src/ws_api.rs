//! The WebSocket API (`/ws-api/v3`): Binance's request/response protocol over one connection,
//! for bots that want an order placed without a new HTTP request each time.
//!
//! A request `{"id", "method", "params"}` is served by the REST endpoint its method names
//! (`order.place` is `POST /api/v3/order`), through the same front door (`rest::serve_call`):
//! the same weights, credentials, strict decoding and handlers, so the two APIs cannot
//! disagree. A signed request carries `apiKey`, `timestamp` and `signature`, the signature over
//! every other parameter sorted by name (`k=v&…`, values as sent). After `session.logon` (an
//! Ed25519 key, as Binance requires), requests may omit `apiKey` and `signature`.
//!
//! Must never: serve an operator endpoint, or act on a request whose parameters could be read
//! two ways (a value holding `&`, `=`, `%` or `+` is refused rather than escaped).

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use outlast_cluster::listener::Slot;
use outlast_engine::KeyCredential;
use serde_json::{json, Map, Value};

use crate::api::{now_ms, Shared};
use crate::endpoint::Answer;
use crate::error::ApiError;
use crate::rest::{Call, KeySource};
use crate::streams::{CLIENT_MESSAGE_BYTES_MAX, SEND_TIMEOUT};
use crate::weights::{Charge, Counter};

/// Weight one connection costs its IP (Binance: 2).
pub const CONNECTION_WEIGHT: u32 = 2;
/// Weight of a message no endpoint charges: `session.*` (Binance: 2), or one refused before it
/// reached an endpoint.
pub const SESSION_WEIGHT: u32 = 2;
/// Parameters one request may carry.
pub const PARAMS_MAX: usize = 32;

/// Each method and the REST endpoint that serves it.
const METHODS: &[(&str, Method, &str)] = &[
    ("ping", Method::GET, "/api/v3/ping"),
    ("time", Method::GET, "/api/v3/time"),
    ("exchangeInfo", Method::GET, "/api/v3/exchangeInfo"),
    ("depth", Method::GET, "/api/v3/depth"),
    ("trades.recent", Method::GET, "/api/v3/trades"),
    ("trades.historical", Method::GET, "/api/v3/historicalTrades"),
    ("trades.aggregate", Method::GET, "/api/v3/aggTrades"),
    ("klines", Method::GET, "/api/v3/klines"),
    ("uiKlines", Method::GET, "/api/v3/uiKlines"),
    ("avgPrice", Method::GET, "/api/v3/avgPrice"),
    ("ticker.24hr", Method::GET, "/api/v3/ticker/24hr"),
    ("ticker.tradingDay", Method::GET, "/api/v3/ticker/tradingDay"),
    ("ticker", Method::GET, "/api/v3/ticker"),
    ("ticker.price", Method::GET, "/api/v3/ticker/price"),
    ("ticker.book", Method::GET, "/api/v3/ticker/bookTicker"),
    ("order.place", Method::POST, "/api/v3/order"),
    ("order.test", Method::POST, "/api/v3/order/test"),
    ("order.status", Method::GET, "/api/v3/order"),
    ("order.cancel", Method::DELETE, "/api/v3/order"),
    ("order.cancelReplace", Method::POST, "/api/v3/order/cancelReplace"),
    ("openOrders.status", Method::GET, "/api/v3/openOrders"),
    ("openOrders.cancelAll", Method::DELETE, "/api/v3/openOrders"),
    ("allOrders", Method::GET, "/api/v3/allOrders"),
    ("myTrades", Method::GET, "/api/v3/myTrades"),
    ("account.status", Method::GET, "/api/v3/account"),
    ("account.commission", Method::GET, "/api/v3/account/commission"),
    ("account.rateLimits.orders", Method::GET, "/api/v3/rateLimit/order"),
];

/// `/ws-api/v3`.
pub async fn connect(
    State(api): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    slot: Option<Extension<Slot>>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    if let Err(refused) = crate::streams::admit(&api, Some(peer.ip())) {
        return refused.into_response();
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return ApiError::not_websocket(&rejection.body_text()).into_response(),
    };
    let limit = api.weight_limits.ip_per_minute;
    if let Charge::Over(_) = api.weights.charge(Counter::Ip(peer.ip()), CONNECTION_WEIGHT, limit, now_ms()) {
        api.metrics.api_throttled.fetch_add(1, Ordering::Relaxed);
        return ApiError::too_many_requests(limit).into_response();
    }
    upgrade.max_message_size(CLIENT_MESSAGE_BYTES_MAX).on_upgrade(move |socket| async move {
        let _slot = slot;
        api.metrics.ws_open.fetch_add(1, Ordering::Relaxed);
        let connected_ms = now_ms();
        let mut session = Session { api: api.clone(), peer, key: None, connected_ms, authorized_ms: 0 };
        session.run(socket).await;
        api.metrics.ws_open.fetch_sub(1, Ordering::Relaxed);
    })
}

struct Session {
    api: Shared,
    peer: SocketAddr,
    /// The key `session.logon` proved, if any.
    key: Option<String>,
    connected_ms: u64,
    authorized_ms: u64,
}

impl Session {
    async fn run(&mut self, mut socket: WebSocket) {
        let closes_at = tokio::time::Instant::now() + crate::streams::CONNECTION_LIFETIME;
        while let Ok(Some(Ok(message))) = tokio::time::timeout_at(closes_at, socket.recv()).await {
            let text = match message {
                Message::Text(text) => text,
                Message::Close(_) => break,
                _ => continue,
            };
            let answer = self.answer(text.as_str()).await;
            let sent = tokio::time::timeout(SEND_TIMEOUT, socket.send(Message::Text(answer.to_string().into()))).await;
            if !matches!(sent, Ok(Ok(()))) {
                break;
            }
        }
    }

    /// Charges a message no endpoint charges (a session method, or one refused before it
    /// reached an endpoint): Binance's weight for `session.*`, so that no message is free.
    fn charge_message(&self) -> Result<u32, ApiError> {
        let limit = self.api.weight_limits.ip_per_minute;
        match self.api.weights.charge(Counter::Ip(self.peer.ip()), SESSION_WEIGHT, limit, now_ms()) {
            Charge::Ok(used) => Ok(used),
            Charge::Over(_) => {
                self.api.metrics.api_throttled.fetch_add(1, Ordering::Relaxed);
                Err(ApiError::too_many_requests(limit))
            }
        }
    }

    async fn answer(&mut self, text: &str) -> Value {
        let request = serde_json::from_str::<Value>(text).ok();
        let method = request.as_ref().and_then(|r| r.get("method")).and_then(Value::as_str);
        let endpoint = method.is_some_and(|m| METHODS.iter().any(|(name, _, _)| *name == m));
        // An endpoint charges its own weight; every other message is charged here.
        let charged = if endpoint { None } else { Some(self.charge_message()) };
        let (id, result) = match &charged {
            Some(Err(over)) => (request_id(request.as_ref()).unwrap_or(Value::Null), Err((over.clone(), None))),
            _ => self.serve(request).await,
        };
        let mut answer = reply(id, result);
        if let Some(Ok(used)) = charged {
            answer["rateLimits"][0]["count"] = Value::from(used);
        }
        answer
    }

    /// One request, checked for Binance's shape, and its `id` for the answer.
    async fn serve(&mut self, request: Option<Value>) -> (Value, crate::rest::Served) {
        let Some(mut request) = request else {
            return (Value::Null, Err((ApiError::malformed_json(), None)));
        };
        let Some(id) = request_id(Some(&request)) else {
            return (Value::Null, Err((ApiError::mandatory("id"), None)));
        };
        let params = match request.get_mut("params").map(Value::take) {
            None => Map::new(),
            Some(Value::Object(params)) if params.len() <= PARAMS_MAX => params,
            Some(_) => return (id, Err((ApiError::mandatory("params"), None))),
        };
        let result = match request.get("method").and_then(Value::as_str) {
            None => Err((ApiError::mandatory("method"), None)),
            Some("session.logon") => self.logon(&params).await,
            Some("session.status") => Ok((Answer::Json(self.status()), None)),
            Some("session.logout") => {
                self.key = None;
                Ok((Answer::Json(self.status()), None))
            }
            Some(method) => self.call(method, &params).await,
        };
        (id, result)
    }

    fn status(&self) -> Value {
        json!({
            "apiKey": self.key, "authorizedSince": self.key.as_ref().map(|_| self.authorized_ms),
            "connectedSince": self.connected_ms, "returnRateLimits": true, "serverTime": now_ms(),
            "userDataStream": false,
        })
    }

    /// `session.logon`: an Ed25519 key's signature over `apiKey` and `timestamp`.
    async fn logon(&mut self, params: &Map<String, Value>) -> crate::rest::Served {
        let fail = |e: ApiError| (e, None);
        let (query, _) = query_of(params).map_err(fail)?;
        let parsed = crate::params::Params::parse(&query, b"").map_err(fail)?;
        let key = parsed.required("apiKey").map_err(fail)?.to_string();
        if !outlast_engine::api_key_valid(&key) {
            return Err(fail(ApiError::bad_api_key_format()));
        }
        let known = self.api.reader.read().api_key(&key).cloned();
        let entry = match known {
            Some(entry) => entry,
            None => {
                // Created through another node a moment ago, perhaps: catch up, look again.
                self.api.catch_up().await.map_err(fail)?;
                self.api.reader.read().api_key(&key).cloned().ok_or_else(|| fail(ApiError::rejected_api_key()))?
            }
        };
        if matches!(entry.spec.credential, KeyCredential::Hmac { .. }) {
            return Err(fail(ApiError::logon_needs_ed25519()));
        }
        let (payload, _) =
            crate::params::split_signature(&query, b"").ok_or_else(|| fail(ApiError::mandatory("signature")))?;
        let signature = parsed.get("signature").unwrap_or_default();
        if !self.api.keyring.verify(&entry, &payload, signature) {
            return Err(fail(ApiError::bad_signature()));
        }
        crate::auth::check_time(&parsed, now_ms()).map_err(fail)?;
        parsed.get("recvWindow");
        parsed.all_read().map_err(fail)?;
        if !crate::auth::permits(&entry, self.peer.ip(), None) {
            return Err(fail(ApiError::rejected_api_key()));
        }
        self.key = Some(key);
        self.authorized_ms = now_ms();
        Ok((Answer::Json(self.status()), None))
    }

    /// A method served by its REST endpoint.
    async fn call(&mut self, method: &str, params: &Map<String, Value>) -> crate::rest::Served {
        let Some((_, http_method, path)) = METHODS.iter().find(|(name, _, _)| *name == method) else {
            return Err((ApiError::unknown_method(), None));
        };
        let endpoint = crate::endpoints::route(http_method, path).expect("every method's endpoint is listed");
        let (query, signed) = match query_of(params) {
            Ok(query) => query,
            // Refused before any endpoint charged it: charged here.
            Err(error) => return Err((error, self.charge_message().ok())),
        };
        let source = match (&self.key, signed) {
            (Some(key), false) => KeySource::Session(key),
            _ => KeySource::Param,
        };
        let call = Call { peer: self.peer, source, plane: None, query: &query, body: b"" };
        crate::rest::serve_call(&self.api, endpoint, call).await
    }
}

/// The parameters as a query string, sorted by name with `signature` last (what the client
/// signed, then its signature), and whether a signature was sent.
fn query_of(params: &Map<String, Value>) -> Result<(Vec<u8>, bool), ApiError> {
    let mut pairs: Vec<(&str, String)> = Vec::with_capacity(params.len());
    for (name, value) in params {
        let text = match value {
            Value::String(text) => text.clone(),
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            // Binance's list parameters (`symbols`) are JSON arrays of strings.
            Value::Array(_) => value.to_string(),
            _ => return Err(ApiError::illegal_chars(name)),
        };
        let plain = |t: &str| t.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b'&' | b'=' | b'%' | b'+'));
        if name == "signature" {
            // Not part of what was signed; base64 holds `+`, `/` and `=`, so it is escaped.
            let escaped =
                text.bytes()
                    .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") });
            pairs.push((name, escaped.collect()));
            continue;
        }
        if !plain(name) || !plain(&text) {
            return Err(ApiError::illegal_chars(name));
        }
        pairs.push((name, text));
    }
    pairs.sort_by(|a, b| (a.0 == "signature").cmp(&(b.0 == "signature")).then(a.0.cmp(b.0)));
    let signed = pairs.iter().any(|(name, _)| *name == "signature");
    let query: Vec<String> = pairs.iter().map(|(name, value)| format!("{name}={value}")).collect();
    Ok((query.join("&").into_bytes(), signed))
}

/// A request's `id`: absent (null), a number, or a string of at most 64 characters; `None` for
/// any other.
fn request_id(request: Option<&Value>) -> Option<Value> {
    match request.and_then(|r| r.get("id")).cloned().unwrap_or(Value::Null) {
        id @ (Value::Null | Value::Number(_)) => Some(id),
        Value::String(text) if text.len() <= 64 => Some(Value::String(text)),
        _ => None,
    }
}

/// Binance's response frame.
fn reply(id: Value, result: crate::rest::Served) -> Value {
    let limits = |used: Option<u32>| {
        json!([{
            "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
            "limit": crate::weights::IP_WEIGHT_PER_MINUTE_MAX, "count": used.unwrap_or(0),
        }])
    };
    match result {
        Ok((answer, used)) => {
            let result = match answer {
                Answer::Json(value) => value,
                Answer::Text(text) => Value::String(text),
            };
            json!({ "id": id, "status": 200, "result": result, "rateLimits": limits(used) })
        }
        Err((error, used)) => {
            let mut body = json!({ "code": error.code, "msg": error.msg });
            if let Some(data) = error.data {
                body["data"] = data;
            }
            json!({ "id": id, "status": error.status.as_u16(), "error": body, "rateLimits": limits(used) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_sorted_with_the_signature_last_and_refuses_ambiguous_values() {
        let params: Map<String, Value> = serde_json::from_str(
            r#"{"timestamp": 5, "signature": "a+b/c=", "apiKey": "k", "symbol": "BTCUSDT", "test": true}"#,
        )
        .unwrap();
        let (query, signed) = query_of(&params).unwrap();
        assert_eq!(
            String::from_utf8(query).unwrap(),
            "apiKey=k&symbol=BTCUSDT&test=true&timestamp=5&signature=a%2Bb%2Fc%3D"
        );
        assert!(signed);
        for bad in [r#"{"a": "x&b=1"}"#, r#"{"a": "50%"}"#, r#"{"a": "1+1"}"#, r#"{"a": {"b": 1}}"#, r#"{"a": null}"#] {
            let params: Map<String, Value> = serde_json::from_str(bad).unwrap();
            assert_eq!(query_of(&params).unwrap_err().code, -1100, "{bad}");
        }
    }

    #[test]
    fn every_method_is_served_by_a_listed_user_endpoint() {
        for (name, method, path) in METHODS {
            let endpoint = crate::endpoints::route(method, path).unwrap_or_else(|| panic!("{name}: {method} {path}"));
            assert!(
                !matches!(
                    endpoint.handler,
                    crate::endpoint::Handler::Operator(_) | crate::endpoint::Handler::Internal(_)
                ),
                "{name} must not reach the operator"
            );
        }
    }
}
