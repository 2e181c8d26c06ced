//! Where a node's connections come from: an accept loop that yields byte streams (a TCP
//! listener in a node, a simulated one in a simulation), and the one bounded loop that serves
//! them, one task per connection, for both servers (`serve`, `internal_server`).
//!
//! Must never: read from a connection (the servers do), or serve more connections at once than
//! the limit it was given.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

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
        // Frames are small and latency-bound.
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }
}

/// Accepts connections from `listener` until it fails, serving each with `serve_one` in a task
/// of its own, at most `connections_max` at once (more wait in the listener's backlog). A
/// connection that ends in an error is logged at `level` as a `what` connection.
pub async fn serve_bounded<L, F, Fut>(
    mut listener: L,
    connections_max: usize,
    what: &'static str,
    level: tracing::Level,
    serve_one: F,
) -> io::Result<()>
where
    L: Listener,
    F: Fn(L::Stream) -> Fut,
    Fut: Future<Output = io::Result<()>> + Send + 'static,
{
    assert!(connections_max > 0);
    assert!(
        level == tracing::Level::WARN || level == tracing::Level::DEBUG,
        "log a closed connection at WARN or DEBUG"
    );
    let permits = Arc::new(Semaphore::new(connections_max));
    loop {
        let permit = permits.clone().acquire_owned().await.expect("the semaphore is never closed");
        let (stream, peer) = listener.accept().await?;
        let served = serve_one(stream);
        tokio::spawn(async move {
            if let Err(error) = served.await {
                if level == tracing::Level::WARN {
                    tracing::warn!(%peer, %error, "{what} connection closed");
                } else {
                    tracing::debug!(%peer, %error, "{what} connection closed");
                }
            }
            drop(permit);
        });
    }
}
