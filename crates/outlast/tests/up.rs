//! `outlast up` end to end: five node processes behind link proxies come up with the demo
//! exchange, answer through every node's API, stop cleanly on SIGINT, and resume with their
//! state on the next `up`.

mod common;

use std::process::Command;

use common::{control, up};

use outlast_client::{Client, Credentials, FailoverPolicy};

const ENDPOINTS: [&str; 5] = [
    "http://127.0.0.1:8001",
    "http://127.0.0.1:8002",
    "http://127.0.0.1:8003",
    "http://127.0.0.1:8004",
    "http://127.0.0.1:8005",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_the_demo_exchange_on_every_node_and_resumes_after_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = up(dir.path());
    let secret = cluster.user("alice").1;
    let credentials = Credentials { key: "DemoAliceKey000000000000000000001".into(), secret };
    let endpoints: Vec<String> = ENDPOINTS.iter().map(|e| e.to_string()).collect();
    for endpoint in &endpoints {
        let client = Client::new(vec![endpoint.clone()], None, FailoverPolicy::default());
        let book = client.book("BTCUSDT", 10).await.unwrap();
        assert_eq!(book["asks"].as_array().unwrap().len(), 5, "{endpoint} shows the maker's ladder");
    }
    let alice = Client::new(endpoints.clone(), Some(credentials.clone()), FailoverPolicy::default());
    let order = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "0.01"),
        ("price", "59000"),
        ("newClientOrderId", "kept-across-restart"),
    ];
    let order: Vec<(&str, String)> = order.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let placed = alice.place_order(&order).await.unwrap();
    cluster.stop();
    assert!(
        Command::new("pgrep")
            .args(["-f", &format!("node --config {}", dir.path().display())])
            .status()
            .map(|s| !s.success())
            .unwrap_or(true),
        "no node outlives `up`"
    );

    let cluster = up(dir.path());
    let secret = cluster.user("alice").1;
    assert_eq!(secret, credentials.secret, "the same secrets after resuming");
    let alice = Client::new(endpoints, Some(credentials), FailoverPolicy::default());
    let open = alice.signed("GET", "/api/v3/openOrders", &[("symbol", "BTCUSDT".to_string())]).await.unwrap();
    assert!(
        open.as_array().unwrap().iter().any(|o| o["orderId"] == placed["orderId"]),
        "the order survived the restart: {open}"
    );

    // The control socket refuses what it does not understand, and changes nothing.
    let socket = dir.path().join("control.sock");
    for (request, why) in [
        ("not json".to_string(), "bad request"),
        (r#"{"op":"kill","node":9}"#.to_string(), "no node 9"),
        (r#"{"op":"signal","node":1,"signal":"KILL"}"#.to_string(), "only STOP and CONT"),
        (r#"{"op":"set_link","from":1,"to":1,"rule":{}}"#.to_string(), "no link 1 -> 1"),
        ("x".repeat(10_000), "longer than"),
    ] {
        let reply = control(&socket, &request);
        assert_eq!(reply["ok"], false, "{request:.40}: {reply}");
        assert!(reply["error"].as_str().unwrap().contains(why), "{request:.40}: {reply}");
    }

    // A rehearsal on the running cluster: a follower is killed and restarted under load.
    let report = tempfile::tempdir().unwrap();
    let chaos = tokio::task::spawn_blocking({
        let (up_dir, report_dir) = (dir.path().to_path_buf(), report.path().to_path_buf());
        move || {
            Command::new(env!("CARGO_BIN_EXE_outlast"))
                .args(["chaos", "crash-restart", "--warmup-s", "1", "--fault-s", "2", "--cooldown-s", "1"])
                .args(["--traders", "2", "--attach"])
                .arg(up_dir)
                .arg("--dir")
                .arg(report_dir)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&chaos.stdout);
    assert!(chaos.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&chaos.stderr));
    assert!(stdout.contains("verdict: PASS"), "{stdout}");
    let open = alice.signed("GET", "/api/v3/openOrders", &[("symbol", "BTCUSDT".to_string())]).await.unwrap();
    assert!(open.as_array().unwrap().iter().any(|o| o["orderId"] == placed["orderId"]), "untouched: {open}");
    cluster.stop();
    assert!(!socket.exists(), "the control socket goes with `up`");
}
