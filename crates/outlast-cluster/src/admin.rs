//! Membership administration, carried out at the leader: add a learner, change the voter set,
//! remove learners, snapshot now (the request itself is `protocol::AdminRequest`).
//!
//! Membership changes go through openraft's joint consensus, so the cluster never has two
//! disjoint majorities. They run at the leader; a follower forwards them once, relaying the
//! operator token (who may call this is `authority`'s business, checked by the server first).
//!
//! Must never: accept a voter set that one provider's loss would stop unless explicitly
//! allowed (as at initialisation), or depend on the server that dispatches to it.

use openraft::async_runtime::WatchReceiver;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::types::Raft;

use crate::forward::to_leader;
use crate::network::Dialer;
use crate::pool::Pool;
use crate::protocol::AdminRequest;
use crate::protocol::{ClientReply, ClientRequest};
use crate::topology::fatal_provider_losses;
use crate::types::{NodeId, NodeInfo};

/// How long a forwarded admin request may take at the leader (adding a learner waits for it
/// to catch up).
const ADMIN_DEADLINE: Duration = Duration::from_secs(60);

/// Runs `request` here if this node leads, else forwards it once to the leader through `pool`
/// (on a new connection: a membership change must not be sent twice) with `operator_token`.
pub(crate) async fn handle<D: Dialer>(
    raft: &Raft,
    pool: &Pool<D>,
    request: AdminRequest,
    forwarded: bool,
    operator_token: Option<String>,
) -> ClientReply {
    let result = match request.clone() {
        AdminRequest::AddLearner { id, info } => {
            raft.add_learner(id, info, true).await.map(|_| "learner added".to_string())
        }
        AdminRequest::SetVoters { voters, allow_unsafe_topology } => {
            let membership = raft.metrics().borrow_watched().membership_config.membership().clone();
            let nodes: BTreeMap<NodeId, NodeInfo> = membership
                .nodes()
                .filter(|(id, _)| voters.contains(id))
                .map(|(id, info)| (*id, info.clone()))
                .collect();
            if nodes.len() != voters.len() {
                return ClientReply::Unavailable(
                    "every new voter must already be a member (add it as a learner first)".into(),
                );
            }
            let fatal = fatal_provider_losses(&nodes);
            if !fatal.is_empty() && !allow_unsafe_topology {
                return ClientReply::Unavailable(format!(
                    "refused: the new voters would not survive the loss of provider(s) {}",
                    fatal.join(", ")
                ));
            }
            raft.change_membership(voters, true).await.map(|_| "voters changed".to_string())
        }
        AdminRequest::RemoveLearners { ids } => raft
            .change_membership(openraft::ChangeMembers::RemoveNodes(ids), false)
            .await
            .map(|_| "learners removed".to_string()),
        AdminRequest::Snapshot => {
            return match raft.trigger().snapshot().await {
                Ok(()) => ClientReply::Done("snapshot requested".into()),
                Err(error) => ClientReply::Unavailable(error.to_string()),
            }
        }
    };
    match result {
        Ok(done) => ClientReply::Done(done),
        Err(error) => {
            let request = ClientRequest::Admin { request, forwarded: true, operator_token };
            to_leader(pool, error.forward_to_leader(), forwarded, request, ADMIN_DEADLINE, error.to_string(), false)
                .await
        }
    }
}
