"""GET /metrics (SPEC section 4): the whole exposition read by the Prometheus
client's own parser, # HELP on every family, the families the SPEC lists,
route labels bounded to the route table, and the per-channel gauges of
undelivered events (age of the oldest, dead letters)."""

import json
import os
import re
import time

from prometheus_client.parser import text_string_to_metric_families

from conftest import http_call, metric_values, poll, unique_event
from recording import FakeServer

REPO = os.path.join(os.path.dirname(__file__), "..", "..")

SPEC_FAMILIES = [
    "herald_events_received_total", "herald_events_stored_total", "herald_events_rejected_total",
    "herald_deliveries_total", "herald_delivery_latency_seconds",
    "herald_channel_backlog", "herald_channel_oldest_undelivered_seconds", "herald_channel_dead_letters",
    "herald_http_requests_total", "herald_http_request_duration_seconds",
    "herald_build_info", "process_cpu_seconds_total", "process_resident_memory_bytes",
    "process_open_fds", "process_max_fds", "process_start_time_seconds",
]


class Sink(FakeServer):
    """200 on /ok, 503 on /down, 400 on /bad."""

    def handle(self, req):
        if req.path.startswith("/down"):
            return 503, [("Retry-After", "60")], b"down"
        if req.path.startswith("/bad"):
            return 400, [], b"no such index"
        return 200, [], b"{}"


def families(text):
    """{name as exposed: Metric} of the whole page; the parser raises on anything
    invalid (it names a counter family without its "_total": put it back)."""
    out = {}
    for fam in text_string_to_metric_families(text):
        name = fam.name
        if fam.type == "counter" and any(s.name == name + "_total" for s in fam.samples):
            name += "_total"
        assert name not in out, "family %s twice" % name
        out[name] = fam
    return out


def samples(fams, family, sample=None):
    """{frozenset(labels.items()): value} of one sample name of a family."""
    return {frozenset(s.labels.items()): s.value for s in fams[family].samples
            if s.name == (sample or family)}


def busy_herald(herald, sink):
    herald.webhook("ok", sink.url + "/ok")
    herald.webhook("down", sink.url + "/down")
    herald.webhook("bad", sink.url + "/bad")
    herald.ingest(json.dumps(unique_event("m-1")))
    herald.ingest("\n".join(json.dumps(unique_event("m-%d" % i)) for i in range(2, 5)) + "\n",
                  content_type="application/x-ndjson")
    assert herald.post_events("{not json").status == 400
    assert herald.api("GET", "/api/events/%s" % ("0" * 32)).status == 404
    assert herald.api("GET", "/no/such/path/x1").status == 404


def test_whole_page_parses_and_every_family_has_help(herald):
    with Sink() as sink:
        busy_herald(herald, sink)
        poll(lambda: "herald_delivery_latency_seconds_count" in herald.metrics(), 10,
             what="a delivery observed")
        text = herald.metrics()
    fams = families(text)
    for name in SPEC_FAMILIES:
        assert name in fams, "family %s missing from /metrics" % name
    for name, fam in fams.items():
        assert fam.documentation, "family %s has no # HELP" % name
        assert "Undocumented" not in fam.documentation, "family %s is not in core/metrics.c's table" % name
        assert fam.type in ("counter", "gauge", "histogram"), (name, fam.type)
    # Each # TYPE line right after its family's # HELP line.
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("# TYPE "):
            assert i > 0 and lines[i - 1].startswith("# HELP %s " % line.split()[2]), line


def test_build_info_and_process(herald):
    fams = families(herald.metrics())
    info = samples(fams, "herald_build_info")
    assert len(info) == 1
    labels = dict(next(iter(info)))
    assert set(labels) == {"version", "revision"}
    assert labels["version"].count(".") == 2 and labels["revision"]
    assert list(info.values()) == [1.0]
    now = time.time()
    start = samples(fams, "process_start_time_seconds")[frozenset()]
    assert now - 600 < start <= now + 1
    assert samples(fams, "process_resident_memory_bytes")[frozenset()] > 1e6
    fds = samples(fams, "process_open_fds")[frozenset()]
    assert 3 <= fds <= samples(fams, "process_max_fds")[frozenset()]
    assert samples(fams, "process_cpu_seconds_total", "process_cpu_seconds_total")[frozenset()] >= 0


