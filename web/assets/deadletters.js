// deadletters.js - the Dead letters page: grouped by channel, then by the
// sink's answer (183 identical "HTTP 400 invalid_payload" rows are one line
// with a count), filterable by channel and text (in the URL), event ids
// linking to the event's page. Replaying a channel's dead letters asks first,
// saying how many, and reports how many were queued.

import { $, AuthError, apiJson, el, row, viewLink, timeEl, hashFor, hooks } from './lib.js';

const MAX_ROWS = 1000;      // the API's page
const ROWS_PER_GROUP = 50;  // listed under a group; the count covers them all

function report(text, ok) {
  $('dl-result').textContent = text;
  $('dl-result').className = 'result ' + (ok ? 'ok' : 'bad');
}

function fail(e) {
  if (e instanceof AuthError) {
    hooks.onError(e);
    return;
  }
  report(String(e && e.message ? e.message : e), false);
}

// Resolves true when the person confirms the dialog.
export function confirmDialog(text, okLabel) {
  const dlg = $('confirm');
  $('confirm-text').textContent = text;
  $('confirm-ok').textContent = okLabel;
  return new Promise((resolve) => {
    dlg.addEventListener('close', () => resolve(dlg.returnValue === 'ok'), { once: true });
    dlg.returnValue = '';
    dlg.showModal();
    $('confirm-cancel').focus();
  });
}

async function replayChannel(id, name, n, reload) {
  const ok = await confirmDialog('Replay ' + n + ' dead letter' + (n === 1 ? '' : 's') + ' of ' + name +
    '? They are queued for delivery again; the ones the sink refuses again come back here.', 'Replay ' + n);
  if (!ok) {
    report('replay of ' + name + ' cancelled', true);
    return;
  }
  const r = await apiJson('POST', '/api/deliveries/retry', { channelId: id });
  report('queued ' + ((r && r.retried) ?? n) + ' dead letters of ' + name + ' for a retry', true);
  await reload();
}

async function replayOne(d, reload) {
  await apiJson('POST', '/api/deliveries/' + d.id + '/retry');
  report('queued delivery ' + d.id + ' (event ' + d.eventId.slice(0, 12) + '…) for a retry', true);
  await reload();
}

function answerOf(d) {
  return (d.lastStatus ? 'HTTP ' + d.lastStatus + ': ' : '') + (d.lastError || 'no answer recorded');
}

function groupBy(list, keyOf) {
  const m = new Map();
  for (const x of list) {
    const k = keyOf(x);
    if (!m.has(k)) m.set(k, []);
    m.get(k).push(x);
  }
  return m;
}

function answerGroup(rows, reload) {
  const first = rows[0];
  const times = rows.map((d) => d.firstFailedAt || 0).filter((t) => t > 0);
  const det = el('details', null, 'dl-group');
  const sum = el('summary');
  sum.append(el('strong', rows.length + ' × '), el('span', answerOf(first), 'dl-answer'));
  if (times.length) {
    sum.append(el('span', ' · ', 'muted'), timeEl(Math.min(...times)), el('span', ' → ', 'muted'), timeEl(Math.max(...times)));
  }
  det.appendChild(sum);
  const labels = ['Event', 'Attempts', 'Failed at', ''];
  const table = el('table', null, 'data');
  const htr = el('tr');
  for (const l of labels) htr.appendChild(el('th', l));
  const thead = el('thead');
  thead.appendChild(htr);
  const tbody = el('tbody');
  for (const d of rows.slice(0, ROWS_PER_GROUP)) {
    const b = el('button', 'Replay');
    b.type = 'button';
    b.dataset.action = 'replay';
    b.addEventListener('click', () => replayOne(d, reload).catch(fail));
    tbody.appendChild(row([viewLink(d.eventId, hashFor('event', null, d.eventId), 'mono'), d.attempts, timeEl(d.firstFailedAt), b], labels));
  }
  table.append(thead, tbody);
  det.appendChild(table);
  if (rows.length > ROWS_PER_GROUP) det.appendChild(el('p', 'and ' + (rows.length - ROWS_PER_GROUP) + ' more', 'muted'));
  return det;
}

// total: every dead letter of the channel (what a replay queues), rows: those listed.
function channelCard(id, name, total, rows, reload) {
  const card = el('section', null, 'card dl-channel');
  card.dataset.channel = String(id);
  const head = el('div', null, 'dl-head');
  const shown = rows.length < total ? ' (' + rows.length + ' shown)' : '';
  head.appendChild(el('h2', name + ' — ' + total + ' dead letter' + (total === 1 ? '' : 's') + shown));
  const all = el('button', 'Replay all ' + total + '…', 'primary');
  all.type = 'button';
  all.dataset.action = 'replay-all';
  all.addEventListener('click', () => replayChannel(id, name, total, reload).catch(fail));
  head.appendChild(all);
  card.appendChild(head);
  const byAnswer = groupBy(rows, answerOf);
  const groups = [...byAnswer.values()].sort((a, b) => b.length - a.length);
  for (const g of groups) card.appendChild(answerGroup(g, reload));
  return card;
}

function channelOptions(list, selected) {
  const sel = $('dl-channel');
  const names = new Map();
  for (const d of list) names.set(String(d.channelId), d.channelName || ('channel ' + d.channelId));
  if (selected && !names.has(selected)) names.set(selected, 'channel ' + selected);
  const opts = [el('option', 'all channels')];
  opts[0].value = '';
  for (const [id, name] of names) {
    const o = el('option', name);
    o.value = id;
    opts.push(o);
  }
  sel.replaceChildren(...opts);
  sel.value = selected || '';
}

export async function loadDeadLetters(ctx) {
  const channel = ctx.params.get('channel') || '';
  const text = (ctx.params.get('q') || '').toLowerCase();
  const [all, status] = await Promise.all([
    apiJson('GET', '/api/deliveries', { status: 'failed', limit: MAX_ROWS }),
    apiJson('GET', '/api/channelStatus'),
  ]);
  const totals = new Map(status.channels.map((c) => [c.id, c.deadLetters]));
  const list = all.deliveries.filter((d) => (!channel || String(d.channelId) === channel) &&
    (!text || answerOf(d).toLowerCase().includes(text) || d.eventId.includes(text)));
  channelOptions(all.deliveries, channel);
  $('dl-q').value = ctx.params.get('q') || '';
  const reload = () => loadDeadLetters(ctx);
  const byChannel = groupBy(list, (d) => d.channelId);
  const cards = [...byChannel.entries()].map(([id, rows]) => {
    const total = Math.max(totals.get(id) || 0, all.deliveries.filter((d) => d.channelId === id).length);
    return channelCard(id, rows[0].channelName || ('channel ' + id), total, rows, reload);
  });
  if (cards.length === 0) cards.push(el('p', all.deliveries.length ? 'no dead letters match' : 'no dead letters', 'muted empty'));
  if (all.deliveries.length >= MAX_ROWS) cards.unshift(el('p', 'Showing the newest ' + MAX_ROWS + ' dead letters.', 'muted'));
  $('dl-groups').replaceChildren(...cards);
}
