"""The Sysdig-compatible /api/notificationChannels contract (SPEC section 4)."""

import json
import time

from conftest import MASK, assert_error, register_secret


def _webhook(name, url, **opts):
    o = {"url": url, "notifyOnOk": True, "notifyOnResolve": True}
    o.update(opts)
    return {"type": "WEBHOOK", "name": name, "enabled": True, "options": o}


def _post(herald, obj):
    return herald.api("POST", "/api/notificationChannels", {"notificationChannel": obj})


def _put(herald, cid, obj):
    return herald.api("PUT", "/api/notificationChannels/%s" % cid, {"notificationChannel": obj})


def test_envelopes_create_get_list(herald, fake_es):
    r = herald.api("GET", "/api/notificationChannels")
    assert r.status == 200 and r.json == {"notificationChannels": []}, r

    # python-sdc-client sends id/version/createdOn/modifiedOn as null, and teamId.
    t0 = int(time.time() * 1000)
    obj = {"id": None, "version": None, "createdOn": None, "modifiedOn": None, "teamId": 42,
           "type": "WEBHOOK", "name": "es", "enabled": True,
           "options": {"url": fake_es.url + "/idx/_doc", "notifyOnOk": True, "notifyOnResolve": True,
                       "foo": {"bar": [1, 2]}}}
    r = _post(herald, obj)
    t1 = int(time.time() * 1000)
    assert r.status == 201, r
    assert set(r.json) == {"notificationChannel"}
    ch = r.json["notificationChannel"]
    assert isinstance(ch["id"], int) and ch["id"] > 0
    assert ch["version"] == 1
    assert t0 - 5000 <= ch["createdOn"] <= t1 + 5000, "epoch milliseconds"
    assert t0 - 5000 <= ch["modifiedOn"] <= t1 + 5000
    assert ch["teamId"] == 42, "unknown top-level fields are kept"
    assert ch["options"]["foo"] == {"bar": [1, 2]}, "unknown options are kept"
    assert ch["name"] == "es" and ch["type"] == "WEBHOOK" and ch["enabled"] is True
    assert ch["options"]["url"] == fake_es.url + "/idx/_doc"

    g = herald.api("GET", "/api/notificationChannels/%d" % ch["id"])
    assert g.status == 200 and set(g.json) == {"notificationChannel"}
    assert g.json["notificationChannel"] == ch

    lst = herald.api("GET", "/api/notificationChannels")
    assert lst.status == 200 and [c["id"] for c in lst.json["notificationChannels"]] == [ch["id"]]
    assert lst.json["notificationChannels"][0] == ch

    # herald owns id/version/times: values sent on POST are ignored.
    r = _post(herald, dict(_webhook("es2", fake_es.url + "/idx/_doc"), id=ch["id"], version=7,
                           createdOn=1511433414000, modifiedOn=1519828577000))
    assert r.status == 201, r
    ch2 = r.json["notificationChannel"]
    assert ch2["id"] != ch["id"] and ch2["version"] == 1 and ch2["createdOn"] >= t0 - 5000
    assert len(herald.api("GET", "/api/notificationChannels").json["notificationChannels"]) == 2


def test_conflicts_and_not_found(herald, fake_es):
    a = herald.create_channel(_webhook("a", fake_es.url + "/a/_doc"))
    b = herald.create_channel(_webhook("b", fake_es.url + "/b/_doc"))
    assert_error(_post(herald, _webhook("a", fake_es.url + "/x/_doc")), 409)

    # stale version
    stale = dict(a, version=a["version"] + 5)
    assert_error(_put(herald, a["id"], stale), 409)
    old = dict(a)
    ok = _put(herald, a["id"], dict(a, enabled=False))
    assert ok.status == 200 and ok.json["notificationChannel"]["version"] == 2
    assert ok.json["notificationChannel"]["enabled"] is False
    assert_error(_put(herald, a["id"], old), 409)  # version 1 is no longer current
    # renaming onto another channel's name
    assert_error(_put(herald, b["id"], dict(b, name="a")), 409)
    # unknown ids
    assert_error(herald.api("GET", "/api/notificationChannels/999999"), 404)
    assert_error(_put(herald, 999999, dict(b, id=999999)), 404)
    assert_error(herald.api("DELETE", "/api/notificationChannels/999999"), 404)
    assert_error(herald.api("POST", "/api/notificationChannels/999999/test"), 404)
    assert herald.api("GET", "/api/notificationChannels/not-a-number").status in (400, 404)
    assert_error(herald.api("GET", "/api/no/such/route"), 404)


def test_validation_names_the_field(herald, fake_es):
    e = assert_error(_post(herald, {"type": "WEBHOOK", "name": "v", "enabled": True, "options": {}}), 400)
    assert "options.url" in e
    e = assert_error(_post(herald, _webhook("v", "not a url")), 400)
    assert "options.url" in e
    e = assert_error(_post(herald, {"type": "NO_SUCH_TYPE", "name": "v", "enabled": True,
                                    "options": {"url": fake_es.url}}), 400)
    assert "type" in e
    e = assert_error(_post(herald, {"type": "WEBHOOK", "enabled": True, "options": {"url": fake_es.url}}), 400)
    assert "name" in e
    e = assert_error(_post(herald, _webhook("v", fake_es.url, minSeverity=9)), 400)
    assert "minSeverity" in e
    assert_error(herald.api("POST", "/api/notificationChannels", b"{not json",
                            headers={"Content-Type": "application/json"}), 400)
    assert_error(herald.api("POST", "/api/notificationChannels", {"name": "no-envelope"}), 400)
    # nothing was stored by any of these
    assert herald.api("GET", "/api/notificationChannels").json["notificationChannels"] == []
    # PUT is validated too
    ch = herald.create_channel(_webhook("v", fake_es.url + "/v/_doc"))
    bad = dict(ch, options=dict(ch["options"], url="ftp//nope"))
    e = assert_error(_put(herald, ch["id"], bad), 400)
    assert "options.url" in e
    assert herald.get_channel(ch["id"])["version"] == 1


