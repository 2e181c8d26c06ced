//! The public API under load on a 3-node loopback cluster of real processes.
//!
//! REST: concurrent clients place signed orders through the leader's HTTP API (HMAC signing,
//! parsing, weights, JSON) with the failover client, each on its own account; the same
//! orders go through the internal binary protocol in the same run as the baseline, so the ratio
//! is the API's overhead. Orders are IOC limits that find nothing to match: each is a full
//! replicated write that leaves no resting state behind.
//!
//! WebSocket fan-out: subscribers on a follower's `<symbol>@trade` stream while trades are
//! generated; a run counts when every subscriber received every trade, in order.
//!
//! Market data: concurrent `depth` and `klines` reads on a follower, against `ping` in the same
//! run.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use outlast_client::{Client, Credentials, FailoverPolicy};
use outlast_cluster::protocol::{ClientReply, ClientRequest, Connection};
use outlast_cluster::Identity;
use outlast_engine::{
    AccountAction, AccountRequest, ClientId, CommandBody, OrderKind, OrderSpec, Side, StpMode, TimeInForce,
};

use crate::report::quantile;
use outlast_lab::processes::{ProcessCluster, OPERATOR_TOKEN};

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// REST client concurrencies.
    pub concurrencies: Vec<usize>,
    /// Orders per client per measurement.
    pub orders_per_client: usize,
    /// WebSocket subscriber counts.
    pub subscribers: Vec<usize>,
    /// Trades generated per fan-out measurement.
    pub trades: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { concurrencies: vec![1, 16, 64], orders_per_client: 200, subscribers: vec![1, 100, 1000], trades: 500 }
    }
}

/// One REST concurrency's result, with the internal-protocol baseline.
#[derive(Clone, Debug)]
pub struct Rest {
    /// Concurrent clients.
    pub clients: usize,
    /// Orders/s through REST.
    pub rest_per_sec: f64,
    /// REST latency p50 / p99 in ms.
    pub rest_ms: [f64; 2],
    /// Orders/s through the internal protocol.
    pub internal_per_sec: f64,
    /// Internal latency p50 / p99 in ms.
    pub internal_ms: [f64; 2],
}

/// One fan-out measurement.
#[derive(Clone, Debug)]
pub struct FanOut {
    /// Subscribers.
    pub subscribers: usize,
    /// Trades generated.
    pub trades: usize,
    /// Messages delivered per second over all subscribers.
    pub delivered_per_sec: f64,
    /// Trades generated per second meanwhile.
    pub generated_per_sec: f64,
    /// Publish (the leader's stamp) to receive (a subscriber's read), p50 / p99 in ms, over
    /// every message of every subscriber.
    pub receive_ms: (f64, f64),
}

/// One market-data endpoint read concurrently from one follower.
#[derive(Clone, Debug)]
pub struct Reads {
    /// What was asked.
    pub what: &'static str,
    /// Concurrent clients.
    pub clients: usize,
    /// Rows in one answer (candles, or levels per side).
    pub rows: usize,
    /// Requests/s over all clients.
    pub per_sec: f64,
    /// Latency p50 / p99 in ms.
    pub ms: [f64; 2],
}

/// The report.
#[derive(Clone, Debug)]
pub struct Report {
    /// The configuration.
    pub config: Config,
    /// REST results over HTTP.
    pub rest: Vec<Rest>,
    /// REST results over HTTPS (a second cluster whose API has `[api_tls]`, same run).
    pub rest_tls: Vec<Rest>,
    /// Fan-out results.
    pub fan_out: Vec<FanOut>,
    /// Market-data reads on a follower, `ping` first as the baseline.
    pub reads: Vec<Reads>,
}

pub(crate) const DEADLINE: Duration = Duration::from_secs(60);
pub(crate) const ACCOUNTS: u64 = 1_000;

