//! Opening a stream (`ws://` or `wss://`) with the same trust as the REST calls: `wss://` runs
//! TLS with the client's own configuration (a lab's CA, say), not a separate root store.
//!
//! Must never: open `wss://` without TLS, or trust anything the configuration does not.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;

/// A connection a stream can run over: plain TCP or TLS over it.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// An open stream.
pub type Socket = WebSocketStream<Box<dyn Io>>;

/// Opens the stream at `url` (`ws://host:port/path` or `wss://…`) within `deadline`, trusting
/// `tls` for `wss://` (with none, `wss://` fails: nothing is trusted).
pub async fn connect_websocket(
    url: &str,
    tls: Option<&Arc<rustls::ClientConfig>>,
    deadline: Duration,
) -> Result<Socket, String> {
    let open = async {
        let (secure, rest) = match url.split_once("://") {
            Some(("wss", rest)) => (true, rest),
            Some(("ws", rest)) => (false, rest),
            _ => return Err(format!("{url}: not a ws:// or wss:// URL")),
        };
        let authority = rest.split('/').next().unwrap_or_default();
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => {
                (host, port.parse::<u16>().map_err(|_| format!("{url}: port {port:?}"))?)
            }
            _ => (authority, if secure { 443 } else { 80 }),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let tcp = TcpStream::connect((host, port)).await.map_err(|e| format!("connect {authority}: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Io> = if secure {
            let config = tls.ok_or_else(|| format!("{url}: no TLS configuration to trust the server with"))?;
            let name = rustls::pki_types::ServerName::try_from(host.to_string())
                .map_err(|e| format!("{url}: server name: {e}"))?;
            let connector = tokio_rustls::TlsConnector::from(config.clone());
            Box::new(connector.connect(name, tcp).await.map_err(|e| format!("TLS with {authority}: {e}"))?)
        } else {
            Box::new(tcp)
        };
        let (socket, _) =
            tokio_tungstenite::client_async(url, stream).await.map_err(|e| format!("handshake with {url}: {e}"))?;
        Ok(socket)
    };
    tokio::time::timeout(deadline, open).await.map_err(|_| format!("{url}: not open within {deadline:?}"))?
}
