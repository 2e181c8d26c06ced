//! `outlast chaos <scenario>`: a fresh cluster, load throughout, one fault, heal, settle, check,
//! report.
//!
//! The schedule is fixed per run: warm-up, the fault for its duration, heal, cool-down. The load
//! generator records every operation, a read prober per node asks it every 0.5 s for an order
//! just acknowledged and for the book, a stream prober per node keeps a depth stream open; a monitor polls the cluster view for leader changes and node health;
//! the checker then judges the settled cluster and every read against the history.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use outlast_client::FailoverPolicy;

use crate::access::Access;
use outlast_links::LinkRule;

use crate::history::Incident;
use crate::load::{LoadConfig, Recorder};
use crate::report::Report;
use crate::state_dir::StateDir;
use crate::target::Target;
use crate::topology::Topology;
use crate::up::{prepare, Cluster};

/// The fault scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// SIGKILL every node of the leader's provider; restart them at heal.
    ProviderOutage,
    /// SIGKILL every node of the leader's region; restart them at heal.
    RegionOutage,
    /// Cut every link between the leader's provider and the others, both ways; the processes
    /// keep running and clients still reach them (in the namespace rehearsal, nftables rules).
    ProviderCut,
    /// SIGKILL the leader, restart it once a new one is elected, again, for the fault window.
    LeaderKillLoop,
    /// Cut both ways between the leader plus one follower and the rest.
    SymmetricPartition,
    /// The leader can receive from everyone but reaches no one.
    AsymmetricPartition,
    /// Cut both ways between the leader and everyone.
    LeaderIsolation,
    /// Add 300 ms each way to every link of the leader.
    LatencySpike,
    /// SIGSTOP the leader; SIGCONT at heal.
    ProcessPause,
    /// SIGKILL a follower and restart it at once.
    CrashRestart,
    /// SIGTERM and restart every node in turn.
    RollingRestart,
    /// On the lab chain: the first RPC provider is down (connections dropped).
    RpcOutage,
    /// On the lab chain: one RPC provider lies (other block hashes, no logs).
    LyingUpstream,
    /// On the lab chain: the newest block is replaced, again (shallower than the confirmations).
    Reorg,
    /// On the lab chain: SIGKILL the leader once a payment is committed and no provider took
    /// it, again.
    LeaderKillSign,
    /// On the lab chain: SIGKILL the leader once a payment is mined and not yet final, again.
    LeaderKillConfirm,
}

impl Scenario {
    /// Every scenario, as named on the command line.
    pub const ALL: [(&'static str, Scenario); 16] = [
        ("provider-outage", Scenario::ProviderOutage),
        ("provider-cut", Scenario::ProviderCut),
        ("region-outage", Scenario::RegionOutage),
        ("leader-kill-loop", Scenario::LeaderKillLoop),
        ("symmetric-partition", Scenario::SymmetricPartition),
        ("asymmetric-partition", Scenario::AsymmetricPartition),
        ("leader-isolation", Scenario::LeaderIsolation),
        ("latency-spike", Scenario::LatencySpike),
        ("process-pause", Scenario::ProcessPause),
        ("crash-restart", Scenario::CrashRestart),
        ("rolling-restart", Scenario::RollingRestart),
        ("rpc-outage", Scenario::RpcOutage),
        ("lying-upstream", Scenario::LyingUpstream),
        ("reorg", Scenario::Reorg),
        ("leader-kill-sign", Scenario::LeaderKillSign),
        ("leader-kill-confirm", Scenario::LeaderKillConfirm),
    ];

    /// Whether it needs the lab chain (the run then starts one, and reconciles with it).
    pub fn on_chain(self) -> bool {
        matches!(
            self,
            Scenario::RpcOutage
                | Scenario::LyingUpstream
                | Scenario::Reorg
                | Scenario::LeaderKillSign
                | Scenario::LeaderKillConfirm
        )
    }

    /// The scenario named `name`.
    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        Scenario::ALL.iter().find(|(_, s)| *s == self).map(|(n, _)| *n).unwrap_or("?")
    }
}

/// One fault of a schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// What to break.
    pub scenario: Scenario,
    /// Load before it (after the run starts, or after the previous step healed).
    pub after: Duration,
    /// How long it lasts.
    pub duration: Duration,
}

