#!/usr/bin/python3
"""fake_pagerduty.py - a recording PagerDuty Events API v2 for herald's tests.

DESIGN: written from PagerDuty's developer docs (events-API-v2 "Send an Alert
Event" and "Overview: Response Codes & Retry Logic"):

  POST /v2/enqueue   JSON body {routing_key, event_action, dedup_key, payload,
                     client, client_url, links, images}

Validation, each failure answering 400 {"status":"invalid event","message":
"Event object is invalid","errors":[...]} like the real service:
  Content-Type not application/json, body not a JSON object;
  routing_key missing or not 32 characters, or not one of self.keys
  ("Invalid routing key"); event_action not trigger/acknowledge/resolve;
  dedup_key over 255 characters; acknowledge/resolve without dedup_key;
  trigger without payload.summary (or over 1024 characters),
  payload.source, or payload.severity in critical/error/warning/info;
  body over 512 KB -> 413.
Success: 202 {"status":"success","message":"Event processed","dedup_key":K}
(a trigger without dedup_key gets a generated one). Injected 429 answers
{"status":"throttle event","message":"Requests for this service are arriving
too quickly.  Please retry later."}; 5xx an empty JSON body.

Stored: self.alerts {dedup_key: {"status": "triggered"|"acknowledged"|"resolved",
"events": [event dicts]}} and self.events, every accepted event in order.
Like PagerDuty, a resolve for an unknown or resolved key is accepted and
changes nothing.

Standalone: /usr/bin/python3 tests/fakes/fake_pagerduty.py --port 8089 --key K
"""

import argparse
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recording import FakeServer, run_standalone  # noqa: E402

SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")
MAX_BODY = 512 * 1024


def invalid(*errors):
    return 400, [], {"status": "invalid event", "message": "Event object is invalid", "errors": list(errors)}


class FakePagerDuty(FakeServer):
    name = "fake_pagerduty"

    def __init__(self, host="127.0.0.1", port=0, keys=("0" * 32,), verbose=False):
        super().__init__(host, port, verbose)
        self.keys = set(keys)
        self.alerts = {}
        self.events = []

    def clear(self):
        with self._lock:
            super().clear()
            self.alerts.clear()
            self.events.clear()

    def is_data_request(self, req):
        return req.path == "/v2/enqueue"

    def failure_response(self, status, body):
        if body is not None:
            return [("Content-Type", "application/json")], body
        if status == 429:
            body = {"status": "throttle event",
                    "message": "Requests for this service are arriving too quickly.  Please retry later."}
        elif status == 400:
            body = {"status": "invalid event", "message": "Event object is invalid", "errors": ["injected"]}
        else:
            body = {}
        return [("Content-Type", "application/json")], json.dumps(body).encode()

    def handle(self, req):
        if req.path != "/v2/enqueue":
            return 404, [], {"status": "not found"}
        if req.method != "POST":
            return 405, [], {"status": "method not allowed"}
        if len(req.body) > MAX_BODY:
            return 413, [], {"status": "request too large"}
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return invalid("Content-Type must be application/json")
        try:
            ev = json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return invalid("Event object is not valid JSON")
        if not isinstance(ev, dict):
            return invalid("Event object must be a JSON object")
        key = ev.get("routing_key")
        if not isinstance(key, str) or len(key) != 32:
            return invalid("Length of 'routing_key' is incorrect (should be 32 characters)")
        if key not in self.keys:
            return invalid("Invalid routing key")
        action = ev.get("event_action")
        if action not in ACTIONS:
            return invalid("'event_action' is invalid (must be one of trigger, acknowledge, resolve)")
        dedup = ev.get("dedup_key")
        if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
            return invalid("'dedup_key' must be a string of at most 255 characters")
        if action == "trigger":
            p = ev.get("payload")
            if not isinstance(p, dict):
                return invalid("'payload' is missing or not an object")
            errs = []
            s = p.get("summary")
            if not isinstance(s, str) or not s.strip():
                errs.append("'payload.summary' is missing or blank")
            elif len(s) > 1024:
                errs.append("'payload.summary' must be at most 1024 characters")
            src = p.get("source")
            if not isinstance(src, str) or not src.strip():
                errs.append("'payload.source' is missing or blank")
            if p.get("severity") not in SEVERITIES:
                errs.append("'payload.severity' is invalid (must be one of critical, error, warning, info)")
            cd = p.get("custom_details")
            if cd is not None and not isinstance(cd, dict):
                errs.append("'payload.custom_details' must be an object")
            if errs:
                return invalid(*errs)
            if dedup is None:
                dedup = str(uuid.uuid4())
            a = self.alerts.get(dedup)
            if a is None or a["status"] == "resolved":
                a = {"status": "triggered", "events": []}
                self.alerts[dedup] = a
            a["events"].append(ev)
        else:
            if not dedup:
                return invalid("'dedup_key' is required for %s events" % action)
            a = self.alerts.get(dedup)
            if a is not None and a["status"] != "resolved":
                a["status"] = "resolved" if action == "resolve" else "acknowledged"
                a["events"].append(ev)
        self.events.append(ev)
        return 202, [], {"status": "success", "message": "Event processed", "dedup_key": dedup}

    # -- helpers for tests --
    def wait_events(self, n, timeout=15.0):
        self.wait_until(lambda: len(self.events) >= n, timeout, "%d accepted PagerDuty events" % n)
        with self._lock:
            return list(self.events)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8089)
    ap.add_argument("--key", action="append", default=None)
    a = ap.parse_args()
    run_standalone(FakePagerDuty(port=a.port, keys=a.key or ("0" * 32,), verbose=True))


if __name__ == "__main__":
    main()
