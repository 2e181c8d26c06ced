//! Forwarding a request from a node that cannot serve it to the leader, once.
//!
//! A follower that is asked to write, to read linearizably or to administer passes the request
//! on to the leader its Raft knows, through the node's own `Dialer` (in a node: TCP from its
//! source address, so a link proxy applies the same faults to forwarding as to Raft traffic;
//! in a simulation: the simulated network).
//!
//! Must never: forward a request that was itself forwarded (one hop at most, so stale views of
//! the leader cannot make a loop), or dial any other way than through the node's dialer.

use std::time::Duration;

use openraft::error::ForwardToLeader;

use crate::network::Dialer;
use crate::protocol::{ClientReply, ClientRequest, Connection};
use crate::types::{NodeId, NodeInfo};

/// How long a forwarded command or read may take at the leader.
pub const FORWARD_DEADLINE: Duration = Duration::from_secs(10);

/// After a local attempt failed with `error`: sends `request` (already marked forwarded) to the
/// leader that `forward` names, unless this request was itself forwarded.
pub(crate) async fn to_leader<D: Dialer>(
    dialer: &D,
    forward: Option<&ForwardToLeader<NodeId, NodeInfo>>,
    forwarded: bool,
    request: ClientRequest,
    deadline: Duration,
    error: String,
) -> ClientReply {
    match forward {
        Some(forward) if !forwarded => match &forward.leader_node {
            Some(leader) => {
                let addr = &leader.client_addr;
                // A connection that could not be made carried nothing.
                let stream = match tokio::time::timeout(deadline, dialer.dial(addr)).await {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(e)) => return ClientReply::NotSent(format!("leader {addr}: {e}")),
                    Err(_) => return ClientReply::NotSent(format!("leader {addr}: no connection within {deadline:?}")),
                };
                Connection::over(stream)
                    .request(&request, deadline)
                    .await
                    .unwrap_or_else(|e| ClientReply::Unavailable(format!("leader {addr}: {e}")))
            }
            None => ClientReply::NotSent("no leader yet".into()),
        },
        Some(_) => ClientReply::NotSent("not the leader (forwarded once already)".into()),
        None => ClientReply::Unavailable(error),
    }
}
