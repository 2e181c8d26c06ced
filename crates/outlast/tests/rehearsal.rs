//! The rehearsal on real addresses (`examples/rehearsal.toml`): five node processes, each in a
//! network namespace of its own, reaching each other by host name over mutual TLS, while a
//! chaos run cuts the leader's provider off with nftables in the router namespace. The checker
//! must find nothing lost, the cut must force a new leader, the configurations `up` wrote must
//! pass `outlast config check`, and no namespace may be left behind. Needs root, iproute2 and
//! nftables (CI installs nftables).

use std::path::Path;
use std::process::Command;

use outlast_lab::namespaces::Namespaces;

const BINARY: &str = env!("CARGO_BIN_EXE_outlast");

fn rehearsal_topology() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rehearsal.toml")
}

#[test]
fn a_provider_cut_by_nftables_between_namespaces_loses_nothing_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(BINARY)
        .args(["chaos", "provider-cut", "--warmup-s", "2", "--fault-s", "3", "--cooldown-s", "2", "--traders", "4"])
        .arg("--topology")
        .arg(rehearsal_topology())
        .arg("--dir")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the rehearsal failed (it needs root, ip and nft):\n{stdout}\n{stderr}");
    assert!(stdout.contains("verdict: PASS"), "{stdout}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
    assert_eq!(report["rpo_ops_lost"], 0, "{report}");
    assert!(report["verdict"]["acknowledged"].as_u64().unwrap() > 0, "the load ran: {report}");
    assert!(stdout.contains("fault: cut the leader's provider"), "{stdout}");
    assert!(report["time_to_new_leader_ms"].is_u64(), "the cut forced a new leader: {report}");

    // Peers were named, not numbered: every node dialled the others by host name.
    let cluster = dir.path().join("cluster");
    let config = std::fs::read_to_string(cluster.join("node2.toml")).unwrap();
    assert!(config.contains("raft_addr = \"node1.outlast.test:7100\""), "{config}");
    assert!(config.contains("public_url = \"https://node3.outlast.test\""), "{config}");
    assert!(config.contains("api_addr = \"10.77.2.2:443\""), "{config}");
    let files: Vec<_> = (1..=5).map(|id| cluster.join(format!("node{id}.toml"))).collect();
    let check = Command::new(BINARY).args(["config", "check"]).args(&files).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));

    let namespaces = Namespaces::of(&cluster, &[1, 2, 3, 4, 5]);
    assert!(!namespaces.exist(), "the rehearsal removed its namespaces");
    assert!(!Path::new("/etc/netns").join(namespaces.router()).exists(), "and its hosts files");
}
