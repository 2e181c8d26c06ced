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
