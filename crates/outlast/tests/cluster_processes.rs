//! Clusters of real `outlast node` processes on 127.0.0.1: commands through any node, SIGKILL
//! of the leader, restart and catch-up (through the log and through a snapshot), a corrupt log
//! refused, bad configuration refused. Every wait is bounded and on a condition.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use outlast_cluster::config::NodeConfig;
use outlast_engine::{CommandBody, Outcome};
use outlast_lab::processes::ProcessCluster;

const DEADLINE: Duration = Duration::from_secs(30);

fn cluster(providers: &[&str], settings: impl Fn(&mut NodeConfig)) -> ProcessCluster {
    ProcessCluster::loopback(std::path::Path::new(env!("CARGO_BIN_EXE_outlast")), providers, &[], settings).unwrap()
}

async fn submit(cluster: &ProcessCluster, via: u64, body: CommandBody) -> Outcome {
    cluster.submit(via, body.clone(), DEADLINE).await.unwrap_or_else(|| panic!("no outcome for {body:?} via {via}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_sigkill_loses_nothing_acknowledged_and_the_node_catches_up_after_restart() {
    let mut cluster = cluster(&["aws", "gcp", "azure"], |_| {});
    cluster.spawn_all().unwrap();
    let all = cluster.ids();
    cluster.leader(&all, DEADLINE).await.expect("a leader");

    // Through node 3, whoever leads: followers forward to the leader.
    assert!(matches!(
        submit(&cluster, 3, CommandBody::CreateAsset { symbol: "BTC".into(), decimals: 8 }).await,
        Outcome::Applied(_)
    ));
    for account in 1..=10 {
        assert!(matches!(submit(&cluster, 3, CommandBody::CreateAccount { account }).await, Outcome::Applied(_)));
    }

    let old_leader = cluster.leader(&all, DEADLINE).await.unwrap();
    cluster.kill(old_leader); // SIGKILL
    let survivors: Vec<u64> = all.iter().copied().filter(|&id| id != old_leader).collect();
    for account in 11..=20 {
        assert!(matches!(
            submit(&cluster, survivors[0], CommandBody::CreateAccount { account }).await,
            Outcome::Applied(_)
        ));
    }
    let new_leader = cluster.leader(&survivors, DEADLINE).await.unwrap();
    assert_ne!(new_leader, old_leader);

    // The killed node comes back. Ready means caught up with the cluster: the first time its
    // /ready answers 200, it has applied at least what the leader had applied before it
    // restarted (every acknowledged command above), not merely what its own log held.
    let committed_before_restart = cluster.status(new_leader).await.unwrap().last_applied.unwrap();
    cluster.spawn(old_leader, &[]).unwrap();
    let ready = outlast_client::Client::new(
        vec![format!("http://{}", cluster.api_addr(old_leader))],
        None,
        outlast_client::FailoverPolicy::default(),
    );
    let started = Instant::now();
    while !ready.health().await.iter().all(|h| h.ready) {
        assert!(started.elapsed() < DEADLINE, "the restarted node never became ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let applied = cluster.status(old_leader).await.unwrap().last_applied.unwrap();
    assert!(applied >= committed_before_restart, "ready at {applied}, the cluster had {committed_before_restart}");
    assert!(cluster.converged(&all, DEADLINE).await, "replicas did not converge");

    // Every acknowledged command is in the state: creating those accounts again is a duplicate.
    for account in 1..=20 {
        let again = submit(&cluster, old_leader, CommandBody::CreateAccount { account }).await;
        assert!(matches!(again, Outcome::Duplicate(_)), "account {account}: {again:?}");
    }

    // Clean shutdown on SIGTERM.
    for id in all {
        assert!(cluster.terminate(id, DEADLINE).unwrap().success());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_in_one_file_initialises_a_cluster_whose_nodes_all_start_alike() {
    // As a StatefulSet or one systemd unit starts them: the same command on every node, no
    // --init; node 1's file says `bootstrap = true`.
    let mut cluster = cluster(&["aws", "gcp", "azure"], |config| config.bootstrap = config.id == 1);
    for id in cluster.ids() {
        cluster.spawn(id, &[]).unwrap();
    }
    let all = cluster.ids();
    let leader = cluster.leader(&all, DEADLINE).await.expect("the bootstrapped cluster elects a leader");
    assert!(matches!(
        submit(&cluster, 2, CommandBody::CreateAsset { symbol: "BTC".into(), decimals: 8 }).await,
        Outcome::Applied(_)
    ));
    // Restarted with the same file, node 1 resumes: the flag does nothing to a node with state.
    cluster.kill(1);
    cluster.spawn(1, &[]).unwrap();
    assert!(cluster.converged(&all, DEADLINE).await, "node 1 rejoined (the leader was {leader})");
    let again = submit(&cluster, 1, CommandBody::CreateAsset { symbol: "BTC".into(), decimals: 8 }).await;
    assert!(!matches!(again, Outcome::Applied(_)), "the asset survived node 1's restart: {again:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_missed_more_than_the_log_keeps_catches_up_through_a_snapshot() {
    let mut cluster = cluster(&["aws", "gcp", "azure"], |c| {
        c.snapshot_every_entries = 20;
        c.log_kept_behind_snapshot = 5;
    });
    cluster.spawn_all().unwrap();
    let all = cluster.ids();
    let leader = cluster.leader(&all, DEADLINE).await.unwrap();
    let lagging = all.iter().copied().find(|&id| id != leader).unwrap();
    let other = all.iter().copied().find(|&id| id != leader && id != lagging).unwrap();
    cluster.kill(lagging);

    for account in 1..=120 {
        assert!(matches!(submit(&cluster, other, CommandBody::CreateAccount { account }).await, Outcome::Applied(_)));
    }
    // The leader has snapshotted and purged its log past what the lagging node has.
    let purged = cluster.data_dir(leader).join("log").join("last-purged-log-id");
    let started = Instant::now();
    while !purged.exists() {
        assert!(started.elapsed() < DEADLINE, "the leader never purged its log");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    cluster.spawn(lagging, &[]).unwrap();
    assert!(cluster.converged(&[lagging, other], DEADLINE).await, "the lagging node did not catch up");
    // It had fewer entries than a snapshot needs, so its snapshot file was installed, not built.
    assert!(cluster.data_dir(lagging).join("state").join("snapshot").exists());
    for account in [1, 60, 120] {
        assert!(matches!(
            submit(&cluster, lagging, CommandBody::CreateAccount { account }).await,
            Outcome::Duplicate(_)
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_committed_log_record_stops_the_node_with_a_report() {
    let mut cluster = cluster(&["aws"], |_| {});
    cluster.spawn(1, &["--init", "--allow-unsafe-topology"]).unwrap();
    cluster.leader(&[1], DEADLINE).await.expect("a leader");
    for account in 1..=5 {
        assert!(matches!(submit(&cluster, 1, CommandBody::CreateAccount { account }).await, Outcome::Applied(_)));
    }
    assert!(cluster.terminate(1, DEADLINE).unwrap().success());

    // Flip one byte inside the first segment, well before its end: a committed record.
    let segment = std::fs::read_dir(cluster.data_dir(1).join("log"))
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

#[test]
fn a_topology_one_provider_can_stop_is_refused_at_initialisation() {
    let cluster = cluster(&["aws", "aws", "gcp"], |_| {});
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
async fn five_nodes_over_three_providers_keep_committing_through_a_whole_provider_outage() {
    // aws holds the most voters (2 of 5); losing it leaves 3, still a majority.
    let mut cluster = cluster(&["aws", "aws", "gcp", "gcp", "azure"], |_| {});
    cluster.spawn_all().unwrap();
    let all = cluster.ids();
    cluster.leader(&all, DEADLINE).await.expect("a leader");
    for account in 1..=10 {
        assert!(matches!(submit(&cluster, 5, CommandBody::CreateAccount { account }).await, Outcome::Applied(_)));
    }
    // Take out the provider that holds the leader if it is aws or gcp, else aws: the worst case.
    let leader = cluster.leader(&all, DEADLINE).await.unwrap();
    let doomed: Vec<u64> = if leader <= 2 {
        vec![1, 2]
    } else if leader <= 4 {
        vec![3, 4]
    } else {
        vec![1, 2]
    };
    for &id in &doomed {
        cluster.kill(id);
    }
    let survivors: Vec<u64> = all.iter().copied().filter(|id| !doomed.contains(id)).collect();
    for account in 11..=20 {
        assert!(matches!(
            submit(&cluster, survivors[0], CommandBody::CreateAccount { account }).await,
            Outcome::Applied(_)
        ));
    }
    assert!(cluster.converged(&survivors, DEADLINE).await, "survivors did not converge");
    for &id in &doomed {
        cluster.spawn(id, &[]).unwrap();
    }
    assert!(cluster.converged(&all, DEADLINE).await, "the provider's nodes did not catch up");
    for account in 1..=20 {
        assert!(matches!(
            submit(&cluster, doomed[0], CommandBody::CreateAccount { account }).await,
            Outcome::Duplicate(_)
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_linearizable_through_any_node_unless_a_follower_read_is_asked_for() {
    use outlast_cluster::protocol::{Answer, ClientReply, ClientRequest, Query};
    let mut cluster = cluster(&["aws", "gcp", "azure"], |_| {});
    cluster.spawn_all().unwrap();
    let all = cluster.ids();
    let leader = cluster.leader(&all, DEADLINE).await.unwrap();
    let follower = all.iter().copied().find(|&id| id != leader).unwrap();
    submit(&cluster, follower, CommandBody::CreateAsset { symbol: "USDT".into(), decimals: 2 }).await;
    submit(&cluster, follower, CommandBody::CreateAccount { account: 7 }).await;
    let deposit = CommandBody::Deposit { account: 7, asset: 0, amount: 500, chain_tx: "tx-1".into() };
    assert!(matches!(submit(&cluster, follower, deposit).await, Outcome::Applied(_)));

    let query = Query::Balance { account: 7, asset: 0 };
    let read = |follower_ok| ClientRequest::Read { query: query.clone(), follower_ok, forwarded: false };
    // Linearizable through a follower: answered by the leader, and it sees the deposit.
    match cluster.call(follower, &read(false), DEADLINE).await.unwrap() {
        ClientReply::Read { answer: Answer::Balance(Some(balance)), node } => {
            assert_eq!((balance.available, node), (500, leader));
        }
        other => panic!("{other:?}"),
    }
    // A follower read is answered locally; it catches up within the deadline.
    let started = Instant::now();
    loop {
        match cluster.call(follower, &read(true), DEADLINE).await.unwrap() {
            ClientReply::Read { answer: Answer::Balance(Some(balance)), node } if balance.available == 500 => {
                assert_eq!(node, follower);
                break;
            }
            ClientReply::Read { .. } => {}
            other => panic!("{other:?}"),
        }
        assert!(started.elapsed() < DEADLINE, "the follower never applied the deposit");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_learner_joins_catches_up_becomes_a_voter_and_carries_the_quorum() {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_outlast"));
    let mut cluster = ProcessCluster::loopback(binary, &["aws", "gcp", "azure", "aws"], &[4], |_| {}).unwrap();
    cluster.spawn_all().unwrap();
    let voters = [1, 2, 3];
    cluster.leader(&voters, DEADLINE).await.expect("a leader");
    for account in 1..=10 {
        assert!(matches!(submit(&cluster, 2, CommandBody::CreateAccount { account }).await, Outcome::Applied(_)));
    }
    let pki = cluster.state_dir().pki().dir;
    let admin = |args: &[&str]| {
        let node = ["admin", "--node", cluster.client_addr(2), "--pki", pki.to_str().unwrap()];
        let output = Command::new(binary).args(node).args(args).output().unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr),
        )
    };
    // Without the operator's certificate, nothing: the client port speaks only mutual TLS.
    let clear = Command::new(binary).args(["admin", "--node", cluster.client_addr(2), "status"]).output().unwrap();
    assert!(!clear.status.success(), "a clear-text admin call was answered");
    let config4 = cluster.config(4);
    let (ok, text) = admin(&["add-learner", "--config", config4.to_str().unwrap()]);
    assert!(ok, "{text}");
    assert!(cluster.converged(&[1, 2, 3, 4], DEADLINE).await, "the learner did not catch up");
    // As a read replica the learner answers follower reads from its own state.
    {
        use outlast_cluster::protocol::{Answer, ClientReply, ClientRequest, Query};
        let read = ClientRequest::Read { query: Query::Digest, follower_ok: true, forwarded: false };
        let digest_of = |reply| match reply {
            ClientReply::Read { answer: Answer::Digest(digest), node } => (digest, node),
            other => panic!("{other:?}"),
        };
        let (learner_digest, node) = digest_of(cluster.call(4, &read, DEADLINE).await.unwrap());
        let (voter_digest, _) = digest_of(cluster.call(1, &read, DEADLINE).await.unwrap());
        assert_eq!((learner_digest, node), (voter_digest, 4));
    }

    // Two voters over two providers cannot survive losing either: refused.
    let (ok, text) = admin(&["voters", "3,4"]);
    assert!(!ok && text.contains("would not survive"), "{text}");
    // Node 4 replaces node 1 as a voter (providers gcp, azure, aws).
    let (ok, text) = admin(&["voters", "2,3,4"]);
    assert!(ok, "{text}");
    // Every administration request is in the replicated audit trail under the operator's
    // certificate name, the refused one included (recorded before it ran).
    let token = outlast_lab::processes::OPERATOR_TOKEN;
    let api = outlast_client::Client::new(
        vec![format!("http://{}", cluster.api_addr(3))],
        None,
        outlast_client::FailoverPolicy::default(),
    );
    let trail = api.operator(token, "GET", "/operator/v1/audit/actions", &[("limit", "10".into())]).await.unwrap();
    let notes: Vec<(String, String)> = trail["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| {
            Some((r["operator"].as_str()?.to_string(), r["action"]["AdminNote"]["action"].as_str()?.to_string()))
        })
        .collect();
    let asked: Vec<String> =
        notes.iter().map(|(_, action)| action.split(' ').take(3).collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(asked, ["set voters 2,3,4", "set voters 3,4", "add learner 4"], "newest first: {trail}");
    assert!(notes.iter().all(|(operator, _)| operator == outlast_lab::up::LAB_OPERATOR), "{trail}");

    // With 1 and 2 gone, only 3 and 4 are left: a majority of {2,3,4} only because 4 votes now.
    cluster.kill(1);
    cluster.kill(2);
    for account in 11..=15 {
        assert!(matches!(submit(&cluster, 4, CommandBody::CreateAccount { account }).await, Outcome::Applied(_)));
    }
    assert!(cluster.converged(&[3, 4], DEADLINE).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkills_during_heavy_writes_lose_no_acknowledged_deposit_and_apply_none_twice() {
    use outlast_cluster::protocol::{call_with, Answer, ClientReply, ClientRequest, Query};
    use std::sync::{Arc, Mutex};
    let mut cluster = cluster(&["aws", "gcp", "azure"], |_| {});
    cluster.spawn_all().unwrap();
    let all = cluster.ids();
    cluster.leader(&all, DEADLINE).await.expect("a leader");
    submit(&cluster, 1, CommandBody::CreateAsset { symbol: "USDT".into(), decimals: 2 }).await;
    submit(&cluster, 1, CommandBody::CreateAccount { account: 1 }).await;

    // Four writers deposit 1 unit each time, each deposit with its own chain transaction id,
    // through every node in turn, recording what was acknowledged and what was attempted.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let attempted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let deposit = |tx: String| CommandBody::Deposit { account: 1, asset: 0, amount: 1, chain_tx: tx };
    let mut writers = Vec::new();
    for writer in 0..4u64 {
        let addrs: Vec<(u64, String)> = all.iter().map(|&id| (id, cluster.client_addr(id).to_string())).collect();
        let dialer = cluster.dialer().clone();
        let (acknowledged, attempted, stop) = (acknowledged.clone(), attempted.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let tx = format!("w{writer}-{n}");
                let (id, addr) = &addrs[(n as usize + writer as usize) % addrs.len()];
                attempted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let request = ClientRequest::Submit {
                    body: deposit(tx.clone()),
                    forwarded: false,
                    operator_token: None,
                    operator: None,
                };
                if let Ok(ClientReply::Outcome { outcome: Outcome::Applied(_), .. }) =
                    call_with(&dialer, addr, &outlast_cluster::Identity::Node(*id), &request, Duration::from_secs(2))
                        .await
                {
                    acknowledged.lock().unwrap().push(tx);
                }
            }
        }));
    }
    // Three rounds: SIGKILL a node (the leader on even rounds), let writes continue, restart it.
    for round in 0..3 {
        let started = Instant::now();
        while acknowledged.lock().unwrap().len() < 50 * (round + 1) {
            assert!(started.elapsed() < DEADLINE, "writes stalled before round {round}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let leader = cluster.leader(&all, DEADLINE).await.unwrap();
        let victim = if round % 2 == 0 { leader } else { all.iter().copied().find(|&id| id != leader).unwrap() };
        cluster.kill(victim);
        let before = acknowledged.lock().unwrap().len();
        let started = Instant::now();
        while acknowledged.lock().unwrap().len() < before + 30 {
            assert!(started.elapsed() < DEADLINE, "writes did not resume after killing node {victim}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cluster.spawn(victim, &[]).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for writer in writers {
        writer.await.unwrap();
    }
    assert!(cluster.converged(&all, DEADLINE).await, "replicas did not converge");

    // Every replica's state passes the engine's invariants (conservation included).
    for id in &all {
        let request = ClientRequest::Read { query: Query::Invariants, follower_ok: true, forwarded: false };
        match cluster.call(*id, &request, DEADLINE).await.unwrap() {
            ClientReply::Read { answer: Answer::Invariants(result), .. } => assert_eq!(result, Ok(()), "node {id}"),
            other => panic!("{other:?}"),
        }
    }
    // The balance counts each applied deposit once: at least every acknowledged one, at most
    // every attempted one (an unanswered attempt may or may not have applied).
    let read =
        ClientRequest::Read { query: Query::Balance { account: 1, asset: 0 }, follower_ok: false, forwarded: false };
    let balance = match cluster.call(1, &read, DEADLINE).await.unwrap() {
        ClientReply::Read { answer: Answer::Balance(Some(balance)), .. } => balance.available,
        other => panic!("{other:?}"),
    };
    let acknowledged = acknowledged.lock().unwrap().clone();
    let attempted = attempted.load(std::sync::atomic::Ordering::Relaxed);
    assert!(acknowledged.len() >= 150);
    assert!(balance >= acknowledged.len() as u64 && balance <= attempted, "balance {balance}");
    // Retrying an acknowledged deposit changes nothing.
    for tx in acknowledged.iter().take(50) {
        assert!(matches!(submit(&cluster, 2, deposit(tx.clone())).await, Outcome::Duplicate(_)), "{tx} applied twice");
    }
    match cluster.call(3, &read, DEADLINE).await.unwrap() {
        ClientReply::Read { answer: Answer::Balance(Some(after)), .. } => assert_eq!(after.available, balance),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_moves_to_the_preferred_region_and_returns_after_an_outage_there() {
    // Node 1 (aws) initialises and leads first; the preferred region is gcp's (node 2).
    let mut cluster = cluster(&["aws", "gcp", "azure"], |c| c.preferred_region = Some("r-gcp".into()));
    cluster.spawn_all().unwrap();
    let all = cluster.ids();
    let started = Instant::now();
    while cluster.leader(&all, DEADLINE).await != Some(2) {
        assert!(started.elapsed() < DEADLINE, "the leader never moved to the preferred region");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.kill(2);
    let elsewhere = cluster.leader(&[1, 3], DEADLINE).await.expect("a leader outside the preferred region");
    assert_ne!(elsewhere, 2);
    assert!(matches!(submit(&cluster, 1, CommandBody::CreateAccount { account: 1 }).await, Outcome::Applied(_)));
    cluster.spawn(2, &[]).unwrap();
    let started = Instant::now();
    while cluster.leader(&all, DEADLINE).await != Some(2) {
        assert!(started.elapsed() < DEADLINE, "the leader did not return to the preferred region");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_file_disagrees_with_the_cluster_reports_it() {
    let mut cluster = cluster(&["aws", "gcp", "azure"], |_| {});
    // Node 3's own file says it is in another zone than the other nodes' files (and so the
    // initial membership) say.
    cluster
        .rewrite_config(3, |config| {
            config.zone = "z-azure-9".into();
            for peer in config.peers.iter_mut().filter(|p| p.id == 3) {
                peer.zone = "z-azure-9".into();
            }
        })
        .unwrap();
    cluster.spawn_all().unwrap();
    let all = cluster.ids();
    cluster.leader(&all, DEADLINE).await.expect("a leader");
    let started = Instant::now();
    loop {
        if let Some(status) = cluster.status(3).await {
            if let Some(why) = status.config_mismatch {
                assert!(why.contains("z-azure-3") && why.contains("z-azure-9"), "{why}");
                break;
            }
        }
        assert!(started.elapsed() < DEADLINE, "node 3 never reported the mismatch");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(cluster.status(1).await.unwrap().config_mismatch, None);
}

/// Raft's port and the client port take orders from whoever holds a member's certificate of
/// this cluster (and the client port, from its configured operators), and from nobody else: a
/// forged vote in clear, a certificate from another CA, a valid certificate of a node that is
/// not a member, and a member's certificate of another cluster under the same CA key are all
/// refused, and the cluster does not notice (same term, same leader, same digest). A member's
/// own certificate is answered: the refusals are not a broken listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_raft_and_client_ports_admit_only_this_clusters_members_over_mutual_tls() {
    use outlast_cluster::frame;
    use outlast_cluster::protocol::{call_with, ClientReply, ClientRequest};
    use outlast_cluster::rpc::{Reply, Request};
    use outlast_cluster::{Dialer, TcpDialer};
    use outlast_tls::{write_cluster_pki, Authority, Connector, Identity, PkiFiles, TlsFiles};

    let mut cluster = cluster(&["aws", "gcp", "azure"], |_| {});
    cluster.spawn_all().unwrap();
    let all = cluster.ids();
    let leader = cluster.leader(&all, DEADLINE).await.expect("a leader");
    assert!(matches!(
        submit(&cluster, 1, CommandBody::CreateAsset { symbol: "BTC".into(), decimals: 8 }).await,
        Outcome::Applied(_)
    ));
    let before = cluster.status(leader).await.unwrap();
    let target = cluster.raft_addr(1).to_string();
    let pki = cluster.state_dir().pki();
    let files = |pki: &PkiFiles, who: &Identity| TlsFiles { ca: pki.ca_cert(), cert: pki.cert(who), key: pki.key(who) };
    let client_target = cluster.client_addr(1).to_string();
    let ping = |tls: Option<Connector>| {
        let (target, client_target) = (target.clone(), client_target.clone());
        async move {
            let dialer = TcpDialer { source_ip: None, tls };
            let status = call_with(&dialer, &client_target, &Identity::Node(1), &ClientRequest::Status, DEADLINE).await;
            let mut stream = dialer.dial(&target, &Identity::Node(1)).await?;
            frame::write(&mut stream, &Request::Ping).await?;
            let pong = frame::read::<_, Reply>(&mut stream).await;
            // Both listeners must agree: one error or one answer for the pair.
            match (status, pong) {
                (Ok(ClientReply::Status(_)), Ok(Some(pong))) => Ok(Some(pong)),
                (Err(e), Ok(None) | Err(_)) => Err(e),
                (status, pong) => panic!("the listeners disagree: client port {status:?}, Raft port {pong:?}"),
            }
        }
    };

    // The positive control: node 2's own certificate.
    let member = Connector::new("loopback", &files(&pki, &Identity::Node(2))).unwrap();
    assert!(matches!(ping(Some(member)).await, Ok(Some(Reply::Pong(Some(_))))));

    // In clear: a vote for a far higher term, as an attacker who read the term off /metrics.
    let forged = openraft::raft::VoteRequest::new(openraft::Vote::new(before.term + 100, 9), None);
    let mut clear = tokio::net::TcpStream::connect(&target).await.unwrap();
    let answered = async {
        frame::write(&mut clear, &Request::Vote(forged)).await?;
        frame::read::<_, Reply>(&mut clear).await
    };
    assert!(!matches!(answered.await, Ok(Some(_))), "a plaintext vote was answered");
    assert!(!matches!(ping(None).await, Ok(Some(_))), "a plaintext ping was answered");

    // Another CA's certificate for "node 2 of loopback" (the dialler trusts our CA, so only the
    // listener's check can refuse it).
    let scratch = tempfile::tempdir().unwrap();
    let other = write_cluster_pki(&scratch.path().join("other"), "loopback", &[Identity::Node(2)]).unwrap();
    let stranger =
        Connector::new("loopback", &TlsFiles { ca: pki.ca_cert(), ..files(&other, &Identity::Node(2)) }).unwrap();
    assert!(ping(Some(stranger)).await.is_err(), "another CA's certificate got in");

    // This CA, a node that is not a member; and a member's name in another cluster.
    let ca_key = std::fs::read_to_string(pki.ca_key()).unwrap();
    for (cluster_id, id) in [("loopback", 9), ("prod", 2)] {
        let ca = Authority::from_key_pem(cluster_id, &ca_key).unwrap();
        let issued = PkiFiles::in_dir(&scratch.path().join(format!("{cluster_id}-{id}")));
        std::fs::create_dir_all(&issued.dir).unwrap();
        issued.write(&Identity::Node(id), &ca.issue(&Identity::Node(id)).unwrap()).unwrap();
        let connector =
            Connector::new("loopback", &TlsFiles { ca: pki.ca_cert(), ..files(&issued, &Identity::Node(id)) }).unwrap();
        assert!(ping(Some(connector)).await.is_err(), "node {id} of {cluster_id} got in");
    }

    // Nobody noticed: same term, same leader, the same state everywhere once caught up.
    assert_eq!(cluster.leader(&all, DEADLINE).await, Some(leader));
    let after = cluster.status(leader).await.unwrap();
    assert_eq!(after.term, before.term, "the forged vote moved the term");
    assert_eq!(after.digest, before.digest);
    for id in all {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let status = cluster.status(id).await.unwrap();
            if status.last_applied == after.last_applied {
                assert_eq!(status.digest, after.digest, "node {id}");
                break;
            }
            assert!(Instant::now() < deadline, "node {id} did not catch up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A member's certificate gives account requests, never money or control: a deposit, an API key
/// registration and an admin request sent with node 2's certificate (as a stolen certificate or
/// a compromised member would) are refused at every node, follower or leader, and the state does
/// not change; the same deposit from the lab's operator, sent to a follower that relays it, is
/// applied, and a member's account request is served (the refusals are the rule, not a broken
/// path).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_certificate_alone_gives_account_requests_not_money_or_control() {
    use outlast_cluster::protocol::{call_with, AdminRequest, ClientReply, ClientRequest};
    use outlast_cluster::TcpDialer;
    use outlast_engine::{AccountAction, AccountRequest, ClientId};
    use outlast_tls::{Connector, Identity, TlsFiles};

    let mut cluster = cluster(&["aws", "gcp", "azure"], |_| {});
    cluster.spawn_all().unwrap();
    let all = cluster.ids();
    let leader = cluster.leader(&all, DEADLINE).await.expect("a leader");
    let follower = all.iter().copied().find(|id| *id != leader).unwrap();
    assert!(matches!(
        submit(&cluster, leader, CommandBody::CreateAsset { symbol: "USDT".into(), decimals: 6 }).await,
        Outcome::Applied(_)
    ));
    assert!(matches!(submit(&cluster, leader, CommandBody::CreateAccount { account: 7 }).await, Outcome::Applied(_)));
    let deposit = |tx: &str| CommandBody::Deposit { account: 7, asset: 0, amount: 1_000_000, chain_tx: tx.into() };

    let pki = cluster.state_dir().pki();
    let me = Identity::Node(2);
    let files = TlsFiles { ca: pki.ca_cert(), cert: pki.cert(&me), key: pki.key(&me) };
    let member = TcpDialer::tls(Connector::new("loopback", &files).unwrap());
    let submit_as_member =
        |body: CommandBody| ClientRequest::Submit { body, forwarded: false, operator_token: None, operator: None };
    let forged = [
        submit_as_member(deposit("forged")),
        submit_as_member(CommandBody::RegisterApiKey(outlast_engine::ApiKeySpec {
            key: "k".repeat(16),
            account: 7,
            credential: outlast_engine::KeyCredential::Ed25519 { public_key: [1; 32] },
            permissions: outlast_engine::KeyPermissions::default(),
            ip_allowlist: Vec::new(),
        })),
        ClientRequest::Submit {
            body: deposit("forged-relay"),
            forwarded: true,
            operator_token: Some("guess".repeat(8)),
            operator: Some("mallory".into()),
        },
        ClientRequest::Admin { request: AdminRequest::Snapshot, forwarded: false, operator_token: None },
    ];
    let before = cluster.status(leader).await.unwrap();
    for id in all.clone() {
        for request in &forged {
            let reply = call_with(&member, cluster.client_addr(id), &Identity::Node(id), request, DEADLINE).await;
            assert!(matches!(reply, Ok(ClientReply::Forbidden(_))), "node {id} answered {reply:?} to {request:?}");
        }
    }
    let after = cluster.status(leader).await.unwrap();
    assert_eq!((after.last_applied, &after.digest), (before.last_applied, &before.digest), "a refusal changed state");

    // The operator's deposit, relayed by a follower to the leader, applies.
    assert!(matches!(submit(&cluster, follower, deposit("real")).await, Outcome::Applied(_)));
    // A member's account request is served (the engine answers it; no market 9 to cancel in).
    let request_id = ClientId::new("member-1").unwrap();
    let cancel =
        AccountRequest { account: 7, request_id, request_ts_ms: 1, action: AccountAction::CancelAll { market: 9 } };
    let reply = call_with(
        &member,
        cluster.client_addr(follower),
        &Identity::Node(follower),
        &submit_as_member(CommandBody::Account(cancel)),
        DEADLINE,
    )
    .await;
    assert!(matches!(reply, Ok(ClientReply::Outcome { .. })), "{reply:?}");
}

/// One host that keeps hundreds of idle sockets open against a node's Raft and client ports
/// (never starting a TLS handshake, reconnecting as they are closed) costs the cluster nothing:
/// the node sheds what is over its per-source limit at once instead of letting it fill the
/// listener, so when the leader dies the new leader still connects to it, and the node keeps
/// applying what the cluster commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_idle_sockets_from_one_host_leaves_the_node_in_the_cluster() {
    let mut cluster = cluster(&["aws", "gcp", "azure"], |_| {});
    cluster.spawn_all().unwrap();
    let all = cluster.ids();
    let leader = cluster.leader(&all, DEADLINE).await.expect("a leader");
    let flooded = *all.iter().find(|&&id| id != leader).unwrap();
    let third = *all.iter().find(|&&id| id != leader && id != flooded).unwrap();

    // More sockets than the whole Raft listener serves (`CONNECTIONS_MAX`), from 127.0.0.99.
    let targets = [cluster.raft_addr(flooded).to_string(), cluster.client_addr(flooded).to_string()];
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let opened = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let flood = {
        let (stop, opened) = (stop.clone(), opened.clone());
        tokio::spawn(async move {
            let mut open = std::collections::VecDeque::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for target in &targets {
                    let socket = tokio::net::TcpSocket::new_v4().unwrap();
                    socket.bind("127.0.0.99:0".parse().unwrap()).unwrap();
                    if let Ok(stream) = socket.connect(target.parse().unwrap()).await {
                        open.push_back(stream);
                        opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
                while open.len() > 2 * (outlast_cluster::CONNECTIONS_MAX + 44) {
                    open.pop_front();
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    // Wait until the flood has opened more sockets than the whole Raft listener serves.
    let filled = Instant::now() + DEADLINE;
    while opened.load(std::sync::atomic::Ordering::Relaxed) <= 2 * outlast_cluster::CONNECTIONS_MAX {
        assert!(Instant::now() < filled, "the flood could not open its sockets");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A member opening a new connection from elsewhere is served at once, again and again.
    {
        use outlast_cluster::frame;
        use outlast_cluster::rpc::{Reply, Request};
        use outlast_cluster::{Dialer, Identity, TcpDialer};
        let pki = cluster.state_dir().pki();
        let me = Identity::Node(third);
        let files = outlast_tls::TlsFiles { ca: pki.ca_cert(), cert: pki.cert(&me), key: pki.key(&me) };
        let member = TcpDialer::tls(outlast_tls::Connector::new("loopback", &files).unwrap());
        for _ in 0..5 {
            let mut stream = member.dial(cluster.raft_addr(flooded), &Identity::Node(flooded)).await.unwrap();
            frame::write(&mut stream, &Request::Ping).await.unwrap();
            let answer = tokio::time::timeout(DEADLINE, frame::read::<_, Reply>(&mut stream)).await.unwrap();
            assert!(matches!(answer, Ok(Some(Reply::Pong(_)))), "{answer:?}");
        }
    }

    // The leader dies: a new one must reach the flooded node (two of three make the quorum).
    cluster.kill(leader);
    let survivors = [flooded, third];
    let new_leader = cluster.leader(&survivors, DEADLINE).await.expect("a new leader");
    for account in 1..=20 {
        assert!(matches!(submit(&cluster, third, CommandBody::CreateAccount { account }).await, Outcome::Applied(_)));
    }
    let committed = cluster.status(new_leader).await.unwrap().last_applied;
    let deadline = Instant::now() + DEADLINE;
    loop {
        // Asked over the lab's own connection from 127.0.0.1: another source than the flood.
        if cluster.status(flooded).await.is_some_and(|s| s.last_applied >= committed) {
            break;
        }
        assert!(Instant::now() < deadline, "the flooded node stopped applying what the cluster commits");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    flood.await.unwrap();
}

/// Every node's certificate re-issued by the CA on disk and each node sent SIGHUP while
/// deposits flow through the leader, one attempt each: no write fails, nobody is elected (the
/// term stays), and a new connection to each node is shown its new certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_rotate_under_load_without_an_election_or_a_failed_write() {
    use std::sync::atomic::{AtomicBool, Ordering};

    use outlast_cluster::protocol::{ClientReply, ClientRequest};
    use outlast_tls::{Authority, Connector, Identity, TlsFiles};
    use rustls::pki_types::pem::PemObject;

    let mut cluster = cluster(&["aws", "gcp", "azure"], |_| {});
    cluster.spawn_all().unwrap();
    let all = cluster.ids();
    let leader = cluster.leader(&all, DEADLINE).await.expect("a leader");
    assert!(matches!(
        submit(&cluster, leader, CommandBody::CreateAsset { symbol: "USDT".into(), decimals: 6 }).await,
        Outcome::Applied(_)
    ));
    assert!(matches!(submit(&cluster, leader, CommandBody::CreateAccount { account: 7 }).await, Outcome::Applied(_)));
    let before = cluster.status(leader).await.unwrap();
    let pki = cluster.state_dir().pki();
    let ca = Authority::from_key_pem("loopback", &std::fs::read_to_string(pki.ca_key()).unwrap()).unwrap();
    let files = |who: &Identity| TlsFiles { ca: pki.ca_cert(), cert: pki.cert(who), key: pki.key(who) };

    // The certificate node `id` shows a new connection now.
    let shown = |id: u64| {
        let (addr, files) = (cluster.raft_addr(id).to_string(), files(&Identity::Node(if id == 1 { 2 } else { 1 })));
        async move {
            let connector = Connector::new("loopback", &files).ok()?;
            let tcp = tokio::net::TcpStream::connect(&addr).await.ok()?;
            let stream = connector.connect(tcp, &Identity::Node(id)).await.ok()?;
            Some(stream.get_ref().1.peer_certificates()?[0].to_vec())
        }
    };
    let on_disk =
        |id: u64| rustls::pki_types::CertificateDer::from_pem_file(pki.cert(&Identity::Node(id))).unwrap().to_vec();

    let rotated = AtomicBool::new(false);
    let load = async {
        let (mut applied, mut failed, mut after_rotation) = (0u32, Vec::new(), 0u32);
        for n in 0.. {
            let body = CommandBody::Deposit { account: 7, asset: 0, amount: 1, chain_tx: format!("rotation-{n}") };
            let request = ClientRequest::Submit { body, forwarded: false, operator_token: None, operator: None };
            match cluster.call(leader, &request, Duration::from_secs(2)).await {
                Ok(ClientReply::Outcome { outcome: Outcome::Applied(_), .. }) => applied += 1,
                other => failed.push(format!("{other:?}")),
            }
            if rotated.load(Ordering::SeqCst) {
                after_rotation += 1;
                if after_rotation >= 50 {
                    break;
                }
            }
            assert!(n < 100_000, "the rotation never finished");
        }
        (applied, failed)
    };
    let rotate = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        for &id in &all {
            pki.write(&Identity::Node(id), &ca.issue(&Identity::Node(id)).unwrap()).unwrap();
            cluster.signal(id, "HUP");
        }
        for &id in &all {
            let started = Instant::now();
            while shown(id).await != Some(on_disk(id)) {
                assert!(started.elapsed() < DEADLINE, "node {id} still shows its old certificate");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        rotated.store(true, Ordering::SeqCst);
    };
    let ((applied, failed), ()) = tokio::join!(load, rotate);
    assert!(failed.is_empty(), "{} of {} writes failed: {:?}", failed.len(), applied as usize + failed.len(), failed);
    assert!(applied >= 50);
    let after = cluster.status(leader).await.unwrap();
    assert_eq!(after.term, before.term, "an election happened during the rotation");
    assert_eq!(cluster.leader(&all, DEADLINE).await, Some(leader));
    // And the nodes still talk to each other over the new certificates: a write commits.
    assert!(matches!(submit(&cluster, 3, CommandBody::CreateAccount { account: 8 }).await, Outcome::Applied(_)));
}

/// libfaketime (Debian's `libfaketime`): shifts one process's wall clock, as a badly
/// synchronised host would, without touching the monotonic clock.
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_whose_clock_is_off_stops_leading_and_the_others_carry_on() {
    assert!(std::path::Path::new(LIBFAKETIME).exists(), "{LIBFAKETIME}: apt-get install libfaketime");
    let mut cluster = cluster(&["aws", "gcp", "azure"], |_| {});
    // Node 1's OS clock runs 5 s ahead of the others'; it initialises the cluster, so it is
    // the first in line to lead.
    cluster.set_launcher(
        1,
        ["env", &format!("LD_PRELOAD={LIBFAKETIME}"), "FAKETIME=+5s", "FAKETIME_DONT_FAKE_MONOTONIC=1"]
            .map(String::from)
            .to_vec(),
    );
    cluster.spawn_all().unwrap();
    let all = cluster.ids();
    cluster.leader(&all, DEADLINE).await.expect("a leader");

    // Within a few samples node 1 knows its clock is off and steps back: the leader is one of
    // the others, and stays so.
    let started = Instant::now();
    loop {
        let leaders: Vec<Option<u64>> = {
            let mut seen = Vec::new();
            for id in [2, 3] {
                seen.push(cluster.status(id).await.and_then(|s| s.leader));
            }
            seen
        };
        if leaders.iter().all(|l| l.is_some_and(|l| l != 1)) {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "node 1 still leads or no leader: {leaders:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let held = Instant::now();
    while held.elapsed() < Duration::from_secs(3) {
        let leader = cluster.leader(&[2, 3], DEADLINE).await;
        assert!(leader.is_some_and(|l| l != 1), "node 1 came back as leader: {leader:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Writes through node 1 still commit (it forwards them to the leader).
    for account in 1..=5 {
        assert!(matches!(submit(&cluster, 1, CommandBody::CreateAccount { account }).await, Outcome::Applied(_)));
    }
    // And it says why, in its metrics: its skew, and each peer's offset as it sees it.
    let token = cluster.state_dir().read_token().unwrap();
    let transport = outlast_client::Transport::new(Duration::from_secs(2), outlast_client::public_roots());
    let auth = format!("Bearer {token}");
    let metrics = match transport
        .send(
            "GET",
            &format!("http://{}/metrics", cluster.api_addr(1)),
            &[("authorization", &auth)],
            String::new(),
            DEADLINE,
        )
        .await
    {
        outlast_client::Attempt::Answer { status: 200, body } => body,
        other => panic!("metrics of node 1: {other:?}"),
    };
    let skew: f64 = metrics
        .lines()
        .find(|l| l.starts_with("outlast_clock_skew_seconds{"))
        .unwrap_or_else(|| panic!("{metrics}"))
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((4.0..6.0).contains(&skew), "node 1's skew is about +5 s: {skew}");
    assert_eq!(metrics.lines().filter(|l| l.starts_with("outlast_clock_offset_seconds{")).count(), 2, "{metrics}");
}
