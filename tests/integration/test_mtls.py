"""Client certificates instead of a bearer token (SPEC sections 3 and 4):
tls.clientCaFile makes herald ask every client for a certificate (requested,
not required); tls.clientIdentities maps a verified certificate's subject to a
scope, so Falco's http_output, which can present a certificate but cannot add
a header, posts straight to herald.

The PKI is made with the openssl command: a CA, herald's server certificate
(SAN 127.0.0.1), client certificates CN=falco (listed, ingest), O=Acme/CN=grafana
(listed as "cn=grafana, o=Acme", read), CN=intruder (same CA, not listed),
and three CN=falco that must not count: from another CA, expired, and with
serverAuth as its only extended key usage. Requests go over Python's ssl
(load_cert_chain) and once over curl.
"""

import http.client
import json
import os
import random
import shutil
import signal
import ssl
import subprocess

import pytest

from conftest import Herald, Resp, assert_error, fixture_bytes, fixture_json, fixture_path, poll

FALCO = "falco/falco_critical_terminal_shell_syscall.json"
IDENTITIES = [{"subject": "CN=falco", "scope": "ingest"},
              {"subject": "cn=grafana, o=Acme", "scope": "read"}]


# ---- PKI ------------------------------------------------------------------------

class Pki:
    """Certificates under dir; each is (cert path, key path)."""

    def __init__(self, dir):
        self.dir = str(dir)
        self.ca = self._ca("ca", "/CN=herald test CA")
        self.other_ca = self._ca("other-ca", "/CN=some other CA")
        self.server = self._issue("server", "/CN=127.0.0.1", self.ca,
                                  "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        client = "extendedKeyUsage=clientAuth\n"
        self.falco = self._issue("falco", "/CN=falco", self.ca, client)
        self.grafana = self._issue("grafana", "/O=Acme/CN=grafana", self.ca, client)
        self.intruder = self._issue("intruder", "/CN=intruder", self.ca, client)
        self.falco_other_ca = self._issue("falco-other", "/CN=falco", self.other_ca, client)
        self.falco_server_eku = self._issue("falco-server-eku", "/CN=falco", self.ca, "extendedKeyUsage=serverAuth\n")
        self.falco_expired = self._issue("falco-expired", "/CN=falco", self.ca, client, expired=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def _openssl(self, *args):
        subprocess.run(["openssl"] + list(args), check=True, capture_output=True, cwd=self.dir)

    def _ca(self, name, subj):
        cert, key = self.path(name + ".pem"), self.path(name + ".key")
        self._openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-days", "2", "-subj", subj, "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", key, "-out", cert)
        return cert, key

    def _issue(self, name, subj, ca, ext, expired=False):
        cert, key, csr, extfile = (self.path(name + s) for s in (".pem", ".key", ".csr", ".ext"))
        with open(extfile, "w") as f:
            f.write("basicConstraints=CA:FALSE\n" + ext)
        self._openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                      "-subj", subj, "-keyout", key, "-out", csr)
        if not expired:
            self._openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-days", "2",
                          "-set_serial", str(random.randrange(1, 2 ** 62)), "-extfile", extfile, "-out", cert)
            return cert, key
        # dates in the past need `openssl ca` (x509 -req only counts days from now)
        cnf, db, serial = self.path(name + ".cnf"), self.path(name + ".index"), self.path(name + ".serial")
        with open(cnf, "w") as f:
            f.write("[ca]\ndefault_ca = test\n[test]\ndatabase = %s\nserial = %s\nnew_certs_dir = %s\n"
                    "default_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n" % (db, serial, self.dir))
        open(db, "w").close()
        with open(serial, "w") as f:
            f.write("%016X\n" % random.randrange(1, 2 ** 62))
        self._openssl("ca", "-batch", "-notext", "-config", cnf, "-cert", ca[0], "-keyfile", ca[1], "-in", csr,
                      "-startdate", "20200101000000Z", "-enddate", "20200102000000Z", "-extfile", extfile,
                      "-out", cert)
        return cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make the test certificates")
    return Pki(tmp_path_factory.mktemp("pki"))


# ---- herald over HTTPS -------------------------------------------------------------

def tls_call(port, method, path, body=None, headers=None, cert=None, ca=None, conn=None, timeout=30):
    """One request over HTTPS to 127.0.0.1:port, herald's certificate checked
    against ca, presenting cert (a (cert, key) pair) if given; on conn if given
    (kept open: keep-alive), else on a fresh connection."""
    own = conn is None
    if own:
        conn = tls_connection(port, cert, ca, timeout)
    try:
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        conn.request(method, path, body=body, headers=dict(headers or {}))
        r = conn.getresponse()
        data = r.read()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        if own:
            conn.close()


