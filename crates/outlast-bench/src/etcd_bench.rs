//! Replicated durable writes, Outlast against etcd 3.4, both three nodes on this machine's
//! loopback, both fsyncing every commit, in the same run.
//!
//! Outlast: IOC orders (full replicated commands that leave no resting state) to the leader,
//! through the internal binary protocol and through the REST API. etcd: `put`s of a 100-byte
//! value to its leader through its HTTP/JSON gateway (`/v3/kv/put`), the one interface reachable
//! without a gRPC stack. Each concurrency is measured in rounds that interleave the three, so
//! a noisy machine affects all alike; the figure is the median round with min and max.
//!
//! The etcd processes are started from `etcd` on the PATH (Debian's `etcd-server`) in a
//! temporary directory and killed at the end.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use outlast_client::{Client, FailoverPolicy};

use crate::api_bench::{internal_load, measure, rest_load, setup, ACCOUNTS, DEADLINE};
use crate::report::{spread, Spread};
use crate::svg::{Bar, Chart};
use outlast_lab::processes::{free_port, ProcessCluster};

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Client concurrencies.
    pub concurrencies: Vec<usize>,
    /// Rounds per concurrency (the median is reported).
    pub rounds: usize,
    /// Operations per measurement, spread over the clients (at least `OPS_PER_CLIENT_MIN` each).
    pub ops_per_measurement: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config { concurrencies: vec![1, 16, 256], rounds: 3, ops_per_measurement: 2_000 }
    }
}

/// Fewest operations one client sends per measurement.
const OPS_PER_CLIENT_MIN: usize = 10;
/// The value etcd stores per put, in bytes: about an order command's encoded size.
pub const VALUE_BYTES: usize = 102;
/// How long etcd may take to become healthy.
const ETCD_START_DEADLINE: Duration = Duration::from_secs(30);

/// One system at one concurrency: throughput spread over rounds, latency of the median round.
#[derive(Clone, Debug)]
pub struct Measured {
    /// Operations per second over the rounds.
    pub per_sec: Spread,
    /// p50 and p99 latency in ms, of the round with the median throughput.
    pub latency_ms: [f64; 2],
}

/// One concurrency.
#[derive(Clone, Debug)]
pub struct Row {
    /// Concurrent clients.
    pub clients: usize,
    /// Outlast, internal protocol.
    pub outlast_internal: Measured,
    /// Outlast, REST API.
    pub outlast_rest: Measured,
    /// etcd, HTTP/JSON gateway.
    pub etcd: Measured,
}

/// The report.
#[derive(Clone, Debug)]
pub struct Report {
    /// The configuration.
    pub config: Config,
    /// etcd's version line.
    pub etcd_version: String,
    /// One row per concurrency.
    pub rows: Vec<Row>,
}

/// Three etcd members on loopback; killed on drop.
struct Etcd {
    dir: tempfile::TempDir,
    children: Vec<Child>,
    client_urls: Vec<String>,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

type Http = HyperClient<HttpConnector, Full<Bytes>>;

fn http() -> Http {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    HyperClient::builder(TokioExecutor::new()).pool_max_idle_per_host(1_024).build(connector)
}

/// POSTs JSON; the status and body.
async fn post(http: &Http, url: &str, body: String) -> Result<(u16, String), String> {
    let request = hyper::Request::post(url)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let exchange = async {
        let response = http.request(request).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    };
    tokio::time::timeout(DEADLINE, exchange).await.map_err(|_| format!("{url}: no answer within {DEADLINE:?}"))?
}

impl Etcd {
    async fn start(binary: &Path) -> Result<Etcd, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let ports: Vec<(u16, u16)> = (0..3)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<std::io::Result<_>>()
            .map_err(|e| e.to_string())?;
        let initial: Vec<String> =
            ports.iter().enumerate().map(|(n, (_, peer))| format!("e{n}=http://127.0.0.1:{peer}")).collect();
        let mut etcd = Etcd { children: Vec::new(), client_urls: Vec::new(), dir };
        for (n, (client, peer)) in ports.iter().enumerate() {
            let data: PathBuf = etcd.dir.path().join(format!("e{n}"));
            let client_url = format!("http://127.0.0.1:{client}");
            let peer_url = format!("http://127.0.0.1:{peer}");
            let child = Command::new(binary)
                .arg(format!("--name=e{n}"))
                .arg(format!("--data-dir={}", data.display()))
                .arg(format!("--listen-client-urls={client_url}"))
                .arg(format!("--advertise-client-urls={client_url}"))
                .arg(format!("--listen-peer-urls={peer_url}"))
                .arg(format!("--initial-advertise-peer-urls={peer_url}"))
                .arg(format!("--initial-cluster={}", initial.join(",")))
                .args(["--initial-cluster-state=new", "--initial-cluster-token=outlast-bench", "--logger=zap"])
                .args(["--log-level=error"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| format!("cannot start {}: {e} (install etcd-server)", binary.display()))?;
            etcd.children.push(child);
            etcd.client_urls.push(client_url);
        }
        Ok(etcd)
    }

