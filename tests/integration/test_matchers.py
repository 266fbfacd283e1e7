"""`match` as a list of Alertmanager-style matchers (SPEC 4): routing by
regex and negative matchers through the real binary, and a 400 that names the
matcher when a regex does not compile."""

from conftest import assert_error, unique_event
from recording import OkSink


def test_matchers_route_and_invalid_regex_is_400(herald):
    r = herald.api("POST", "/api/notificationChannels", {"notificationChannel": {
        "type": "WEBHOOK", "name": "bad", "enabled": True,
        "options": {"url": "http://127.0.0.1:9/", "match": ["raw.ns=~prod-.*", "name=~Test("]}}})
    assert_error(r, 400, "options.match[1]", "invalid regular expression", "Test(")

    with OkSink() as sink:
        herald.webhook("prod-not-infra", sink.url, match=["raw.ns=~prod-.*", "raw.team!=infra", "raw.kind!~(?i)debug"])
        sent = {
            "a": unique_event("a", ns="prod-web", team="web", kind="alert"),
            "b": unique_event("b", ns="prod-db", team="infra", kind="alert"),
            "c": unique_event("c", ns="dev", team="web", kind="alert"),
            "d": unique_event("d", ns="prodx", team="web", kind="alert"),       # anchored: not prod-
            "e": unique_event("e", ns="prod-web", team="web", kind="DEBUG"),
            "f": unique_event("f", ns="prod-api", kind="alert"),                # no team: "" != infra
        }
        for ev in sent.values():
            herald.ingest(ev)
        got = sink.wait_for(2, timeout=10)
        herald.ingest(unique_event("fence", ns="prod-z", team="web", kind="alert"))
        sink.wait_for(3, timeout=10)
        markers = sorted(b for b in "abcdef" if any(('"marker": "%s"' % b).encode() in q.body or
                                                    ('"marker":"%s"' % b).encode() in q.body for q in sink.requests))
        assert markers == ["a", "f"], markers
        assert got