/// A fault schedule file:
///
/// ```toml
/// cooldown_s = 3
/// [[steps]]
/// scenario = "provider-outage"
/// after_s = 3
/// duration_s = 5
/// [[steps]]
/// scenario = "latency-spike"
/// after_s = 2
/// duration_s = 3
/// ```
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ScheduleFile {
    #[serde(default = "default_cooldown_s")]
    cooldown_s: u64,
    steps: Vec<StepFile>,
}

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StepFile {
    scenario: String,
    after_s: u64,
    duration_s: u64,
}

fn default_cooldown_s() -> u64 {
    3
}

/// The schedule a command line asks for: the steps of a schedule file, or one named scenario
/// with its warm-up and fault durations; and the cool-down after the last heal. The error
/// says what to give instead.
pub fn schedule_of(
    scenario: Option<&str>,
    schedule: Option<&Path>,
    warmup: Duration,
    fault: Duration,
    cooldown: Duration,
) -> Result<(Vec<Step>, Duration), String> {
    match (scenario, schedule) {
        (_, Some(path)) => load_schedule(path),
        (Some(name), None) => match Scenario::parse(name) {
            Some(scenario) => Ok((vec![Step { scenario, after: warmup, duration: fault }], cooldown)),
            None => {
                let names: Vec<&str> = Scenario::ALL.iter().map(|(n, _)| *n).collect();
                Err(format!("unknown scenario {name:?}; one of: {}", names.join(", ")))
            }
        },
        (None, None) => Err("name a scenario or give --schedule FILE".into()),
    }
}

/// Reads a schedule file: the steps and the cool-down.
pub fn load_schedule(path: &Path) -> Result<(Vec<Step>, Duration), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let file: ScheduleFile = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if file.steps.is_empty() || file.steps.len() > 100 {
        return Err(format!("{}: a schedule has 1 to 100 steps", path.display()));
    }
    let steps = file
        .steps
        .iter()
        .map(|s| {
            let scenario = Scenario::parse(&s.scenario)
                .ok_or_else(|| format!("{}: unknown scenario {:?}", path.display(), s.scenario))?;
            Ok(Step { scenario, after: Duration::from_secs(s.after_s), duration: Duration::from_secs(s.duration_s) })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok((steps, Duration::from_secs(file.cooldown_s)))
}

/// A chaos run's settings.
#[derive(Clone, Debug)]
pub struct ChaosConfig {
    /// The faults, in order.
    pub steps: Vec<Step>,
    /// Load after the last heal.
    pub cooldown: Duration,
    /// The load.
    pub load: LoadConfig,
    /// Where the cluster's state and the report go.
    pub dir: PathBuf,
    /// The topology (the built-in one if none).
    pub topology: Option<PathBuf>,
    /// Rehearse on the cluster that `outlast up` runs from this state directory instead of a
    /// fresh one.
    pub attach: Option<PathBuf>,
}

/// What the monitor saw.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    incidents: Vec<Incident>,
    leader: Option<u64>,
    /// Samples per node: (healthy count, total).
    health: BTreeMap<u64, (u64, u64)>,
}

