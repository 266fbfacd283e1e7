// events.js - the Events page (filters in the URL, newest arrival first) and
// one event's page (#event/<id>: a permalink with its fields, human times,
// delivery per channel and the original payload).

import { showEventSilence } from './silences.js';
import {
  $, apiJson, el, row, headers, fillTable, safeLink, viewLink, sevBadge, timeEl, fmtLocal, fmtUtc, fmtAgo,
  fmtDuration, hashFor, rangeQuery, rangeParams, rangeText,
} from './lib.js';

// Filter inputs and their URL parameter.
const FILTERS = [['f-q', 'q'], ['f-severity', 'severity'], ['f-exact', 'exact'], ['f-state', 'state'],
  ['f-source', 'source'], ['f-namespace', 'namespace'], ['f-rule', 'rule']];

let cursor = null;
let lastList = '#events';

// URL -> form.
export function showFilters(params) {
  for (const [id, key] of FILTERS) $(id).value = params.get(key) || '';
}

// form -> URL parameters (with the range of the page).
export function filterParams(range) {
  const p = rangeParams(range);
  for (const [id, key] of FILTERS) {
    const v = $(id).value.trim();
    if (v !== '') p[key] = v;
  }
  if (!p.severity) delete p.exact;
  return p;
}

function apiFilters(params, range) {
  const q = rangeQuery(range);
  for (const key of ['q', 'state', 'source', 'namespace', 'rule']) if (params.get(key)) q[key] = params.get(key);
  const sev = params.get('severity');
  if (sev !== null && sev !== '') q[params.get('exact') ? 'severityExact' : 'severity'] = sev;
  return q;
}

function describe(params, range) {
  const parts = [];
  const sev = params.get('severity');
  if (sev) parts.push('severity ' + (params.get('exact') ? '= ' : '≤ ') + sev + (params.get('exact') ? '' : ' (or more severe)'));
  for (const key of ['state', 'source', 'namespace', 'rule']) if (params.get(key)) parts.push(key + ' ' + params.get(key));
  if (params.get('q')) parts.push('matching "' + params.get('q') + '"');
  return 'Events of ' + rangeText(range) + (parts.length ? ', ' + parts.join(', ') : '') +
    '; newest arrival first (the Received column).';
}

function eventRow(e, labels) {
  const name = viewLink(e.name || '(unnamed)', hashFor('event', null, e.id), 'event-link');
  const tr = row([timeEl(e.receivedUs / 1000), timeEl(e.timestampUs / 1000), sevBadge(e.severity), e.state, e.source, name,
    (e.k8s && e.k8s.namespace) || '', e.host || ''], labels);
  tr.className = 'clickable';
  tr.dataset.id = e.id;
  // The whole row opens the event; the keyboard uses the name's link (Tab, Enter).
  tr.addEventListener('click', (ev) => {
    if (ev.target.closest('a')) return;
    window.location.hash = hashFor('event', null, e.id);
  });
  return tr;
}

export async function loadEvents(ctx, append) {
  const q = Object.assign({ limit: 100 }, apiFilters(ctx.params, ctx.range));
  if (append && cursor) q.cursor = cursor;
  const data = await apiJson('GET', '/api/events', q);
  const labels = headers('events-table');
  const rows = data.events.map((e) => eventRow(e, labels));
  if (append) {
    $('events-table').tBodies[0].append(...rows);
  } else {
    fillTable('events-table', rows, 'no events match');
    $('events-note').textContent = describe(ctx.params, ctx.range);
    lastList = window.location.hash || '#events';
  }
  cursor = data.nextCursor || null;
  $('events-more').hidden = !cursor;
}

// ---- one event -------------------------------------------------------------------

function field(dl, name, value) {
  if (value === undefined || value === null || value === '') return;
  const dt = el('dt', name);
  const dd = el('dd');
  if (value instanceof Node) dd.appendChild(value); else dd.textContent = String(value);
  dl.append(dt, dd);
}

function timeText(ms) {
  const s = el('span', fmtLocal(ms));
  s.appendChild(el('span', ' · ' + fmtUtc(ms) + ' · ' + fmtAgo(ms), 'muted'));
  return s;
}

const DELIVERY_CLASS = { delivered: 'ok', pending: 'warn', failed: 'bad', filtered: 'muted', disabled: 'muted',
  silenced: 'muted' };
const DELIVERY_TEXT = { failed: 'failed (dead letter)', filtered: 'filtered out by the channel',
  silenced: 'held back by a silence',
  disabled: 'channel disabled (skips what arrives while disabled)' };

function deliveryRows(ev) {
  const labels = headers('event-deliveries');
  return (ev.deliveries || []).map((d) => row([
    d.channelName || ('channel ' + d.channelId),
    el('span', DELIVERY_TEXT[d.status] || d.status, 'status ' + (DELIVERY_CLASS[d.status] || '')),
    d.attempts || '', d.lastStatus ? 'HTTP ' + d.lastStatus : '', d.nextAttemptAt ? timeEl(d.nextAttemptAt) : '',
    d.lastError || '',
  ], labels));
}

export async function loadEvent(ctx) {
  const data = await apiJson('GET', '/api/events/' + encodeURIComponent(ctx.id));
  const ev = data.event;
  $('event-title').textContent = ev.name || ev.id;
  $('event-back').href = lastList;
  const permalink = window.location.origin + window.location.pathname + hashFor('event', null, ev.id);
  $('event-permalink').href = hashFor('event', null, ev.id);
  $('event-permalink').textContent = permalink;

  const dl = $('event-fields');
  dl.replaceChildren();
  field(dl, 'Severity', sevBadge(ev.severity));
  field(dl, 'State', ev.state);
  field(dl, 'Source', ev.source);
  field(dl, 'Event time', timeText(ev.timestampUs / 1000));
  field(dl, 'Received', timeText(ev.receivedUs / 1000));
  const lag = ev.receivedUs / 1000 - ev.timestampUs / 1000;
  if (Math.abs(lag) >= 1000) field(dl, 'Arrival lag', fmtDuration(lag) + (lag < 0 ? ' before its event time' : ' after its event time'));
  field(dl, 'Description', ev.description);
  const link = ev.url ? safeLink(ev.url, ev.url) : null;
  if (link && link.tagName === 'A') field(dl, 'Link', link);
  field(dl, 'Host', ev.host);
  field(dl, 'Container', ev.containerId);
  for (const [k, v] of Object.entries(ev.k8s || {})) field(dl, 'k8s.' + k, v);
  field(dl, 'Alert key', ev.alertKey);
  field(dl, 'Id', ev.id);

  const lab = $('event-labels');
  lab.replaceChildren();
  const labelsObj = ev.labels && typeof ev.labels === 'object' ? ev.labels : {};
  for (const [k, v] of Object.entries(labelsObj)) field(lab, k, typeof v === 'string' ? v : JSON.stringify(v));
  if (lab.childElementCount === 0) lab.appendChild(el('dd', 'no labels', 'muted'));

  fillTable('event-deliveries', deliveryRows(ev), 'no channel existed when it arrived');
  showEventSilence(ev);
  let raw = ev.raw;
  if (typeof raw === 'string') {
    try { raw = JSON.stringify(JSON.parse(raw), null, 2); } catch (e) { /* shown as received */ }
  } else {
    raw = JSON.stringify(raw, null, 2);
  }
  $('event-raw').textContent = raw;
  window.scrollTo(0, 0);
  $('event-title').focus();
}
