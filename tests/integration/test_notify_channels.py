"""SLACK, MS_TEAMS, GCHAT, PAGER_DUTY, OPSGENIE and VICTOROPS against recording fakes written
from each vendor's documentation (SPEC sections 4, 5, 6), and options.throttle.

Per type: an ACTIVE Sysdig alert then the same alert OK (same alertKey)
trigger then resolve the same key at the fake; 429/5xx then success; a
permanent refusal becomes a dead letter carrying the vendor's message; the
secrets are masked by the API and absent from the log; the test
notification is recognisably a test.
"""

import json
import secrets
import time

import pytest

from conftest import MASK, dget, fixture_json, metric_values, poll, register_secret
from fake_opsgenie import FakeOpsGenie
from fake_pagerduty import FakePagerDuty
from fake_gchat import FakeGChat
from fake_gchat import KEY as GCHAT_KEY
from fake_gchat import PATH as GCHAT_PATH
from fake_gchat import TOKEN as GCHAT_TOKEN
from fake_slack import DEFAULT_HOOK, FakeSlack
from fake_teams import LEGACY_PATH, WORKFLOW_PATH, WORKFLOW_QUERY, FakeTeams
from fake_victorops import FakeVictorOps

MONITOR_ALERT = "sysdig/sysdig_monitor_webhook_metric_alert_active.json"


def alert(state="ACTIVE", ts_offset=0):
    doc = fixture_json(MONITOR_ALERT)
    doc["state"] = state
    doc["timestamp"] += ts_offset
    return doc


# ---- per-vendor adapters: the fake, the channel, and how to read the fake ----

class Vendor:
    type = None

    def __init__(self):
        self.fake = None

    def channel(self, name, **extra):
        opts = {"notifyOnOk": True, "notifyOnResolve": True, "endpoint": self.fake.url}
        opts.update(self.options())
        opts.update(extra)
        return {"type": self.type, "name": name, "enabled": True, "options": opts}

    def secrets(self):
        return []


class PagerDuty(Vendor):
    type = "PAGER_DUTY"

    def __init__(self):
        super().__init__()
        self.key = register_secret(secrets.token_hex(16))   # 32 characters
        self.fake = FakePagerDuty(keys=[self.key])

    def options(self):
        return {"serviceKey": self.key, "account": "acme", "serviceName": "web"}

    def secrets(self):
        return [("serviceKey", self.key)]

    def wait(self, n):
        return self.fake.wait_events(n, timeout=20)

    def opened_key(self, rec):
        assert rec["event_action"] == "trigger", rec
        return rec["dedup_key"]

    def closed_key(self, rec):
        assert rec["event_action"] == "resolve", rec
        return rec["dedup_key"]

    def is_closed(self, key):
        return self.fake.alerts[key]["status"] == "resolved"

    def summary(self, rec):
        return rec["payload"]["summary"]

    def break_it(self):
        """Options the vendor refuses for good, and the message it answers."""
        return {"serviceKey": register_secret("f" * 32)}, "Invalid routing key"


class OpsGenie(Vendor):
    type = "OPSGENIE"

    def __init__(self):
        super().__init__()
        self.key = register_secret("og-" + secrets.token_hex(12))
        self.fake = FakeOpsGenie(keys=[self.key])

    def options(self):
        return {"apiKey": self.key, "region": "EU"}

    def secrets(self):
        return [("apiKey", self.key)]

    def wait(self, n):
        return [{"action": a, "alias": k, "body": b} for a, k, b in self.fake.wait_actions(n, timeout=20)]

    def opened_key(self, rec):
        assert rec["action"] == "create", rec
        assert len(rec["body"]["message"]) <= 130
        return rec["alias"]

    def closed_key(self, rec):
        assert rec["action"] == "close", rec
        return rec["alias"]

    def is_closed(self, key):
        return self.fake.alerts[key]["status"] == "closed"

    def summary(self, rec):
        return rec["body"]["message"]

    def break_it(self):
        return {"apiKey": register_secret("og-wrong-" + secrets.token_hex(8))}, "permission"


