"""A real Prometheus Alertmanager (Debian's prometheus-alertmanager) posting
webhook notifications to herald (SPEC section 5: one event per alert,
firing -> ACTIVE, resolved -> OK, alertKey = fingerprint, id = fingerprint +
status + start time).

DESIGN: the test starts Alertmanager itself on free loopback ports with
clustering off (--cluster.listen-address=), a generated config whose only
receiver is a webhook to herald's /api/events with the ingest token as
Bearer credentials (read from a 0600 file, as a deployment would), and
group_wait / group_interval of 1 s so notifications follow quickly. Alerts
are pushed with POST /api/v2/alerts; an alert re-pushed with endsAt in the
past is resolved. All waits are bounded polls on herald's API.
"""

import datetime
import json
import os
import shutil
import subprocess

import pytest

from conftest import free_port, http_call, poll

AM_BIN = "prometheus-alertmanager"


def _ts(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Alertmanager:
    def __init__(self, dir, herald):
        self.dir = str(dir)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.cred = os.path.join(self.dir, "herald.token")
        fd = os.open(self.cred, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(herald.ingest_token)
        self.config = os.path.join(self.dir, "alertmanager.yml")
        with open(self.config, "w") as f:
            f.write(
                "global:\n"
                "  resolve_timeout: 5m\n"
                "route:\n"
                "  receiver: herald\n"
                "  group_by: [alertname]\n"
                "  group_wait: 1s\n"
                "  group_interval: 1s\n"
                "  repeat_interval: 1h\n"
                "receivers:\n"
                "  - name: herald\n"
                "    webhook_configs:\n"
                "      - url: %s/api/events\n"
                "        send_resolved: true\n"
                "        http_config:\n"
                "          authorization:\n"
                "            type: Bearer\n"
                "            credentials_file: %s\n" % (herald.url, self.cred))
        self.log_path = os.path.join(self.dir, "alertmanager.log")
        self.proc = None

    def start(self):
        binary = shutil.which(AM_BIN)
        if binary is None:
            pytest.fail("%s is not installed (apt-get install prometheus-alertmanager; scripts/setup.sh does)" % AM_BIN)
        self._log = open(self.log_path, "wb")
        for attempt in range(3):
            self.proc = subprocess.Popen(
                [binary, "--config.file=" + self.config, "--storage.path=" + os.path.join(self.dir, "data"),
                 "--web.listen-address=127.0.0.1:%d" % self.port, "--cluster.listen-address=",
                 "--log.level=debug"],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)

            def ready():
                if self.proc.poll() is not None:
                    raise RuntimeError("exited")
                return http_call(self.port, "GET", "/-/ready", timeout=2).status == 200
            try:
                poll(ready, 30, interval=0.2, what="alertmanager /-/ready")
                return self
            except RuntimeError:
                if attempt == 2 or "address already in use" not in self.log():
                    raise AssertionError("alertmanager exited at start; log:\n" + self.log()[-3000:])
                self.port = free_port()  # lost a race for the port
        return self

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def push(self, alerts):
        r = http_call(self.port, "POST", "/api/v2/alerts", alerts)
        assert r.status == 200, (r, self.log()[-2000:])

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc is not None:
            self._log.close()


@pytest.fixture
def alertmanager(herald, tmp_path):
    am = Alertmanager(tmp_path / "am", herald)
    try:
        yield am.start()
    finally:
        am.stop()


def _alert(name, instance, severity, starts, ends):
    return {"labels": {"alertname": name, "instance": instance, "severity": severity, "job": "herald-it"},
            "annotations": {"summary": "%s on %s" % (name, instance), "description": "integration test alert"},
            "startsAt": _ts(starts), "endsAt": _ts(ends),
            "generatorURL": "http://prometheus.test:9090/graph?g0.expr=up%3D%3D0"}


def test_alertmanager_firing_then_resolved(herald, alertmanager):
    now = datetime.datetime.now(datetime.timezone.utc)
    start = now - datetime.timedelta(seconds=30)
    later = now + datetime.timedelta(hours=1)
    past = now - datetime.timedelta(seconds=1)
    a = _alert("HeraldIT", "node-a:9100", "critical", start, later)
    b = _alert("HeraldIT", "node-b:9100", "warning", start, later)

    def stored():
        return herald.events(source="alertmanager")

    def by(evs, host, state):
        return [e for e in evs if e.get("host") == host and e["state"] == state]

    # 1. both firing: one event per alert, ACTIVE, severity from the label
    alertmanager.push([a, b])
    evs = poll(lambda: (lambda e: e if len(by(e, "node-a", "ACTIVE")) == 1 and len(by(e, "node-b", "ACTIVE")) == 1
                        else None)(stored()), 30, interval=0.25,
               what="two ACTIVE alertmanager events (alertmanager log tail: %s)" % alertmanager.log()[-500:])
    fa, fb = by(evs, "node-a", "ACTIVE")[0], by(evs, "node-b", "ACTIVE")[0]
    assert fa["severity"] == 2 and fb["severity"] == 4
    for e in (fa, fb):
        assert e["name"] == "HeraldIT"
        assert e["url"] == "http://prometheus.test:9090/graph?g0.expr=up%3D%3D0"
        assert e["description"] == "integration test alert"
        assert e["labels"]["job"] == "herald-it"
        assert e["timestampUs"] // 1000 == int(start.timestamp() * 1000), "startsAt is the event time"
    assert fa["alertKey"] != fb["alertKey"]

    # raw: the real notification, cut down to this alert
    raw = herald.event(fa["id"])["raw"]
    raw = json.loads(raw) if isinstance(raw, str) else raw
    assert raw["version"] == "4" and raw["receiver"] == "herald" and len(raw["alerts"]) == 1
    assert raw["alerts"][0]["labels"]["instance"] == "node-a:9100"
    assert raw["alerts"][0]["fingerprint"] in fa["alertKey"]

    # 2. a resolved, b still firing: Alertmanager sends one mixed group;
    #    herald stores a's OK and recognizes b's firing as already stored
    alertmanager.push([dict(a, endsAt=_ts(past)), b])
    evs = poll(lambda: (lambda e: e if by(e, "node-a", "OK") else None)(stored()), 30, interval=0.25,
               what="node-a OK event")
    ra = by(evs, "node-a", "OK")[0]
    assert ra["alertKey"] == fa["alertKey"] and ra["id"] != fa["id"]
    assert ra["severity"] == 2
    assert len(by(evs, "node-b", "ACTIVE")) == 1 and not by(evs, "node-b", "OK")

    # 3. b resolved too
    alertmanager.push([dict(b, endsAt=_ts(past))])
    evs = poll(lambda: (lambda e: e if by(e, "node-b", "OK") else None)(stored()), 30, interval=0.25,
               what="node-b OK event")
    rb = by(evs, "node-b", "OK")[0]
    assert rb["alertKey"] == fb["alertKey"] and rb["id"] != fb["id"]

    # one event per alert and state, whatever Alertmanager re-sent
    assert sorted((e["host"], e["state"]) for e in stored()) == [
        ("node-a", "ACTIVE"), ("node-a", "OK"), ("node-b", "ACTIVE"), ("node-b", "OK")]
    assert "level=error" not in alertmanager.log(), alertmanager.log()[-2000:]
