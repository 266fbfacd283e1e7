"""Deferred ingest answers (src/net/http_server.c, src/api/events.c): the
202 of POST /api/events is composed after the store's group commit, while
the connection is suspended. These drive that path the ways a client can:
many keep-alive connections at once, other requests on the same connection
after a deferred answer, clients that hang up before the answer, and a
SIGTERM while requests are in flight (herald must answer or drop them and
exit 0: MHD must not be stopped with a suspended connection)."""

import http.client
import json
import socket
import threading

from conftest import poll, unique_event

CONNS = 16
PER_CONN = 40


def _keepalive_client(h, tid, out, errors):
    """PER_CONN single-event POSTs and a GET /healthz on one connection."""
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=30)
    hdrs = {"Authorization": "Bearer " + h.ingest_token, "Content-Type": "application/json"}
    try:
        for i in range(PER_CONN):
            marker = "ka%d-%03d" % (tid, i)
            conn.request("POST", "/api/events", body=json.dumps(unique_event(marker)), headers=hdrs)
            r = conn.getresponse()
            body = r.read()
            if r.status != 202:
                errors.append((marker, r.status, body[:200]))
                return
            out[marker] = json.loads(body)["ids"][0]
            if i % 10 == 9:
                conn.request("GET", "/healthz")
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    errors.append((marker, "healthz", r.status))
                    return
    except Exception as e:  # noqa: BLE001 - reported below
        errors.append((tid, repr(e)))
    finally:
        conn.close()


def test_many_keepalive_connections_each_answer_after_commit(herald):
    h = herald
    acked, errors = {}, []
    threads = [threading.Thread(target=_keepalive_client, args=(h, t, acked, errors)) for t in range(CONNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[:5]
    assert len(acked) == CONNS * PER_CONN
    assert len(set(acked.values())) == len(acked)
    stored = {e["id"] for e in h.events(limit=1000)}
    assert set(acked.values()) <= stored
    # Every answer is for the event its request carried.
    for marker in ("ka0-000", "ka%d-%03d" % (CONNS - 1, PER_CONN - 1)):
        raw = h.event(acked[marker])["raw"]
        raw = json.loads(raw) if isinstance(raw, str) else raw
        assert raw["marker"] == marker


def _post_and_hang_up(port, token, marker):
    body = json.dumps(unique_event(marker)).encode()
    head = ("POST /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (token, len(body))).encode()
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(head + body)
    finally:
        s.close()   # before the answer: the append still completes


def test_client_gone_before_the_answer(herald):
    h = herald
    for i in range(60):
        _post_and_hang_up(h.port, h.ingest_token, "gone-%03d" % i)
    # The store still commits what it was handed; herald keeps serving.
    r = h.post_events(unique_event("after-hangups"))
    assert r.status == 202, r
    assert r.json["ids"][0] in {e["id"] for e in h.events(limit=1000)}
    assert h.api("GET", "/healthz").status == 200
    h.stop()   # exit 0 (and, under ASan, no leak of the orphaned contexts)


def _stream_until_refused(h, tid, acked, lock, stop):
    conn = None
    hdrs = {"Authorization": "Bearer " + h.ingest_token, "Content-Type": "application/json"}
    i = 0
    while not stop.is_set():
        marker = "term%d-%05d" % (tid, i)
        i += 1
        try:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=15)
            conn.request("POST", "/api/events", body=json.dumps(unique_event(marker)), headers=hdrs)
            r = conn.getresponse()
            body = r.read()
        except Exception:  # noqa: BLE001 - herald stopping: not acknowledged
            return
        if r.status == 202:
            with lock:
                acked[marker] = json.loads(body)["ids"][0]


def test_sigterm_with_requests_in_flight(herald):
    h = herald
    acked, lock, stop = {}, threading.Lock(), threading.Event()
    threads = [threading.Thread(target=_stream_until_refused, args=(h, t, acked, lock, stop), daemon=True)
               for t in range(8)]
    for t in threads:
        t.start()
    poll(lambda: len(acked) >= 200, 30, what="200 acknowledged events")
    h.stop(timeout=30)   # asserts exit code 0
    stop.set()
    for t in threads:
        t.join(20)
    with lock:
        acked = dict(acked)
    h.start()
    stored = h.all_event_ids()  # every page (more than one when the machine is fast)
    missing = [m for m, eid in acked.items() if eid not in stored]
    assert not missing, "acknowledged but not stored: %r" % missing[:5]
