"""EMAIL channel (SPEC 3 smtp.*, 4, 6) against a real SMTP server
(aiosmtpd, tests/fakes/smtp_sink.py): AUTH, with and without STARTTLS,
multipart text + HTML, ACTIVE then OK of one alert threaded by one key,
4xx retried, 5xx dead-lettered."""

import copy
import json
import secrets

import pytest

from conftest import dget, fixture_json, poll, register_secret, unique_event

from smtp_sink import SmtpSink

ARTICLE_EVENT = "sysdig/sysdig_blog2018_secure_webhook_read_sensitive_file.json"
MONITOR_ALERT = "sysdig/sysdig_monitor_webhook_metric_alert_active.json"
FROM = "herald@example.com"
RCPTS = ["oncall@example.com", "sre-team@example.org"]


def _smtp_herald(herald_factory, sink, starttls=False, insecure_auth=None, **kw):
    user = "herald-bot"
    pw = register_secret("smtp-pw-" + secrets.token_hex(10))
    sink.username, sink.password = user, pw
    smtp = {"url": sink.url, "from": "Herald <%s>" % FROM, "username": user, "password": "${HT_SMTP_PW}",
            "startTls": starttls}
    if insecure_auth is not None:
        smtp["allowInsecureAuth"] = insecure_auth
    return herald_factory(extra={"smtp": smtp}, env={"HT_SMTP_PW": pw}, **kw)


def _email_channel(herald, name, sink=None, **opts):
    o = {"emailRecipients": RCPTS, "notifyOnOk": True, "notifyOnResolve": True}
    if sink is not None and sink.ca_file:
        o["tls"] = {"caFile": sink.ca_file}
    o.update(opts)
    return herald.create_channel({"type": "EMAIL", "name": name, "enabled": True, "options": o})


@pytest.fixture
def sink():
    s = SmtpSink(username="herald-bot", password="placeholder")
    with s:
        yield s


@pytest.fixture
def tls_sink():
    s = SmtpSink(starttls=True, username="herald-bot", password="placeholder")
    with s:
        yield s


def test_active_then_ok_same_thread_plain_smtp(herald_factory, sink):
    h = _smtp_herald(herald_factory, sink, insecure_auth=True)
    _email_channel(h, "mail")
    active = fixture_json(MONITOR_ALERT)
    ok = copy.deepcopy(active)
    ok["state"] = "OK"
    ok["timestamp"] += 120000000
    h.ingest(json.dumps(active))
    h.ingest(json.dumps(ok))
    a, o = sink.wait_messages(2)
    for m in (a, o):
        assert m.mail_from == FROM
        assert sorted(m.rcpt_tos) == sorted(RCPTS)
        assert m.login == "herald-bot"
        assert not m.tls
        assert m.msg.get_content_type() == "multipart/alternative"
        assert m.header("From") == "Herald <%s>" % FROM
        assert m.header("Date") and m.header("Message-ID")
    assert a.header("Subject") == "[ALERT][Medium] alertName"
    assert o.header("Subject") == "[OK][Medium] alertName"
    assert a.header("X-Herald-State") == "ACTIVE" and o.header("X-Herald-State") == "OK"
    assert a.header("References") == o.header("References"), "OK threads under the ACTIVE it resolves"
    assert a.header("Message-ID") != o.header("Message-ID")
    text, html = a.part("text/plain"), a.part("text/html")
    assert "ACTIVE" in text and "2016-08-17T18:17:00" in text, text
    assert "alertDescription" in text
    assert "http://app.sysdigcloud.com/#/alerting/notifications/l:604800/1/details" in text
    assert 'href="http://app.sysdigcloud.com/#/alerting/notifications/l:604800/1/details"' in html
    assert "OK (condition cleared)" in o.part("text/plain")
    assert h.deliveries(status="failed") == []


def test_starttls_auth_article_event_and_test_notification(herald_factory, tls_sink):
    h = _smtp_herald(herald_factory, tls_sink, starttls=True)
    ch = _email_channel(h, "mail-tls", tls_sink)
    h.ingest(json.dumps(fixture_json(ARTICLE_EVENT)))
    m = tls_sink.wait_messages(1)[0]
    assert m.tls, "STARTTLS was used"
    assert m.login == "herald-bot"
    subj = m.header("Subject")
    assert subj.startswith("[ALERT][") and "Read sensitive file untrusted" in subj, subj
    text = m.part("text/plain")
    for needle in ("example-java-app", "redis-3463099497-2xxw3", "ip-10-0-8-165"):
        assert needle in text, (needle, text)

    r = h.api("POST", "/api/notificationChannels/%s/test" % ch["id"])
    assert r.status == 200, r
    t = tls_sink.wait_messages(2)[1]
    assert t.header("Subject").startswith("[TEST] herald test notification"), t.header("Subject")
    assert t.header("X-Herald-Test") == "true"
    assert "TEST notification" in t.part("text/plain")


def test_starttls_required_plain_server_fails_not_silently_plain(herald_factory, sink):
    """startTls: true against a server without STARTTLS never sends in clear."""
    h = _smtp_herald(herald_factory, sink, starttls=True)
    ch = _email_channel(h, "mail-strict")
    r = h.api("POST", "/api/notificationChannels/%s/test" % ch["id"])
    assert r.status == 502 and "STARTTLS" in r.text, r
    assert sink.messages == []


