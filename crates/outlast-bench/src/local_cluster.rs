//! A cluster of real `outlast node` processes on 127.0.0.1, for tests and benchmarks.
//!
//! It writes one configuration file per node into a temporary directory, starts and kills
//! processes (SIGKILL, or SIGTERM for a clean stop), and talks to nodes through the client
//! protocol. Every wait is bounded by the deadline the caller gives. Dropping the cluster kills
//! whatever is still running.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use outlast_cluster::protocol::{call, ClientReply, ClientRequest, NodeStatus};
use outlast_engine::{CommandBody, Outcome};

/// Nodes of one cluster and their processes.
pub struct LocalCluster {
    dir: tempfile::TempDir,
    binary: PathBuf,
    client_addrs: BTreeMap<u64, String>,
    api_addrs: BTreeMap<u64, String>,
    children: BTreeMap<u64, Child>,
}

/// The operator token every `LocalCluster` node accepts.
pub const OPERATOR_TOKEN: &str = "local-cluster-operator-token-0123456789";

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for child in self.children.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Ports handed to nodes come from below Linux's ephemeral range (32768–60999). A port the
/// kernel picked for us is one it may also pick as the source port of some outgoing connection
/// (a starting peer dialling another) before the node binds it: the node then fails to start.
const PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A port no one is listening on, from `PORTS`; processes start at different offsets (by pid)
/// so that test binaries running side by side rarely probe the same ports.
pub(crate) fn free_port() -> io::Result<u16> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(u32::MAX);
    let span = u32::from(PORTS.end - PORTS.start);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7_919) % span,
        std::sync::atomic::Ordering::Relaxed,
        std::sync::atomic::Ordering::Relaxed,
    );
    for _ in 0..span {
        let offset = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % span;
        let port = PORTS.start + offset as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Err(io::Error::new(io::ErrorKind::AddrInUse, "no free port below the ephemeral range"))
}

impl LocalCluster {
    /// Configures one node per entry of `providers` (ids from 1, region and zone named after
    /// the provider), each with the extra TOML lines `settings`. Starts nothing.
    pub fn new(binary: &Path, providers: &[&str], settings: &str) -> io::Result<LocalCluster> {
        LocalCluster::with_learners(binary, providers, &[], settings)
    }

    /// As `new`, with the nodes in `learners` configured as learners (not in the initial voters).
    pub fn with_learners(
        binary: &Path,
        providers: &[&str],
        learners: &[u64],
        settings: &str,
    ) -> io::Result<LocalCluster> {
        let dir = tempfile::tempdir()?;
        // Every node serves the API, with secrets in the cluster's directory.
        std::fs::write(dir.path().join("api.key"), "6b".repeat(32))?;
        std::fs::write(dir.path().join("operator.token"), OPERATOR_TOKEN)?;
        let mut nodes = Vec::new();
        for (n, provider) in providers.iter().enumerate() {
            let raft = format!("127.0.0.1:{}", free_port()?);
            let client = format!("127.0.0.1:{}", free_port()?);
            let api = format!("127.0.0.1:{}", free_port()?);
            nodes.push((n as u64 + 1, raft, client, api, *provider));
        }
        let mut peers = String::new();
        for (id, raft, client, api, provider) in &nodes {
            let role = if learners.contains(id) { "learner" } else { "voter" };
            peers += &format!(
                "[[peers]]\nid = {id}\nraft_addr = \"{raft}\"\nclient_addr = \"{client}\"\napi_addr = \"{api}\"\n\
                 provider = \"{provider}\"\nregion = \"r-{provider}\"\nzone = \"z-{provider}-{id}\"\nrole = \"{role}\"\n"
            );
        }
        let (mut client_addrs, mut api_addrs) = (BTreeMap::new(), BTreeMap::new());
        for (id, raft, client, api, provider) in &nodes {
            let data = dir.path().join(format!("n{id}"));
            let config = format!(
                "id = {id}\ndata_dir = \"{}\"\nraft_addr = \"{raft}\"\nclient_addr = \"{client}\"\nprovider = \"{provider}\"\n\
                 region = \"r-{provider}\"\nzone = \"z-{provider}-{id}\"\napi_addr = \"{api}\"\n\
                 api_secret_file = \"{}\"\noperator_token_file = \"{}\"\n{settings}\n{peers}",
                data.display(),
                dir.path().join("api.key").display(),
                dir.path().join("operator.token").display(),
            );
            std::fs::write(dir.path().join(format!("n{id}.toml")), config)?;
            client_addrs.insert(*id, client.clone());
            api_addrs.insert(*id, api.clone());
        }
        Ok(LocalCluster { dir, binary: binary.to_path_buf(), client_addrs, api_addrs, children: BTreeMap::new() })
    }