class VictorOps(Vendor):
    type = "VICTOROPS"

    def __init__(self):
        super().__init__()
        self.key = register_secret("vo-" + secrets.token_hex(12))
        self.routing = register_secret("route-" + secrets.token_hex(6))
        self.fake = FakeVictorOps(keys=[self.key])

    def options(self):
        return {"apiKey": self.key, "routingKey": self.routing}

    def secrets(self):
        return [("apiKey", self.key), ("routingKey", self.routing)]

    def wait(self, n):
        got = self.fake.wait_alerts(n, timeout=20)
        for g in got:
            assert g["_routing_key"] == self.routing
        return got

    def opened_key(self, rec):
        assert rec["message_type"] in ("CRITICAL", "WARNING"), rec
        return rec["entity_id"]

    def closed_key(self, rec):
        assert rec["message_type"] == "RECOVERY", rec
        return rec["entity_id"]

    def is_closed(self, key):
        return self.fake.incidents[key]["status"] == "resolved"

    def summary(self, rec):
        return rec["entity_display_name"]

    def break_it(self):
        return {"apiKey": register_secret("vo-wrong-" + secrets.token_hex(8))}, "Invalid API key"


class Slack(Vendor):
    type = "SLACK"

    def __init__(self):
        super().__init__()
        self.fake = FakeSlack()

    def options(self):
        # The public webhook URL; options.endpoint swaps its host for the fake's.
        return {"url": "https://hooks.slack.com" + DEFAULT_HOOK, "channel": "#alerts"}

    def wait(self, n):
        return self.fake.wait_messages(n, timeout=20)

    def opened_key(self, rec):
        assert rec["attachments"][0]["color"] != "#2eb886", rec
        assert rec["channel"] == "#alerts"
        return rec["text"].split(" (")[0].replace("[Warning] ", "")

    def closed_key(self, rec):
        assert rec["attachments"][0]["color"] == "#2eb886", rec
        assert "(OK)" in rec["text"]
        return rec["text"].split(" (")[0].replace("[Warning] ", "")

    def is_closed(self, key):
        return True   # a chat has no incident state

    def summary(self, rec):
        return rec["text"]

    def break_it(self):
        return {"channel": "#nope"}, "channel_not_found"


class Teams(Vendor):
    type = "MS_TEAMS"

    def __init__(self):
        super().__init__()
        self.fake = FakeTeams()
        # A Workflows trigger URL; options.endpoint swaps its host for the fake's.
        self.url = register_secret("https://prod-07.westeurope.logic.azure.com:443" + WORKFLOW_PATH + "?"
                                   + WORKFLOW_QUERY)

    def options(self):
        return {"url": self.url}

    def secrets(self):
        return [("url", self.url)]

    def wait(self, n):
        got = self.fake.wait_messages(n, timeout=20)
        assert self.fake.failed_runs == [], self.fake.failed_runs
        return got

    @staticmethod
    def card(rec):
        return rec["attachments"][0]["content"]

    def title(self, rec):
        return self.card(rec)["body"][0]["items"][0]["text"]

    def opened_key(self, rec):
        assert self.card(rec)["body"][0]["style"] != "good", rec
        assert self.card(rec)["actions"][0]["type"] == "Action.OpenUrl"
        return self.title(rec).split(" (")[0].replace("[Warning] ", "")

    def closed_key(self, rec):
        assert self.card(rec)["body"][0]["style"] == "good", rec
        assert "(OK)" in self.title(rec)
        return self.title(rec).split(" (")[0].replace("[Warning] ", "")

    def is_closed(self, key):
        return True   # a chat has no incident state

    def summary(self, rec):
        return self.title(rec)

    def break_it(self):
        bad = self.url.replace("sig=", "sig=x")
        return {"url": register_secret(bad)}, "DirectApiInvalidAuthorizationSignature"


