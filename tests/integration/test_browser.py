"""The built-in dashboard in a real browser (SPEC section 8): Debian's chromium,
headless, driven by playwright-core from npm (tests/browser/dashboard.test.mjs).

This starts herald with sample data (fixtures of several sources, events in
three namespaces, an event named <script>alert(1)</script>, a channel that
accepts and one that refuses so there are dead letters), computes what the
page must show from the API, runs the node script and keeps its screenshot
of the Overview at tests/browser/artifacts/overview.png (a CI artifact).
chromium, node and `npm ci` in tests/browser and web/ come from
scripts/setup.sh; when one is missing the test fails and says so.
"""

import json
import os
import shutil
import subprocess
import time

import pytest

from conftest import REPO, fixture_bytes, poll

from recording import FakeServer

BROWSER_DIR = os.path.join(REPO, "tests", "browser")
ARTIFACTS = os.path.join(BROWSER_DIR, "artifacts")
CHROMIUM = "/usr/bin/chromium"
FIXTURES = ["falco/falco_critical_terminal_shell_syscall.json", "falco/falco_error_write_below_binary_dir.json",
            "falco/falco_warning_k8saudit_user_not_allowed.json",
            "sysdig/sysdig_blog2018_secure_webhook_read_sensitive_file.json",
            "sysdig/sysdig_monitor_webhook_metric_alert_active.json"]
XSS_NAME = "<script>alert(1)</script>"


class Sink(FakeServer):
    """A webhook sink answering 200 (or `status`)."""
    name = "browser-sink"

    def __init__(self, status=200, **kw):
        super().__init__(**kw)
        self.status = status

    def handle(self, req):
        return self.status, [], {"ok": self.status < 300}


def require_tools():
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append("%s (Debian package chromium)" % CHROMIUM)
    if shutil.which("node") is None:
        missing.append("node (Debian package nodejs)")
    if not os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        missing.append("tests/browser/node_modules/playwright-core (npm ci in tests/browser)")
    if not os.path.isfile(os.path.join(REPO, "web", "node_modules", "chart.js", "dist", "chart.umd.js")):
        missing.append("web/node_modules/chart.js (npm ci in web)")
    if missing:
        pytest.fail("browser test needs: %s - run scripts/setup.sh" % ", ".join(missing))


def sample_events(now_ms):
    evs = []
    rules = ["Terminal shell in container"] * 4 + ["Write below etc"] * 2 + ["High memory"]
    nss = ["prod", "prod", "dev", "web", "prod", "dev", "web"]
    for i, (rule, ns) in enumerate(zip(rules, nss)):
        evs.append({"name": rule, "severity": [2, 4, 6, 3, 1, 5, 7][i], "state": ["ACTIVE", "OK", "RESOLVED"][i % 3],
                    "namespace": ns, "labels": {"rule": rule}, "host": "node-%d" % i,
                    "url": "https://secure.example.com/events/%d" % i, "timestamp": (now_ms - i * 1000) * 1000})
    evs.append({"name": XSS_NAME, "description": '<img src=x onerror="window.__herald_xss=1">',
                "marker": "xss-marker", "severity": 0, "state": "ACTIVE", "namespace": "web",
                "url": "javascript:window.__herald_xss=2", "timestamp": now_ms * 1000})
    return evs


def test_dashboard_in_chromium(herald):
    require_tools()
    with Sink() as ok_sink, Sink(status=400) as bad_sink:
        herald.webhook("ok-hook", ok_sink.url + "/hook")
        herald.webhook("refusing-hook", bad_sink.url + "/hook")
        now_ms = int(time.time() * 1000)
        evs = sample_events(now_ms)
        ids = herald.ingest("\n".join(json.dumps(e) for e in evs) + "\n", content_type="application/x-ndjson")
        for f in FIXTURES:
            ids += herald.ingest(fixture_bytes(f))
        total = len(set(ids))
        poll(lambda: len(herald.deliveries(status="failed")) >= total, 30, what="dead letters at refusing-hook")

        def count(**q):
            r = herald.api("GET", "/api/stats", query=q)
            assert r.status == 200, r
            return r.json["total"]

        expect = {
            "total": total,
            "recent": count(**{"from": now_ms - 15 * 60 * 1000}),
            "severityAtMost2": count(severity=2),
            "prod": count(namespace="prod"),
            "namespaces": ["prod", "dev", "web"],
            "topRule": "Terminal shell in container",
            "channel": "ok-hook",
            "deadChannel": "refusing-hook",
        }
        assert expect["recent"] == len(evs) and expect["prod"] == 3 and expect["total"] > expect["recent"]
        before = ok_sink.count()
        if os.path.exists(os.path.join(ARTIFACTS, "overview.png")):
            os.unlink(os.path.join(ARTIFACTS, "overview.png"))
        env = dict(os.environ, HERALD_URL=herald.url, HERALD_TOKEN=herald.admin_token, EXPECT=json.dumps(expect),
                   ARTIFACTS=ARTIFACTS, CHROMIUM=CHROMIUM)
        p = subprocess.run(["node", os.path.join(BROWSER_DIR, "dashboard.test.mjs")], cwd=BROWSER_DIR, env=env,
                           capture_output=True, text=True, timeout=180)
        out = p.stdout + p.stderr
        assert p.returncode == 0, "browser test failed:\n" + out[-6000:] + "\nherald log:\n" + herald.log()[-3000:]
        assert "browser: ok" in p.stdout, out
        # The test button reached the accepting sink; the replayed dead letter is pending again.
        assert ok_sink.count() > before, "the channel test notification arrived"
        poll(lambda: herald.deliveries(status="pending") or herald.deliveries(status="failed"), 10,
             what="deliveries still listed")
        png = os.path.join(ARTIFACTS, "overview.png")
        with open(png, "rb") as f:
            head = f.read(8)
        assert head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 20000, "screenshot of the overview"
