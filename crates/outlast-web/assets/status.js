// The status page: every node now, the leader, availability per provider over the last hour,
// the impact per exchange function over the last hour, elections and unavailability, and the
// latest chaos reports.
//
// "Now" comes from the current origin's /status/v1/cluster. The hour comes from every reachable
// origin's /status/v1/history, merged: a node was up in a sample if any node reached it, and an
// election is placed at the first moment any node saw its leader.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const REFRESH_MS = 2000;
  const HISTORY_REFRESH_MS = 10000;
  const HOUR_MS = 3600 * 1000;
  const CELL_MS = 60 * 1000;
  const TIMELINE_ROWS_MAX = 40;

  const nodeLabel = (id) => {
    const o = Outlast.origins.find((x) => x.id === id);
    return o ? `n${id} (${o.provider}, ${o.region})` : `n${id}`;
  };

  async function refreshCluster() {
    try {
      const view = await Outlast.publicGet('/status/v1/cluster');
      UI.showOrigin(Outlast.current(), 'on');
      const leader = view.nodes.find((n) => n.role === 'leader');
      $('leader-line').textContent = leader
        ? `Leader: n${leader.id} · ${leader.provider} · ${leader.region} · ${leader.zone} (term ${view.term})`
        : `No leader known (term ${view.term})`;
      $('leader-line').dataset.leader = leader ? String(leader.id) : '';
      $('probed').textContent = `As seen by n${view.node}${view.probedAtMs ? `, probed at ${UI.time(view.probedAtMs)} UTC` : ''}`;
      UI.rows($('nodes').tBodies[0], view.nodes.map((n) => ({
        attrs: { 'data-node': n.id, 'data-healthy': String(n.healthy), 'data-role': n.role },
        cells: [
          `n${n.id}`, n.provider, n.region, n.zone, n.origin || '—',
          UI.el('span', { class: `role-${n.role}`, text: n.role }),
          UI.el('span', { class: n.healthy ? 'ok' : 'error', text: n.healthy ? 'up' : 'down' }),
          n.term ?? '—', n.appliedIndex ?? '—', n.lag ?? '—',
        ],
      })), 'no nodes');
      renderChains(view.chains || []);
    } catch (error) {
      UI.notice(`Cluster status unavailable: ${error.message}`, 'error');
    }
  }

  // Each chain this node follows: how far deposits are credited, and each provider's upstream
  // as this node sees it (a breaker opens on a run of failures; "behind" is blocks under the
  // best head).
  function renderChains(chains) {
    $('chains-panel').hidden = chains.length === 0;
    $('chains-line').textContent = chains.map((c) =>
      `${c.name} (chain ${c.chainId}): head ${c.tip ?? '—'}, deposits credited to block ${c.checkpointBlock ?? '—'} ` +
      `after ${c.confirmations} confirmations, next payout nonce ${c.nextNonce ?? '—'}`).join(' · ');
    const rows = [];
    for (const c of chains) {
      for (const u of c.upstreams) {
        const healthy = u.breaker === 'closed' && (u.lagBlocks ?? 0) <= 3;
        rows.push({
          attrs: { 'data-chain': c.name, 'data-upstream': u.label, 'data-breaker': u.breaker },
          cells: [
            c.name, u.label,
            UI.el('span', { class: healthy ? 'ok' : 'error', text: u.breaker }),
            u.head ?? '—', u.lagBlocks ?? '—', `${u.errorPercent} %`,
            u.p50Ms == null ? '—' : `${u.p50Ms} ms`, u.p99Ms == null ? '—' : `${u.p99Ms} ms`, u.disagreements,
          ],
        });
      }
    }
    UI.rows($('upstreams').tBodies[0], rows, 'no upstreams');
  }

  // Every reachable origin's history, fetched in parallel; unreachable ones are skipped.
  async function histories() {
    const answers = await Promise.allSettled(Outlast.origins.map(async (o) => {
      const response = await Outlast.fetchWithTimeout(`${o.url}/status/v1/history`, {}, 1500);
      if (!response.ok) throw new Error(String(response.status));
      return response.json();
    }));
    return answers.filter((a) => a.status === 'fulfilled').map((a) => a.value);
  }

  async function refreshHistory() {
    const all = await histories();
    if (all.length === 0) return;
    const now = Math.max(...all.map((h) => h.nowMs));
    renderProviders(all, now);
    renderFunctions(all, now);
    renderTimeline(all);
  }

  // Worse first: a minute shows the worst mode of its samples.
  const RANK = { idle: 0, up: 1, degraded: 2, down: 3 };

  function renderFunctions(all, now) {
    const names = all[0].functions || [];
    const step = all[0].sampleEveryMs;
    const rows = names.map((name, index) => {
      // sample key -> [served somewhere, denied somewhere], merged over the nodes
      const merged = new Map();
      for (const h of all) {
        for (const [at, modes] of h.functionSamples || []) {
          if (now - at > HOUR_MS) continue;
          const key = Math.floor(at / step);
          const [served, denied] = merged.get(key) || [false, false];
          const mode = modes[index];
          merged.set(key, [served || mode === 'up' || mode === 'degraded', denied || mode === 'down' || mode === 'degraded']);
        }
      }
      let downMs = 0;
      let degradedMs = 0;
      const cells = new Array(HOUR_MS / CELL_MS).fill(null);
      for (const [key, [served, denied]] of merged) {
        const mode = denied ? (served ? 'degraded' : 'down') : (served ? 'up' : 'idle');
        if (mode === 'down') downMs += step;
        if (mode === 'degraded') degradedMs += step;
        const cell = Math.floor((key * step - (now - HOUR_MS)) / CELL_MS);
        if (cell < 0 || cell >= cells.length) continue;
        if (cells[cell] === null || RANK[mode] > RANK[cells[cell]]) cells[cell] = mode;
      }
      const strip = UI.el('div', { class: 'strip', title: 'last hour, one cell per minute' },
        cells.map((c) => UI.el('span', { class: c === null ? 'unknown' : c })));
      return {
        attrs: { 'data-function': name, 'data-down-ms': String(downMs) },
        cells: [name, `${(downMs / 1000).toFixed(0)} s`, `${(degradedMs / 1000).toFixed(0)} s`, strip],
      };
    });
    UI.rows($('functions').tBodies[0], rows, 'no samples yet');
  }

  function renderProviders(all, now) {
    const step = all[0].sampleEveryMs;
    // bucket (sample time rounded to the step) -> set of node ids seen up
    const buckets = new Map();
    for (const h of all) {
      for (const [at, up] of h.samples) {
        if (now - at > HOUR_MS) continue;
        const key = Math.floor(at / step);
        const seen = buckets.get(key) || new Set();
        for (const id of up) seen.add(id);
        buckets.set(key, seen);
      }
    }
    // A node counts from the first sample anyone reached it in: the minutes before a node
    // first started are not downtime.
    const firstUp = new Map();
    for (const [key, seen] of buckets) {
      for (const id of seen) firstUp.set(id, Math.min(firstUp.get(id) ?? Infinity, key));
    }
    const providers = new Map();
    for (const o of Outlast.origins) {
      if (!providers.has(o.provider)) providers.set(o.provider, []);
      providers.get(o.provider).push(o.id);
    }
    const rows = [];
    for (const [provider, ids] of providers) {
      let observed = 0;
      let up = 0;
      const cells = new Array(HOUR_MS / CELL_MS).fill(null);
      for (const [key, seen] of buckets) {
        const at = key * step;
        const cell = Math.floor((at - (now - HOUR_MS)) / CELL_MS);
        if (cell < 0 || cell >= cells.length) continue;
        const started = ids.filter((id) => key >= (firstUp.get(id) ?? Infinity));
        if (started.length === 0) continue;
        const allUp = started.every((id) => seen.has(id));
        observed += started.length;
        up += started.filter((id) => seen.has(id)).length;
        cells[cell] = cells[cell] === false ? false : allUp;
      }
      const share = observed ? (100 * up) / observed : null;
      const strip = UI.el('div', { class: 'strip', title: 'last hour, one cell per minute' },
        cells.map((c) => UI.el('span', { class: c === null ? 'unknown' : c ? 'up' : 'down' })));
      rows.push({
        attrs: { 'data-provider': provider },
        cells: [provider, ids.map((id) => `n${id}`).join(' '), share === null ? '—' : `${share.toFixed(2)} %`, strip],
      });
    }
    UI.rows($('providers').tBodies[0], rows, 'no samples yet');
  }

  function renderTimeline(all) {
    const events = [];
    for (const h of all) for (const e of h.events) events.push({ ...e, by: h.node });
    events.sort((a, b) => a.atMs - b.atMs);
    const rows = [];
    const elected = new Set();
    let leaderTerm = 0;
    let outage = null; // {from, by}
    for (const e of events) {
      if (e.leader === null || e.leader === undefined) {
        if (!outage && e.term >= leaderTerm && leaderTerm > 0) outage = { from: e.atMs, by: e.by };
        continue;
      }
      if (e.term > leaderTerm) {
        if (outage) {
          const ms = e.atMs - outage.from;
          rows.push({ at: outage.from, what: `no leader for ${(ms / 1000).toFixed(2)} s`, by: nodeLabel(outage.by), kind: 'down' });
          outage = null;
        }
        leaderTerm = e.term;
      }
      const key = `${e.term}/${e.leader}`;
      if (!elected.has(key)) {
        elected.add(key);
        rows.push({ at: e.atMs, what: `term ${e.term}: ${nodeLabel(e.leader)} leads`, by: nodeLabel(e.by), kind: 'election' });
      }
    }
    if (outage) rows.push({ at: outage.from, what: 'no leader since then', by: nodeLabel(outage.by), kind: 'down' });
    rows.sort((a, b) => b.at - a.at);
    UI.rows($('timeline').tBodies[0], rows.slice(0, TIMELINE_ROWS_MAX).map((r) => ({
      attrs: { class: r.kind === 'down' ? 'ask' : '', 'data-kind': r.kind },
      cells: [UI.time(r.at), r.what, r.by],
    })), 'nothing recorded yet');
  }

  async function refreshReports() {
    try {
      const index = await Outlast.publicGet('/reports/index.json');
      const base = Outlast.current().url;
      UI.rows($('reports').tBodies[0], index.runs.map((r) => [
        r.run, r.scenario || '—',
        UI.el('span', { class: r.pass ? 'ok' : 'error', text: r.pass ? 'PASS' : 'FAIL' }),
        r.longestUnavailabilityMs !== undefined && r.longestUnavailabilityMs !== null ? `${r.longestUnavailabilityMs} ms` : '—',
        r.rpoOpsLost ?? '—',
        UI.el('span', {}, [
          UI.el('a', { href: `${base}/reports/${encodeURIComponent(r.run)}/report.md`, text: 'report' }), ' · ',
          UI.el('a', { href: `${base}/reports/${encodeURIComponent(r.run)}/chart.svg`, text: 'chart' }),
        ]),
      ]), 'no chaos reports yet (run `outlast chaos provider-outage --attach DIR`)');
      const latest = index.runs[0];
      const holder = $('latest-chart');
      holder.replaceChildren();
      if (latest && Outlast.current().url === location.origin) {
        holder.append(UI.el('h3', { text: `Latest: ${latest.run}` }),
          UI.el('img', { src: `/reports/${encodeURIComponent(latest.run)}/chart.svg`, alt: `chart of ${latest.run}`, class: 'chart' }));
      }
    } catch (error) { /* reports are optional */ }
  }

  Outlast.onSwitch((to, from, reason) => {
    UI.notice(`Moved to ${Outlast.describe(to)}: ${reason}`, 'warn');
    UI.showOrigin(to, 'on');
    refreshCluster();
  });

  document.addEventListener('DOMContentLoaded', async () => {
    if (Outlast.origins.length === 0) { UI.notice('This page was served without any origin to talk to.', 'error'); return; }
    await refreshCluster();
    refreshHistory();
    refreshReports();
    setInterval(refreshCluster, REFRESH_MS);
    setInterval(refreshHistory, HISTORY_REFRESH_MS);
    setInterval(refreshReports, HISTORY_REFRESH_MS * 3);
    document.body.dataset.ready = 'true';
  });
})();
