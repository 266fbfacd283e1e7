"""LOKI against a recording fake written from Loki's HTTP API documentation
(tests/fakes/fake_loki.py), SPEC section 4: streams by label set, the
original event as the line, batches, X-Scope-OrgID from tenantId, and Loki's
answers classified (429/5xx retried, 400 a dead letter with Loki's reason).
"""

import json
import time

from conftest import MASK, dget, fixture_bytes, fixture_json, poll, register_secret
from fake_loki import FakeLoki

SECURE = "sysdig/sysdig_blog2018_secure_webhook_read_sensitive_file.json"
MONITOR = "sysdig/sysdig_monitor_webhook_metric_alert_active.json"


def monitor(state, ts_offset=0):
    doc = fixture_json(MONITOR)
    doc["state"] = state
    doc["timestamp"] += ts_offset
    return doc


def loki_channel(herald, fake, **extra):
    opts = {"url": fake.url, "notifyOnOk": True, "notifyOnResolve": True}
    opts.update(extra)
    return herald.create_channel({"type": "LOKI", "name": "loki", "enabled": True, "options": opts})


def test_article_event_and_resolve_as_lines(herald):
    auth = register_secret("Basic " + "bG9raTpzM2NyM3Q=")
    with FakeLoki(tenants=["tenant-1"], headers={"Authorization": auth}) as fake:
        ch = loki_channel(herald, fake, tenantId="tenant-1", additionalHeaders={"Authorization": auth})
        assert herald.get_channel(ch["id"])["options"]["additionalHeaders"]["Authorization"] == MASK
        raw = fixture_bytes(SECURE)
        herald.ingest(raw, fmt="sysdig")
        herald.ingest(monitor("ACTIVE"), fmt="sysdig")
        herald.ingest(monitor("OK", ts_offset=60000000), fmt="sysdig")
        fake.wait_lines(3, timeout=20)
        secure = fake.lines(source="sysdig_secure", namespace="example-java-app", severity="4")
        assert len(secure) == 1, fake.streams.keys()
        assert secure[0][1].encode() == raw, "the original event is the line, byte for byte"
        mon = [x for k, v in fake.streams.items() if ("source", "sysdig_monitor") in k for x in v]
        assert len(mon) == 2
        states = [json.loads(line)["state"] for _, line in mon]
        assert states == ["ACTIVE", "OK"]
        assert mon[0][0] < mon[1][0], "values in time order"
        # the received time, in ns: recent, so Loki's reject_old_samples keeps it
        assert abs(mon[0][0] - time.time_ns()) < 600 * 10**9
        assert all(t == "tenant-1" for t, _ in fake.pushes)
        assert herald.deliveries(status="failed") == []
        assert auth not in herald.log()


def test_batched_and_grouped_by_labels(herald):
    with FakeLoki() as fake:
        # A channel created before the events, so they queue into batches.
        loki_channel(herald, fake, labels={"ns": "k8s.namespace", "app": "labels.app"},
                     batch={"maxDelayMs": 300})
        docs = [{"kind": "probe", "seq": i, "namespace": "ns%d" % (i % 3), "labels": {"app": "a%d" % (i % 2)}}
                for i in range(60)]
        herald.ingest("\n".join(json.dumps(d) for d in docs), fmt="generic", content_type="application/x-ndjson")
        got = fake.wait_lines(60, timeout=20)
        assert len(got) == 60
        pushes = fake.count(lambda q: q.status == 204)
        assert pushes < 60 / 4, "batched: %d requests for 60 events" % pushes
        assert len(fake.pushes[0][1]["streams"]) > 1, "one request holds several streams"
        for key, entries in fake.streams.items():
            ts = [t for t, _ in entries]
            assert ts == sorted(ts), key
        seqs = sorted(json.loads(line)["seq"] for _, line in got)
        assert seqs == list(range(60))


def test_429_and_5xx_retried(herald):
    with FakeLoki() as fake:
        loki_channel(herald, fake)
        fake.inject(1, status=429, retry_after=1)
        fake.inject(1, status=503)
        herald.ingest(monitor("ACTIVE"), fmt="sysdig")
        fake.wait_lines(1, timeout=20)
        statuses = [q.status for q in fake.snapshot(fake.is_data_request)]
        assert statuses[:3] == [429, 503, 204], statuses
        assert herald.deliveries(status="failed") == []


def test_400_too_old_is_a_dead_letter(herald):
    with FakeLoki() as fake:
        # The event's own time (2016) is older than reject_old_samples_max_age.
        loki_channel(herald, fake, timestamp="event")
        eid = herald.ingest(monitor("ACTIVE"), fmt="sysdig")[0]
        dead = poll(lambda: herald.deliveries(status="failed"), 20, what="a dead letter")
        assert dget(dead[0], "eventId") == eid
        assert "timestamp too old" in json.dumps(dead[0]), dead[0]
        assert fake.count(fake.is_data_request) == 1, "not retried"


def test_fake_refuses_what_loki_refuses():
    import http.client

    with FakeLoki(tenants=["t1"]) as fake:
        def post(body, headers=None):
            h = {"Content-Type": "application/json", "X-Scope-OrgID": "t1"}
            h.update(headers or {})
            c = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
            try:
                c.request("POST", "/loki/api/v1/push", body=json.dumps(body), headers=h)
                r = c.getresponse()
                return r.status, r.read().decode()
            finally:
                c.close()

        now = str(time.time_ns())
        ok = {"streams": [{"stream": {"job": "x"}, "values": [[now, "line"]]}]}
        assert post(ok)[0] == 204
        assert post(ok)[0] == 204 and len(fake.all_lines()) == 1, "same entry de-duplicated"
        assert post(ok, {"X-Scope-OrgID": ""})[0] == 401
        assert post(ok, {"Content-Type": "application/x-protobuf"})[0] == 400
        assert post({"streams": [{"stream": {"a.b": "x"}, "values": [[now, "l"]]}]})[0] == 400
        assert post({"streams": [{"stream": {}, "values": [[now, "l"]]}]})[0] == 400
        assert post({"streams": [{"stream": {"job": "x"}, "values": [[int(now), "l"]]}]})[0] == 400
        old = str(time.time_ns() - 2 * 3600 * 10**9)
        st, body = post({"streams": [{"stream": {"job": "x"}, "values": [[old, "late"], [now, "fresh"]]}]})
        assert st == 400 and "entry too far behind" in body and "total ignored: 1 out of 2" in body
        assert ("fresh" in [l for _, l in fake.all_lines()]), "the valid entry of the request is stored"
