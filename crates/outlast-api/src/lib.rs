//! The public API every node serves: Binance-spot-compatible REST (`/api/v3`, `/sapi/v1`) and
//! WebSocket streams, plus the operator API (`/operator/v1`), health, readiness, metrics, the
//! public status (`/status/v1`), and the web front-end (`outlast-web`) mounted beside them.
//!
//! This crate translates between HTTP and engine commands and reads; it never changes state
//! except by submitting a command through the cluster, and never answers a write before the
//! command is committed on a quorum. Secrets never reach a log line or a response, save the
//! one response that creates a key.

#![deny(missing_docs)]

mod absent;
mod account_rules;
mod api;
pub mod auth;
mod cancel_replace;
mod chains;
pub mod decimal;
mod endpoint;
mod endpoints;
pub mod error;
pub mod function;
pub mod http_server;
mod klines;
mod metrics;
mod names;
mod operator;
pub mod params;
mod parse_errors;
mod public;
mod rest;
mod rpc;
mod rpc_ws;
mod status;
mod streams;
pub mod tickers;
mod trading;
mod user_stream;
mod wallet;
mod weights;
mod ws_api;

use openraft::async_runtime::WatchReceiver;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use outlast_cluster::Raft;
use outlast_cluster::{EngineReader, NodeId, NodeInfo};
use tokio::net::TcpListener;

pub use api::{Api, Shared};
pub use auth::{Keyring, OperatorToken};
pub use names::utc_text;
pub use weights::WeightLimits;

/// Builds the API's shared state; it writes through the node's `writer`.
pub fn new_api(
    writer: outlast_cluster::write::Writer,
    reader: EngineReader,
    me: (NodeId, NodeInfo),
    keyring: Keyring,
    operator: OperatorToken,
    weight_limits: WeightLimits,
) -> Shared {
    Arc::new(Api {
        raft: writer.raft.clone(),
        writer,
        reader,
        me,
        keyring,
        operator,
        weights: Default::default(),
        weight_limits,
        metrics: Default::default(),
        operator_plane: Default::default(),
        status: Default::default(),
        functions: Default::default(),
        chains: Default::default(),
        tickers: Default::default(),
    })
}

/// A member's public origin, from its membership entry (none if it serves no API).
pub fn origin_url(info: &NodeInfo) -> Option<String> {
    (!info.public_url.is_empty()).then(|| info.public_url.clone())
}

/// Every member's public origin, from the cluster's membership.
pub fn origins(raft: &Raft) -> Vec<outlast_web::Origin> {
    let metrics = raft.metrics().borrow_watched().clone();
    metrics
        .membership_config
        .membership()
        .nodes()
        .filter_map(|(id, info)| {
            Some(outlast_web::Origin {
                id: *id,
                url: origin_url(info)?,
                provider: info.provider.clone(),
                region: info.region.clone(),
                zone: info.zone.clone(),
            })
        })
        .collect()
}

/// The HTTP router: the web front-end's pages and assets, streams on their paths, everything
/// else through the REST front door. Chaos reports are served from `reports_dir`, if given.
pub fn router(api: Shared, reports_dir: Option<PathBuf>) -> Router {
    let raft = api.raft.clone();
    let site = outlast_web::Site { origins: Arc::new(move || origins(&raft)), reports_dir };
    Router::new()
        .merge(outlast_web::router(site))
        .route("/ws", get(streams::ws_root))
        .route("/ws/{name}", get(streams::ws_path))
        .route("/stream", get(streams::combined))
        .route("/ws-api/v3", get(ws_api::connect))
        // CCXT appends a connection index to the combined-stream URL.
        .route("/stream/{index}", get(streams::combined))
        .route("/rpc/{chain}", get(rpc_ws::handle).post(rpc::handle).options(rpc::handle))
        .fallback(rest::handle)
        .method_not_allowed_fallback(|| async { error::ApiError::method_not_allowed() })
        .with_state(api)
}

/// Kernel send buffer per API connection, in bytes (Linux doubles it). Fixed rather than
/// autotuned (up to 4 MiB each) so that a slow WebSocket reader holds little memory and is
/// noticed: once its buffer is full, its stream falls behind the feed and is closed.
pub const SEND_BUFFER_BYTES: u32 = 64 * 1024;

/// Binds the API listener with the bounded send buffer.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.set_send_buffer_size(SEND_BUFFER_BYTES)?;
    socket.bind(addr)?;
    socket.listen(1_024)
}

/// How the public listener serves: over TLS with this server certificate (else plain HTTP), and
/// how many connections one client address may hold.
#[derive(Clone, Debug)]
pub struct Serving {
    /// Users' HTTPS.
    pub tls: Option<outlast_tls::PublicAcceptor>,
    /// Connections at once from one address (`http_server::HTTP_CONNECTIONS_PER_SOURCE_MAX` by
    /// default).
    pub per_source_max: usize,
}

impl Default for Serving {
    fn default() -> Self {
        Serving { tls: None, per_source_max: http_server::HTTP_CONNECTIONS_PER_SOURCE_MAX }
    }
}

/// The operator plane: the operator API alone (`/operator/v1/...`, and the metrics), over mutual
/// TLS on its own listener, admitting only operators' client certificates (`acceptor`, built
/// with `outlast_tls::Acceptor::for_http`). Every request is authenticated by the certificate,
/// whose name the audit trail records. Call it before serving the public listener: from this
/// call on, the public listener serves no operator endpoint.
pub fn serve_operator_plane(
    listener: TcpListener,
    api: Shared,
    acceptor: outlast_tls::Acceptor,
) -> impl std::future::Future<Output = std::io::Result<()>> {
    api.operator_plane.store(true, std::sync::atomic::Ordering::SeqCst);
    let app = Router::new()
        .fallback(rest::handle)
        .method_not_allowed_fallback(|| async { error::ApiError::method_not_allowed() })
        .with_state(api);
    http_server::serve_operators(listener, app, acceptor)
}

/// Serves the API and the web front-end on `listener` until it fails (see `http_server`), and
/// records the cluster's status for the status page meanwhile.
pub async fn serve(
    listener: TcpListener,
    api: Shared,
    reports_dir: Option<PathBuf>,
    serving: Serving,
) -> std::io::Result<()> {
    let recorder = tokio::spawn(status::record(api.clone()));
    let app = router(api, reports_dir);
    let served = http_server::serve_http(listener, app, serving.tls, serving.per_source_max).await;
    recorder.abort();
    served
}
