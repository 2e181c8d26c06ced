//! The WebSocket API (`/ws-api/v3`) against a real one-node cluster: requests signed one by
//! one (HMAC), a session logged on with an Ed25519 key, Binance's response frames and error
//! codes, and isolation between accounts.

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::*;
use futures_util::{SinkExt, StreamExt};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends one request and waits (bounded) for its answer.
async fn ask(socket: &mut Socket, request: Value) -> Value {
    socket.send(Message::text(request.to_string())).await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), socket.next()).await.expect("an answer in time") {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).unwrap(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The signature payload Binance's WebSocket API defines: every parameter but the signature,
/// sorted by name.
fn payload(params: &Value) -> String {
    let mut pairs: Vec<String> = params
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_str().map_or_else(|| v.to_string(), str::to_string)))
        .collect();
    pairs.sort();
    pairs.join("&")
}

fn hmac_signed(key: &Key, mut params: Value) -> Value {
    params["apiKey"] = json!(key.key);
    params["timestamp"] = json!(now_ms());
    params["signature"] = json!(sign(&key.secret, payload(&params).as_bytes()));
    params
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_through_the_websocket_api_signed_per_request_or_by_a_session() {
    let node = TestNode::start(0).await;
    let (alice, bob) = node.exchange().await;
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/ws-api/v3", node.api)).await.unwrap();

    let pong = ask(&mut socket, json!({"id": "p", "method": "ping"})).await;
    assert_eq!(
        (pong["id"].as_str(), pong["status"].as_u64(), pong["result"].clone()),
        (Some("p"), Some(200), json!({}))
    );
    assert_eq!(pong["rateLimits"][0]["rateLimitType"], "REQUEST_WEIGHT");

    let order = json!({"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.1", "price": "30000", "newClientOrderId": "ws-1"});
    let placed =
        ask(&mut socket, json!({"id": 1, "method": "order.place", "params": hmac_signed(&alice, order.clone())})).await;
    assert_eq!(placed["status"], 200, "{placed}");
    assert_eq!(
        (placed["result"]["status"].as_str(), placed["result"]["clientOrderId"].as_str()),
        (Some("NEW"), Some("ws-1"))
    );
    let order_id = placed["result"]["orderId"].as_u64().unwrap();
    let rest = node.signed(&alice, "GET", "/api/v3/order", &format!("symbol=BTCUSDT&orderId={order_id}")).await.json();
    assert_eq!(rest["clientOrderId"], "ws-1", "REST sees the same order");
    let again =
        ask(&mut socket, json!({"id": 2, "method": "order.place", "params": hmac_signed(&alice, order.clone())})).await;
    assert_eq!(again["result"]["orderId"].as_u64(), Some(order_id), "the same client order id is the same order");

    // Bob cannot see alice's order; a tampered or unsigned request is refused.
    let peek = ask(&mut socket, json!({"id": 3, "method": "order.status", "params": hmac_signed(&bob, json!({"symbol": "BTCUSDT", "orderId": order_id}))})).await;
    assert_eq!((peek["status"].as_u64(), peek["error"]["code"].as_i64()), (Some(400), Some(-2013)), "{peek}");
    let mut tampered = hmac_signed(&alice, order.clone());
    tampered["quantity"] = json!("0.2");
    let refused = ask(&mut socket, json!({"id": 4, "method": "order.place", "params": tampered})).await;
    assert_eq!(refused["error"]["code"], -1022, "{refused}");
    let unsigned =
        ask(&mut socket, json!({"id": 5, "method": "account.status", "params": {"timestamp": now_ms()}})).await;
    assert_eq!(unsigned["error"]["code"], -1102, "no key, no session: {unsigned}");

    // A session: HMAC keys cannot log on; an Ed25519 key can, and then signs nothing more.
    let hmac_logon =
        ask(&mut socket, json!({"id": 6, "method": "session.logon", "params": hmac_signed(&alice, json!({}))})).await;
    assert_eq!(hmac_logon["error"]["code"], -4056, "{hmac_logon}");
    let random = ring::rand::SystemRandom::new();
    let pair = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&random).unwrap().as_ref()).unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    spki.extend_from_slice(pair.public_key().as_ref());
    let percent: String = b64(&spki)
        .bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    let created = node.op("POST", &format!("/operator/v1/apiKeys?account=1&publicKey={percent}")).await;
    let ed_key = created["apiKey"].as_str().unwrap().to_string();
    let mut logon = json!({"apiKey": ed_key, "timestamp": now_ms()});
    logon["signature"] = json!(b64(pair.sign(payload(&logon).as_bytes()).as_ref()));
    let session = ask(&mut socket, json!({"id": 7, "method": "session.logon", "params": logon})).await;
    assert_eq!(
        (session["status"].as_u64(), session["result"]["apiKey"].as_str()),
        (Some(200), Some(ed_key.as_str())),
        "{session}"
    );
    let account =
        ask(&mut socket, json!({"id": 8, "method": "account.status", "params": {"timestamp": now_ms()}})).await;
    assert_eq!(account["status"], 200, "{account}");
    let btc = account["result"]["balances"].as_array().unwrap().iter().find(|b| b["asset"] == "BTC").unwrap().clone();
    assert_eq!(btc["locked"], "0.10000000", "alice's account, her order's BTC locked: {btc}");
    let status = ask(&mut socket, json!({"id": 9, "method": "order.status", "params": {"symbol": "BTCUSDT", "orderId": order_id, "timestamp": now_ms()}})).await;
    assert_eq!(status["result"]["status"], "NEW");
    let canceled = ask(&mut socket, json!({"id": 10, "method": "order.cancel", "params": {"symbol": "BTCUSDT", "orderId": order_id, "timestamp": now_ms()}})).await;
    assert_eq!(canceled["result"]["status"], "CANCELED", "{canceled}");
    let stale =
        ask(&mut socket, json!({"id": 11, "method": "account.status", "params": {"timestamp": now_ms() - 600_000}}))
            .await;
    assert_eq!(stale["error"]["code"], -1021, "a session request's timestamp is still checked: {stale}");
    // Session methods are charged too (Binance: weight 2), so no message is free.
    let first = ask(&mut socket, json!({"id": 14, "method": "session.status"})).await;
    let second = ask(&mut socket, json!({"id": 15, "method": "session.status"})).await;
    let count = |answer: &Value| answer["rateLimits"][0]["count"].as_u64().unwrap();
    assert_eq!(count(&second), count(&first) + 2, "{first} then {second}");
    let out = ask(&mut socket, json!({"id": 12, "method": "session.logout"})).await;
    assert_eq!(out["result"]["apiKey"], Value::Null);
    let after =
        ask(&mut socket, json!({"id": 13, "method": "account.status", "params": {"timestamp": now_ms()}})).await;
    assert_eq!(after["error"]["code"], -1102, "logged out: {after}");

    let digest = node.digest().await;
    let bad: Vec<(Value, i64)> = vec![
        (json!({"id": 20, "method": "order.teleport"}), -1020),
        (json!({"id": 21, "method": "order.place", "params": "symbol=BTCUSDT"}), -1102),
        (json!({"id": 22, "method": "order.place", "params": {"symbol": "BTC&USDT"}}), -1100),
        (json!({"id": 23, "method": "depth", "params": {"symbol": "NOPE"}}), -1121),
        (json!({"id": 24, "method": "klines", "params": {"symbol": "BTCUSDT", "interval": "2m"}}), -1120),
        (json!({"id": {"nested": 1}, "method": "ping"}), -1102),
    ];
    for (request, code) in bad {
        let answer = ask(&mut socket, request.clone()).await;
        assert_eq!(
            (answer["status"].as_u64(), answer["error"]["code"].as_i64()),
            (Some(400), Some(code)),
            "{request}: {answer}"
        );
    }
    socket.send(Message::text("not json")).await.unwrap();
    let answer = socket.next().await.unwrap().unwrap();
    assert!(answer.to_text().unwrap().contains("-1102"), "{answer:?}");
    assert_eq!(node.digest().await, digest, "bad requests changed nothing");
    let depth =
        ask(&mut socket, json!({"id": 30, "method": "depth", "params": {"symbol": "BTCUSDT", "limit": 5}})).await;
    assert_eq!(depth["status"], 200, "the connection still serves: {depth}");
}
