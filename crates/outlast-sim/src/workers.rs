//! `outlast simulate`: runs a band of seeds, in this process or spread over worker processes,
//! and prints each failing seed (and, asked, each run's trace) in one line format that the
//! parent reads back from its workers.
//!
//! Workers are processes, not threads: simulations sharing a process were seen to perturb each
//! other (see `run_seeds`), which would break replay by seed.
//!
//! Must never: run two simulations at once in one process.

use std::io::BufRead;
use std::path::Path;
use std::process::{Command, Stdio};

/// What to simulate.
#[derive(Clone, Debug)]
pub struct Band {
    /// How many seeds.
    pub seeds: u64,
    /// The first seed.
    pub from: u64,
    /// Print every run's trace.
    pub trace: bool,
    /// Worker processes (1: run here).
    pub jobs: usize,
    /// The planted bug to pass on to workers (already planted in this process).
    pub plant: Option<String>,
}

/// The line a failing seed is printed as starts with this, then `<seed>: <violations>`.
const FAIL_PREFIX: &str = "FAIL seed ";

/// Runs the band and prints its summary line; returns the failing seeds, ascending. `binary`
/// is the executable whose `simulate` subcommand a worker runs.
pub fn run(band: &Band, binary: &Path) -> Result<Vec<u64>, String> {
    let jobs = band.jobs.clamp(1, band.seeds.max(1) as usize);
    let started = std::time::Instant::now();
    let failed = if jobs == 1 { run_here(band) } else { run_in_workers(band, jobs, binary)? };
    println!(
        "{} seeds from {}: {} passed, {} failed in {:.1} s{}",
        band.seeds,
        band.from,
        band.seeds - failed.len() as u64,
        failed.len(),
        started.elapsed().as_secs_f64(),
        if failed.is_empty() { String::new() } else { format!(" (failing seeds: {failed:?})") }
    );
    Ok(failed)
}

fn run_here(band: &Band) -> Vec<u64> {
    crate::run_seeds(band.from, band.seeds, crate::Options::default(), |outcome| {
        if band.trace {
            println!("seed {}:", outcome.seed);
            for line in &outcome.trace {
                println!("  {line}");
            }
        }
        if !outcome.passed() {
            println!("{FAIL_PREFIX}{}: {}", outcome.seed, outcome.violations.join("; "));
        }
    })
}

/// Runs the band in `jobs` worker processes, each a contiguous share run one seed at a time.
/// Passes on the workers' lines as they come, but for their own summaries.
fn run_in_workers(band: &Band, jobs: usize, binary: &Path) -> Result<Vec<u64>, String> {
    let share = band.seeds.div_ceil(jobs as u64);
    let failed = std::sync::Mutex::new(Vec::new());
    let print = std::sync::Mutex::new(());
    let mut spawned = Vec::new();
    for job in 0..jobs as u64 {
        let start = band.from + job * share;
        let count = share.min((band.from + band.seeds).saturating_sub(start));
        if count == 0 {
            continue;
        }
        let mut command = Command::new(binary);
        command.args(["simulate", "--jobs", "1", "--seeds", &count.to_string(), "--from", &start.to_string()]);
        if band.trace {
            command.arg("--trace");
        }
        if let Some(name) = &band.plant {
            command.args(["--plant", name]);
        }
        let child =
            command.stdout(Stdio::piped()).spawn().map_err(|e| format!("cannot start a simulation worker: {e}"))?;
        spawned.push(child);
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
                    if let Some(seed) = line.strip_prefix(FAIL_PREFIX).and_then(|rest| rest.split(':').next()) {
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
    let mut crashed = false;
    for mut child in spawned {
        // A worker exits 1 when a seed fails (already counted); anything else is a crash.
        match child.wait() {
            Ok(status) if status.success() || status.code() == Some(1) => {}
            _ => crashed = true,
        }
    }
    if crashed {
        return Err("a simulation worker crashed".into());
    }
    let mut failed = failed.into_inner().unwrap_or_else(|p| p.into_inner());
    failed.sort_unstable();
    Ok(failed)
}
