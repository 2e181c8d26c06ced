//! The public API every node serves: Binance-spot-compatible REST (`/api/v3`, `/sapi/v1`) and
//! WebSocket streams, plus the operator API (`/operator/v1`), health, readiness and metrics.
//!
//! This crate translates between HTTP and engine commands and reads; it never changes state
//! except by submitting a command through the cluster, and never answers a write before the
//! command is committed on a quorum. Secrets never reach a log line or a response, save the
//! one response that creates a key.

#![deny(missing_docs)]

mod api;
pub mod auth;
pub mod decimal;
pub mod error;
mod metrics;
mod names;
mod operator;
pub mod params;
mod public;
mod rest;
mod streams;
mod trading;
mod user_stream;
mod wallet;
mod weights;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use openraft::Raft;
use outlast_cluster::{EngineReader, NodeId, NodeInfo, TypeConfig};
use tokio::net::TcpListener;

pub use api::{Api, Shared};
pub use auth::{Keyring, OperatorToken};
pub use names::utc_text;
pub use weights::WeightLimits;

/// Builds the API's shared state.
pub fn new_api(
    raft: Raft<TypeConfig>,
    reader: EngineReader,
    me: (NodeId, NodeInfo),
    keyring: Keyring,
    operator: OperatorToken,
    weight_limits: WeightLimits,
) -> Shared {
    Arc::new(Api {
        writer: outlast_cluster::client::Writer::new(raft.clone()),
        raft,
        reader,
        me,
        keyring,
        operator,
        weights: Default::default(),
        weight_limits,
        metrics: Default::default(),
        closed_listen_keys: Default::default(),
    })
}

/// The HTTP router: streams on their paths, everything else through the REST front door.
pub fn router(api: Shared) -> Router {
    Router::new()
        .route("/ws", get(streams::ws_root))
        .route("/ws/{name}", get(streams::ws_path))
        .route("/stream", get(streams::combined))
        // CCXT appends a connection index to the combined-stream URL.
        .route("/stream/{index}", get(streams::combined))
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

/// Serves the API on `listener` until it fails.
pub async fn serve(listener: TcpListener, api: Shared) -> std::io::Result<()> {
    let app = router(api).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).await
}
