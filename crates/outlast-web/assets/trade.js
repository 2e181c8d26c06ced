// The trading page: markets, a live order book and trade feed, a candle chart (the node's klines,
// kept current by its kline stream, at the interval picked), and for a logged-in user balances,
// open orders, order history, order entry and cancel. The account panel follows the account's
// user data stream: its events redraw it at once, and a slow full re-read covers a reconnect.
// Prices and quantities show as many decimals as the market's tick and step sizes.
//
// The book follows Binance's procedure for a local book: open the diff stream, take a REST
// snapshot from the same origin, drop diffs the snapshot already holds, and apply the rest only
// if their update ids are contiguous; any gap resynchronises from a new snapshot. After a
// failover the whole procedure runs again on the new origin, so the book never silently misses
// an update. Update ids are the engine's, the same on every node.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  // Levels shown per side, trades kept, candles drawn.
  const LEVELS_SHOWN = 12;
  const TRADES_KEPT = 40;
  const CANDLES_SHOWN = 90;
  // How often the account panel is re-read in full (its events come from the user data stream),
  // the listen key kept alive, the tickers refreshed, and the current origin checked.
  const ACCOUNT_RESYNC_MS = 30000;
  const LISTEN_KEY_KEEPALIVE_MS = 30 * 60 * 1000;
  const TICKER_REFRESH_MS = 10000;
  const WATCHDOG_MS = 1000;

  const state = {
    markets: [],
    symbol: null,
    book: { lastUpdateId: 0, bids: new Map(), asks: new Map(), synced: false, origin: null },
    trades: [],
    candles: [], // {t, o, h, l, c}, oldest first, numbers
    interval: '1m',
    placed: [], // every order this page sent: {clientOrderId, params, result, error, attempts}
    generation: 0,
    ws: null,
  };
  // For tests and curious users: the page's own view, read-only by convention.
  window.outlastPage = {
    origin: () => Outlast.current(),
    switches: Outlast.switches,
    book: () => ({
      symbol: state.symbol,
      synced: state.book.synced,
      origin: state.book.origin,
      lastUpdateId: state.book.lastUpdateId,
      bids: sortedLevels(state.book.bids, true),
      asks: sortedLevels(state.book.asks, false),
    }),
    userStream: () => ({ connected: user.connected, events: user.events }),
    placed: () => state.placed.map((p) => ({ clientOrderId: p.clientOrderId, orderId: p.result && p.result.orderId, error: p.error })),
    trades: () => state.trades.slice(),
    candles: () => ({ interval: state.interval, candles: state.candles.slice() }),
  };

  // A decimal string cut or padded to the decimals of `size` (a tick or step size): text only,
  // no floating point, so what is shown is what the node sent.
  function decimalsOf(size) { return size ? (String(size).split('.')[1] || '').replace(/0+$/, '').length : null; }
  function toDecimals(text, digits) {
    if (digits === null || text === undefined || text === null) return text;
    const [whole, fraction = ''] = String(text).split('.');
    return digits === 0 ? whole : `${whole}.${fraction.padEnd(digits, '0').slice(0, digits)}`;
  }
  function price(text, m = market()) { return toDecimals(text, m ? decimalsOf(m.tick) : null); }
  function qty(text, m = market()) { return toDecimals(text, m ? decimalsOf(m.step) : null); }

  function sortedLevels(map, descending) {
    const levels = Array.from(map.entries()).map(([p, q]) => [p, q]);
    levels.sort((a, b) => (descending ? Number(b[0]) - Number(a[0]) : Number(a[0]) - Number(b[0])));
    return levels;
  }

  // ---- markets ------------------------------------------------------------------------------

  async function loadMarkets() {
    const info = await Outlast.publicGet('/api/v3/exchangeInfo');
    state.markets = info.symbols.map((s) => {
      const filter = (type) => s.filters.find((f) => f.filterType === type) || {};
      return {
        symbol: s.symbol, base: s.baseAsset, quote: s.quoteAsset, status: s.status,
        tick: filter('PRICE_FILTER').tickSize, step: filter('LOT_SIZE').stepSize,
      };
    });
    if (!state.symbol && state.markets.length) selectMarket(state.markets[0].symbol);
    renderMarkets({});
    refreshTickers();
  }

  async function refreshTickers() {
    try {
      const tickers = await Outlast.publicGet('/api/v3/ticker/24hr');
      const bySymbol = {};
      for (const t of [].concat(tickers)) bySymbol[t.symbol] = t;
      renderMarkets(bySymbol);
    } catch (error) { /* the next refresh tries again; failures already moved the origin */ }
  }

  function renderMarkets(tickers) {
    UI.rows($('markets').tBodies[0], state.markets.map((m) => {
      const t = tickers[m.symbol] || {};
      const change = t.priceChangePercent ? `${Number(t.priceChangePercent).toFixed(2)} %` : '—';
      return {
        attrs: { class: m.symbol === state.symbol ? 'selected clickable' : 'clickable', 'data-symbol': m.symbol, onclick: () => selectMarket(m.symbol) },
        cells: [m.symbol, t.count > 0 ? price(t.lastPrice, m) : '—', t.count > 0 ? change : '—'],
      };
    }), 'no markets');
  }

  function market() { return state.markets.find((m) => m.symbol === state.symbol); }

  function selectMarket(symbol) {
    state.symbol = symbol;
    state.trades = [];
    state.candles = [];
    $('book-symbol').textContent = symbol;
    $('entry-symbol').textContent = symbol;
    const m = market();
    if (m) {
      $('price').step = m.tick || 'any';
      $('quantity').step = m.step || 'any';
      $('quantity-unit').textContent = m.base;
      $('price-unit').textContent = m.quote;
    }
    renderMarkets({});
    connectMarket();
    refreshAccount();
  }

  // ---- the market stream and the book -------------------------------------------------------

  function connectMarket() {
    const generation = ++state.generation;
    if (state.ws) { state.ws.onclose = null; state.ws.close(); }
    const origin = Outlast.current();
    if (!origin || !state.symbol) return;
    const s = state.symbol.toLowerCase();
    state.book = { lastUpdateId: 0, bids: new Map(), asks: new Map(), synced: false, origin: origin.url };
    renderBook('syncing');
    UI.showOrigin(origin, 'on');
    const buffered = [];
    const interval = state.interval;
    const ws = new WebSocket(Outlast.wsUrl(origin, `/stream?streams=${s}@depth@100ms/${s}@trade/${s}@kline_${interval}`));
    state.ws = ws;
    const current = () => generation === state.generation;
    ws.onmessage = (message) => {
      if (!current()) return;
      const { data } = JSON.parse(message.data);
      if (!data) return;
      if (data.e === 'trade') addTrade(data);
      else if (data.e === 'kline' && data.k.i === interval) { addCandle(data.k); drawChart(); }
      else if (data.e === 'depthUpdate') {
        if (state.book.synced) applyDiff(data, origin);
        else buffered.push(data);
      }
    };
    ws.onopen = async () => {
      try {
        const response = await Outlast.fetchWithTimeout(`${origin.url}/api/v3/depth?symbol=${state.symbol}&limit=1000`, {}, 3000);
        if (!response.ok) throw new Error(`depth snapshot: HTTP ${response.status}`);
        const snapshot = await response.json();
        if (!current()) return;
        const recent = await Outlast.fetchWithTimeout(`${origin.url}/api/v3/trades?symbol=${state.symbol}&limit=${TRADES_KEPT}`, {}, 3000);
        if (recent.ok && current()) {
          const list = await recent.json();
          state.trades = [];
          for (const t of list) addTrade({ t: t.id, p: t.price, q: t.qty, T: t.time, m: t.isBuyerMaker }, false);
          renderTrades();
        }
        const klines = await Outlast.fetchWithTimeout(`${origin.url}/api/v3/uiKlines?symbol=${state.symbol}&interval=${interval}&limit=${CANDLES_SHOWN}`, {}, 3000);
        if (klines.ok && current()) {
          state.candles = [];
          for (const k of await klines.json()) addCandle({ t: k[0], o: k[1], h: k[2], l: k[3], c: k[4] });
          drawChart();
        }
        state.book.lastUpdateId = snapshot.lastUpdateId;
        for (const [p, q] of snapshot.bids) state.book.bids.set(p, q);
        for (const [p, q] of snapshot.asks) state.book.asks.set(p, q);
        state.book.synced = true;
        for (const diff of buffered.splice(0)) if (!applyDiff(diff, origin)) return;
        renderBook('synced');
      } catch (error) {
        if (current()) lost(origin, `book snapshot failed: ${error.message}`);
      }
    };
    ws.onclose = () => { if (current()) lost(origin, 'market stream closed'); };
  }

  // Applies one diff; false (and a resync) on a gap.
  function applyDiff(diff, origin) {
    const book = state.book;
    if (diff.u <= book.lastUpdateId) return true; // already in the snapshot
    if (diff.U > book.lastUpdateId + 1) {
      // A gap: updates between the book and this diff never arrived. Never guess: resync.
      UI.notice(`Order book gap (${book.lastUpdateId} then ${diff.U}); resynchronising`, 'warn');
      connectMarket();
      return false;
    }
    for (const [p, q] of diff.b) { if (Number(q) === 0) book.bids.delete(p); else book.bids.set(p, q); }
    for (const [p, q] of diff.a) { if (Number(q) === 0) book.asks.delete(p); else book.asks.set(p, q); }
    book.lastUpdateId = diff.u;
    renderBook('synced');
    return true;
  }

  // The stream or snapshot failed: reconnect to the same origin if it is still ready, else
  // move to another.
  async function lost(origin, reason) {
    const generation = state.generation;
    renderBook('reconnecting');
    UI.showOrigin(origin, 'leaving');
    if (await Outlast.isReady(origin)) {
      if (generation === state.generation) setTimeout(connectMarket, 200);
    } else {
      Outlast.failover(origin, reason);
    }
  }

  function renderBook(status) {
    const book = state.book;
    const asks = sortedLevels(book.asks, false).slice(0, LEVELS_SHOWN).reverse();
    const bids = sortedLevels(book.bids, true).slice(0, LEVELS_SHOWN);
    const row = (side) => ([p, q]) => ({ attrs: { class: side }, cells: [price(p), qty(q)] });
    UI.rows($('asks').tBodies[0], asks.map(row('ask')), 'no asks');
    UI.rows($('bids').tBodies[0], bids.map(row('bid')), 'no bids');
    const bestAsk = asks.length ? Number(asks[asks.length - 1][0]) : null;
    const bestBid = bids.length ? Number(bids[0][0]) : null;
    $('spread').textContent = bestAsk !== null && bestBid !== null ? `spread ${(bestAsk - bestBid).toFixed(8).replace(/\.?0+$/, '')}` : '';
    const origin = Outlast.origins.find((o) => o.url === book.origin);
    $('book-sync').textContent = `${status} at update ${book.lastUpdateId} from ${Outlast.describe(origin)}`;
    $('book-sync').dataset.status = status;
  }

  function addTrade(t, render = true) {
    state.trades.unshift({ id: t.t, price: t.p, qty: t.q, time: t.T, buyerMaker: t.m });
    state.trades.length = Math.min(state.trades.length, TRADES_KEPT);
    if (render) renderTrades();
  }

  // A candle from the REST answer or the stream: replaces the one with its open time, or is added.
  function addCandle(k) {
    const candle = { t: Number(k.t), o: Number(k.o), h: Number(k.h), l: Number(k.l), c: Number(k.c) };
    const at = state.candles.findIndex((c) => c.t === candle.t);
    if (at >= 0) state.candles[at] = candle;
    else {
      state.candles.push(candle);
      state.candles.sort((a, b) => a.t - b.t);
      if (state.candles.length > CANDLES_SHOWN) state.candles.shift();
    }
  }

  function renderTrades() {
    UI.rows($('trades').tBodies[0], state.trades.map((t) => ({
      attrs: { class: t.buyerMaker ? 'ask' : 'bid' },
      cells: [UI.time(t.time), price(t.price), qty(t.qty)],
    })), 'no trades yet');
  }

  // Candles: a wick from low to high, a body from open to close (green up, red down).
  function drawChart() {
    const canvas = $('chart');
    const ctx = canvas.getContext('2d');
    const { width, height } = canvas;
    ctx.clearRect(0, 0, width, height);
    const candles = state.candles;
    ctx.fillStyle = '#8a94a6';
    ctx.font = '12px system-ui, sans-serif';
    if (candles.length === 0) {
      ctx.fillText(`no trades in the last ${CANDLES_SHOWN} candles of ${state.interval}`, 10, height / 2);
      return;
    }
    const low = Math.min(...candles.map((c) => c.l));
    const high = Math.max(...candles.map((c) => c.h));
    const span = high - low || 1;
    const pad = 24;
    const slot = (width - 2 * pad) / CANDLES_SHOWN;
    const x = (i) => pad + (CANDLES_SHOWN - candles.length + i + 0.5) * slot;
    const y = (price) => height - pad - ((price - low) / span) * (height - 2 * pad);
    for (const [i, c] of candles.entries()) {
      const color = c.c >= c.o ? '#16a34a' : '#dc2626';
      ctx.strokeStyle = color;
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.moveTo(x(i), y(c.h));
      ctx.lineTo(x(i), y(c.l));
      ctx.stroke();
      const top = y(Math.max(c.o, c.c));
      ctx.fillRect(x(i) - Math.max(1, slot * 0.35), top, Math.max(2, slot * 0.7), Math.max(1, y(Math.min(c.o, c.c)) - top));
    }
    const m = market();
    const digits = m && m.tick ? Math.max(0, (String(m.tick).split('.')[1] || '').replace(/0+$/, '').length) : 2;
    ctx.fillStyle = '#8a94a6';
    ctx.fillText(`high ${high.toFixed(digits)}`, 4, 14);
    ctx.fillText(`low ${low.toFixed(digits)}`, 4, height - 6);
    ctx.fillText(`last ${candles[candles.length - 1].c.toFixed(digits)} (${state.interval})`, width - 170, 14);
  }

  // ---- account ------------------------------------------------------------------------------

  let refreshing = false;
  async function refreshAccount() {
    if (!Outlast.loggedIn() || refreshing || !state.symbol) return;
    refreshing = true;
    try {
      const [account, open, history] = await Promise.all([
        Outlast.signed('GET', '/api/v3/account'),
        Outlast.signed('GET', '/api/v3/openOrders', { symbol: state.symbol }),
        Outlast.signed('GET', '/api/v3/allOrders', { symbol: state.symbol, limit: 50 }),
      ]);
      renderAccount(account, open, history);
      await refreshWallet();
    } catch (error) {
      if (error.code === -2015 || error.code === -2014) {
        logout(`Logged out: ${error.message}`);
      }
    } finally {
      refreshing = false;
    }
  }

  // The deposit address (derived by the node from the chain's public key) and the withdrawals
  // with the transaction that paid each. A node that follows no chain has no address to show.
  const WITHDRAWAL_STATUS = { 2: 'requested', 4: 'processing', 5: 'failed', 6: 'paid' };
  async function refreshWallet() {
    // An account's address never changes: asked once per login.
    if ($('deposit-address').textContent === '—') {
      try {
        const address = await Outlast.signed('GET', '/sapi/v1/capital/deposit/address', { coin: 'USDT' });
        $('deposit-address').textContent = address.address;
      } catch (error) {
        $('deposit-address').textContent = '—';
      }
    }
    try {
      const rows = await Outlast.signed('GET', '/sapi/v1/capital/withdraw/history', { limit: 10 });
      UI.rows($('withdrawals').tBodies[0], rows.map((w) => ({
        attrs: { 'data-withdrawal': w.id, 'data-status': String(w.status) },
        cells: [w.id, w.coin, w.amount, w.address, WITHDRAWAL_STATUS[w.status] || String(w.status), w.txId || '—'],
      })), 'no withdrawals');
    } catch (error) {
      UI.rows($('withdrawals').tBodies[0], [], 'withdrawals unavailable');
    }
  }

  function renderAccount(account, open, history) {
    const balances = account.balances.filter((b) => Number(b.free) !== 0 || Number(b.locked) !== 0);
    UI.rows($('balances').tBodies[0], balances.map((b) => [b.asset, b.free, b.locked]), 'no balances');
    UI.rows($('open-orders').tBodies[0], open.map((o) => ({
      attrs: { 'data-order-id': o.orderId, 'data-client-order-id': o.clientOrderId },
      cells: [o.orderId, o.side, o.type, price(o.price), qty(o.origQty), qty(o.executedQty),
        UI.el('button', { class: 'cancel', text: 'Cancel', onclick: () => cancel(o) })],
    })), 'no open orders');
    const recent = history.slice().sort((a, b) => b.orderId - a.orderId);
    UI.rows($('history').tBodies[0], recent.map((o) => ({
      attrs: { 'data-order-id': o.orderId, 'data-client-order-id': o.clientOrderId, 'data-status': o.status },
      cells: [o.orderId, o.side, o.type, price(o.price), qty(o.origQty), qty(o.executedQty), o.status],
    })), 'no orders yet');
  }

  // ---- the user data stream ----------------------------------------------------------------

  const user = { ws: null, generation: 0, connected: false, events: 0, redraw: null, listenKey: null };

  // Opens the account's user data stream on the current origin (a listen key, then `/ws/<key>`);
  // on any close it opens again, on whichever origin is current by then.
  async function connectUser() {
    const generation = ++user.generation;
    if (user.ws) { user.ws.onclose = null; user.ws.close(); user.ws = null; }
    user.connected = false;
    if (!Outlast.loggedIn()) return;
    const again = (delayMs) => setTimeout(() => { if (generation === user.generation) connectUser(); }, delayMs);
    try {
      const { listenKey } = await Outlast.keyed('POST', '/api/v3/userDataStream');
      if (generation !== user.generation) return;
      user.listenKey = listenKey;
      const ws = new WebSocket(Outlast.wsUrl(Outlast.current(), `/ws/${listenKey}`));
      user.ws = ws;
      // Read everything once the stream is open: no event can fall between the two.
      ws.onopen = () => { user.connected = true; refreshAccount(); };
      ws.onmessage = (message) => { if (generation === user.generation) onUserEvent(JSON.parse(message.data)); };
      ws.onclose = () => { user.connected = false; again(1000); };
    } catch (error) {
      again(2000);
    }
  }

  function onUserEvent(event) {
    user.events += 1;
    if (event.e === 'outboundAccountPosition') {
      // The balances it names, at once; the others are unchanged.
      const rows = Array.from($('balances').tBodies[0].rows);
      for (const b of event.B) {
        const row = rows.find((r) => r.cells[0] && r.cells[0].textContent === b.a);
        if (row && row.cells.length >= 3) { row.cells[1].textContent = b.f; row.cells[2].textContent = b.l; }
      }
    }
    if (event.e === 'listenKeyExpired') { connectUser(); return; }
    // Orders and balances changed: one re-read for a burst of events.
    clearTimeout(user.redraw);
    user.redraw = setTimeout(refreshAccount, 50);
  }

  async function keepListenKey() {
    if (!Outlast.loggedIn() || !user.connected) return;
    try {
      await Outlast.keyed('PUT', '/api/v3/userDataStream', { listenKey: user.listenKey });
    } catch (error) { /* the stream's close reconnects it */ }
  }

  async function cancel(order) {
    try {
      await Outlast.signed('DELETE', '/api/v3/order', { symbol: order.symbol, orderId: order.orderId });
      UI.notice(`Order ${order.orderId} canceled`);
    } catch (error) {
      UI.notice(`Cancel of order ${order.orderId} refused: ${error.message}`, 'error');
    }
    refreshAccount();
  }

  function newClientOrderId() {
    const bytes = crypto.getRandomValues(new Uint8Array(12));
    return 'web' + Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  async function placeOrder(event) {
    event.preventDefault();
    const result = $('order-result');
    if (!Outlast.loggedIn()) { result.textContent = 'Log in first.'; result.className = 'error'; return; }
    const side = document.querySelector('input[name="side"]:checked').value;
    const type = $('order-type').value;
    const quantity = $('quantity').value.trim();
    const price = $('price').value.trim();
    if (!(Number(quantity) > 0)) { result.textContent = 'Enter a quantity above zero.'; result.className = 'error'; return; }
    if (type === 'LIMIT' && !(Number(price) > 0)) { result.textContent = 'Enter a price above zero for a limit order.'; result.className = 'error'; return; }
    // One client order id per click: every retry of this order, on any origin, carries it,
    // so the exchange applies it at most once.
    const params = { symbol: state.symbol, side, type, quantity, newClientOrderId: newClientOrderId(), newOrderRespType: 'RESULT' };
    if (type === 'LIMIT') Object.assign(params, { price, timeInForce: 'GTC' });
    const record = { clientOrderId: params.newClientOrderId, params, result: null, error: null };
    state.placed.push(record);
    const button = $('submit-order');
    button.disabled = true;
    result.textContent = `Sending ${side} ${quantity} ${state.symbol}…`;
    result.className = '';
    try {
      record.result = await Outlast.signed('POST', '/api/v3/order', params);
      result.textContent = `Order ${record.result.orderId} ${record.result.status} (${side} ${record.result.executedQty}/${record.result.origQty}) via ${Outlast.describe(Outlast.current())}`;
      result.className = 'ok';
    } catch (error) {
      record.error = error.message;
      result.textContent = `Order refused: ${error.message}`;
      result.className = 'error';
    } finally {
      button.disabled = false;
      result.dataset.clientOrderId = record.clientOrderId;
      result.dataset.done = String(state.placed.length);
    }
    refreshAccount();
  }

  // ---- login --------------------------------------------------------------------------------

  async function login(event) {
    event.preventDefault();
    const apiKey = $('api-key').value.trim();
    const secretField = $('api-secret');
    const secret = secretField.value.trim();
    const message = $('login-result');
    if (!apiKey || !secret) { message.textContent = 'Paste both the API key and its secret.'; message.className = 'error'; return; }
    message.textContent = 'Checking…';
    message.className = '';
    try {
      const account = await Outlast.login(apiKey, secret);
      secretField.value = ''; // the page keeps only the non-extractable signing key
      message.textContent = '';
      $('login').hidden = true;
      $('logged-in').hidden = false;
      $('whoami').textContent = apiKey;
      renderAccount(account, [], []);
      refreshAccount();
      connectUser();
    } catch (error) {
      message.textContent = `Login refused: ${error.message}`;
      message.className = 'error';
    }
  }

  function logout(why) {
    Outlast.logout();
    connectUser(); // closes the stream: logged out, it opens none
    $('login').hidden = false;
    $('logged-in').hidden = true;
    for (const id of ['balances', 'open-orders', 'history', 'withdrawals']) UI.rows($(id).tBodies[0], [], 'log in to see this');
    $('deposit-address').textContent = '—';
    if (why) UI.notice(why, 'warn');
  }

  // ---- wiring -------------------------------------------------------------------------------

  // Checks the current origin every second; two misses in a row move the page.
  let misses = 0;
  async function watchdog() {
    const origin = Outlast.current();
    if (!origin) return;
    misses = (await Outlast.isReady(origin)) ? 0 : misses + 1;
    if (misses >= 2 && Outlast.current() === origin) {
      misses = 0;
      Outlast.failover(origin, 'origin stopped answering');
    }
  }

  Outlast.onSwitch((to, from, reason) => {
    UI.notice(`Moved from ${from ? Outlast.describe(Outlast.origins.find((o) => o.url === from.url)) : 'nowhere'} to ${Outlast.describe(to)}: ${reason}`, 'warn');
    UI.showOrigin(to, 'on');
    connectMarket();
    connectUser();
  });

  document.addEventListener('DOMContentLoaded', async () => {
    $('login').addEventListener('submit', login);
    $('logout').addEventListener('click', () => logout('Logged out.'));
    $('order-form').addEventListener('submit', placeOrder);
    $('order-type').addEventListener('change', () => { $('price').disabled = $('order-type').value === 'MARKET'; });
    $('chart-interval').addEventListener('change', () => {
      state.interval = $('chart-interval').value;
      state.candles = [];
      drawChart();
      connectMarket();
    });
    logout();
    UI.clearNotice();
    if (Outlast.origins.length === 0) { UI.notice('This page was served without any origin to talk to.', 'error'); return; }
    // A dead origin at load: find a live one before anything else.
    if (!(await Outlast.isReady(Outlast.current()))) {
      UI.notice(`${Outlast.describe(Outlast.current())} does not answer; looking for another origin…`, 'warn');
      await Outlast.failover(Outlast.current(), 'origin dead at page load');
    }
    UI.showOrigin(Outlast.current(), 'on');
    try { await loadMarkets(); } catch (error) { UI.notice(`Markets could not be loaded: ${error.message}`, 'error'); }
    setInterval(refreshAccount, ACCOUNT_RESYNC_MS);
    setInterval(keepListenKey, LISTEN_KEY_KEEPALIVE_MS);
    setInterval(refreshTickers, TICKER_REFRESH_MS);
    setInterval(watchdog, WATCHDOG_MS);
    document.body.dataset.ready = 'true';
  });
})();
