//! The single-thread matching-engine benchmark, in the style of exchange-core's.
//!
//! A generation pass drives a real engine with a seeded random mix — place passive GTC limit
//! orders, cancel, move (cancel-replace) and aggressive IOC/market orders that match — keeping
//! about `book_orders` orders resting, and records the commands. Measured passes then apply that
//! exact log to fresh engines: one pass per run with no per-command timing (throughput), and one
//! more timing every command (latency percentiles; the clock read adds its own ~20 ns).

use std::collections::HashMap;
use std::time::Instant;

use outlast_engine::{
    AccountAction, AccountRequest, ClientId, Command, CommandBody, Engine, Event, EventKind, Limits, MarketSpec,
    OrderId, OrderKind, OrderRef, OrderSpec, Outcome, Side, StpMode, TimeInForce,
};

use crate::naive_book::NaiveBook;
use crate::peer_book::{PeerBook, PeerOp, Translator};
use crate::report::{quantile, spread, Spread};
use crate::svg::{Bar, Chart};

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Commands in the measured workload.
    pub ops: usize,
    /// Trading accounts.
    pub accounts: u64,
    /// Resting orders the generator keeps on the book (about).
    pub book_orders: usize,
    /// Throughput runs (the median is reported).
    pub runs: usize,
    /// Seed of the generator.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config { ops: 2_000_000, accounts: 2_000, book_orders: 1_000, runs: 5, seed: 42 }
    }
}

/// The command mix actually generated.
#[derive(Clone, Debug, Default)]
pub struct Mix {
    /// Passive GTC limit orders.
    pub place: usize,
    /// Cancels.
    pub cancel: usize,
    /// Cancel-replace (move).
    pub r#move: usize,
    /// Aggressive IOC limit and market orders.
    pub aggressive: usize,
}

/// What the benchmark measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// The configuration.
    pub config: Config,
    /// The generated mix.
    pub mix: Mix,
    /// Trades in the workload.
    pub trades: usize,
    /// Commands rejected in the workload (should be 0: the generator only makes valid ones).
    pub rejected: usize,
    /// Price levels on the book at the end (both sides).
    pub levels_at_end: usize,
    /// Commands per second over the runs.
    pub ops_per_sec: Spread,
    /// The textbook baseline's commands per second over the same runs (interleaved).
    pub naive_ops_per_sec: Spread,
    /// Engine throughput over baseline throughput, per run pair (median, min, max).
    pub ratio: Spread,
    /// Trades the baseline matched (equal to the engine's: both match the same commands).
    pub naive_trades: usize,
    /// The peer crate's (orderbook-rs) commands per second over the same runs (interleaved).
    pub peer_ops_per_sec: Spread,
    /// Engine throughput over the peer's, per run pair (median, min, max).
    pub peer_ratio: Spread,
    /// Trades the peer made on the workload (equal to the engine's, or the benchmark panics).
    pub peer_trades: usize,
    /// Latency percentiles in ns: p50, p99, p99.9, max.
    pub latency_ns: [u64; 4],
    /// The peer's latency percentiles in ns: p50, p99, p99.9, max.
    pub peer_latency_ns: [u64; 4],
    /// Digest after the workload (equal on every run, or the benchmark panics).
    pub digest: String,
}

/// SplitMix64: a tiny seeded generator (the engine itself never sees it).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const MID: u64 = 100_000;
const FUNDS: u64 = 1 << 50;

/// The commands that set up the exchange: assets, the market, funded accounts.
fn genesis(accounts: u64) -> Vec<Command> {
    let mut log = vec![
        CommandBody::CreateAsset { symbol: "BTC".into(), decimals: 0 },
        CommandBody::CreateAsset { symbol: "USDT".into(), decimals: 0 },
        CommandBody::CreateMarket(MarketSpec {
            symbol: "BTCUSDT".into(),
            base: 0,
            quote: 1,
            tick_size: 1,
            lot_size: 1,
            min_notional: 1,
            maker_fee_ppm: 1_000,
            taker_fee_ppm: 2_000,
        }),
    ];
    for account in 1..=accounts {
        log.push(CommandBody::CreateAccount { account });
        for asset in 0..2 {
            log.push(CommandBody::Deposit {
                account,
                asset,
                amount: FUNDS,
                chain_tx: format!("seed-{account}-{asset}"),
            });
        }
    }
    log.into_iter().map(|body| Command { ts_ms: 1, body, operator: None }).collect()
}

