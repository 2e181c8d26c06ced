//! Client-observed unavailability over repeated provider outages: each trial is a full
//! `outlast chaos provider-outage` run (fresh five-node cluster with WAN latency, load, every
//! node of the leader's provider SIGKILLed, restart, checker), and its figures are collected.
//! Published anchors are quoted beside the result, not measured here.

use std::path::Path;
use std::time::Duration;

use outlast_lab::chaos::{ChaosConfig, Scenario, Step};
use outlast_lab::load::LoadConfig;

use crate::report::quantile;
use crate::svg::{Bar, Chart};

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Trials.
    pub trials: usize,
    /// Where each trial's cluster and report go (trial N in `dir/trial-N`).
    pub dir: std::path::PathBuf,
}

/// The measurements, one per trial, in ms.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Longest client-observed unavailability.
    pub unavailable_ms: Vec<u64>,
    /// Fault to a new leader known.
    pub new_leader_ms: Vec<u64>,
    /// Fault to first acknowledged write.
    pub rto_ms: Vec<u64>,
    /// Trials whose verdict was PASS.
    pub passed: usize,
    /// Acknowledged operations lost, over all trials.
    pub lost: usize,
}

/// One chaos trial of the fault benchmarks: a fresh cluster in its own directory, four traders,
/// one fault.
#[derive(Clone, Copy, Debug)]
pub struct Trial {
    /// The fault.
    pub scenario: Scenario,
    /// Load before it.
    pub after: Duration,
    /// How long it lasts.
    pub fault: Duration,
    /// Load after the heal.
    pub cooldown: Duration,
}

impl Trial {
    /// Runs it on `runtime` with `binary` as the `outlast` executable, in `dir` (wiped first).
    pub fn run(
        self,
        runtime: &tokio::runtime::Runtime,
        binary: &Path,
        dir: &Path,
    ) -> Result<outlast_lab::report::Report, String> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let chaos = ChaosConfig {
            steps: vec![Step { scenario: self.scenario, after: self.after, duration: self.fault }],
            cooldown: self.cooldown,
            load: LoadConfig { traders: 4, ..LoadConfig::default() },
            dir: dir.to_path_buf(),
            topology: None,
            attach: None,
        };
        runtime.block_on(outlast_lab::chaos::run(binary, &chaos))
    }
}

/// Runs the trials with `binary` as the `outlast` executable.
pub fn run(binary: &Path, config: &Config) -> Result<Report, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let mut report = Report::default();
    for trial in 0..config.trials {
        let dir = config.dir.join(format!("trial-{trial}"));
        let run = Trial {
            scenario: Scenario::ProviderOutage,
            after: Duration::from_secs(2),
            fault: Duration::from_secs(4),
            cooldown: Duration::from_secs(2),
        };
        let result = run.run(&runtime, binary, &dir)?;
        eprintln!(
            "trial {trial}: unavailable {} ms, new leader {:?} ms, verdict {}",
            result.longest_unavailability_ms,
            result.time_to_new_leader_ms,
            if result.verdict.pass { "PASS" } else { "FAIL" }
        );
        report.unavailable_ms.push(result.longest_unavailability_ms);
        report.new_leader_ms.extend(result.time_to_new_leader_ms);
        report.rto_ms.extend(result.rto_ms);
        report.passed += usize::from(result.verdict.pass);
        report.lost += result.rpo_ops_lost;
    }
    Ok(report)
}

fn summary(values: &[u64]) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    match (sorted.first(), sorted.last()) {
        (Some(min), Some(max)) => {
            format!("{} | {} | {} | {}", quantile(&sorted, 0.5), quantile(&sorted, 0.99), min, max)
        }
        _ => "— | — | — | —".into(),
    }
}

/// Published failover times quoted beside ours, in seconds: (label, low, high).
pub const ANCHORS_S: [(&str, f64, f64); 3] = [
    ("Aeron Cluster (published)", 0.5, 1.4),
    ("HAProxy health checks (published)", 6.0, 6.0),
    ("Route 53 DNS (published, + TTL)", 90.0, 90.0),
];

impl Report {
    /// Unavailability over the trials beside the anchors, in seconds on a log axis.
    pub fn chart(&self) -> Chart {
        let mut sorted = self.unavailable_ms.clone();
        sorted.sort_unstable();
        let mut bars = Vec::new();
        if let (Some(&min), Some(&max)) = (sorted.first(), sorted.last()) {
            let s = |ms: u64| ms as f64 / 1e3;
            bars.push(Bar::ours("Outlast, median of trials", s(quantile(&sorted, 0.5)), s(min), s(max)));
            let p99 = s(quantile(&sorted, 0.99));
            bars.push(Bar::ours("Outlast, p99 of trials", p99, p99, p99));
        }
        for (label, low, high) in ANCHORS_S {
            bars.push(Bar::theirs(label, low, low, high));
        }
        Chart {
            title: format!("Failover: client-observed unavailability, {} provider outages", sorted.len()),
            unit: "seconds".into(),
            groups: vec![(String::new(), bars)],
            lines: vec![("goal p99 <".into(), 1.0)],
            log: true,
        }
    }

    /// p99 of the trials' unavailability, ms.
    pub fn p99_ms(&self) -> Option<u64> {
        let mut sorted = self.unavailable_ms.clone();
        sorted.sort_unstable();
        (!sorted.is_empty()).then(|| quantile(&sorted, 0.99))
    }
}

impl Report {
    /// The report as a BENCHMARKS.md section body.
    pub fn markdown(&self, machine: &str, command: &str, date: &str) -> String {
        format!(
            "### Failover: client-observed unavailability over provider outages\n\n\
             - Command: `{command}`\n- Date: {date}\n- Machine: {machine}\n\
             - Each trial: `outlast chaos provider-outage` on a fresh five-node cluster (aws / gcp / azure over \
             us-east-1, eu-west-1, us-west-2, WAN latency through the link proxies, heartbeat 21 ms, lease 182 ms), four \
             traders through the failover client, every node of the leader's provider SIGKILLed for 4 s, then \
             restarted; the checker ran after each: {passed} of {trials} PASS, {lost} acknowledged operations lost.\n\n\
             | ms over {trials} trials | median | p99 | min | max |\n|---|---|---|---|---|\n\
             | longest client-observed unavailability | {unavailable} |\n\
             | fault → new leader known | {leader} |\n\
             | fault → first acknowledged write (RTO) | {rto} |\n\n\
             Published anchors (not measured here): Aeron Cluster elections 0.5–1.4 s when tuned; HAProxy marks a \
             server down after ~6 s with default checks; Route 53 DNS failover ~90 s plus the record's TTL.\n",
            passed = self.passed,
            trials = self.unavailable_ms.len(),
            lost = self.lost,
            unavailable = summary(&self.unavailable_ms),
            leader = summary(&self.new_leader_ms),
            rto = summary(&self.rto_ms),
        )
    }
}
