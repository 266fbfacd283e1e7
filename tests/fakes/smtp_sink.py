#!/usr/bin/python3
"""smtp_sink.py - a real SMTP server (Debian's python3-aiosmtpd) recording
what herald submits, for the EMAIL channel tests.

DESIGN: aiosmtpd's Controller runs an RFC 5321 server on 127.0.0.1 in its
own thread; the handler records each accepted transaction (envelope sender,
recipients, the message bytes and their parse by the stdlib email package,
whether TLS was on, the AUTH login used). Options:

  starttls=True        a self-signed certificate (openssl CLI, SAN
                       IP:127.0.0.1, generated per instance) and
                       require_starttls: MAIL before STARTTLS is refused with
                       "530 Must issue a STARTTLS command first", as Postfix
                       does with smtpd_tls_security_level = encrypt.
                       self.ca_file is the certificate to trust.
  username/password    AUTH PLAIN / LOGIN required ("530 5.7.0
                       Authentication required" otherwise) and checked
                       ("535 5.7.8 Authentication credentials invalid").
                       Without STARTTLS the sink allows AUTH in clear
                       (auth_require_tls=False), a test-only relaxation.

Every command verb a client sent is recorded, in order, in self.commands
("EHLO", "STARTTLS", "AUTH", "MAIL", ...): a test can show that a client
never tried AUTH. The argument is not recorded (AUTH PLAIN carries the
password).

Failure injection, per transaction stage ("RCPT" or "DATA"):
  inject(n, reply="451 4.3.0 Try again later", stage="DATA")
  fail_always(reply="550 5.1.1 No such user", stage="RCPT")  until clear_failures()
Rejected transactions are counted in self.rejected (reply strings).

Standalone: /usr/bin/python3 tests/fakes/smtp_sink.py [--starttls] [--port N]
"""

