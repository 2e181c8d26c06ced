//! The chain in tests: a real devnet (anvil from npm, started and stopped here), the test token
//! deployed from its shipped bytecode, and payments signed offline by our code landing on it —
//! the bytes and hash known before broadcast, a re-broadcast of the same bytes changing
//! nothing, a deposit address derived from the extended public key receiving the token, and a
//! reorg taking a mined transaction away.

use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use outlast_chain::devnet::{test_anvil, Devnet, CHAIN_ID, DEV_KEYS, DEV_XPUB};
use outlast_chain::erc20::IERC20;
use outlast_chain::hd::DepositKeys;
use outlast_chain::rpc::{Rpc, RpcError};
use outlast_chain::tx::{key_from_hex, sign, Payment, Unsigned, NATIVE_TRANSFER_GAS};

const DEADLINE: Duration = Duration::from_secs(30);

async fn mined(rpc: &Rpc, hash: alloy_primitives::B256) -> alloy_rpc_types_eth::TransactionReceipt {
    let started = Instant::now();
    loop {
        if let Some(receipt) = rpc.receipt(hash).await.unwrap() {
            return receipt;
        }
        assert!(started.elapsed() < DEADLINE, "{hash} was not mined");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_signed_offline_land_on_the_devnet_once() {
    let anvil = test_anvil();
    assert!(anvil.exists(), "{}: run .ci/run once (npm @foundry-rs/anvil), or set OUTLAST_ANVIL", anvil.display());
    let devnet = Devnet::start(&anvil).await.unwrap();
    let rpc = devnet.rpc();
    assert_eq!(rpc.chain_id().await.unwrap(), CHAIN_ID);

    let hot = key_from_hex(DEV_KEYS[0]).unwrap();
    let token = devnet.deploy_token(U256::from(1_000_000_000_000u64)).await.unwrap();
    assert_eq!(rpc.erc20_balance(token, hot.address()).await.unwrap(), U256::from(1_000_000_000_000u64));

    // Account 1's deposit address, from the extended public key alone: dev account 1 (whose
    // key the devnet knows, so the derivation is checked against an independent one).
    let deposit = DepositKeys::parse(DEV_XPUB).unwrap().address(1).unwrap();
    assert_eq!(deposit, key_from_hex(DEV_KEYS[1]).unwrap().address());
    let before = rpc.erc20_balance(token, deposit).await.unwrap();

    let unsigned = Unsigned {
        chain_id: CHAIN_ID,
        nonce: rpc.pending_nonce(hot.address()).await.unwrap(),
        gas_limit: 100_000,
        max_fee_per_gas: 20_000_000_000,
        max_priority_fee_per_gas: 1_000_000_000,
        payment: Payment::Erc20 { token, to: deposit, amount: U256::from(1_234_567u64) },
    };
    let signed = sign(&hot, &unsigned).unwrap();
    // The node names the hash we computed before sending.
    assert_eq!(rpc.send_raw(&signed.raw).await.unwrap(), signed.hash);
    let receipt = mined(&rpc, signed.hash).await;
    assert!(receipt.status(), "the transfer reverted");
    let transfers: Vec<_> =
        receipt.inner.logs().iter().filter_map(|log| log.log_decode::<IERC20::Transfer>().ok()).collect();
    assert_eq!(transfers.len(), 1);
    let event = &transfers[0].inner.data;
    assert_eq!((event.from, event.to, event.value), (hot.address(), deposit, U256::from(1_234_567u64)));
    assert_eq!(rpc.erc20_balance(token, deposit).await.unwrap(), before + U256::from(1_234_567u64));

    // The same bytes again (what a new leader re-broadcasts): refused by the node, and the one
    // transaction of that nonce stays the one mined.
    match rpc.send_raw(&signed.raw).await {
        Ok(hash) => assert_eq!(hash, signed.hash),
        Err(RpcError::Node { .. }) => {} // "nonce too low": that nonce is spent
        Err(other) => panic!("re-broadcast: {other}"),
    }
    assert_eq!(rpc.erc20_balance(token, deposit).await.unwrap(), before + U256::from(1_234_567u64));
    assert_eq!(mined(&rpc, signed.hash).await.block_hash, receipt.block_hash);

    // The native asset, the same way.
    let to: Address = "0x000000000000000000000000000000000000dEaD".parse().unwrap();
    let native = Unsigned {
        nonce: unsigned.nonce + 1,
        gas_limit: NATIVE_TRANSFER_GAS,
        payment: Payment::Native { to, wei: U256::from(5_000_000_000_000_000u64) },
        ..unsigned.clone()
    };
    let paid = sign(&hot, &native).unwrap();
    assert_eq!(rpc.send_raw(&paid.raw).await.unwrap(), paid.hash);
    assert!(mined(&rpc, paid.hash).await.status());
    assert_eq!(rpc.balance(to).await.unwrap(), U256::from(5_000_000_000_000_000u64));

    // A reorg replaces the block that held it: the transaction is gone (what a watcher must
    // not have credited before its confirmations).
    devnet.reorg(1).await.unwrap();
    assert_eq!(rpc.receipt(paid.hash).await.unwrap(), None);
    assert_eq!(rpc.balance(to).await.unwrap(), U256::ZERO);
}
