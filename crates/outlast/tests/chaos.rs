//! `outlast chaos` end to end, short runs: a provider outage and an asymmetric partition under
//! load must end with the verdict PASS and a complete report. (That the checker fails on a
//! planted fault — acknowledging before commit — is shown by CI with a build that carries it:
//! see `.ci/run`.)

use std::process::Command;

fn chaos(scenario: &str) -> (bool, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_outlast"))
        .args(["chaos", scenario, "--warmup-s", "2", "--fault-s", "3", "--cooldown-s", "2", "--traders", "4", "--dir"])
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
