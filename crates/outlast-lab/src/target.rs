//! The cluster a chaos run acts on: one it started itself, or one that `outlast up` is running
//! (reached through the supervisor's control socket). Faults are the same either way: real
//! processes killed, paused or restarted, real link rules changed.

use std::time::Duration;

use outlast_links::LinkRule;

use crate::access::Access;
use crate::control::{ControlClient, ControlRequest};
use crate::state_dir::StateDir;
use crate::topology::Topology;
use crate::up::Cluster;

/// Where the faults go.
pub enum Target {
    /// A cluster this run started and will stop.
    Owned(Cluster),
    /// A running `up`.
    Attached {
        /// Its supervisor.
        control: ControlClient,
        /// Its state directory.
        dir: StateDir,
        /// Its topology.
        topology: Topology,
        /// How to reach its APIs.
        access: Access,
    },
}

impl Target {
    /// Attaches to the `up` whose state directory is `dir`.
    pub fn attach(dir: StateDir) -> Result<Target, String> {
        let topology = Topology::load(&dir.topology())?;
        if !dir.control_socket().exists() {
            return Err(format!("{} has no control socket: is `outlast up` running there?", dir.root.display()));
        }
        let access = Access::of(&dir, &topology)?;
        Ok(Target::Attached { control: ControlClient::new(dir.control_socket()), dir, topology, access })
    }

    /// The state directory.
    pub fn dir(&self) -> &StateDir {
        match self {
            Target::Owned(cluster) => &cluster.dir,
            Target::Attached { dir, .. } => dir,
        }
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        match self {
            Target::Owned(cluster) => &cluster.topology,
            Target::Attached { topology, .. } => topology,
        }
    }

    /// Node ids in topology order.
    pub fn ids(&self) -> Vec<u64> {
        self.topology().nodes.iter().map(|n| n.id).collect()
    }

    /// How to reach the nodes' APIs.
    pub fn access(&self) -> &Access {
        match self {
            Target::Owned(cluster) => &cluster.access,
            Target::Attached { access, .. } => access,
        }
    }

    /// The lab chain the nodes follow: an owned cluster's, if it started one (an attached `up`'s
    /// chain lives in that process).
    pub fn chain(&self) -> Option<std::sync::Arc<crate::chain::LabChain>> {
        match self {
            Target::Owned(cluster) => cluster.chain.clone(),
            Target::Attached { .. } => None,
        }
    }

    /// Every node's API base URL.
    pub fn endpoints(&self) -> Vec<String> {
        self.access().endpoints()
    }

    /// Waits (bounded) for a leader; its id.
    pub async fn wait_for_leader(&self, deadline: Duration) -> Result<u64, String> {
        match self {
            Target::Owned(cluster) => cluster.wait_for_leader(deadline).await,
            Target::Attached { access, .. } => crate::up::wait_for_leader(access, &self.ids(), deadline).await,
        }
    }

    /// The leader, with the default wait.
    pub async fn leader(&self) -> Result<u64, String> {
        self.wait_for_leader(crate::up::LEADER_DEADLINE).await
    }

    async fn remote(&self, request: ControlRequest) -> Result<(), String> {
        match self {
            Target::Attached { control, .. } => control.call(&request).await,
            Target::Owned(_) => unreachable!("owned clusters are changed directly"),
        }
    }

    /// SIGKILLs node `id`.
    pub async fn kill(&mut self, id: u64) -> Result<(), String> {
        match self {
            Target::Owned(cluster) => {
                cluster.kill(id);
                Ok(())
            }
            Target::Attached { .. } => self.remote(ControlRequest::Kill { node: id }).await,
        }
    }

    /// Starts node `id` and waits for it to be ready.
    pub async fn start(&mut self, id: u64) -> Result<(), String> {
        match self {
            Target::Owned(cluster) => cluster.restart(id).await,
            Target::Attached { .. } => self.remote(ControlRequest::Start { node: id }).await,
        }
    }

    /// SIGTERMs node `id` and waits (bounded) for it to exit.
    pub async fn terminate(&mut self, id: u64) -> Result<(), String> {
        match self {
            Target::Owned(cluster) => {
                cluster.terminate(id);
                Ok(())
            }
            Target::Attached { .. } => self.remote(ControlRequest::Terminate { node: id }).await,
        }
    }

    /// Pauses (`STOP`) or resumes (`CONT`) node `id`.
    pub async fn signal(&mut self, id: u64, signal: &str) -> Result<(), String> {
        match self {
            Target::Owned(cluster) => {
                cluster.signal(id, signal);
                Ok(())
            }
            Target::Attached { .. } => self.remote(ControlRequest::Signal { node: id, signal: signal.into() }).await,
        }
    }

    /// Sets the rule of the directed link `from` → `to`.
    pub async fn set_link(&mut self, from: u64, to: u64, rule: LinkRule) -> Result<(), String> {
        match self {
            Target::Owned(cluster) => cluster.set_link(from, to, rule),
            Target::Attached { .. } => self.remote(ControlRequest::SetLink { from, to, rule }).await,
        }
    }

    /// Every link back to the topology's latencies.
    pub async fn reset_links(&mut self) -> Result<(), String> {
        match self {
            Target::Owned(cluster) => cluster.reset_links(),
            Target::Attached { .. } => self.remote(ControlRequest::ResetLinks).await,
        }
    }

    /// Stops an owned cluster; leaves an attached one running with clean links.
    pub async fn release(self) {
        match self {
            Target::Owned(cluster) => cluster.shutdown().await,
            mut attached @ Target::Attached { .. } => {
                let _ = attached.reset_links().await;
            }
        }
    }
}
