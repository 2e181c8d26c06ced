//! Withdrawal controls through the API: a risk policy set by an operator, an address put on the
//! allowlist by its user, a large withdrawal waiting for two operators' certificates (the
//! bearer token names nobody, so it cannot approve), and a coin without a chain having no
//! deposit address.

mod common;

use common::plane::{self, body, client, https};
use common::*;
use outlast_tls::Identity;

async fn status_of(node: &TestNode, id: &str) -> String {
    let rows = node.op("GET", "/operator/v1/withdrawals").await;
    let row = rows.as_array().unwrap().iter().find(|w| w["id"].to_string() == id).cloned().unwrap();
    row["status"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controls_hold_and_a_large_withdrawal_needs_two_operators() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (Identity::Operator("alice".into()), Identity::Operator("bob".into()));
    let pki = plane::pki(&dir.path().join("pki"), &[alice.clone(), bob.clone()]);
    let node = TestNode::start(0).await;
    let (user, _) = node.exchange().await;
    for format in [2, 3] {
        node.op("POST", &format!("/operator/v1/upgrade/finalize?format={format}")).await;
    }
    node.op(
        "POST",
        "/operator/v1/withdrawals/policy?coin=USDT&allowlistDelayMs=0&approvalThreshold=500&accountDailyMax=10000",
    )
    .await;

    // Not on the allowlist: refused, with the engine's reason.
    let refused =
        node.signed(&user, "POST", "/sapi/v1/capital/withdraw/apply", "coin=USDT&address=0xabc&amount=100").await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("AddressNotAllowlisted"), "{}", refused.body);
    let listed = node.signed(&user, "POST", "/sapi/v1/capital/withdraw/allowlist", "address=0xabc").await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let small =
        node.signed(&user, "POST", "/sapi/v1/capital/withdraw/apply", "coin=USDT&address=0xabc&amount=100").await;
    assert_eq!(small.status, 200, "{}", small.body);
    assert_eq!(status_of(&node, small.json()["id"].as_str().unwrap()).await, "REQUESTED");
    let over =
        node.signed(&user, "POST", "/sapi/v1/capital/withdraw/apply", "coin=USDT&address=0xabc&amount=9901").await;
    assert!(over.body.contains("DailyLimitReached"), "{}", over.body);

    let big = node.signed(&user, "POST", "/sapi/v1/capital/withdraw/apply", "coin=USDT&address=0xabc&amount=600").await;
    let big = big.json()["id"].as_str().unwrap().to_string();
    assert_eq!(status_of(&node, &big).await, "AWAITING_APPROVAL");
    // The bearer token cannot approve: it names nobody.
    let auth = format!("Bearer {TOKEN}");
    let path = format!("/operator/v1/withdrawals/approve?id={big}");
    let token = http(node.api, "POST", &path, &[("authorization", auth.as_str())], b"").await;
    assert_eq!(token.status, 400, "{}", token.body);
    assert_eq!(status_of(&node, &big).await, "AWAITING_APPROVAL");

    // Two operators, each with a certificate, on the operator plane.
    let plane = plane::serve(&node, &pki, vec![alice.clone(), bob.clone()]).await;
    let as_alice = client(&pki.ca_cert(), Some((&pki, &alice)));
    let as_bob = client(&pki.ca_cert(), Some((&pki, &bob)));
    let list =
        |connector| async move { body(&https(connector, plane, "GET", "/operator/v1/withdrawals").await.unwrap()) };
    let state = |rows: serde_json::Value| {
        rows.as_array().unwrap().iter().find(|w| w["id"].to_string() == big).unwrap()["status"].clone()
    };
    for (who, expected) in [(&as_alice, "AWAITING_APPROVAL"), (&as_alice, "AWAITING_APPROVAL"), (&as_bob, "REQUESTED")]
    {
        let answer = https(who, plane, "POST", &path).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert_eq!(state(list(&as_alice).await), expected);
    }
    let trail = body(&https(&as_alice, plane, "GET", "/operator/v1/audit/actions?limit=100").await.unwrap());
    let approvers: Vec<&str> = trail["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["action"].get("ApproveWithdrawal").is_some())
        .map(|r| r["operator"].as_str().unwrap())
        .collect();
    assert_eq!(approvers, ["bob", "alice"], "newest first: {trail}");

    // This node follows no chain: no deposit address, said plainly.
    let address = node.signed(&user, "GET", "/sapi/v1/capital/deposit/address", "coin=USDT").await;
    assert_eq!(address.status, 400, "{}", address.body);
    assert!(address.body.contains("no deposit address"), "{}", address.body);
}
