"""The native ELASTICSEARCH channel (SPEC 4, 6, 7) and `herald setup
elasticsearch`, against the recording fake Elasticsearch (tests/fakes/fake_es.py)."""

import base64
import json
import os
import secrets
import subprocess
import threading

import pytest

from conftest import HERALD_BIN, fixture_bytes, http_call, poll, register_secret, unique_event
from fake_es import FakeElasticsearch

ARTICLE_EVENT = "sysdig/sysdig_blog2018_secure_webhook_read_sensitive_file.json"


def es_channel(herald, fake, name="es", **options):
    opts = {"url": fake.url, "index": "herald-%Y.%m.%d"}
    opts.update(options)
    return herald.create_channel({"type": "ELASTICSEARCH", "name": name, "enabled": True, "options": opts})


def bulk_requests(fake):
    return fake.snapshot(lambda q: q.path == "/_bulk")


def run_cli(args, timeout=60):
    if not os.path.exists(HERALD_BIN):
        pytest.fail("HERALD_BIN %s does not exist (build herald first)" % HERALD_BIN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    return subprocess.run([HERALD_BIN] + args, env=env, capture_output=True, timeout=timeout)


def test_article_event_and_idempotent_resend(herald, fake_es):
    ch = es_channel(herald, fake_es)
    assert ch["type"] == "ELASTICSEARCH" and ch["version"] == 1
    body = fixture_bytes(ARTICLE_EVENT)
    eid = herald.ingest(body)[0]

    fake_es.wait_docs(1, index="herald-2018.02.17")
    req = fake_es.wait_for(1, pred=lambda q: q.path == "/_bulk" and q.status == 200)[0]
    assert req.method == "POST"
    assert req.header("Content-Type") == "application/x-ndjson"
    assert req.body.endswith(b"\n") and req.body.count(b"\n") == 2
    action = json.loads(req.body.split(b"\n")[0])
    assert action == {"create": {"_index": "herald-2018.02.17", "_id": eid}}

    doc = fake_es.docs[("herald-2018.02.17", eid)]["_source"]
    assert doc["timestamp"] == 1518849360000000
    assert doc["estimestamp"] == 1518849360000 == doc["timestamp"] // 1000
    assert doc["@timestamp"] == "2018-02-17T06:36:00.000Z"
    assert doc["herald"]["severity"] == 4 and doc["herald"]["id"] == eid
    assert doc["herald"]["k8s"]["namespace"] == "example-java-app"
    assert doc["alert"]["name"] == json.loads(body)["alert"]["name"], "the original is kept"
    poll(lambda: "delivered" in json.dumps(herald.event(eid).get("deliveries")).lower(), 10,
         what="delivery recorded as delivered")

    # The same event posted again is stored once; a replay re-sends it and the
    # _id makes Elasticsearch answer 409: still one document, counted delivered.
    assert herald.ingest(body) == [eid]
    r = herald.api("POST", "/api/notificationChannels/%d/replay" % ch["id"],
                   query={"from": 1518849300000, "to": 1518849420000})
    assert r.status == 202 and r.json["queued"] >= 1, r
    fake_es.wait_until(lambda: any(b'"status":409' in q.response for q in fake_es.requests if q.path == "/_bulk"),
                       15, "the re-sent event answered 409")
    assert len([k for k in fake_es.docs if k[1] == eid]) == 1
    assert [e[4] for e in fake_es.doc_log] == ["create"], "stored once, never overwritten"
    poll(lambda: herald.deliveries(status="pending") == [], 10, what="nothing left pending")
    assert herald.deliveries(status="failed") == []


def test_partial_failure_items_retried_alone_and_dead_lettered(herald, fake_es):
    es_channel(herald, fake_es, index="pf-%Y")
    marks = ["pf-ok", "pf-bad", "pf-busy"]

    def verdict(index, doc_id, source):
        if source.get("marker") == "pf-bad":
            return (400, "mapper_parsing_exception",
                    "failed to parse field [marker] of type [long] in document with id '%s'" % doc_id)
        if source.get("marker") == "pf-busy" and not getattr(verdict, "busy_done", False):
            verdict.busy_done = True
            return (429, "es_rejected_execution_exception", "rejected execution of coordinating operation")
        return None
    fake_es.item_failure_if = verdict
    # One request for all three: the channel is created before they exist.
    ids = herald.ingest("\n".join(json.dumps(unique_event(m)) for m in marks) + "\n",
                        content_type="application/x-ndjson")
    fake_es.wait_until(lambda: {s.get("marker") for s in fake_es.sources()} >= {"pf-ok", "pf-busy"}, 20,
                       "pf-ok and the retried pf-busy stored")
    bulks = bulk_requests(fake_es)
    first = bulks[0].body.split(b"\n")
    assert len(first) == 7, "the three events in one _bulk"
    retried = [q for q in bulks[1:] if b"pf-busy" in q.body]
    assert retried and all(b"pf-ok" not in q.body and b"pf-bad" not in q.body for q in bulks[1:]), \
        "only the 429 item is retried"
    assert sorted(s["marker"] for s in fake_es.sources()) == ["pf-busy", "pf-ok"]

    dead = poll(lambda: herald.deliveries(status="failed"), 15, what="the 400 item dead-lettered")
    assert len(dead) == 1
    d = dead[0]
    assert d["eventId"] == ids[1]
    assert d["lastStatus"] == 400, d
    err = d["lastError"]
    assert "mapper_parsing_exception" in err and "failed to parse field [marker]" in err, d
    p = run_cli(["deliveries", "--failed", "--url", herald.url, "--token", herald.token("admin")])
    assert p.returncode == 0, p
    assert ids[1].encode() in p.stdout and b"mapper_parsing_exception" in p.stdout, p.stdout
    poll(lambda: herald.deliveries(status="pending") == [], 10, what="no retry left pending")


def test_options_validated_by_the_api(herald, fake_es):
    def post(options):
        return herald.api("POST", "/api/notificationChannels", {"notificationChannel": {
            "type": "ELASTICSEARCH", "name": "bad", "enabled": True, "options": options}})
    r = post({"url": fake_es.url})
    assert r.status == 400 and "options.index" in r.text, r
    r = post({"url": fake_es.url, "index": "Herald-%Y"})
    assert r.status == 400 and "options.index" in r.text, r
    r = post({"url": fake_es.url, "index": "h", "apiKey": "k", "username": "u", "password": "p"})
    assert r.status == 400 and "options.apiKey" in r.text, r
    ch = es_channel(herald, fake_es, name="masked", apiKey=register_secret("k-" + secrets.token_hex(6)))
    assert ch["options"]["apiKey"] == "********"


def test_whole_request_429_backs_off_with_retry_after(herald, fake_es):
    es_channel(herald, fake_es)
    fake_es.inject(1, status=429, retry_after=1)
    eid = herald.ingest(json.dumps(unique_event("ra-es")))[0]
    reqs = fake_es.wait_for(2, timeout=20, pred=lambda q: q.path == "/_bulk")
    assert [q.status for q in reqs[:2]] == [429, 200]
    assert reqs[1].t - reqs[0].t >= 0.9, "retried before Retry-After: 1 elapsed"
    assert json.loads(reqs[0].response)["error"]["type"] == "es_rejected_execution_exception"
    assert [k[1] for k in fake_es.docs] == [eid]


def test_auth_basic_and_apikey_gzip_pipeline(herald_factory):
    password = register_secret("pw-" + secrets.token_hex(8))
    key = register_secret(base64.b64encode(("kid:" + secrets.token_hex(8)).encode()).decode())
    with FakeElasticsearch(version="8.11.1", users={"herald": password}, api_keys=[key]) as es:
        es.pipelines["p1"] = {"processors": [{"set": {"field": "via", "value": "p1"}}]}
        h = herald_factory()
        c1 = es_channel(h, es, name="basic", index="basic", username="herald", password=password,
                        compress=True, pipeline="p1")
        assert c1["options"]["password"] == "********"
        es_channel(h, es, name="apikey", index="apikey", apiKey=key)
        h.ingest(json.dumps(unique_event("auth-1")))
        es.wait_docs(1, index="basic")
        es.wait_docs(1, index="apikey")
        reqs = [q for q in bulk_requests(es) if q.status == 200]
        auths = {q.header("Authorization") for q in reqs}
        assert "ApiKey " + key in auths
        assert "Basic " + base64.b64encode(("herald:" + password).encode()).decode() in auths
        gz = [q for q in reqs if q.header("Content-Encoding") == "gzip"]
        assert gz and gz[0].raw_body[:2] == b"\x1f\x8b" and gz[0].q("pipeline") == "p1"
        assert es.sources("basic")[0]["via"] == "p1"
        assert "via" not in es.sources("apikey")[0]
        assert not any(q.status == 401 for q in es.snapshot())
        assert password not in h.log() and key not in h.log()


def test_wrong_credentials_dead_letter_with_the_answer(herald_factory):
    with FakeElasticsearch(users={"herald": "right"}) as es:
        h = herald_factory()
        es_channel(h, es, username="herald", password=register_secret("wrong-" + secrets.token_hex(4)))
        h.ingest(json.dumps(unique_event("auth-bad")))
        dead = poll(lambda: h.deliveries(status="failed"), 15, what="401 dead-lettered")
        err = dead[0]["lastError"]
        assert dead[0]["lastStatus"] == 401
        assert "security_exception" in err and "unable to authenticate user [herald]" in err, dead


def test_setup_elasticsearch_creates_then_finds(fake_es):
    p = run_cli(["setup", "elasticsearch", "--url", fake_es.url, "--dry-run"])
    assert p.returncode == 0, p
    assert fake_es.count() == 0, "--dry-run sends nothing"
    out = p.stdout.decode()
    assert "PUT /_ingest/pipeline/herald-datetrim" in out and "PUT /_index_template/herald" in out
    tmpl_json = out.split("PUT /_index_template/herald\n", 1)[1]
    tmpl = json.loads(tmpl_json)
    props = tmpl["template"]["mappings"]["properties"]
    assert props["estimestamp"] == {"type": "date", "format": "epoch_millis"}
    assert props["@timestamp"]["type"] == "date"
    assert props["herald"]["properties"]["severity"]["type"] == "integer"
    assert props["herald"]["properties"]["k8s"]["properties"]["namespace"]["type"] == "keyword"
    assert tmpl["index_patterns"] == ["herald-*"]

    p = run_cli(["setup", "elasticsearch", "--url", fake_es.url])
    assert p.returncode == 0, p
    out = p.stdout.decode()
    assert "ingest pipeline herald-datetrim: created" in out and "index template herald" in out, out
    assert "created" in out.splitlines()[-1]
    assert "herald-datetrim" in fake_es.pipelines and "_index_template/herald" in fake_es.templates
    assert fake_es.templates["_index_template/herald"] == tmpl

    p = run_cli(["setup", "elasticsearch", "--url", fake_es.url])
    assert p.returncode == 0, p
    lines = p.stdout.decode().splitlines()
    assert sum("found, unchanged" in line for line in lines) == 2, lines
    assert [q.method for q in fake_es.snapshot() if q.method == "PUT"] == ["PUT", "PUT"], "second run changes nothing"

    # The article's path through the template's default pipeline: a document
    # posted as is gets estimestamp = timestamp / 1000.
    body = fixture_bytes(ARTICLE_EVENT)
    r = http_call(fake_es.port, "POST", "/herald-2018.02.17/_doc", body, {"Content-Type": "application/json"})
    assert r.status == 201, r
    doc = fake_es.sources("herald-2018.02.17")[0]
    assert doc["estimestamp"] == doc["timestamp"] // 1000 == 1518849360000


def test_setup_versions(tmp_path):
    with FakeElasticsearch(version="7.10.2") as es7:
        p = run_cli(["setup", "elasticsearch", "--url", es7.url + "/", "--index", "sysdig-%Y.%m"])
        assert p.returncode == 0, p
        assert "_index_template/herald-sysdig" in es7.templates
        assert es7.templates["_index_template/herald-sysdig"]["index_patterns"] == ["sysdig-*"]
    with FakeElasticsearch(version="6.8.23") as es6:
        p = run_cli(["setup", "elasticsearch", "--url", es6.url])
        assert p.returncode == 1
        err = p.stderr.decode()
        assert "6.8.23" in err and "7.8" in err, err
        assert es6.count(lambda q: q.method == "PUT") == 0
    with FakeElasticsearch(users={"elastic": "x"}) as es_auth:
        p = run_cli(["setup", "elasticsearch", "--url", es_auth.url])
        assert p.returncode == 1 and b"security_exception" in p.stderr, p
    p = run_cli(["setup", "elasticsearch"])
    assert p.returncode == 2
    p = run_cli(["setup", "kibana", "--url", "http://127.0.0.1:1"])
    assert p.returncode == 1


def test_fake_validates_like_elasticsearch():
    """The fake's own checks that herald's channel relies on (no herald)."""
    nd = {"Content-Type": "application/x-ndjson"}
    with FakeElasticsearch(version="8.11.1") as es:
        r = http_call(es.port, "POST", "/_bulk", b'{"index":{"_index":"a","_type":"doc","_id":"1"}}\n{}\n', nd)
        assert r.status == 400 and "unknown parameter [_type]" in r.json["error"]["reason"]
        r = http_call(es.port, "POST", "/_bulk?filter_path=errors,items.*.status,items.*.error&pipeline=nope",
                      b'{"create":{"_index":"a","_id":"1"}}\n{}\n', nd)
        assert r.status == 200
        assert r.json == {"errors": True, "items": [{"create": {"status": 400, "error": {
            "type": "illegal_argument_exception", "reason": "pipeline with id [nope] does not exist"}}}]}
        r = http_call(es.port, "POST", "/_bulk", b'{"create":{"_index":"a","_id":"1"}}\n{}\n',
                      dict(nd, **{"Content-Encoding": "gzip"}))
        assert r.status == 400 and "GZIP" in r.json["error"]["reason"]
        r = http_call(es.port, "GET", "/_index_template/none")
        assert r.status == 404 and r.json["error"]["type"] == "resource_not_found_exception"
        r = http_call(es.port, "PUT", "/_index_template/t", {"index_patterns": ["t-*"], "mappings": {}})
        assert r.status == 400 and "unknown field [mappings]" in r.json["error"]["reason"]
        r = http_call(es.port, "PUT", "/_ingest/pipeline/p", {"processors": [{"grok": {"field": "x"}}]})
        assert r.status == 500, "the fake refuses what it cannot run"


def test_batch_max_delay_gathers_separate_requests_into_one_bulk(herald, fake_es):
    # Without maxDelayMs each ingest request would go out as soon as it is
    # committed; with it, a short batch waits for its oldest event to be
    # 5 s old, so three quick requests land in one _bulk (the dispatcher is
    # not woken by their commits meanwhile, but by the deadline).
    es_channel(herald, fake_es, batch={"maxEvents": 100, "maxDelayMs": 5000})
    for i in range(3):
        herald.ingest(json.dumps(unique_event("delay-%d" % i)))
    fake_es.wait_docs(3, timeout=15)
    bulks = bulk_requests(fake_es)
    assert len(bulks) == 1, [len(b.body.splitlines()) for b in bulks]
    assert len(bulks[0].body.splitlines()) == 6  # 3 x (action line + document)


def test_batch_max_delay_does_not_hold_a_full_batch(herald, fake_es):
    es_channel(herald, fake_es, batch={"maxEvents": 2, "maxDelayMs": 60000})
    herald.ingest("\n".join(json.dumps(unique_event("full-%d" % i)) for i in range(2)),
                  content_type="application/x-ndjson")
    fake_es.wait_docs(2, timeout=10)


def test_default_linger_batches_concurrent_single_events(herald, fake_es):
    """Batching types wait 10 ms by default (HD_BATCH_DELAY_MS): 40 single
    events posted at once reach the sink in fewer requests than events."""
    es_channel(herald, fake_es, index="dflt")
    threads = [threading.Thread(target=herald.ingest, args=(json.dumps(unique_event("d-%d" % i)),))
               for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    fake_es.wait_until(lambda: len(fake_es.sources()) >= 40, 20, what="40 docs")
    n = len(bulk_requests(fake_es))
    print("40 concurrent single events: %d bulk requests" % n)
    assert n < 40
