//! Three Raft nodes in one process, talking over real TCP on 127.0.0.1, with durable logs in
//! temporary directories, each with the node's campaigner (`elections`) as in a node. (Tests
//! with one OS process per node come with the node binary.)
//!
//! Without the campaigner, two survivors under bare openraft 0.9 can take many rounds to agree:
//! each campaign resets the candidate's own lease, so the other's vote is refused until their
//! timers drift more than a lease apart (CI once saw 18 terms in 10 s without a leader).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openraft::Config;
use outlast_cluster::clocks::ClockWatch;
use outlast_cluster::elections::{campaign_when_due, ElectionTiming, LeaderContact};
use outlast_cluster::Raft;
use outlast_cluster::{serve, Batch, EngineReader, Kept, LogStore, Network, NodeInfo, StateMachine, TcpDialer};
use outlast_engine::{Command, CommandBody, Limits, Outcome};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

struct Node {
    raft: Raft,
    reader: EngineReader,
    server: JoinHandle<std::io::Result<()>>,
    campaigner: JoinHandle<()>,
    _dir: tempfile::TempDir,
}

const HEARTBEAT_MS: u64 = 50;
const ELECTION_TIMEOUT_MS: [u64; 2] = [300, 600];

async fn start(id: u64, listener: TcpListener) -> Node {
    let dir = tempfile::tempdir().unwrap();
    let log = LogStore::open(&dir.path().join("log")).unwrap();
    let machine = StateMachine::open(&dir.path().join("state"), Limits::default(), id).unwrap();
    let reader = machine.reader();
    let config = Config {
        heartbeat_interval: HEARTBEAT_MS,
        election_timeout_min: ELECTION_TIMEOUT_MS[0],
        election_timeout_max: ELECTION_TIMEOUT_MS[1],
        ..Config::default()
    };
    let config = Arc::new(config.validate().unwrap());
    let kept = Kept::default();
    let network = Network::with_kept(TcpDialer::clear(), kept.clone());
    let raft = Raft::new(id, config, network, log.clone(), machine).await.unwrap();
    let contact = LeaderContact::default();
    let server = tokio::spawn(serve(listener, None, raft.clone(), log.clone(), contact.clone()));
    let timing = ElectionTiming::new(HEARTBEAT_MS, ELECTION_TIMEOUT_MS, Vec::new());
    let clocks = ClockWatch::new(500);
    let campaigner =
        tokio::spawn(campaign_when_due(raft.clone(), id, log, contact, timing, (TcpDialer::clear(), kept), clocks));
    Node { raft, reader, server, campaigner, _dir: dir }
}

/// Waits (at most `limit`) until `check` holds, polling; panics with `what` otherwise.
async fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn leader_of(nodes: &BTreeMap<u64, Node>) -> u64 {
    let any = nodes.values().next().unwrap();
    let metrics = any
        .raft
        .wait(Some(Duration::from_secs(10)))
        .metrics(|m| m.current_leader.is_some_and(|l| nodes.contains_key(&l)), "a live leader")
        .await
        .unwrap();
    metrics.current_leader.unwrap()
}

/// Proposes through the current leader, asking again (for at most 10 s) while leadership moves
/// or a new leader has no quorum acknowledgement yet (openraft 0.10 refuses proposals until the
/// first one arrives: `LeaseExpired`).
async fn write(nodes: &BTreeMap<u64, Node>, body: CommandBody) -> Outcome {
    let command = Command { ts_ms: 1_000, body, operator: None };
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let leader = leader_of(nodes).await;
        match nodes[&leader].raft.client_write(Batch { format: 1, commands: vec![command.clone()] }).await {
            Ok(response) => return response.data.into_iter().next().expect("one outcome per command"),
            Err(error) if error.forward_to_leader().is_some() => tokio::time::sleep(Duration::from_millis(5)).await,
            Err(error) => panic!("write failed: {error}"),
        }
    }
    panic!("no leader accepted the write within 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_replicate_over_tcp_and_keep_committing_after_the_leader_stops() {
    let mut listeners = BTreeMap::new();
    let mut members = BTreeMap::new();
    for id in 1..=3u64 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let info = NodeInfo {
            addr: listener.local_addr().unwrap().to_string(),
            provider: format!("p{id}"),
            ..NodeInfo::default()
        };
        members.insert(id, info);
        listeners.insert(id, listener);
    }
    let mut nodes = BTreeMap::new();
    for (id, listener) in listeners {
        nodes.insert(id, start(id, listener).await);
    }
    nodes[&1].raft.initialize(members).await.unwrap();

    assert!(matches!(
        write(&nodes, CommandBody::CreateAsset { symbol: "BTC".into(), decimals: 8 }).await,
        Outcome::Applied(_)
    ));
    for account in 1..=20 {
        assert!(matches!(write(&nodes, CommandBody::CreateAccount { account }).await, Outcome::Applied(_)));
    }
    let digest = |node: &Node| node.reader.read().digest();
    let expected = digest(&nodes[&leader_of(&nodes).await]);
    eventually(Duration::from_secs(10), "every replica at the leader's digest", || {
        nodes.values().all(|n| digest(n) == expected)
    })
    .await;

    // The leader goes away: the other two elect a new one and keep committing.
    let old = leader_of(&nodes).await;
    let gone = nodes.remove(&old).unwrap();
    gone.raft.shutdown().await.unwrap();
    gone.server.abort();
    gone.campaigner.abort();
    for account in 21..=30 {
        assert!(matches!(write(&nodes, CommandBody::CreateAccount { account }).await, Outcome::Applied(_)));
    }
    let new_leader = leader_of(&nodes).await;
    assert_ne!(new_leader, old);
    let expected = digest(&nodes[&new_leader]);
    eventually(Duration::from_secs(10), "both survivors at the same digest", || {
        nodes.values().all(|n| digest(n) == expected)
    })
    .await;
    assert!(nodes.values().all(|n| n.reader.read().has_account(30)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_peer_frame_closes_that_connection_and_the_node_keeps_serving() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let node = start(1, listener).await;
    let members = BTreeMap::from([(1u64, NodeInfo { addr: addr.to_string(), ..NodeInfo::default() })]);
    node.raft.initialize(members).await.unwrap();

    // A frame announcing more than the maximum, then garbage: the server hangs up.
    let mut bad = tokio::net::TcpStream::connect(addr).await.unwrap();
    bad.write_all(&u32::MAX.to_le_bytes()).await.unwrap();
    bad.write_all(b"not a frame").await.unwrap();
    let mut buffer = [0u8; 16];
    let read = tokio::time::timeout(Duration::from_secs(5), bad.read(&mut buffer)).await.expect("closed in time");
    assert!(matches!(read, Ok(0) | Err(_)), "the connection is closed");

    let nodes = BTreeMap::from([(1u64, node)]);
    assert!(matches!(write(&nodes, CommandBody::CreateAccount { account: 5 }).await, Outcome::Applied(_)));
}
