//! The REST front door: routing, body and parameter limits, request weight, credentials, and
//! the response headers every answer carries.
//!
//! Every request goes the same way: find the endpoint (404 if none), read at most
//! `BODY_BYTES_MAX` of body, decode the parameters strictly, charge its weight to the IP, check
//! the credential the endpoint needs (operator token, API key, or API key plus signature and
//! receive window), charge the key, run the endpoint, and count the result. Nothing an endpoint
//! does happens before all of that passed.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use outlast_engine::AccountId;

use crate::api::{now_ms, Shared};
use crate::error::ApiError;
use crate::params::{split_signature, Params, BODY_BYTES_MAX};
use crate::weights::{Charge, Counter};
use crate::{operator, public, trading, wallet};

/// What credential an endpoint needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// None (market data).
    Public,
    /// An API key (listen keys).
    Key,
    /// An API key and a valid signature with a fresh timestamp.
    Signed,
    /// The operator's bearer token.
    Operator,
}

/// Who is calling, once authenticated.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The API key name.
    pub key: String,
    /// The account it acts for.
    pub account: AccountId,
    /// The request's `timestamp` (signed requests), else this node's clock.
    pub timestamp_ms: u64,
    /// The signed payload's bytes (for deriving ids that a byte-identical retry repeats).
    pub payload: Vec<u8>,
}

/// A JSON answer.
pub type Reply = Result<serde_json::Value, ApiError>;

/// Every REST endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    Ping,
    Time,
    ExchangeInfo,
    Depth,
    Trades,
    TickerPrice,
    BookTicker,
    Ticker24h,
    NewOrder,
    TestOrder,
    QueryOrder,
    CancelOrder,
    OpenOrders,
    CancelOpenOrders,
    AllOrders,
    MyTrades,
    Account,
    Withdraw,
    WithdrawHistory,
    DepositHistory,
    ListenKeyNew,
    ListenKeyKeep,
    ListenKeyClose,
    OpCreateAsset,
    OpCreateMarket,
    OpMarketStatus,
    OpCreateAccount,
    OpCreateKey,
    OpRevokeKey,
    OpDeposit,
    OpWithdrawals,
    OpWithdrawalSent,
    OpWithdrawalConfirmed,
    OpWithdrawalFailed,
    OpCluster,
    OpAudit,
    Health,
    Ready,
    Metrics,
    StatusCluster,
    StatusHistory,
}

impl Endpoint {
    /// The endpoint for a method and path.
    pub fn route(method: &Method, path: &str) -> Option<Endpoint> {
        use Endpoint::*;
        let get = *method == Method::GET;
        let post = *method == Method::POST;
        let put = *method == Method::PUT;
        let delete = *method == Method::DELETE;
        Some(match path {
            "/api/v3/ping" if get => Ping,
            "/api/v3/time" if get => Time,
            "/api/v3/exchangeInfo" if get => ExchangeInfo,
            "/api/v3/depth" if get => Depth,
            "/api/v3/trades" if get => Trades,
            "/api/v3/ticker/price" if get => TickerPrice,
            "/api/v3/ticker/bookTicker" if get => BookTicker,
            "/api/v3/ticker/24hr" if get => Ticker24h,
            "/api/v3/order" if post => NewOrder,
            "/api/v3/order" if get => QueryOrder,
            "/api/v3/order" if delete => CancelOrder,
            "/api/v3/order/test" if post => TestOrder,
            "/api/v3/openOrders" if get => OpenOrders,
            "/api/v3/openOrders" if delete => CancelOpenOrders,
            "/api/v3/allOrders" if get => AllOrders,
            "/api/v3/myTrades" if get => MyTrades,
            "/api/v3/account" if get => Account,
            "/api/v3/userDataStream" if post => ListenKeyNew,
            "/api/v3/userDataStream" if put => ListenKeyKeep,
            "/api/v3/userDataStream" if delete => ListenKeyClose,
            "/sapi/v1/capital/withdraw/apply" if post => Withdraw,
            "/sapi/v1/capital/withdraw/history" if get => WithdrawHistory,
            "/sapi/v1/capital/deposit/hisrec" if get => DepositHistory,
            "/operator/v1/assets" if post => OpCreateAsset,
            "/operator/v1/markets" if post => OpCreateMarket,
            "/operator/v1/markets/status" if post => OpMarketStatus,
            "/operator/v1/accounts" if post => OpCreateAccount,
            "/operator/v1/apiKeys" if post => OpCreateKey,
            "/operator/v1/apiKeys" if delete => OpRevokeKey,
            "/operator/v1/deposits" if post => OpDeposit,
            "/operator/v1/withdrawals" if get => OpWithdrawals,
            "/operator/v1/withdrawals/sent" if post => OpWithdrawalSent,
            "/operator/v1/withdrawals/confirmed" if post => OpWithdrawalConfirmed,
            "/operator/v1/withdrawals/failed" if post => OpWithdrawalFailed,
            "/operator/v1/cluster" if get => OpCluster,
            "/operator/v1/audit" if get => OpAudit,
            "/operator/v1/health" | "/health" if get => Health,
            "/operator/v1/ready" | "/ready" if get => Ready,
            "/metrics" | "/operator/v1/metrics" if get => Metrics,
            "/status/v1/cluster" if get => StatusCluster,
            "/status/v1/history" if get => StatusHistory,
            _ => return None,
        })
    }

