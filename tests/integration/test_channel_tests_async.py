"""test_channel_tests_async.py - test notifications do not hold the API
(issue 11 part 6).

Before: POST /api/notificationChannels/{id}/test ran the sink request on one
of herald's 4 server threads for up to the channel's timeoutMs (300 s at
most); four slow sinks froze every other API call, /healthz included. Now the
tests run on their own thread, at most 16 at once (more: 429 with
Retry-After), and a stop answers the waiting ones (503) instead of waiting
for the sinks.
"""

import threading
import time

from conftest import assert_error
from recording import FakeServer

TESTS_MAX = 16


class HoldSink(FakeServer):
    """Answers nothing until released (a sink that hangs)."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()
        self.arrived = 0
        self._arr = threading.Condition()

    def _take_injection(self, req):
        # runs before handle(), outside the fake's lock: count, then hang
        with self._arr:
            self.arrived += 1
            self._arr.notify_all()
        self.gate.wait(120)
        return super()._take_injection(req)

    def wait_arrived(self, n, timeout=30):
        with self._arr:
            assert self._arr.wait_for(lambda: self.arrived >= n, timeout), "%d of %d arrived" % (self.arrived, n)

    def handle(self, req):
        return 200, [("Content-Type", "application/json")], b"{}"


def start_tests(herald, ids):
    results = {}

    def one(cid):
        try:
            results[cid] = herald.api("POST", "/api/notificationChannels/%s/test" % cid, timeout=120)
        except Exception as e:  # noqa: BLE001 - recorded and asserted on
            results[cid] = e

    threads = [threading.Thread(target=one, args=(cid,), daemon=True) for cid in ids]
    for t in threads:
        t.start()
    return threads, results


def test_slow_sinks_do_not_freeze_the_api(herald):
    with HoldSink() as sink:
        ids = [herald.webhook("slow-%d" % i, sink.url + "/hook", timeoutMs=90000)["id"]
               for i in range(TESTS_MAX + 1)]
        threads, results = start_tests(herald, ids[:TESTS_MAX])
        sink.wait_arrived(TESTS_MAX)
        # Every test waits at the sink; the API answers anyway (a short
        # client timeout: before, these calls hung behind the tests).
        t0 = time.monotonic()
        for _ in range(5):
            assert herald.api("GET", "/api/notificationChannels", timeout=5).status == 200
            assert herald.api("GET", "/healthz", token=None, timeout=5).status == 200
            assert herald.api("GET", "/api/events", token="read", timeout=5).status == 200
        print("15 API calls answered in %.2f s while %d test notifications waited"
              % (time.monotonic() - t0, TESTS_MAX))
        # One more test than the bound: refused at once, nothing sent.
        r = herald.api("POST", "/api/notificationChannels/%s/test" % ids[-1], timeout=5)
        assert_error(r, 429, "too many")
        assert r.header("Retry-After") is not None
        assert sink.arrived == TESTS_MAX
        sink.gate.set()
        for t in threads:
            t.join(60)
        assert all(getattr(results.get(cid), "status", None) == 200 for cid in ids[:TESTS_MAX]), results
        assert all(results[cid].json["result"]["delivered"] for cid in ids[:TESTS_MAX])
        # The bound is free again.
        assert herald.api("POST", "/api/notificationChannels/%s/test" % ids[-1]).status == 200


def test_stop_answers_waiting_tests(herald):
    with HoldSink() as sink:
        ids = [herald.webhook("hang-%d" % i, sink.url + "/hook", timeoutMs=90000)["id"] for i in range(2)]
        threads, results = start_tests(herald, ids)
        sink.wait_arrived(2)
        t0 = time.monotonic()
        assert herald.stop(timeout=20) == 0  # graceful, without waiting 90 s for the sink
        for t in threads:
            t.join(20)
        took = time.monotonic() - t0
        print("stopped in %.2f s with 2 test notifications waiting" % took)
        for cid in ids:
            r = results.get(cid)
            assert getattr(r, "status", None) == 503, r
            assert "stopping" in r.text
        sink.gate.set()
