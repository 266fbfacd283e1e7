"""Configuration (SPEC section 3), reload, first start, graceful stop."""

import json
import os
import re
import secrets
import socket
import stat
import threading

from conftest import Herald, free_port, http_call, poll, register_secret, unique_event


def _config_error(tmp_path, name, body):
    h = Herald(tmp_path / name)
    h.write_config(text='listen: "127.0.0.1:%d"\ndataDir: "%s"\n%s' % (h.port, h.data_dir, body))
    h.spawn()
    rc = h.wait_exit(10)
    return rc, h.log()


def test_unknown_keys_are_named_with_their_line(tmp_path):
    rc, log = _config_error(tmp_path, "top", "bogusKey: 1\n")
    assert rc != 0, log
    assert "bogusKey" in log and re.search(r"line\s*3\b|:3:", log), log

    rc, log = _config_error(tmp_path, "nested", "limits:\n  maxBodyBytes: 1000\n  maxBakclog: 5\n")
    assert rc != 0, log
    assert "maxBakclog" in log and re.search(r"line\s*5\b|:5:", log), log

    rc, log = _config_error(tmp_path, "value", "limits:\n  maxBodyBytes: lots\n")
    assert rc != 0, log
    assert "maxBodyBytes" in log and re.search(r"line\s*4\b|:4:", log), log


def test_env_substitution(herald_factory):
    custom = register_secret("custom-" + secrets.token_hex(8))
    h = herald_factory(env={"HT_CUSTOM": custom}, extra={"tokens": [
        {"name": "a", "token": "${HT_CUSTOM}", "scope": "admin"},
        {"name": "b", "token": "${HT_UNSET_FOR_SURE:-fallback-token-123}", "scope": "read"}]})
    assert h.api("GET", "/api/notificationChannels", token=custom).status == 200
    assert h.api("GET", "/api/notificationChannels", token="fallback-token-123").status == 200
    assert h.api("GET", "/api/notificationChannels", token="${HT_CUSTOM}").status == 401
    assert h.api("GET", "/api/notificationChannels", token=h.admin_token).status == 401


def test_config_channels_upserted_by_name(herald_factory, fake_es):
    def cfg(path):
        return {"channels": [{"type": "WEBHOOK", "name": "cfg-es", "enabled": True,
                              "options": {"url": fake_es.url + path, "notifyOnOk": True}}]}
    h = herald_factory(extra=cfg("/cfg/_doc"))
    api_ch = h.webhook("api-es", fake_es.url + "/api/_doc")
    chans = h.api("GET", "/api/notificationChannels").json["notificationChannels"]
    by_name = {c["name"]: c for c in chans}
    assert set(by_name) == {"cfg-es", "api-es"}
    cfg_ch = by_name["cfg-es"]
    assert cfg_ch["managedBy"] == "config"
    assert by_name["api-es"].get("managedBy") in (None, "api")
    h.ingest(json.dumps(unique_event("cfg-1")))
    fake_es.wait_docs(1, index="cfg")

    h.restart()
    chans = h.api("GET", "/api/notificationChannels").json["notificationChannels"]
    assert sorted(c["name"] for c in chans) == ["api-es", "cfg-es"], "not duplicated on restart"
    assert {c["name"]: c["id"] for c in chans} == {"cfg-es": cfg_ch["id"], "api-es": api_ch["id"]}

    # a changed declaration updates the same channel at the next start
    h.stop()
    h.write_config(extra=cfg("/cfg2/_doc"))
    h.start()
    chans = h.api("GET", "/api/notificationChannels").json["notificationChannels"]
    cfg2 = [c for c in chans if c["name"] == "cfg-es"]
    assert len(cfg2) == 1 and cfg2[0]["id"] == cfg_ch["id"]
    assert cfg2[0]["options"]["url"] == fake_es.url + "/cfg2/_doc"
    h.ingest(json.dumps(unique_event("cfg-2")))
    fake_es.wait_docs(1, index="cfg2")


def test_sighup_reload_keeps_events_flowing(herald_factory, fake_es):
    new_tok = register_secret("hup-" + secrets.token_hex(12))
    h = herald_factory(env={"HT_NEW_TOKEN": new_tok})
    h.webhook("es", fake_es.url + "/hup/_doc")
    assert h.api("GET", "/api/events", token=new_tok).status == 401

    results, stop = [], threading.Event()

    def stream():
        i = 0
        while not stop.is_set():
            m = "hup-%05d" % i
            i += 1
            try:
                r = http_call(h.port, "POST", "/api/events", json.dumps(unique_event(m)),
                              {"Authorization": "Bearer " + h.ingest_token, "Content-Type": "application/json"},
                              timeout=10)
                results.append((m, r.status))
            except OSError as e:
                results.append((m, repr(e)))

    t = threading.Thread(target=stream, daemon=True)
    t.start()
    poll(lambda: len(results) >= 20, 10, what="events flowing before the reload")
    tokens = [{"name": "admin", "token": "${HT_ADMIN_TOKEN}", "scope": "admin"},
              {"name": "ingest", "token": "${HT_INGEST_TOKEN}", "scope": "ingest"},
              {"name": "reader", "token": "${HT_READ_TOKEN}", "scope": "read"},
              {"name": "new", "token": "${HT_NEW_TOKEN}", "scope": "read"}]
    h.write_config(extra={"tokens": tokens})
    h.sighup()
    poll(lambda: h.api("GET", "/api/events", token=new_tok).status == 200, 10,
         what="the token added by the reload to work")
    n = len(results)
    poll(lambda: len(results) >= n + 20, 10, what="events flowing after the reload")
    stop.set()
    t.join(15)
    assert h.running()
    bad = [r for r in results if r[1] != 202]
    assert not bad, "requests failed around the reload: %r" % bad[:5]
    want = {m for m, _ in results}
    fake_es.wait_until(lambda: want <= {d.get("marker") for d in fake_es.sources("hup")}, 30,
                       "every event posted around the reload delivered")
    assert h.api("GET", "/api/events", token=h.admin_token).status == 200


