"""SPEC section 1, steps 1-5, exactly as the Sysdig article does them:
WEBHOOK channels to an Elasticsearch /index/type URL and a Splunk HEC raw URL,
GET -> PUT with additionalHeaders (version N -> N+1), post the article's
Sysdig Secure event, both sinks get the original bytes.
"""

import json
import time

from conftest import MASK, fixture_bytes, fixture_json, poll, register_secret

ARTICLE_EVENT = "sysdig/sysdig_blog2018_secure_webhook_read_sensitive_file.json"


def _is_delivered(ev, channel_ids):
    text = json.dumps(ev.get("deliveries")).lower()
    return all(str(c) in text for c in channel_ids) and "delivered" in text


def test_article_steps_1_to_5(herald, fake_es, fake_splunk):
    # Step 2: a WEBHOOK to an Elasticsearch index URL (/index/type) and one to Splunk HEC raw.
    es_ch = herald.webhook("Elasticsearch", fake_es.url + "/sysdigsecure/event")
    assert es_ch["version"] == 1 and es_ch["type"] == "WEBHOOK"
    r = herald.api("POST", "/api/notificationChannels", {"notificationChannel": {
        "type": "WEBHOOK", "enabled": True, "sendTestNotification": False, "name": "Splunk",
        "options": {"notifyOnOk": True, "url": fake_splunk.url + "/services/collector/raw",
                    "notifyOnResolve": True}}})
    assert r.status == 201, r
    sp = r.json["notificationChannel"]
    assert isinstance(sp["id"], int) and sp["version"] == 1

    # Step 3: read it, add the Authorization header, PUT the whole object back.
    got = herald.get_channel(sp["id"])
    assert got["id"] == sp["id"] and got["name"] == "Splunk"
    assert got["options"]["url"] == fake_splunk.url + "/services/collector/raw"
    n = got["version"]
    time.sleep(0.01)  # modifiedOn has millisecond resolution
    secret = register_secret("Splunk " + fake_splunk.token)
    got["options"]["additionalHeaders"] = {"Authorization": secret}
    r = herald.api("PUT", "/api/notificationChannels/%d" % sp["id"], {"notificationChannel": got})
    assert r.status == 200, r
    put = r.json["notificationChannel"]
    assert put["version"] == n + 1
    assert put["id"] == sp["id"] and put["createdOn"] == sp["createdOn"]
    assert put["modifiedOn"] > got["modifiedOn"]
    assert put["options"]["additionalHeaders"] == {"Authorization": MASK}
    assert secret not in r.text
    again = herald.get_channel(sp["id"])
    assert again["version"] == n + 1 and again["options"]["additionalHeaders"] == {"Authorization": MASK}

    # Step 4: Sysdig Secure posts its webhook to herald.
    body = fixture_bytes(ARTICLE_EVENT)
    r = herald.post_events(body)
    assert r.status == 202, r
    assert r.json["accepted"] == 1 and len(r.json["ids"]) == 1
    eid = r.json["ids"][0]

    # Step 5: both sinks receive the original payload, unchanged.
    es_req = fake_es.wait_for(1, pred=lambda q: q.path == "/sysdigsecure/event" and q.status == 201)[0]
    assert es_req.method == "POST"
    assert es_req.body.strip() == body.strip(), "Elasticsearch must get the original bytes"
    assert es_req.header("Content-Type", "").startswith("application/json")
    assert fake_es.sources("sysdigsecure") == [json.loads(body)]

    sp_req = fake_splunk.wait_for(1, pred=lambda q: q.path == "/services/collector/raw" and q.status == 200)[0]
    assert sp_req.header("Authorization") == secret
    assert sp_req.body.strip() == body.strip(), "Splunk must get the original bytes"
    assert fake_splunk.raw_bodies() == [sp_req.body]
    assert all(q.status == 200 for q in fake_splunk.snapshot()), "never sent without the header"

    # herald kept it, normalized, with the original and per-channel delivery status.
    ev = herald.event(eid)
    assert ev["id"] == eid
    assert ev["source"] == "sysdig_secure"
    assert ev["timestampUs"] == 1518849360000000
    assert ev["severity"] == 4 and ev["state"] == "ACTIVE"
    assert "Read sensitive file untrusted" in ev["name"]
    assert ev["k8s"]["namespace"] == "example-java-app"
    assert ev["k8s"]["pod"] == "redis-3463099497-2xxw3"
    raw = ev["raw"]
    assert (json.loads(raw) if isinstance(raw, str) else raw) == json.loads(body)
    poll(lambda: _is_delivered(herald.event(eid), [es_ch["id"], sp["id"]]), 10,
         what="deliveries of the event to show both channels delivered")


def test_article_estimestamp_for_elasticsearch(herald, fake_es):
    """Step 5: Sysdig times are microseconds; Elasticsearch gets epoch millis in
    estimestamp, the original timestamp kept."""
    herald.webhook("es-millis", fake_es.url + "/sysdigsecure/event",
                   transform={"millisField": "estimestamp"})
    herald.ingest(fixture_bytes(ARTICLE_EVENT))
    doc = fake_es.wait_docs(1, index="sysdigsecure")[0]
    assert doc["estimestamp"] == 1518849360000
    assert doc["timestamp"] == 1518849360000000
    assert doc["alert"] == fixture_json(ARTICLE_EVENT)["alert"]


def test_article_put_request_fixture_shape(herald, fake_splunk):
    """The article's own GET (v17) and PUT request bodies work as they are
    (ids, versions and URLs adjusted to this herald and its fake sink)."""
    item = fixture_json("sysdig/sysdig_blog2018_notificationChannel_get_item_v17.json")
    url = fake_splunk.url + "/services/collector/raw"
    item["options"]["url"] = url
    item["sendTestNotification"] = False
    r = herald.api("POST", "/api/notificationChannels", {"notificationChannel": item})
    assert r.status == 201, r
    created = r.json["notificationChannel"]
    assert created["version"] == 1, "version sent on POST is ignored"
    assert created["createdOn"] != 1511433414000, "createdOn sent on POST is ignored"

    put = fixture_json("sysdig/sysdig_blog2018_notificationChannel_put_request.json")
    ch = put["notificationChannel"]
    ch["id"] = created["id"]
    ch["version"] = created["version"]
    ch["options"]["url"] = url
    secret = register_secret("Splunk " + fake_splunk.token)
    ch["options"]["additionalHeaders"]["Authorization"] = secret
    r = herald.api("PUT", "/api/notificationChannels/%d" % created["id"], put)
    assert r.status == 200, r
    v18 = r.json["notificationChannel"]
    ref = fixture_json("sysdig/sysdig_blog2018_notificationChannel_get_item_v18.json")
    # sendTestNotification is an action flag, not state: the PUT fixture omits it
    assert set(ref) - {"sendTestNotification"} <= set(v18), "answer has every field of the article's GET"
    assert set(ref["options"]) <= set(v18["options"])
    assert v18["version"] == 2 and v18["name"] == "Splunk" and v18["type"] == "WEBHOOK"
    assert v18["options"]["additionalHeaders"] == {"Authorization": MASK}

    r = herald.api("POST", "/api/notificationChannels/%d/test" % created["id"])
    assert 200 <= r.status < 300, r
    q = fake_splunk.wait_for(1, pred=lambda q: q.path == "/services/collector/raw")[0]
    assert q.header("Authorization") == secret and q.status == 200
