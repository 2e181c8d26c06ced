//! WebSocket streams: market data (`<symbol>@trade`, `@aggTrade`, `@depth`, `@depth@100ms`,
//! `@depth<5|10|20>[@100ms]`, `@bookTicker`, `@kline_<interval>`, `@ticker`, `@miniTicker`,
//! `!ticker@arr`, `!miniTicker@arr`) on `/ws`, `/ws/<stream>` and `/stream?streams=a/b`, and
//! the user data stream on `/ws/<listenKey>`.
//!
//! Every node serves them from its own applied state, followers included. Each connection reads
//! the node's event feed; depth diffs are merged per interval and keep Binance's numbering —
//! `U` is the first update id in the message, `u` the last, and the next message's `U` is
//! `u + 1` — continuing from `/api/v3/depth`'s `lastUpdateId`, so a client can rebuild the book
//! and detect any gap. A connection never skips silently: if it falls behind the feed, or the
//! node's state was replaced by a snapshot, it is closed with a reason saying so.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use outlast_cluster::listener::Slot;
use outlast_engine::{AccountId, Engine, EventKind, MarketId, OrderStatus, Side, WithdrawalState};
use outlast_history::Interval;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::api::{now_ms, Shared};
use crate::error::ApiError;
use crate::names::{self, Units};

/// WebSocket connections one node serves at once.
pub const WS_CONNECTIONS_MAX: u64 = 10_000;
/// Streams one connection may subscribe to (Binance: 1,024).
pub const SUBSCRIPTIONS_MAX: usize = 1_024;
/// Largest message a client may send, in bytes.
pub const CLIENT_MESSAGE_BYTES_MAX: usize = 4_096;
/// How long one send may block before the subscriber is dropped as too slow.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// Most closed candles one kline stream catches up with in one send (a burst of applied
/// trades can open and close several one-second candles between two sends).
pub const KLINES_CATCH_UP_MAX: usize = 120;
/// Close code for a subscriber that fell behind (policy violation).
pub const CLOSE_LAGGED: u16 = 1008;
/// Close code for a gap in the node's own event feed (internal error).
pub const CLOSE_GAP: u16 = 1011;
/// Messages (requests and pings) a client may send per second (Binance: 5); past it the
/// connection is closed, as Binance does.
pub const CLIENT_MESSAGES_PER_SECOND_MAX: u32 = 5;
/// How long one connection lives (Binance: 24 hours); then it is closed and the client
/// reconnects, so no connection, and no session proven once, lasts for ever.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(24 * 3_600);
const TICK: Duration = Duration::from_millis(100);
const PING_EVERY_TICKS: u32 = 200;

/// One market-data stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stream {
    Trade(MarketId),
    /// Depth diffs merged over this many ticks (10 = 1 s, 1 = 100 ms).
    Depth(MarketId, u32),
    BookTicker(MarketId),
    /// The newest candle of an interval, each second it changed (a closed one once more, `x`).
    Kline(MarketId, Interval),
    /// Each trade as its own aggregate (see `public::agg_trades_json`).
    AggTrade(MarketId),
    /// The top 5, 10 or 20 levels of the book, each 10 or 1 ticks in which the book changed.
    PartialDepth(MarketId, u16, u32),
    /// The rolling 24-hour statistics, each second they may have changed.
    Ticker(MarketId),
    /// Their short form.
    MiniTicker(MarketId),
    /// `!ticker@arr`: the statistics of every market that changed, each second.
    AllTickers,
    /// `!miniTicker@arr`.
    AllMiniTickers,
}

impl Stream {
    /// The market it is about (none for the all-market arrays).
    fn market(self) -> Option<MarketId> {
        match self {
            Stream::Trade(m)
            | Stream::Depth(m, _)
            | Stream::BookTicker(m)
            | Stream::Kline(m, _)
            | Stream::AggTrade(m)
            | Stream::PartialDepth(m, _, _)
            | Stream::Ticker(m)
            | Stream::MiniTicker(m) => Some(m),
            Stream::AllTickers | Stream::AllMiniTickers => None,
        }
    }

    /// Sent on the 1-second tick when something changed, and once on subscribing.
    fn per_second(self) -> bool {
        matches!(self, Stream::Ticker(_) | Stream::MiniTicker(_) | Stream::AllTickers | Stream::AllMiniTickers)
    }
}

