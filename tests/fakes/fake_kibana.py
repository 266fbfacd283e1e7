#!/usr/bin/python3
"""fake_kibana.py - a recording Kibana saved-objects import API for herald's tests.

DESIGN: answers POST /api/saved_objects/_import (and /s/<space>/api/...) the
way Kibana's documentation describes it (docs/api/saved-objects/import.asciidoc,
the Kibana 8 OpenAPI "importSavedObjectsDefault"), with Kibana's (hapi's)
error shapes {"statusCode","error","message"}:

  - the kbn-xsrf header is required on every non-GET request: without it 400
    "Request must contain a kbn-xsrf header.";
  - the body must be multipart/form-data (else 415 Unsupported Media Type) with
    a "file" part (else 400 naming request body.file) whose filename ends in
    .ndjson (else 400 "Invalid file extension .x");
  - overwrite and createNewCopies together: 400;
  - every non-empty line must be a JSON object with type, id and attributes
    (else 400 with the parse error); export summary lines
    ({"exportedCount":..}) are skipped, as Kibana does;
  - per object, Kibana's per-object errors in a 200 answer with
    "success": false: unsupported_type for a type it does not know,
    missing_references for a reference found neither in the file nor in the
    space, conflict for an existing id without overwrite=true;
  - on success {"success": true, "successCount": N, "successResults": [{type,
    id, meta: {title, icon}, overwrite?}]}.
The fake also checks what a real import would choke on later (a
visualization's visState and a dashboard's panelsJSON must be JSON, every
panelRefName must be a reference). With users configured, requests need
Basic credentials (401 otherwise).

Stored: self.objects {(space, type, id): object as imported}.
Standalone: /usr/bin/python3 tests/fakes/fake_kibana.py --port 5601
"""

import argparse
import base64
import email.parser
import email.policy
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recording import FakeServer, run_standalone  # noqa: E402

TYPES = {"index-pattern": "indexPatternApp", "visualization": "visualizeApp", "dashboard": "dashboardApp",
         "search": "discoverApp", "lens": "lensApp", "config": "settingsApp", "tag": "tagApp"}
IMPORT_RE = re.compile(r"^(?:/s/([a-z0-9_-]+))?/api/saved_objects/_import$")


def _err(status, error, message):
    return status, [], {"statusCode": status, "error": error, "message": message}


