//! A three-node cluster of real `outlast node` processes on 127.0.0.1: commands through any
//! node, SIGKILL of the leader, a new leader, restart and catch-up, nothing acknowledged lost.
//! Every wait is bounded and on a condition.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use outlast_cluster::client::{call, ClientReply, ClientRequest, NodeStatus};
use outlast_engine::{CommandBody, Outcome};

const DEADLINE: Duration = Duration::from_secs(30);

struct Cluster {
    dir: tempfile::TempDir,
    client_addrs: BTreeMap<u64, String>,
    children: BTreeMap<u64, Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.children.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Cluster {
    fn new(providers: &[&str]) -> Cluster {
        Cluster::with_settings(providers, "")
    }

    /// `settings` are extra TOML lines for every node's configuration.
    fn with_settings(providers: &[&str], settings: &str) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let nodes: Vec<(u64, String, String, &str)> = providers
            .iter()
            .enumerate()
            .map(|(n, p)| {
                (n as u64 + 1, format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()), *p)
            })
            .collect();
        let mut peers = String::new();
        for (id, raft, client, provider) in &nodes {
            peers += &format!(
                "[[peers]]\nid = {id}\nraft_addr = \"{raft}\"\nclient_addr = \"{client}\"\nprovider = \"{provider}\"\nregion = \"r-{provider}\"\nzone = \"z-{provider}\"\n"
            );
        }
        let mut client_addrs = BTreeMap::new();
        for (id, raft, client, provider) in &nodes {
            let data = dir.path().join(format!("n{id}"));
            let config = format!(
                "id = {id}\ndata_dir = \"{}\"\nraft_addr = \"{raft}\"\nclient_addr = \"{client}\"\nprovider = \"{provider}\"\nregion = \"r-{provider}\"\nzone = \"z-{provider}\"\n{settings}\n{peers}",
                data.display()
            );
            std::fs::write(dir.path().join(format!("n{id}.toml")), config).unwrap();
            client_addrs.insert(*id, client.clone());
        }
        Cluster { dir, client_addrs, children: BTreeMap::new() }
    }

    fn config(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("n{id}.toml"))
    }

    fn spawn(&mut self, id: u64, extra: &[&str]) {
        let child = spawn_node(&self.config(id), extra);
        self.children.insert(id, child);
    }

    async fn status(&self, id: u64) -> Option<NodeStatus> {
        match call(&self.client_addrs[&id], &ClientRequest::Status, Duration::from_secs(2)).await {
            Ok(ClientReply::Status(status)) => Some(status),
            _ => None,
        }
    }

    /// Submits through node `via` until a node answers with an outcome.
    async fn submit(&self, via: u64, body: CommandBody) -> Outcome {
        let started = Instant::now();
        loop {
            let request = ClientRequest::Submit { body: body.clone(), forwarded: false };
            if let Ok(ClientReply::Outcome(outcome)) =
                call(&self.client_addrs[&via], &request, Duration::from_secs(5)).await
            {
                return outcome;
            }
            assert!(started.elapsed() < DEADLINE, "no outcome for {body:?} via node {via}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn leader(&self, among: &[u64]) -> u64 {
        let started = Instant::now();
        loop {
            for &id in among {
                if let Some(NodeStatus { leader: Some(leader), .. }) = self.status(id).await {
                    if among.contains(&leader) {
                        return leader;
                    }
                }
            }
            assert!(started.elapsed() < DEADLINE, "no leader among {among:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn spawn_node(config: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_outlast"))
        .arg("node")
        .arg("--config")
        .arg(config)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn outlast node")
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(started.elapsed() < DEADLINE, "node did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_sigkill_loses_nothing_acknowledged_and_the_node_catches_up_after_restart() {
    let mut cluster = Cluster::new(&["aws", "gcp", "azure"]);
    cluster.spawn(1, &["--init"]);
    cluster.spawn(2, &[]);
    cluster.spawn(3, &[]);
    let all = [1, 2, 3];
    cluster.leader(&all).await;

    // Through node 3, whoever leads: followers forward to the leader.
    assert!(matches!(
        cluster.submit(3, CommandBody::CreateAsset { symbol: "BTC".into(), decimals: 8 }).await,
        Outcome::Applied(_)
    ));
    for account in 1..=10 {
        assert!(matches!(cluster.submit(3, CommandBody::CreateAccount { account }).await, Outcome::Applied(_)));
    }

    let old_leader = cluster.leader(&all).await;
    cluster.children.get_mut(&old_leader).unwrap().kill().unwrap(); // SIGKILL
    cluster.children.remove(&old_leader).unwrap().wait().unwrap();
    let survivors: Vec<u64> = all.iter().copied().filter(|&id| id != old_leader).collect();
    for account in 11..=20 {
        assert!(matches!(
            cluster.submit(survivors[0], CommandBody::CreateAccount { account }).await,
            Outcome::Applied(_)
        ));
    }
    let new_leader = cluster.leader(&survivors).await;
    assert_ne!(new_leader, old_leader);

    // The killed node comes back and catches up to the same state.
    cluster.spawn(old_leader, &[]);
    let started = Instant::now();
    loop {
        let mut statuses = Vec::new();
        for id in all {
            statuses.push(cluster.status(id).await);
        }
        let digests: Vec<Option<(Option<u64>, String)>> =
            statuses.iter().map(|s| s.as_ref().map(|s| (s.last_applied, s.digest.clone()))).collect();
        if digests.iter().all(|d| d.is_some() && *d == digests[0]) {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "replicas did not converge: {digests:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Every acknowledged command is in the state: creating those accounts again is a duplicate.
    for account in 1..=20 {
        let again = cluster.submit(old_leader, CommandBody::CreateAccount { account }).await;
        assert!(matches!(again, Outcome::Duplicate(_)), "account {account}: {again:?}");
    }

    // Clean shutdown on SIGTERM.
    for child in cluster.children.values_mut() {
        assert!(terminate(child).success());
    }
    cluster.children.clear();
}

#[test]
fn a_topology_one_provider_can_stop_is_refused_at_initialisation() {
    let cluster = Cluster::new(&["aws", "aws", "gcp"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_outlast"))
        .args(["node", "--config"])
        .arg(cluster.config(1))
        .arg("--init")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < DEADLINE, "node did not refuse");
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2));
    assert!(stderr.contains("provider(s) aws"), "{stderr}");
}

#[test]
fn a_config_with_mistakes_is_refused_with_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "id = 1\ndata_dir = \"x\"\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_outlast")).args(["node", "--config"]).arg(&path).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.toml") && stderr.contains("missing field"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_committed_log_record_stops_the_node_with_a_report() {
    let mut cluster = Cluster::new(&["aws"]);
    cluster.spawn(1, &["--init", "--allow-unsafe-topology"]);
    cluster.leader(&[1]).await;
    for account in 1..=5 {
        assert!(matches!(cluster.submit(1, CommandBody::CreateAccount { account }).await, Outcome::Applied(_)));
    }
    let mut child = cluster.children.remove(&1).unwrap();
    assert!(terminate(&mut child).success());

    // Flip one byte inside the first segment, well before its end: a committed record.
    let log_dir = cluster.dir.path().join("n1").join("log");
    let segment = std::fs::read_dir(&log_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .expect("a segment file");
    let mut bytes = std::fs::read(&segment).unwrap();
    assert!(bytes.len() > 64);
    bytes[40] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();

    let output =
        Command::new(env!("CARGO_BIN_EXE_outlast")).args(["node", "--config"]).arg(cluster.config(1)).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("corrupt") && stderr.contains("refusing to start"), "{stderr}");
    assert_eq!(std::fs::read(&segment).unwrap(), bytes, "the log was not altered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_missed_more_than_the_log_keeps_catches_up_through_a_snapshot() {
    let mut cluster =
        Cluster::with_settings(&["aws", "gcp", "azure"], "snapshot_every_entries = 20\nlog_kept_behind_snapshot = 5");
    cluster.spawn(1, &["--init"]);
    cluster.spawn(2, &[]);
    cluster.spawn(3, &[]);
    let all = [1, 2, 3];
    let leader = cluster.leader(&all).await;
    let lagging = all.into_iter().find(|&id| id != leader).unwrap();
    let other = all.into_iter().find(|&id| id != leader && id != lagging).unwrap();
    cluster.children.get_mut(&lagging).unwrap().kill().unwrap();
    cluster.children.remove(&lagging).unwrap().wait().unwrap();

    for account in 1..=120 {
        assert!(matches!(cluster.submit(other, CommandBody::CreateAccount { account }).await, Outcome::Applied(_)));
    }
    // The survivors have snapshotted and purged their logs past what the lagging node has.
    let leader_log = cluster.dir.path().join(format!("n{leader}")).join("log");
    let started = Instant::now();
    while !leader_log.join("last-purged-log-id").exists() {
        assert!(started.elapsed() < DEADLINE, "the leader never purged its log");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    cluster.spawn(lagging, &[]);
    let snapshot = cluster.dir.path().join(format!("n{lagging}")).join("state").join("snapshot");
    let started = Instant::now();
    loop {
        let (a, b) = (cluster.status(lagging).await, cluster.status(other).await);
        if let (Some(a), Some(b)) = (a, b) {
            if a.digest == b.digest && a.last_applied == b.last_applied && snapshot.exists() {
                break;
            }
        }
        assert!(started.elapsed() < DEADLINE, "the lagging node did not catch up through a snapshot");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for account in [1, 60, 120] {
        assert!(matches!(cluster.submit(lagging, CommandBody::CreateAccount { account }).await, Outcome::Duplicate(_)));
    }
}
