//! `outlast bench all`: every side-by-side comparison in one run, one summary table of ratios
//! against the goals, and one BENCHMARKS.md section (with its chart) per comparison.
//!
//! Each comparison measures Outlast and its counterpart in the same run, interleaved where the
//! two can share the machine in turns, so a ratio holds when the machine is noisy. `quick`
//! shrinks every size so CI can check the whole pipeline end to end in about a minute; its
//! figures mean nothing.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::cli::CARGO_BENCH;
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

/// What every comparison needs to run and to describe itself.
struct Context<'a> {
    binary: &'a Path,
    config: &'a Config,
    machine: &'a str,
    date: &'a str,
    command: &'a str,
}

impl Context<'_> {
    /// A section's command line: this run's, then the one that regenerates that section alone
    /// (sections put the command in backticks: this closes and reopens them around the glue).
    fn command_for(&self, alone: &str) -> String {
        format!("{}`; this section alone: `{alone}", self.command)
    }
}

/// One comparison: runs and returns its summary row and its section (the caller times it).
type Comparison = fn(&Context) -> Result<(Row, Section), String>;

/// Runs every comparison with `binary` as the `outlast` executable. `command` is how this run
/// was invoked; each section names it and the command that regenerates that section alone.
pub fn run(binary: &Path, config: &Config, machine: &str, date: &str, command: &str) -> Result<Outcome, String> {
    let started = Instant::now();
    let context = Context { binary, config, machine, date, command };
    let comparisons: [Comparison; 5] = [engine, etcd, failover, wan, recovery];
    let (mut rows, mut sections) = (Vec::new(), Vec::new());
    for (index, comparison) in comparisons.iter().enumerate() {
        eprint!("[{}/{}] ", index + 1, comparisons.len());
        let clock = Instant::now();
        let (row, mut section) = comparison(&context)?;
        section.seconds = clock.elapsed().as_secs_f64();
        rows.push(row);
        sections.push(section);
    }
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

fn list(values: &[usize]) -> String {
    values.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
}

fn engine(cx: &Context) -> Result<(Row, Section), String> {
    let q = cx.config.quick;
    let engine = engine_bench::Config {
        ops: if q { 50_000 } else { 2_000_000 },
        runs: if q { 2 } else { 5 },
        book_orders: if q { 200 } else { 1_000 },
        accounts: if q { 100 } else { 2_000 },
        seed: 42,
    };
    eprintln!("matching engine vs orderbook-rs ({} commands x {} runs)", engine.ops, engine.runs);
    let report = engine_bench::run(&engine);
    let row = Row {
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
    };
    let body = report.markdown(cx.machine, &cx.command_for(&single_engine(&engine)), cx.date);
    Ok((row, Section { name: "engine-bench", body, chart: report.chart(), seconds: 0.0 }))
}

fn etcd(cx: &Context) -> Result<(Row, Section), String> {
    let q = cx.config.quick;
    let etcd = etcd_bench::Config {
        concurrencies: if q { vec![1, 4] } else { vec![1, 16, 256] },
        rounds: if q { 1 } else { 3 },
        ops_per_measurement: if q { 40 } else { 3_000 },
    };
    eprintln!("replicated writes vs etcd ({:?} clients, {} rounds)", etcd.concurrencies, etcd.rounds);
    let report = etcd_bench::run(cx.binary, &cx.config.etcd, &etcd).map_err(|e| format!("etcd comparison: {e}"))?;
    let top = report.rows.last().ok_or("no etcd rows")?;
    let row = Row {
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
    };
    let alone = format!(
        "{CARGO_BENCH} etcd --clients {} --rounds {} --ops {}",
        list(&etcd.concurrencies),
        etcd.rounds,
        etcd.ops_per_measurement
    );
    let body = report.markdown(cx.machine, &cx.command_for(&alone), cx.date);
    Ok((row, Section { name: "etcd-bench", body, chart: report.chart(), seconds: 0.0 }))
}

fn failover(cx: &Context) -> Result<(Row, Section), String> {
    let trials = if cx.config.quick { 1 } else { 20 };
    let failover = failover_bench::Config { trials, dir: cx.config.dir.join("failover") };
    eprintln!("failover over {trials} provider outages");
    let report = failover_bench::run(cx.binary, &failover)?;
    let p99 = report.p99_ms().ok_or("no failover trials")?;
    let row = Row {
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
    };
    let alone = format!("{CARGO_BENCH} failover --trials {trials}");
    let body = report.markdown(cx.machine, &cx.command_for(&alone), cx.date);
    Ok((row, Section { name: "failover-bench", body, chart: report.chart(), seconds: 0.0 }))
}

fn wan(cx: &Context) -> Result<(Row, Section), String> {
    let q = cx.config.quick;
    let wan = wan_bench::Config {
        concurrencies: if q { vec![1, 4] } else { vec![1, 16, 256] },
        commands_per_client: if q { 10 } else { 100 },
        rounds: if q { 1 } else { 3 },
        dir: cx.config.dir.join("wan"),
    };
    eprintln!("WAN commit latency ({:?} clients, {} rounds)", wan.concurrencies, wan.rounds);
    let report = wan_bench::run(cx.binary, &wan)?;
    let first = report.latency.first().ok_or("no WAN measurements")?;
    let row = Row {
        comparison: "WAN commit latency",
        outlast: format!("p50 {:.1} ms ({} client)", first.p50_ms.median, first.clients),
        other: format!("floor {:.1} ms (leader → nearest quorum, measured)", report.floor_ms.median),
        ratio: format!("{:+.1} ms over the floor", first.over_floor_ms.median),
        goal: "p50 ≤ floor + 2 ms",
        met: Some(first.over_floor_ms.median <= 2.0),
    };
    let alone = format!(
        "{CARGO_BENCH} wan --clients {} --commands {} --rounds {}",
        list(&wan.concurrencies),
        wan.commands_per_client,
        wan.rounds
    );
    let body = report.markdown(cx.machine, &cx.command_for(&alone), cx.date);
    Ok((row, Section { name: "wan-bench", body, chart: report.chart(), seconds: 0.0 }))
}

fn recovery(cx: &Context) -> Result<(Row, Section), String> {
    let q = cx.config.quick;
    let recovery = recovery_bench::Config {
        commands_behind: if q { 2_000 } else { 20_000 },
        snapshot_accounts: if q { 2_000 } else { 100_000 },
        rounds: if q { 1 } else { 3 },
    };
    eprintln!("recovery ({} commands behind, {} accounts)", recovery.commands_behind, recovery.snapshot_accounts);
    let report = recovery_bench::run(cx.binary, &recovery)?;
    let row = Row {
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
    };
    let alone = format!(
        "{CARGO_BENCH} recovery --commands {} --accounts {} --rounds {}",
        recovery.commands_behind, recovery.snapshot_accounts, recovery.rounds
    );
    let body = report.markdown(cx.machine, &cx.command_for(&alone), cx.date);
    Ok((row, Section { name: "recovery-bench", body, chart: report.chart(), seconds: 0.0 }))
}

fn single_engine(c: &engine_bench::Config) -> String {
    format!(
        "{CARGO_BENCH} engine --ops {} --runs {} --book-orders {} --accounts {} --seed {}",
        c.ops, c.runs, c.book_orders, c.accounts, c.seed
    )
}
