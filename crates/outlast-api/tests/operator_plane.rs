//! The operator plane: the operator API on its own listener, over mutual TLS, for the
//! configured operators' certificates only; every action lands in the replicated audit trail
//! under the name in the certificate; and the public listener serves no operator endpoint once
//! the plane is up, whatever token it is shown.

mod common;

use common::plane::{self, body, client, https, CLUSTER};
use common::*;
use outlast_tls::Identity;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_an_admitted_operators_certificate_opens_the_operator_plane_and_its_name_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (Identity::Operator("alice".into()), Identity::Operator("bob".into()));
    let pki = plane::pki(&dir.path().join("pki"), &[alice.clone(), bob.clone()]);
    // Another CA that also calls its operator "alice", for the same cluster name.
    let forged = outlast_tls::write_cluster_pki(&dir.path().join("forged"), CLUSTER, &[alice.clone()]).unwrap();

    let node = TestNode::start(0).await;
    let plane = plane::serve(&node, &pki, vec![alice.clone()]).await;

    // Alice, with her certificate, acts; the audit trail names her.
    let as_alice = client(&pki.ca_cert(), Some((&pki, &alice)));
    let created = https(&as_alice, plane, "POST", "/operator/v1/assets?symbol=BTC&decimals=8").await.unwrap();
    assert!(created.starts_with("HTTP/1.1 200"), "{created}");
    let trail = body(&https(&as_alice, plane, "GET", "/operator/v1/audit/actions").await.unwrap());
    assert_eq!(trail["total"], 1, "{trail}");
    assert_eq!(trail["records"][0]["operator"], "alice", "{trail}");
    assert_eq!(trail["records"][0]["action"]["CreateAsset"]["symbol"], "BTC", "{trail}");
    assert!(trail["records"][0]["time"].as_u64().unwrap() > 0);

    // Nobody else gets an HTTP answer: no certificate, a certificate of another CA under her
    // name, a member node's certificate, an operator this node does not admit.
    let digest = node.digest().await;
    let node_cert = Identity::Node(1);
    let strangers = [
        ("no certificate", client(&pki.ca_cert(), None)),
        ("another CA's alice", client(&pki.ca_cert(), Some((&forged, &alice)))),
        ("a node's certificate", client(&pki.ca_cert(), Some((&pki, &node_cert)))),
        ("bob, not admitted", client(&pki.ca_cert(), Some((&pki, &bob)))),
    ];
    for (who, connector) in &strangers {
        let answer = https(connector, plane, "POST", "/operator/v1/assets?symbol=EVIL&decimals=2").await;
        assert!(answer.is_none(), "{who} was answered: {answer:?}");
    }
    // The public listener serves no operator endpoint now, even with the right bearer token.
    let auth = format!("Bearer {TOKEN}");
    for (method, path) in [("POST", "/operator/v1/assets?symbol=EVIL&decimals=2"), ("GET", "/operator/v1/cluster")] {
        let public = http(node.api, method, path, &[("authorization", &auth)], b"").await;
        assert_eq!((public.status, public.code()), (404, -1000), "{path}: {}", public.body);
    }
    assert_eq!(node.digest().await, digest, "no refused request changed anything");
    // Metrics are internal: on the plane only, with the expiry of the certificates in use.
    assert_eq!(http(node.api, "GET", "/metrics", &[], b"").await.status, 404);
    let metrics = https(&as_alice, plane, "GET", "/metrics").await.unwrap();
    let expiry = format!("file=\"{}\"}}", pki.cert(&Identity::Node(1)).display());
    let line = metrics
        .lines()
        .find(|l| l.starts_with("outlast_tls_certificate_expiry_timestamp_seconds") && l.contains(&expiry));
    let not_after: i64 = line.unwrap_or_else(|| panic!("{metrics}")).rsplit(' ').next().unwrap().parse().unwrap();
    assert!(not_after > now_ms() as i64 / 1000 + 300 * 86_400, "a year's certificate: {not_after}");
    // And nothing users call is served there.
    let ping = https(&as_alice, plane, "GET", "/api/v3/ping").await.unwrap();
    assert!(ping.starts_with("HTTP/1.1 404"), "{ping}");
    assert_eq!(http(node.api, "GET", "/api/v3/ping", &[], b"").await.status, 200, "users are still served");
}
