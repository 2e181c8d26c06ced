//! `outlast node --config node.toml`: one node of a cluster, until SIGTERM or Ctrl-C.
//!
//! Prints one line `ready <id> raft=<addr> client=<addr>` once both listeners are bound, so
//! scripts and tests can wait for it. Logs go to stderr, at the level `OUTLAST_LOG` names. Shutdown protocol: on SIGTERM or SIGINT the node stops
//! Raft (no new commits from it), closes its listeners and exits 0. If Raft stops on its own
//! (a storage error: a failed write, fsync or read), the node exits with code 3 rather than
//! serve on without a log; its supervisor (systemd's `Restart=on-failure`) restarts it, and
//! recovery reads back only what the disk really holds. A data directory holding data of a
//! newer format than this build reads is refused with exit code 2, which a supervisor must not
//! restart (see `outlast_cluster::format`).

use std::path::Path;
use std::process::ExitCode;

use outlast_cluster::config::NodeConfig;
use outlast_cluster::node;
use outlast_engine::Limits;

/// Logs to stderr at the level named by `OUTLAST_LOG` (error, warn, info, debug, trace;
/// as JSON objects, one per line, with `OUTLAST_LOG_FORMAT=json`;
/// default warn), openraft's included, each log statement limited (`log_limit`).
fn init_logging() -> crate::log_limit::Limiter {
    let level = std::env::var("OUTLAST_LOG")
        .ok()
        .and_then(|name| name.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::WARN);
    let format = match std::env::var("OUTLAST_LOG_FORMAT").as_deref() {
        Ok("json") => crate::log_limit::Format::Json,
        _ => crate::log_limit::Format::Text,
    };
    let limiter = crate::log_limit::Limiter::default();
    crate::log_limit::init(level, limiter.clone(), format);
    limiter
}

/// The exit code of a node whose Raft stopped on a storage error.
const EXIT_RAFT_STOPPED: u8 = 3;

pub fn run(config_path: &Path, init: bool, allow_unsafe_topology: bool) -> ExitCode {
    let limiter = init_logging();
    #[cfg(feature = "planted-faults")]
    if let Err(code) = plant_from_env() {
        return code;
    }
    let config = match NodeConfig::load(config_path) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    // Data newer than this build reads: restarting cannot help, so exit 2 (no restart).
    let formats = outlast_cluster::format::cap_from_env()
        .and_then(|()| outlast_cluster::format::check_data_dir(&config.data_dir));
    if let Err(error) = formats {
        eprintln!("error: node {} cannot start: {error}", config.id);
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        tokio::spawn(crate::log_limit::report(limiter));
        // Before anything else: SIGHUP reloads certificates; its default would end the process.
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(hangup) => {
                tokio::spawn(reload_certificates(hangup));
            }
            Err(error) => {
                eprintln!("warning: no SIGHUP handler ({error}): certificates reload only when their files change")
            }
        }
        let running = match node::start(&config, Limits::default()).await {
            Ok(running) => running,
            Err(error) => {
                eprintln!("error: node {} cannot start: {error}", config.id);
                return ExitCode::FAILURE;
            }
        };
        if init || config.bootstrap {
            if let Err(error) = node::initialize(&running, &config, allow_unsafe_topology).await {
                eprintln!("error: {error}");
                running.shutdown().await;
                return ExitCode::from(2);
            }
        }
        // Custody of each chain: active only while this node leads.
        let custody = match outlast_custody::start(&running.writer, config.id, &config.chains) {
            Ok(followed) => followed,
            Err(error) => {
                eprintln!("error: node {} cannot follow its chains: {error}", config.id);
                running.shutdown().await;
                return ExitCode::from(2);
            }
        };
        let handles = custody.iter().map(|chain| chain.handle.clone()).collect();
        let api_task = match start_api(&config, &running, handles).await {
            Ok(task) => task,
            Err(error) => {
                eprintln!("error: node {} cannot serve its API: {error}", config.id);
                running.shutdown().await;
                return ExitCode::FAILURE;
            }
        };
        let api = config.api_addr.as_deref().map(|a| format!(" api={a}")).unwrap_or_default();
        println!("ready {} raft={} client={}{api}", config.id, config.raft_addr, config.client_addr);
        crate::notify::notify("READY=1");
        tokio::select! {
            () = wait_for_signal() => {}
            reason = node::stopped(&running.raft) => {
                eprintln!(
                    "error: node {} stopped: {reason}; exiting for the supervisor to restart it from its disk",
                    config.id
                );
                if let Some(task) = api_task {
                    task.abort();
                }
                custody.iter().for_each(|chain| chain.task.abort());
                running.shutdown().await;
                return ExitCode::from(EXIT_RAFT_STOPPED);
            }
        }
        eprintln!("node {}: shutting down", config.id);
        crate::notify::notify("STOPPING=1");
        if let Some(task) = api_task {
            task.abort();
        }
        custody.iter().for_each(|chain| chain.task.abort());
        running.shutdown().await;
        ExitCode::SUCCESS
    })
}

