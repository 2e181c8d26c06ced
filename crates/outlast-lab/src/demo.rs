//! The demo exchange `outlast up` seeds: assets, markets, three funded accounts with API keys,
//! and a market maker's ladder so the books are not empty. Every step is idempotent (fixed
//! names, chain ids and client order ids), so seeding a resumed cluster changes nothing.

use outlast_client::{Client, ClientError, Credentials};

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

/// Seeds the exchange through the operator API; returns the users with their secrets.
pub async fn seed(client: &Client, token: &str) -> Result<Vec<DemoUser>, ClientError> {
    let op = |path: &'static str, params: Vec<(&'static str, String)>| async move {
        client.operator(token, "POST", path, &params).await
    };
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
        let created = op("/operator/v1/apiKeys", p(&[("account", &a), ("apiKey", key)])).await?;
        let secret = created["secretKey"].as_str().unwrap_or_default().to_string();
        users.push(DemoUser { name, account, credentials: Credentials { key: key.to_string(), secret } });
    }
    // The maker's ladder: five levels each side around a mid price.
    let maker = Client::new(
        client.endpoints().to_vec(),
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
                    Err(error) => return Err(error),
                }
            }
        }
    }
    Ok(users)
}
