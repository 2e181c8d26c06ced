//! The latest chaos reports, for the status page: a listing, and each run's report files.
//!
//! A run is a directory under the reports directory holding `report.json` (written by
//! `outlast chaos`). Only those three file names are served, and a run's name must be a plain
//! name, so no request reaches a file outside the directory.

use std::path::Path as FsPath;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::Site;

/// How many runs the listing names, newest first.
pub const RUNS_LISTED_MAX: usize = 20;

const FILES: [(&str, &str); 3] = [
    ("report.md", "text/markdown; charset=utf-8"),
    ("chart.svg", "image/svg+xml"),
    ("report.json", "application/json"),
];

pub async fn index(State(site): State<Arc<Site>>, request_headers: axum::http::HeaderMap) -> Response {
    let runs = site.reports_dir.as_deref().map(list).unwrap_or_default();
    let mut response = json!({ "runs": runs }).to_string().into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // A status page served by another node of the cluster reads this after a failover.
    if let Some(origin) = crate::allowed_origin(&(site.origins)(), &request_headers) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    }
    response
}

pub async fn file(State(site): State<Arc<Site>>, Path((run, file)): Path<(String, String)>) -> Response {
    let not_found = crate::not_found;
    let (Some(dir), true) = (site.reports_dir.as_deref(), plain_name(&run)) else { return not_found() };
    let Some(&(name, content_type)) = FILES.iter().find(|(name, _)| *name == file) else { return not_found() };
    let Ok(bytes) = std::fs::read(dir.join(&run).join(name)) else { return not_found() };
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // A chart is drawn by our own code, but an SVG can hold script: never let it run.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

/// A directory name with nothing that could leave the reports directory.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && !name.starts_with('.')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The runs under `dir`, newest first: name, scenario, verdict, unavailability.
fn list(dir: &FsPath) -> Vec<Value> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut runs: Vec<(std::time::SystemTime, String, Value)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_string();
            if !plain_name(&name) {
                return None;
            }
            let text = std::fs::read_to_string(entry.path().join("report.json")).ok()?;
            let modified = entry.metadata().ok()?.modified().ok()?;
            let report: Value = serde_json::from_str(&text).ok()?;
            Some((modified, name, report))
        })
        .collect();
    runs.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
    runs.into_iter()
        .take(RUNS_LISTED_MAX)
        .map(|(modified, name, report)| {
            let at_ms = modified.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
            json!({
                "run": name,
                "atMs": at_ms,
                "scenario": report["scenario"],
                "fault": report["fault"],
                "pass": report["verdict"]["pass"],
                "longestUnavailabilityMs": report["longest_unavailability_ms"],
                "rpoOpsLost": report["rpo_ops_lost"],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_run_names_pass() {
        for good in ["2026-11-24T23-10-00Z-provider-outage", "run_1"] {
            assert!(plain_name(good), "{good}");
        }
        for bad in ["", "..", ".hidden", "a/b", "a\\b", "%2e%2e", "a b"] {
            assert!(!plain_name(bad), "{bad}");
        }
    }

    #[test]
    fn the_listing_names_runs_with_a_report_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        for (run, pass) in [("a-run", true), ("b-run", false)] {
            std::fs::create_dir(dir.path().join(run)).unwrap();
            let report = json!({ "scenario": "provider-outage", "verdict": { "pass": pass } });
            std::fs::write(dir.path().join(run).join("report.json"), report.to_string()).unwrap();
        }
        std::fs::create_dir(dir.path().join("no-report")).unwrap();
        let runs = list(dir.path());
        assert_eq!(runs.len(), 2, "{runs:?}");
        assert!(runs.iter().any(|r| r["run"] == "b-run" && r["pass"] == false));
    }
}
