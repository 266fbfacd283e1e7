"""Outbound TLS (SPEC sections 4 and 6): certificates are verified by default;
options.tls.caFile trusts a private CA; allowInsecureConnections (Sysdig's
name) or tls.insecureSkipVerify turns verification off."""

import json
import ssl
import subprocess

import pytest

from conftest import poll, unique_event
from fake_es import FakeElasticsearch


@pytest.fixture
def tls_es(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    with FakeElasticsearch(ssl_context=ctx) as f:
        f.cert_path = str(cert)
        yield f


def test_self_signed_sink_is_refused_by_default(herald, tls_es):
    assert tls_es.url.startswith("https://")
    herald.webhook("strict", tls_es.url + "/tls/_doc")
    herald.ingest(json.dumps(unique_event("strict-1")))

    def retried():
        d = herald.deliveries(status="pending")
        return d if d else None
    pending = poll(retried, 15, what="a pending delivery after the TLS failure")
    err = json.dumps(pending).lower()
    assert "certificate" in err or "ssl" in err or "tls" in err, pending
    assert not [e for e in tls_es.doc_log if e[0] == "tls"]


def test_ca_file_trusts_the_sink(herald, tls_es):
    herald.webhook("ca", tls_es.url + "/tlsca/_doc", tls={"caFile": tls_es.cert_path})
    herald.ingest(json.dumps(unique_event("ca-1")))
    assert [d["marker"] for d in tls_es.wait_docs(1, index="tlsca")] == ["ca-1"]


@pytest.mark.parametrize("opts", [{"allowInsecureConnections": True},
                                  {"tls": {"insecureSkipVerify": True}}])
def test_insecure_options_skip_verification(herald, tls_es, opts):
    herald.webhook("insecure", tls_es.url + "/tlsins/_doc", **opts)
    herald.ingest(json.dumps(unique_event("ins-1")))
    assert [d["marker"] for d in tls_es.wait_docs(1, index="tlsins")] == ["ins-1"]
