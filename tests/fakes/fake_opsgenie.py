#!/usr/bin/python3
"""fake_opsgenie.py - a recording OpsGenie Alert API v2 for herald's tests.

DESIGN: written from docs.opsgenie.com "Alert API" (Create Alert, Close
Alert, Authentication, Response codes):

  POST /v2/alerts                                   create
  POST /v2/alerts/{identifier}/close[?identifierType=id|tiny|alias]   close

Auth: "Authorization: GenieKey <apiKey>" for a key in self.keys. Missing or
another scheme -> 401 {"message":"Could not authenticate"}; a key not in
self.keys -> 403 {"message":"You do not have the permission to do this action
with this API key"}. Errors carry "took" and "requestId" like the real ones.
Content-Type must be application/json (else 415). Create validates, answering
422 {"message":"Request body is not processable. Please check the errors.",
"errors":{field: why}}: message required, non-blank, at most 130 characters
(the real API truncates a longer one; the fake refuses it so the tests prove
herald cuts it itself); alias at most 512; description at most 15000;
priority P1..P5; details a map of strings; tags a list of strings.
Success: 202 {"result":"Request will be processed","took":0.1,"requestId":U}
(the API is asynchronous: closing an unknown alias is 202 too).
Injected 429 answers {"message":"You are making too many requests! To avoid
errors, we recommend you limit requests."}.

Stored: self.alerts {alias: {"status": "open"|"closed", "create": body,
"closes": [bodies], "creates": n}} and self.actions, a list of
("create"|"close", alias, body) in order.

Standalone: /usr/bin/python3 tests/fakes/fake_opsgenie.py --port 8090 --key K
"""

import argparse
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recording import FakeServer, run_standalone  # noqa: E402

PRIORITIES = ("P1", "P2", "P3", "P4", "P5")


def body(status, message, **extra):
    b = {"message": message, "took": 0.0, "requestId": str(uuid.uuid4())}
    b.update(extra)
    return status, [], b


class FakeOpsGenie(FakeServer):
    name = "fake_opsgenie"

    def __init__(self, host="127.0.0.1", port=0, keys=("og-test-key",), verbose=False):
        super().__init__(host, port, verbose)
        self.keys = set(keys)
        self.alerts = {}
        self.actions = []

    def clear(self):
        with self._lock:
            super().clear()
            self.alerts.clear()
            self.actions.clear()

    def is_data_request(self, req):
        return req.path.startswith("/v2/alerts")

    def failure_response(self, status, b):
        if b is None:
            msg = {429: "You are making too many requests! To avoid errors, we recommend you limit requests.",
                   422: "Request body is not processable. Please check the errors."}.get(status, "Internal Server Error")
            b = json.dumps({"message": msg, "took": 0.0, "requestId": str(uuid.uuid4())}).encode()
        return [("Content-Type", "application/json")], b

    def handle(self, req):
        parts = req.path.split("/")   # ["", "v2", "alerts", id?, "close"?]
        if parts[:3] != ["", "v2", "alerts"]:
            return body(404, "Not Found")
        if req.method != "POST":
            return body(405, "Method Not Allowed")
        auth = req.header("authorization") or ""
        if not auth.startswith("GenieKey "):
            return body(401, "Could not authenticate")
        if auth[len("GenieKey "):] not in self.keys:
            return body(403, "You do not have the permission to do this action with this API key")
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return body(415, "Unsupported Media Type")
        try:
            doc = json.loads(req.body.decode("utf-8")) if req.body else {}
        except (UnicodeDecodeError, ValueError):
            return body(400, "Could not parse the request body as JSON")
        if not isinstance(doc, dict):
            return body(400, "The request body must be a JSON object")
        if len(parts) == 3:
            return self._create(doc)
        if len(parts) == 5 and parts[4] == "close":
            itype = req.q("identifierType", "id")
            if itype not in ("id", "tiny", "alias"):
                return body(422, "Request body is not processable. Please check the errors.",
                            errors={"identifierType": "must be one of id, tiny, alias"})
            return self._close(parts[3], itype, doc)
        return body(404, "Not Found")

    def _create(self, doc):
        errs = {}
        msg = doc.get("message")
        if not isinstance(msg, str) or not msg.strip():
            errs["message"] = "Message can not be empty."
        elif len(msg) > 130:
            errs["message"] = "Message can not be longer than 130 characters."
        alias = doc.get("alias", msg)
        if not isinstance(alias, str) or len(alias) > 512:
            errs["alias"] = "Alias can not be longer than 512 characters."
        d = doc.get("description")
        if d is not None and (not isinstance(d, str) or len(d) > 15000):
            errs["description"] = "Description can not be longer than 15000 characters."
        if doc.get("priority", "P3") not in PRIORITIES:
            errs["priority"] = "Priority should be one of [P1, P2, P3, P4, P5]"
        det = doc.get("details")
        if det is not None and (not isinstance(det, dict) or not all(isinstance(v, str) for v in det.values())):
            errs["details"] = "Details should be a map of string to string"
        tags = doc.get("tags")
        if tags is not None and (not isinstance(tags, list) or not all(isinstance(t, str) for t in tags)):
            errs["tags"] = "Tags should be a list of strings"
        if errs:
            return body(422, "Request body is not processable. Please check the errors.", errors=errs)
        a = self.alerts.get(alias)
        if a is None or a["status"] == "closed":
            a = {"status": "open", "create": doc, "closes": [], "creates": 0}
            self.alerts[alias] = a
        a["creates"] += 1     # OpsGenie deduplicates an open alias (count grows)
        self.actions.append(("create", alias, doc))
        return 202, [], {"result": "Request will be processed", "took": 0.1, "requestId": str(uuid.uuid4())}

    def _close(self, ident, itype, doc):
        for k in ("user", "source", "note"):
            if k in doc and not isinstance(doc[k], str):
                return body(422, "Request body is not processable. Please check the errors.",
                            errors={k: "must be a string"})
        if itype == "alias":
            a = self.alerts.get(ident)
            if a is not None and a["status"] == "open":
                a["status"] = "closed"
                a["closes"].append(doc)
        self.actions.append(("close", ident if itype == "alias" else None, doc))
        return 202, [], {"result": "Request will be processed", "took": 0.1, "requestId": str(uuid.uuid4())}

    def wait_actions(self, n, timeout=15.0):
        self.wait_until(lambda: len(self.actions) >= n, timeout, "%d accepted OpsGenie requests" % n)
        with self._lock:
            return list(self.actions)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8090)
    ap.add_argument("--key", action="append", default=None)
    a = ap.parse_args()
    run_standalone(FakeOpsGenie(port=a.port, keys=a.key or ("og-test-key",), verbose=True))


if __name__ == "__main__":
    main()
