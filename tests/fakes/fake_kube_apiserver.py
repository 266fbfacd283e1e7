"""fake_kube_apiserver.py - a kube-apiserver serving core/v1 Events, for
herald's Kubernetes watcher.

DESIGN: written from the Kubernetes documentation "Kubernetes API Concepts"
(efficient detection of changes, watch bookmarks, 410 Gone responses,
retrieving large results in chunks; excerpt in
tests/fixtures/k8s/k8s_watch_docs_excerpt.txt) and the shapes of
apimachinery's Status (NewResourceExpired: Failure, reason Expired, code 410;
tests/fixtures/k8s/k8s_watch_error_410_expired.json):

- HTTPS (a self-signed certificate made with the openssl CLI) and
  `Authorization: Bearer <token>`; a missing or unknown token is 401 with a
  Status body, like the apiserver's authenticator. Tokens can be rotated.
- GET /api/v1/events and /api/v1/namespaces/{ns}/events:
  * list: `limit` + `continue` chunks; the EventList's metadata carries the
    resourceVersion of the list and `continue` while items remain; items omit
    kind/apiVersion as the real server's typed lists do. A continue token
    from before a compaction is 410 Expired.
  * `watch=true|1`: a chunked stream (Transfer-Encoding: chunked,
    Content-Type: application/json) of {"type","object"} lines for every
    change after `resourceVersion` (then live ones); a resourceVersion older
    than the compacted history answers 200 and one ERROR event with the 410
    Expired Status, then ends, as the watch cache does. `allowWatchBookmarks`
    enables BOOKMARK events (sent when the test asks). `timeoutSeconds` ends
    the stream cleanly. The test can cut every open watch (a dropped TCP
    connection) or send an ERROR 410 down them.
  * `fieldSelector`: `field=value`, `field==value`, `field!=value`, comma
    separated, on the fields the apiserver supports for Events; any other
    field is 400 BadRequest `field label not supported: <f>`.
- Anything else: 404 Status NotFound; a method other than GET: 405.

Every request is recorded (path, query, whether its token was accepted) for
assertions. Stdlib only.
"""

import json
import os
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EVENT_FIELDS = {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
                "involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
                "reason", "reportingComponent", "source", "type", "metadata.namespace", "metadata.name"}


