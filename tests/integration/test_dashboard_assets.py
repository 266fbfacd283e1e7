"""dashboards/: the Kibana saved objects and Splunk Simple XML (SPEC section 8),
and `herald setup kibana` against a fake Kibana saved objects import API."""

import glob
import json
import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

from conftest import HERALD_BIN, REPO

from fake_kibana import FakeKibana

KIBANA_DIR = os.path.join(REPO, "dashboards", "kibana")
SPLUNK_DIR = os.path.join(REPO, "dashboards", "splunk")
# The fields the ELASTICSEARCH channel writes (SPEC section 7).
ES_FIELDS = {"@timestamp", "estimestamp", "herald.id", "herald.source", "herald.severity", "herald.state",
             "herald.name", "herald.host", "herald.url", "herald.k8s.namespace"}
SPLUNK_SOURCETYPES = {"sysdig:secure", "sysdig:monitor", "falco", "kube:event", "docker:event", "alertmanager"}


def kibana_objects():
    objs = []
    for path in sorted(glob.glob(os.path.join(KIBANA_DIR, "*.ndjson"))):
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                assert line.strip(), "%s:%d: empty line" % (path, n)
                objs.append(json.loads(line))
    assert objs, "no NDJSON under dashboards/kibana"
    return objs


def test_kibana_ndjson_lines_have_what_kibana_requires():
    objs = kibana_objects()
    ids = {(o["type"], o["id"]) for o in objs}
    assert len(ids) == len(objs), "duplicate ids"
    for o in objs:
        for k in ("type", "id", "attributes", "references"):
            assert k in o, "%s: missing %s" % (o.get("id"), k)
        assert isinstance(o["attributes"], dict) and isinstance(o["references"], list)
        assert o["attributes"].get("title"), o["id"]
        for r in o["references"]:
            assert set(r) >= {"name", "type", "id"}, r
            assert (r["type"], r["id"]) in ids, "%s refers to missing %r" % (o["id"], r)
        meta = o["attributes"].get("kibanaSavedObjectMeta")
        if meta:
            ss = json.loads(meta["searchSourceJSON"])
            if "indexRefName" in ss:
                assert ss["indexRefName"] in {r["name"] for r in o["references"]}
    by_type = {}
    for o in objs:
        by_type.setdefault(o["type"], []).append(o)
    (dv,) = by_type["index-pattern"]
    assert dv["attributes"]["title"] == "herald-*" and dv["attributes"]["timeFieldName"] == "@timestamp"
    used = set()
    for v in by_type["visualization"]:
        vs = json.loads(v["attributes"]["visState"])
        assert vs["type"] and vs["aggs"]
        used |= {a["params"]["field"] for a in vs["aggs"] if "field" in a.get("params", {})}
    for s in by_type.get("search", []):
        used |= set(s["attributes"]["columns"]) | {c for c, _ in s["attributes"]["sort"]}
    assert used <= ES_FIELDS, "fields the ELASTICSEARCH channel does not write: %s" % (used - ES_FIELDS)
    assert {"herald.severity", "herald.state", "herald.k8s.namespace", "@timestamp"} <= used
    titles = {d["attributes"]["title"] for d in by_type["dashboard"]}
    assert titles == {"herald: Monitor", "herald: Secure"}
    for d in by_type["dashboard"]:
        panels = json.loads(d["attributes"]["panelsJSON"])
        refs = {r["name"] for r in d["references"]}
        assert len(panels) >= 5 and all(p["panelRefName"] in refs for p in panels)
        json.loads(d["attributes"]["optionsJSON"])


