"""Secrets never leak (SPEC sections 2 and 4): not in herald's log, not in
any GET answer. Runs last (file order), so test_every_session_log_is_clean
also checks every log written by the tests before it."""

import json
import os
import secrets

from conftest import MASK, SESSION_LOGS, SESSION_SECRETS, poll, register_secret, unique_event


def test_no_secret_in_answers_or_log(herald, fake_splunk, fake_es):
    hdr = register_secret("Splunk " + fake_splunk.token)
    pw = register_secret("pw-" + secrets.token_hex(8))
    apikey = register_secret("ak-" + secrets.token_hex(8))
    tok = register_secret("tk-" + secrets.token_hex(8))
    bad_hdr = register_secret("Splunk bad-" + secrets.token_hex(8))
    presented = register_secret("Bearer-guess-" + secrets.token_hex(8))
    values = [hdr, pw, apikey, tok, bad_hdr, presented, fake_splunk.token,
              herald.admin_token, herald.ingest_token, herald.read_token]

    good = herald.webhook("sp-good", fake_splunk.url + "/services/collector/raw",
                          additionalHeaders={"Authorization": hdr}, password=pw, apiKey=apikey, token=tok)
    assert good["options"]["additionalHeaders"]["Authorization"] == MASK
    for k in ("password", "apiKey", "token"):
        assert good["options"][k] == MASK, k
    # a channel whose secret the sink refuses: failures get logged, the secret must not be
    bad = herald.webhook("sp-bad", fake_splunk.url + "/services/collector/raw",
                         additionalHeaders={"Authorization": bad_hdr})
    # a channel whose sink is down: connection errors get logged
    herald.webhook("es-down", fake_es.url + "/s/_doc", additionalHeaders={"Authorization": hdr})
    fake_es.down()
    # a wrong bearer token presented to herald
    assert herald.api("GET", "/api/events", token=presented).status == 401

    ids = [herald.ingest(json.dumps(unique_event("sec-%d" % i)))[0] for i in range(3)]
    fake_splunk.wait_events(3)
    poll(lambda: len(herald.deliveries(status="failed", channelId=bad["id"])) == 3, 15,
         what="dead letters of the refused channel")
    herald.api("POST", "/api/notificationChannels/%d/test" % bad["id"])
    herald.api("POST", "/api/notificationChannels/%d/test" % good["id"])

    answers = [herald.api("GET", p).text for p in (
        "/api/notificationChannels", "/api/notificationChannels/%d" % good["id"],
        "/api/notificationChannels/%d" % bad["id"], "/api/events", "/api/deliveries",
        "/api/deliveries?status=failed", "/metrics", "/api/stats?groupBy=severity")]
    answers += [herald.api("GET", "/api/events/%s" % i).text for i in ids]
    for text in answers:
        for v in values:
            assert v not in text, "a secret is in a GET answer"

    herald.stop()
    log = herald.log(all_starts=True)
    assert log.strip(), "herald logs something (a start line at least)"
    for v in values:
        assert v not in log, "a secret is in herald's log"


def test_every_session_log_is_clean():
    """Every herald log of this session against every secret registered."""
    leaks = []
    for path in SESSION_LOGS:
        if not os.path.exists(path):
            continue
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        for v in SESSION_SECRETS:
            if v in text:
                leaks.append("%s holds a secret of length %d" % (path, len(v)))
    assert not leaks, "\n".join(leaks)
