#!/usr/bin/python3
"""fake_teams.py - a recording Microsoft Teams webhook (Workflows and legacy
connector) for herald's tests.

DESIGN: written from learn.microsoft.com, "Create incoming webhooks with
Workflows for Microsoft Teams", "Send Adaptive Cards using an Incoming
Webhook" / "Create an Incoming Webhook" (connectors, rate limiting) and the
Adaptive Cards 1.4 schema (adaptivecards.io/explorer). What it checks:

  POST /workflows/{id}/triggers/manual/paths/invoke?api-version=..&sig=..
      (a Power Automate "When a Teams webhook request is received" trigger)
    - unknown workflow id           404 {"error":{"code":"WorkflowNotFound",..}}
    - no sig                        401 DirectApiAuthorizationRequired
    - wrong sig                     401 DirectApiInvalidAuthorizationSignature
    - body not a JSON object        400 InvalidRequestContent
    - accepted                      202, empty body. The card is rendered
      later by the flow: a card Teams cannot show does not change the
      answer, it is recorded in self.failed_runs (the flow's run history).
  POST /webhookb2/{guid}/IncomingWebhook/{id}/{guid}   (legacy connector)
    - unknown hook                  404 text
    - bad payload (not JSON, no attachments/text)
                                    400 "Bad payload received by generic incoming webhook."
    - accepted                      200 "1"
    - over 28 KB                    413 (both kinds)
  429 + Retry-After: injected (fake.inject(status=429, retry_after=1)).

Card checks (what Teams needs to render one): the message is {"type":
"message","attachments":[...]}, each attachment contentType
"application/vnd.microsoft.card.adaptive" with an AdaptiveCard "content"
whose "version" is at most 1.5 (Teams' limit), "body" a list of known
elements (TextBlock with a string text, Container with items, FactSet of
{title, value} strings, ColumnSet, Image), TextBlock "color" and Container
"style" among the schema's values, actions Action.OpenUrl with an absolute
http(s) url.

Stored: self.messages, every accepted message whose card renders (dict,
"_hook" = path), in order.

Standalone: /usr/bin/python3 tests/fakes/fake_teams.py --port 8094
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recording import FakeServer, run_standalone  # noqa: E402

WORKFLOW_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
WORKFLOW_SIG = "fakeSig-q1w2e3r4t5y6u7i8o9p0"
WORKFLOW_PATH = "/workflows/%s/triggers/manual/paths/invoke" % WORKFLOW_ID
WORKFLOW_QUERY = "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=" + WORKFLOW_SIG
LEGACY_PATH = ("/webhookb2/11111111-2222-3333-4444-555555555555@66666666-7777-8888-9999-000000000000"
               "/IncomingWebhook/abcdef0123456789/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee")
MAX_BYTES = 28 * 1024
CARD_TYPE = "application/vnd.microsoft.card.adaptive"
COLORS = ("default", "dark", "light", "accent", "good", "warning", "attention")
STYLES = ("default", "emphasis", "good", "attention", "warning", "accent")
ELEMENTS = ("TextBlock", "Container", "FactSet", "ColumnSet", "Image", "RichTextBlock", "ActionSet")


def az_error(status, code, message):
    return status, [("Content-Type", "application/json; charset=utf-8")], \
        json.dumps({"error": {"code": code, "message": message}}).encode()


def _elements_ok(items):
    if not isinstance(items, list):
        return "body/items is not a list"
    for e in items:
        if not isinstance(e, dict) or e.get("type") not in ELEMENTS:
            return "unknown element %r" % (e.get("type") if isinstance(e, dict) else e)
        t = e["type"]
        if t == "TextBlock":
            if not isinstance(e.get("text"), str):
                return "TextBlock without text"
            if "color" in e and e["color"] not in COLORS:
                return "TextBlock color %r" % e["color"]
        elif t == "Container":
            if "style" in e and e["style"] not in STYLES:
                return "Container style %r" % e["style"]
            why = _elements_ok(e.get("items"))
            if why:
                return why
        elif t == "FactSet":
            facts = e.get("facts")
            if not isinstance(facts, list) or not all(
                    isinstance(f, dict) and isinstance(f.get("title"), str) and isinstance(f.get("value"), str)
                    for f in facts):
                return "FactSet facts must be {title, value} strings"
    return None


def card_problem(msg):
    """Why Teams could not render msg, or None."""
    if msg.get("type") != "message":
        return "type is not 'message'"
    atts = msg.get("attachments")
    if not isinstance(atts, list) or not atts:
        return "no attachments"
    for a in atts:
        if not isinstance(a, dict) or a.get("contentType") != CARD_TYPE:
            return "attachment contentType is not %s" % CARD_TYPE
        c = a.get("content")
        if not isinstance(c, dict) or c.get("type") != "AdaptiveCard":
            return "content is not an AdaptiveCard"
        try:
            if float(c.get("version", "0")) > 1.5 or float(c.get("version", "0")) < 1.0:
                return "version %r is not supported by Teams" % c.get("version")
        except ValueError:
            return "version %r" % c.get("version")
        why = _elements_ok(c.get("body"))
        if why:
            return why
        for act in c.get("actions") or []:
            if act.get("type") != "Action.OpenUrl" or not str(act.get("url", "")).startswith(("http://", "https://")):
                return "action %r" % act
    return None


class FakeTeams(FakeServer):
    name = "fake_teams"

    def __init__(self, host="127.0.0.1", port=0, verbose=False):
        super().__init__(host, port, verbose)
        self.messages = []
        self.failed_runs = []

    def clear(self):
        with self._lock:
            super().clear()
            self.messages.clear()
            self.failed_runs.clear()

    def is_data_request(self, req):
        return req.path.startswith(("/workflows/", "/webhookb2/"))

    def failure_response(self, status, b):
        if b is None:
            b = json.dumps({"error": {"code": {429: "TooManyRequests", 500: "InternalServerError",
                                               503: "ServiceUnavailable"}.get(status, "Error"),
                                      "message": "injected %d" % status}}).encode()
        return [("Content-Type", "application/json; charset=utf-8")], b

    def _parse(self, req):
        try:
            msg = json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        return msg if isinstance(msg, dict) else None

    def handle(self, req):
        if req.method != "POST":
            return 405, [], b""
        if len(req.body) > MAX_BYTES:
            return 413, [("Content-Type", "text/plain")], b"Request Entity Too Large"
        if req.path.startswith("/workflows/"):
            return self._workflow(req)
        if req.path == LEGACY_PATH:
            msg = self._parse(req)
            if msg is None or (not msg.get("text") and not msg.get("attachments")) or card_problem(msg):
                return 400, [("Content-Type", "text/plain")], b"Bad payload received by generic incoming webhook."
            self.messages.append(dict(msg, _hook=req.path))
            return 200, [("Content-Type", "text/plain")], b"1"
        return 404, [("Content-Type", "text/plain")], b"Not Found"

    def _workflow(self, req):
        if req.path != WORKFLOW_PATH:
            return az_error(404, "WorkflowNotFound", "The workflow '%s' could not be found."
                            % req.path.split("/")[2])
        sig = req.q("sig")
        if sig is None:
            return az_error(401, "DirectApiAuthorizationRequired",
                            "The request must be authenticated only by Shared Access scheme.")
        if sig != WORKFLOW_SIG:
            return az_error(401, "DirectApiInvalidAuthorizationSignature",
                            "The provided authorization signature is not valid for the workflow trigger.")
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        msg = self._parse(req) if ctype == "application/json" else None
        if msg is None:
            return az_error(400, "InvalidRequestContent", "The request content is not valid JSON.")
        why = card_problem(msg)
        if why:
            self.failed_runs.append((why, msg))
        else:
            self.messages.append(dict(msg, _hook=req.path))
        return 202, [("Content-Type", "text/plain")], b""

    def wait_messages(self, n, timeout=15.0):
        self.wait_until(lambda: len(self.messages) >= n, timeout, "%d accepted Teams messages" % n)
        with self._lock:
            return list(self.messages)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8094)
    a = ap.parse_args()
    run_standalone(FakeTeams(port=a.port, verbose=True))


if __name__ == "__main__":
    main()