    /// The credential it needs.
    pub fn security(self) -> Security {
        use Endpoint::*;
        match self {
            Ping | Time | ExchangeInfo | Depth | Trades | TickerPrice | BookTicker | Ticker24h | Health | Ready
            | Metrics | StatusCluster | StatusHistory => Security::Public,
            ListenKeyNew | ListenKeyKeep | ListenKeyClose => Security::Key,
            NewOrder | TestOrder | QueryOrder | CancelOrder | OpenOrders | CancelOpenOrders | AllOrders | MyTrades
            | Account | Withdraw | WithdrawHistory | DepositHistory => Security::Signed,
            _ => Security::Operator,
        }
    }

    /// Its request weight (Binance's, where it has one).
    pub fn weight(self, params: &Params) -> u32 {
        use Endpoint::*;
        let has = |name: &str| params.peek(name).is_some();
        match self {
            ExchangeInfo => 20,
            Depth => match params.peek("limit").and_then(|l| l.parse::<u32>().ok()).unwrap_or(100) {
                0..=100 => 5,
                101..=500 => 25,
                501..=1000 => 50,
                _ => 250,
            },
            Trades => 25,
            TickerPrice | BookTicker => {
                if has("symbol") {
                    2
                } else {
                    4
                }
            }
            Ticker24h => {
                if has("symbol") {
                    2
                } else {
                    80
                }
            }
            QueryOrder => 4,
            OpenOrders => {
                if has("symbol") {
                    6
                } else {
                    80
                }
            }
            AllOrders | MyTrades | Account => 20,
            _ => 1,
        }
    }
}

fn charge(api: &Shared, counter: Counter, weight: u32, limit: u32) -> Result<u32, ApiError> {
    match api.weights.charge(counter, weight, limit, now_ms()) {
        Charge::Ok(used) => Ok(used),
        Charge::Over(_) => {
            api.metrics.api_throttled.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::too_many_requests(limit))
        }
    }
}

/// Checks the API key header (and, for signed endpoints, the signature and timestamp).
async fn authenticate(
    api: &Shared,
    security: Security,
    headers: &axum::http::HeaderMap,
    params: &Params,
    query: &[u8],
    body: &[u8],
) -> Result<Caller, ApiError> {
    let key = headers.get("x-mbx-apikey").ok_or_else(ApiError::bad_api_key_format)?;
    let key = key.to_str().map_err(|_| ApiError::bad_api_key_format())?;
    if !outlast_engine::api_key_valid(key) {
        return Err(ApiError::bad_api_key_format());
    }
    let known = api.reader.read().api_key_account(key);
    let account = match known {
        Some(account) => account,
        None => {
            // This node may simply not have applied the key yet (created through another node a
            // moment ago): catch up with the leader's read index, then look again. A node that
            // cannot catch up says so (503) rather than calling a good key invalid.
            if !outlast_cluster::read::catch_up(&api.raft, &api.reader, &api.writer.dialer, api.me.0, CATCH_UP_DEADLINE)
                .await
            {
                return Err(ApiError::unavailable("this node cannot confirm it is current; try another node"));
            }
            api.reader.read().api_key_account(key).ok_or_else(ApiError::rejected_api_key)?
        }
    };
    let mut caller = Caller { key: key.to_string(), account, timestamp_ms: now_ms(), payload: Vec::new() };
    if security == Security::Signed {
        let (payload, signature) = split_signature(query, body).ok_or_else(|| ApiError::mandatory("signature"))?;
        params.get("signature");
        if !api.keyring.verify(key, &payload, signature) {
            return Err(ApiError::bad_signature());
        }
        caller.timestamp_ms = crate::auth::check_time(params, now_ms())?;
        caller.payload = payload;
    }
    Ok(caller)
}

