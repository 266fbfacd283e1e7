"""The operator's conveniences (SPEC 2, 3): `herald check-config`,
`POST /-/reload`, `herald channel enable|disable|replay`, `-o yaml` and
`herald events --follow`, driven through the real binary."""

import json
import os
import subprocess
import time

import yaml

from conftest import HERALD_BIN, assert_error, poll, unique_event
from recording import OkSink
from test_cli import client_env, out_json, run, unwrap


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def test_check_config(tmp_path):
    good = write(tmp_path / "good.yaml", """\
listen: 127.0.0.1:8099
tokens:
  - {name: admin, token: "${CK_ADMIN}", scope: admin}
channels:
  - {name: hook, type: WEBHOOK, options: {url: "http://127.0.0.1:9/x"}}
""")
    p = run(["check-config", good], env={"CK_ADMIN": "ck-admin-token-0123456789"})
    assert p.returncode == 0, p.stderr.decode()
    assert b"valid" in p.stdout and b"1 channels" in p.stdout

    unknown = write(tmp_path / "unknown.yaml", "listen: 127.0.0.1:8099\nlimits:\n  maxBodyBytez: 5\n")
    p = run(["check-config", unknown])
    assert p.returncode == 1
    err = p.stderr.decode()
    assert "maxBodyBytez" in err and "unknown.yaml:3:" in err, err

    bad_channel = write(tmp_path / "bad.yaml", """\
channels:
  - {name: hook, type: WEBHOOK, options: {}}
""")
    p = run(["check-config", bad_channel])
    assert p.returncode == 1 and b"channels[0]" in p.stderr and b"url" in p.stderr, p.stderr

    unset = write(tmp_path / "unset.yaml", 'tokens:\n  - {name: a, token: "${CK_NOT_SET}", scope: admin}\n')
    assert run(["check-config", unset]).returncode == 1
    assert run(["check-config"]).returncode == 2
    assert run(["check-config", str(tmp_path / "missing.yaml")]).returncode == 1


def test_reload_endpoint(herald):
    newtok = "reload-token-" + "9" * 16
    r = herald.api("POST", "/-/reload", token="read")
    assert r.status == 403
    # a broken file: 400 naming the key, the running configuration stays
    cfg_text = open(herald.config_path).read()
    with open(herald.config_path, "a") as f:
        f.write("bogusKey: 1\n")
    r = herald.api("POST", "/-/reload")
    assert_error(r, 400, "bogusKey")
    assert herald.api("GET", "/api/notificationChannels").status == 200
    # a good change applies at once
    herald.write_config(extra=dict(herald.extra, tokens=[
        {"name": "admin", "token": "${HT_ADMIN_TOKEN}", "scope": "admin"},
        {"name": "ingest", "token": "${HT_INGEST_TOKEN}", "scope": "ingest"},
        {"name": "reader", "token": "${HT_READ_TOKEN}", "scope": "read"},
        {"name": "extra", "token": newtok, "scope": "read"}]))
    assert open(herald.config_path).read() != cfg_text
    r = herald.api("POST", "/-/reload")
    assert r.status == 200 and r.json == {"reloaded": True}, r
    from conftest import http_call
    assert http_call(herald.port, "GET", "/api/events",
                     headers={"Authorization": "Bearer " + newtok}).status == 200
    assert "configuration reloaded" in herald.log()


def test_channel_enable_disable_replay(herald):
    with OkSink() as sink:
        ch = herald.webhook("hook", sink.url)
        env = client_env(herald)
        got = unwrap(out_json(run(["channel", "disable", "hook"], env=env)), "notificationChannel")
        assert got["enabled"] is False and got["version"] == ch["version"] + 1
        assert herald.get_channel(ch["id"])["enabled"] is False
        p = run(["channel", "enable", str(ch["id"]), "-o", "table"], env=env)
        assert p.returncode == 0 and b"true" in p.stdout, p
        assert herald.get_channel(ch["id"])["enabled"] is True

        eid = herald.ingest(unique_event("replay-me"))[0]
        sink.wait_for(1, pred=lambda q: b"replay-me" in q.body)
        time.sleep(0.6)  # the delivered cursor is stored every 250 ms; replay queues only what it passed
        p = run(["channel", "replay", "hook", "--from", "1h"], env=env)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout)["queued"] >= 1
        sink.wait_for(2, pred=lambda q: b"replay-me" in q.body, timeout=10)
        p = run(["channel", "replay", "hook", "--from", "2026-13-01"], env=env)
        assert p.returncode == 2 and b"--from" in p.stderr
        assert eid


def test_output_yaml_matches_json(herald):
    herald.webhook("y1", "http://127.0.0.1:9/a", notifyOnOk=False)
    herald.ingest(unique_event("yaml", note="true", n="0x1F", empty=""))
    env = client_env(herald)
    for args in (["channel", "list"], ["events", "--limit", "5"], ["silence", "list"]):
        j = out_json(run(args, env=env))
        p = run(args + ["-o", "yaml"], env=env)
        assert p.returncode == 0, p.stderr
        assert yaml.safe_load(p.stdout) == j, args
    p = run(["channel", "list", "-o", "xml"], env=env)
    assert p.returncode == 2 and b"yaml" in p.stderr


def test_events_follow(herald):
    env = dict(os.environ, **client_env(herald, "read"))
    env = {k: v for k, v in env.items() if not k.startswith("HERALD_") or k in ("HERALD_URL", "HERALD_TOKEN")}
    old = herald.ingest(unique_event("before-follow"))[0]
    proc = subprocess.Popen([HERALD_BIN, "events", "--follow"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        time.sleep(1.5)
        ids = [herald.ingest(unique_event("follow-%d" % i))[0] for i in range(3)]
        lines = []
        deadline = time.monotonic() + 10
        while len(lines) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if line:
                lines.append(json.loads(line))
        assert [e["id"] for e in lines] == ids, "new events, oldest first, one JSON line each"
        assert old not in [e["id"] for e in lines]
    finally:
        proc.terminate()
        proc.wait(5)
