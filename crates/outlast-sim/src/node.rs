//! One simulated node: `outlast node`'s own assembly (`outlast_cluster::node::assemble`),
//! wired to turmoil's network, disk and clock instead of the OS's.
//!
//! Everything above the seams is the production code: storage, state machine, Raft, both
//! servers with their connection limits, the write path with forwarding to the leader, the
//! campaigner, preferred-region leadership and the configuration watch. Only the disk, the
//! dialer, the listeners, the stamping clock and the engine's hash seed differ, and the
//! configuration's timing and snapshot policy (every 200 entries, 20 kept behind). The dialer also traces every forward to the leader (a dial of a
//! client address), so a run shows when a follower forwarded and how that ended.
//!
//! Must never: read the OS clock or entropy (the run would stop being a function of its seed).

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use outlast_cluster::config::{NodeConfig, PeerConfig, Role};
use outlast_cluster::listener::Listener;
use outlast_cluster::node::{assemble, initialize, Seams};
use outlast_cluster::write::Clock;
use outlast_cluster::Raft;
use outlast_cluster::{Dialer, Identity, NodeId, NodeInfo};
use outlast_engine::Limits;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::check::{now_ms, Observed};
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
/// Applied entries between snapshots: small, so runs take and install snapshots.
const SNAPSHOT_EVERY_ENTRIES: u64 = 200;
/// Entries kept behind a snapshot: few, so a lagging follower often needs the snapshot.
const LOG_KEPT_BEHIND_SNAPSHOT: u64 = 20;

/// Host name of node `id`.
pub fn host(id: NodeId) -> String {
    format!("n{id}")
}

/// Node `id` as the membership knows it: providers and regions spread so that no provider
/// holds half of the voters.
fn peer(id: NodeId) -> PeerConfig {
    PeerConfig {
        id,
        raft_addr: format!("{}:{RAFT_PORT}", host(id)),
        client_addr: format!("{}:{CLIENT_PORT}", host(id)),
        provider: ["aws", "gcp", "azure"][(id as usize - 1) % 3].into(),
        region: format!("region-{}", (id - 1) % 3),
        zone: format!("zone-{id}"),
        public_url: String::new(),
        role: Role::Voter,
    }
}

/// Node `id`'s configuration, as `outlast node` would read it from its file.
pub fn config(id: NodeId, preferred_region: Option<String>) -> NodeConfig {
    let me = peer(id);
    NodeConfig {
        id,
        data_dir: PathBuf::from("/data"),
        raft_addr: me.raft_addr,
        client_addr: me.client_addr,
        provider: me.provider,
        region: me.region,
        zone: me.zone,
        bootstrap: false,
        heartbeat_ms: HEARTBEAT_MS,
        election_timeout_ms: ELECTION_TIMEOUT_MS,
        rtt_ms_max: None,
        clock_offset_ms_max: 500,
        snapshot_every_entries: SNAPSHOT_EVERY_ENTRIES,
        log_kept_behind_snapshot: LOG_KEPT_BEHIND_SNAPSHOT,
        // The other regions, in an order that is not the ids' (so the line differs from it).
        succession_regions: match preferred_region.as_deref().and_then(|r| r.strip_prefix("region-")) {
            Some(k) => {
                let k: u64 = k.parse().expect("a simulated region");
                [(k + 2) % 3, (k + 1) % 3].map(|r| format!("region-{r}")).to_vec()
            }
            None => Vec::new(),
        },
        preferred_region,
        raft_listen_addr: None,
        client_listen_addr: None,
        source_ip: None,
        api_addr: None,
        operator_addr: None,
        api_kek_file: None,
        operator_token_file: None,
        reports_dir: None,
        api_ip_weight_per_minute: None,
        api_key_weight_per_minute: None,
        api_ws_connects_per_5m: None,
        api_connections_per_source_max: None,
        // The simulated network has no TLS: it tests consensus and the engine, not handshakes.
        tls: None,
        api_tls: None,
        chains: Vec::new(),
        peers: crate::plan::NODES.iter().map(|&id| peer(id)).collect(),
    }
}

/// How every node is described in the membership.
pub fn members() -> BTreeMap<NodeId, NodeInfo> {
    config(crate::plan::NODES[0], None).members()
}

/// Listens on a simulated host's port.
pub struct SimListener(turmoil::net::TcpListener);

impl SimListener {
    /// Binds `port` on the current host.
    pub async fn bind(port: u16) -> io::Result<SimListener> {
        Ok(SimListener(turmoil::net::TcpListener::bind(("0.0.0.0", port)).await?))
    }
}

impl Listener for SimListener {
    type Stream = turmoil::net::TcpStream;

    async fn accept(&mut self) -> io::Result<(turmoil::net::TcpStream, SocketAddr)> {
        self.0.accept().await
    }
}

