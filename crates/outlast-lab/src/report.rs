//! The incident report: figures, a verdict, and a chart, as JSON, Markdown and SVG.

use serde::Serialize;

use crate::checker::Verdict;
use crate::history::{Incident, Op, OpKind, OpResult};

/// Width of a timeline bucket, in ms.
pub const BUCKET_MS: u64 = 250;

/// One bucket of the timeline.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Bucket {
    /// Bucket start, ms since the run started.
    pub at_ms: u64,
    /// Operations acknowledged.
    pub ok: u64,
    /// Operations refused.
    pub failed: u64,
    /// Operations with unknown outcome.
    pub unknown: u64,
    /// p99 latency of operations completed in it, ms.
    pub p99_ms: u64,
}

/// Latency quantiles of one phase, ms.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Phase {
    /// Operations in the phase.
    pub ops: usize,
    /// Median latency.
    pub p50_ms: u64,
    /// 99th percentile latency.
    pub p99_ms: u64,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The scenario.
    pub scenario: String,
    /// What was done, e.g. `SIGKILL provider aws (nodes 1, 4)`.
    pub fault: String,
    /// When the fault began and ended, ms since the run started.
    pub fault_window_ms: [u64; 2],
    /// The longest time in which no operation was acknowledged, ms (during the run's load).
    pub longest_unavailability_ms: u64,
    /// From the fault to a new leader being known, ms (none if leadership did not move).
    pub time_to_new_leader_ms: Option<u64>,
    /// From the fault to the first acknowledged write invoked after it, ms (RTO).
    pub rto_ms: Option<u64>,
    /// Acknowledged operations lost (RPO).
    pub rpo_ops_lost: usize,
    /// Latency before, during and after the fault.
    pub before: Phase,
    /// During.
    pub during: Phase,
    /// After.
    pub after: Phase,
    /// Per provider: share of monitor samples with a healthy node there.
    pub provider_availability: Vec<(String, f64)>,
    /// Per region, likewise.
    pub region_availability: Vec<(String, f64)>,
    /// Leader changes and faults, in order.
    pub incidents: Vec<Incident>,
    /// When the run started, ms since the Unix epoch: every `*_ms` offset counts from here.
    pub started_utc_ms: u64,
    /// Per exchange function: when it was down or degraded, and for how long.
    pub functions: Vec<crate::functions::Impact>,
    /// Per node: bytes its log grew by per minute, from the first fault to the last heal.
    pub log_bytes_per_minute: std::collections::BTreeMap<u64, u64>,
    /// The ceiling on that (the verdict fails above it).
    pub log_bytes_per_minute_max: u64,
    /// The timeline.
    pub timeline: Vec<Bucket>,
    /// The checker's findings.
    pub verdict: Verdict,
}

fn quantile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Latency quantiles of the ops invoked in `[from, to)`.
pub fn phase(ops: &[Op], from: u64, to: u64) -> Phase {
    let mut latencies: Vec<u64> = ops
        .iter()
        .filter(|o| (from..to).contains(&o.invoke_ms) && o.result == OpResult::Ok)
        .map(|o| o.complete_ms - o.invoke_ms)
        .collect();
    latencies.sort_unstable();
    Phase { ops: latencies.len(), p50_ms: quantile(&latencies, 0.5), p99_ms: quantile(&latencies, 0.99) }
}

/// The timeline of `ops` from 0 to `end_ms`.
pub fn timeline(ops: &[Op], end_ms: u64) -> Vec<Bucket> {
    let count = (end_ms / BUCKET_MS + 1) as usize;
    let mut buckets: Vec<Bucket> =
        (0..count).map(|i| Bucket { at_ms: i as u64 * BUCKET_MS, ..Bucket::default() }).collect();
    let mut latencies: Vec<Vec<u64>> = vec![Vec::new(); count];
    for op in ops {
        let i = ((op.complete_ms / BUCKET_MS) as usize).min(count - 1);
        match op.result {
            OpResult::Ok => {
                buckets[i].ok += 1;
                latencies[i].push(op.complete_ms - op.invoke_ms);
            }
            OpResult::Fail(_) => buckets[i].failed += 1,
            OpResult::Unknown => buckets[i].unknown += 1,
        }
    }
    for (bucket, mut l) in buckets.iter_mut().zip(latencies) {
        l.sort_unstable();
        bucket.p99_ms = quantile(&l, 0.99);
    }
    buckets
}

