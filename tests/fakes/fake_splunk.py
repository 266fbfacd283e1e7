#!/usr/bin/python3
"""fake_splunk.py - a recording Splunk HTTP Event Collector for herald's tests.

DESIGN: answers like HEC, with the reply codes of tests/fixtures/splunk/
(hec_codes_0_22_from_splunkadmins.json: code, HTTP status, text):

  POST /services/collector/raw[/1.0]        body indexed as is (query: host,
                                            source, sourcetype, index, channel)
  POST /services/collector/event[/1.0], /services/collector
                                            a stream of JSON envelopes
                                            {"event":..., "time", "host", "source",
                                             "sourcetype", "index", "fields"}
  GET  /services/collector/health[/1.0]     {"text":"HEC is healthy","code":17}
  POST /services/collector/ack              {"acks":[ids]} -> {"acks":{"<id>":bool}}

Indexer acknowledgement (use_ack=True, "About HTTP Event Collector Indexer
Acknowledgment"): every data request needs a channel (header
X-Splunk-Request-Channel or ?channel=, a GUID: else 400 code 10 "Data channel
is missing" / code 11 "Invalid data channel"); a successful one answers
{"text":"Success","code":0,"ackId":N}, N counting from 0 per channel. The
ack endpoint (same auth and channel rules; code 14 "ACK is disabled" without
use_ack, code 6 for a body that is not {"acks":[non-negative integers]})
answers true for an id of that channel once it is indexed - here after
ack_delay seconds, never while ack_confirm is False - and false otherwise
(unknown ids included). An id reported true is released, as HEC does:
asking again answers false. self.ack_queries records [(channel, ids,
answer)] for tests.

Auth: "Authorization: Splunk <token>" (Basic with the token as password is
accepted too, like HEC). Missing -> 401 code 2 "Token is required"; another
scheme -> 401 code 3 "Invalid authorization"; unknown token -> 403 code 4
"Invalid token"; disabled token -> 403 code 1. Data: empty -> 400 code 5 "No
data"; unparsable envelope -> 400 code 6 "Invalid data format"; no event ->
400 code 12; blank event -> 400 code 13; nested indexed fields -> 400 code
15; index not allowed -> 400 code 7. Event errors carry
"invalid-event-number" (0-based) and, as in HEC, the envelopes before the
bad one are indexed. Injected 503 answers code 9 "Server is busy".

Stored data: self.events, a list of dicts in arrival order:
  raw:   {"endpoint":"raw", "body": bytes, "token", "params": {...}, "channel"}
  event: {"endpoint":"event", "envelope": {...}, "token", "params", "channel"}

Standalone: /usr/bin/python3 tests/fakes/fake_splunk.py --port 8088 --token T
"""

import argparse
import base64
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recording import FakeServer, run_standalone  # noqa: E402

HEC = {
    0: (200, "Success"), 1: (403, "Token disabled"), 2: (401, "Token is required"),
    3: (401, "Invalid authorization"), 4: (403, "Invalid token"), 5: (400, "No data"),
    6: (400, "Invalid data format"), 7: (400, "Incorrect index"), 8: (500, "Internal server error"),
    9: (503, "Server is busy"), 10: (400, "Data channel is missing"), 11: (400, "Invalid data channel"),
    12: (400, "Event field is required"), 13: (400, "Event field cannot be blank"),
    14: (400, "ACK is disabled"), 15: (400, "Error in handling indexed fields"),
    16: (400, "Query string authorization is not enabled"), 17: (200, "HEC is healthy"),
    18: (503, "HEC is unhealthy, queues are full"),
}

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_RAW = ("/services/collector/raw", "/services/collector/raw/1.0")
_EVENT = ("/services/collector/event", "/services/collector/event/1.0", "/services/collector")
_HEALTH = ("/services/collector/health", "/services/collector/health/1.0")


def hec_reply(code, **extra):
    """(status, body) of HEC reply code."""
    status, text = HEC[code]
    body = {"text": text, "code": code}
    body.update(extra)
    return status, body


