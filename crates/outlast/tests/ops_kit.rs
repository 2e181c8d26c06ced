//! The operations kit in `ops/` against a live cluster: a node's `/metrics` (scraped on the
//! operator plane of an `outlast up` cluster) passes `promtool check metrics` (Prometheus's
//! naming conventions), carries the fsync, replication-lag and build series, and every metric
//! the alert rules and the Grafana dashboard use exists in it; the alert rules pass `promtool
//! check rules` and their unit tests (`promtool test rules`). Needs Debian's `prometheus`
//! package for promtool (CI installs it), or `OUTLAST_SKIP_PROMTOOL=1` to skip.

mod common;

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use outlast_lab::access::Access;
use outlast_lab::state_dir::StateDir;
use outlast_lab::topology::Topology;

fn ops() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ops")
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(ops().join("prometheus"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (apt-get install prometheus), or OUTLAST_SKIP_PROMTOOL=1");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    let output = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// Every `outlast_…` metric family a text names (histogram series reduced to their family).
fn names_in(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (start, _) in text.match_indices("outlast_") {
        let name: String =
            text[start..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect();
        let family =
            ["_bucket", "_sum", "_count"].iter().fold(name.clone(), |n, s| n.strip_suffix(s).unwrap_or(&n).to_string());
        names.insert(family);
    }
    names
}

#[test]
fn metrics_alerts_and_dashboard_agree_and_pass_promtool() {
    if std::env::var_os("OUTLAST_SKIP_PROMTOOL").is_some() {
        eprintln!("skipped: OUTLAST_SKIP_PROMTOOL is set");
        return;
    }
    let (ok, text) = promtool(&["check", "rules", "alerts.yml"], None);
    assert!(ok, "{text}");
    let (ok, text) = promtool(&["test", "rules", "alerts_test.yml"], None);
    assert!(ok, "{text}");

    let dir = tempfile::tempdir().unwrap();
    let up = common::up(dir.path());
    let state = StateDir { root: dir.path().to_path_buf() };
    let topology = Topology::load(&state.topology()).unwrap();
    let access = Access::of(&state, &topology).unwrap();
    // The example scrape configuration, with this lab's CA and operator certificate in place
    // of the operator's files (promtool opens them).
    let pki = state.pki();
    let lab = outlast_tls::Identity::Operator(outlast_lab::up::LAB_OPERATOR.into());
    let scrape = std::fs::read_to_string(ops().join("prometheus/prometheus.yml"))
        .unwrap()
        .replace("/etc/prometheus/outlast/ca.pem", &pki.ca_cert().display().to_string())
        .replace("/etc/prometheus/outlast/operator-prometheus.pem", &pki.cert(&lab).display().to_string())
        .replace("/etc/prometheus/outlast/operator-prometheus.key", &pki.key(&lab).display().to_string());
    let checked = dir.path().join("prometheus-check");
    std::fs::create_dir_all(&checked).unwrap();
    std::fs::write(checked.join("prometheus.yml"), scrape).unwrap();
    std::fs::copy(ops().join("prometheus/alerts.yml"), checked.join("alerts.yml")).unwrap();
    let config = checked.join("prometheus.yml");
    let (ok, text) = promtool(&["check", "config", config.to_str().unwrap()], None);
    assert!(ok, "{text}");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // Once every node has sampled its peers' clocks (about a second after start).
    let started = std::time::Instant::now();
    let scrapes: Vec<String> = loop {
        let scrapes: Vec<String> = runtime.block_on(async {
            let mut scrapes = Vec::new();
            for id in access.ids() {
                scrapes.push(access.operator_text(*id, "/metrics").await.unwrap());
            }
            scrapes
        });
        if scrapes.iter().all(|s| s.contains("outlast_clock_skew_seconds{")) {
            break scrapes;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(30), "no clock samples: {scrapes:?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    // A backup's own metrics (`outlast backup --metrics-addr`), scraped once it has written
    // its first manifest.
    let store = dir.path().join("backup-store");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut backup = Command::new(env!("CARGO_BIN_EXE_outlast"))
        .args(["backup", "--dir", dir.path().to_str().unwrap(), "--interval-ms", "100"])
        .arg("--to")
        .arg(format!("file://{}", store.display()))
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    let backup_scrape = loop {
        let text = runtime.block_on(async {
            let client =
                outlast_client::Transport::new(std::time::Duration::from_secs(2), outlast_client::public_roots());
            match client
                .send(
                    "GET",
                    &format!("http://127.0.0.1:{port}/metrics"),
                    &[],
                    String::new(),
                    std::time::Duration::from_secs(2),
                )
                .await
            {
                outlast_client::Attempt::Answer { status: 200, body } => Some(body),
                _ => None,
            }
        });
        if let Some(text) = text.filter(|t| !t.contains("outlast_backup_last_index 0\n")) {
            break text;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "the backup served no metrics with a manifest");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = backup.kill();
    let _ = backup.wait();
    up.stop();

    // The leader's scrape has a lag series per follower; every node has fsynced (the demo seed
    // wrote through the log) and names its build.
    let leader = scrapes.iter().find(|s| s.lines().any(|l| l.starts_with("outlast_is_leader{") && l.ends_with(" 1")));
    let leader = leader.expect("one node leads");
    let lag_series = leader.lines().filter(|l| l.starts_with("outlast_replication_lag_entries{")).count();
    assert_eq!(lag_series, 4, "{leader}");
    for scrape in &scrapes {
        let fsyncs = scrape.lines().find(|l| l.starts_with("outlast_log_fsync_seconds_count{")).expect("fsync count");
        assert!(!fsyncs.ends_with(" 0"), "{fsyncs}");
        assert!(scrape.contains("outlast_build_info{node="), "{scrape}");
        let (ok, text) = promtool(&["check", "metrics"], Some(scrape));
        assert!(ok, "promtool check metrics: {text}");
    }

    let (ok, text) = promtool(&["check", "metrics"], Some(&backup_scrape));
    assert!(ok, "promtool check metrics (backup): {text}");
    let exposed = names_in(&(scrapes.join("\n") + &backup_scrape));
    for file in ["prometheus/alerts.yml", "grafana/outlast.json"] {
        let text = std::fs::read_to_string(ops().join(file)).unwrap();
        let used = names_in(&text);
        assert!(used.len() >= 5, "{file} uses metrics: {used:?}");
        let missing: Vec<_> = used.difference(&exposed).collect();
        assert!(missing.is_empty(), "{file} uses metrics no node exposes: {missing:?}");
    }
}