fn limits() -> Limits {
    // The default per-account caps are for real users; the benchmark's few thousand accounts
    // each place far more orders than a person would.
    Limits { open_orders_per_account_max: 10_000, requests_per_account_max: 1_000_000, ..Limits::default() }
}

/// Resting orders the generator knows of, with O(1) random pick and removal.
#[derive(Default)]
struct Resting {
    orders: Vec<(OrderId, u64, Side)>,
    index: HashMap<OrderId, usize>,
}

impl Resting {
    fn add(&mut self, order: (OrderId, u64, Side)) {
        if self.index.contains_key(&order.0) {
            return;
        }
        self.index.insert(order.0, self.orders.len());
        self.orders.push(order);
    }
    fn remove(&mut self, id: OrderId) {
        if let Some(position) = self.index.remove(&id) {
            self.orders.swap_remove(position);
            if let Some(moved) = self.orders.get(position) {
                self.index.insert(moved.0, position);
            }
        }
    }
}

/// A passive price on `side`: 1 to ~64 ticks away from the middle, denser near it.
fn passive_price(rng: &mut Rng, side: Side) -> u64 {
    let offset = 1 + rng.below(8) * rng.below(8) + rng.below(4);
    match side {
        Side::Buy => MID - offset,
        Side::Sell => MID + offset,
    }
}

/// Generates the workload by driving an engine; returns (genesis, workload, mix). The first
/// `book_orders` workload commands only build the book (the warm-up).
pub fn generate(config: &Config) -> (Vec<Command>, Vec<Command>, Mix) {
    let genesis = genesis(config.accounts);
    let mut engine = Engine::new(limits());
    let mut events: Vec<Event> = Vec::new();
    for command in &genesis {
        assert!(matches!(engine.apply(command, &mut events), Outcome::Applied(_)));
    }
    let mut rng = Rng(config.seed);
    let mut resting = Resting::default();
    let mut workload = Vec::with_capacity(config.ops);
    let mut mix = Mix::default();
    let warmup = config.book_orders;
    let mut next_request = 0u64;
    for index in 0..warmup + config.ops {
        // 1 ms of exchange time per 1,000 commands: a busy market.
        let ts_ms = 2 + (index as u64) / 1_000;
        let account = 1 + rng.below(config.accounts);
        next_request += 1;
        let request_id = ClientId::from_u64(next_request);
        let side = if rng.below(2) == 0 { Side::Buy } else { Side::Sell };
        let fill = resting.orders.len() as f64 / config.book_orders as f64;
        let roll = rng.below(100);
        let action = if index < warmup || (roll < 40 && fill < 1.1) || resting.orders.is_empty() || fill < 0.9 {
            mix.place += usize::from(index >= warmup);
            let kind = OrderKind::Limit {
                price: passive_price(&mut rng, side),
                qty: 1 + rng.below(100),
                tif: TimeInForce::Gtc,
            };
            AccountAction::PlaceOrder(OrderSpec { market: 0, side, kind, stp: StpMode::None })
        } else if roll < 65 {
            mix.cancel += usize::from(index >= warmup);
            let (order, owner, _) = resting.orders[rng.below(resting.orders.len() as u64) as usize];
            let request = AccountRequest {
                account: owner,
                request_id,
                request_ts_ms: ts_ms,
                action: AccountAction::CancelOrder { market: 0, target: OrderRef::Id(order) },
            };
            workload_push(&mut engine, &mut events, &mut resting, &mut workload, ts_ms, request);
            continue;
        } else if roll < 92 {
            mix.r#move += usize::from(index >= warmup);
            let (order, owner, side) = resting.orders[rng.below(resting.orders.len() as u64) as usize];
            let kind = OrderKind::Limit {
                price: passive_price(&mut rng, side),
                qty: 1 + rng.below(100),
                tif: TimeInForce::Gtc,
            };
            let new_order = OrderSpec { market: 0, side, kind, stp: StpMode::None };
            let request = AccountRequest {
                account: owner,
                request_id,
                request_ts_ms: ts_ms,
                action: AccountAction::CancelReplace { target: OrderRef::Id(order), new_order },
            };
            workload_push(&mut engine, &mut events, &mut resting, &mut workload, ts_ms, request);
            continue;
        } else {
            mix.aggressive += usize::from(index >= warmup);
            let qty = 1 + rng.below(200);
            let kind = if roll < 97 {
                let price = match side {
                    Side::Buy => MID + 1 + rng.below(6),
                    Side::Sell => MID - 1 - rng.below(6),
                };
                OrderKind::Limit { price, qty, tif: TimeInForce::Ioc }
            } else {
                OrderKind::MarketBase { qty }
            };
            AccountAction::PlaceOrder(OrderSpec { market: 0, side, kind, stp: StpMode::None })
        };
        let request = AccountRequest { account, request_id, request_ts_ms: ts_ms, action };
        workload_push(&mut engine, &mut events, &mut resting, &mut workload, ts_ms, request);
    }
    (genesis, workload, mix)
}

