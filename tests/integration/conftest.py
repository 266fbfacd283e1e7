"""conftest.py - fixtures for herald's integration tests.

DESIGN: every test gets its own herald process (HERALD_BIN) with its own
config file and data dir under tmp_path, listening on a free 127.0.0.1 port,
and its own recording fakes (tests/fakes). Nothing is shared between tests,
so a count seen through the API is exact. All waiting is bounded polling
(poll()); herald's stderr goes to a file per start, registered for
test_secrets.py, which runs last and greps every log for every secret the
suite registered (API tokens, header secrets).

Config written for herald (SPEC section 3): listen, dataDir, tokens admin /
ingest / read given as ${VAR} references resolved from the environment herald
is started with, delivery.retryInitial 100ms / retryMax 1s so retries are
fast, plus whatever a test adds (limits, channels, metrics ...).
"""

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))

from fake_es import FakeElasticsearch  # noqa: E402
from fake_splunk import FakeSplunk  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
FIXTURES = os.environ.get("HERALD_FIXTURES", os.path.join(REPO, "tests", "fixtures"))
HERALD_BIN = os.environ.get("HERALD_BIN", os.path.join(REPO, "build", "herald"))


def _sanitized(path):
    """Whether the binary is built with AddressSanitizer (its RSS holds a
    quarantine of freed memory: memory figures mean nothing there)."""
    try:
        return b"libasan" in subprocess.run(["ldd", path], capture_output=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False


SANITIZED = _sanitized(HERALD_BIN)


def status_kb(pid, field):
    """A kB field of /proc/PID/status (VmRSS, VmHWM ...)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError("no %s in /proc/%d/status" % (field, pid))
MASK = "********"

# Every stderr log herald wrote in this session, and every secret that must
# never appear in one (checked by test_secrets.py, which runs last).
SESSION_LOGS = []
SESSION_SECRETS = set()


def register_secret(value):
    """Remembers a secret the logs must never contain (short values are
    skipped: they occur in any text by chance)."""
    if isinstance(value, str) and len(value) >= 8:
        SESSION_SECRETS.add(value)
    return value


def fixture_path(rel):
    return os.path.join(FIXTURES, rel)


def fixture_bytes(rel):
    with open(fixture_path(rel), "rb") as f:
        return f.read()


def fixture_json(rel):
    return json.loads(fixture_bytes(rel))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def poll(fn, timeout=10.0, interval=0.05, what="condition"):
    """Calls fn until it returns a truthy value (returned) or timeout
    (AssertionError naming what and the last value / exception)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            v = fn()
            if v:
                return v
            last = v
        except (AssertionError, OSError, http.client.HTTPException, ValueError, KeyError) as e:
            last = e
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))
        time.sleep(interval)


# ---- HTTP client ---------------------------------------------------------------

class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers      # {lower-case name: value}
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name):
        return self.headers.get(name.lower())

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300])


def http_call(port, method, path, body=None, headers=None, query=None, host="127.0.0.1", timeout=30):
    """One request on a fresh connection; body may be bytes, str or a
    JSON-able object (sent as application/json unless headers say otherwise)."""
    hdrs = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, bytearray, str)):
        body = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode()
    if query:
        path = path + ("&" if "?" in path else "?") + urllib.parse.urlencode(query)
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


def assert_error(resp, status, *needles):
    """Sysdig's error envelope {"errors":[{"reason","message"}]} with status,
    the message naming each needle (case-insensitive)."""
    assert resp.status == status, "expected %d, got %r" % (status, resp)
    assert isinstance(resp.json, dict) and isinstance(resp.json.get("errors"), list) and resp.json["errors"], resp
    e = resp.json["errors"][0]
    assert isinstance(e.get("reason"), str) and e["reason"], resp
    assert isinstance(e.get("message"), str) and e["message"], resp
    for n in needles:
        assert n.lower() in e["message"].lower(), "%r not in error message %r" % (n, e["message"])
    return e["message"]


# ---- herald process ---------------------------------------------------------------

def to_yaml(cfg):
    """Top-level keys as YAML, values in JSON flow style (valid YAML)."""
    lines = []
    for k, v in cfg.items():
        if k == "tokens" and isinstance(v, list):
            lines.append("tokens:")
            for t in v:
                lines.append("  - " + json.dumps(t))
        else:
            lines.append("%s: %s" % (k, json.dumps(v)))
    return "\n".join(lines) + "\n"


PG_BASE = os.environ.get("HERALD_TEST_PG_BASE")


def pg_database(base):
    """A fresh, empty database on the PostgreSQL at base; its URL."""
    import urllib.parse
    name = "h_" + secrets.token_hex(6)
    out = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", base, "-c", "CREATE DATABASE %s" % name],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    u = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


