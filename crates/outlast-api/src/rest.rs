//! The REST front door: routing, body and parameter limits, request weight, credentials,
//! strict decoding, and the response headers every answer carries.
//!
//! Every request goes the same way, read from the table (`endpoints`): find the endpoint (404 if
//! none), read at most `BODY_BYTES_MAX` of body, decode the parameters strictly, charge its
//! weight to the IP, check the credential the endpoint needs (operator token, API key, or API key
//! plus signature and receive window), charge the key, catch up with the cluster if the endpoint
//! reads linearizably, let the handler decode, check that every
//! parameter sent was read (-1104), then run the handler's action and count the result. Nothing
//! an endpoint does happens before all of that passed (see `endpoint` for why a handler cannot
//! act before the check).
//!
//! This module knows no endpoint by name, and must never: what an endpoint needs is its row.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api::{now_ms, Shared};
use crate::endpoint::{Answer, Caller, Endpoint, Handler, Operator, Reads};
use crate::error::ApiError;
use crate::params::{split_signature, Params, BODY_BYTES_MAX};
use crate::weights::{Charge, Counter};

fn charge(api: &Shared, counter: Counter, weight: u32, limit: u32) -> Result<u32, ApiError> {
    match api.weights.charge(counter, weight, limit, now_ms()) {
        Charge::Ok(used) => Ok(used),
        Charge::Over(_) => {
            api.metrics.api_throttled.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::too_many_requests(limit))
        }
    }
}

