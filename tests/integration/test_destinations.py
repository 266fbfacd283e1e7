"""Outbound destinations (SPEC section 3, security.denyDestinations): a
delivery or a test notification whose address, after DNS, is in the deny list
is refused before any connection, as a permanent failure that says so; a
sink's redirect is never followed; a bad block is a config error naming the
key and line; SIGHUP applies a new list."""

import json
import re

import pytest

from conftest import Herald, dget, free_port, poll, unique_event
from recording import FakeServer

DENIED = "denied by security.denyDestinations"


class Sink(FakeServer):
    """Records every request and answers 200 {}."""

    name = "sink"

    def handle(self, req):
        return 200, [], b"{}"


@pytest.fixture
def sink():
    with Sink() as s:
        yield s


@pytest.fixture
def other_sink():
    with Sink() as s:
        yield s


def _channel_test(herald, cid):
    """POST /{id}/test: (status, the whole answer as text)."""
    r = herald.api("POST", "/api/notificationChannels/%d/test" % cid)
    return r.status, json.dumps(r.json) if r.json is not None else r.text


def _failed(herald):
    return herald.deliveries(status="failed")


def _last_error(d):
    return str(dget(d, "lastError", "last_error", default=""))


def test_metadata_address_refused_by_default(herald):
    """(a) No security key: 169.254.169.254 (cloud metadata) is refused before
    connecting, in the test answer, the dead letter and the log."""
    url = "http://169.254.169.254:%d/latest/meta-data/" % free_port()
    ch = herald.webhook("metadata", url, timeoutMs=3000)
    status, text = _channel_test(herald, ch["id"])
    assert status == 502, text
    assert "destination 169.254.169.254 " + DENIED in text, text
    assert "imeout" not in text and "onnect" not in text, "refused, not tried: %s" % text

    eid = herald.ingest(json.dumps(unique_event("meta-1")))[0]
    dead = poll(lambda: _failed(herald), 10, what="a dead letter for the metadata channel")
    assert [dget(d, "eventId") for d in dead] == [eid]
    assert "destination 169.254.169.254 " + DENIED in _last_error(dead[0]), dead
    assert dget(dead[0], "attempts") == 1, "a refusal is permanent, not retried: %r" % dead
    assert herald.deliveries(status="pending") == []
    assert "destination 169.254.169.254 " + DENIED in herald.log()


def test_every_spelling_of_a_denied_address_refused(herald_factory, sink):
    """(b) With 127.0.0.0/8 denied, the address is checked after DNS: a name,
    the hex form and the IPv4-mapped IPv6 form are all refused, the sink sees
    nothing, and the events end as dead letters with the refusal."""
    h = herald_factory(extra={"security": {"denyDestinations": ["127.0.0.0/8"]}})
    hosts = {"dotted": "127.0.0.1", "hex": "0x7f000001", "name": "localhost", "mapped": "[::ffff:127.0.0.1]"}
    chans = {}
    for label, host in hosts.items():
        chans[label] = h.webhook("deny-" + label, "http://%s:%d/hook" % (host, sink.port))
    for label, ch in chans.items():
        status, text = _channel_test(h, ch["id"])
        assert status == 502, (label, text)
        assert DENIED in text and "(127.0.0.0/8)" in text, (label, text)

    eid = h.ingest(json.dumps(unique_event("deny-1")))[0]
    dead = poll(lambda: len(_failed(h)) >= len(chans) and _failed(h), 15,
                what="one dead letter per channel")
    assert sorted(dget(d, "channelId") for d in dead) == sorted(c["id"] for c in chans.values())
    for d in dead:
        assert dget(d, "eventId") == eid
        assert DENIED in _last_error(d), d
        assert dget(d, "attempts") == 1, d
    assert h.deliveries(status="pending") == []
    assert sink.requests == [], "the sink was contacted: %r" % sink.requests
    assert re.search(r"destination (127\.0\.0\.1|::ffff:127\.0\.0\.1) " + re.escape(DENIED), h.log()), h.log()


def test_redirect_is_not_followed(herald, sink, other_sink):
    """(c) A sink answering 302 to another address is answered as it is: the
    other address never hears from herald (the redirect is the sink's answer,
    a permanent failure)."""
    sink.fail_always(status=302, body=b"moved", headers=[("Location", other_sink.url + "/stolen")])
    ch = herald.webhook("redirect", sink.url + "/hook")
    status, text = _channel_test(herald, ch["id"])
    assert status == 502 and "302" in text, text
    herald.ingest(json.dumps(unique_event("redir-1")))
    dead = poll(lambda: _failed(herald), 10, what="a dead letter for the redirecting sink")
    assert "302" in json.dumps(dead), dead
    assert sink.count() == 2
    assert other_sink.requests == [], "the redirect was followed: %r" % other_sink.requests


@pytest.mark.parametrize("entries,line,why", [
    ("[10.0.0.0/8, 10.0.0.1/8]", 4, "host bits set"),
    ("[169.254.0.0/33]", 4, "prefix length"),
    ("[0x7f000001]", 4, "expected an address"),
    ("10.0.0.0/8", 4, "expected a list"),
])
def test_invalid_block_is_a_config_error(tmp_path, entries, line, why):
    """(d) A bad entry stops the start with the key, its line and the rule."""
    h = Herald(tmp_path / "bad")
    h.write_config(text='listen: "127.0.0.1:%d"\ndataDir: "%s"\nsecurity:\n  denyDestinations: %s\n'
                   % (h.port, h.data_dir, entries))
    h.spawn()
    rc = h.wait_exit(10)
    log = h.log()
    assert rc != 0, log
    assert "security.denyDestinations" in log and why in log, log
    assert re.search(r":%d:" % line, log), log


def test_sighup_applies_a_new_list(herald_factory, sink):
    """SIGHUP reloads the list: a sink allowed at start is refused after the
    reload; a reload with a bad block keeps the running list."""
    h = herald_factory()
    ch = h.webhook("hup", sink.url + "/hook")
    status, text = _channel_test(h, ch["id"])
    assert status == 200, text
    assert sink.count() == 1

    h.write_config(extra={"security": {"denyDestinations": ["127.0.0.0/8", "::1"]}})
    h.sighup()
    poll(lambda: "configuration reloaded" in h.log(), 10, what="the reload to be logged")
    status, text = _channel_test(h, ch["id"])
    assert status == 502 and DENIED in text, text
    assert sink.count() == 1

    h.write_config(extra={"security": {"denyDestinations": ["127.0.0.1/8"]}})
    h.sighup()
    poll(lambda: "reload failed" in h.log() and "security.denyDestinations[0]" in h.log(), 10,
         what="the bad reload to be logged")
    status, text = _channel_test(h, ch["id"])
    assert status == 502 and DENIED in text, text
    assert sink.count() == 1
