#!/usr/bin/python3
"""fake_gchat.py - a recording Google Chat space incoming webhook for herald's
tests.

DESIGN: written from developers.google.com/workspace/chat ("Send messages to
Google Chat with incoming webhooks", "Start or reply to a message thread",
the spaces.messages.create reference, "Cards v2" / Card reference) and
Google's API error model (cloud.google.com/apis/design/errors). What it
checks:

  POST /v1/spaces/{space}/messages?key=<key>&token=<token>
       [&messageReplyOption=...][&threadKey=...]
    - unknown space                     404 NOT_FOUND
    - wrong or missing key              400 INVALID_ARGUMENT "API key not valid. ..."
    - wrong or missing token            401 UNAUTHENTICATED
    - Content-Type not JSON, body not a JSON object, unknown top-level
      field, messageReplyOption not one of MESSAGE_REPLY_OPTION_UNSPECIFIED /
      REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD / REPLY_MESSAGE_OR_FAIL
                                        400 INVALID_ARGUMENT
    - neither text nor cardsV2          400 INVALID_ARGUMENT "Message cannot be empty..."
    - cardsV2: a list of {cardId, card}; card.sections a list of
      {widgets: [...]}, each widget exactly one known kind (textParagraph,
      decoratedText, buttonList, image, divider, ...) with the fields the
      reference requires (decoratedText.text, textParagraph.text, buttons
      with text and onClick.openLink.url); header.title a string.
  Threads: with messageReplyOption REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD (or
  REPLY_MESSAGE_OR_FAIL) the thread key (body thread.threadKey, else the
  threadKey query parameter) names the thread: the first message opens it,
  later ones reply in it; REPLY_MESSAGE_OR_FAIL on an unknown key is 404.
  Without the option every message opens a new thread (the key is ignored).
  Answers 200 with the created message {"name","text","thread":{"name",
  "threadKey"},"space":{"name"},"createTime"}.
  429 RESOURCE_EXHAUSTED + Retry-After and 503 UNAVAILABLE: injected.

Stored: self.messages (the message bodies, with "_thread" = the thread name),
self.threads {threadKey: thread name}.

Standalone: /usr/bin/python3 tests/fakes/fake_gchat.py --port 8095
"""

import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recording import FakeServer, run_standalone  # noqa: E402

SPACE = "AAAAfakeSpc"
KEY = "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"
TOKEN = "fakeTok3n_abcdefghijklmnopqrstuvwxyz012345"
PATH = "/v1/spaces/%s/messages" % SPACE
REPLY_OPTIONS = ("MESSAGE_REPLY_OPTION_UNSPECIFIED", "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD", "REPLY_MESSAGE_OR_FAIL")
FIELDS = ("text", "cardsV2", "cards", "thread", "accessoryWidgets", "privateMessageViewer", "fallbackText",
          "attachment", "matchedUrl", "clientAssignedMessageId", "formattedText", "annotations")
WIDGETS = ("textParagraph", "decoratedText", "buttonList", "image", "divider", "columns", "grid",
           "selectionInput", "textInput", "dateTimePicker", "chipList")
STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
          429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}


def g_error(status, message):
    return status, [("Content-Type", "application/json; charset=UTF-8")], json.dumps(
        {"error": {"code": status, "message": message, "status": STATUS.get(status, "UNKNOWN")}}).encode()


def _widget_problem(w):
    if not isinstance(w, dict):
        return "widget is not an object"
    kinds = [k for k in w if k in WIDGETS]
    if len(kinds) != 1:
        return "a widget holds exactly one of %s" % ", ".join(WIDGETS)
    k, v = kinds[0], w[kinds[0]]
    if k in ("textParagraph", "decoratedText") and not isinstance((v or {}).get("text"), str):
        return "%s.text is required" % k
    if k == "buttonList":
        for b in (v or {}).get("buttons") or []:
            url = ((b.get("onClick") or {}).get("openLink") or {}).get("url")
            if not isinstance(b.get("text"), str) or not str(url).startswith(("http://", "https://")):
                return "button needs text and onClick.openLink.url"
    return None


