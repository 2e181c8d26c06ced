//! `outlast bench all`: every side-by-side comparison in one run, one summary table of ratios
//! against the goals, and one BENCHMARKS.md section (with its chart) per comparison.
//!
//! Each comparison measures Outlast and its counterpart in the same run, interleaved where the
//! two can share the machine in turns, so a ratio holds when the machine is noisy. `quick`
//! shrinks every size so CI can check the whole pipeline end to end in about a minute; its
//! figures mean nothing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::svg::Chart;
use crate::{engine_bench, etcd_bench, failover_bench, recovery_bench, wan_bench};

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Tiny sizes, to check that everything runs (CI).
    pub quick: bool,
    /// The etcd executable.
    pub etcd: PathBuf,
    /// Where the cluster runs keep their state.
    pub dir: PathBuf,
}

/// One comparison's result, ready to publish.
pub struct Section {
    /// Its BENCHMARKS.md section name.
    pub name: &'static str,
    /// Its markdown.
    pub body: String,
    /// Its chart.
    pub chart: Chart,
    /// How long it ran, seconds.
    pub seconds: f64,
}

/// Everything `bench all` measured.
pub struct Outcome {
    /// One per comparison, in the order.
    pub sections: Vec<Section>,
    /// The summary table (markdown), one row per comparison.
    pub summary: String,
}

/// One summary row.
struct Row {
    comparison: &'static str,
    outlast: String,
    other: String,
    ratio: String,
    goal: &'static str,
    met: Option<bool>,
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "—",
    }
}

