"""Silences (SPEC 2, 4): /api/silences and `herald silence add|list|expire`;
a silenced event is stored and shown but not sent to channels with
respectSilences (the notification types by default), log sinks keep
receiving it, expiring does not re-send what was held back, and silences
survive a restart."""

import json
import time

from conftest import assert_error, unique_event
from fake_slack import DEFAULT_HOOK, FakeSlack
from recording import OkSink
from test_cli import client_env, out_json, run


def slack_channel(herald, fake, name="pager"):
    return herald.create_channel({"type": "SLACK", "name": name, "enabled": True, "options": {
        "url": "https://hooks.slack.com" + DEFAULT_HOOK, "channel": "#alerts", "endpoint": fake.url,
        "notifyOnOk": True}})


def texts(fake):
    return json.dumps(fake.messages)


def test_silence_holds_back_notifications_not_log_sinks(herald_factory):
    h = herald_factory()
    env = client_env(h)
    with FakeSlack() as slack, OkSink() as logs:
        slack_channel(h, slack)
        h.webhook("logs", logs.url)

        # validation: a bad regex names the matcher; an end is required
        r = h.api("POST", "/api/silences", {"matchers": ["raw.ns=~prod-("], "endsAt": "2099-01-01T00:00:00Z"})
        assert_error(r, 400, "matchers[0]", "invalid regular expression")
        r = h.api("POST", "/api/silences", {"matchers": ["raw.ns=prod-web"]})
        assert_error(r, 400, "endsAt")
        assert h.api("POST", "/api/silences", {"matchers": ["raw.ns=x"], "endsAt": "2099-01-01T00:00:00Z"},
                     token="read").status == 403

        p = run(["silence", "add", "raw.ns=prod-web", "raw.team!=infra", "--for", "1h", "--comment", "deploy"],
                env=env)
        sil = out_json(p)
        assert sil["status"]["state"] == "active" and sil["comment"] == "deploy"
        assert sil["matchers"] == ['raw.ns="prod-web"', 'raw.team!="infra"']
        sid = sil["id"]

        silenced = h.ingest(unique_event("held", ns="prod-web", team="web"))[0]
        h.ingest(unique_event("loud", ns="dev", team="web"))
        logs.wait_for(2, timeout=10)                    # the log sink gets both
        slack.wait_messages(1, timeout=10)
        time.sleep(1.0)
        assert "loud" in texts(slack) and "held" not in texts(slack), texts(slack)
        assert h.event(silenced)["id"] == silenced        # stored and shown

        listed = out_json(run(["silence", "list"], env=env))["silences"]
        assert [s["id"] for s in listed] == [sid]
        p = run(["silence", "list", "-o", "table"], env=env)
        assert p.returncode == 0 and b"active" in p.stdout and b"deploy" in p.stdout

        # survives a restart
        h.restart()
        assert h.api("GET", "/api/silences/%d" % sid).json["status"]["state"] == "active"
        h.ingest(unique_event("held-again", ns="prod-web", team="web"))
        h.ingest(unique_event("marker-1", ns="dev"))
        slack.wait_messages(2, timeout=10)
        time.sleep(0.5)
        assert "held-again" not in texts(slack)

        # expire: nothing held back is re-sent; new events go out again
        exp = out_json(run(["silence", "expire", str(sid)], env=env))
        assert exp["status"]["state"] == "expired"
        h.ingest(unique_event("after", ns="prod-web", team="web"))
        slack.wait_messages(3, timeout=10)
        time.sleep(0.5)
        t = texts(slack)
        assert "after" in t and "held" not in t.replace("held-again", "") and "held-again" not in t
        assert h.api("GET", "/api/silences", query={"state": "active"}).json["silences"] == []
        assert h.api("DELETE", "/api/silences/99999").status == 404


def test_respect_silences_option(herald):
    with OkSink() as logs, FakeSlack() as slack:
        herald.webhook("logs-respecting", logs.url, respectSilences=True)
        ch = slack_channel(herald, slack, name="chatty")
        cur = herald.get_channel(ch["id"])
        cur["options"]["respectSilences"] = False
        assert herald.api("PUT", "/api/notificationChannels/%d" % ch["id"], {"notificationChannel": cur}).status == 200
        r = herald.api("POST", "/api/silences", {"matchers": [{"name": "raw.ns", "value": "q.*", "isRegex": True}],
                                                 "endsAt": "2099-01-01T00:00:00Z", "createdBy": "t"})
        assert r.status == 201, r
        herald.ingest(unique_event("quiet", ns="qa"))
        herald.ingest(unique_event("fence", ns="x"))
        logs.wait_for(1, timeout=10)
        slack.wait_messages(2, timeout=10)
        time.sleep(0.5)
        assert len(logs.requests) == 1 and b"fence" in logs.requests[0].body


def test_silence_holds_pagerduty_not_elasticsearch(herald):
    """The issue's case: a PagerDuty trigger is held back, the Elasticsearch
    copy is not; the event shows which silence held it; expiring re-sends
    nothing."""
    from fake_es import FakeElasticsearch
    from fake_pagerduty import FakePagerDuty
    key = "0" * 32
    with FakePagerDuty(keys=[key]) as pd, FakeElasticsearch() as es:
        herald.create_channel({"type": "PAGER_DUTY", "name": "pager", "enabled": True,
                               "options": {"serviceKey": key, "endpoint": pd.url}})
        herald.create_channel({"type": "ELASTICSEARCH", "name": "es", "enabled": True,
                               "options": {"url": es.url, "index": "sil"}})
        r = herald.api("POST", "/api/silences", {"matchers": ["raw.ns=~maint-.*"], "endsAt": "2099-01-01T00:00:00Z",
                                                 "createdBy": "ops", "comment": "maintenance"})
        assert r.status == 201, r
        sid = r.json["id"]
        held = herald.ingest(unique_event("held", ns="maint-db", name="DiskFull"))[0]
        loud = herald.ingest(unique_event("loud", ns="prod", name="DiskFull2"))[0]
        es.wait_docs(2, timeout=10)                      # the log sink keeps both
        pd.wait_events(1, timeout=10)
        time.sleep(1.0)
        assert len(pd.events) == 1 and "held" not in json.dumps(pd.events)
        ev = herald.event(held)
        assert ev["silencedBy"] == [sid]
        statuses = {d["channelName"]: d["status"] for d in ev["deliveries"]}
        assert statuses["pager"] == "silenced", statuses
        assert "silencedBy" not in herald.event(loud)
        listed = [e for e in herald.events() if e["id"] == held][0]
        assert listed["silencedBy"] == [sid]
        assert herald.api("DELETE", "/api/silences/%d" % sid).status == 200
        time.sleep(1.5)
        assert len(pd.events) == 1, "expiring a silence sends nothing it held back"
