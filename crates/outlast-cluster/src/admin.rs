//! Membership administration: add a learner, change the voter set, snapshot now.
//!
//! Membership changes go through openraft's joint consensus, so the cluster never has two
//! disjoint majorities. They run at the leader; a follower forwards them once. A voter set that
//! one provider's loss would stop is refused, as at initialisation. (Who may call this comes
//! with the operator API's credential.)

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use openraft::Raft;
use serde::{Deserialize, Serialize};

use crate::client::{to_leader, ClientReply, ClientRequest};
use crate::topology::fatal_provider_losses;
use crate::types::{NodeId, NodeInfo, TypeConfig};

/// An administrative request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum AdminRequest {
    /// Start replicating to a node that does not vote; returns once it has caught up.
    AddLearner {
        /// Its id.
        id: NodeId,
        /// How to reach it and where it is.
        info: NodeInfo,
    },
    /// Make exactly these nodes the voters (they must be members already); the others stay as
    /// learners until removed. Refused if one provider's loss would stop the new voter set.
    SetVoters {
        /// The new voter set.
        voters: BTreeSet<NodeId>,
        /// Allow a voter set that one provider's loss would stop.
        allow_unsafe_topology: bool,
    },
    /// Remove non-voting members.
    RemoveLearners {
        /// The learners to drop.
        ids: BTreeSet<NodeId>,
    },
    /// Build a snapshot now (the log behind it is purged by policy).
    Snapshot,
}

/// How long a forwarded admin request may take at the leader (adding a learner waits for it
/// to catch up).
const ADMIN_DEADLINE: Duration = Duration::from_secs(60);

/// Runs `request` here if this node leads, else forwards it once to the leader.
pub(crate) async fn handle(raft: &Raft<TypeConfig>, request: AdminRequest, forwarded: bool) -> ClientReply {
    let result = match request.clone() {
        AdminRequest::AddLearner { id, info } => {
            raft.add_learner(id, info, true).await.map(|_| "learner added".to_string())
        }
        AdminRequest::SetVoters { voters, allow_unsafe_topology } => {
            let membership = raft.metrics().borrow().membership_config.membership().clone();
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
            let request = ClientRequest::Admin { request, forwarded: true };
            to_leader(error.forward_to_leader(), forwarded, request, ADMIN_DEADLINE, error.to_string()).await
        }
    }
}
