//! The proxy in front of one node: accept, identify the calling node, forward both ways under
//! the link rules.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::table::{LinkTable, NodeId};

/// Largest chunk read at once, in bytes.
const CHUNK_BYTES_MAX: usize = 64 * 1024;
/// Chunks in flight per direction; a full queue stops reading (TCP backpressure).
const CHUNKS_IN_FLIGHT_MAX: usize = 1_024;
/// How often a blocked or idle connection checks whether the link healed.
const POLL: Duration = Duration::from_millis(20);

/// Counters of one proxy.
#[derive(Debug, Default)]
pub struct ProxyStats {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Bytes delivered, both directions.
    pub bytes_forwarded: AtomicU64,
    /// Bytes discarded by blocked links.
    pub bytes_discarded: AtomicU64,
    /// Connections closed because a blocked link healed under them.
    pub closed_on_heal: AtomicU64,
}

/// Forwards connections on `listener` to node `to` at `upstream`, under `table`'s rules.
/// Connections from addresses the table does not know are forwarded without faults.
pub async fn serve_proxy(
    listener: TcpListener,
    upstream: SocketAddr,
    to: NodeId,
    table: Arc<LinkTable>,
    stats: Arc<ProxyStats>,
) {
    loop {
        let (client, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "link proxy accept failed");
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        stats.connections.fetch_add(1, Ordering::Relaxed);
        let (table, stats) = (table.clone(), stats.clone());
        tokio::spawn(async move {
            let from = table.node_of(peer.ip());
            let Ok(server) = TcpStream::connect(upstream).await else { return };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            // Requests go from → to; replies to → from.
            let forward = pump(client_read, server_write, from.map(|f| (f, to)), table.clone(), stats.clone());
            let back = pump(server_read, client_write, from.map(|f| (to, f)), table, stats);
            // Either direction ending ends the connection: a half-open relay would hide faults.
            tokio::select! {
                _ = forward => {}
                _ = back => {}
            }
        });
    }
}

/// A tiny generator for jitter (xorshift), seeded per direction.
struct Jitter(u64);

impl Jitter {
    fn draw(&mut self, max_ms: u32) -> u64 {
        if max_ms == 0 {
            return 0;
        }
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % (u64::from(max_ms) + 1)
    }
}

/// Moves bytes one way under the rule of `link` (none: no faults).
async fn pump(
    mut read: OwnedReadHalf,
    mut write: OwnedWriteHalf,
    link: Option<(NodeId, NodeId)>,
    table: Arc<LinkTable>,
    stats: Arc<ProxyStats>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(CHUNKS_IN_FLIGHT_MAX);
    let writer_stats = stats.clone();
    let writer_table = table.clone();
    let writer = async move {
        let mut sent_at = Instant::now();
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due).await;
            let rule = link.map(|(a, b)| writer_table.rule(a, b)).unwrap_or_default();
            if rule.bandwidth_bytes_per_sec > 0 {
                // Serialise at the capped rate: this chunk may start only when the last finished.
                let takes = Duration::from_secs_f64(chunk.len() as f64 / rule.bandwidth_bytes_per_sec as f64);
                sent_at = sent_at.max(Instant::now()) + takes;
                tokio::time::sleep_until(sent_at).await;
            }
            if write.write_all(&chunk).await.is_err() {
                return;
            }
            writer_stats.bytes_forwarded.fetch_add(chunk.len() as u64, Ordering::Relaxed);
        }
    };
    let reader = async move {
        let mut jitter = Jitter(0x9e37_79b9_7f4a_7c15 ^ link.map_or(1, |(a, b)| a << 32 | b));
        let mut last_due = Instant::now();
        let mut poisoned_at: Option<u64> = None;
        let mut buffer = vec![0u8; CHUNK_BYTES_MAX];
        loop {
            let read_result = tokio::time::timeout(POLL, read.read(&mut buffer)).await;
            let rule = link.map(|(a, b)| table.rule(a, b)).unwrap_or_default();
            if let Some(version) = poisoned_at {
                // This stream lost bytes; once the link is clean again it must not carry more.
                if !rule.blocked && table.version() != version {
                    stats.closed_on_heal.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
            let n = match read_result {
                Err(_) => continue,
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(n)) => n,
            };
            if rule.blocked {
                stats.bytes_discarded.fetch_add(n as u64, Ordering::Relaxed);
                poisoned_at.get_or_insert(table.version());
                continue;
            }
            let delay = u64::from(rule.latency_ms) + jitter.draw(rule.jitter_ms);
            // Never before an earlier chunk: TCP keeps order, and so does the link.
            let due = (Instant::now() + Duration::from_millis(delay)).max(last_due);
            last_due = due;
            if tx.send((due, buffer[..n].to_vec())).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = writer => {}
        _ = reader => {}
    }
}
