//! `outlast backup` and `outlast restore`: continuous backups to object storage, and a new
//! cluster's data directories from one (see `outlast_backup`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use outlast_backup::{Destination, ShipConfig, Source};
use outlast_client::{Client, FailoverPolicy};
use outlast_cluster::config::NodeConfig;
use outlast_lab::access::OperatorClient;
use outlast_lab::state_dir::StateDir;
use outlast_lab::topology::Topology;
use outlast_tls::{Identity, PkiFiles, TlsFiles};
use serde_json::Value;

/// Where a command reads a running cluster's operator planes (`outlast backup`, and `outlast
/// config check` for measured round trips).
#[derive(clap::Args)]
pub struct From {
    /// An `outlast up` state directory (its operator certificate).
    #[arg(long, conflicts_with = "endpoints")]
    pub dir: Option<PathBuf>,
    /// Operator planes to read from (https://HOST:PORT, comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub endpoints: Vec<String>,
    /// The operator's certificate directory (with --endpoints).
    #[arg(long)]
    pub pki: Option<PathBuf>,
    /// The operator's name (its certificate in --pki).
    #[arg(long)]
    pub operator: Option<String>,
    /// The cluster id (with --endpoints).
    #[arg(long)]
    pub cluster: Option<String>,
}

impl From {
    /// Whether a cluster to read was named at all.
    pub fn given(&self) -> bool {
        self.dir.is_some() || !self.endpoints.is_empty()
    }
}

pub(crate) enum Reader {
    Lab(OperatorClient),
    Plane(Client),
}

impl Source for Reader {
    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Value, String> {
        match self {
            Reader::Lab(client) => client.call("GET", path, params).await.map_err(|e| e.to_string()),
            Reader::Plane(client) => client.operator_plane("GET", path, params).await.map_err(|e| e.to_string()),
        }
    }
}

fn policy(endpoints: usize) -> FailoverPolicy {
    FailoverPolicy { attempts_max: 2 * endpoints as u32, budget: Duration::from_secs(30), ..FailoverPolicy::default() }
}

pub(crate) fn reader(from: &From) -> Result<(Reader, String), String> {
    if let Some(dir) = &from.dir {
        let state = StateDir { root: dir.clone() };
        let topology = Topology::load(&state.topology())?;
        let access = outlast_lab::access::Access::of(&state, &topology)?;
        let client = access.operator_all(policy(access.ids().len()));
        return Ok((Reader::Lab(client), state.read_cluster_id()?));
    }
    let (Some(pki), Some(operator), Some(cluster)) = (&from.pki, &from.operator, &from.cluster) else {
        return Err("give --dir (an `outlast up` directory) or --endpoints with --pki, --operator and --cluster".into());
    };
    if from.endpoints.is_empty() {
        return Err("--endpoints: the operator planes to read from (https://HOST:PORT,...)".into());
    }
    let files = PkiFiles::in_dir(pki);
    let me = Identity::Operator(operator.clone());
    let tls = TlsFiles { ca: files.ca_cert(), cert: files.cert(&me), key: files.key(&me) };
    let config = outlast_tls::operator_client_config(cluster, &tls).map_err(|e| format!("{}: {e}", pki.display()))?;
    let client = Client::with_tls(from.endpoints.clone(), None, policy(from.endpoints.len()), Some(config));
    Ok((Reader::Plane(client), cluster.clone()))
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime")
}

/// Serves the backup's metrics (`ShipStats`) on `addr`, for Prometheus: `GET /metrics`.
async fn serve_metrics(addr: &str, stats: Arc<outlast_backup::ShipStats>) -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("--metrics-addr {addr}: {e}"))?;
    let app = axum::Router::new().route("/metrics", axum::routing::get(move || async move { stats.render() }));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(())
}

/// `outlast backup`.
pub fn backup(from: &From, to: &str, interval_ms: u64, once: bool, metrics_addr: Option<&str>) -> ExitCode {
    let (reader, cluster) = match reader(from) {
        Ok(reader) => reader,
        Err(error) => return crate::fail(2, &error),
    };
    let destination = match Destination::open(to) {
        Ok(destination) => destination,
        Err(error) => return crate::fail(2, &error),
    };
    let config =
        ShipConfig { cluster, interval: Duration::from_millis(interval_ms.max(10)), once, ..ShipConfig::default() };
    runtime().block_on(async move {
        let stats = Arc::new(outlast_backup::ShipStats::default());
        if let Some(addr) = metrics_addr {
            if let Err(error) = serve_metrics(addr, stats.clone()).await {
                return crate::fail(2, &error);
            }
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            if let Ok(mut terminate) = signal(SignalKind::terminate()) {
                tokio::select! { _ = terminate.recv() => {}, _ = tokio::signal::ctrl_c() => {} }
                flag.store(true, Ordering::Relaxed);
            }
        });
        eprintln!("backing up {} to {to} every {interval_ms} ms{}", config.cluster, if once { " (once)" } else { "" });
        match outlast_backup::ship(&reader, &destination, &config, &stats, || stop.load(Ordering::Relaxed)).await {
            Ok(manifest) => {
                println!(
                    "backup at index {} (digest {}), {} segment(s) after the base at {}",
                    manifest.last_index,
                    manifest.digest,
                    manifest.segments.len(),
                    manifest.base.to
                );
                ExitCode::SUCCESS
            }
            Err(error) => crate::fail(1, &error),
        }
    })
}

/// `outlast restore`.
pub fn restore(from: &str, configs: &[PathBuf]) -> ExitCode {
    let loaded: Result<Vec<NodeConfig>, String> = configs.iter().map(|p| NodeConfig::load(Path::new(p))).collect();
    let loaded = match loaded {
        Ok(loaded) => loaded,
        Err(error) => return crate::fail(2, &error),
    };
    let destination = match Destination::open(from) {
        Ok(destination) => destination,
        Err(error) => return crate::fail(2, &error),
    };
    runtime().block_on(async move {
        match outlast_backup::restore::restore(&destination, &loaded).await {
            Ok(restored) => {
                println!(
                    "restored index {} of cluster {} (digest {}, checked) into {} node(s); start them without --init",
                    restored.manifest.last_index,
                    restored.manifest.cluster,
                    restored.digest,
                    loaded.len()
                );
                ExitCode::SUCCESS
            }
            Err(error) => crate::fail(1, &error),
        }
    })
}
