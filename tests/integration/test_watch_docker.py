"""Docker watcher (inputs.docker).

The real peer is Debian's podman serving the Docker-compatible Engine API
(`podman system service --time=0 unix:///PATH/podman.sock`; a containers.conf
with runc, nofile/nproc ulimits and netns none, an image imported from
busybox-static: tests/fixtures/README.md). A fake engine
(tests/fakes/fake_docker_engine.py) covers what podman will not do on demand:
a stream cut in the middle of a line, reconnects, resume after a restart.

Every event reaches a config-declared WEBHOOK channel at the recording fake
Elasticsearch, so "no duplicates" is checked at the sink.
"""

import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import metric_values, poll

from fake_docker_engine import FakeDockerEngine

BUSYBOX = "/bin/busybox"


def _channels(fake_es, index):
    return [{"type": "WEBHOOK", "name": "docker-sink", "enabled": True,
             "options": {"url": fake_es.url + "/%s/_doc" % index, "notifyOnOk": True, "notifyOnResolve": True,
                         # one request at a time: the tests check the order
                         # the watcher stored (maxInFlight > 1 may reorder)
                         "maxInFlight": 1}}]


def _docs(fake_es, index):
    return fake_es.sources(index)


# ---- podman -------------------------------------------------------------------

class Podman:
    """A podman API service with private storage under d."""

    def __init__(self, d):
        for tool in ("podman", "runc"):
            if shutil.which(tool) is None:
                pytest.fail("%s is not installed (scripts/setup.sh installs podman, runc, busybox-static)" % tool)
        if not os.path.exists(BUSYBOX):
            pytest.fail("%s is missing (package busybox-static)" % BUSYBOX)
        self.d = str(d)
        os.makedirs(self.d, exist_ok=True)
        # podman wants a runroot under 50 characters; sockets have a length limit too.
        self.short = tempfile.mkdtemp(prefix="hdpm-", dir="/tmp")
        self.sock = os.path.join(self.short, "podman.sock")
        conf = os.path.join(self.d, "containers.conf")
        with open(conf, "w") as f:
            f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n'
                    'netns = "none"\n[engine]\nruntime = "runc"\n')
        self.env = dict(os.environ, CONTAINERS_CONF=conf)
        # vfs: no overlay mount is left behind in the test dir (busybox is 2 MB).
        self.glob = ["--root", os.path.join(self.d, "root"), "--runroot", os.path.join(self.short, "run"),
                     "--storage-driver", "vfs"]
        self.log = open(os.path.join(self.d, "podman-service.log"), "wb")
        self.proc = subprocess.Popen(["podman"] + self.glob + ["system", "service", "--time=0", "unix://" + self.sock],
                                     env=self.env, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        poll(lambda: os.path.exists(self.sock) or self.proc.poll() is not None, 30, what="the podman socket")
        assert self.proc.poll() is None, open(os.path.join(self.d, "podman-service.log")).read()

    def cli(self, *args, timeout=60, rc=0):
        r = subprocess.run(["podman", "--url", "unix://" + self.sock] + list(args), env=self.env,
                           capture_output=True, timeout=timeout)
        assert r.returncode == rc, (args, r.stdout, r.stderr)
        return r.stdout.decode().strip()

    def import_busybox(self, name):
        rootfs = os.path.join(self.d, "rootfs")
        os.makedirs(os.path.join(rootfs, "bin"), exist_ok=True)
        shutil.copy(BUSYBOX, os.path.join(rootfs, "bin", "busybox"))
        if not os.path.lexists(os.path.join(rootfs, "bin", "sh")):
            os.symlink("busybox", os.path.join(rootfs, "bin", "sh"))
        tar = os.path.join(self.d, "bb.tar")
        subprocess.run(["tar", "-C", rootfs, "-cf", tar, "."], check=True)
        self.cli("import", tar, name)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.short, ignore_errors=True)


def test_podman_container_lifecycle_is_stored_with_names(tmp_path, herald_factory, fake_es):
    pm = Podman(tmp_path / "pm")
    try:
        pm.import_busybox("localhost/hdbb:1")
        h = herald_factory(extra={
            "inputs": {"docker": {"enabled": True, "socket": pm.sock, "filters": "type=container"}},
            "channels": _channels(fake_es, "pm")})
        poll(lambda: "using 1.41" in h.log(), 20, what="version negotiation with podman")
        time.sleep(0.5)  # the /events request is sent right after negotiation
        name = "herald-it-%d" % os.getpid()
        pm.cli("run", "--name", name, "localhost/hdbb:1", "/bin/busybox", "sh", "-c", "exit 3", rc=3)
        pm.cli("rm", name)

        def actions():
            return [d.get("Action") for d in _docs(fake_es, "pm")
                    if ((d.get("Actor") or {}).get("Attributes") or {}).get("name") == name]
        poll(lambda: {"create", "start", "died", "remove"} <= set(actions()) or
             {"create", "start", "die", "remove"} <= set(actions()), 30, what="the container's events at the sink")
        got = actions()
        assert len(got) == len(set(got)), got          # nothing delivered twice
        stored = [e for e in h.events(source="docker") if name in json.dumps(e)]
        names = {e["name"] for e in stored}
        assert {"container create", "container start", "container remove"} <= names, names
        assert all(name in e.get("description", "") for e in stored), stored   # the container's name
        die = [e for e in stored if "die" in e.get("name", "")]
        assert die and die[0]["severity"] == 4, die   # die with a non-zero exit code
        assert all(e.get("containerId") for e in stored), stored
        # The type filter reached the engine: no image events (the import made some).
        assert all(d.get("Type") == "container" for d in _docs(fake_es, "pm"))
        assert metric_values(h.metrics(), "herald_docker_events_seen_total").get("", 0) >= len(got)
    finally:
        pm.stop()


