//! One simulated node: the real storage, Raft, transport and write path of `outlast node`,
//! wired to turmoil's network and clock instead of the OS's.
//!
//! The pieces are the production ones (`LogStore`, `StateMachine`, `Network` with its frames,
//! `serve_connection`, `serve_client_connection`, the batcher, `campaign_when_due`); only the
//! dialer, the listeners, the stamping clock and the engine's hash seed differ.
//!
//! Must never: read the OS clock or entropy (the run would stop being a function of its seed).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openraft::{Config, Raft, SnapshotPolicy};
use outlast_cluster::elections::{campaign_when_due, ElectionTiming, LeaderContact};
use outlast_cluster::internal_server::serve_client_connection;
use outlast_cluster::write::{Clock, Writer};
use outlast_cluster::{serve_connection, Dialer, LogStore, Network, NodeId, NodeInfo, StateMachine, TypeConfig};
use outlast_engine::Limits;

use crate::check::Observed;
use crate::disk::{DiskFaults, SimDisk};

/// The Raft port on every simulated host.
pub const RAFT_PORT: u16 = 7100;
/// The client-protocol port on every simulated host.
pub const CLIENT_PORT: u16 = 7200;
/// Heartbeat and election timing of simulated nodes, ms. The election range is one
/// millisecond wide: openraft draws its timeout from OS entropy, so a wider range would make a
/// run depend on more than its seed. Outlast's own campaigner (`elections`) is deterministic.
pub const HEARTBEAT_MS: u64 = 50;
/// See `HEARTBEAT_MS`.
pub const ELECTION_TIMEOUT_MS: [u64; 2] = [150, 151];
/// The simulated wall clock starts here (2026-01-01), ms since the Unix epoch.
pub const EPOCH_MS: u64 = 1_767_225_600_000;
/// A fixed hash seed: in a node it is per process and secret, here it must be reproducible.
const HASH_SEED: u64 = 0x5EED;

/// Host name of node `id`.
pub fn host(id: NodeId) -> String {
    format!("n{id}")
}

/// How every node is described in the membership.
pub fn members() -> BTreeMap<NodeId, NodeInfo> {
    crate::plan::NODES
        .iter()
        .map(|&id| {
            let info = NodeInfo {
                addr: format!("{}:{RAFT_PORT}", host(id)),
                client_addr: format!("{}:{CLIENT_PORT}", host(id)),
                provider: ["aws", "gcp", "azure"][(id as usize - 1) % 3].into(),
                region: format!("region-{}", (id - 1) % 3),
                zone: format!("zone-{id}"),
                api_addr: String::new(),
            };
            (id, info)
        })
        .collect()
}

/// Dials peers over turmoil's simulated TCP.
#[derive(Clone, Copy, Debug, Default)]
pub struct SimDialer;

impl Dialer for SimDialer {
    type Stream = turmoil::net::TcpStream;

    async fn dial(&self, addr: &str) -> std::io::Result<turmoil::net::TcpStream> {
        turmoil::net::TcpStream::connect(addr).await
    }
}

/// A node's wall clock: the simulated time since the epoch plus a jump offset the
/// simulation sets (clock-jump faults).
pub fn clock(offset_ms: Arc<AtomicI64>) -> Clock {
    Arc::new(move || {
        let since_start = turmoil::sim_elapsed().unwrap_or_default().as_millis() as i64;
        (EPOCH_MS as i64 + since_start + offset_ms.load(Ordering::Relaxed)).max(0) as u64
    })
}

/// What the simulation loop sets in a node from outside.
#[derive(Debug)]
pub struct Controls {
    /// How far the node's wall clock is off, ms (clock-jump faults).
    pub clock_offset_ms: Arc<AtomicI64>,
    /// Its disk's health (disk-error faults).
    pub disk: Arc<DiskFaults>,
}

