"""fake_docker_engine.py - a Docker Engine API event source on a unix
socket, for the edge cases a real engine will not produce on demand (a
stream cut in the middle of a line, a restart, version refusals).

DESIGN: written from the Engine API reference (moby api/swagger.yaml:
`/_ping`, `/version`, `/events`, `EventMessage`; see
tests/fixtures/SOURCES.md) and the Docker client's version negotiation:
- GET|HEAD /_ping: 200 "OK", headers API-Version (the newest version served),
  OSType, Docker-Experimental, Cache-Control: no-cache, Pragma: no-cache.
- GET /version: {"Version","ApiVersion","MinAPIVersion","Os","Arch",...}.
- Versioned paths /v<major>.<minor>/...: a version above ApiVersion is 400
  {"message":"client version X is too new. Maximum supported API version is
  Y"}; below MinAPIVersion, 400 "... is too old. Minimum supported API
  version is Z..."; unversioned paths are served at ApiVersion.
- GET /events?since=&until=&filters=: since/until are Unix timestamps with
  an optional fractional part ("1700000000.123456789"); since is inclusive
  (events with timeNano >= since are replayed from the journal before the
  live stream); filters is JSON map[string][]string with the documented
  keys (config container daemon event image label network node plugin scope
  secret service type volume) - any other key is 400 "invalid filter
  '<key>'", bad JSON is 400. The answer is 200, Content-Type
  application/json, chunked, one EventMessage per line.
- Other paths: 404 {"message":"page not found"}.
Test controls: emit(action, ...) appends to the journal and streams to open
connections; cut(partial) ends every open stream abruptly, optionally after
the first bytes of a line. Requests are recorded. Stdlib only.
"""

import json
import os
import socket
import socketserver
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler

FILTER_KEYS = {"config", "container", "daemon", "event", "image", "label", "network", "node", "plugin",
               "scope", "secret", "service", "type", "volume"}


def _vnum(v):
    a, b = v.split(".")
    return int(a) * 1000 + int(b)


def _parse_ts(s):
    """Unix seconds[.fraction] -> ns; raises ValueError."""
    if "." in s:
        sec, frac = s.split(".", 1)
        frac = (frac + "000000000")[:9]
        return int(sec) * 10**9 + int(frac)
    return int(s) * 10**9


class _Stream:
    def __init__(self, filters, until_ns):
        self.filters = filters
        self.until_ns = until_ns
        self.queue = []
        self.cond = threading.Condition()


