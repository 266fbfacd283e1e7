"""PROMETHEUS_ALERT_MANAGER against a real Prometheus Alertmanager (Debian's
prometheus-alertmanager 0.25), SPEC section 4: herald posts events as alerts
to /api/v2/alerts; what Alertmanager then holds is read back from its own
GET /api/v2/alerts.

DESIGN: Alertmanager is started by the Alertmanager helper of
test_inputs_alertmanager.py (free loopback port, clustering off) with a
config whose only receiver sends nothing (a receiver posting back to herald
would loop: herald would forward its own alerts again). Checks: the
article's Sysdig Secure event becomes an active alert whose labels come from
the event (alertname, severity, source, namespace, pod, the event's labels
sanitized); a Monitor alert ACTIVE then OK is first active, then resolved
(GET /api/v2/alerts leaves out resolved alerts); an Alertmanager that is down
is retried until it is up; a 404 (wrong base path) is a dead letter.
"""

import json
import time

from conftest import dget, fixture_json, http_call, poll, register_secret
from test_inputs_alertmanager import Alertmanager

SECURE = "sysdig/sysdig_blog2018_secure_webhook_read_sensitive_file.json"
MONITOR = "sysdig/sysdig_monitor_webhook_metric_alert_active.json"

NULL_CONFIG = (
    "route:\n"
    "  receiver: blackhole\n"
    "  group_wait: 1s\n"
    "  group_interval: 1s\n"
    "receivers:\n"
    "  - name: blackhole\n")


def start_am(tmp_path, herald):
    am = Alertmanager(tmp_path / "am", herald)
    with open(am.config, "w") as f:
        f.write(NULL_CONFIG)
    return am.start()


def am_alerts(am):
    r = http_call(am.port, "GET", "/api/v2/alerts")
    assert r.status == 200, r
    return r.json


def channel(herald, am_url, **extra):
    token = register_secret("am-" + str(time.time_ns()))
    opts = {"url": am_url, "notifyOnOk": True, "notifyOnResolve": True,
            "additionalHeaders": {"Authorization": "Bearer " + token}}
    opts.update(extra)
    return herald.create_channel({"type": "PROMETHEUS_ALERT_MANAGER", "name": "am", "enabled": True,
                                  "options": opts}), token


def monitor(state, ts_offset=0):
    doc = fixture_json(MONITOR)
    doc["state"] = state
    doc["timestamp"] += ts_offset
    return doc


def find(alerts, name):
    return [a for a in alerts if a["labels"].get("alertname") == name]


def test_article_event_then_active_ok(herald, tmp_path):
    am = start_am(tmp_path, herald)
    try:
        ch, token = channel(herald, "http://127.0.0.1:%d" % am.port)
        assert herald.get_channel(ch["id"])["options"]["additionalHeaders"]["Authorization"] == "********"

        herald.ingest(fixture_json(SECURE), fmt="sysdig")
        secure = fixture_json(SECURE)
        name = secure["alert"]["name"] if "alert" in secure else None
        got = poll(lambda: [a for a in am_alerts(am) if a["labels"].get("source") == "sysdig_secure"], 20,
                   what="the article's event as an Alertmanager alert")
        a = got[0]
        if name:
            assert a["labels"]["alertname"] == name
        assert a["labels"]["severity"] in ("critical", "error", "warning", "info")
        assert a["labels"]["namespace"] == "example-java-app", a
        assert a["labels"]["pod"].startswith("redis-"), a
        assert all(k.replace("_", "a").isalnum() and not k[0].isdigit() for k in a["labels"]), a["labels"]
        assert a["status"]["state"] == "active"
        assert a["annotations"]["summary"].startswith("[")
        assert a["generatorURL"].startswith("https://secure.sysdig")

        # A Monitor alert: ACTIVE then OK of the same alert ends it.
        herald.ingest(monitor("ACTIVE"), fmt="sysdig")
        got = poll(lambda: find(am_alerts(am), "alertName"), 20, what="alertName active in Alertmanager")
        assert len(got) == 1 and got[0]["status"]["state"] == "active"
        assert got[0]["labels"]["severity"] == "warning"
        assert got[0]["labels"]["source"] == "sysdig_monitor"
        herald.ingest(monitor("OK", ts_offset=60000000), fmt="sysdig")
        poll(lambda: not find(am_alerts(am), "alertName"), 20,
             what="alertName resolved (gone from GET /api/v2/alerts)")
        # the article's event is still firing: only the OK'd alert ended
        assert [x for x in am_alerts(am) if x["labels"].get("source") == "sysdig_secure"]
        assert herald.deliveries(status="failed") == []
        assert token not in herald.log()
        assert "level=error" not in am.log(), am.log()[-2000:]
    finally:
        am.stop()


def test_down_then_up_is_retried(herald, tmp_path):
    am = Alertmanager(tmp_path / "am", herald)
    with open(am.config, "w") as f:
        f.write(NULL_CONFIG)
    channel(herald, "http://127.0.0.1:%d" % am.port)
    herald.ingest(monitor("ACTIVE"), fmt="sysdig")
    poll(lambda: herald.deliveries(status="pending"), 20, what="a pending retry while Alertmanager is down")
    am.start()
    try:
        poll(lambda: find(am_alerts(am), "alertName"), 30, what="the retried alert in Alertmanager")
        assert herald.deliveries(status="failed") == []
    finally:
        am.stop()


def test_wrong_path_is_a_dead_letter(herald, tmp_path):
    am = start_am(tmp_path, herald)
    try:
        channel(herald, "http://127.0.0.1:%d/not-alertmanager" % am.port)
        eid = herald.ingest(monitor("ACTIVE"), fmt="sysdig")[0]
        dead = poll(lambda: herald.deliveries(status="failed"), 20, what="a dead letter")
        assert dget(dead[0], "eventId") == eid
        assert "404" in json.dumps(dead[0]), dead[0]
        assert am_alerts(am) == []
    finally:
        am.stop()