/// A test build (feature `planted-faults`) commits the fault `OUTLAST_PLANTED_FAULT` names, so
/// that the chaos checker can be shown to catch it; an unknown name refuses to start.
#[cfg(feature = "planted-faults")]
fn plant_from_env() -> Result<(), ExitCode> {
    use outlast_cluster::planted::{plant, Bug};
    let Ok(name) = std::env::var("OUTLAST_PLANTED_FAULT") else { return Ok(()) };
    let Some(bug) = Bug::parse(&name) else {
        let names: Vec<&str> = Bug::ALL.iter().map(|bug| bug.name()).collect();
        eprintln!("error: OUTLAST_PLANTED_FAULT={name:?} names no planted fault ({})", names.join(", "));
        return Err(ExitCode::from(2));
    };
    eprintln!("warning: planted fault {} is on: this node breaks its guarantees on purpose", bug.name());
    plant(bug);
    Ok(())
}

/// Serves the public API if the configuration names an address.
async fn start_api(
    config: &NodeConfig,
    running: &node::RunningNode,
    chains: Vec<outlast_custody::ChainHandle>,
) -> Result<Option<tokio::task::JoinHandle<std::io::Result<()>>>, String> {
    let Some(addr) = &config.api_addr else { return Ok(None) };
    let (Some(secret), Some(token)) = (&config.api_kek_file, &config.operator_token_file) else {
        return Err("api_addr needs api_kek_file and operator_token_file".into());
    };
    let keyring = outlast_api::Keyring::load(secret)?;
    let operator = outlast_api::OperatorToken::load(token)?;
    let socket_addr = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("{addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr}: no address"))?;
    let listener = outlast_api::bind(socket_addr).map_err(|e| format!("{addr}: {e}"))?;
    let me = (config.id, config.own_info());
    let defaults = outlast_api::WeightLimits::default();
    let limits = outlast_api::WeightLimits {
        ip_per_minute: config.api_ip_weight_per_minute.unwrap_or(defaults.ip_per_minute),
        key_per_minute: config.api_key_weight_per_minute.unwrap_or(defaults.key_per_minute),
        ws_connects_per_window: config.api_ws_connects_per_5m.unwrap_or(defaults.ws_connects_per_window),
    };
    let api = outlast_api::new_api(running.writer.clone(), running.reader.clone(), me, keyring, operator, limits);
    let _ = api.chains.set(chains);
    let tls = match &config.api_tls {
        Some(files) => Some(
            outlast_tls::PublicAcceptor::new(&files.cert_file, &files.key_file).map_err(|e| format!("api_tls: {e}"))?,
        ),
        None => None,
    };
    // The operator plane first: once it serves, the public listener serves no operator endpoint.
    if let (Some(addr), Some(tls)) = (&config.operator_addr, &config.tls) {
        let operators: Vec<outlast_cluster::Identity> =
            tls.operators.iter().map(|name| outlast_cluster::Identity::Operator(name.clone())).collect();
        let acceptor =
            outlast_tls::Acceptor::for_http(&tls.cluster, &tls.files(), std::sync::Arc::new(move || operators.clone()))
                .map_err(|e| format!("operator plane: {e}"))?;
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("operator_addr {addr}: {e}"))?;
        let plane = outlast_api::serve_operator_plane(listener, api.clone(), acceptor);
        tokio::spawn(async move {
            if let Err(error) = plane.await {
                tracing::error!(%error, "the operator plane stopped");
            }
        });
    }
    let per_source_max =
        config.api_connections_per_source_max.unwrap_or(outlast_api::http_server::HTTP_CONNECTIONS_PER_SOURCE_MAX);
    let serving = outlast_api::Serving { tls, per_source_max };
    Ok(Some(tokio::spawn(outlast_api::serve(listener, api, config.reports_dir.clone(), serving))))
}

/// Reads certificates and keys again on SIGHUP, and every `WATCH_PERIOD` those whose files
/// changed, logging what was taken and what was refused (the material in use stays then).
async fn reload_certificates(mut hangup: tokio::signal::unix::Signal) {
    let mut tick = tokio::time::interval(outlast_tls::WATCH_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let reloaded = tokio::select! {
            Some(()) = hangup.recv() => outlast_tls::reload_all(),
            _ = tick.tick() => outlast_tls::reload_changed(),
        };
        for outcome in reloaded {
            match outcome.error {
                None => tracing::info!(files = %outcome.files, "reloaded TLS certificate and key"),
                Some(error) => {
                    tracing::error!(files = %outcome.files, %error, "refused to reload TLS files; the ones in use stay")
                }
            }
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
