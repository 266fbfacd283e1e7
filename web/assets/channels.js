// channels.js - the Channels page: health as /api/channelStatus derives it
// from the channel's outcomes (never "healthy" by default), delivered and
// dead-letter counts, the latest success and failure, test and
// enable/disable buttons.

import { $, AuthError, apiJson, el, row, headers, fillTable, viewLink, timeEl, fmtAgo, hashFor, hooks } from './lib.js';

function healthCell(c) {
  const wrap = el('span', null, 'health-cell');
  wrap.appendChild(el('span', c.health, 'health ' + c.health));
  let why = c.healthReason || '';
  if (c.breakerOpen && c.nextAttemptMs) why += ' (next attempt ' + fmtAgo(c.nextAttemptMs) + ')';
  if (why) wrap.appendChild(el('span', why, 'muted reason'));
  return wrap;
}

function count(n) {
  return n === undefined || n === null || n < 0 ? '' : n;
}

export async function loadChannels() {
  const data = await apiJson('GET', '/api/channelStatus');
  const labels = headers('channels-table');
  fillTable('channels-table', data.channels.map((c) => {
    const actions = el('span', null, 'actions');
    const test = el('button', 'Test');
    test.type = 'button';
    test.dataset.action = 'test';
    test.addEventListener('click', () => testChannel(c).catch(showChannelError));
    const toggle = el('button', c.enabled ? 'Disable' : 'Enable');
    toggle.type = 'button';
    toggle.dataset.action = 'toggle';
    toggle.addEventListener('click', () => toggleChannel(c).catch(showChannelError));
    actions.append(test, toggle);
    const dead = c.deadLetters > 0 ? viewLink(String(c.deadLetters), hashFor('deadletters', { channel: c.id })) : count(c.deadLetters);
    const tr = row([c.name, c.type, healthCell(c), count(c.delivered), dead, count(c.backlog), count(c.pendingRetries),
      timeEl(c.lastSuccessMs), timeEl(c.lastFailureMs), c.lastError || '', actions], labels);
    tr.dataset.id = c.id;
    tr.dataset.health = c.health;
    return tr;
  }), 'no channels (create one with POST /api/notificationChannels or herald channel create)');
}

function showChannelError(e) {
  if (e instanceof AuthError) {
    hooks.onError(e);
    return;
  }
  $('channel-result').textContent = String(e && e.message ? e.message : e);
  $('channel-result').className = 'result bad';
}

async function testChannel(c) {
  $('channel-result').textContent = 'testing ' + c.name + '...';
  $('channel-result').className = 'result';
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
