//! Prometheus metrics, in the text exposition format, written by hand (a handful of counters
//! and histograms do not need a crate). Names follow Prometheus's conventions: the unit in the
//! name (`_seconds`, `_entries`), counters end in `_total`, every series carries the node's id
//! as `node`; `promtool check metrics` passes on a live node's output (`ops/`'s test), and the
//! alert rules and the dashboard in `ops/` use only names written here.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

pub use outlast_log::latency::Histogram;
use outlast_log::latency::BUCKETS_US;

fn write_histogram(out: &mut String, node: u64, name: &str, help: &str, histogram: &Histogram) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
    let counts = histogram.counts();
    for (i, cumulative) in counts.cumulative.iter().enumerate() {
        let bound = BUCKETS_US.get(i).map_or("+Inf".to_string(), |b| format!("{}", *b as f64 / 1e6));
        let _ = writeln!(out, "{name}_bucket{{node=\"{node}\",le=\"{bound}\"}} {cumulative}");
    }
    let _ = writeln!(out, "{name}_sum{{node=\"{node}\"}} {}", counts.sum_us as f64 / 1e6);
    let _ = writeln!(out, "{name}_count{{node=\"{node}\"}} {}", counts.cumulative[BUCKETS_US.len()]);
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
    /// On the leader: per follower, how many entries it has not yet stored.
    pub replication_lag_entries: Vec<(u64, u64)>,
    /// Per peer: its clock's offset from this node's and the round trip to it, ms.
    pub peer_clocks: Vec<(u64, i64, u64)>,
    /// This node's clock minus the members' median, ms (none until sampled).
    pub clock_skew_ms: Option<i64>,
    /// The cluster's active data format, as this node has applied it.
    pub data_format: u32,
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
        gauge(
            &mut out,
            "outlast_data_format",
            "The cluster's active data format, as this node has applied it.",
            u64::from(raft.data_format),
        );
        let name = "outlast_build_info";
        let _ = writeln!(
            out,
            "# HELP {name} The running build and the newest data format it reads (always 1).\n# TYPE {name} gauge"
        );
        let _ = writeln!(
            out,
            "{name}{{node=\"{node}\",version=\"{}\",data_format_max=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            outlast_cluster::format::readable_max()
        );
        let name = "outlast_replication_lag_entries";
        let _ = writeln!(out, "# HELP {name} On the leader: log entries a follower has not yet stored.");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (peer, lag) in &raft.replication_lag_entries {
            let _ = writeln!(out, "{name}{{node=\"{node}\",peer=\"{peer}\"}} {lag}");
        }
        let name = "outlast_clock_offset_seconds";
        let _ = writeln!(out, "# HELP {name} A peer's clock minus this node's (shortest-round-trip sample).");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (peer, offset_ms, _) in &raft.peer_clocks {
            let _ = writeln!(out, "{name}{{node=\"{node}\",peer=\"{peer}\"}} {}", *offset_ms as f64 / 1e3);
        }
        let name = "outlast_peer_round_trip_seconds";
        let _ = writeln!(out, "# HELP {name} The shortest recent round trip to a peer (client protocol).");
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (peer, _, rtt_ms) in &raft.peer_clocks {
            let _ = writeln!(out, "{name}{{node=\"{node}\",peer=\"{peer}\"}} {}", *rtt_ms as f64 / 1e3);
        }
        if let Some(skew_ms) = raft.clock_skew_ms {
            let name = "outlast_clock_skew_seconds";
            let _ = writeln!(
                out,
                "# HELP {name} This node's clock minus the members' median; past the bound it does not lead."
            );
            let _ = writeln!(out, "# TYPE {name} gauge\n{name}{{node=\"{node}\"}} {}", skew_ms as f64 / 1e3);
        }
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
                "# HELP {name} {help}\n# TYPE {name} counter\n{name}{{node=\"{node}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        write_histogram(
            &mut out,
            node,
            "outlast_commit_latency_seconds",
            "Submit to commit and apply.",
            &self.commit_latency,
        );
        write_histogram(&mut out, node, "outlast_api_latency_seconds", "API request to response.", &self.api_latency);
        write_histogram(
            &mut out,
            node,
            "outlast_log_fsync_seconds",
            "Time each log append waited for fdatasync.",
            &outlast_log::latency::FSYNC,
        );
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
