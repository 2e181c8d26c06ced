//! Several upstreams of one chain, each labelled with its provider, behind one call: reads go to
//! the best-ranked upstream and fail over, slow answers are hedged, broken upstreams are cut by
//! a breaker, broadcasts go to several at once, and what credits money is read from at least
//! two upstreams that agree.
//!
//! Ranking (best first): breaker closed; not marked slow; within `lag_blocks_max` of the best
//! fresh head; fewer recent errors (in steps of 10 %); lower median latency. A read starts on the
//! first; when an attempt fails the next starts at once, and when none has answered after the
//! hedge delay (the primary's p90 latency, clamped) one more starts beside it, and the upstream
//! that kept the call is marked slow for `SLOW_MARK`, so that the next calls start elsewhere
//! instead of each waiting out the hedge delay. An attempt that loses the race is not
//! cancelled: it runs to its own deadline so that its outcome still counts, which is what opens
//! the breaker of an upstream that black-holes calls.
//!
//! Bounds: attempts per call ≤ upstreams, hedges per call ≤ `HEDGES_MAX`, each attempt within
//! `attempt_ms`, each call within `call_ms`, a broadcast to ≤ `broadcast_fanout_max`.
//!
//! Must never: retry or hedge a method that is not a read (`methods`), let one upstream alone
//! decide anything that credits money (`agree`), or report a broadcast as accepted unless an
//! upstream returned the hash we computed from the bytes or said it already has them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::{keccak256, Bytes, B256, U64};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::breaker::{Breaker, State};
use crate::health::Health;
use crate::methods;
use crate::rpc::{Rpc, RpcError};

/// Extra attempts a call may start beside a slow one.
pub const HEDGES_MAX: usize = 1;
/// Upstreams one pool may have.
pub const UPSTREAMS_MAX: usize = 16;
/// How long an upstream that kept a call past the hedge delay is ranked after the others.
pub const SLOW_MARK: Duration = Duration::from_secs(2);

/// One upstream as configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpstreamConfig {
    /// Who provides it (`alchemy`, `infura`, `self-hosted-fra`): shown on the status page and in
    /// logs, and the unit an outage takes away.
    pub label: String,
    /// Its JSON-RPC URL.
    pub url: String,
}

/// A pool's settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolConfig {
    /// The chain's name in paths and logs (`ethereum`, `devnet`).
    pub chain: String,
    /// Its chain id: `eth_chainId` is answered from here, and an upstream that says otherwise
    /// is never used.
    pub chain_id: u64,
    /// The upstreams.
    pub upstreams: Vec<UpstreamConfig>,
    /// One attempt's deadline.
    pub attempt_ms: u64,
    /// One call's deadline, all attempts included.
    pub call_ms: u64,
    /// Shortest hedge delay.
    pub hedge_ms_min: u64,
    /// Longest hedge delay.
    pub hedge_ms_max: u64,
    /// An upstream further behind the best head than this is ranked after the others.
    pub lag_blocks_max: u64,
    /// Upstreams that must give the same answer for `agree`.
    pub agreement_min: usize,
    /// Upstreams a broadcast goes to.
    pub broadcast_fanout_max: usize,
    /// How often each upstream's head is polled.
    pub head_poll_ms: u64,
}

impl PoolConfig {
    /// Settings for `upstreams` of chain `chain` (`chain_id`), with the defaults.
    pub fn new(chain: &str, chain_id: u64, upstreams: Vec<UpstreamConfig>) -> PoolConfig {
        PoolConfig {
            chain: chain.to_string(),
            chain_id,
            upstreams,
            attempt_ms: 2_000,
            call_ms: 5_000,
            hedge_ms_min: 50,
            hedge_ms_max: 1_000,
            lag_blocks_max: 3,
            agreement_min: 2,
            broadcast_fanout_max: 3,
            head_poll_ms: 1_000,
        }
    }

    /// Checks the settings; the reason if they cannot work.
    pub fn validate(&self) -> Result<(), String> {
        let n = self.upstreams.len();
        if n == 0 || n > UPSTREAMS_MAX {
            return Err(format!("chain {}: {n} upstreams; 1 to {UPSTREAMS_MAX} are needed", self.chain));
        }
        if self.agreement_min == 0 || self.agreement_min > n {
            return Err(format!("chain {}: agreement_min {} with {n} upstreams", self.chain, self.agreement_min));
        }
        if self.attempt_ms == 0 || self.call_ms < self.attempt_ms {
            return Err(format!("chain {}: attempt_ms must be > 0 and <= call_ms", self.chain));
        }
        if self.hedge_ms_min > self.hedge_ms_max || self.broadcast_fanout_max == 0 || self.head_poll_ms == 0 {
            return Err(format!("chain {}: hedge_ms_min <= hedge_ms_max, fanout and poll > 0", self.chain));
        }
        let mut labels: Vec<&str> = self.upstreams.iter().map(|u| u.label.as_str()).collect();
        labels.sort_unstable();
        if labels.windows(2).any(|pair| pair[0] == pair[1]) || labels.iter().any(|l| l.is_empty()) {
            return Err(format!("chain {}: upstream labels must be distinct and not empty", self.chain));
        }
        Ok(())
    }
}