/// Parses a stream name such as `btcusdt@depth@100ms`.
fn parse_stream(engine: &Engine, name: &str) -> Option<Stream> {
    match name {
        "!ticker@arr" => return Some(Stream::AllTickers),
        "!miniTicker@arr" => return Some(Stream::AllMiniTickers),
        _ => {}
    }
    let (symbol, kind) = name.split_once('@')?;
    if symbol.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let market = engine.market_id(&symbol.to_ascii_uppercase())?;
    match kind {
        "trade" => Some(Stream::Trade(market)),
        "depth" | "depth@1000ms" => Some(Stream::Depth(market, 10)),
        "depth@100ms" => Some(Stream::Depth(market, 1)),
        "bookTicker" => Some(Stream::BookTicker(market)),
        "aggTrade" => Some(Stream::AggTrade(market)),
        "ticker" => Some(Stream::Ticker(market)),
        "miniTicker" => Some(Stream::MiniTicker(market)),
        kind if kind.starts_with("kline_") => Some(Stream::Kline(market, Interval::parse(&kind["kline_".len()..])?)),
        kind => {
            let (levels, speed) = kind.strip_prefix("depth")?.split_once('@').unwrap_or((&kind["depth".len()..], ""));
            let levels = match levels {
                "5" => 5,
                "10" => 10,
                "20" => 20,
                _ => return None,
            };
            let every = match speed {
                "" | "1000ms" => 10,
                "100ms" => 1,
                _ => return None,
            };
            Some(Stream::PartialDepth(market, levels, every))
        }
    }
}

fn stream_name(engine: &Engine, stream: Stream) -> String {
    let symbol = |m: MarketId| engine.markets()[m as usize].spec.symbol.to_ascii_lowercase();
    match stream {
        Stream::Trade(m) => format!("{}@trade", symbol(m)),
        Stream::Depth(m, 10) => format!("{}@depth", symbol(m)),
        Stream::Depth(m, _) => format!("{}@depth@100ms", symbol(m)),
        Stream::BookTicker(m) => format!("{}@bookTicker", symbol(m)),
        Stream::Kline(m, interval) => format!("{}@kline_{}", symbol(m), interval.name()),
        Stream::AggTrade(m) => format!("{}@aggTrade", symbol(m)),
        Stream::PartialDepth(m, levels, 10) => format!("{}@depth{levels}", symbol(m)),
        Stream::PartialDepth(m, levels, _) => format!("{}@depth{levels}@100ms", symbol(m)),
        Stream::Ticker(m) => format!("{}@ticker", symbol(m)),
        Stream::MiniTicker(m) => format!("{}@miniTicker", symbol(m)),
        Stream::AllTickers => "!ticker@arr".to_string(),
        Stream::AllMiniTickers => "!miniTicker@arr".to_string(),
    }
}

/// `/ws/<stream or listenKey>`, or `/ws/<anything else>` for a bare connection.
pub async fn ws_path(
    State(api): State<Shared>,
    Path(name): Path<String>,
    slot: Option<Extension<Slot>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    upgrade: Upgrade,
) -> Response {
    // Counted first: an attempt costs its address whatever it asks for.
    if let Err(refused) = admit(&api, peer.as_ref().map(|Extension(ConnectInfo(peer))| peer.ip())) {
        return refused.into_response();
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return not_websocket(rejection),
    };
    if !name.contains('@') && !outlast_engine::api_key_valid(&name) {
        // Not a stream and not shaped like a listen key: a bare connection that subscribes by
        // message, as Binance accepts (ccxt.pro numbers its connections `/ws/0`, `/ws/1`, …).
        return accept(api, upgrade, slot, Vec::new(), false, None);
    }
    if !name.contains('@') {
        // A user stream starts from a state that has every write acknowledged before it was
        // asked for, like an account read: the events it sends continue from there (and a key
        // opened through another node a moment ago is known here).
        if let Err(error) = api.catch_up().await {
            return error.into_response();
        }
        let account = {
            let engine = api.reader.read();
            let Some(key) = engine.listen_key_live(&name, crate::api::now_ms()) else {
                return ApiError::bad_listen_key().into_response();
            };
            // The stream carries the account's private events: only from where its API key
            // may be used (a live listen key's API key exists).
            let allowed = engine.api_key(&key.api_key).is_some_and(|entry| {
                entry.spec.ip_allowlist.is_empty()
                    || peer.is_some_and(|Extension(ConnectInfo(peer))| entry.allows_ip(peer.ip()))
            });
            if !allowed {
                return ApiError::rejected_api_key().into_response();
            }
            key.account
        };
        let user = User { account, listen_key: name };
        return accept(api, upgrade, slot, Vec::new(), false, Some(user));
    }
    let streams: Option<Vec<Stream>> = name.split('/').map(|n| parse_stream(&api.reader.read(), n)).collect();
    match streams {
        Some(streams) => accept(api, upgrade, slot, streams, false, None),
        None => ApiError::invalid_enum(-1100, "stream name").into_response(),
    }
}

