"""One herald process per embedded store: the writer keeps state besides the
file (the last seq, the filter of stored ids), so a second process on the
same store would store re-sent events twice. The second one refuses to start
and says why; the first goes on untouched; the lock goes with the process
that held it, kill -9 included."""

import os
import subprocess

import pytest

from conftest import HERALD_BIN, PG_BASE, unique_event

pytestmark = pytest.mark.skipif(bool(PG_BASE), reason="the embedded store's lock")


def test_a_second_process_on_the_same_store_refuses_to_start(herald_factory):
    first = herald_factory("first")
    ids = first.ingest([unique_event("lock-%d" % i) for i in range(5)])

    second = herald_factory("second", start=False, extra={"dataDir": first.data_dir})
    second.spawn()
    rc = second.wait_exit(15)
    assert rc != 0
    log = second.log()
    assert "held by another herald process" in log, log
    assert first.data_dir in log, log

    # `store migrate` reads the store with a writer of its own: not while it serves.
    src = "sqlite:" + os.path.join(first.data_dir, "herald.db")
    out = subprocess.run([HERALD_BIN, "store", "migrate", "--from", src, "--to", "postgres://127.0.0.1:1/x"],
                         capture_output=True, timeout=60)
    assert out.returncode == 1 and b"held by another herald process" in out.stderr, out.stderr

    # The first is untouched: it still takes events and finds re-sent ones.
    assert first.ingest([unique_event("lock-after")])
    assert first.ingest([unique_event("lock-%d" % i) for i in range(5)]) == ids
    assert len(first.all_event_ids()) == 6

    # Once the first has stopped, the second opens the store, all of it.
    first.stop()
    second.start()
    assert second.ingest([unique_event("lock-%d" % i) for i in range(5)]) == ids
    assert len(second.all_event_ids()) == 6

    # kill -9: the kernel lets the lock go with the process.
    second.kill()
    first.start()
    assert len(first.all_event_ids()) == 6
