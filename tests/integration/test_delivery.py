"""Delivery guarantees (SPEC section 6) and WEBHOOK options (sections 4, 5, 7)."""

import copy
import json

from conftest import dget, fixture_bytes, fixture_json, metric_values, poll, unique_event

ARTICLE_EVENT = "sysdig/sysdig_blog2018_secure_webhook_read_sensitive_file.json"
MONITOR_ALERT = "sysdig/sysdig_monitor_webhook_metric_alert_active.json"


def _markers(fake, index):
    return [d.get("marker") for d in fake.sources(index)]


def _failed(herald, **q):
    return [d for d in herald.deliveries(status="failed", **q)]


def test_in_order_when_the_sink_is_up(herald, fake_es):
    # strict order is maxInFlight 1; the default (4) may reorder (test_webhook_inflight.py)
    herald.webhook("es", fake_es.url + "/ord/_doc", maxInFlight=1)
    for i in range(30):
        herald.ingest(json.dumps(unique_event("o-%02d" % i)))
    fake_es.wait_docs(30, index="ord")
    assert _markers(fake_es, "ord") == ["o-%02d" % i for i in range(30)]


def test_outage_then_recovery_nothing_lost(herald, fake_es):
    herald.webhook("es", fake_es.url + "/out/_doc")
    herald.ingest(json.dumps(unique_event("before")))
    fake_es.wait_docs(1, index="out")
    fake_es.down()
    sent = ["down-%02d" % i for i in range(20)]
    for m in sent:
        herald.ingest(json.dumps(unique_event(m)))

    def backlog():
        # one channel in this herald: the sum is its backlog
        return sum(metric_values(herald.metrics(), "herald_channel_backlog").values())
    poll(lambda: backlog() > 0, 10, what="herald_channel_backlog > 0 while the sink is down")

    fake_es.up()
    fake_es.wait_until(lambda: set(sent) <= {d.get("marker") for d in fake_es.sources("out")}, 30,
                       "every event posted during the outage")
    got = _markers(fake_es, "out")
    assert set(got) == set(sent) | {"before"}, "nothing lost, nothing invented"
    poll(lambda: backlog() == 0, 10, what="backlog back to 0")
    assert _failed(herald) == []


def test_retry_after_is_honoured(herald, fake_es):
    herald.webhook("es", fake_es.url + "/ra/_doc")
    fake_es.inject(2, status=503, retry_after=1)
    herald.ingest(json.dumps(unique_event("ra-1")))
    reqs = fake_es.wait_for(3, timeout=20, pred=lambda q: q.path.startswith("/ra/"))
    assert [q.status for q in reqs[:3]] == [503, 503, 201]
    assert reqs[1].t - reqs[0].t >= 0.9, "retried before Retry-After: 1 elapsed"
    assert reqs[2].t - reqs[1].t >= 0.9
    assert _markers(fake_es, "ra") == ["ra-1"]

    fake_es.inject(1, status=429, retry_after=1)
    fake_es.inject(1, close=True)
    herald.ingest(json.dumps(unique_event("ra-2")))
    fake_es.wait_until(lambda: "ra-2" in [d.get("marker") for d in fake_es.sources("ra")], 20, "ra-2 delivered")
    statuses = [q.status for q in fake_es.snapshot(lambda q: q.path.startswith("/ra/"))][3:]
    assert statuses[:2] == [429, 0] and statuses[-1] == 201, statuses


def test_permanent_4xx_dead_letter_then_retry(herald, fake_es):
    ch = herald.webhook("es", fake_es.url + "/dl/_doc")
    fake_es.fail_always(status=400)     # mapper_parsing_exception, like a bad mapping
    eid = herald.ingest(json.dumps(unique_event("dl-1")))[0]
    dead = poll(lambda: _failed(herald), 15, what="a dead letter")
    assert len(dead) == 1
    d = dead[0]
    assert dget(d, "eventId") == eid
    assert dget(d, "channelId") == ch["id"]
    assert str(dget(d, "status")).lower() == "failed"
    assert dget(d, "attempts") >= 1
    assert "mapper_parsing_exception" in json.dumps(d), "the sink's answer is kept: %r" % d
    n = fake_es.count(lambda q: q.path.startswith("/dl/"))
    assert n == 1, "a 400 is permanent: not retried"
    assert _failed(herald, channelId=ch["id"]) == dead
    assert herald.deliveries(status="pending") == []

    fake_es.clear_failures()
    r = herald.api("POST", "/api/deliveries/%s/retry" % d["id"])
    assert 200 <= r.status < 300, r
    fake_es.wait_docs(1, index="dl")
    assert _markers(fake_es, "dl") == ["dl-1"]
    poll(lambda: _failed(herald) == [], 10, what="the dead letter gone after its retry")


def test_splunk_invalid_token_dead_letter_and_retry_all(herald, fake_splunk):
    ch = herald.webhook("sp", fake_splunk.url + "/services/collector/raw",
                        additionalHeaders={"Authorization": "Splunk wrong-token-123456"})
    ids = [herald.ingest(json.dumps(unique_event("sp-%d" % i)))[0] for i in range(3)]
    dead = poll(lambda: len(_failed(herald)) == 3 and _failed(herald), 15, what="3 dead letters")
    assert {dget(d, "eventId") for d in dead} == set(ids)
    assert all("Invalid token" in json.dumps(d) for d in dead), dead
    # fix the channel, replay the channel's dead letters
    fake_splunk.tokens.add("wrong-token-123456")
    r = herald.api("POST", "/api/deliveries/retry", query={"channelId": ch["id"]})
    assert 200 <= r.status < 300, r
    fake_splunk.wait_events(3)
    got = [json.loads(b)["marker"] for b in fake_splunk.raw_bodies()]
    assert sorted(got) == ["sp-0", "sp-1", "sp-2"]