# ---- fake engine ----------------------------------------------------------------

def test_cut_mid_line_reconnect_and_restart_resume(tmp_path, herald_factory, fake_es):
    eng = FakeDockerEngine(tmp_path / "docker.sock").start()
    try:
        h = herald_factory(extra={"inputs": {"docker": {"enabled": True, "socket": eng.sock_path}},
                                  "channels": _channels(fake_es, "fk")})
        poll(lambda: eng.open_streams() == 1, 20, what="the event stream")
        req = eng.event_requests()[0]
        assert req["path"] == "/v1.41/events", req       # min(engine 1.41, herald's newest)
        assert [r["path"] for r in eng.requests][0] == "/_ping"

        a = eng.emit("create", attributes={"name": "web", "image": "nginx"})
        b = eng.emit("start", actor_id=a["Actor"]["ID"], attributes={"name": "web", "image": "nginx"})
        poll(lambda: len(_docs(fake_es, "fk")) >= 2, 20, what="two events")

        # The stream is cut inside a line: the half line is dropped, herald
        # reconnects with since = the newest event it stored; the engine
        # replays from there (inclusive) and the replayed event is not
        # delivered again.
        eng.cut(partial=b'{"Type":"container","Action":"die","Actor":{"ID":"')
        poll(lambda: len(eng.event_requests()) >= 2 and eng.open_streams() == 1, 20, what="a reconnect")
        since = eng.event_requests()[1]["query"]["since"]
        sec, frac = since.split(".")
        assert int(sec) * 10**9 + int(frac) == b["timeNano"], (since, b["timeNano"])
        c = eng.emit("die", actor_id=a["Actor"]["ID"], attributes={"name": "web", "exitCode": "137"})
        poll(lambda: len(_docs(fake_es, "fk")) >= 3, 20, what="the event after the reconnect")

        # Restart: resume from the saved point; what happened while herald was
        # down arrives, nothing twice.
        h.stop()
        d = eng.emit("destroy", actor_id=a["Actor"]["ID"], attributes={"name": "web"})
        h.start()
        poll(lambda: len(_docs(fake_es, "fk")) >= 4, 20, what="the event from while herald was down")
        time.sleep(1.0)  # room for a wrong duplicate to show up
        got = [(x["Action"], x["timeNano"]) for x in _docs(fake_es, "fk")]
        want = [(e["Action"], e["timeNano"]) for e in (a, b, c, d)]
        assert got == want, got
        m = h.metrics()
        assert metric_values(m, "herald_docker_events_dropped_total").get('reason="duplicate"', 0) >= 1
        assert len(h.events(source="docker")) == 4
        assert any(e["severity"] == 4 for e in h.events(source="docker"))
    finally:
        eng.stop()


def test_renegotiates_when_the_engine_is_older(tmp_path, herald_factory, fake_es):
    """An engine downgraded under a running herald refuses the version in use
    (400 "too new"): herald asks /_ping again and goes on."""
    eng = FakeDockerEngine(tmp_path / "docker.sock", api_version="1.43").start()
    try:
        h = herald_factory(extra={"inputs": {"docker": {"enabled": True, "socket": eng.sock_path,
                                                        "filters": "type=container,event=die"}},
                                  "channels": _channels(fake_es, "rn")})
        poll(lambda: eng.open_streams() == 1, 20, what="the event stream")
        r = eng.event_requests()[0]
        assert r["path"] == "/v1.43/events"
        assert json.loads(r["query"]["filters"]) == {"type": ["container"], "event": ["die"]}
        eng.api_version = "1.40"
        eng.cut()
        poll(lambda: any(x["path"] == "/v1.40/events" for x in eng.event_requests()) and eng.open_streams() == 1,
             30, what="a renegotiated stream")
        assert "too new" in h.log()
        eng.emit("die", attributes={"name": "x", "exitCode": "1"})
        eng.emit("start", attributes={"name": "x"})       # filtered out by the engine
        poll(lambda: len(_docs(fake_es, "rn")) >= 1, 20, what="the die event")
        assert metric_values(h.metrics(), "herald_docker_reconnects_total").get("", 0) >= 1
    finally:
        eng.stop()
