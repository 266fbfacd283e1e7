"""The auth matrix (SPEC section 4 "Auth") over every route."""

import json

import pytest

from conftest import assert_error, unique_event

EVENT = json.dumps(unique_event("auth"))
CHANNEL = {"notificationChannel": {"type": "WEBHOOK", "name": "auth", "enabled": True,
                                   "options": {"url": "http://127.0.0.1:9/x"}}}

# (method, path, body); ids that do not exist are fine: auth is checked first.
READS = [
    ("GET", "/api/notificationChannels", None),
    ("GET", "/api/notificationChannels/1", None),
    ("GET", "/api/events", None),
    ("GET", "/api/events/" + "0" * 32, None),
    ("GET", "/api/stats?groupBy=severity", None),
    ("GET", "/api/deliveries", None),
    ("GET", "/api/deliveries?status=failed", None),
    ("GET", "/metrics", None),
]
WRITES = [
    ("POST", "/api/notificationChannels", CHANNEL),
    ("PUT", "/api/notificationChannels/1", CHANNEL),
    ("DELETE", "/api/notificationChannels/1", None),
    ("POST", "/api/notificationChannels/1/test", None),
    ("POST", "/api/notificationChannels/1/replay?from=0&to=1", None),
    ("POST", "/api/deliveries/1/retry", None),
    ("POST", "/api/deliveries/retry?channelId=1", None),
]
INGEST = [("POST", "/api/events", EVENT)]
ALL = READS + WRITES + INGEST


def _call(herald, route, token):
    method, path, body = route
    hdrs = {"Content-Type": "application/json"} if body is not None else {}
    if token is not None:
        hdrs["Authorization"] = token
    return herald.api(method, path, body, token=None, headers=hdrs)


@pytest.mark.parametrize("bad", [None, "Bearer nope-not-a-token", "Bearer ", "Basic YWRtaW46YWRtaW4=", "bearer"],
                         ids=["missing", "wrong", "empty", "basic", "scheme-only"])
def test_unauthenticated_is_401_everywhere(herald, bad):
    for route in ALL:
        assert_error(_call(herald, route, bad), 401)
    # a prefix of a real token is not the token
    assert_error(_call(herald, READS[0], "Bearer " + herald.admin_token[:-1]), 401)
    assert_error(_call(herald, READS[0], "Bearer " + herald.admin_token + "x"), 401)


def test_open_routes(herald):
    for path in ("/healthz", "/readyz"):
        r = herald.api("GET", path, token=None)
        assert r.status == 200, (path, r)
    r = herald.api("GET", "/", token=None)
    assert r.status not in (401, 403), "the dashboard's static page is open"


def test_ingest_scope(herald):
    tok = "Bearer " + herald.ingest_token
    r = _call(herald, INGEST[0], tok)
    assert r.status == 202, r
    for route in READS + WRITES:
        assert_error(_call(herald, route, tok), 403)


def test_read_scope(herald):
    tok = "Bearer " + herald.read_token
    for route in READS:
        r = _call(herald, route, tok)
        assert r.status not in (401, 403), (route, r)
    assert herald.api("GET", "/metrics", token="read").status == 200
    assert herald.api("GET", "/api/notificationChannels", token="read").status == 200
    for route in WRITES + INGEST:
        assert_error(_call(herald, route, tok), 403)


def test_admin_everything(herald):
    tok = "Bearer " + herald.admin_token
    for route in ALL:
        r = _call(herald, route, tok)
        assert r.status not in (401, 403), (route, r)


def test_metrics_public(herald_factory):
    h = herald_factory(extra={"metrics": {"public": True}})
    r = h.api("GET", "/metrics", token=None)
    assert r.status == 200 and "herald_" in r.text, r
    assert_error(h.api("GET", "/api/events", token=None), 401)


def test_nosniff_on_every_answer(herald_factory):
    """X-Content-Type-Options: nosniff on every answer, errors included: the
    ones refused on the headers (401, 404, 405, 413) as well as the handlers'."""
    h = herald_factory(extra={"limits": {"maxBodyBytes": 1024}})
    ch = h.webhook("nosniff", "http://127.0.0.1:9/x")
    answers = {
        "healthz": h.api("GET", "/healthz", token=None),
        "readyz": h.api("GET", "/readyz", token=None),
        "dashboard": h.api("GET", "/", token=None),
        "asset 404": h.api("GET", "/assets/missing.js", token=None),
        "401 missing": h.api("GET", "/api/events", token=None),
        "401 wrong": h.api("GET", "/api/events", token="nope-not-a-token-at-all"),
        "403": h.api("GET", "/api/events", token="ingest"),
        "404": h.api("GET", "/no/such/path", token=None),
        "405": h.api("PUT", "/api/events", token="admin"),
        "200 list": h.api("GET", "/api/events", token="read"),
        "404 event": h.api("GET", "/api/events/" + "0" * 32, token="read"),
        "400 ingest": h.post_events("{not json"),
        "413 ingest": h.post_events("x" * 4096),
        "202 ingest": h.post_events(EVENT),
        "metrics": h.api("GET", "/metrics", token="read"),
        "204 delete": h.api("DELETE", "/api/notificationChannels/%s" % ch["id"]),
    }
    expect = {"401 missing": 401, "401 wrong": 401, "403": 403, "404": 404, "405": 405, "404 event": 404,
              "asset 404": 404, "400 ingest": 400, "413 ingest": 413, "202 ingest": 202, "204 delete": 204}
    for what, r in answers.items():
        assert r.status == expect.get(what, 200), (what, r)
        got = [v for k, v in r.headers.items() if k == "x-content-type-options"]
        assert got == ["nosniff"], (what, r.status, r.headers)