def tls_connection(port, cert, ca, timeout=30):
    ctx = ssl.create_default_context(cafile=ca)
    if cert is not None:
        ctx.load_cert_chain(cert[0], cert[1])
    return http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=timeout)


class TlsHerald(Herald):
    """herald serving HTTPS with the test PKI; api() speaks HTTPS and can
    present a client certificate (cert=) instead of, or with, a token."""

    def __init__(self, dir, pki, identities=IDENTITIES, **kw):
        self.pki = pki
        extra = {"tls": {"certFile": pki.server[0], "keyFile": pki.server[1], "clientCaFile": pki.ca[0],
                         "clientIdentities": identities}}
        extra.update(kw.pop("extra", {}))
        super().__init__(dir, extra=extra, **kw)

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def wait_ready(self, timeout=20.0):
        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError("herald exited with %s during start; log:\n%s" % (self.proc.returncode, self.log()))
            try:
                return tls_call(self.port, "GET", "/readyz", ca=self.pki.ca[0], timeout=2).status == 200
            except (OSError, ssl.SSLError):
                return False
        try:
            poll(ready, timeout, what="herald /readyz over HTTPS")
        except RuntimeError as e:
            raise AssertionError(str(e))

    def api(self, method, path, body=None, token="admin", headers=None, query=None, timeout=30, cert=None,
            conn=None):
        hdrs = dict(headers or {})
        if token is not None:
            hdrs.setdefault("Authorization", "Bearer " + self.token(token))
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if query:
            path += ("&" if "?" in path else "?") + "&".join("%s=%s" % kv for kv in query.items())
        return tls_call(self.port, method, path, body, hdrs, cert=cert, ca=self.pki.ca[0], conn=conn,
                        timeout=timeout)

    def falco_post(self, cert, token=None, conn=None):
        """POST the Falco fixture as Falco's http_output does (json_output):
        Content-Type application/json, no Authorization header unless token."""
        return self.api("POST", "/api/events?format=falco", fixture_bytes(FALCO), token=token,
                        headers={"Content-Type": "application/json"}, cert=cert, conn=conn)


@pytest.fixture
def tls_herald(tmp_path, pki):
    h = TlsHerald(tmp_path / "h", pki)
    h.start()
    yield h
    if h.running():
        h.proc.send_signal(signal.SIGTERM)
        rc = h.wait_exit(15)
        assert rc == 0, "herald exited %s on SIGTERM; log:\n%s" % (rc, h.log()[-3000:])


# ---- the tests ------------------------------------------------------------------------

def test_falco_posts_with_its_certificate_alone(tls_herald, pki):
    conn = tls_connection(tls_herald.port, pki.falco, pki.ca[0])
    try:
        r = tls_herald.falco_post(pki.falco, conn=conn)
        assert r.status == 202, r
        assert r.json["accepted"] == 1, r
        # the same connection again (keep-alive, as Falco's curl handle does):
        # the certificate was verified once and still counts
        again = tls_herald.falco_post(pki.falco, conn=conn)
        assert again.status == 202 and again.json["ids"] == r.json["ids"], again
    finally:
        conn.close()
    ev = tls_herald.event(r.json["ids"][0])   # the admin token, no certificate
    assert ev["name"] == fixture_json(FALCO)["rule"], ev
    assert ev["source"] == "falco", ev


def test_certificate_scope_is_enforced(tls_herald, pki):
    for method, path in [("GET", "/api/notificationChannels"), ("POST", "/api/notificationChannels"),
                         ("GET", "/api/events")]:
        body = {"notificationChannel": {}} if method == "POST" else None
        msg = assert_error(tls_herald.api(method, path, body, token=None, cert=pki.falco), 403,
                           "client certificate", "CN=falco", "ingest")
        assert path in msg, msg


def test_subject_matches_however_the_file_spells_it(tls_herald, pki):
    # listed as "cn=grafana, o=Acme"; the certificate's subject reads CN=grafana,O=Acme
    r = tls_herald.api("GET", "/api/events", token=None, cert=pki.grafana)
    assert r.status == 200, r
    assert_error(tls_herald.falco_post(pki.grafana), 403, "CN=grafana,O=Acme", "read")


def test_unlisted_subject_is_401(tls_herald, pki):
    r = tls_herald.falco_post(pki.intruder)
    assert_error(r, 401, "CN=intruder", "tls.clientIdentities")
    assert r.header("WWW-Authenticate"), r.headers
    assert tls_herald.events() == []
    poll(lambda: "CN=intruder" in tls_herald.log(), 5, what="the refused subject in the log")


@pytest.mark.parametrize("which,why", [("falco_other_ca", "not issued by a CA of tls.clientCaFile"),
                                       ("falco_expired", "expired"),
                                       ("falco_server_eku", "extended key usage")])
