//! `outlast up` end to end: five node processes behind link proxies come up with the demo
//! exchange, answer through every node's API (HTTPS under the lab's CA only; the operator API
//! only on the operator plane), stop cleanly on SIGINT, and resume with their state on the next
//! `up`.

mod common;

use std::process::Command;

use common::{control, up};

use outlast_client::{Client, Credentials, FailoverPolicy};

const ENDPOINTS: [&str; 5] = [
    "https://127.0.0.1:8001",
    "https://127.0.0.1:8002",
    "https://127.0.0.1:8003",
    "https://127.0.0.1:8004",
    "https://127.0.0.1:8005",
];

/// A client of `endpoints` that trusts the lab's CA in `dir`.
fn client(dir: &std::path::Path, endpoints: Vec<String>, credentials: Option<Credentials>) -> Client {
    let tls = outlast_client::trusting_ca_file(&dir.join("pki/ca.pem")).unwrap();
    Client::with_tls(endpoints, credentials, FailoverPolicy::default(), Some(tls))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_serves_the_demo_exchange_on_every_node_and_resumes_after_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = up(dir.path());
    let secret = cluster.user("alice").1;
    let credentials = Credentials { key: "DemoAliceKey000000000000000000001".into(), secret };
    let endpoints: Vec<String> = ENDPOINTS.iter().map(|e| e.to_string()).collect();
    for endpoint in &endpoints {
        let client = client(dir.path(), vec![endpoint.clone()], None);
        let book = client.book("BTCUSDT", 10).await.unwrap();
        assert_eq!(book["asks"].as_array().unwrap().len(), 5, "{endpoint} shows the maker's ladder");
    }
    // Plain HTTP gets nothing, and the public listener serves no operator endpoint, token or not.
    let once = FailoverPolicy { attempts_max: 1, ..FailoverPolicy::default() };
    let clear = Client::new(vec!["http://127.0.0.1:8001".into()], None, once);
    assert!(clear.book("BTCUSDT", 10).await.is_err(), "plain HTTP is not served");
    let token = std::fs::read_to_string(dir.path().join("secrets/operator.token")).unwrap();
    let public = client(dir.path(), vec![ENDPOINTS[0].into()], None);
    let refused = public.operator(token.trim(), "GET", "/operator/v1/cluster", &[]).await.unwrap_err();
    assert!(refused.to_string().contains("404"), "{refused}");
    // The operator plane, with the lab operator's certificate, through `outlast status`.
    let status =
        Command::new(env!("CARGO_BIN_EXE_outlast")).args(["status", "--dir"]).arg(dir.path()).output().unwrap();
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success() && shown.starts_with("leader: node "), "{shown}");
    assert!(shown.contains("https://localhost:8005"), "each node's public origin: {shown}");
    config_check_holds_against_measured_round_trips(dir.path());
    chain_demo_landed(dir.path(), &cluster.lines).await;
    let alice = client(dir.path(), endpoints.clone(), Some(credentials.clone()));
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
    let alice = client(dir.path(), endpoints, Some(credentials));
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
        (r#"{"op":"rpc_fault","provider":"nobody","fault":"down"}"#.to_string(), "no provider nobody"),
        (r#"{"op":"rpc_fault","provider":"alchemy","fault":"melt"}"#.to_string(), "pass, down"),
        ("x".repeat(10_000), "longer than"),
    ] {
        let reply = control(&socket, &request);
        assert_eq!(reply["ok"], false, "{request:.40}: {reply}");
        assert!(reply["error"].as_str().unwrap().contains(why), "{request:.40}: {reply}");
    }

    // A provider's upstream taken down through the control socket: every node's breaker for it
    // opens, and closes again once it is back.
    let breakers = |view: &serde_json::Value| -> Vec<String> {
        view["chains"][0]["upstreams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["breaker"].as_str().unwrap().to_string())
            .collect()
    };
    let status_client = client(dir.path(), vec![ENDPOINTS[3].into()], None);
    assert_eq!(control(&socket, r#"{"op":"rpc_fault","provider":"alchemy","fault":"down"}"#)["ok"], true);
    let started = std::time::Instant::now();
    loop {
        let view = status_client.public("GET", "/status/v1/cluster", &[]).await.unwrap();
        if breakers(&view)[0] != "closed" {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "alchemy's breaker never opened: {view}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(control(&socket, r#"{"op":"rpc_fault","provider":"alchemy","fault":"pass"}"#)["ok"], true);
    loop {
        let view = status_client.public("GET", "/status/v1/cluster", &[]).await.unwrap();
        if breakers(&view).iter().all(|b| b == "closed") {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "alchemy's breaker never closed: {view}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
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

/// `outlast config check --dir` holds the node files `up` wrote against the round trips the
/// running cluster measures over its WAN links: they pass. Copies that declare a longest round
/// trip of 1 ms (which the files alone cannot contradict) are refused, naming the measurement.
fn config_check_holds_against_measured_round_trips(dir: &std::path::Path) {
    let check = |files: &[std::path::PathBuf]| {
        let output = Command::new(env!("CARGO_BIN_EXE_outlast"))
            .args(["config", "check"])
            .args(files)
            .arg("--dir")
            .arg(dir)
            .output()
            .unwrap();
        (output.status.success(), String::from_utf8_lossy(&output.stdout).to_string())
    };
    let files: Vec<std::path::PathBuf> = (1..=5).map(|id| dir.join(format!("node{id}.toml"))).collect();
    // Each member samples each of the others every second: wait for all 20 round trips.
    let started = std::time::Instant::now();
    let shown = loop {
        let (ok, shown) = check(&files);
        if shown.contains("measured: 20 round trip(s)") {
            assert!(ok, "{shown}");
            break shown;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "never measured every round trip: {shown}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(shown.contains("verdict: OK"), "{shown}");
    let declared_short: Vec<std::path::PathBuf> = files
        .iter()
        .map(|file| {
            let text = std::fs::read_to_string(file).unwrap();
            let kept: Vec<&str> = text.lines().filter(|line| !line.starts_with("rtt_ms_max")).collect();
            let copy = file.with_extension("declared-short.toml");
            std::fs::write(&copy, format!("rtt_ms_max = 1\n{}\n", kept.join("\n"))).unwrap();
            copy
        })
        .collect();
    let (ok, shown) = check(&declared_short);
    assert!(!ok, "{shown}");
    assert!(shown.contains("longer than the declared rtt_ms_max 1"), "{shown}");
}

/// `up` runs a devnet behind three providers' upstreams: the demo deposit was credited and the
/// demo withdrawal paid on chain (its receipt read through a node's `/rpc/devnet`), and the
/// status view shows each provider's upstream.
async fn chain_demo_landed(dir: &std::path::Path, lines: &[String]) {
    let paid = lines
        .iter()
        .find_map(|line| line.split_once("demo withdrawal: 25 USDT paid on chain in ").map(|(_, tx)| tx.trim()));
    let paid = paid.unwrap_or_else(|| panic!("no paid demo withdrawal in: {lines:#?}"));
    assert!(lines.iter().any(|line| line.contains("demo deposit 0x") && line.contains("credited")), "{lines:#?}");
    let tls = outlast_client::trusting_ca_file(&dir.join("pki/ca.pem")).unwrap();
    let transport = outlast_client::Transport::new(std::time::Duration::from_secs(2), tls);
    let body =
        serde_json::json!({ "jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionReceipt", "params": [paid] });
    let headers = [("content-type", "application/json")];
    let url = format!("{}/rpc/devnet", ENDPOINTS[2]);
    let answer = transport.send("POST", &url, &headers, body.to_string(), std::time::Duration::from_secs(10)).await;
    let outlast_client::Attempt::Answer { status: 200, body } = answer else { panic!("{answer:?}") };
    let receipt: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(receipt["result"]["status"], "0x1", "{receipt}");
    let view = client(dir, vec![ENDPOINTS[1].into()], None).public("GET", "/status/v1/cluster", &[]).await.unwrap();
    let labels: Vec<&str> =
        view["chains"][0]["upstreams"].as_array().unwrap().iter().map(|u| u["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["alchemy", "infura", "quicknode"], "{view}");
}