def card_problem(cards):
    if not isinstance(cards, list):
        return "cardsV2 is not a list"
    for c in cards:
        if not isinstance(c, dict) or not isinstance(c.get("cardId"), str) or not isinstance(c.get("card"), dict):
            return "cardsV2[] needs cardId and card"
        card = c["card"]
        hdr = card.get("header")
        if hdr is not None and not isinstance(hdr.get("title"), str):
            return "card.header.title is required"
        sections = card.get("sections")
        if not isinstance(sections, list) or not sections:
            return "card.sections is required"
        for s in sections:
            ws = s.get("widgets") if isinstance(s, dict) else None
            if not isinstance(ws, list) or not ws:
                return "section.widgets is required"
            for w in ws:
                why = _widget_problem(w)
                if why:
                    return why
    return None


class FakeGChat(FakeServer):
    name = "fake_gchat"

    def __init__(self, host="127.0.0.1", port=0, verbose=False):
        super().__init__(host, port, verbose)
        self.messages = []
        self.threads = {}
        self._n = 0

    def clear(self):
        with self._lock:
            super().clear()
            self.messages.clear()
            self.threads.clear()

    def is_data_request(self, req):
        return req.path.startswith("/v1/spaces/")

    def failure_response(self, status, b):
        if b is None:
            _, hdrs, b = g_error(status, "injected")
        return [("Content-Type", "application/json; charset=UTF-8")], b

    def handle(self, req):
        if req.method != "POST" or not req.path.endswith("/messages"):
            return g_error(404, "Method not found.")
        if req.path != PATH:
            return g_error(404, "Requested entity was not found.")
        if req.q("key") != KEY:
            return g_error(400, "API key not valid. Please pass a valid API key.")
        if req.q("token") != TOKEN:
            return g_error(401, "Request had invalid authentication credentials.")
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/json":
            return g_error(400, "Invalid JSON payload received. Unexpected content type.")
        try:
            msg = json.loads(req.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return g_error(400, "Invalid JSON payload received.")
        if not isinstance(msg, dict):
            return g_error(400, "Invalid JSON payload received. Root element must be a message.")
        for k in msg:
            if k not in FIELDS:
                return g_error(400, 'Invalid JSON payload received. Unknown name "%s": Cannot find field.' % k)
        opt = req.q("messageReplyOption", "MESSAGE_REPLY_OPTION_UNSPECIFIED")
        if opt not in REPLY_OPTIONS:
            return g_error(400, 'Invalid value at \'message_reply_option\' ("%s")' % opt)
        if not msg.get("text") and not msg.get("cardsV2") and not msg.get("cards"):
            return g_error(400, "Message cannot be empty. Discarded message must have text or cards.")
        if "cardsV2" in msg:
            why = card_problem(msg["cardsV2"])
            if why:
                return g_error(400, "Invalid JSON payload received. %s" % why)
        return self._create(msg, opt, req.q("threadKey"))

    def _create(self, msg, opt, query_key):
        key = (msg.get("thread") or {}).get("threadKey") or query_key
        self._n += 1
        thread = None
        if opt != "MESSAGE_REPLY_OPTION_UNSPECIFIED" and key:
            thread = self.threads.get(key)
            if thread is None and opt == "REPLY_MESSAGE_OR_FAIL":
                return g_error(404, "Thread not found.")
        if thread is None:
            thread = "spaces/%s/threads/t%d" % (SPACE, self._n)
            if opt != "MESSAGE_REPLY_OPTION_UNSPECIFIED" and key:
                self.threads[key] = thread
        name = "spaces/%s/messages/m%d" % (SPACE, self._n)
        self.messages.append(dict(msg, _thread=thread))
        out = {"name": name, "sender": {"name": "users/000", "type": "BOT"}, "text": msg.get("text", ""),
               "thread": {"name": thread}, "space": {"name": "spaces/" + SPACE, "type": "ROOM"},
               "createTime": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
        if key and opt != "MESSAGE_REPLY_OPTION_UNSPECIFIED":
            out["thread"]["threadKey"] = key
        return 200, [("Content-Type", "application/json; charset=UTF-8")], json.dumps(out).encode()

    def wait_messages(self, n, timeout=15.0):
        self.wait_until(lambda: len(self.messages) >= n, timeout, "%d Google Chat messages" % n)
        with self._lock:
            return list(self.messages)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8095)
    a = ap.parse_args()
    run_standalone(FakeGChat(port=a.port, verbose=True))


if __name__ == "__main__":
    main()
