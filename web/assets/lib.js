// lib.js - what every page of the dashboard shares: the API client, text-only
// DOM helpers, severities, times, and the view's state in the URL.
//
// DESIGN: event text is attacker-controlled. It reaches the page only through
// textContent and attributes set one by one (never innerHTML); links are kept
// only when they parse as http(s). The state of a view (page, filters, range,
// time basis) lives in the URL hash, "#events?severity=4&range=6h", so a
// reload or a shared link shows the same view; the token never does (it
// stays in sessionStorage).

export const TOKEN_KEY = 'herald.token';
export const SEVERITY_NAMES = ['emergency', 'alert', 'critical', 'error', 'warning', 'notice', 'info', 'debug'];
export const RANGE_MS = { '15m': 900e3, '1h': 3600e3, '6h': 6 * 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 };
export const RANGE_NAMES = { '15m': 'the last 15 minutes', '1h': 'the last hour', '6h': 'the last 6 hours',
  '24h': 'the last 24 hours', '7d': 'the last 7 days', '30d': 'the last 30 days', all: 'all time' };
export const DEFAULT_RANGE = '24h';

export const $ = (id) => document.getElementById(id);

// Set by app.js: shows an error (a refused token signs out).
export const hooks = { onError: (e) => { throw e; } };

// ---- API ------------------------------------------------------------------------

export class AuthError extends Error {}

function apiUrl(path, query) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, String(v));
  }
  return url;
}

function apiInit(method) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return { method, headers: { Authorization: 'Bearer ' + token }, cache: 'no-store', credentials: 'omit' };
}

// The raw response (sign-in looks at the status itself).
export async function api(method, path, query) {
  return fetch(apiUrl(path, query), apiInit(method));
}

