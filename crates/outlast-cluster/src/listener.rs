//! Where a node's connections come from: an accept loop that yields byte streams (a TCP
//! listener in a node, a simulated one in a simulation), and the one bounded loop that serves
//! them, one task per connection, for every server (`serve`, `internal_server`, and the public
//! API's `outlast_api::http_server`).
//!
//! Must never: read from a connection (the servers do, through `next_frame`), serve more
//! connections at once than the limits it was given, or hold a connection it cannot serve
//! (beyond a limit it closes it at once).

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use crate::per_key::{PerKey, Unit};

/// Accepts connections, one at a time.
pub trait Listener: Send + 'static {
    /// The stream a connection comes as.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// Waits for the next connection; an error ends the server that asked.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;
}

impl Listener for TcpListener {
    type Stream = TcpStream;

    async fn accept(&mut self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, peer) = TcpListener::accept(self).await?;
        // Frames are small and latency-bound. (A socket that refuses the option is served
        // anyway: a failure here must not end the listener.)
        let _ = stream.set_nodelay(true);
        Ok((stream, peer))
    }
}

/// Longest a served connection may go without a complete request: an idle connection, or one
/// that sends a request a byte at a time (slowloris), is closed and frees its slot. Longer than
/// `pool::IDLE_REUSE_MAX`, so a kept connection is not closed under its holder.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The limits of one listener.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once.
    pub connections_max: usize,
    /// Connections served at once from one source address: one host cannot take them all
    /// (peers and tools come from their own addresses).
    pub per_source_max: usize,
}

/// One connection's place within a listener's limits, held for as long as the connection
/// lives: released when the last clone is dropped (a WebSocket's task keeps one after its
/// upgrade response, see `outlast_api::http_server`), also on a panic.
#[derive(Clone)]
pub struct Slot(#[allow(dead_code)] Arc<(tokio::sync::OwnedSemaphorePermit, Unit<IpAddr>)>);

/// Pause after an accept that failed for want of resources (file descriptors, buffers): the
/// listener waits for some to free rather than spin or stop.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Whether a failed accept may succeed later (the listener goes on) rather than mean the
/// listener itself is gone.
fn transient(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    const EMFILE: i32 = 24;
    const ENFILE: i32 = 23;
    const ENOBUFS: i32 = 105;
    const ENOMEM: i32 = 12;
    matches!(error.kind(), ConnectionAborted | ConnectionReset | Interrupted | WouldBlock | OutOfMemory)
        || matches!(error.raw_os_error(), Some(EMFILE | ENFILE | ENOBUFS | ENOMEM))
}

/// Accepts connections from `listener` until it fails, serving each (with the address it came
/// from and its `Slot`) with `serve_one` in a task of its own, within `limits`: a connection
/// beyond them is closed at once (shed), not left in the backlog, so a flood costs the flooder
/// its connections, not the peers theirs. The slot is released when the serving task ends and
/// every clone of the slot it handed on is dropped. A connection that ends in an error is
/// logged at `level` as a `what` connection; an accept that fails for want of resources is
/// logged and retried after `ACCEPT_RETRY_PAUSE`.
pub async fn serve_bounded<L, F, Fut>(
    mut listener: L,
    limits: Limits,
    what: &'static str,
    level: tracing::Level,
    serve_one: F,
) -> io::Result<()>
where
    L: Listener,
    F: Fn(L::Stream, SocketAddr, Slot) -> Fut,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    assert!(limits.connections_max > 0 && limits.per_source_max > 0);
    assert!(limits.per_source_max <= limits.connections_max);
    assert!(
        level == tracing::Level::WARN || level == tracing::Level::DEBUG,
        "log a closed connection at WARN or DEBUG"
    );
    let permits = Arc::new(Semaphore::new(limits.connections_max));
    let per_source = PerKey::default();
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) if transient(&error) => {
                tracing::warn!(%error, "{what} listener: accept failed; retrying");
                tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                continue;
            }
            Err(error) => return Err(error),
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = limits.connections_max, "{what} connections at their limit: shed one");
            continue;
        };
        let Some(source) = per_source.take(peer.ip(), limits.per_source_max) else {
            tracing::warn!(%peer, limit = limits.per_source_max, "{what} connections from one source at their limit: shed one");
            continue;
        };
        let slot = Slot(Arc::new((permit, source)));
        let served = serve_one(stream, peer, slot);
        tokio::spawn(async move {
            if let Err(error) = served.await {
                if error.kind() == std::io::ErrorKind::Unsupported {
                    tracing::error!(%peer, %error, "{what} connection closed");
                } else if level == tracing::Level::WARN {
                    tracing::warn!(%peer, %error, "{what} connection closed");
                } else {
                    tracing::debug!(%peer, %error, "{what} connection closed");
                }
            }
        });
    }
}

/// Reads the next frame from `stream`, or fails if none completes within `IDLE_TIMEOUT`.
pub(crate) async fn next_frame<S: AsyncRead + Unpin, T: serde::de::DeserializeOwned>(
    stream: &mut S,
) -> io::Result<Option<T>> {
    match tokio::time::timeout(IDLE_TIMEOUT, crate::frame::read(stream)).await {
        Ok(read) => read,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("no complete request within {IDLE_TIMEOUT:?}"))),
    }
}
