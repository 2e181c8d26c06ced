//! The multi-provider pool against a real devnet behind three fault proxies (one per "provider"):
//! reads go on through an outage and a black hole, a node stuck behind head is not read from,
//! agreement outvotes a lying node and refuses when no two agree, a broadcast survives a
//! provider that drops it, and a revert is final.

use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use outlast_chain::devnet::{CHAIN_ID, DEV_KEYS};
use outlast_chain::pool::{Pool, PoolError};
use outlast_chain::proxy::Fault;
use outlast_chain::tx::{key_from_hex, sign, Payment, Unsigned, NATIVE_TRANSFER_GAS};
use serde_json::{json, Value};

mod common;

use common::lab;

const DEADLINE: Duration = Duration::from_secs(30);
async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < DEADLINE, "{what}: not within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn breaker(pool: &Pool, label: &str) -> String {
    pool.status().into_iter().find(|s| s.label == label).unwrap().breaker
}

async fn reads(pool: &Pool, count: usize) -> usize {
    let dev0 = key_from_hex(DEV_KEYS[0]).unwrap().address();
    let mut failed = 0;
    for _ in 0..count {
        failed += usize::from(pool.read("eth_getBalance", json!([dev0, "latest"])).await.is_err());
    }
    failed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_go_on_through_an_outage_and_a_black_hole() {
    let lab = lab().await;
    let _heads = lab.pool.watch_heads();
    until("every upstream reports a head", || lab.pool.status().iter().all(|s| s.head.is_some())).await;
    assert_eq!(reads(&lab.pool, 50).await, 0);

    lab.proxies[0].set(Fault::Down);
    assert_eq!(reads(&lab.pool, 100).await, 0, "alpha is down");
    until("alpha's breaker opens", || breaker(&lab.pool, "alpha") != "closed").await;

    lab.proxies[1].set(Fault::Blackhole);
    let started = Instant::now();
    assert_eq!(reads(&lab.pool, 100).await, 0, "alpha down and bravo black-holed");
    assert!(started.elapsed() < DEADLINE);
    until("bravo's breaker opens", || breaker(&lab.pool, "bravo") != "closed").await;
    let status = lab.pool.status();
    assert!(status[1].failures > 0, "the black hole's timeouts count: {status:?}");

    // Everything cut: a clear refusal, not a hang.
    lab.proxies[2].set(Fault::Down);
    let refused = lab.pool.read("eth_blockNumber", json!([])).await;
    assert!(matches!(refused, Err(PoolError::Unavailable(_))), "{refused:?}");

    // Back: the head polls' trials close every breaker again.
    for proxy in &lab.proxies {
        proxy.set(Fault::Pass);
    }
    until("every breaker closes", || lab.pool.status().iter().all(|s| s.breaker == "closed")).await;
    assert_eq!(reads(&lab.pool, 20).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_node_is_not_read_and_agreement_outvotes_a_liar() {
    let lab = lab().await;
    let _heads = lab.pool.watch_heads();
    until("every upstream reports a head", || lab.pool.status().iter().all(|s| s.head.is_some())).await;
    let frozen = lab.proxies[0].freeze().await.unwrap();
    lab.devnet.mine(10).await.unwrap();
    until("alpha is seen 10 behind", || lab.pool.status()[0].lag_blocks >= Some(10)).await;
    for _ in 0..50 {
        let head: alloy_primitives::U64 =
            serde_json::from_value(lab.pool.read("eth_blockNumber", json!([])).await.unwrap()).unwrap();
        assert!(head.to::<u64>() >= frozen + 10, "read {head} from the stuck node (frozen at {frozen})");
    }

    let number = json!(alloy_primitives::U64::from(frozen + 5));
    let truth: Value = lab.devnet.rpc().call("eth_getBlockByNumber", json!([number, false])).await.unwrap();
    let hash = |block: &Value| block["hash"].clone();
    // alpha does not have the block, bravo lies about it, charlie tells the truth: no two agree.
    lab.proxies[1].set(Fault::Lie);
    let disputed = lab.pool.agree("eth_getBlockByNumber", json!([number, false]), hash).await;
    assert!(matches!(disputed, Err(PoolError::NoAgreement(_))), "{disputed:?}");
    // alpha catches up: two honest nodes outvote the liar, who is marked.
    lab.proxies[0].set(Fault::Pass);
    let agreed = lab.pool.agree("eth_getBlockByNumber", json!([number, false]), hash).await.unwrap();
    assert_eq!(agreed["hash"], truth["hash"]);
    until("bravo is marked", || lab.pool.status()[1].disagreements > 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_survives_a_provider_that_drops_it() {
    let lab = lab().await;
    let hot = key_from_hex(DEV_KEYS[0]).unwrap();
    let rpc = lab.devnet.rpc();
    let to: Address = "0x000000000000000000000000000000000000bEEF".parse().unwrap();
    let unsigned = Unsigned {
        chain_id: CHAIN_ID,
        nonce: rpc.pending_nonce(hot.address()).await.unwrap(),
        gas_limit: NATIVE_TRANSFER_GAS,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        payment: Payment::Native { to, wei: U256::from(7u64) },
    };
    let signed = sign(&hot, &unsigned).unwrap();

    // Every provider drops it while answering its hash: "accepted", and never mined. This is
    // why a payment is tracked to its receipt and re-sent, not trusted to one answer.
    for proxy in &lab.proxies {
        proxy.set(Fault::DropBroadcasts);
    }
    assert_eq!(lab.pool.broadcast(&signed.raw).await.unwrap(), signed.hash);
    lab.devnet.mine(1).await.unwrap();
    assert_eq!(rpc.receipt(signed.hash).await.unwrap(), None);

    // One drops it, one is down, one keeps it: the same bytes go through and are mined.
    lab.proxies[1].set(Fault::Down);
    lab.proxies[2].set(Fault::Pass);
    assert_eq!(lab.pool.broadcast(&signed.raw).await.unwrap(), signed.hash);
    let started = Instant::now();
    while rpc.receipt(signed.hash).await.unwrap().is_none() {
        assert!(started.elapsed() < DEADLINE, "not mined");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rpc.balance(to).await.unwrap(), U256::from(7u64));
    // The same bytes once more: its nonce is spent (by itself; the receipt says so).
    match lab.pool.broadcast(&signed.raw).await {
        Ok(hash) => assert_eq!(hash, signed.hash),
        Err(PoolError::NonceUsed(_)) => {}
        Err(other) => panic!("re-broadcast: {other}"),
    }
    assert_eq!(rpc.balance(to).await.unwrap(), U256::from(7u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revert_is_final_and_asked_once() {
    let lab = lab().await;
    let token = lab.devnet.deploy_token(U256::from(1_000u64)).await.unwrap();
    let calls = |pool: &Pool| pool.status().iter().map(|s| s.calls).sum::<u64>();
    let before = calls(&lab.pool);
    // transfer(to, amount) beyond the caller's balance: the token reverts.
    let data = format!("0xa9059cbb{:0>64}{:0>64}", "bEEF", "ffff");
    let reverted = lab.pool.read("eth_call", json!([{ "to": token, "data": data }, "latest"])).await;
    assert!(matches!(reverted, Err(PoolError::Node { .. })), "{reverted:?}");
    assert_eq!(calls(&lab.pool), before + 1, "a revert is not asked again elsewhere");
}
