"""Several herald replicas on one PostgreSQL (SPEC 9): any replica ingests,
one replica delivers each channel and another takes over when it dies, changes
made through one replica reach the others, the singleton inputs run on one
replica, and `herald store migrate` moves an embedded store over.

PostgreSQL is a real one (Debian's postgresql 15), started for the session by
tests/pg/pgtmp.sh into a temp dir; every test gets a database of its own."""

import json
import os
import secrets
import subprocess
import tempfile
import threading
import time
import urllib.parse

import pytest

from conftest import HERALD_BIN, http_call, poll, unique_event
from fake_es import FakeElasticsearch
from recording import OkSink as RecordingServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PGTMP = os.path.join(ROOT, "tests", "pg", "pgtmp.sh")


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    url = os.environ.get("HERALD_TEST_PG_URL")
    if url:
        yield url
        return
    d = tempfile.mkdtemp(prefix="herald-pg-")  # the server runs as postgres: not under pytest's 0700 dirs
    out = subprocess.run([PGTMP, "start", d], capture_output=True, timeout=120)
    assert out.returncode == 0, "pgtmp.sh start failed: %s" % out.stderr.decode(errors="replace")
    url = out.stdout.decode().strip().splitlines()[-1]
    try:
        yield url
    finally:
        subprocess.run([PGTMP, "stop", d], capture_output=True, timeout=60)


def psql(url, sql):
    out = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", url, "-c", sql],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, "psql %r: %s" % (sql, out.stderr.decode(errors="replace"))
    return out.stdout.decode()


