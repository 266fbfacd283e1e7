// overview.js - the Overview page: severity and state pies, events over time
// by namespace, top rules, and the most severe events of the range.
//
// DESIGN: every chart has the same colours as the badges (severityColor reads
// style.css), a text alternative (aria-label + a data table under it), and a
// drill-down: clicking a slice or a bar opens the Events page with that
// filter and the same range. The time chart asks /api/stats for ~60 buckets
// of an interval written with its unit ("600000ms": a bare number would be
// seconds) and draws every bucket of the range, empty ones included.

import {
  $, apiJson, el, row, headers, fillTable, safeLink, viewLink, sevBadge, severityColor, severityName,
  fmtLocal, fmtDuration, timeEl, hashFor, rangeQuery, rangeParams, rangeText, timeBasisText,
} from './lib.js';

const charts = {};
const STATE_COLORS = { active: '#c62828', OK: '#2e7d32', RESOLVED: '#1565c0' };
const POINT_COLORS = { kubernetes: '#78909c', docker: '#b0bec5' };
const PALETTE = ['#1565c0', '#2e7d32', '#ef6c00', '#6a1b9a', '#00838f', '#ad1457', '#5d4037', '#283593',
  '#9e9d24', '#d81b60', '#455a64', '#00695c'];
const POINT_SOURCES = ['kubernetes', 'docker'];
const STEPS = [1e3, 5e3, 10e3, 30e3, 60e3, 300e3, 600e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3,
  86400e3, 7 * 86400e3, 30 * 86400e3, 365 * 86400e3];

export function destroyCharts() {
  for (const k of Object.keys(charts)) { charts[k].destroy(); delete charts[k]; }
}

// About 60 buckets over the span, on a round interval.
export function bucketInterval(spanMs) {
  for (const s of STEPS) if (spanMs / s <= 60) return s;
  return STEPS[STEPS.length - 1];
}

function chartLib() {
  return typeof window.Chart === 'function' ? window.Chart : null;
}

function drawChart(id, config, summary) {
  const Chart = chartLib();
  const canvas = $(id);
  canvas.setAttribute('aria-label', summary);
  if (!Chart) {
    canvas.parentElement.replaceChildren(el('p', 'Charts unavailable: Chart.js is not installed (run scripts/setup.sh).', 'error'));
    return;
  }
  config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
  if (charts[id]) {
    charts[id].data = config.data;
    charts[id].options = config.options;
    charts[id].update();
    return;
  }
  charts[id] = new Chart(canvas, config);
}

function fillData(id, rows) {
  const labels = headers(id);
  fillTable(id, rows.map((r) => row(r, labels)), 'no events');
}

// The Events page with these filters and the overview's range.
function drillHash(ctx, filters) {
  return hashFor('events', Object.assign(rangeParams(ctx.range), filters));
}

function drill(ctx, filters) {
  window.location.hash = drillHash(ctx, filters);
}

// A count in a data table, linking to its events (the keyboard's drill-down).
function countLink(ctx, n, filters) {
  return viewLink(String(n), drillHash(ctx, filters));
}

function pointer(evt) {
  return evt && evt.native ? evt.native.target.style : null;
}

function onHover(evt, elements) {
  const st = pointer(evt);
  if (st) st.cursor = elements.length > 0 ? 'pointer' : 'default';
}

function fmtBucket(t, interval) {
  const s = fmtLocal(t);
  if (interval >= 86400e3) return s.slice(0, 10);
  return interval >= 60e3 ? s.slice(0, 16) : s;
}

// ---- the four charts -----------------------------------------------------------

function drawSeverity(ctx, sev) {
  const keys = [0, 1, 2, 3, 4, 5, 6, 7].filter((k) => sev.counts[k]);
  const labels = keys.map((k) => severityName(k) + ' (' + k + '): ' + sev.counts[k]);
  drawChart('chart-severity', {
    type: 'pie',
    data: {
      labels,
      datasets: [{ data: keys.map((k) => sev.counts[k]), backgroundColor: keys.map((k) => severityColor(k)),
        borderColor: '#fff', borderWidth: 1, severities: keys }],
    },
    options: {
      onHover,
      onClick: (evt, elements) => {
        if (elements.length > 0) drill(ctx, { severity: keys[elements[0].index], exact: 1 });
      },
    },
  }, 'Alerts by severity: ' + (keys.length ? keys.map((k) => sev.counts[k] + ' ' + severityName(k)).join(', ') : 'no events'));
  fillData('data-severity', keys.map((k) => [sevBadge(k), countLink(ctx, sev.counts[k], { severity: k, exact: 1 })]));
}