def test_secrets_masked_and_kept_on_put(herald, fake_splunk):
    url = fake_splunk.url + "/services/collector/raw"
    s1 = register_secret("Splunk " + fake_splunk.token)
    xkey = register_secret("xkey-9f8e7d6c5b4a")
    r = _post(herald, _webhook("sp", url, additionalHeaders={"Authorization": s1, "X-Api-Key": xkey}))
    assert r.status == 201, r
    ch = r.json["notificationChannel"]
    assert ch["options"]["additionalHeaders"] == {"Authorization": MASK, "X-Api-Key": MASK}
    assert s1 not in r.text and xkey not in r.text

    # GET -> PUT back as is (with the masks): the stored secrets are kept.
    got = herald.get_channel(ch["id"])
    assert got["options"]["additionalHeaders"]["Authorization"] == MASK
    got["options"]["notifyOnOk"] = False
    r = _put(herald, ch["id"], got)
    assert r.status == 200 and r.json["notificationChannel"]["options"]["additionalHeaders"]["Authorization"] == MASK
    r = herald.api("POST", "/api/notificationChannels/%d/test" % ch["id"])
    assert 200 <= r.status < 300, r
    q = fake_splunk.wait_for(1)[-1]
    assert q.header("Authorization") == s1 and q.header("X-Api-Key") == xkey
    assert q.status == 200

    # Sending a new value replaces it.
    fake_splunk.tokens.add("rotated-token-0123456789")
    s2 = register_secret("Splunk rotated-token-0123456789")
    got = herald.get_channel(ch["id"])
    got["options"]["additionalHeaders"]["Authorization"] = s2
    assert _put(herald, ch["id"], got).status == 200
    herald.api("POST", "/api/notificationChannels/%d/test" % ch["id"])
    q = fake_splunk.wait_for(2)[-1]
    assert q.header("Authorization") == s2 and q.header("X-Api-Key") == xkey
    for path in ("/api/notificationChannels", "/api/notificationChannels/%d" % ch["id"]):
        text = herald.api("GET", path).text
        assert s1 not in text and s2 not in text and xkey not in text


def test_send_test_notification(herald, fake_es):
    def tests_received():
        return fake_es.count(lambda q: q.method == "POST")

    # top level (older clients) on POST
    a = herald.create_channel(dict(_webhook("t1", fake_es.url + "/t1/_doc"), sendTestNotification=True))
    fake_es.wait_for(1, pred=lambda q: q.path.startswith("/t1/"))
    # inside options (newer clients) on POST
    herald.create_channel(_webhook("t2", fake_es.url + "/t2/_doc", sendTestNotification=True))
    fake_es.wait_for(1, pred=lambda q: q.path.startswith("/t2/"))
    # false: nothing sent; checked below after a later notification proves herald had time
    c = herald.create_channel(dict(_webhook("t3", fake_es.url + "/t3/_doc"), sendTestNotification=False))
    # on PUT
    got = herald.get_channel(a["id"])
    got["sendTestNotification"] = True
    assert _put(herald, a["id"], got).status == 200
    fake_es.wait_for(2, pred=lambda q: q.path.startswith("/t1/"))
    assert fake_es.count(lambda q: q.path.startswith("/t3/")) == 0
    assert tests_received() == 3

    # POST /{id}/test answers with the sink's result.
    r = herald.api("POST", "/api/notificationChannels/%d/test" % c["id"])
    assert r.status == 200, r
    assert "201" in json.dumps(r.json), "the sink's status is in the answer: %r" % r
    fake_es.wait_for(1, pred=lambda q: q.path.startswith("/t3/"))
    fake_es.fail_always(status=400)
    r = herald.api("POST", "/api/notificationChannels/%d/test" % c["id"])
    assert r.json is not None and "400" in json.dumps(r.json), r
    assert "mapper_parsing_exception" in json.dumps(r.json), "the sink's answer is reported: %r" % r


def test_delete(herald, fake_es):
    ch = herald.create_channel(_webhook("d", fake_es.url + "/d/_doc"))
    r = herald.api("DELETE", "/api/notificationChannels/%d" % ch["id"])
    assert r.status == 204 and r.body == b"", r
    assert_error(herald.api("GET", "/api/notificationChannels/%d" % ch["id"]), 404)
    assert_error(herald.api("DELETE", "/api/notificationChannels/%d" % ch["id"]), 404)
    assert herald.api("GET", "/api/notificationChannels").json["notificationChannels"] == []
    # the name is free again
    assert herald.create_channel(_webhook("d", fake_es.url + "/d/_doc"))["version"] == 1


def test_put_replaces_the_object(herald, fake_es):
    ch = herald.create_channel(dict(_webhook("r", fake_es.url + "/r/_doc", extra=1), teamId=7))
    new = {"id": ch["id"], "version": ch["version"], "type": "WEBHOOK", "name": "r2", "enabled": True,
           "options": {"url": fake_es.url + "/r2/_doc"}}
    r = _put(herald, ch["id"], new)
    assert r.status == 200, r
    out = r.json["notificationChannel"]
    assert out["name"] == "r2" and out["options"]["url"] == fake_es.url + "/r2/_doc"
    assert "extra" not in out["options"] and "teamId" not in out, "PUT replaces the object"
    assert out["createdOn"] == ch["createdOn"] and out["id"] == ch["id"]