class GChat(Vendor):
    type = "GCHAT"

    def __init__(self):
        super().__init__()
        self.fake = FakeGChat()
        self.url = register_secret("https://chat.googleapis.com%s?key=%s&token=%s"
                                   % (GCHAT_PATH, GCHAT_KEY, GCHAT_TOKEN))

    def options(self):
        return {"url": self.url}

    def secrets(self):
        return [("url", self.url)]

    def wait(self, n):
        return self.fake.wait_messages(n, timeout=20)

    def opened_key(self, rec):
        assert "#2eb886" not in json.dumps(rec["cardsV2"]), rec
        return rec["thread"]["threadKey"]

    def closed_key(self, rec):
        assert "#2eb886" in json.dumps(rec["cardsV2"]), rec
        return rec["thread"]["threadKey"]

    def is_closed(self, key):
        # the resolve replied in the thread the alert opened
        threads = [m["_thread"] for m in self.fake.messages if m["thread"]["threadKey"] == key]
        return len(threads) == 2 and threads[0] == threads[1] == self.fake.threads[key]

    def summary(self, rec):
        return rec["cardsV2"][0]["card"]["header"]["title"]

    def break_it(self):
        bad = self.url.replace("token=", "token=x")
        return {"url": register_secret(bad)}, "UNAUTHENTICATED"


VENDORS = [PagerDuty, OpsGenie, VictorOps, Slack, Teams, GChat]
IDS = [v.type for v in VENDORS]


@pytest.fixture(params=VENDORS, ids=IDS)
def vendor(request):
    v = request.param()
    v.fake.start()
    yield v
    v.fake.stop()


def _failed(herald):
    return herald.deliveries(status="failed")


def test_active_then_ok_same_key(herald, vendor):
    ch = herald.create_channel(vendor.channel("pager"))
    herald.ingest(alert("ACTIVE"), fmt="sysdig")
    first = vendor.wait(1)[0]
    key = vendor.opened_key(first)
    assert "alertName" in vendor.summary(first)
    herald.ingest(alert("OK"), fmt="sysdig")
    recs = vendor.wait(2)
    assert len(recs) == 2
    assert vendor.closed_key(recs[1]) == key, "the resolve names what the trigger opened"
    assert vendor.is_closed(key)
    assert _failed(herald) == []

    # Secrets: masked by the API, never in the log.
    got = herald.get_channel(ch["id"])
    for name, value in vendor.secrets():
        assert got["options"][name] == MASK
        assert value not in herald.log()

    # The test notification reaches the vendor and reads as a test.
    r = herald.api("POST", "/api/notificationChannels/%d/test" % ch["id"])
    assert r.status == 200, r
    assert r.json["result"]["delivered"] is True
    recs = vendor.wait(3)
    assert vendor.summary(recs[2]).startswith("[TEST] "), vendor.summary(recs[2])


def test_notify_on_ok_false_drops_the_resolve(herald, vendor):
    herald.create_channel(vendor.channel("pager", notifyOnOk=False))
    herald.ingest(alert("OK"), fmt="sysdig")
    herald.ingest(alert("ACTIVE", ts_offset=60000000), fmt="sysdig")
    recs = vendor.wait(1)
    vendor.opened_key(recs[0])
    poll(lambda: herald.events() and len(herald.events()) == 2, 10, what="both events stored")
    assert vendor.fake.count(lambda q: q.status and q.status < 300) == 1


def test_retry_429_and_5xx_then_success(herald, vendor):
    herald.create_channel(vendor.channel("pager"))
    vendor.fake.inject(1, status=429, retry_after=1)
    vendor.fake.inject(1, status=503)
    herald.ingest(alert("ACTIVE"), fmt="sysdig")
    recs = vendor.wait(1)
    vendor.opened_key(recs[0])
    statuses = [q.status for q in vendor.fake.snapshot(vendor.fake.is_data_request)]
    assert statuses[:2] == [429, 503] and statuses[-1] < 300, statuses
    reqs = vendor.fake.snapshot(vendor.fake.is_data_request)
    assert reqs[1].t - reqs[0].t >= 0.9, "retried before Retry-After: 1 elapsed"
    assert _failed(herald) == []


