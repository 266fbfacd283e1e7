"""At least once across kill -9 (SPEC section 6): every event answered 202 is
on stable storage and is delivered after a restart on the same data dir."""

import json
import threading
import time

import pytest

from conftest import http_call, poll, unique_event

THREADS = 4


def _stream(herald, stop, acked, lock, tid):
    """Posts events until stop is set or herald goes away; records acked ones."""
    i = 0
    while not stop.is_set():
        marker = "k%d-%05d" % (tid, i)
        i += 1
        body = json.dumps([unique_event(marker)])
        try:
            r = http_call(herald.port, "POST", "/api/events", body,
                          {"Authorization": "Bearer " + herald.ingest_token, "Content-Type": "application/json"},
                          timeout=10)
        except Exception:   # herald was killed mid-request: not acknowledged
            return
        if r.status == 202:
            with lock:
                acked[marker] = r.json["ids"][0]
        elif r.status not in (429, 503):
            raise AssertionError("unexpected answer %r" % r)


@pytest.mark.parametrize("sink_up", [True, False], ids=["sink-up", "sink-down"])
def test_kill9_loses_no_acknowledged_event(herald_factory, fake_es, sink_up):
    h = herald_factory()
    h.webhook("es", fake_es.url + "/dur/_doc")
    if not sink_up:
        fake_es.down()
    acked, lock, stop = {}, threading.Lock(), threading.Event()
    threads = [threading.Thread(target=_stream, args=(h, stop, acked, lock, t), daemon=True)
               for t in range(THREADS)]
    for t in threads:
        t.start()
    poll(lambda: len(acked) >= 200, 30, what="200 acknowledged events")
    time.sleep(0.1)  # let requests be in flight at the moment of the kill
    h.kill()
    stop.set()
    for t in threads:
        t.join(15)
    with lock:
        acked = dict(acked)
    assert len(acked) >= 200

    h.start()
    if not sink_up:
        fake_es.up()
    want = set(acked)
    fake_es.wait_until(lambda: want <= {d.get("marker") for d in fake_es.sources("dur")}, 60,
                       "every acknowledged event delivered after the restart")
    for marker, eid in acked.items():
        r = h.api("GET", "/api/events/%s" % eid)
        assert r.status == 200, (marker, r)
        raw = r.json["event"]["raw"]
        raw = json.loads(raw) if isinstance(raw, str) else raw
        assert raw == {"kind": "herald-itest", "marker": marker, "message": "event " + marker}