/// Applies one generated request to the generation engine, tracks resting orders, and keeps it.
fn workload_push(
    engine: &mut Engine,
    events: &mut Vec<Event>,
    resting: &mut Resting,
    workload: &mut Vec<Command>,
    ts_ms: u64,
    request: AccountRequest,
) {
    let command = Command { ts_ms, body: CommandBody::Account(request), operator: None };
    events.clear();
    engine.apply(&command, events);
    for event in events.iter() {
        if let EventKind::Order(update) = &event.kind {
            if update.status.is_open() {
                resting.add((update.order, update.account, update.side));
            } else {
                resting.remove(update.order);
            }
        }
    }
    workload.push(command);
}

/// Applies `log` to `engine`, discarding events as a consumer would; returns (rejected, trades).
/// As a node applies a log entry's batch, each command's id slot is prefetched while the one
/// before applies (`Engine::prefetch`).
fn apply_all(engine: &mut Engine, log: &[Command]) -> (usize, usize) {
    let mut events = Vec::with_capacity(64);
    let (mut rejected, mut trades) = (0, 0);
    for (i, command) in log.iter().enumerate() {
        if let Some(next) = log.get(i + 1) {
            engine.prefetch(next);
        }
        events.clear();
        if let Outcome::Rejected(_) = engine.apply(command, &mut events) {
            rejected += 1;
        }
        trades += events.iter().filter(|e| matches!(e.kind, EventKind::Trade(_))).count();
    }
    (rejected, trades)
}

/// Runs the benchmark.
pub fn run(config: &Config) -> Report {
    crate::memory::keep_freed_memory();
    let (genesis, full, mix) = generate(config);
    // The first `book_orders` commands only build the book; they are applied untimed.
    let warmup = config.book_orders.min(full.len());
    let (warm, workload) = full.split_at(warmup);
    let fresh = || {
        let mut engine = Engine::new(limits());
        apply_all(&mut engine, &genesis);
        apply_all(&mut engine, warm);
        engine
    };
    let mut translator = Translator::starting_at(1);
    let peer_warm = translator.translate(warm);
    let peer_workload = translator.translate(workload);
    let fresh_peer = || {
        let peer = PeerBook::default();
        peer_warm.iter().for_each(|op| peer.apply(op));
        peer
    };
    let (peer_refused, peer_trades) = {
        let (_, warm_trades) = PeerBook::validate(&peer_warm);
        let all: Vec<PeerOp> = peer_warm.iter().chain(&peer_workload).copied().collect();
        let (refused, trades) = PeerBook::validate(&all);
        (refused, trades - warm_trades)
    };
    assert_eq!(peer_refused, 0, "the peer accepts every translated call");
    let mut rates = Vec::new();
    let (mut naive_rates, mut ratios, mut naive_trades) = (Vec::new(), Vec::new(), 0);
    let (mut peer_rates, mut peer_ratios) = (Vec::new(), Vec::new());
    let mut digest = None;
    let (mut rejected, mut trades, mut levels_at_end) = (0, 0, 0);
    for _ in 0..config.runs.max(1) {
        let mut engine = fresh();
        let started = Instant::now();
        let (r, t) = apply_all(&mut engine, workload);
        let seconds = started.elapsed().as_secs_f64();
        rates.push(workload.len() as f64 / seconds);
        // The baseline runs right after, on the same commands, so both see the same machine.
        let mut naive = NaiveBook::starting_at(1);
        warm.iter().for_each(|command| naive.apply(command));
        let warm_trades = naive.trades;
        let started = Instant::now();
        workload.iter().for_each(|command| naive.apply(command));
        let naive_rate = workload.len() as f64 / started.elapsed().as_secs_f64();
        naive_rates.push(naive_rate);
        ratios.push(rates[rates.len() - 1] / naive_rate);
        naive_trades = naive.trades - warm_trades;
        let peer = fresh_peer();
        let started = Instant::now();
        peer_workload.iter().for_each(|op| peer.apply(op));
        let peer_rate = workload.len() as f64 / started.elapsed().as_secs_f64();
        peer_rates.push(peer_rate);
        peer_ratios.push(rates[rates.len() - 1] / peer_rate);
        drop(peer);
        let d = engine.digest_hex();
        assert!(digest.as_ref().is_none_or(|previous| previous == &d), "runs of the same log diverged");
        digest = Some(d);
        (rejected, trades) = (r, t);
        levels_at_end = engine.depth(0, usize::MAX).map(|d| d.bids.len() + d.asks.len()).unwrap_or(0);
    }
    let mut engine = fresh();
    let mut events = Vec::with_capacity(64);
    let mut latencies: Vec<u64> = Vec::with_capacity(workload.len());
    for (i, command) in workload.iter().enumerate() {
        events.clear();
        let started = Instant::now();
        if let Some(next) = workload.get(i + 1) {
            engine.prefetch(next);
        }
        engine.apply(command, &mut events);
        latencies.push(started.elapsed().as_nanos() as u64);
    }
    let latency_ns = percentiles(latencies);
    let peer = fresh_peer();
    let peer_latency_ns = percentiles(time_each(&peer_workload, |op| peer.apply(op)));
    assert_eq!(peer_trades, trades, "the peer and the engine match the same orders the same way");
    Report {
        config: config.clone(),
        mix,
        trades,
        rejected,
        levels_at_end,
        ops_per_sec: spread(&rates).expect("at least one run"),
        naive_ops_per_sec: spread(&naive_rates).expect("at least one run"),
        ratio: spread(&ratios).expect("at least one run"),
        naive_trades,
        peer_ops_per_sec: spread(&peer_rates).expect("at least one run"),
        peer_ratio: spread(&peer_ratios).expect("at least one run"),
        peer_trades,
        latency_ns,
        peer_latency_ns,
        digest: digest.expect("at least one run"),
    }
}

