//! Where a node's connections come from: an accept loop that yields byte streams. A TCP
//! listener in a node, a simulated one in a simulation; the servers above (`serve`,
//! `internal_server`) are the same code for both.
//!
//! Must never: do anything with a connection but hand it over (no reads, no limits: the
//! servers bound what they serve).

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};

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