fn params(pairs: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Market BTCUSDT and `accounts` funded accounts with keys.
pub(crate) async fn setup(admin: &Client, accounts: u64) -> Vec<Credentials> {
    let op = |path: &'static str, p: Vec<(&'static str, String)>| async move {
        admin.operator(OPERATOR_TOKEN, "POST", path, &p).await.expect("operator call")
    };
    op("/operator/v1/assets", params(&[("symbol", "BTC"), ("decimals", "8")])).await;
    op("/operator/v1/assets", params(&[("symbol", "USDT"), ("decimals", "6")])).await;
    let market = [
        ("symbol", "BTCUSDT"),
        ("baseAsset", "BTC"),
        ("quoteAsset", "USDT"),
        ("tickSize", "0.01"),
        ("stepSize", "0.0001"),
        ("minNotional", "1"),
    ];
    op("/operator/v1/markets", params(&market)).await;
    let mut keys = Vec::new();
    for account in 1..=accounts {
        let a = account.to_string();
        op("/operator/v1/accounts", params(&[("account", &a)])).await;
        for (coin, amount) in [("USDT", "1000000000"), ("BTC", "1000000")] {
            op(
                "/operator/v1/deposits",
                params(&[("account", &a), ("coin", coin), ("amount", amount), ("txId", &format!("{coin}-{a}"))]),
            )
            .await;
        }
        let key = op("/operator/v1/apiKeys", params(&[("account", &a)])).await;
        keys.push(Credentials {
            key: key["apiKey"].as_str().unwrap_or("").into(),
            secret: key["secretKey"].as_str().unwrap_or("").into(),
        });
    }
    keys
}

fn latency_ms(mut micros: Vec<u64>) -> [f64; 2] {
    micros.sort_unstable();
    [quantile(&micros, 0.5) as f64 / 1e3, quantile(&micros, 0.99) as f64 / 1e3]
}

/// Holds a client back until every client is set up, so that the clock times the requests
/// alone: at 256 clients, opening 256 mutual-TLS connections inside the measured span took a
/// large and varying share of it.
pub(crate) struct Start {
    ready: tokio::sync::mpsc::Sender<()>,
    go: tokio::sync::watch::Receiver<bool>,
}

impl Start {
    /// Says this client is ready and waits for the others.
    pub(crate) async fn wait(self) {
        let Start { ready, mut go } = self;
        let _ = ready.send(()).await;
        // Dropped here, so that `measure` sees every client ready (or gone) by the channel
        // closing, whatever happened to any of them.
        drop(ready);
        let _ = go.wait_for(|go| *go).await;
    }
}

/// Runs `clients` concurrent clients (`client(n, start)` is client n: it sets itself up, calls
/// `start.wait()`, then returns its latencies in µs); the operations per second over all of them
/// from the moment all were set up, and p50 / p99 latency in ms.
pub(crate) async fn measure<Fut>(clients: usize, client: impl Fn(usize, Start) -> Fut) -> (f64, [f64; 2])
where
    Fut: std::future::Future<Output = Vec<u64>> + Send + 'static,
{
    let (ready, mut readied) = tokio::sync::mpsc::channel(clients.max(1));
    let (go, went) = tokio::sync::watch::channel(false);
    let tasks: Vec<_> =
        (0..clients).map(|n| tokio::spawn(client(n, Start { ready: ready.clone(), go: went.clone() }))).collect();
    drop(ready);
    // Closed once every client has said it is ready or has ended (a failed set-up panics, and
    // its panic is reported below).
    while readied.recv().await.is_some() {}
    let started = Instant::now();
    let _ = go.send(true);
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("client task"));
    }
    (latencies.len() as f64 / started.elapsed().as_secs_f64(), latency_ms(latencies))
}

pub(crate) async fn rest_load(
    endpoint: &str,
    tls: Option<&rustls::ClientConfig>,
    keys: &[Credentials],
    clients: usize,
    per_client: usize,
    round: usize,
) -> (f64, [f64; 2]) {
    measure(clients, |n, start| {
        let client = Client::with_tls(
            vec![endpoint.to_string()],
            Some(keys[n].clone()),
            FailoverPolicy::default(),
            tls.cloned(),
        );
        async move {
            start.wait().await;
            let mut latencies = Vec::with_capacity(per_client);
            for n in 0..per_client {
                let order = params(&[
                    ("symbol", "BTCUSDT"),
                    ("side", "BUY"),
                    ("type", "LIMIT"),
                    ("timeInForce", "IOC"),
                    ("quantity", "1"),
                    ("price", "1"),
                    ("newOrderRespType", "ACK"),
                    ("newClientOrderId", &format!("r{round}-{n}")),
                ]);
                let sent = Instant::now();
                client.place_order(&order).await.expect("order through REST");
                latencies.push(sent.elapsed().as_micros() as u64);
            }
            latencies
        }
    })
    .await
}

