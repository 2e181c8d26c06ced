//! `outlast up` end to end: five node processes behind link proxies come up with the demo
//! exchange, answer through every node's API, stop cleanly on SIGINT, and resume with their
//! state on the next `up`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use outlast_client::{Client, Credentials, FailoverPolicy};

const ENDPOINTS: [&str; 5] = [
    "http://127.0.0.1:8001",
    "http://127.0.0.1:8002",
    "http://127.0.0.1:8003",
    "http://127.0.0.1:8004",
    "http://127.0.0.1:8005",
];

/// Starts `outlast up` and waits (bounded) for `up: ready`; returns it and alice's secret.
fn up(dir: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_outlast"))
        .args(["up", "--dir"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut secret = String::new();
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.trim_start().starts_with("alice") {
                secret = line.split_whitespace().last().unwrap_or("").to_string();
            }
            if line == "up: ready" {
                let _ = tx.send(secret.clone());
            }
        }
    });
    let secret = rx.recv_timeout(Duration::from_secs(120)).expect("`up: ready` within two minutes");
    (child, secret)
}

fn interrupt(mut child: Child) {
    Command::new("kill").arg("-INT").arg(child.id().to_string()).status().unwrap();
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "up exits cleanly: {status}");
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "up did not stop after SIGINT");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_the_demo_exchange_on_every_node_and_resumes_after_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let (child, secret) = up(dir.path());
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
    interrupt(child);
    assert!(
        Command::new("pgrep")
            .args(["-f", &format!("node --config {}", dir.path().display())])
            .status()
            .map(|s| !s.success())
            .unwrap_or(true),
        "no node outlives `up`"
    );

    let (child, secret) = up(dir.path());
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
        let reply = control(&socket, &request).await;
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
    interrupt(child);
    assert!(!socket.exists(), "the control socket goes with `up`");
}

/// One request line to the control socket; its reply.
async fn control(socket: &std::path::Path, line: &str) -> serde_json::Value {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let (read, mut write) = stream.into_split();
    write.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    let mut reply = String::new();
    let mut read = tokio::io::BufReader::new(read);
    tokio::time::timeout(Duration::from_secs(10), read.read_line(&mut reply)).await.unwrap().unwrap();
    serde_json::from_str(&reply).unwrap()
}
