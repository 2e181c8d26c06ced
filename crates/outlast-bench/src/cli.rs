//! `outlast bench …`: the benchmark subcommands, their arguments, and the one path every result
//! takes to the terminal and, with `--write FILE`, into its marked section of that file (its
//! chart beside it).
//!
//! The command printed with a result to reproduce it spells out every measured parameter
//! (`Bench::command_line`), with `--write` naming BENCHMARKS.md. Cluster benchmarks start nodes from the running executable,
//! which is the `outlast` binary built with its `bench` feature.
//!
//! Must never: assert a timing (benchmarks measure and report), or be linked into a serving
//! node's build (the `outlast` binary reaches this only with `--features bench`).

use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::svg::Chart;

/// A benchmark to run.
#[derive(Clone, Debug, Subcommand)]
pub enum Bench {
    /// Every side-by-side comparison (engine vs orderbook-rs, writes vs etcd, failover, WAN
    /// latency vs its floor, recovery) in one run: a summary table of ratios against the goals,
    /// and with --write one section and one SVG chart per comparison.
    All {
        /// Tiny sizes, to check the pipeline end to end (CI); the figures mean nothing.
        #[arg(long)]
        quick: bool,
        /// The etcd executable.
        #[arg(long, default_value = "etcd")]
        etcd: PathBuf,
        /// Where the cluster runs keep their state.
        #[arg(long, default_value = "target/bench-all")]
        dir: PathBuf,
        /// Write the summary and every section into this markdown file, charts beside it.
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Single-thread matching-engine throughput and latency (exchange-core-style mix).
    Engine {
        /// Commands in the measured workload.
        #[arg(long, default_value_t = 2_000_000)]
        ops: usize,
        /// Throughput runs; the median is reported with min and max.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Resting orders kept on the book.
        #[arg(long, default_value_t = 1_000)]
        book_orders: usize,
        /// Trading accounts.
        #[arg(long, default_value_t = 2_000)]
        accounts: u64,
        /// Generator seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Write the result into this markdown file's engine section (e.g. BENCHMARKS.md).
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// A 3-node cluster of real processes: commits/s and latency per client concurrency, and the
    /// time from a leader's SIGKILL to the next commit.
    Cluster {
        /// Client concurrencies, comma-separated.
        #[arg(long, default_value = "1,16,256", value_delimiter = ',')]
        clients: Vec<usize>,
        /// Commands per client per concurrency.
        #[arg(long, default_value_t = 200)]
        commands: usize,
        /// Leader-kill trials.
        #[arg(long, default_value_t = 10)]
        trials: usize,
        /// Write the result into this markdown file's cluster section (e.g. BENCHMARKS.md).
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// The public API on a 3-node cluster: REST orders/s against the internal protocol, and
    /// WebSocket fan-out.
    Api {
        /// REST client concurrencies, comma-separated.
        #[arg(long, default_value = "1,16,64", value_delimiter = ',')]
        clients: Vec<usize>,
        /// Orders per client per concurrency.
        #[arg(long, default_value_t = 200)]
        orders: usize,
        /// WebSocket subscriber counts, comma-separated.
        #[arg(long, default_value = "1,100,1000", value_delimiter = ',')]
        subscribers: Vec<usize>,
        /// Trades per fan-out measurement.
        #[arg(long, default_value_t = 500)]
        trades: usize,
        /// Write the result into this markdown file's api section (e.g. BENCHMARKS.md).
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Replicated durable writes against etcd 3.4 (3 members on loopback, `etcd` on the PATH or
    /// --etcd): ops/s and latency at each concurrency, in the same run.
    Etcd {
        /// Client concurrencies, comma-separated.
        #[arg(long, default_value = "1,16,256", value_delimiter = ',')]
        clients: Vec<usize>,
        /// Rounds per concurrency (the median is reported, with min and max).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Operations per measurement, spread over the clients.
        #[arg(long, default_value_t = 2000)]
        ops: usize,
        /// The etcd executable.
        #[arg(long, default_value = "etcd")]
        etcd: PathBuf,
        /// Write the result into this markdown file's etcd section (e.g. BENCHMARKS.md).
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Client-observed unavailability over repeated provider outages (full chaos runs).
    Failover {
        /// Trials.
        #[arg(long, default_value_t = 20)]
        trials: usize,
        /// Where the trials' clusters and reports go.
        #[arg(long, default_value = "target/failover-bench")]
        dir: PathBuf,
        /// Write the result into this markdown file's failover section (e.g. BENCHMARKS.md).
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Stale reads and client-observed unavailability per fault scenario (full chaos runs with
    /// reads probed on every node), read latency, and log volume under faults.
    Faults {
        /// Scenarios, comma-separated.
        #[arg(
            long,
            default_value = "provider-outage,region-outage,leader-isolation,asymmetric-partition,process-pause,leader-kill-loop",
            value_delimiter = ','
        )]
        scenarios: Vec<String>,
        /// Trials per scenario.
        #[arg(long, default_value_t = 5)]
        trials: usize,
        /// Trials of the provider outage.
        #[arg(long, default_value_t = 20)]
        provider_trials: usize,
        /// How long each fault lasts, s.
        #[arg(long, default_value_t = 8)]
        fault_s: u64,
        /// Where the trials' clusters and reports go.
        #[arg(long, default_value = "target/faults-bench")]
        dir: PathBuf,
        /// Write the result into this markdown file's faults section (e.g. BENCHMARKS.md).
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Commit latency on the five-node WAN topology (link proxies), next to the measured floor:
    /// the round trip from the leader to the nearest quorum.
    Wan {
        /// Client concurrencies, comma-separated.
        #[arg(long, default_value = "1,16", value_delimiter = ',')]
        clients: Vec<usize>,
        /// Sequential commits per client per measurement.
        #[arg(long, default_value_t = 100)]
        commands: usize,
        /// Rounds (probe the floor, then each concurrency); the median is reported.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Where the cluster's state goes (wiped first).
        #[arg(long, default_value = "target/wan-bench")]
        dir: PathBuf,
        /// Write the result into this markdown file's WAN section (e.g. BENCHMARKS.md).
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Money on a chain: RPC reads while a provider dies, withdrawal latency (normal, a provider
    /// down, a leader killed), and deposit crediting delay.
    Chain {
        /// Seconds each RPC phase reads for.
        #[arg(long, default_value_t = 8)]
        phase_s: u64,
        /// Withdrawals per custody phase.
        #[arg(long, default_value_t = 6)]
        withdrawals: usize,
        /// Deposits measured.
        #[arg(long, default_value_t = 6)]
        deposits: usize,
        /// Write the result into this markdown file's chain section (e.g. BENCHMARKS.md).
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// A restarted follower catching up: from the log (entries/s) and by snapshot (time, size).
    Recovery {
        /// Commands committed while the follower is down, per log round.
        #[arg(long, default_value_t = 20_000)]
        commands: usize,
        /// Accounts in the state the snapshot carries.
        #[arg(long, default_value_t = 100_000)]
        accounts: usize,
        /// Rounds of each kind; the median is reported with min and max.
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Write the result into this markdown file's recovery section (e.g. BENCHMARKS.md).
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Backups: the RPO under load (applied on the leader → held by the backup's manifest) and
    /// the time to restore, against a follower's catch-up by snapshot on the same state.
    Backup {
        /// Accounts in the state before the backup starts.
        #[arg(long, default_value_t = 100_000)]
        accounts: usize,
        /// Seconds of load while the RPO is sampled.
        #[arg(long, default_value_t = 20)]
        load_s: u64,
        /// The backup's interval between rounds, ms.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Write the result into this markdown file's backup section (e.g. BENCHMARKS.md).
        #[arg(long)]
        write: Option<PathBuf>,
    },
    /// Durable appends: Outlast's segmented log against redb (records/s, batch latency).
    Log {
        /// Bytes per record.
        #[arg(long, default_value_t = 256)]
        record_bytes: usize,
        /// Batches per run.
        #[arg(long, default_value_t = 400)]
        batches: usize,
        /// Runs per cell; the median is reported with min and max.
        #[arg(long, default_value_t = 3)]
        runs: usize,
        /// Write the result into this markdown file's log section (e.g. BENCHMARKS.md).
        #[arg(long)]
        write: Option<PathBuf>,
    },
}

/// One benchmark's result: its section name in the markdown file, the section's body, and its
/// chart if it has one.
struct Section {
    name: &'static str,
    body: String,
    chart: Option<Chart>,
}

/// Runs `which`, starting cluster nodes from `binary`; prints every section and writes them
/// where `--write` says. `command` is the command line that reproduces the run.
pub fn run(which: Bench, binary: &Path, command: &str) -> Result<(), String> {
    let write = match &which {
        Bench::All { write, .. }
        | Bench::Engine { write, .. }
        | Bench::Cluster { write, .. }
        | Bench::Api { write, .. }
        | Bench::Etcd { write, .. }
        | Bench::Failover { write, .. }
        | Bench::Faults { write, .. }
        | Bench::Wan { write, .. }
        | Bench::Recovery { write, .. }
        | Bench::Chain { write, .. }
        | Bench::Backup { write, .. }
        | Bench::Log { write, .. } => write.clone(),
    };
    for section in measure(which, binary, command)? {
        println!("{}", section.body);
        if let Some(path) = &write {
            crate::report::write_section_with_chart(path, section.name, &section.body, section.chart.as_ref())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!("wrote {} into {}", section.name, path.display());
        }
    }
    Ok(())
}

/// Runs one benchmark (or all of them) and renders its sections.
fn measure(which: Bench, binary: &Path, command: &str) -> Result<Vec<Section>, String> {
    let machine = crate::machine::describe();
    let date = today();
    let one = |name, body, chart| Ok(vec![Section { name, body, chart }]);
    match which {
        Bench::All { quick, etcd, dir, write: _ } => {
            let config = crate::all::Config { quick, etcd, dir };
            let outcome = crate::all::run(binary, &config, &machine, &date, command)?;
            let mut sections: Vec<Section> = outcome
                .sections
                .into_iter()
                .map(|s| Section { name: s.name, body: s.body, chart: Some(s.chart) })
                .collect();
            sections.push(Section { name: "bench-summary", body: outcome.summary, chart: None });
            Ok(sections)
        }
        Bench::Engine { ops, runs, book_orders, accounts, seed, write: _ } => {
            let config = crate::engine_bench::Config { ops, accounts, book_orders, runs, seed };
            eprintln!("generating {ops} commands and running {runs} times...");
            let report = crate::engine_bench::run(&config);
            one("engine-bench", report.markdown(&machine, command, &date), Some(report.chart()))
        }
        Bench::Cluster { clients, commands, trials, write: _ } => {
            let config = crate::cluster_bench::Config {
                concurrencies: clients,
                commands_per_client: commands,
                failover_trials: trials,
            };
            eprintln!("starting a 3-node cluster and measuring...");
            let report = crate::cluster_bench::run(binary, &config).map_err(|e| e.to_string())?;
            one("cluster-bench", report.markdown(&machine, command, &date), None)
        }
        Bench::Api { clients, orders, subscribers, trades, write: _ } => {
            let config =
                crate::api_bench::Config { concurrencies: clients, orders_per_client: orders, subscribers, trades };
            eprintln!("starting a 3-node cluster and loading its API...");
            let report = crate::api_bench::run(binary, &config).map_err(|e| e.to_string())?;
            one("api-bench", report.markdown(&machine, command, &date), None)
        }
        Bench::Etcd { clients, rounds, ops, etcd, write: _ } => {
            let config = crate::etcd_bench::Config { concurrencies: clients, rounds, ops_per_measurement: ops };
            eprintln!("starting a 3-node Outlast cluster and a 3-member etcd cluster...");
            let report = crate::etcd_bench::run(binary, &etcd, &config).map_err(|e| e.to_string())?;
            one("etcd-bench", report.markdown(&machine, command, &date), Some(report.chart()))
        }
        Bench::Failover { trials, dir, write: _ } => {
            let report = crate::failover_bench::run(binary, &crate::failover_bench::Config { trials, dir })?;
            one("failover-bench", report.markdown(&machine, command, &date), Some(report.chart()))
        }
        Bench::Faults { scenarios, trials, provider_trials, fault_s, dir, write: _ } => {
            let mut chosen = Vec::new();
            for name in &scenarios {
                let scenario = outlast_lab::chaos::Scenario::parse(name).ok_or(format!("unknown scenario {name:?}"))?;
                let count =
                    if scenario == outlast_lab::chaos::Scenario::ProviderOutage { provider_trials } else { trials };
                chosen.push((scenario, count));
            }
            let config =
                crate::faults_bench::Config { scenarios: chosen, fault: std::time::Duration::from_secs(fault_s), dir };
            let report = crate::faults_bench::run(binary, &config)?;
            let name = if report.planted.is_some() { "faults-bench-planted" } else { "faults-bench" };
            one(name, report.markdown(&machine, command, &date), None)
        }
        Bench::Wan { clients, commands, rounds, dir, write: _ } => {
            let config =
                crate::wan_bench::Config { concurrencies: clients, commands_per_client: commands, rounds, dir };
            let report = crate::wan_bench::run(binary, &config)?;
            one("wan-bench", report.markdown(&machine, command, &date), Some(report.chart()))
        }
        Bench::Backup { accounts, load_s, interval_ms, write: _ } => {
            let config = crate::backup_bench::Config { accounts, load_s, interval_ms };
            let report = crate::backup_bench::run(binary, &config)?;
            one("backup-bench", report.markdown(&machine, command, &date), None)
        }
        Bench::Chain { phase_s, withdrawals, deposits, write: _ } => {
            let config = crate::chain_bench::Config { phase_s, withdrawals, deposits };
            let report = crate::chain_bench::run(binary, &config)?;
            one("chain-bench", report.markdown(&machine, command, &date), None)
        }
        Bench::Recovery { commands, accounts, rounds, write: _ } => {
            let config =
                crate::recovery_bench::Config { commands_behind: commands, snapshot_accounts: accounts, rounds };
            let report = crate::recovery_bench::run(binary, &config)?;
            one("recovery-bench", report.markdown(&machine, command, &date), Some(report.chart()))
        }
        Bench::Log { record_bytes, batches, runs, write: _ } => {
            let config = crate::log_bench::Config { record_bytes, batches, runs, ..Default::default() };
            eprintln!("appending durably to the log and to redb...");
            let report = crate::log_bench::run(&config);
            one("log-bench", report.markdown(&machine, command, &date), None)
        }
    }
}

/// How every reproduce command starts.
pub(crate) const CARGO_BENCH: &str = "cargo run --release -p outlast --features bench -- bench";

impl Bench {
    /// The command that reproduces this run: every measured parameter written out (so that a
    /// later change of a default does not change what it reruns), where the run kept its state
    /// and which etcd it used left out (they belong to the machine), `--write` naming
    /// BENCHMARKS.md.
    pub fn command_line(&self) -> String {
        let list = |v: &[usize]| v.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
        let (args, write) = match self {
            Bench::All { quick, write, .. } => (format!("all{}", if *quick { " --quick" } else { "" }), write),
            Bench::Engine { ops, runs, book_orders, accounts, seed, write } => (
                format!(
                    "engine --ops {ops} --runs {runs} --book-orders {book_orders} --accounts {accounts} --seed {seed}"
                ),
                write,
            ),
            Bench::Cluster { clients, commands, trials, write } => {
                (format!("cluster --clients {} --commands {commands} --trials {trials}", list(clients)), write)
            }
            Bench::Api { clients, orders, subscribers, trades, write } => (
                format!(
                    "api --clients {} --orders {orders} --subscribers {} --trades {trades}",
                    list(clients),
                    list(subscribers)
                ),
                write,
            ),
            Bench::Etcd { clients, rounds, ops, write, .. } => {
                (format!("etcd --clients {} --rounds {rounds} --ops {ops}", list(clients)), write)
            }
            Bench::Failover { trials, write, .. } => (format!("failover --trials {trials}"), write),
            Bench::Faults { scenarios, trials, provider_trials, fault_s, write, .. } => (
                format!(
                    "faults --scenarios {} --trials {trials} --provider-trials {provider_trials} --fault-s {fault_s}",
                    scenarios.join(",")
                ),
                write,
            ),
            Bench::Wan { clients, commands, rounds, write, .. } => {
                (format!("wan --clients {} --commands {commands} --rounds {rounds}", list(clients)), write)
            }
            Bench::Backup { accounts, load_s, interval_ms, write } => {
                (format!("backup --accounts {accounts} --load-s {load_s} --interval-ms {interval_ms}"), write)
            }
            Bench::Recovery { commands, accounts, rounds, write } => {
                (format!("recovery --commands {commands} --accounts {accounts} --rounds {rounds}"), write)
            }
            Bench::Chain { phase_s, withdrawals, deposits, write } => {
                (format!("chain --phase-s {phase_s} --withdrawals {withdrawals} --deposits {deposits}"), write)
            }
            Bench::Log { record_bytes, batches, runs, write } => {
                (format!("log --record-bytes {record_bytes} --batches {batches} --runs {runs}"), write)
            }
        };
        format!("{CARGO_BENCH} {args}{}", if write.is_some() { " --write BENCHMARKS.md" } else { "" })
    }
}

/// Today's date (UTC) as YYYY-MM-DD, from the system clock (benchmarks may read clocks; the
/// engine may not).
fn today() -> String {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let now_ms = since_epoch.map(|d| d.as_millis() as u64).unwrap_or(0);
    outlast_api::utc_text(now_ms)[..10].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        bench: Bench,
    }

    fn command_of(args: &[&str]) -> String {
        Cli::parse_from(std::iter::once("bench").chain(args.iter().copied())).bench.command_line()
    }

    #[test]
    fn the_reproduce_command_spells_out_every_parameter_and_names_benchmarks_md() {
        assert_eq!(
            command_of(&["engine", "--ops", "20", "--write", "/tmp/x.md"]),
            format!("{CARGO_BENCH} engine --ops 20 --runs 5 --book-orders 1000 --accounts 2000 --seed 42 --write BENCHMARKS.md")
        );
        assert_eq!(
            command_of(&["all", "--quick", "--dir", "/tmp/d", "--etcd", "/opt/etcd"]),
            format!("{CARGO_BENCH} all --quick")
        );
        assert_eq!(
            command_of(&["wan", "--clients", "1,4"]),
            format!("{CARGO_BENCH} wan --clients 1,4 --commands 100 --rounds 3")
        );
    }
}