fn ioc_order(account: u64, id: &str, side: Side, price: u64, qty: u64, tif: TimeInForce) -> CommandBody {
    CommandBody::Account(AccountRequest {
        account,
        request_id: ClientId::new(id).expect("valid id"),
        request_ts_ms: now_ms(),
        action: AccountAction::PlaceOrder(OrderSpec {
            market: 0,
            side,
            kind: OrderKind::Limit { price, qty, tif },
            stp: StpMode::None,
        }),
    })
}

pub(crate) async fn internal_load(
    cluster: &ProcessCluster,
    to: u64,
    clients: usize,
    per_client: usize,
    round: usize,
) -> (f64, [f64; 2]) {
    measure(clients, |client, start| {
        let (addr, dialer) = (cluster.client_addr(to).to_string(), cluster.dialer().clone());
        async move {
            let mut connection = Connection::open(&dialer, &addr, &Identity::Node(to)).await.expect("connect");
            start.wait().await;
            let mut latencies = Vec::with_capacity(per_client);
            for n in 0..per_client {
                // The same order as the REST one: IOC buy of 1 BTC (10^8 minor) at 1 USDT (10^6 minor).
                let body = ioc_order(
                    client as u64 + 1,
                    &format!("i{round}-{n}"),
                    Side::Buy,
                    1_000_000,
                    100_000_000,
                    TimeInForce::Ioc,
                );
                let request = ClientRequest::Submit { body, forwarded: false, operator_token: None, operator: None };
                let sent = Instant::now();
                match connection.request(&request, DEADLINE).await {
                    Ok(ClientReply::Outcome { .. }) => latencies.push(sent.elapsed().as_micros() as u64),
                    other => panic!("order failed during the benchmark: {other:?}"),
                }
            }
            latencies
        }
    })
    .await
}

async fn fan_out(
    cluster: &ProcessCluster,
    leader: u64,
    follower: u64,
    subscribers: usize,
    trades: usize,
    round: usize,
) -> FanOut {
    let url = format!("ws://{}/ws/btcusdt@trade", cluster.api_addr(follower));
    let mut sockets = Vec::with_capacity(subscribers);
    for _ in 0..subscribers {
        let (socket, _) = tokio_tungstenite::connect_async(&url).await.expect("subscribe");
        sockets.push(socket);
    }
    let readers: Vec<_> = sockets
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let mut last_trade = 0u64;
                let mut seen = 0;
                let mut latencies_ms = Vec::with_capacity(trades);
                while seen < trades {
                    match tokio::time::timeout(DEADLINE, socket.next()).await {
                        Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text)))) => {
                            let value: serde_json::Value = serde_json::from_str(&text).expect("JSON");
                            let id = value["t"].as_u64().expect("trade id");
                            assert!(last_trade == 0 || id == last_trade + 1, "trades arrive in order without gaps");
                            // Publish to receive: the leader stamped the trade (`T`) on this
                            // machine's clock before replicating it.
                            let stamped_ms = value["T"].as_u64().expect("trade time");
                            latencies_ms.push(now_ms().saturating_sub(stamped_ms));
                            last_trade = id;
                            seen += 1;
                        }
                        Ok(Some(Ok(_))) => {}
                        other => panic!("subscriber lost its stream: {other:?}"),
                    }
                }
                (Instant::now(), latencies_ms)
            })
        })
        .collect();
    let addr = cluster.client_addr(leader).to_string();
    let started = Instant::now();
    let mut connection = Connection::open(cluster.dialer(), &addr, &Identity::Node(leader)).await.expect("connect");
    for n in 0..trades {
        let price = 2_000_000_000;
        let maker = ioc_order(1, &format!("m{round}-{n}"), Side::Sell, price, 100_000, TimeInForce::Gtc);
        let taker = ioc_order(2, &format!("t{round}-{n}"), Side::Buy, price, 100_000, TimeInForce::Ioc);
        for body in [maker, taker] {
            let request = ClientRequest::Submit { body, forwarded: false, operator_token: None, operator: None };
            assert!(matches!(connection.request(&request, DEADLINE).await, Ok(ClientReply::Outcome { .. })));
        }
    }
    let generated = started.elapsed().as_secs_f64();
    let mut last = started;
    let mut latencies_ms = Vec::with_capacity(subscribers * trades);
    for reader in readers {
        let (done, latencies) = reader.await.expect("subscriber");
        last = last.max(done);
        latencies_ms.extend(latencies);
    }
    let seconds = (last - started).as_secs_f64();
    latencies_ms.sort_unstable();
    FanOut {
        subscribers,
        trades,
        delivered_per_sec: (subscribers * trades) as f64 / seconds,
        generated_per_sec: trades as f64 / generated,
        receive_ms: (quantile(&latencies_ms, 0.50) as f64, quantile(&latencies_ms, 0.99) as f64),
    }
}