/// The longest gap between acknowledged completions within `[from, to]`, ms.
pub fn longest_gap(ops: &[Op], from: u64, to: u64) -> u64 {
    let mut done: Vec<u64> = ops
        .iter()
        .filter(|o| o.result == OpResult::Ok)
        .map(|o| o.complete_ms)
        .filter(|t| (from..=to).contains(t))
        .collect();
    done.sort_unstable();
    let mut points = vec![from];
    points.extend(done);
    points.push(to);
    points.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0)
}

/// First acknowledged write invoked at or after `fault_ms`: how long after the fault it completed.
pub fn rto(ops: &[Op], fault_ms: u64) -> Option<u64> {
    ops.iter()
        .filter(|o| {
            o.result == OpResult::Ok
                && o.invoke_ms >= fault_ms
                && matches!(o.kind, OpKind::Place | OpKind::Withdraw | OpKind::Deposit | OpKind::Cancel)
        })
        .map(|o| o.complete_ms - fault_ms)
        .min()
}

impl Report {
    /// Markdown.
    pub fn markdown(&self) -> String {
        let verdict = if self.verdict.pass { "PASS" } else { "FAIL" };
        let ms = |v: Option<u64>| v.map_or("—".to_string(), |v| format!("{v} ms"));
        let mut out = format!(
            "# Incident report: {scenario}\n\n**Verdict: {verdict}**\n\n- Fault: {fault}, from {a} ms to {b} ms into the run\n\
             - Longest client-observed unavailability: {gap} ms\n- Time to a new leader: {leader}\n- RTO (fault → first acknowledged write): {rto}\n\
             - RPO (acknowledged operations lost): {lost}\n- Acknowledged {ack}, refused {refused}, unknown → applied {ua} / not applied {una}, duplicated {dup}\n\
             - Reads probed on every node: {reads} answered, {stale} stale, {reads_refused} refused or unanswered\n\
             - Converged digest `{digest}` at index {index}\n\n| phase | ops | p50 ms | p99 ms |\n|---|---|---|---|\n",
            scenario = self.scenario,
            fault = self.fault,
            a = self.fault_window_ms[0],
            b = self.fault_window_ms[1],
            gap = self.longest_unavailability_ms,
            leader = ms(self.time_to_new_leader_ms),
            rto = ms(self.rto_ms),
            lost = self.rpo_ops_lost,
            ack = self.verdict.acknowledged,
            refused = self.verdict.refused,
            ua = self.verdict.unknown_applied,
            una = self.verdict.unknown_not_applied,
            dup = self.verdict.duplicated,
            reads = self.verdict.reads,
            stale = self.verdict.stale_reads,
            reads_refused = self.verdict.reads_refused,
            digest = self.verdict.digest,
            index = self.verdict.applied_index,
        );
        let v = &self.verdict;
        if v.chain_withdrawals_confirmed + v.chain_withdrawals_failed + v.chain_deposits > 0 {
            out.insert_str(
                out.find("- Converged digest").unwrap_or(out.len()),
                &format!(
                    "- Reconciled with the chain: {} withdrawals confirmed and {} failed against {} payments mined; \
                     {} canonical deposits\n",
                    v.chain_withdrawals_confirmed, v.chain_withdrawals_failed, v.chain_payments_mined, v.chain_deposits
                ),
            );
        }
        for (name, phase) in [("before", &self.before), ("during", &self.during), ("after", &self.after)] {
            out += &format!("| {name} | {} | {} | {} |\n", phase.ops, phase.p50_ms, phase.p99_ms);
        }
        out += "\n| provider | availability |\n|---|---|\n";
        for (provider, share) in &self.provider_availability {
            out += &format!("| {provider} | {:.1} % |\n", share * 100.0);
        }
        out += "\n| region | availability |\n|---|---|\n";
        for (region, share) in &self.region_availability {
            out += &format!("| {region} | {:.1} % |\n", share * 100.0);
        }
        out += &format!(
            "\n| node | log bytes per minute during the fault (ceiling {}) |\n|---|---|\n",
            self.log_bytes_per_minute_max
        );
        for (node, bytes) in &self.log_bytes_per_minute {
            out += &format!("| {node} | {bytes} |\n");
        }
        out += &self.functions_markdown();
        out += "\n## Timeline (UTC)\n\n![chart](chart.svg)\n\n";
        for incident in &self.incidents {
            let at = crate::functions::utc(self.started_utc_ms + incident.at_ms, false);
            out += &format!("- {at} (+{} ms): {}\n", incident.at_ms, incident.what);
        }
        if !self.verdict.failures.is_empty() {
            out += "\n## Why it failed\n\n";
            for failure in self.verdict.failures.iter().take(50) {
                out += &format!("- {failure}\n");
            }
        }
        out
    }