/// Dials over turmoil's simulated TCP on behalf of node `from`, tracing each forward to the
/// leader (a dial of a client address: nothing else in a node dials one).
#[derive(Clone)]
pub struct SimDialer {
    /// The dialling node.
    pub from: NodeId,
    /// Where forwards are traced.
    pub observed: Arc<Mutex<Observed>>,
}

impl Dialer for SimDialer {
    type Stream = SimStream;

    async fn dial(&self, addr: &str, _peer: &Identity) -> io::Result<SimStream> {
        let forward = addr.strip_suffix(&format!(":{CLIENT_PORT}")).map(|leader| Forward {
            from: self.from,
            leader: leader.to_string(),
            observed: self.observed.clone(),
            pending: false,
        });
        match turmoil::net::TcpStream::connect(addr).await {
            Ok(stream) => Ok(SimStream { stream, forward }),
            Err(error) => {
                if let Some(forward) = forward {
                    forward.note("forwards to leader");
                    forward.note_end("no connection");
                }
                Err(error)
            }
        }
    }
}

/// Forwards to the leader on one connection (a node keeps connections for forwards that may
/// arrive twice, see `outlast_cluster::pool`): each request is traced when its first byte is
/// written, and again when its answer starts to arrive or the connection is dropped before.
struct Forward {
    from: NodeId,
    leader: String,
    observed: Arc<Mutex<Observed>>,
    /// A request was written and no answer has arrived yet.
    pending: bool,
}

impl Forward {
    fn note(&self, what: &str) {
        crate::check::shared(&self.observed).note(format!("n{} {what} {}", self.from, self.leader));
    }

    fn note_end(&self, end: &str) {
        crate::check::shared(&self.observed).note(format!("n{}'s forward to {}: {end}", self.from, self.leader));
    }
}

/// A simulated TCP stream, traced if it carries forwards.
pub struct SimStream {
    stream: turmoil::net::TcpStream,
    forward: Option<Forward>,
}

impl Drop for SimStream {
    fn drop(&mut self) {
        // Outside a host (its crash tearing it down) there is no simulated time to trace at.
        let (Some(forward), Some(_)) = (&self.forward, turmoil::sim_elapsed()) else { return };
        if !forward.pending {
            return;
        }
        if let Ok(mut observed) = forward.observed.try_lock() {
            observed.note_at(now_ms(), format!("n{}'s forward to {}: no answer", forward.from, forward.leader));
        }
    }
}

impl AsyncRead for SimStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            if let Some(forward) = self.forward.as_mut().filter(|f| f.pending) {
                forward.pending = false;
                forward.note_end("answered");
            }
        }
        polled
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bytes: &[u8]) -> Poll<io::Result<usize>> {
        if let Some(forward) = self.forward.as_mut().filter(|f| !f.pending && !bytes.is_empty()) {
            forward.pending = true;
            forward.note("forwards to leader");
        }
        Pin::new(&mut self.stream).poll_write(cx, bytes)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
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

/// The software of node `id` (configured with `preferred_region`): runs until the simulation
/// crashes the host. If the node cannot start, or Raft stops on a storage error, it does what
/// `outlast node` does (exit for its supervisor): it reports itself stopped and idles until the
/// simulation loop, standing in for the supervisor, crashes and restarts the host.
pub async fn run(
    id: NodeId,
    init: bool,
    preferred_region: Option<String>,
    observed: Arc<Mutex<Observed>>,
    controls: Arc<Controls>,
) -> turmoil::Result {
    let reason = match start(id, init, preferred_region, &observed, &controls).await {
        Ok(raft) => outlast_cluster::node::stopped(&raft).await,
        Err(error) => error,
    };
    crate::check::shared(&observed).stopped(id, &reason);
    std::future::pending::<()>().await;
    Ok(())
}

/// Binds node `id`'s listeners and assembles it on the simulated seams; returns its Raft handle.
async fn start(
    id: NodeId,
    init: bool,
    preferred_region: Option<String>,
    observed: &Arc<Mutex<Observed>>,
    controls: &Controls,
) -> Result<Raft, String> {
    let config = config(id, preferred_region);
    let seams = Seams {
        disk: Arc::new(SimDisk::new(controls.disk.clone())),
        dialer: SimDialer { from: id, observed: observed.clone() },
        raft_listener: SimListener::bind(RAFT_PORT).await.map_err(|e| e.to_string())?,
        client_listener: SimListener::bind(CLIENT_PORT).await.map_err(|e| e.to_string())?,
        clock: clock(controls.clock_offset_ms.clone()),
        hash_seed: HASH_SEED,
        operator_token: None,
    };
    let node = assemble(&config, Limits::default(), seams).await.map_err(|e| format!("node {id} {e}"))?;
    crate::check::watch(id, &node.raft, &node.reader, observed);
    if init {
        // Refused once initialised (after a restart): that is expected.
        let _ = initialize(&node, &config, false).await;
    }
    Ok(node.raft.clone())
}
