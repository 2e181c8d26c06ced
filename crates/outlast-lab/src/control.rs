//! The `up` supervisor's control socket: how `outlast chaos --attach` injects faults into a
//! cluster that `outlast up` is running — node processes to kill, pause, resume or restart, link
//! rules to change, and the lab chain's provider upstreams to fail.
//!
//! A Unix socket in the state directory (`control.sock`), so only local users who can reach
//! that directory can use it; one JSON request per line, one JSON reply per line. The
//! supervisor applies requests one at a time in its own loop (`supervise`, which also reports
//! nodes that exit). It must never change exchange state: it only touches processes and links,
//! exactly what an outage would.

use std::path::{Path, PathBuf};
use std::time::Duration;

use outlast_links::LinkRule;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};

use crate::up::Cluster;
use outlast_chain::proxy::Fault;

/// Longest request line; anything longer closes the connection.
pub const REQUEST_BYTES_MAX: usize = 4_096;
/// Requests waiting for the supervisor's loop.
pub const QUEUED_MAX: usize = 64;
/// How long a caller waits for a reply (a restart waits for the node's `ready`).
const REPLY_DEADLINE: Duration = Duration::from_secs(60);

/// What the supervisor is asked to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ControlRequest {
    /// SIGKILL node `node`.
    Kill {
        /// The node.
        node: u64,
    },
    /// Start node `node` (again) and wait until it is ready: caught up with the cluster.
    Start {
        /// The node.
        node: u64,
    },
    /// SIGTERM node `node` and wait (bounded) for it to exit.
    Terminate {
        /// The node.
        node: u64,
    },
    /// SIGSTOP or SIGCONT node `node`.
    Signal {
        /// The node.
        node: u64,
        /// `STOP` or `CONT`.
        signal: String,
    },
    /// Replace the rule of the directed link `from` → `to`.
    SetLink {
        /// Sending node.
        from: u64,
        /// Receiving node.
        to: u64,
        /// The new rule.
        rule: LinkRule,
    },
    /// Every link back to the topology's latencies.
    ResetLinks,
    /// Make provider `provider`'s upstream of the lab chain fail: `pass`, `down`, `blackhole`,
    /// `lie` (other block hashes, no logs), `drop` (broadcasts answered and dropped), `lag`
    /// (stuck at the present head), or `slow:<ms>`.
    RpcFault {
        /// The provider (`alchemy`, `infura`, `quicknode`).
        provider: String,
        /// What it does now.
        fault: String,
    },
}

/// The supervisor's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlReply {
    /// Done.
    pub ok: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ControlReply {
    fn done() -> ControlReply {
        ControlReply { ok: true, error: None }
    }
    fn refused(why: impl Into<String>) -> ControlReply {
        ControlReply { ok: false, error: Some(why.into()) }
    }
}

/// A request on its way to the supervisor's loop, with where its reply goes.
#[derive(Debug)]
pub struct Pending {
    /// The request.
    pub request: ControlRequest,
    /// The reply.
    pub reply: oneshot::Sender<ControlReply>,
}

/// Listens on `path` (replacing a stale socket file) and queues every request for the loop
/// that owns the cluster.
pub fn listen(path: &Path) -> Result<(UnixListener, mpsc::Receiver<Pending>, mpsc::Sender<Pending>), String> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (tx, rx) = mpsc::channel(QUEUED_MAX);
    Ok((listener, rx, tx))
}

/// Accepts connections until the listener fails; each line becomes a `Pending`.
pub async fn serve(listener: UnixListener, queue: mpsc::Sender<Pending>) {
    while let Ok((stream, _)) = listener.accept().await {
        let queue = queue.clone();
        tokio::spawn(async move {
            let _ = connection(stream, queue).await;
        });
    }
}

