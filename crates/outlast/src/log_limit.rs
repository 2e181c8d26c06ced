//! A node's log under faults: at most `EVENTS_PER_WINDOW_MAX` lines per log statement per
//! `WINDOW_MS`, and one summary line per statement and window for what was held back.
//!
//! Why: while a peer is down its leader retries replication many times a second, and each
//! failure is a log line (openraft's and ours). Unlimited, that wrote ~20 MB in 15 s on the
//! survivors of a provider outage, filling disks in the middle of the incident. The first lines
//! of a burst are the useful ones; after them a count says the rest.
//!
//! The key is the log statement (its callsite), so a burst of one error never hides another
//! one. Must never: block, or drop a summary (they go out from a task, one per statement per
//! window at most).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tracing::callsite::Identifier;
use tracing::Metadata;

/// The target of the summary lines.
const SUMMARY_TARGET: &str = "outlast::log_limit";

/// Lines let through per log statement per window.
pub const EVENTS_PER_WINDOW_MAX: u32 = 10;
/// The window, ms.
pub const WINDOW_MS: u64 = 10_000;
/// Log statements tracked at once; beyond this, new statements are let through uncounted (a
/// node has a few hundred statements, so this is never reached in practice).
const STATEMENTS_MAX: usize = 4_096;

/// One statement's window.
#[derive(Debug)]
struct Window {
    started_ms: u64,
    admitted: u32,
    held_back: u64,
    /// `file:line` of the statement, for the summary.
    location: String,
}

/// The per-statement counts, by a key per statement (its callsite in a node). Cheap to clone
/// (shared).
#[derive(Clone, Debug)]
pub struct Limiter<K = Identifier> {
    windows: Arc<Mutex<HashMap<K, Window>>>,
}

impl<K> Default for Limiter<K> {
    fn default() -> Self {
        Limiter { windows: Arc::default() }
    }
}

impl Limiter {
    /// Whether the event of `metadata` at `now_ms` may be written.
    pub fn admit(&self, metadata: &Metadata<'_>, now_ms: u64) -> bool {
        let location = || format!("{}:{}", metadata.file().unwrap_or("?"), metadata.line().unwrap_or(0));
        self.admit_by(metadata.callsite(), location, now_ms)
    }
}

impl<K: std::hash::Hash + Eq> Limiter<K> {
    /// Whether an event of the statement `key` (at `location`) at `now_ms` may be written.
    pub fn admit_by(&self, key: K, location: impl FnOnce() -> String, now_ms: u64) -> bool {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if !windows.contains_key(&key) && windows.len() >= STATEMENTS_MAX {
            return true;
        }
        let window = windows.entry(key).or_insert_with(|| Window {
            started_ms: now_ms,
            admitted: 0,
            held_back: 0,
            location: location(),
        });
        if now_ms.saturating_sub(window.started_ms) >= WINDOW_MS && window.held_back == 0 {
            // A quiet statement starts a new window at once; one with lines held back waits for
            // `summaries` to report them first.
            (window.started_ms, window.admitted) = (now_ms, 0);
        }
        if window.admitted < EVENTS_PER_WINDOW_MAX {
            window.admitted += 1;
            true
        } else {
            window.held_back += 1;
            false
        }
    }

    /// For every statement whose window is over and held lines back: its location and how many,
    /// and a new window for it.
    pub fn summaries(&self, now_ms: u64) -> Vec<(String, u64)> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for window in windows.values_mut() {
            if now_ms.saturating_sub(window.started_ms) >= WINDOW_MS && window.held_back > 0 {
                out.push((window.location.clone(), window.held_back));
                (window.started_ms, window.admitted, window.held_back) = (now_ms, 0, 0);
            }
        }
        out.sort();
        out
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// How log lines look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One line of text per event.
    Text,
    /// One JSON object per line (`timestamp`, `level`, `fields`, `target`), for log pipelines.
    Json,
}

/// A subscriber that writes to `writer` at `level` through `limiter`, in `format`.
fn subscriber<W>(
    level: tracing::Level,
    limiter: Limiter,
    writer: W,
    format: Format,
) -> impl tracing::Subscriber + Send + Sync
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::Layer;
    let filter = LimitFilter { level, limiter };
    let layer = tracing_subscriber::fmt::layer().with_writer(writer).with_ansi(false);
    let layer = match format {
        Format::Text => layer.boxed(),
        Format::Json => layer.json().boxed(),
    };
    tracing_subscriber::registry().with(layer.with_filter(filter))
}