/// Runs every comparison with `binary` as the `outlast` executable. `command` is how this run
/// was invoked; each section names it and the command that regenerates that section alone.
pub fn run(binary: &Path, config: &Config, machine: &str, date: &str, command: &str) -> Result<Outcome, String> {
    let started = Instant::now();
    let q = config.quick;
    let mut sections = Vec::new();
    let mut rows = Vec::new();
    // Sections put the command in backticks: this closes and reopens them around the glue.
    let cmd = |alone: &str| format!("{command}`; this section alone: `{alone}");

    let clock = Instant::now();
    let engine = engine_bench::Config {
        ops: if q { 50_000 } else { 2_000_000 },
        runs: if q { 2 } else { 5 },
        book_orders: if q { 200 } else { 1_000 },
        accounts: if q { 100 } else { 2_000 },
        seed: 42,
    };
    eprintln!("[1/5] matching engine vs orderbook-rs ({} commands x {} runs)", engine.ops, engine.runs);
    let report = engine_bench::run(&engine);
    rows.push(Row {
        comparison: "Matching engine, single thread",
        outlast: format!("{:.2} M commands/s", report.ops_per_sec.median / 1e6),
        other: format!(
            "orderbook-rs {:.2} M/s; exchange-core {:.0} M/s (published)",
            report.peer_ops_per_sec.median / 1e6,
            engine_bench::EXCHANGE_CORE_OPS / 1e6
        ),
        ratio: format!("{:.2}× orderbook-rs", report.peer_ratio.median),
        goal: "≥ 6 M/s and ≥ 3× the peer",
        met: Some(report.ops_per_sec.median >= engine_bench::GOAL_OPS && report.peer_ratio.median >= 3.0),
    });
    let body = report.markdown(machine, &cmd(&single_engine(&engine)), date);
    let seconds = clock.elapsed().as_secs_f64();
    sections.push(Section { name: "engine-bench", body, chart: report.chart(), seconds });

    let clock = Instant::now();
    let etcd = etcd_bench::Config {
        concurrencies: if q { vec![1, 4] } else { vec![1, 16, 256] },
        rounds: if q { 1 } else { 3 },
        ops_per_measurement: if q { 40 } else { 3_000 },
    };
    eprintln!("[2/5] replicated writes vs etcd ({:?} clients, {} rounds)", etcd.concurrencies, etcd.rounds);
    let report = etcd_bench::run(binary, &config.etcd, &etcd).map_err(|e| format!("etcd comparison: {e}"))?;
    let top = report.rows.last().ok_or("no etcd rows")?;
    rows.push(Row {
        comparison: "Replicated durable writes vs etcd 3.4",
        outlast: format!(
            "{:.0} ops/s, p99 {:.1} ms ({} clients, internal)",
            top.outlast_internal.per_sec.median, top.outlast_internal.latency_ms[1], top.clients
        ),
        other: format!("etcd {:.0} ops/s, p99 {:.1} ms", top.etcd.per_sec.median, top.etcd.latency_ms[1]),
        ratio: format!(
            "{:.1}× (REST {:.1}×)",
            top.outlast_internal.per_sec.median / top.etcd.per_sec.median,
            top.outlast_rest.per_sec.median / top.etcd.per_sec.median
        ),
        goal: "≥ 10× etcd at high concurrency, lower p99",
        met: Some(
            top.outlast_internal.per_sec.median >= 10.0 * top.etcd.per_sec.median
                && top.outlast_internal.latency_ms[1] < top.etcd.latency_ms[1],
        ),
    });
    let list = |v: &[usize]| v.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    let single_etcd = format!(
        "cargo run --release -p outlast --features bench -- bench etcd --clients {} --rounds {} --ops {}",
        list(&etcd.concurrencies),
        etcd.rounds,
        etcd.ops_per_measurement
    );
    let body = report.markdown(machine, &cmd(&single_etcd), date);
    let seconds = clock.elapsed().as_secs_f64();
    sections.push(Section { name: "etcd-bench", body, chart: report.chart(), seconds });

    let clock = Instant::now();
    let failover = failover_bench::Config { trials: if q { 1 } else { 20 }, dir: config.dir.join("failover") };
    eprintln!("[3/5] failover over {} provider outages", failover.trials);
    let report = failover_bench::run(binary, &failover)?;
    let p99 = report.p99_ms().ok_or("no failover trials")?;
    rows.push(Row {
        comparison: "Failover (provider outage)",
        outlast: format!(
            "p99 {:.2} s unavailable, {} of {} trials PASS",
            p99 as f64 / 1e3,
            report.passed,
            report.unavailable_ms.len()
        ),
        other: "Aeron 0.5–1.4 s, HAProxy ~6 s, Route 53 ~90 s + TTL (published)".into(),
        ratio: "—".into(),
        goal: "p99 < 1 s",
        met: Some(p99 < 1_000 && report.passed == report.unavailable_ms.len()),
    });
    let single_failover =
        format!("cargo run --release -p outlast --features bench -- bench failover --trials {}", failover.trials);
    let body = report.markdown(machine, &cmd(&single_failover), date);
    let seconds = clock.elapsed().as_secs_f64();
    sections.push(Section { name: "failover-bench", body, chart: report.chart(), seconds });

    let clock = Instant::now();
    let wan = wan_bench::Config {
        concurrencies: if q { vec![1, 4] } else { vec![1, 16] },
        commands_per_client: if q { 10 } else { 100 },
        rounds: if q { 1 } else { 3 },
        dir: config.dir.join("wan"),
    };
    eprintln!("[4/5] WAN commit latency ({:?} clients, {} rounds)", wan.concurrencies, wan.rounds);
    let report = wan_bench::run(binary, &wan)?;
    let first = report.latency.first().ok_or("no WAN measurements")?;
    rows.push(Row {
        comparison: "WAN commit latency",
        outlast: format!("p50 {:.1} ms ({} client)", first.p50_ms.median, first.clients),
        other: format!("floor {:.1} ms (leader → nearest quorum, measured)", report.floor_ms.median),
        ratio: format!("{:+.1} ms over the floor", first.over_floor_ms.median),
        goal: "p50 ≤ floor + 2 ms",
        met: Some(first.over_floor_ms.median <= 2.0),
    });
    let single_wan = format!(
        "cargo run --release -p outlast --features bench -- bench wan --clients {} --commands {} --rounds {}",
        list(&wan.concurrencies),
        wan.commands_per_client,
        wan.rounds
    );
    let body = report.markdown(machine, &cmd(&single_wan), date);
    sections.push(Section { name: "wan-bench", body, chart: report.chart(), seconds: clock.elapsed().as_secs_f64() });

    let clock = Instant::now();
    let recovery = recovery_bench::Config {
        commands_behind: if q { 2_000 } else { 20_000 },
        snapshot_accounts: if q { 2_000 } else { 100_000 },
        rounds: if q { 1 } else { 3 },
    };
    eprintln!("[5/5] recovery ({} commands behind, {} accounts)", recovery.commands_behind, recovery.snapshot_accounts);
    let report = recovery_bench::run(binary, &recovery)?;
    rows.push(Row {
        comparison: "Recovery of a restarted follower",
        outlast: format!(
            "{:.0} log entries/s; snapshot install {:.0} ms",
            report.log_entries_per_sec().map(|s| s.median).unwrap_or(0.0),
            report.snapshot_ms().map(|s| s.median).unwrap_or(0.0)
        ),
        other: "—".into(),
        ratio: "—".into(),
        goal: "measured (no goal set)",
        met: None,
    });
    let single_recovery = format!(
        "cargo run --release -p outlast --features bench -- bench recovery --commands {} --accounts {} --rounds {}",
        recovery.commands_behind, recovery.snapshot_accounts, recovery.rounds
    );
    let body = report.markdown(machine, &cmd(&single_recovery), date);
    let seconds = clock.elapsed().as_secs_f64();
    sections.push(Section { name: "recovery-bench", body, chart: report.chart(), seconds });

    let mut summary = format!(
        "### Summary: Outlast beside what an exchange would use instead\n\n\
         - Command: `{command}`\n- Date: {date}\n- Machine: {machine}\n\
         - Wall time: {:.1} min ({}).\n\n\
         | comparison | Outlast | beside it | ratio | goal | verdict |\n|---|---|---|---|---|---|\n",
        started.elapsed().as_secs_f64() / 60.0,
        sections.iter().map(|s| format!("{} {:.0} s", s.name, s.seconds)).collect::<Vec<_>>().join(", "),
    );
    for row in &rows {
        summary += &format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            row.comparison,
            row.outlast,
            row.other,
            row.ratio,
            row.goal,
            verdict(row.met)
        );
    }
    Ok(Outcome { sections, summary })
}

fn single_engine(c: &engine_bench::Config) -> String {
    format!(
        "cargo run --release -p outlast --features bench -- bench engine --ops {} --runs {} --book-orders {} --accounts {} --seed {}",
        c.ops, c.runs, c.book_orders, c.accounts, c.seed
    )
}
