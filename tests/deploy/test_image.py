#!/usr/bin/python3
"""The container image, run as a user would: read-only root filesystem, no
capabilities, a named volume for /var/lib/herald. The article's Sysdig Secure
event is posted through it and read back from the API; after a stop and a
start on the same volume it is still there; the image's HEALTHCHECK passes and
the daemon runs as UID 10001.

Builds the image with scripts/image.sh first (tag localhost/herald:test),
unless HERALD_IMAGE names one already built. Slow (a Debian base and a compile
the first time), so CI runs it only with HERALD_TEST_IMAGE=1 (scripts/test.sh).
Usage: tests/deploy/test_image.py [REPO_ROOT]
"""
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURE = os.path.join(ROOT, "tests/fixtures/sysdig/sysdig_blog2018_secure_webhook_read_sensitive_file.json")
TOKEN = "image-test-token-0123456789abcdef"
NAME = "herald-image-test-%d" % os.getpid()


def podman(*args, check=True):
    r = subprocess.run(["podman"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise AssertionError("podman %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r.stdout.strip()


def http(port, method, path, body=None, token=TOKEN):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=body, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def wait_ready(port, what):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if http(port, "GET", "/readyz", token=None)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("%s: /readyz not 200 within 60 s; logs:\n%s" % (what, podman("logs", NAME, check=False)))


def start(image, volume):
    podman("run", "-d", "--name", NAME,
           "--read-only", "--read-only-tmpfs=false",          # no tmpfs either: nothing but the volume is writable
           "--cap-drop=ALL", "--security-opt=no-new-privileges",
           "--ulimit", "nofile=4096:4096", "--ulimit", "nproc=1024:1024",
           "-v", "%s:/var/lib/herald" % volume, "-p", "127.0.0.1::8080",
           "-e", "HERALD_ADMIN_TOKEN=" + TOKEN, image)
    return int(podman("port", NAME, "8080").rsplit(":", 1)[1])


def main():
    image = os.environ.get("HERALD_IMAGE")
    if not image:
        image = "localhost/herald:test"
        t0 = time.monotonic()
        subprocess.run([os.path.join(ROOT, "scripts/image.sh"), image], check=True)
        print("image: built %s in %.0f s" % (image, time.monotonic() - t0))
    volume = NAME + "-data"
    podman("volume", "create", volume)
    try:
        port = start(image, volume)
        wait_ready(port, "first start")
        assert podman("exec", NAME, "id", "-u") == "10001", "the daemon is not running as UID 10001"
        podman("healthcheck", "run", NAME)
        print("ok: ready on a read-only root filesystem as UID 10001, HEALTHCHECK healthy")

        payload = open(FIXTURE, "rb").read()
        status, body = http(port, "POST", "/api/events", payload)
        assert status == 202, "POST /api/events: %d %s" % (status, body[:300])
        ids = json.loads(body)["ids"]
        assert len(ids) == 1, body
        status, body = http(port, "GET", "/api/events/" + ids[0])
        assert status == 200, "GET /api/events/%s: %d %s" % (ids[0], status, body[:300])
        ev = json.loads(body)["event"]
        assert ev["raw"] == json.loads(payload), "the stored raw payload differs from the posted one"
        print("ok: the article's event posted (202, id %s) and read back with its original payload" % ids[0])

        podman("stop", "-t", "20", NAME)     # SIGTERM: a graceful stop
        podman("rm", NAME)
        port = start(image, volume)
        wait_ready(port, "restart on the same volume")
        status, body = http(port, "GET", "/api/events?limit=10")
        assert status == 200 and ids[0] in [e["id"] for e in json.loads(body)["events"]], body[:300]
        print("ok: after a stop and a new container on the same volume the event is still there")
    finally:
        podman("rm", "-f", NAME, check=False)
        podman("volume", "rm", "-f", volume, check=False)
    print("test_image: 3 passed, 0 failed")


if __name__ == "__main__":
    main()
