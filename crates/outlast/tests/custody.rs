//! Custody with real parts: three `outlast node` processes, an anvil devnet behind three
//! provider proxies, a token deployed from its shipped bytecode. Deposits sent on chain are
//! credited once after their confirmations and never when a reorg takes them away;
//! withdrawals are paid once — through a provider outage, with the leader SIGKILLed after the
//! transaction is committed but before any provider took it, and after it was mined but before
//! its confirmations. Every wait is bounded and on a condition.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outlast_chain::config::{ChainAssetConfig, ChainConfig};
use outlast_chain::devnet::{test_anvil, Devnet, CHAIN_ID, DEV_KEYS, DEV_XPUB};
use outlast_chain::hd::DepositKeys;
use outlast_chain::pool::UpstreamConfig;
use outlast_chain::proxy::{Fault, FaultProxy};
use outlast_chain::rpc::Rpc;
use outlast_chain::tx::key_from_hex;
use outlast_chain::{Address, B256, U256};
use outlast_cluster::protocol::{Answer, ClientReply, ClientRequest, Query};
use outlast_engine::{AccountAction, AccountRequest, Balance, ClientId, CommandBody, Outcome};
use outlast_lab::processes::{ProcessCluster, OPERATOR_TOKEN};
use serde_json::{json, Value};

const DEADLINE: Duration = Duration::from_secs(60);
const USDT: u32 = 0;
const ETH: u32 = 1;
/// The customer's wallet: dev account 9 (anvil keeps it unlocked).
const CUSTOMER: u64 = 9;

async fn until<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "{what}: not within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn mined(rpc: &Rpc, hash: B256) {
    until("mined", async || rpc.receipt(hash).await.unwrap().map(|_| ())).await;
}

/// Sends a transaction from an unlocked dev account and waits until it is mined.
async fn send(rpc: &Rpc, tx: Value) -> B256 {
    let hash: B256 = rpc.call("eth_sendTransaction", json!([tx])).await.unwrap();
    mined(rpc, hash).await;
    hash
}

fn transfer_data(to: Address, amount: u64) -> String {
    format!("0xa9059cbb{:0>64}{:064x}", format!("{to:x}").trim_start_matches("0x"), amount)
}

/// Mines a block every 200 ms unless paused (anvil also mines each transaction at once).
fn miner(devnet: &Devnet, paused: Arc<AtomicBool>) -> tokio::task::JoinHandle<()> {
    let rpc = devnet.rpc();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if !paused.load(Ordering::Relaxed) {
                let _ = rpc.call::<Value>("evm_mine", json!([])).await;
            }
        }
    })
}

async fn balance(cluster: &ProcessCluster, account: u64, asset: u32) -> Balance {
    let query = ClientRequest::Read { query: Query::Balance { account, asset }, follower_ok: false, forwarded: false };
    for id in cluster.started() {
        if let Ok(ClientReply::Read { answer: Answer::Balance(Some(balance)), .. }) =
            cluster.call(id, &query, Duration::from_secs(5)).await
        {
            return balance;
        }
    }
    panic!("no node answers balances");
}

async fn withdraw(cluster: &ProcessCluster, account: u64, id: &str, amount: u64, address: &str) {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let body = CommandBody::Account(AccountRequest {
        account,
        request_id: ClientId::new(id).unwrap(),
        request_ts_ms: now_ms,
        action: AccountAction::RequestWithdrawal { asset: USDT, amount, address: address.into() },
    });
    let via = cluster.started()[0];
    let outcome = cluster.submit(via, body, DEADLINE).await;
    assert!(matches!(outcome, Some(Outcome::Applied(_))), "{outcome:?}");
}

/// Node `id`'s view of the chain (its custody's status included).
async fn chain_view(cluster: &ProcessCluster, id: u64) -> Option<Value> {
    let api = outlast_client::Client::new(
        vec![format!("http://{}", cluster.api_addr(id))],
        None,
        outlast_client::FailoverPolicy::default(),
    );
    let view = api.operator(OPERATOR_TOKEN, "GET", "/operator/v1/cluster", &[]).await.ok()?;
    view["chains"].get(0).cloned()
}

/// The withdrawal with client id `id` as the operator API lists it.
async fn withdrawal(api: &outlast_client::Client, id: &str) -> Option<Value> {
    let rows = api.operator(OPERATOR_TOKEN, "GET", "/operator/v1/withdrawals", &[]).await.ok()?;
    rows.as_array()?.iter().find(|w| w["withdrawOrderId"] == id).cloned()
}

