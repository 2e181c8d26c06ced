//! The `outlast` command: thin glue over the library crates.
//!
//! Subcommands: `node` (one cluster node), `admin` (membership), `plan` (failure-domain
//! survival), `demo` (the engine on its own), `bench`, and the failover client's `order`,
//! `cancel`, `balance`, `book`, `watch` and `health`.
//! This file parses arguments and prints; it holds no exchange logic.

mod admin_cmd;
mod client_cmd;
mod demo;
mod node_cmd;
mod plan_cmd;
mod up_cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "outlast", version, about = "Exchange infrastructure that outlasts the cloud it runs on")]
struct Cli {
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    /// Run one node of a cluster (see `outlast_cluster::config` for the file format).
    Node {
        /// The node's configuration file.
        #[arg(long)]
        config: PathBuf,
        /// Make the configured peers the voters of a new cluster (run on one node, once).
        #[arg(long)]
        init: bool,
        /// Initialise even if losing one provider would stop the cluster.
        #[arg(long)]
        allow_unsafe_topology: bool,
    },
    /// Change membership or read status through any node of a running cluster.
    Admin {
        /// A node's client address, host:port.
        #[arg(long)]
        node: String,
        #[command(subcommand)]
        action: admin_cmd::Action,
    },
    /// Print which single and double losses of providers, regions and zones the voters survive.
    /// Exits 1 if losing one provider would stop the cluster.
    Plan {
        /// A cluster file: `[[peers]]` entries as in a node configuration (a node's file works).
        cluster: PathBuf,
    },
    /// Start a local multi-cloud cluster: five node processes over three providers and three
    /// regions with simulated WAN latency, a demo exchange with funded users and API keys. Runs
    /// until Ctrl-C; run it again on the same --dir to resume.
    Up {
        /// State directory (topology, secrets, node data and logs).
        #[arg(long, default_value = ".outlast")]
        dir: PathBuf,
        /// A topology file (nodes and latencies) for a new directory; the built-in one otherwise.
        #[arg(long)]
        topology: Option<PathBuf>,
    },
    /// Break a local cluster under load (provider-outage, region-outage, leader-kill-loop,
    /// symmetric-partition, asymmetric-partition, leader-isolation, latency-spike, process-pause,
    /// crash-restart, rolling-restart), check every promise, and write an incident report.
    /// A fresh cluster by default, or a running `outlast up` with --attach. Exits 0 on PASS,
    /// 1 on FAIL.
    Chaos {
        /// The scenario (or give --schedule).
        scenario: Option<String>,
        /// A fault schedule file composing several scenarios (see outlast_lab::chaos).
        #[arg(long, conflicts_with = "scenario")]
        schedule: Option<PathBuf>,
        /// Where the report (and a fresh cluster) go.
        #[arg(long, default_value = "chaos-report")]
        dir: PathBuf,
        /// Rehearse on the cluster `outlast up` is running from this state directory (e.g.
        /// .outlast) instead of a fresh one; it keeps running afterwards.
        #[arg(long, conflicts_with = "topology")]
        attach: Option<PathBuf>,
        /// Seconds of load before the fault.
        #[arg(long, default_value_t = 3)]
        warmup_s: u64,
        /// Seconds the fault lasts.
        #[arg(long, default_value_t = 5)]
        fault_s: u64,
        /// Seconds of load after healing.
        #[arg(long, default_value_t = 3)]
        cooldown_s: u64,
        /// Concurrent traders.
        #[arg(long, default_value_t = 8)]
        traders: u64,
        /// A topology file (the built-in one otherwise).
        #[arg(long)]
        topology: Option<PathBuf>,
    },
    /// Show the cluster: nodes with provider/region/zone, role, health, term, applied index, lag,
    /// and where the leader is.
    Status {
        /// An `outlast up` state directory (for its topology and operator token).
        #[arg(long, default_value = ".outlast")]
        dir: PathBuf,
        /// API base URLs to ask instead (with OUTLAST_OPERATOR_TOKEN).
        #[arg(long, value_delimiter = ',')]
        endpoints: Vec<String>,
    },
    /// Run the engine demo: an exchange in one process, a few traders, a deposit-to-withdrawal
    /// story, and the state digest. (Becomes `outlast up`, a multi-cloud cluster, later.)
    Demo,
    /// Deterministic simulation: a five-node cluster in this process under seeded faults, one
    /// run per seed; prints every failing seed (replay one with `--seeds 1 --from SEED --trace`).
    Simulate {
        /// How many seeds.
        #[arg(long, default_value_t = 100)]
        seeds: u64,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Print each run's trace (faults, leaders, acknowledgements, convergence).
        #[arg(long)]
        trace: bool,
        /// Worker processes running seeds (default: one per CPU).
        #[arg(long)]
        jobs: Option<usize>,
        /// Plant a bug the checks must catch: `ack-before-commit` or `ack-before-fsync` (a
        /// build with `--features planted-faults` only).
        #[arg(long)]
        plant: Option<String>,
    },
    /// Run a benchmark and optionally record it in BENCHMARKS.md.
    Bench {
        #[command(subcommand)]
        which: Bench,
    },
    #[command(flatten)]
    Client(client_cmd::Command),
}

