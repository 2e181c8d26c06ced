//! Reads that never lie, and gray failures as fast as crashes: repeated `outlast chaos` runs
//! per fault scenario (fresh five-node cluster with WAN latency, load, the fault, heal,
//! checker), with reads probed on every node every 0.5 s from before the fault until after the
//! heal. Per scenario: trials passed, stale reads among the reads answered, client-observed
//! unavailability, read latency before the fault, and the most a node logged per minute.

use std::path::Path;
use std::time::Duration;

use outlast_lab::chaos::Scenario;
use outlast_lab::history::{Op, OpKind};

/// The `q` quantile of `sorted`, 0 when empty.
fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        0
    } else {
        crate::report::quantile(sorted, q)
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Scenarios and trials of each.
    pub scenarios: Vec<(Scenario, usize)>,
    /// How long each fault lasts.
    pub fault: Duration,
    /// Where each trial's cluster and report go (`dir/<scenario>-<trial>`).
    pub dir: std::path::PathBuf,
}

/// One scenario's figures over its trials.
#[derive(Clone, Debug)]
pub struct Row {
    /// The scenario.
    pub scenario: Scenario,
    /// Trials run.
    pub trials: usize,
    /// Trials whose verdict was PASS.
    pub passed: usize,
    /// Longest client-observed unavailability per trial, ms.
    pub unavailable_ms: Vec<u64>,
    /// Reads answered, over all trials.
    pub reads: usize,
    /// Stale reads, over all trials.
    pub stale: usize,
    /// Account-read latency of answered probes before the fault, every trial, ms.
    pub read_ms: Vec<u64>,
    /// The most any node logged per minute in any trial, bytes.
    pub log_bytes_per_minute_max: u64,
    /// Acknowledged operations lost, over all trials.
    pub lost: usize,
}

/// The measurements.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// One row per scenario.
    pub rows: Vec<Row>,
    /// The planted fault the nodes ran with, if any (`OUTLAST_PLANTED_FAULT`).
    pub planted: Option<String>,
}

/// The latency of every account read answered before `before_ms`.
fn read_latencies(history: &[Op], before_ms: u64) -> Vec<u64> {
    history
        .iter()
        .filter(|op| op.kind == OpKind::Read && op.invoke_ms < before_ms)
        .filter(|op| !outlast_lab::functions::unavailable(&op.result))
        .map(|op| op.complete_ms - op.invoke_ms)
        .collect()
}

/// Runs the trials with `binary` as the `outlast` executable.
pub fn run(binary: &Path, config: &Config) -> Result<Report, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().map_err(|e| e.to_string())?;
    let mut report = Report { rows: Vec::new(), planted: std::env::var("OUTLAST_PLANTED_FAULT").ok() };
    for &(scenario, trials) in &config.scenarios {
        let mut row = Row {
            scenario,
            trials,
            passed: 0,
            unavailable_ms: Vec::new(),
            reads: 0,
            stale: 0,
            read_ms: Vec::new(),
            log_bytes_per_minute_max: 0,
            lost: 0,
        };
        for trial in 0..trials {
            let dir = config.dir.join(format!("{}-{trial}", scenario.name()));
            let run = crate::failover_bench::Trial {
                scenario,
                after: Duration::from_secs(3),
                fault: config.fault,
                cooldown: Duration::from_secs(3),
            };
            let result = run.run(&runtime, binary, &dir)?;
            let history = std::fs::read_to_string(dir.join("history.jsonl")).map_err(|e| e.to_string())?;
            let ops: Vec<Op> = history.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
            row.read_ms.extend(read_latencies(&ops, result.fault_window_ms[0]));
            eprintln!(
                "{} trial {trial}: unavailable {} ms, reads {} ({} stale), verdict {}",
                scenario.name(),
                result.longest_unavailability_ms,
                result.verdict.reads,
                result.verdict.stale_reads,
                if result.verdict.pass { "PASS" } else { "FAIL" }
            );
            row.passed += usize::from(result.verdict.pass);
            row.unavailable_ms.push(result.longest_unavailability_ms);
            row.reads += result.verdict.reads;
            row.stale += result.verdict.stale_reads;
            row.lost += result.rpo_ops_lost;
            let logged = result.log_bytes_per_minute.values().copied().max().unwrap_or(0);
            row.log_bytes_per_minute_max = row.log_bytes_per_minute_max.max(logged);
        }
        report.rows.push(row);
    }
    Ok(report)
}

impl Report {
    /// The report as a BENCHMARKS.md section body.
    pub fn markdown(&self, machine: &str, command: &str, date: &str) -> String {
        let planted = match &self.planted {
            Some(name) => format!(
                "\n**Nodes ran with the planted fault `{name}`** (a test build): this is the baseline, not the product.\n"
            ),
            None => String::new(),
        };
        let mut out = format!(
            "### Reads that never lie, and gray failures\n\n- Command: `{command}`\n- Date: {date}\n- Machine: {machine}\n\
             - Each trial: `outlast chaos <scenario>` on a fresh five-node cluster (aws / gcp / azure over us-east-1, \
             eu-west-1, us-west-2, WAN latency through the link proxies), four traders through the failover client, the \
             fault after 3 s of load, then the heal and 3 s more; every node asked for a just-acknowledged order and \
             for the book every 0.5 s throughout (probes that a node refused, -1001, are honest and not counted as \
             answered). A stale read is an answer that missed a write acknowledged before the read began.\n{planted}\n\
             | scenario | trials | PASS | reads answered | stale | unavailability median / max (ms) | account read p50 / p99 before the fault (ms) | most log bytes per node per minute | acknowledged lost |\n\
             |---|---|---|---|---|---|---|---|---|\n"
        );
        for row in &self.rows {
            let mut unavailable = row.unavailable_ms.clone();
            unavailable.sort_unstable();
            let mut reads = row.read_ms.clone();
            reads.sort_unstable();
            out += &format!(
                "| {} | {} | {} | {} | {} | {} / {} | {} / {} | {} | {} |\n",
                row.scenario.name(),
                row.trials,
                row.passed,
                row.reads,
                row.stale,
                quantile(&unavailable, 0.5),
                unavailable.last().copied().unwrap_or(0),
                quantile(&reads, 0.5),
                quantile(&reads, 0.99),
                row.log_bytes_per_minute_max,
                row.lost
            );
        }
        out
    }
}
