#!/usr/bin/python3
"""fake_loki.py - a recording Grafana Loki push endpoint for herald's tests.

DESIGN: written from Loki's HTTP API reference (grafana.com/docs/loki/latest/
reference/loki-http-api, "Ingest logs": POST /loki/api/v1/push), its limits
configuration (limits_config: reject_old_samples, reject_old_samples_max_age
168h, creation_grace_period 10m, max_label_names_per_series 15,
max_line_size 256KB, unordered_writes), "Multi-tenancy" (X-Scope-OrgID) and
the distributor's validation messages. What it checks:

  POST /loki/api/v1/push
    - Content-Type application/json (Content-Encoding gzip allowed); other
      types are taken as protobuf by Loki and fail to parse: 400
    - multi-tenant (tenants set): X-Scope-OrgID required (401 "no org id"),
      and it must be a known tenant here (the fake's stand-in for a
      gateway's auth: 401)
    - required headers (headers set, e.g. Authorization): 401
    - body {"streams":[{"stream":{name: value}, "values":[[ts, line] or
      [ts, line, {structured metadata}]]}]}: anything else is 400 naming it;
      ts must be a STRING of unix epoch nanoseconds, line a string
    - label names [a-zA-Z_][a-zA-Z0-9_]*, values strings, at least one
      label, at most 15 label names: else 400 for the stream
    - per entry (the others of the request are stored, the answer is 400
      listing the refused ones, as Loki does):
        older than now - reject_max_age   "has timestamp too old"
        newer than now + 10 min           "has timestamp too new"
        more than 1 h behind the stream's newest entry (unordered_writes:
        max_chunk_age / 2)               "entry too far behind"
        line over max_line_size           "line too long"
      an entry whose stream, timestamp and line are already stored is
      dropped silently (Loki's de-duplication).
    - all entries stored: 204, empty body.
  429 "Ingestion rate limit exceeded ..." and 5xx: injected.

Stored: self.streams {frozenset(labels.items()): [(ts_ns, line), ...]} in
arrival order; self.pushes, one (tenant, body) per accepted request.

Standalone: /usr/bin/python3 tests/fakes/fake_loki.py --port 3100
"""

import argparse
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recording import FakeServer, run_standalone  # noqa: E402

PATH = "/loki/api/v1/push"
LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
MAX_LABELS = 15
HOUR_NS = 3600 * 10**9
WEEK_NS = 168 * HOUR_NS
GRACE_NS = 600 * 10**9


def text(status, s):
    return status, [("Content-Type", "text/plain; charset=utf-8")], s.encode()


def selector(labels):
    return "{" + ", ".join('%s="%s"' % (k, labels[k]) for k in sorted(labels)) + "}"