/// How long a node may take to catch up before judging an unknown API key.
const CATCH_UP_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

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
fn allowed_origin(api: &Shared, headers: &axum::http::HeaderMap) -> Option<HeaderValue> {
    headers.get("origin")?;
    outlast_web::allowed_origin(&crate::origins(&api.raft), headers)
}

/// The answer to a CORS preflight: the methods and headers the API uses, cached 10 minutes.
fn preflight(origin: Option<HeaderValue>) -> Response {
    let Some(origin) = origin else {
        return ApiError::not_found().into_response();
    };
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert("access-control-allow-origin", origin);
    headers.insert("vary", HeaderValue::from_static("Origin"));
    headers.insert("access-control-allow-methods", HeaderValue::from_static("GET, POST, PUT, DELETE"));
    headers.insert("access-control-allow-headers", HeaderValue::from_static("X-MBX-APIKEY, Content-Type"));
    headers.insert("access-control-max-age", HeaderValue::from_static("600"));
    response
}

/// What an endpoint answers.
pub enum Answer {
    /// JSON.
    Json(serde_json::Value),
    /// Pre-rendered text (metrics).
    Text(String),
}

async fn serve(
    api: &Shared,
    peer: SocketAddr,
    request: Request<Body>,
) -> Result<(Answer, Option<u32>), (ApiError, Option<u32>)> {
    let endpoint = Endpoint::route(request.method(), request.uri().path()).ok_or((ApiError::not_found(), None))?;
    let query = request.uri().query().unwrap_or("").as_bytes().to_vec();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, BODY_BYTES_MAX)
        .await
        .map_err(|_| (ApiError::too_large("request body", BODY_BYTES_MAX), None))?;
    let request = Request::from_parts(parts, Body::empty());
    let params = Params::parse(&query, &body).map_err(|e| (e, None))?;
    let weight = endpoint.weight(&params);
    let security = endpoint.security();
    let used = match security {
        // The operator and health checks are not charged: they must work when users flood us.
        Security::Operator => None,
        _ if matches!(endpoint, Endpoint::Health | Endpoint::Ready | Endpoint::Metrics) => None,
        _ => Some(charge(api, Counter::Ip(peer.ip()), weight, api.weight_limits.ip_per_minute).map_err(|e| (e, None))?),
    };
    let fail = |e: ApiError| (e, used);
    let caller = match security {
        Security::Public => None,
        Security::Operator => {
            let header = request.headers().get("authorization").map(|v| v.as_bytes());
            if !api.operator.accepts(header) {
                return Err(fail(ApiError::unauthorized()));
            }
            None
        }
        Security::Key | Security::Signed => {
            let caller = authenticate(api, security, request.headers(), &params, &query, &body).await.map_err(fail)?;
            charge(api, Counter::Key(caller.key.clone()), weight, api.weight_limits.key_per_minute).map_err(fail)?;
            Some(caller)
        }
    };
    if endpoint == Endpoint::Metrics {
        params.all_read().map_err(fail)?;
        return Ok((Answer::Text(operator::metrics(api)), used));
    }
    let value = dispatch(api, endpoint, caller.as_ref(), &params).await.map_err(fail)?;
    Ok((Answer::Json(value), used))
}

async fn dispatch(api: &Shared, endpoint: Endpoint, caller: Option<&Caller>, params: &Params) -> Reply {
    use Endpoint::*;
    let caller = || caller.ok_or_else(|| ApiError::internal("no caller"));
    match endpoint {
        Ping | Time | ExchangeInfo | Depth | Trades | TickerPrice | BookTicker | Ticker24h => {
            public::handle(api, endpoint, params)
        }
        NewOrder | TestOrder | QueryOrder | CancelOrder | OpenOrders | CancelOpenOrders | AllOrders | MyTrades
        | Account => trading::handle(api, endpoint, caller()?, params).await,
        Withdraw | WithdrawHistory | DepositHistory => wallet::handle(api, endpoint, caller()?, params).await,
        ListenKeyNew | ListenKeyKeep | ListenKeyClose => crate::user_stream::handle(api, endpoint, caller()?, params),
        StatusCluster => {
            params.all_read()?;
            Ok(crate::status::cluster(api))
        }
        StatusHistory => {
            params.all_read()?;
            Ok(crate::status::history(api))
        }
        _ => operator::handle(api, endpoint, params).await,
    }
}
