//! The JSON-RPC we serve to dapps, against a devnet behind three fault proxies: the chain id
//! from configuration, batches, administration refused, a log filter that outlives its
//! upstream and retracts a reorged log with `removed: true`, and upstream trouble reported
//! without a provider's URL.

use alloy_primitives::{Address, U256};
use outlast_chain::devnet::{Devnet, CHAIN_ID, DEV_KEYS};
use outlast_chain::proxy::{Fault, FaultProxy};
use outlast_chain::serve::Server;
use outlast_chain::tx::key_from_hex;
use serde_json::{json, Value};

mod common;

async fn lab() -> (Devnet, Vec<FaultProxy>, Server) {
    let common::Lab { devnet, proxies, pool } = common::lab().await;
    (devnet, proxies, Server::new(pool))
}

/// Waits (bounded) until `hash` is in a block: anvil mines a sent transaction just after
/// answering.
async fn mined(rpc: &outlast_chain::rpc::Rpc, hash: alloy_primitives::B256) {
    let started = std::time::Instant::now();
    while rpc.receipt(hash).await.unwrap().is_none() {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "{hash} was not mined");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

async fn call(server: &Server, method: &str, params: Value) -> Value {
    server.answer(&json!({ "jsonrpc": "2.0", "id": 7, "method": method, "params": params })).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_static_answers_and_refusals() {
    let (_devnet, proxies, server) = lab().await;
    let body = json!([
        { "jsonrpc": "2.0", "id": 1, "method": "eth_chainId" },
        { "jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": [] },
        { "jsonrpc": "2.0", "id": 3, "method": "anvil_setBalance", "params": ["0x0000000000000000000000000000000000000001", "0x1"] },
        { "id": 4, "method": "eth_chainId" },
    ]);
    let answers = server.answer_body(body.to_string().as_bytes()).await;
    assert_eq!(answers[0]["result"], json!(format!("{CHAIN_ID:#x}")));
    assert!(answers[1]["result"].is_string());
    assert_eq!(answers[2]["error"]["code"], -32601, "administration is not served");
    assert_eq!(answers[3]["error"]["code"], -32600);
    assert_eq!(server.answer_body(b"{not json").await["error"]["code"], -32700);
    assert_eq!(server.answer_body(b"[]").await["error"]["code"], -32600);

    // Every provider down: a retryable error that names no provider's address.
    for proxy in &proxies {
        proxy.set(Fault::Down);
    }
    let refused = call(&server, "eth_blockNumber", json!([])).await;
    assert_eq!(refused["error"]["code"], -32603, "{refused}");
    assert!(!refused.to_string().contains("127.0.0.1"), "{refused}");
    // The chain id still answers: it is configuration.
    assert_eq!(call(&server, "eth_chainId", json!([])).await["result"], json!(format!("{CHAIN_ID:#x}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_filter_outlives_its_upstream_and_retracts_a_reorged_log() {
    let (devnet, proxies, server) = lab().await;
    let rpc = devnet.rpc();
    let token = devnet.deploy_token(U256::from(1_000_000u64)).await.unwrap();
    let hot = key_from_hex(DEV_KEYS[0]).unwrap().address();
    let to: Address = "0x000000000000000000000000000000000000bEEF".parse().unwrap();
    let transfer = |amount: u64| json!([{ "from": hot, "to": token, "data": format!("0xa9059cbb{:0>64}{:064x}", format!("{to:x}").trim_start_matches("0x"), amount) }]);
    let filter = call(&server, "eth_newFilter", json!([{ "address": token }])).await["result"].clone();
    let blocks = call(&server, "eth_newBlockFilter", json!([])).await["result"].clone();
    assert!(filter.is_string() && blocks.is_string());

    let first: alloy_primitives::B256 = rpc.call("eth_sendTransaction", transfer(5)).await.unwrap();
    mined(&rpc, first).await;
    let changes = call(&server, "eth_getFilterChanges", json!([filter])).await["result"].clone();
    assert_eq!(changes.as_array().unwrap().len(), 1, "{changes}");
    assert_eq!(changes[0]["removed"], json!(false));

    // The upstream that answered may be gone: the filter lives here, and the block is reorged
    // away meanwhile.
    proxies[0].set(Fault::Down);
    proxies[1].set(Fault::Blackhole);
    devnet.reorg(1).await.unwrap();
    let retracted = call(&server, "eth_getFilterChanges", json!([filter])).await["result"].clone();
    let retracted = retracted.as_array().unwrap();
    assert_eq!(retracted.len(), 1, "{retracted:?}");
    assert_eq!(retracted[0]["removed"], json!(true));
    assert_eq!(retracted[0]["transactionHash"], changes[0]["transactionHash"]);

    let second: alloy_primitives::B256 = rpc.call("eth_sendTransaction", transfer(6)).await.unwrap();
    mined(&rpc, second).await;
    let again = call(&server, "eth_getFilterChanges", json!([filter])).await["result"].clone();
    assert_eq!(again.as_array().unwrap().len(), 1, "{again}");
    assert_eq!(again[0]["removed"], json!(false));
    assert_ne!(again[0]["transactionHash"], changes[0]["transactionHash"]);

    devnet.mine(3).await.unwrap();
    let hashes = call(&server, "eth_getFilterChanges", json!([blocks])).await["result"].clone();
    assert!(hashes.as_array().unwrap().len() >= 4, "the reorg's block, the transfer's and three mined: {hashes}");
    assert_eq!(call(&server, "eth_uninstallFilter", json!([filter])).await["result"], json!(true));
    assert_eq!(call(&server, "eth_getFilterChanges", json!([filter])).await["error"]["code"], -32000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dapps_transaction_that_providers_dropped_is_sent_again_until_mined() {
    let (devnet, proxies, server) = lab().await;
    let _heads = server.pool().watch_heads();
    let key = key_from_hex(DEV_KEYS[1]).unwrap();
    let rpc = devnet.rpc();
    let unsigned = outlast_chain::tx::Unsigned {
        chain_id: CHAIN_ID,
        nonce: rpc.pending_nonce(key.address()).await.unwrap(),
        gas_limit: outlast_chain::tx::NATIVE_TRANSFER_GAS,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        payment: outlast_chain::tx::Payment::Native { to: Address::repeat_byte(7), wei: U256::from(99u64) },
    };
    let signed = outlast_chain::tx::sign(&key, &unsigned).unwrap();
    // Every provider says "accepted" and drops it.
    for proxy in &proxies {
        proxy.set(Fault::DropBroadcasts);
    }
    let raw = format!("0x{}", signed.raw.iter().map(|b| format!("{b:02x}")).collect::<String>());
    let sent = call(&server, "eth_sendRawTransaction", json!([raw])).await;
    assert_eq!(sent["result"], json!(signed.hash), "{sent}");
    devnet.mine(1).await.unwrap();
    assert_eq!(rpc.receipt(signed.hash).await.unwrap(), None);
    assert_eq!(server.tracked(), 1);
    // One provider keeps transactions again: the next round sends it, and it is mined.
    proxies[2].set(Fault::Pass);
    let started = std::time::Instant::now();
    while rpc.receipt(signed.hash).await.unwrap().is_none() {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "never sent again");
        server.resend_unmined().await;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Mined: no longer followed.
    while server.tracked() > 0 {
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "still followed");
        server.resend_unmined().await;
    }
}
