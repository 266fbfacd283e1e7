"""Kubernetes watcher (inputs.kubernetes) against a fake kube-apiserver
(tests/fakes/fake_kube_apiserver.py: TLS, bearer token, list with chunks,
chunked watch streams, BOOKMARK, ERROR 410, dropped connections).

Every watched Event reaches a config-declared WEBHOOK channel pointing at the
recording fake Elasticsearch (one document per delivery), so "delivered
exactly once" is checked where it matters: at the sink.
"""

import datetime
import json
import os
import secrets
import time

from conftest import fixture_json, metric_values, poll, register_secret

from fake_kube_apiserver import FakeKubeApiserver

CAPTURE = "k8s/k8s_events_kind_cluster_capture.json"


def _templates():
    evs = fixture_json(CAPTURE)
    out = []
    for e in evs:
        e = json.loads(json.dumps(e))
        e["metadata"].pop("uid", None)
        e["metadata"].pop("resourceVersion", None)
        out.append(e)
    return out


def _stamp(ago_s):
    """RFC 3339 UTC of ago_s seconds ago (microseconds, as eventTime has them)."""
    t = datetime.datetime.fromtimestamp(time.time() - ago_s, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _event(i, ns="default", typ="Normal", count=1, ago_s=0):
    """An Event of the capture, happened ago_s seconds ago (its time fields
    rewritten: a first start skips listed Events older than maxEventAge)."""
    t = _templates()[i % 8]
    t["metadata"]["name"] = "ev-%d.%s" % (i, secrets.token_hex(4))
    t["metadata"]["namespace"] = ns
    t["involvedObject"]["namespace"] = ns
    t["type"] = typ
    t["count"] = count
    for k in ("lastTimestamp", "eventTime", "firstTimestamp"):
        if t.get(k):
            t[k] = _stamp(ago_s)
    return t


def _delivered(fake_es):
    """(uid, count) of every document the channel delivered, in order."""
    return [((d.get("metadata") or {}).get("uid"), d.get("count")) for d in fake_es.sources("k8s")]


def _setup(tmp_path, herald_factory, fake_es, token, split_lines=True, **k8s):
    api = FakeKubeApiserver(tmp_path, token, split_lines=split_lines).start()
    tok_file = os.path.join(str(tmp_path), "token")
    with open(tok_file, "w") as f:
        f.write(token + "\n")
    cfg = {"enabled": True, "apiServer": api.url, "tokenFile": tok_file, "caFile": api.cert}
    cfg.update(k8s)
    channels = [{"type": "WEBHOOK", "name": "k8s-sink", "enabled": True,
                 "options": {"url": fake_es.url + "/k8s/_doc", "notifyOnOk": True, "notifyOnResolve": True,
                         # one request at a time: the tests check the order
                         # the watcher stored (maxInFlight > 1 may reorder)
                         "maxInFlight": 1}}]
    return api, tok_file, lambda: herald_factory(extra={"inputs": {"kubernetes": cfg}, "channels": channels})


def test_list_watch_expire_relist_restart_resume(tmp_path, herald_factory, fake_es):
    token = register_secret("k8s-" + secrets.token_hex(16))
    api, tok_file, make = _setup(tmp_path, herald_factory, fake_es, token)
    try:
        pre = [api.add_event(_event(i)) for i in range(3)]
        h = make()
        # 1. list: the three existing Events, then a watch from the list's resourceVersion.
        poll(lambda: len(_delivered(fake_es)) >= 3, 20, what="listed events delivered")
        lists = api.list_requests()
        assert lists and lists[0]["query"].get("limit") == "500", lists
        assert lists[0]["accept"] == "application/json"
        w = poll(lambda: api.watch_requests(), 10, what="a watch request")[0]
        assert w["authorized"], w
        assert w["query"]["allowWatchBookmarks"] == "true", w
        assert w["query"]["resourceVersion"] == str(api.rv), w
        assert int(w["query"]["timeoutSeconds"]) > 0
        assert sorted(_delivered(fake_es)) == sorted((e["metadata"]["uid"], 1) for e in pre)

        # 2. watch: ADDED, MODIFIED with a grown count (new occurrence), MODIFIED
        #    with the same count (not new), DELETED (TTL: not an occurrence).
        poll(lambda: api.open_watches() == 1, 10, what="the watch to be open")
        new = api.add_event(_event(3, typ="Warning"))
        api.modify_event(new["metadata"]["uid"], count=2, lastTimestamp="2021-05-19T09:50:00Z")
        api.modify_event(new["metadata"]["uid"], message="same occurrence, edited")
        api.delete_event(pre[0]["metadata"]["uid"])
        api.bookmark()
        poll(lambda: len(_delivered(fake_es)) >= 5, 20, what="watched events delivered")
        uid = new["metadata"]["uid"]
        assert _delivered(fake_es)[3:] == [(uid, 1), (uid, 2)]
        ev = [e for e in h.events(source="kubernetes") if e.get("severity") == 4]
        assert len(ev) == 2, ev

        # 3. a dropped connection cut inside a line: the watch resumes from the
        #    last resourceVersion and what happened meanwhile arrives once.
        api.cut_watches(partial=b'{"type":"ADDED","object":{"kind":"Ev')
        mid = api.add_event(_event(4))
        poll(lambda: len(_delivered(fake_es)) >= 6, 20, what="event after a cut watch")
        assert _delivered(fake_es)[5] == (mid["metadata"]["uid"], 1)

        # 4. 410: history compacted and ERROR Expired down the watch -> re-list;
        #    the re-listed Events are all stored already: nothing re-delivered.
        n_lists = len(api.list_requests())
        poll(lambda: api.open_watches() == 1, 10, what="the watch to be open again")
        api.compact()
        api.expire_watches()
        poll(lambda: len(api.list_requests()) > n_lists, 20, what="a re-list after 410")
        poll(lambda: api.open_watches() == 1, 10, what="a new watch after the re-list")
        after = api.add_event(_event(5))
        poll(lambda: len(_delivered(fake_es)) >= 7, 20, what="event after the re-list")
        m = h.metrics()
        assert metric_values(m, "herald_k8s_watch_restarts_total").get('reason="expired"', 0) >= 1
        assert metric_values(m, "herald_k8s_events_dropped_total").get('reason="duplicate"', 0) >= 4
        assert metric_values(m, "herald_k8s_events_dropped_total").get('reason="deleted"', 0) >= 1
        assert metric_values(m, "herald_k8s_events_seen_total").get("", 0) >= 10

        # 5. restart: the watch resumes from the saved resourceVersion (no list);
        #    what happened while herald was down arrives once.
        h.stop()
        n_lists = len(api.list_requests())
        n_watch = len(api.watch_requests())
        down = api.add_event(_event(6))
        h.start()
        poll(lambda: len(_delivered(fake_es)) >= 8, 20, what="event from while herald was down")
        assert len(api.list_requests()) == n_lists, "restart listed instead of resuming"
        rv_resume = api.watch_requests()[n_watch]["query"]["resourceVersion"]
        assert int(rv_resume) >= int(after["metadata"]["resourceVersion"]), rv_resume
        assert _delivered(fake_es)[7] == (down["metadata"]["uid"], 1)

        # 6. restart after the saved resourceVersion expired: 410 -> list -> nothing twice.
        h.stop()
        gone = api.add_event(_event(7))
        api.compact()
        h.start()
        poll(lambda: len(_delivered(fake_es)) >= 9, 20, what="event after an expired resume")
        assert len(api.list_requests()) > n_lists
        got = _delivered(fake_es)
        assert got[8] == (gone["metadata"]["uid"], 1)
        assert len(got) == len(set(got)) == 9, got
        stored = h.events(source="kubernetes")
        assert len(stored) == 9, [e.get("name") for e in stored]
        assert token not in h.log(all_starts=True)
    finally:
        api.stop()


def test_token_rotation_namespace_and_field_selector(tmp_path, herald_factory, fake_es):
    token = register_secret("k8s-" + secrets.token_hex(16))
    api, tok_file, make = _setup(tmp_path, herald_factory, fake_es, token, split_lines=False,
                                 namespace="prod", fieldSelector="type=Warning")
    try:
        api.add_event(_event(0, ns="prod", typ="Warning"))
        api.add_event(_event(1, ns="prod", typ="Normal"))
        api.add_event(_event(2, ns="dev", typ="Warning"))
        h = make()
        poll(lambda: len(_delivered(fake_es)) >= 1, 20, what="the selected event")
        w = poll(lambda: api.watch_requests(), 10, what="a watch request")[0]
        assert w["path"] == "/api/v1/namespaces/prod/events", w
        assert w["query"]["fieldSelector"] == "type=Warning", w
        assert api.list_requests()[0]["path"] == "/api/v1/namespaces/prod/events"

        # The service-account token rotates: the file changes, the old token is
        # refused; herald re-reads the file for its next request.
        new_token = register_secret("k8s-" + secrets.token_hex(16))
        with open(tok_file + ".tmp", "w") as f:
            f.write(new_token + "\n")
        os.replace(tok_file + ".tmp", tok_file)
        api.rotate_token(new_token)
        poll(lambda: api.open_watches() == 1, 10, what="the watch to be open")
        api.cut_watches()
        poll(lambda: api.open_watches() == 1 and api.watch_requests()[-1]["authorized"], 20,
             what="a watch with the rotated token")
        e = api.add_event(_event(3, ns="prod", typ="Warning"))
        api.add_event(_event(4, ns="prod", typ="Normal"))
        poll(lambda: len(_delivered(fake_es)) >= 2, 20, what="event after the rotation")
        assert _delivered(fake_es)[1] == (e["metadata"]["uid"], 1)
        assert len(_delivered(fake_es)) == 2
        log = h.log()
        assert token not in log and new_token not in log
    finally:
        api.stop()


def test_unauthorized_is_logged_and_retried(tmp_path, herald_factory, fake_es):
    token = register_secret("k8s-" + secrets.token_hex(16))
    api, tok_file, make = _setup(tmp_path, herald_factory, fake_es, token, split_lines=False)
    try:
        with open(tok_file, "w") as f:
            f.write(register_secret("wrong-" + secrets.token_hex(16)) + "\n")
        h = make()
        poll(lambda: "401" in h.log() and "RBAC" in h.log(), 20, what="a 401 in the log")
        with open(tok_file, "w") as f:
            f.write(token + "\n")
        api.add_event(_event(0))
        poll(lambda: len(_delivered(fake_es)) >= 1, 30, what="the event once the token is right")
    finally:
        api.stop()


def test_first_start_skips_listed_events_older_than_max_event_age(tmp_path, herald_factory, fake_es):
    """SPEC 3, inputs.kubernetes.maxEventAge (default 5m): on a first start the
    initial list's Events older than that are skipped (by lastTimestamp, else
    eventTime, else firstTimestamp; none: kept); the watch and later starts
    store what they get, and a re-list never brings the skipped ones back."""
    token = register_secret("k8s-" + secrets.token_hex(16))
    api, tok_file, make = _setup(tmp_path, herald_factory, fake_es, token)
    try:
        old = [api.add_event(_event(0, ago_s=3600)),   # lastTimestamp an hour ago
               api.add_event(_event(2, ago_s=600))]    # eventTime only (template 2), 10 min ago
        first_only = _event(1, ago_s=0)                # lastTimestamp unset: firstTimestamp decides
        first_only["lastTimestamp"] = None
        first_only["firstTimestamp"] = _stamp(900)
        old.append(api.add_event(first_only))
        fresh = [api.add_event(_event(3, ago_s=60)),   # a minute ago: kept
                 api.add_event(_event(4, ago_s=0))]
        timeless = _event(5)
        for k in ("lastTimestamp", "eventTime", "firstTimestamp"):
            timeless[k] = None
        fresh.append(api.add_event(timeless))         # no time at all: kept
        h = make()
        poll(lambda: len(_delivered(fake_es)) >= 3, 20, what="the recent listed events delivered")
        poll(lambda: api.open_watches() == 1, 10, what="the watch to be open")
        m = h.metrics()
        assert metric_values(m, "herald_k8s_events_dropped_total").get('reason="too_old"') == 3, m
        # The watch is not filtered: an old-stamped Event arriving now is news.
        late = api.add_event(_event(6, ago_s=3600))
        poll(lambda: len(_delivered(fake_es)) >= 4, 20, what="the watched event")
        want = sorted((e["metadata"]["uid"], 1) for e in fresh + [late])
        assert sorted(_delivered(fake_es)) == want
        assert "older than 300 s (maxEventAge)" in h.log()

        # A later start whose resourceVersion expired lists again: the skipped
        # Events stay skipped (the first start's horizon is kept), the rest are
        # duplicates, one that happened while herald was down is stored.
        h.stop()
        down = api.add_event(_event(7, ago_s=30))
        api.compact()
        h.start()
        poll(lambda: len(_delivered(fake_es)) >= 5, 20, what="the event from while herald was down")
        poll(lambda: api.open_watches() == 1, 10, what="the watch to be open again")
        got = _delivered(fake_es)
        assert sorted(got) == sorted(want + [(down["metadata"]["uid"], 1)]), got
        assert not {e["metadata"]["uid"] for e in old} & {u for u, _ in got}
    finally:
        api.stop()


def test_max_event_age_zero_keeps_every_listed_event(tmp_path, herald_factory, fake_es):
    token = register_secret("k8s-" + secrets.token_hex(16))
    api, tok_file, make = _setup(tmp_path, herald_factory, fake_es, token, maxEventAge="0s")
    try:
        evs = [api.add_event(_event(i, ago_s=7200)) for i in range(3)]
        make()
        poll(lambda: len(_delivered(fake_es)) >= 3, 20, what="every listed event delivered")
        assert sorted(_delivered(fake_es)) == sorted((e["metadata"]["uid"], 1) for e in evs)
    finally:
        api.stop()