def test_certificate_that_does_not_verify_is_401(tls_herald, pki, which, why):
    # CN=falco is listed, but this certificate does not prove it
    assert_error(tls_herald.falco_post(getattr(pki, which)), 401, why)
    assert_error(tls_herald.api("GET", "/api/events", token=None, cert=getattr(pki, which)), 401)
    assert tls_herald.events() == []


def test_clients_without_a_certificate_keep_working(tls_herald, pki):
    for path in ("/healthz", "/readyz"):
        assert tls_herald.api("GET", path, token=None).status == 200
    assert tls_herald.falco_post(None, token="ingest").status == 202
    assert tls_herald.api("GET", "/api/events", token="read").status == 200
    assert_error(tls_herald.falco_post(None), 401, "missing bearer token")
    assert_error(tls_herald.api("GET", "/api/notificationChannels", token=None), 401)
    # an open route with a certificate that does not verify is still open
    assert tls_herald.api("GET", "/healthz", token=None, cert=pki.falco_other_ca).status == 200


def test_a_bearer_token_decides_when_there_is_one(tls_herald, pki):
    # a wrong token is not rescued by a listed certificate ...
    assert_error(tls_herald.falco_post(pki.falco, token="not-a-token-0123456789"), 401, "unknown token")
    # ... and a right one works whatever certificate comes with it
    r = tls_herald.api("GET", "/api/notificationChannels", token="admin", cert=pki.intruder)
    assert r.status == 200, r
    assert tls_herald.falco_post(pki.falco_other_ca, token="ingest").status == 202


def test_curl_with_a_client_certificate(tls_herald, pki, tmp_path):
    if shutil.which("curl") is None:
        pytest.fail("curl is needed (scripts/setup.sh installs it)")
    out = tmp_path / "answer.json"
    p = subprocess.run(["curl", "-sS", "--cacert", pki.ca[0], "--cert", pki.falco[0], "--key", pki.falco[1],
                        "-H", "Content-Type: application/json", "--data-binary", "@" + fixture_path(FALCO),
                        "-o", str(out), "-w", "%{http_code}", tls_herald.url + "/api/events?format=falco"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "202", (p.stdout, out.read_text())
    ids = json.loads(out.read_text())["ids"]
    assert tls_herald.event(ids[0])["name"] == fixture_json(FALCO)["rule"]


def test_identities_reload_on_sighup(tls_herald, pki):
    assert tls_herald.falco_post(pki.intruder).status == 401
    tls_herald.write_config(extra=dict(tls_herald.extra, tls=dict(
        tls_herald.extra["tls"], clientIdentities=IDENTITIES + [{"subject": "CN=intruder", "scope": "ingest"}])))
    tls_herald.sighup()
    poll(lambda: tls_herald.falco_post(pki.intruder).status == 202, 10,
         what="the identity added by the reload to be let in")
    assert tls_herald.running()


@pytest.mark.parametrize("tls,needles", [
    ({"clientCaFile": "CA", "clientIdentities": IDENTITIES}, ["clientCaFile needs certFile and keyFile", ":3:"]),
    ({"certFile": "SRV", "keyFile": "KEY", "clientCaFile": "/nonexistent/ca.pem"},
     ["tls.clientCaFile", "/nonexistent/ca.pem", ":3:"]),
    ({"certFile": "SRV", "keyFile": "KEY", "clientCaFile": "CA", "clientIdentities": [{"subject": "falco",
                                                                                        "scope": "ingest"}]},
     ["tls.clientIdentities[0]", "subject", "'falco'", ":3:"]),
    ({"certFile": "SRV", "keyFile": "KEY", "clientCaFile": "CA", "clientIdentities": [{"subject": "CN=falco"}]},
     ["tls.clientIdentities[0]", "scope: required", ":3:"]),
    ({"certFile": "SRV", "keyFile": "KEY", "clientIdentities": IDENTITIES},
     ["clientIdentities need clientCaFile", ":3:"]),
    ({"certFile": "SRV", "keyFile": "KEY", "clientCaFile": "SRVKEY"}, ["tls.clientCaFile", "no X.509 certificate"]),
])
def test_configuration_errors_name_the_key(tmp_path, pki, tls, needles):
    subst = {"CA": pki.ca[0], "SRV": pki.server[0], "KEY": pki.server[1], "SRVKEY": pki.server[1]}
    tls = {k: subst.get(v, v) if isinstance(v, str) else v for k, v in tls.items()}
    h = Herald(tmp_path / "bad")
    h.write_config(text='listen: "127.0.0.1:%d"\ndataDir: "%s"\ntls: %s\n' % (h.port, h.data_dir, json.dumps(tls)))
    h.spawn()
    rc = h.wait_exit(10)
    log = h.log()
    assert rc != 0, log
    for n in needles:
        assert n in log, (n, log)