def test_delete_channel_moves_backlog_to_dead_letters(herald, fake_es):
    ch = herald.webhook("es", fake_es.url + "/del/_doc")
    fake_es.down()
    ids = [herald.ingest(json.dumps(unique_event("del-%d" % i)))[0] for i in range(3)]
    r = herald.api("DELETE", "/api/notificationChannels/%d" % ch["id"])
    assert r.status == 204, r
    dead = poll(lambda: len(_failed(herald)) >= 3 and _failed(herald), 10, what="dead letters of the deleted channel")
    assert {dget(d, "eventId") for d in dead} == set(ids)
    assert all(dget(d, "channelId") == ch["id"] for d in dead)


def test_failing_channel_does_not_block_others(herald, fake_es, fake_splunk):
    herald.webhook("es-down", fake_es.url + "/blk/_doc")
    herald.webhook("sp-up", fake_splunk.url + "/services/collector/raw",
                   additionalHeaders={"Authorization": "Splunk " + fake_splunk.token})
    fake_es.down()
    for i in range(10):
        herald.ingest(json.dumps(unique_event("blk-%d" % i)))
    evs = fake_splunk.wait_events(10, timeout=10)
    assert sorted(json.loads(e["body"])["marker"] for e in evs) == ["blk-%d" % i for i in range(10)]


def _sentinel_wait(fake, index, marker, timeout=10):
    fake.wait_until(lambda: any(d.get("marker") == marker or d.get("rule") == marker for d in fake.sources(index)),
                    timeout, "sentinel %s" % marker)


def test_notify_on_ok_and_resolve_false(herald, fake_es):
    # the sentinel comes last only in strict order (maxInFlight 1)
    herald.webhook("ok-off", fake_es.url + "/ok/_doc", notifyOnOk=False, notifyOnResolve=False, maxInFlight=1)
    active = fixture_json(MONITOR_ALERT)
    ok = copy.deepcopy(active)
    ok["state"] = "OK"
    ok["timestamp"] += 60000000
    resolved = copy.deepcopy(active)
    resolved["resolved"] = True
    resolved["timestamp"] += 120000000
    herald.ingest(json.dumps(ok))
    herald.ingest(json.dumps(resolved))
    herald.ingest(fixture_bytes("alertmanager/am0.25_captured_resolved_amtool.json"))
    herald.ingest(json.dumps(active))
    herald.ingest(json.dumps(unique_event("ok-sentinel")))
    _sentinel_wait(fake_es, "ok", "ok-sentinel")
    docs = fake_es.sources("ok")
    assert len(docs) == 2, docs
    assert docs[0]["state"] == "ACTIVE" and docs[0]["resolved"] is False
    assert docs[1]["marker"] == "ok-sentinel"


def test_min_severity(herald, fake_es):
    herald.webhook("sev", fake_es.url + "/sev/_doc", minSeverity=3, maxInFlight=1)  # the sentinel comes last
    for f in ("falco/falco_notice_k8saudit_attach_exec.json", "falco/falco_warning_k8saudit_user_not_allowed.json",
              "falco/falco_critical_terminal_shell_syscall.json", "falco/falco_informational_k8saudit_sa_created.json",
              "falco/falco_error_write_below_binary_dir.json"):
        herald.ingest(fixture_bytes(f))
    _sentinel_wait(fake_es, "sev", "Write below binary dir")
    rules = [d["rule"] for d in fake_es.sources("sev")]
    assert rules == ["Terminal shell in container", "Write below binary dir"]


def test_custom_data_merged(herald, fake_es):
    herald.webhook("cd", fake_es.url + "/cd/_doc", customData={"env": "prod", "team": {"name": "sec"}})
    orig = fixture_json(ARTICLE_EVENT)
    herald.ingest(fixture_bytes(ARTICLE_EVENT))
    doc = fake_es.wait_docs(1, index="cd")[0]
    assert doc["env"] == "prod" and doc["team"] == {"name": "sec"}
    for k, v in orig.items():
        assert doc[k] == v, k


def test_template_typed_values(herald, fake_es):
    tmpl = {"sev": "{{severity}}", "ns": "{{k8s.namespace}}", "alert": "{{raw.alert.name}}",
            "ts": "{{raw.timestamp}}",
            "msg": "severity {{severity}} in {{k8s.namespace}}", "fixed": 7, "nested": {"src": "{{source}}"}}
    herald.webhook("tpl", fake_es.url + "/tpl/_doc", template=tmpl)
    herald.ingest(fixture_bytes(ARTICLE_EVENT))
    doc = fake_es.wait_docs(1, index="tpl")[0]
    assert doc["sev"] == 4 and isinstance(doc["sev"], int), "a lone placeholder keeps the type"
    assert doc["ns"] == "example-java-app"
    assert doc["alert"] == "Policy 59: FILE POLICY: Read sensitive file untrusted"
    assert doc["ts"] == 1518849360000000 and isinstance(doc["ts"], int), "int64 preserved"
    assert doc["msg"] == "severity 4 in example-java-app"
    assert doc["fixed"] == 7
    assert doc["nested"] == {"src": "sysdig_secure"}


def test_webhook_sends_json_content_type_and_keepalive(herald, fake_es):
    herald.webhook("ka", fake_es.url + "/ka/_doc")
    for i in range(5):
        herald.ingest(json.dumps(unique_event("ka-%d" % i)))
    reqs = fake_es.wait_for(5, pred=lambda q: q.path.startswith("/ka/"))
    assert all(q.header("Content-Type", "").startswith("application/json") for q in reqs)
    assert all(q.status == 201 for q in reqs), "no request refused by Elasticsearch"
    assert len({q.conn_id for q in reqs}) < 5, "connections are reused"