// point: {source: ACTIVE count} of the sources whose events are points (never resolved).
function drawState(ctx, state, point) {
  const points = POINT_SOURCES.map((src) => ({ key: 'point', label: src + ' point events', n: point[src] || 0,
    filter: { state: 'ACTIVE', source: src }, color: POINT_COLORS[src] }));
  const active = Math.max(0, (state.counts.ACTIVE || 0) - points.reduce((a, p) => a + p.n, 0));
  const parts = [
    // Its events page (state=ACTIVE) lists the point events too: the API filters one source at a time.
    { key: 'active', label: 'active alerts', n: active, filter: { state: 'ACTIVE' } },
    ...points,
    { key: 'OK', label: 'resolved: OK (condition cleared)', n: state.counts.OK || 0, filter: { state: 'OK' } },
    { key: 'RESOLVED', label: 'resolved by hand', n: state.counts.RESOLVED || 0, filter: { state: 'RESOLVED' } },
  ].filter((p) => p.n > 0);
  drawChart('chart-state', {
    type: 'pie',
    data: {
      labels: parts.map((p) => p.label + ': ' + p.n),
      datasets: [{ data: parts.map((p) => p.n), backgroundColor: parts.map((p) => p.color || STATE_COLORS[p.key]), borderColor: '#fff', borderWidth: 1 }],
    },
    options: {
      onHover,
      onClick: (evt, elements) => {
        if (elements.length > 0) drill(ctx, parts[elements[0].index].filter);
      },
    },
  }, 'Active vs resolved: ' + (parts.length ? parts.map((p) => p.n + ' ' + p.label).join(', ') : 'no events'));
  fillData('data-state', parts.map((p) => [p.label, countLink(ctx, p.n, p.filter)]));
}

// Every bucket start from the one holding `from` to the one holding `to`.
function bucketStarts(from, to, interval) {
  const out = [];
  for (let t = Math.floor(from / interval) * interval; t <= to; t += interval) out.push(t);
  return out;
}

function drawTime(ctx, overTime, from, to, interval) {
  const starts = bucketStarts(from, to, interval);
  const byT = new Map(overTime.buckets.map((b) => [b.t, b.counts]));
  const nsSet = new Set();
  for (const b of overTime.buckets) for (const k of Object.keys(b.counts)) nsSet.add(k);
  const namespaces = [...nsSet].sort();
  const basis = timeBasisText(ctx.range.time);
  const axis = (ctx.range.time === 'received' ? 'Arrival time' : 'Event time') + ', local time zone, ' +
    fmtDuration(interval) + ' buckets';
  drawChart('chart-time', {
    type: 'bar',
    data: {
      labels: starts.map((t) => fmtBucket(t, interval)),
      datasets: namespaces.map((ns, i) => ({
        label: ns === '' ? '(no namespace)' : ns,
        namespace: ns,
        data: starts.map((t) => (byT.get(t) || {})[ns] || 0),
        backgroundColor: PALETTE[i % PALETTE.length],
      })),
    },
    options: {
      onHover,
      scales: {
        x: { stacked: true, title: { display: true, text: axis } },
        y: { stacked: true, beginAtZero: true, title: { display: true, text: 'events' }, ticks: { precision: 0 } },
      },
    },
  }, 'Events over time by namespace, ' + overTime.total + ' events in ' + starts.length + ' buckets of ' +
    fmtDuration(interval) + ' by ' + basis);
  const canvas = $('chart-time');
  canvas.dataset.interval = String(interval);
  canvas.dataset.buckets = JSON.stringify(starts);
  canvas.dataset.axis = axis;
  ctx.time = { starts, interval, namespaces };
  const rows = [];
  for (const t of starts) {
    const c = byT.get(t);
    if (!c) continue;
    for (const ns of Object.keys(c)) {
      const p = { from: t, to: t + interval - 1, time: ctx.range.time === 'received' ? 'received' : undefined };
      if (ns) p.namespace = ns;
      rows.push([fmtLocal(t), ns === '' ? '(no namespace)' : ns, viewLink(String(c[ns]), hashFor('events', p))]);
    }
  }
  fillData('data-time', rows);
}

function drawRules(ctx, rules) {
  const keys = Object.keys(rules.counts);
  drawChart('chart-rules', {
    type: 'bar',
    data: {
      labels: keys.map((k) => (k === '' ? '(unnamed)' : k.length > 60 ? k.slice(0, 57) + '...' : k)),
      datasets: [{ label: 'events', data: keys.map((k) => rules.counts[k]), backgroundColor: '#1565c0' }],
    },
    options: {
      indexAxis: 'y',
      onHover,
      plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: 'events' } } },
      onClick: (evt, elements) => {
        if (elements.length > 0 && keys[elements[0].index] !== '') drill(ctx, { rule: keys[elements[0].index] });
      },
    },
  }, 'Top rules: ' + (keys.length ? keys.map((k) => (k || '(unnamed)') + ' ' + rules.counts[k]).join(', ') : 'no events'));
  fillData('data-rules', keys.map((k) => [k === '' ? '(unnamed)' : k, k === '' ? rules.counts[k] : countLink(ctx, rules.counts[k], { rule: k })]));
}