/// `/ws` with no stream: subscribe by message.
pub async fn ws_root(
    State(api): State<Shared>,
    slot: Option<Extension<Slot>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    upgrade: Upgrade,
) -> Response {
    if let Err(refused) = admit(&api, peer.map(|Extension(ConnectInfo(peer))| peer.ip())) {
        return refused.into_response();
    }
    match upgrade {
        Ok(upgrade) => accept(api, upgrade, slot, Vec::new(), false, None),
        Err(rejection) => not_websocket(rejection),
    }
}

/// The upgrade, or why the request was not a WebSocket handshake.
type Upgrade = Result<WebSocketUpgrade, WebSocketUpgradeRejection>;

/// A plain HTTP request to a stream path: a Binance-style error, not the framework's text.
fn not_websocket(rejection: WebSocketUpgradeRejection) -> Response {
    ApiError::not_websocket(&rejection.body_text()).into_response()
}

/// `/stream?streams=a/b`: combined streams, each message wrapped with its stream name.
pub async fn combined(
    State(api): State<Shared>,
    uri: Uri,
    slot: Option<Extension<Slot>>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if let Err(refused) = admit(&api, peer.map(|Extension(ConnectInfo(peer))| peer.ip())) {
        return refused.into_response();
    }
    let params = match crate::params::Params::parse(uri.query().unwrap_or("").as_bytes(), b"") {
        Ok(params) => params,
        Err(error) => return error.into_response(),
    };
    let names = params.get("streams").unwrap_or("");
    let streams: Option<Vec<Stream>> =
        names.split('/').filter(|n| !n.is_empty()).map(|n| parse_stream(&api.reader.read(), n)).collect();
    match streams {
        Some(streams) if streams.len() <= SUBSCRIPTIONS_MAX => accept(api, upgrade, slot, streams, true, None),
        _ => ApiError::invalid_enum(-1100, "stream name").into_response(),
    }
}

struct User {
    account: AccountId,
    listen_key: String,
}

/// Opens a stream connection. It keeps the connection's listener `slot` (see
/// `http_server`) until it closes, so WebSockets count against their address's share.
fn accept(
    api: Shared,
    upgrade: WebSocketUpgrade,
    slot: Option<Extension<Slot>>,
    streams: Vec<Stream>,
    combined: bool,
    user: Option<User>,
) -> Response {
    // Subscribed before the handshake is answered: every event applied after the client sees
    // the connection open reaches it.
    let feed = api.reader.subscribe();
    upgrade.max_message_size(CLIENT_MESSAGE_BYTES_MAX).on_upgrade(move |socket| async move {
        let _slot = slot;
        api.metrics.ws_open.fetch_add(1, Ordering::Relaxed);
        let mut connection = Connection::new(api.clone(), socket, combined, user);
        connection.subscribe(streams);
        connection.run(feed).await;
        api.metrics.ws_open.fetch_sub(1, Ordering::Relaxed);
    })
}

/// Whether a new WebSocket connection (a stream or the WebSocket API) may open: the node has
/// room, and its address has not opened `ws_connects_per_window` in this window. Called first
/// in every handler, so an attempt is counted whether or not its handshake then succeeds, as
/// Binance counts attempts.
pub(crate) fn admit(api: &Shared, peer: Option<std::net::IpAddr>) -> Result<(), ApiError> {
    if api.metrics.ws_open.load(Ordering::Relaxed) >= WS_CONNECTIONS_MAX {
        return Err(ApiError::unavailable("too many WebSocket connections"));
    }
    let Some(ip) = peer else { return Ok(()) };
    let limit = api.weight_limits.ws_connects_per_window;
    let window_ms = crate::weights::WS_CONNECTS_WINDOW_MS;
    match api.weights.charge_in(crate::weights::Counter::Connects(ip), 1, limit, now_ms(), window_ms) {
        crate::weights::Charge::Ok(_) => Ok(()),
        crate::weights::Charge::Over(_) => {
            api.metrics.api_throttled.fetch_add(1, Ordering::Relaxed);
            Err(ApiError::too_many_connections(limit, window_ms / 60_000))
        }
    }
}

/// Depth changes merged since the last flush of one depth stream.
#[derive(Default)]
struct Pending {
    first: u64,
    last: u64,
    bids: BTreeMap<u64, u64>,
    asks: BTreeMap<u64, u64>,
}

struct Connection {
    api: Shared,
    socket: WebSocket,
    combined: bool,
    user: Option<User>,
    subs: BTreeSet<Stream>,
    pending: BTreeMap<Stream, Pending>,
    last_seq: Option<u64>,
    units: BTreeMap<MarketId, Units>,
    /// Kline streams whose market traded since the last second's sends.
    klines_changed: BTreeSet<Stream>,
    /// Per kline stream, the open time of the candle it sent last.
    klines_sent: BTreeMap<Stream, u64>,
    /// Ticker and partial-depth streams with something to send at their next interval.
    due: BTreeSet<Stream>,
    /// Markets whose statistics may have changed since the all-market arrays were last sent.
    markets_changed: BTreeSet<MarketId>,
    /// The second (since the connection opened) the client's messages are counted in, and
    /// how many it sent in it.
    messages: (u64, u32),
    opened: tokio::time::Instant,
}