def test_permanent_refusal_is_a_dead_letter(herald, vendor):
    opts, message = vendor.break_it()
    herald.create_channel(vendor.channel("pager", **opts))
    eid = herald.ingest(alert("ACTIVE"), fmt="sysdig")[0]
    dead = poll(lambda: _failed(herald), 20, what="a dead letter")
    assert len(dead) == 1 and dget(dead[0], "eventId") == eid
    assert message.lower() in json.dumps(dead[0]).lower(), dead[0]
    # Not retried: one request only.
    assert vendor.fake.count(vendor.fake.is_data_request) == 1
    for _, value in vendor.secrets():
        assert value not in json.dumps(dead[0])


def test_fakes_refuse_what_the_vendors_refuse(vendor):
    """The fakes are strict: wrong auth, content type or fields are refused."""
    import http.client

    def post(path, body, headers):
        c = http.client.HTTPConnection("127.0.0.1", vendor.fake.port, timeout=10)
        try:
            c.request("POST", path, body=body, headers=headers)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    js = {"Content-Type": "application/json"}
    if vendor.type == "PAGER_DUTY":
        ok = {"routing_key": vendor.key, "event_action": "trigger",
              "payload": {"summary": "s", "source": "h", "severity": "info"}}
        assert post("/v2/enqueue", json.dumps(ok), js)[0] == 202
        assert post("/v2/enqueue", json.dumps(ok), {"Content-Type": "text/plain"})[0] == 400
        bad = dict(ok, payload={"summary": "s", "source": "h", "severity": "fatal"})
        st, b = post("/v2/enqueue", json.dumps(bad), js)
        assert st == 400 and json.loads(b)["status"] == "invalid event"
        assert post("/v2/enqueue", json.dumps({"routing_key": vendor.key, "event_action": "resolve"}), js)[0] == 400
    elif vendor.type == "OPSGENIE":
        auth = dict(js, Authorization="GenieKey " + vendor.key)
        assert post("/v2/alerts", json.dumps({"message": "m"}), auth)[0] == 202
        assert post("/v2/alerts", json.dumps({"message": "m"}), js)[0] == 401
        assert post("/v2/alerts", json.dumps({"message": "x" * 131}), auth)[0] == 422
        assert post("/v2/alerts", json.dumps({"message": "m", "priority": "P9"}), auth)[0] == 422
        assert post("/v2/alerts", "message=m", dict(auth, **{"Content-Type": "text/plain"}))[0] == 415
    elif vendor.type == "VICTOROPS":
        p = "/integrations/generic/20131114/alert/%s/%s" % (vendor.key, vendor.routing)
        assert post(p, json.dumps({"message_type": "INFO"}), js)[0] == 200
        st, b = post(p, json.dumps({"entity_id": "x"}), js)
        assert st == 400 and json.loads(b)["result"] == "failure"
        assert post(p.replace(vendor.key, "nokey"), json.dumps({"message_type": "INFO"}), js)[0] == 404
    elif vendor.type == "MS_TEAMS":
        card = {"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                "content": {"type": "AdaptiveCard", "version": "1.4",
                            "body": [{"type": "TextBlock", "text": "t"}]}}]}
        wf = WORKFLOW_PATH + "?" + WORKFLOW_QUERY
        assert post(wf, json.dumps(card), js) == (202, b"")
        assert vendor.fake.messages and not vendor.fake.failed_runs
        st, b = post(wf.replace("sig=", "sig=x"), json.dumps(card), js)
        assert st == 401 and json.loads(b)["error"]["code"] == "DirectApiInvalidAuthorizationSignature"
        assert post(WORKFLOW_PATH, json.dumps(card), js)[0] == 401
        assert post(wf, "{", js)[0] == 400
        assert post(wf.replace("/workflows/0", "/workflows/9"), json.dumps(card), js)[0] == 404
        # a card Teams cannot show is accepted by the trigger and fails in the flow
        bad = json.loads(json.dumps(card))
        bad["attachments"][0]["content"]["body"][0]["color"] = "red"
        assert post(wf, json.dumps(bad), js)[0] == 202
        assert len(vendor.fake.failed_runs) == 1
        assert post(LEGACY_PATH, json.dumps(card), js) == (200, b"1")
        assert post(LEGACY_PATH, json.dumps({"x": 1}), js)[0] == 400
        assert post(wf, json.dumps({"text": "x" * 30000}), js)[0] == 413
    elif vendor.type == "GCHAT":
        p = "%s?key=%s&token=%s" % (GCHAT_PATH, GCHAT_KEY, GCHAT_TOKEN)
        reply = "&messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"
        st, b = post(p + reply, json.dumps({"text": "t", "thread": {"threadKey": "k1"}}), js)
        assert st == 200 and json.loads(b)["thread"]["threadKey"] == "k1"
        st, b2 = post(p + reply, json.dumps({"text": "u", "thread": {"threadKey": "k1"}}), js)
        assert json.loads(b2)["thread"]["name"] == json.loads(b)["thread"]["name"]
        st, b3 = post(p, json.dumps({"text": "v", "thread": {"threadKey": "k1"}}), js)
        assert json.loads(b3)["thread"]["name"] != json.loads(b)["thread"]["name"]
        st, b = post(p, json.dumps({}), js)
        assert st == 400 and json.loads(b)["error"]["status"] == "INVALID_ARGUMENT"
        assert post(p, json.dumps({"txt": "t"}), js)[0] == 400
        assert post(p.replace(GCHAT_KEY, "nokey"), json.dumps({"text": "t"}), js)[0] == 400
        assert post(p.replace(GCHAT_TOKEN, "x"), json.dumps({"text": "t"}), js)[0] == 401
        assert post(p, json.dumps({"cardsV2": [{"cardId": "c", "card": {"sections": [
            {"widgets": [{"textParagraph": {}}]}]}}]}), js)[0] == 400
        assert post(p + "&messageReplyOption=REPLY_MESSAGE_OR_FAIL",
                    json.dumps({"text": "t", "thread": {"threadKey": "none"}}), js)[0] == 404
    else:
        assert post(DEFAULT_HOOK, json.dumps({"text": "t"}), js) == (200, b"ok")
        assert post(DEFAULT_HOOK, json.dumps({}), js) == (400, b"no_text")
        assert post(DEFAULT_HOOK, "{", js) == (400, b"invalid_payload")
        assert post("/services/T/B/none", json.dumps({"text": "t"}), js) == (404, b"no_service")


