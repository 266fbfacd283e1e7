"""POST/GET /api/events (SPEC section 4 "Events", section 5)."""

import json
import re
import socket
import uuid

import pytest

from conftest import assert_error, fixture_bytes, fixture_json, poll, unique_event

ID_RE = re.compile(r"^[0-9a-f]{32}$")
FALCO = ["falco/falco_critical_terminal_shell_syscall.json", "falco/falco_error_write_below_binary_dir.json",
         "falco/falco_warning_k8saudit_user_not_allowed.json", "falco/falco_notice_k8saudit_attach_exec.json"]
ARTICLE_EVENT = "sysdig/sysdig_blog2018_secure_webhook_read_sensitive_file.json"


def _raw(ev):
    raw = ev["raw"]
    return json.loads(raw) if isinstance(raw, str) else raw


def _all_ids(herald):
    return [e["id"] for e in herald.events(limit=1000)]


def test_single_object(herald):
    r = herald.post_events(fixture_bytes(FALCO[0]))
    assert r.status == 202, r
    assert r.json["accepted"] == 1 and len(r.json["ids"]) == 1
    assert ID_RE.match(r.json["ids"][0]), "128-bit hash as 32 lowercase hex digits"


def test_array_and_ndjson_keep_document_order(herald):
    docs = [fixture_json(f) for f in FALCO]
    r = herald.post_events(json.dumps(docs))
    assert r.status == 202 and r.json["accepted"] == 4, r
    ids = r.json["ids"]
    assert len(set(ids)) == 4
    for i, eid in enumerate(ids):
        ev = herald.event(eid)
        assert _raw(ev) == docs[i], "ids are in document order"
        assert ev["source"] == "falco"

    nd = [unique_event("nd-%d" % i) for i in range(3)]
    body = "\n".join(json.dumps(d) for d in nd) + "\n"
    r = herald.post_events(body, content_type="application/x-ndjson")
    assert r.status == 202 and r.json["accepted"] == 3, r
    for i, eid in enumerate(r.json["ids"]):
        assert _raw(herald.event(eid))["marker"] == "nd-%d" % i


def test_alertmanager_one_event_per_alert(herald):
    r = herald.post_events(fixture_bytes("alertmanager/am0.25_captured_firing_2alerts.json"))
    assert r.status == 202 and r.json["accepted"] == 2 and len(set(r.json["ids"])) == 2, r
    evs = [herald.event(i) for i in r.json["ids"]]
    assert all(e["source"] == "alertmanager" and e["state"] == "ACTIVE" and e["severity"] == 2 for e in evs)
    r = herald.post_events(fixture_bytes("alertmanager/am0.25_captured_resolved_2alerts.json"))
    assert r.status == 202 and r.json["accepted"] == 2, r
    resolved = [herald.event(i) for i in r.json["ids"]]
    assert all(e["state"] == "OK" for e in resolved), "Alertmanager resolved is OK"
    assert {e["alertKey"] for e in resolved} == {e["alertKey"] for e in evs}, "same alertKey across states"
    assert not set(r.json["ids"]) & {e["id"] for e in evs}, "a state change is a new event id"


def test_same_event_twice_is_stored_once(herald):
    ev = unique_event("dup-" + uuid.uuid4().hex)
    a = herald.ingest(json.dumps(ev))
    b = herald.ingest(json.dumps(ev))
    assert a == b
    c = herald.ingest(json.dumps([ev, unique_event("other")]))
    assert c[0] == a[0]
    ids = _all_ids(herald)
    assert ids.count(a[0]) == 1 and len(ids) == 2


def test_get_event_detail(herald, fake_es):
    ch = herald.webhook("es", fake_es.url + "/ev/_doc")
    body = fixture_bytes(ARTICLE_EVENT)
    eid = herald.ingest(body)[0]
    ev = herald.event(eid)
    for k in ("id", "source", "timestampUs", "receivedUs", "severity", "state", "raw", "deliveries"):
        assert k in ev, k
    assert isinstance(ev["k8s"], dict), "k8s is a nested object"
    assert _raw(ev) == json.loads(body)
    assert isinstance(ev["receivedUs"], int) and ev["receivedUs"] > 1_600_000_000_000_000
    fake_es.wait_docs(1)
    poll(lambda: str(ch["id"]) in json.dumps(herald.event(eid)["deliveries"]), 10,
         what="the channel in the event's deliveries")
    assert_error(herald.api("GET", "/api/events/" + "0" * 32), 404)