async fn status_of(api: &outlast_client::Client, id: &str, status: &str) -> Value {
    until(&format!("withdrawal {id} {status}"), async || withdrawal(api, id).await.filter(|w| w["status"] == status))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposits_and_withdrawals_happen_once_through_provider_faults_reorgs_and_leader_kills() {
    let anvil = test_anvil();
    assert!(anvil.exists(), "{}: run .ci/run once (npm @foundry-rs/anvil), or set OUTLAST_ANVIL", anvil.display());
    let devnet = Devnet::start(&anvil).await.unwrap();
    let rpc = devnet.rpc();
    let hot = key_from_hex(DEV_KEYS[0]).unwrap().address();
    let keys = DepositKeys::parse(DEV_XPUB).unwrap();
    let customer = keys.address(CUSTOMER).unwrap();
    let token = devnet.deploy_token(U256::from(1_000_000_000_000u64)).await.unwrap();
    send(&rpc, json!({ "from": hot, "to": token, "data": transfer_data(customer, 100_000_000) })).await;

    let temp = tempfile::tempdir().unwrap();
    let key_file = temp.path().join("hot.key");
    std::fs::write(&key_file, DEV_KEYS[0]).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut proxies = Vec::new();
    for _ in 0..3 {
        proxies.push(FaultProxy::start("127.0.0.1:0".parse().unwrap(), devnet.url()).await.unwrap());
    }
    let chain = ChainConfig {
        name: "devnet".into(),
        chain_id: CHAIN_ID,
        confirmations: 2,
        deposit_xpub: DEV_XPUB.into(),
        hot_wallet_key_file: key_file,
        poll_ms: 200,
        bump_after_ms: 600_000,
        agreement_min: None,
        upstreams: ["alchemy", "infura", "quicknode"]
            .iter()
            .zip(&proxies)
            .map(|(label, proxy)| UpstreamConfig { label: label.to_string(), url: proxy.url() })
            .collect(),
        assets: vec![
            ChainAssetConfig { symbol: "USDT".into(), token: Some(token), decimals: 6 },
            ChainAssetConfig { symbol: "ETH".into(), token: None, decimals: 18 },
        ],
    };
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_outlast"));
    let mut cluster =
        ProcessCluster::loopback(binary, &["aws", "gcp", "azure"], &[], |c| c.chains = vec![chain.clone()]).unwrap();
    cluster.spawn_all().unwrap();
    let all = cluster.ids();
    cluster.leader(&all, DEADLINE).await.expect("a leader");
    let mut seed = vec![CommandBody::FinalizeFormat { format: 2 }, CommandBody::FinalizeFormat { format: 3 }];
    seed.push(CommandBody::CreateAsset { symbol: "USDT".into(), decimals: 6 });
    seed.push(CommandBody::CreateAsset { symbol: "ETH".into(), decimals: 8 });
    seed.extend([1, 2].map(|account| CommandBody::CreateAccount { account }));
    for body in seed {
        let outcome = cluster.submit(all[0], body, DEADLINE).await;
        assert!(matches!(outcome, Some(Outcome::Applied(_))), "{outcome:?}");
    }
    let paused = Arc::new(AtomicBool::new(false));
    let _miner = miner(&devnet, Arc::clone(&paused));
    let api = outlast_client::Client::new(
        all.iter().map(|id| format!("http://{}", cluster.api_addr(*id))).collect(),
        None,
        outlast_client::FailoverPolicy::default(),
    );
    // The leader's custody sets the chain up (an audited step): deposits count from there.
    until("the chain is set up", async || {
        let trail =
            api.operator(OPERATOR_TOKEN, "GET", "/operator/v1/audit/actions", &[("limit", "50".into())]).await.ok()?;
        trail["records"].as_array()?.iter().any(|r| r["action"].get("ChainSetup").is_some()).then_some(())
    })
    .await;
    let first_nonce = rpc.call::<U256>("eth_getTransactionCount", json!([hot, "latest"])).await.unwrap();

    // Deposits, watched: a token transfer and a native one, each credited once.
    let (deposit_1, deposit_2) = (keys.address(1).unwrap(), keys.address(2).unwrap());
    send(&rpc, json!({ "from": customer, "to": token, "data": transfer_data(deposit_1, 5_000_000) })).await;
    send(&rpc, json!({ "from": customer, "to": deposit_2, "value": "0x6f05b59d3b20000" })).await; // 0.5 ETH
    until("the deposits are credited", async || {
        (balance(&cluster, 1, USDT).await.available == 5_000_000
            && balance(&cluster, 2, ETH).await.available == 50_000_000)
            .then_some(())
    })
    .await;

    // A deposit that a reorg takes away before its confirmations is never credited: the next
    // one, in a later block, is credited, and the balance holds only that.
    paused.store(true, Ordering::Relaxed);
    let gone = send(&rpc, json!({ "from": customer, "to": token, "data": transfer_data(deposit_1, 1_000_000) })).await;
    let block = rpc.receipt(gone).await.unwrap().unwrap().block_number.unwrap();
    // The leader's custody has seen the deposit's block at the head and finished a step after
    // that: it did not credit it, for want of a second confirmation.
    let leader = cluster.leader(&all, DEADLINE).await.unwrap();
    let seen = until("custody sees the deposit's block", async || {
        let chain = chain_view(&cluster, leader).await?;
        (chain["custody"]["stepTip"].as_u64()? >= block).then(|| chain["custody"]["steps"].as_u64().unwrap())
    })
    .await;
    let chain = until("custody takes another step", async || {
        chain_view(&cluster, leader).await.filter(|c| c["custody"]["steps"].as_u64() > Some(seen))
    })
    .await;
    assert!(chain["checkpointBlock"].as_u64().unwrap() < block, "a block with one confirmation was credited: {chain}");
    devnet.reorg(1).await.unwrap();
    assert_eq!(rpc.receipt(gone).await.unwrap(), None, "the reorg took the deposit away");
    paused.store(false, Ordering::Relaxed);
    send(&rpc, json!({ "from": customer, "to": token, "data": transfer_data(deposit_1, 2_000_000) })).await;
    until("the later deposit is credited", async || {
        (balance(&cluster, 1, USDT).await.available >= 7_000_000).then_some(())
    })
    .await;
    assert_eq!(balance(&cluster, 1, USDT).await.available, 7_000_000, "the reorged deposit was credited");

    let customer_text = format!("{customer:#x}");
    let customer_balance = async || {
        let data = format!("0x70a08231{:0>64}", format!("{customer:x}").trim_start_matches("0x"));
        let answer: outlast_chain::Bytes =
            rpc.call("eth_call", json!([{ "to": token, "data": data }, "latest"])).await.unwrap();
        U256::from_be_slice(&answer).to::<u64>()
    };

    // A withdrawal paid while one provider is down.
    proxies[0].set(Fault::Down);
    let before = customer_balance().await;
    withdraw(&cluster, 1, "w-outage", 2_000_000, &customer_text).await;
    let paid = status_of(&api, "w-outage", "CONFIRMED").await;
    assert_eq!(customer_balance().await, before + 2_000_000);
    let hash: B256 = paid["txId"].as_str().unwrap().parse().unwrap();
    assert!(rpc.receipt(hash).await.unwrap().unwrap().status());
    proxies[0].set(Fault::Pass);

    // Committed but never broadcast (every provider drops it), then the leader is killed: the
    // new leader sends the same bytes, which are paid once.
    for proxy in &proxies {
        proxy.set(Fault::DropBroadcasts);
    }
    let before = customer_balance().await;
    withdraw(&cluster, 1, "w-kill-sent", 1_000_000, &customer_text).await;
    let sent = status_of(&api, "w-kill-sent", "SENT").await;
    let committed: B256 = sent["txId"].as_str().unwrap().parse().unwrap();
    assert_eq!(rpc.receipt(committed).await.unwrap(), None, "no provider took it");
    let leader = cluster.leader(&all, DEADLINE).await.unwrap();
    cluster.kill(leader);
    for proxy in &proxies {
        proxy.set(Fault::Pass);
    }
    let paid = status_of(&api, "w-kill-sent", "CONFIRMED").await;
    assert_eq!(paid["txId"], sent["txId"], "the new leader paid with the committed transaction");
    assert_eq!(customer_balance().await, before + 1_000_000);
    cluster.spawn(leader, &[]).unwrap();

    // Mined but not yet confirmed when the leader is killed: the new leader settles it.
    paused.store(true, Ordering::Relaxed);
    let before = customer_balance().await;
    withdraw(&cluster, 1, "w-kill-mined", 1_000_000, &customer_text).await;
    let sent = status_of(&api, "w-kill-mined", "SENT").await;
    let hash: B256 = sent["txId"].as_str().unwrap().parse().unwrap();
    mined(&rpc, hash).await;
    let leader = cluster.leader(&all, DEADLINE).await.unwrap();
    cluster.kill(leader);
    paused.store(false, Ordering::Relaxed);
    let paid = status_of(&api, "w-kill-mined", "CONFIRMED").await;
    assert_eq!(paid["txId"], sent["txId"]);
    assert_eq!(customer_balance().await, before + 1_000_000);
    cluster.spawn(leader, &[]).unwrap();

    // Three withdrawals, three nonces: no second transaction was ever signed and mined.
    let nonce = rpc.call::<U256>("eth_getTransactionCount", json!([hot, "latest"])).await.unwrap();
    assert_eq!(nonce, first_nonce + U256::from(3));

    // Not an address: refused before anything is signed, and refunded.
    withdraw(&cluster, 1, "w-bad", 1_000, "not-an-address").await;
    status_of(&api, "w-bad", "FAILED").await;
    let account = balance(&cluster, 1, USDT).await;
    assert_eq!((account.available, account.locked), (7_000_000 - 4_000_000, 0));
    assert!(cluster.converged(&all, DEADLINE).await, "the replicas differ");
    cluster.stop_all();
}
