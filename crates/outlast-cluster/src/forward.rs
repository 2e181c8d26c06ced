//! Forwarding a request from a node that cannot serve it to the leader, once.
//!
//! A follower that is asked to write, to read linearizably or to administer passes the request
//! on to the leader its Raft knows, through the node's own `Dialer` (in a node: TCP, over
//! mutual TLS with a `[tls]` section, from its source address, so a link proxy applies the same
//! faults to forwarding as to Raft traffic; in a simulation: the simulated network), on a kept
//! connection from the node's `pool` when the request may arrive twice (a read).
//!
//! Must never: forward a request that was itself forwarded (one hop at most, so stale views of
//! the leader cannot make a loop), or dial any other way than through the node's dialer.

use std::time::Duration;

use openraft::error::ForwardToLeader;

use outlast_tls::Identity;

use crate::network::Dialer;
use crate::pool::{Lease, Pool};
use crate::protocol::{ClientReply, ClientRequest};
use crate::types::TypeConfig;

/// How long a forwarded command or read may take at the leader.
pub const FORWARD_DEADLINE: Duration = Duration::from_secs(10);

/// After a local attempt failed with `error`: sends `request` (already marked forwarded) to the
/// leader that `forward` names, unless this request was itself forwarded. `repeatable`: the
/// request may reach the leader twice (a read), so it may ride a kept connection (see `pool`).
pub(crate) async fn to_leader<D: Dialer>(
    pool: &Pool<D>,
    forward: Option<&ForwardToLeader<TypeConfig>>,
    forwarded: bool,
    request: ClientRequest,
    deadline: Duration,
    error: String,
    repeatable: bool,
) -> ClientReply {
    match forward {
        Some(forward) if !forwarded => match &forward.leader_node {
            Some(leader) => {
                let addr = &leader.client_addr;
                let peer = forward.leader_id.map_or(Identity::AnyNode, Identity::Node);
                let mut reused_broke = false;
                loop {
                    let Lease { mut connection, reused } = match pool.checkout(addr, &peer, repeatable, deadline).await
                    {
                        Ok(lease) => lease,
                        // A connection that could not be made carried nothing (but an earlier
                        // attempt on a kept connection may have).
                        Err(e) if !reused_broke => return ClientReply::NotSent(format!("leader {addr}: {e}")),
                        Err(e) => return ClientReply::Unavailable(format!("leader {addr}: {e}")),
                    };
                    match connection.request(&request, deadline).await {
                        Ok(reply) => {
                            pool.checkin(addr, connection);
                            return reply;
                        }
                        // A kept connection broke; the request may be repeated: once more, anew.
                        Err(_) if reused => {
                            pool.forget(addr);
                            reused_broke = true;
                        }
                        Err(e) => return ClientReply::Unavailable(format!("leader {addr}: {e}")),
                    }
                }
            }
            None => ClientReply::NotSent("no leader yet".into()),
        },
        Some(_) => ClientReply::NotSent("not the leader (forwarded once already)".into()),
        None => ClientReply::Unavailable(error),
    }
}
