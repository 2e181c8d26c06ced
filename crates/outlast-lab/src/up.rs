//! `outlast up`: a local multi-cloud cluster in one state directory.
//!
//! Layout on loopback, for node N: it listens for peers on 127.0.1.N:7100 and dials them from
//! 127.0.1.N; its peers reach it through its link proxy on 127.0.2.N:7100, which applies the
//! topology's latency for each calling node; its client protocol is on 127.0.1.N:7200, its
//! public API on 127.0.0.1:800N (HTTPS under the lab's CA, origin `https://<public_host>:800N`)
//! and its operator plane on 127.0.1.N:7300 (mutual TLS, the lab operator's certificate; see
//! `access`). The directory holds the topology, the secrets (created once,
//! mode 0600), one configuration and one data directory per node, and each node's log, so a
//! second `up` on it resumes the same cluster. Every wait is bounded.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outlast_cluster::config::{ApiTlsConfig, NodeConfig, PeerConfig, Role, TlsConfig};
use outlast_links::{LinkRule, LinkTable, ProxyStats};
use outlast_tls::Identity;

use crate::access::Access;
use crate::namespaces::Namespaces;
use crate::processes::{ProcessCluster, STOP_DEADLINE};
use crate::state_dir::StateDir;
use crate::topology::{Network, Topology};

/// How long the cluster may take to elect a leader.
pub const LEADER_DEADLINE: Duration = Duration::from_secs(30);
/// How long a restarted node may take to catch up with the cluster and say it is ready.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);

/// Node N's addresses.
#[derive(Clone, Debug)]
pub struct NodeAddrs {
    /// Where it listens for peers.
    pub raft_listen: SocketAddr,
    /// Where peers dial it: its link proxy, or its host name in the namespace rehearsal.
    pub raft_advertised: String,
    /// Where it listens for the client protocol (commands forwarded by other nodes).
    pub client_listen: SocketAddr,
    /// Where other nodes dial its client protocol.
    pub client: String,
    /// The public API.
    pub api: SocketAddr,
    /// The operator plane.
    pub operator: SocketAddr,
    /// The address it dials peers from (loopback only: a namespace has one address).
    pub source: Option<IpAddr>,
    /// Its host name (the namespace rehearsal).
    pub host: Option<String>,
}

impl NodeAddrs {
    /// The loopback addresses of node `id` (1 to 250).
    pub fn of(id: u64) -> NodeAddrs {
        assert!((1..=250).contains(&id));
        let octet = id as u8;
        let own = IpAddr::V4(Ipv4Addr::new(127, 0, 1, octet));
        let proxy = IpAddr::V4(Ipv4Addr::new(127, 0, 2, octet));
        NodeAddrs {
            raft_listen: SocketAddr::new(own, 7100),
            raft_advertised: SocketAddr::new(proxy, 7100).to_string(),
            client_listen: SocketAddr::new(own, 7200),
            client: SocketAddr::new(proxy, 7200).to_string(),
            api: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8000 + id as u16),
            operator: SocketAddr::new(own, 7300),
            source: Some(own),
            host: None,
        }
    }

    /// Node `id`'s addresses in `topology`'s network: loopback, or its own namespace's address
    /// with peers dialling its host name (see `crate::namespaces`).
    pub fn in_topology(topology: &Topology, id: u64) -> NodeAddrs {
        match topology.network {
            Network::Loopback => NodeAddrs::of(id),
            Network::Namespaces => {
                let own = crate::namespaces::node_ip(id);
                let host = crate::namespaces::host_name(id);
                NodeAddrs {
                    raft_listen: SocketAddr::new(own, 7100),
                    raft_advertised: format!("{host}:7100"),
                    client_listen: SocketAddr::new(own, 7200),
                    client: format!("{host}:7200"),
                    api: SocketAddr::new(own, crate::namespaces::API_PORT),
                    operator: SocketAddr::new(own, 7300),
                    source: None,
                    host: Some(host),
                }
            }
        }
    }

    /// The API as a base URL, by address (`https` if the lab runs TLS).
    pub fn api_url(&self, tls: bool) -> String {
        format!("{}://{}", if tls { "https" } else { "http" }, self.api)
    }

    /// The operator plane as a base URL.
    pub fn operator_url(&self) -> String {
        format!("https://{}", self.operator)
    }
}

