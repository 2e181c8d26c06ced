//! Money on a chain, measured: the multi-provider pool's reads while one of three providers
//! dies, and custody's latencies on three `outlast node` processes following the lab's devnet
//! (anvil, a block a second) through three provider proxies.
//!
//! - **RPC failover.** Four readers call `eth_getBalance` through a fresh pool for each phase:
//!   all three upstreams up (the baseline), then the primary refusing connections, then the
//!   primary black-holing requests (the slowest death: nothing answers, nothing refuses). Each
//!   phase counts failed reads and the latency spread; the goal is no failed read and a p99 no
//!   more than the hedge delay above the baseline.
//! - **Withdrawals.** Request → committed and broadcast (state Sent, transaction known) →
//!   confirmed (its receipt agreed after the confirmations), one at a time, with every provider
//!   up, with one down, and with the leader SIGKILLed right after each request.
//! - **Deposits.** From the block that gives a deposit its last confirmation appearing on the
//!   devnet to the credit being readable on the cluster.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outlast_chain::devnet::{anvil_binary, Devnet, CHAIN_ID, DEV_KEYS};
use outlast_chain::pool::{Pool, PoolConfig, UpstreamConfig};
use outlast_chain::proxy::{Fault, FaultProxy};
use outlast_chain::tx::key_from_hex;
use outlast_cluster::protocol::{Answer, ClientReply, ClientRequest, Query};
use outlast_engine::{AccountAction, AccountRequest, ClientId, CommandBody, Outcome};
use outlast_lab::chain::LabChain;
use outlast_lab::processes::{ProcessCluster, OPERATOR_TOKEN};
use serde_json::{json, Value};

use crate::report::quantile;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Seconds each RPC phase reads for.
    pub phase_s: u64,
    /// Withdrawals per custody phase.
    pub withdrawals: usize,
    /// Deposits measured.
    pub deposits: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { phase_s: 8, withdrawals: 6, deposits: 6 }
    }
}

/// Readers in each RPC phase.
const READERS: usize = 4;
const DEADLINE: Duration = Duration::from_secs(90);

/// One RPC phase's reads.
#[derive(Clone, Debug)]
pub struct ReadPhase {
    /// What the upstreams did.
    pub name: &'static str,
    /// Reads made.
    pub reads: u64,
    /// Of which failed.
    pub failed: u64,
    /// Latencies of answered reads, µs, sorted.
    pub latencies_us: Vec<u64>,
}

/// One custody phase's withdrawals.
#[derive(Clone, Debug)]
pub struct WithdrawalPhase {
    /// What was broken.
    pub name: &'static str,
    /// Request → Sent (committed, broadcast), ms.
    pub sent_ms: Vec<f64>,
    /// Request → Confirmed, ms.
    pub confirmed_ms: Vec<f64>,
}

/// The measurements.
#[derive(Clone, Debug)]
pub struct Report {
    /// The settings.
    pub config: Config,
    /// The RPC phases, baseline first.
    pub reads: Vec<ReadPhase>,
    /// The custody phases.
    pub withdrawals: Vec<WithdrawalPhase>,
    /// Last confirmation → credited, ms.
    pub deposit_delays_ms: Vec<f64>,
    /// The pool's shortest hedge delay, ms.
    pub hedge_ms_min: u64,
    /// The devnet's block time and the confirmations asked for.
    pub block_s: u64,
    /// Confirmations.
    pub confirmations: u64,
}

/// Runs it.
pub fn run(binary: &std::path::Path, config: &Config) -> Result<Report, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    runtime.block_on(measure(binary, config))
}

async fn measure(binary: &std::path::Path, config: &Config) -> Result<Report, String> {
    eprintln!("RPC failover: anvil behind three proxies, {READERS} readers, {} s a phase...", config.phase_s);
    let (reads, hedge_ms_min) = read_phases(config).await?;
    eprintln!("custody: three nodes following the lab devnet...");
    let (withdrawals, deposit_delays_ms) = custody_phases(binary, config).await?;
    Ok(Report {
        config: config.clone(),
        reads,
        withdrawals,
        deposit_delays_ms,
        hedge_ms_min,
        block_s: 1,
        confirmations: outlast_lab::chain::CONFIRMATIONS,
    })
}