async fn connection(stream: UnixStream, queue: mpsc::Sender<Pending>) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = String::new();
    loop {
        line.clear();
        let n = (&mut lines).take(REQUEST_BYTES_MAX as u64 + 1).read_line(&mut line).await?;
        if n == 0 {
            return Ok(());
        }
        let reply = if n > REQUEST_BYTES_MAX {
            ControlReply::refused(format!("request longer than {REQUEST_BYTES_MAX} bytes"))
        } else {
            match serde_json::from_str::<ControlRequest>(line.trim()) {
                Err(error) => ControlReply::refused(format!("bad request: {error}")),
                Ok(request) => {
                    let (tx, rx) = oneshot::channel();
                    if queue.send(Pending { request, reply: tx }).await.is_err() {
                        return Ok(());
                    }
                    rx.await.unwrap_or_else(|_| ControlReply::refused("the supervisor is stopping"))
                }
            }
        };
        let mut text = serde_json::to_string(&reply).expect("a reply serialises");
        text.push('\n');
        write.write_all(text.as_bytes()).await?;
        if n > REQUEST_BYTES_MAX {
            return Ok(());
        }
    }
}

/// Carries out one request on the supervisor's cluster.
pub async fn apply(cluster: &mut Cluster, request: &ControlRequest) -> ControlReply {
    let known = |node: u64| cluster.ids().contains(&node);
    match request {
        ControlRequest::Kill { node }
        | ControlRequest::Start { node }
        | ControlRequest::Terminate { node }
        | ControlRequest::Signal { node, .. }
            if !known(*node) =>
        {
            ControlReply::refused(format!("no node {node} in this cluster"))
        }
        ControlRequest::SetLink { from, to, .. } if !known(*from) || !known(*to) || from == to => {
            ControlReply::refused(format!("no link {from} -> {to} in this cluster"))
        }
        ControlRequest::Kill { node } => {
            cluster.kill(*node);
            ControlReply::done()
        }
        ControlRequest::Start { node } => {
            if cluster.is_running(*node) {
                return ControlReply::refused(format!("node {node} is running"));
            }
            match cluster.restart(*node).await {
                Ok(()) => ControlReply::done(),
                Err(error) => ControlReply::refused(error),
            }
        }
        ControlRequest::Terminate { node } => {
            cluster.terminate(*node);
            ControlReply::done()
        }
        ControlRequest::Signal { node, signal } => match signal.as_str() {
            "STOP" | "CONT" => {
                cluster.signal(*node, signal);
                ControlReply::done()
            }
            other => ControlReply::refused(format!("signal {other:?}: only STOP and CONT (use kill or terminate)")),
        },
        ControlRequest::SetLink { from, to, rule } => match cluster.set_link(*from, *to, *rule) {
            Ok(()) => ControlReply::done(),
            Err(error) => ControlReply::refused(error),
        },
        ControlRequest::ResetLinks => match cluster.reset_links() {
            Ok(()) => ControlReply::done(),
            Err(error) => ControlReply::refused(error),
        },
        ControlRequest::RpcFault { provider, fault } => {
            let Some(chain) = &cluster.chain else { return ControlReply::refused("this cluster has no lab chain") };
            let fault = match fault.as_str() {
                "pass" => Fault::Pass,
                "down" => Fault::Down,
                "blackhole" => Fault::Blackhole,
                "lie" => Fault::Lie,
                "drop" => Fault::DropBroadcasts,
                "lag" => match chain.freeze(provider).await {
                    Ok(()) => return ControlReply::done(),
                    Err(error) => return ControlReply::refused(error),
                },
                other => match other.strip_prefix("slow:").and_then(|ms| ms.parse::<u64>().ok()) {
                    Some(ms) if ms <= 60_000 => Fault::Slow(Duration::from_millis(ms)),
                    _ => {
                        return ControlReply::refused(format!(
                            "fault {other:?}: pass, down, blackhole, lie, drop, lag or slow:<ms>"
                        ))
                    }
                },
            };
            match chain.set_fault(provider, fault) {
                Ok(()) => ControlReply::done(),
                Err(error) => ControlReply::refused(error),
            }
        }
    }
}