class FakeDockerEngine:
    def __init__(self, sock_path, api_version="1.41", min_version="1.24"):
        self.sock_path = str(sock_path)
        self.api_version = api_version
        self.min_version = min_version
        self._lock = threading.Lock()
        self.journal = []     # EventMessage dicts
        self.streams = []
        self.requests = []    # {"method","path","query"}
        self.server = None

    def start(self):
        eng = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def address_string(self):
                return "unix"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                eng._handle(self, "GET")

            def do_HEAD(self):
                eng._handle(self, "HEAD")

        class S(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

            def get_request(self):
                conn, _ = self.socket.accept()
                return conn, ("unix", 0)

        if os.path.exists(self.sock_path):
            os.unlink(self.sock_path)
        self.server = S(self.sock_path, H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self.cut()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        if os.path.exists(self.sock_path):
            os.unlink(self.sock_path)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- controls ----
    def emit(self, action, typ="container", actor_id=None, attributes=None, time_ns=None):
        """Appends an EventMessage to the journal and sends it to open streams."""
        t = time_ns if time_ns is not None else time.time_ns()
        ev = {"Type": typ, "Action": action,
              "Actor": {"ID": actor_id or uuid.uuid4().hex * 2, "Attributes": dict(attributes or {})},
              "scope": "local", "time": t // 10**9, "timeNano": t}
        with self._lock:
            self.journal.append(ev)
            for s in self.streams:
                if self._match(ev, s.filters):
                    with s.cond:
                        s.queue.append(("event", ev))
                        s.cond.notify_all()
        return ev

    def cut(self, partial=None):
        with self._lock:
            for s in self.streams:
                with s.cond:
                    if partial is not None:
                        s.queue.append(("raw", partial))
                    s.queue.append(("cut",))
                    s.cond.notify_all()

    def open_streams(self):
        with self._lock:
            return len(self.streams)

    def event_requests(self):
        with self._lock:
            return [r for r in self.requests if r["path"].endswith("/events")]

    # ---- HTTP ----
    @staticmethod
    def _match(ev, filters):
        for k, vals in filters.items():
            if k == "type" and ev["Type"] not in vals:
                return False
            if k == "event" and ev["Action"].split(":")[0] not in vals:
                return False
            if k == "container" and ev["Type"] == "container" and not (
                    ev["Actor"]["ID"] in vals or ev["Actor"]["Attributes"].get("name") in vals):
                return False
        return True

    def _send(self, h, method, code, body, ctype="application/json", headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode() + b"\n"
        h.send_response(code)
        h.send_header("Content-Type", ctype)
        h.send_header("Api-Version", self.api_version)
        h.send_header("Docker-Experimental", "false")
        h.send_header("Ostype", "linux")
        h.send_header("Server", "Docker/24.0.0 (linux)")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if method != "HEAD":
            h.wfile.write(data)

    def _handle(self, h, method):
        u = urllib.parse.urlsplit(h.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append({"method": method, "path": u.path, "query": q})
        path = u.path
        version = self.api_version
        if path.startswith("/v") and "/" in path[1:]:
            vs, path = path[2:].split("/", 1)
            path = "/" + path
            try:
                version = vs
                vn = _vnum(vs)
            except ValueError:
                return self._send(h, method, 404, {"message": "page not found"})
            if vn > _vnum(self.api_version):
                return self._send(h, method, 400, {"message": "client version %s is too new. Maximum supported "
                                                              "API version is %s" % (vs, self.api_version)})
            if vn < _vnum(self.min_version):
                return self._send(h, method, 400, {"message": "client version %s is too old. Minimum supported "
                                                              "API version is %s, please upgrade your client to "
                                                              "a newer version" % (vs, self.min_version)})
        if path == "/_ping":
            return self._send(h, method, 200, b"OK", "text/plain; charset=utf-8",
                              {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache"})
        if method != "GET":
            return self._send(h, method, 404, {"message": "page not found"})
        if path == "/version":
            return self._send(h, method, 200, {"Version": "24.0.0", "ApiVersion": self.api_version,
                                               "MinAPIVersion": self.min_version, "Os": "linux",
                                               "Arch": "amd64", "KernelVersion": os.uname().release})
        if path != "/events":
            return self._send(h, method, 404, {"message": "page not found"})
        try:
            filters = json.loads(q.get("filters") or "{}")
            if not isinstance(filters, dict) or not all(
                    isinstance(v, list) and all(isinstance(x, str) for x in v) for v in filters.values()):
                raise ValueError
        except ValueError:
            return self._send(h, method, 400, {"message": "invalid filter: expected a JSON map of string lists"})
        for k in filters:
            if k not in FILTER_KEYS:
                return self._send(h, method, 400, {"message": "invalid filter '%s'" % k})
        try:
            since = _parse_ts(q["since"]) if q.get("since") else None
            until = _parse_ts(q["until"]) if q.get("until") else None
        except ValueError:
            return self._send(h, method, 400, {"message": "invalid since/until timestamp"})
        s = _Stream(filters, until)
        with self._lock:
            if since is not None:
                for ev in self.journal:
                    if ev["timeNano"] >= since and self._match(ev, filters):
                        s.queue.append(("event", ev))
            self.streams.append(s)
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Api-Version", self.api_version)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.wfile.flush()
        try:
            while True:
                with s.cond:
                    while not s.queue:
                        s.cond.wait(0.5)
                    items = list(s.queue)
                    s.queue.clear()
                done = False
                for it in items:
                    if it[0] == "event":
                        if until is not None and it[1]["timeNano"] > until:
                            continue
                        line = json.dumps(it[1]).encode() + b"\n"
                        h.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                    elif it[0] == "raw":
                        h.wfile.write(b"%x\r\n%s\r\n" % (len(it[1]), it[1]))
                    elif it[0] == "cut":
                        h.wfile.flush()
                        try:
                            h.connection.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                        done = True
                        break
                h.wfile.flush()
                if done:
                    break
        except OSError:
            pass
        finally:
            h.close_connection = True
            with self._lock:
                if s in self.streams:
                    self.streams.remove(s)
