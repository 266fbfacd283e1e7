"""SPLUNK channel end to end (SPEC sections 4, 6, 7): herald against the
recording HEC fake (tests/fakes/fake_splunk.py, written from Splunk's HEC
documentation with the reply codes of tests/fixtures/splunk/)."""

import json
import secrets

from conftest import dget, fixture_bytes, fixture_json, metric_values, poll, register_secret, unique_event
from fake_splunk import FakeSplunk

ARTICLE_EVENT = "sysdig/sysdig_blog2018_secure_webhook_read_sensitive_file.json"


def splunk_channel(herald, fake, name="splunk", token=None, **options):
    opts = {"url": fake.url, "token": register_secret(token or fake.token)}
    opts.update(options)
    return herald.create_channel({"type": "SPLUNK", "name": name, "enabled": True, "options": opts})


def markers(fake):
    return [e["envelope"]["event"].get("marker") for e in fake.events
            if e["endpoint"] == "event" and isinstance(e["envelope"]["event"], dict)]


def data_requests(fake):
    return fake.snapshot(lambda q: q.path.startswith("/services/collector/") and not q.path.endswith("/ack")
                         and not q.path.endswith("/health"))


def delivered_count(herald):
    return sum(v for k, v in metric_values(herald.metrics(), "herald_deliveries_total").items()
               if 'outcome="delivered"' in k)


def test_event_endpoint_batch_envelope(herald, fake_splunk):
    ch = splunk_channel(herald, fake_splunk, index="main", batch={"maxEvents": 10})
    assert ch["options"]["token"] == "********"
    article = fixture_bytes(ARTICLE_EVENT)
    others = [unique_event("b-%d" % i) for i in range(4)]
    body = b"[" + article + b"," + b",".join(json.dumps(e).encode() for e in others) + b"]"
    ids = herald.ingest(body)
    assert len(ids) == 5
    fake_splunk.wait_events(5, timeout=20)
    reqs = data_requests(fake_splunk)
    assert all(q.path == "/services/collector/event" for q in reqs), reqs
    assert all(q.header("Authorization") == "Splunk " + fake_splunk.token for q in reqs)
    assert all(q.status == 200 for q in reqs)
    assert len(reqs) < 5, "the five events went out in batches: %r" % reqs
    envs = fake_splunk.envelopes()
    assert markers(fake_splunk) == [None, "b-0", "b-1", "b-2", "b-3"], "in ingest order"

    env = envs[0]
    assert env["event"] == fixture_json(ARTICLE_EVENT), "event = the original payload"
    assert env["time"] == 1518849360.0
    assert b'{"time":1518849360.000000,' in reqs[0].body, "seconds with 6 decimals, from the microseconds"
    assert env["sourcetype"] == "sysdig:secure"
    assert env["host"] == "ip-10-0-8-165"
    assert env["index"] == "main"
    assert env["source"] == "herald"
    f = env["fields"]
    assert all(isinstance(v, str) for v in f.values()), "indexed fields are flat strings: %r" % f
    assert f["k8s.namespace"] == "example-java-app"
    assert f["severity"] == str(herald.event(ids[0])["severity"])
    assert f["id"] == ids[0]
    assert envs[1]["sourcetype"] == "_json"
    poll(lambda: herald.deliveries(channelId=ch["id"]) == [] and delivered_count(herald) == 5, 10,
         what="5 delivered, no exception rows")


def test_raw_endpoint_original_bytes(herald, fake_splunk):
    splunk_channel(herald, fake_splunk, raw=True, sourcetype="sysdig")
    herald.ingest(fixture_bytes(ARTICLE_EVENT))
    ev = fake_splunk.wait_events(1, timeout=20, endpoint="raw")[0]
    assert ev["body"] == fixture_bytes(ARTICLE_EVENT), "raw: the original payload byte for byte"
    assert ev["params"] == {"sourcetype": "sysdig", "source": "herald", "host": "ip-10-0-8-165"}
    q = data_requests(fake_splunk)[0]
    assert q.path == "/services/collector/raw"
    assert q.header("X-Splunk-Request-Channel") is None


def test_busy_is_retried(herald, fake_splunk):
    ch = splunk_channel(herald, fake_splunk)
    fake_splunk.inject(2, status=503)     # {"text":"Server is busy","code":9}
    herald.ingest(json.dumps(unique_event("busy-1")))
    fake_splunk.wait_events(1, timeout=20)
    statuses = [q.status for q in data_requests(fake_splunk)]
    assert statuses == [503, 503, 200], statuses
    assert json.loads(data_requests(fake_splunk)[0].response)["code"] == 9
    assert markers(fake_splunk) == ["busy-1"]
    poll(lambda: herald.deliveries(channelId=ch["id"]) == [], 10, what="no pending or failed rows")


def test_invalid_token_dead_letter(herald, fake_splunk):
    ch = splunk_channel(herald, fake_splunk, token="hec-wrong-" + secrets.token_hex(8))
    eid = herald.ingest(json.dumps(unique_event("tok-1")))[0]
    dead = poll(lambda: herald.deliveries(status="failed", channelId=ch["id"]), 15, what="a dead letter")
    d = dead[0]
    assert dget(d, "eventId") == eid
    assert "HEC code 4: Invalid token" in json.dumps(d), d
    assert [q.status for q in data_requests(fake_splunk)] == [403], "a permanent error is not retried"
    assert fake_splunk.events == []


