//! A devnet: anvil as a child process on a free loopback port, with the development mnemonic's
//! funded accounts, for tests and the lab. Stopped (killed and reaped) when dropped.
//!
//! anvil comes from npm (`@foundry-rs/anvil`); `.ci/run` installs it under `target/chain`.
//! Must never: be used for anything but a devnet (its keys are public knowledge).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use serde_json::json;

use crate::rpc::{Rpc, RpcError};

/// The devnet's chain id (anvil's default).
pub const CHAIN_ID: u64 = 31337;

/// Private keys of the devnet's first dev accounts (from the development mnemonic "test test
/// test test test test test test test test test junk", m/44'/60'/0'/0/n): public knowledge.
pub const DEV_KEYS: [&str; 2] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
];

/// The extended public key at m/44'/60'/0'/0 of the same mnemonic: child n is dev account n.
pub const DEV_XPUB: &str =
    "xpub6DyUKdwoLWmUJ4Tn9Bbsdtx7B5Ws18mEN19e5HT52ikE53FiUheSQXrZUNPovqfyKmw4579A1Mm3GXXKM39N64uooBfJ4tNAzFsEbodRTx4";

/// The test token's creation code (`contracts/TestToken.sol`, built by `contracts/build`).
const TEST_TOKEN_BIN: &str = include_str!("../../../contracts/TestToken.bin");

/// How long anvil has to answer after it starts, and a deployment to be mined.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// Each devnet call's deadline.
const CALL_DEADLINE: Duration = Duration::from_secs(5);

/// Where npm puts anvil, under a directory npm installed `@foundry-rs/anvil` into.
const NPM_ANVIL: &str = "node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil";

/// Where anvil is: `OUTLAST_ANVIL`; else `anvil` on the PATH; else where the README's setup
/// installs it (`target/chain/npm`, beside this binary's `target/` or under the working
/// directory).
pub fn anvil_binary() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("OUTLAST_ANVIL") {
        return Ok(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("anvil"));
    let beside_binary =
        std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.parent()?.join("chain/npm").join(NPM_ANVIL)));
    let under_cwd = Some(PathBuf::from("target/chain/npm").join(NPM_ANVIL));
    on_path.chain(beside_binary).chain(under_cwd).find(|path| path.is_file()).ok_or_else(|| {
        "no anvil: `npm install --prefix target/chain/npm @foundry-rs/anvil@1.7.1`, or set OUTLAST_ANVIL".into()
    })
}

/// anvil for tests: `OUTLAST_ANVIL`, else where `.ci/run` installs it under `target/chain`.
pub fn test_anvil() -> PathBuf {
    std::env::var_os("OUTLAST_ANVIL").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/chain/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
    })
}

/// A running devnet.
pub struct Devnet {
    child: Child,
    url: String,
}

impl Devnet {
    /// Starts `anvil` on a loopback port it picks itself (and prints: no other process can take
    /// the port between a probe and the bind) and waits until it answers.
    pub async fn start(anvil: &Path) -> Result<Devnet, String> {
        Devnet::start_with(anvil, &[]).await
    }

    /// `start`, with more of anvil's flags (`--block-time`, `--state`).
    pub async fn start_with(anvil: &Path, flags: &[String]) -> Result<Devnet, String> {
        let mut child = Command::new(anvil)
            .args(["--host", "127.0.0.1", "--port", "0", "--chain-id", &CHAIN_ID.to_string()])
            .args(flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{}: {e}", anvil.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (listening, heard) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
            let addr = lines.by_ref().find_map(|line| line.strip_prefix("Listening on ").map(str::to_string));
            let _ = listening.send(addr);
            // Keep draining, so that anvil never blocks on a full pipe.
            for _ in lines {}
        });
        let mut devnet = Devnet { child, url: String::new() };
        let addr = match tokio::time::timeout(START_DEADLINE, heard).await {
            Ok(Ok(Some(addr))) => addr,
            _ => return Err(format!("{} did not say where it listens within {START_DEADLINE:?}", anvil.display())),
        };
        devnet.url = format!("http://{}", addr.trim());
        let rpc = devnet.rpc();
        let started = Instant::now();
        loop {
            match rpc.chain_id().await {
                Ok(CHAIN_ID) => return Ok(devnet),
                Ok(other) => return Err(format!("anvil answers chain id {other}, not {CHAIN_ID}")),
                Err(_) if started.elapsed() < START_DEADLINE => tokio::time::sleep(Duration::from_millis(50)).await,
                Err(error) => return Err(format!("anvil did not answer within {START_DEADLINE:?}: {error}")),
            }
        }
    }

    /// Its JSON-RPC endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A client of it.
    pub fn rpc(&self) -> Rpc {
        Rpc::new(&self.url, CALL_DEADLINE)
    }

    /// Deploys the test token (6 decimals) with `supply` minted to dev account 0; its address.
    pub async fn deploy_token(&self, supply: U256) -> Result<Address, String> {
        let rpc = self.rpc();
        let deployer = crate::tx::key_from_hex(DEV_KEYS[0])?.address();
        let code = format!("0x{}{}", TEST_TOKEN_BIN.trim(), hex_word(supply));
        let hash: alloy_primitives::B256 = rpc
            .call("eth_sendTransaction", json!([{ "from": deployer, "data": code }]))
            .await
            .map_err(|e| format!("deploying the token: {e}"))?;
        let started = Instant::now();
        loop {
            if let Some(receipt) = rpc.receipt(hash).await.map_err(|e| e.to_string())? {
                return receipt.contract_address.ok_or_else(|| "the deployment made no contract".into());
            }
            if started.elapsed() > START_DEADLINE {
                return Err(format!("the deployment was not mined within {START_DEADLINE:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Mines `blocks` empty blocks at once.
    pub async fn mine(&self, blocks: u64) -> Result<(), RpcError> {
        self.rpc().call::<serde_json::Value>("anvil_mine", json!([blocks])).await.map(|_| ())
    }

    /// Replaces the last `depth` blocks with empty ones at the same heights (anvil's reorg): the
    /// transactions they held are gone.
    pub async fn reorg(&self, depth: u64) -> Result<(), RpcError> {
        self.rpc().call::<serde_json::Value>("anvil_reorg", json!([depth, []])).await.map(|_| ())
    }
}

/// A 32-byte ABI word, as hex.
fn hex_word(value: U256) -> String {
    value.to_be_bytes::<32>().iter().map(|b| format!("{b:02x}")).collect()
}

/// How long anvil has to write its state and exit after SIGTERM.
const STOP_DEADLINE: Duration = Duration::from_secs(5);

impl Drop for Devnet {
    /// SIGTERM first, so that a devnet started with `--state` writes its chain out; SIGKILL if it
    /// has not exited by `STOP_DEADLINE`.
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let started = Instant::now();
        while started.elapsed() < STOP_DEADLINE {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
