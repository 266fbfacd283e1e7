"""The herald CLI (SPEC section 2): client subcommands against a running
herald, exit codes 0 success / 1 failure / 2 usage, HERALD_URL/HERALD_TOKEN."""

import json
import os
import re
import subprocess

import pytest

from conftest import HERALD_BIN, fixture_path, free_port, poll, unique_event


def run(args, env=None, stdin=None, timeout=30):
    e = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    e.update(env or {})
    if not os.path.exists(HERALD_BIN):
        pytest.fail("HERALD_BIN %s does not exist (build herald first)" % HERALD_BIN)
    return subprocess.run([HERALD_BIN] + args, env=e, input=stdin, capture_output=True, timeout=timeout)


def out_json(p):
    assert p.returncode == 0, (p.returncode, p.stderr.decode(errors="replace"))
    return json.loads(p.stdout)


def unwrap(obj, key):
    """The CLI may print the API envelope or the bare object/list."""
    if isinstance(obj, dict) and key in obj:
        return obj[key]
    return obj


def client_env(herald, token="admin"):
    return {"HERALD_URL": herald.url, "HERALD_TOKEN": herald.token(token)}


def test_version_and_help():
    p = run(["version"])
    assert p.returncode == 0 and re.search(rb"\d+\.\d+", p.stdout), p
    for args in (["--help"], ["help"]):
        p = run(args)
        assert p.returncode == 0, p
        text = (p.stdout + p.stderr).decode()
        for cmd in ("serve", "channel", "send", "events", "deliveries", "version"):
            assert cmd in text, (args, cmd)
    for sub in (["channel", "--help"], ["send", "--help"], ["serve", "--help"]):
        p = run(sub)
        assert p.returncode == 0 and (p.stdout + p.stderr).strip(), (sub, p)


def test_usage_errors_exit_2():
    for args in (["--no-such-flag"], ["no-such-command"], ["channel", "list", "--no-such-flag"],
                 ["channel", "get"], ["channel", "frobnicate"], ["send", "--format"]):
        p = run(args, env={"HERALD_URL": "http://127.0.0.1:9", "HERALD_TOKEN": "x"})
        assert p.returncode == 2, (args, p)
        assert p.stderr.strip(), "usage errors say what is wrong on stderr"


def test_unreachable_server_exit_1():
    url = "http://127.0.0.1:%d" % free_port()
    p = run(["channel", "list"], env={"HERALD_URL": url, "HERALD_TOKEN": "x"})
    assert p.returncode == 1 and p.stderr.strip(), p
    p = run(["channel", "list", "--url", url, "--token", "x"])
    assert p.returncode == 1, p


def test_channel_commands(herald, fake_es, tmp_path):
    env = client_env(herald)
    f = tmp_path / "ch.json"
    f.write_text(json.dumps({"notificationChannel": {
        "type": "WEBHOOK", "name": "cli-es", "enabled": True,
        "options": {"url": fake_es.url + "/cli/_doc", "notifyOnOk": True, "notifyOnResolve": True}}}))
    ch = unwrap(out_json(run(["channel", "create", str(f)], env)), "notificationChannel")
    cid = ch["id"]
    assert ch["name"] == "cli-es" and ch["version"] == 1
    assert herald.get_channel(cid)["name"] == "cli-es"

    lst = unwrap(out_json(run(["channel", "list"], env)), "notificationChannels")
    assert [c["id"] for c in lst] == [cid]
    got = unwrap(out_json(run(["channel", "get", str(cid)], env)), "notificationChannel")
    assert got["id"] == cid and got["options"]["url"] == fake_es.url + "/cli/_doc"

    p = run(["channel", "list", "-o", "table"], env)
    assert p.returncode == 0 and b"cli-es" in p.stdout, p
    with pytest.raises(ValueError):
        json.loads(p.stdout)

    got["options"]["notifyOnOk"] = False
    f.write_text(json.dumps({"notificationChannel": got}))
    upd = unwrap(out_json(run(["channel", "update", str(cid), str(f)], env)), "notificationChannel")
    assert upd["version"] == 2 and upd["options"]["notifyOnOk"] is False
    # a stale version is refused: failure, exit 1
    p = run(["channel", "update", str(cid), str(f)], env)
    assert p.returncode == 1 and p.stderr.strip(), p

    p = run(["channel", "test", str(cid)], env)
    assert p.returncode == 0, p
    fake_es.wait_for(1, pred=lambda q: q.path.startswith("/cli/"))

    p = run(["channel", "delete", str(cid)], env)
    assert p.returncode == 0, p
    p = run(["channel", "get", str(cid)], env)
    assert p.returncode == 1 and p.stderr.strip(), p

    # flags instead of the environment; a wrong token is a failure
    p = run(["channel", "list", "--url", herald.url, "--token", herald.admin_token])
    assert p.returncode == 0, p
    p = run(["channel", "list"], {"HERALD_URL": herald.url, "HERALD_TOKEN": "wrong-token"})
    assert p.returncode == 1 and p.stderr.strip(), p


def test_send_and_events(herald, tmp_path):
    env = client_env(herald)
    f = tmp_path / "ev.json"
    f.write_bytes(open(fixture_path("falco/falco_critical_terminal_shell_syscall.json"), "rb").read())
    p = run(["send", str(f)], env)
    assert p.returncode == 0, p
    nd = "\n".join(json.dumps(unique_event("cli-%d" % i)) for i in range(3)) + "\n"
    p = run(["send", "-"], env, stdin=nd.encode())
    assert p.returncode == 0, p
    p = run(["send", str(f), "--format", "falco"], dict(env, HERALD_TOKEN=herald.ingest_token))
    assert p.returncode == 0, p
    stored = herald.events()
    assert len(stored) == 4, "3 NDJSON events + the falco one (sent twice, stored once)"
    # generic events take their arrival as event time: they are in the last hour
    recent = {e["id"] for e in stored if e["source"] == "generic"}
    assert len(recent) == 3
    p = run(["events", "--since", "1h"], env)
    assert p.returncode == 0, p
    for eid in recent:
        assert eid.encode() in p.stdout, "events --since 1h lists %s" % eid
    p = run(["events", "--since", "1h", "--severity", "2"], env)
    assert p.returncode == 0, p

    bad = tmp_path / "bad.json"
    bad.write_text('{"oops": ')
    p = run(["send", str(bad)], env)
    assert p.returncode == 1 and p.stderr.strip(), p
    p = run(["send", str(tmp_path / "missing.json")], env)
    assert p.returncode == 1, p


def test_deliveries_failed_and_retry(herald, fake_es):
    env = client_env(herald)
    herald.webhook("es", fake_es.url + "/dlq/_doc")
    fake_es.fail_always(status=400)
    eid = herald.ingest(json.dumps(unique_event("cli-dl")))[0]
    dead = poll(lambda: herald.deliveries(status="failed"), 15, what="a dead letter")
    p = run(["deliveries", "--failed"], env)
    assert p.returncode == 0 and eid.encode() in p.stdout, p
    fake_es.clear_failures()
    p = run(["deliveries", "--retry", str(dead[0]["id"])], env)
    assert p.returncode == 0, p
    fake_es.wait_docs(1, index="dlq")