async fn read_phases(config: &Config) -> Result<(Vec<ReadPhase>, u64), String> {
    let devnet = Devnet::start(&anvil_binary()?).await?;
    let mut proxies = Vec::new();
    for _ in 0..3 {
        proxies.push(
            FaultProxy::start("127.0.0.1:0".parse().expect("an address"), devnet.url())
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    let upstreams: Vec<UpstreamConfig> = ["a", "b", "c"]
        .iter()
        .zip(&proxies)
        .map(|(label, proxy)| UpstreamConfig { label: label.to_string(), url: proxy.url() })
        .collect();
    let hedge_ms_min = PoolConfig::new("devnet", CHAIN_ID, upstreams.clone()).hedge_ms_min;
    let address = key_from_hex(DEV_KEYS[0])?.address();
    let mut phases = Vec::new();
    for (name, fault) in [
        ("all three providers up (baseline)", None),
        ("the primary refuses connections", Some(Fault::Down)),
        ("the primary black-holes requests", Some(Fault::Blackhole)),
    ] {
        for proxy in &proxies {
            proxy.set(Fault::Pass);
        }
        // A fresh pool: it has learnt nothing of the coming fault.
        let pool = Pool::new(PoolConfig::new("devnet", CHAIN_ID, upstreams.clone()))?;
        let _heads = pool.watch_heads();
        let stop = Arc::new(AtomicBool::new(false));
        let (reads, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let latencies = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for _ in 0..READERS {
            let (pool, stop, reads, failed, latencies) =
                (Arc::clone(&pool), Arc::clone(&stop), Arc::clone(&reads), Arc::clone(&failed), Arc::clone(&latencies));
            tasks.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let started = Instant::now();
                    let answer = pool.read("eth_getBalance", json!([address, "latest"])).await;
                    reads.fetch_add(1, Ordering::Relaxed);
                    match answer {
                        Ok(_) => latencies.lock().unwrap().push(started.elapsed().as_micros() as u64),
                        Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }));
        }
        // The fault strikes a second in, on the primary: the upstream that answered most of the
        // reads of the last 300 ms.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let before: Vec<u64> = pool.status().iter().map(|s| s.calls).collect();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after: Vec<u64> = pool.status().iter().map(|s| s.calls).collect();
        let primary = (0..after.len()).max_by_key(|&i| after[i] - before[i]).unwrap_or(0);
        if let Some(fault) = fault {
            proxies[primary].set(fault);
        }
        tokio::time::sleep(Duration::from_secs(config.phase_s.saturating_sub(1).max(1))).await;
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            let _ = task.await;
        }
        let mut latencies_us = std::mem::take(&mut *latencies.lock().unwrap());
        latencies_us.sort_unstable();
        phases.push(ReadPhase {
            name,
            reads: reads.load(Ordering::Relaxed),
            failed: failed.load(Ordering::Relaxed),
            latencies_us,
        });
    }
    Ok((phases, hedge_ms_min))
}

