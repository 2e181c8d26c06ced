//! A running node: storage, Raft, the peer listener and the client listener, from a config.
//!
//! Starting refuses a corrupt log (the error names the file, offset and index) rather than
//! serve from a state that might be missing acknowledged commands. Initialising a cluster
//! refuses a voter set that cannot survive the loss of one provider unless explicitly allowed.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use openraft::{Config, Raft, SnapshotPolicy};
use outlast_engine::Limits;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::NodeConfig;
use crate::elections::{campaign_when_due, ElectionTiming, LeaderContact};
use crate::internal_server::serve_clients;
use crate::state_machine::EngineReader;
use crate::status::report_config_mismatch;
use crate::topology::fatal_provider_losses;
use crate::types::TypeConfig;
use crate::write::{system_clock, Writer};
use crate::{serve, LogStore, Network, StateMachine, TcpDialer};

/// A started node. Dropping it leaves its tasks running; call `shutdown`.
pub struct RunningNode {
    /// The Raft handle.
    pub raft: Raft<TypeConfig>,
    /// Reads of the applied engine.
    pub reader: EngineReader,
    /// The node's write path (the API writes through it too).
    pub writer: Writer,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl RunningNode {
    /// Stops Raft and the listeners.
    pub async fn shutdown(self) {
        let _ = self.raft.shutdown().await;
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Waits until Raft stops for good and says why. openraft stops a node on a storage error (a
/// failed write, fsync or read): after a failed fsync the kernel may have dropped the dirty
/// pages, so the only safe way on is a new process that recovers from what the disk really
/// holds. A node's process therefore exits when this returns, for its supervisor to restart it.
pub async fn stopped(raft: &Raft<TypeConfig>) -> String {
    let mut metrics = raft.metrics();
    loop {
        if let Err(fatal) = &metrics.borrow_and_update().running_state {
            return fatal.to_string();
        }
        if metrics.changed().await.is_err() {
            return "raft stopped".into();
        }
    }
}

/// Opens storage, starts Raft and both listeners.
pub async fn start(config: &NodeConfig, limits: Limits) -> Result<RunningNode, String> {
    let log = LogStore::open(&config.data_dir.join("log")).map_err(|e| format!("log: {e}"))?;
    // A secret per process: it only shapes hash tables (see Engine::with_hash_seed).
    let seed = std::collections::hash_map::RandomState::new().build_hasher().finish();
    let machine =
        StateMachine::open(&config.data_dir.join("state"), limits, seed).map_err(|e| format!("state: {e}"))?;
    let reader = machine.reader();
    let raft_config = Config {
        cluster_name: "outlast".into(),
        heartbeat_interval: config.heartbeat_ms,
        election_timeout_min: config.election_timeout_ms[0],
        election_timeout_max: config.election_timeout_ms[1],
        snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every_entries),
        max_in_snapshot_log_to_keep: config.log_kept_behind_snapshot,
        ..Config::default()
    };
    let raft_config = Arc::new(raft_config.validate().map_err(|e| format!("raft config: {e}"))?);
    let raft = Raft::new(config.id, raft_config, Network::new(TcpDialer { source_ip: config.source_ip }), log, machine)
        .await
        .map_err(|e| format!("raft: {e}"))?;
    let listen = config.raft_listen_addr.as_ref().unwrap_or(&config.raft_addr);
    let peers = TcpListener::bind(listen).await.map_err(|e| format!("{listen}: {e}"))?;
    let client_listen = config.client_listen_addr.as_ref().unwrap_or(&config.client_addr);
    let clients = TcpListener::bind(client_listen).await.map_err(|e| format!("{client_listen}: {e}"))?;
    let dialer = TcpDialer { source_ip: config.source_ip };
    let writer = Writer::new(raft.clone(), reader.clone(), system_clock(), dialer);
    let contact = LeaderContact::default();
    let mut tasks = vec![tokio::spawn(serve(peers, raft.clone(), contact.clone()))];
    let me = (config.id, config.own_info());
    tasks.push(tokio::spawn(serve_clients(clients, writer.clone(), me.clone())));
    let watched = raft.clone();
    tasks.push(tokio::spawn(async move {
        report_config_mismatch(watched, me).await;
        Ok(())
    }));
    let timing = ElectionTiming {
        lease: Duration::from_millis(config.election_timeout_ms[1]),
        heartbeat: Duration::from_millis(config.heartbeat_ms),
        preferred_region: config.preferred_region.clone(),
    };
    let (watched, id) = (raft.clone(), config.id);
    tasks.push(tokio::spawn(async move {
        campaign_when_due(watched, id, contact, timing).await;
        Ok(())
    }));
    if let Some(region) = config.preferred_region.clone() {
        let (raft, id) = (raft.clone(), config.id);
        tasks.push(tokio::spawn(async move {
            crate::preferred::keep_leader_in(raft, id, region).await;
            Ok(())
        }));
    }
    Ok(RunningNode { raft, reader, writer, tasks })
}

/// Makes the configured peers the cluster's voters. Refuses a topology that one provider's
/// loss would stop, unless `allow_unsafe_topology`. Initialising an already initialised
/// cluster is not an error.
pub async fn initialize(node: &RunningNode, config: &NodeConfig, allow_unsafe_topology: bool) -> Result<(), String> {
    let members = config.members();
    let fatal = fatal_provider_losses(&members);
    if !fatal.is_empty() && !allow_unsafe_topology {
        return Err(format!(
            "the voters would not survive the loss of provider(s) {}: spread them so that no provider holds half \
             of them, or pass --allow-unsafe-topology",
            fatal.join(", ")
        ));
    }
    match node.raft.initialize(members).await {
        Ok(()) => Ok(()),
        Err(error)
            if error.api_error().is_some_and(|e| matches!(e, openraft::error::InitializeError::NotAllowed(_))) =>
        {
            Ok(())
        }
        Err(error) => Err(format!("initialize: {error}")),
    }
}
