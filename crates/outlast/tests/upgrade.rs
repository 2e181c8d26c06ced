//! A rolling upgrade of real `outlast node` processes under load: from the previous data
//! format to the current one, one node at a time, with no write failing; the new command
//! kinds wait for every voter and for the operator's finalise; a node put back on the older
//! build refuses the newer data and exits with code 2 instead of crash-looping.
//!
//! The previous build is this binary capped at the previous format
//! (`OUTLAST_TESTING_FORMAT_MAX`): it reads, writes and refuses exactly as a build of that
//! format does. Every wait is bounded and on a condition.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outlast_cluster::format::TESTING_FORMAT_MAX_ENV;
use outlast_cluster::protocol::{call_with, Answer, ClientReply, ClientRequest, Query};
use outlast_cluster::Identity;
use outlast_engine::{CommandBody, Outcome, Summary, FORMAT_CURRENT, FORMAT_FIRST};
use outlast_lab::processes::ProcessCluster;

const DEADLINE: Duration = Duration::from_secs(30);
const PREVIOUS: u32 = FORMAT_CURRENT - 1;
const ACCOUNT: u64 = 7;

fn submit_request(body: CommandBody) -> ClientRequest {
    ClientRequest::Submit { body, forwarded: false, operator_token: None, operator: None }
}

/// Deposits of 1 unit, one after another, each through the next node in turn and sent again
/// (to the next node) until it is acknowledged: what a client that fails over does. A deposit is
/// idempotent by its chain transaction id, so a repeat cannot credit twice.
struct Load {
    acknowledged: Arc<AtomicU64>,
    retries: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Result<(), String>>,
}

