//! Durable appends: Outlast's own segmented log against redb, on this machine's disk.
//!
//! Both stores make every batch durable before the next starts (the log: one write and one
//! `fdatasync`; redb: one write transaction committed with immediate durability), with the same
//! record size and the same batch sizes, in a fresh directory on the same file system. This is
//! the measurement behind the choice of log storage for replication.

use std::path::Path;
use std::time::Instant;

use outlast_log::{Wal, WalOptions};
use redb::{Database, Durability, TableDefinition};

use crate::report::{quantile, spread, Spread};

const TABLE: TableDefinition<u64, &[u8]> = TableDefinition::new("log");

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Bytes per record (a serialized command batch entry is a few hundred bytes).
    pub record_bytes: usize,
    /// Records per durable batch, one measurement per value.
    pub batch_sizes: Vec<usize>,
    /// Batches per run.
    pub batches: usize,
    /// Runs per cell (median reported).
    pub runs: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { record_bytes: 256, batch_sizes: vec![1, 16, 256], batches: 400, runs: 3 }
    }
}

/// One (store, batch size) cell.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Store name.
    pub store: &'static str,
    /// Records per batch.
    pub batch: usize,
    /// Records per second, over runs.
    pub records_per_sec: Spread,
    /// Batch latency p50 and p99 in µs, from the median run.
    pub batch_latency_us: [f64; 2],
}

/// The whole comparison.
#[derive(Clone, Debug)]
pub struct Report {
    /// The configuration.
    pub config: Config,
    /// Cells, log then redb for each batch size.
    pub cells: Vec<Cell>,
}

trait Store {
    fn append(&mut self, first: u64, records: &[Vec<u8>]);
}

struct LogStore(Wal);

impl Store for LogStore {
    fn append(&mut self, first: u64, records: &[Vec<u8>]) {
        let batch = records.iter().enumerate().map(|(n, r)| (first + n as u64, r.as_slice()));
        self.0.append(batch).expect("log append");
    }
}

struct RedbStore(Database);

impl Store for RedbStore {
    fn append(&mut self, first: u64, records: &[Vec<u8>]) {
        let mut txn = self.0.begin_write().expect("redb begin");
        txn.set_durability(Durability::Immediate).expect("redb durability");
        {
            let mut table = txn.open_table(TABLE).expect("redb table");
            for (n, record) in records.iter().enumerate() {
                table.insert(first + n as u64, record.as_slice()).expect("redb insert");
            }
        }
        txn.commit().expect("redb commit");
    }
}

fn open(store: &'static str, dir: &Path) -> Box<dyn Store> {
    match store {
        "outlast-log" => Box::new(LogStore(Wal::open(dir, WalOptions::default()).expect("open log").0)),
        _ => Box::new(RedbStore(Database::create(dir.join("log.redb")).expect("open redb"))),
    }
}

/// Records per second and sorted batch latencies (ns) of one run.
type RunResult = (f64, Vec<u64>);

/// Appends `batches` batches.
fn run_once(store: &'static str, config: &Config, batch: usize) -> RunResult {
    let dir = tempfile::tempdir_in(std::env::temp_dir()).expect("temp dir");
    let mut target = open(store, dir.path());
    let records: Vec<Vec<u8>> = (0..batch).map(|n| vec![(n % 251) as u8; config.record_bytes]).collect();
    let mut latencies = Vec::with_capacity(config.batches);
    let started = Instant::now();
    for number in 0..config.batches {
        let at = Instant::now();
        target.append(1 + (number * batch) as u64, &records);
        latencies.push(at.elapsed().as_nanos() as u64);
    }
    let rate = (config.batches * batch) as f64 / started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    (rate, latencies)
}

/// Runs every cell.
pub fn run(config: &Config) -> Report {
    let mut cells = Vec::new();
    for &batch in &config.batch_sizes {
        let mut per_store: Vec<(&'static str, Vec<RunResult>)> =
            vec![("outlast-log", Vec::new()), ("redb", Vec::new())];
        // Interleave the stores run by run so both see the same disk weather.
        for _ in 0..config.runs.max(1) {
            for (store, runs) in per_store.iter_mut() {
                runs.push(run_once(store, config, batch));
            }
        }
        for (store, mut runs) in per_store {
            let rates: Vec<f64> = runs.iter().map(|(rate, _)| *rate).collect();
            runs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let median = &runs[runs.len() / 2].1;
            let us = |q| quantile(median, q) as f64 / 1_000.0;
            cells.push(Cell {
                store,
                batch,
                records_per_sec: spread(&rates).expect("runs"),
                batch_latency_us: [us(0.5), us(0.99)],
            });
        }
    }
    Report { config: config.clone(), cells }
}

impl Report {
    /// The report as a BENCHMARKS.md section body.
    pub fn markdown(&self, machine: &str, command: &str, date: &str) -> String {
        let c = &self.config;
        let mut out = format!(
            "### Durable log appends: own segmented log vs redb\n\n\
             - Command: `{command}`\n- Date: {date}\n- Machine: {machine}\n\
             - Workload: {batches} batches per run of {bytes}-byte records, every batch durable before the \
             next (log: write + fdatasync; redb: write transaction with immediate durability); {runs} runs \
             per cell, stores interleaved; files in the system temp directory.\n\n\
             | store | records/batch | records/s median | min | max | batch p50 µs | batch p99 µs | log ÷ redb |\n\
             |---|---|---|---|---|---|---|---|\n",
            batches = c.batches,
            bytes = c.record_bytes,
            runs = c.runs,
        );
        for pair in self.cells.chunks(2) {
            let ratio = pair[0].records_per_sec.median / pair[1].records_per_sec.median;
            for (n, cell) in pair.iter().enumerate() {
                out.push_str(&format!(
                    "| {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} |\n",
                    cell.store,
                    cell.batch,
                    cell.records_per_sec.median,
                    cell.records_per_sec.min,
                    cell.records_per_sec.max,
                    cell.batch_latency_us[0],
                    cell.batch_latency_us[1],
                    if n == 0 { format!("{ratio:.2}×") } else { String::new() }
                ));
            }
        }
        out
    }
}
