//! Serves the internal client protocol (`protocol`) on a node's client address: one task per
//! connection, up to `CLIENT_CONNECTIONS_MAX` at once, one request at a time per connection,
//! each handed to the module that does that job (`write`, `read`, `status`, `admin`).
//!
//! Must never: decide anything itself (no forwarding, no stamping, no reads of its own): it
//! only decodes a request, dispatches it and encodes the reply. A malformed frame closes that
//! connection only.

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::frame;
use crate::listener::{serve_bounded, Listener};
use crate::network::Dialer;
use crate::protocol::{ClientReply, ClientRequest};
use crate::types::{NodeId, NodeInfo};
use crate::write::{submit, Writer};

/// Client connections served at once; more wait in the listener's backlog. Bounds the tasks and
/// buffers a burst of clients can make a node hold.
pub const CLIENT_CONNECTIONS_MAX: usize = 4_096;

/// Serves the client protocol on `listener` until the listener fails.
/// `me` is this node's id and its configured description.
pub async fn serve_clients<L: Listener, D: Dialer>(
    listener: L,
    writer: Writer<D>,
    me: (NodeId, NodeInfo),
) -> io::Result<()> {
    let serve_one = |stream| serve_client_connection(stream, writer.clone(), me.clone());
    serve_bounded(listener, CLIENT_CONNECTIONS_MAX, "client", tracing::Level::DEBUG, serve_one).await
}

/// Answers one client connection until it closes (any byte stream: TCP in a node, a simulated
/// one in a simulation).
pub(crate) async fn serve_client_connection<S: AsyncRead + AsyncWrite + Unpin, D: Dialer>(
    mut stream: S,
    writer: Writer<D>,
    me: (NodeId, NodeInfo),
) -> io::Result<()> {
    let (raft, reader, dialer) = (&writer.raft, &writer.reader, &writer.dialer);
    while let Some(request) = frame::read::<_, ClientRequest>(&mut stream).await? {
        let reply = match request {
            ClientRequest::Status => ClientReply::Status(crate::status::status(raft, reader, &me)),
            ClientRequest::Admin { request, forwarded } => crate::admin::handle(raft, dialer, request, forwarded).await,
            ClientRequest::Submit { body, forwarded } => submit(&writer, body, forwarded).await,
            ClientRequest::Read { query, follower_ok, forwarded } => {
                crate::read::read(raft, reader, dialer, me.0, query, follower_ok, forwarded).await
            }
        };
        frame::write(&mut stream, &reply).await?;
    }
    Ok(())
}