fn start_load(cluster: &ProcessCluster) -> Load {
    let dialer = cluster.dialer().clone();
    let nodes: Vec<(u64, String)> = cluster.ids().into_iter().map(|id| (id, cluster.client_addr(id).into())).collect();
    let (acknowledged, retries, stop) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
    let (acked, retried, stopping) = (acknowledged.clone(), retries.clone(), Arc::clone(&stop));
    let task = tokio::spawn(async move {
        let mut next_node = 0;
        for n in 0u64.. {
            if stopping.load(Ordering::Relaxed) {
                return Ok(());
            }
            let body = CommandBody::Deposit { account: ACCOUNT, asset: 0, amount: 1, chain_tx: format!("tx-{n}") };
            let started = Instant::now();
            loop {
                let (id, addr) = &nodes[next_node % nodes.len()];
                next_node += 1;
                let reply =
                    call_with(&dialer, addr, &Identity::Node(*id), &submit_request(body.clone()), DEADLINE).await;
                match reply {
                    Ok(ClientReply::Outcome { outcome: Outcome::Applied(_) | Outcome::Duplicate(_), .. }) => break,
                    Ok(ClientReply::Outcome { outcome, .. }) => return Err(format!("deposit {n}: {outcome:?}")),
                    // Not done or not known to be done (a node stopping, an election): again.
                    _ if started.elapsed() < DEADLINE => {
                        retried.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    other => return Err(format!("deposit {n} not acknowledged within {DEADLINE:?}: {other:?}")),
                }
            }
            acked.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    Load { acknowledged, retries, stop, task }
}

async fn status(cluster: &ProcessCluster, id: u64) -> outlast_cluster::protocol::NodeStatus {
    cluster.status(id).await.unwrap_or_else(|| panic!("node {id} does not answer"))
}

/// Waits until node `id` has applied at least `index`.
async fn caught_up(cluster: &ProcessCluster, id: u64, index: u64) {
    let started = Instant::now();
    while cluster.status(id).await.and_then(|s| s.last_applied).unwrap_or(0) < index {
        assert!(started.elapsed() < DEADLINE, "node {id} did not catch up to {index}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the load has made `more` further writes.
async fn progress(load: &Load, more: u64) {
    let target = load.acknowledged.load(Ordering::Relaxed) + more;
    let started = Instant::now();
    while load.acknowledged.load(Ordering::Relaxed) < target {
        assert!(!load.task.is_finished(), "the load stopped");
        assert!(started.elapsed() < DEADLINE, "the load made no progress");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_upgrade_under_load_fails_no_write_and_finalising_waits_for_every_voter() {
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_outlast"));
    let mut cluster = ProcessCluster::loopback(binary, &["aws", "gcp", "azure"], &[], |_| {}).unwrap();
    let previous_build = vec!["env".to_string(), format!("{TESTING_FORMAT_MAX_ENV}={PREVIOUS}")];
    let current_build = vec!["env".to_string()];
    for id in cluster.ids() {
        cluster.set_launcher(id, previous_build.clone());
    }
    cluster.spawn_all().unwrap();
    let all = cluster.ids();
    cluster.leader(&all, DEADLINE).await.expect("a leader");
    for body in [
        CommandBody::CreateAsset { symbol: "USDT".into(), decimals: 6 },
        CommandBody::CreateAccount { account: ACCOUNT },
    ] {
        let outcome = cluster.submit(all[0], body, DEADLINE).await;
        assert!(matches!(outcome, Some(Outcome::Applied(_))), "{outcome:?}");
    }
    // The cluster runs the previous format (finalised step by step, as the previous build's
    // operator did).
    for format in (FORMAT_FIRST + 1)..=PREVIOUS {
        let outcome = cluster.submit(all[0], CommandBody::FinalizeFormat { format }, DEADLINE).await;
        assert_eq!(outcome, Some(Outcome::Applied(Summary::FormatFinalized(format))));
    }
    for id in &all {
        let s = status(&cluster, *id).await;
        assert_eq!((s.format_max, s.format), (PREVIOUS, PREVIOUS), "node {id}");
    }
    // A command kind of the current format.
    let new_kind = CommandBody::ChainSetup {
        chain: "devnet".into(),
        next_nonce: 0,
        checkpoint_block: 0,
        checkpoint_hash: [0; 32],
    };
    let finalize = CommandBody::FinalizeFormat { format: FORMAT_CURRENT };
    // The previous build refuses a frame carrying the new kind before decoding it, and says so.
    let refused = cluster.call(all[0], &submit_request(new_kind.clone()), DEADLINE).await.unwrap();
    assert!(
        matches!(&refused, ClientReply::NotEnabled(why) if why.contains("newer than this build reads")),
        "{refused:?}"
    );

    let load = start_load(&cluster);
    progress(&load, 20).await;

    // Roll: followers first, the leader last, each back and caught up before the next goes.
    let leader = cluster.leader(&all, DEADLINE).await.unwrap();
    let mut order: Vec<u64> = all.iter().copied().filter(|&id| id != leader).collect();
    order.push(leader);
    for (step, &id) in order.iter().enumerate() {
        let before = status(&cluster, *order.iter().find(|&&other| other != id).unwrap()).await;
        assert!(cluster.terminate(id, DEADLINE).unwrap().success(), "node {id} did not stop cleanly");
        progress(&load, 5).await; // the others carry the load meanwhile
        cluster.set_launcher(id, current_build.clone());
        cluster.spawn(id, &[]).unwrap();
        caught_up(&cluster, id, before.last_applied.unwrap()).await;
        assert_eq!(status(&cluster, id).await.format_max, FORMAT_CURRENT);
        progress(&load, 20).await;
        if step == 0 {
            // Mixed versions: the new kind is still refused (the cluster runs the previous
            // format), and so is finalising, naming the voters on the previous build.
            let reply = cluster.call(id, &submit_request(new_kind.clone()), DEADLINE).await.unwrap();
            assert!(
                matches!(&reply, ClientReply::NotEnabled(why) if why.contains("finalise the upgrade")),
                "{reply:?}"
            );
            let reply = cluster.call(id, &submit_request(finalize.clone()), DEADLINE).await.unwrap();
            let ClientReply::NotEnabled(why) = &reply else { panic!("finalising with old voters: {reply:?}") };
            for old in &order[1..] {
                assert!(why.contains(&format!("node {old} runs a build that reads up to format {PREVIOUS}")), "{why}");
            }
        }
    }

    // Every voter runs the current build: the operator finalises, and the new kind works.
    let leader = cluster.leader(&all, DEADLINE).await.unwrap();
    let finalized = cluster.submit(leader, finalize.clone(), DEADLINE).await;
    assert_eq!(finalized, Some(Outcome::Applied(Summary::FormatFinalized(FORMAT_CURRENT))));
    progress(&load, 20).await;
    assert_eq!(cluster.submit(leader, new_kind, DEADLINE).await, Some(Outcome::Applied(Summary::ChainUpdated(0))));

    // Back to the previous build on one follower: it refuses the newer data and exits with 2
    // (a supervisor does not restart it), saying why; on the current build it rejoins.
    let follower = *all.iter().find(|&&id| id != leader).unwrap();
    assert!(cluster.terminate(follower, DEADLINE).unwrap().success());
    let downgraded = std::process::Command::new(binary)
        .env(TESTING_FORMAT_MAX_ENV, PREVIOUS.to_string())
        .args(["node", "--config"])
        .arg(cluster.config(follower))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&downgraded.stderr);
    assert_eq!(downgraded.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("data format {FORMAT_CURRENT}, newer than this build reads")), "{stderr}");
    cluster.spawn(follower, &[]).unwrap();
    progress(&load, 20).await;

    load.stop.store(true, Ordering::Relaxed);
    load.task.await.unwrap().expect("every write acknowledged");
    let acknowledged = load.acknowledged.load(Ordering::Relaxed);
    eprintln!("{acknowledged} deposits acknowledged, {} sent again", load.retries.load(Ordering::Relaxed));
    assert!(cluster.converged(&all, DEADLINE).await, "replicas did not converge");
    // Exactly once: the balance is the number of deposits acknowledged.
    let read = ClientRequest::Read {
        query: Query::Balance { account: ACCOUNT, asset: 0 },
        follower_ok: false,
        forwarded: false,
    };
    let reply = cluster.call(leader, &read, DEADLINE).await.unwrap();
    let ClientReply::Read { answer: Answer::Balance(Some(balance)), .. } = reply else { panic!("{reply:?}") };
    assert_eq!(balance.available + balance.locked, acknowledged);
    let formats: BTreeMap<u64, (u32, u32)> = {
        let mut seen = BTreeMap::new();
        for id in &all {
            let s = status(&cluster, *id).await;
            seen.insert(*id, (s.format_max, s.format));
        }
        seen
    };
    assert!(formats.values().all(|&f| f == (FORMAT_CURRENT, FORMAT_CURRENT)), "{formats:?}");
}