/// Why a connection ends.
enum End {
    /// The client went away or the socket failed.
    Gone,
    /// We close it with this code and reason.
    Close(u16, String),
    /// The client broke a limit (policy violation): closed with this reason, and not counted
    /// as the node failing to serve.
    Limit(String),
}

impl Connection {
    fn new(api: Shared, socket: WebSocket, combined: bool, user: Option<User>) -> Connection {
        Connection {
            api,
            socket,
            combined,
            user,
            subs: BTreeSet::new(),
            pending: BTreeMap::new(),
            last_seq: None,
            units: BTreeMap::new(),
            klines_changed: BTreeSet::new(),
            klines_sent: BTreeMap::new(),
            due: BTreeSet::new(),
            markets_changed: BTreeSet::new(),
            messages: (0, 0),
            opened: tokio::time::Instant::now(),
        }
    }

    /// Adds streams; each sends its first message at its next interval (a candle, a ticker,
    /// the top of the book), so a new subscriber needs no trade to see the current state.
    fn subscribe(&mut self, streams: Vec<Stream>) {
        for stream in streams {
            match stream {
                Stream::Kline(..) => {
                    self.klines_changed.insert(stream);
                }
                Stream::AllTickers | Stream::AllMiniTickers => {
                    let markets = self.api.reader.read().markets().len() as MarketId;
                    self.markets_changed.extend(0..markets);
                    self.due.insert(stream);
                }
                Stream::PartialDepth(..) | Stream::Ticker(_) | Stream::MiniTicker(_) => {
                    self.due.insert(stream);
                }
                Stream::Trade(_) | Stream::Depth(..) | Stream::BookTicker(_) | Stream::AggTrade(_) => {}
            }
            self.subs.insert(stream);
        }
    }

    /// Counts a client message; past `CLIENT_MESSAGES_PER_SECOND_MAX` in a second, the end.
    fn count_message(&mut self) -> Result<(), End> {
        let second = self.opened.elapsed().as_secs();
        if self.messages.0 != second {
            self.messages = (second, 0);
        }
        self.messages.1 += 1;
        if self.messages.1 > CLIENT_MESSAGES_PER_SECOND_MAX {
            return Err(End::Limit(format!("too many messages: at most {CLIENT_MESSAGES_PER_SECOND_MAX} a second")));
        }
        Ok(())
    }

    async fn run(
        &mut self,
        mut feed: tokio::sync::broadcast::Receiver<std::sync::Arc<outlast_cluster::AppliedEvents>>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        let mut ticks: u32 = 0;
        let end = loop {
            let step = tokio::select! {
                batch = feed.recv() => match batch {
                    Ok(batch) => self.on_batch(&batch).await,
                    Err(RecvError::Lagged(missed)) => {
                        self.api.metrics.ws_lagged.fetch_add(1, Ordering::Relaxed);
                        Err(End::Close(CLOSE_LAGGED, format!("lagged: {missed} event batches missed; reconnect and rebuild from /api/v3/depth")))
                    }
                    Err(RecvError::Closed) => Err(End::Close(1001, "node shutting down".into())),
                },
                message = self.socket.recv() => match message {
                    Some(Ok(message)) => self.on_message(message).await,
                    _ => Err(End::Gone),
                },
                _ = tick.tick() => {
                    ticks = ticks.wrapping_add(1);
                    self.on_tick(ticks).await
                }
                _ = tokio::time::sleep_until(self.opened + CONNECTION_LIFETIME) => {
                    Err(End::Close(1000, "this connection is 24 hours old: reconnect".into()))
                }
            };
            if let Err(end) = step {
                break end;
            }
        };
        if matches!(end, End::Close(CLOSE_LAGGED | CLOSE_GAP, _)) {
            // The node ended the stream on the client: denied (see `function`).
            self.api.functions.note(crate::function::Function::Streams, false);
        }
        let end = match end {
            End::Limit(reason) => End::Close(1008, reason),
            end => end,
        };
        if let End::Close(code, reason) = end {
            let frame = CloseFrame { code, reason: Utf8Bytes::from(reason) };
            let _ = tokio::time::timeout(SEND_TIMEOUT, self.socket.send(Message::Close(Some(frame)))).await;
        }
    }

