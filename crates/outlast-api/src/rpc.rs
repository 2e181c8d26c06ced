//! `/rpc/<chain>`: the chain's JSON-RPC on every node, for dapps and wallets, over the node's
//! provider upstreams (`outlast_chain::serve`): a dapp pointed at any node keeps reading the
//! chain and sending transactions while a provider is down.
//!
//! The HTTP side only: POST of one call or a batch, at most `RPC_BODY_BYTES_MAX`; each call
//! charged one unit of the client address's request weight; CORS for the cluster's own origins
//! (as the REST API). Must never: serve a chain this node does not follow, or answer before the
//! whole body is read within its limit.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::api::{now_ms, Shared};
use crate::weights::{Charge, Counter};

/// Largest request body: a batch of calls, or a transaction with large calldata.
pub const RPC_BODY_BYTES_MAX: usize = 512 * 1024;

fn reply(status: StatusCode, body: &Value, origin: Option<HeaderValue>) -> Response {
    let mut response = (status, [("content-type", "application/json")], body.to_string()).into_response();
    if let Some(origin) = origin {
        let headers = response.headers_mut();
        headers.insert("access-control-allow-origin", origin);
        headers.insert("vary", HeaderValue::from_static("Origin"));
    }
    response
}

fn error(code: i64, message: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": Value::Null, "error": { "code": code, "message": message } })
}

/// Every `/rpc/<chain>` request.
pub(crate) async fn handle(
    State(api): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(chain): Path<String>,
    request: Request<Body>,
) -> Response {
    let origin = crate::rest::allowed_origin(&api, request.headers());
    if request.method() == Method::OPTIONS {
        let Some(origin) = origin else { return StatusCode::NOT_FOUND.into_response() };
        return crate::rest::preflight_allowing(origin, "POST", "Content-Type");
    }
    if request.method() != Method::POST {
        return reply(StatusCode::METHOD_NOT_ALLOWED, &error(-32600, "JSON-RPC is POSTed"), origin);
    }
    let followed = api.chains.get().and_then(|chains| chains.iter().find(|c| c.config.name == chain));
    let Some(followed) = followed else {
        return reply(StatusCode::NOT_FOUND, &error(-32601, "this node follows no such chain"), origin);
    };
    let body = match axum::body::to_bytes(request.into_body(), RPC_BODY_BYTES_MAX).await {
        Ok(body) => body,
        Err(_) => {
            let message = format!("the body is over {RPC_BODY_BYTES_MAX} bytes");
            return reply(StatusCode::PAYLOAD_TOO_LARGE, &error(-32600, &message), origin);
        }
    };
    // One unit per call: a batch costs what its calls would.
    let calls = match body.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice::<Vec<serde::de::IgnoredAny>>(&body).map_or(1, |b| b.len().max(1)),
        _ => 1,
    };
    let limit = api.weight_limits.ip_per_minute;
    if let Charge::Over(_) = api.weights.charge(Counter::Ip(peer.ip()), calls as u32, limit, now_ms()) {
        api.metrics.api_throttled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return reply(
            StatusCode::TOO_MANY_REQUESTS,
            &error(-32005, "request weight over the limit; retry later"),
            origin,
        );
    }
    let answer = followed.server.answer_body(&body).await;
    reply(StatusCode::OK, &answer, origin)
}