def test_list_filters_and_paging(herald):
    falco = herald.ingest(json.dumps([fixture_json(f) for f in FALCO]))   # severities 2, 3, 4, 5
    secure = herald.ingest(fixture_bytes(ARTICLE_EVENT))                    # severity 4, ns example-java-app
    ok = herald.ingest(fixture_bytes("alertmanager/am0.25_captured_resolved_amtool.json"))  # OK
    all_ids = falco + secure + ok
    got = _all_ids(herald)
    assert got == list(reversed(all_ids)), "newest first"

    sev = herald.events(severity=3)
    assert sev and all(e["severity"] <= 3 for e in sev)
    assert {e["id"] for e in sev} == set(falco[:2])
    src = herald.events(source="falco")
    assert {e["id"] for e in src} == set(falco)
    st = herald.events(state="OK")
    assert [e["id"] for e in st] == ok
    ns = herald.events(namespace="example-java-app")
    assert [e["id"] for e in ns] == secure
    q = herald.events(q="Write below binary dir")
    assert [e["id"] for e in q] == [falco[1]]

    # paging with nextCursor, newest first, every event once
    seen = []
    cursor = None
    for _ in range(10):
        query = {"limit": 2}
        if cursor not in (None, "", 0):
            query["cursor"] = cursor
        r = herald.api("GET", "/api/events", query=query)
        assert r.status == 200, r
        assert len(r.json["events"]) <= 2
        seen += [e["id"] for e in r.json["events"]]
        cursor = r.json.get("nextCursor")
        if cursor in (None, "", 0):
            break
    assert seen == list(reversed(all_ids))


# ---- rejected requests ---------------------------------------------------------------

DEEP = ('{"a":' * 1000) + "1" + ("}" * 1000)
BAD_BODIES = [
    ("malformed", b'{"rule": "x",, "priority": "Error"}', "application/json", None),
    ("truncated", fixture_bytes(ARTICLE_EVENT)[:400], "application/json", None),
    ("invalid-utf8", b'{"rule": "bad \xff\xfe bytes", "priority": "Error"}', "application/json", None),
    ("deep-nesting", DEEP.encode(), "application/json", None),
    ("number", b"42", "application/json", None),
    ("string", b'"just a string"', "application/json", None),
    ("null", b"null", "application/json", None),
    ("array-of-scalars", b"[1, 2, 3]", "application/json", None),
    ("empty", b"", "application/json", None),
    ("whitespace", b"  \n\n ", "application/json", None),
    ("ndjson-bad-third-line", b'{"marker":"nd-ok-1"}\n{"marker":"nd-ok-2"}\n{"marker": oops}\n',
     "application/x-ndjson", None),
    ("array-bad-second", b'[{"marker":"arr-ok-1"}, 17]', "application/json", None),
]


