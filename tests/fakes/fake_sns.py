#!/usr/bin/python3
"""fake_sns.py - a recording Amazon SNS (query API 2010-03-31) for herald's
tests, verifying AWS Signature Version 4 with Debian's python3-botocore.

DESIGN: answers POST / with a form body like SNS does (AWS SNS API
Reference, "Publish"; common errors and parameters; botocore's
data/sns/2010-03-31/service-2.json for the error codes and statuses):

  Action=Publish&TopicArn=..&Message=..[&Subject=..][&MessageGroupId=..]
  [&MessageDeduplicationId=..]&Version=2010-03-31
  -> 200 <PublishResponse><PublishResult><MessageId>..</MessageId>...

Authentication, in the order AWS reports it (403 unless said otherwise):
  no Authorization header            MissingAuthenticationToken
  not "AWS4-HMAC-SHA256 Credential=<id>/<date>/<region>/sns/aws4_request,
  SignedHeaders=..., Signature=..."   IncompleteSignature (400)
  unknown access key id              InvalidClientTokenId
  X-Amz-Date missing or > 15 min off  IncompleteSignature (400) / SignatureDoesNotMatch
  session token of a temporary key missing or wrong
                                     InvalidClientTokenId
  host or x-amz-date not signed      SignatureDoesNotMatch
  signature differs from the one botocore.auth.SigV4Auth computes over the
  same method, path, query, signed headers, payload, date and scope
                                     SignatureDoesNotMatch
Then the parameters (400 unless said otherwise): unknown Action
InvalidAction; Version missing MissingParameter; TopicArn not a known topic
404 NotFound "Topic does not exist"; topic in another region than the
signature's scope InvalidParameter "Invalid parameter: TopicArn"; Message
missing or over 256 KiB InvalidParameter; Subject not ASCII, with a control
character, or of 100 characters or more InvalidParameter "Invalid
parameter: Subject"; FIFO topic without MessageGroupId InvalidParameter.
A FIFO MessageDeduplicationId seen before answers the same MessageId and
stores nothing (SNS's 5-minute deduplication).

Strictness beyond SNS (what herald promises): the form body must be fully
percent-encoded (only A-Z a-z 0-9 - _ . ~ %XX = & bytes), as the SigV4
canonical form spells values.

Failure injection (recording.FakeServer): inject(n, status=400,
body=("Throttling", "Rate exceeded")) answers SNS's error XML for that code;
the helpers throttle(n) and invalid(n) do exactly that. A bare status
answers InternalError (500), ServiceUnavailable (503), Throttled (429) or
InvalidParameter (400).

Stored data: self.published, a list of dicts {"topic", "subject",
"message", "params", "key_id", "message_id", "region"} in arrival order.
"""

import datetime
import os
import re
import sys
import uuid
from xml.sax.saxutils import escape

import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recording import FakeServer  # noqa: E402

NS = "http://sns.amazonaws.com/doc/2010-03-31/"
_AUTH = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
                   r"SignedHeaders=([a-z0-9;\-]+),\s*Signature=([0-9a-f]{64})$")
_FORM_OK = re.compile(rb"^(?:[A-Za-z0-9\-_.~=&]|%[0-9A-F]{2})*$")
_ARN = re.compile(r"^arn:([a-z\-]+):sns:([a-z0-9\-]+):(\d{12}):([A-Za-z0-9_\-]{1,256}(\.fifo)?)$")


def error_xml(code, message, sender=True):
    return ("<ErrorResponse xmlns=\"%s\">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n"
            "    <Message>%s</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n</ErrorResponse>\n"
            % (NS, "Sender" if sender else "Receiver", escape(code), escape(message), uuid.uuid4())).encode()


