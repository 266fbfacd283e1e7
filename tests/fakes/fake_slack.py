#!/usr/bin/python3
"""fake_slack.py - a recording Slack incoming webhook for herald's tests.

DESIGN: written from api.slack.com/messaging/webhooks ("Sending messages
using incoming webhooks", "Handling errors") and the Block Kit reference:

  POST /services/{T...}/{B...}/{secret}   one hook per path in self.hooks

The body is JSON (Content-Type application/json) or the legacy form
"payload=<json>". It needs "text", or "blocks", or "attachments" (each with
text, fallback or blocks). Answers like Slack, text/html bodies:
  200 "ok"
  400 "invalid_payload"    body not JSON / not an object / bad blocks
  400 "no_text"            nothing to show
  404 "no_service"         unknown or disabled hook
  404 "channel_not_found"  "channel" override names no channel in self.channels
  410 "channel_is_archived" the override names one in self.archived
  429 "rate_limited" + Retry-After  (injected: fake.inject(status=429, retry_after=1))
Block checks follow Block Kit's limits: at most 50 blocks, section text at
most 3000 characters, at most 10 fields of at most 2000, mrkdwn/plain_text
text objects, block types section/context/header/divider/actions/image.

Stored: self.messages, every accepted message (dict, "_hook" = path) in order.

Standalone: /usr/bin/python3 tests/fakes/fake_slack.py --port 8092
"""

import argparse
import json
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recording import FakeServer, run_standalone  # noqa: E402

DEFAULT_HOOK = "/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
BLOCK_TYPES = ("section", "context", "header", "divider", "actions", "image")


def text(status, s):
    return status, [("Content-Type", "text/html")], s.encode()


def _text_obj_ok(t, limit):
    return (isinstance(t, dict) and t.get("type") in ("mrkdwn", "plain_text") and isinstance(t.get("text"), str)
            and 0 < len(t["text"]) <= limit)


def _blocks_ok(blocks):
    if not isinstance(blocks, list) or len(blocks) > 50:
        return False
    for b in blocks:
        if not isinstance(b, dict) or b.get("type") not in BLOCK_TYPES:
            return False
        if b["type"] == "section":
            if "text" not in b and "fields" not in b:
                return False
            if "text" in b and not _text_obj_ok(b["text"], 3000):
                return False
            f = b.get("fields")
            if f is not None and (not isinstance(f, list) or len(f) > 10
                                  or not all(_text_obj_ok(x, 2000) for x in f)):
                return False
        if b["type"] == "context":
            el = b.get("elements")
            if not isinstance(el, list) or not el or len(el) > 10:
                return False
    return True


class FakeSlack(FakeServer):
    name = "fake_slack"

    def __init__(self, host="127.0.0.1", port=0, hooks=(DEFAULT_HOOK,), channels=("#alerts", "#general"),
                 archived=("#old",), verbose=False):
        super().__init__(host, port, verbose)
        self.hooks = set(hooks)
        self.channels = set(channels)
        self.archived = set(archived)
        self.messages = []

    def clear(self):
        with self._lock:
            super().clear()
            self.messages.clear()

    def is_data_request(self, req):
        return req.path.startswith("/services/")

    def failure_response(self, status, b):
        if b is None:
            b = {429: b"rate_limited", 400: b"invalid_payload", 404: b"no_service",
                 500: b"internal_error"}.get(status, b"error")
        return [("Content-Type", "text/html")], b

    def handle(self, req):
        if req.method != "POST":
            return text(405, "invalid_method")
        if req.path not in self.hooks:
            return text(404, "no_service")
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        raw = req.body
        if ctype == "application/x-www-form-urlencoded":
            form = urllib.parse.parse_qs(raw.decode("utf-8", "replace"))
            if "payload" not in form:
                return text(400, "invalid_payload")
            raw = form["payload"][0].encode()
        elif ctype != "application/json":
            return text(400, "invalid_payload")
        try:
            msg = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return text(400, "invalid_payload")
        if not isinstance(msg, dict):
            return text(400, "invalid_payload")
        if "blocks" in msg and not _blocks_ok(msg["blocks"]):
            return text(400, "invalid_blocks")
        atts = msg.get("attachments")
        if atts is not None:
            if not isinstance(atts, list):
                return text(400, "invalid_attachments")
            for a in atts:
                if not isinstance(a, dict) or not (a.get("text") or a.get("fallback") or a.get("blocks")):
                    return text(400, "invalid_attachments")
                if "blocks" in a and not _blocks_ok(a["blocks"]):
                    return text(400, "invalid_blocks")
        has_text = isinstance(msg.get("text"), str) and msg["text"].strip()
        if not has_text and not msg.get("blocks") and not atts:
            return text(400, "no_text")
        ch = msg.get("channel")
        if ch is not None:
            if ch in self.archived:
                return text(410, "channel_is_archived")
            if ch not in self.channels:
                return text(404, "channel_not_found")
        rec = dict(msg)
        rec["_hook"] = req.path
        self.messages.append(rec)
        return text(200, "ok")

    def wait_messages(self, n, timeout=15.0):
        self.wait_until(lambda: len(self.messages) >= n, timeout, "%d accepted Slack messages" % n)
        with self._lock:
            return list(self.messages)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8092)
    a = ap.parse_args()
    run_standalone(FakeSlack(port=a.port, verbose=True))


if __name__ == "__main__":
    main()
