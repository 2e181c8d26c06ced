// Origins: which node this page talks to, and moving to another when it dies.
//
// The page was served with every node's public origin (the JSON in #outlast-origins). It talks
// to one origin at a time, its "current" one: first the one it was loaded from. When a request
// to it fails (no answer, a timeout, a 5xx) or its WebSocket drops, the page probes every other
// origin's /ready at once, preferring another provider, and moves to the first that answers.
// Listeners (the book, the trade feed, the account panel) then resubscribe on the new origin.
//
// Signing happens here with WebCrypto: the secret is imported as a non-extractable HMAC key and
// the string is dropped; it never leaves the page or reaches any server.
'use strict';

const Outlast = (() => {
  const ORIGINS = JSON.parse(document.getElementById('outlast-origins').textContent || '[]');
  // How long one probe of /ready may take before its origin counts as down.
  const PROBE_TIMEOUT_MS = 800;
  // How long a REST call may take before the origin counts as failed.
  const REQUEST_TIMEOUT_MS = 3000;
  // Attempts of one call across origins before the page reports it failed.
  const ATTEMPTS_MAX = 4;
  // How long an order may be re-sent under its first signature (the server allows 60 s).
  const RECV_WINDOW_MS = 10000;

  let current = ORIGINS.find((o) => o.url === location.origin) || ORIGINS[0] || null;
  let switching = null; // the failover in progress, shared by everyone who notices the failure
  const listeners = [];
  const log = []; // {atMs, from, to, reason}: every switch, for the page and the tests

  function describe(origin) {
    return origin ? `n${origin.id} · ${origin.provider} · ${origin.region}` : 'no origin';
  }

  async function fetchWithTimeout(url, options, timeoutMs) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      return await fetch(url, { ...options, signal: controller.signal, cache: 'no-store' });
    } finally {
      clearTimeout(timer);
    }
  }

  async function probe(origin) {
    const response = await fetchWithTimeout(origin.url + '/ready', {}, PROBE_TIMEOUT_MS);
    if (!response.ok) throw new Error(`${origin.url} not ready (${response.status})`);
    return origin;
  }

  // Whether `origin` answers /ready in time; never throws.
  async function isReady(origin) {
    try {
      await probe(origin);
      return true;
    } catch (_) {
      return false;
    }
  }

  // Moves to a healthy origin other than `failed`; resolves to it. Everyone who saw the same
  // failure shares one failover; a failure seen on an origin already left behind is ignored.
  function failover(failed, reason) {
    if (failed && current && failed.url !== current.url) return Promise.resolve(current);
    if (switching) return switching;
    const from = current;
    switching = (async () => {
      for (let round = 0; ; round += 1) {
        const others = ORIGINS.filter((o) => !from || o.url !== from.url);
        // Another provider first: the one that failed may be losing a whole cloud.
        const preferred = others.filter((o) => !from || o.provider !== from.provider);
        for (const group of [preferred, others, ORIGINS]) {
          if (group.length === 0) continue;
          try {
            const to = await Promise.any(group.map(probe));
            current = to;
            log.push({ atMs: Date.now(), from: from && from.url, to: to.url, reason });
            for (const listener of listeners) {
              try { listener(to, from, reason); } catch (error) { console.error(error); }
            }
            return to;
          } catch (_) { /* nobody in this group answered */ }
        }
        UI.notice(`No origin answers (${reason}); retrying…`, 'error');
        await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 250 * (round + 1))));
      }
    })().finally(() => { switching = null; });
    return switching;
  }

  // One call to the current origin; on an origin failure, fails over and tries again.
  // `build(origin)` returns the fetch arguments, so a signed call can reuse its signature.
  async function call(build) {
    let lastError = null;
    for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt += 1) {
      const origin = switching ? await switching : current;
      if (!origin) throw new Error('this page knows no origin');
      const [path, options] = await build(origin);
      let response;
      try {
        response = await fetchWithTimeout(origin.url + path, options, REQUEST_TIMEOUT_MS);
      } catch (error) {
        lastError = new Error(`${describe(origin)} did not answer (${error.name === 'AbortError' ? 'timeout' : error.message})`);
        await failover(origin, lastError.message);
        continue;
      }
      const text = await response.text();
      let body = null;
      try { body = text ? JSON.parse(text) : null; } catch (_) { body = { msg: text }; }
      // 503 with -1007 is "outcome unknown" (the node lost its leader mid-write): the same
      // request again, elsewhere, is safe because every write carries its client id.
      if (response.status >= 500) {
        lastError = new Error(`${describe(origin)}: ${body && body.msg ? body.msg : response.status}`);
        await failover(origin, lastError.message);
        continue;
      }
      if (!response.ok) {
        const error = new Error(body && body.msg ? body.msg : `HTTP ${response.status}`);
        error.code = body && body.code;
        error.status = response.status;
        throw error;
      }
      return body;
    }
    throw lastError || new Error('no origin answered');
  }

  function query(params) {
    return Object.entries(params)
      .filter(([, v]) => v !== undefined && v !== null && v !== '')
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`)
      .join('&');
  }

  function publicGet(path, params = {}) {
    const q = query(params);
    return call(async () => [q ? `${path}?${q}` : path, {}]);
  }

  // Credentials: the key name and a non-extractable HMAC key made from the secret.
  let credentials = null;

  async function login(apiKey, secret) {
    const key = await crypto.subtle.importKey(
      'raw', new TextEncoder().encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
    const candidate = { apiKey, key };
    // The account call proves both the key and the secret (a bad signature is refused).
    const account = await signedWith(candidate, 'GET', '/api/v3/account', {});
    credentials = candidate;
    return account;
  }

  function logout() { credentials = null; }

  async function sign(key, payload) {
    const mac = await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(payload));
    return Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // A signed call. The signature is made once and re-sent unchanged on every retry while it is
  // fresh, so a retried order is byte-identical (and the engine deduplicates it by its client
  // order id in any case); after RECV_WINDOW_MS it is signed again with the same parameters.
  async function signedWith(creds, method, path, params) {
    if (!creds) throw new Error('log in first');
    let signedAt = 0;
    let signed = '';
    return call(async () => {
      if (Date.now() - signedAt > RECV_WINDOW_MS / 2) {
        signedAt = Date.now();
        const payload = query({ ...params, recvWindow: RECV_WINDOW_MS, timestamp: signedAt });
        signed = `${payload}&signature=${await sign(creds.key, payload)}`;
      }
      return [`${path}?${signed}`, { method, headers: { 'X-MBX-APIKEY': creds.apiKey } }];
    });
  }

  function signed(method, path, params = {}) { return signedWith(credentials, method, path, params); }

  // A call that takes the API key but no signature (the user data stream's listen key).
  function keyed(method, path, params = {}) {
    if (!credentials) return Promise.reject(new Error('log in first'));
    const q = query(params);
    const apiKey = credentials.apiKey;
    return call(async () => [q ? `${path}?${q}` : path, { method, headers: { 'X-MBX-APIKEY': apiKey } }]);
  }

  function onSwitch(listener) { listeners.push(listener); }

  function wsUrl(origin, path) { return origin.url.replace(/^http/, 'ws') + path; }

  // Keep this origin's pages for when it is down (see sw.js); optional: a browser without
  // service workers (or without a secure context) just cannot reopen a page from a dead node.
  if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/sw.js').catch(() => {});
  }

  return {
    origins: ORIGINS,
    current: () => current,
    describe,
    failover,
    isReady,
    onSwitch,
    publicGet,
    signed,
    keyed,
    login,
    logout,
    loggedIn: () => credentials !== null,
    wsUrl,
    switches: log,
    fetchWithTimeout,
  };
})();
