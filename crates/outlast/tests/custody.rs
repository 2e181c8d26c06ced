//! Custody with real parts: three `outlast node` processes, an anvil devnet behind three
//! provider proxies, a token deployed from its shipped bytecode. Deposits sent on chain are
//! credited once after their confirmations and never when a reorg takes them away;
//! withdrawals are paid once — through a provider outage, with the leader SIGKILLed after the
//! transaction is committed but before any provider took it, and after it was mined but before
//! its confirmations. Every wait is bounded and on a condition.

mod chain_lab;

use std::sync::atomic::Ordering;
use std::time::Duration;

use chain_lab::{send, transfer_data, until, ChainLab, DEADLINE, ETH, USDT};
use outlast_chain::proxy::Fault;
use outlast_chain::B256;
use outlast_cluster::protocol::{Answer, ClientReply, ClientRequest, Query};
use outlast_engine::{AccountAction, AccountRequest, Balance, ClientId, CommandBody, Outcome};
use outlast_lab::processes::{ProcessCluster, OPERATOR_TOKEN};
use serde_json::{json, Value};

async fn balance(cluster: &ProcessCluster, account: u64, asset: u32) -> Balance {
    let query = ClientRequest::Read { query: Query::Balance { account, asset }, follower_ok: false, forwarded: false };
    for id in cluster.started() {
        if let Ok(ClientReply::Read { answer: Answer::Balance(Some(balance)), .. }) =
            cluster.call(id, &query, Duration::from_secs(5)).await
        {
            return balance;
        }
    }
    panic!("no node answers balances");
}

async fn withdraw(cluster: &ProcessCluster, account: u64, id: &str, amount: u64, address: &str) {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let body = CommandBody::Account(AccountRequest {
        account,
        request_id: ClientId::new(id).unwrap(),
        request_ts_ms: now_ms,
        action: AccountAction::RequestWithdrawal { asset: USDT, amount, address: address.into() },
    });
    let via = cluster.started()[0];
    let outcome = cluster.submit(via, body, DEADLINE).await;
    assert!(matches!(outcome, Some(Outcome::Applied(_))), "{outcome:?}");
}

/// The withdrawal with client id `id` as the operator API lists it.
async fn withdrawal(api: &outlast_client::Client, id: &str) -> Option<Value> {
    let rows = api.operator(OPERATOR_TOKEN, "GET", "/operator/v1/withdrawals", &[]).await.ok()?;
    rows.as_array()?.iter().find(|w| w["withdrawOrderId"] == id).cloned()
}