// ---- time chart: click drills down, a drag zooms -------------------------------------------

function bucketAt(chart, x) {
  const s = chart.scales.x;
  const i = s.getValueForPixel(x);
  return Math.max(0, Math.min(chart.data.labels.length - 1, Math.round(i)));
}

export function wireTimeChart(getCtx) {
  const canvas = $('chart-time');
  let down = null;
  canvas.addEventListener('mousedown', (e) => { down = { x: e.offsetX, y: e.offsetY }; });
  canvas.addEventListener('mouseup', (e) => {
    const ctx = getCtx();
    const chart = charts['chart-time'];
    if (!down || !chart || !ctx || !ctx.time) return;
    const start = down;
    down = null;
    const { starts, interval } = ctx.time;
    if (Math.abs(e.offsetX - start.x) > 12) {
      const a = bucketAt(chart, Math.min(start.x, e.offsetX));
      const b = bucketAt(chart, Math.max(start.x, e.offsetX));
      const p = { from: starts[a], to: starts[b] + interval - 1 };
      if (ctx.range.time === 'received') p.time = 'received';
      window.location.hash = hashFor('overview', p);
      return;
    }
    const hit = chart.getElementsAtEventForMode(e, 'nearest', { intersect: true }, true);
    if (hit.length === 0) return;
    const t = starts[hit[0].index];
    const ns = chart.data.datasets[hit[0].datasetIndex].namespace;
    const p = { from: t, to: t + interval - 1 };
    if (ctx.range.time === 'received') p.time = 'received';
    if (ns) p.namespace = ns;
    window.location.hash = hashFor('events', p);
  });
}

// ---- the page ------------------------------------------------------------------------

async function spanOf(base, now) {
  if (base.from) return { from: base.from, to: base.to || now };
  // All time: the first daily bucket tells where the data starts.
  const coarse = await apiJson('GET', '/api/stats', Object.assign({ groupBy: 'severity', interval: '1d' }, base));
  const ts = (coarse.buckets || []).map((b) => b.t);
  const first = ts.length > 0 ? Math.min(...ts) : now - 86400e3;
  return { from: Math.min(first, now - 3600e3), to: now };
}

export async function loadOverview(ctx) {
  const now = Date.now();
  const base = rangeQuery(ctx.range, now);
  const [sev, state, rules, ...points] = await Promise.all([
    apiJson('GET', '/api/stats', Object.assign({ groupBy: 'severity' }, base)),
    apiJson('GET', '/api/stats', Object.assign({ groupBy: 'state' }, base)),
    apiJson('GET', '/api/stats', Object.assign({ groupBy: 'rule', limit: 10 }, base)),
    ...POINT_SOURCES.map((s) => apiJson('GET', '/api/stats', Object.assign({ groupBy: 'state', source: s, state: 'ACTIVE' }, base))),
  ]);
  const span = await spanOf(base, now);
  const interval = bucketInterval(span.to - span.from);
  const overTime = await apiJson('GET', '/api/stats', Object.assign({}, base,
    { groupBy: 'namespace', from: span.from, to: span.to, interval: interval + 'ms' }));

  $('overview-total').textContent = sev.total + ' events in ' + rangeText(ctx.range) + (sev.truncated ? ' (truncated)' : '');
  drawSeverity(ctx, sev);
  drawState(ctx, state, Object.fromEntries(POINT_SOURCES.map((src, i) => [src, points[i].total])));
  drawTime(ctx, overTime, span.from, span.to, interval);
  drawRules(ctx, rules);

  // The most severe events of the range (the store sorts: not a sample of the newest).
  const recent = await apiJson('GET', '/api/events', Object.assign({ limit: 50, sort: 'severity' }, base));
  $('recent-note').textContent = 'The 50 most severe events of ' + rangeText(ctx.range) + ', then the newest.';
  const labels = headers('recent-table');
  fillTable('recent-table', recent.events.map((e) => row([
    sevBadge(e.severity), e.state, timeEl(e.timestampUs / 1000), viewLink(e.name || e.id, hashFor('event', null, e.id)),
    (e.k8s && e.k8s.namespace) || '', e.source, e.url ? safeLink(e.url, 'source') : '',
  ], labels)), 'no events in this range');
}