#[derive(Subcommand)]
enum Bench {
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

fn main() -> ExitCode {
    match Cli::parse().command {
        Top::Node { config, init, allow_unsafe_topology } => node_cmd::run(&config, init, allow_unsafe_topology),
        Top::Plan { cluster } => plan_cmd::run(&cluster),
        Top::Admin { node, action } => admin_cmd::run(&node, action),
        Top::Demo => demo::run(),
        Top::Simulate { seeds, from, trace, jobs, plant } => simulate(seeds, from, trace, jobs, plant),
        Top::Up { dir, topology } => up_cmd::up(&dir, topology.as_deref()),
        Top::Status { dir, endpoints } => up_cmd::status(&dir, endpoints),
        Top::Chaos { scenario, schedule, dir, attach, warmup_s, fault_s, cooldown_s, traders, topology } => {
            use outlast_lab::chaos::{load_schedule, Scenario, Step};
            let (steps, cooldown) = match (scenario, schedule) {
                (_, Some(path)) => match load_schedule(&path) {
                    Ok(loaded) => loaded,
                    Err(error) => {
                        eprintln!("error: {error}");
                        return ExitCode::from(2);
                    }
                },
                (Some(name), None) => match Scenario::parse(&name) {
                    Some(scenario) => {
                        let step = Step {
                            scenario,
                            after: std::time::Duration::from_secs(warmup_s),
                            duration: std::time::Duration::from_secs(fault_s),
                        };
                        (vec![step], std::time::Duration::from_secs(cooldown_s))
                    }
                    None => {
                        let names: Vec<&str> = Scenario::ALL.iter().map(|(n, _)| *n).collect();
                        eprintln!("error: unknown scenario {name:?}; one of: {}", names.join(", "));
                        return ExitCode::from(2);
                    }
                },
                (None, None) => {
                    eprintln!("error: name a scenario or give --schedule FILE");
                    return ExitCode::from(2);
                }
            };
            up_cmd::chaos(outlast_lab::chaos::ChaosConfig {
                steps,
                cooldown,
                load: outlast_lab::load::LoadConfig { traders, ..Default::default() },
                dir,
                topology,
                attach,
            })
        }
        Top::Client(command) => client_cmd::run(command),
        Top::Bench { which: Bench::All { quick, etcd, dir, write } } => bench_all(quick, etcd, dir, write),
        Top::Bench { which: Bench::Engine { ops, runs, book_orders, accounts, seed, write } } => {
            let config = outlast_bench::engine_bench::Config { ops, accounts, book_orders, runs, seed };
            bench_engine(&config, write)
        }
        Top::Bench { which: Bench::Cluster { clients, commands, trials, write } } => {
            let config = outlast_bench::cluster_bench::Config {
                concurrencies: clients.clone(),
                commands_per_client: commands,
                failover_trials: trials,
            };
            let binary = match own_binary() {
                Ok(binary) => binary,
                Err(code) => return code,
            };
            eprintln!("starting a 3-node cluster and measuring...");
            let report = match outlast_bench::cluster_bench::run(&binary, &config) {
                Ok(report) => report,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let list: Vec<String> = clients.iter().map(|c| c.to_string()).collect();
            let command = format!(
                "cargo run --release -p outlast -- bench cluster --clients {} --commands {commands} --trials {trials}{}",
                list.join(","),
                if write.is_some() { " --write BENCHMARKS.md" } else { "" }
            );
            let body = report.markdown(&outlast_bench::machine::describe(), &command, &today());
            publish(&body, "cluster-bench", write, None)
        }
        Top::Bench { which: Bench::Api { clients, orders, subscribers, trades, write } } => {
            let config = outlast_bench::api_bench::Config {
                concurrencies: clients.clone(),
                orders_per_client: orders,
                subscribers: subscribers.clone(),
                trades,
            };
            let binary = match own_binary() {
                Ok(binary) => binary,
                Err(code) => return code,
            };
            eprintln!("starting a 3-node cluster and loading its API...");
            let report = match outlast_bench::api_bench::run(&binary, &config) {
                Ok(report) => report,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let list = |v: &[usize]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
            let command = format!(
                "cargo run --release -p outlast -- bench api --clients {} --orders {orders} --subscribers {} --trades {trades}{}",
                list(&clients),
                list(&subscribers),
                if write.is_some() { " --write BENCHMARKS.md" } else { "" }
            );
            let body = report.markdown(&outlast_bench::machine::describe(), &command, &today());
            publish(&body, "api-bench", write, None)
        }
        Top::Bench { which: Bench::Etcd { clients, rounds, ops, etcd, write } } => {
            let config =
                outlast_bench::etcd_bench::Config { concurrencies: clients.clone(), rounds, ops_per_measurement: ops };
            let binary = match own_binary() {
                Ok(binary) => binary,
                Err(code) => return code,
            };
            eprintln!("starting a 3-node Outlast cluster and a 3-member etcd cluster...");
            let report = match outlast_bench::etcd_bench::run(&binary, &etcd, &config) {
                Ok(report) => report,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let list = clients.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
            let command = format!(
                "cargo run --release -p outlast -- bench etcd --clients {list} --rounds {rounds} --ops {ops}{}",
                if write.is_some() { " --write BENCHMARKS.md" } else { "" }
            );
            let body = report.markdown(&outlast_bench::machine::describe(), &command, &today());
            publish(&body, "etcd-bench", write, Some(report.chart()))
        }
        Top::Bench { which: Bench::Failover { trials, dir, write } } => {
            let binary = match own_binary() {
                Ok(binary) => binary,
                Err(code) => return code,
            };
            let config = outlast_bench::failover_bench::Config { trials, dir };
            let report = match outlast_bench::failover_bench::run(&binary, &config) {
                Ok(report) => report,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let command = format!(
                "cargo run --release -p outlast -- bench failover --trials {trials}{}",
                if write.is_some() { " --write BENCHMARKS.md" } else { "" }
            );
            let body = report.markdown(&outlast_bench::machine::describe(), &command, &today());
            publish(&body, "failover-bench", write, Some(report.chart()))
        }
        Top::Bench { which: Bench::Wan { clients, commands, rounds, dir, write } } => {
            let binary = match own_binary() {
                Ok(binary) => binary,
                Err(code) => return code,
            };
            let config = outlast_bench::wan_bench::Config {
                concurrencies: clients.clone(),
                commands_per_client: commands,
                rounds,
                dir,
            };
            let report = match outlast_bench::wan_bench::run(&binary, &config) {
                Ok(report) => report,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let list: Vec<String> = clients.iter().map(usize::to_string).collect();
            let command = format!(
                "cargo run --release -p outlast -- bench wan --clients {} --commands {commands} --rounds {rounds}{}",
                list.join(","),
                if write.is_some() { " --write BENCHMARKS.md" } else { "" }
            );
            let body = report.markdown(&outlast_bench::machine::describe(), &command, &today());
            publish(&body, "wan-bench", write, Some(report.chart()))
        }
        Top::Bench { which: Bench::Recovery { commands, accounts, rounds, write } } => {
            let binary = match own_binary() {
                Ok(binary) => binary,
                Err(code) => return code,
            };
            let config = outlast_bench::recovery_bench::Config {
                commands_behind: commands,
                snapshot_accounts: accounts,
                rounds,
            };
            let report = match outlast_bench::recovery_bench::run(&binary, &config) {
                Ok(report) => report,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::FAILURE;
                }
            };
            let command = format!(
                "cargo run --release -p outlast -- bench recovery --commands {commands} --accounts {accounts} --rounds {rounds}{}",
                if write.is_some() { " --write BENCHMARKS.md" } else { "" }
            );
            let body = report.markdown(&outlast_bench::machine::describe(), &command, &today());
            publish(&body, "recovery-bench", write, Some(report.chart()))
        }
        Top::Bench { which: Bench::Log { record_bytes, batches, runs, write } } => {
            let config = outlast_bench::log_bench::Config { record_bytes, batches, runs, ..Default::default() };
            eprintln!("appending durably to the log and to redb...");
            let report = outlast_bench::log_bench::run(&config);
            let command = format!(
                "cargo run --release -p outlast -- bench log --record-bytes {record_bytes} --batches {batches} --runs {runs}{}",
                if write.is_some() { " --write BENCHMARKS.md" } else { "" }
            );
            let body = report.markdown(&outlast_bench::machine::describe(), &command, &today());
            publish(&body, "log-bench", write, None)
        }
    }
}

fn simulate(seeds: u64, from: u64, trace: bool, jobs: Option<usize>, plant: Option<String>) -> ExitCode {
    if let Some(name) = plant.as_deref() {
        #[cfg(feature = "planted-faults")]
        let planted = outlast_cluster::planted::Bug::parse(name).map(outlast_cluster::planted::plant).is_some();
        #[cfg(not(feature = "planted-faults"))]
        let planted = false;
        if !planted {
            eprintln!(
                "error: cannot plant {name:?} (ack-before-commit and ack-before-fsync need a build with --features \
                 planted-faults)"
            );
            return ExitCode::from(2);
        }
    }
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let jobs = jobs.clamp(1, seeds.max(1) as usize);
    let started = std::time::Instant::now();
    let failed = if jobs == 1 {
        outlast_sim::run_seeds(from, seeds, outlast_sim::Options::default(), |outcome| {
            if trace {
                println!("seed {}:", outcome.seed);
                for line in &outcome.trace {
                    println!("  {line}");
                }
            }
            if !outcome.passed() {
                println!("FAIL seed {}: {}", outcome.seed, outcome.violations.join("; "));
            }
        })
    } else {
        match simulate_in_workers(from, seeds, jobs, trace, plant.as_deref()) {
            Ok(failed) => failed,
            Err(code) => return code,
        }
    };
    println!(
        "{seeds} seeds from {from}: {} passed, {} failed in {:.1} s{}",
        seeds - failed.len() as u64,
        failed.len(),
        started.elapsed().as_secs_f64(),
        if failed.is_empty() { String::new() } else { format!(" (failing seeds: {failed:?})") }
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs seeds `from..from + seeds` in `jobs` worker processes of this binary, each a contiguous
/// share run one seed at a time (simulations sharing a process can perturb each other, see
/// `outlast_sim::run_seeds`). Passes on the workers' lines as they come, but for their own
/// summaries; returns the failing seeds, ascending.
fn simulate_in_workers(
    from: u64,
    seeds: u64,
    jobs: usize,
    trace: bool,
    plant: Option<&str>,
) -> Result<Vec<u64>, ExitCode> {
    use std::io::BufRead;
    let binary = own_binary()?;
    let share = seeds.div_ceil(jobs as u64);
    let failed = std::sync::Mutex::new(Vec::new());
    let print = std::sync::Mutex::new(());
    let mut spawned = Vec::new();
    for job in 0..jobs as u64 {
        let start = from + job * share;
        let count = share.min((from + seeds).saturating_sub(start));
        if count == 0 {
            continue;
        }
        let mut command = std::process::Command::new(&binary);
        command.args(["simulate", "--jobs", "1", "--seeds", &count.to_string(), "--from", &start.to_string()]);
        if trace {
            command.arg("--trace");
        }
        if let Some(name) = plant {
            command.args(["--plant", name]);
        }
        match command.stdout(std::process::Stdio::piped()).spawn() {
            Ok(child) => spawned.push(child),
            Err(error) => {
                eprintln!("error: cannot start a simulation worker: {error}");
                return Err(ExitCode::FAILURE);
            }
        }
    }
    std::thread::scope(|scope| {
        for child in &mut spawned {
            let Some(stdout) = child.stdout.take() else { continue };
            let (failed, print) = (&failed, &print);
            scope.spawn(move || {
                for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                    if line.contains(" seeds from ") && !line.starts_with(' ') {
                        continue;
                    }
                    if let Some(seed) = line.strip_prefix("FAIL seed ").and_then(|rest| rest.split(':').next()) {
                        if let Ok(seed) = seed.parse::<u64>() {
                            failed.lock().unwrap_or_else(|p| p.into_inner()).push(seed);
                        }
                    }
                    let _guard = print.lock();
                    println!("{line}");
                }
            });
        }
    });
    let mut broken = false;
    for mut child in spawned {
        // A worker exits 1 when a seed fails (already counted); anything else is a crash.
        match child.wait() {
            Ok(status) if status.success() || status.code() == Some(1) => {}
            _ => broken = true,
        }
    }
    if broken {
        eprintln!("error: a simulation worker crashed");
        return Err(ExitCode::FAILURE);
    }
    let mut failed = failed.into_inner().unwrap_or_else(|p| p.into_inner());
    failed.sort_unstable();
    Ok(failed)
}

/// This executable's path (cluster runs start nodes from it), or the exit code after saying why
/// it cannot be found.
fn own_binary() -> Result<PathBuf, ExitCode> {
    std::env::current_exe().map_err(|error| {
        eprintln!("error: cannot find the outlast binary: {error}");
        ExitCode::FAILURE
    })
}

/// Prints a report and, if asked, writes it into its section of a markdown file (with its
/// chart, if it has one, beside the file).
fn publish(body: &str, section: &str, write: Option<PathBuf>, chart: Option<outlast_bench::svg::Chart>) -> ExitCode {
    println!("{body}");
    if let Some(path) = write {
        if let Err(error) = outlast_bench::report::write_section_with_chart(&path, section, body, chart.as_ref()) {
            eprintln!("error: cannot write {}: {error}", path.display());
            return ExitCode::FAILURE;
        }
        eprintln!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}

fn bench_all(quick: bool, etcd: PathBuf, dir: PathBuf, write: Option<PathBuf>) -> ExitCode {
    let binary = match own_binary() {
        Ok(binary) => binary,
        Err(code) => return code,
    };
    let command = format!(
        "cargo run --release -p outlast -- bench all{}{}",
        if quick { " --quick" } else { "" },
        if write.is_some() { " --write BENCHMARKS.md" } else { "" }
    );
    let config = outlast_bench::all::Config { quick, etcd, dir };
    let machine = outlast_bench::machine::describe();
    let outcome = match outlast_bench::all::run(&binary, &config, &machine, &today(), &command) {
        Ok(outcome) => outcome,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    for section in outcome.sections {
        let code = publish(&section.body, section.name, write.clone(), Some(section.chart));
        if code != ExitCode::SUCCESS {
            return code;
        }
    }
    publish(&outcome.summary, "bench-summary", write, None)
}

fn bench_engine(config: &outlast_bench::engine_bench::Config, write: Option<PathBuf>) -> ExitCode {
    eprintln!("generating {} commands and running {} times...", config.ops, config.runs);
    let report = outlast_bench::engine_bench::run(config);
    let command = format!(
        "cargo run --release -p outlast -- bench engine --ops {} --runs {} --book-orders {} --accounts {} --seed {}{}",
        config.ops,
        config.runs,
        config.book_orders,
        config.accounts,
        config.seed,
        if write.is_some() { " --write BENCHMARKS.md" } else { "" }
    );
    let body = report.markdown(&outlast_bench::machine::describe(), &command, &today());
    publish(&body, "engine-bench", write, Some(report.chart()))
}

/// Today's date (UTC) as YYYY-MM-DD, from the system clock (the binary may read clocks; the
/// engine may not).
fn today() -> String {
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    outlast_api::utc_text(now_ms)[..10].to_string()
}