async fn custody_phases(binary: &std::path::Path, config: &Config) -> Result<(Vec<WithdrawalPhase>, Vec<f64>), String> {
    let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = outlast_lab::state_dir::StateDir { root: temp.path().join("chain-lab") };
    outlast_lab::chain::prepare_keys(&dir)?;
    let chain = LabChain::start(&dir).await?;
    let chain_config = chain.config().clone();
    let mut cluster =
        ProcessCluster::loopback(binary, &["aws", "gcp", "azure"], &[], |c| c.chains = vec![chain_config.clone()])
            .map_err(|e| e.to_string())?;
    cluster.spawn_all()?;
    let all = cluster.ids();
    cluster.leader(&all, DEADLINE).await.ok_or("no leader")?;
    let seed = [
        CommandBody::FinalizeFormat { format: 2 },
        CommandBody::FinalizeFormat { format: 3 },
        CommandBody::CreateAsset { symbol: "USDT".into(), decimals: 6 },
        CommandBody::CreateAccount { account: 1 },
    ];
    for body in seed {
        match cluster.submit(all[0], body, DEADLINE).await {
            Some(Outcome::Applied(_) | Outcome::Duplicate(_)) => {}
            other => return Err(format!("seeding: {other:?}")),
        }
    }
    let api = outlast_client::Client::new(
        all.iter().map(|id| format!("http://{}", cluster.api_addr(*id))).collect(),
        None,
        outlast_client::FailoverPolicy::default(),
    );
    until("the chain is set up", || async {
        let view = api.operator(OPERATOR_TOKEN, "GET", "/operator/v1/cluster", &[]).await.ok()?;
        view["chains"][0]["checkpointBlock"].as_u64()
    })
    .await?;

    // Deposits: last confirmation → credited.
    let rpc = chain.rpc();
    let address = chain.deposit_address(1)?;
    let mut deposit_delays_ms = Vec::new();
    let mut credited = 0u64;
    for _ in 0..config.deposits {
        let tx = chain.customer_pays(address, 1_000_000).await?;
        credited += 1_000_000;
        let block =
            rpc.receipt(tx).await.map_err(|e| e.to_string())?.and_then(|r| r.block_number).ok_or("no receipt")?;
        let confirming = block + chain_config.confirmations - 1;
        until("the confirming block", || async { (rpc.block_number().await.ok()? >= confirming).then_some(()) })
            .await?;
        let confirmed_at = Instant::now();
        until("the credit", || async { (balance(&cluster, 1, 0).await? >= credited).then_some(()) }).await?;
        deposit_delays_ms.push(confirmed_at.elapsed().as_secs_f64() * 1e3);
    }

    // Withdrawals, in three phases.
    let customer = format!("{:#x}", outlast_lab::chain::customer());
    let mut phases = Vec::new();
    let mut n = 0;
    for name in ["every provider up", "one provider down", "the leader SIGKILLed after each request"] {
        if name == "one provider down" {
            chain.set_fault(outlast_lab::chain::PROVIDERS[0], Fault::Down)?;
        }
        if name.starts_with("the leader") {
            chain.set_fault(outlast_lab::chain::PROVIDERS[0], Fault::Pass)?;
        }
        let mut phase = WithdrawalPhase { name, sent_ms: Vec::new(), confirmed_ms: Vec::new() };
        for _ in 0..config.withdrawals {
            n += 1;
            let id = format!("bench-{n}");
            let now_ms =
                std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            let body = CommandBody::Account(AccountRequest {
                account: 1,
                request_id: ClientId::new(&id).ok_or("client id")?,
                request_ts_ms: now_ms,
                action: AccountAction::RequestWithdrawal { asset: 0, amount: 10_000, address: customer.clone() },
            });
            let via = cluster.started()[0];
            let requested = Instant::now();
            match cluster.submit(via, body, DEADLINE).await {
                Some(Outcome::Applied(_)) => {}
                other => return Err(format!("withdrawal {id}: {other:?}")),
            }
            let killed = if name.starts_with("the leader") {
                let leader = cluster.leader(&all, DEADLINE).await.ok_or("no leader")?;
                cluster.kill(leader);
                Some(leader)
            } else {
                None
            };
            until("sent", || async { (status(&api, &id).await? != "REQUESTED").then_some(()) }).await?;
            phase.sent_ms.push(requested.elapsed().as_secs_f64() * 1e3);
            until("confirmed", || async { (status(&api, &id).await? == "CONFIRMED").then_some(()) }).await?;
            phase.confirmed_ms.push(requested.elapsed().as_secs_f64() * 1e3);
            if let Some(leader) = killed {
                cluster.spawn(leader, &[])?;
                cluster.leader(&all, DEADLINE).await.ok_or("no leader")?;
            }
        }
        phases.push(phase);
    }
    cluster.stop_all();
    drop(chain);
    Ok((phases, deposit_delays_ms))
}

