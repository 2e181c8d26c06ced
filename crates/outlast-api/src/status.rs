//! The public status of the cluster, for the status page: what every node is and does now
//! (`/status/v1/cluster`), and what this node saw over the last hour (`/status/v1/history`):
//! members answering, leader changes, and each exchange function's mode on this node (idle, up,
//! degraded, down) per sample.
//!
//! A recorder task on every node probes every member's client port every `SAMPLE_EVERY_MS`
//! (the same `Status` call `outlast status` makes) and keeps the answers: the latest for the
//! cluster view, and which members answered, per sample, for an hour. A second task notes
//! every change of term or leader this node sees. Requests only read what the recorder kept,
//! so a flood of status page loads never turns into a flood of probes.
//!
//! Every list is bounded. Nothing here is secret (internal addresses and digests stay on the
//! operator API) and nothing here changes the exchange.

use openraft::async_runtime::WatchReceiver;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use outlast_cluster::protocol::{call_with, ClientReply, ClientRequest, NodeStatus};
use outlast_cluster::NodeId;
use serde_json::{json, Value};

use crate::api::{now_ms, Shared};
use crate::endpoint::{then, Decoded};
use crate::function::{Function, Mode, FUNCTIONS};
use crate::params::Params;

/// How often every member is probed, ms.
pub const SAMPLE_EVERY_MS: u64 = 2_000;
/// How long one probe may take, ms.
const PROBE_DEADLINE_MS: u64 = 500;
/// Samples kept: one hour.
pub const SAMPLES_MAX: usize = (3_600_000 / SAMPLE_EVERY_MS) as usize;
/// Leader changes kept.
pub const EVENTS_MAX: usize = 256;

/// What the recorder kept.
#[derive(Default)]
pub struct StatusLog {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// (at ms, term, leader) at every change this node saw, oldest first.
    events: VecDeque<(u64, u64, Option<NodeId>)>,
    /// (at ms, members that answered), oldest first.
    samples: VecDeque<(u64, Vec<NodeId>)>,
    /// Each member's latest answer, and when it was probed.
    latest: BTreeMap<NodeId, (u64, Option<NodeStatus>)>,
    /// (at ms, each function's mode on this node since the previous sample), oldest first.
    functions: VecDeque<(u64, [Mode; FUNCTIONS])>,
}

impl StatusLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn note_leader(&self, at_ms: u64, term: u64, leader: Option<NodeId>) {
        let mut inner = self.lock();
        if inner.events.back().is_some_and(|&(_, t, l)| t == term && l == leader) {
            return;
        }
        if inner.events.len() == EVENTS_MAX {
            inner.events.pop_front();
        }
        inner.events.push_back((at_ms, term, leader));
    }

    fn note_functions(&self, at_ms: u64, modes: [Mode; FUNCTIONS]) {
        let mut inner = self.lock();
        if inner.functions.len() == SAMPLES_MAX {
            inner.functions.pop_front();
        }
        inner.functions.push_back((at_ms, modes));
    }

    fn note_sample(&self, at_ms: u64, answers: BTreeMap<NodeId, Option<NodeStatus>>) {
        let mut inner = self.lock();
        let up = answers.iter().filter(|(_, s)| s.is_some()).map(|(id, _)| *id).collect();
        if inner.samples.len() == SAMPLES_MAX {
            inner.samples.pop_front();
        }
        inner.samples.push_back((at_ms, up));
        inner.latest = answers.into_iter().map(|(id, status)| (id, (at_ms, status))).collect();
    }
}

/// Runs the recorder for as long as the node serves its API.
pub async fn record(api: Shared) {
    let watcher = {
        let api = api.clone();
        tokio::spawn(async move {
            let mut metrics = api.raft.metrics();
            loop {
                let (term, leader) = {
                    let m = metrics.borrow_and_update();
                    (m.current_term, m.current_leader)
                };
                api.status.note_leader(now_ms(), term, leader);
                if metrics.changed().await.is_err() {
                    return;
                }
            }
        })
    };
    let mut tick = tokio::time::interval(Duration::from_millis(SAMPLE_EVERY_MS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if watcher.is_finished() {
            return;
        }
        let members: Vec<_> = {
            let metrics = api.raft.metrics().borrow_watched().clone();
            metrics.membership_config.membership().nodes().map(|(id, info)| (*id, info.client_addr.clone())).collect()
        };
        // Before the node knows its cluster (a first start not yet initialised), there is
        // nobody to probe; a sample then would show the status page a cluster with no member up.
        if members.is_empty() {
            continue;
        }
        let probes: Vec<_> = members
            .into_iter()
            .map(|(id, addr)| {
                let api = api.clone();
                tokio::spawn(async move {
                    if id == api.me.0 {
                        return (id, Some(outlast_cluster::status::status(&api.raft, &api.reader, &api.me)));
                    }
                    let deadline = Duration::from_millis(PROBE_DEADLINE_MS);
                    let peer = outlast_cluster::Identity::Node(id);
                    match call_with(&api.writer.dialer, &addr, &peer, &ClientRequest::Status, deadline).await {
                        Ok(ClientReply::Status(status)) => (id, Some(status)),
                        _ => (id, None),
                    }
                })
            })
            .collect();
        let mut answers = BTreeMap::new();
        for probe in probes {
            if let Ok((id, status)) = probe.await {
                answers.insert(id, status);
            }
        }
        api.status.note_sample(now_ms(), answers);
        api.status.note_functions(now_ms(), api.functions.take());
    }
}

/// `/status/v1/cluster`.
pub(crate) fn cluster<'a>(api: &'a Shared, _params: &Params) -> Decoded<'a> {
    then(async move { Ok(cluster_view(api)) })
}