class FakeKibana(FakeServer):
    name = "fake-kibana"

    def __init__(self, users=None, **kw):
        super().__init__(**kw)
        self.users = dict(users or {})
        self.objects = {}

    def clear(self):
        super().clear()
        with self._lock:
            self.objects.clear()

    def failure_response(self, status, body):
        if body is None:
            body = json.dumps({"statusCode": status, "error": "Service Unavailable",
                               "message": "injected failure"}).encode()
        return [("Content-Type", "application/json; charset=utf-8")], body

    def _authorised(self, req):
        if not self.users:
            return True
        auth = req.header("authorization") or ""
        if not auth.startswith("Basic "):
            return False
        try:
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            return False
        return self.users.get(user) == pw

    def handle(self, req):
        if not self._authorised(req):
            return 401, [("WWW-Authenticate", 'Basic realm="kibana"')], {
                "statusCode": 401, "error": "Unauthorized", "message": "[security_exception]: missing authentication credentials"}
        if req.method not in ("GET", "HEAD") and req.header("kbn-xsrf") is None:
            return _err(400, "Bad Request", "Request must contain a kbn-xsrf header.")
        m = IMPORT_RE.match(req.path)
        if m is None:
            return _err(404, "Not Found", "Not Found")
        if req.method != "POST":
            return _err(404, "Not Found", "Not Found")
        return self._import(req, m.group(1) or "default")

    def _import(self, req, space):
        overwrite = req.q("overwrite", "false") == "true"
        copies = req.q("createNewCopies", "false") == "true"
        if overwrite and copies:
            return _err(400, "Bad Request", "cannot use [overwrite] with [createNewCopies]")
        ctype = req.header("content-type") or ""
        if not ctype.lower().startswith("multipart/form-data"):
            return _err(415, "Unsupported Media Type", "Unsupported Media Type")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + req.body)
        if not msg.is_multipart():
            return _err(400, "Bad Request", "Invalid multipart payload format")
        filepart = None
        for part in msg.iter_parts():
            if part.get_param("name", header="content-disposition") == "file":
                filepart = part
        if filepart is None:
            return _err(400, "Bad Request",
                        "[request body.file]: expected value of type [Stream] but got [undefined]")
        fname = filepart.get_filename() or ""
        ext = os.path.splitext(fname)[1]
        if ext != ".ndjson":
            return _err(400, "Bad Request", "Invalid file extension %s" % (ext or fname))
        data = filepart.get_payload(decode=True) or b""
        objs = []
        for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                o = json.loads(line)
            except ValueError as e:
                return _err(400, "Bad Request", "Unexpected token in JSON at line %d: %s" % (n, e))
            if not isinstance(o, dict):
                return _err(400, "Bad Request", "line %d: expected an object" % n)
            if "exportedCount" in o and "type" not in o:
                continue   # the export summary line
            for k in ("type", "id", "attributes"):
                if k not in o:
                    return _err(400, "Bad Request", "line %d: [%s]: expected value of type [%s] but got [undefined]"
                                % (n, k, "object" if k == "attributes" else "string"))
            objs.append(o)
        in_file = {(o["type"], o["id"]) for o in objs}
        results, errors = [], []
        for o in objs:
            title = o["attributes"].get("title") or o["attributes"].get("name") or ""
            meta = {"title": title, "icon": TYPES.get(o["type"], "")}
            base = {"id": o["id"], "type": o["type"], "title": title, "meta": meta}
            if o["type"] not in TYPES:
                errors.append(dict(base, error={"type": "unsupported_type"}))
                continue
            problem = self._invalid(o)
            if problem:
                errors.append(dict(base, error={"type": "unknown", "message": problem, "statusCode": 400}))
                continue
            missing = [{"type": r.get("type"), "id": r.get("id")} for r in o.get("references", [])
                       if (r.get("type"), r.get("id")) not in in_file
                       and (space, r.get("type"), r.get("id")) not in self.objects]
            if missing:
                errors.append(dict(base, error={"type": "missing_references", "references": missing}))
                continue
            key = (space, o["type"], o["id"])
            if key in self.objects and not overwrite:
                errors.append(dict(base, error={"type": "conflict"}))
                continue
            res = {"id": o["id"], "type": o["type"], "meta": meta}
            if key in self.objects:
                res["overwrite"] = True
            results.append((key, o, res))
        # Kibana creates nothing when any object has an unresolved error.
        if errors:
            return 200, [], {"success": False, "successCount": 0, "errors": errors}
        for key, o, _ in results:
            self.objects[key] = o
        return 200, [], {"success": True, "successCount": len(results), "successResults": [r for _, _, r in results]}

    @staticmethod
    def _invalid(o):
        a = o["attributes"]
        if not isinstance(a, dict):
            return "attributes: expected an object"
        if o["type"] == "index-pattern" and not a.get("title"):
            return "index-pattern: attributes.title is required"
        try:
            if o["type"] == "visualization":
                vs = json.loads(a.get("visState") or "")
                if not isinstance(vs, dict) or "type" not in vs:
                    return "visualization: visState has no type"
            if o["type"] == "dashboard":
                panels = json.loads(a.get("panelsJSON") or "[]")
                names = {r.get("name") for r in o.get("references", [])}
                for p in panels:
                    if p.get("panelRefName") not in names:
                        return "dashboard: panel %s refers to no reference" % p.get("panelIndex")
            ss = (a.get("kibanaSavedObjectMeta") or {}).get("searchSourceJSON")
            if ss is not None:
                json.loads(ss)
        except (ValueError, TypeError) as e:
            return "%s: invalid JSON attribute: %s" % (o["type"], e)
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=5601)
    ap.add_argument("--user")
    ap.add_argument("--password")
    a = ap.parse_args()
    users = {a.user: a.password} if a.user else None
    run_standalone(FakeKibana(users=users, port=a.port, verbose=True))


if __name__ == "__main__":
    main()
