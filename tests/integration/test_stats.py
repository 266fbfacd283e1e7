"""GET /api/stats (SPEC section 4), GET /api/channelStatus and the dashboard's
static files (SPEC section 8): counts, buckets, filters, errors, headers."""

import collections
import json
import time

from conftest import assert_error, http_call

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")
HOUR_MS = 3600 * 1000


def sample(base_ms):
    """60 generic events over 3 hours, deterministic fields."""
    evs = []
    for i in range(60):
        evs.append({
            "name": "alert-%d" % (i % 4),
            "severity": i % 8,
            "state": ["ACTIVE", "OK", "RESOLVED"][i % 3],
            "namespace": ["prod", "dev", None][i % 3] if i % 5 else None,
            "labels": {"rule": "rule-%d" % (i % 2)} if i % 6 == 0 else {},
            "timestamp": (base_ms + (i * 3 * HOUR_MS) // 60) * 1000,   # microseconds
            "host": "h%d" % i,
        })
    for e in evs:
        if e["namespace"] is None:
            del e["namespace"]
    return evs


def ingest(herald, evs):
    ids = herald.ingest("\n".join(json.dumps(e) for e in evs) + "\n", content_type="application/x-ndjson")
    assert len(ids) == len(evs)


def stats(herald, token="read", **q):
    r = herald.api("GET", "/api/stats", token=token, query=q)
    assert r.status == 200, r
    return r.json


def test_counts_by_every_dimension(herald):
    base = (int(time.time() * 1000) // HOUR_MS - 5) * HOUR_MS
    evs = sample(base)
    ingest(herald, evs)
    want = {
        "severity": collections.Counter(str(e["severity"]) for e in evs),
        "state": collections.Counter(e["state"] for e in evs),
        "namespace": collections.Counter(e.get("namespace", "") for e in evs),
        "source": collections.Counter("generic" for e in evs),
        "rule": collections.Counter(e["labels"].get("rule", e["name"]) for e in evs),
    }
    for g, counts in want.items():
        s = stats(herald, groupBy=g)
        assert s["groupBy"] == g and s["total"] == 60 and s["truncated"] is False, s
        assert s["counts"] == dict(counts), (g, s["counts"])
        assert list(s["counts"].values()) == sorted(s["counts"].values(), reverse=True), "ordered by count"
        assert s["interval"] is None and s["buckets"] == []
    assert stats(herald)["groupBy"] == "severity"   # the default

    # Time buckets: 1h over 3 hours of events, aligned on the epoch.
    s = stats(herald, groupBy="namespace", interval="1h")
    assert s["interval"] == HOUR_MS and [b["t"] for b in s["buckets"]] == [base, base + HOUR_MS, base + 2 * HOUR_MS]
    per = collections.defaultdict(collections.Counter)
    for e in evs:
        per[(e["timestamp"] // 1000 - base) // HOUR_MS * HOUR_MS + base][e.get("namespace", "")] += 1
    for b in s["buckets"]:
        assert b["counts"] == dict(per[b["t"]]), b
    assert sum(sum(b["counts"].values()) for b in s["buckets"]) == 60

    # Filters are those of GET /api/events.
    s = stats(herald, groupBy="state", namespace="prod")
    assert s["counts"] == dict(collections.Counter(e["state"] for e in evs if e.get("namespace") == "prod"))
    s = stats(herald, groupBy="severity", severity=2, state="ACTIVE")
    assert s["total"] == sum(1 for e in evs if e["severity"] <= 2 and e["state"] == "ACTIVE")
    s = stats(herald, groupBy="rule", **{"from": base + HOUR_MS, "to": base + 2 * HOUR_MS - 1})
    assert s["total"] == 20
    s = stats(herald, groupBy="source", q="alert-3")
    assert s["counts"] == {"generic": 15}
    s = stats(herald, groupBy="rule", limit=2)
    assert len(s["counts"]) == 2 and s["truncated"] is True and s["total"] == 60


def test_errors_and_auth(herald):
    assert_error(herald.api("GET", "/api/stats", query={"groupBy": "color"}), 400, "groupBy")
    assert_error(herald.api("GET", "/api/stats", query={"interval": "10ms"}), 400, "interval")
    assert_error(herald.api("GET", "/api/stats", query={"severity": "9"}), 400, "severity")
    assert_error(herald.api("GET", "/api/stats", query={"state": "MAYBE"}), 400, "state")
    assert herald.api("GET", "/api/stats", token=None).status == 401
    assert herald.api("GET", "/api/stats", token="ingest").status == 403
    s = stats(herald, token="read", groupBy="namespace", interval="5m")
    assert s["total"] == 0 and s["counts"] == {} and s["buckets"] == []


def test_channel_status(herald):
    ch = herald.webhook("status-hook", "http://127.0.0.1:1/nowhere")
    r = herald.api("GET", "/api/channelStatus", token="read")
    assert r.status == 200, r
    (c,) = r.json["channels"]
    assert c["id"] == ch["id"] and c["name"] == "status-hook" and c["type"] == "WEBHOOK" and c["enabled"] is True
    assert c["health"] in ("idle", "healthy", "degraded", "failing", "unknown") and "pendingRetries" in c
    assert herald.api("GET", "/api/channelStatus", token=None).status == 401


def test_static_files_and_headers(herald):
    r = http_call(herald.port, "GET", "/")
    assert r.status == 200 and r.header("content-type").startswith("text/html"), r
    assert r.header("content-security-policy") == CSP
    assert r.header("x-content-type-options") == "nosniff" and r.header("x-frame-options") == "DENY"
    assert b'src="/assets/app.js"' in r.body and b"<script>" not in r.body, "no inline script"
    for module in ("app.js", "lib.js", "overview.js", "events.js", "channels.js", "deadletters.js"):
        r = http_call(herald.port, "GET", "/assets/" + module)
        assert r.status == 200 and r.header("content-type").startswith("text/javascript"), (module, r)
        assert b".innerHTML" not in r.body and b"insertAdjacentHTML" not in r.body and b"outerHTML" not in r.body, \
            module + ": text goes through textContent"
    r = http_call(herald.port, "GET", "/assets/style.css")
    assert r.status == 200 and r.header("content-type").startswith("text/css")
    r = http_call(herald.port, "GET", "/assets/vendor/chart.umd.js")
    assert r.status == 200 and b"Chart.js" in r.body[:200], "npm ci in web/ (scripts/setup.sh) installs chart.js"
    for bad in ("/assets/../index.html", "/assets/%2e%2e/index.html", "/assets/vendor/../../package.json",
                "/assets/.hidden", "/node_modules/chart.js/package.json", "/assets/vendor/chart.js"):
        assert http_call(herald.port, "GET", bad).status == 404, bad
