//! Finalising an upgrade: the cluster's active data format rises only once every voter runs a
//! build that reads the new format (see `format`).
//!
//! Must never: let a `FinalizeFormat` into the log while a voter that answers says its build
//! reads an older format, or while a voter does not answer at all (its build is unknown).

use openraft::async_runtime::WatchReceiver;
use std::time::Duration;

use outlast_tls::Identity;

use crate::network::Dialer;
use crate::protocol::{call_with, ClientReply, ClientRequest};
use crate::write::Writer;

/// How long each voter has to say which formats its build reads.
const STATUS_DEADLINE: Duration = Duration::from_secs(2);

/// Whether every voter's build reads `format`; if not, which do not, and why.
pub async fn voters_ready<D: Dialer>(writer: &Writer<D>, format: u32) -> Result<(), String> {
    let metrics = writer.raft.metrics().borrow_watched().clone();
    let membership = metrics.membership_config.membership().clone();
    let asks = membership.voter_ids().map(|id| {
        let addr = membership.get_node(&id).map(|info| info.client_addr.clone());
        async move {
            if id == metrics.id {
                return (id, Ok(crate::format::readable_max()));
            }
            let Some(addr) = addr else {
                return (id, Err("not in the membership's node list".to_string()));
            };
            match call_with(&writer.dialer, &addr, &Identity::Node(id), &ClientRequest::Status, STATUS_DEADLINE).await {
                Ok(ClientReply::Status(status)) => (id, Ok(status.format_max)),
                Ok(other) => (id, Err(format!("answered {other:?}"))),
                Err(error) => (id, Err(format!("did not answer: {error}"))),
            }
        }
    });
    let answers = futures_util::future::join_all(asks).await;
    let behind: Vec<String> = answers
        .into_iter()
        .filter_map(|(id, answer)| match answer {
            Ok(max) if max >= format => None,
            Ok(max) => Some(format!("node {id} runs a build that reads up to format {max}")),
            Err(why) => Some(format!("node {id} {why}")),
        })
        .collect();
    if behind.is_empty() {
        Ok(())
    } else {
        Err(format!("cannot finalise format {format}: {}", behind.join("; ")))
    }
}
