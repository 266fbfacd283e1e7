"""options.group (SPEC 4, Alertmanager's semantics): one notification per
group listing its alerts, waitMs before the first, intervalMs between updates,
resolved alerts notified once; durable across a restart (a pending group is
not lost, a notified one is not sent again)."""

import json
import os
import time

import pytest

from conftest import assert_error
from fake_slack import DEFAULT_HOOK, FakeSlack


def alert(name, ns, state="ACTIVE", n=0):
    return {"name": name, "namespace": ns, "host": "node-1", "state": state, "description": "%s in %s" % (name, ns),
            "seq": n}


def grouped_slack(h, fake, **group):
    g = {"by": ["k8s.namespace"], "waitMs": 1500, "intervalMs": 2500, "repeatMs": 600000}
    g.update(group)
    return h.create_channel({"type": "SLACK", "name": "grouped", "enabled": True, "options": {
        "url": "https://hooks.slack.com" + DEFAULT_HOOK, "channel": "#alerts", "endpoint": fake.url,
        "group": g}})


def texts(fake):
    return [json.dumps(m) for m in fake.messages]


def test_group_option_is_validated(herald):
    base = {"type": "SLACK", "name": "g", "enabled": True,
            "options": {"url": "https://hooks.slack.com" + DEFAULT_HOOK}}
    for group, needle in (({"by": ["nope"]}, "options.group.by[0]"), ({"waitMs": -1}, "options.group.waitMs"),
                          ({"bogus": 1}, "options.group"), ("x", "options.group")):
        obj = json.loads(json.dumps(base))
        obj["options"]["group"] = group
        r = herald.api("POST", "/api/notificationChannels", {"notificationChannel": obj})
        assert_error(r, 400, needle)
    r = herald.api("POST", "/api/notificationChannels", {"notificationChannel": {
        "type": "WEBHOOK", "name": "w", "enabled": True,
        "options": {"url": "http://127.0.0.1:9/", "group": {"by": ["k8s.namespace"]}}}})
    assert_error(r, 400, "options.group", "notification types")


def test_one_notification_per_group_then_updates(herald_factory):
    h = herald_factory()
    with FakeSlack() as slack:
        grouped_slack(h, slack)
        t0 = time.monotonic()
        for i, name in enumerate(("disk-full", "oom-kill", "crash-loop")):
            h.ingest(alert(name, "prod", n=i))
        h.ingest(alert("cert-expiry", "dev"))
        slack.wait_messages(2, timeout=10)
        assert time.monotonic() - t0 >= 1.2, "waitMs holds the first notification"
        time.sleep(1.0)
        msgs = texts(slack)
        assert len(msgs) == 2, msgs                        # one per group, not one per event
        prod = [m for m in msgs if "k8s.namespace=prod" in m][0]
        assert "[FIRING:3]" in prod and all(n in prod for n in ("disk-full", "oom-kill", "crash-loop"))
        assert any("[FIRING:1]" in m and "cert-expiry" in m for m in msgs)

        # a change: one resolves, one joins -> one update after intervalMs
        h.ingest(alert("oom-kill", "prod", state="RESOLVED", n=9))
        h.ingest(alert("net-down", "prod", n=10))
        slack.wait_messages(3, timeout=10)
        time.sleep(0.5)
        msgs = texts(slack)
        assert len(msgs) == 3, msgs
        assert "[FIRING:3, RESOLVED:1]" in msgs[2] and "net-down" in msgs[2] and "RESOLVED" in msgs[2]

        # durable: a pending group survives a restart; the notified ones are not re-sent
        h.ingest(alert("slow-disk", "stage"))
        h.restart()
        slack.wait_messages(4, timeout=15)
        time.sleep(2.0)
        msgs = texts(slack)
        assert len(msgs) == 4, msgs
        assert "k8s.namespace=stage" in msgs[3] and "slow-disk" in msgs[3]

        # all of a group resolves: one RESOLVED notification, then the group ends
        h.ingest(alert("cert-expiry", "dev", state="RESOLVED", n=20))
        slack.wait_messages(5, timeout=15)
        time.sleep(1.0)
        msgs = texts(slack)
        assert len(msgs) == 5 and "[RESOLVED] k8s.namespace=dev" in msgs[4], msgs[4:]


def test_twenty_alerts_one_message_then_one_resolution(herald):
    """The issue's case: 20 alerts of one group inside waitMs make one Slack
    message naming all 20; their resolution makes one more."""
    with FakeSlack() as slack:
        grouped_slack(herald, slack, by=["labels.alertname"], waitMs=2000)
        names = ["pod-%02d" % i for i in range(20)]
        for i, n in enumerate(names):
            herald.ingest({"name": n, "alertname": "KubePodCrashLooping", "labels": {"alertname": "KubePodCrashLooping"},
                           "host": "node-1", "state": "ACTIVE", "seq": i})
        slack.wait_messages(1, timeout=10)
        time.sleep(1.5)
        msgs = texts(slack)
        assert len(msgs) == 1, msgs
        assert "[FIRING:20]" in msgs[0] and all(n in msgs[0] for n in names), msgs[0][:500]
        for i, n in enumerate(names):
            herald.ingest({"name": n, "alertname": "KubePodCrashLooping", "labels": {"alertname": "KubePodCrashLooping"},
                           "host": "node-1", "state": "RESOLVED", "seq": 100 + i})
        slack.wait_messages(2, timeout=15)
        time.sleep(1.5)
        msgs = texts(slack)
        assert len(msgs) == 2 and "[RESOLVED]" in msgs[1], msgs[1:]


def test_groups_are_bounded(herald_factory):
    """Group-by values come from payloads: past 1000 groups a channel's new
    alerts share one overflow group instead of growing without bound."""
    import sqlite3
    from conftest import PG_BASE, poll
    if PG_BASE:
        pytest.skip("reads the SQLite file")
    h = herald_factory(extra={"store": "sqlite"})
    with FakeSlack() as slack:
        grouped_slack(h, slack, by=["raw.n"], waitMs=600000)
        body = "\n".join(json.dumps({"name": "a%d" % i, "n": i, "host": "x"}) for i in range(1100))
        h.ingest(body.encode(), content_type="application/x-ndjson")

        def groups():
            db = sqlite3.connect(os.path.join(h.data_dir, "herald.db"))
            try:
                return [k for (k,) in db.execute("SELECT key FROM groups")]
            finally:
                db.close()
        poll(lambda: len(groups()) >= 1001, 30, what="the groups saved")
        keys = groups()
        assert len(keys) == 1001, len(keys)
        assert any("herald.overflow" in k for k in keys)
