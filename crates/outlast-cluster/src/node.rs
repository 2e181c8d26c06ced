//! A running node, assembled once: storage, the state machine, Raft, the peer and client
//! servers, the write path, the campaigner, preferred-region leadership and the configuration
//! watch. `outlast node` ([`start`]) and the simulation build a node with the same
//! [`assemble`]; they differ only in the [`Seams`] (disk, dialer, listeners, stamping clock,
//! hash seed) and in their configuration's plain settings (timing, snapshot policy, preferred
//! region).
//!
//! Starting refuses a corrupt log (the error names the file, offset and index) rather than
//! serve from a state that might be missing acknowledged commands. Initialising a cluster
//! refuses a voter set that cannot survive the loss of one provider unless explicitly allowed.
//!
//! Must never: reach the OS (clock, entropy, disk, network) in `assemble` except through the
//! seams, or await between starting Raft and returning (a simulation subscribes to the new
//! node's events right after, and must miss none).

use openraft::async_runtime::WatchReceiver;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use crate::types::Raft;
use openraft::{Config, SnapshotPolicy};
use outlast_engine::Limits;
use outlast_log::disk::Disk;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::config::NodeConfig;
use crate::elections::{campaign_when_due, ElectionTiming, LeaderContact};
use crate::internal_server::serve_clients;
use crate::listener::Listener;
use crate::network::Kept;
use crate::state_machine::EngineReader;
use crate::status::report_config_mismatch;
use crate::topology::fatal_provider_losses;
use crate::types::NodeId;
use crate::write::{system_clock, Clock, Writer};
use crate::{serve, Dialer, LogStore, Network, StateMachine, TcpDialer};
use outlast_tls::{Acceptor, Connector};

/// A started node. Dropping it leaves its tasks running; call `shutdown`.
pub struct RunningNode<D: Dialer = TcpDialer> {
    /// The Raft handle.
    pub raft: Raft,
    /// Reads of the applied engine.
    pub reader: EngineReader,
    /// The node's write path (the API writes through it too).
    pub writer: Writer<D>,
    tasks: Vec<JoinHandle<std::io::Result<()>>>,
}

impl<D: Dialer> RunningNode<D> {
    /// Stops Raft and the listeners.
    pub async fn shutdown(self) {
        let _ = self.raft.shutdown().await;
        for task in self.tasks {
            task.abort();
        }
    }
}

/// Where a node meets the outside world: the OS's in `outlast node`, simulated ones in a
/// simulation.
pub struct Seams<D: Dialer, L: Listener> {
    /// Where the log and snapshots are stored.
    pub disk: Arc<dyn Disk>,
    /// How the node reaches peers' Raft addresses and the leader's client address.
    pub dialer: D,
    /// Where peers' Raft RPCs arrive.
    pub raft_listener: L,
    /// Where client-protocol connections arrive.
    pub client_listener: L,
    /// The clock the leader stamps commands with.
    pub clock: Clock,
    /// Seeds the engine's maps keyed by client-chosen ids (see `Engine::with_hash_seed`): secret
    /// per process in a node, fixed in a simulation.
    pub hash_seed: u64,
    /// The operator token, which the node relays with commands only an operator may give (see
    /// `authority`): from `operator_token_file` in a node; none in a simulation, which has no
    /// TLS and so no identities to check.
    pub operator_token: Option<Arc<str>>,
}

/// Waits until Raft stops for good and says why. openraft stops a node on a storage error (a
/// failed write, fsync or read): after a failed fsync the kernel may have dropped the dirty
/// pages, so the only safe way on is a new process that recovers from what the disk really
/// holds. A node's process therefore exits when this returns, for its supervisor to restart it.
pub async fn stopped(raft: &Raft) -> String {
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

/// `outlast node`'s node: the OS's disk, TCP listeners on the configured addresses, TCP dialled
/// from `source_ip`, the OS clock and a random hash seed.
pub async fn start(config: &NodeConfig, limits: Limits) -> Result<RunningNode, String> {
    let listen = config.raft_listen_addr.as_ref().unwrap_or(&config.raft_addr);
    let raft_listener = TcpListener::bind(listen).await.map_err(|e| format!("{listen}: {e}"))?;
    let client_listen = config.client_listen_addr.as_ref().unwrap_or(&config.client_addr);
    let client_listener = TcpListener::bind(client_listen).await.map_err(|e| format!("{client_listen}: {e}"))?;
    let tls = match &config.tls {
        Some(tls) => Some(Connector::new(&tls.cluster, &tls.files()).map_err(|e| format!("tls: {e}"))?),
        None => None,
    };
    let seams = Seams {
        disk: outlast_log::disk::os(),
        dialer: TcpDialer { source_ip: config.source_ip, tls },
        raft_listener,
        client_listener,
        clock: system_clock(),
        // A secret per process: it only shapes hash tables (see Engine::with_hash_seed).
        hash_seed: std::collections::hash_map::RandomState::new().build_hasher().finish(),
        operator_token: match &config.operator_token_file {
            Some(path) => {
                let token = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let token = token.trim();
                // The API's own rule for the token (`OperatorToken::new`): an empty or short
                // file must not make an empty relay token count as the operator's.
                if token.len() < 32 || !token.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(format!(
                        "{}: the operator token must be at least 32 printable ASCII characters",
                        path.display()
                    ));
                }
                Some(Arc::from(token))
            }
            None => None,
        },
    };
    assemble(config, limits, seams).await
}

