//! The demo exchange `outlast up` seeds: assets, markets, three funded accounts with API keys,
//! and a market maker's ladder so the books are not empty. Every step is idempotent (fixed
//! names, chain ids and client order ids), so seeding a resumed cluster changes nothing.
//!
//! A key's secret is shown once, when it is created, and no node can show it again; so the
//! demo keeps its users' credentials in a file of the state directory (mode 0600), written when
//! the keys are created and read back when a resumed cluster is seeded.

use std::path::Path;

use outlast_client::{ClientError, Credentials};

use crate::access::Access;
use serde_json::Value;

/// A demo user and the key it trades with.
#[derive(Clone, Debug)]
pub struct DemoUser {
    /// Name.
    pub name: &'static str,
    /// Account id.
    pub account: u64,
    /// Its API key and secret.
    pub credentials: Credentials,
}

fn p(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

/// The users: two traders and a market maker.
pub const USERS: [(&str, u64, &str); 3] = [
    ("alice", 1, "DemoAliceKey000000000000000000001"),
    ("bob", 2, "DemoBobKey00000000000000000000002"),
    ("maker", 3, "DemoMakerKey000000000000000000003"),
];

/// The saved credentials: user name → `{apiKey, secretKey}`.
fn read_saved(path: &Path) -> Result<serde_json::Map<String, Value>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Default::default()),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Writes the credentials file whole: a temporary file (0600), then a rename over the old one.
fn write_saved(path: &Path, saved: &serde_json::Map<String, Value>) -> Result<(), String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension("tmp");
    let fail = |e: std::io::Error| format!("{}: {e}", temporary.display());
    let _ = std::fs::remove_file(&temporary);
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&temporary).map_err(fail)?;
    file.write_all(Value::Object(saved.clone()).to_string().as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&temporary, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Seeds the exchange through the operator API; returns the users with their secrets, which
/// `keys_file` keeps between runs.
pub async fn seed(access: &Access, keys_file: &Path) -> Result<Vec<DemoUser>, String> {
    let operator = access.operator_all(outlast_client::FailoverPolicy::default());
    let operator = &operator;
    let op = |path: &'static str, params: Vec<(&'static str, String)>| async move {
        operator.call("POST", path, &params).await.map_err(|e| e.to_string())
    };
    // A new lab cluster runs this build's newest data format: every node runs this build.
    for format in (outlast_engine::FORMAT_FIRST + 1)..=outlast_engine::FORMAT_CURRENT {
        op("/operator/v1/upgrade/finalize", p(&[("format", &format.to_string())])).await?;
    }
    for (symbol, decimals) in [("BTC", "8"), ("ETH", "8"), ("USDT", "6")] {
        op("/operator/v1/assets", p(&[("symbol", symbol), ("decimals", decimals)])).await?;
    }
    for (symbol, base) in [("BTCUSDT", "BTC"), ("ETHUSDT", "ETH")] {
        let market = [
            ("symbol", symbol),
            ("baseAsset", base),
            ("quoteAsset", "USDT"),
            ("tickSize", "0.01"),
            ("stepSize", "0.0001"),
            ("minNotional", "5"),
            ("makerFeePpm", "1000"),
            ("takerFeePpm", "1000"),
        ];
        op("/operator/v1/markets", p(&market)).await?;
    }
    let mut saved = read_saved(keys_file)?;
    let mut users = Vec::new();
    for (name, account, key) in USERS {
        let a = account.to_string();
        op("/operator/v1/accounts", p(&[("account", &a)])).await?;
        let scale = if name == "maker" { "100" } else { "1" };
        for (coin, amount) in [("USDT", "100000"), ("BTC", "2"), ("ETH", "20")] {
            let amount = format!("{amount}{}", if scale == "100" { "00" } else { "" });
            op(
                "/operator/v1/deposits",
                p(&[("account", &a), ("coin", coin), ("amount", &amount), ("txId", &format!("demo-{name}-{coin}"))]),
            )
            .await?;
        }
        let saved_secret = saved.get(name).and_then(|s| s["secretKey"].as_str()).map(str::to_string);
        let secret = match saved_secret {
            Some(secret) => secret,
            None => {
                // A key made before but missing from the file cannot be recovered (no node can
                // show a secret again): the refusal says where the secret should have been.
                let created =
                    op("/operator/v1/apiKeys", p(&[("account", &a), ("apiKey", key), ("enableWithdrawals", "true")]))
                        .await
                        .map_err(|e| {
                            format!("creating {name}'s demo key: {e} (its secret is not in {})", keys_file.display())
                        })?;
                let secret = created["secretKey"].as_str().unwrap_or_default().to_string();
                saved.insert(name.to_string(), serde_json::json!({ "apiKey": key, "secretKey": secret }));
                write_saved(keys_file, &saved)?;
                secret
            }
        };
        users.push(DemoUser { name, account, credentials: Credentials { key: key.to_string(), secret } });
    }
    // The maker's ladder: five levels each side around a mid price.
    let maker = access.client(
        access.endpoints(),
        Some(users[2].credentials.clone()),
        outlast_client::FailoverPolicy::default(),
    );
    for (symbol, mid, tag) in [("BTCUSDT", 60_000u64, "btc"), ("ETHUSDT", 3_000u64, "eth")] {
        for level in 1..=5u64 {
            for (side, price) in [("BUY", mid - level * mid / 1000), ("SELL", mid + level * mid / 1000)] {
                let id = format!("demo-{tag}-{}-{level}", side.to_ascii_lowercase());
                let order = p(&[
                    ("symbol", symbol),
                    ("side", side),
                    ("type", "LIMIT_MAKER"),
                    ("quantity", "0.1"),
                    ("price", &price.to_string()),
                    ("newClientOrderId", &id),
                ]);
                match maker.place_order(&order).await {
                    // Resting already (a resumed cluster): nothing to do.
                    Ok(_) | Err(ClientError::Exchange { .. }) => {}
                    Err(error) => return Err(error.to_string()),
                }
            }
        }
    }
    Ok(users)
}