/// `/status/v1/history`.
pub(crate) fn history<'a>(api: &'a Shared, _params: &Params) -> Decoded<'a> {
    then(async move { Ok(history_view(api)) })
}

/// Every member with its labels, public origin, role, health and lag, as of the latest probe.
fn cluster_view(api: &Shared) -> Value {
    let metrics = api.raft.metrics().borrow_watched().clone();
    let membership = metrics.membership_config.membership().clone();
    let voters: Vec<NodeId> = membership.voter_ids().collect();
    let inner = api.status.lock();
    let statuses: BTreeMap<NodeId, &NodeStatus> =
        inner.latest.iter().filter_map(|(id, (_, s))| s.as_ref().map(|s| (*id, s))).collect();
    // The leader most answering nodes name in the highest term, else this node's view.
    let term = statuses.values().map(|s| s.term).max().unwrap_or(metrics.current_term).max(metrics.current_term);
    let leader = statuses
        .values()
        .filter(|s| s.term == term)
        .find_map(|s| s.leader)
        .or(metrics.current_leader.filter(|_| metrics.current_term == term));
    let top = leader
        .and_then(|l| statuses.get(&l).and_then(|s| s.last_applied))
        .or_else(|| statuses.values().filter_map(|s| s.last_applied).max())
        .unwrap_or(0);
    let probed_at_ms = inner.latest.values().map(|(at, _)| *at).max();
    let nodes: Vec<Value> = membership
        .nodes()
        .map(|(id, info)| {
            let status = statuses.get(id);
            let role = if Some(*id) == leader {
                "leader"
            } else if voters.contains(id) {
                "follower"
            } else {
                "learner"
            };
            json!({
                "id": id,
                "provider": info.provider,
                "region": info.region,
                "zone": info.zone,
                "origin": crate::origin_url(info),
                "role": role,
                "healthy": status.is_some(),
                "term": status.map(|s| s.term),
                "appliedIndex": status.and_then(|s| s.last_applied),
                "lag": status.and_then(|s| s.last_applied).map(|a| top.saturating_sub(a)),
            })
        })
        .collect();
    json!({
        "node": api.me.0,
        "term": term,
        "leader": leader,
        "probedAtMs": probed_at_ms,
        "nodes": nodes,
        "chains": crate::chains::view(api),
    })
}

/// What this node saw over the last hour: leader changes, and per sample which members
/// answered.
fn history_view(api: &Shared) -> Value {
    let inner = api.status.lock();
    let events: Vec<Value> =
        inner.events.iter().map(|&(at, term, leader)| json!({ "atMs": at, "term": term, "leader": leader })).collect();
    let samples: Vec<Value> = inner.samples.iter().map(|(at, up)| json!([at, up])).collect();
    let names: Vec<&str> = Function::ALL.iter().map(|f| f.name()).collect();
    let functions: Vec<Value> = inner.functions.iter().map(|(at, modes)| json!([at, modes])).collect();
    json!({
        "node": api.me.0,
        "nowMs": now_ms(),
        "sampleEveryMs": SAMPLE_EVERY_MS,
        "events": events,
        "samples": samples,
        "functions": names,
        "functionSamples": functions,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_bounded_and_notes_only_changes() {
        let log = StatusLog::default();
        for i in 0..(SAMPLES_MAX as u64 + 10) {
            log.note_sample(i, BTreeMap::from([(1, None)]));
        }
        assert_eq!(log.lock().samples.len(), SAMPLES_MAX);
        for i in 0..(SAMPLES_MAX as u64 + 1) {
            log.note_functions(i, [Mode::Up; FUNCTIONS]);
        }
        assert_eq!(log.lock().functions.len(), SAMPLES_MAX);
        assert_eq!(log.lock().samples.front().map(|s| s.0), Some(10));
        for i in 0..(EVENTS_MAX as u64 * 2) {
            log.note_leader(i, i / 2, Some(1));
        }
        assert_eq!(log.lock().events.len(), EVENTS_MAX, "one event per change, bounded");
        let before = log.lock().events.len();
        log.note_leader(0, EVENTS_MAX as u64 * 2 / 2 - 1, Some(1));
        assert_eq!(log.lock().events.len(), before, "the same term and leader again is no change");
    }
}
