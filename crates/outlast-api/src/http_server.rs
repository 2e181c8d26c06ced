//! The public listener: HTTP/1.1 (with WebSocket upgrades), over TLS when the node has a server
//! certificate, for the API, the page and the dapp endpoint.
//!
//! Every connection is bounded: in number (in all and per source address, shed at accept: see
//! `outlast_cluster::listener`), in how long its handshake and its request headers may take
//! (`HEADER_TIMEOUT`, which also closes a kept-alive connection that stays idle), and in how
//! long one request may take, body included (`REQUEST_TIMEOUT`). So a client that trickles
//! bytes (slowloris) or opens sockets and sends nothing holds a slot for seconds, not forever.
//! Over TLS every response carries HSTS, so a browser that came once never falls back to clear.
//! Requests the HTTP parser refuses are answered in JSON too (`parse_errors`).
//!
//! Must never: serve a connection past its limits, or answer a request whose handler it cut
//! off with anything but a Binance error that says the outcome is unknown.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::http::HeaderValue;
use axum::response::IntoResponse;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use outlast_cluster::listener::{serve_bounded, Limits, Slot};
use outlast_tls::PublicAcceptor;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use crate::error::ApiError;

/// Public connections served at once; more are shed at accept.
pub const HTTP_CONNECTIONS_MAX: usize = 16_384;

/// Public connections from one address, by default (`api_connections_per_source_max`): a
/// trading firm's bots, a browser's tabs, not the whole listener.
pub const HTTP_CONNECTIONS_PER_SOURCE_MAX: usize = 256;

/// Longest a client may take to send a request's headers, and to start the next request on a
/// kept-alive connection.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Longest one request may take from its headers to its response, body included (the node's
/// own write and read deadlines are shorter; a WebSocket runs on after its upgrade response).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Longest request head this server takes: the target and every header, in bytes. hyper's
/// own limit depends on how the bytes arrive (a head that comes in one read may pass it), so
/// this one is checked on every request that hyper parsed.
pub const HEAD_BYTES_MAX: usize = 64 * 1024;

/// The size of `request`'s head as `HEAD_BYTES_MAX` counts it.
fn head_bytes<B>(request: &hyper::Request<B>) -> usize {
    let target = request.uri().path_and_query().map_or(0, |p| p.as_str().len());
    target + request.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum::<usize>()
}

/// HSTS for a year: the browser uses HTTPS for this origin from now on.
const HSTS: &str = "max-age=31536000";

/// Operator-plane connections served at once, and from one address: a few operators' tools
/// and a Prometheus, not a crowd.
pub const OPERATOR_CONNECTIONS_MAX: usize = 256;
/// Operator-plane connections from one address.
pub const OPERATOR_CONNECTIONS_PER_SOURCE_MAX: usize = 32;

/// Who is on the other end of an operator-plane connection, as its client certificate proved;
/// every request on that connection carries it.
#[derive(Clone, Debug)]
pub struct OperatorPlane {
    /// The operator's name.
    pub operator: String,
}

/// Serves the operator plane's `app` on `listener`: mutual TLS only, operators' certificates
/// only (`acceptor`), with the public listener's header and request deadlines.
pub async fn serve_operators(listener: TcpListener, app: Router, acceptor: outlast_tls::Acceptor) -> io::Result<()> {
    let limits =
        Limits { connections_max: OPERATOR_CONNECTIONS_MAX, per_source_max: OPERATOR_CONNECTIONS_PER_SOURCE_MAX };
    let serve_one = |stream: tokio::net::TcpStream, peer: SocketAddr, slot: Slot| {
        let (app, acceptor) = (app.clone(), acceptor.clone());
        async move {
            let (stream, who) = acceptor.accept(stream).await?;
            let outlast_tls::Identity::Operator(operator) = who else {
                return Err(io::Error::new(io::ErrorKind::PermissionDenied, "not an operator's certificate"));
            };
            serve_connection(stream, peer, slot, app, true, Some(OperatorPlane { operator })).await
        }
    };
    serve_bounded(listener, limits, "operator", tracing::Level::WARN, serve_one).await
}

/// Serves `app` on `listener`, over TLS if `tls`, within `per_source_max` connections per client
/// address; until the listener fails.
pub async fn serve_http(
    listener: TcpListener,
    app: Router,
    tls: Option<PublicAcceptor>,
    per_source_max: usize,
) -> io::Result<()> {
    let limits =
        Limits { connections_max: HTTP_CONNECTIONS_MAX, per_source_max: per_source_max.min(HTTP_CONNECTIONS_MAX) };
    let serve_one = |stream: tokio::net::TcpStream, peer: SocketAddr, slot: Slot| {
        let (app, tls) = (app.clone(), tls.clone());
        async move {
            match tls {
                None => serve_connection(stream, peer, slot, app, false, None).await,
                Some(tls) => serve_connection(tls.accept(stream).await?, peer, slot, app, true, None).await,
            }
        }
    };
    serve_bounded(listener, limits, "http", tracing::Level::DEBUG, serve_one).await
}

/// Answers one connection's requests until it closes or breaks a limit. Each request carries
/// the connection's `slot`, which a WebSocket handler keeps for the socket's life: an upgraded
/// connection still counts against its address's share after its HTTP part has ended.
async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    slot: Slot,
    app: Router,
    tls: bool,
    plane: Option<OperatorPlane>,
) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let (mut app, slot, plane) = (app.clone(), slot.clone(), plane.clone());
        async move {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            request.extensions_mut().insert(slot.clone());
            if let Some(plane) = plane {
                request.extensions_mut().insert(plane);
            }
            let mut response = if head_bytes(&request) > HEAD_BYTES_MAX {
                ApiError::head_too_large(HEAD_BYTES_MAX).into_response()
            } else {
                let handled = tower_service::Service::call(&mut app, request);
                match tokio::time::timeout(REQUEST_TIMEOUT, handled).await {
                    Ok(Ok(response)) => response,
                    Ok(Err(never)) => match never {},
                    Err(_) => {
                        ApiError::unknown_outcome(&format!("the request took over {REQUEST_TIMEOUT:?}")).into_response()
                    }
                }
            };
            if tls {
                response.headers_mut().insert("strict-transport-security", HeaderValue::from_static(HSTS));
            }
            Ok::<_, Infallible>(response)
        }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(HEADER_TIMEOUT);
    let stream = crate::parse_errors::JsonParseErrors::new(stream, tls.then_some(HSTS));
    http.serve_connection(TokioIo::new(stream), service).with_upgrades().await.map_err(io::Error::other)
}
