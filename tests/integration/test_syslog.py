"""SYSLOG against a real rsyslog (Debian's rsyslog 8 and rsyslog-gnutls),
SPEC section 4: RFC 5424 messages with RFC 6587 octet counting over TCP and
over TLS (RFC 5425), severity from the event.

DESIGN: each test starts its own rsyslogd in the foreground (-n) with a
generated config: imtcp on a free loopback port (octet-counted framing is
detected per frame by imtcp), optionally with the gtls netstream driver and
a self-signed certificate made here with openssl, and one ruleset writing
every message through a template of its RFC 5424 fields (PRI, timestamp,
hostname, app-name, msgid, structured data, msg) to a file in the test's
temp dir; pid file and work directory there too, so nothing outside it is
touched. Herald's channel points at it; the test polls the file.
"""

import json
import os
import shutil
import subprocess

import pytest

from conftest import fixture_bytes, fixture_json, free_port, poll

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
SECURE = "sysdig/sysdig_blog2018_secure_webhook_read_sensitive_file.json"
MONITOR = "sysdig/sysdig_monitor_webhook_metric_alert_active.json"
SEP = "\x1f"   # field separator in the output template


class Rsyslog:
    def __init__(self, dir, tls=False):
        self.dir = str(dir)
        os.makedirs(os.path.join(self.dir, "work"), exist_ok=True)
        self.port = free_port()
        self.out = os.path.join(self.dir, "out.log")
        self.conf = os.path.join(self.dir, "rsyslog.conf")
        self.pid = os.path.join(self.dir, "rsyslogd.pid")
        self.log_path = os.path.join(self.dir, "rsyslogd.log")
        self.tls = tls
        self.cert = os.path.join(self.dir, "cert.pem")
        self.proc = None

    def write_config(self):
        g = ('global(workDirectory="%s/work" maxMessageSize="64k"'
             ' parser.escapeControlCharactersOnReceive="off"' % self.dir)
        tcp = 'module(load="imtcp" maxSessions="50"'
        if self.tls:
            key = os.path.join(self.dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", key, "-out", self.cert], check=True, capture_output=True)
            g += (' defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="%s"'
                  ' defaultNetstreamDriverCertFile="%s" defaultNetstreamDriverKeyFile="%s"'
                  % (self.cert, self.cert, key))
            tcp += ' streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon"'
        fields = ["%PRI%", "%TIMESTAMP:::date-rfc3339%", "%HOSTNAME%", "%APP-NAME%", "%PROCID%", "%MSGID%",
                  "%STRUCTURED-DATA%", "%msg:::json%"]
        with open(self.conf, "w") as f:
            f.write(g + ")\n" + tcp + ")\n")
            f.write('input(type="imtcp" port="%d" address="127.0.0.1" ruleset="herald")\n' % self.port)
            f.write('template(name="fields" type="string" string="%s\\n")\n' % "\\x1f".join(fields)
                    .replace("\\x1f", SEP))
            f.write('ruleset(name="herald") { action(type="omfile" file="%s" template="fields") }\n' % self.out)

    def start(self):
        if not os.path.exists(RSYSLOGD):
            pytest.fail("rsyslogd is not installed (apt-get install rsyslog rsyslog-gnutls; scripts/setup.sh does)")
        self.write_config()
        check = subprocess.run([RSYSLOGD, "-N1", "-f", self.conf], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", self.conf, "-i", self.pid],
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError("rsyslogd exited: %s" % self.log())
            import socket
            s = socket.socket()
            try:
                s.settimeout(0.5)
                return s.connect_ex(("127.0.0.1", self.port)) == 0
            finally:
                s.close()
        poll(listening, 20, interval=0.1, what="rsyslogd listening")
        return self

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def records(self):
        if not os.path.exists(self.out):
            return []
        with open(self.out, encoding="utf-8") as f:
            out = []
            for line in f.read().splitlines():
                p = line.split(SEP)
                out.append({"pri": int(p[0]), "ts": p[1], "host": p[2], "app": p[3], "procid": p[4],
                            "msgid": p[5], "sd": p[6], "msg": json.loads('"%s"' % p[7])})
            return out

    def wait(self, n, timeout=20):
        return poll(lambda: len(self.records()) >= n and self.records(), timeout, what="%d syslog messages" % n)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self._log.close()


@pytest.fixture
def rsyslog(tmp_path):
    r = Rsyslog(tmp_path / "rsyslog").start()
    yield r
    r.stop()


def monitor(state, ts_offset=0):
    doc = fixture_json(MONITOR)
    doc["state"] = state
    doc["timestamp"] += ts_offset
    return doc


def channel(herald, url, name="syslog", **extra):
    opts = {"url": url, "notifyOnOk": True, "notifyOnResolve": True}
    opts.update(extra)
    return herald.create_channel({"type": "SYSLOG", "name": name, "enabled": True, "options": opts})


def test_article_event_and_resolve_over_tcp(herald, rsyslog):
    channel(herald, "tcp://127.0.0.1:%d" % rsyslog.port, facility="local4", appName="herald-it")
    raw = fixture_bytes(SECURE)
    herald.ingest(raw, fmt="sysdig")
    herald.ingest(monitor("ACTIVE"), fmt="sysdig")
    herald.ingest(monitor("OK", ts_offset=60000000), fmt="sysdig")
    recs = rsyslog.wait(3)
    assert len(recs) == 3, recs
    sec = [r for r in recs if r["msgid"] == "sysdig_secure"][0]
    assert sec["pri"] == 20 * 8 + 4, sec          # local4, Warning
    assert sec["host"] == "ip-10-0-8-165"
    assert sec["app"] == "herald-it"
    assert sec["ts"].startswith("2018-02-17T06:36:00")
    assert '[herald@32473 id="' in sec["sd"] and 'namespace="example-java-app"' in sec["sd"], sec["sd"]
    assert json.loads(sec["msg"]) == json.loads(raw), "the original event as MSG"
    mon = [r for r in recs if r["msgid"] == "sysdig_monitor"]
    assert ['state="ACTIVE"' in mon[0]["sd"], 'state="OK"' in mon[1]["sd"]] == [True, True]
    assert herald.deliveries(status="failed") == []


def test_batch_of_events_in_order(herald, rsyslog):
    channel(herald, "tcp://127.0.0.1:%d" % rsyslog.port, message="summary", batch={"maxDelayMs": 300})
    docs = [{"kind": "probe", "seq": i, "name": "probe %d" % i, "severity": i % 8} for i in range(40)]
    herald.ingest("\n".join(json.dumps(d) for d in docs), fmt="generic", content_type="application/x-ndjson")
    recs = rsyslog.wait(40)
    assert len(recs) == 40
    assert [r["msg"].split("probe ")[1].split()[0] for r in recs] == [str(i) for i in range(40)]
    assert all(r["pri"] // 8 == 16 for r in recs), "default facility local0"


def test_down_then_up_is_retried(herald, tmp_path):
    rs = Rsyslog(tmp_path / "rs")
    channel(herald, "tcp://127.0.0.1:%d" % rs.port)
    herald.ingest(monitor("ACTIVE"), fmt="sysdig")
    pending = poll(lambda: herald.deliveries(status="pending"), 20, what="a pending retry while rsyslog is down")
    assert "connect" in json.dumps(pending).lower(), pending
    rs.start()
    try:
        rs.wait(1, timeout=30)
        assert herald.deliveries(status="failed") == []
    finally:
        rs.stop()


def test_tls_with_gtls(herald, tmp_path):
    rs = Rsyslog(tmp_path / "tls", tls=True).start()
    try:
        # Without the CA, the self-signed certificate is refused (retried, nothing written).
        channel(herald, "tls://127.0.0.1:%d" % rs.port, name="strict")
        herald.ingest(monitor("ACTIVE"), fmt="sysdig")
        pending = poll(lambda: herald.deliveries(status="pending"), 20, what="a TLS failure")
        assert all(p["channelName"] == "strict" for p in pending)
        err = json.dumps(pending).lower()
        assert "certificate" in err or "ssl" in err, pending
        # (the strict channel stays: a deleted channel's id can be reused by the next
        # one, and the dispatcher may then keep the old one's settings: see the report)
        channel(herald, "tls://127.0.0.1:%d" % rs.port, name="verified", tls={"caFile": rs.cert})
        herald.ingest(monitor("OK", ts_offset=60000000), fmt="sysdig")
        recs = rs.wait(1)
        assert any('state="OK"' in r["sd"] for r in recs), recs
        # rsyslog saw the first channel abort the handshake (herald verified the certificate)
        assert "handshake" in rs.log(), rs.log()
    finally:
        rs.stop()


def test_test_notification(herald, rsyslog):
    ch = channel(herald, "tcp://127.0.0.1:%d" % rsyslog.port, message="summary")
    r = herald.api("POST", "/api/notificationChannels/%d/test" % ch["id"])
    assert r.status == 200 and r.json["result"]["delivered"] is True, r
    recs = rsyslog.wait(1)
    assert recs[0]["msg"].startswith("[TEST] "), recs
