//! The `outlast` command: argument parsing and dispatch to the crates that do the work.
//!
//! Subcommands: `node` (one cluster node), `admin` (membership), `cert` (certificates),
//! `plan` (failure-domain
//! survival), `up` and `status` (a local multi-cloud cluster), `chaos` (rehearsals, from
//! `outlast-lab`), `simulate` (from `outlast-sim`), `demo` (the engine on its own), `bench`
//! (from `outlast-bench`, only in a build with `--features bench`, so that a serving node links
//! no benchmark peer), and the failover client's `order`, `cancel`, `balance`, `book`, `watch`
//! and `health`. The files beside this one print; none holds exchange logic.

mod admin_cmd;
mod backup_cmd;
mod cert_cmd;
mod client_cmd;
mod demo;
mod log_limit;
mod node_cmd;
mod notify;
mod plan_cmd;
mod up_cmd;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

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
        /// The cluster's certificate directory (`outlast cert`; `.outlast/pki` for `up`): dial
        /// over mutual TLS as --operator. Without it, in clear (a cluster without TLS).
        #[arg(long)]
        pki: Option<PathBuf>,
        /// The operator whose certificate (operator-NAME.pem in --pki) to present.
        #[arg(long, default_value = "lab")]
        operator: String,
        #[command(subcommand)]
        action: admin_cmd::Action,
    },
    /// Make a cluster's certificate authority and issue node and operator certificates (mutual
    /// TLS between nodes; see `outlast_tls`).
    Cert {
        /// The directory of the cluster's certificates (created by `cert ca`).
        #[arg(long, default_value = "pki")]
        dir: PathBuf,
        #[command(subcommand)]
        action: cert_cmd::Action,
    },
    /// Check node configuration files, each on its own and all together as one cluster (the
    /// same members, one cluster id, the same Raft timing that fits the declared round trips,
    /// voters that survive losing a provider). Exits 1 with what to change.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Back up a cluster continuously to object storage: a base, then the committed log, with a
    /// manifest written after the objects it names. Runs until SIGTERM (or with --once until it
    /// holds what the cluster had applied when it began).
    Backup {
        /// s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX or file:///DIR
        /// (credentials and endpoints from the AWS_*, GOOGLE_* or AZURE_* environment).
        #[arg(long)]
        to: String,
        /// The cluster to back up.
        #[command(flatten)]
        from: backup_cmd::From,
        /// Time between rounds once caught up, in ms: about the backup RPO.
        #[arg(long, default_value_t = 1000)]
        interval_ms: u64,
        /// Stop once the backup holds what the cluster had applied when it began.
        #[arg(long)]
        once: bool,
        /// Serve the backup's metrics (its age, last index, failed rounds) at
        /// http://ADDR/metrics for Prometheus (keep it on a private address).
        #[arg(long)]
        metrics_addr: Option<String>,
    },
    /// Rebuild a backup as the data directories of a new cluster: every object checked against
    /// the manifest, the log replayed onto the base, the digest compared; the membership is
    /// the new files' peers. Each data directory must be empty.
    Restore {
        /// Where the backup is (as `backup --to`).
        #[arg(long)]
        from: String,
        /// The new nodes' configuration files (on a host, its own).
        #[arg(long = "config", required = true)]
        configs: Vec<PathBuf>,
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
    /// Break a local cluster under load (provider-outage, provider-cut, region-outage, leader-kill-loop,
    /// symmetric-partition, asymmetric-partition, leader-isolation, latency-spike, process-pause,
    /// crash-restart, rolling-restart; on a lab chain: rpc-outage, lying-upstream, reorg,
    /// leader-kill-sign, leader-kill-confirm), check every promise, and write an incident report.
    /// A fresh cluster by default, or a running `outlast up` with --attach (not the chain
    /// scenarios). Exits 0 on PASS, 1 on FAIL.
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
        /// An `outlast up` state directory (its topology, and its operator certificate or token).
        #[arg(long, default_value = ".outlast")]
        dir: PathBuf,
        /// API base URLs to ask instead (with OUTLAST_OPERATOR_TOKEN).
        #[arg(long, value_delimiter = ',')]
        endpoints: Vec<String>,
    },
    /// Run the engine demo: an exchange in one process, a few traders, a deposit-to-withdrawal
    /// story, and the state digest (`outlast up` runs the replicated exchange).
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
    /// Run a benchmark and optionally record it in BENCHMARKS.md (a build with `--features
    /// bench`).
    #[cfg(feature = "bench")]
    Bench {
        #[command(subcommand)]
        which: outlast_bench::cli::Bench,
    },
    #[command(flatten)]
    Client(client_cmd::Command),
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Check the files of every node of one cluster together (or one node's file alone); with
    /// --dir or --endpoints, also against the round trips the running cluster measures.
    Check {
        /// Node configuration files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The running cluster whose measured round trips to hold the timing against.
        #[command(flatten)]
        measured_on: backup_cmd::From,
    },
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Top::Node { config, init, allow_unsafe_topology } => node_cmd::run(&config, init, allow_unsafe_topology),
        Top::Plan { cluster } => plan_cmd::run(&cluster),
        Top::Backup { to, from, interval_ms, once, metrics_addr } => {
            backup_cmd::backup(&from, &to, interval_ms, once, metrics_addr.as_deref())
        }
        Top::Restore { from, configs } => backup_cmd::restore(&from, &configs),
        Top::Config { action: ConfigAction::Check { files, measured_on } } => plan_cmd::check(&files, &measured_on),
        Top::Cert { dir, action } => cert_cmd::run(&dir, action),
        Top::Admin { node, pki, operator, action } => admin_cmd::run(&node, pki.as_deref(), &operator, action),
        Top::Demo => demo::run(),
        Top::Simulate { seeds, from, trace, jobs, plant } => simulate(seeds, from, trace, jobs, plant),
        Top::Up { dir, topology } => up_cmd::up(&dir, topology.as_deref()),
        Top::Status { dir, endpoints } => up_cmd::status(&dir, endpoints),
        Top::Chaos { scenario, schedule, dir, attach, warmup_s, fault_s, cooldown_s, traders, topology } => {
            let secs = Duration::from_secs;
            let schedule = outlast_lab::chaos::schedule_of(
                scenario.as_deref(),
                schedule.as_deref(),
                secs(warmup_s),
                secs(fault_s),
                secs(cooldown_s),
            );
            let (steps, cooldown) = match schedule {
                Ok(schedule) => schedule,
                Err(error) => return fail(2, &error),
            };
            let load = outlast_lab::load::LoadConfig { traders, ..Default::default() };
            up_cmd::chaos(outlast_lab::chaos::ChaosConfig { steps, cooldown, load, dir, topology, attach })
        }
        Top::Client(command) => client_cmd::run(command),
        #[cfg(feature = "bench")]
        Top::Bench { which } => {
            let command = which.command_line();
            match own_binary().and_then(|binary| outlast_bench::cli::run(which, &binary, &command)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => fail(1, &error),
            }
        }
    }
}