import argparse
import collections
import email
import email.policy
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_cert(directory):
    """Self-signed EC certificate for 127.0.0.1 / localhost; (cert, key) paths."""
    cert = os.path.join(directory, "smtp-cert.pem")
    key = os.path.join(directory, "smtp-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return cert, key


class Message:
    """One accepted transaction."""

    def __init__(self, mail_from, rcpt_tos, data, tls, login):
        self.mail_from = mail_from
        self.rcpt_tos = list(rcpt_tos)
        self.data = data                      # bytes as received (dot-unstuffed)
        self.msg = email.message_from_bytes(data, policy=email.policy.default)
        self.tls = tls
        self.login = login
        self.t = time.monotonic()

    def header(self, name):
        v = self.msg[name]
        return None if v is None else str(v)

    def part(self, ctype):
        """Decoded text of the first part of that content type."""
        for p in self.msg.walk():
            if p.get_content_type() == ctype:
                return p.get_content()
        return None

    def __repr__(self):
        return "<mail %s -> %s %r>" % (self.mail_from, self.rcpt_tos, self.header("Subject"))


class _Handler:
    def __init__(self, sink):
        self.sink = sink

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # AUTH required, checked here rather than by aiosmtpd's auth_required,
        # which warns when AUTH may go in clear (the plain test case, on purpose).
        if self.sink.username is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.sink._take("RCPT")
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        reply = self.sink._take("DATA")
        if reply is not None:
            return reply
        login = getattr(session.auth_data, "login", None) if session.auth_data is not None else None
        m = Message(envelope.mail_from, envelope.rcpt_tos, envelope.original_content or envelope.content,
                    session.ssl is not None, login.decode() if isinstance(login, bytes) else login)
        with self.sink._cond:
            self.sink.messages.append(m)
            self.sink._cond.notify_all()
        return "250 2.0.0 Ok: queued as H%06d" % len(self.sink.messages)


class _RecordingSMTP(SMTP):
    """aiosmtpd's server, recording the verb of every command it dispatches."""

    def __init__(self, handler, sink, **kw):
        super().__init__(handler, **kw)
        self._smtp_methods = {verb: self._recorded(sink, verb, fn) for verb, fn in self._smtp_methods.items()}

    @staticmethod
    def _recorded(sink, verb, fn):
        async def call(arg):
            with sink._lock:
                sink.commands.append(verb)
            return await fn(arg)
        return call


class _Controller(Controller):
    def __init__(self, handler, sink, **kw):
        self._sink = sink
        super().__init__(handler, **kw)

    def factory(self):
        return _RecordingSMTP(self.handler, self._sink, **self.SMTP_kwargs)


class SmtpSink:
    name = "smtp_sink"

    def __init__(self, starttls=False, username=None, password=None, port=None):
        self.starttls = starttls
        self.username = username
        self.password = password
        self.port = port or _free_port()
        self.host = "127.0.0.1"
        self.messages = []
        self.commands = []
        self.rejected = []
        self.auth_failures = 0
        self.ca_file = None
        self._dir = None
        self._controller = None
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._inject = collections.deque()
        self._sticky = None

    @property
    def url(self):
        return "smtp://%s:%d" % (self.host, self.port)

    # ---- lifecycle --------------------------------------------------------

    def _authenticator(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and self.username is not None
              and auth_data.login == self.username.encode() and auth_data.password == self.password.encode())
        if not ok:
            with self._lock:
                self.auth_failures += 1
        # handled=False: aiosmtpd answers "535 5.7.8 Authentication credentials
        # invalid" itself (its default, handled=True, would answer nothing).
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def start(self):
        if shutil.which("openssl") is None and self.starttls:
            raise RuntimeError("smtp_sink: the openssl CLI is needed for the STARTTLS certificate")
        kw = {}
        if self.starttls:
            import ssl
            self._dir = tempfile.mkdtemp(prefix="smtp-sink-")
            self.ca_file, key = make_cert(self._dir)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(self.ca_file, key)
            kw.update(tls_context=ctx, require_starttls=True)
        if self.username is not None:
            kw.update(authenticator=self._authenticator, auth_require_tls=self.starttls)
        else:
            kw.update(auth_require_tls=False)
        last = None
        for _ in range(3):
            try:
                self._controller = _Controller(_Handler(self), self, hostname=self.host, port=self.port,
                                               ready_timeout=10, **kw)
                self._controller.start()
                return self
            except Exception as e:  # lost the port to someone else: take another
                last = e
                self.port = _free_port()
        raise RuntimeError("smtp_sink: cannot start: %r" % (last,))

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # ---- failure injection ------------------------------------------------

    def inject(self, n=1, reply="451 4.3.0 Try again later", stage="DATA"):
        with self._lock:
            self._inject.append([n, reply, stage])

    def fail_always(self, reply="550 5.1.1 No such user", stage="RCPT"):
        with self._lock:
            self._sticky = (reply, stage)

    def clear_failures(self):
        with self._lock:
            self._inject.clear()
            self._sticky = None

    def _take(self, stage):
        with self._cond:
            reply = None
            if self._sticky is not None and self._sticky[1] == stage:
                reply = self._sticky[0]
            elif self._inject and self._inject[0][2] == stage:
                self._inject[0][0] -= 1
                reply = self._inject[0][1]
                if self._inject[0][0] <= 0:
                    self._inject.popleft()
            if reply is not None:
                self.rejected.append(reply)
                self._cond.notify_all()
            return reply

    # ---- waiting ----------------------------------------------------------

    def wait_messages(self, n, timeout=15.0, pred=None):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = [m for m in self.messages if pred is None or pred(m)]
                if len(got) >= n:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s: waited %.1fs for %d messages, got %d: %r (rejected %r)"
                                         % (self.name, timeout, n, len(got), self.messages[-5:], self.rejected[-5:]))
                self._cond.wait(min(left, 0.2))

    def wait_rejected(self, n, timeout=15.0):
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.rejected) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("%s: waited %.1fs for %d rejections, got %r"
                                         % (self.name, timeout, n, self.rejected))
                self._cond.wait(min(left, 0.2))
            return list(self.rejected)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--starttls", action="store_true")
    ap.add_argument("--username")
    ap.add_argument("--password")
    a = ap.parse_args()
    sink = SmtpSink(starttls=a.starttls, username=a.username, password=a.password, port=a.port or None).start()
    print("smtp_sink listening on %s%s" % (sink.url, " (STARTTLS, CA %s)" % sink.ca_file if a.starttls else ""),
          flush=True)
    seen = 0
    try:
        while True:
            time.sleep(0.5)
            for m in sink.messages[seen:]:
                print(repr(m), flush=True)
            seen = len(sink.messages)
    except KeyboardInterrupt:
        pass
    sink.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
