#!/usr/bin/python3
"""fake_victorops.py - a recording VictorOps (Splunk On-Call) REST endpoint
integration for herald's tests.

DESIGN: written from the REST Endpoint Integration Guide
(help.victorops.com/knowledge-base/rest-endpoint-integration-guide):

  POST /integrations/generic/20131114/alert/{apiKey}/{routingKey}

The body is a JSON object: message_type (required: CRITICAL, WARNING,
ACKNOWLEDGEMENT, INFO or RECOVERY), entity_id (the incident key; without
it VictorOps makes one up), entity_display_name, state_message,
state_start_time (epoch seconds), monitoring_tool, and any extra fields.
Answers: 200 {"result":"success","entity_id":E}; a refused alert is
{"result":"failure","message":why}: 400 for a body that is not JSON or lacks
/misspells message_type (and a non-JSON Content-Type), 404 for an unknown API
key. (The guide documents the success body and the message_type values; the
exact status of each failure is this fake's choice, herald treats any
"failure" result and any 4xx but 408/429 as permanent.)

Stored: self.incidents {entity_id: {"status": "open"|"resolved",
"messages": [bodies]}}, self.alerts: every accepted body in order, with
"_routing_key" added.

Standalone: /usr/bin/python3 tests/fakes/fake_victorops.py --port 8091 --key K
"""

import argparse
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recording import FakeServer, run_standalone  # noqa: E402

PREFIX = "/integrations/generic/20131114/alert/"
TYPES = ("CRITICAL", "WARNING", "ACKNOWLEDGEMENT", "INFO", "RECOVERY")


def failure(status, message):
    return status, [], {"result": "failure", "message": message}


class FakeVictorOps(FakeServer):
    name = "fake_victorops"

    def __init__(self, host="127.0.0.1", port=0, keys=("vo-test-api-key",), verbose=False):
        super().__init__(host, port, verbose)
        self.keys = set(keys)
        self.incidents = {}
        self.alerts = []

    def clear(self):
        with self._lock:
            super().clear()
            self.incidents.clear()
            self.alerts.clear()

    def is_data_request(self, req):
        return req.path.startswith(PREFIX)

    def failure_response(self, status, b):
        if b is None:
            b = json.dumps({"result": "failure", "message": "injected HTTP %d" % status}).encode()
        return [("Content-Type", "application/json")], b

    def handle(self, req):
        if not req.path.startswith(PREFIX):
            return 404, [("Content-Type", "text/plain")], b"Not Found"
        rest = req.path[len(PREFIX):].split("/")
        if len(rest) != 2 or not rest[0] or not rest[1]:
            return failure(404, "Missing API key or routing key in the URL")
        if req.method != "POST":
            return failure(405, "Method not allowed")
        api_key, routing_key = rest
        if api_key not in self.keys:
            return failure(404, "Invalid API key")
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return failure(400, "Content-Type must be application/json")
        try:
            doc = json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return failure(400, "Could not parse the body as JSON")
        if not isinstance(doc, dict):
            return failure(400, "The body must be a JSON object")
        mt = doc.get("message_type")
        if mt is None:
            return failure(400, "Missing fields: message_type")
        if not isinstance(mt, str) or mt.upper() not in TYPES:
            return failure(400, "Invalid message_type: %s" % mt)
        ts = doc.get("state_start_time")
        if ts is not None and not isinstance(ts, int):
            return failure(400, "state_start_time must be epoch seconds")
        eid = doc.get("entity_id") or str(uuid.uuid4())
        if not isinstance(eid, str):
            return failure(400, "entity_id must be a string")
        inc = self.incidents.get(eid)
        mt = mt.upper()
        if mt in ("CRITICAL", "WARNING"):
            if inc is None or inc["status"] == "resolved":
                inc = {"status": "open", "messages": []}
                self.incidents[eid] = inc
        if inc is not None:
            inc["messages"].append(doc)
            if mt == "RECOVERY":
                inc["status"] = "resolved"
        rec = dict(doc)
        rec["_routing_key"] = routing_key
        self.alerts.append(rec)
        return 200, [], {"result": "success", "entity_id": eid}

    def wait_alerts(self, n, timeout=15.0):
        self.wait_until(lambda: len(self.alerts) >= n, timeout, "%d accepted VictorOps alerts" % n)
        with self._lock:
            return list(self.alerts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8091)
    ap.add_argument("--key", action="append", default=None)
    a = ap.parse_args()
    run_standalone(FakeVictorOps(port=a.port, keys=a.key or ("vo-test-api-key",), verbose=True))


if __name__ == "__main__":
    main()