/// A server certificate for 127.0.0.1 from a CA of its own, in `dir`: the files a node's
/// `[api_tls]` names, and a client configuration that trusts them.
fn https_material(dir: &Path) -> std::io::Result<(outlast_cluster::config::ApiTlsConfig, rustls::ClientConfig)> {
    let (ca, ca_pem) = outlast_tls::Authority::generate("bench").map_err(std::io::Error::other)?;
    let issued = ca.issue_server(&["127.0.0.1".to_string()]).map_err(std::io::Error::other)?;
    let files = outlast_cluster::config::ApiTlsConfig { cert_file: dir.join("api.pem"), key_file: dir.join("api.key") };
    std::fs::write(&files.cert_file, &issued.cert_pem)?;
    std::fs::write(&files.key_file, &issued.key_pem)?;
    std::fs::write(dir.join("api-ca.pem"), &ca_pem)?;
    Ok((files, outlast_client::trusting_ca_file(&dir.join("api-ca.pem"))?))
}

/// One cluster's REST rounds, each interleaved with its internal-protocol baseline; over
/// HTTPS if `https` is given. The cluster, its leader and the keys, for more measurements.
async fn rest_rounds(
    binary: &Path,
    config: &Config,
    https: Option<(&outlast_cluster::config::ApiTlsConfig, &rustls::ClientConfig)>,
) -> std::io::Result<(ProcessCluster, u64, Vec<Rest>)> {
    // Every load client shares 127.0.0.1: lift the per-IP and per-key weight limits.
    let api_tls = https.map(|(files, _)| files.clone());
    let settings = move |node: &mut outlast_cluster::config::NodeConfig| {
        crate::unthrottled(node);
        node.api_tls = api_tls.clone();
    };
    let mut cluster = ProcessCluster::loopback(binary, &["aws", "gcp", "azure"], &[], settings)?;
    cluster.spawn_all().map_err(std::io::Error::other)?;
    let ids = cluster.ids();
    let leader = cluster.leader(&ids, DEADLINE).await.ok_or_else(|| std::io::Error::other("no leader"))?;
    let scheme = if https.is_some() { "https" } else { "http" };
    let endpoint = format!("{scheme}://{}", cluster.api_addr(leader));
    let tls = https.map(|(_, client)| client);
    let admin = Client::with_tls(vec![endpoint.clone()], None, FailoverPolicy::default(), tls.cloned());
    let accounts = config.concurrencies.iter().copied().max().unwrap_or(1).max(2) as u64;
    assert!(accounts <= ACCOUNTS);
    let keys = Arc::new(setup(&admin, accounts).await);
    let mut rest = Vec::new();
    for (round, &clients) in config.concurrencies.iter().enumerate() {
        // Interleaved in one run, so that a noisy machine affects both alike.
        let (internal_per_sec, internal_ms) =
            internal_load(&cluster, leader, clients, config.orders_per_client, round).await;
        let (rest_per_sec, rest_ms) = rest_load(&endpoint, tls, &keys, clients, config.orders_per_client, round).await;
        rest.push(Rest { clients, rest_per_sec, rest_ms, internal_per_sec, internal_ms });
    }
    Ok((cluster, leader, rest))
}

