"""test_bounded_ingest.py - ingest is bounded (issue 11 part 4, SPEC 3/4).

The attack: 10 MiB of tiny NDJSON documents ({"n":i}, 815,141 events) took
18 s and 485 MB RSS and pushed the backlog from 0 to 3.2 M, past maxBacklog
1 M (it was checked only before decoding). Now:
- limits.maxEventsPerRequest (default 100,000) refuses such a body with a
  413 that names the limit, decoding stops at the first event over it, and
  herald's peak RSS (VmHWM) stays under 64 MB; nothing of it is stored;
- the backlog check counts the request's own events.
"""

import json
import time

from conftest import metric_values, assert_error, poll, status_kb, unique_event
from recording import FakeServer


def tiny_events_body(max_bytes=10 * 1024 * 1024 - 1024):
    lines = []
    size = 0
    i = 0
    while True:
        line = b'{"n":%d}\n' % i
        if size + len(line) > max_bytes:
            break
        lines.append(line)
        size += len(line)
        i += 1
    return b"".join(lines), i


def test_ten_mib_of_tiny_events_is_refused_in_bounded_memory(herald):
    body, n = tiny_events_body()
    assert n > 800000
    t0 = time.monotonic()
    r = herald.post_events(body, content_type="application/x-ndjson")
    took = time.monotonic() - t0
    assert_error(r, 413, "limits.maxEventsPerRequest", "100000", "document 100001")
    peak_mb = status_kb(herald.proc.pid, "VmHWM") / 1024.0
    print("10 MiB body, %d tiny events: 413 in %.2f s; herald peak RSS (VmHWM) %.1f MB" % (n, took, peak_mb))
    assert peak_mb < 64, "peak RSS %.1f MB" % peak_mb
    r = herald.api("GET", "/api/events", query={"limit": 10})
    assert r.status == 200 and r.json["events"] == [], r
    # The same as an array: refused the same way.
    arr = b"[" + b",".join(b'{"n":%d}' % i for i in range(100001)) + b"]"
    assert_error(herald.post_events(arr), 413, "limits.maxEventsPerRequest")
    herald.ingest(json.dumps(unique_event("after-413")))


def test_max_events_per_request_is_configurable(herald_factory):
    h = herald_factory(extra={"limits": {"maxEventsPerRequest": 3}})
    ok = b"".join(json.dumps(unique_event("ok-%d" % i)).encode() + b"\n" for i in range(3))
    assert len(h.ingest(ok, content_type="application/x-ndjson")) == 3
    over = b"".join(json.dumps(unique_event("over-%d" % i)).encode() + b"\n" for i in range(4))
    assert_error(h.post_events(over, content_type="application/x-ndjson"), 413, "maxEventsPerRequest", "3")
    assert "over-" not in json.dumps(h.events())


class DownSink(FakeServer):
    def handle(self, req):
        return 503, [("Retry-After", "60")], b"down"


def test_backlog_check_counts_the_request_events(herald_factory):
    h = herald_factory(extra={"limits": {"maxBacklog": 10}})
    with DownSink() as sink:
        h.webhook("down", sink.url + "/")
        nd = lambda k, tag: b"".join(json.dumps(unique_event("%s-%d" % (tag, i))).encode() + b"\n"
                                     for i in range(k))
        assert len(h.ingest(nd(8, "first"), content_type="application/x-ndjson")) == 8
        # the dispatcher has counted the 8 (the check reads its published
        # backlog). Exactly 8: while the failed batch turns into retry rows
        # the count may be one batch high for a moment (a soft limit errs on
        # the side of a 429); the third request below needs the settled 8.
        poll(lambda: sum(metric_values(h.metrics(), "herald_channel_backlog").values()) == 8,
             what="a backlog of 8 published")
        r = h.post_events(nd(5, "second"), content_type="application/x-ndjson")
        assert_error(r, 429, "limits.maxBacklog", "5 events")
        assert r.header("Retry-After") is not None
        # SPEC 4: over maxBacklog herald stays ready (ingest says 429; the API
        # and the dashboard stay in the load balancer).
        over = h.api("GET", "/readyz", token=None)
        assert over.status == 200 and over.json["status"] == "ready", over
        assert h.api("GET", "/api/events", token="read").status == 200
        # 8 + 2 fits. While the dispatcher retries the failed batch the
        # published backlog may read one or more high for a moment, even
        # after it settled (seen once: 9, under ASan); the soft limit then
        # answers 429 with Retry-After and the client sends again, as here.
        # A check that kept over-counting would time the poll out.
        third = poll(lambda: h.ingest(nd(2, "third"), content_type="application/x-ndjson"),
                     what="the third request (8 + 2 events) accepted")
        assert len(third) == 2
        assert "second-" not in json.dumps(h.events())