@pytest.mark.parametrize("name", ["herald_monitor.xml", "herald_secure.xml"])
def test_splunk_simple_xml_parses(name):
    root = ET.parse(os.path.join(SPLUNK_DIR, name)).getroot()
    assert root.tag == "dashboard" and root.findtext("label").startswith("herald: ")
    charts = [o.text for o in root.iter("option") if o.get("name") == "charting.chart"]
    assert {"pie", "radialGauge", "column"} <= set(charts), charts
    assert list(root.iter("table")), "a table panel"
    queries = [q.text for q in root.iter("query")]
    assert queries and all("sourcetype IN" in q for q in queries)
    sts = set()
    for q in queries:
        inside = q.split("sourcetype IN (", 1)[1].split(")", 1)[0]
        sts |= {s.strip().strip('"') for s in inside.split(",")}
    assert sts <= SPLUNK_SOURCETYPES, sts
    assert any("timechart" in q for q in queries)


def run_setup(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([HERALD_BIN, "setup", "kibana"] + list(args), capture_output=True, text=True,
                          timeout=60, env=e)


def test_setup_kibana_imports_idempotently():
    with FakeKibana() as kb:
        r = run_setup("--url", kb.url)
        assert r.returncode == 0, r.stderr
        n = len(kibana_objects())
        assert "imported %d saved objects" % n in r.stdout, r.stdout
        assert "herald-dashboard-monitor" in r.stdout and "herald-dashboard-secure" in r.stdout
        (req,) = kb.snapshot(lambda q: q.path.endswith("/_import"))
        assert req.method == "POST" and req.q("overwrite") == "true"
        assert req.header("kbn-xsrf") and req.header("content-type").startswith("multipart/form-data; boundary=")
        assert len(kb.objects) == n
        assert kb.objects[("default", "index-pattern", "herald-data-view")]["attributes"]["title"] == "herald-*"
        # Again: the same objects, overwritten, still a success.
        r = run_setup("--url", kb.url + "/", "--space", "ops")
        assert r.returncode == 0, r.stderr
        r = run_setup("--url", kb.url, "--space", "ops")
        assert r.returncode == 0, r.stderr
        assert len([k for k in kb.objects if k[0] == "ops"]) == n
        last = kb.snapshot()[-1]
        assert last.path == "/s/ops/api/saved_objects/_import"
        assert all(x.get("overwrite") for x in json.loads(last.response)["successResults"])


def test_setup_kibana_reports_kibana_errors(tmp_path):
    bad = tmp_path / "bad.ndjson"
    bad.write_text(json.dumps({"type": "visualization", "id": "v", "attributes": {"title": "t", "visState": "{\"type\":\"pie\"}"},
                               "references": [{"name": "x", "type": "index-pattern", "id": "nope"}]}) + "\n")
    with FakeKibana(users={"elastic": "kb-pass-123456"}) as kb:
        r = run_setup("--url", kb.url)
        assert r.returncode == 1 and "401" in r.stderr, r.stderr
        r = run_setup("--url", kb.url, "--file", str(bad), "--username", "elastic", "--password", "kb-pass-123456")
        assert r.returncode == 1 and "missing_references" in r.stderr, r.stderr
        assert "kb-pass-123456" not in r.stdout + r.stderr
        r = run_setup("--url", kb.url, env={"HERALD_KIBANA_USERNAME": "elastic", "HERALD_KIBANA_PASSWORD": "kb-pass-123456"})
        assert r.returncode == 0, r.stderr
    r = run_setup()
    assert r.returncode == 2 and "--url" in r.stderr
    r = run_setup("--url", "http://127.0.0.1:1")
    assert r.returncode == 1 and "cannot reach" in r.stderr


def test_fake_kibana_requires_xsrf_and_multipart():
    import http.client
    with FakeKibana() as kb:
        c = http.client.HTTPConnection("127.0.0.1", kb.port, timeout=10)
        c.request("POST", "/api/saved_objects/_import", body=b"{}", headers={"Content-Type": "application/json"})
        r = c.getresponse()
        assert r.status == 400 and b"kbn-xsrf" in r.read()
        c.request("POST", "/api/saved_objects/_import", body=b"{}", headers={"Content-Type": "application/json",
                                                                             "kbn-xsrf": "true"})
        r = c.getresponse()
        assert r.status == 415
        r.read()
        c.close()