    async fn send(&mut self, value: Value) -> Result<(), End> {
        match tokio::time::timeout(SEND_TIMEOUT, self.socket.send(Message::Text(value.to_string().into()))).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(End::Gone),
            Err(_) => {
                self.api.metrics.ws_lagged.fetch_add(1, Ordering::Relaxed);
                Err(End::Close(CLOSE_LAGGED, "slow consumer: a send blocked too long".into()))
            }
        }
    }

    async fn send_stream(&mut self, stream: Stream, data: Value) -> Result<(), End> {
        if self.combined {
            let name = stream_name(&self.api.reader.read(), stream);
            self.send(json!({ "stream": name, "data": data })).await
        } else {
            self.send(data).await
        }
    }

    fn units(&mut self, market: MarketId) -> Units {
        let api = &self.api;
        self.units.entry(market).or_insert_with(|| Units::by_id(&api.reader.read(), market)).clone()
    }

    async fn on_message(&mut self, message: Message) -> Result<(), End> {
        let text = match message {
            Message::Text(text) => text,
            Message::Close(_) => return Err(End::Gone),
            // Answered by the WebSocket layer, but counted.
            Message::Ping(_) => return self.count_message(),
            // Pongs answer our pings; binary needs nothing.
            _ => return Ok(()),
        };
        self.count_message()?;
        let request: Value = match serde_json::from_str(text.as_str()) {
            Ok(value) => value,
            Err(_) => {
                return self.send(json!({ "error": { "code": 3, "msg": "Invalid JSON" }, "id": Value::Null })).await
            }
        };
        let id = request.get("id").cloned().unwrap_or(Value::Null);
        let method = request.get("method").and_then(Value::as_str).unwrap_or("");
        let names: Vec<&str> = request
            .get("params")
            .and_then(Value::as_array)
            .map_or(Vec::new(), |p| p.iter().filter_map(Value::as_str).collect());
        let error = |msg: &str| json!({ "error": { "code": 2, "msg": msg }, "id": id.clone() });
        match method {
            "SUBSCRIBE" | "UNSUBSCRIBE" => {
                let parsed: Option<Vec<Stream>> =
                    names.iter().map(|n| parse_stream(&self.api.reader.read(), n)).collect();
                let Some(streams) = parsed.filter(|s| !s.is_empty()) else {
                    return self.send(error("Invalid request: unknown stream name")).await;
                };
                if method == "SUBSCRIBE" {
                    if self.subs.len() + streams.len() > SUBSCRIPTIONS_MAX {
                        return self.send(error("Invalid request: too many subscriptions")).await;
                    }
                    self.subscribe(streams);
                } else {
                    for stream in streams {
                        self.subs.remove(&stream);
                        self.pending.remove(&stream);
                        self.klines_changed.remove(&stream);
                        self.klines_sent.remove(&stream);
                        self.due.remove(&stream);
                    }
                }
                self.send(json!({ "result": Value::Null, "id": id })).await
            }
            "LIST_SUBSCRIPTIONS" => {
                let list: Vec<String> = {
                    let engine = self.api.reader.read();
                    self.subs.iter().map(|s| stream_name(&engine, *s)).collect()
                };
                self.send(json!({ "result": list, "id": id })).await
            }
            _ => self.send(error("Invalid request: unknown method")).await,
        }
    }

    async fn on_tick(&mut self, ticks: u32) -> Result<(), End> {
        let due: Vec<Stream> = self
            .pending
            .keys()
            .copied()
            .filter(|s| matches!(s, Stream::Depth(_, every) if ticks % every == 0))
            .collect();
        for stream in due {
            let Some(pending) = self.pending.remove(&stream) else { continue };
            let Stream::Depth(market, _) = stream else { continue };
            let units = self.units(market);
            let side = |levels: &BTreeMap<u64, u64>| -> Value {
                Value::Array(levels.iter().map(|(&p, &q)| json!([units.price(p), units.qty(q)])).collect())
            };
            let data = json!({
                "e": "depthUpdate", "E": now_ms(), "s": units.symbol,
                "U": pending.first, "u": pending.last,
                "b": side(&pending.bids), "a": side(&pending.asks),
            });
            self.send_stream(stream, data).await?;
        }
        self.send_partial_depths(ticks).await?;
        if ticks % 10 == 0 {
            self.send_klines().await?;
            self.send_tickers().await?;
            if let Some(user) = &self.user {
                let now = crate::api::now_ms();
                let live = {
                    let engine = self.api.reader.read();
                    engine.listen_key_live(&user.listen_key, now).is_some_and(|key| key.account == user.account)
                };
                if !live {
                    let expired = json!({ "e": "listenKeyExpired", "E": now, "listenKey": user.listen_key });
                    self.send(expired).await?;
                    return Err(End::Close(1000, "listenKey closed, expired, or its API key revoked".into()));
                }
            }
        }
        if ticks % PING_EVERY_TICKS == 0 {
            let ping = tokio::time::timeout(SEND_TIMEOUT, self.socket.send(Message::Ping(Vec::new().into()))).await;
            if !matches!(ping, Ok(Ok(()))) {
                return Err(End::Gone);
            }
        }
        Ok(())
    }

    async fn on_batch(&mut self, batch: &outlast_cluster::AppliedEvents) -> Result<(), End> {
        let first = batch.events.first().map_or(0, |e| e.seq);
        if let Some(last) = self.last_seq {
            if first != last + 1 {
                return Err(End::Close(CLOSE_GAP, format!("gap in this node's events ({last} then {first}): its state was replaced by a snapshot; reconnect")));
            }
        }
        self.last_seq = batch.events.last().map(|e| e.seq);
        if !self.subs.is_empty() || self.user.is_some() {
            self.api.functions.note(crate::function::Function::Streams, true);
        }
        for event in &batch.events {
            if let EventKind::Trade(trade) = &event.kind {
                let first = Stream::Kline(trade.market, Interval::ALL[0]);
                let last = Stream::Kline(trade.market, Interval::ALL[Interval::ALL.len() - 1]);
                let changed: Vec<Stream> = self.subs.range(first..=last).copied().collect();
                self.klines_changed.extend(changed);
                self.statistics_changed(trade.market);
                if self.subs.contains(&Stream::AggTrade(trade.market)) {
                    let units = self.units(trade.market);
                    let data = json!({
                        "e": "aggTrade", "E": trade.ts_ms, "s": units.symbol, "a": trade.trade,
                        "p": units.price(trade.price), "q": units.qty(trade.qty), "f": trade.trade, "l": trade.trade,
                        "T": trade.ts_ms, "m": trade.taker_side == Side::Sell, "M": true,
                    });
                    self.send_stream(Stream::AggTrade(trade.market), data).await?;
                }
            }
            if let EventKind::Depth(delta) = &event.kind {
                // The top of the book is part of the full ticker.
                self.statistics_changed(delta.market);
                let partial =
                    Stream::PartialDepth(delta.market, 0, 0)..=Stream::PartialDepth(delta.market, u16::MAX, u32::MAX);
                let changed: Vec<Stream> = self.subs.range(partial).copied().collect();
                self.due.extend(changed);
            }
            match &event.kind {
                EventKind::Trade(trade) if self.subs.contains(&Stream::Trade(trade.market)) => {
                    let units = self.units(trade.market);
                    let data = json!({
                        "e": "trade", "E": trade.ts_ms, "s": units.symbol, "t": trade.trade,
                        "p": units.price(trade.price), "q": units.qty(trade.qty), "T": trade.ts_ms,
                        "m": trade.taker_side == Side::Sell, "M": true,
                    });
                    self.send_stream(Stream::Trade(trade.market), data).await?;
                }

                EventKind::Depth(delta) => {
                    let streams: Vec<Stream> = self
                        .subs
                        .range(Stream::Depth(delta.market, 0)..=Stream::Depth(delta.market, u32::MAX))
                        .copied()
                        .collect();
                    for stream in streams {
                        let pending = self
                            .pending
                            .entry(stream)
                            .or_insert_with(|| Pending { first: delta.first_update_id, ..Pending::default() });
                        pending.last = delta.last_update_id;
                        pending.bids.extend(delta.bids.iter().copied());
                        pending.asks.extend(delta.asks.iter().copied());
                    }
                    if self.subs.contains(&Stream::BookTicker(delta.market)) {
                        let units = self.units(delta.market);
                        let top =
                            self.api.reader.read().depth(delta.market, 1).expect("a market with events has a book");
                        let (bid, ask) =
                            (top.bids.first().copied().unwrap_or((0, 0)), top.asks.first().copied().unwrap_or((0, 0)));
                        let data = json!({
                            "u": top.last_update_id, "s": units.symbol,
                            "b": units.price(bid.0), "B": units.qty(bid.1), "a": units.price(ask.0), "A": units.qty(ask.1),
                        });
                        self.send_stream(Stream::BookTicker(delta.market), data).await?;
                    }
                }
                _ => {}
            }
        }
        if self.user.is_some() {
            self.user_events(batch).await?;
        }
        Ok(())
    }

    /// Marks `market`'s ticker streams, and the all-market arrays, as due.
    fn statistics_changed(&mut self, market: MarketId) {
        for stream in [Stream::Ticker(market), Stream::MiniTicker(market), Stream::AllTickers, Stream::AllMiniTickers] {
            if self.subs.contains(&stream) {
                self.due.insert(stream);
                if stream.market().is_none() {
                    self.markets_changed.insert(market);
                }
            }
        }
    }

    /// The partial-depth streams due at this tick: the top levels, with the update id they
    /// are as of.
    async fn send_partial_depths(&mut self, ticks: u32) -> Result<(), End> {
        let due: Vec<Stream> = self
            .due
            .iter()
            .copied()
            .filter(|s| matches!(s, Stream::PartialDepth(_, _, every) if ticks % every == 0))
            .collect();
        for stream in due {
            self.due.remove(&stream);
            let Stream::PartialDepth(market, levels, _) = stream else { continue };
            let units = self.units(market);
            let view =
                self.api.reader.read().depth(market, usize::from(levels)).expect("a subscribed market has a book");
            let side = |levels: &[(u64, u64)]| -> Value {
                Value::Array(levels.iter().map(|&(p, q)| json!([units.price(p), units.qty(q)])).collect())
            };
            let data =
                json!({ "lastUpdateId": view.last_update_id, "bids": side(&view.bids), "asks": side(&view.asks) });
            self.send_stream(stream, data).await?;
        }
        Ok(())
    }

    /// The ticker streams and all-market arrays due this second.
    async fn send_tickers(&mut self) -> Result<(), End> {
        let due: Vec<Stream> = self.due.iter().copied().filter(|s| s.per_second()).collect();
        if due.is_empty() {
            return Ok(());
        }
        let changed: Vec<MarketId> = std::mem::take(&mut self.markets_changed).into_iter().collect();
        for stream in due {
            self.due.remove(&stream);
            let markets = match stream.market() {
                Some(market) => vec![market],
                None => changed.clone(),
            };
            let full = matches!(stream, Stream::Ticker(_) | Stream::AllTickers);
            let messages: Vec<Value> = markets.iter().map(|&m| self.api.tickers.message(&self.api, m, full)).collect();
            match stream.market() {
                Some(_) => {
                    for message in messages {
                        self.send_stream(stream, message).await?;
                    }
                }
                None if messages.is_empty() => {}
                None => self.send_stream(stream, Value::Array(messages)).await?,
            }
        }
        Ok(())
    }

    /// Each kline stream whose market traded: from the candle it sent last on, every candle that
    /// has closed since (that one once more, and any that opened and closed between two sends),
    /// each with `x: true`, at most `KLINES_CATCH_UP_MAX`; then the newest, open.
    async fn send_klines(&mut self) -> Result<(), End> {
        for stream in std::mem::take(&mut self.klines_changed) {
            let Stream::Kline(market, interval) = stream else { continue };
            let sent = self.klines_sent.get(&stream).copied();
            let candles = match self.api.reader.history().klines(market) {
                Some(klines) => match sent {
                    Some(sent) => klines.query(interval, 0, Some(sent), None, KLINES_CATCH_UP_MAX),
                    None => klines.query(interval, 0, None, None, 1),
                },
                None => continue,
            };
            let Some((newest, closed)) = candles.split_last() else { continue };
            let units = self.units(market);
            for candle in closed {
                self.send_stream(stream, kline_json(&units, interval, candle, true)).await?;
            }
            self.klines_sent.insert(stream, newest.open_ms);
            self.send_stream(stream, kline_json(&units, interval, newest, false)).await?;
        }
        Ok(())
    }

    /// executionReport per order change and one outboundAccountPosition per batch.
    async fn user_events(&mut self, batch: &outlast_cluster::AppliedEvents) -> Result<(), End> {
        let account = self.user.as_ref().map(|u| u.account).expect("called for user streams");
        let mut balances = Vec::new();
        let mut messages = Vec::new();
        {
            let engine = self.api.reader.read();
            let history = self.api.reader.history();
            for event in &batch.events {
                match &event.kind {
                    EventKind::Order(update) if update.account == account => {
                        let units = Units::by_id(&engine, update.market);
                        let record = history.order(update.order);
                        // The last fill of this order in this batch, if it traded.
                        let fill = batch.events.iter().rev().find_map(|e| match &e.kind {
                            EventKind::Trade(t) if t.maker_order == update.order || t.taker_order == update.order => {
                                Some(t)
                            }
                            _ => None,
                        });
                        let execution = match (fill, update.status) {
                            (Some(_), _) => "TRADE",
                            (None, OrderStatus::Canceled) => "CANCELED",
                            (None, OrderStatus::Expired) => "EXPIRED",
                            (None, OrderStatus::ExpiredInMatch) => "TRADE_PREVENTION",
                            (None, _) => "NEW",
                        };
                        let is_maker = fill.is_some_and(|t| t.maker_order == update.order);
                        let (commission, commission_asset) = match fill {
                            Some(t) => {
                                let spec = &engine.markets()[update.market as usize].spec;
                                let asset = if update.side == Side::Buy { spec.base } else { spec.quote };
                                let fee = if is_maker { t.maker_fee } else { t.taker_fee };
                                let asset = &engine.assets()[asset as usize];
                                (crate::decimal::format(fee, asset.decimals), Value::from(asset.symbol.clone()))
                            }
                            None => ("0".to_string(), Value::Null),
                        };
                        messages.push(json!({
                            "e": "executionReport", "E": update.ts_ms, "s": units.symbol,
                            "c": update.client_id.as_str(), "S": names::side(update.side),
                            "o": record.map_or("LIMIT", |r| names::order_type(r.order_type)),
                            "f": record.map_or("GTC", |r| names::tif(r.tif)),
                            "q": units.qty(update.qty), "p": units.price(update.price),
                            "P": units.price(0), "F": units.qty(0), "g": -1, "C": "",
                            "x": execution, "X": names::status(update.status), "r": "NONE",
                            "i": update.order,
                            "l": units.qty(fill.map_or(0, |t| t.qty)),
                            "z": units.qty(update.executed_qty),
                            "L": units.price(fill.map_or(0, |t| t.price)),
                            "n": commission, "N": commission_asset,
                            "T": update.ts_ms, "t": fill.map_or(-1, |t| t.trade as i64),
                            "w": update.status.is_open(), "m": is_maker, "M": false,
                            "O": record.map_or(update.ts_ms, |r| r.placed_ms),
                            "Z": units.price(update.executed_quote),
                            "Y": units.price(fill.map_or(0, |t| t.quote_qty)),
                            "Q": units.price(record.map_or(0, |r| r.quote_qty)),
                            "V": record.map_or("NONE", |r| names::stp(r.stp)),
                        }));
                    }
                    EventKind::Deposit { account: owner, asset, amount, .. } if *owner == account => {
                        let asset = &engine.assets()[*asset as usize];
                        let delta = crate::decimal::format(*amount, asset.decimals);
                        messages.push(balance_update(&asset.symbol, &delta, engine.now_ms()));
                    }
                    EventKind::Withdrawal { withdrawal, account: owner, state } if *owner == account => {
                        let Some(w) = engine.withdrawal(*withdrawal) else { continue };
                        // The request moves the amount out of the free balance (its batch has
                        // the balance change; an approval's has none); a failure gives it back.
                        let requested = matches!(state, WithdrawalState::Requested | WithdrawalState::PendingApproval)
                            && batch.events.iter().any(|e| {
                                matches!(e.kind, EventKind::Balance { account: a, asset: b, .. } if a == account && b == w.asset)
                            });
                        let sign = match state {
                            _ if requested => "-",
                            WithdrawalState::Failed => "",
                            _ => continue,
                        };
                        let asset = &engine.assets()[w.asset as usize];
                        let delta = format!("{sign}{}", crate::decimal::format(w.amount, asset.decimals));
                        messages.push(balance_update(&asset.symbol, &delta, engine.now_ms()));
                    }
                    EventKind::Balance { account: owner, asset, available, locked } if *owner == account => {
                        let asset = &engine.assets()[*asset as usize];
                        balances.push(json!({
                            "a": asset.symbol,
                            "f": crate::decimal::format(*available, asset.decimals),
                            "l": crate::decimal::format(*locked, asset.decimals),
                        }));
                    }
                    _ => {}
                }
            }
        }
        for message in messages {
            self.send(message).await?;
        }
        if !balances.is_empty() {
            let now = now_ms();
            self.send(json!({ "e": "outboundAccountPosition", "E": now, "u": now, "B": balances })).await?;
        }
        Ok(())
    }
}

/// A `balanceUpdate`: a deposit (+), a withdrawal's request (-) or refund (+).
fn balance_update(asset: &str, delta: &str, ts_ms: u64) -> Value {
    json!({ "e": "balanceUpdate", "E": ts_ms, "a": asset, "d": delta, "T": ts_ms })
}

/// A kline stream's message, as Binance sends it.
fn kline_json(units: &Units, interval: Interval, c: &outlast_history::Candle, closed: bool) -> Value {
    json!({
        "e": "kline", "E": now_ms(), "s": units.symbol,
        "k": {
            "t": c.open_ms, "T": interval.next_open_ms(c.open_ms, 0) - 1, "s": units.symbol, "i": interval.name(),
            "f": c.first_trade, "L": c.last_trade,
            "o": units.price(c.open), "c": units.price(c.close), "h": units.price(c.high), "l": units.price(c.low),
            "v": units.qty(c.volume), "n": c.count, "x": closed, "q": units.price(c.quote_volume),
            "V": units.qty(c.taker_buy_volume), "Q": units.price(c.taker_buy_quote_volume), "B": "0",
        }
    })
}