/// The longest one snapshot chunk may take to be sent and answered (see `assemble`): 4 MiB at
/// 3.4 Mbit/s, or slow start and a large install across an ocean.
pub const SNAPSHOT_CHUNK_TIMEOUT_MS: u64 = 10_000;

/// Opens storage on `seams.disk`, starts Raft and every task of a node: the peer server, the
/// client server (through one `Writer`), the configuration watch, the campaigner and, with a
/// preferred region, the leadership watch.
pub async fn assemble<D: Dialer, L: Listener>(
    config: &NodeConfig,
    limits: Limits,
    seams: Seams<D, L>,
) -> Result<RunningNode<D>, String> {
    let Seams { disk, dialer, raft_listener, client_listener, clock, hash_seed, operator_token } = seams;
    let log = LogStore::open_on(disk.clone(), &config.data_dir.join("log")).map_err(|e| format!("log: {e}"))?;
    let machine = StateMachine::open_on(disk, &config.data_dir.join("state"), limits, hash_seed)
        .map_err(|e| format!("state: {e}"))?;
    let reader = machine.reader().with_log(log.clone());
    let raft_config = Config {
        cluster_name: "outlast".into(),
        heartbeat_interval: config.heartbeat_ms,
        election_timeout_min: config.election_timeout_ms[0],
        election_timeout_max: config.election_timeout_ms[1],
        snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every_entries),
        max_in_snapshot_log_to_keep: config.log_kept_behind_snapshot,
        // Entries go to the followers as soon as they are in the leader's log, not at the next
        // tick: across an ocean every commit would otherwise wait for it (a heartbeat's worth).
        broadcast_submitted_on_append: Some(true),
        // A restarted leader does not take leadership back without an election: its committed
        // index is only a hint on disk (written every 100 ms, unsynced), so a restored leader
        // could confirm a read index below a write it had acknowledged.
        enable_leader_restore: Some(false),
        // Each snapshot chunk's deadline (openraft's default is 200 ms). A 4 MiB chunk on a new
        // connection across an ocean needs about nine round trips of TCP slow start, and the
        // last chunk's answer waits for the follower to install the whole state: 200 ms would
        // fail every transfer, and each failure starts it again from the first chunk.
        install_snapshot_timeout: SNAPSHOT_CHUNK_TIMEOUT_MS,
        ..Config::default()
    };
    let raft_config = Arc::new(raft_config.validate().map_err(|e| format!("raft config: {e}"))?);
    let kept = Kept::default();
    let network = Network::with_kept(dialer.clone(), kept.clone());
    let raft =
        Raft::new(config.id, raft_config, network, log.clone(), machine).await.map_err(|e| format!("raft: {e}"))?;
    // From here on nothing awaits (see the module's rule).
    let clocks = crate::clocks::ClockWatch::new(config.clock_offset_ms_max);
    let mut writer = Writer::new(raft.clone(), reader.clone(), clock.clone(), dialer.clone());
    writer.operator_token = operator_token;
    writer.clocks = clocks.clone();
    let (acceptor, client_acceptor) = match &config.tls {
        Some(tls) => {
            let configured: Vec<NodeId> = config.peers.iter().map(|p| p.id).collect();
            let nodes = crate::server::admitted(raft.clone(), configured);
            let clients = crate::internal_server::admitted(nodes.clone(), tls.operators.clone());
            let acceptor = |admit| Acceptor::new(&tls.cluster, &tls.files(), admit).map_err(|e| format!("tls: {e}"));
            (Some(acceptor(nodes)?), Some(acceptor(clients)?))
        }
        None => (None, None),
    };
    let contact = LeaderContact::default();
    let me = (config.id, config.own_info());
    let mut tasks = vec![
        tokio::spawn(serve(raft_listener, acceptor, raft.clone(), log.clone(), contact.clone())),
        tokio::spawn(serve_clients(client_listener, client_acceptor, writer.clone(), me.clone())),
        forever(report_config_mismatch(raft.clone(), me)),
        forever(crate::clocks::watch_clocks(
            raft.clone(),
            config.id,
            dialer.clone(),
            clock,
            clocks.clone(),
            config.rtt_ms_max,
        )),
    ];
    let region_order = config.preferred_region.iter().chain(&config.succession_regions).cloned().collect();
    let timing = ElectionTiming::new(config.heartbeat_ms, config.election_timeout_ms, region_order);
    let campaigner =
        campaign_when_due(raft.clone(), config.id, log, contact, timing, (dialer.clone(), kept), clocks.clone());
    tasks.push(forever(campaigner));
    if let Some(region) = config.preferred_region.clone() {
        tasks.push(forever(crate::preferred::keep_leader_in(raft.clone(), config.id, region, clocks)));
    }
    Ok(RunningNode { raft, reader, writer, tasks })
}

/// Spawns a task that runs until the node shuts down.
fn forever(task: impl std::future::Future<Output = ()> + Send + 'static) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        task.await;
        Ok(())
    })
}

/// Makes the configured peers the cluster's voters. Refuses a topology that one provider's
/// loss would stop, unless `allow_unsafe_topology`. Initialising an already initialised
/// cluster is not an error.
pub async fn initialize<D: Dialer>(
    node: &RunningNode<D>,
    config: &NodeConfig,
    allow_unsafe_topology: bool,
) -> Result<(), String> {
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
