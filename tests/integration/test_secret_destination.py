"""test_secret_destination.py - a stored secret stays with its destination
(SPEC section 4, issue 11 part 2), as an attacker holding an admin or a read
token would try it:

- a PUT that sends the mask back while pointing the channel somewhere else
  (another url, an endpoint, another type) is refused with 400 naming the
  secrets, and the attacker's sink receives nothing, test notification
  included;
- a sink that echoes what it was sent does not get the secret into the test
  answer, the dead letter or the log;
- Slack's hooks URL and the credentials inside any URL are masked for
  readers, and GET -> PUT keeps them.
"""

import json

from conftest import assert_error, poll, register_secret
from recording import FakeServer


class EchoSink(FakeServer):
    """Answers 400 with every header it received, like a misconfigured proxy
    or a hostile sink would."""

    def handle(self, req):
        return 400, [("Content-Type", "application/json")], json.dumps({"echo": req.headers}).encode()


class OkSink(FakeServer):
    def handle(self, req):
        return 200, [("Content-Type", "application/json")], b"{}"


def put_channel(h, ch, **changes):
    ch = json.loads(json.dumps(ch))
    for k, v in changes.items():
        if k == "options":
            ch["options"].update(v)
        else:
            ch[k] = v
    return h.api("PUT", "/api/notificationChannels/%s" % ch["id"], {"notificationChannel": ch})


def test_masked_header_does_not_follow_a_new_url(herald):
    token = register_secret("Splunk 2b8868fe198cf1203256e6af6515bfad")
    with OkSink() as splunk, OkSink() as attacker:
        ch = herald.webhook("splunk", splunk.url + "/services/collector/raw",
                            additionalHeaders={"Authorization": token})
        got = herald.get_channel(ch["id"])
        assert got["options"]["additionalHeaders"]["Authorization"] == "********"
        # The exact request, with the test notification asked for.
        r = put_channel(herald, got, sendTestNotification=True,
                        options={"url": attacker.url + "/"})
        assert_error(r, 400, "options.additionalHeaders.Authorization", "destination", "options.url")
        assert token not in r.text
        assert attacker.count() == 0, attacker.snapshot()
        # Nothing changed: the stored channel still points at splunk.
        assert herald.get_channel(ch["id"])["version"] == got["version"]
        assert herald.get_channel(ch["id"])["options"]["url"] == splunk.url + "/services/collector/raw"
        # Same origin, another path: the mask keeps the secret (the article's flow).
        r = put_channel(herald, got, options={"url": splunk.url + "/services/collector/event"})
        assert r.status == 200, r
        # Sent again in clear, the admin means it: accepted.
        r = put_channel(herald, herald.get_channel(ch["id"]), sendTestNotification=True,
                        options={"url": attacker.url + "/",
                                 "additionalHeaders": {"Authorization": "Splunk attacker-own-token"}})
        assert r.status == 200, r
        attacker.wait_for(1)
        assert attacker.snapshot()[0].header("Authorization") == "Splunk attacker-own-token"


def test_masked_key_does_not_follow_a_new_endpoint_or_type(herald):
    key = register_secret("pdroutingkey0123456789abcdef0123")
    es_key = register_secret("es-api-key-0123456789abcdef")
    with OkSink() as pd, OkSink() as attacker:
        ch = herald.create_channel({"type": "PAGER_DUTY", "name": "pd", "options": {
            "serviceKey": key, "endpoint": pd.url}})
        got = herald.get_channel(ch["id"])
        assert got["options"]["serviceKey"] == "********"
        r = put_channel(herald, got, sendTestNotification=True, options={"endpoint": attacker.url})
        assert_error(r, 400, "options.serviceKey", "options.endpoint")
        # An endpoint added where there was none is a new destination too.
        es = herald.create_channel({"type": "ELASTICSEARCH", "name": "es", "options": {
            "url": pd.url + "/", "index": "i", "apiKey": es_key}})
        got = herald.get_channel(es["id"])
        r = put_channel(herald, got, type="OPSGENIE", sendTestNotification=True,
                        options={"endpoint": attacker.url})
        assert_error(r, 400, "options.apiKey", "type")
        assert attacker.count() == 0, attacker.snapshot()


def test_echoing_sink_gets_no_secret_into_answers_or_logs(herald):
    token = register_secret("Bearer echo-secret-7f3a9c1d2e")
    password = register_secret("es-password-5b6c7d8e")
    with EchoSink() as echo:
        ch = herald.webhook("echo", echo.url + "/in", additionalHeaders={"Authorization": token})
        r = herald.api("POST", "/api/notificationChannels/%s/test" % ch["id"])
        assert r.status == 502, r
        assert "echo-secret" not in r.text, r.text
        assert "authorization" in r.text.lower()  # the echo itself is shown, scrubbed
        es = herald.create_channel({"type": "ELASTICSEARCH", "name": "es-echo", "options": {
            "url": echo.url + "/", "index": "i", "username": "elastic", "password": password}})
        r = herald.api("POST", "/api/notificationChannels/%s/test" % es["id"])
        assert password not in r.text and "ZWxhc3RpYzplcy1wYXNzd29yZC01YjZjN2Q4ZQ" not in r.text, r.text
        # A real delivery: 400 is a dead letter whose last error quotes the sink.
        herald.ingest({"name": "echo me", "severity": 2}, fmt="generic")
        dead = poll(lambda: [d for d in herald.deliveries(status="failed") if d["channelId"] == ch["id"]],
                    what="the dead letter of the echoing sink")
        text = json.dumps(dead)
        assert "echo-secret" not in text and "authorization" in text.lower(), text
    herald.stop()
    log = herald.log(all_starts=True)
    assert "echo-secret" not in log and password not in log


def test_credential_urls_masked_and_kept(herald):
    hook = register_secret("https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX")
    with OkSink() as es:
        url = es.url.replace("http://", "http://elastic:" + register_secret("pw-in-url-1234") + "@")
        url += "/?token=" + register_secret("query-token-5678")
        sl = herald.create_channel({"type": "SLACK", "name": "slack", "options": {"url": hook}})
        ec = herald.create_channel({"type": "WEBHOOK", "name": "creds-in-url", "options": {"url": url}})
        for who in ("admin", "read"):
            r = herald.api("GET", "/api/notificationChannels", token=who)
            assert r.status == 200, r
            assert "XXXXsecretXXXX" not in r.text and "pw-in-url" not in r.text and "query-token" not in r.text
        got = herald.get_channel(ec["id"])
        assert got["options"]["url"] == es.url.replace("http://", "http://********@") + "/?token=********"
        assert herald.get_channel(sl["id"])["options"]["url"] == "********"
        # GET -> PUT keeps the credentials: the sink still sees them.
        r = put_channel(herald, got, sendTestNotification=True, options={"notifyOnOk": False})
        assert r.status == 200, r
        es.wait_for(1)
        req = es.snapshot()[0]
        assert req.header("Authorization", "").startswith("Basic "), req.headers
        assert req.q("token") == "query-token-5678"