/// Why the pool has no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// An upstream refused the request itself (a revert, bad parameters): every upstream would.
    Node {
        /// The node's code.
        code: i64,
        /// The node's message.
        message: String,
    },
    /// No upstream answered: what each said.
    Unavailable(String),
    /// Upstreams answered but not `agreement_min` of them alike.
    NoAgreement(String),
    /// A broadcast's nonce is used (by this transaction, mined, or by another): only a receipt
    /// tells which.
    NonceUsed(String),
}

impl std::fmt::Display for PoolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PoolError::Node { code, message } => write!(f, "node error {code}: {message}"),
            PoolError::Unavailable(why) => write!(f, "no upstream answered: {why}"),
            PoolError::NoAgreement(why) => write!(f, "upstreams disagree: {why}"),
            PoolError::NonceUsed(why) => write!(f, "nonce already used: {why}"),
        }
    }
}

impl std::error::Error for PoolError {}

/// One upstream and what is known of it.
struct Upstream {
    label: String,
    rpc: Rpc,
    health: Mutex<Health>,
    breaker: Mutex<Breaker>,
    /// A head poll is in flight (a black-holed upstream gets one at a time).
    polling: AtomicBool,
}

/// An upstream's state, for the status page and metrics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpstreamStatus {
    /// Its provider.
    pub label: String,
    /// `closed`, `open` or `half-open`.
    pub breaker: String,
    /// Its head, if fresh.
    pub head: Option<u64>,
    /// Blocks behind the best fresh head.
    pub lag_blocks: Option<u64>,
    /// Failed share of recent calls.
    pub error_percent: u64,
    /// Median latency of recent successes.
    pub p50_ms: Option<u64>,
    /// p99 latency of recent successes.
    pub p99_ms: Option<u64>,
    /// Times the breaker opened.
    pub trips: u64,
    /// Times its answer differed from the agreed one.
    pub disagreements: u64,
    /// Calls finished and failed, all time.
    pub calls: u64,
    /// Of which failed.
    pub failures: u64,
}

/// What one attempt came back with.
struct Answer {
    upstream: usize,
    result: Result<Value, RpcError>,
}

/// Upstreams of one chain.
pub struct Pool {
    config: PoolConfig,
    upstreams: Vec<Arc<Upstream>>,
}

impl Pool {
    /// A pool over `config`'s upstreams (validated).
    pub fn new(config: PoolConfig) -> Result<Arc<Pool>, String> {
        config.validate()?;
        let attempt = Duration::from_millis(config.attempt_ms);
        let upstreams = config
            .upstreams
            .iter()
            .map(|u| {
                Arc::new(Upstream {
                    label: u.label.clone(),
                    rpc: Rpc::new(&u.url, attempt),
                    health: Mutex::default(),
                    breaker: Mutex::default(),
                    polling: AtomicBool::new(false),
                })
            })
            .collect();
        Ok(Arc::new(Pool { config, upstreams }))
    }

    /// Its settings.
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// The best fresh head any upstream reported.
    pub fn tip(&self) -> Option<u64> {
        let now = Instant::now();
        self.upstreams.iter().filter_map(|u| u.health.lock().unwrap().head(now)).max()
    }

    /// The highest block at least `agreement_min` upstreams report having: what can be read
    /// with agreement.
    pub fn agreed_tip(&self) -> Option<u64> {
        let now = Instant::now();
        let mut heads: Vec<u64> = self.upstreams.iter().filter_map(|u| u.health.lock().unwrap().head(now)).collect();
        heads.sort_unstable_by(|a, b| b.cmp(a));
        heads.get(self.config.agreement_min - 1).copied()
    }

