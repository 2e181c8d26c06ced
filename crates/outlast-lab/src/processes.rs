//! The one launcher of clusters of real `outlast node` processes: `outlast up`, `outlast chaos`,
//! the process tests and the benchmarks all configure, start, signal and stop nodes through it.
//!
//! A cluster lives in a `StateDir`: one configuration file per node, written by serialising
//! `NodeConfig` (never from a text template, so a renamed key breaks at compile time, not at run
//! time), one data directory per node, the shared secrets. Two addressings exist: `loopback`
//! (every node on 127.0.0.1 with ports of its own, no proxies; tests and benchmarks) and the
//! per-node addresses `up` gives its topology (`up::NodeAddrs`, with link proxies in front).
//!
//! One readiness rule: a node has started once it printed its `ready` line (its listeners are
//! bound and, with `--init`, the cluster is initialised); a node that exits first, or stays
//! silent past `READY_DEADLINE`, has failed to start.
//!
//! Must never: wait without a deadline, or leave a node process running once the cluster is
//! dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use outlast_cluster::config::{NodeConfig, PeerConfig, Role, TlsConfig};
use outlast_cluster::protocol::{call_with, ClientReply, ClientRequest, NodeStatus};
use outlast_cluster::TcpDialer;
use outlast_engine::{CommandBody, Outcome};
use outlast_tls::Identity;

use crate::state_dir::StateDir;

/// How long a node may take to print `ready`.
pub const READY_DEADLINE: Duration = Duration::from_secs(30);
/// How long a node may take to exit after SIGTERM before `stop` kills it.
pub const STOP_DEADLINE: Duration = Duration::from_secs(10);
/// How long one status question to a node may take.
const STATUS_DEADLINE: Duration = Duration::from_secs(1);
/// How long one submission may take before it is asked again.
const SUBMIT_ATTEMPT_DEADLINE: Duration = Duration::from_secs(2);
/// Pause between two polls of a condition.
const POLL_PAUSE: Duration = Duration::from_millis(10);

/// The operator token every loopback cluster's nodes accept.
pub const OPERATOR_TOKEN: &str = "local-cluster-operator-token-0123456789";
/// The API key-encryption key (hex) of every loopback cluster.
const LOOPBACK_API_KEK_HEX: &str = "6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b6b";

/// Where a node's stderr goes.
#[derive(Clone, Debug)]
enum Logs {
    /// Nowhere.
    Discard,
    /// Appended to `<dir>/node<id>.log`.
    Files(PathBuf),
}

/// The nodes of one cluster: their configurations and their processes.
pub struct ProcessCluster {
    binary: PathBuf,
    dir: StateDir,
    /// Keeps a loopback cluster's temporary directory alive (and removes it at the end).
    _temp: Option<tempfile::TempDir>,
    configs: BTreeMap<u64, NodeConfig>,
    logs: Logs,
    children: BTreeMap<u64, Child>,
    /// Per node, a command that runs the binary for it (`ip netns exec NS`), if any.
    launchers: BTreeMap<u64, Vec<String>>,
    /// How this launcher reaches the nodes' client ports: as the lab's operator, over TLS.
    dialer: TcpDialer,
}

