// dashboard.test.mjs - the built-in dashboard in Debian's headless Chromium,
// driven by playwright-core (no downloaded browser). Run by
// tests/integration/test_browser.py, which starts herald with sample data and
// passes what to expect in the environment:
//   HERALD_URL, HERALD_TOKEN (admin), EXPECT (JSON: totals the page must show),
//   ARTIFACTS (directory for overview.png), CHROMIUM (default /usr/bin/chromium).
// Prints one line per step; exits 1 on the first failed check.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.HERALD_URL;
const TOKEN = process.env.HERALD_TOKEN;
const EXPECT = JSON.parse(process.env.EXPECT || '{}');
const ARTIFACTS = process.env.ARTIFACTS || path.join(path.dirname(new URL(import.meta.url).pathname), 'artifacts');
const XSS_NAME = '<script>alert(1)</script>';

function step(msg) { process.stdout.write('browser: ' + msg + '\n'); }

async function chartSum(page, id) {
  return page.evaluate((cid) => {
    const c = window.Chart && window.Chart.getChart(document.getElementById(cid));
    if (!c) return null;
    return c.data.datasets.reduce((acc, ds) => acc + ds.data.reduce((a, b) => a + Number(b), 0), 0);
  }, id);
}

async function waitLoaded(page, view) {
  await page.waitForFunction((v) => document.body.dataset.loaded === v, view, { timeout: 20000 });
}