@pytest.mark.parametrize("name,body,ctype,fmt", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_bodies_rejected_and_nothing_stored(herald, name, body, ctype, fmt):
    before = _all_ids(herald)
    r = herald.post_events(body, content_type=ctype, fmt=fmt)
    msg = assert_error(r, 400)
    if name in ("malformed", "truncated", "invalid-utf8", "ndjson-bad-third-line", "array-bad-second"):
        assert re.search(r"\d", msg), "the message names the position: %r" % msg
    if name in ("ndjson-bad-third-line", "array-bad-second"):
        assert re.search(r"(document|line|doc|item|index|element)", msg, re.I), \
            "the message names the document: %r" % msg
    assert _all_ids(herald) == before, "nothing of a rejected request is stored"
    assert herald.api("GET", "/healthz", token=None).status == 200
    good = herald.ingest(json.dumps(unique_event("after-" + name)))
    assert _all_ids(herald) == good + before


def test_unknown_format_and_wrong_types(herald):
    before = _all_ids(herald)
    msg = assert_error(herald.post_events(json.dumps(unique_event("f")), fmt="xml"), 400)
    assert "format" in msg.lower() or "xml" in msg
    bad = fixture_json(ARTICLE_EVENT)
    bad["timestamp"] = "abc"
    msg = assert_error(herald.post_events(json.dumps(bad), fmt="sysdig"), 400)
    assert "timestamp" in msg
    msg = assert_error(herald.post_events(json.dumps([fixture_json(FALCO[0]), bad]), fmt="sysdig"), 400)
    assert _all_ids(herald) == before
    docker_line = fixture_bytes("docker/moby_api_v1.24_events_example.jsonl").splitlines()[1]
    k8s_event = json.dumps(fixture_json("k8s/k8s_events_kind_cluster_capture.json")[0]).encode()
    for fmt, body in (("sysdig", fixture_bytes(ARTICLE_EVENT)), ("falco", fixture_bytes(FALCO[0])),
                      ("alertmanager", fixture_bytes("alertmanager/am0.25_captured_firing_amtool.json")),
                      ("kubernetes", k8s_event), ("docker", docker_line),
                      ("generic", json.dumps(unique_event("fmt-generic")).encode())):
        r = herald.post_events(body, fmt=fmt)
        assert r.status == 202, (fmt, r)
        src = herald.event(r.json["ids"][0])["source"]
        assert src.startswith(fmt[:6]), (fmt, src)


def _read_status(s, buf=b""):
    """Status code of the next response on s (0 if the peer closed first)."""
    try:
        while b"\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
    except ConnectionResetError:
        pass
    if not buf.startswith(b"HTTP/"):
        return 0, buf
    return int(buf.split(b" ", 2)[1]), buf


def test_body_too_large_413(herald):
    """11 MiB over the default 10 MiB limit: 413. Sent with Expect:
    100-continue so herald can refuse from the headers; if it asks for the
    body (100) or stays silent, the body is sent and the final answer read."""
    size = 11 * 1024 * 1024
    s = socket.create_connection(("127.0.0.1", herald.port), timeout=30)
    try:
        s.sendall(("POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                   "Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
                   % (herald.ingest_token, size)).encode())
        s.settimeout(2)
        try:
            status, buf = _read_status(s)
        except socket.timeout:
            status, buf = 100, b""
        s.settimeout(30)
        if status == 100:
            part = b" " * (1024 * 1024)
            try:
                for _ in range(11):
                    s.sendall(part)
            except OSError:
                pass
            rest = buf.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in buf else b""
            status, buf = _read_status(s, rest)
        assert status == 413, buf[:300]
    finally:
        s.close()
    assert _all_ids(herald) == []
    herald.ingest(json.dumps(unique_event("after-413")))


def test_unsupported_media_type_415(herald):
    r = herald.post_events(json.dumps(unique_event("xml")), content_type="application/xml")
    assert_error(r, 415)
    assert _all_ids(herald) == []


def test_backlog_limit_429_or_503(herald_factory, fake_es):
    h = herald_factory(extra={"limits": {"maxBacklog": 5}})
    h.webhook("es", fake_es.url + "/bl/_doc")
    fake_es.down()
    accepted = []
    refused = None
    for i in range(200):
        r = h.post_events(json.dumps(unique_event("bl-%d" % i)))
        if r.status == 202:
            accepted += r.json["ids"]
            continue
        refused = r
        break
    assert refused is not None, "ingest never pushed back with the sink down"
    assert refused.status in (429, 503), refused
    ra = refused.header("Retry-After")
    assert ra is not None and ra.strip().isdigit() and int(ra) >= 1, refused.headers
    assert len(accepted) >= 5
    # SPEC 4: a backlog over the limit does not change readiness (a load
    # balancer would cut the API and dashboard off); the store still writes
    r = h.api("GET", "/readyz", token=None)
    assert r.status == 200 and r.json == {"status": "ready"}, r
    fake_es.up()
    fake_es.wait_docs(len(accepted), timeout=30)
    poll(lambda: h.post_events(json.dumps(unique_event("bl-after"))).status == 202, 30,
         what="ingest accepted again once the backlog drained")
    got = {d["marker"] for d in fake_es.sources("bl")}
    assert {"bl-%d" % i for i in range(len(accepted))} <= got


def test_a_page_of_large_events_is_bounded_in_bytes(herald):
    """A page holds at most ~4 MiB of events and its nextCursor goes on from
    there: limit=1000 over ~1 MB events built a 1 GB answer in memory."""
    import os
    from conftest import SANITIZED, status_kb
    ids = []
    for k in range(10):
        lines = [json.dumps(unique_event("page%d-%d" % (k, i), pad=os.urandom(500000).hex())) for i in range(3)]
        ids += herald.ingest(("\n".join(lines) + "\n").encode(), content_type="application/x-ndjson")
    seen, pages = [], 0
    for r in herald.event_pages(limit=1000):
        assert len(r.body) < 6 * 1024 * 1024, len(r.body)
        got = r.json["events"]
        assert 1 <= len(got) <= 5, len(got)
        seen += [e["id"] for e in got]
        pages += 1
    assert seen == list(reversed(ids)), "every event once, newest first"
    assert pages >= 6, pages
    r = herald.api("GET", "/api/events", query={"limit": 1000, "sort": "severity"})
    assert r.status == 200 and 1 <= len(r.json["events"]) <= 5 and r.json["nextCursor"] is None, r
    if not SANITIZED:
        assert status_kb(herald.proc.pid, "VmHWM") / 1024.0 < 40
