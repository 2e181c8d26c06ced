//! API keys as Binance has them, through the real listener: Ed25519 keys (public key only on
//! the server), random per-key HMAC secrets shown once, final revocation, per-key permissions
//! (withdrawals off by default) and IP allowlists. Every refusal changes nothing.

mod common;

use base64::Engine as _;
use common::*;
use ring::signature::{Ed25519KeyPair, KeyPair};

fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

const ORDER: &str = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.01&price=100";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ed25519_key_signs_with_a_private_key_the_server_never_holds() {
    let node = TestNode::start(0).await;
    node.exchange().await;
    let random = ring::rand::SystemRandom::new();
    let pair = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&random).unwrap().as_ref()).unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    // The SubjectPublicKeyInfo DER of an Ed25519 key in base64: the body of the PEM file Binance
    // asks users to upload (parameters hold no line breaks).
    let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    spki.extend_from_slice(pair.public_key().as_ref());
    let created = node.op("POST", &format!("/operator/v1/apiKeys?account=1&publicKey={}", percent(&b64(&spki)))).await;
    assert_eq!(created["keyType"], "ED25519");
    assert!(created.get("secretKey").is_none(), "an Ed25519 key has no secret to show: {created}");
    let key = Key { key: created["apiKey"].as_str().unwrap().into(), secret: String::new(), account: 1 };

    let signed = |params: &str, signer: &Ed25519KeyPair| {
        let payload = format!("{params}&timestamp={}", now_ms());
        format!("{payload}&signature={}", percent(&b64(signer.sign(payload.as_bytes()).as_ref())))
    };
    let placed = node.raw(&key, "POST", "/api/v3/order", &signed(ORDER, &pair)).await;
    assert_eq!(placed.status, 200, "{}", placed.body);
    assert_eq!(placed.json()["status"], "NEW");

    // Another private key, a tampered payload, or an HMAC-style hex signature: -1022.
    let digest = node.digest().await;
    let stranger = Ed25519KeyPair::from_pkcs8(Ed25519KeyPair::generate_pkcs8(&random).unwrap().as_ref()).unwrap();
    let tampered = signed(ORDER, &pair).replace("quantity=0.01", "quantity=0.02");
    let hex = format!("{ORDER}&timestamp={}&signature={}", now_ms(), sign("whatever", b"x"));
    for body in [signed(ORDER, &stranger), tampered, hex] {
        let refused = node.raw(&key, "POST", "/api/v3/order", &body).await;
        assert_eq!((refused.status, refused.code()), (400, -1022), "{}", refused.body);
    }
    assert_eq!(node.digest().await, digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hmac_secrets_are_random_per_key_shown_once_and_never_in_the_log() {
    let node = TestNode::start(0).await;
    node.exchange().await;
    let first = node.op("POST", "/operator/v1/apiKeys?account=1&apiKey=NamedKey0123456789").await;
    let second = node.op("POST", "/operator/v1/apiKeys?account=1").await;
    let secrets = [first["secretKey"].as_str().unwrap(), second["secretKey"].as_str().unwrap()];
    assert_eq!(first["keyType"], "HMAC_SHA256");
    assert_ne!(secrets[0], secrets[1]);
    // The replicated state (what the log and snapshots hold) has neither secret in clear.
    let snapshot = node.running.reader.read().snapshot();
    for secret in secrets {
        assert_eq!(secret.len(), 64);
        assert!(!snapshot.windows(64).any(|w| w == secret.as_bytes()), "a secret is in the snapshot");
    }
    // Asking for an existing name again never shows its secret: it is refused.
    let auth = format!("Bearer {TOKEN}");
    let again = http(
        node.api,
        "POST",
        "/operator/v1/apiKeys?account=1&apiKey=NamedKey0123456789",
        &[("authorization", &auth)],
        b"",
    )
    .await;
    assert_eq!(again.status, 400, "{}", again.body);
    assert!(!again.body.contains(secrets[0]) && again.body.contains("DuplicateIdMismatch"), "{}", again.body);
    let named = Key { key: "NamedKey0123456789".into(), secret: secrets[0].into(), account: 1 };
    assert_eq!(node.signed(&named, "GET", "/api/v3/account", "").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_is_final_whatever_is_registered_later() {
    let node = TestNode::start(0).await;
    let (alice, _bob) = node.exchange().await;
    assert_eq!(node.signed(&alice, "GET", "/api/v3/account", "").await.status, 200);
    node.op("DELETE", &format!("/operator/v1/apiKeys?apiKey={}", alice.key)).await;
    let refused = node.signed(&alice, "GET", "/api/v3/account", "").await;
    assert_eq!((refused.status, refused.code()), (401, -2015), "{}", refused.body);
    // Re-registering the revoked name (for Alice or anyone, with any credential) is refused,
    // and the old secret still signs for nobody.
    let auth = format!("Bearer {TOKEN}");
    for account in [1, 2] {
        let path = format!("/operator/v1/apiKeys?account={account}&apiKey={}", alice.key);
        let again = http(node.api, "POST", &path, &[("authorization", &auth)], b"").await;
        assert_eq!(again.status, 400, "{}", again.body);
        assert!(again.body.contains("ApiKeyRevoked"), "{}", again.body);
    }
    assert_eq!(node.signed(&alice, "GET", "/api/v3/account", "").await.code(), -2015);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_does_only_what_its_permissions_allow_from_where_its_allowlist_allows() {
    let node = TestNode::start(0).await;
    node.exchange().await;
    let make = |query: &str| {
        let query = query.to_string();
        let node = &node;
        async move {
            let created = node.op("POST", &format!("/operator/v1/apiKeys?account=1{query}")).await;
            Key {
                key: created["apiKey"].as_str().unwrap().into(),
                secret: created["secretKey"].as_str().unwrap().into(),
                account: 1,
            }
        }
    };
    let withdraw = "coin=USDT&address=0xfeed&amount=1";
    let default = make("").await;
    let read_only = make("&enableTrading=false").await;
    let elsewhere = make("&ipRestrict=192.0.2.0%2F24,2001:db8::%2F32").await;
    let digest = node.digest().await;
    // By default: trading yes, withdrawals no.
    let refused = node.signed(&default, "POST", "/sapi/v1/capital/withdraw/apply", withdraw).await;
    assert_eq!((refused.status, refused.code()), (401, -2015), "{}", refused.body);
    // Read-only: no orders or cancels, but reads.
    assert_eq!(node.signed(&read_only, "POST", "/api/v3/order", ORDER).await.code(), -2015);
    assert_eq!(node.signed(&read_only, "DELETE", "/api/v3/openOrders", "symbol=BTCUSDT").await.code(), -2015);
    assert_eq!(node.signed(&read_only, "GET", "/api/v3/account", "").await.status, 200);
    // An allowlist that does not hold this client's address (127.0.0.1) refuses everything.
    assert_eq!(node.signed(&elsewhere, "GET", "/api/v3/account", "").await.code(), -2015);
    assert_eq!(node.raw(&elsewhere, "POST", "/api/v3/userDataStream", "").await.code(), -2015);
    let bad = http(
        node.api,
        "POST",
        "/operator/v1/apiKeys?account=1&ipRestrict=10.0.0.0%2F33",
        &[("authorization", &format!("Bearer {TOKEN}"))],
        b"",
    )
    .await;
    assert_eq!(bad.code(), -1102, "{}", bad.body);
    assert_eq!(node.digest().await, digest, "no refusal changed anything");
    // One that holds it, with withdrawals enabled, may withdraw.
    let home = make("&ipRestrict=192.0.2.1,127.0.0.0%2F8&enableWithdrawals=true").await;
    let applied = node.signed(&home, "POST", "/sapi/v1/capital/withdraw/apply", withdraw).await;
    assert_eq!(applied.status, 200, "{}", applied.body);
}