async fn monitor(access: Access, started: Instant, watch: Arc<Mutex<Watch>>, stop: Arc<AtomicBool>) {
    // Every node is asked at once, and the view with the highest term that names a leader
    // wins: a leader cut off from the others still believes it leads until it hears a higher
    // term, so the first node to answer may be a stale one. Each node's view asks every member
    // for its status (0.5 s each at most), so a paused member makes it take that long: the
    // monitor waits for it rather than seeing nothing.
    let policy = FailoverPolicy {
        attempt_timeout: Duration::from_millis(800),
        budget: Duration::from_millis(2000),
        attempts_max: 1,
        ..FailoverPolicy::default()
    };
    let clients: Vec<Arc<crate::access::OperatorClient>> =
        access.ids().iter().map(|id| Arc::new(access.operator(&[*id], policy.clone()))).collect();
    while !stop.load(Ordering::Relaxed) {
        let mut asks = tokio::task::JoinSet::new();
        for client in &clients {
            let client = client.clone();
            asks.spawn(async move { client.call("GET", "/operator/v1/cluster", &[]).await.ok() });
        }
        let mut best: Option<serde_json::Value> = None;
        while let Some(answer) = asks.join_next().await {
            let Ok(Some(view)) = answer else { continue };
            let rank = |v: &serde_json::Value| (v["leader"]["id"].is_u64(), v["term"].as_u64().unwrap_or(0));
            if best.as_ref().is_none_or(|b| rank(&view) > rank(b)) {
                best = Some(view);
            }
        }
        if let Some(view) = best {
            let mut w = watch.lock().unwrap_or_else(|p| p.into_inner());
            let leader = view["leader"]["id"].as_u64();
            if leader.is_some() && leader != w.leader {
                let at_ms = started.elapsed().as_millis() as u64;
                let what = format!(
                    "leader: node {} ({} {}), term {}",
                    leader.unwrap_or(0),
                    view["leader"]["provider"].as_str().unwrap_or("?"),
                    view["leader"]["region"].as_str().unwrap_or("?"),
                    view["term"]
                );
                w.incidents.push(Incident { at_ms, what });
                w.leader = leader;
            }
            for node in view["nodes"].as_array().into_iter().flatten() {
                let entry = w.health.entry(node["id"].as_u64().unwrap_or(0)).or_default();
                entry.0 += u64::from(node["healthy"] == true);
                entry.1 += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Prints a progress line every second: acknowledged operations per second as a bar, failures,
/// unknown outcomes and the leader. On a terminal it redraws one line; elsewhere it prints lines.
async fn progress(recorder: Arc<Recorder>, watch: Arc<Mutex<Watch>>, started: Instant, stop: Arc<AtomicBool>) {
    use std::io::{IsTerminal, Write};
    let terminal = std::io::stderr().is_terminal();
    let mut seen = 0;
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let ops = recorder.ops();
        let fresh: Vec<_> = ops[seen.min(ops.len())..].iter().filter(|o| !o.kind.is_probe()).collect();
        seen = ops.len();
        let count = |want: fn(&crate::history::OpResult) -> bool| fresh.iter().filter(|o| want(&o.result)).count();
        let ok = count(|r| *r == crate::history::OpResult::Ok);
        let failed = count(|r| matches!(r, crate::history::OpResult::Fail(_)));
        let unknown = count(|r| *r == crate::history::OpResult::Unknown);
        let leader =
            watch.lock().unwrap_or_else(|p| p.into_inner()).leader.map_or("none".to_string(), |l| format!("node {l}"));
        let bar = "#".repeat((ok / 5).min(40));
        let line = format!(
            "{:>6.1} s |{bar:<40}| {ok:>4} ok/s {failed:>3} refused {unknown:>3} unknown, leader {leader}",
            started.elapsed().as_secs_f64()
        );
        if terminal {
            eprint!("\r{line}");
            let _ = std::io::stderr().flush();
        } else {
            eprintln!("{line}");
        }
    }
    if terminal {
        eprintln!();
    }
}

pub(crate) fn incident(watch: &Arc<Mutex<Watch>>, started: Instant, what: String) -> u64 {
    let at_ms = started.elapsed().as_millis() as u64;
    eprintln!("{:>7} ms  {what}", at_ms);
    watch.lock().unwrap_or_else(|p| p.into_inner()).incidents.push(Incident { at_ms, what });
    at_ms
}

fn nodes_where(topology: &Topology, pick: impl Fn(&crate::topology::NodeSpec) -> bool) -> Vec<u64> {
    topology.nodes.iter().filter(|n| pick(n)).map(|n| n.id).collect()
}

/// Injects one fault, holds it for its duration, and heals it; returns what was done and when
/// it began.
async fn inject(
    cluster: &mut Target,
    step: &Step,
    watch: &Arc<Mutex<Watch>>,
    started: Instant,
) -> Result<(String, u64), String> {
    let topology = cluster.topology().clone();
    let leader = cluster.leader().await?;
    let spec = topology.nodes.iter().find(|n| n.id == leader).cloned().ok_or("leader not in topology")?;
    let others: Vec<u64> = cluster.ids().into_iter().filter(|&id| id != leader).collect();
    let fault = Fault { step, watch, started };
    match step.scenario {
        Scenario::ProviderOutage => {
            let victims = nodes_where(&topology, |n| n.provider == spec.provider);
            kill_for_a_while(cluster, &fault, &format!("provider {}", spec.provider), victims).await
        }
        Scenario::RegionOutage => {
            let victims = nodes_where(&topology, |n| n.region == spec.region);
            kill_for_a_while(cluster, &fault, &format!("region {}", spec.region), victims).await
        }
        Scenario::LeaderKillLoop => kill_leaders(cluster, &fault).await,
        Scenario::ProviderCut => {
            let mut cut = vec![leader];
            cut.extend(nodes_where(&topology, |n| n.provider == spec.provider && n.id != leader));
            break_links(cluster, &fault, &topology, cut).await
        }
        Scenario::SymmetricPartition
        | Scenario::AsymmetricPartition
        | Scenario::LeaderIsolation
        | Scenario::LatencySpike => {
            let minority = match step.scenario {
                Scenario::SymmetricPartition => vec![leader, others[0]],
                _ => vec![leader],
            };
            break_links(cluster, &fault, &topology, minority).await
        }
        Scenario::ProcessPause => {
            let what = format!("SIGSTOP leader node {leader}");
            let at = fault.begins(&what);
            cluster.signal(leader, "STOP").await?;
            tokio::time::sleep(step.duration).await;
            cluster.signal(leader, "CONT").await?;
            Ok((what, at))
        }
        Scenario::CrashRestart => {
            let victim = others[0];
            let what = format!("SIGKILL follower node {victim} and restart it at once");
            let at = fault.begins(&what);
            cluster.kill(victim).await?;
            cluster.start(victim).await?;
            tokio::time::sleep(step.duration).await;
            Ok((what, at))
        }
        Scenario::RollingRestart => restart_one_by_one(cluster, &fault).await,
        Scenario::RpcOutage
        | Scenario::LyingUpstream
        | Scenario::Reorg
        | Scenario::LeaderKillSign
        | Scenario::LeaderKillConfirm => {
            use crate::chain_faults::{self as faults, Moment};
            use outlast_chain::proxy::Fault as ProxyFault;
            let chain = cluster.chain().ok_or("a chain scenario needs the run's own lab chain")?;
            match step.scenario {
                Scenario::RpcOutage => {
                    faults::provider_fault(&chain, &fault, crate::chain::PROVIDERS[0], ProxyFault::Down).await
                }
                Scenario::LyingUpstream => {
                    faults::provider_fault(&chain, &fault, crate::chain::PROVIDERS[0], ProxyFault::Lie).await
                }
                Scenario::Reorg => faults::reorgs(cluster.access(), &chain, &fault).await,
                Scenario::LeaderKillSign => faults::kill_leader_at(cluster, &chain, &fault, Moment::Signed).await,
                _ => faults::kill_leader_at(cluster, &chain, &fault, Moment::Mined).await,
            }
        }
    }
}

/// The fault being injected: its step, and where its incidents go.
pub(crate) struct Fault<'a> {
    pub(crate) step: &'a Step,
    pub(crate) watch: &'a Arc<Mutex<Watch>>,
    pub(crate) started: Instant,
}

impl Fault<'_> {
    /// Records the fault's start; returns its time, ms since the run started.
    pub(crate) fn begins(&self, what: &str) -> u64 {
        incident(self.watch, self.started, format!("fault: {what}"))
    }
}

/// SIGKILLs `victims` (a provider's or a region's nodes), waits out the fault, restarts them.
async fn kill_for_a_while(
    cluster: &mut Target,
    fault: &Fault<'_>,
    label: &str,
    victims: Vec<u64>,
) -> Result<(String, u64), String> {
    let what = format!("SIGKILL {label} (nodes {victims:?})");
    let at = fault.begins(&what);
    for id in &victims {
        cluster.kill(*id).await?;
    }
    tokio::time::sleep(fault.step.duration).await;
    for id in &victims {
        cluster.start(*id).await?;
    }
    Ok((what, at))
}

/// For the fault's duration: SIGKILLs the leader, waits (bounded) for the next, restarts the
/// killed node, again.
async fn kill_leaders(cluster: &mut Target, fault: &Fault<'_>) -> Result<(String, u64), String> {
    let at = fault.begins("SIGKILL the leader, again and again");
    while fault.started.elapsed().as_millis() as u64 - at < fault.step.duration.as_millis() as u64 {
        let current = cluster.leader().await?;
        cluster.kill(current).await?;
        incident(fault.watch, fault.started, format!("SIGKILL leader node {current}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(cluster.wait_for_leader(Duration::from_secs(1)).await, Ok(next) if next != current) {
                break;
            }
        }
        cluster.start(current).await?;
    }
    Ok(("SIGKILL the leader repeatedly".into(), at))
}

/// Cuts, half-cuts or slows every link between `minority` (the leader first) and the other
/// nodes, as the step's scenario says, for the fault's duration; then heals every link.
async fn break_links(
    cluster: &mut Target,
    fault: &Fault<'_>,
    topology: &Topology,
    minority: Vec<u64>,
) -> Result<(String, u64), String> {
    let scenario = fault.step.scenario;
    let leader = minority[0];
    let majority: Vec<u64> = cluster.ids().into_iter().filter(|id| !minority.contains(id)).collect();
    let what = match scenario {
        Scenario::SymmetricPartition => format!("partition {minority:?} | {majority:?} both ways"),
        Scenario::AsymmetricPartition => format!("one-way partition: node {leader} reaches no one, hears everyone"),
        Scenario::LeaderIsolation => format!("isolate leader node {leader} both ways"),
        Scenario::ProviderCut => format!("cut the leader's provider {minority:?} off from {majority:?} both ways"),
        _ => format!("+300 ms each way on every link of leader node {leader}"),
    };
    let at = fault.begins(&what);
    // Every step starts from clean links (the previous one healed), so rules are the
    // topology's plus this fault.
    let clean = crate::up::links(topology);
    let faulty = |a: u64, b: u64, change: &dyn Fn(&mut LinkRule)| {
        let mut rule = clean.rule(a, b);
        change(&mut rule);
        (a, b, rule)
    };
    let mut changes = Vec::new();
    for &a in &minority {
        for &b in &majority {
            match scenario {
                Scenario::AsymmetricPartition => changes.push(faulty(a, b, &|r| r.blocked = true)),
                Scenario::LatencySpike => {
                    changes.push(faulty(a, b, &|r| r.latency_ms += 300));
                    changes.push(faulty(b, a, &|r| r.latency_ms += 300));
                }
                _ => {
                    changes.push(faulty(a, b, &|r| r.blocked = true));
                    changes.push(faulty(b, a, &|r| r.blocked = true));
                }
            }
        }
    }
    for (a, b, rule) in changes {
        cluster.set_link(a, b, rule).await?;
    }
    tokio::time::sleep(fault.step.duration).await;
    cluster.reset_links().await?;
    Ok((what, at))
}

/// SIGTERMs and restarts every node in turn, waiting (bounded) for the cluster to converge
/// after each.
async fn restart_one_by_one(cluster: &mut Target, fault: &Fault<'_>) -> Result<(String, u64), String> {
    let at = fault.begins("rolling restart (SIGTERM, restart, next)");
    for id in cluster.ids() {
        cluster.terminate(id).await?;
        cluster.start(id).await?;
        incident(fault.watch, fault.started, format!("restarted node {id}"));
        crate::checker::converge(cluster.access(), Duration::from_secs(30)).await?;
    }
    Ok(("rolling restart of every node".into(), at))
}

/// Copies a finished run's report into the cluster's reports directory, under a name that sorts
/// by time, where every node's status page lists it.
fn publish(reports: &Path, run_dir: &Path, scenario: &str) -> Result<(), String> {
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    let stamp = outlast_api::utc_text(now_ms).replace([' ', ':'], "-");
    let name: String =
        format!("{stamp}-{scenario}").chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
    let target = reports.join(name);
    std::fs::create_dir_all(&target).map_err(|e| format!("{}: {e}", target.display()))?;
    for file in ["report.json", "report.md", "chart.svg"] {
        std::fs::copy(run_dir.join(file), target.join(file)).map_err(|e| format!("{file}: {e}"))?;
    }
    Ok(())
}

/// Runs a schedule; writes `report.json`, `report.md`, `chart.svg` and `history.jsonl` into
/// `config.dir` and returns the report.
pub async fn run(binary: &Path, config: &ChaosConfig) -> Result<Report, String> {
    if config.steps.is_empty() {
        return Err("a chaos run needs at least one fault".into());
    }
    std::fs::create_dir_all(&config.dir).map_err(|e| format!("{}: {e}", config.dir.display()))?;
    let on_chain = config.steps.iter().any(|step| step.scenario.on_chain());
    let mut cluster = match &config.attach {
        Some(_) if on_chain => {
            return Err(
                "a chain scenario runs on a cluster of its own, with a lab chain it can break: drop --attach".into()
            )
        }
        Some(dir) => Target::attach(StateDir { root: dir.clone() })?,
        None => {
            let (state, topology) = prepare(&config.dir.join("cluster"), config.topology.as_deref())?;
            let chain = match (on_chain, topology.network) {
                (false, _) => None,
                (true, crate::topology::Network::Loopback) => Some(crate::chain::LabChain::start(&state).await?),
                (true, _) => {
                    return Err("a chain scenario runs on the loopback network (the lab chain is there)".into())
                }
            };
            Target::Owned(Cluster::start_with_chain(binary, state, topology, chain).await?)
        }
    };
    let topology = cluster.topology().clone();
    let access = cluster.access().clone();
    let endpoints = access.endpoints();
    let admin = access.operator_all(FailoverPolicy::default());
    cluster.leader().await?;
    crate::demo::seed(&access, &cluster.dir().demo_keys()).await.map_err(|e| format!("seeding: {e}"))?;
    let traders = crate::load::open_traders(&admin, config.load.traders).await.map_err(|e| format!("traders: {e}"))?;
    let chain = cluster.chain();
    let chain_run = match &chain {
        Some(chain) => Some(crate::chain_checker::ChainRun::begin(&access, chain, &traders).await?),
        None => None,
    };
    let mut load = config.load.clone();
    let mut paid_on_chain = Vec::new();
    if let Some(chain) = &chain {
        load.withdraw_to = Some(format!("{:#x}", crate::chain::customer()));
        // A chain run lasts longer (each leader kill waits for a payment at its moment): a
        // slower pace keeps every trader going through it within its cap of operations.
        load.think = load.think.max(Duration::from_millis(60));
        paid_on_chain = chain.config().assets.iter().map(|a| a.symbol.clone()).collect();
    }

    let mut log_sizes_at_fault = BTreeMap::new();
    let started_utc_ms = crate::functions::now_utc_ms();
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let watch = Arc::new(Mutex::new(Watch::default()));
    let recorder = Arc::new(Recorder::default());
    let mut tasks = vec![tokio::spawn(monitor(access.clone(), started, watch.clone(), stop.clone()))];
    tasks.push(tokio::spawn(crate::load::drive_withdrawals(access.clone(), paid_on_chain, stop.clone())));
    if let (Some(run), Some(chain)) = (&chain_run, &chain) {
        let addresses = run.deposit_addresses.iter().map(|(_, address, _)| *address).collect();
        tasks.push(tokio::spawn(crate::load::pay_deposits(chain.rpc(), run.token, addresses, stop.clone())));
    }
    tasks.push(tokio::spawn(progress(recorder.clone(), watch.clone(), started, stop.clone())));
    for trader in &traders {
        tasks.push(tokio::spawn(crate::load::trade(
            trader.clone(),
            access.clone(),
            load.clone(),
            started,
            recorder.clone(),
            stop.clone(),
        )));
    }
    for endpoint in &endpoints {
        let (a, e, r, s) = (access.clone(), endpoint.clone(), recorder.clone(), stop.clone());
        tasks.push(tokio::spawn(crate::load::probe_reads(a, e, traders.clone(), started, r, s)));
        let (a, e, r, s) = (access.clone(), endpoint.clone(), recorder.clone(), stop.clone());
        tasks.push(tokio::spawn(crate::load::probe_stream(a, e, started, r, s)));
    }
    let mut faults = Vec::new();
    let mut windows = Vec::new();
    let mut leader = 0;
    for (n, step) in config.steps.iter().enumerate() {
        tokio::time::sleep(step.after).await;
        if n == 0 {
            leader = cluster.leader().await?;
            log_sizes_at_fault = log_sizes(cluster.dir(), &cluster.ids());
        }
        let (what, at) = inject(&mut cluster, step, &watch, started).await?;
        let healed = incident(&watch, started, format!("heal: {}", step.scenario.name()));
        faults.push(what);
        windows.push((at, healed));
    }
    let (fault_start, fault_end) = (windows[0].0, windows[windows.len() - 1].1);
    // Log volume is judged over the faults, where it grows: a quiet warm-up would dilute it.
    let log_bytes = log_growth(
        &log_sizes_at_fault,
        &log_sizes(cluster.dir(), &cluster.ids()),
        fault_end.saturating_sub(fault_start),
    );
    let fault = faults.join("; then ");
    tokio::time::sleep(config.cooldown).await;
    // Unavailability is judged up to here: after this the traders wind down on purpose.
    let load_end_ms = started.elapsed().as_millis() as u64;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let end_ms = started.elapsed().as_millis() as u64;
    eprintln!("load stopped; settling and checking...");
    let ops = recorder.ops();
    let mut verdict = crate::checker::check(&access, &traders, &ops).await;
    if let Some(run) = &chain_run {
        eprintln!("reconciling the ledger with the chain...");
        crate::chain_checker::reconcile(&mut verdict, &access, run, &traders).await;
    }
    for (node, per_minute) in &log_bytes {
        if *per_minute > LOG_BYTES_PER_MINUTE_MAX {
            verdict.failures.push(format!(
                "node {node} logged {per_minute} bytes per minute, over the ceiling of {LOG_BYTES_PER_MINUTE_MAX}"
            ));
            verdict.pass = false;
        }
    }
    drop(chain);
    cluster.release().await;

    let watch = Arc::try_unwrap(watch).map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner())).unwrap_or_default();
    let run = Run {
        fault,
        fault_window_ms: [fault_start, fault_end],
        first_leader: leader,
        load_end_ms,
        end_ms,
        log_bytes,
        started_utc_ms,
    };
    let report = build_report(config, &topology, watch, &run, &ops, verdict);
    let write =
        |name: &str, text: String| std::fs::write(config.dir.join(name), text).map_err(|e| format!("{name}: {e}"));
    write("report.json", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?)?;
    write("report.md", report.markdown())?;
    write("chart.svg", report.svg())?;
    let lines: Vec<String> = ops.iter().map(|op| serde_json::to_string(op).unwrap_or_default()).collect();
    write("history.jsonl", lines.join("\n") + "\n")?;
    if let Some(dir) = &config.attach {
        publish(&StateDir { root: dir.clone() }.reports(), &config.dir, &report.scenario)?;
    }
    Ok(report)
}