def with_db(url, db):
    p = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((p.scheme, p.netloc, "/" + db, p.query, p.fragment))


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty database for this test."""
    db = "t_" + secrets.token_hex(6)
    psql(pg_server, "CREATE DATABASE %s" % db)
    yield with_db(pg_server, db)
    psql(pg_server, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % db)


def replicas(herald_factory, url, n, extra=None):
    """n replicas sharing one database and one set of tokens."""
    out = []
    for i in range(n):
        cfg = {"store": url}
        cfg.update(extra or {})
        h = herald_factory("r%d" % i, start=False, extra=cfg)
        if out:
            h.admin_token, h.ingest_token, h.read_token = out[0].admin_token, out[0].ingest_token, out[0].read_token
            h.env.update({"HT_ADMIN_TOKEN": h.admin_token, "HT_INGEST_TOKEN": h.ingest_token,
                          "HT_READ_TOKEN": h.read_token})
        out.append(h)
    for h in out:
        h.start()
    return out


def channel_owner(hs, cid):
    """The index of the replica that delivers channel cid (its live status
    carries the delivery counters), or None."""
    for i, h in enumerate(hs):
        if not h.running():
            continue
        r = h.api("GET", "/api/channelStatus")
        if r.status != 200:
            continue
        for ch in r.json["channels"]:
            if ch["id"] == cid and "delivered" in ch:
                return i
    return None


def wait_owner(hs, cid, timeout=10.0, what="a replica delivering the channel"):
    """Polls until some replica of hs delivers cid; its index in hs."""
    box = {}

    def found():
        box["o"] = channel_owner(hs, cid)
        return box["o"] is not None
    poll(found, timeout, what=what)
    return box["o"]


class RoundRobin:
    """Posts batches to the replicas in turn; a batch whose replica is down
    goes to the next one. Keeps the ids of every acknowledged event."""

    def __init__(self, hs):
        self.hs = hs
        self.acked = set()
        self.lock = threading.Lock()
        self.turn = 0
        self.failovers = 0

    def post(self, batch):
        body = json.dumps(batch).encode()
        for attempt in range(3 * len(self.hs) + 3):
            with self.lock:
                h = self.hs[self.turn % len(self.hs)]
                self.turn += 1
            try:
                r = http_call(h.port, "POST", "/api/events", body,
                              headers={"Authorization": "Bearer " + h.ingest_token,
                                       "Content-Type": "application/json"}, timeout=30)
            except OSError:
                self.failovers += 1
                continue
            if r.status == 202:
                ids = r.json["ids"]
                assert len(ids) == len(batch)
                with self.lock:
                    self.acked.update(ids)
                return
            if r.status in (429, 503):
                time.sleep(0.2)
                continue
            raise AssertionError("ingest answered %d: %s" % (r.status, r.text()))
        raise AssertionError("no replica accepted a batch")


def test_three_replicas_kill_one_mid_stream(herald_factory, pg_url):
    with FakeElasticsearch() as es:
        hs = replicas(herald_factory, pg_url, 3)
        ch = hs[0].create_channel({"type": "ELASTICSEARCH", "name": "es", "enabled": True,
                                   "options": {"url": es.url, "index": "herald"}})
        cid = ch["id"]
        owner = wait_owner(hs, cid)

        rr = RoundRobin(hs)
        total, per = 30000, 100
        batches = [[unique_event("c-%d-%d" % (b, k)) for k in range(per)] for b in range(total // per)]
        killed = {}

        def worker(part):
            for i, batch in enumerate(part):
                rr.post(batch)

        threads = [threading.Thread(target=worker, args=(batches[t::4],)) for t in range(4)]
        for t in threads:
            t.start()
        # kill the delivering replica once about a third is in
        poll(lambda: len(rr.acked) >= total // 3, 120, what="a third of the events acknowledged")
        hs[owner].kill()
        killed["at"] = time.monotonic()
        for t in threads:
            t.join(300)
        assert len(rr.acked) == total, "every event acknowledged by some replica"

        alive = [h for i, h in enumerate(hs) if i != owner]
        t_kill = time.monotonic()
        wait_owner(alive, cid, 15, what="the channel moved to a live replica")
        print("failover: the channel delivering again %.1f s after the kill" % (time.monotonic() - t_kill))

        def delivered():
            got = {doc_id for (_, doc_id) in es.doc_keys()}
            return rr.acked <= got
        poll(delivered, 120, interval=0.5, what="every acknowledged event in Elasticsearch")
        # exactly once by _id: one document per id, and no id written twice
        ids = [doc_id for (_, doc_id, _, _, _) in es.doc_log]
        assert len(ids) == len(set(ids)), "a document was written twice"

        # the API answers the same on every live replica
        def view(h):
            evs = h.api("GET", "/api/events", query={"limit": "100"}).json
            stats = h.api("GET", "/api/stats", query={"groupBy": "severity"}).json
            chans = h.api("GET", "/api/notificationChannels").json
            return json.dumps([evs, stats, chans], sort_keys=True)
        assert view(alive[0]) == view(alive[1])
        assert http_call(alive[0].port, "GET", "/").body == http_call(alive[1].port, "GET", "/").body


def test_channel_changes_propagate_within_a_second(herald_factory, pg_url):
    with RecordingServer() as sink:
        hs = replicas(herald_factory, pg_url, 2)
        ch = hs[0].webhook("hook", sink.url)
        cid = ch["id"]
        owner = wait_owner(hs, cid)
        other = hs[1 - owner]
        hs[owner].ingest(unique_event("before"))
        sink.wait_for(1)
        # disabled through the replica that does not deliver it
        cur = other.get_channel(cid)
        cur["enabled"] = False
        r = other.api("PUT", "/api/notificationChannels/%d" % cid, {"notificationChannel": cur})
        assert r.status == 200, r.text()
        time.sleep(1.0)
        n = len(sink.requests)
        other.ingest(unique_event("while-disabled"))
        hs[owner].ingest(unique_event("while-disabled-2"))
        time.sleep(1.5)
        assert len(sink.requests) == n, "a disabled channel delivered"
        # a channel created through one replica is delivered (by whichever owns it)
        with RecordingServer() as sink2:
            c2 = other.webhook("hook2", sink2.url)
            wait_owner(hs, c2["id"], 5, what="an owner for the new channel")
            hs[0].ingest(unique_event("after-create"))
            sink2.wait_for(1, timeout=5)


def test_channels_spread_and_move_on_stop(herald_factory, pg_url):
    with RecordingServer() as sink:
        hs = replicas(herald_factory, pg_url, 2)
        ids = [hs[0].webhook("h%d" % i, sink.url)["id"] for i in range(4)]

        def spread():
            owners = [channel_owner(hs, cid) for cid in ids]
            # wait for the fair share, not just for both to own some (rebalancing takes a round or two)
            return owners if None not in owners and sorted(owners).count(0) == 2 else None
        owners = poll(spread, 15, what="channels spread over both replicas")
        assert sorted(owners).count(0) == 2, owners
        t0 = time.monotonic()
        hs[0].stop()
        poll(lambda: all(channel_owner(hs[1:], cid) == 0 for cid in ids), 10,
             what="every channel moved to the replica left")
        moved = time.monotonic() - t0
        assert moved < 10
        hs[1].ingest(unique_event("after-stop"))
        sink.wait_for(4, pred=lambda q: b"after-stop" in q.body, timeout=10)


def test_migrate_sqlite_to_postgres(herald_factory, pg_url, tmp_path):
    with RecordingServer() as sink:
        h = herald_factory("lite", extra={"store": "sqlite"})
        ok = h.webhook("ok", sink.url)
        dead = h.webhook("dead", "http://127.0.0.1:9/")
        upd = h.get_channel(ok["id"])
        upd["name"] = "ok-renamed"
        h.api("PUT", "/api/notificationChannels/%d" % ok["id"], {"notificationChannel": upd})
        ids = [h.ingest(unique_event("m-%d" % i))[0] for i in range(20)]
        sink.wait_for(20, timeout=20)
        h.stop()
        src = "sqlite:" + os.path.join(h.data_dir, "herald.db")

        def migrate(*extra):
            return subprocess.run([HERALD_BIN, "store", "migrate", "--from", src, "--to", pg_url] + list(extra),
                                  capture_output=True, timeout=120)
        out = migrate()
        assert out.returncode == 0, out.stderr.decode()
        # a password in the target URL is never echoed, even when the target cannot be reached
        bad = subprocess.run([HERALD_BIN, "store", "migrate", "--from", src, "--to",
                              "postgres://u:s3cretpw@127.0.0.1:1/x?connect_timeout=2"], capture_output=True, timeout=60)
        assert bad.returncode == 1 and b"s3cretpw" not in bad.stdout + bad.stderr, bad.stderr
        again = migrate()
        assert again.returncode != 0 and b"not empty" in again.stderr, again.stderr
        forced = migrate("--into-existing")
        assert forced.returncode == 0, forced.stderr.decode()

        p = herald_factory("pg", start=False, extra={"store": pg_url})
        p.admin_token, p.ingest_token, p.read_token = h.admin_token, h.ingest_token, h.read_token
        p.env.update({"HT_ADMIN_TOKEN": h.admin_token, "HT_INGEST_TOKEN": h.ingest_token,
                      "HT_READ_TOKEN": h.read_token})
        p.start()
        got = p.get_channel(ok["id"])
        assert got["name"] == "ok-renamed" and got["version"] == 2
        assert p.get_channel(dead["id"])["name"] == "dead"
        assert set(ids) <= set(p.all_event_ids())
        assert len(p.all_event_ids()) == 20, "migrated twice"
        # cursors moved: nothing already delivered is sent again
        n = len(sink.requests)
        p.ingest(unique_event("after-migrate"))
        sink.wait_for(n + 1, timeout=10)
        time.sleep(1.0)
        assert len(sink.requests) == n + 1
