// silences.js - the Silences page (SPEC 4): the silences with their state, a
// form to add one, Expire; and "Silence this for 2 h" on an event's page.
// Text only reaches the page through textContent (lib.js).

import { $, apiJson, el, fillTable, headers, row, timeEl } from './lib.js';

const STATE_CLASS = { active: 'warn', pending: 'muted', expired: 'muted' };

async function expire(id) {
  await apiJson('DELETE', '/api/silences/' + encodeURIComponent(id));
  $('silence-result').textContent = 'silence ' + id + ' expired (what it held back is not sent)';
  await loadSilences();
}

function silenceRow(s, labels) {
  const st = s.status && s.status.state ? s.status.state : '';
  let action = '';
  if (st !== 'expired') {
    action = el('button', 'Expire');
    action.type = 'button';
    action.setAttribute('aria-label', 'Expire silence ' + s.id);
    action.addEventListener('click', () => { expire(s.id).catch((e) => { $('error').textContent = String(e.message || e); }); });
  }
  return row([String(s.id), el('span', st, 'status ' + (STATE_CLASS[st] || '')), (s.matchers || []).join(', '),
    timeEl(Date.parse(s.endsAt)), s.createdBy || '', s.comment || '', action], labels);
}

export async function loadSilences() {
  const data = await apiJson('GET', '/api/silences');
  const labels = headers('silences-table');
  fillTable('silences-table', (data.silences || []).map((s) => silenceRow(s, labels)), 'no silences');
}

async function onAdd(e) {
  e.preventDefault();
  const matchers = $('silence-matchers').value.split('\n').map((m) => m.trim()).filter((m) => m !== '');
  const hours = Number($('silence-for').value);
  const body = { matchers, endsAt: new Date(Date.now() + hours * 3600e3).toISOString(), createdBy: 'dashboard' };
  if ($('silence-comment').value.trim() !== '') body.comment = $('silence-comment').value.trim();
  try {
    const s = await apiJson('POST', '/api/silences', null, body);
    $('silence-result').textContent = 'silence ' + s.id + ' added until ' + new Date(Date.parse(s.endsAt)).toLocaleString();
    $('silence-matchers').value = '';
    $('silence-comment').value = '';
    await loadSilences();
  } catch (err) {
    $('silence-result').textContent = String(err.message || err); // names the matcher that is wrong
  }
}

export function wireSilences() {
  $('silence-form').addEventListener('submit', onAdd);
}

// ---- on an event's page ---------------------------------------------------------------

// The matcher that names this event's alert (its alertKey, else its id).
function matcherOf(ev) {
  const q = (v) => '"' + String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"') + '"';
  return ev.alertKey ? 'alertKey=' + q(ev.alertKey) : 'id=' + q(ev.id);
}

export function showEventSilence(ev) {
  const held = $('event-silenced');
  held.replaceChildren();
  if (Array.isArray(ev.silencedBy) && ev.silencedBy.length > 0) {
    held.append('Held back by silence ');
    const a = el('a', '#' + ev.silencedBy[0]);
    a.href = '#silences';
    held.append(a, ' (stored and shown; not sent to channels that respect silences)');
  }
  const btn = $('event-silence');
  btn.onclick = async () => {
    const body = { matchers: [matcherOf(ev)], endsAt: new Date(Date.now() + 2 * 3600e3).toISOString(),
      createdBy: 'dashboard', comment: 'from event ' + ev.id };
    try {
      const s = await apiJson('POST', '/api/silences', null, body);
      $('event-silence-result').textContent = 'silence ' + s.id + ' holds back ' + body.matchers[0] + ' for 2 hours';
    } catch (err) {
      $('event-silence-result').textContent = String(err.message || err);
    }
  };
}
