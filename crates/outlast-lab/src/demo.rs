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
                    op("/operator/v1/apiKeys", p(&[("account", &a), ("apiKey", key)])).await.map_err(|e| {
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
