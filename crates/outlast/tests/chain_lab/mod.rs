//! A lab with a chain, for the process tests: an anvil devnet with the test token, three
//! provider proxies in front of it, a customer wallet holding tokens, a hot wallet key file,
//! and three `outlast node` processes that follow the chain; a miner that can be paused.
#![allow(dead_code)]

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outlast_chain::config::{ChainAssetConfig, ChainConfig};
use outlast_chain::devnet::{test_anvil, Devnet, CHAIN_ID, DEV_KEYS, DEV_XPUB};
use outlast_chain::hd::DepositKeys;
use outlast_chain::pool::UpstreamConfig;
use outlast_chain::proxy::FaultProxy;
use outlast_chain::rpc::Rpc;
use outlast_chain::tx::key_from_hex;
use outlast_chain::{Address, B256, U256};
use outlast_engine::{CommandBody, Outcome};
use outlast_lab::processes::{ProcessCluster, OPERATOR_TOKEN};
use serde_json::{json, Value};

pub const DEADLINE: Duration = Duration::from_secs(60);
/// Ledger asset ids, in the order the lab creates them.
pub const USDT: u32 = 0;
pub const ETH: u32 = 1;
/// The customer's wallet: dev account 9 (anvil keeps it unlocked).
pub const CUSTOMER: u64 = 9;
/// The providers the proxies stand for.
pub const PROVIDERS: [&str; 3] = ["alchemy", "infura", "quicknode"];

pub struct ChainLab {
    pub devnet: Devnet,
    pub rpc: Rpc,
    pub proxies: Vec<FaultProxy>,
    pub cluster: ProcessCluster,
    pub token: Address,
    pub hot: Address,
    pub customer: Address,
    pub keys: DepositKeys,
    /// The operator API, failing over across every node.
    pub api: outlast_client::Client,
    /// Set: the miner mines no blocks (transactions are still mined as they come).
    pub paused: Arc<AtomicBool>,
    _miner: tokio::task::JoinHandle<()>,
    _temp: tempfile::TempDir,
}

/// Polls `probe` until it gives a value, within `DEADLINE`.
pub async fn until<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(started.elapsed() < DEADLINE, "{what}: not within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn mined(rpc: &Rpc, hash: B256) {
    until("mined", async || rpc.receipt(hash).await.unwrap().map(|_| ())).await;
}

/// Sends a transaction from an unlocked dev account and waits until it is mined.
pub async fn send(rpc: &Rpc, tx: Value) -> B256 {
    let hash: B256 = rpc.call("eth_sendTransaction", json!([tx])).await.unwrap();
    mined(rpc, hash).await;
    hash
}

/// ERC-20 `transfer(to, amount)` call data.
pub fn transfer_data(to: Address, amount: u64) -> String {
    format!("0xa9059cbb{:0>64}{:064x}", format!("{to:x}").trim_start_matches("0x"), amount)
}

impl ChainLab {
    /// Everything started, the ledger seeded (formats, USDT and ETH, accounts 1 and 2), and the
    /// chain set up by the leader's custody.
    pub async fn start(confirmations: u64) -> ChainLab {
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
        for _ in PROVIDERS {
            proxies.push(FaultProxy::start("127.0.0.1:0".parse().unwrap(), devnet.url()).await.unwrap());
        }
        let chain = ChainConfig {
            name: "devnet".into(),
            chain_id: CHAIN_ID,
            confirmations,
            deposit_xpub: DEV_XPUB.into(),
            hot_wallet_key_file: key_file,
            poll_ms: 200,
            bump_after_ms: 600_000,
            fee_per_gas_max_gwei: 1_000,
            agreement_min: None,
            upstreams: PROVIDERS
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
            ProcessCluster::loopback(binary, &["aws", "gcp", "azure"], &[], |c| c.chains = vec![chain.clone()])
                .unwrap();
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
        let miner = {
            let (rpc, paused) = (devnet.rpc(), Arc::clone(&paused));
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if !paused.load(Ordering::Relaxed) {
                        let _ = rpc.call::<Value>("evm_mine", json!([])).await;
                    }
                }
            })
        };
        let api = outlast_client::Client::new(
            all.iter().map(|id| format!("http://{}", cluster.api_addr(*id))).collect(),
            None,
            outlast_client::FailoverPolicy::default(),
        );
        let lab = ChainLab {
            devnet,
            rpc,
            proxies,
            cluster,
            token,
            hot,
            customer,
            keys,
            api,
            paused,
            _miner: miner,
            _temp: temp,
        };
        // The leader's custody sets the chain up (an audited step): deposits count from there.
        until("the chain is set up", async || {
            let trail = lab
                .api
                .operator(OPERATOR_TOKEN, "GET", "/operator/v1/audit/actions", &[("limit", "50".into())])
                .await
                .ok()?;
            trail["records"].as_array()?.iter().any(|r| r["action"].get("ChainSetup").is_some()).then_some(())
        })
        .await;
        lab
    }

    /// Node `id`'s view of the chain (its custody's status included).
    pub async fn chain_view(&self, id: u64) -> Option<Value> {
        let api = outlast_client::Client::new(
            vec![format!("http://{}", self.cluster.api_addr(id))],
            None,
            outlast_client::FailoverPolicy::default(),
        );
        let view = api.operator(OPERATOR_TOKEN, "GET", "/operator/v1/cluster", &[]).await.ok()?;
        view["chains"].get(0).cloned()
    }

    /// `owner`'s balance of the test token, on chain.
    pub async fn token_balance(&self, owner: Address) -> u64 {
        let data = format!("0x70a08231{:0>64}", format!("{owner:x}").trim_start_matches("0x"));
        let answer: outlast_chain::Bytes =
            self.rpc.call("eth_call", json!([{ "to": self.token, "data": data }, "latest"])).await.unwrap();
        U256::from_be_slice(&answer).to::<u64>()
    }
}
