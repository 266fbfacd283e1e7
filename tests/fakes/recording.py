"""recording.py - the common base of herald's recording fake sinks.

DESIGN: a FakeServer is a ThreadingHTTPServer speaking HTTP/1.1 with
keep-alive (every answer carries Content-Length), bound to 127.0.0.1 on a
free port unless told otherwise. Every request is recorded (method, path,
query, headers, body, the status answered) before its answer is written, so
a test that waits for a request and then looks at herald only has to poll
herald. Subclasses implement handle(req) -> (status, headers, body).

Failure injection sits in front of handle():
  inject(n, status=503, retry_after=1)   the next n matching requests fail
  inject(n, close=True)                  ... or see their connection closed
  fail_always(status=400, body=...)      every matching request fails until
                                         clear_failures()
  down() / up()                          stop listening (connection refused,
                                         open keep-alive connections cut) and
                                         listen again on the same port.

Thread-safety: requests and the subclass's stored data are guarded by
self._lock; waiters sleep on self._cond (notified on every recorded request).
Stdlib only: runs under Debian's /usr/bin/python3.
"""

import collections
import gzip
import json
import socket
import sys
import threading
import time
import urllib.parse
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Request:
    """One recorded HTTP request."""

    __slots__ = ("method", "path", "query", "headers", "body", "raw_body",
                 "status", "response", "t", "conn_id")

    def __init__(self, method, path, query, headers, body, raw_body, conn_id):
        self.method = method
        self.path = path              # decoded path, without the query string
        self.query = query            # {name: [values]}
        self.headers = headers        # {lower-case name: value}
        self.body = body              # bytes, after Content-Encoding
        self.raw_body = raw_body      # bytes as received
        self.status = None            # status answered; 0 = connection closed
        self.response = b""
        self.t = time.monotonic()
        self.conn_id = conn_id        # same value = same TCP connection

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def q(self, name, default=None):
        vals = self.query.get(name)
        return vals[0] if vals else default

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<%s %s -> %s, %d bytes>" % (self.method, self.path, self.status, len(self.body))