async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> Result<T, String> {
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return Ok(value);
        }
        if started.elapsed() > DEADLINE {
            return Err(format!("{what}: not within {DEADLINE:?}"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn balance(cluster: &ProcessCluster, account: u64, asset: u32) -> Option<u64> {
    let query = ClientRequest::Read { query: Query::Balance { account, asset }, follower_ok: false, forwarded: false };
    for id in cluster.started() {
        if let Ok(ClientReply::Read { answer: Answer::Balance(Some(balance)), .. }) =
            cluster.call(id, &query, Duration::from_secs(2)).await
        {
            return Some(balance.available + balance.locked);
        }
    }
    None
}

async fn status(api: &outlast_client::Client, id: &str) -> Option<String> {
    let rows: Value = api.operator(OPERATOR_TOKEN, "GET", "/operator/v1/withdrawals", &[]).await.ok()?;
    let row = rows.as_array()?.iter().find(|w| w["withdrawOrderId"] == id)?;
    Some(row["status"].as_str()?.to_string())
}

fn ms(us: u64) -> f64 {
    us as f64 / 1e3
}

impl Report {
    /// The section for BENCHMARKS.md.
    pub fn markdown(&self, machine: &str, command: &str, date: &str) -> String {
        let baseline_p99 = self.reads.first().map_or(0.0, |p| ms(quantile(&p.latencies_us, 0.99)));
        let mut out = format!(
            "### Money on a chain: RPC failover, withdrawals, deposits\n\n\
             - Command: `{command}`\n- Date: {date}\n- Machine: {machine}\n\
             - RPC: anvil behind three fault proxies; {READERS} readers call `eth_getBalance` through a fresh \
             pool for {phase} s a phase; one second in, the primary (the upstream that answered most reads \
             of the last 300 ms) is made to fail. \
             Goal: no failed read, p99 at most the hedge delay ({hedge} ms) above the baseline's.\n\n\
             | phase | reads | failed | p50 ms | p99 ms | max ms | p99 added ms |\n|---|---|---|---|---|---|---|\n",
            phase = self.config.phase_s,
            hedge = self.hedge_ms_min,
        );
        for phase in &self.reads {
            let p99 = ms(quantile(&phase.latencies_us, 0.99));
            out += &format!(
                "| {} | {} | {} | {:.2} | {:.2} | {:.1} | {:+.2} |\n",
                phase.name,
                phase.reads,
                phase.failed,
                ms(quantile(&phase.latencies_us, 0.5)),
                p99,
                ms(quantile(&phase.latencies_us, 1.0)),
                p99 - baseline_p99
            );
        }
        let floor_ms = (self.confirmations.saturating_sub(1) * self.block_s * 1000) as f64;
        out += &format!(
            "\n- Custody: 3 `outlast node` processes follow the lab devnet (a block every {block} s, {conf} \
             confirmations) through three provider proxies. Withdrawals of 0.01 USDT one at a time; the floor \
             for \"confirmed\" is the confirmations' blocks after the one that holds it, {floor:.0} ms, plus up \
             to a block's wait to be mined.\n\n\
             | withdrawals | n | request → sent (committed, broadcast), median ms | max ms | request → confirmed, median ms | max ms |\n\
             |---|---|---|---|---|---|\n",
            block = self.block_s,
            conf = self.confirmations,
            floor = floor_ms,
        );
        for phase in &self.withdrawals {
            let (sent, confirmed) = (crate::report::spread(&phase.sent_ms), crate::report::spread(&phase.confirmed_ms));
            let (sent, confirmed) = (
                sent.unwrap_or(crate::report::Spread { median: 0.0, min: 0.0, max: 0.0 }),
                confirmed.unwrap_or(crate::report::Spread { median: 0.0, min: 0.0, max: 0.0 }),
            );
            out += &format!(
                "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} |\n",
                phase.name,
                phase.sent_ms.len(),
                sent.median,
                sent.max,
                confirmed.median,
                confirmed.max
            );
        }
        if let Some(delay) = crate::report::spread(&self.deposit_delays_ms) {
            out += &format!(
                "\n| deposits | n | last confirmation → credited, median ms | min ms | max ms |\n|---|---|---|---|---|\n\
                 | 1 USDT to a deposit address | {} | {:.0} | {:.0} | {:.0} |\n",
                self.deposit_delays_ms.len(),
                delay.median,
                delay.min,
                delay.max
            );
        }
        out
    }
}