/// Rests `levels` bids and `levels` asks, one order per price, far from the trades' prices, so
/// that `depth` has a book to answer.
async fn seed_book(cluster: &ProcessCluster, leader: u64, levels: u64) {
    let addr = cluster.client_addr(leader).to_string();
    let mut connection = Connection::open(cluster.dialer(), &addr, &Identity::Node(leader)).await.expect("connect");
    for level in 0..levels {
        // 0.01 BTC at 100 + level USDT (bids, account 1) and at 10,000 + level USDT (asks, account 2).
        for (account, side, price) in [(1, Side::Buy, 100 + level), (2, Side::Sell, 10_000 + level)] {
            let id = format!("book-{account}-{level}");
            let body = ioc_order(account, &id, side, price * 1_000_000, 1_000_000, TimeInForce::Gtc);
            let request = ClientRequest::Submit { body, forwarded: false, operator_token: None, operator: None };
            match connection.request(&request, DEADLINE).await {
                Ok(ClientReply::Outcome { .. }) => {}
                other => panic!("a resting order failed: {other:?}"),
            }
        }
    }
}

/// Market-data reads from `clients` concurrent clients on one node (`endpoint`), `per_client`
/// each, endpoint after endpoint: `ping` (the HTTP path alone, the baseline), a 100-level book,
/// up to 500 one-second candles, and daily candles at UTC+5:45 (folded from the 15-minute series).
async fn market_reads(endpoint: &str, clients: usize, per_client: usize) -> Vec<Reads> {
    let asks: [(&'static str, &'static str, Vec<(&'static str, String)>); 4] = [
        ("`ping` (baseline)", "/api/v3/ping", Vec::new()),
        ("`depth`, limit 100", "/api/v3/depth", params(&[("symbol", "BTCUSDT"), ("limit", "100")])),
        (
            "`klines` 1s, limit 500",
            "/api/v3/klines",
            params(&[("symbol", "BTCUSDT"), ("interval", "1s"), ("limit", "500")]),
        ),
        (
            "`klines` 1d at UTC+5:45 (folded from 15m)",
            "/api/v3/klines",
            params(&[("symbol", "BTCUSDT"), ("interval", "1d"), ("timeZone", "05:45")]),
        ),
    ];
    let mut out = Vec::new();
    for (what, path, query) in asks {
        let probe = Client::new(vec![endpoint.to_string()], None, FailoverPolicy::default());
        let answer = probe.public("GET", path, &query).await.expect("a market-data read");
        let rows = answer.as_array().map_or_else(|| answer["asks"].as_array().map_or(0, Vec::len), Vec::len);
        let (per_sec, ms) = measure(clients, |_, start| {
            let client = Client::new(vec![endpoint.to_string()], None, FailoverPolicy::default());
            let query = query.clone();
            async move {
                start.wait().await;
                let mut latencies = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    let sent = Instant::now();
                    client.public("GET", path, &query).await.expect("a market-data read");
                    latencies.push(sent.elapsed().as_micros() as u64);
                }
                latencies
            }
        })
        .await;
        out.push(Reads { what, clients, rows, per_sec, ms });
    }
    out
}

/// Runs the benchmark with `binary` as the `outlast` executable.
pub fn run(binary: &Path, config: &Config) -> std::io::Result<Report> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let scratch = tempfile::tempdir()?;
        let (files, client_tls) = https_material(scratch.path())?;
        let (cluster, leader, rest) = rest_rounds(binary, config, None).await?;
        let follower = *cluster.ids().iter().find(|&&id| id != leader).expect("three nodes");
        let mut fan = Vec::new();
        for (round, &subscribers) in config.subscribers.iter().enumerate() {
            fan.push(fan_out(&cluster, leader, follower, subscribers, config.trades, round).await);
        }
        // After the fan-out's trades, so that there are candles, and on a book of 100 levels a side.
        seed_book(&cluster, leader, 100).await;
        let clients = config.concurrencies.iter().copied().max().unwrap_or(1);
        let follower_api = format!("http://{}", cluster.api_addr(follower));
        let reads = market_reads(&follower_api, clients, config.orders_per_client * 5).await;
        drop(cluster);
        let (tls_cluster, _, rest_tls) = rest_rounds(binary, config, Some((&files, &client_tls))).await?;
        drop(tls_cluster);
        Ok(Report { config: config.clone(), rest, rest_tls, fan_out: fan, reads })
    })
}