/// Times `apply` on each of `ops`, in ns.
fn time_each(ops: &[PeerOp], apply: impl Fn(&PeerOp)) -> Vec<u64> {
    ops.iter()
        .map(|op| {
            let started = Instant::now();
            apply(op);
            started.elapsed().as_nanos() as u64
        })
        .collect()
}

/// p50, p99, p99.9 and max of `latencies`.
fn percentiles(mut latencies: Vec<u64>) -> [u64; 4] {
    latencies.sort_unstable();
    [
        quantile(&latencies, 0.50),
        quantile(&latencies, 0.99),
        quantile(&latencies, 0.999),
        *latencies.last().expect("non-empty workload"),
    ]
}

impl Report {
    /// The report as a BENCHMARKS.md section body.
    pub fn markdown(&self, machine: &str, command: &str, date: &str) -> String {
        let c = &self.config;
        let m = &self.mix;
        let total = (m.place + m.cancel + m.r#move + m.aggressive).max(1) as f64;
        let pct = |n: usize| 100.0 * n as f64 / total;
        format!(
            "### Matching engine, single thread\n\n\
             - Command: `{command}`\n\
             - Date: {date}\n\
             - Machine: {machine}\n\
             - Workload: {ops} commands after a {book}-order warm-up, {accounts} accounts, one market; \
             mix {place:.0} % passive GTC limit, {cancel:.0} % cancel, {mv:.0} % move (cancel-replace), \
             {aggr:.0} % aggressive IOC/market; {trades} trades; {rejected} rejected; seed {seed}. \
             Every command goes through the full engine path: request-id dedup, validation, locking, \
             matching, fees, events (order updates, trades, balances, depth deltas). Each run starts \
             from a fresh engine; memory freed by one run is reused by the next (as in a node that \
             has been up for a while), so the first run is the cold one and usually the minimum.\n\n\
             | figure | median | min | max |\n|---|---|---|---|\n\
             | Outlast engine, commands/s ({runs} runs) | {med:.2} M | {min:.2} M | {max:.2} M |\n\
             | textbook book (baseline, same commands, same runs), commands/s | {nmed:.2} M | {nmin:.2} M | {nmax:.2} M |\n\
             | ratio engine / baseline (per run pair) | {rmed:.2} | {rmin:.2} | {rmax:.2} |\n\
             | orderbook-rs 0.15.3 (peer crate, same orders, same runs), commands/s | {pmed:.2} M | {pmin:.2} M | {pmaxr:.2} M |\n\
             | ratio engine / orderbook-rs (per run pair) | {qmed:.2} | {qmin:.2} | {qmax:.2} |\n\n\
             | latency per command, ns (one timed run each) | p50 | p99 | p99.9 | max |\n|---|---|---|---|---|\n\
             | Outlast engine | {p50} | {p99} | {p999} | {pmax} |\n\
             | orderbook-rs | {q50} | {q99} | {q999} | {qmaxl} |\n\n\
             orderbook-rs gets the same orders translated to its own calls (GTC/IOC limit, market, \
             cancel, and its native `Replace` for a move); it made the same {peer_trades} trades. It \
             matches only: no accounts, funds, fees, idempotency or account events.\n\n\
             Reference: exchange-core publishes ~5 M ops/s on 2015-era hardware; ratio to that figure: {ratio:.2}×.\n",
            ops = c.ops,
            book = c.book_orders,
            accounts = c.accounts,
            place = pct(m.place),
            cancel = pct(m.cancel),
            mv = pct(m.r#move),
            aggr = pct(m.aggressive),
            trades = self.trades,
            rejected = self.rejected,
            seed = c.seed,
            runs = c.runs,
            med = self.ops_per_sec.median / 1e6,
            min = self.ops_per_sec.min / 1e6,
            max = self.ops_per_sec.max / 1e6,
            nmed = self.naive_ops_per_sec.median / 1e6,
            nmin = self.naive_ops_per_sec.min / 1e6,
            nmax = self.naive_ops_per_sec.max / 1e6,
            rmed = self.ratio.median,
            rmin = self.ratio.min,
            rmax = self.ratio.max,
            p50 = self.latency_ns[0],
            p99 = self.latency_ns[1],
            p999 = self.latency_ns[2],
            pmax = self.latency_ns[3],
            pmed = self.peer_ops_per_sec.median / 1e6,
            pmin = self.peer_ops_per_sec.min / 1e6,
            pmaxr = self.peer_ops_per_sec.max / 1e6,
            qmed = self.peer_ratio.median,
            qmin = self.peer_ratio.min,
            qmax = self.peer_ratio.max,
            q50 = self.peer_latency_ns[0],
            q99 = self.peer_latency_ns[1],
            q999 = self.peer_latency_ns[2],
            qmaxl = self.peer_latency_ns[3],
            peer_trades = self.peer_trades,
            ratio = self.ops_per_sec.median / 5e6,
        )
    }
}

impl Report {
    /// The comparison as a chart: commands/s of the engine, the peer crate and the baseline,
    /// with exchange-core's published figure and the goal as references.
    pub fn chart(&self) -> Chart {
        let bar =
            |label: &str, s: &Spread, ours| Bar { label: label.into(), median: s.median, min: s.min, max: s.max, ours };
        Chart {
            title: "Matching engine, single thread: commands per second".into(),
            unit: "commands/s".into(),
            groups: vec![(
                String::new(),
                vec![
                    bar("Outlast engine (full path)", &self.ops_per_sec, true),
                    bar("orderbook-rs 0.15.3 (matching only)", &self.peer_ops_per_sec, false),
                    bar("textbook book (matching only)", &self.naive_ops_per_sec, false),
                    Bar::theirs("exchange-core (published)", EXCHANGE_CORE_OPS, EXCHANGE_CORE_OPS, EXCHANGE_CORE_OPS),
                ],
            )],
            lines: vec![("goal".into(), GOAL_OPS)],
            log: false,
        }
    }
}

/// exchange-core's published single-thread figure, quoted as a reference (not measured here).
pub const EXCHANGE_CORE_OPS: f64 = 5e6;
/// The goal for the engine, commands per second.
pub const GOAL_OPS: f64 = 6e6;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generated_workload_is_valid_and_keeps_the_book_near_its_target() {
        let config = Config { ops: 20_000, accounts: 50, book_orders: 300, runs: 1, seed: 7 };
        let report = run(&config);
        assert_eq!(report.rejected, 0, "the generator makes only valid commands");
        assert_eq!(report.naive_trades, report.trades, "the baseline matches the same commands the same way");
        assert!(report.trades > 100, "aggressive orders match");
        assert!(report.mix.cancel > 1_000 && report.mix.r#move > 1_000 && report.mix.aggressive > 500);
        assert!(report.levels_at_end > 0);
    }
}
