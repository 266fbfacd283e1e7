"""SNS channel (SPEC 4, 6): Publish to every topic ARN, AWS Signature V4
checked by fake_sns with botocore, credentials from options or the AWS_*
environment, throttling retried, InvalidParameter dead-lettered."""

import copy
import json
import secrets

import pytest

from conftest import MASK, dget, fixture_json, poll, register_secret, unique_event

from fake_sns import FakeSNS

MONITOR_ALERT = "sysdig/sysdig_monitor_webhook_metric_alert_active.json"
ARN_US = "arn:aws:sns:us-east-1:123456789012:herald-alerts"
ARN_EU = "arn:aws:sns:eu-west-1:123456789012:herald-alerts-eu"
ARN_FIFO = "arn:aws:sns:us-east-1:123456789012:herald.fifo"


def _creds(token=False):
    key = "AKIA" + secrets.token_hex(8).upper()
    secret = register_secret(secrets.token_urlsafe(30))
    tok = register_secret("tok-" + secrets.token_urlsafe(40)) if token else None
    return key, secret, tok


@pytest.fixture
def sns_creds():
    return _creds(token=True)


@pytest.fixture
def fake_sns(sns_creds):
    key, secret, tok = sns_creds
    with FakeSNS({key: (secret, tok)}, [ARN_US, ARN_EU, ARN_FIFO]) as f:
        yield f


def _sns_channel(herald, fake, name, arns, **opts):
    o = {"snsTopicARNs": arns, "endpoint": fake.url, "notifyOnOk": True, "notifyOnResolve": True}
    o.update(opts)
    return herald.create_channel({"type": "SNS", "name": name, "enabled": True, "options": o})


def _failed(herald):
    return herald.deliveries(status="failed")


def test_active_then_ok_published_to_every_topic_signed(herald, fake_sns, sns_creds):
    key, secret, tok = sns_creds
    ch = _sns_channel(herald, fake_sns, "sns", [ARN_US, ARN_EU],
                      accessKeyId=key, secretAccessKey=secret, sessionToken=tok)
    # secrets masked in the API
    got = herald.get_channel(ch["id"])
    assert got["options"]["secretAccessKey"] == MASK and got["options"]["sessionToken"] == MASK
    assert got["options"]["accessKeyId"] == key

    active = fixture_json(MONITOR_ALERT)
    ok = copy.deepcopy(active)
    ok["state"] = "OK"
    ok["timestamp"] += 120000000
    herald.ingest(json.dumps(active))
    herald.ingest(json.dumps(ok))
    pub = fake_sns.wait_published(4)
    assert fake_sns.auth_errors == []
    # one Publish per topic, in the topic's own region; ACTIVE (both topics) before OK
    assert [(p["topic"], p["region"]) for p in pub] == [(ARN_US, "us-east-1"), (ARN_EU, "eu-west-1")] * 2
    assert all(p["key_id"] == key for p in pub)
    a, o = pub[0], pub[2]
    assert a["subject"] == "[ALERT][Medium] alertName", a["subject"]
    assert o["subject"] == "[OK][Medium] alertName", o["subject"]
    ma, mo = json.loads(a["message"]), json.loads(o["message"])
    assert ma["state"] == "ACTIVE" and mo["state"] == "OK"
    assert ma["alertKey"] and ma["alertKey"] == mo["alertKey"], "OK resolves what ACTIVE opened"
    assert ma["name"] == "alertName" and ma["source"] == "sysdig_monitor"
    assert "test" not in ma
    assert _failed(herald) == []
    # every request carried the session token and a botocore-verified signature
    reqs = fake_sns.snapshot(lambda q: q.status == 200)
    assert len(reqs) == 4
    assert all(q.header("x-amz-security-token") == tok for q in reqs)
    assert all("SignedHeaders=" in q.header("authorization") and "/sns/aws4_request" in q.header("authorization")
               for q in reqs)


def test_environment_credentials_and_test_notification(herald_factory):
    key, secret, _ = _creds()
    with FakeSNS({key: (secret, None)}, [ARN_US]) as fake:
        h = herald_factory(env={"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
                                "AWS_SESSION_TOKEN": ""})
        ch = _sns_channel(h, fake, "sns-env", [ARN_US])
        r = h.api("POST", "/api/notificationChannels/%s/test" % ch["id"])
        assert r.status == 200, r
        pub = fake.wait_published(1)
        assert pub[0]["subject"].startswith("[TEST] herald test notification"), pub[0]["subject"]
        m = json.loads(pub[0]["message"])
        assert m["test"] is True
        assert fake.auth_errors == []
        assert "x-amz-security-token" not in fake.requests[0].headers


def test_throttling_retried_then_invalid_parameter_dead(herald, fake_sns, sns_creds):
    key, secret, tok = sns_creds
    _sns_channel(herald, fake_sns, "sns", [ARN_US], accessKeyId=key, secretAccessKey=secret, sessionToken=tok)
    fake_sns.throttle(2)
    eid = herald.ingest(json.dumps(unique_event("thr-1")))[0]
    pub = fake_sns.wait_published(1, timeout=20)
    assert json.loads(pub[0]["message"])["id"] == eid
    # the third request's status is recorded once its answer is written,
    # just after the message itself: wait for it
    fake_sns.wait_until(lambda: len(fake_sns.requests) >= 3 and fake_sns.requests[2].status is not None, 10,
                        what="the third request's answer")
    statuses = [q.status for q in fake_sns.snapshot()]
    assert statuses == [400, 400, 200], statuses
    assert _failed(herald) == []

    fake_sns.fail_always(status=400, body=("InvalidParameter", "Invalid parameter: Message"))
    eid = herald.ingest(json.dumps(unique_event("inv-1")))[0]
    dead = poll(lambda: _failed(herald), 20, what="a dead letter")
    assert dget(dead[0], "eventId") == eid
    assert "InvalidParameter" in json.dumps(dead[0]), dead


def test_wrong_secret_is_refused_by_signature_check(herald, fake_sns, sns_creds):
    key, _, tok = sns_creds
    _sns_channel(herald, fake_sns, "sns-bad", [ARN_US], accessKeyId=key,
                 secretAccessKey=register_secret("not-the-secret-" + secrets.token_hex(8)), sessionToken=tok)
    herald.ingest(json.dumps(unique_event("sig-1")))
    dead = poll(lambda: _failed(herald), 20, what="a dead letter")
    assert "SignatureDoesNotMatch" in json.dumps(dead[0]), dead
    assert fake_sns.published == []


def test_fifo_topic_dedup_and_validation(herald, fake_sns, sns_creds):
    key, secret, tok = sns_creds
    _sns_channel(herald, fake_sns, "sns-fifo", [ARN_FIFO], accessKeyId=key, secretAccessKey=secret,
                 sessionToken=tok)
    eid = herald.ingest(json.dumps(unique_event("fifo-1")))[0]
    pub = fake_sns.wait_published(1)
    assert pub[0]["params"]["MessageGroupId"] == "herald"
    assert pub[0]["params"]["MessageDeduplicationId"] == eid

    r = herald.api("POST", "/api/notificationChannels", {"notificationChannel": {
        "type": "SNS", "name": "bad", "options": {"snsTopicARNs": ["arn:aws:sqs:us-east-1:1:q"],
                                                  "accessKeyId": key, "secretAccessKey": secret}}})
    assert r.status == 400 and "snsTopicARNs[0]" in r.text, r
