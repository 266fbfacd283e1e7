// app.js - herald's built-in dashboard (SPEC section 8).
//
// DESIGN: one plain ES module, no framework, no build step. The API token is
// kept in sessionStorage (this tab only, never in a URL or a cookie) and sent
// as "Authorization: Bearer" on every data call. Everything shown comes from
// events, which are attacker-controlled: text only ever reaches the page
// through textContent / element attributes set one by one, never through
// innerHTML; links are kept only when they parse as http(s) URLs. The page is
// served with a strict Content-Security-Policy (no inline script or style), so
// even a mistake here cannot run injected script. Charts are Chart.js (npm,
// loaded as a classic script before this module: window.Chart).

const TOKEN_KEY = 'herald.token';
const SEVERITY_NAMES = ['emergency', 'alert', 'critical', 'error', 'warning', 'notice', 'info', 'debug'];
const SEVERITY_COLORS = ['#7f0000', '#b71c1c', '#e53935', '#fb8c00', '#fdd835', '#43a047', '#1e88e5', '#9e9e9e'];
const PALETTE = ['#1e88e5', '#43a047', '#fb8c00', '#8e24aa', '#00acc1', '#e53935', '#6d4c41', '#3949ab',
  '#c0ca33', '#d81b60', '#546e7a', '#00897b'];
const RANGE_MS = { '15m': 900e3, '1h': 3600e3, '6h': 6 * 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };

const $ = (id) => document.getElementById(id);
const charts = {};
let refreshTimer = null;
let eventsCursor = null;

// ---- API -------------------------------------------------------------------

class AuthError extends Error {}

async function api(method, path, query) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  const init = { method, headers: { Authorization: 'Bearer ' + token }, cache: 'no-store', credentials: 'omit' };
  if (method !== 'GET' && method !== 'HEAD') init.headers['Content-Type'] = 'application/json';
  return fetch(url, init);
}

async function apiJson(method, path, query, body) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  const init = { method, headers: { Authorization: 'Bearer ' + token }, cache: 'no-store', credentials: 'omit' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(url, init);
  let data = null;
  try { data = await r.json(); } catch (e) { data = null; }
  if (r.status === 401) throw new AuthError(errorMessage(data) || 'unknown token');
  if (!r.ok && !(data && data.result)) {
    throw new Error(method + ' ' + path + ': ' + r.status + ' ' + (errorMessage(data) || r.statusText));
  }
  return data;
}

function errorMessage(data) {
  if (data && Array.isArray(data.errors) && data.errors.length > 0) return String(data.errors[0].message || '');
  return '';
}

// ---- small DOM helpers (text only) -------------------------------------------

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

function row(cells) {
  const tr = document.createElement('tr');
  for (const c of cells) {
    const td = document.createElement('td');
    if (c instanceof Node) td.appendChild(c); else td.textContent = c === undefined || c === null ? '' : String(c);
    tr.appendChild(td);
  }
  return tr;
}

function fillTable(id, rows, emptyText) {
  const tbody = $(id).tBodies[0];
  tbody.replaceChildren(...rows);
  if (rows.length === 0) {
    const tr = row([emptyText || 'nothing to show']);
    tr.firstChild.colSpan = $(id).tHead.rows[0].cells.length;
    tr.className = 'empty';
    tbody.appendChild(tr);
  }
}

// Only http(s) links survive (no javascript:, data: ...).
function safeLink(href, text) {
  let u = null;
  try { u = new URL(String(href)); } catch (e) { u = null; }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) return el('span', '');
  const a = el('a', text || 'source');
  a.href = u.href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  return a;
}

function sevBadge(s) {
  const n = Number(s);
  const b = el('span', Number.isInteger(n) && n >= 0 && n <= 7 ? n + ' ' + SEVERITY_NAMES[n] : String(s), 'sev sev' + n);
  return b;
}