def test_first_start_generates_an_admin_token(herald_factory):
    h = herald_factory(tokens=False, start=False)
    h.start()
    log = h.log()
    found = []
    for root, _, files in os.walk(h.data_dir):
        for name in files:
            p = os.path.join(root, name)
            st = os.stat(p)
            if st.st_size > 4096:
                continue
            with open(p, "rb") as f:
                words = f.read().decode("utf-8", "replace").split()
            for w in words:
                w = w.strip("\"',{}:")
                if len(w) >= 16 and "/" not in w and w in log:
                    found.append((p, w, stat.S_IMODE(st.st_mode)))
    assert found, "a token file in the data dir whose token was printed; log:\n" + log
    path, token, mode = found[0]
    assert mode == 0o600, "token file %s has mode %o" % (path, mode)
    assert h.api("GET", "/api/notificationChannels", token=token).status == 200
    assert h.api("GET", "/api/notificationChannels", token=None).status == 401

    h.restart()
    assert h.api("GET", "/api/notificationChannels", token=token).status == 200, "the stored token is kept"
    assert token not in h.log(), "printed once, at the first start only"


def test_admin_token_from_environment(herald_factory):
    tok = register_secret("env-" + secrets.token_hex(12))
    h = herald_factory(tokens=False, env={"HERALD_ADMIN_TOKEN": tok})
    assert h.api("GET", "/api/notificationChannels", token=tok).status == 200
    assert h.api("GET", "/api/notificationChannels", token="wrong-" + tok).status == 401


def _refused_start(h):
    """Starts h, which must exit non-zero; its log."""
    h.spawn()
    rc = h.wait_exit(10)
    log = h.log()
    assert rc != 0, "herald started; log:\n" + log
    return log


def test_short_tokens_are_refused_at_start(tmp_path):
    """SPEC 3: tokens shorter than 16 characters are refused, wherever they
    come from; the error names the token (never its value) and the rule."""
    short = "falco-15-chars!"
    assert len(short) == 15
    h = Herald(tmp_path / "file", env={"HT_FALCO": short})
    h.write_config(text='listen: "127.0.0.1:%d"\ndataDir: "%s"\ntokens:\n'
                        '  - {name: admin, token: "${HT_ADMIN_TOKEN}", scope: admin}\n'
                        '  - {name: falco, token: "${HT_FALCO}", scope: ingest}\n' % (h.port, h.data_dir))
    log = _refused_start(h)
    assert "tokens[1].token" in log and "'falco'" in log and "at least 16 characters" in log, log
    assert short not in log, "the value is never printed"

    h = Herald(tmp_path / "env", tokens=False, env={"HERALD_ADMIN_TOKEN": "secret"})
    log = _refused_start(h)
    assert "HERALD_ADMIN_TOKEN" in log and "at least 16 characters" in log, log
    assert "secret" not in log.replace("HERALD_ADMIN_TOKEN", "")

    # an admin.token left in the data dir is held to the same rule
    h = Herald(tmp_path / "file-token", tokens=False)
    os.makedirs(h.data_dir)
    with open(os.path.join(h.data_dir, "admin.token"), "w") as f:
        f.write("tiny\n")
    log = _refused_start(h)
    assert "admin.token" in log and "at least 16 characters" in log, log


def test_sixteen_characters_are_enough(herald_factory):
    tok = register_secret("env-" + secrets.token_hex(6))
    assert len(tok) == 16
    h = herald_factory(tokens=False, env={"HERALD_ADMIN_TOKEN": tok})
    assert h.api("GET", "/api/notificationChannels", token=tok).status == 200
    # same length, one character off; its prefix; the token and more: 401
    for wrong in (tok[:-1] + ("0" if tok[-1] != "0" else "1"), tok[:8], tok[:-1], tok + "0"):
        assert h.api("GET", "/api/notificationChannels", token=wrong).status == 401, wrong


def test_flags_override_the_config_file(herald_factory):
    flag_port = free_port()
    h = herald_factory(start=False, args=["--listen", "127.0.0.1:%d" % flag_port])
    file_port = h.port
    h.port = flag_port
    h.start()
    assert h.api("GET", "/api/notificationChannels").status == 200
    s = socket.socket()
    try:
        assert s.connect_ex(("127.0.0.1", file_port)) != 0, "the file's listen address is overridden"
    finally:
        s.close()


def test_sigterm_is_graceful_and_keeps_the_backlog(herald_factory, fake_es):
    h = herald_factory()
    h.webhook("es", fake_es.url + "/term/_doc")
    fake_es.down()
    sent = ["term-%d" % i for i in range(5)]
    for m in sent:
        h.ingest(json.dumps(unique_event(m)))
    assert h.stop() == 0
    fake_es.up()
    h.start()
    fake_es.wait_until(lambda: set(sent) <= {d.get("marker") for d in fake_es.sources("term")}, 20,
                       "the backlog delivered after a graceful restart")
