"""test_backpressure.py - request bodies held at once are bounded (SPEC 10:
"bytes waiting for a commit or in flight are bounded, excess load waits
(backpressure), nothing is refused that would be accepted").

limits.maxBytesInFlight (default 8 MiB) is charged with each request's
declared body on its headers; a request that does not fit waits, suspended
before a byte of its body is read, until answers free enough. The attacks:
many clients posting large bodies at once (each was buffered whole: 24 of
6 MiB held ~150 MB), and a stop while requests wait (libmicrohttpd must not
stop with suspended connections).
"""

import http.client
import json
import os
import socket
import subprocess
import threading
import time

from conftest import SANITIZED, metric_values, poll, status_kb, unique_event


def ndjson_body(tag, n, pad):
    lines = [json.dumps(unique_event("%s-%d" % (tag, i), pad="x" * pad)) for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def post_all(herald, bodies):
    """POSTs every body at once, one thread each; the statuses in order."""
    statuses = [None] * len(bodies)

    def one(i):
        r = herald.post_events(bodies[i], content_type="application/x-ndjson")
        statuses[i] = (r.status, r.json.get("accepted") if r.json else r.text[:200])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return statuses


def waited(herald):
    return sum(metric_values(herald.metrics(), "herald_http_requests_waited_total").values())


def test_requests_over_the_budget_wait_and_are_all_accepted(herald_factory):
    h = herald_factory(extra={"limits": {"maxBytesInFlight": "1MiB"}})
    bodies = [ndjson_body("bp%d" % k, 200, 3000) for k in range(12)]  # ~600 KB each
    statuses = post_all(h, bodies)
    assert statuses == [(202, 200)] * 12, statuses
    assert waited(h) > 0, "no request waited: the budget was not applied"
    stored = sum(metric_values(h.metrics(), "herald_events_stored_total").values())
    assert stored == 2400, stored
    print("12 concurrent 600 KB bodies under a 1 MiB budget: all 202, %d waited" % waited(h))


def test_chunked_uploads_wait_too(herald_factory):
    """A chunked upload declares no length: it is charged maxBodyBytes, so
    several at once wait for room instead of all being buffered."""
    h = herald_factory(extra={"limits": {"maxBytesInFlight": "1MiB", "maxBodyBytes": "1MiB"}})
    statuses = [None] * 6

    def one(i):
        body = ndjson_body("ch%d" % i, 200, 3000)  # ~600 KB
        c = http.client.HTTPConnection("127.0.0.1", h.port, timeout=60)
        c.request("POST", "/api/events", body=iter([body[k:k + 65536] for k in range(0, len(body), 65536)]),
                  headers={"Authorization": "Bearer " + h.ingest_token,
                           "Content-Type": "application/x-ndjson"}, encode_chunked=True)
        r = c.getresponse()
        statuses[i] = (r.status, json.loads(r.read()).get("accepted"))
        c.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert statuses == [(202, 200)] * 6, statuses
    assert waited(h) > 0, "chunked uploads were all buffered at once"


def test_many_large_uploads_stay_in_bounded_memory(herald_factory):
    h = herald_factory()  # default maxBytesInFlight: 8 MiB
    body = ndjson_body("big", 120, 50000)  # ~6 MiB of 120 events
    bodies = [body.replace(b"big-", b"big%d-" % k) for k in range(24)]
    base_mb = status_kb(h.proc.pid, "VmRSS") / 1024.0
    statuses = post_all(h, bodies)
    assert statuses == [(202, 120)] * 24, statuses
    peak_mb = status_kb(h.proc.pid, "VmHWM") / 1024.0
    print("24 concurrent 6 MiB uploads (144 MiB): all 202; herald RSS %.1f MB before, peak %.1f MB; %d waited"
          % (base_mb, peak_mb, waited(h)))
    # Held whole, the bodies alone would be 144 MiB (115 MB peak measured
    # without the limit). Under AddressSanitizer freed memory stays in its
    # quarantine, so only the outcome is checked there.
    if not SANITIZED:
        assert peak_mb < 80, "peak RSS %.1f MB" % peak_mb


def test_stop_lets_waiting_requests_go(herald_factory):
    h = herald_factory(extra={"limits": {"maxBytesInFlight": "1MiB"}})
    body = ndjson_body("hold", 300, 3000)  # ~900 KB
    head = ("POST /api/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
            "Content-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n" % (h.ingest_token, len(body)))
    # The first holds the budget with half its body sent; the second waits.
    a = socket.create_connection(("127.0.0.1", h.port))
    a.sendall(head.encode() + body[: len(body) // 2])
    time.sleep(0.3)
    b = socket.create_connection(("127.0.0.1", h.port))
    b.sendall(head.encode())
    poll(lambda: waited(h) >= 1, timeout=10, what="the second request waiting")
    t0 = time.monotonic()
    h.proc.terminate()
    try:
        rc = h.proc.wait(20)
    except subprocess.TimeoutExpired:
        h.proc.kill()
        raise AssertionError("herald did not stop with a request waiting for room")
    print("stopped in %.2f s with one request holding the budget and one waiting" % (time.monotonic() - t0))
    assert rc == 0, rc
    a.close()
    b.close()


def test_ten_mb_bodies_stay_under_the_memory_budget(herald_factory, fake_es):
    """SPEC 10: RSS <= 40 MB under any load, 10 MiB bodies included. 16
    clients post ~9.5 MB bodies (4,000 events of ~2.3 KB) at once while an
    ELASTICSEARCH channel delivers them: one body is admitted at a time (8
    MiB budget), freed once its raws are compressed (before the commit), and
    the memory of its work is given back when it ends."""
    h = herald_factory()
    h.create_channel({"type": "ELASTICSEARCH", "name": "es", "enabled": True,
                      "options": {"url": fake_es.url, "index": "ten"}})
    body = ndjson_body("ten", 4000, 2200)
    bodies = [body.replace(b"ten-", b"ten%d-" % k) for k in range(16)]
    del body
    statuses = post_all(h, bodies)
    assert statuses == [(202, 4000)] * 16, statuses
    stored = sum(metric_values(h.metrics(), "herald_events_stored_total").values())
    assert stored == 64000, stored
    peak_mb = status_kb(h.proc.pid, "VmHWM") / 1024.0
    print("16 concurrent ~9.5 MB uploads: all 202; herald peak RSS %.1f MB; %d waited" % (peak_mb, waited(h)))
    if not SANITIZED:
        # 37-38 MB before (body held through the commit, no trim), 30 after
        assert peak_mb < 35, "peak RSS %.1f MB" % peak_mb


def trims(herald):
    return sum(metric_values(herald.metrics(), "herald_memory_trims_total").values())


def post_to_its_end(h, body):
    """POSTs body, then asks /healthz on the same keep-alive connection:
    libmicrohttpd ends a request (its completion, where a trim happens)
    before it reads the next one on that connection, so once the second
    answer is in, the first request has ended - no sleep to guess it."""
    conn = http.client.HTTPConnection("127.0.0.1", h.port, timeout=30)
    try:
        conn.request("POST", "/api/events", body, {"Authorization": "Bearer " + h.token("ingest"),
                                                   "Content-Type": "application/x-ndjson"})
        r = conn.getresponse()
        r.read()
        assert r.status == 202, r.status
        assert r.getheader("Connection", "").lower() != "close"
        conn.request("GET", "/healthz")
        r2 = conn.getresponse()
        r2.read()
        assert r2.status == 200, r2.status
    finally:
        conn.close()


def test_memory_given_back_after_large_bodies_only(herald_factory):
    """A body of 4 MiB or more gives its work's memory back to the kernel
    when it ends (malloc_trim: keeps peak RSS flat under ~10 MB bodies); a
    batch of a few MB does not pay for it. The 2.3 MB body used to be held
    in a 4 MiB buffer (capacity doubled) and counted as large."""
    h = herald_factory()
    small = ndjson_body("trim-small", 1000, 2200)  # ~2.3 MB
    assert 2_000_000 < len(small) < 3_000_000
    post_to_its_end(h, small)
    assert trims(h) == 0, "a 2.3 MB batch paid a malloc_trim"
    large = ndjson_body("trim-large", 2000, 2400)  # ~5 MB
    assert len(large) > 4 * 1024 * 1024
    assert h.post_events(large, content_type="application/x-ndjson").status == 202
    assert poll(lambda: trims(h) >= 1, timeout=10), "a 5 MB body did not give its memory back"
    post_to_its_end(h, small)
    assert trims(h) == 1, trims(h)


def test_lagging_channel_of_large_events_stays_bounded(herald_factory, fake_es):
    """SPEC 10: RSS <= 40 MB under any load. A channel whose sink was down
    catches up on 120 events of ~1 MB each: its read-ahead and its batches
    are bounded by bytes (batch.maxBytes, 5 MiB), not only by count: it
    read up to 500 events at once, whatever their size (136 MB of RSS on
    this test). Everything arrives."""
    h = herald_factory()
    fake_es.fail_always(status=503)
    h.create_channel({"type": "ELASTICSEARCH", "name": "es", "enabled": True,
                      "options": {"url": fake_es.url, "index": "big"}})
    for k in range(40):
        # ~1 MB each, barely compressible: 3 events share one stored blob
        lines = [json.dumps(unique_event("big%d-%d" % (k, i), pad=os.urandom(500000).hex())) for i in range(3)]
        r = h.post_events(("\n".join(lines) + "\n").encode(), content_type="application/x-ndjson")
        assert r.status == 202, r
    peak = 0
    fake_es.clear_failures()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(fake_es.doc_keys()) < 120:
        peak = max(peak, status_kb(h.proc.pid, "VmRSS"))
        time.sleep(0.02)
    assert len(fake_es.doc_keys()) == 120, len(fake_es.doc_keys())
    bulks = [q for q in fake_es.requests if q.path.endswith("_bulk")]
    biggest = max(len(q.body) for q in bulks)
    hwm = status_kb(h.proc.pid, "VmHWM") / 1024.0
    print("120 ~1 MB events caught up in %d bulk requests (largest %.1f MB); RSS max %.1f MB, peak %.1f MB"
          % (len(bulks), biggest / 1e6, peak / 1024.0, hwm))
    assert biggest <= 5 * 1024 * 1024 + 64 * 1024, biggest
    if not SANITIZED:
        assert hwm < 40, "peak RSS %.1f MB" % hwm
