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
use crate::protocol::{AdminRequest, ClientReply, ClientRequest};
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
    loop {
        let request = match next_frame::<_, ClientRequest>(&mut stream).await {
            Ok(Some(request)) => request,
            Ok(None) => break,
            // Newer than this build reads: say so to the sender, then close (the rest of the
            // frame is unread).
            Err(error) if error.kind() == io::ErrorKind::Unsupported => {
                frame::write(&mut stream, &ClientReply::NotEnabled(error.to_string())).await?;
                return Err(error);
            }
            Err(error) => return Err(error),
        };
        let reply = match request {
            ClientRequest::Status => {
                let mut status = crate::status::status(raft, reader, &me);
                status.wall_ms = (writer.clock)();
                status.round_trips_ms = writer.clocks.round_trips_ms();
                ClientReply::Status(status)
            }
            ClientRequest::Admin { request, forwarded, operator_token } => match check(true, &operator_token) {
                Err(why) => forbidden(&sender, why),
                Ok(()) => {
                    // Into the audit trail before it runs, once: by the node the operator asked.
                    let noted = match forwarded {
                        true => None,
                        false => note_admin(&writer, &sender, &request).await,
                    };
                    match noted {
                        Some(refusal) => refusal,
                        None => {
                            let relayed = mine.map(String::from);
                            crate::admin::handle(raft, pool, request, forwarded, relayed).await
                        }
                    }
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

/// Commits an audit record of the administration `request` (see `CommandBody::AdminNote`);
/// why the request must not run if that failed (it could not be recorded).
async fn note_admin<D: Dialer>(
    writer: &Writer<D>,
    sender: &Option<Identity>,
    request: &AdminRequest,
) -> Option<ClientReply> {
    let body = outlast_engine::CommandBody::AdminNote { action: describe(request) };
    let operator = who_gave(sender, &body, None);
    match submit(writer, body, operator, false).await {
        ClientReply::Outcome { outcome: outlast_engine::Outcome::Applied(_), .. } => None,
        ClientReply::Outcome { outcome, .. } => {
            Some(ClientReply::NotSent(format!("not recorded in the audit trail ({outcome:?}): not done")))
        }
        ClientReply::Unavailable(why) | ClientReply::NotSent(why) => {
            Some(ClientReply::NotSent(format!("not recorded in the audit trail ({why}): not done")))
        }
        other => Some(other),
    }
}

/// An administration request as the audit trail shows it.
fn describe(request: &AdminRequest) -> String {
    let ids =
        |ids: &std::collections::BTreeSet<NodeId>| ids.iter().map(|id| id.to_string()).collect::<Vec<_>>().join(",");
    let text = match request {
        AdminRequest::AddLearner { id, info } => format!(
            "add learner {id} ({} {} {}) at {} (client {}, public {})",
            info.provider, info.region, info.zone, info.addr, info.client_addr, info.public_url
        ),
        AdminRequest::SetVoters { voters, allow_unsafe_topology } => {
            format!(
                "set voters {}{}",
                ids(voters),
                if *allow_unsafe_topology { " (unsafe topology allowed)" } else { "" }
            )
        }
        AdminRequest::RemoveLearners { ids: learners } => format!("remove learners {}", ids(learners)),
        AdminRequest::Snapshot => "snapshot".into(),
    };
    // The labels and addresses come from the operator's file: keep the note within its limit
    // and printable, whatever they hold.
    let printable: String = text.chars().map(|c| if c == ' ' || c.is_ascii_graphic() { c } else { '?' }).collect();
    printable.chars().take(outlast_engine::ADMIN_NOTE_LEN_MAX).collect()
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