def test_http_requests_labelled_by_route_pattern(herald):
    for i in range(3):
        assert herald.api("GET", "/api/events/%032x" % i).status == 404
        assert herald.api("GET", "/random/%d" % i).status == 404
    fams = families(herald.metrics())
    reqs = samples(fams, "herald_http_requests_total")
    routes = {dict(k)["route"] for k in reqs}
    # The route table's patterns, or "other": never a raw path.
    assert "/api/events/{id}" in routes and "other" in routes, routes
    assert not any(r.startswith("/random") or "0000" in r for r in routes), routes
    got = {(dict(k)["route"], dict(k)["code"]): v for k, v in reqs.items()}
    assert got[("/api/events/{id}", "404")] >= 3
    assert got[("/readyz", "200")] >= 1
    hist = fams["herald_http_request_duration_seconds"]
    counts = {s.labels["route"]: s.value for s in hist.samples if s.name.endswith("_count")}
    assert counts["/api/events/{id}"] >= 3
    inf = [s for s in hist.samples if s.name.endswith("_bucket") and s.labels.get("le") == "+Inf"
           and s.labels["route"] == "/api/events/{id}"]
    assert inf and inf[0].value == counts["/api/events/{id}"]


def test_oldest_undelivered_age_and_dead_letters(herald):
    with Sink() as sink:
        busy_herald(herald, sink)

        def gauge(name, channel):
            return metric_values(herald.metrics(), name).get('channel="%s"' % channel)

        # /bad answers 400: 4 dead letters, cached from the store (refreshed every 5 s).
        poll(lambda: gauge("herald_channel_dead_letters", "bad") == 4, 15, what="4 dead letters of 'bad'")
        assert gauge("herald_channel_dead_letters", "ok") == 0
        assert gauge("herald_channel_dead_letters", "down") == 0
        # /down keeps them waiting: the age of the oldest grows.
        poll(lambda: (gauge("herald_channel_oldest_undelivered_seconds", "down") or 0) > 0.5, 15,
             what="an age for the oldest undelivered event of 'down'")
        a1 = gauge("herald_channel_oldest_undelivered_seconds", "down")
        time.sleep(1.1)
        a2 = gauge("herald_channel_oldest_undelivered_seconds", "down")
        assert a2 >= a1 + 1, (a1, a2)
        assert gauge("herald_channel_backlog", "down") >= 4
        # Delivered or dead: nothing is waiting, age 0.
        poll(lambda: gauge("herald_channel_backlog", "ok") == 0, 10, what="'ok' delivered")
        assert gauge("herald_channel_oldest_undelivered_seconds", "ok") == 0
        assert gauge("herald_channel_oldest_undelivered_seconds", "bad") == 0


def test_every_family_is_in_operations_doc(herald):
    with open(os.path.join(REPO, "docs", "operations.md")) as f:
        doc = f.read()
    with Sink() as sink:
        busy_herald(herald, sink)
        poll(lambda: "herald_delivery_latency_seconds_count" in herald.metrics(), 10,
             what="a delivery observed")
        fams = families(herald.metrics())
    missing = [n for n in fams if "`%s`" % n not in doc]
    assert not missing, "docs/operations.md does not list %s" % missing
    # ... and every family of the table in core/metrics.c, scraped here or not.
    with open(os.path.join(REPO, "src", "core", "metrics.c")) as f:
        table = re.findall(r'^\s*\{"((?:herald|process)_[a-z_]+)", "(?:counter|gauge|histogram)"', f.read(), re.M)
    assert len(table) > 20, table
    missing = [n for n in table if "`%s`" % n not in doc]
    assert not missing, "docs/operations.md does not list %s" % missing


def test_metrics_public_needs_no_token(herald_factory):
    h = herald_factory(extra={"metrics": {"public": True}})
    r = http_call(h.port, "GET", "/metrics")
    assert r.status == 200
    families(r.text)
