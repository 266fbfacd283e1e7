"""The API additions the dashboard needs (issue 16, docs/api.md): interval
units on GET /api/stats, the time basis (time=event|received), the
severityExact and rule filters, GET /api/events?sort=severity, and channel
health derived from what the channel's attempts did (GET /api/channelStatus).
"""

import json
import time

from conftest import assert_error, poll

HOUR_MS = 3600 * 1000


def ingest(herald, evs):
    ids = herald.ingest("\n".join(json.dumps(e) for e in evs) + "\n", content_type="application/x-ndjson")
    assert len(ids) == len(evs)
    return ids


def stats(herald, **q):
    r = herald.api("GET", "/api/stats", token="read", query=q)
    assert r.status == 200, r
    return r.json


def events(herald, **q):
    r = herald.api("GET", "/api/events", token="read", query=q)
    assert r.status == 200, r
    return r.json


def spread(base_ms, n=36, hours=6):
    """n generic events spread evenly over `hours` from base_ms."""
    return [{"name": "ev-%d" % i, "severity": (i * 5) % 8, "state": "ACTIVE", "namespace": "ns%d" % (i % 3),
             "labels": {"rule": "rule-%d" % (i % 4)} if i % 2 else {},
             "timestamp": (base_ms + i * hours * HOUR_MS // n) * 1000} for i in range(n)]


def test_interval_units_and_bare_seconds(herald):
    base = (int(time.time() * 1000) // HOUR_MS - 7) * HOUR_MS
    ingest(herald, spread(base))
    want = stats(herald, groupBy="namespace", interval="30m")
    assert want["interval"] == 1800 * 1000 and want["time"] == "event"
    ts = [b["t"] for b in want["buckets"]]
    assert len(ts) == 12 and ts == [base + i * 1800 * 1000 for i in range(12)], ts
    # The same buckets however the 30 minutes are written; a bare number is seconds.
    for iv in ("1800000ms", "1800s", "1800", "0.5h"):
        s = stats(herald, groupBy="namespace", interval=iv)
        assert s["interval"] == 1800 * 1000 and s["buckets"] == want["buckets"], iv
    assert_error(herald.api("GET", "/api/stats", query={"interval": "1800000000x"}), 400, "interval", "bare number")


def test_time_basis_event_vs_received(herald):
    now = int(time.time() * 1000)
    old = [{"name": "late-%d" % i, "severity": 3, "timestamp": (now - 3 * 24 * HOUR_MS + i) * 1000} for i in range(4)]
    fresh = [{"name": "fresh-%d" % i, "severity": 5, "timestamp": (now - 1000 + i) * 1000} for i in range(3)]
    ingest(herald, old + fresh)
    hour_ago = now - HOUR_MS
    assert stats(herald, **{"from": hour_ago})["total"] == 3, "by event time the late events are outside"
    s = stats(herald, **{"from": hour_ago, "time": "received", "interval": "1h"})
    assert s["total"] == 7 and s["time"] == "received", s
    # Buckets on the arrival time: every one of the seven arrived within the last hour.
    assert sum(sum(b["counts"].values()) for b in s["buckets"]) == 7
    assert all(now // HOUR_MS * HOUR_MS <= b["t"] <= time.time() * 1000 for b in s["buckets"]), s["buckets"]
    e = stats(herald, interval="1h")
    assert min(b["t"] for b in e["buckets"]) < now - 2 * 24 * HOUR_MS, "by event time: three days back"
    got = events(herald, **{"from": hour_ago, "time": "received"})["events"]
    assert len(got) == 7
    assert len(events(herald, **{"from": hour_ago})["events"]) == 3
    assert_error(herald.api("GET", "/api/events", query={"time": "wall"}), 400, "time")


def test_sort_by_severity_takes_the_worst_of_the_range(herald):
    now = int(time.time() * 1000)
    # 300 mild events arrive after the 5 worst: a newest-first page of 200 misses the worst.
    worst = [{"name": "worst-%d" % i, "severity": i % 2, "timestamp": (now - 3 * HOUR_MS + i) * 1000}
             for i in range(5)]
    ingest(herald, worst)
    mild = [{"name": "mild-%d" % i, "severity": 4 + i % 3, "timestamp": (now - HOUR_MS + i) * 1000}
            for i in range(300)]
    ingest(herald, mild)
    rng = {"from": now - 4 * HOUR_MS}
    newest = events(herald, limit=200, **rng)["events"]
    assert min(e["severity"] for e in newest) >= 4, "the arrival order misses them (the bug this fixes)"
    top = events(herald, limit=20, sort="severity", **rng)
    sevs = [e["severity"] for e in top["events"]]
    assert sevs[:5] == [0, 0, 0, 1, 1] and sevs == sorted(sevs), sevs
    assert top["nextCursor"] is None, "one page"
    # Ties: newest event time first.
    zeros = [e for e in top["events"] if e["severity"] == 0]
    assert [e["timestampUs"] for e in zeros] == sorted((e["timestampUs"] for e in zeros), reverse=True)
    # Filters still apply.
    assert [e["name"] for e in events(herald, sort="severity", q="worst-1")["events"]] == ["worst-1"]
    assert_error(herald.api("GET", "/api/events", query={"sort": "severity", "cursor": "5"}), 400, "cursor")
    assert_error(herald.api("GET", "/api/events", query={"sort": "loudness"}), 400, "sort")


def test_exact_severity_and_rule_filters(herald):
    base = int(time.time() * 1000) - 7 * HOUR_MS
    evs = spread(base)
    ingest(herald, evs)
    for sev in range(8):
        want = sum(1 for e in evs if e["severity"] == sev)
        assert stats(herald, severityExact=sev)["total"] == want, sev
        got = events(herald, severityExact=sev)["events"]
        assert len(got) == want and all(e["severity"] == sev for e in got)
    assert stats(herald, severity=4)["total"] == sum(1 for e in evs if e["severity"] <= 4)
    rule_of = [e["labels"].get("rule", e["name"]) for e in evs]
    counts = stats(herald, groupBy="rule")["counts"]
    for rule, n in counts.items():
        assert stats(herald, rule=rule)["total"] == n == rule_of.count(rule), rule
    assert {e["name"] for e in events(herald, rule="rule-1")["events"]} == \
        {e["name"] for e, r in zip(evs, rule_of) if r == "rule-1"}
    assert_error(herald.api("GET", "/api/stats", query={"severityExact": "8"}), 400, "severityExact")


def test_channel_health_from_outcomes(herald, tmp_path):
    from recording import FakeServer

    class Sink(FakeServer):
        name = "health-sink"

        def __init__(self, status, **kw):
            super().__init__(**kw)
            self.status = status

        def handle(self, req):
            return self.status, [], {"ok": self.status < 300}

    with Sink(200) as good, Sink(400) as bad:
        herald.webhook("good-hook", good.url + "/h")
        herald.webhook("refused-hook", bad.url + "/h")
        off = herald.webhook("off-hook", good.url + "/off")
        ch = herald.get_channel(off["id"])
        ch["enabled"] = False
        assert herald.api("PUT", "/api/notificationChannels/%s" % off["id"], {"notificationChannel": ch}).status == 200

        def status():
            r = herald.api("GET", "/api/channelStatus", token="read")
            assert r.status == 200, r
            return {c["name"]: c for c in r.json["channels"]}

        def loaded():
            # "unknown" until the dispatcher has loaded the new channel (on
            # PostgreSQL, once this replica holds its lease: CI saw it once)
            st = status()
            return st if st["good-hook"]["health"] != "unknown" else None

        before = poll(loaded, what="good-hook loaded by the dispatcher")
        assert before["good-hook"]["health"] == "idle", "no attempt yet is not 'healthy'"
        ingest(herald, [{"name": "h-%d" % i, "severity": 4} for i in range(5)])
        poll(lambda: status()["refused-hook"]["deadLetters"] == 5 and status()["good-hook"]["delivered"] == 5, 20,
             what="deliveries")
        st = status()
        good_c, bad_c = st["good-hook"], st["refused-hook"]
        assert good_c["health"] == "healthy" and good_c["lastSuccessMs"] and good_c["deadLetters"] == 0, good_c
        assert bad_c["health"] == "failing", bad_c
        assert bad_c["delivered"] == 0 and bad_c["failed"] == 5 and bad_c["lastSuccessMs"] is None, bad_c
        assert bad_c["lastFailureMs"] and "400" in (bad_c["lastError"] or ""), bad_c
        assert "every attempt" in bad_c["healthReason"]
        assert "breakerOpen" in bad_c and "nextAttemptMs" in bad_c
        assert st["off-hook"]["health"] == "disabled"
        # The event's page says what each channel did with it; the disabled one skipped it.
        # (The delivered status comes from the stored cursor, written at most every 250 ms.)
        eid = herald.events(limit=1)[0]["id"]
        want = {"good-hook": "delivered", "refused-hook": "failed", "off-hook": "disabled"}
        poll(lambda: {d["channelName"]: d["status"] for d in herald.event(eid)["deliveries"]} == want, 10,
             what="per-channel status %s" % want)