def make_cert(dirpath):
    """Self-signed certificate for 127.0.0.1/localhost; returns (cert, key)."""
    cert = os.path.join(dirpath, "kube-apiserver.crt")
    key = os.path.join(dirpath, "kube-apiserver.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=kube-apiserver",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def _field(obj, path):
    if path == "source":
        return (obj.get("source") or {}).get("component", "")
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    return "" if cur is None else str(cur)


def parse_selector(sel):
    """[(field, op, value)] or raises ValueError(message)."""
    out = []
    if not sel:
        return out
    for term in sel.split(","):
        for op in ("!=", "==", "="):
            if op in term:
                f, v = term.split(op, 1)
                break
        else:
            raise ValueError("invalid selector: '%s'; can't understand '%s'" % (sel, term))
        f = f.strip()
        if f not in EVENT_FIELDS:
            raise ValueError('field label not supported: %s' % f)
        out.append((f, "!=" if op == "!=" else "=", v.strip()))
    return out


def selected(obj, ns, terms):
    if ns is not None and obj["metadata"].get("namespace") != ns:
        return False
    for f, op, v in terms:
        if (_field(obj, f) == v) != (op == "="):
            return False
    return True


class _Watch:
    def __init__(self, ns, terms, bookmarks):
        self.ns = ns
        self.terms = terms
        self.bookmarks = bookmarks
        self.queue = []          # ("event", dict) | ("cut",) | ("raw", bytes)
        self.cond = threading.Condition()


class FakeKubeApiserver:
    def __init__(self, dirpath, token, split_lines=False):
        self.dirpath = str(dirpath)
        self.cert, self.key = make_cert(self.dirpath)
        self.tokens = {token}
        self.split_lines = split_lines   # write each watch line in two chunks
        self._lock = threading.Lock()
        self.rv = 1000
        self.objects = {}                # uid -> object (current)
        self.history = []                # (rv, type, object copy)
        self.compacted_rv = 0            # watches from rv < this are 410
        self.requests = []               # dicts: path, query, authorized, watch
        self.watches = []
        self.server = None
        self.thread = None

    # ---- lifecycle ----
    def start(self):
        srv = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def do_GET(self):
                srv._handle(self)

            def _not_allowed(self):
                srv._send_json(self, 405, status(405, "MethodNotAllowed", "the server does not allow this method"))

            do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed

        class S(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = S(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.cut_watches()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.server.server_address[1]

    # ---- test controls ----
    def rotate_token(self, new):
        with self._lock:
            self.tokens = {new}

    def _next_rv(self):
        self.rv += 1
        return str(self.rv)

    def _publish(self, typ, obj):
        obj = json.loads(json.dumps(obj))   # the state at this resourceVersion
        ev = {"type": typ, "object": obj}
        self.history.append((int(obj["metadata"]["resourceVersion"]), typ, obj))
        for w in list(self.watches):
            if selected(obj, w.ns, w.terms):
                with w.cond:
                    w.queue.append(("event", ev))
                    w.cond.notify_all()

    def add_event(self, obj):
        """Stores a core/v1 Event (uid, resourceVersion set here); returns it."""
        obj = json.loads(json.dumps(obj))
        with self._lock:
            md = obj.setdefault("metadata", {})
            md.setdefault("uid", str(uuid.uuid4()))
            md["resourceVersion"] = self._next_rv()
            obj.setdefault("kind", "Event")
            obj.setdefault("apiVersion", "v1")
            self.objects[md["uid"]] = obj
            self._publish("ADDED", obj)
            return obj

    def modify_event(self, uid, **changes):
        with self._lock:
            obj = self.objects[uid]
            obj.update(changes)
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self._publish("MODIFIED", obj)
            return obj

    def delete_event(self, uid):
        with self._lock:
            obj = self.objects.pop(uid)
            obj["metadata"]["resourceVersion"] = self._next_rv()
            self._publish("DELETED", obj)

    def compact(self):
        """Forgets the history up to now: older resourceVersions expire."""
        with self._lock:
            self.compacted_rv = self.rv + 1
            self.history = []

    def bookmark(self):
        """Sends a BOOKMARK with the current resourceVersion to watches that asked."""
        with self._lock:
            rv = str(self.rv)
            for w in self.watches:
                if w.bookmarks:
                    with w.cond:
                        w.queue.append(("event", {"type": "BOOKMARK", "object": {
                            "kind": "Event", "apiVersion": "v1", "metadata": {"resourceVersion": rv}}}))
                        w.cond.notify_all()

    def expire_watches(self):
        """An ERROR 410 Expired down every open watch (then the server ends it)."""
        with self._lock:
            for w in self.watches:
                with w.cond:
                    w.queue.append(("event", {"type": "ERROR", "object": status(
                        410, "Expired", "too old resource version: %d (%d)" % (self.rv - 5, self.rv))}))
                    w.queue.append(("end",))
                    w.cond.notify_all()

    def cut_watches(self, partial=None):
        """Drops every open watch connection (after `partial` bytes, if given)."""
        with self._lock:
            for w in self.watches:
                with w.cond:
                    if partial is not None:
                        w.queue.append(("raw", partial))
                    w.queue.append(("cut",))
                    w.cond.notify_all()

    def open_watches(self):
        with self._lock:
            return len(self.watches)

    def watch_requests(self):
        with self._lock:
            return [r for r in self.requests if r["watch"]]

    def list_requests(self):
        with self._lock:
            return [r for r in self.requests if not r["watch"] and r["authorized"]]

    # ---- HTTP ----
    def _send_json(self, h, code, obj):
        body = json.dumps(obj).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _handle(self, h):
        u = urllib.parse.urlsplit(h.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        qs = {k: v[0] for k, v in q.items()}
        auth = h.headers.get("Authorization", "")
        with self._lock:
            ok = auth.startswith("Bearer ") and auth[7:] in self.tokens
            watch = qs.get("watch") in ("true", "1")
            self.requests.append({"path": u.path, "query": qs, "authorized": ok, "watch": watch,
                                  "accept": h.headers.get("Accept")})
        if not ok:
            return self._send_json(h, 401, status(401, "Unauthorized", "Unauthorized"))
        parts = u.path.strip("/").split("/")
        ns = None
        if parts == ["api", "v1", "events"]:
            pass
        elif len(parts) == 5 and parts[:3] == ["api", "v1", "namespaces"] and parts[4] == "events":
            ns = parts[3]
        else:
            return self._send_json(h, 404, status(404, "NotFound", "the server could not find the requested resource"))
        try:
            terms = parse_selector(qs.get("fieldSelector", ""))
        except ValueError as e:
            return self._send_json(h, 400, status(400, "BadRequest", str(e)))
        if watch:
            return self._watch(h, ns, terms, qs)
        return self._list(h, ns, terms, qs)

    def _list(self, h, ns, terms, qs):
        try:
            limit = int(qs.get("limit", "0") or 0)
        except ValueError:
            return self._send_json(h, 400, status(400, "BadRequest", "limit: invalid value"))
        with self._lock:
            cont = qs.get("continue")
            if cont:
                try:
                    list_rv, offset = json.loads(urllib.parse.unquote(cont))
                except ValueError:
                    return self._send_json(h, 400, status(400, "BadRequest", "continue key is not valid"))
                if list_rv < self.compacted_rv:
                    return self._send_json(h, 410, status(
                        410, "Expired", "The provided continue parameter is too old to display a consistent "
                        "list result. You can start a new list without the continue parameter."))
            else:
                list_rv, offset = self.rv, 0
            items = sorted((o for o in self.objects.values() if selected(o, ns, terms)),
                           key=lambda o: int(o["metadata"]["resourceVersion"]))
            page = items[offset:offset + limit] if limit > 0 else items[offset:]
            out_items = []
            for o in page:
                o = dict(o)
                o.pop("kind", None)
                o.pop("apiVersion", None)
                out_items.append(o)
            md = {"resourceVersion": str(list_rv)}
            if limit > 0 and offset + limit < len(items):
                md["continue"] = urllib.parse.quote(json.dumps([list_rv, offset + limit]))
                md["remainingItemCount"] = len(items) - offset - limit
        return self._send_json(h, 200, {"kind": "EventList", "apiVersion": "v1", "metadata": md,
                                        "items": out_items})

    def _write_chunk(self, h, data):
        h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        h.wfile.flush()

    def _watch(self, h, ns, terms, qs):
        rv_s = qs.get("resourceVersion", "")
        try:
            timeout = float(qs.get("timeoutSeconds", "1800") or 1800)
        except ValueError:
            return self._send_json(h, 400, status(400, "BadRequest", "timeoutSeconds: invalid value"))
        w = _Watch(ns, terms, qs.get("allowWatchBookmarks") in ("true", "1"))
        with self._lock:
            try:
                rv = int(rv_s) if rv_s not in ("", "0") else self.rv
            except ValueError:
                return self._send_json(h, 400, status(400, "BadRequest", "resourceVersion: Invalid value: %r" % rv_s))
            if rv + 1 < self.compacted_rv:
                w.queue.append(("event", {"type": "ERROR", "object": status(
                    410, "Expired", "too old resource version: %d (%d)" % (rv, self.compacted_rv - 1))}))
                w.queue.append(("end",))
            else:
                for hrv, typ, obj in self.history:
                    if hrv > rv and selected(obj, ns, terms):
                        w.queue.append(("event", {"type": typ, "object": obj}))
            self.watches.append(w)
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        h.wfile.flush()
        deadline = time.monotonic() + timeout
        try:
            while True:
                with w.cond:
                    while not w.queue:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            break
                        w.cond.wait(min(left, 0.5))
                    items = list(w.queue)
                    w.queue.clear()
                if not items:     # timeoutSeconds: a clean end of the stream
                    self._write_chunk(h, b"")
                    break
                ended = False
                for it in items:
                    if it[0] == "event":
                        line = json.dumps(it[1]).encode() + b"\n"
                        if self.split_lines and len(line) > 10:
                            self._write_chunk(h, line[:len(line) // 2])
                            self._write_chunk(h, line[len(line) // 2:])
                        else:
                            self._write_chunk(h, line)
                    elif it[0] == "raw":
                        self._write_chunk(h, it[1])
                    elif it[0] == "cut":
                        h.close_connection = True
                        try:
                            h.connection.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                        ended = True
                        break
                    elif it[0] == "end":
                        self._write_chunk(h, b"")
                        ended = True
                        break
                if ended:
                    break
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        finally:
            h.close_connection = True
            with self._lock:
                if w in self.watches:
                    self.watches.remove(w)