/// What the chain demo did: each user's deposit address, a deposit sent on chain and credited,
/// and a withdrawal paid on chain.
pub struct ChainDemo {
    /// Each demo user's deposit address on the lab chain.
    pub addresses: Vec<(&'static str, outlast_chain::Address)>,
    /// The customer's deposit to the first user, on chain.
    pub deposit_tx: outlast_chain::B256,
    /// From the deposit being mined to its credit.
    pub credited_after: std::time::Duration,
    /// The first user's withdrawal, paid on chain: its transaction.
    pub withdrawal_tx: String,
}

/// How long the chain demo waits for a credit or a payment.
const CHAIN_DEMO_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// On the lab chain: sets a withdrawal policy on USDT (two operators above 100,000; a million a
/// day per account), has the customer pay the first user 1,000 USDT on chain and waits for the
/// credit, then has that user withdraw 25 USDT to the customer and waits until it is paid.
pub async fn chain_demo(
    access: &Access,
    chain: &crate::chain::LabChain,
    users: &[DemoUser],
) -> Result<ChainDemo, String> {
    let mut addresses = Vec::new();
    for user in users {
        addresses.push((user.name, chain.deposit_address(user.account)?));
    }
    let operator = access.operator_all(outlast_client::FailoverPolicy::default());
    let policy = p(&[("coin", "USDT"), ("approvalThreshold", "100000"), ("accountDailyMax", "1000000")]);
    operator.call("POST", "/operator/v1/withdrawals/policy", &policy).await.map_err(|e| e.to_string())?;
    // Deposits count from the block where the leader set the chain up: wait for that first.
    let started = std::time::Instant::now();
    loop {
        let view = operator.call("GET", "/operator/v1/cluster", &[]).await.map_err(|e| e.to_string())?;
        if view["chains"][0]["checkpointBlock"].is_u64() {
            break;
        }
        if started.elapsed() > CHAIN_DEMO_DEADLINE {
            return Err(format!("the leader did not set the chain up within {CHAIN_DEMO_DEADLINE:?}"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let user = &users[0];
    let client =
        access.client(access.endpoints(), Some(user.credentials.clone()), outlast_client::FailoverPolicy::default());
    let deposit_tx = chain.customer_pays(addresses[0].1, 1_000_000_000).await?;
    let mined = std::time::Instant::now();
    let wanted = format!("{deposit_tx:#x}");
    loop {
        let rows = client.signed("GET", "/sapi/v1/capital/deposit/hisrec", &p(&[("coin", "USDT")])).await;
        let rows = rows.map_err(|e| e.to_string())?;
        if rows.as_array().into_iter().flatten().any(|row| row["txId"].as_str().is_some_and(|t| t.contains(&wanted))) {
            break;
        }
        if mined.elapsed() > CHAIN_DEMO_DEADLINE {
            return Err(format!("the deposit {wanted} was not credited within {CHAIN_DEMO_DEADLINE:?}"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let credited_after = mined.elapsed();
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let id = format!("demo-withdrawal-{now_ms}");
    let customer = format!("{:#x}", crate::chain::customer());
    let withdraw = p(&[("coin", "USDT"), ("address", &customer), ("amount", "25"), ("withdrawOrderId", &id)]);
    client.signed("POST", "/sapi/v1/capital/withdraw/apply", &withdraw).await.map_err(|e| e.to_string())?;
    let asked = std::time::Instant::now();
    loop {
        let rows = client.signed("GET", "/sapi/v1/capital/withdraw/history", &p(&[("withdrawOrderId", &id)])).await;
        let row = rows.map_err(|e| e.to_string())?.get(0).cloned().unwrap_or_default();
        match row["status"].as_u64() {
            Some(6) => {
                let withdrawal_tx = row["txId"].as_str().unwrap_or_default().to_string();
                return Ok(ChainDemo { addresses, deposit_tx, credited_after, withdrawal_tx });
            }
            Some(5) => return Err(format!("the demo withdrawal failed: {row}")),
            _ if asked.elapsed() > CHAIN_DEMO_DEADLINE => {
                return Err(format!("the demo withdrawal was not paid within {CHAIN_DEMO_DEADLINE:?}: {row}"));
            }
            _ => tokio::time::sleep(std::time::Duration::from_millis(200)).await,
        }
    }
}