/// Where a request's API key comes from.
#[derive(Clone, Copy)]
pub(crate) enum KeySource<'a> {
    /// REST: the `X-MBX-APIKEY` header.
    Header(&'a axum::http::HeaderMap),
    /// The WebSocket API: the `apiKey` parameter, signed with the others.
    Param,
    /// The WebSocket API after `session.logon`: the session's key, proven once at logon, so
    /// a request carries no signature (its timestamp is still checked).
    Session(&'a str),
}

/// Checks the API key, the key's IP allowlist and permission for the endpoint's function, and
/// (for signed endpoints) the signature and timestamp.
async fn authenticate(
    api: &Shared,
    endpoint: &Endpoint,
    peer: SocketAddr,
    source: KeySource<'_>,
    params: &Params,
    query: &[u8],
    body: &[u8],
) -> Result<Caller, ApiError> {
    let key = match source {
        KeySource::Header(headers) => {
            let mut keys = headers.get_all("x-mbx-apikey").iter();
            let key = keys.next().ok_or_else(ApiError::bad_api_key_format)?;
            // Two keys: which one signs is ambiguous, so neither does.
            if keys.next().is_some() {
                return Err(ApiError::duplicate_param("X-MBX-APIKEY"));
            }
            key.to_str().map_err(|_| ApiError::bad_api_key_format())?
        }
        KeySource::Param => params.required("apiKey")?,
        KeySource::Session(key) => key,
    };
    if !outlast_engine::api_key_valid(key) {
        return Err(ApiError::bad_api_key_format());
    }
    let known = api.reader.read().api_key(key).cloned();
    let entry = match known {
        Some(entry) => entry,
        None => {
            // This node may simply not have applied the key yet (created through another node a
            // moment ago): catch up with the leader's read index, then look again. A node that
            // cannot catch up says so (503) rather than calling a good key invalid.
            api.catch_up().await?;
            api.reader.read().api_key(key).cloned().ok_or_else(ApiError::rejected_api_key)?
        }
    };
    let mut caller =
        Caller { key: key.to_string(), account: entry.spec.account, timestamp_ms: now_ms(), payload: Vec::new() };
    if let (Handler::Signed(_), KeySource::Session(_)) = (endpoint.handler, source) {
        caller.timestamp_ms = crate::auth::check_time(params, now_ms())?;
        caller.payload = query.to_vec();
    } else if matches!(endpoint.handler, Handler::Signed(_)) {
        let (payload, _) = split_signature(query, body).ok_or_else(|| ApiError::mandatory("signature"))?;
        let signature = params.get("signature").unwrap_or_default();
        if !api.keyring.verify(&entry, &payload, signature) {
            return Err(ApiError::bad_signature());
        }
        caller.timestamp_ms = crate::auth::check_time(params, now_ms())?;
        caller.payload = payload;
    }
    // After the signature, so that a key's permissions and allowlist are told only to its holder.
    if !crate::auth::permits(&entry, peer.ip(), endpoint.function) {
        return Err(ApiError::rejected_api_key());
    }
    Ok(caller)
}

/// The fallback handler: every REST request.
pub async fn handle(
    State(api): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request<Body>,
) -> Response {
    let started = Instant::now();
    let cors_origin = allowed_origin(&api, request.headers());
    if request.method() == Method::OPTIONS {
        return preflight(cors_origin);
    }
    let (mut response, used) = match serve(&api, peer, request).await {
        Ok((value, used)) => {
            let body = match value {
                Answer::Json(value) => value.to_string(),
                Answer::Text(text) => text,
            };
            ((StatusCode::OK, [("content-type", "application/json")], body).into_response(), used)
        }
        Err((error, used)) => (error.into_response(), used),
    };
    if let Some(used) = used {
        if let Ok(value) = HeaderValue::from_str(&used.to_string()) {
            response.headers_mut().insert("x-mbx-used-weight-1m", value);
        }
    }
    let counter = match response.status().as_u16() {
        0..=399 => &api.metrics.api_ok,
        400..=499 => &api.metrics.api_client_errors,
        _ => &api.metrics.api_server_errors,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    api.metrics.api_latency.observe_us(started.elapsed().as_micros() as u64);
    if let Some(origin) = cors_origin {
        let headers = response.headers_mut();
        headers.insert("access-control-allow-origin", origin);
        headers.insert("vary", HeaderValue::from_static("Origin"));
        headers.insert("access-control-expose-headers", HeaderValue::from_static("x-mbx-used-weight-1m"));
    }
    response
}

/// The request's `Origin` if it is one of the cluster's own. No other site gets CORS access (no
/// cookies are ever used, but there is no reason to let other sites' scripts drive a user's
/// browser at us). Membership is read only when an `Origin` header is present.
pub(crate) fn allowed_origin(api: &Shared, headers: &axum::http::HeaderMap) -> Option<HeaderValue> {
    headers.get("origin")?;
    outlast_web::allowed_origin(&crate::origins(&api.raft), headers)
}

/// The answer to a CORS preflight: the methods and headers the API uses, cached 10 minutes.
fn preflight(origin: Option<HeaderValue>) -> Response {
    let Some(origin) = origin else {
        return ApiError::not_found().into_response();
    };
    preflight_allowing(origin, "GET, POST, PUT, DELETE", "X-MBX-APIKEY, Content-Type")
}

/// A CORS preflight's answer for an allowed `origin`: these methods and headers, cached 10
/// minutes.
pub(crate) fn preflight_allowing(origin: HeaderValue, methods: &'static str, headers: &'static str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let set = response.headers_mut();
    set.insert("access-control-allow-origin", origin);
    set.insert("vary", HeaderValue::from_static("Origin"));
    set.insert("access-control-allow-methods", HeaderValue::from_static(methods));
    set.insert("access-control-allow-headers", HeaderValue::from_static(headers));
    set.insert("access-control-max-age", HeaderValue::from_static("600"));
    response
}

/// What `serve` answers: the answer and the weight used, or the error and the weight used.
pub(crate) type Served = Result<(Answer, Option<u32>), (ApiError, Option<u32>)>;

async fn serve(api: &Shared, peer: SocketAddr, request: Request<Body>) -> Served {
    let endpoint =
        crate::endpoints::route(request.method(), request.uri().path()).ok_or((ApiError::not_found(), None))?;
    let query = request.uri().query().unwrap_or("").as_bytes().to_vec();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, BODY_BYTES_MAX)
        .await
        .map_err(|_| (ApiError::too_large("request body", BODY_BYTES_MAX), None))?;
    let call = Call {
        peer,
        source: KeySource::Header(&parts.headers),
        plane: parts.extensions.get::<crate::http_server::OperatorPlane>(),
        query: &query,
        body: &body,
    };
    serve_call(api, endpoint, call).await
}

/// One request to an endpoint, from REST or the WebSocket API.
pub(crate) struct Call<'a> {
    /// Who sent it.
    pub peer: SocketAddr,
    /// Where its API key comes from.
    pub source: KeySource<'a>,
    /// The operator plane it came through, if any (REST only).
    pub plane: Option<&'a crate::http_server::OperatorPlane>,
    /// Its parameters, as a query string and a form body.
    pub query: &'a [u8],
    pub body: &'a [u8],
}