impl Report {
    /// The report as a BENCHMARKS.md section body.
    pub fn markdown(&self, machine: &str, command: &str, date: &str) -> String {
        let mut out = format!(
            "### The public API: REST orders and WebSocket fan-out, 3 node processes on loopback\n\n\
             - Command: `{command}`\n- Date: {date}\n- Machine: {machine}\n\
             - REST: each client its own account and API key, signed `POST /api/v3/order` (IOC limit that \
             matches nothing, `newOrderRespType=ACK`) to the leader's API over keep-alive HTTP/1.1, {per} \
             orders per client; the baseline is the same orders through the internal binary protocol, \
             measured in the same run just before.\n\n\
             | clients | REST orders/s | p50 ms | p99 ms | internal orders/s | p50 ms | p99 ms | REST / internal |\n\
             |---|---|---|---|---|---|---|---|\n",
            per = self.config.orders_per_client
        );
        for r in &self.rest {
            out += &format!(
                "| {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} |\n",
                r.clients,
                r.rest_per_sec,
                r.rest_ms[0],
                r.rest_ms[1],
                r.internal_per_sec,
                r.internal_ms[0],
                r.internal_ms[1],
                r.rest_per_sec / r.internal_per_sec
            );
        }
        out += "\n- TLS: the same REST rounds on a second cluster whose API serves HTTPS (`[api_tls]`, TLS 1.3, \
                ring; the clients keep their connections, so handshakes are once per client), with its own internal \
                baseline. The last column compares the two REST throughputs, each over its own cluster's baseline, \
                so that the clusters' own difference cancels.\n\n\
                | clients | HTTPS orders/s | p50 ms | p99 ms | internal orders/s | HTTPS / internal | (HTTPS / internal) / (HTTP / internal) |\n\
                |---|---|---|---|---|---|---|\n";
        for (https, http) in self.rest_tls.iter().zip(&self.rest) {
            let https_ratio = https.rest_per_sec / https.internal_per_sec;
            out += &format!(
                "| {} | {:.0} | {:.2} | {:.2} | {:.0} | {:.2} | {:.2} |\n",
                https.clients,
                https.rest_per_sec,
                https.rest_ms[0],
                https.rest_ms[1],
                https.internal_per_sec,
                https_ratio,
                https_ratio / (http.rest_per_sec / http.internal_per_sec)
            );
        }
        out += "\n- WebSocket fan-out: subscribers on a follower's `btcusdt@trade` stream; trades generated through \
                the leader as fast as one client can; a run ends when every subscriber has every trade (checked in \
                order, no gaps). Publish to receive: from the leader's stamp on the trade to a subscriber's read \
                of it, over every message (one clock: the same machine), in ms.\n\n| subscribers | trades | messages delivered/s | trades generated/s | delivered / (subscribers × generated) | receive p50 ms | receive p99 ms |\n|---|---|---|---|---|---|---|\n";
        for f in &self.fan_out {
            out += &format!(
                "| {} | {} | {:.0} | {:.0} | {:.2} | {:.0} | {:.0} |\n",
                f.subscribers,
                f.trades,
                f.delivered_per_sec,
                f.generated_per_sec,
                f.delivered_per_sec / (f.subscribers as f64 * f.generated_per_sec),
                f.receive_ms.0,
                f.receive_ms.1
            );
        }
        out += &format!(
            "\n- Market data: {} requests per client, each client keeping its connection, on a follower after the \
             fan-out's trades (every node answers these from its own applied state); `ping` is the baseline.\n\n\
             | request | clients | rows answered | requests/s | p50 ms | p99 ms | / ping |\n|---|---|---|---|---|---|---|\n",
            self.config.orders_per_client * 5
        );
        let ping = self.reads.first().map_or(1.0, |r| r.per_sec);
        for r in &self.reads {
            out += &format!(
                "| {} | {} | {} | {:.0} | {:.2} | {:.2} | {:.2} |\n",
                r.what,
                r.clients,
                r.rows,
                r.per_sec,
                r.ms[0],
                r.ms[1],
                r.per_sec / ping
            );
        }
        out
    }
}
