//! The lab's chain: anvil as the devnet (a block a second, its state kept in the state
//! directory between runs), the test token, a hot wallet of the lab's own funded on it, and
//! three provider-labelled proxies in front of it that chaos can fail, as three RPC providers
//! would.
//!
//! Must never: be pointed at a real chain (the customer wallet is a public dev account), or
//! start when anvil is missing without saying how to install it.

use std::time::{Duration, Instant};

use outlast_chain::config::{ChainAssetConfig, ChainConfig};
use outlast_chain::devnet::{anvil_binary, Devnet, CHAIN_ID, DEV_KEYS, DEV_XPUB};
use outlast_chain::hd::DepositKeys;
use outlast_chain::pool::UpstreamConfig;
use outlast_chain::proxy::{Fault, FaultProxy};
use outlast_chain::rpc::Rpc;
use outlast_chain::tx::key_from_hex;
use outlast_chain::{Address, B256, U256};
use serde_json::json;

use crate::state_dir::StateDir;

/// The providers the lab's upstreams stand for.
pub const PROVIDERS: [&str; 3] = ["alchemy", "infura", "quicknode"];
/// Blocks on a deposit before it is credited (a block a second).
pub const CONFIRMATIONS: u64 = 2;
/// The dev account that plays the customer's own wallet (anvil keeps it unlocked).
pub const CUSTOMER_DEV_ACCOUNT: u64 = 9;
/// Tokens the hot wallet and the customer are topped up to (6 decimals: a million).
const TOKENS_TOPPED_UP: u64 = 1_000_000_000_000;
/// How long a funding transaction may take to be mined.
const MINED_DEADLINE: Duration = Duration::from_secs(30);

/// Writes the lab chain's keys into `dir` if it has none: a hot wallet key of its own (funded on
/// the devnet at each start; not from the deposit keys' subtree, and not a dev account everyone
/// knows), and a deposit xpub from a random seed.
pub fn prepare_keys(dir: &StateDir) -> Result<(), String> {
    std::fs::create_dir_all(dir.root.join("secrets")).map_err(|e| format!("{}: {e}", dir.root.display()))?;
    if !dir.hot_wallet_key().exists() {
        crate::up::write_secret(
            &dir.hot_wallet_key(),
            &outlast_api::auth::new_master_hex().map_err(|e| e.to_string())?,
        )?;
    }
    if !dir.deposit_xpub().exists() {
        let seed = outlast_api::auth::new_master_hex().map_err(|e| e.to_string())?;
        let seed: Vec<u8> =
            (0..seed.len()).step_by(2).filter_map(|i| u8::from_str_radix(&seed[i..i + 2], 16).ok()).collect();
        crate::up::write_secret(&dir.deposit_xpub(), &DepositKeys::lab_xpub(&seed)?)?;
    }
    Ok(())
}

/// The running lab chain; everything stops when it is dropped.
pub struct LabChain {
    devnet: Devnet,
    proxies: Vec<(String, FaultProxy)>,
    token: Address,
    hot: Address,
    config: ChainConfig,
}

fn word(address: Address) -> String {
    format!("{:0>64}", format!("{address:x}").trim_start_matches("0x"))
}

