//! The chain's tests' lab: a devnet of anvil's behind three fault proxies (one per provider),
//! and a pool over them with short deadlines.
#![allow(dead_code)]

use std::sync::Arc;

use outlast_chain::devnet::{test_anvil, Devnet, CHAIN_ID};
use outlast_chain::pool::{Pool, PoolConfig, UpstreamConfig};
use outlast_chain::proxy::FaultProxy;

pub const LABELS: [&str; 3] = ["alpha", "bravo", "charlie"];

pub struct Lab {
    pub devnet: Devnet,
    pub proxies: Vec<FaultProxy>,
    pub pool: Arc<Pool>,
}

pub async fn lab() -> Lab {
    let anvil = test_anvil();
    assert!(anvil.exists(), "{}: run .ci/run once (npm @foundry-rs/anvil), or set OUTLAST_ANVIL", anvil.display());
    let devnet = Devnet::start(&anvil).await.unwrap();
    let mut proxies = Vec::new();
    for _ in LABELS {
        proxies.push(FaultProxy::start("127.0.0.1:0".parse().unwrap(), devnet.url()).await.unwrap());
    }
    let upstreams = LABELS
        .iter()
        .zip(&proxies)
        .map(|(label, p)| UpstreamConfig { label: label.to_string(), url: p.url() })
        .collect();
    let mut config = PoolConfig::new("devnet", CHAIN_ID, upstreams);
    config.attempt_ms = 300;
    config.call_ms = 3_000;
    config.head_poll_ms = 100;
    let pool = Pool::new(config).unwrap();
    Lab { devnet, proxies, pool }
}