    /// Waits (bounded) until a member reports a leader; that leader's client URL.
    async fn leader(&self, http: &Http) -> Result<String, String> {
        let started = Instant::now();
        while started.elapsed() < ETCD_START_DEADLINE {
            for url in &self.client_urls {
                if let Ok((200, body)) = post(http, &format!("{url}/v3/maintenance/status"), "{}".into()).await {
                    let status: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                    let (me, leader) = (&status["header"]["member_id"], &status["leader"]);
                    if leader.is_string() && me == leader {
                        return Ok(url.clone());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("etcd elected no leader within {ETCD_START_DEADLINE:?}"))
    }
}

/// `clients` concurrent clients, each putting `per_client` keys in turn.
async fn etcd_load(http: &Http, leader: &str, clients: usize, per_client: usize, round: usize) -> (f64, [f64; 2]) {
    // Keys and values written in the base64 alphabet with lengths divisible by four, so they
    // are valid base64 as the gateway requires, without encoding anything.
    let value = "A".repeat(VALUE_BYTES / 3 * 4);
    let url = format!("{leader}/v3/kv/put");
    measure(clients, |client, start| {
        let (http, url, value) = (http.clone(), url.clone(), value.clone());
        async move {
            start.wait().await;
            let mut latencies = Vec::with_capacity(per_client);
            for n in 0..per_client {
                let key = format!("r{round:03}c{client:04}n{n:06}");
                let body = format!("{{\"key\":\"{key}\",\"value\":\"{value}\"}}");
                let sent = Instant::now();
                match post(&http, &url, body).await {
                    Ok((200, _)) => latencies.push(sent.elapsed().as_micros() as u64),
                    other => panic!("etcd put failed during the benchmark: {other:?}"),
                }
            }
            latencies
        }
    })
    .await
}

/// Folds rounds of (ops/s, latency) into the median round's figures and the spread.
fn measured(rounds: &[(f64, [f64; 2])]) -> Measured {
    let rates: Vec<f64> = rounds.iter().map(|r| r.0).collect();
    let per_sec = spread(&rates).expect("at least one round");
    let median_round = rounds
        .iter()
        .min_by(|a, b| (a.0 - per_sec.median).abs().total_cmp(&(b.0 - per_sec.median).abs()))
        .expect("at least one round");
    Measured { per_sec, latency_ms: median_round.1 }
}

/// Runs the comparison with `binary` as the `outlast` executable and `etcd` as etcd's.
pub fn run(binary: &Path, etcd_binary: &Path, config: &Config) -> std::io::Result<Report> {
    let version = Command::new(etcd_binary)
        .arg("--version")
        .output()
        .map_err(|e| std::io::Error::other(format!("{}: {e} (install etcd-server)", etcd_binary.display())))?;
    let etcd_version = String::from_utf8_lossy(&version.stdout).lines().next().unwrap_or("etcd").to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut cluster = ProcessCluster::loopback(binary, &["aws", "gcp", "azure"], &[], crate::unthrottled)?;
        cluster.spawn_all().map_err(std::io::Error::other)?;
        let ids = cluster.ids();
        let leader = cluster.leader(&ids, DEADLINE).await.ok_or_else(|| std::io::Error::other("no leader"))?;
        let endpoint = format!("http://{}", cluster.api_addr(leader));
        let admin = Client::new(vec![endpoint.clone()], None, FailoverPolicy::default());
        let accounts = config.concurrencies.iter().copied().max().unwrap_or(1).max(2) as u64;
        assert!(accounts <= ACCOUNTS);
        let keys = Arc::new(setup(&admin, accounts).await);

        let etcd = Etcd::start(etcd_binary).await.map_err(std::io::Error::other)?;
        let http = http();
        let etcd_leader = etcd.leader(&http).await.map_err(std::io::Error::other)?;

        let mut rows = Vec::new();
        let mut round = 0;
        for &clients in &config.concurrencies {
            let per_client = (config.ops_per_measurement / clients).max(OPS_PER_CLIENT_MIN);
            let (mut internal, mut rest, mut other) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..config.rounds {
                round += 1;
                internal.push(internal_load(&cluster, leader, clients, per_client, round).await);
                rest.push(rest_load(&endpoint, None, &keys, clients, per_client, round).await);
                other.push(etcd_load(&http, &etcd_leader, clients, per_client, round).await);
            }
            rows.push(Row {
                clients,
                outlast_internal: measured(&internal),
                outlast_rest: measured(&rest),
                etcd: measured(&other),
            });
        }
        drop(etcd);
        Ok(Report { config: config.clone(), etcd_version, rows })
    })
}

impl Report {
    /// The report as a BENCHMARKS.md section body.
    pub fn markdown(&self, machine: &str, command: &str, date: &str) -> String {
        let mut out = format!(
            "### Replicated durable writes: Outlast vs etcd, 3 nodes each on loopback\n\n\
             - Command: `{command}`\n- Date: {date}\n- Machine: {machine}\n\
             - Outlast: 3 `outlast node` processes, fsync per commit; IOC limit orders (a full replicated \
             command that leaves nothing resting) to the leader, through the internal binary protocol and \
             through the REST API (signed, HTTP/1.1 keep-alive).\n\
             - etcd: {version}, 3 members, default fsync; `put` of a {value}-byte value to the leader through \
             its HTTP/JSON gateway (`POST /v3/kv/put`, HTTP/1.1 keep-alive).\n\
             - {rounds} rounds per concurrency, the three systems interleaved within each round; ops/s is the \
             median round (min–max), latency is that round's.\n\n\
             | clients | Outlast internal ops/s | p50 / p99 ms | Outlast REST ops/s | p50 / p99 ms | etcd ops/s | \
             p50 / p99 ms | internal / etcd | REST / etcd |\n|---|---|---|---|---|---|---|---|---|\n",
            version = self.etcd_version,
            value = VALUE_BYTES,
            rounds = self.config.rounds,
        );
        let cell = |m: &Measured| {
            (
                format!("{:.0} ({:.0}–{:.0})", m.per_sec.median, m.per_sec.min, m.per_sec.max),
                format!("{:.2} / {:.2}", m.latency_ms[0], m.latency_ms[1]),
            )
        };
        for row in &self.rows {
            let (i, il) = cell(&row.outlast_internal);
            let (r, rl) = cell(&row.outlast_rest);
            let (e, el) = cell(&row.etcd);
            out += &format!(
                "| {} | {i} | {il} | {r} | {rl} | {e} | {el} | {:.2} | {:.2} |\n",
                row.clients,
                row.outlast_internal.per_sec.median / row.etcd.per_sec.median,
                row.outlast_rest.per_sec.median / row.etcd.per_sec.median,
            );
        }
        out
    }
}

impl Report {
    /// Throughput per concurrency, Outlast's two interfaces beside etcd (log axis: one client
    /// and 256 differ by orders of magnitude).
    pub fn chart(&self) -> Chart {
        let bar = |label: &str, m: &Measured, ours| Bar {
            label: label.into(),
            median: m.per_sec.median,
            min: m.per_sec.min,
            max: m.per_sec.max,
            ours,
        };
        Chart {
            title: "Replicated durable writes, 3 nodes on loopback: operations per second".into(),
            unit: "committed ops/s".into(),
            groups: self
                .rows
                .iter()
                .map(|row| {
                    (
                        format!("{} client(s)", row.clients),
                        vec![
                            bar("Outlast, internal protocol", &row.outlast_internal, true),
                            bar("Outlast, REST API", &row.outlast_rest, true),
                            bar("etcd 3.4, HTTP/JSON gateway", &row.etcd, false),
                        ],
                    )
                })
                .collect(),
            lines: Vec::new(),
            log: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_round_gives_the_latency() {
        let m = measured(&[(100.0, [1.0, 2.0]), (300.0, [3.0, 4.0]), (200.0, [5.0, 6.0])]);
        assert_eq!(m.per_sec.median, 200.0);
        assert_eq!((m.per_sec.min, m.per_sec.max), (100.0, 300.0));
        assert_eq!(m.latency_ms, [5.0, 6.0]);
    }

    #[test]
    fn keys_and_values_are_valid_base64_lengths() {
        let key = format!("r{:03}c{:04}n{:06}", 1, 1, 1);
        assert_eq!(key.len() % 4, 0, "{key}");
        assert_eq!(("A".repeat(VALUE_BYTES / 3 * 4)).len() / 4 * 3, VALUE_BYTES);
    }
}