    /// The impact per function: totals, then every stretch not up, on a UTC timeline.
    fn functions_markdown(&self) -> String {
        use crate::functions::{utc, Mode};
        let started = utc(self.started_utc_ms, true);
        let mut out = format!(
            "\n## Impact per function\n\nRun started {started} UTC. Down: requests made, none served; degraded: some \
             refused for unavailability, unanswered or slower than {} ms, others served (judged per {} ms).\n\n\
             | function | requests | down | degraded |\n|---|---|---|---|\n",
            crate::functions::SLOW_MS,
            crate::functions::BUCKET_MS
        );
        for impact in &self.functions {
            out += &format!(
                "| {} | {} | {} ms | {} ms |\n",
                impact.function, impact.requests, impact.down_ms, impact.degraded_ms
            );
        }
        let stretches: Vec<_> =
            self.functions.iter().flat_map(|i| i.stretches.iter().map(move |s| (&i.function, s))).collect();
        if !stretches.is_empty() {
            out += "\n| function | mode | from (UTC) | to (UTC) | for |\n|---|---|---|---|---|\n";
            for (function, stretch) in stretches {
                let mode = if stretch.mode == Mode::Down { "down" } else { "degraded" };
                out += &format!(
                    "| {function} | {mode} | {} | {} | {} ms |\n",
                    utc(self.started_utc_ms + stretch.from_ms, false),
                    utc(self.started_utc_ms + stretch.to_ms, false),
                    stretch.to_ms - stretch.from_ms
                );
            }
        }
        out
    }

