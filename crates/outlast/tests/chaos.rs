//! `outlast chaos` end to end, short runs: a provider outage and an asymmetric partition under
//! load must end with the verdict PASS and a complete report; so must the chain's game day
//! (every chain scenario in turn, reconciled with the chain). (That the checker fails on
//! planted faults — acknowledging before commit, crediting a deposit before its confirmations —
//! is shown by CI with a build that carries them: see `.ci/run`.)

use std::process::Command;
use std::sync::Mutex;

/// The runs use the fixed `up` addresses: one at a time.
static ONE_CLUSTER: Mutex<()> = Mutex::new(());

fn chaos(scenario: &str) -> (bool, String, tempfile::TempDir) {
    let short = ["--warmup-s", "2", "--fault-s", "3", "--cooldown-s", "2"];
    run(&[&["chaos", scenario][..], &short].concat())
}

fn run(args: &[&str]) -> (bool, String, tempfile::TempDir) {
    let scenario = args[1];
    let dir = tempfile::tempdir().unwrap();
    let _one = ONE_CLUSTER.lock().unwrap_or_else(|p| p.into_inner());
    let output = Command::new(env!("CARGO_BIN_EXE_outlast"))
        .args(args)
        .args(["--traders", "4", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.code().is_some_and(|c| c <= 1),
        "{scenario} could not run: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), stdout, dir)
}

#[test]
fn a_provider_outage_and_an_asymmetric_partition_pass_the_checker() {
    // One after the other: both use the fixed `up` addresses.
    for scenario in ["provider-outage", "asymmetric-partition"] {
        let (pass, stdout, dir) = chaos(scenario);
        assert!(pass, "{scenario}: {stdout}");
        assert!(stdout.contains("verdict: PASS"));
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
        assert_eq!(report["rpo_ops_lost"], 0);
        assert!(report["verdict"]["acknowledged"].as_u64().unwrap() > 0, "the load ran: {report}");
        assert!(report["time_to_new_leader_ms"].is_u64(), "leadership moved: {report}");
        for file in ["report.md", "chart.svg", "history.jsonl"] {
            assert!(dir.path().join(file).metadata().unwrap().len() > 0, "{file} written");
        }
    }
}

#[test]
fn the_chain_scenarios_pass_the_checker_reconciled_with_the_chain() {
    let schedule = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/chaos/chain-day.toml");
    let (pass, stdout, dir) = run(&["chaos", "--schedule", schedule]);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap()).unwrap();
    assert!(pass, "{stdout}\n{:#}", report["verdict"]);
    let verdict = &report["verdict"];
    assert!(verdict["chain_withdrawals_confirmed"].as_u64().unwrap() > 0, "withdrawals were paid: {verdict}");
    assert!(verdict["chain_deposits"].as_u64().unwrap() > 0, "deposits were credited: {verdict}");
    assert_eq!(verdict["chain_payments_mined"], verdict["chain_withdrawals_confirmed"], "{verdict}");
    let incidents: Vec<&str> =
        report["incidents"].as_array().unwrap().iter().filter_map(|i| i["what"].as_str()).collect();
    // Every fault struck where it was meant to: both leader kills found a payment at its moment.
    for (what, needle) in [
        ("outage", "RPC provider alchemy: Down"),
        ("lie", "RPC provider alchemy: Lie"),
        ("reorg", "chain reorg 1 "),
        ("kill after the commit", "committed, not broadcast"),
        ("kill after mining", "mined, not final"),
    ] {
        assert!(incidents.iter().any(|i| i.contains(needle)), "no {what} in {incidents:#?}");
    }
}
