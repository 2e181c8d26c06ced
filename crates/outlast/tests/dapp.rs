//! A dapp on Outlast's `/rpc/<chain>`: viem from npm, unchanged, pointed at the nodes (with its
//! own fallback across them) reads the chain and sends a payment while two of the three
//! providers are cut and then while a node is also killed; CORS answers the cluster's origins
//! and no other.

mod chain_lab;

use std::path::{Path, PathBuf};
use std::process::Command;

use chain_lab::ChainLab;
use outlast_chain::devnet::DEV_KEYS;
use outlast_chain::proxy::Fault;
use serde_json::Value;

fn node_modules() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/chain/npm/node_modules")
}

/// Runs the dapp against `urls`; its one line of JSON.
fn dapp(lab: &ChainLab, urls: &[String]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dapp/dapp.cjs");
    let output = Command::new("node")
        .env("NODE_PATH", node_modules())
        .arg(script)
        .args([DEV_KEYS[1], &format!("{:#x}", lab.customer), &format!("{:#x}", lab.token)])
        .args(urls)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "the dapp failed: {}\n{stdout}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_dapp_keeps_working_through_provider_and_node_failures() {
    assert!(node_modules().join("viem").exists(), "run .ci/run once (npm viem under target/chain/npm)");
    let mut lab = ChainLab::start(1).await;
    let urls: Vec<String> =
        lab.cluster.ids().iter().map(|id| format!("http://{}/rpc/devnet", lab.cluster.api_addr(*id))).collect();

    // Two of the three providers cut: one refuses, one swallows requests.
    lab.proxies[0].set(Fault::Down);
    lab.proxies[1].set(Fault::Blackhole);
    let answer = tokio::task::block_in_place(|| dapp(&lab, &urls));
    assert_eq!(answer["status"], "success", "{answer}");
    assert_eq!(answer["received"], "12345", "{answer}");
    assert_eq!(answer["tokens"], "100000000", "the customer's tokens, read through eth_call");

    // And the node the dapp tries first is killed as well.
    lab.cluster.kill(1);
    let answer = tokio::task::block_in_place(|| dapp(&lab, &urls));
    assert_eq!(answer["status"], "success", "{answer}");
    assert_eq!(answer["received"], "12345", "{answer}");

    // CORS: the cluster's own origin may call from a browser; another site may not.
    let rpc = format!("http://{}/rpc/devnet", lab.cluster.api_addr(2));
    let origin = format!("http://{}", lab.cluster.api_addr(2));
    let transport = outlast_client::Transport::new(std::time::Duration::from_secs(2), outlast_client::public_roots());
    for (from, allowed) in [(origin.as_str(), true), ("https://evil.example", false)] {
        let headers = [("origin", from), ("access-control-request-method", "POST")];
        let answer = transport.send("OPTIONS", &rpc, &headers, String::new(), chain_lab::DEADLINE).await;
        match answer {
            outlast_client::Attempt::Answer { status, .. } => assert_eq!(status == 204, allowed, "{from}: {status}"),
            outlast_client::Attempt::Failed(why) => panic!("{why}"),
        }
    }
}

/// The next JSON message on `socket`, within the lab's deadline.
async fn next_json(socket: &mut outlast_client::Socket) -> Value {
    use futures_util::StreamExt;
    loop {
        let message = tokio::time::timeout(chain_lab::DEADLINE, socket.next()).await.expect("a message in time");
        match message {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                return serde_json::from_str(&text).unwrap()
            }
            Some(Ok(_)) => continue,
            other => panic!("the subscription ended: {other:?}"),
        }
    }
}

async fn request(socket: &mut outlast_client::Socket, id: u64, method: &str, params: Value) {
    use futures_util::SinkExt;
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params });
    socket.send(tokio_tungstenite::tungstenite::Message::Text(body.to_string().into())).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_skip_no_block_through_provider_failures_and_retract_reorged_logs() {
    use std::sync::atomic::Ordering;
    let lab = ChainLab::start(1).await;
    let url = format!("ws://{}/rpc/devnet", lab.cluster.api_addr(1));
    let mut socket = outlast_client::connect_websocket(&url, None, chain_lab::DEADLINE).await.unwrap();
    request(&mut socket, 1, "eth_subscribe", serde_json::json!(["newHeads"])).await;
    request(&mut socket, 2, "eth_subscribe", serde_json::json!(["logs", { "address": lab.token }])).await;
    let (mut heads_id, mut logs_id) = (None, None);
    while heads_id.is_none() || logs_id.is_none() {
        let message = next_json(&mut socket).await;
        match message["id"].as_u64() {
            Some(1) => heads_id = message["result"].as_str().map(str::to_string),
            Some(2) => logs_id = message["result"].as_str().map(str::to_string),
            _ => {}
        }
    }
    let (heads_id, logs_id) = (heads_id.unwrap(), logs_id.unwrap());
    let block_of =
        |header: &Value| u64::from_str_radix(header["number"].as_str().unwrap().trim_start_matches("0x"), 16).unwrap();

    // Heads in order, none skipped, while first one provider and then two are cut.
    let mut last: Option<u64> = None;
    let mut seen = 0;
    while seen < 15 {
        let message = next_json(&mut socket).await;
        if message["params"]["subscription"] != heads_id.as_str() {
            continue;
        }
        let number = block_of(&message["params"]["result"]);
        if let Some(last) = last {
            assert_eq!(number, last + 1, "a head was skipped or repeated");
        }
        last = Some(number);
        seen += 1;
        match seen {
            5 => lab.proxies[0].set(Fault::Down),
            10 => lab.proxies[1].set(Fault::Blackhole),
            _ => {}
        }
    }
    lab.proxies[0].set(Fault::Pass);
    lab.proxies[1].set(Fault::Pass);

    // A transfer's log arrives; a reorg takes its block away and the log comes back removed.
    lab.paused.store(true, Ordering::Relaxed);
    let data = chain_lab::transfer_data(lab.customer, 5);
    let tx =
        chain_lab::send(&lab.rpc, serde_json::json!({ "from": lab.customer, "to": lab.token, "data": data })).await;
    let log = loop {
        let message = next_json(&mut socket).await;
        if message["params"]["subscription"] == logs_id.as_str() {
            break message["params"]["result"].clone();
        }
    };
    assert_eq!(log["transactionHash"], serde_json::json!(tx));
    assert_eq!(log["removed"], false);
    lab.devnet.reorg(1).await.unwrap();
    let retracted = loop {
        let message = next_json(&mut socket).await;
        if message["params"]["subscription"] == logs_id.as_str() {
            break message["params"]["result"].clone();
        }
    };
    assert_eq!(retracted["transactionHash"], serde_json::json!(tx));
    assert_eq!(retracted["removed"], true, "{retracted}");
    lab.paused.store(false, Ordering::Relaxed);
}