function fmtTime(us) {
  if (!us) return '';
  return new Date(Number(us) / 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function fmtMs(ms) {
  return ms ? new Date(Number(ms)).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
}

function showError(e) {
  if (e instanceof AuthError) {
    signOut('Your token was refused: ' + e.message);
    return;
  }
  $('error').textContent = e ? String(e.message || e) : '';
}

// ---- time range ----------------------------------------------------------------

function rangeQuery() {
  const r = $('range').value;
  if (r === 'all' || !RANGE_MS[r]) return {};
  return { from: Date.now() - RANGE_MS[r] };
}

// About 60 buckets over the range (all time: over what the data spans).
function bucketInterval(spanMs) {
  const steps = [1e3, 5e3, 10e3, 30e3, 60e3, 300e3, 600e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3,
    86400e3, 7 * 86400e3, 30 * 86400e3, 365 * 86400e3];
  for (const s of steps) if (spanMs / s <= 60) return s;
  return steps[steps.length - 1];
}

// ---- charts ----------------------------------------------------------------------

function chartLib() {
  return typeof window.Chart === 'function' ? window.Chart : null;
}

function drawChart(id, config) {
  const Chart = chartLib();
  const canvas = $(id);
  if (!Chart) {
    canvas.parentElement.replaceChildren(el('p', 'Charts unavailable: Chart.js is not installed (run scripts/setup.sh).', 'error'));
    return;
  }
  config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
  if (charts[id]) {
    charts[id].data = config.data;
    charts[id].update();
    return;
  }
  charts[id] = new Chart(canvas, config);
}

async function loadOverview() {
  const base = rangeQuery();
  const [sev, state, rules] = await Promise.all([
    apiJson('GET', '/api/stats', Object.assign({ groupBy: 'severity' }, base)),
    apiJson('GET', '/api/stats', Object.assign({ groupBy: 'state' }, base)),
    apiJson('GET', '/api/stats', Object.assign({ groupBy: 'rule', limit: 10 }, base)),
  ]);
  const now = Date.now();
  let span = base.from ? now - base.from : 0;
  let timeQuery = Object.assign({ groupBy: 'namespace' }, base);
  if (!span) {
    // All time: find the span from a coarse daily pass first.
    const coarse = await apiJson('GET', '/api/stats', { groupBy: 'severity', interval: '1d' });
    const ts = (coarse.buckets || []).map((b) => b.t);
    span = ts.length > 0 ? Math.max(86400e3, now - Math.min(...ts)) : 86400e3;
    timeQuery.from = now - span;
  }
  timeQuery.interval = String(bucketInterval(span));
  const overTime = await apiJson('GET', '/api/stats', timeQuery);

  $('overview-total').textContent = sev.total + ' events in range' + (sev.truncated ? ' (truncated)' : '');

  const sevKeys = Object.keys(sev.counts).map(Number).sort((a, b) => a - b);
  drawChart('chart-severity', {
    type: 'pie',
    data: {
      labels: sevKeys.map((k) => k + ' ' + (SEVERITY_NAMES[k] || '?')),
      datasets: [{ data: sevKeys.map((k) => sev.counts[k]), backgroundColor: sevKeys.map((k) => SEVERITY_COLORS[k] || '#999') }],
    },
  });

  const active = state.counts.ACTIVE || 0;
  const resolved = (state.counts.OK || 0) + (state.counts.RESOLVED || 0);
  drawChart('chart-state', {
    type: 'pie',
    data: { labels: ['active', 'resolved (OK + RESOLVED)'], datasets: [{ data: [active, resolved], backgroundColor: ['#e53935', '#43a047'] }] },
  });

  const nsSet = new Set();
  for (const b of overTime.buckets) for (const k of Object.keys(b.counts)) nsSet.add(k);
  const namespaces = [...nsSet].sort();
  const labels = overTime.buckets.map((b) => fmtMs(b.t));
  drawChart('chart-time', {
    type: 'bar',
    data: {
      labels,
      datasets: namespaces.map((ns, i) => ({
        label: ns === '' ? '(no namespace)' : ns,
        data: overTime.buckets.map((b) => b.counts[ns] || 0),
        backgroundColor: PALETTE[i % PALETTE.length],
      })),
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
  });

  const ruleKeys = Object.keys(rules.counts);
  drawChart('chart-rules', {
    type: 'bar',
    data: {
      labels: ruleKeys.map((k) => (k === '' ? '(unnamed)' : k.length > 60 ? k.slice(0, 57) + '...' : k)),
      datasets: [{ label: 'events', data: ruleKeys.map((k) => rules.counts[k]), backgroundColor: '#1e88e5' }],
    },
    options: { indexAxis: 'y', plugins: { legend: { display: false } } },
  });

  // Recent alerts, most severe first (then newest).
  const recent = await apiJson('GET', '/api/events', Object.assign({ limit: 200 }, base));
  const evs = recent.events.slice().sort((a, b) => a.severity - b.severity || b.timestampUs - a.timestampUs).slice(0, 50);
  fillTable('recent-table', evs.map((e) => row([
    sevBadge(e.severity), e.state, fmtTime(e.timestampUs), e.name || '', (e.k8s && e.k8s.namespace) || '', e.source,
    e.url ? safeLink(e.url, 'source') : '',
  ])), 'no events in this range');
}

// ---- events ------------------------------------------------------------------------

function eventFilters() {
  return Object.assign({
    q: $('f-q').value.trim(),
    severity: $('f-severity').value,
    state: $('f-state').value,
    source: $('f-source').value,
    namespace: $('f-namespace').value.trim(),
  }, rangeQuery());
}

function eventRow(e) {
  const tr = row([fmtTime(e.timestampUs), sevBadge(e.severity), e.state, e.source, e.name || '',
    (e.k8s && e.k8s.namespace) || '', e.host || '']);
  tr.className = 'clickable';
  tr.dataset.id = e.id;
  tr.addEventListener('click', () => showEvent(e.id).catch(showError));
  return tr;
}

async function loadEvents(append) {
  const q = Object.assign({ limit: 100 }, eventFilters());
  if (append && eventsCursor) q.cursor = eventsCursor;
  const data = await apiJson('GET', '/api/events', q);
  const rows = data.events.map(eventRow);
  if (append) {
    $('events-table').tBodies[0].append(...rows);
  } else {
    fillTable('events-table', rows, 'no events match');
    $('event-detail').hidden = true;
  }
  eventsCursor = data.nextCursor || null;
  $('events-more').hidden = !eventsCursor;
}

async function showEvent(id) {
  const data = await apiJson('GET', '/api/events/' + encodeURIComponent(id));
  const ev = data.event;
  const fields = Object.assign({}, ev);
  delete fields.raw;
  $('event-detail-title').textContent = (ev.name || ev.id) + ' (' + ev.source + ')';
  $('event-detail-fields').textContent = JSON.stringify(fields, null, 2);
  $('event-detail-raw').textContent = typeof ev.raw === 'string' ? ev.raw : JSON.stringify(ev.raw, null, 2);
  $('event-detail').hidden = false;
}

// ---- channels ------------------------------------------------------------------------

async function loadChannels() {
  const data = await apiJson('GET', '/api/channelStatus');
  fillTable('channels-table', data.channels.map((c) => {
    const actions = el('span', null, 'actions');
    const test = el('button', 'Test');
    test.type = 'button';
    test.dataset.action = 'test';
    test.addEventListener('click', () => testChannel(c).catch(showError));
    const toggle = el('button', c.enabled ? 'Disable' : 'Enable');
    toggle.type = 'button';
    toggle.dataset.action = 'toggle';
    toggle.addEventListener('click', () => toggleChannel(c).catch(showError));
    actions.append(test, toggle);
    const tr = row([c.name, c.type, el('span', c.health, 'health ' + c.health), c.backlog ?? '', c.pendingRetries ?? '',
      c.delivered ?? '', c.lastError || '', actions]);
    tr.dataset.id = c.id;
    return tr;
  }), 'no channels (create one with POST /api/notificationChannels or herald channel create)');
}

async function testChannel(c) {
  $('channel-result').textContent = 'testing ' + c.name + '...';
  const data = await apiJson('POST', '/api/notificationChannels/' + c.id + '/test');
  const r = (data && data.result) || {};
  $('channel-result').textContent = c.name + ': ' + (r.delivered ? 'delivered' : 'failed') +
    (r.status ? ' (HTTP ' + r.status + ')' : '') + (r.error ? ': ' + r.error : '') +
    (r.elapsedMs !== undefined ? ', ' + r.elapsedMs + ' ms' : '');
  $('channel-result').className = 'result ' + (r.delivered ? 'ok' : 'bad');
}

// GET -> flip enabled -> PUT with the version read (masked secrets are kept by herald).
async function toggleChannel(c) {
  const got = await apiJson('GET', '/api/notificationChannels/' + c.id);
  const ch = got.notificationChannel;
  ch.enabled = !ch.enabled;
  await apiJson('PUT', '/api/notificationChannels/' + c.id, undefined, { notificationChannel: ch });
  $('channel-result').textContent = c.name + (ch.enabled ? ' enabled' : ' disabled');
  $('channel-result').className = 'result ok';
  await loadChannels();
}

// ---- dead letters ------------------------------------------------------------------------

async function loadDeadLetters() {
  const data = await apiJson('GET', '/api/deliveries', { status: 'failed', limit: 500 });
  fillTable('dl-table', data.deliveries.map((d) => {
    const retry = el('button', 'Replay');
    retry.type = 'button';
    retry.dataset.action = 'replay';
    retry.addEventListener('click', async () => {
      try {
        await apiJson('POST', '/api/deliveries/' + d.id + '/retry');
        $('dl-result').textContent = 'queued delivery ' + d.id + ' for a retry';
        await loadDeadLetters();
      } catch (e) { showError(e); }
    });
    const all = el('button', 'Replay all of channel');
    all.type = 'button';
    all.addEventListener('click', async () => {
      try {
        const r = await apiJson('POST', '/api/deliveries/retry', { channelId: d.channelId });
        $('dl-result').textContent = 'queued ' + ((r && (r.retried ?? r.count)) ?? 'the') + ' dead letters of ' + (d.channelName || d.channelId);
        await loadDeadLetters();
      } catch (e) { showError(e); }
    });
    const actions = el('span', null, 'actions');
    actions.append(retry, all);
    return row([d.channelName || d.channelId, d.eventId, d.attempts, fmtMs(d.firstFailedAt), d.lastStatus || '',
      d.lastError || '', actions]);
  }), 'no dead letters');
}

// ---- navigation, sign-in, refresh ------------------------------------------------------------

const LOADERS = { overview: loadOverview, events: () => loadEvents(false), channels: loadChannels, deadletters: loadDeadLetters };

function currentView() {
  const v = window.location.hash.replace(/^#/, '');
  return LOADERS[v] ? v : 'overview';
}

async function render() {
  const signedIn = !!sessionStorage.getItem(TOKEN_KEY);
  $('signin').hidden = signedIn;
  $('nav').hidden = !signedIn;
  $('toolbar').hidden = !signedIn;
  const view = currentView();
  for (const name of Object.keys(LOADERS)) $('view-' + name).hidden = !signedIn || name !== view;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === view);
  if (!signedIn) return;
  $('error').textContent = '';
  try {
    await LOADERS[view]();
    document.body.dataset.loaded = view;
  } catch (e) {
    showError(e);
  }
}

function schedule() {
  if (refreshTimer) clearInterval(refreshTimer);
  refreshTimer = null;
  const s = Number($('refresh').value);
  if (s > 0) refreshTimer = setInterval(() => { if (sessionStorage.getItem(TOKEN_KEY)) render(); }, s * 1000);
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  for (const k of Object.keys(charts)) { charts[k].destroy(); delete charts[k]; }
  $('signin-error').textContent = message || '';
  render();
}

async function signIn(ev) {
  ev.preventDefault();
  const token = $('token').value.trim();
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  const r = await api('GET', '/api/stats', { groupBy: 'state', from: Date.now() - 60e3 }).catch(() => null);
  if (!r || r.status === 401 || r.status === 403) {
    sessionStorage.removeItem(TOKEN_KEY);
    $('signin-error').textContent = !r ? 'herald did not answer' : r.status === 401 ? 'unknown token' : 'this token may not read (needs scope read or admin)';
    return;
  }
  $('signin-error').textContent = '';
  render();
}

function init() {
  $('signin-form').addEventListener('submit', (e) => { signIn(e).catch(showError); });
  $('signout').addEventListener('click', () => signOut(''));
  $('reload').addEventListener('click', () => render());
  $('range').addEventListener('change', () => render());
  $('refresh').addEventListener('change', schedule);
  $('filters').addEventListener('submit', (e) => { e.preventDefault(); loadEvents(false).catch(showError); });
  $('events-more').addEventListener('click', () => loadEvents(true).catch(showError));
  window.addEventListener('hashchange', () => render());
  schedule();
  render();
}

// Chart.js is a deferred classic script: it has run before this module.
init();