async function main() {
  assert.ok(BASE && TOKEN, 'HERALD_URL and HERALD_TOKEN are required');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1400, height: 1000 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const problems = [];
  const requests = [];
  try {
    const page = ctx.pages()[0] || await ctx.newPage();
    page.on('dialog', (d) => { problems.push('dialog opened: ' + d.message()); d.dismiss(); });
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    // The wrong-token step's 401 is the one expected failure.
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().includes('401 (Unauthorized)')) problems.push('console error: ' + m.text() + ' ' + JSON.stringify(m.location()));
    });
    page.on('request', (r) => requests.push(r.url()));

    // ---- sign in ----
    await page.goto(BASE + '/', { waitUntil: 'load' });
    await page.locator('#signin').waitFor({ state: 'visible' });
    step('sign-in form shown');
    await page.fill('#token', 'not-a-token');
    await page.click('#signin-form button[type=submit]');
    await page.waitForFunction(() => document.getElementById('signin-error').textContent.includes('unknown token'));
    step('a wrong token is refused');
    await page.fill('#token', TOKEN);
    await page.click('#signin-form button[type=submit]');
    await waitLoaded(page, 'overview');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('herald.token')), TOKEN);
    assert.equal(await page.evaluate(() => localStorage.length + document.cookie.length), 0);
    step('signed in; token in sessionStorage only');

    // ---- overview: charts with the ingested data ----
    await page.selectOption('#range', 'all');
    await page.waitForFunction((n) => document.getElementById('overview-total').textContent.startsWith(n + ' '),
      EXPECT.total, { timeout: 20000 });
    await waitLoaded(page, 'overview');
    assert.equal(await chartSum(page, 'chart-severity'), EXPECT.total, 'severity pie sums to every event');
    assert.equal(await chartSum(page, 'chart-state'), EXPECT.total, 'active + resolved = every event');
    const nsLabels = await page.evaluate(() => window.Chart.getChart(document.getElementById('chart-time')).data.datasets.map((d) => d.label));
    for (const ns of EXPECT.namespaces) assert.ok(nsLabels.includes(ns), 'namespace ' + ns + ' in ' + nsLabels);
    const rules = await page.evaluate(() => window.Chart.getChart(document.getElementById('chart-rules')).data.labels);
    assert.ok(rules.includes(EXPECT.topRule), 'top rule ' + EXPECT.topRule + ' in ' + rules);
    const pixels = await page.evaluate(() => {
      const c = document.getElementById('chart-severity');
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
      return n;
    });
    assert.ok(pixels > 1000, 'the severity pie is drawn (' + pixels + ' painted pixels)');
    step('charts: severity ' + EXPECT.total + ', namespaces ' + nsLabels.join(',') + ', rules ' + rules.length);

    // Recent alerts: ordered by severity, the hostile name is text.
    const sevs = await page.$$eval('#recent-table tbody tr td:first-child', (tds) => tds.map((t) => parseInt(t.textContent, 10)));
    assert.ok(sevs.length > 0);
    assert.deepEqual(sevs, [...sevs].sort((a, b) => a - b), 'ordered by severity');
    const names = await page.$$eval('#recent-table tbody tr td:nth-child(4)', (tds) => tds.map((t) => t.textContent));
    assert.ok(names.includes(XSS_NAME), 'the <script> name is shown as text');
    assert.equal(await page.locator('#recent-table script').count(), 0, 'no script element was created');
    assert.equal(await page.evaluate(() => window.__herald_xss === undefined), true);
    const links = await page.$$eval('#recent-table a', (as) => as.map((a) => a.href));
    assert.ok(links.length > 0 && links.every((h) => /^https?:/.test(h)), 'source links: http(s) only ' + links);
    await page.screenshot({ path: path.join(ARTIFACTS, 'overview.png'), fullPage: true });
    step('recent alerts ordered by severity, hostile name rendered as text; screenshot saved');

    // Time range: the last 15 minutes leave out the old fixtures.
    await page.selectOption('#range', '15m');
    await page.waitForFunction((n) => document.getElementById('overview-total').textContent.startsWith(n + ' '),
      EXPECT.recent, { timeout: 20000 });
    step('range 15m shows ' + EXPECT.recent + ' events');
    await page.selectOption('#range', 'all');

    // ---- events: filters change the table ----
    await page.click('#nav a[data-view=events]');
    await waitLoaded(page, 'events');
    const allRows = await page.locator('#events-table tbody tr.clickable').count();
    assert.equal(allRows, Math.min(100, EXPECT.total));
    await page.selectOption('#f-severity', '2');
    await page.click('#filters button[type=submit]');
    await page.waitForFunction((n) => document.querySelectorAll('#events-table tbody tr.clickable').length === n,
      EXPECT.severityAtMost2, { timeout: 20000 });
    const sev2 = await page.$$eval('#events-table tbody tr.clickable td:nth-child(2)', (tds) => tds.map((t) => parseInt(t.textContent, 10)));
    assert.ok(sev2.every((s) => s <= 2), 'severity filter: ' + sev2);
    await page.selectOption('#f-severity', '');
    await page.fill('#f-namespace', 'prod');
    await page.click('#filters button[type=submit]');
    await page.waitForFunction((n) => document.querySelectorAll('#events-table tbody tr.clickable').length === n,
      EXPECT.prod, { timeout: 20000 });
    step('filters: severity<=2 -> ' + EXPECT.severityAtMost2 + ' rows, namespace prod -> ' + EXPECT.prod + ' rows');
    await page.fill('#f-namespace', '');
    await page.fill('#f-q', 'alert(1)');
    await page.click('#filters button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('#events-table tbody tr.clickable').length === 1);
    await page.click('#events-table tbody tr.clickable');
    await page.locator('#event-detail').waitFor({ state: 'visible' });
    const raw = await page.textContent('#event-detail-raw');
    assert.ok(raw.includes(XSS_NAME) && raw.includes('xss-marker'), 'original payload shown as text');
    assert.equal(await page.locator('#event-detail script').count(), 0);
    step('search + original payload shown as text');

    // ---- channels: the test button ----
    await page.click('#nav a[data-view=channels]');
    await waitLoaded(page, 'channels');
    const row = page.locator('#channels-table tbody tr', { hasText: EXPECT.channel });
    await row.locator('button[data-action=test]').click();
    await page.waitForFunction((n) => document.getElementById('channel-result').textContent.startsWith(n + ': delivered'),
      EXPECT.channel, { timeout: 20000 });
    step('channel test: ' + await page.textContent('#channel-result'));

    // ---- dead letters: listed, replay ----
    await page.click('#nav a[data-view=deadletters]');
    await waitLoaded(page, 'deadletters');
    const dl = await page.locator('#dl-table tbody tr', { hasText: EXPECT.deadChannel }).count();
    assert.ok(dl >= 1, 'dead letters listed');
    await page.locator('#dl-table tbody tr', { hasText: EXPECT.deadChannel }).first().locator('button[data-action=replay]').click();
    await page.waitForFunction(() => document.getElementById('dl-result').textContent.startsWith('queued delivery'));
    step('dead letters: ' + dl + ' listed, one replayed');

    // Nothing left the machine, and the token never went into a URL.
    const foreign = requests.filter((u) => !u.startsWith(BASE) && !u.startsWith('data:'));
    assert.deepEqual(foreign, [], 'requests to other hosts');
    assert.ok(requests.every((u) => !u.includes(TOKEN)), 'token in a URL');
    assert.deepEqual(problems, [], 'page problems');
    step('ok');
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stderr.write('browser: FAILED: ' + (e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