    /// An SVG chart, every axis with values and units: acknowledged and failed operations per
    /// step (top), p99 latency (middle), each function's mode (bottom bands); the fault window
    /// shaded, leader changes as dashed lines, time in seconds since the run started (UTC start
    /// in the caption).
    pub fn svg(&self) -> String {
        use crate::functions::Mode;
        let (width, left, right) = (960.0, 150.0, 30.0);
        let top = (40.0, 190.0);
        let middle = (230.0, 330.0);
        let band_height = 16.0;
        let bands_top = 370.0;
        let bands_bottom = bands_top + band_height * self.functions.len() as f64;
        let height = bands_bottom + 60.0;
        let end = self.timeline.last().map_or(1, |b| b.at_ms + BUCKET_MS).max(1) as f64;
        let x = |ms: u64| left + (ms as f64 / end) * (width - left - right);
        let ops_max = self.timeline.iter().map(|b| b.ok.max(b.failed + b.unknown)).max().unwrap_or(1).max(1);
        let lat_max = self.timeline.iter().map(|b| b.p99_ms).max().unwrap_or(1).max(1);
        let y_of = |panel: (f64, f64), max: u64| move |v: u64| panel.1 - (v as f64 / max as f64) * (panel.1 - panel.0);
        let (y_ops, y_lat) = (y_of(top, ops_max), y_of(middle, lat_max));
        let line = |points: Vec<(f64, f64)>, color: &str| {
            let path: Vec<String> = points.iter().map(|(a, b)| format!("{a:.1},{b:.1}")).collect();
            format!("<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"1.5\" points=\"{}\"/>\n", path.join(" "))
        };
        let text = |x: f64, y: f64, anchor: &str, body: &str| {
            format!("<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\">{}</text>\n", escape(body))
        };
        let mut svg = format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        let [a, b] = self.fault_window_ms;
        svg += &format!(
            "<rect x=\"{:.1}\" y=\"{}\" width=\"{:.1}\" height=\"{}\" fill=\"#fbe3e3\"/>\n",
            x(a),
            top.0,
            (x(b) - x(a)).max(1.0),
            bands_bottom - top.0
        );
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{}\" fill=\"#a33\">fault: {}</text>\n",
            x(a) + 3.0,
            top.0 + 12.0,
            escape(&self.fault)
        );
        for incident in self.incidents.iter().filter(|i| i.what.starts_with("leader")) {
            svg += &format!(
                "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#36c\" stroke-dasharray=\"3,3\"/>\n",
                x(incident.at_ms),
                top.0,
                bands_bottom
            );
        }
        // Y axes: zero, half and the maximum, with units.
        for (panel, max, unit, y) in [
            (top, ops_max, "ops", &y_ops as &dyn Fn(u64) -> f64),
            (middle, lat_max, "ms", &y_lat as &dyn Fn(u64) -> f64),
        ] {
            svg +=
                &format!("<line x1=\"{left}\" x2=\"{left}\" y1=\"{}\" y2=\"{}\" stroke=\"#999\"/>\n", panel.0, panel.1);
            for value in [0, max / 2, max] {
                svg += &text(left - 4.0, y(value) + 4.0, "end", &format!("{value} {unit}"));
            }
        }
        svg += &line(self.timeline.iter().map(|b| (x(b.at_ms), y_ops(b.ok))).collect(), "#2a2");
        svg += &line(self.timeline.iter().map(|b| (x(b.at_ms), y_ops(b.failed + b.unknown))).collect(), "#d22");
        svg += &line(self.timeline.iter().map(|b| (x(b.at_ms), y_lat(b.p99_ms))).collect(), "#555");
        svg += &text(
            left,
            top.0 - 8.0,
            "start",
            &format!("writes per {BUCKET_MS} ms: acknowledged (green), refused or unknown (red)"),
        );
        svg += &text(
            left,
            middle.0 - 8.0,
            "start",
            &format!("p99 write latency per {BUCKET_MS} ms (ms); dashed blue: leader changes"),
        );
        svg += &text(
            left,
            bands_top - 8.0,
            "start",
            "per function: up (green), idle (grey), degraded (amber), down (red)",
        );
        for (row, impact) in self.functions.iter().enumerate() {
            let y = bands_top + row as f64 * band_height;
            svg += &text(left - 4.0, y + band_height - 4.0, "end", &impact.function);
            for (step, mode) in impact.steps.iter().enumerate() {
                let color = match mode {
                    Mode::Idle => "#eeeeee",
                    Mode::Up => "#cfe8cf",
                    Mode::Degraded => "#f5c542",
                    Mode::Down => "#d22",
                };
                let from = step as u64 * crate::functions::BUCKET_MS;
                let to = from + crate::functions::BUCKET_MS;
                svg += &format!(
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"/>\n",
                    x(from),
                    y + 1.0,
                    (x(to.min(end as u64)) - x(from)).max(0.5),
                    band_height - 2.0
                );
            }
        }
        // X axis: seconds since the run started, a tick every whole step of a readable size.
        let step_s = [1u64, 2, 5, 10, 15, 30, 60, 120, 300]
            .into_iter()
            .find(|s| end / 1000.0 / *s as f64 <= 12.0)
            .unwrap_or(600);
        svg += &format!(
            "<line x1=\"{left}\" x2=\"{:.1}\" y1=\"{bands_bottom}\" y2=\"{bands_bottom}\" stroke=\"#999\"/>\n",
            width - right
        );
        let mut second = 0;
        while (second * 1000) as f64 <= end {
            let at = x(second * 1000);
            svg += &format!(
                "<line x1=\"{at:.1}\" x2=\"{at:.1}\" y1=\"{bands_bottom}\" y2=\"{:.1}\" stroke=\"#999\"/>\n",
                bands_bottom + 4.0
            );
            svg += &text(at, bands_bottom + 16.0, "middle", &format!("{second} s"));
            second += step_s;
        }
        let started = crate::functions::utc(self.started_utc_ms, true);
        svg += &text(
            left,
            bands_bottom + 36.0,
            "start",
            &format!("time since the run started (s); started {started} UTC"),
        );
        svg += &format!(
            "<text x=\"{:.1}\" y=\"{}\" font-size=\"14\" fill=\"{}\">{}</text>\n",
            width - right - 40.0,
            top.0 - 8.0,
            if self.verdict.pass { "#2a2" } else { "#d22" },
            if self.verdict.pass { "PASS" } else { "FAIL" }
        );
        svg += "</svg>\n";
        svg
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