class FakeSNS(FakeServer):
    name = "fake_sns"

    def __init__(self, credentials, topics, host="127.0.0.1", port=0, verbose=False):
        """credentials: {access key id: (secret, session token or None)};
        topics: the ARNs that exist."""
        super().__init__(host, port, verbose)
        self.credentials = dict(credentials)
        self.topics = set(topics)
        self.published = []
        self.auth_errors = []
        self._dedup = {}

    # ---- injection helpers -------------------------------------------------

    def throttle(self, n=1):
        self.inject(n, status=400, body=("Throttling", "Rate exceeded"))

    def invalid(self, n=1, message="Invalid parameter: Message"):
        self.inject(n, status=400, body=("InvalidParameter", message))

    def failure_response(self, status, body):
        if isinstance(body, tuple):
            code, msg = body
        elif body is not None:
            return [("Content-Type", "text/xml")], body
        else:
            code, msg = {429: ("Throttled", "Rate exceeded"), 500: ("InternalError", "Internal error"),
                         503: ("ServiceUnavailable", "Service unavailable")}.get(
                status, ("InvalidParameter", "Invalid parameter"))
        return [("Content-Type", "text/xml")], error_xml(code, msg, sender=status < 500)

    # ---- serving -------------------------------------------------------------

    def _err(self, status, code, message):
        return status, [("Content-Type", "text/xml")], error_xml(code, message, sender=status < 500)

    def _auth_fail(self, status, code, message):
        """What _verify returns for a refused request: (answer, None, None)."""
        self.auth_errors.append(code)
        return self._err(status, code, message), None, None

    def _verify(self, req):
        """(None, key id, region) if the request is signed right, else
        (the error answer, None, None)."""
        auth = req.header("authorization")
        if not auth:
            return self._auth_fail(403, "MissingAuthenticationToken",
                                   "Request is missing Authentication Token")
        m = _AUTH.match(auth.strip())
        if not m:
            return self._auth_fail(400, "IncompleteSignature",
                                   "Authorization header requires Credential, SignedHeaders and Signature")
        key_id, day, region, service, signed, signature = m.groups()
        if key_id not in self.credentials:
            return self._auth_fail(403, "InvalidClientTokenId",
                                   "The security token included in the request is invalid.")
        secret, token = self.credentials[key_id]
        amz_date = req.header("x-amz-date")
        if not amz_date or not re.match(r"^\d{8}T\d{6}Z$", amz_date) or amz_date[:8] != day:
            return self._auth_fail(400, "IncompleteSignature", "X-Amz-Date missing or not matching the scope")
        when = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 15 * 60:
            return self._auth_fail(403, "SignatureDoesNotMatch", "Signature expired: %s is now earlier than "
                                   "the allowed skew" % amz_date)
        if service != "sns":
            return self._auth_fail(403, "SignatureDoesNotMatch", "Credential should be scoped to correct "
                                   "service: 'sns'.")
        if token is not None and req.header("x-amz-security-token") != token:
            return self._auth_fail(403, "InvalidClientTokenId",
                                   "The security token included in the request is invalid.")
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names or names != sorted(names):
            return self._auth_fail(403, "SignatureDoesNotMatch", "host and x-amz-date must be signed")
        headers = {}
        for n in names:
            v = req.header(n)
            if v is None:
                return self._auth_fail(403, "SignatureDoesNotMatch", "signed header %s not sent" % n)
            headers[n] = v
        url = "http://%s%s" % (req.header("host"), urllib.parse.quote(req.path))
        if req.query:
            url += "?" + urllib.parse.urlencode(req.query, doseq=True)
        areq = AWSRequest(method=req.method, url=url, data=req.raw_body, headers=headers)
        areq.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(key_id, secret, token), "sns", region)
        canonical = signer.canonical_request(areq)
        expected = signer.signature(signer.string_to_sign(areq, canonical), areq)
        if expected != signature:
            return self._auth_fail(403, "SignatureDoesNotMatch",
                                   "The request signature we calculated does not match the signature you "
                                   "provided.")
        return None, key_id, region

    def handle(self, req):
        if req.method != "POST" or req.path != "/":
            return self._err(400, "InvalidAction", "Could not find operation for %s %s" % (req.method, req.path))
        ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return self._err(400, "InvalidAction", "Content-Type must be application/x-www-form-urlencoded")
        bad, key_id, region = self._verify(req)
        if bad is not None:
            return bad
        if not _FORM_OK.match(req.raw_body):
            return self._err(400, "InvalidParameter", "form values must be percent-encoded (herald fake rule)")
        form = urllib.parse.parse_qs(req.raw_body.decode("ascii"), keep_blank_values=True)
        p = {k: v[0] for k, v in form.items()}
        if p.get("Action") != "Publish":
            return self._err(400, "InvalidAction", "The action %s is not valid for this web service."
                             % p.get("Action"))
        if p.get("Version") != "2010-03-31":
            return self._err(400, "MissingParameter", "The request must contain the parameter Version")
        arn = p.get("TopicArn")
        m = _ARN.match(arn or "")
        if not m or arn not in self.topics:
            return self._err(404, "NotFound", "Topic does not exist")
        if m.group(2) != region:
            return self._err(400, "InvalidParameter", "Invalid parameter: TopicArn")
        msg = p.get("Message")
        if not msg:
            return self._err(400, "InvalidParameter", "Invalid parameter: Message")
        if len(msg.encode()) > 256 * 1024:
            return self._err(400, "InvalidParameter", "Invalid parameter: Message too long")
        subject = p.get("Subject")
        if subject is not None and (len(subject) >= 100 or not subject
                                    or any(ord(c) < 0x20 or ord(c) > 0x7e for c in subject)):
            return self._err(400, "InvalidParameter", "Invalid parameter: Subject")
        fifo = arn.endswith(".fifo")
        if fifo and not p.get("MessageGroupId"):
            return self._err(400, "InvalidParameter",
                             "Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
        if not fifo and ("MessageGroupId" in p or "MessageDeduplicationId" in p):
            return self._err(400, "InvalidParameter",
                             "Invalid parameter: MessageGroupId is only for FIFO topics")
        dedup = (arn, p.get("MessageDeduplicationId")) if fifo and p.get("MessageDeduplicationId") else None
        if dedup is not None and dedup in self._dedup:
            mid = self._dedup[dedup]
        else:
            mid = str(uuid.uuid4())
            if dedup is not None:
                self._dedup[dedup] = mid
            self.published.append({"topic": arn, "subject": subject, "message": msg, "params": p,
                                   "key_id": key_id, "message_id": mid, "region": region})
        body = ("<PublishResponse xmlns=\"%s\">\n  <PublishResult>\n    <MessageId>%s</MessageId>\n"
                "  </PublishResult>\n  <ResponseMetadata>\n    <RequestId>%s</RequestId>\n"
                "  </ResponseMetadata>\n</PublishResponse>\n" % (NS, mid, uuid.uuid4()))
        return 200, [("Content-Type", "text/xml")], body.encode()

    # ---- waiting -------------------------------------------------------------

    def wait_published(self, n, timeout=15.0, pred=None):
        def got():
            hits = [x for x in self.published if pred is None or pred(x)]
            return hits if len(hits) >= n else None
        return self.wait_until(got, timeout, "%d SNS messages published" % n)