def test_credentials_require_starttls_unless_opted_out(herald_factory, sink):
    """With a username, STARTTLS is required even without startTls: against
    a server that does not offer it nothing is sent - no AUTH, no password,
    no message - and the delivery's error names STARTTLS."""
    h = _smtp_herald(herald_factory, sink)
    ch = _email_channel(h, "mail-creds")
    r = h.api("POST", "/api/notificationChannels/%s/test" % ch["id"])
    assert r.status == 502 and "STARTTLS" in r.text, r
    eid = h.ingest(json.dumps(unique_event("creds-1")))[0]
    pending = poll(lambda: [d for d in h.deliveries(status="pending") if dget(d, "eventId") == eid], 20,
                   what="the delivery waiting for a retry")
    assert "STARTTLS" in dget(pending[0], "lastError", default=""), pending
    assert "EHLO" in sink.commands, sink.commands
    assert "AUTH" not in sink.commands and "MAIL" not in sink.commands, sink.commands
    assert sink.messages == [] and sink.auth_failures == 0

    # the explicit opt-out sends the credentials in clear, as asked
    h2 = _smtp_herald(herald_factory, sink, insecure_auth=True, name="optout")
    _email_channel(h2, "mail-clear")
    h2.ingest(json.dumps(unique_event("creds-2")))
    m = sink.wait_messages(1)[0]
    assert m.login == "herald-bot" and not m.tls
    assert "AUTH" in sink.commands


def test_html_template_escapes_inserted_values(herald_factory, tls_sink):
    """options.template.html: what the event brings is text, not markup;
    the template's own markup stays, the text part is not escaped."""
    h = _smtp_herald(herald_factory, tls_sink, starttls=True)
    tmpl = {"subject": "[{{state}}] {{name}}", "text": "name: {{name}}",
            "html": "<h1 title=\"{{name}}\">{{name}}</h1><p>{{k8s.namespace}}</p>"}
    _email_channel(h, "mail-html", tls_sink, template=tmpl)
    name = "<script>alert(1)</script> & 'x' \"y\""
    h.ingest(json.dumps(unique_event("html-1", name=name)))
    m = tls_sink.wait_messages(1)[0]
    esc = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#39;x&#39; &quot;y&quot;"
    html = m.part("text/html")
    assert html.startswith('<h1 title="%s">%s</h1><p></p>' % (esc, esc)), html
    assert "<script>" not in html
    assert m.part("text/plain").rstrip("\r\n") == "name: " + name
    assert m.header("Subject") == "[ACTIVE] " + name


def test_4xx_retried_5xx_dead_letter(herald_factory, sink):
    h = _smtp_herald(herald_factory, sink, insecure_auth=True)
    _email_channel(h, "mail")
    sink.inject(2, "451 4.3.0 Try again later", stage="DATA")
    h.ingest(json.dumps(unique_event("retry-1")))
    m = sink.wait_messages(1, timeout=20)[0]
    assert "retry-1" not in (m.header("Subject") or "")  # generic event, no name: still delivered
    assert sink.rejected[:2] == ["451 4.3.0 Try again later"] * 2
    assert h.deliveries(status="failed") == []

    sink.fail_always("550 5.1.1 <oncall@example.com>: Recipient address rejected", stage="RCPT")
    eid = h.ingest(json.dumps(unique_event("dead-1")))[0]
    dead = poll(lambda: h.deliveries(status="failed"), 20, what="a dead letter")
    assert dget(dead[0], "eventId") == eid
    assert "550" in json.dumps(dead[0]) and "Recipient address rejected" in json.dumps(dead[0]), dead


def test_wrong_password_is_dead_and_secret_masked(herald_factory, sink):
    h = _smtp_herald(herald_factory, sink, insecure_auth=True)
    sink.password = "something-else-entirely"
    ch = _email_channel(h, "mail")
    h.ingest(json.dumps(unique_event("auth-1")))
    dead = poll(lambda: h.deliveries(status="failed"), 20, what="a dead letter")
    assert "535" in json.dumps(dead[0]), dead
    assert sink.auth_failures >= 1
    # the SMTP password lives in the config, never in the API
    assert h.env["HT_SMTP_PW"] not in json.dumps(h.get_channel(ch["id"]))


def test_validation_names_the_field(herald_factory, sink):
    h = _smtp_herald(herald_factory, sink)
    r = h.api("POST", "/api/notificationChannels", {"notificationChannel": {
        "type": "EMAIL", "name": "bad", "options": {"emailRecipients": ["not-an-address"]}}})
    assert r.status == 400 and "emailRecipients[0]" in r.text, r
    r = h.api("POST", "/api/notificationChannels", {"notificationChannel": {
        "type": "EMAIL", "name": "bad2", "options": {}}})
    assert r.status == 400 and "emailRecipients" in r.text, r


def test_no_smtp_configured_is_refused(herald):
    r = herald.api("POST", "/api/notificationChannels", {"notificationChannel": {
        "type": "EMAIL", "name": "nosmtp", "options": {"emailRecipients": RCPTS}}})
    assert r.status == 400 and "smtp.url" in r.text, r