    /// Each upstream's state.
    pub fn status(&self) -> Vec<UpstreamStatus> {
        let now = Instant::now();
        let tip = self.tip();
        self.upstreams
            .iter()
            .map(|u| {
                let health = u.health.lock().unwrap();
                let breaker = u.breaker.lock().unwrap();
                let head = health.head(now);
                let (calls, failures) = health.totals();
                UpstreamStatus {
                    label: u.label.clone(),
                    breaker: match breaker.state() {
                        State::Closed { .. } => "closed",
                        State::Open { until } if now < until => "open",
                        State::Open { .. } | State::HalfOpen { .. } => "half-open",
                    }
                    .to_string(),
                    head,
                    lag_blocks: tip.zip(head).map(|(tip, head)| tip.saturating_sub(head)),
                    error_percent: health.error_percent(),
                    p50_ms: health.latency_quantile(50).map(|d| d.as_millis() as u64),
                    p99_ms: health.latency_quantile(99).map(|d| d.as_millis() as u64),
                    trips: breaker.trips(),
                    disagreements: health.disagreements(),
                    calls,
                    failures,
                }
            })
            .collect()
    }

    /// Upstream indexes, best first (see the module doc).
    fn ranked(&self) -> Vec<usize> {
        let now = Instant::now();
        let tip = self.tip();
        let mut keyed: Vec<((bool, bool, bool, u64, Duration), usize)> = self
            .upstreams
            .iter()
            .enumerate()
            .map(|(index, u)| {
                let open = u.breaker.lock().unwrap().is_open(now);
                let health = u.health.lock().unwrap();
                let lagging = match (tip, health.head(now)) {
                    (Some(tip), Some(head)) => tip - head.min(tip) > self.config.lag_blocks_max,
                    // Not heard from lately: behind whoever has been.
                    (Some(_), None) => true,
                    (None, _) => false,
                };
                let errors = health.error_percent() / 10;
                let latency = health.latency_quantile(50).unwrap_or_default();
                ((open, health.is_slow(now), lagging, errors, latency), index)
            })
            .collect();
        keyed.sort();
        keyed.into_iter().map(|(_, index)| index).collect()
    }

    /// The hedge delay after starting on `upstream`.
    fn hedge_delay(&self, upstream: usize) -> Duration {
        let p90 = self.upstreams[upstream].health.lock().unwrap().latency_quantile(90).unwrap_or_default();
        p90.clamp(Duration::from_millis(self.config.hedge_ms_min), Duration::from_millis(self.config.hedge_ms_max))
    }

    /// Starts one attempt on `upstream` if its breaker lets it; the answer goes to `answers`.
    fn start(&self, upstream: usize, method: &str, params: &Value, answers: &mpsc::Sender<Answer>) -> bool {
        let chosen = &self.upstreams[upstream];
        if !chosen.breaker.lock().unwrap().allow(Instant::now()) {
            return false;
        }
        let chosen = Arc::clone(chosen);
        let (method, params, answers) = (method.to_string(), params.clone(), answers.clone());
        tokio::spawn(async move {
            let result = attempt(&chosen, &method, params).await;
            // The caller may have its answer already; the outcome above is recorded anyway.
            let _ = answers.send(Answer { upstream, result }).await;
        });
        true
    }