fn simulate(seeds: u64, from: u64, trace: bool, jobs: Option<usize>, plant: Option<String>) -> ExitCode {
    if let Some(name) = plant.as_deref() {
        if name == "credit-unconfirmed" || name == "settle-unmined" {
            let why = format!("{name} is custody's, which the simulation does not run: plant it in a chaos run on the chain (OUTLAST_PLANTED_FAULT)");
            return fail(2, &why);
        }
        #[cfg(feature = "planted-faults")]
        let planted = outlast_cluster::planted::Bug::parse(name).map(outlast_cluster::planted::plant).is_some();
        #[cfg(not(feature = "planted-faults"))]
        let planted = false;
        if !planted {
            let why = format!("cannot plant {name:?} (ack-before-commit, ack-before-fsync, stale-read and join-round-in-flight need a build with --features planted-faults)");
            return fail(2, &why);
        }
    }
    // The nodes' own lines (openraft's included) on stderr, to read beside a seed's trace:
    // `OUTLAST_LOG=debug outlast simulate --seeds 1 --from SEED --trace`.
    if let Some(level) = std::env::var("OUTLAST_LOG").ok().and_then(|name| name.parse::<tracing::Level>().ok()) {
        let _ =
            tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr).with_ansi(false).try_init();
    }
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let band = outlast_sim::workers::Band { seeds, from, trace, jobs, plant };
    match own_binary().and_then(|binary| outlast_sim::workers::run(&band, &binary)) {
        Ok(failed) if failed.is_empty() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(error) => fail(1, &error),
    }
}

/// This executable's path: cluster runs start nodes from it, simulations their workers.
fn own_binary() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|error| format!("cannot find the outlast binary: {error}"))
}

/// Says what went wrong and gives the exit code for it.
fn fail(code: u8, error: &str) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::from(code)
}