/// What a run did, for its report.
struct Run {
    /// Every fault injected, in words.
    fault: String,
    /// From the first fault to the last heal, ms since the run started.
    fault_window_ms: [u64; 2],
    /// Who led before the first fault.
    first_leader: u64,
    /// When the load was told to stop (unavailability is judged up to here), ms.
    load_end_ms: u64,
    /// When the load had stopped, ms.
    end_ms: u64,
    /// Per node: bytes logged per minute from the first fault to the last heal.
    log_bytes: BTreeMap<u64, u64>,
    /// When the run started, ms since the Unix epoch (UTC).
    started_utc_ms: u64,
}

/// The most a node may log per minute during any chaos scenario (its stderr), in bytes. A
/// node logs little while healthy; under faults each log statement is limited to a few lines a
/// second (`outlast node`'s log limiter), so a day-long outage costs well under 2 GB. Checked
/// by every chaos run: over it, the verdict fails.
pub const LOG_BYTES_PER_MINUTE_MAX: u64 = 1 << 20;

/// Each node's log size now (0 for a node without a log file yet).
fn log_sizes(dir: &StateDir, ids: &[u64]) -> BTreeMap<u64, u64> {
    ids.iter().map(|&id| (id, std::fs::metadata(dir.log(id)).map_or(0, |m| m.len()))).collect()
}

