//! The web front-end as a node serves it: pages with hashed, integrity-checked assets and the
//! right cache and security headers; CORS for the cluster's own origins only; the public
//! status endpoints; and report paths that cannot leave the reports directory.

mod common;

use common::*;
use sha2::{Digest, Sha256};

fn header<'a>(reply: &'a Reply, name: &str) -> Option<&'a str> {
    reply.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_assets_carry_their_hashes_and_headers() {
    let node = TestNode::start(0).await;
    let origin = format!("http://{}", node.api);
    for path in ["/", "/status"] {
        let page = http(node.api, "GET", path, &[], b"").await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(header(&page, "content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(header(&page, "cache-control"), Some("no-cache"), "pages are revalidated");
        let policy = header(&page, "content-security-policy").unwrap();
        assert!(policy.contains(&format!("connect-src 'self' {origin} ws://{}", node.api)), "{policy}");
        assert!(page.body.contains(&format!("\"url\":\"{origin}\"")), "the page knows the origins");
        // Every script and stylesheet: fetched by its hashed name, its bytes hash to the
        // integrity value the page names, and it is cached for good.
        let mut assets = 0;
        for tag in page.body.split("/assets/").skip(1) {
            let name = tag.split('"').next().unwrap();
            let integrity = tag.split("integrity=\"").nth(1).unwrap().split('"').next().unwrap();
            let asset = http(node.api, "GET", &format!("/assets/{name}"), &[], b"").await;
            assert_eq!(asset.status, 200, "{name}");
            let digest = Sha256::digest(asset.body.as_bytes());
            assert_eq!(integrity, format!("sha256-{}", outlast_web::base64::encode(&digest)), "{name}");
            assert_eq!(header(&asset, "cache-control"), Some("public, max-age=31536000, immutable"));
            assert_eq!(header(&asset, "x-content-type-options"), Some("nosniff"));
            assets += 1;
        }
        assert!(assets >= 4, "{path} loads its style and scripts");
    }
    let worker = http(node.api, "GET", "/sw.js", &[], b"").await;
    assert_eq!((worker.status, header(&worker, "cache-control")), (200, Some("no-cache")), "the worker revalidates");
    assert!(header(&worker, "content-type").unwrap().starts_with("text/javascript"));
    // Missing files and escapes are 404s in the API's error shape, which Binance clients parse.
    let missing = ["/assets/trade.js", "/assets/trade.0000000000000000.js", "/assets/..%2fCargo.toml"];
    let escapes = ["/reports/..%2f..%2fetc/report.json", "/reports/run/passwd", "/reports/.hidden/report.md"];
    for path in missing.into_iter().chain(escapes) {
        let reply = http(node.api, "GET", path, &[], b"").await;
        assert_eq!((reply.status, reply.code()), (404, -1000), "{path}: {}", reply.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_clusters_own_origins_get_cors() {
    let node = TestNode::start(0).await;
    let own = format!("http://{}", node.api);
    let preflight =
        http(node.api, "OPTIONS", "/api/v3/order", &[("origin", &own), ("access-control-request-method", "POST")], b"")
            .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(header(&preflight, "access-control-allow-origin"), Some(own.as_str()));
    assert!(header(&preflight, "access-control-allow-headers").unwrap().contains("X-MBX-APIKEY"));
    let ping = http(node.api, "GET", "/api/v3/ping", &[("origin", &own)], b"").await;
    assert_eq!(header(&ping, "access-control-allow-origin"), Some(own.as_str()));
    for stranger in ["http://evil.example", "null"] {
        let preflight = http(node.api, "OPTIONS", "/api/v3/order", &[("origin", stranger)], b"").await;
        assert_eq!(header(&preflight, "access-control-allow-origin"), None, "{stranger}");
        let ping = http(node.api, "GET", "/api/v3/ping", &[("origin", stranger)], b"").await;
        assert_eq!((ping.status, header(&ping, "access-control-allow-origin")), (200, None), "{stranger}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_endpoints_show_nodes_leaders_and_samples() {
    let node = TestNode::start(1).await;
    // The recorder probes at once on start: this node answers, its absent peer does not.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let cluster = loop {
        let cluster = http(node.api, "GET", "/status/v1/cluster", &[], b"").await.json();
        if cluster["probedAtMs"].is_u64() {
            break cluster;
        }
        assert!(std::time::Instant::now() < deadline, "no probe within 10 s: {cluster}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let nodes = cluster["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2, "{cluster}");
    assert_eq!((nodes[0]["healthy"].as_bool(), nodes[1]["healthy"].as_bool()), (Some(true), Some(false)), "{cluster}");
    assert_eq!(nodes[0]["origin"], format!("http://{}", node.api));
    assert!(nodes[0].get("clientAddr").is_none() && nodes[0].get("digest").is_none(), "internals stay private");
    let history = http(node.api, "GET", "/status/v1/history", &[], b"").await.json();
    assert_eq!(history["samples"][0][1], serde_json::json!([1]), "{history}");
    assert!(!history["events"].as_array().unwrap().is_empty(), "{history}");
    let refused = http(node.api, "GET", "/status/v1/cluster?x=1", &[], b"").await;
    assert_eq!((refused.status, refused.code()), (400, -1104), "unknown parameters are refused: {}", refused.body);
}
