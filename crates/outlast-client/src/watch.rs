//! Watching an order book across failover: REST snapshot plus the diff stream, resynchronised
//! on another endpoint whenever the stream breaks or shows a gap, so the caller never holds a
//! book with a silent hole in it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::failover::Client;

/// What the watcher reports.
#[derive(Clone, Debug, PartialEq)]
pub enum BookEvent {
    /// The book was (re)built from a snapshot on this endpoint, at this update id.
    Synced {
        /// The endpoint.
        endpoint: String,
        /// The snapshot's `lastUpdateId`.
        last_update_id: u64,
    },
    /// The book changed; best bid and ask (price, quantity) as text, if any.
    Top {
        /// The last update id applied.
        update_id: u64,
        /// Best bid.
        bid: Option<(String, String)>,
        /// Best ask.
        ask: Option<(String, String)>,
    },
    /// The stream failed on one endpoint; the watcher moves to the next.
    Failover {
        /// The endpoint that failed.
        from: String,
        /// Why.
        reason: String,
    },
}

/// How long a stream may stay silent before the watcher resynchronises elsewhere. The API sends
/// a ping every 20 s, so a healthy connection is never this quiet.
const SILENCE_MAX: Duration = Duration::from_secs(30);

type Side = BTreeMap<String, String>;

fn apply(side: &mut Side, levels: &Value) {
    for level in levels.as_array().into_iter().flatten() {
        let (Some(price), Some(qty)) = (level[0].as_str(), level[1].as_str()) else { continue };
        if qty.bytes().all(|b| b == b'0' || b == b'.') {
            side.remove(price);
        } else {
            side.insert(price.to_string(), qty.to_string());
        }
    }
}

/// Price text compared as a number (equal decimals per market, so length then text).
fn price_key(price: &str) -> (usize, &str) {
    (price.split('.').next().map_or(0, str::len), price)
}

/// Watches `symbol`'s book until `until` or until `report` returns false.
pub async fn watch_book(client: &Client, symbol: &str, until: Instant, mut report: impl FnMut(BookEvent) -> bool) {
    let stream_name = format!("{}@depth@100ms", symbol.to_ascii_lowercase());
    while Instant::now() < until {
        let endpoint = client.current().to_string();
        match watch_once(client, &endpoint, symbol, &stream_name, until, &mut report).await {
            End::Stopped => return,
            End::Broken(reason) => {
                if !report(BookEvent::Failover { from: endpoint, reason }) {
                    return;
                }
                client.fail_over();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

enum End {
    /// The deadline passed or the caller said stop.
    Stopped,
    /// The connection broke or showed a gap.
    Broken(String),
}

/// One connection's worth of watching.
async fn watch_once(
    client: &Client,
    endpoint: &str,
    symbol: &str,
    stream_name: &str,
    until: Instant,
    report: &mut impl FnMut(BookEvent) -> bool,
) -> End {
    let url = format!("{}/ws/{stream_name}", endpoint.replacen("http", "ws", 1));
    let mut socket = match crate::websocket::connect_websocket(&url, Some(client.tls()), Duration::from_secs(2)).await {
        Ok(socket) => socket,
        Err(error) => return End::Broken(format!("connect: {error}")),
    };
    // Snapshot after subscribing: diffs older than it are skipped, the first newer one must
    // cover it, and each next one must follow on exactly.
    let snapshot = match client.book(symbol, 1000).await {
        Ok(snapshot) => snapshot,
        Err(error) => return End::Broken(format!("snapshot: {error}")),
    };
    let mut last = snapshot["lastUpdateId"].as_u64().unwrap_or(0);
    let (mut bids, mut asks) = (Side::new(), Side::new());
    apply(&mut bids, &snapshot["bids"]);
    apply(&mut asks, &snapshot["asks"]);
    if !report(BookEvent::Synced { endpoint: endpoint.to_string(), last_update_id: last }) {
        return End::Stopped;
    }
    let mut bridged = false;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return End::Stopped;
        }
        let message = match tokio::time::timeout(left.min(SILENCE_MAX), socket.next()).await {
            Err(_) if left <= SILENCE_MAX => return End::Stopped,
            Err(_) => return End::Broken("stream silent".into()),
            Ok(None) => return End::Broken("stream closed".into()),
            Ok(Some(Err(error))) => return End::Broken(format!("stream: {error}")),
            Ok(Some(Ok(message))) => message,
        };
        let data: Value = match message {
            Message::Text(text) => serde_json::from_str(&text).unwrap_or(Value::Null),
            Message::Close(frame) => return End::Broken(format!("closed by server: {frame:?}")),
            _ => continue,
        };
        let (Some(first), Some(end)) = (data["U"].as_u64(), data["u"].as_u64()) else { continue };
        if end <= last {
            continue;
        }
        if (bridged && first != last + 1) || (!bridged && first > last + 1) {
            return End::Broken(format!("gap: expected update {} next, got {first}", last + 1));
        }
        bridged = true;
        apply(&mut bids, &data["b"]);
        apply(&mut asks, &data["a"]);
        last = end;
        let best = |side: &Side, highest: bool| {
            let levels = side.iter().map(|(p, q)| (p.clone(), q.clone()));
            if highest {
                levels.max_by(|a, b| price_key(&a.0).cmp(&price_key(&b.0)))
            } else {
                levels.min_by(|a, b| price_key(&a.0).cmp(&price_key(&b.0)))
            }
        };
        if !report(BookEvent::Top { update_id: last, bid: best(&bids, true), ask: best(&asks, false) }) {
            return End::Stopped;
        }
    }
}
