//! Deterministic simulation of a whole Outlast cluster, reproducible by seed.
//!
//! Five nodes run in one process on turmoil (tokio-rs's simulator): real openraft, the real
//! engine, Outlast's transport frames, log store, state machine, batcher and campaigner, on a
//! simulated network and clock. One seed decides everything — network weather, the fault
//! schedule, the workload — so a failure found at seed 48213 replays at seed 48213
//! (`outlast simulate --seeds 1 --from 48213`).
//!
//! A run has two phases. Safety: faults strike while the driver deposits; the checks in
//! `check` watch every step. Liveness: everything is healed and restarted, the cluster must
//! serve again and converge, and then the final checks run.
//!
//! Why turmoil rather than madsim: turmoil simulates at the level of tokio's own types (a
//! paused tokio clock per host, simulated `TcpStream`s), so the production code runs unchanged
//! behind the transport's `Dialer` seam; madsim replaces tokio itself under a `cfg(madsim)`
//! build of the whole dependency tree, openraft included.
//!
//! Must never: use the OS's clock, entropy or network inside a run.

#![deny(missing_docs)]

pub mod check;
pub mod disk;
pub mod driver;
pub mod node;
pub mod plan;
pub mod rng;
pub mod workers;

use openraft::async_runtime::WatchReceiver;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use check::{converged, invariants, shared, Observed};
use driver::Ledger;
use node::{host, Controls};
use plan::{Fault, Plan, NODES};

/// How long a stopped node's supervisor waits before restarting it, simulated ms (systemd's
/// `RestartSec`).
pub const SUPERVISOR_RESTART_MS: u64 = 100;

/// How a run is sized.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Simulated ms of faults.
    pub safety_ms: u64,
    /// Simulated ms after the heal during which the driver keeps writing.
    pub serve_after_heal_ms: u64,
    /// Simulated ms the healed cluster gets to converge.
    pub converge_ms: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options { safety_ms: 3_000, serve_after_heal_ms: 1_000, converge_ms: 10_000 }
    }
}

/// What one seed did.
#[derive(Debug)]
pub struct Outcome {
    /// The seed.
    pub seed: u64,
    /// Broken rules (empty: the seed passed).
    pub violations: Vec<String>,
    /// The trace: every fault, leader, and check, with simulated time.
    pub trace: Vec<String>,
    /// Deposits acknowledged.
    pub acked: u32,
    /// Distinct leaders' terms seen.
    pub terms: usize,
}

impl Outcome {
    /// Whether the seed passed.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Runs seeds `from..from + count` one after another, calling `report` with each outcome;
/// returns the failing seeds, ascending.
///
/// One simulation at a time per process: a seed's run was seen to change when another
/// simulation ran at the same time in the same process (state below turmoil that is
/// process-wide), which would break replay by seed. Run seeds in parallel in separate
/// processes (`outlast simulate --jobs J` does).
pub fn run_seeds(from: u64, count: u64, options: Options, mut report: impl FnMut(&Outcome)) -> Vec<u64> {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut failed = Vec::new();
    for seed in from..from.saturating_add(count) {
        // A node that panics (openraft asserts on a log its storage lost, as a planted fsync
        // lie makes it) fails its seed; the seeds after it still run.
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_seed_unguarded(seed, options)));
        let outcome = run.unwrap_or_else(|panic| {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Outcome { seed, violations: vec![format!("a node panicked: {why}")], trace: Vec::new(), acked: 0, terms: 0 }
        });
        if !outcome.passed() {
            failed.push(seed);
        }
        report(&outcome);
    }
    failed
}

/// Serialises simulations within a process (see `run_seeds`).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs seed `seed` (waiting for any other simulation in this process to finish first).
pub fn run_seed(seed: u64, options: Options) -> Outcome {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    run_seed_unguarded(seed, options)
}

