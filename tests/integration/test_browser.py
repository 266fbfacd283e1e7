"""The built-in dashboard in a real browser (SPEC section 8, issue 16): Debian's
chromium, headless, driven by playwright-core from npm
(tests/browser/dashboard.test.mjs).

This starts herald with sample data an SRE would have: events of several
sources spread over six hours with a burst in one namespace, the worst alerts
arriving before hundreds of milder ones, one event whose source timestamp is
three days old, an event named <script>alert(1)</script>; channels that
accept, refuse (400: every event a dead letter) and one disabled. It computes
what the page must show from the API, runs the node script, and checks the
screenshots it keeps of every page at 1400x900 and 390x844 (in
$HERALD_ARTIFACTS, default tests/browser/artifacts/, git-ignored; a CI
artifact). chromium, node and `npm ci` in tests/browser and web/ come from
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
ARTIFACTS = os.environ.get("HERALD_ARTIFACTS") or os.path.join(BROWSER_DIR, "artifacts")
CHROMIUM = "/usr/bin/chromium"
FIXTURES = ["falco/falco_critical_terminal_shell_syscall.json", "falco/falco_error_write_below_binary_dir.json",
            "falco/falco_warning_k8saudit_user_not_allowed.json",
            "sysdig/sysdig_blog2018_secure_webhook_read_sensitive_file.json",
            "sysdig/sysdig_monitor_webhook_metric_alert_active.json"]
XSS_NAME = "<script>alert(1)</script>"
PAGES = ["overview", "events", "event", "channels", "deadletters"]
SIZES = ["1400x900", "390x844"]
HOUR_MS = 3600 * 1000


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
    """Generic events over the last six hours, oldest first (ingest order)."""
    evs = []
    rules = ["Terminal shell in container", "Write below etc", "High memory", "Pod restarted"]
    nss = ["prod", "dev", "web"]
    # The worst first: emergencies and alerts five hours ago...
    for i in range(4):
        evs.append({"name": "Disk failure %d" % i, "severity": i % 2, "state": "ACTIVE", "namespace": "prod",
                    "labels": {"rule": "Disk failure"}, "host": "node-9",
                    "url": "https://secure.example.com/events/disk-%d" % i,
                    "timestamp": (now_ms - 5 * HOUR_MS + i * 60000) * 1000})
    # ... then 240 milder events spread over six hours, every severity 2..7 ...
    for i in range(240):
        evs.append({"name": rules[i % 4], "severity": 2 + i % 6, "state": ["ACTIVE", "OK", "RESOLVED"][i % 3],
                    "namespace": nss[i % 3], "labels": {"rule": rules[i % 4]}, "host": "node-%d" % (i % 5),
                    "url": "https://secure.example.com/events/%d" % i,
                    "timestamp": (now_ms - 6 * HOUR_MS + 60000 + i * 89000) * 1000})
    # ... a burst in one namespace 30 minutes ago ...
    for i in range(40):
        evs.append({"name": "CrashLoopBackOff", "severity": 4, "state": "ACTIVE", "namespace": "payments",
                    "labels": {"rule": "Pod restarted"}, "host": "node-1",
                    "timestamp": (now_ms - 30 * 60000 + i * 1000) * 1000})
    # ... an event whose source clock says three days ago (it arrives now) ...
    evs.append({"name": "Late clock", "severity": 3, "state": "ACTIVE", "namespace": "dev",
                "timestamp": (now_ms - 72 * HOUR_MS) * 1000})
    # ... and a hostile one.
    evs.append({"name": XSS_NAME, "description": '<img src=x onerror="window.__herald_xss=1">',
                "marker": "xss-marker", "severity": 2, "state": "ACTIVE", "namespace": "web",
                "url": "javascript:window.__herald_xss=2", "timestamp": (now_ms - 1000) * 1000})
    return evs


def docker_events(now_ms):
    """Point events: containers started over the six hours (docker `start`, severity 6, never resolved)."""
    out = []
    for i in range(20):
        t_ns = (now_ms - 6 * HOUR_MS + 120000 + i * 1000000) * 1000000
        out.append({"Type": "container", "Action": "start",
                    "Actor": {"ID": "%064x" % (i + 1), "Attributes": {"image": "nginx", "name": "k8s_web_web-%d_web_u%d_0" % (i, i)}},
                    "time": t_ns // 10**9, "timeNano": t_ns})
    return out


def screenshots_ok():
    for page in PAGES:
        for size in SIZES:
            png = os.path.join(ARTIFACTS, "%s-%s.png" % (page, size))
            assert os.path.isfile(png), "screenshot %s" % png
            with open(png, "rb") as f:
                head = f.read(8)
            assert head == b"\x89PNG\r\n\x1a\n" and os.path.getsize(png) > 10000, "screenshot %s" % png


def test_dashboard_in_chromium(herald):
    require_tools()
    with Sink() as ok_sink, Sink(status=400) as bad_sink:
        herald.webhook("ok-hook", ok_sink.url + "/hook")
        herald.webhook("refusing-hook", bad_sink.url + "/hook")
        off = herald.webhook("disabled-hook", ok_sink.url + "/off")
        ch = herald.get_channel(off["id"])
        ch["enabled"] = False
        assert herald.api("PUT", "/api/notificationChannels/%s" % off["id"], {"notificationChannel": ch}).status == 200
        now_ms = int(time.time() * 1000)
        evs = sample_events(now_ms)
        ids = herald.ingest("\n".join(json.dumps(e) for e in evs) + "\n", content_type="application/x-ndjson")
        ids += herald.ingest("\n".join(json.dumps(e) for e in docker_events(now_ms)) + "\n", fmt="docker",
                             content_type="application/x-ndjson")
        for f in FIXTURES:
            ids += herald.ingest(fixture_bytes(f))
        total = len(set(ids))
        poll(lambda: len(herald.deliveries(status="failed", limit=1000)) >= total, 60,
             what="dead letters at refusing-hook")

        def count(**q):
            r = herald.api("GET", "/api/stats", query=q)
            assert r.status == 200, r
            return r.json["total"]

        six = now_ms - 6 * HOUR_MS
        expect = {
            "total": total,
            "range6h": count(**{"from": six}),
            "range6hReceived": count(**{"from": six, "time": "received"}),
            "recent15m": count(**{"from": now_ms - 15 * 60 * 1000}),
            "sev0": count(severityExact=0),
            "severityAtMost2": count(severity=2),
            "prodAtMost4": count(namespace="prod", severity=4),
            "namespaces": ["prod", "dev", "web", "payments"],
            "topRule": "Pod restarted",
            "channel": "ok-hook",
            "deadChannel": "refusing-hook",
            "dead": len(herald.deliveries(status="failed", limit=1000)),
        }
        # Everything arrived now; by event time the late clock and the old fixtures are outside.
        assert expect["range6hReceived"] == total and expect["range6h"] < total - 1, expect
        newest = [e["severity"] for e in herald.events(limit=200, **{"from": six})]
        assert min(newest) > 0, "the 200 newest arrivals hold no emergency: ordering by severity must find them"
        assert expect["dead"] == total and expect["sev0"] >= 2

        shutil.rmtree(ARTIFACTS, ignore_errors=True)
        os.makedirs(ARTIFACTS, exist_ok=True)
        before = ok_sink.count()
        env = dict(os.environ, HERALD_URL=herald.url, HERALD_TOKEN=herald.admin_token, EXPECT=json.dumps(expect),
                   ARTIFACTS=ARTIFACTS, CHROMIUM=CHROMIUM)
        p = subprocess.run(["node", os.path.join(BROWSER_DIR, "dashboard.test.mjs")], cwd=BROWSER_DIR, env=env,
                           capture_output=True, text=True, timeout=300)
        out = p.stdout + p.stderr
        assert p.returncode == 0, "browser test failed:\n" + out[-8000:] + "\nherald log:\n" + herald.log()[-3000:]
        assert "browser: ok" in p.stdout, out
        # The test button reached the accepting sink.
        assert ok_sink.count() > before, "the channel test notification arrived"
        # The confirmed replay queued every dead letter of refusing-hook again (then they fail again).
        assert "replay-confirmed" in p.stdout, out
        screenshots_ok()