/// The level and the limiter as a per-layer filter. Its answer changes from one event of a
/// statement to the next, so it must never let tracing cache it per callsite (as
/// `filter_fn`'s does: it asks once and then lets every event through).
struct LimitFilter {
    level: tracing::Level,
    limiter: Limiter,
}

impl<S> tracing_subscriber::layer::Filter<S> for LimitFilter {
    fn enabled(&self, metadata: &Metadata<'_>, _: &tracing_subscriber::layer::Context<'_, S>) -> bool {
        // The summaries themselves are never held back (at most one per statement per window).
        metadata.level() <= &self.level
            && (!metadata.is_event() || metadata.target() == SUMMARY_TARGET || self.limiter.admit(metadata, now_ms()))
    }

    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> tracing::subscriber::Interest {
        if metadata.level() <= &self.level {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::never()
        }
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(self.level.into())
    }
}

/// Logs to stderr at `level` through `limiter`.
pub fn init(level: tracing::Level, limiter: Limiter, format: Format) {
    let _ = tracing::subscriber::set_global_default(subscriber(level, limiter, std::io::stderr, format));
}

/// Runs forever (in a node's runtime): every second, one line per statement that had lines held
/// back in its last window.
pub async fn report(limiter: Limiter) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        for (location, held_back) in limiter.summaries(now_ms()) {
            tracing::warn!(target: SUMMARY_TARGET, "{held_back} more lines like {location} held back in {WINDOW_MS} ms");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines written, shared with the test.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Lines {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_lines_are_objects_with_level_message_and_fields_and_stay_limited() {
        let (lines, limiter) = (Lines::default(), Limiter::default());
        let writer = lines.clone();
        let subscriber = subscriber(tracing::Level::WARN, limiter, move || writer.clone(), Format::Json);
        tracing::subscriber::with_default(subscriber, || {
            for peer in 0..100 {
                tracing::warn!(peer, "replication to a peer failed");
            }
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        let objects: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(objects.len(), 10, "the limit holds in JSON too: {text}");
        assert_eq!(objects[0]["level"], "WARN");
        assert_eq!(objects[0]["fields"]["message"], "replication to a peer failed");
        assert_eq!(objects[3]["fields"]["peer"], 3);
        assert!(objects[0]["timestamp"].is_string());
    }

    #[test]
    fn a_node_logging_the_same_error_in_a_loop_writes_the_limit_then_stops() {
        let (lines, limiter) = (Lines::default(), Limiter::default());
        let writer = lines.clone();
        let subscriber = subscriber(tracing::Level::WARN, limiter.clone(), move || writer.clone(), Format::Text);
        tracing::subscriber::with_default(subscriber, || {
            for attempt in 0..1_000 {
                tracing::warn!(attempt, "replication to a peer failed");
                tracing::debug!("below the level: neither written nor counted");
            }
            tracing::error!("a different statement still gets through");
        });
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().filter(|l| l.contains("replication to a peer failed")).count(), 10, "{text}");
        assert_eq!(text.lines().filter(|l| l.contains("a different statement")).count(), 1);
        assert!(!text.contains("below the level"));
        let summaries = limiter.summaries(now_ms() + WINDOW_MS);
        assert_eq!(summaries.len(), 1);
        assert_eq!(summaries[0].1, 990);
        assert!(summaries[0].0.contains("log_limit.rs:"), "{summaries:?}");
    }

    #[test]
    fn a_burst_is_cut_to_the_limit_and_summarised_once_per_window() {
        let limiter = Limiter::<&str>::default();
        let admit = |key: &'static str, now_ms| limiter.admit_by(key, || format!("{key}.rs:1"), now_ms);
        let admitted = (0..1_000).filter(|_| admit("replication", 0)).count();
        assert_eq!(admitted, EVENTS_PER_WINDOW_MAX as usize);
        assert!(admit("vote", 0), "another statement has its own budget");
        assert!(limiter.summaries(WINDOW_MS - 1).is_empty(), "the window is not over");
        let held_back = 1_000 - u64::from(EVENTS_PER_WINDOW_MAX);
        assert_eq!(limiter.summaries(WINDOW_MS), vec![("replication.rs:1".to_string(), held_back)]);
        assert!(limiter.summaries(WINDOW_MS + 1).is_empty(), "reported once");
        assert!(admit("replication", WINDOW_MS + 1), "a new window lets lines through again");
        assert!(admit("vote", WINDOW_MS + 1), "a quiet statement's window renews by itself");
    }
}