/// Bytes per minute each node logged between two samples `elapsed_ms` apart.
fn log_growth(before: &BTreeMap<u64, u64>, after: &BTreeMap<u64, u64>, elapsed_ms: u64) -> BTreeMap<u64, u64> {
    let minutes = elapsed_ms.max(1) as f64 / 60_000.0;
    after
        .iter()
        .map(|(id, size)| (*id, (size.saturating_sub(before.get(id).copied().unwrap_or(0)) as f64 / minutes) as u64))
        .collect()
}

/// The run's figures, incidents and verdict as one report.
fn build_report(
    config: &ChaosConfig,
    topology: &Topology,
    watch: Watch,
    run: &Run,
    ops: &[crate::history::Op],
    verdict: crate::checker::Verdict,
) -> Report {
    // Every function's impact, probes included, up to when the load was told to stop.
    let functions = crate::functions::impacts(ops, run.load_end_ms);
    // Figures of availability and latency are about writes; reads are judged by the checker.
    let ops: Vec<crate::history::Op> = ops.iter().filter(|op| !op.kind.is_probe()).cloned().collect();
    let ops = ops.as_slice();
    let mut incidents = watch.incidents.clone();
    incidents.sort_by_key(|i| i.at_ms);
    let time_to_new_leader = incidents
        .iter()
        .filter(|i| {
            i.at_ms >= run.fault_window_ms[0]
                && i.what.starts_with("leader:")
                && !i.what.starts_with(&format!("leader: node {} ", run.first_leader))
        })
        .map(|i| i.at_ms - run.fault_window_ms[0])
        .next();
    let share = |ids: Vec<u64>| {
        let (up, total) =
            ids.iter().filter_map(|id| watch.health.get(id)).fold((0, 0), |(u, t), (a, b)| (u + a, t + b));
        if total == 0 {
            0.0
        } else {
            up as f64 / total as f64
        }
    };
    let mut providers: Vec<String> = topology.nodes.iter().map(|n| n.provider.clone()).collect();
    providers.sort();
    providers.dedup();
    let mut regions: Vec<String> = topology.nodes.iter().map(|n| n.region.clone()).collect();
    regions.sort();
    regions.dedup();
    let [fault_start, fault_end] = run.fault_window_ms;
    Report {
        scenario: config.steps.iter().map(|s| s.scenario.name()).collect::<Vec<_>>().join(" + "),
        fault: run.fault.clone(),
        fault_window_ms: run.fault_window_ms,
        longest_unavailability_ms: crate::report::longest_gap(
            ops,
            config.steps[0].after.as_millis() as u64 / 2,
            run.load_end_ms,
        ),
        time_to_new_leader_ms: time_to_new_leader,
        rto_ms: crate::report::rto(ops, fault_start),
        rpo_ops_lost: verdict.lost,
        before: crate::report::phase(ops, 0, fault_start),
        during: crate::report::phase(ops, fault_start, fault_end),
        after: crate::report::phase(ops, fault_end, run.load_end_ms),
        provider_availability: providers
            .iter()
            .map(|p| (p.clone(), share(nodes_where(topology, |n| &n.provider == p))))
            .collect(),
        region_availability: regions
            .iter()
            .map(|r| (r.clone(), share(nodes_where(topology, |n| &n.region == r))))
            .collect(),
        incidents,
        started_utc_ms: run.started_utc_ms,
        functions,
        log_bytes_per_minute: run.log_bytes.clone(),
        log_bytes_per_minute_max: LOG_BYTES_PER_MINUTE_MAX,
        timeline: crate::report::timeline(ops, run.end_ms),
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_schedule_parses_and_bad_ones_are_refused_with_a_reason() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/chaos/game-day.toml");
        let (steps, cooldown) = load_schedule(&example).unwrap();
        assert_eq!(steps.len(), 3);
        assert_eq!(
            steps[0],
            Step {
                scenario: Scenario::ProviderOutage,
                after: Duration::from_secs(3),
                duration: Duration::from_secs(5)
            }
        );
        assert_eq!(cooldown, Duration::from_secs(3));
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[[steps]]\nscenario = \"meteor\"\nafter_s = 1\nduration_s = 1\n").unwrap();
        assert!(load_schedule(&bad).unwrap_err().contains("unknown scenario \"meteor\""));
        std::fs::write(&bad, "steps = []\n").unwrap();
        assert!(load_schedule(&bad).unwrap_err().contains("1 to 100 steps"));
        for (name, scenario) in Scenario::ALL {
            assert_eq!(Scenario::parse(name), Some(scenario));
            assert_eq!(scenario.name(), name);
        }
    }
}
