"""Self-tests of the recording fakes (no herald needed):
/usr/bin/python3 -m pytest -q tests/fakes
"""

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fake_es import FakeElasticsearch  # noqa: E402
from fake_splunk import FakeSplunk  # noqa: E402

FIXTURES = os.environ.get("HERALD_FIXTURES",
                          os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))


def call(url, method="POST", body=None, headers=None):
    """(status, headers, parsed json or raw bytes) via urllib."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, hdrs, data = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, hdrs, data = e.code, e.headers, e.read()
    try:
        return status, hdrs, json.loads(data)
    except ValueError:
        return status, hdrs, data


JSON = {"Content-Type": "application/json"}


@pytest.fixture
def es():
    with FakeElasticsearch() as f:
        yield f


@pytest.fixture
def splunk():
    with FakeSplunk(tokens=["tok-1"]) as f:
        yield f


# ---- Elasticsearch -------------------------------------------------------------

def test_es_typed_index_like_the_article(es):
    body = open(os.path.join(FIXTURES, "sysdig/sysdig_blog2018_secure_webhook_read_sensitive_file.json"), "rb").read()
    st, hdrs, ans = call(es.url + "/sysdigsecure/event", body=body, headers=JSON)
    assert st == 201
    assert ans["_index"] == "sysdigsecure" and ans["_type"] == "event" and ans["result"] == "created"
    assert ans["_version"] == 1 and ans["_primary_term"] == 1 and ans["_seq_no"] == 0
    assert ans["_shards"] == {"total": 2, "successful": 1, "failed": 0}
    assert es.raw_docs("sysdigsecure") == [body]
    assert es.sources("sysdigsecure")[0]["timestamp"] == 1518849360000000
    r = es.wait_for(1)[0]
    assert r.method == "POST" and r.path == "/sysdigsecure/event" and r.body == body and r.status == 201


def test_es_doc_index_update_and_get(es):
    st, _, ans = call(es.url + "/idx/_doc/a1", method="PUT", body={"x": 1}, headers=JSON)
    assert st == 201 and ans["_id"] == "a1" and ans["result"] == "created"
    st, _, ans = call(es.url + "/idx/_doc/a1", method="PUT", body={"x": 2}, headers=JSON)
    assert st == 200 and ans["result"] == "updated" and ans["_version"] == 2
    st, _, ans = call(es.url + "/idx/_doc", body={"y": 1}, headers=JSON)
    assert st == 201 and len(ans["_id"]) == 20
    st, _, ans = call(es.url + "/idx/_doc/a1", method="GET")
    assert st == 200 and ans["found"] and ans["_source"] == {"x": 2}
    st, _, ans = call(es.url + "/idx/_doc/nope", method="GET")
    assert st == 404 and ans["found"] is False
    st, _, ans = call(es.url + "/idx/_create/a1", body={"x": 3}, headers=JSON)
    assert st == 409 and ans["error"]["type"] == "version_conflict_engine_exception"
    st, _, ans = call(es.url + "/idx/_count", method="GET")
    assert ans["count"] == 2


def test_es_rejects_like_elasticsearch(es):
    st, _, ans = call(es.url + "/idx/_doc", body=b"{}", headers={"Content-Type": "text/plain"})
    assert st == 406 and ans == {"error": "Content-Type header [text/plain] is not supported", "status": 406}
    st, _, ans = call(es.url + "/idx/_doc", body=b"[1,2]", headers=JSON)
    assert st == 400 and ans["status"] == 400 and ans["error"]["type"] == "mapper_parsing_exception"
    assert ans["error"]["root_cause"][0]["type"] == "mapper_parsing_exception"
    st, _, ans = call(es.url + "/idx/_doc", body=b"{oops", headers=JSON)
    assert st == 400 and ans["error"]["caused_by"]["type"] == "json_parse_exception"
    st, _, ans = call(es.url + "/idx/_doc", body=b"", headers=JSON)
    assert st == 400 and ans["error"]["type"] == "parse_exception"
    st, _, ans = call(es.url + "/Idx/_doc", body=b"{}", headers=JSON)
    assert st == 400 and ans["error"]["type"] == "invalid_index_name_exception"
    assert es.docs == {}


def test_es_auth():
    key = base64.b64encode(b"id1:secretkey").decode()
    with FakeElasticsearch(users={"elastic": "changeme"}, api_keys=[key]) as es:
        st, hdrs, ans = call(es.url + "/idx/_doc", body={"a": 1}, headers=JSON)
        assert st == 401 and ans["error"]["type"] == "security_exception"
        assert "missing authentication credentials" in ans["error"]["reason"]
        assert any("Basic" in h for h in hdrs.get_all("WWW-Authenticate"))
        bad = "Basic " + base64.b64encode(b"elastic:wrong").decode()
        st, _, ans = call(es.url + "/idx/_doc", body={"a": 1}, headers=dict(JSON, Authorization=bad))
        assert st == 401 and "unable to authenticate user [elastic]" in ans["error"]["reason"]
        good = "Basic " + base64.b64encode(b"elastic:changeme").decode()
        st, _, _ = call(es.url + "/idx/_doc", body={"a": 1}, headers=dict(JSON, Authorization=good))
        assert st == 201
        st, _, _ = call(es.url + "/idx/_doc", body={"a": 1}, headers=dict(JSON, Authorization="ApiKey " + key))
        assert st == 201
        st, _, _ = call(es.url + "/idx/_doc", body={"a": 1}, headers=dict(JSON, Authorization="ApiKey nope"))
        assert st == 401


def test_es_bulk(es):
    nd = (b'{"create":{"_index":"h-1","_id":"e1"}}\n{"a":1}\n'
          b'{"index":{"_id":"e2"}}\n{"a":2}\n'
          b'{"create":{"_index":"h-1","_id":"e1"}}\n{"a":1}\n'
          b'{"index":{"_index":"h-1","_id":"e3"}}\n[1]\n')
    st, _, ans = call(es.url + "/h-2/_bulk", body=nd, headers={"Content-Type": "application/x-ndjson"})
    assert st == 200 and ans["errors"] is True
    got = [(list(i)[0], list(i.values())[0]["status"]) for i in ans["items"]]
    assert got == [("create", 201), ("index", 201), ("create", 409), ("index", 400)]
    assert ans["items"][1]["index"]["_index"] == "h-2"
    assert ans["items"][2]["create"]["error"]["type"] == "version_conflict_engine_exception"
    assert ans["items"][3]["index"]["error"]["type"] == "mapper_parsing_exception"
    assert set(es.docs) == {("h-1", "e1"), ("h-2", "e2")}
    st, _, ans = call(es.url + "/_bulk", body=nd.rstrip(b"\n"), headers={"Content-Type": "application/x-ndjson"})
    assert st == 400 and ans["error"]["type"] == "illegal_argument_exception"
    es.fail_items(1, status=429)
    st, _, ans = call(es.url + "/_bulk", body=b'{"index":{"_index":"x","_id":"1"}}\n{}\n{"index":{"_index":"x","_id":"2"}}\n{}\n',
                      headers=JSON)
    assert [i["index"]["status"] for i in ans["items"]] == [429, 201]
    assert ans["items"][0]["index"]["error"]["type"] == "es_rejected_execution_exception"


def test_es_injection_and_keepalive(es):
    es.inject(2, status=503, retry_after=3)
    es.inject(1, status=429)
    conn = http.client.HTTPConnection("127.0.0.1", es.port, timeout=10)
    seen = []
    for _ in range(4):
        conn.request("POST", "/i/_doc", body=b'{"a":1}', headers=JSON)
        r = conn.getresponse()
        body = json.loads(r.read())
        seen.append((r.status, r.getheader("Retry-After"), body.get("status", body.get("result"))))
    conn.close()
    assert seen == [(503, "3", 503), (503, "3", 503), (429, None, 429), (201, None, "created")]
    reqs = es.wait_for(4)
    assert len({r.conn_id for r in reqs}) == 1, "all four on one keep-alive connection"
    es.inject(1, close=True)
    with pytest.raises((http.client.HTTPException, OSError)):
        c = http.client.HTTPConnection("127.0.0.1", es.port, timeout=10)
        c.request("POST", "/i/_doc", body=b'{"a":1}', headers=JSON)
        c.getresponse().read()
    assert es.requests[-1].status == 0
    es.fail_always(status=400)
    assert call(es.url + "/i/_doc", body=b"{}", headers=JSON)[0] == 400
    assert call(es.url + "/i/_doc", body=b"{}", headers=JSON)[0] == 400
    es.clear_failures()
    assert call(es.url + "/i/_doc", body=b"{}", headers=JSON)[0] == 201


def test_es_down_up_same_port(es):
    port = es.port
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/i/_doc", body=b"{}", headers=JSON)
    assert conn.getresponse().read()
    es.down()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    with pytest.raises((http.client.HTTPException, OSError)):
        conn.request("POST", "/i/_doc", body=b"{}", headers=JSON)
        conn.getresponse().read()
    es.up()
    assert es.port == port
    assert call(es.url + "/i/_doc", body=b"{}", headers=JSON)[0] == 201
    assert len(es.doc_log) == 2


def test_es_wait_for_times_out(es):
    t0 = time.monotonic()
    with pytest.raises(AssertionError):
        es.wait_for(1, timeout=0.3)
    assert time.monotonic() - t0 < 2


# ---- Splunk ---------------------------------------------------------------------

def test_splunk_raw_auth_codes(splunk):
    u = splunk.url + "/services/collector/raw"
    assert call(u, body=b"x")[2] == {"text": "Token is required", "code": 2}
    assert call(u, body=b"x")[0] == 401
    st, _, ans = call(u, body=b"x", headers={"Authorization": "Bearer tok-1"})
    assert (st, ans["code"]) == (401, 3)
    st, _, ans = call(u, body=b"x", headers={"Authorization": "Splunk nope"})
    assert (st, ans) == (403, {"text": "Invalid token", "code": 4})
    st, _, ans = call(u, body=b"", headers={"Authorization": "Splunk tok-1"})
    assert (st, ans) == (400, {"text": "No data", "code": 5})
    st, _, ans = call(u + "?sourcetype=sysdig", body=b'{"a": 1}\n', headers={"Authorization": "Splunk tok-1"})
    assert (st, ans) == (200, {"text": "Success", "code": 0})
    basic = "Basic " + base64.b64encode(b"x:tok-1").decode()
    assert call(u + "/1.0", body=b"y", headers={"Authorization": basic})[0] == 200
    assert splunk.raw_bodies() == [b'{"a": 1}\n', b"y"]
    assert splunk.events[0]["params"] == {"sourcetype": "sysdig"}
    r = splunk.wait_for(1, pred=lambda r: r.status == 200)[0]
    assert r.header("Authorization") == "Splunk tok-1"


def test_splunk_event_endpoint(splunk):
    u = splunk.url + "/services/collector/event"
    h = {"Authorization": "Splunk tok-1"}
    st, _, ans = call(u, body=b'{"event":{"a":1},"time":1518849360.5,"fields":{"ns":"x","l":["a","b"]}}'
                               b'{"event":"two"}', headers=h)
    assert (st, ans) == (200, {"text": "Success", "code": 0})
    assert [e["event"] for e in splunk.envelopes()] == [{"a": 1}, "two"]
    cases = [
        (b'{"time":1}', 12), (b'{"event":""}', 13), (b"{oops", 6), (b"[1]", 6),
        (b'{"event":1,"fields":{"k":{"nested":1}}}', 15), (b"", 5), (b'{"event":1,"time":"abc"}', 6),
    ]
    for body, code in cases:
        st, _, ans = call(u, body=body, headers=h)
        assert ans["code"] == code, body
        assert st == 400
    st, _, ans = call(u, body=b'{"event":"ok"}\n{"nope":1}', headers=h)
    assert (st, ans) == (400, {"text": "Event field is required", "code": 12, "invalid-event-number": 1})
    assert splunk.envelopes()[-1]["event"] == "ok", "events before the bad one are indexed, as in HEC"


def test_splunk_health_busy_and_down(splunk):
    st, _, ans = call(splunk.url + "/services/collector/health", method="GET")
    assert (st, ans) == (200, {"text": "HEC is healthy", "code": 17})
    splunk.inject(1, status=503, retry_after=2)
    st, hdrs, ans = call(splunk.url + "/services/collector/raw", body=b"x", headers={"Authorization": "Splunk tok-1"})
    assert (st, ans, hdrs["Retry-After"]) == (503, {"text": "Server is busy", "code": 9}, "2")
    splunk.down()
    with pytest.raises(OSError):
        call(splunk.url + "/services/collector/health", method="GET")
    splunk.up()
    assert call(splunk.url + "/services/collector/health", method="GET")[0] == 200


def test_splunk_ack_channel():
    with FakeSplunk(tokens=["t"], use_ack=True) as s:
        u = s.url + "/services/collector/raw"
        st, _, ans = call(u, body=b"x", headers={"Authorization": "Splunk t"})
        assert (st, ans["code"]) == (400, 10)
        ch = "11111111-2222-3333-4444-555555555555"
        st, _, ans = call(u, body=b"x", headers={"Authorization": "Splunk t", "X-Splunk-Request-Channel": ch})
        assert (st, ans) == (200, {"text": "Success", "code": 0, "ackId": 0})
        st, _, ans = call(s.url + "/services/collector/ack", body={"acks": [0]},
                          headers={"Authorization": "Splunk t", "X-Splunk-Request-Channel": ch})
        assert ans == {"acks": {"0": True}}


def test_splunk_codes_match_fixture():
    from fake_splunk import HEC
    ref = json.load(open(os.path.join(FIXTURES, "splunk/hec_codes_0_22_from_splunkadmins.json")))
    for row in ref:
        if row["code"] in HEC:
            assert HEC[row["code"]] == (row["http_status"], row["text"]), row


def test_standalone_runs():
    here = os.path.dirname(os.path.abspath(__file__))
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = subprocess.Popen([sys.executable, os.path.join(here, "fake_es.py"), "--port", str(port)],
                         stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        assert "listening on http://127.0.0.1:%d" % port in line
        assert call("http://127.0.0.1:%d/" % port, method="GET")[2]["tagline"] == "You Know, for Search"
    finally:
        p.terminate()
        assert p.wait(10) == 0
