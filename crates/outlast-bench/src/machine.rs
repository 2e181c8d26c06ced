//! A one-line description of the machine a benchmark ran on, so numbers are never quoted bare.

use std::fs;

/// CPU model, logical CPUs and memory, read from /proc (Linux); "unknown" parts elsewhere.
pub fn describe() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|line| line.strip_prefix("model name").and_then(|rest| rest.split(':').nth(1)))
        .map(str::trim)
        .unwrap_or("unknown CPU");
    let cpus = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib / (1024 * 1024))
        .unwrap_or(0);
    format!("{model}, {cpus} logical CPUs, {mem_gib} GiB RAM, {} {}", std::env::consts::OS, std::env::consts::ARCH)
}