class Herald:
    """One herald daemon: config in dir/herald.yaml, data in dir/data, stderr
    in dir/herald-<n>.log (one file per start)."""

    def __init__(self, dir, extra=None, tokens=True, env=None, args=None, config_text=None):
        self.dir = str(dir)
        os.makedirs(self.dir, exist_ok=True)
        self.data_dir = os.path.join(self.dir, "data")
        self.config_path = os.path.join(self.dir, "herald.yaml")
        self.port = free_port()
        self.proc = None
        self.starts = 0
        self.log_path = None
        self.args = list(args or [])
        self.admin_token = register_secret("adm-" + secrets.token_hex(16))
        self.ingest_token = register_secret("ing-" + secrets.token_hex(16))
        self.read_token = register_secret("rd-" + secrets.token_hex(16))
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
        self.env.update({"HT_ADMIN_TOKEN": self.admin_token, "HT_INGEST_TOKEN": self.ingest_token,
                         "HT_READ_TOKEN": self.read_token})
        self.env.update(env or {})
        self.tokens = tokens
        self.extra = dict(extra or {})
        self.config_text = config_text
        self.write_config()

    # -- config --
    def config(self):
        cfg = {"listen": "127.0.0.1:%d" % self.port, "dataDir": self.data_dir}
        if self.tokens:
            cfg["tokens"] = [
                {"name": "admin", "token": "${HT_ADMIN_TOKEN}", "scope": "admin"},
                {"name": "ingest", "token": "${HT_INGEST_TOKEN}", "scope": "ingest"},
                {"name": "reader", "token": "${HT_READ_TOKEN}", "scope": "read"},
            ]
        cfg["delivery"] = {"retryInitial": "100ms", "retryMax": "1s"}
        if PG_BASE and "store" not in self.extra:
            # HERALD_TEST_PG_BASE: the whole suite on PostgreSQL, a database per daemon
            if getattr(self, "pg_url", None) is None:
                self.pg_url = pg_database(PG_BASE)
            cfg["store"] = self.pg_url
        for k, v in self.extra.items():
            if isinstance(v, dict) and isinstance(cfg.get(k), dict):
                cfg[k] = dict(cfg[k], **v)
            elif v is None:
                cfg.pop(k, None)
            else:
                cfg[k] = v
        return cfg

    def write_config(self, extra=None, text=None):
        if extra is not None:
            self.extra = dict(extra)
        if text is not None:
            self.config_text = text
        with open(self.config_path, "w") as f:
            f.write(self.config_text if self.config_text is not None else to_yaml(self.config()))

    # -- process --
    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def command(self):
        return [HERALD_BIN, "serve", "--config", self.config_path] + self.args

    def spawn(self):
        """Starts the process without waiting (config errors, token file ...)."""
        if not os.path.exists(HERALD_BIN):
            pytest.fail("HERALD_BIN %s does not exist (build herald first)" % HERALD_BIN)
        self.starts += 1
        self.killed = False
        self.log_path = os.path.join(self.dir, "herald-%d.log" % self.starts)
        SESSION_LOGS.append(self.log_path)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, env=self.env, cwd=self.dir)
        return self.proc

    def start(self, timeout=20.0):
        for attempt in range(3):
            self.spawn()
            try:
                self.wait_ready(timeout)
                return self
            except AssertionError:
                if self.proc.poll() is not None and attempt < 2 and "in use" in self.log().lower():
                    self._log.close()
                    self.port = free_port()    # lost a race for the port
                    self.write_config()
                    continue
                raise
        return self

    def wait_ready(self, timeout=20.0):
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("herald exited with %s during start; log:\n%s" % (self.proc.returncode, self.log()))
            try:
                return http_call(self.port, "GET", "/readyz", timeout=2).status == 200
            except OSError:
                return False
        try:
            poll(ready, timeout, what="herald /readyz")
        except RuntimeError as e:
            raise AssertionError(str(e))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout=15.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise AssertionError("herald did not exit within %.0fs; log:\n%s" % (timeout, self.log()[-4000:]))
        finally:
            self._log.close()

    def stop(self, timeout=15.0, check=True):
        """Graceful stop (SIGTERM); asserts exit code 0."""
        if not self.running():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        rc = self.wait_exit(timeout)
        if check:
            assert rc == 0, "herald exited %s on SIGTERM; log:\n%s" % (rc, self.log()[-4000:])
        return rc

    def kill(self):
        """kill -9."""
        if self.running():
            self.killed = True
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
            self._log.close()

    def restart(self, kill=False):
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def sighup(self):
        self.proc.send_signal(signal.SIGHUP)

    def log(self, all_starts=False):
        paths = [os.path.join(self.dir, "herald-%d.log" % i) for i in range(1, self.starts + 1)]
        if not all_starts:
            paths = paths[-1:]
        out = []
        for p in paths:
            if os.path.exists(p):
                with open(p, "rb") as f:
                    out.append(f.read().decode("utf-8", "replace"))
        return "".join(out)

    # -- API --
    def token(self, which):
        return {"admin": self.admin_token, "ingest": self.ingest_token, "read": self.read_token}.get(which, which)

    def api(self, method, path, body=None, token="admin", headers=None, query=None, timeout=30):
        hdrs = dict(headers or {})
        if token is not None:
            hdrs.setdefault("Authorization", "Bearer " + self.token(token))
        return http_call(self.port, method, path, body, hdrs, query, timeout=timeout)

    def post_events(self, body, token="ingest", fmt=None, content_type="application/json", headers=None):
        hdrs = {"Content-Type": content_type} if content_type else {}
        hdrs.update(headers or {})
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        return self.api("POST", "/api/events", body, token=token, headers=hdrs,
                        query={"format": fmt} if fmt else None)

    def ingest(self, body, **kw):
        """post_events asserting 202; returns the ids."""
        r = self.post_events(body, **kw)
        assert r.status == 202, r
        assert r.json["accepted"] == len(r.json["ids"]), r
        return r.json["ids"]

    def create_channel(self, obj):
        r = self.api("POST", "/api/notificationChannels", {"notificationChannel": obj})
        assert r.status == 201, r
        return r.json["notificationChannel"]

    def webhook(self, name, url, **options):
        opts = {"url": url, "notifyOnOk": True, "notifyOnResolve": True}
        opts.update(options)
        for v in (opts.get("additionalHeaders") or {}).values():
            register_secret(v)
        return self.create_channel({"type": "WEBHOOK", "name": name, "enabled": True, "options": opts})

    def get_channel(self, cid):
        r = self.api("GET", "/api/notificationChannels/%s" % cid)
        assert r.status == 200, r
        return r.json["notificationChannel"]

    def events(self, **query):
        query.setdefault("limit", 1000)
        r = self.api("GET", "/api/events", query=query)
        assert r.status == 200, r
        return r.json["events"]

    def event_pages(self, limit=1000):
        """Each answer of GET /api/events, paging with nextCursor."""
        cursor = None
        while True:
            q = {"limit": limit}
            if cursor:
                q["cursor"] = cursor
            r = self.api("GET", "/api/events", query=q)
            assert r.status == 200, r
            yield r
            cursor = r.json.get("nextCursor")
            if not cursor:
                return

    def all_event_ids(self):
        """Every stored event id, paging with nextCursor."""
        return {e["id"] for r in self.event_pages() for e in r.json["events"]}

    def event(self, eid):
        r = self.api("GET", "/api/events/%s" % eid)
        assert r.status == 200, r
        return r.json["event"]

    def deliveries(self, **query):
        r = self.api("GET", "/api/deliveries", query=query)
        assert r.status == 200, r
        return r.json["deliveries"]

    def metrics(self):
        r = self.api("GET", "/metrics")
        assert r.status == 200, r
        return r.text


