"""A full disk (SPEC 4 readiness, 6 durability): herald's dataDir on a small
tmpfs. Ingest until the store cannot write: ingest answers 503 with
Retry-After, /readyz says not ready and why, /healthz and reads still work,
and every event that got a 202 is still stored. Then the file system grows
(remount): /readyz and ingest recover without a restart, and every 202'd
event reaches the sink.

Needs root (or CAP_SYS_ADMIN) to mount; skipped with the reason otherwise.
"""

import base64
import json
import os
import subprocess

import pytest

from conftest import PG_BASE, poll, unique_event

# The embedded store's disk: with HERALD_TEST_PG_BASE the events go to PostgreSQL.
pytestmark = pytest.mark.skipif(bool(PG_BASE), reason="the SQLite store's own disk")

BATCH = 20
PAD = 3000  # bytes of incompressible text per event


def _mount(*args):
    return subprocess.run(["mount"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.fixture
def small_fs(tmp_path):
    """An 8 MiB tmpfs; unmounted after herald stopped (requested before
    herald_factory, so torn down after it)."""
    d = tmp_path / "fs"
    d.mkdir()
    r = _mount("-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(d))
    if r.returncode != 0:
        pytest.skip("cannot mount a tmpfs for the full-disk test (needs root or CAP_SYS_ADMIN): %s"
                    % r.stdout.decode(errors="replace").strip())
    try:
        yield d
    finally:
        if subprocess.run(["umount", str(d)], stderr=subprocess.DEVNULL).returncode != 0:
            subprocess.run(["umount", "-l", str(d)])


def _batch(tag, i):
    return "\n".join(json.dumps(unique_event("%s-%d-%d" % (tag, i, k),
                                             pad=base64.b64encode(os.urandom(PAD * 3 // 4)).decode()))
                     for k in range(BATCH))


def test_disk_full_not_ready_then_recovers_without_restart(small_fs, herald_factory, fake_es):
    h = herald_factory(extra={"dataDir": str(small_fs / "data")})
    # _bulk: the backlog of a full disk is delivered in a few requests
    h.create_channel({"type": "ELASTICSEARCH", "name": "es", "enabled": True,
                      "options": {"url": fake_es.url, "index": "full"}})

    accepted, markers, refused = [], set(), None
    for i in range(2000):
        r = h.post_events(_batch("fill", i), content_type="application/x-ndjson")
        if r.status == 202:
            accepted += r.json["ids"]
            markers |= {"fill-%d-%d" % (i, k) for k in range(BATCH)}
            continue
        refused = r
        break
    assert refused is not None, "8 MiB never filled up"
    assert refused.status == 503, refused
    assert (refused.header("Retry-After") or "").strip().isdigit(), refused.headers
    assert len(accepted) >= BATCH, "some batches were stored before the disk filled"

    # not ready, saying why; alive; still refusing while the disk is full
    r = h.api("GET", "/readyz", token=None)
    assert r.status == 503 and r.json["status"] == "not ready", r
    assert "store" in r.json["reason"] and "write" in r.json["reason"], r
    assert r.header("Retry-After"), r.headers
    assert h.api("GET", "/healthz", token=None).status == 200
    assert h.post_events(_batch("full", 0), content_type="application/x-ndjson").status == 503
    assert h.api("GET", "/readyz", token=None).status == 503

    # what got a 202 is stored and readable
    assert set(accepted) <= h.all_event_ids()
    assert h.event(accepted[-1])["id"] == accepted[-1]

    # room again: ready and ingesting without a restart
    r = _mount("-o", "remount,size=64m", str(small_fs))
    assert r.returncode == 0, r.stdout
    poll(lambda: h.api("GET", "/readyz", token=None).status == 200, 10, what="/readyz ready after the remount")
    ids = h.ingest(_batch("after", 0), content_type="application/x-ndjson")
    accepted += ids
    markers |= {"after-0-%d" % k for k in range(BATCH)}
    assert set(accepted) <= h.all_event_ids()
    fake_es.wait_until(lambda: markers <= {d.get("marker") for d in fake_es.sources("full")}, 20,
                       "every 202'd event delivered")
    assert h.running()
