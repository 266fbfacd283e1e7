"""WEBHOOK requests in flight (options.maxInFlight, issue 14): several
requests at once by default, one with maxInFlight 1; every event delivered
exactly once through 500s and retries; nothing lost over a kill -9."""

import json
import threading
import time

from conftest import assert_error, poll, unique_event
from recording import FakeServer


class SlowSink(FakeServer):
    """A webhook receiver that holds each request for `delay` seconds before
    answering and records how many it held at once (max_active). The first
    attempt of each marker in fail_first is answered 500, later ones 200."""

    name = "slow_sink"

    def __init__(self, delay=0.1, **kw):
        super().__init__(**kw)
        self.delay = delay
        self.fail_first = set()
        self.active = 0
        self.max_active = 0
        self._count_lock = threading.Lock()

    def _serve(self, h):
        with self._count_lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        time.sleep(self.delay)
        with self._count_lock:
            self.active -= 1  # before the answer: the next request may follow it at once
        super()._serve(h)

    def handle(self, req):
        marker = json.loads(req.body.decode()).get("marker")
        if marker in self.fail_first:
            self.fail_first.discard(marker)
            return 500, [("Content-Type", "text/plain")], b"try again"
        return 200, [("Content-Type", "application/json")], b"{}"

    def accepted(self):
        """{marker: number of 200 answers}."""
        out = {}
        for r in self.snapshot(lambda q: q.status == 200):
            m = json.loads(r.body.decode()).get("marker")
            out[m] = out.get(m, 0) + 1
        return out


def _start_sink(delay):
    return SlowSink(delay=delay).start()


def _ingest_batch(herald, markers):
    body = "\n".join(json.dumps(unique_event(m)) for m in markers)
    herald.ingest(body, content_type="application/x-ndjson")


def _channel_status(herald, cid):
    r = herald.api("GET", "/api/channelStatus")
    assert r.status == 200, r
    body = r.json
    items = body.get("channels", body) if isinstance(body, dict) else body
    for s in items:
        if s.get("id") == cid:
            return s
    raise AssertionError("channel %s not in %r" % (cid, body))


def test_default_sends_several_at_once(herald):
    sink = _start_sink(0.2)
    try:
        ch = herald.webhook("wide", sink.url + "/hook")
        markers = ["w-%02d" % i for i in range(20)]
        _ingest_batch(herald, markers)
        sink.wait_until(lambda: len(sink.accepted()) == 20, 30, "20 events accepted")
        assert sink.max_active > 1, "requests in flight at once: %d" % sink.max_active
        assert sink.max_active <= 4, "at most the default maxInFlight: %d" % sink.max_active
        assert sink.accepted() == {m: 1 for m in markers}
        poll(lambda: _channel_status(herald, ch["id"]).get("backlog") == 0, 10, what="backlog 0")
    finally:
        sink.stop()


def test_max_in_flight_one_keeps_order(herald):
    sink = _start_sink(0.05)
    try:
        herald.webhook("narrow", sink.url + "/hook", maxInFlight=1)
        markers = ["n-%02d" % i for i in range(15)]
        _ingest_batch(herald, markers)
        sink.wait_until(lambda: len(sink.accepted()) == 15, 30, "15 events accepted")
        assert sink.max_active == 1
        got = [json.loads(r.body.decode())["marker"] for r in sink.snapshot()]
        assert got == markers, "strict order with maxInFlight 1"
    finally:
        sink.stop()


def test_max_in_flight_validation(herald):
    for bad in (0, 65, 2.5, "4", True):
        r = herald.api("POST", "/api/notificationChannels", {"notificationChannel": {
            "type": "WEBHOOK", "name": "bad", "enabled": True,
            "options": {"url": "http://127.0.0.1:9/x", "maxInFlight": bad}}})
        assert_error(r, 400, "options.maxInFlight")
    ch = herald.webhook("ok64", "http://127.0.0.1:9/x", maxInFlight=64)
    assert herald.get_channel(ch["id"])["options"]["maxInFlight"] == 64


def test_500_then_accept_delivers_each_once(herald):
    sink = _start_sink(0.1)
    try:
        herald.webhook("retry", sink.url + "/hook")
        markers = ["r-%02d" % i for i in range(30)]
        sink.fail_first = {m for i, m in enumerate(markers) if i % 5 == 2}
        _ingest_batch(herald, markers)
        sink.wait_until(lambda: len(sink.accepted()) == 30, 60, "30 events accepted")
        assert sink.count(lambda q: q.status == 500) == 6
        poll(lambda: herald.deliveries(status="pending") == [], 15, what="no pending retries")
        time.sleep(0.5)  # nothing more goes out
        assert sink.accepted() == {m: 1 for m in markers}, "each event accepted exactly once"
        assert herald.deliveries(status="failed") == []
    finally:
        sink.stop()


def test_kill_9_mid_delivery_loses_nothing(herald):
    sink = _start_sink(0.15)
    try:
        ch = herald.webhook("crash", sink.url + "/hook")
        markers = ["k-%02d" % i for i in range(40)]
        sink.fail_first = {"k-03", "k-11"}
        _ingest_batch(herald, markers)
        sink.wait_until(lambda: len(sink.accepted()) >= 10, 30, "some events accepted")
        herald.restart(kill=True)
        sink.wait_until(lambda: set(markers) <= set(sink.accepted()), 60, "every event accepted")
        poll(lambda: herald.deliveries(status="pending") == [], 15, what="no pending retries")
        poll(lambda: _channel_status(herald, ch["id"]).get("backlog") == 0, 15, what="backlog 0")
        got = sink.accepted()
        assert set(got) == set(markers), "nothing lost, nothing invented"
        assert herald.deliveries(status="failed") == []
        # at least once: only what was in flight or not yet persisted goes twice
        assert sum(got.values()) - len(markers) <= 16, got
    finally:
        sink.stop()