export async function apiJson(method, path, query, body) {
  const init = apiInit(method);
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const r = await fetch(apiUrl(path, query), init);
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

// ---- DOM, text only ----------------------------------------------------------------

export function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

// A table row; each cell carries its column's header as data-label (the
// stacked layout of narrow screens shows it).
export function row(cells, labels) {
  const tr = document.createElement('tr');
  cells.forEach((c, i) => {
    const td = document.createElement('td');
    if (c instanceof Node) td.appendChild(c); else td.textContent = c === undefined || c === null ? '' : String(c);
    if (labels && labels[i]) td.dataset.label = labels[i];
    tr.appendChild(td);
  });
  return tr;
}

export function headers(tableId) {
  return [...$(tableId).tHead.rows[0].cells].map((th) => th.textContent.replace(/[▼▲]/g, '').trim());
}

export function fillTable(id, rows, emptyText) {
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
export function safeLink(href, text) {
  let u = null;
  try { u = new URL(String(href)); } catch (e) { u = null; }
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) return el('span', '');
  const a = el('a', text || 'source');
  a.href = u.href;
  a.target = '_blank';
  a.rel = 'noopener noreferrer';
  return a;
}

// A link inside the dashboard (a hash route).
export function viewLink(text, hash, cls) {
  const a = el('a', text, cls);
  a.href = hash;
  return a;
}

// ---- severities: one table of colours, in style.css, read by the charts ----------------

export function severityName(n) {
  return Number.isInteger(n) && n >= 0 && n <= 7 ? SEVERITY_NAMES[n] : String(n);
}

// The badge background of severity n (--sev-n in style.css): badges and
// charts show the same colour.
export function severityColor(n) {
  const v = getComputedStyle(document.documentElement).getPropertyValue('--sev-' + n).trim();
  return v || '#78909c';
}

export function sevBadge(s) {
  const n = Number(s);
  const ok = Number.isInteger(n) && n >= 0 && n <= 7;
  const b = el('span', ok ? SEVERITY_NAMES[n] + ' (' + n + ')' : String(s), 'sev sev' + (ok ? n : 'x'));
  b.dataset.severity = String(s);
  return b;
}

// ---- times ----------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, '0');

// Local time, to the second: "2026-12-05 14:03:21".
export function fmtLocal(ms) {
  if (!ms) return '';
  const d = new Date(Number(ms));
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
    pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}

export function fmtUtc(ms) {
  return ms ? new Date(Number(ms)).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : '';
}

export function fmtDuration(ms) {
  const a = Math.abs(ms);
  if (a < 1000) return Math.round(a) + ' ms';
  if (a < 60e3) return Math.round(a / 1000) + ' s';
  if (a < 3600e3) return Math.round(a / 60e3) + ' min';
  if (a < 86400e3) return (a / 3600e3).toFixed(a < 36000e3 ? 1 : 0).replace(/\.0$/, '') + ' h';
  return (a / 86400e3).toFixed(a < 864000e3 ? 1 : 0).replace(/\.0$/, '') + ' d';
}

export function fmtAgo(ms) {
  if (!ms) return '';
  const d = Date.now() - Number(ms);
  return d >= 0 ? fmtDuration(d) + ' ago' : 'in ' + fmtDuration(d);
}

// A <time> element: local time as text, UTC and relative in its title.
export function timeEl(ms) {
  if (!ms) return el('span', '—', 'muted');
  const t = el('time', fmtLocal(ms));
  t.dateTime = new Date(Number(ms)).toISOString();
  t.title = fmtUtc(ms) + ' (' + fmtAgo(ms) + ')';
  return t;
}

// ---- the view's state in the URL hash ------------------------------------------------

// "#events?severity=4" -> {view: "events", id: null, params}; "#event/<id>" -> {view: "event", id}.
export function parseHash(hash) {
  const h = (hash === undefined ? window.location.hash : hash).replace(/^#/, '');
  const q = h.indexOf('?');
  const path = q >= 0 ? h.slice(0, q) : h;
  const params = new URLSearchParams(q >= 0 ? h.slice(q + 1) : '');
  const slash = path.indexOf('/');
  if (slash >= 0) return { view: path.slice(0, slash), id: decodeURIComponent(path.slice(slash + 1)), params };
  return { view: path, id: null, params };
}

export function hashFor(view, params, id) {
  const p = new URLSearchParams();
  for (const [k, v] of (params instanceof URLSearchParams ? params.entries() : Object.entries(params || {}))) {
    if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  }
  const qs = p.toString();
  return '#' + view + (id ? '/' + encodeURIComponent(id) : '') + (qs ? '?' + qs : '');
}

// The range and time basis of the URL (shared by Overview and Events):
// range=15m..30d|all (default 24h) or from=&to= (epoch ms), time=event|received.
export function rangeOf(params) {
  const time = params.get('time') === 'received' ? 'received' : 'event';
  const from = Number(params.get('from'));
  const to = Number(params.get('to'));
  if (from > 0 && to > from) return { kind: 'absolute', from, to, time, range: 'custom' };
  const r = params.get('range');
  const range = r === 'all' || RANGE_MS[r] ? r : DEFAULT_RANGE;
  return { kind: 'relative', range, time };
}

// The API query of a range: {from, to, time} (to omitted: up to now).
export function rangeQuery(rg, now) {
  const q = { time: rg.time === 'received' ? 'received' : undefined };
  if (rg.kind === 'absolute') return Object.assign(q, { from: rg.from, to: rg.to });
  if (rg.range === 'all') return q;
  return Object.assign(q, { from: (now || Date.now()) - RANGE_MS[rg.range] });
}

// The URL parameters of a range (what rangeOf reads back).
export function rangeParams(rg) {
  const p = {};
  if (rg.kind === 'absolute') { p.from = rg.from; p.to = rg.to; } else if (rg.range !== DEFAULT_RANGE) p.range = rg.range;
  if (rg.time === 'received') p.time = 'received';
  return p;
}

export function rangeText(rg) {
  const basis = rg.time === 'received' ? 'arrival time' : 'event time';
  if (rg.kind === 'absolute') return fmtLocal(rg.from) + ' → ' + fmtLocal(rg.to) + ' (by ' + basis + ')';
  return RANGE_NAMES[rg.range] + ' (by ' + basis + ')';
}

export function timeBasisText(time) {
  return time === 'received' ? 'arrival time (when herald received it)' : 'event time (the source\'s timestamp)';
}