/// Runs seed `seed`; every node's files live on its host's simulated disk.
fn run_seed_unguarded(seed: u64, options: Options) -> Outcome {
    // openraft's own random draws (election timeouts, its tick's phase) follow from the seed too:
    // every simulated node runs on this thread.
    outlast_cluster::runtime::seed_this_thread(seed);
    let plan = Plan::draw(seed, options.safety_ms);
    outlast_cluster::stream_append::weather::set_chance_ppm(plan.reply_faults_ppm);
    let observed: Arc<Mutex<Observed>> = Arc::default();
    let ledger: Arc<Mutex<Ledger>> = Arc::default();
    let heal_ms = options.safety_ms;
    let until_ms = heal_ms + options.serve_after_heal_ms;
    let deadline_ms = until_ms + options.converge_ms;
    let mut builder = turmoil::Builder::new();
    builder
        .simulation_duration(Duration::from_millis(deadline_ms + 5_000))
        .min_message_latency(Duration::from_millis(plan.latency_ms.0))
        .max_message_latency(Duration::from_millis(plan.latency_ms.1))
        .fail_rate(plan.flap_ppm as f64 / 1e6)
        .repair_rate(plan.repair_ppm as f64 / 1e6)
        .rng_seed(seed);
    if let Some(block_bytes) = plan.torn_block_bytes {
        // A crash may keep any whole-block prefix of a write that was not yet synced.
        builder.fs().block_size(block_bytes);
    }
    let mut sim = builder.build();
    if let Some(region) = &plan.preferred_region {
        shared(&observed).note_at(0, format!("preferred region {region}"));
    }
    if plan.reply_faults_ppm > 0 {
        let ppm = plan.reply_faults_ppm;
        shared(&observed).note_at(0, format!("replication replies duplicated or late: {ppm} in a million"));
    }
    let controls: Vec<Arc<Controls>> = NODES.iter().map(|&id| Arc::new(Controls::new(seed, id))).collect();
    for (&id, controls) in NODES.iter().zip(&controls) {
        // Each host has its own simulated file system.
        let (preferred, observed, controls) = (plan.preferred_region.clone(), observed.clone(), controls.clone());
        sim.host(host(id), move || {
            node::run(id, id == NODES[0], preferred.clone(), observed.clone(), controls.clone())
        });
    }
    {
        let (observed, ledger) = (observed.clone(), ledger.clone());
        sim.client("driver", async move {
            driver::run(seed, until_ms, heal_ms, deadline_ms, observed.clone(), ledger.clone()).await?;
            // Liveness: the healed cluster converges.
            loop {
                if let Some((index, digest)) = converged(&observed, &NODES) {
                    shared(&observed).note(format!("converged at index {index}, digest {digest}"));
                    break;
                }
                if check::now_ms() > deadline_ms {
                    shared(&observed).violate("the healed cluster did not converge".into());
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Ok(())
        });
    }
    let mut faults = plan.faults.clone().into_iter().peekable();
    let mut crashed: Vec<u64> = Vec::new();
    // Nodes that stopped on their own, with the simulated ms their supervisor restarts them at.
    let mut restarts: Vec<(u64, u64)> = Vec::new();
    let mut healed = false;
    let mut result = Ok(());
    loop {
        let now = sim.elapsed().as_millis() as u64;
        while let Some((_, fault)) = faults.next_if(|(at, _)| *at <= now) {
            shared(&observed).note_at(now, format!("fault {fault:?}"));
            apply(&mut sim, &fault, &observed, &controls, &mut crashed);
            if let Fault::Crash(id) = fault {
                restarts.retain(|(_, waiting)| *waiting != id);
            }
        }
        // The supervisor: a node that stopped is a process that exited; it comes back from
        // what its disk holds.
        let stopped = std::mem::take(&mut shared(&observed).stopped);
        for id in stopped {
            sim.crash(host(id));
            restarts.push((now + SUPERVISOR_RESTART_MS, id));
        }
        restarts.retain(|&(at, id)| {
            if at > now {
                return true;
            }
            shared(&observed).note_at(now, format!("supervisor restarts n{id}"));
            sim.bounce(host(id));
            false
        });
        if !healed && now >= heal_ms {
            healed = true;
            shared(&observed).note_at(now, "heal: links and disks repaired, crashed nodes restarted");
            heal(&mut sim, &controls);
            sim.set_fail_rate(0.0);
            for id in crashed.drain(..).chain(restarts.drain(..).map(|(_, id)| id)) {
                sim.bounce(host(id));
            }
        }
        match sim.step() {
            Ok(true) => break,
            Ok(false) => {}
            Err(error) => {
                result = Err(error.to_string());
                break;
            }
        }
    }
    let mut o = shared(&observed);
    if let Err(error) = result {
        o.violate(format!("simulation stopped: {error}"));
    }
    for failure in invariants(&o) {
        o.violate(failure);
    }
    let ledger = ledger.lock().expect("ledger").clone();
    check_ledger(&mut o, &ledger);
    if ledger.acked_after_heal == 0 {
        o.violate("no deposit was acknowledged after the heal".into());
    }
    let replies_out_of_step = outlast_cluster::stream_append::weather::made();
    if replies_out_of_step > 0 {
        o.note_at(
            sim.elapsed().as_millis() as u64,
            format!("{replies_out_of_step} replication replies duplicated or late"),
        );
    }
    let acked = ledger.acked.values().map(|bits| bits.count_ones()).sum();
    Outcome { seed, violations: o.violations.clone(), trace: o.trace.clone(), acked, terms: o.leaders.len() }
}

/// The final state against the ledger: every acknowledged deposit applied once, nothing else.
fn check_ledger(o: &mut Observed, ledger: &Ledger) {
    let readers = o.readers.clone();
    for (id, reader) in &readers {
        let engine = reader.read();
        for account in 1..=driver::ACCOUNTS {
            let balance = engine.balance(account, 0).map(|b| b.available + b.locked).unwrap_or(0);
            let acked = ledger.acked.get(&account).copied().unwrap_or(0);
            let attempted = ledger.attempted.get(&account).copied().unwrap_or(0);
            if balance & acked != acked {
                o.violate(format!(
                    "n{id} account {account}: acknowledged deposits {:#b} missing from balance {balance:#b}",
                    acked & !balance
                ));
            }
            if balance & !attempted != 0 {
                o.violate(format!(
                    "n{id} account {account}: balance {balance:#b} holds deposits never sent (or applied twice)"
                ));
            }
        }
    }
}

/// Repairs every link between nodes (and the driver) and every disk.
fn heal(sim: &mut turmoil::Sim<'_>, controls: &[Arc<Controls>]) {
    for node in controls {
        node.disk.set_error_ppm(0);
    }
    let hosts: Vec<String> = NODES.iter().map(|&id| host(id)).chain(["driver".to_string()]).collect();
    for a in &hosts {
        for b in &hosts {
            if a != b {
                sim.repair(a.as_str(), b.as_str());
                sim.set_link_latency(a.as_str(), b.as_str(), Duration::ZERO);
            }
        }
    }
}

fn apply(
    sim: &mut turmoil::Sim<'_>,
    fault: &Fault,
    observed: &Arc<Mutex<Observed>>,
    controls: &[Arc<Controls>],
    crashed: &mut Vec<u64>,
) {
    match fault {
        Fault::Partition(a, b) => {
            for x in a {
                for y in b {
                    sim.partition(host(*x).as_str(), host(*y).as_str());
                }
            }
        }
        Fault::OneWay(from, to) => sim.partition_oneway(host(*from).as_str(), host(*to).as_str()),
        Fault::IsolateLeader => {
            let leader = {
                let o = shared(observed);
                o.rafts.values().find_map(|raft| raft.metrics().borrow_watched().current_leader)
            };
            if let Some(leader) = leader {
                for other in NODES.iter().filter(|&&n| n != leader) {
                    sim.partition(host(leader).as_str(), host(*other).as_str());
                }
            }
        }
        Fault::Crash(id) => {
            if !crashed.contains(id) {
                sim.crash(host(*id));
                crashed.push(*id);
            }
        }
        Fault::Restart(id) => {
            if let Some(at) = crashed.iter().position(|c| c == id) {
                crashed.remove(at);
                sim.bounce(host(*id));
            }
        }
        Fault::LatencySpike(id, ms) => {
            for other in NODES.iter().filter(|&&n| n != *id) {
                sim.set_link_latency(host(*id).as_str(), host(*other).as_str(), Duration::from_millis(*ms));
            }
        }
        Fault::ClockJump(id, ms) => {
            controls[(*id - 1) as usize].clock_offset_ms.fetch_add(*ms, std::sync::atomic::Ordering::Relaxed);
        }
        Fault::DiskErrors(id, error_ppm) => controls[(*id - 1) as usize].disk.set_error_ppm(*error_ppm),
        Fault::Heal => heal(sim, controls),
    }
}