async fn mined(rpc: &Rpc, hash: B256) -> Result<(), String> {
    let started = Instant::now();
    while rpc.receipt(hash).await.map_err(|e| e.to_string())?.is_none() {
        if started.elapsed() > MINED_DEADLINE {
            return Err(format!("{hash} was not mined within {MINED_DEADLINE:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

impl LabChain {
    /// Starts the devnet, deploys the token on a new chain, tops the hot wallet and the
    /// customer up, and starts the proxies.
    pub async fn start(dir: &StateDir) -> Result<LabChain, String> {
        let anvil = anvil_binary()?;
        std::fs::create_dir_all(dir.chain()).map_err(|e| format!("{}: {e}", dir.chain().display()))?;
        let state = dir.chain().join("anvil-state.json");
        let flags = ["--block-time".into(), "1".into(), "--state".into(), state.display().to_string()];
        let flags = [flags.as_slice(), &["--state-interval".into(), "1".into()]].concat();
        let devnet = Devnet::start_with(&anvil, &flags).await?;
        let rpc = devnet.rpc();
        let dev0 = key_from_hex(DEV_KEYS[0])?.address();
        let token_file = dir.chain().join("token.txt");
        let kept: Option<Address> = std::fs::read_to_string(&token_file).ok().and_then(|t| t.trim().parse().ok());
        let code = match kept {
            Some(token) => rpc.call::<outlast_chain::Bytes>("eth_getCode", json!([token, "latest"])).await.ok(),
            None => None,
        };
        let token = match (kept, code) {
            (Some(token), Some(code)) if !code.is_empty() => token,
            _ => {
                let token = devnet.deploy_token(U256::from(u64::MAX)).await?;
                std::fs::write(&token_file, format!("{token:#x}"))
                    .map_err(|e| format!("{}: {e}", token_file.display()))?;
                token
            }
        };
        let hot_key = std::fs::read_to_string(dir.hot_wallet_key())
            .map_err(|e| format!("{}: {e}", dir.hot_wallet_key().display()))?;
        let hot = key_from_hex(&hot_key)?.address();
        let customer = customer();
        let ether = U256::from(10u64).pow(U256::from(18));
        for wallet in [hot, customer] {
            let balance = rpc.balance(wallet).await.map_err(|e| e.to_string())?;
            if balance < U256::from(100u64) * ether {
                let topped = format!("{:#x}", U256::from(10_000u64) * ether);
                rpc.call::<serde_json::Value>("anvil_setBalance", json!([wallet, topped]))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            let tokens = rpc.erc20_balance(token, wallet).await.map_err(|e| e.to_string())?;
            if tokens < U256::from(TOKENS_TOPPED_UP) {
                let data = format!("0xa9059cbb{}{:064x}", word(wallet), TOKENS_TOPPED_UP);
                let hash: B256 = rpc
                    .call("eth_sendTransaction", json!([{ "from": dev0, "to": token, "data": data }]))
                    .await
                    .map_err(|e| e.to_string())?;
                mined(&rpc, hash).await?;
            }
        }
        let mut proxies = Vec::new();
        for label in PROVIDERS {
            let proxy = FaultProxy::start("127.0.0.1:0".parse().expect("an address"), devnet.url())
                .await
                .map_err(|e| format!("the {label} proxy: {e}"))?;
            proxies.push((label.to_string(), proxy));
        }
        let deposit_xpub = std::fs::read_to_string(dir.deposit_xpub())
            .map_err(|e| format!("{}: {e}", dir.deposit_xpub().display()))?;
        let config = ChainConfig {
            name: "devnet".into(),
            chain_id: CHAIN_ID,
            confirmations: CONFIRMATIONS,
            deposit_xpub: deposit_xpub.trim().to_string(),
            hot_wallet_key_file: dir.hot_wallet_key(),
            poll_ms: 500,
            bump_after_ms: 30_000,
            fee_per_gas_max_gwei: 1_000,
            agreement_min: None,
            upstreams: proxies
                .iter()
                .map(|(label, proxy)| UpstreamConfig { label: label.clone(), url: proxy.url() })
                .collect(),
            assets: vec![
                ChainAssetConfig { symbol: "USDT".into(), token: Some(token), decimals: 6 },
                ChainAssetConfig { symbol: "ETH".into(), token: None, decimals: 18 },
            ],
        };
        config.validate()?;
        Ok(LabChain { devnet, proxies, token, hot, config })
    }

    /// The `[[chain]]` every node gets.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The devnet's own endpoint (not through a provider).
    pub fn url(&self) -> &str {
        self.devnet.url()
    }

    /// A client of the devnet itself.
    pub fn rpc(&self) -> Rpc {
        self.devnet.rpc()
    }

    /// The test token (USDT here).
    pub fn token(&self) -> Address {
        self.token
    }

    /// The hot wallet's address.
    pub fn hot_wallet(&self) -> Address {
        self.hot
    }

    /// Replaces the newest `depth` blocks with empty ones (their transactions are gone unless
    /// someone sends them again).
    pub async fn reorg(&self, depth: u64) -> Result<(), String> {
        self.devnet.reorg(depth).await.map_err(|e| e.to_string())
    }

    /// Each provider and its proxy's URL.
    pub fn upstreams(&self) -> Vec<(String, String)> {
        self.proxies.iter().map(|(label, proxy)| (label.clone(), proxy.url())).collect()
    }

    /// Makes provider `label`'s upstream fail (or pass again).
    pub fn set_fault(&self, label: &str, fault: Fault) -> Result<(), String> {
        let (_, proxy) = self.proxies.iter().find(|(l, _)| l == label).ok_or(format!("no provider {label}"))?;
        proxy.set(fault);
        Ok(())
    }

    /// Makes every provider's upstream fail (or pass again) alike.
    pub fn set_fault_all(&self, fault: Fault) {
        for (_, proxy) in &self.proxies {
            proxy.set(fault.clone());
        }
    }

    /// Makes provider `label`'s upstream stop at the devnet's present head.
    pub async fn freeze(&self, label: &str) -> Result<(), String> {
        let (_, proxy) = self.proxies.iter().find(|(l, _)| l == label).ok_or(format!("no provider {label}"))?;
        proxy.freeze().await.map(|_| ())
    }

    /// Account `account`'s deposit address.
    pub fn deposit_address(&self, account: u64) -> Result<Address, String> {
        DepositKeys::parse(&self.config.deposit_xpub)?.address(account)
    }

    /// Sends `amount` tokens from the customer's wallet to `to`; the transaction, once mined.
    pub async fn customer_pays(&self, to: Address, amount: u64) -> Result<B256, String> {
        let hash = customer_sends(&self.rpc(), self.token, to, amount).await?;
        mined(&self.rpc(), hash).await?;
        Ok(hash)
    }
}

/// Sends `amount` of `token` from the customer's wallet to `to` through `rpc` (the devnet's
/// own endpoint: the customer's wallet is not a provider's client); the transaction, not waited for.
pub async fn customer_sends(rpc: &Rpc, token: Address, to: Address, amount: u64) -> Result<B256, String> {
    let data = format!("0xa9059cbb{}{amount:064x}", word(to));
    rpc.call("eth_sendTransaction", json!([{ "from": customer(), "to": token, "data": data }]))
        .await
        .map_err(|e| e.to_string())
}

/// The customer's wallet (a dev account: its key is public, anvil keeps it unlocked).
pub fn customer() -> Address {
    DepositKeys::parse(DEV_XPUB).and_then(|keys| keys.address(CUSTOMER_DEV_ACCOUNT)).expect("the dev xpub derives")
}