/// Serves one request to `endpoint`, and counts it for the endpoint's exchange function.
pub(crate) async fn serve_call(api: &Shared, endpoint: &Endpoint, call: Call<'_>) -> Served {
    let served = serve_endpoint(api, endpoint, call).await;
    if let Some(function) = endpoint.function {
        // Denied: the cluster could not serve it (503 not done or unknown, or a 500).
        let denied = served.as_ref().is_err_and(|(error, _)| error.status.is_server_error());
        api.functions.note(function, !denied);
    }
    served
}

async fn serve_endpoint(api: &Shared, endpoint: &Endpoint, call: Call<'_>) -> Served {
    let Call { peer, source, plane, query, body } = call;
    let params = Params::parse(query, body).map_err(|e| (e, None))?;
    let weight = endpoint.weight.of(&params);
    let used = match weight {
        Some(weight) => {
            Some(charge(api, Counter::Ip(peer.ip()), weight, api.weight_limits.ip_per_minute).map_err(|e| (e, None))?)
        }
        None => None,
    };
    let fail = |e: ApiError| (e, used);
    // A linearizable endpoint decodes and answers on a state that has every write the cluster
    // acknowledged before this request arrived (the credential check above may have read an
    // older one: a key found there existed; one not found was looked up again after catching up).
    let catch_up = || async {
        match endpoint.reads {
            Reads::Linearizable => api.catch_up().await,
            Reads::Logged | Reads::Local => Ok(()),
        }
    };
    // The caller outlives the handler's action, which may borrow it.
    let caller: Caller;
    let operator: Operator;
    let on_plane = plane.is_some();
    // The operator plane serves the operator's endpoints and nothing users call.
    if on_plane && !matches!(endpoint.handler, Handler::Operator(_) | Handler::Internal(_)) {
        return Err(fail(ApiError::not_found()));
    }
    let decoded = match endpoint.handler {
        Handler::Internal(decode) => {
            if api.operator_plane.load(Ordering::Relaxed) && !on_plane {
                return Err(fail(ApiError::not_found()));
            }
            catch_up().await.map_err(fail)?;
            decode(api, &params)
        }
        Handler::Public(decode) => {
            catch_up().await.map_err(fail)?;
            decode(api, &params)
        }
        Handler::Operator(decode) => {
            let KeySource::Header(headers) = source else { return Err(fail(ApiError::not_found())) };
            operator = match plane {
                // Proven by the client certificate in the handshake.
                Some(plane) => Operator { name: plane.operator.clone() },
                None if api.operator_plane.load(Ordering::Relaxed) => return Err(fail(ApiError::not_found())),
                None => {
                    let header = headers.get("authorization").map(|v| v.as_bytes());
                    if !api.operator.accepts(header) {
                        return Err(fail(ApiError::unauthorized()));
                    }
                    Operator { name: crate::endpoint::TOKEN_OPERATOR.into() }
                }
            };
            catch_up().await.map_err(fail)?;
            decode(api, &operator, &params)
        }
        Handler::Key(decode) | Handler::Signed(decode) => {
            caller = authenticate(api, endpoint, peer, source, &params, query, body).await.map_err(fail)?;
            if let Some(weight) = weight {
                charge(api, Counter::Key(caller.key.clone()), weight, api.weight_limits.key_per_minute)
                    .map_err(fail)?;
            }
            catch_up().await.map_err(fail)?;
            decode(api, &caller, &params)
        }
    };
    let action = decoded.map_err(fail)?;
    // Strict decoding, for every endpoint at once, before its action can change anything.
    params.all_read().map_err(fail)?;
    let answer = action.await.map_err(fail)?;
    Ok((answer, used))
}