class _Injection:
    __slots__ = ("remaining", "status", "body", "headers", "close", "delay", "match")

    def __init__(self, remaining, status, body, headers, close, delay, match):
        self.remaining = remaining
        self.status = status
        self.body = body
        self.headers = headers
        self.close = close
        self.delay = delay
        self.match = match


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # An idle keep-alive connection is dropped after this many seconds.
    timeout = 120

    def setup(self):
        super().setup()
        self.conn_id = self.server.fake._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.fake._track(self.connection, False)

    def log_message(self, fmt, *args):
        if self.server.fake.verbose:
            sys.stderr.write("%s: %s\n" % (self.server.fake.name, fmt % args))

    def _serve(self):
        self.server.fake._serve(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def _read_exact(rfile, n):
    chunks = []
    while n > 0:
        chunk = rfile.read(n)
        if not chunk:
            raise ConnectionError("connection closed inside the body")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_chunked(rfile):
    out = []
    while True:
        line = rfile.readline(65537)
        if not line:
            raise ConnectionError("connection closed inside a chunk header")
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            # trailers up to the blank line
            while True:
                t = rfile.readline(65537)
                if not t or t in (b"\r\n", b"\n"):
                    break
            return b"".join(out)
        out.append(_read_exact(rfile, size))
        rfile.readline(3)  # CRLF after the chunk


class FakeServer:
    """Base class: recording, waiting, failure injection, down/up."""

    name = "fake"

    def __init__(self, host="127.0.0.1", port=0, verbose=False, ssl_context=None):
        self.host = host
        self.port = port
        self.verbose = verbose
        self.ssl_context = ssl_context  # an ssl.SSLContext: serve HTTPS
        self.requests = []
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._httpd = None
        self._thread = None
        self._conns = {}
        self._next_conn = 0
        self._inject = collections.deque()
        self._sticky = None

    # ---- lifecycle -------------------------------------------------------

    @property
    def url(self):
        return "%s://%s:%d" % ("https" if self.ssl_context else "http", self.host, self.port)

    @property
    def is_up(self):
        return self._httpd is not None

    def start(self):
        """Starts listening (on the same port as before after a down())."""
        if self._httpd is not None:
            return self
        httpd = _Server((self.host, self.port), _Handler)
        if self.ssl_context is not None:
            httpd.socket = self.ssl_context.wrap_socket(httpd.socket, server_side=True)
        httpd.fake = self
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="%s:%d" % (self.name, self.port), daemon=True)
        self._thread.start()
        return self

    def down(self):
        """Stops listening and cuts the open connections: herald sees
        'connection refused' / 'connection reset' until up()."""
        httpd = self._httpd
        if httpd is None:
            return
        self._httpd = None
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._conns.values())
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def up(self):
        """Listens again on the same port (retries briefly if the port is
        still held by a closing socket)."""
        deadline = time.monotonic() + 5
        while True:
            try:
                return self.start()
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self):
        self.down()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def _track(self, conn, add):
        with self._lock:
            if add:
                self._next_conn += 1
                self._conns[id(conn)] = conn
                return self._next_conn
            self._conns.pop(id(conn), None)
            return 0

    # ---- failure injection -----------------------------------------------

    def inject(self, n=1, status=503, body=None, headers=None, retry_after=None,
               close=False, delay=0.0, match=None):
        """The next n requests accepted by match(req) (default: every data
        request, see is_data_request) answer status with body (default: the
        service's own error body for that status), or have their connection
        closed without an answer (close=True). delay sleeps before answering
        (to exercise client timeouts)."""
        hdrs = list(headers or [])
        if retry_after is not None:
            hdrs.append(("Retry-After", str(retry_after)))
        with self._lock:
            self._inject.append(_Injection(n, status, body, hdrs, close, delay, match))

    def fail_always(self, status=503, body=None, headers=None, retry_after=None,
                    close=False, delay=0.0, match=None):
        """Every matching request fails until clear_failures()."""
        hdrs = list(headers or [])
        if retry_after is not None:
            hdrs.append(("Retry-After", str(retry_after)))
        with self._lock:
            self._sticky = _Injection(None, status, body, hdrs, close, delay, match)

    def clear_failures(self):
        with self._lock:
            self._inject.clear()
            self._sticky = None

    def is_data_request(self, req):
        """Requests that failure injection applies to by default."""
        return True

    def _take_injection(self, req):
        with self._lock:
            if self._sticky is not None and self._matches(self._sticky, req):
                return self._sticky
            if self._inject:
                inj = self._inject[0]
                if self._matches(inj, req):
                    inj.remaining -= 1
                    if inj.remaining <= 0:
                        self._inject.popleft()
                    return inj
        return None

    def _matches(self, inj, req):
        if inj.match is not None:
            return bool(inj.match(req))
        return self.is_data_request(req)

    # ---- recording and waiting -------------------------------------------

    def clear(self):
        """Forgets recorded requests (and, in subclasses, stored data)."""
        with self._lock:
            self.requests.clear()

    def snapshot(self, pred=None):
        with self._lock:
            return [r for r in self.requests if pred is None or pred(r)]

    def count(self, pred=None):
        return len(self.snapshot(pred))

    def wait_for(self, n, timeout=10.0, pred=None):
        """Waits until at least n recorded requests satisfy pred (default:
        all) and returns them; AssertionError naming what was seen on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [r for r in self.requests if pred is None or pred(r)]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s: waited %.1fs for %d requests, got %d: %r"
                                         % (self.name, timeout, n, len(got), self.requests[-10:]))
                self._cond.wait(min(left, 0.2))

    def wait_until(self, fn, timeout=10.0, what="condition"):
        """Waits until fn() (called under the fake's lock) is truthy."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                v = fn()
                if v:
                    return v
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s: waited %.1fs for %s" % (self.name, timeout, what))
                self._cond.wait(min(left, 0.2))

    def _record(self, req):
        with self._cond:
            self.requests.append(req)
            self._cond.notify_all()

    # ---- serving -----------------------------------------------------------

    def handle(self, req):
        """Subclasses: returns (status, [(header, value)], body bytes)."""
        return 404, [], b""

    def failure_response(self, status, body):
        """Subclasses: the service's own error body for an injected status."""
        if body is None:
            body = b""
        return [("Content-Type", "application/json")], body

    def _serve(self, h):
        try:
            te = (h.headers.get("Transfer-Encoding") or "").lower()
            if "chunked" in te:
                raw = _read_chunked(h.rfile)
            else:
                raw = _read_exact(h.rfile, int(h.headers.get("Content-Length") or 0))
        except (ValueError, OSError, ConnectionError):
            h.close_connection = True
            return
        body = raw
        enc = (h.headers.get("Content-Encoding") or "").lower()
        try:
            if enc == "gzip":
                body = gzip.decompress(raw)
            elif enc == "deflate":
                body = zlib.decompress(raw)
        except (OSError, zlib.error, EOFError):
            body = raw
        parts = urllib.parse.urlsplit(h.path)
        headers = {}
        for k, v in h.headers.items():
            k = k.lower()
            headers[k] = v if k not in headers else headers[k] + ", " + v
        req = Request(h.command, urllib.parse.unquote(parts.path),
                      urllib.parse.parse_qs(parts.query, keep_blank_values=True),
                      headers, body, raw, getattr(h, "conn_id", 0))

        inj = self._take_injection(req)
        if inj is not None and inj.delay:
            time.sleep(inj.delay)
        if inj is not None and inj.close:
            req.status = 0
            self._record(req)
            h.close_connection = True
            try:
                h.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        # The answer is computed and the request recorded under one hold of
        # the lock: a test that sees what the handler stored (documents,
        # messages) also sees the request with its status.
        with self._cond:
            if inj is not None:
                status = inj.status
                hdrs, out = self.failure_response(status, inj.body)
                hdrs = list(hdrs) + list(inj.headers)
            else:
                try:
                    status, hdrs, out = self.handle(req)
                except Exception as e:  # a bug in the fake must not look like a sink answer
                    status, hdrs, out = 599, [("Content-Type", "text/plain")], repr(e).encode()
                    sys.stderr.write("%s: handler error: %r\n" % (self.name, e))
            if isinstance(out, (dict, list)):
                out = json.dumps(out, separators=(",", ":")).encode()
            req.status = status
            req.response = out
            self._record(req)
        try:
            h.send_response(status)
            names = set()
            for k, v in hdrs:
                h.send_header(k, v)
                names.add(k.lower())
            if "content-type" not in names:
                h.send_header("Content-Type", "application/json; charset=UTF-8")
            h.send_header("Content-Length", str(len(out)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(out)
            h.wfile.flush()
        except OSError:
            h.close_connection = True


def run_standalone(fake):
    """Runs a fake until SIGINT/SIGTERM (for `python3 fake_x.py --port N`)."""
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    fake.start()
    print("%s listening on %s" % (fake.name, fake.url), flush=True)
    while not stop.wait(0.5):
        pass
    fake.stop()


class OkSink(FakeServer):
    """A webhook receiver that records and accepts every request (200 {})."""

    name = "ok_sink"

    def handle(self, req):
        return 200, [("Content-Type", "application/json")], b"{}"