class FakeSplunk(FakeServer):
    name = "fake_splunk"

    def __init__(self, host="127.0.0.1", port=0, tokens=("00000000-0000-0000-0000-000000000000",),
                 disabled_tokens=(), allowed_indexes=None, use_ack=False, verbose=False):
        super().__init__(host, port, verbose)
        self.tokens = set(tokens)
        self.disabled_tokens = set(disabled_tokens)
        self.allowed_indexes = None if allowed_indexes is None else set(allowed_indexes)
        self.use_ack = use_ack
        self.ack_delay = 0.0        # seconds before an ackId reads true
        self.ack_confirm = True     # False: ids never confirmed (indexer lost them)
        self.healthy = True
        self.events = []
        self.ack_queries = []
        self._ack = {}              # channel -> next ackId
        self._issued = {}           # (channel, ackId) -> monotonic time indexed

    @property
    def token(self):
        """The first configured token (the usual single-token case)."""
        return sorted(self.tokens)[0]

    def clear(self):
        with self._lock:
            super().clear()
            self.events.clear()
            self.ack_queries.clear()

    # ---- helpers for tests ----------------------------------------------

    def raw_bodies(self):
        with self._lock:
            return [e["body"] for e in self.events if e["endpoint"] == "raw"]

    def envelopes(self):
        with self._lock:
            return [e["envelope"] for e in self.events if e["endpoint"] == "event"]

    def wait_events(self, n, timeout=10.0, endpoint=None):
        """Waits until n events were indexed (raw bodies or envelopes)."""
        def have():
            return len([e for e in self.events if endpoint is None or e["endpoint"] == endpoint])
        self.wait_until(lambda: have() >= n, timeout, "%d indexed events (have %d)" % (n, have()))
        with self._lock:
            return [e for e in self.events if endpoint is None or e["endpoint"] == endpoint]

    # ---- protocol --------------------------------------------------------

    def is_data_request(self, req):
        return req.path.rstrip("/") not in _HEALTH

    def failure_response(self, status, body):
        if body is None:
            code = {503: 9, 500: 8, 400: 6, 401: 2, 403: 4}.get(status)
            body = hec_reply(code)[1] if code is not None else {"text": "Server is busy", "code": 9}
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        return [("Content-Type", "application/json; charset=UTF-8")], body

    def _reply(self, code, **extra):
        status, body = hec_reply(code, **extra)
        return status, [], body

    def _auth(self, req):
        """(token, None) or (None, error reply)."""
        auth = req.header("authorization")
        if auth is None:
            if req.q("token") is not None:
                return None, self._reply(16)
            return None, self._reply(2)
        scheme, _, cred = auth.strip().partition(" ")
        cred = cred.strip()
        if scheme.lower() == "splunk":
            token = cred
        elif scheme.lower() == "basic":
            try:
                token = base64.b64decode(cred).decode().partition(":")[2]
            except (ValueError, UnicodeDecodeError):
                return None, self._reply(3)
        else:
            return None, self._reply(3)
        if token in self.disabled_tokens:
            return None, self._reply(1)
        if token not in self.tokens:
            return None, self._reply(4)
        return token, None

    def _channel(self, req):
        """(channel, None) or (None, error reply); a channel is required with useACK."""
        ch = req.header("x-splunk-request-channel") or req.q("channel")
        if ch is None:
            return None, (self._reply(10) if self.use_ack else None)
        if not _GUID.match(ch):
            return None, self._reply(11)
        return ch, None

    def _ok(self, channel, first_event):
        if not self.use_ack:
            return self._reply(0)
        ack = self._ack.setdefault(channel, 0)
        self._ack[channel] = ack + 1
        self._issued[(channel, ack)] = time.monotonic()
        for e in self.events[first_event:]:
            e["ack_id"] = ack
        return self._reply(0, ackId=ack)

    def _ack_query(self, req, channel):
        if not self.use_ack:
            return self._reply(14)
        try:
            acks = json.loads(req.body)["acks"]
        except (ValueError, KeyError, TypeError):
            return self._reply(6)
        if not isinstance(acks, list) or not all(isinstance(a, int) and not isinstance(a, bool) and a >= 0
                                                 for a in acks):
            return self._reply(6)
        now = time.monotonic()
        out = {}
        for a in acks:
            t = self._issued.get((channel, a))
            ok = t is not None and self.ack_confirm and now - t >= self.ack_delay
            if ok:
                del self._issued[(channel, a)]   # released once reported
            out[str(a)] = ok
        self.ack_queries.append((channel, list(acks), dict(out)))
        return 200, [], {"acks": out}

    def handle(self, req):
        path = req.path.rstrip("/") or "/"
        if path in _HEALTH and req.method in ("GET", "POST", "HEAD"):
            return self._reply(17) if self.healthy else self._reply(18)
        if path not in _RAW and path not in _EVENT and path != "/services/collector/ack":
            return 404, [], {"text": "The requested URL was not found on this server.", "code": 404}
        if req.method != "POST":
            return 404, [], {"text": "The requested URL was not found on this server.", "code": 404}
        token, err = self._auth(req)
        if err:
            return err
        channel, err = self._channel(req)
        if err:
            return err
        if path == "/services/collector/ack":
            return self._ack_query(req, channel)
        params = {k: v[0] for k, v in req.query.items()}
        if self.allowed_indexes is not None and "index" in params and params["index"] not in self.allowed_indexes:
            return self._reply(7)
        if path in _RAW:
            if not req.body:
                return self._reply(5)
            first = len(self.events)
            self.events.append({"endpoint": "raw", "body": req.body, "token": token,
                                "params": params, "channel": channel})
            return self._ok(channel, first)
        return self._event(req, token, params, channel)

    def _event(self, req, token, params, channel):
        try:
            text = req.body.decode("utf-8")
        except UnicodeDecodeError:
            return self._reply(6, **{"invalid-event-number": 0})
        dec = json.JSONDecoder()
        pos, n = 0, 0
        first = len(self.events)
        while True:
            while pos < len(text) and text[pos] in " \t\r\n":
                pos += 1
            if pos >= len(text):
                break
            try:
                env, pos = dec.raw_decode(text, pos)
            except ValueError:
                return self._reply(6, **{"invalid-event-number": n})
            if not isinstance(env, dict):
                return self._reply(6, **{"invalid-event-number": n})
            if "event" not in env or env["event"] is None:
                return self._reply(12, **{"invalid-event-number": n})
            ev = env["event"]
            if (isinstance(ev, str) and not ev.strip()) or ev == {}:
                return self._reply(13, **{"invalid-event-number": n})
            t = env.get("time")
            if t is not None and not isinstance(t, (int, float)):
                try:
                    float(t)
                except (TypeError, ValueError):
                    return self._reply(6, **{"invalid-event-number": n})
            fields = env.get("fields")
            if fields is not None:
                if not isinstance(fields, dict):
                    return self._reply(15, **{"invalid-event-number": n})
                for v in fields.values():
                    vals = v if isinstance(v, list) else [v]
                    if any(isinstance(x, (dict, list)) for x in vals):
                        return self._reply(15, **{"invalid-event-number": n})
            idx = env.get("index")
            if idx is not None and self.allowed_indexes is not None and idx not in self.allowed_indexes:
                return self._reply(7, **{"invalid-event-number": n})
            self.events.append({"endpoint": "event", "envelope": env, "token": token,
                                "params": params, "channel": channel})
            n += 1
        if n == 0:
            return self._reply(5)
        return self._ok(channel, first)


def main():
    ap = argparse.ArgumentParser(description="recording fake Splunk HEC")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8088)
    ap.add_argument("--token", action="append", default=[], help="accepted HEC token (repeatable)")
    ap.add_argument("--use-ack", action="store_true")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    tokens = a.token or ["00000000-0000-0000-0000-000000000000"]
    run_standalone(FakeSplunk(a.host, a.port, tokens, use_ack=a.use_ack, verbose=a.verbose))


if __name__ == "__main__":
    main()