class FakeLoki(FakeServer):
    name = "fake_loki"

    def __init__(self, host="127.0.0.1", port=0, tenants=None, headers=None, reject_max_age_ns=WEEK_NS,
                 max_line_size=256 * 1024, verbose=False):
        super().__init__(host, port, verbose)
        self.tenants = set(tenants) if tenants else None   # None: auth_enabled false
        self.required = dict(headers or {})
        self.reject_max_age_ns = reject_max_age_ns
        self.max_line_size = max_line_size
        self.streams = {}
        self.pushes = []

    def clear(self):
        with self._lock:
            super().clear()
            self.streams.clear()
            self.pushes.clear()

    def is_data_request(self, req):
        return req.path == PATH

    def failure_response(self, status, b):
        if b is None:
            b = {429: b"Ingestion rate limit exceeded for user fake (limit: 4194304 bytes/sec) while attempting"
                      b" to ingest '1' lines totaling '100' bytes, reduce log volume or contact your Loki"
                      b" administrator to see if the limit can be increased",
                 500: b"internal server error", 503: b"ingester not ready"}.get(status, b"error")
        return [("Content-Type", "text/plain; charset=utf-8")], b

    def handle(self, req):
        if req.path != PATH:
            return text(404, "404 page not found\n")
        if req.method != "POST":
            return text(405, "method not allowed\n")
        tenant = req.header("x-scope-orgid")
        if self.tenants is not None:
            if not tenant:
                return text(401, "no org id\n")
            if tenant not in self.tenants:
                return text(401, "unauthorized tenant\n")
        for k, v in self.required.items():
            if req.header(k) != v:
                return text(401, "unauthorized\n")
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return text(400, "loghttp.PushRequest: proto: illegal wireType (Content-Type %r is not "
                             "application/json, taken as protobuf)\n" % ctype)
        try:
            doc = json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            return text(400, "loghttp.PushRequest: %s\n" % e)
        why = self._shape_problem(doc)
        if why:
            return text(400, why + "\n")
        errors, total = self._store(doc)
        self.pushes.append((tenant, doc))
        if errors:
            return text(400, "".join(errors) + "user '%s', total ignored: %d out of %d\n"
                        % (tenant or "fake", len(errors), total))
        return 204, [], b""

    def _shape_problem(self, doc):
        if not isinstance(doc, dict) or not isinstance(doc.get("streams"), list):
            return "loghttp.PushRequest.Streams: expects an array of streams"
        for s in doc["streams"]:
            if not isinstance(s, dict) or not isinstance(s.get("stream"), dict) or not isinstance(s.get("values"), list):
                return "loghttp.Stream: needs stream (object) and values (array)"
            labels = s["stream"]
            if not labels:
                return "error at least one label pair is required per stream"
            if len(labels) > MAX_LABELS:
                return "entry for stream '%s' has %d label names; limit %d" % (selector(labels), len(labels), MAX_LABELS)
            for k, v in labels.items():
                if not LABEL_RE.match(k):
                    return "error parsing labels %s: invalid label name %r" % (selector(labels), k)
                if not isinstance(v, str):
                    return "error parsing labels: label value of %r is not a string" % k
            for e in s["values"]:
                if not isinstance(e, list) or len(e) not in (2, 3):
                    return "loghttp.Entry: expects [timestamp, line] or [timestamp, line, metadata]"
                if not isinstance(e[0], str) or not e[0].isdigit():
                    return "loghttp.Entry.Timestamp: expects a string of unix epoch nanoseconds, got %r" % (e[0],)
                if not isinstance(e[1], str):
                    return "loghttp.Entry.Line: expects a string"
        return None

    def _store(self, doc):
        now = time.time_ns()
        errors, total = [], 0
        for s in doc["streams"]:
            labels = s["stream"]
            key = frozenset(labels.items())
            stored = self.streams.setdefault(key, [])
            for e in s["values"]:
                total += 1
                ts, line = int(e[0]), e[1]
                newest = max((t for t, _ in stored), default=None)
                reason = None
                if self.reject_max_age_ns is not None and ts < now - self.reject_max_age_ns:
                    reason = "entry for stream '%s' has timestamp too old: %d, oldest acceptable timestamp is: %d" % (
                        selector(labels), ts, now - self.reject_max_age_ns)
                elif ts > now + GRACE_NS:
                    reason = "entry for stream '%s' has timestamp too new: %d" % (selector(labels), ts)
                elif newest is not None and ts < newest - HOUR_NS:
                    reason = "entry too far behind, entry timestamp is: %d, oldest acceptable timestamp is: %d" % (
                        ts, newest - HOUR_NS)
                elif len(line.encode()) > self.max_line_size:
                    reason = "Max entry size '%d' bytes exceeded for stream '%s' while adding an entry with length " \
                             "'%d' bytes (line too long)" % (self.max_line_size, selector(labels), len(line.encode()))
                if reason:
                    errors.append("entry with timestamp %d ignored, reason: '%s',\n" % (ts, reason))
                elif (ts, line) not in stored:
                    stored.append((ts, line))
        return errors, total

    def lines(self, **labels):
        """(ts, line) of the stream with exactly these labels."""
        with self._lock:
            return list(self.streams.get(frozenset(labels.items()), []))

    def all_lines(self):
        with self._lock:
            return [x for v in self.streams.values() for x in v]

    def wait_lines(self, n, timeout=15.0):
        self.wait_until(lambda: len(self.all_lines()) >= n, timeout, "%d Loki entries" % n)
        return self.all_lines()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=3100)
    a = ap.parse_args()
    run_standalone(FakeLoki(port=a.port, verbose=True))


if __name__ == "__main__":
    main()
