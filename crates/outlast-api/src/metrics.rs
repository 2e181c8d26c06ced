//! Prometheus metrics, in the text exposition format, written by hand (a handful of counters
//! and two histograms do not need a crate).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Histogram bucket upper bounds, in µs.
const BUCKETS_US: [u64; 12] = [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 1_000_000];

/// A fixed-bucket latency histogram.
#[derive(Debug, Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    /// Records one observation.
    pub fn observe_us(&self, micros: u64) {
        let bucket = BUCKETS_US.iter().position(|&b| micros <= b).unwrap_or(BUCKETS_US.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(micros, Ordering::Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (i, count) in self.counts.iter().enumerate() {
            cumulative += count.load(Ordering::Relaxed);
            let bound = BUCKETS_US.get(i).map_or("+Inf".to_string(), |b| format!("{}", *b as f64 / 1e6));
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_sum {}", self.sum_us.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

/// The node's API metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Time from submitting a write to its commit and apply (as this node saw it).
    pub commit_latency: Histogram,
    /// Time to answer an API request.
    pub api_latency: Histogram,
    /// API responses with status < 400.
    pub api_ok: AtomicU64,
    /// API responses with status 4xx.
    pub api_client_errors: AtomicU64,
    /// API responses with status 5xx.
    pub api_server_errors: AtomicU64,
    /// Requests refused for weight (429).
    pub api_throttled: AtomicU64,
    /// Writes whose outcome was reported unknown (503, -1007).
    pub writes_unknown: AtomicU64,
    /// Writes refused before they were sent anywhere (503, -1001: nothing done).
    pub writes_not_sent: AtomicU64,
    /// Requests refused because this node could not confirm it was caught up (503, -1001).
    pub reads_refused: AtomicU64,
    /// WebSocket subscribers disconnected for lagging.
    pub ws_lagged: AtomicU64,
    /// WebSocket connections open.
    pub ws_open: AtomicU64,
}

/// Raft's view, sampled when metrics are scraped.
#[derive(Debug, Default)]
pub struct RaftGauges {
    /// Current term (each election increments it).
    pub term: u64,
    /// Last applied log index.
    pub applied_index: u64,
    /// Last log index.
    pub last_log_index: u64,
    /// 1 if this node leads.
    pub is_leader: bool,
    /// 1 if a leader is known.
    pub has_leader: bool,
}

impl Metrics {
    /// The exposition text.
    pub fn render(&self, node: u64, raft: &RaftGauges) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name}{{node=\"{node}\"}} {value}");
        };
        gauge(&mut out, "outlast_raft_term", "Current Raft term; each election increments it.", raft.term);
        gauge(&mut out, "outlast_applied_index", "Last log index applied to the engine.", raft.applied_index);
        gauge(&mut out, "outlast_last_log_index", "Last log index stored.", raft.last_log_index);
        gauge(&mut out, "outlast_is_leader", "1 if this node is the leader.", u64::from(raft.is_leader));
        gauge(&mut out, "outlast_has_leader", "1 if this node knows a leader.", u64::from(raft.has_leader));
        gauge(&mut out, "outlast_ws_connections", "Open WebSocket connections.", self.ws_open.load(Ordering::Relaxed));
        let counters = [
            ("outlast_api_responses_ok_total", "API responses below 400.", &self.api_ok),
            ("outlast_api_responses_client_error_total", "API responses 4xx.", &self.api_client_errors),
            ("outlast_api_responses_server_error_total", "API responses 5xx.", &self.api_server_errors),
            ("outlast_api_throttled_total", "API requests refused for weight.", &self.api_throttled),
            ("outlast_writes_unknown_total", "Writes answered with an unknown outcome.", &self.writes_unknown),
            ("outlast_writes_not_sent_total", "Writes refused before being sent: nothing done.", &self.writes_not_sent),
            (
                "outlast_reads_refused_total",
                "Requests refused: this node could not confirm it was current.",
                &self.reads_refused,
            ),
            ("outlast_ws_lagged_total", "WebSocket subscribers disconnected for lagging.", &self.ws_lagged),
        ];
        for (name, help, counter) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        self.commit_latency.write(&mut out, "outlast_commit_latency_seconds", "Submit to commit and apply.");
        self.api_latency.write(&mut out, "outlast_api_latency_seconds", "API request to response.");
        let name = "outlast_tls_certificate_expiry_timestamp_seconds";
        let _ = writeln!(out, "# HELP {name} When a certificate this node uses expires (its notAfter, Unix time).");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (file, not_after) in outlast_tls::certificate_expiries() {
            let file = file.display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
            let _ = writeln!(out, "{name}{{node=\"{node}\",file=\"{file}\"}} {not_after}");
        }
        out
    }
}