    /// Node ids, ascending.
    pub fn ids(&self) -> Vec<u64> {
        self.client_addrs.keys().copied().collect()
    }

    /// A node's configuration file.
    pub fn config(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("n{id}.toml"))
    }

    /// A node's data directory.
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("n{id}"))
    }

    /// A node's client address.
    pub fn client_addr(&self, id: u64) -> &str {
        &self.client_addrs[&id]
    }

    /// A node's public API address.
    pub fn api_addr(&self, id: u64) -> &str {
        &self.api_addrs[&id]
    }

    /// Starts node `id` with extra arguments (e.g. `--init`). With `OUTLAST_TEST_LOGS` set to a
    /// directory, the node's stderr is appended to `n<id>.log` in the cluster's directory and
    /// the directory is kept (set `OUTLAST_LOG` for the level): for diagnosing a failed test.
    pub fn spawn(&mut self, id: u64, extra: &[&str]) -> io::Result<()> {
        let stderr = match std::env::var_os("OUTLAST_TEST_LOGS") {
            Some(root) => {
                let dir = PathBuf::from(root).join(self.dir.path().file_name().unwrap_or_default());
                std::fs::create_dir_all(&dir)?;
                let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(format!("n{id}.log")))?;
                Stdio::from(log)
            }
            None => Stdio::null(),
        };
        let child = Command::new(&self.binary)
            .arg("node")
            .arg("--config")
            .arg(self.config(id))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()?;
        self.children.insert(id, child);
        Ok(())
    }

    /// Starts every node; the first one initialises the cluster.
    pub fn spawn_all(&mut self) -> io::Result<()> {
        for (n, id) in self.ids().into_iter().enumerate() {
            self.spawn(id, if n == 0 { &["--init"] } else { &[] })?;
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

    /// Sends SIGTERM to node `id` and waits for it to exit, at most `deadline`.
    pub fn terminate(&mut self, id: u64, deadline: Duration) -> io::Result<ExitStatus> {
        let mut child = self.children.remove(&id).ok_or_else(|| io::Error::other("node not running"))?;
        Command::new("kill").arg("-TERM").arg(child.id().to_string()).status()?;
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if started.elapsed() > deadline {
                let _ = child.kill();
                return Err(io::Error::new(io::ErrorKind::TimedOut, "node did not exit after SIGTERM"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Node `id`'s status, if it answers within a second.
    pub async fn status(&self, id: u64) -> Option<NodeStatus> {
        match call(self.client_addr(id), &ClientRequest::Status, Duration::from_secs(1)).await {
            Ok(ClientReply::Status(status)) => Some(status),
            _ => None,
        }
    }

    /// The leader as seen by the nodes in `among`, once it is one of them.
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
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    /// Submits through node `via`, retrying while the answer is not an outcome.
    pub async fn submit(&self, via: u64, body: CommandBody, deadline: Duration) -> Option<Outcome> {
        let started = Instant::now();
        while started.elapsed() < deadline {
            let request = ClientRequest::Submit { body: body.clone(), forwarded: false };
            if let Ok(ClientReply::Outcome { outcome, .. }) =
                call(self.client_addr(via), &request, Duration::from_secs(2)).await
            {
                return Some(outcome);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        None
    }

    /// Waits until every node in `ids` answers with the same applied index and digest.
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
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}