def test_ack_enabled_token_without_use_ack_dead_letter(herald):
    tok = register_secret("hec-" + secrets.token_hex(12))
    with FakeSplunk(tokens=[tok], use_ack=True) as fake:
        ch = splunk_channel(herald, fake)
        herald.ingest(json.dumps(unique_event("nochan")))
        dead = poll(lambda: herald.deliveries(status="failed", channelId=ch["id"]), 15, what="a dead letter")
        assert "HEC code 10: Data channel is missing" in json.dumps(dead[0]), dead


def test_ack_confirmed(herald):
    tok = register_secret("hec-" + secrets.token_hex(12))
    with FakeSplunk(tokens=[tok], use_ack=True) as fake:
        fake.ack_delay = 3.0
        ch = splunk_channel(herald, fake, useAck=True)
        for i in range(3):
            herald.ingest(json.dumps(unique_event("ack-%d" % i)))
        fake.wait_events(3, timeout=20)
        # accepted but not yet confirmed: still pending, saying why
        pend = poll(lambda: herald.deliveries(status="pending", channelId=ch["id"]), 10,
                    what="rows awaiting acknowledgement")
        assert "acknowledgement" in json.dumps(pend), pend
        assert delivered_count(herald) == 0, "not delivered before the indexer confirms"
        poll(lambda: herald.deliveries(channelId=ch["id"]) == [] and delivered_count(herald) == 3, 20,
             what="all confirmed")
        assert sorted(markers(fake)) == ["ack-0", "ack-1", "ack-2"], "each sent once"
        guids = {q.header("X-Splunk-Request-Channel") for q in fake.snapshot()}
        assert len(guids) == 1 and None not in guids, guids
        queries = fake.ack_queries
        assert queries and all(c in guids for c, _, _ in queries)
        confirmed = {i for _, _, ans in queries for i, ok in ans.items() if ok}
        assert confirmed == {str(e["ack_id"]) for e in fake.events}


def test_ack_never_confirmed_is_resent(herald):
    tok = register_secret("hec-" + secrets.token_hex(12))
    with FakeSplunk(tokens=[tok], use_ack=True) as fake:
        fake.ack_confirm = False              # the indexer lost them
        ch = splunk_channel(herald, fake, useAck=True, ackTimeoutMs=1500)
        herald.ingest(json.dumps(unique_event("lost-1")))
        fake.wait_until(lambda: markers(fake).count("lost-1") >= 2, 20, "lost-1 sent again after the ack timeout")
        pend = poll(lambda: [d for d in herald.deliveries(status="pending", channelId=ch["id"])
                             if "not acknowledged" in json.dumps(d) or dget(d, "attempts", default=0) >= 2],
                    10, what="the row says it was re-sent")
        assert pend
        fake.ack_confirm = True
        poll(lambda: herald.deliveries(channelId=ch["id"]) == [], 20, what="confirmed at last")
        assert delivered_count(herald) == 1
        assert herald.deliveries(status="failed") == []


def test_ack_awaiting_survives_kill9(herald):
    tok = register_secret("hec-" + secrets.token_hex(12))
    with FakeSplunk(tokens=[tok], use_ack=True) as fake:
        fake.ack_confirm = False
        ch = splunk_channel(herald, fake, useAck=True, ackTimeoutMs=2000)
        herald.ingest(json.dumps(unique_event("k9")))
        fake.wait_events(1, timeout=20)
        poll(lambda: herald.deliveries(status="pending", channelId=ch["id"]), 10, what="awaiting row recorded")
        herald.kill()
        fake.ack_confirm = True
        herald.start()
        # the unconfirmed event is sent again after restart and confirmed then
        fake.wait_until(lambda: markers(fake).count("k9") >= 2, 20, "k9 re-sent after kill -9")
        poll(lambda: herald.deliveries(channelId=ch["id"]) == [], 20, what="confirmed after restart")


def test_fake_hec_ack_semantics():
    """The fake answers acknowledgement queries as HEC documents them."""
    from conftest import http_call
    with FakeSplunk(tokens=["t"], use_ack=True) as fake:
        fake.ack_delay = 0.5
        guid = "0aa1c1b2-3c4d-4e5f-8a6b-7c8d9e0f1a2b"
        h = {"Authorization": "Splunk t", "X-Splunk-Request-Channel": guid}
        r = http_call(fake.port, "POST", "/services/collector/event", b'{"event":"x"}', h)
        assert (r.status, r.json) == (200, {"text": "Success", "code": 0, "ackId": 0})
        r = http_call(fake.port, "POST", "/services/collector/ack", {"acks": [0, 9]}, h)
        assert r.json == {"acks": {"0": False, "9": False}}, "not indexed yet; unknown ids are false"
        poll(lambda: http_call(fake.port, "POST", "/services/collector/ack", {"acks": [0]}, h).json
             == {"acks": {"0": True}}, 5, what="ack 0 confirmed after the delay")
        r = http_call(fake.port, "POST", "/services/collector/ack", {"acks": [0]}, h)
        assert r.json == {"acks": {"0": False}}, "released once reported true"
        r = http_call(fake.port, "POST", "/services/collector/ack", {"acks": ["0"]}, h)
        assert (r.status, r.json["code"]) == (400, 6)
        r = http_call(fake.port, "POST", "/services/collector/ack", {"acks": [0]}, {"Authorization": "Splunk t"})
        assert (r.status, r.json["code"]) == (400, 10)
    with FakeSplunk(tokens=["t"]) as fake:
        r = http_call(fake.port, "POST", "/services/collector/ack", {"acks": [0]}, {"Authorization": "Splunk t"})
        assert (r.status, r.json["code"]) == (400, 14)