impl Drop for ProcessCluster {
    fn drop(&mut self) {
        for child in self.children.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The lab operator's dialer for the cluster in `dir`: mutual TLS with the operator
/// certificate `up` (or `loopback`) issued; clear text for a directory without certificates.
pub fn operator_dialer(dir: &StateDir) -> Result<TcpDialer, String> {
    if !dir.cluster_id_file().exists() {
        return Ok(TcpDialer::clear());
    }
    let cluster = dir.read_cluster_id()?;
    let pki = dir.pki();
    let me = Identity::Operator(crate::up::LAB_OPERATOR.into());
    let files = outlast_tls::TlsFiles { ca: pki.ca_cert(), cert: pki.cert(&me), key: pki.key(&me) };
    let tls =
        outlast_tls::Connector::new(&cluster, &files).map_err(|e| format!("the lab operator's certificate: {e}"))?;
    Ok(TcpDialer::tls(tls))
}

/// The cluster id of `loopback` clusters' certificates.
pub const LOOPBACK_CLUSTER: &str = "loopback";

impl ProcessCluster {
    /// A cluster whose node configurations are `configs`, written into `dir` now (nothing is
    /// started). Each node's stderr is appended to its log file in `dir`.
    pub fn new(binary: &Path, dir: StateDir, configs: Vec<NodeConfig>, header: &str) -> Result<ProcessCluster, String> {
        // The lab's operator certificate if the nodes speak TLS (a tweak may have turned it off).
        let dialer = if configs.iter().any(|c| c.tls.is_some()) { operator_dialer(&dir)? } else { TcpDialer::clear() };
        let mut cluster = ProcessCluster {
            binary: binary.to_path_buf(),
            logs: Logs::Files(dir.root.clone()),
            dialer,
            dir,
            _temp: None,
            configs: BTreeMap::new(),
            children: BTreeMap::new(),
            launchers: BTreeMap::new(),
        };
        for config in configs {
            cluster.write_config(config, header)?;
        }
        Ok(cluster)
    }

    /// Configures (starts nothing) one node per entry of `providers` on 127.0.0.1, ids from 1,
    /// region and zone named after the provider, in a temporary directory; the nodes in
    /// `learners` are not initial voters. `tweak` adjusts every node's configuration. Node
    /// stderr is discarded, or with `OUTLAST_TEST_LOGS=DIR` appended to `node<id>.log` files
    /// under DIR, at the level `OUTLAST_LOG` sets (for diagnosing a failed test; the directory
    /// is then kept).
    pub fn loopback(
        binary: &Path,
        providers: &[&str],
        learners: &[u64],
        tweak: impl Fn(&mut NodeConfig),
    ) -> io::Result<ProcessCluster> {
        let temp = tempfile::tempdir()?;
        let dir = StateDir { root: temp.path().to_path_buf() };
        std::fs::create_dir_all(dir.root.join("secrets"))?;
        std::fs::write(dir.api_kek(), LOOPBACK_API_KEK_HEX)?;
        std::fs::write(dir.operator_token(), OPERATOR_TOKEN)?;
        let (mut peers, mut api_addrs) = (Vec::new(), BTreeMap::new());
        for (index, provider) in providers.iter().enumerate() {
            let id = index as u64 + 1;
            let api = format!("127.0.0.1:{}", free_port()?);
            api_addrs.insert(id, api.clone());
            peers.push(PeerConfig {
                id,
                raft_addr: format!("127.0.0.1:{}", free_port()?),
                client_addr: format!("127.0.0.1:{}", free_port()?),
                // HTTP on this host; `https://` below for a node that `tweak` gives `[api_tls]`.
                public_url: format!("http://{api}"),
                provider: provider.to_string(),
                region: format!("r-{provider}"),
                zone: format!("z-{provider}-{id}"),
                role: if learners.contains(&id) { Role::Learner } else { Role::Voter },
            });
        }
        // Mutual TLS between the nodes, as in `up`, under a CA of this cluster's own.
        let mut identities: Vec<Identity> = peers.iter().map(|p| Identity::Node(p.id)).collect();
        identities.push(Identity::Operator(crate::up::LAB_OPERATOR.into()));
        let pki =
            outlast_tls::write_cluster_pki(&dir.pki().dir, LOOPBACK_CLUSTER, &identities).map_err(io::Error::other)?;
        std::fs::write(dir.cluster_id_file(), LOOPBACK_CLUSTER)?;
        let mut configs = Vec::new();
        for peer in &peers {
            let mut config = NodeConfig::of_peer(peer.id, dir.data(peer.id), peers.clone()).expect("a member");
            config.api_addr = Some(api_addrs[&peer.id].clone());
            config.api_kek_file = Some(dir.api_kek());
            config.operator_token_file = Some(dir.operator_token());
            let me = Identity::Node(peer.id);
            config.tls = Some(TlsConfig {
                cluster: LOOPBACK_CLUSTER.into(),
                ca_file: pki.ca_cert(),
                cert_file: pki.cert(&me),
                key_file: pki.key(&me),
                operators: vec![crate::up::LAB_OPERATOR.into()],
            });
            tweak(&mut config);
            configs.push(config);
        }
        let https: BTreeSet<u64> = configs.iter().filter(|c| c.api_tls.is_some()).map(|c| c.id).collect();
        for config in &mut configs {
            for peer in config.peers.iter_mut().filter(|p| https.contains(&p.id)) {
                peer.public_url = peer.public_url.replacen("http://", "https://", 1);
            }
        }
        let logs = match std::env::var_os("OUTLAST_TEST_LOGS") {
            Some(root) => Logs::Files(PathBuf::from(root).join(temp.path().file_name().unwrap_or_default())),
            None => Logs::Discard,
        };
        let mut cluster =
            ProcessCluster::new(binary, dir, configs, "# A loopback test cluster.\n").map_err(io::Error::other)?;
        cluster.logs = logs;
        cluster._temp = Some(temp);
        Ok(cluster)
    }

    /// Writes node `config.id`'s configuration file (replacing any earlier one); a running
    /// node reads it at its next start.
    pub fn write_config(&mut self, config: NodeConfig, header: &str) -> Result<(), String> {
        let path = self.dir.config(config.id);
        config.check().map_err(|e| format!("node {}: {e}", config.id))?;
        std::fs::write(&path, format!("{header}{}", config.to_toml()))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        self.configs.insert(config.id, config);
        Ok(())
    }

    /// Changes node `id`'s configuration file with `change` (e.g. to make it disagree with
    /// the cluster in a test).
    pub fn rewrite_config(&mut self, id: u64, change: impl FnOnce(&mut NodeConfig)) -> Result<(), String> {
        let mut config = self.configs.get(&id).cloned().ok_or_else(|| format!("no node {id}"))?;
        change(&mut config);
        self.write_config(config, "")
    }

    /// Node ids, ascending.
    pub fn ids(&self) -> Vec<u64> {
        self.configs.keys().copied().collect()
    }

    /// Node `id`'s configuration file.
    pub fn config(&self, id: u64) -> PathBuf {
        self.dir.config(id)
    }

    /// Node `id`'s data directory.
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.configs[&id].data_dir.clone()
    }

    /// Where node `id` answers the client protocol (its own listener, not a proxy).
    pub fn client_addr(&self, id: u64) -> &str {
        let config = &self.configs[&id];
        config.client_listen_addr.as_deref().unwrap_or(&config.client_addr)
    }

    /// Where node `id` answers Raft RPCs (its own listener, not a proxy).
    pub fn raft_addr(&self, id: u64) -> &str {
        let config = &self.configs[&id];
        config.raft_listen_addr.as_deref().unwrap_or(&config.raft_addr)
    }

    /// The cluster's state directory (configurations, certificates, data).
    pub fn state_dir(&self) -> &StateDir {
        &self.dir
    }

    /// Node `id`'s public API address.
    pub fn api_addr(&self, id: u64) -> &str {
        self.configs[&id].api_addr.as_deref().expect("the node serves an API")
    }

    /// Runs node `id` through `launcher` (a program and its arguments, e.g. `ip netns exec NS`,
    /// that must replace itself with the node, so that signals reach it).
    pub fn set_launcher(&mut self, id: u64, launcher: Vec<String>) {
        assert!(!launcher.is_empty());
        self.launchers.insert(id, launcher);
    }

    /// Starts node `id` with extra arguments (e.g. `--init`) and waits, at most
    /// `READY_DEADLINE`, for its `ready` line.
    pub fn spawn(&mut self, id: u64, extra: &[&str]) -> Result<(), String> {
        let stderr = match &self.logs {
            Logs::Discard => Stdio::null(),
            Logs::Files(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let path = dir.join(format!("node{id}.log"));
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Stdio::from(file)
            }
        };
        let mut command = match self.launchers.get(&id) {
            Some(launcher) => {
                let mut command = Command::new(&launcher[0]);
                command.args(&launcher[1..]).arg(&self.binary);
                command
            }
            None => Command::new(&self.binary),
        };
        let mut child = command
            .arg("node")
            .arg("--config")
            .arg(self.config(id))
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start node {id}: {e}"))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (first_line, ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = first_line.send(lines.next());
            // Keep draining so that the node never blocks on a full pipe.
            for _ in lines {}
        });
        // A blocking wait: inside a multi-threaded runtime, let the runtime move its other tasks
        // off this thread meanwhile (tests and benchmarks spawn nodes from async code).
        let wait = || ready.recv_timeout(READY_DEADLINE);
        let in_runtime = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let first_line = if in_runtime { tokio::task::block_in_place(wait) } else { wait() };
        match first_line {
            Ok(Some(Ok(line))) if line.starts_with("ready") => {
                self.children.insert(id, child);
                Ok(())
            }
            other => {
                let _ = child.kill();
                let status = child.wait();
                let log = match &self.logs {
                    Logs::Files(dir) => format!("; see {}", dir.join(format!("node{id}.log")).display()),
                    Logs::Discard => String::new(),
                };
                Err(format!("node {id} did not start ({other:?}, exit {status:?}){log}"))
            }
        }
    }

    /// Starts every node; the first one initialises the cluster (a no-op when it already is).
    pub fn spawn_all(&mut self) -> Result<(), String> {
        for (index, id) in self.ids().into_iter().enumerate() {
            self.spawn(id, if index == 0 { &["--init"] } else { &[] })?;
        }
        Ok(())
    }

    /// SIGKILLs node `id` and reaps it.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.children.remove(&id) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal (`STOP`, `CONT`, `TERM`, …) to node `id`'s process.
    pub fn signal(&self, id: u64, signal: &str) {
        if let Some(child) = self.children.get(&id) {
            let _ = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
        }
    }

    /// Sends SIGTERM to node `id` and waits for it to exit, at most `deadline` (then kills it).
    pub fn terminate(&mut self, id: u64, deadline: Duration) -> io::Result<ExitStatus> {
        self.signal(id, "TERM");
        let mut child = self.children.remove(&id).ok_or_else(|| io::Error::other("node not running"))?;
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if started.elapsed() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(io::Error::new(io::ErrorKind::TimedOut, format!("node {id} did not exit after SIGTERM")));
            }
            std::thread::sleep(POLL_PAUSE);
        }
    }

    /// Whether node `id`'s process runs (as far as this launcher knows).
    pub fn is_running(&mut self, id: u64) -> bool {
        match self.children.get_mut(&id) {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Ids of the nodes this launcher started and has not stopped.
    pub fn started(&self) -> Vec<u64> {
        self.children.keys().copied().collect()
    }

    /// Stops every node with SIGTERM, all at once, killing those still running after
    /// `STOP_DEADLINE`.
    pub fn stop_all(&mut self) {
        for id in self.started() {
            self.signal(id, "TERM");
        }
        let started = Instant::now();
        for (id, mut child) in std::mem::take(&mut self.children) {
            loop {
                match child.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if started.elapsed() > STOP_DEADLINE => {
                        eprintln!("node {id} did not stop in time; killing it");
                        let _ = child.kill();
                        let _ = child.wait();
                        break;
                    }
                    Ok(None) => std::thread::sleep(POLL_PAUSE),
                }
            }
        }
    }

    /// Sends `request` to node `id`'s client port as the lab's operator and waits for the reply
    /// (within `deadline`).
    pub async fn call(&self, id: u64, request: &ClientRequest, deadline: Duration) -> io::Result<ClientReply> {
        call_with(&self.dialer, self.client_addr(id), &Identity::Node(id), request, deadline).await
    }

    /// How this launcher dials the nodes (as the lab's operator, over TLS): for callers that
    /// keep a connection open.
    pub fn dialer(&self) -> &TcpDialer {
        &self.dialer
    }

    /// Node `id`'s status, if it answers within `STATUS_DEADLINE`.
    pub async fn status(&self, id: u64) -> Option<NodeStatus> {
        match self.call(id, &ClientRequest::Status, STATUS_DEADLINE).await {
            Ok(ClientReply::Status(status)) => Some(status),
            _ => None,
        }
    }

    /// The leader as seen by the nodes in `among`, once it is one of them (within `deadline`).
    pub async fn leader(&self, among: &[u64], deadline: Duration) -> Option<u64> {
        let started = Instant::now();
        while started.elapsed() < deadline {
            for &id in among {
                if let Some(NodeStatus { leader: Some(leader), .. }) = self.status(id).await {
                    if among.contains(&leader) {
                        return Some(leader);
                    }
                }
            }
            tokio::time::sleep(POLL_PAUSE).await;
        }
        None
    }

    /// Submits through node `via`, asking again while the answer is not an outcome (within
    /// `deadline`).
    pub async fn submit(&self, via: u64, body: CommandBody, deadline: Duration) -> Option<Outcome> {
        let started = Instant::now();
        while started.elapsed() < deadline {
            let request =
                ClientRequest::Submit { body: body.clone(), forwarded: false, operator_token: None, operator: None };
            if let Ok(ClientReply::Outcome { outcome, .. }) = self.call(via, &request, SUBMIT_ATTEMPT_DEADLINE).await {
                return Some(outcome);
            }
            tokio::time::sleep(POLL_PAUSE).await;
        }
        None
    }

    /// Waits (within `deadline`) until every node in `ids` answers with the same applied index
    /// and digest.
    pub async fn converged(&self, ids: &[u64], deadline: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < deadline {
            let mut seen = Vec::new();
            for &id in ids {
                seen.push(self.status(id).await.map(|s| (s.last_applied, s.digest)));
            }
            if seen.iter().all(|s| s.is_some() && *s == seen[0]) {
                return true;
            }
            tokio::time::sleep(POLL_PAUSE).await;
        }
        false
    }
}

/// Ports for loopback nodes: the one chooser, below the ephemeral range.
pub use outlast_cluster::ports::free_port;