impl Controls {
    /// A node with a true clock and a healthy disk whose failures are drawn from `seed`.
    pub fn new(seed: u64, id: NodeId) -> Controls {
        Controls { clock_offset_ms: Arc::default(), disk: Arc::new(DiskFaults::new(seed, 100 + id)) }
    }
}

/// The software of node `id`: runs until the simulation crashes the host. If the node cannot
/// start, or Raft stops on a storage error, it does what `outlast node` does (exit for its
/// supervisor): it reports itself stopped and idles until the simulation loop, standing in
/// for the supervisor, crashes and restarts the host.
pub async fn run(
    id: NodeId,
    dir: PathBuf,
    init: bool,
    observed: Arc<Mutex<Observed>>,
    controls: Arc<Controls>,
) -> turmoil::Result {
    let reason = match start(id, dir, init, &observed, &controls).await {
        Ok(raft) => outlast_cluster::node::stopped(&raft).await,
        Err(error) => error,
    };
    crate::check::shared(&observed).stopped(id, &reason);
    std::future::pending::<()>().await;
    Ok(())
}

/// Starts node `id`'s storage, Raft and listeners; returns its Raft handle.
async fn start(
    id: NodeId,
    dir: PathBuf,
    init: bool,
    observed: &Arc<Mutex<Observed>>,
    controls: &Controls,
) -> Result<Raft<TypeConfig>, String> {
    let disk: Arc<dyn outlast_log::disk::Disk> = Arc::new(SimDisk::new(controls.disk.clone()));
    let log = LogStore::open_on(disk.clone(), &dir.join("log")).map_err(|e| format!("node {id} log: {e}"))?;
    let machine = StateMachine::open_on(disk, &dir.join("state"), Limits::default(), HASH_SEED)
        .map_err(|e| format!("node {id} state: {e}"))?;
    let reader = machine.reader();
    let config = Config {
        cluster_name: "outlast-sim".into(),
        heartbeat_interval: HEARTBEAT_MS,
        election_timeout_min: ELECTION_TIMEOUT_MS[0],
        election_timeout_max: ELECTION_TIMEOUT_MS[1],
        snapshot_policy: SnapshotPolicy::LogsSinceLast(200),
        max_in_snapshot_log_to_keep: 20,
        ..Config::default()
    };
    let config = Arc::new(config.validate().map_err(|e| format!("raft config: {e}"))?);
    let raft: Raft<TypeConfig> =
        Raft::new(id, config, Network::new(SimDialer), log, machine).await.map_err(|e| format!("raft: {e}"))?;
    crate::check::watch(id, &raft, &reader, observed);

    let contact = LeaderContact::default();
    let peers = turmoil::net::TcpListener::bind(("0.0.0.0", RAFT_PORT)).await.map_err(|e| e.to_string())?;
    let (served, heard) = (raft.clone(), contact.clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = peers.accept().await {
            let (raft, contact) = (served.clone(), heard.clone());
            tokio::spawn(async move {
                let _ = serve_connection(stream, raft, contact).await;
            });
        }
    });
    let clients = turmoil::net::TcpListener::bind(("0.0.0.0", CLIENT_PORT)).await.map_err(|e| e.to_string())?;
    let writer = Writer::new(raft.clone(), reader.clone(), clock(controls.clock_offset_ms.clone()), SimDialer);
    let me = (id, members()[&id].clone());
    tokio::spawn(async move {
        while let Ok((stream, _)) = clients.accept().await {
            let (writer, me) = (writer.clone(), me.clone());
            tokio::spawn(async move {
                let _ = serve_client_connection(stream, writer, me).await;
            });
        }
    });
    let timing = ElectionTiming {
        lease: Duration::from_millis(ELECTION_TIMEOUT_MS[1]),
        heartbeat: Duration::from_millis(HEARTBEAT_MS),
        preferred_region: None,
    };
    tokio::spawn(campaign_when_due(raft.clone(), id, contact, timing));
    if init {
        // Refused once initialised (after a restart): that is expected.
        let _ = raft.initialize(members()).await;
    }
    Ok(raft)
}
