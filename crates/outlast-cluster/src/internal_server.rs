//! Serves the internal client protocol (`protocol`) on a node's client address: one task per
//! connection, up to `CLIENT_CONNECTIONS_MAX` at once, one request at a time per connection,
//! each handed to the module that does that job (`write`, `read`, `status`, `admin`). With TLS,
//! a connection starts with a mutual-TLS handshake that only members and the configured
//! operators pass.
//!
//! Must never: decide anything itself (no forwarding, no stamping, no reads of its own): it
//! only decodes a request, dispatches it and encodes the reply. A malformed frame closes that
//! connection only.

use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::frame;
use crate::listener::{next_frame, serve_bounded, Limits, Listener};
use outlast_tls::{Acceptor, Admit, Identity};

use crate::network::Dialer;
use crate::protocol::{ClientReply, ClientRequest};
use crate::types::{NodeId, NodeInfo};
use crate::write::{submit, Writer};

/// Client connections served at once; more wait in the listener's backlog. Bounds the tasks and
/// buffers a burst of clients can make a node hold.
pub const CLIENT_CONNECTIONS_MAX: usize = 4_096;

/// Client connections from one address: the forwards of the nodes behind it (kept ones
/// included) and its tools, but not the whole listener.
pub const CLIENT_CONNECTIONS_PER_SOURCE_MAX: usize = 512;

/// Serves the client protocol on `listener` until the listener fails, over mutual TLS if
/// `tls` (only current members and the configured operators get in: see `admitted`).
/// `me` is this node's id and its configured description.
pub async fn serve_clients<L: Listener, D: Dialer>(
    listener: L,
    tls: Option<Acceptor>,
    writer: Writer<D>,
    me: (NodeId, NodeInfo),
) -> io::Result<()> {
    let serve_one = |stream, _peer, slot| {
        let (tls, writer, me) = (tls.clone(), writer.clone(), me.clone());
        async move {
            // Held until the connection ends.
            let _slot = slot;
            match tls {
                None => serve_client_connection(stream, None, writer, me).await,
                Some(tls) => {
                    let (stream, sender) = tls.accept(stream).await?;
                    serve_client_connection(stream, Some(sender), writer, me).await
                }
            }
        }
    };
    let limits = Limits { connections_max: CLIENT_CONNECTIONS_MAX, per_source_max: CLIENT_CONNECTIONS_PER_SOURCE_MAX };
    serve_bounded(listener, limits, "client", tracing::Level::DEBUG, serve_one).await
}

/// Answers one client connection until it closes (any byte stream: TCP in a node, a simulated
/// one in a simulation); `sender` is who the TLS handshake proved is at the other end (none
/// without TLS), and `authority` says what it may ask for.
pub(crate) async fn serve_client_connection<S: AsyncRead + AsyncWrite + Unpin, D: Dialer>(
    mut stream: S,
    sender: Option<Identity>,
    writer: Writer<D>,
    me: (NodeId, NodeInfo),
) -> io::Result<()> {
    let (raft, reader, pool) = (&writer.raft, &writer.reader, &writer.pool);
    let mine = writer.operator_token.as_deref();
    let check = |operator_only: bool, token: &Option<String>| {
        crate::authority::check(sender.as_ref(), operator_only, token.as_deref(), mine)
    };
    while let Some(request) = next_frame::<_, ClientRequest>(&mut stream).await? {
        let reply = match request {
            ClientRequest::Status => ClientReply::Status(crate::status::status(raft, reader, &me)),
            ClientRequest::Admin { request, forwarded, operator_token } => match check(true, &operator_token) {
                Err(why) => forbidden(&sender, why),
                Ok(()) => {
                    let relayed = mine.map(String::from);
                    crate::admin::handle(raft, pool, request, forwarded, relayed).await
                }
            },
            ClientRequest::Submit { body, forwarded, operator_token, operator } => {
                match check(crate::authority::operator_only(&body), &operator_token) {
                    Err(why) => forbidden(&sender, why),
                    Ok(()) => {
                        let operator = who_gave(&sender, &body, operator);
                        submit(&writer, body, operator, forwarded).await
                    }
                }
            }
            ClientRequest::Read { query, follower_ok, forwarded } => {
                crate::read::read(&writer, me.0, query, follower_ok, forwarded).await
            }
        };
        frame::write(&mut stream, &reply).await?;
    }
    Ok(())
}

/// Who the audit trail names for `body`: an operator who dialled in is named by their
/// certificate, whatever the request says; a member relaying one (it passed `authority`)
/// names who its API authenticated; an account request names nobody.
fn who_gave(sender: &Option<Identity>, body: &outlast_engine::CommandBody, claimed: Option<String>) -> Option<String> {
    match sender {
        _ if !crate::authority::operator_only(body) => None,
        Some(Identity::Operator(name)) => Some(name.clone()),
        _ => claimed,
    }
}

/// A refusal by `authority`, logged (a member asking for what it may not is a finding).
fn forbidden(sender: &Option<Identity>, why: String) -> ClientReply {
    tracing::warn!(?sender, %why, "refused a command the sender may not give");
    ClientReply::Forbidden(why)
}

/// Who may dial this node's client port: the nodes the Raft port admits (members, forwarding
/// what their API authenticated) and the configured `operators` (their tools).
pub fn admitted(nodes: Admit, operators: Vec<String>) -> Admit {
    std::sync::Arc::new(move || {
        let mut who = nodes();
        who.extend(operators.iter().map(|name| Identity::Operator(name.clone())));
        who
    })
}