    /// A read: from the best upstream, failing over and hedging (see the module doc). Only for
    /// methods that `methods::kind` calls reads.
    pub async fn read(&self, method: &str, params: Value) -> Result<Value, PoolError> {
        assert_eq!(methods::kind(method), Some(methods::Kind::Read), "{method} is not a read");
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.config.call_ms);
        let (answers, mut answered) = mpsc::channel(self.upstreams.len());
        let mut order = self.ranked().into_iter();
        let mut errors: Vec<String> = Vec::new();
        let mut in_flight = 0usize;
        let mut hedges = 0usize;
        let mut hedge_at = None;
        // Upstreams with an attempt of this call still out.
        let mut pending: Vec<usize> = Vec::with_capacity(self.upstreams.len());
        let mut launch =
            |in_flight: &mut usize, hedge_at: &mut Option<tokio::time::Instant>, pending: &mut Vec<usize>| {
                for upstream in order.by_ref() {
                    if self.start(upstream, method, &params, &answers) {
                        *in_flight += 1;
                        pending.push(upstream);
                        *hedge_at = Some(tokio::time::Instant::now() + self.hedge_delay(upstream));
                        return true;
                    }
                }
                *hedge_at = None;
                false
            };
        if !launch(&mut in_flight, &mut hedge_at, &mut pending) {
            return Err(PoolError::Unavailable(format!("every upstream of {} is cut off", self.config.chain)));
        }
        loop {
            let hedge = hedge_at.filter(|_| hedges < HEDGES_MAX);
            tokio::select! {
                answer = answered.recv() => {
                    let Answer { upstream, result } = answer.expect("the sender is held here");
                    in_flight -= 1;
                    pending.retain(|u| *u != upstream);
                    match result {
                        Ok(value) => return Ok(value),
                        Err(RpcError::Node { code, message }) if methods::is_final(code, &message) => {
                            return Err(PoolError::Node { code, message });
                        }
                        Err(error) => errors.push(format!("{}: {error}", self.upstreams[upstream].label)),
                    }
                    if !launch(&mut in_flight, &mut hedge_at, &mut pending) && in_flight == 0 {
                        return Err(PoolError::Unavailable(errors.join("; ")));
                    }
                }
                _ = tokio::time::sleep_until(hedge.unwrap_or(deadline)), if hedge.is_some() => {
                    hedges += 1;
                    let until = Instant::now() + SLOW_MARK;
                    for upstream in &pending {
                        self.upstreams[*upstream].health.lock().unwrap().mark_slow(until);
                    }
                    launch(&mut in_flight, &mut hedge_at, &mut pending);
                }
                _ = tokio::time::sleep_until(deadline) => {
                    errors.push(format!("no answer within {} ms", self.config.call_ms));
                    return Err(PoolError::Unavailable(errors.join("; ")));
                }
            }
        }
    }

    /// A read that at least `agreement_min` upstreams answer alike, compared on `key(answer)`
    /// (e.g. a block's hash): what crediting money rests on. Every upstream whose breaker lets
    /// it is asked; an upstream whose answer differs from the agreed one is marked, also when it
    /// comes after the agreement.
    pub async fn agree(&self, method: &str, params: Value, key: fn(&Value) -> Value) -> Result<Value, PoolError> {
        assert_eq!(methods::kind(method), Some(methods::Kind::Read), "{method} is not a read");
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.config.call_ms);
        let (answers, mut answered) = mpsc::channel(self.upstreams.len());
        let mut in_flight = 0;
        for upstream in self.ranked() {
            in_flight += usize::from(self.start(upstream, method, &params, &answers));
        }
        // (key, answer, upstreams that gave it)
        let mut groups: Vec<(Value, Value, Vec<usize>)> = Vec::new();
        let mut errors = Vec::new();
        // A final error ("the request is wrong") is an answer too, and needs agreeing like one:
        // one upstream that says so must not stop the read the others answer.
        let mut refusals: Vec<((i64, String), usize)> = Vec::new();
        while in_flight > 0 {
            let answer = tokio::select! {
                answer = answered.recv() => answer.expect("the sender is held here"),
                _ = tokio::time::sleep_until(deadline) => break,
            };
            in_flight -= 1;
            let value = match answer.result {
                Ok(value) => value,
                Err(RpcError::Node { code, message }) if methods::is_final(code, &message) => {
                    let refusal = (code, message);
                    let count = match refusals.iter_mut().find(|(r, _)| *r == refusal) {
                        Some((_, count)) => {
                            *count += 1;
                            *count
                        }
                        None => {
                            refusals.push((refusal.clone(), 1));
                            1
                        }
                    };
                    if count >= self.config.agreement_min {
                        return Err(PoolError::Node { code: refusal.0, message: refusal.1 });
                    }
                    errors.push(format!("{}: {} {}", self.upstreams[answer.upstream].label, refusal.0, refusal.1));
                    continue;
                }
                Err(error) => {
                    errors.push(format!("{}: {error}", self.upstreams[answer.upstream].label));
                    continue;
                }
            };
            let answer_key = key(&value);
            match groups.iter_mut().find(|(k, _, _)| *k == answer_key) {
                Some(group) => group.2.push(answer.upstream),
                None => groups.push((answer_key, value, vec![answer.upstream])),
            }
            if let Some(agreed) = groups.iter().position(|(_, _, who)| who.len() >= self.config.agreement_min) {
                for (index, (_, _, who)) in groups.iter().enumerate() {
                    if index != agreed {
                        for upstream in who {
                            self.upstreams[*upstream].health.lock().unwrap().record_disagreement();
                        }
                    }
                }
                let (agreed_key, agreed_value, _) = groups.swap_remove(agreed);
                // Answers still to come are judged too, so that a slow liar is marked as well.
                let upstreams = self.upstreams.clone();
                let judged = agreed_key;
                tokio::spawn(async move {
                    while in_flight > 0 {
                        let answer = tokio::select! {
                            Some(answer) = answered.recv() => answer,
                            _ = tokio::time::sleep_until(deadline) => return,
                        };
                        in_flight -= 1;
                        if answer.result.is_ok_and(|value| key(&value) != judged) {
                            upstreams[answer.upstream].health.lock().unwrap().record_disagreement();
                        }
                    }
                });
                return Ok(agreed_value);
            }
        }
        let said: Vec<String> = groups
            .iter()
            .map(|(k, _, who)| {
                let labels: Vec<&str> = who.iter().map(|u| self.upstreams[*u].label.as_str()).collect();
                format!("{} said {k}", labels.join("+"))
            })
            .chain(errors)
            .collect();
        Err(PoolError::NoAgreement(format!("{method} needs {} alike; {}", self.config.agreement_min, said.join("; "))))
    }

    /// Sends signed bytes to up to `broadcast_fanout_max` upstreams at once; their hash once one
    /// accepts them (or says it already has them). The other sends go on in the background: a
    /// transaction in several pools survives one provider dropping it.
    pub async fn broadcast(&self, raw: &[u8]) -> Result<B256, PoolError> {
        let hash = keccak256(raw);
        let params = json!([Bytes::copy_from_slice(raw)]);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(self.config.call_ms);
        let (answers, mut answered) = mpsc::channel(self.upstreams.len());
        let mut in_flight = 0;
        for upstream in self.ranked() {
            if in_flight == self.config.broadcast_fanout_max {
                break;
            }
            in_flight += usize::from(self.start(upstream, "eth_sendRawTransaction", &params, &answers));
        }
        if in_flight == 0 {
            return Err(PoolError::Unavailable(format!("every upstream of {} is cut off", self.config.chain)));
        }
        let (mut errors, mut nonce_used, mut refused) = (Vec::new(), None, None);
        while in_flight > 0 {
            let Answer { upstream, result } = tokio::select! {
                answer = answered.recv() => answer.expect("the sender is held here"),
                _ = tokio::time::sleep_until(deadline) => break,
            };
            in_flight -= 1;
            let label = &self.upstreams[upstream].label;
            match result {
                Ok(said) if serde_json::from_value::<B256>(said.clone()).ok() == Some(hash) => return Ok(hash),
                Ok(said) => {
                    // Not the hash of the bytes sent: this upstream lies or is broken.
                    self.upstreams[upstream].health.lock().unwrap().record_disagreement();
                    errors.push(format!("{label}: answered {said}, not {hash}"));
                }
                Err(RpcError::Node { message, .. }) if methods::already_known(&message) => return Ok(hash),
                Err(RpcError::Node { message, .. }) if methods::nonce_used(&message) => {
                    nonce_used = Some(format!("{label}: {message}"));
                }
                Err(RpcError::Node { code, message }) => {
                    errors.push(format!("{label}: {code} {message}"));
                    refused.get_or_insert(PoolError::Node { code, message });
                }
                Err(error) => errors.push(format!("{label}: {error}")),
            }
        }
        if let Some(why) = nonce_used {
            return Err(PoolError::NonceUsed(why));
        }
        Err(refused.unwrap_or(PoolError::Unavailable(errors.join("; "))))
    }

    /// Polls every upstream's head every `head_poll_ms`, for ranking and `tip`, until the pool
    /// is dropped. The polls are also what lets an open breaker try its upstream again when no
    /// other call does.
    pub fn watch_heads(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let pool = Arc::downgrade(self);
        let interval = Duration::from_millis(self.config.head_poll_ms);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(pool) = pool.upgrade() else { return };
                for upstream in &pool.upstreams {
                    if upstream.polling.swap(true, Ordering::AcqRel) {
                        continue;
                    }
                    if !upstream.breaker.lock().unwrap().allow(Instant::now()) {
                        upstream.polling.store(false, Ordering::Release);
                        continue;
                    }
                    let upstream = Arc::clone(upstream);
                    tokio::spawn(async move {
                        let _ = attempt(&upstream, "eth_blockNumber", json!([])).await;
                        upstream.polling.store(false, Ordering::Release);
                    });
                }
            }
        })
    }
}

/// One call to one upstream, its outcome recorded. A node's error about the request itself
/// counts as an answer (the upstream works); anything else as a failure.
async fn attempt(upstream: &Upstream, method: &str, params: Value) -> Result<Value, RpcError> {
    let started = Instant::now();
    let result = upstream.rpc.call::<Value>(method, params).await;
    let now = Instant::now();
    let ok = match &result {
        Ok(_) => true,
        Err(RpcError::Node { code, message }) => {
            methods::is_final(*code, message) || methods::already_known(message) || methods::nonce_used(message)
        }
        Err(_) => false,
    };
    if let (Ok(value), "eth_blockNumber") = (&result, method) {
        if let Ok(head) = serde_json::from_value::<U64>(value.clone()) {
            upstream.health.lock().unwrap().record_head(head.to(), now);
        }
    }
    upstream.health.lock().unwrap().record(ok, now - started);
    upstream.breaker.lock().unwrap().record(ok, now);
    result
}