def _throttled(herald):
    vals = metric_values(herald.metrics(), "herald_deliveries_total")
    return sum(v for k, v in vals.items() if 'outcome="throttled"' in k)


def test_throttle_one_per_window_then_count(herald):
    pd = PagerDuty()
    with pd.fake:
        herald.create_channel(pd.channel("pager", throttle={"key": "alertKey", "windowMs": 2000}))
        # Five occurrences of one alert in one request: one window.
        burst = [alert("ACTIVE", ts_offset=i * 1000000) for i in range(5)]
        herald.ingest(burst, fmt="sysdig")
        pd.wait(1)
        poll(lambda: _throttled(herald) == 4, 15, what="4 throttled deliveries in /metrics")
        assert len(pd.fake.events) == 1, "one notification per key per window"
        assert "suppressed" not in pd.fake.events[0]["payload"]["summary"]
        time.sleep(2.2)   # the window is counted from the events' arrival
        herald.ingest(alert("ACTIVE", ts_offset=10 * 1000000), fmt="sysdig")
        recs = pd.wait(2)
        assert len(recs) == 2
        assert "(+4 similar suppressed)" in recs[1]["payload"]["summary"], recs[1]
        assert recs[1]["payload"]["custom_details"]["suppressed"] == 4
        assert recs[1]["dedup_key"] == recs[0]["dedup_key"]
        # The resolve is never throttled away: it closes what was opened.
        herald.ingest(alert("OK"), fmt="sysdig")
        recs = pd.wait(3)
        assert recs[2]["event_action"] == "resolve"
        assert _failed(herald) == []
