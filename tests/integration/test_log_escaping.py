"""Log injection (issue 11, SPEC section 2: one line per notable event):
text that a client controls (a query parameter, a header) reaches herald's
log escaped, so it can neither start a forged line nor carry terminal
control bytes. JSON logs escape by construction; the text format must too."""

import json
import re

from conftest import poll, unique_event
from recording import FakeServer

# What every line herald writes in the text format starts with.
LINE = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info |warn |error) ")
FORGED = "2026-12-05T09:00:00.000Z error admin token rotated"


def log_lines(h):
    with open(h.log_path, "rb") as f:
        return f.read().split(b"\n")[:-1]


def test_query_parameter_cannot_forge_a_log_line(herald_factory):
    h = herald_factory()
    r = h.post_events({"a": 1}, fmt="x\n" + FORGED)
    assert r.status == 400, r
    r = h.post_events({"a": 1}, fmt="y\r" + FORGED)
    assert r.status == 400, r

    def escaped_both():
        text = b"\n".join(log_lines(h))
        return b"\\n" + FORGED.encode() in text and b"\\r" + FORGED.encode() in text

    poll(escaped_both, what="the rejected format logged, escaped")
    for line in log_lines(h):
        assert LINE.match(line), "a log line herald did not start: %r" % line
        assert b"\r" not in line, line


def test_header_control_bytes_are_escaped(herald_factory):
    h = herald_factory()
    r = h.post_events({"a": 1}, content_type="text/plain\x1b[31m\x07")
    assert r.status == 415, r
    poll(lambda: any(b"415" in l for l in log_lines(h)), what="the 415 logged")
    raw = b"\n".join(log_lines(h))
    assert b"\x1b" not in raw and b"\x07" not in raw, raw[-500:]
    assert b"\\x1b[31m\\x07" in raw, raw[-500:]
    for line in log_lines(h):
        assert LINE.match(line), line


class RefusingSink(FakeServer):
    def handle(self, req):
        return 400, [], b"mapping error"


def test_context_as_fields_text(herald_factory):
    """A line about a channel and an event carries them as key=value after the
    message; an ingest refusal carries its source and reason."""
    h = herald_factory()
    with RefusingSink() as sink:
        h.webhook("bad sink", sink.url + "/")
        eid = h.ingest(json.dumps(unique_event("dead-1")))[0]
        line = re.compile(rb" dead-lettered channel=\"bad sink\" event=" + eid.encode() + rb"$")
        poll(lambda: any(line.search(l) for l in log_lines(h)), what="the dead letter logged with its fields")
    assert h.post_events({"a": 1}, fmt="falco\n").status == 400
    poll(lambda: any(re.search(rb"ingest rejected \(400\): .* source=unknown reason=format$", l)
                     for l in log_lines(h)), what="the refusal logged with source and reason")
    for l in log_lines(h):
        assert LINE.match(l), l


def test_context_as_fields_json(herald_factory):
    h = herald_factory(extra={"log": {"format": "json"}})
    with RefusingSink() as sink:
        h.webhook("bad", sink.url + "/")
        eid = h.ingest(json.dumps(unique_event("dead-2")))[0]

        def dead_line():
            for l in log_lines(h):
                o = json.loads(l)
                if o.get("msg", "").endswith("dead-lettered"):
                    return o
            return None
        poll(dead_line, what="the dead letter logged")
        o = dead_line()
    assert o["channel"] == "bad" and o["event"] == eid and o["level"] == "warn", o
    assert "channel=" not in o["msg"], o
    for l in log_lines(h):
        json.loads(l)  # every line one JSON object