async fn status_of(api: &outlast_client::Client, id: &str, status: &str) -> Value {
    until(&format!("withdrawal {id} {status}"), async || withdrawal(api, id).await.filter(|w| w["status"] == status))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deposits_and_withdrawals_happen_once_through_provider_faults_reorgs_and_leader_kills() {
    let mut lab = ChainLab::start(2).await;
    let (hot, customer, token) = (lab.hot, lab.customer, lab.token);
    let all = lab.cluster.ids();
    let first_nonce =
        lab.rpc.call::<outlast_chain::U256>("eth_getTransactionCount", json!([hot, "latest"])).await.unwrap();

    // Deposits, watched: a token transfer and a native one, each credited once.
    let (deposit_1, deposit_2) = (lab.keys.address(1).unwrap(), lab.keys.address(2).unwrap());
    send(&lab.rpc, json!({ "from": customer, "to": token, "data": transfer_data(deposit_1, 5_000_000) })).await;
    send(&lab.rpc, json!({ "from": customer, "to": deposit_2, "value": "0x6f05b59d3b20000" })).await; // 0.5 ETH
    until("the deposits are credited", async || {
        (balance(&lab.cluster, 1, USDT).await.available == 5_000_000
            && balance(&lab.cluster, 2, ETH).await.available == 50_000_000)
            .then_some(())
    })
    .await;

    // A deposit that a reorg takes away before its confirmations is never credited: the next
    // one, in a later block, is credited, and the balance holds only that.
    lab.paused.store(true, Ordering::Relaxed);
    let gone =
        send(&lab.rpc, json!({ "from": customer, "to": token, "data": transfer_data(deposit_1, 1_000_000) })).await;
    let block = lab.rpc.receipt(gone).await.unwrap().unwrap().block_number.unwrap();
    // The leader's custody has seen the deposit's block at the head and finished a step after
    // that: it did not credit it, for want of a second confirmation.
    let leader = lab.cluster.leader(&all, DEADLINE).await.unwrap();
    let seen = until("custody sees the deposit's block", async || {
        let chain = lab.chain_view(leader).await?;
        (chain["custody"]["stepTip"].as_u64()? >= block).then(|| chain["custody"]["steps"].as_u64().unwrap())
    })
    .await;
    let chain = until("custody takes another step", async || {
        lab.chain_view(leader).await.filter(|c| c["custody"]["steps"].as_u64() > Some(seen))
    })
    .await;
    assert!(chain["checkpointBlock"].as_u64().unwrap() < block, "a block with one confirmation was credited: {chain}");
    lab.devnet.reorg(1).await.unwrap();
    assert_eq!(lab.rpc.receipt(gone).await.unwrap(), None, "the reorg took the deposit away");
    lab.paused.store(false, Ordering::Relaxed);
    send(&lab.rpc, json!({ "from": customer, "to": token, "data": transfer_data(deposit_1, 2_000_000) })).await;
    until("the later deposit is credited", async || {
        (balance(&lab.cluster, 1, USDT).await.available >= 7_000_000).then_some(())
    })
    .await;
    assert_eq!(balance(&lab.cluster, 1, USDT).await.available, 7_000_000, "the reorged deposit was credited");

    let customer_text = format!("{customer:#x}");

    // A withdrawal paid while one provider is down.
    lab.proxies[0].set(Fault::Down);
    let before = lab.token_balance(customer).await;
    withdraw(&lab.cluster, 1, "w-outage", 2_000_000, &customer_text).await;
    let paid = status_of(&lab.api, "w-outage", "CONFIRMED").await;
    assert_eq!(lab.token_balance(customer).await, before + 2_000_000);
    let hash: B256 = paid["txId"].as_str().unwrap().parse().unwrap();
    assert!(lab.rpc.receipt(hash).await.unwrap().unwrap().status());
    lab.proxies[0].set(Fault::Pass);
    // Custody pays it: an operator cannot mark it by hand (a made-up "sent", then "confirmed",
    // would debit a withdrawal nothing paid), and the refusal names why.
    let id = paid["id"].to_string();
    for (path, params) in [
        ("/operator/v1/withdrawals/sent", vec![("id", id.clone()), ("txId", "0xbyhand".to_string())]),
        ("/operator/v1/withdrawals/confirmed", vec![("id", id.clone())]),
    ] {
        let refused = lab.api.operator(OPERATOR_TOKEN, "POST", path, &params).await.unwrap_err().to_string();
        assert!(refused.contains("paid on chain devnet by custody"), "{path}: {refused}");
    }
    assert_eq!(withdrawal(&lab.api, "w-outage").await.unwrap()["txId"], paid["txId"]);

    // Committed but never broadcast (every provider drops it), then the leader is killed: the
    // new leader sends the same bytes, which are paid once.
    for proxy in &lab.proxies {
        proxy.set(Fault::DropBroadcasts);
    }
    let before = lab.token_balance(customer).await;
    withdraw(&lab.cluster, 1, "w-kill-sent", 1_000_000, &customer_text).await;
    let sent = status_of(&lab.api, "w-kill-sent", "SENT").await;
    let committed: B256 = sent["txId"].as_str().unwrap().parse().unwrap();
    assert_eq!(lab.rpc.receipt(committed).await.unwrap(), None, "no provider took it");
    let leader = lab.cluster.leader(&all, DEADLINE).await.unwrap();
    lab.cluster.kill(leader);
    for proxy in &lab.proxies {
        proxy.set(Fault::Pass);
    }
    let paid = status_of(&lab.api, "w-kill-sent", "CONFIRMED").await;
    assert_eq!(paid["txId"], sent["txId"], "the new leader paid with the committed transaction");
    assert_eq!(lab.token_balance(customer).await, before + 1_000_000);
    lab.cluster.spawn(leader, &[]).unwrap();

    // Mined but not yet confirmed when the leader is killed: the new leader settles it.
    lab.paused.store(true, Ordering::Relaxed);
    let before = lab.token_balance(customer).await;
    withdraw(&lab.cluster, 1, "w-kill-mined", 1_000_000, &customer_text).await;
    let sent = status_of(&lab.api, "w-kill-mined", "SENT").await;
    let hash: B256 = sent["txId"].as_str().unwrap().parse().unwrap();
    chain_lab::mined(&lab.rpc, hash).await;
    let leader = lab.cluster.leader(&all, DEADLINE).await.unwrap();
    lab.cluster.kill(leader);
    lab.paused.store(false, Ordering::Relaxed);
    let paid = status_of(&lab.api, "w-kill-mined", "CONFIRMED").await;
    assert_eq!(paid["txId"], sent["txId"]);
    assert_eq!(lab.token_balance(customer).await, before + 1_000_000);
    lab.cluster.spawn(leader, &[]).unwrap();

    // Three withdrawals, three nonces: no second transaction was ever signed and mined.
    let nonce = lab.rpc.call::<outlast_chain::U256>("eth_getTransactionCount", json!([hot, "latest"])).await.unwrap();
    assert_eq!(nonce, first_nonce + outlast_chain::U256::from(3));

    // Not an address: refused before anything is signed, and refunded.
    withdraw(&lab.cluster, 1, "w-bad", 1_000, "not-an-address").await;
    status_of(&lab.api, "w-bad", "FAILED").await;
    let account = balance(&lab.cluster, 1, USDT).await;
    assert_eq!((account.available, account.locked), (7_000_000 - 4_000_000, 0));
    assert!(lab.cluster.converged(&all, DEADLINE).await, "the replicas differ");
}