pub(crate) fn write_secret(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.write_all(text.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}

/// The operator identity `up` issues a certificate for, for its own tools.
pub const LAB_OPERATOR: &str = "lab";

/// Creates the directory on first use (topology, secrets, certificates) or loads what it holds.
pub fn prepare(root: &Path, topology: Option<&Path>) -> Result<(StateDir, Topology), String> {
    let dir = StateDir { root: root.to_path_buf() };
    std::fs::create_dir_all(root.join("secrets")).map_err(|e| format!("{}: {e}", root.display()))?;
    let topology = if dir.topology().exists() {
        let kept = Topology::load(&dir.topology())?;
        if let Some(asked) = topology {
            if Topology::load(asked)? != kept {
                return Err(format!(
                    "{} already holds a cluster with another topology; use another --dir",
                    root.display()
                ));
            }
        }
        kept
    } else {
        let text = match topology {
            Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
            None => crate::topology::DEFAULT.to_string(),
        };
        let topology = Topology::parse(&text)?;
        std::fs::write(dir.topology(), text).map_err(|e| format!("{}: {e}", dir.topology().display()))?;
        topology
    };
    if !dir.api_kek().exists() {
        write_secret(&dir.api_kek(), &outlast_api::auth::new_master_hex().map_err(|e| e.to_string())?)?;
    }
    if !dir.operator_token().exists() {
        write_secret(&dir.operator_token(), &outlast_api::auth::new_master_hex().map_err(|e| e.to_string())?)?;
    }
    crate::chain::prepare_keys(&dir)?;
    if !dir.cluster_id_file().exists() {
        // A CA of its own and a random cluster id: certificates of one lab prove nothing in another.
        let random = outlast_api::auth::new_master_hex().map_err(|e| e.to_string())?;
        let cluster = format!("lab-{}", &random[..8]);
        let mut identities: Vec<Identity> = topology.nodes.iter().map(|n| Identity::Node(n.id)).collect();
        identities.push(Identity::Operator(LAB_OPERATOR.into()));
        outlast_tls::write_cluster_pki(&dir.pki().dir, &cluster, &identities)?;
        write_secret(&dir.cluster_id_file(), &cluster)?;
    }
    if topology.tls {
        issue_api_certificates(&dir, &topology)?;
    }
    Ok((dir, topology))
}

/// Node `id`'s public origin: `https://<public_host>:800N`, `https://node<N>.outlast.test` in
/// the namespace rehearsal, or `http://127.0.0.1:800N` with TLS off.
pub fn public_url(topology: &Topology, id: u64) -> String {
    let addrs = NodeAddrs::in_topology(topology, id);
    match (topology.tls, &addrs.host) {
        (true, Some(host)) => format!("https://{host}"),
        (true, None) => format!("https://{}:{}", topology.public_host, addrs.api.port()),
        (false, _) => addrs.api_url(false),
    }
}

/// Each node's certificate for users' HTTPS, from the lab's CA, for its origin's host name and
/// the address the tools dial (the topology's public host, `localhost` and 127.0.0.1 on
/// loopback); issued once, when missing.
fn issue_api_certificates(dir: &StateDir, topology: &Topology) -> Result<(), String> {
    let pki = dir.pki();
    let key = std::fs::read_to_string(pki.ca_key()).map_err(|e| format!("{}: {e}", pki.ca_key().display()))?;
    let ca = outlast_tls::Authority::from_key_pem(&dir.read_cluster_id()?, &key)?;
    for node in &topology.nodes {
        let (cert, key) = (dir.api_tls_cert(node.id), dir.api_tls_key(node.id));
        if cert.exists() && key.exists() {
            continue;
        }
        let addrs = NodeAddrs::in_topology(topology, node.id);
        let mut names = match &addrs.host {
            Some(host) => vec![host.clone(), addrs.api.ip().to_string()],
            None => vec![topology.public_host.clone(), "localhost".into(), "127.0.0.1".into()],
        };
        names.dedup();
        let issued = ca.issue_server(&names)?;
        write_secret_replacing(&key, &issued.key_pem)?;
        std::fs::write(&cert, &issued.cert_pem).map_err(|e| format!("{}: {e}", cert.display()))?;
    }
    Ok(())
}

fn write_secret_replacing(path: &Path, text: &str) -> Result<(), String> {
    let _ = std::fs::remove_file(path);
    write_secret(path, text)
}

/// Node `id`'s configuration: its addresses from `NodeAddrs`, Raft timing from the topology's
/// longest round trip, the directory's secrets and reports.
pub fn node_config(dir: &StateDir, topology: &Topology, id: u64) -> NodeConfig {
    let peers = topology
        .nodes
        .iter()
        .map(|node| {
            let addrs = NodeAddrs::in_topology(topology, node.id);
            PeerConfig {
                id: node.id,
                raft_addr: addrs.raft_advertised.clone(),
                client_addr: addrs.client.clone(),
                public_url: public_url(topology, node.id),
                provider: node.provider.clone(),
                region: node.region.clone(),
                zone: node.zone.clone(),
                role: Role::Voter,
            }
        })
        .collect();
    let mut config = NodeConfig::of_peer(id, dir.data(id), peers).expect("a node of the topology");
    let addrs = NodeAddrs::in_topology(topology, id);
    let (heartbeat_ms, election_timeout_ms) = topology.raft_timing_ms();
    config.heartbeat_ms = heartbeat_ms;
    config.election_timeout_ms = election_timeout_ms;
    config.rtt_ms_max = Some(u64::from(topology.max_rtt_ms()));
    config.api_addr = Some(addrs.api.to_string());
    config.raft_listen_addr = Some(addrs.raft_listen.to_string());
    config.client_listen_addr = Some(addrs.client_listen.to_string());
    config.source_ip = addrs.source;
    config.api_kek_file = Some(dir.api_kek());
    config.operator_token_file = Some(dir.operator_token());
    config.reports_dir = Some(dir.reports());
    config.preferred_region = topology.preferred_region.clone();
    let pki = dir.pki();
    let cluster = dir.read_cluster_id().expect("prepare wrote the cluster id");
    let me = Identity::Node(id);
    config.tls = topology.tls.then(|| TlsConfig {
        cluster,
        ca_file: pki.ca_cert(),
        cert_file: pki.cert(&me),
        key_file: pki.key(&me),
        operators: vec![LAB_OPERATOR.into()],
    });
    if topology.tls {
        config.api_tls = Some(ApiTlsConfig { cert_file: dir.api_tls_cert(id), key_file: dir.api_tls_key(id) });
        config.operator_addr = Some(addrs.operator.to_string());
    }
    config.succession_regions = topology.succession_regions();
    config
}

/// The link table for a topology: every directed link with its region latency.
pub fn links(topology: &Topology) -> Arc<LinkTable> {
    let table = Arc::new(LinkTable::new());
    for from in &topology.nodes {
        table.set_source(NodeAddrs::of(from.id).source.expect("loopback nodes dial from their own address"), from.id);
        for to in &topology.nodes {
            if from.id != to.id {
                let rule = LinkRule {
                    latency_ms: topology.latency_ms(from.id, to.id),
                    jitter_ms: topology.jitter_ms,
                    ..LinkRule::default()
                };
                table.set(from.id, to.id, rule);
            }
        }
    }
    table
}

/// A running cluster: node processes (through the launcher) and link proxies.
pub struct Cluster {
    /// The state directory.
    pub dir: StateDir,
    /// The topology.
    pub topology: Topology,
    /// Directed link rules (change them to inject faults).
    pub links: Arc<LinkTable>,
    /// Proxy counters per node.
    pub proxy_stats: BTreeMap<u64, Arc<ProxyStats>>,
    /// How the tools reach the nodes' APIs.
    pub access: Access,
    /// The lab's chain, if it has one (`start_with_chain`).
    pub chain: Option<std::sync::Arc<crate::chain::LabChain>>,
    /// The namespace rehearsal's namespaces (its cuts are nftables rules), if it is one.
    namespaces: Option<Namespaces>,
    processes: ProcessCluster,
    proxies: Vec<tokio::task::JoinHandle<()>>,
    /// Aborted proxy tasks, awaited by `shutdown` (their listeners close when they are dropped).
    proxy_tasks_stopped: Vec<tokio::task::JoinHandle<()>>,
}

impl Cluster {
    /// Writes every node's configuration, starts the proxies and every node of the prepared
    /// directory; the first node initialises the cluster (a no-op when resuming).
    pub async fn start(binary: &Path, dir: StateDir, topology: Topology) -> Result<Cluster, String> {
        Cluster::start_with_chain(binary, dir, topology, None).await
    }

    /// `start`, every node following `chain` (deposits, withdrawals, `/rpc/devnet`).
    pub async fn start_with_chain(
        binary: &Path,
        dir: StateDir,
        topology: Topology,
        chain: Option<crate::chain::LabChain>,
    ) -> Result<Cluster, String> {
        let configs = topology
            .nodes
            .iter()
            .map(|node| {
                let mut config = node_config(&dir, &topology, node.id);
                config.chains = chain.iter().map(|chain| chain.config().clone()).collect();
                config
            })
            .collect();
        let header = format!(
            "# Written by `outlast up` from {}; rewritten on every start. The longest round trip is {} ms:\n\
             # every exchange's deadline must outlast it (see Topology::raft_timing_ms).\n",
            dir.topology().display(),
            topology.max_rtt_ms()
        );
        let mut processes = ProcessCluster::new(binary, dir.clone(), configs, &header)?;
        let namespaces = match topology.network {
            Network::Loopback => None,
            Network::Namespaces => {
                let ids: Vec<u64> = topology.nodes.iter().map(|n| n.id).collect();
                let namespaces = Namespaces::of(&dir.root, &ids);
                if !namespaces.inside() {
                    return Err(format!(
                        "a namespace rehearsal runs inside its router namespace {} (see namespaces::run_inside)",
                        namespaces.router()
                    ));
                }
                for id in &ids {
                    processes.set_launcher(*id, namespaces.exec_prefix(*id));
                }
                Some(namespaces)
            }
        };
        let links = links(&topology);
        let access = Access::of(&dir, &topology)?;
        let mut cluster = Cluster {
            dir,
            topology,
            links,
            proxy_stats: BTreeMap::new(),
            access,
            chain: chain.map(std::sync::Arc::new),
            namespaces,
            processes,
            proxies: Vec::new(),
            proxy_tasks_stopped: Vec::new(),
        };
        // Two proxies per node, one rule per directed link: Raft traffic, and commands or reads
        // forwarded to the leader, cross the same simulated WAN. (Namespaces have none: their
        // nodes dial each other's real addresses.)
        let proxied = if cluster.namespaces.is_some() { Vec::new() } else { cluster.topology.nodes.clone() };
        for node in proxied {
            let addrs = NodeAddrs::of(node.id);
            let stats = Arc::new(ProxyStats::default());
            cluster.proxy_stats.insert(node.id, stats.clone());
            for (front, upstream) in [(addrs.raft_advertised, addrs.raft_listen), (addrs.client, addrs.client_listen)] {
                let listener =
                    tokio::net::TcpListener::bind(&front).await.map_err(|e| format!("link proxy {front}: {e}"))?;
                cluster.proxies.push(tokio::spawn(outlast_links::serve_proxy(
                    listener,
                    upstream,
                    node.id,
                    cluster.links.clone(),
                    stats.clone(),
                )));
            }
        }
        let first = cluster.topology.nodes[0].id;
        for id in cluster.ids() {
            cluster.spawn(id, id == first)?;
        }
        Ok(cluster)
    }

    /// Replaces the rule of the directed link `from` -> `to`. In the namespace rehearsal only
    /// a cut can change (an nftables rule in the router); a latency change is refused there.
    pub fn set_link(&self, from: u64, to: u64, rule: LinkRule) -> Result<(), String> {
        if let Some(namespaces) = &self.namespaces {
            let clean = links(&self.topology).rule(from, to);
            if (LinkRule { blocked: false, ..rule }) != clean {
                return Err("the namespace rehearsal can only cut links: latency lives in the loopback lab's \
                            link proxies (the kernel has no netem)"
                    .into());
            }
            self.links.set(from, to, rule);
            return namespaces.set_cuts(&self.cuts());
        }
        self.links.set(from, to, rule);
        Ok(())
    }

    /// The directed links cut now.
    fn cuts(&self) -> std::collections::BTreeSet<(u64, u64)> {
        self.links.rules().into_iter().filter(|(_, rule)| rule.blocked).map(|(pair, _)| pair).collect()
    }

    /// Every link back to the topology's latencies (a heal).
    pub fn reset_links(&self) -> Result<(), String> {
        let clean = links(&self.topology);
        for ((a, b), rule) in clean.rules() {
            self.links.set(a, b, rule);
        }
        match &self.namespaces {
            Some(namespaces) => namespaces.set_cuts(&self.cuts()),
            None => Ok(()),
        }
    }

    /// Node ids, in topology order.
    pub fn ids(&self) -> Vec<u64> {
        self.topology.nodes.iter().map(|n| n.id).collect()
    }

    /// Starts node `id` and waits (bounded) for its `ready` line.
    pub fn spawn(&mut self, id: u64, init: bool) -> Result<(), String> {
        self.processes.spawn(id, if init { &["--init"] } else { &[] })
    }

    /// Starts node `id` again and waits (bounded) until it is ready: its `/ready` answers 200,
    /// which means it has applied everything the cluster had committed (see the API's
    /// readiness), not only that its process runs.
    pub async fn restart(&mut self, id: u64) -> Result<(), String> {
        self.spawn(id, false)?;
        wait_until_ready(&self.access, id, READY_DEADLINE).await
    }

    /// SIGKILLs node `id`.
    pub fn kill(&mut self, id: u64) {
        self.processes.kill(id);
    }

    /// Sends a signal (`STOP`, `CONT`, `TERM`, …) to node `id`'s process.
    pub fn signal(&self, id: u64, signal: &str) {
        self.processes.signal(id, signal);
    }

    /// Stops node `id` with SIGTERM and waits (bounded) for it to exit.
    pub fn terminate(&mut self, id: u64) {
        let _ = self.processes.terminate(id, STOP_DEADLINE);
    }

    /// Whether node `id`'s process runs (as far as this supervisor knows).
    pub fn is_running(&mut self, id: u64) -> bool {
        self.processes.is_running(id)
    }

    /// Waits (bounded) until some running node's API reports a leader; returns its id.
    pub async fn wait_for_leader(&self, deadline: Duration) -> Result<u64, String> {
        wait_for_leader(&self.access, &self.processes.started(), deadline).await
    }

    /// How the lab's tools dial the nodes (as the lab's operator, over TLS).
    pub fn dialer(&self) -> &outlast_cluster::TcpDialer {
        self.processes.dialer()
    }

    /// The default leader wait.
    pub async fn leader(&self) -> Result<u64, String> {
        self.wait_for_leader(LEADER_DEADLINE).await
    }

    /// Every node's API, as base URLs, in topology order.
    pub fn endpoints(&self) -> Vec<String> {
        self.access.endpoints()
    }

    /// Stops everything and waits until the proxies have released their addresses, so another
    /// cluster can start on them at once.
    pub async fn shutdown(mut self) {
        self.stop();
        for proxy in std::mem::take(&mut self.proxy_tasks_stopped) {
            let _ = proxy.await;
        }
    }

    /// Stops every node with SIGTERM (SIGKILL after `STOP_DEADLINE`) and the proxies.
    pub fn stop(&mut self) {
        self.processes.stop_all();
        for proxy in self.proxies.drain(..) {
            proxy.abort();
            self.proxy_tasks_stopped.push(proxy);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // The launcher kills its node processes when it is dropped.
        for proxy in &self.proxies {
            proxy.abort();
        }
    }
}

/// Waits (within `deadline`) until node `id`'s API says it is ready (caught up with the
/// cluster).
pub async fn wait_until_ready(access: &Access, id: u64, deadline: Duration) -> Result<(), String> {
    let client = access.client(vec![access.endpoint(id)], None, quick_policy());
    let started = Instant::now();
    loop {
        let health = client.health().await;
        if health.iter().all(|h| h.ready) {
            return Ok(());
        }
        if started.elapsed() > deadline {
            let why = health.first().map(|h| h.detail.clone()).unwrap_or_default();
            return Err(format!("node {id} not ready within {deadline:?}: {why}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded) until one of nodes `ids` reports a leader through its API; returns its id.
pub async fn wait_for_leader(access: &Access, ids: &[u64], deadline: Duration) -> Result<u64, String> {
    let started = Instant::now();
    while started.elapsed() < deadline {
        for id in ids {
            let client = access.operator(&[*id], quick_policy());
            if let Ok(view) = client.call("GET", "/operator/v1/cluster", &[]).await {
                if let Some(leader) = view["leader"]["id"].as_u64() {
                    return Ok(leader);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!("no leader within {deadline:?}"))
}

/// A policy for quick probes: one short attempt.
pub fn quick_policy() -> outlast_client::FailoverPolicy {
    outlast_client::FailoverPolicy {
        attempt_timeout: Duration::from_millis(500),
        budget: Duration::from_secs(1),
        attempts_max: 1,
        ..Default::default()
    }
}