/// The chaos side: sends requests to a running `up`.
#[derive(Clone, Debug)]
pub struct ControlClient {
    path: PathBuf,
}

impl ControlClient {
    /// A client of the socket at `path`.
    pub fn new(path: PathBuf) -> ControlClient {
        ControlClient { path }
    }

    /// Sends one request and waits (bounded) for its reply; an error says why it was not done.
    pub async fn call(&self, request: &ControlRequest) -> Result<(), String> {
        let exchange = async {
            let stream = UnixStream::connect(&self.path)
                .await
                .map_err(|e| format!("{}: {e} (is `outlast up` running on this directory?)", self.path.display()))?;
            let (read, mut write) = stream.into_split();
            let mut text = serde_json::to_string(request).map_err(|e| e.to_string())?;
            text.push('\n');
            write.write_all(text.as_bytes()).await.map_err(|e| e.to_string())?;
            let mut line = String::new();
            BufReader::new(read).read_line(&mut line).await.map_err(|e| e.to_string())?;
            serde_json::from_str::<ControlReply>(line.trim()).map_err(|e| format!("bad reply {line:?}: {e}"))
        };
        let reply = tokio::time::timeout(REPLY_DEADLINE, exchange)
            .await
            .map_err(|_| format!("no reply from {} within {REPLY_DEADLINE:?}", self.path.display()))??;
        match reply {
            ControlReply { ok: true, .. } => Ok(()),
            ControlReply { error, .. } => Err(error.unwrap_or_else(|| "refused".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_have_a_stable_wire_form_and_unknown_fields_are_refused() {
        let request = ControlRequest::SetLink {
            from: 1,
            to: 2,
            rule: LinkRule { latency_ms: 300, blocked: true, ..LinkRule::default() },
        };
        let text = serde_json::to_string(&request).unwrap();
        assert_eq!(
            text,
            r#"{"op":"set_link","from":1,"to":2,"rule":{"latency_ms":300,"jitter_ms":0,"blocked":true,"bandwidth_bytes_per_sec":0}}"#
        );
        assert_eq!(serde_json::from_str::<ControlRequest>(&text).unwrap(), request);
        assert_eq!(
            serde_json::from_str::<ControlRequest>(r#"{"op":"kill","node":3}"#).unwrap(),
            ControlRequest::Kill { node: 3 }
        );
        assert!(serde_json::from_str::<ControlRequest>(r#"{"op":"kill","node":3,"now":true}"#).is_err());
        assert!(serde_json::from_str::<ControlRequest>(r#"{"op":"format_disk"}"#).is_err());
        let rule = serde_json::from_str::<LinkRule>(r#"{"blocked":true}"#).unwrap();
        assert!(rule.blocked && rule.latency_ms == 0);
    }
}

/// The supervisor's loop: until Ctrl-C or SIGTERM, carries out control requests (`outlast
/// chaos --attach`) one at a time and reports nodes that exit meanwhile (once each, until they
/// run again).
pub async fn supervise(cluster: &mut Cluster, mut control: tokio::sync::mpsc::Receiver<Pending>) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut terminate) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    let mut reported = std::collections::BTreeSet::new();
    loop {
        tokio::select! {
            _ = terminate.recv() => return,
            _ = tokio::signal::ctrl_c() => return,
            Some(pending) = control.recv() => {
                eprintln!("control: {:?}", pending.request);
                let reply = apply(cluster, &pending.request).await;
                if let Some(error) = &reply.error {
                    eprintln!("control: refused: {error}");
                }
                let _ = pending.reply.send(reply);
            }
            _ = tokio::time::sleep(NODE_CHECK_INTERVAL) => {
                for id in cluster.ids() {
                    if cluster.is_running(id) {
                        reported.remove(&id);
                    } else if reported.insert(id) {
                        eprintln!("node {id} is not running (see {})", cluster.dir.log(id).display());
                    }
                }
            }
        }
    }
}

/// How often the supervisor looks for nodes that exited.
const NODE_CHECK_INTERVAL: Duration = Duration::from_secs(1);
