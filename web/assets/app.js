// app.js - herald's built-in dashboard (SPEC section 8): sign-in, pages, the
// range toolbar and auto-refresh.
//
// DESIGN: plain ES modules, no framework, no build step. The API token is
// kept in sessionStorage (this tab only, never in a URL or a cookie) and sent
// as "Authorization: Bearer" on every data call. Everything shown comes from
// events, which are attacker-controlled: text only ever reaches the page
// through textContent / element attributes set one by one, never through
// innerHTML (lib.js). The page is served with a strict Content-Security-Policy
// (no inline script or style). Charts are Chart.js (npm, loaded as a classic
// script before this module: window.Chart).
//
// The URL hash is the state of the view ("#events?severity=2&range=6h",
// "#event/<id>"): the page renders from it, and controls change it, so a
// reload, the back button or a shared link shows the same view.

import {
  $, TOKEN_KEY, AuthError, api, parseHash, hashFor, rangeOf, rangeParams, RANGE_MS, hooks,
} from './lib.js';
import { loadOverview, destroyCharts, wireTimeChart } from './overview.js';
import { loadEvents, loadEvent, showFilters, filterParams } from './events.js';
import { loadChannels } from './channels.js';
import { loadDeadLetters } from './deadletters.js';
import { loadSilences, wireSilences } from './silences.js';

// view -> [section, loader, uses the range toolbar]
const VIEWS = {
  overview: ['view-overview', loadOverview, true],
  events: ['view-events', (ctx) => loadEvents(ctx, false), true],
  event: ['view-event', loadEvent, false],
  channels: ['view-channels', loadChannels, false],
  deadletters: ['view-deadletters', loadDeadLetters, false],
  silences: ['view-silences', loadSilences, false],
};

let refreshTimer = null;
let current = null; // the context of the view shown: {view, id, params, range}

function showError(e) {
  if (e instanceof AuthError) {
    signOut('Your token was refused: ' + e.message);
    return;
  }
  $('error').textContent = e ? String(e.message || e) : '';
}
hooks.onError = showError;

function context() {
  const h = parseHash();
  const view = VIEWS[h.view] && (h.view !== 'event' || h.id) ? h.view : 'overview';
  return { view, id: h.id, params: h.params, range: rangeOf(h.params) };
}

// ---- the toolbar reflects the URL, and changes it -----------------------------------

const pad = (n) => String(n).padStart(2, '0');

function toLocalInput(ms) {
  const d = new Date(ms);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' +
    pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}

function showToolbar(ctx) {
  const rg = ctx.range;
  $('range-tools').hidden = !VIEWS[ctx.view][2];
  $('range').value = rg.kind === 'absolute' ? 'custom' : rg.range;
  $('custom-range').hidden = rg.kind !== 'absolute';
  if (rg.kind === 'absolute') {
    $('range-from').value = toLocalInput(rg.from);
    $('range-to').value = toLocalInput(rg.to);
  }
  $('time-basis').value = rg.time;
  // Nav links carry the range and time basis to the pages that use them.
  const shared = rangeParams(rg);
  for (const a of document.querySelectorAll('#nav a')) {
    const v = a.dataset.view;
    a.href = VIEWS[v][2] ? hashFor(v, shared) : '#' + v;
    const active = v === ctx.view || (v === 'events' && ctx.view === 'event');
    a.classList.toggle('active', active);
    if (active) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
}

// The same view with other parameters (a new history entry).
function go(view, params) {
  const h = hashFor(view, params);
  if (h === window.location.hash) render(); else window.location.hash = h;
}

function withRange(rg) {
  const ctx = context();
  const keep = new URLSearchParams(ctx.params);
  for (const k of ['range', 'from', 'to', 'time']) keep.delete(k);
  const p = Object.fromEntries(keep.entries());
  Object.assign(p, rangeParams(rg));
  go(ctx.view, p);
}

function onRange() {
  const v = $('range').value;
  const ctx = context();
  if (v === 'custom') {
    $('custom-range').hidden = false;
    const to = Date.now();
    const span = ctx.range.kind === 'relative' && RANGE_MS[ctx.range.range] ? RANGE_MS[ctx.range.range] : 86400e3;
    $('range-from').value = toLocalInput(to - span);
    $('range-to').value = toLocalInput(to);
    $('range-from').focus();
    return;
  }
  withRange({ kind: 'relative', range: v, time: ctx.range.time });
}

function onCustom(e) {
  e.preventDefault();
  const from = new Date($('range-from').value).getTime();
  const to = new Date($('range-to').value).getTime();
  if (!(from > 0) || !(to > from)) {
    $('error').textContent = 'custom range: "from" must be before "to"';
    return;
  }
  withRange({ kind: 'absolute', from, to, time: context().range.time });
}

function onTimeBasis() {
  const rg = Object.assign({}, context().range, { time: $('time-basis').value });
  withRange(rg);
}

// ---- rendering -------------------------------------------------------------------

async function render() {
  const signedIn = !!sessionStorage.getItem(TOKEN_KEY);
  $('signin').hidden = signedIn;
  $('nav').hidden = !signedIn;
  $('toolbar').hidden = !signedIn;
  const ctx = context();
  current = ctx;
  for (const [name, v] of Object.entries(VIEWS)) $(v[0]).hidden = !signedIn || name !== ctx.view;
  if (!signedIn) return;
  showToolbar(ctx);
  if (ctx.view === 'events') showFilters(ctx.params);
  $('error').textContent = '';
  delete document.body.dataset.loaded;
  try {
    await VIEWS[ctx.view][1](ctx);
    if (current === ctx) document.body.dataset.loaded = ctx.view;
  } catch (e) {
    showError(e);
  }
}

function schedule() {
  if (refreshTimer) clearInterval(refreshTimer);
  refreshTimer = null;
  const s = Number($('refresh').value);
  if (s > 0) {
    refreshTimer = setInterval(() => {
      // Not while reading an event, answering a dialog, or typing / moving through a table with the keyboard.
      const busy = document.activeElement && document.activeElement.closest('form, table, details');
      if (sessionStorage.getItem(TOKEN_KEY) && current && current.view !== 'event' && !$('confirm').open && !busy) render();
    }, s * 1000);
  }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  destroyCharts();
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
  $('range').addEventListener('change', onRange);
  $('custom-range').addEventListener('submit', onCustom);
  wireSilences();
  $('time-basis').addEventListener('change', onTimeBasis);
  $('refresh').addEventListener('change', schedule);
  $('filters').addEventListener('submit', (e) => {
    e.preventDefault();
    go('events', filterParams(context().range));
  });
  $('f-clear').addEventListener('click', () => go('events', rangeParams(context().range)));
  $('events-more').addEventListener('click', () => loadEvents(context(), true).catch(showError));
  $('dl-filters').addEventListener('submit', (e) => {
    e.preventDefault();
    go('deadletters', { channel: $('dl-channel').value, q: $('dl-q').value.trim() });
  });
  wireTimeChart(() => current);
  window.addEventListener('hashchange', () => render());
  schedule();
  render();
}

// Chart.js is a deferred classic script: it has run before this module.
init();