def metric_values(text, name):
    """{labels string: value} of the samples of metric name in Prometheus text."""
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        rest = line[len(name):]
        if rest[:1] not in ("{", " "):
            continue
        labels = ""
        if rest.startswith("{"):
            labels, _, rest = rest[1:].partition("}")
        try:
            out[labels] = float(rest.split()[0])
        except (IndexError, ValueError):
            pass
    return out


def dget(d, *names, default=None):
    """First present key among names (camelCase first; tolerant readers)."""
    for n in names:
        if isinstance(d, dict) and n in d:
            return d[n]
    return default


# ---- fixtures -------------------------------------------------------------------

@pytest.fixture
def herald_factory(tmp_path):
    made = []

    def make(name="h", start=True, **kw):
        h = Herald(tmp_path / name, **kw)
        made.append(h)
        if start:
            h.start()
        return h

    yield make
    errors = []
    for h in made:
        if h.running():
            h.proc.send_signal(signal.SIGTERM)
            try:
                rc = h.proc.wait(15)
            except subprocess.TimeoutExpired:
                h.kill()
                rc = "timeout"
            h._log.close()
            if rc != 0:
                errors.append("herald in %s exited %s on SIGTERM at teardown; log tail:\n%s"
                              % (h.dir, rc, h.log()[-3000:]))
        elif h.proc is not None and h.proc.returncode not in (0, None) and not h.killed:
            errors.append("herald in %s died during the test (exit %s); log tail:\n%s"
                          % (h.dir, h.proc.returncode, h.log()[-3000:]))
    if errors:
        pytest.fail("\n".join(errors))


@pytest.fixture
def herald(herald_factory):
    return herald_factory()


@pytest.fixture
def fake_es():
    with FakeElasticsearch() as f:
        yield f


@pytest.fixture
def fake_splunk():
    tok = register_secret("hec-" + secrets.token_hex(12))
    with FakeSplunk(tokens=[tok]) as f:
        yield f


def unique_event(marker, **extra):
    """A generic JSON event carrying a unique marker (readable at the fakes)."""
    ev = {"kind": "herald-itest", "marker": marker, "message": "event " + marker}
    ev.update(extra)
    return ev
