#!/usr/bin/python3
"""fake_es.py - a recording Elasticsearch-like HTTP server for herald's tests.

DESIGN: answers the part of the Elasticsearch REST API herald talks to, with
the status codes and JSON shapes real Elasticsearch (7.x by default, 8.x with
version="8...") answers, so herald's drivers are tested against what they meet
in production:

  GET  /                                  cluster info
  POST /<index>/_doc, PUT|POST /<index>/_doc/<id>   index API  -> 201 created / 200 updated
  PUT|POST /<index>/_create/<id>          -> 201, or 409 version_conflict_engine_exception
  POST /<index>/<type>[/<id>]             legacy typed index (the article's
                                          /sysdigsecure/event), answer has "_type"
  GET  /<index>/_doc/<id>, GET /<index>/_count
  POST /_bulk, /<index>/_bulk             NDJSON action/source pairs, per-item
                                          status; per-item failures injectable
  PUT|GET /_ingest/pipeline/<id>, /_index_template/<n>, /_template/<n>,
  /_component_template/<n>; PUT /<index>  (for `herald setup elasticsearch`)

Checks like Elasticsearch: a body needs Content-Type application/json (or
x-ndjson / vnd.elasticsearch+json), else 406 {"error":"Content-Type header
[x] is not supported","status":406}; an index document must be a JSON object
(400 mapper_parsing_exception), an empty body is 400 parse_exception "request
body is required"; index names must be lowercase (400
invalid_index_name_exception); with users/api_keys configured, requests
without valid credentials get 401 security_exception with WWW-Authenticate.
Bulk bodies must end with a newline (400 illegal_argument_exception).
Elasticsearch 8 refuses `_type` in bulk action lines (typeless API); a body
sent with Content-Encoding: gzip must be gzip. `filter_path` (a common
option of every REST API) filters any JSON answer. Ingest pipelines run on
index and bulk requests (`?pipeline=`, the action's "pipeline", or the
index's `index.default_pipeline` from the matching composable template); the
fake executes the processors herald uses (script with the Painless forms
herald writes, set, remove) and refuses, at PUT, what it cannot execute. A
missing pipeline fails the item (400 illegal_argument_exception). Composable
templates (`_index_template`, 7.8+) are validated (index_patterns required,
known keys only) and read back in Elasticsearch's answer shape
{"index_templates":[{"name","index_template"}]}.

Stored data: self.docs {(index, id): {"_source", "_version", "_seq_no"}} and
self.doc_log, a list of (index, id, source, raw_bytes, op) in arrival order
(a re-indexed id appears twice: count duplicates with it).

Standalone: /usr/bin/python3 tests/fakes/fake_es.py --port 9200 [--user U --password P]
"""

import argparse
import base64
import fnmatch
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from recording import FakeServer, run_standalone  # noqa: E402

_JSON_TYPES = ("application/json", "application/x-ndjson",
               "application/vnd.elasticsearch+json", "application/vnd.elasticsearch+x-ndjson")
_BAD_INDEX_CHARS = set('\\/*?"<>| ,#:')


def es_error(status, etype, reason, caused_by=None, root_extra=None, **extra):
    """The error body Elasticsearch answers: root_cause list + the cause + status."""
    cause = {"type": etype, "reason": reason}
    cause.update(extra)
    root = dict(cause)
    if root_extra:
        root.update(root_extra)
        cause.update(root_extra)
    if caused_by is not None:
        cause["caused_by"] = caused_by
    return {"error": {"root_cause": [root], **cause}, "status": status}


def filter_path(body, spec):
    """Elasticsearch's filter_path: comma-separated dotted paths, '*' matches
    any one key; arrays are traversed; what matches nothing is left out."""
    paths = [p.split(".") for p in spec.split(",") if p]

    def walk(node, plist):
        if any(not p for p in plist):
            return node
        if isinstance(node, list):
            out = [walk(e, plist) for e in node]
            return [e for e in out if e is not _NONE]
        if not isinstance(node, dict):
            return _NONE
        out = {}
        for k, v in node.items():
            sub = [p[1:] for p in plist if fnmatch.fnmatchcase(k, p[0])]
            if sub:
                got = walk(v, sub)
                if got is not _NONE:
                    out[k] = got
        return out if out else _NONE

    got = walk(body, paths)
    return {} if got is _NONE else got


_NONE = object()

# The Painless the fake can run: conditions joined by && of
#   ctx.F == null | ctx.F != null | ctx.F instanceof Number
# and statements joined by ; of
#   ctx.A = ctx.B / N[L]  |  ctx.A = ((Number) ctx.B).longValue() / N[L]
_COND = re.compile(r"^ctx\.([\w@]+)\s*(==\s*null|!=\s*null|instanceof\s+Number)$")
_STMT = re.compile(r"^ctx\.([\w@]+)\s*=\s*(?:ctx\.([\w@]+)|\(\(Number\)\s*ctx\.([\w@]+)\)\.longValue\(\))"
                   r"\s*/\s*(\d+)L?$")


def compile_condition(text):
    """A function(doc) -> bool, or None if the fake cannot run it."""
    if text is None:
        return lambda doc: True
    tests = []
    for part in text.split("&&"):
        m = _COND.match(part.strip())
        if not m:
            return None
        field, op = m.group(1), m.group(2).replace(" ", "")
        if op == "==null":
            tests.append(lambda d, f=field: d.get(f) is None)
        elif op == "!=null":
            tests.append(lambda d, f=field: d.get(f) is not None)
        else:
            tests.append(lambda d, f=field: isinstance(d.get(f), (int, float)) and not isinstance(d.get(f), bool))
    return lambda doc: all(t(doc) for t in tests)


def compile_script(text):
    """A function(doc) applying the statements, or None."""
    stmts = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        m = _STMT.match(part)
        if not m:
            return None
        stmts.append((m.group(1), m.group(2) or m.group(3), int(m.group(4))))

    def run(doc):
        for dst, src, div in stmts:
            v = doc.get(src)
            if v is None:
                raise ValueError("Cannot invoke \"Object.getClass()\" because \"value\" is null")
            doc[dst] = int(v) // div  # Java long division (non-negative times)
    return run


class FakeElasticsearch(FakeServer):
    name = "fake_es"

    def __init__(self, host="127.0.0.1", port=0, version="7.17.18", users=None,
                 api_keys=None, verbose=False, ssl_context=None):
        """users: {"elastic": "changeme"} enables basic auth; api_keys: a set
        of accepted ApiKey values (the base64 "id:key" string sent after
        'ApiKey '). Either enables security: no credentials -> 401."""
        super().__init__(host, port, verbose, ssl_context=ssl_context)
        self.version = version
        self.users = dict(users or {})
        self.api_keys = set(api_keys or ())
        self.docs = {}
        self.doc_log = []
        self.pipelines = {}
        self.templates = {}
        self.indices = set()
        self._seq = {}
        self._auto = 0
        self._item_failures = []     # [ [remaining, status, type, reason] ]
        self.item_failure_if = None  # fn(index, id, source) -> None | (status, type, reason)

    @property
    def major(self):
        return int(self.version.split(".")[0])

    def clear(self):
        with self._lock:
            super().clear()
            self.docs.clear()
            self.doc_log.clear()
            self._item_failures.clear()
            self.item_failure_if = None

    # ---- helpers for tests ----------------------------------------------

    def doc_keys(self):
        """(index, _id) of every stored document, copied under the lock (the
        server thread adds documents while a test reads)."""
        with self._lock:
            return list(self.docs)

    def sources(self, index=None):
        """Sources received, in arrival order (including re-indexed ids)."""
        with self._lock:
            return [e[2] for e in self.doc_log if index is None or e[0] == index]

    def raw_docs(self, index=None):
        with self._lock:
            return [e[3] for e in self.doc_log if index is None or e[0] == index]

    def wait_docs(self, n, timeout=10.0, index=None):
        """Waits until at least n documents were stored; returns their sources."""
        self.wait_until(lambda: len([e for e in self.doc_log if index is None or e[0] == index]) >= n,
                        timeout, "%d documents%s (have %d)" % (n, "" if index is None else " in " + index,
                                                                len(self.doc_log)))
        return self.sources(index)

    def fail_items(self, n=1, status=429, etype="es_rejected_execution_exception",
                   reason="rejected execution of coordinating operation"):
        """The next n bulk items (index/create) fail with that status and error."""
        with self._lock:
            self._item_failures.append([n, status, etype, reason])

    # ---- protocol --------------------------------------------------------

    def is_data_request(self, req):
        return req.method in ("POST", "PUT")

    def failure_response(self, status, body):
        if body is None:
            if status == 429:
                body = es_error(429, "es_rejected_execution_exception",
                                "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, "
                                "replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1024, "
                                "max_coordinating_and_primary_bytes=0]")
            elif status == 503:
                body = es_error(503, "cluster_block_exception",
                                "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];")
            elif status == 400:
                body = es_error(400, "mapper_parsing_exception", "failed to parse")
            elif status == 401:
                body = self._auth_error("/")[2]
            else:
                body = es_error(status, "exception", "injected failure")
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        elif isinstance(body, str):
            body = body.encode()
        return [("Content-Type", "application/json; charset=UTF-8")], body

    def _auth_error(self, uri, user=None, apikey=False):
        hdr = ['Basic realm="security" charset="UTF-8"', 'Bearer realm="security"', "ApiKey"]
        if user is not None:
            reason = "unable to authenticate user [%s] for REST request [%s]" % (user, uri)
        elif apikey:
            reason = "unable to authenticate with provided credentials and anonymous access is not allowed for this request"
        else:
            reason = "missing authentication credentials for REST request [%s]" % uri
        body = es_error(401, "security_exception", reason, root_extra={"header": {"WWW-Authenticate": hdr}})
        return 401, [("WWW-Authenticate", h) for h in hdr], body

    def _check_auth(self, req, uri):
        if not self.users and not self.api_keys:
            return None
        auth = req.header("authorization", "")
        scheme, _, cred = auth.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                user, _, pw = base64.b64decode(cred.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return self._auth_error(uri, user="")
            if self.users.get(user) == pw and user in self.users:
                return None
            return self._auth_error(uri, user=user)
        if scheme == "apikey":
            if cred.strip() in self.api_keys:
                return None
            return self._auth_error(uri, apikey=True)
        return self._auth_error(uri)

    def _check_content_type(self, req):
        if not req.body:
            return None
        ct = req.header("content-type")
        if ct is None:
            return 406, [], {"error": "Content-Type header is missing", "status": 406}
        base = ct.split(";", 1)[0].strip().lower()
        if base not in _JSON_TYPES:
            return 406, [], {"error": "Content-Type header [%s] is not supported" % ct, "status": 406}
        return None

    @staticmethod
    def _index_error(index):
        why = None
        if index != index.lower():
            why = "must be lowercase"
        elif index.startswith(("_", "-", "+")):
            why = "must not start with '_', '-', or '+'"
        elif any(c in _BAD_INDEX_CHARS for c in index):
            why = 'must not contain the following characters [ , ", *, \\, <, |, ?, /, >, #, :]'
        elif index in (".", ".."):
            why = "must not be '.' or '..'"
        if why is None:
            return None
        return 400, [], es_error(400, "invalid_index_name_exception", "Invalid index name [%s], %s" % (index, why),
                                 index_uuid="_na_", index=index)

    def _parse_source(self, raw):
        """(source dict, None) or (None, error cause) like the index API."""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return None, {"type": "json_parse_exception", "reason": "Invalid UTF-8 start byte"}
        try:
            doc = json.loads(text)
        except ValueError as e:
            return None, {"type": "json_parse_exception", "reason": "Unexpected character: %s" % e}
        if not isinstance(doc, dict):
            return None, {"type": "mapper_parsing_exception", "reason": "Malformed content, must start with an object"}
        return doc, None

    def _new_id(self):
        self._auto += 1
        return base64.urlsafe_b64encode(("%015d" % self._auto).encode()).decode()[:20]

    def _store(self, index, doc_id, source, raw, op, typ=None):
        """Stores a document; returns the index-API answer fields and status."""
        key = (index, doc_id)
        old = self.docs.get(key)
        seq = self._seq.get(index, -1) + 1
        self._seq[index] = seq
        version = 1 if old is None else old["_version"] + 1
        self.docs[key] = {"_source": source, "_version": version, "_seq_no": seq}
        self.indices.add(index)
        self.doc_log.append((index, doc_id, source, raw, op))
        out = {"_index": index}
        if typ is not None:
            out["_type"] = typ
        elif self.major < 8:
            out["_type"] = "_doc"
        out.update({"_id": doc_id, "_version": version, "result": "created" if old is None else "updated",
                    "_shards": {"total": 2, "successful": 1, "failed": 0},
                    "_seq_no": seq, "_primary_term": 1})
        return (201 if old is None else 200), out

    def _conflict(self, index, doc_id):
        cur = self.docs[(index, doc_id)]["_version"]
        return es_error(409, "version_conflict_engine_exception",
                        "[%s]: version conflict, document already exists (current version [%d])" % (doc_id, cur),
                        index_uuid="aAsFqTI0Tc2W0LCWgPNrOA", shard="0", index=index)

    def handle(self, req):
        enc = (req.header("content-encoding") or "").lower()
        if enc == "gzip" and req.raw_body and not req.raw_body.startswith(b"\x1f\x8b"):
            return 400, [], es_error(400, "illegal_argument_exception", "Not in GZIP format")
        status, hdrs, body = self._handle(req)
        fp = req.q("filter_path")
        # Error answers are never filtered (Elasticsearch builds them with
        # filtering disabled: AbstractRestChannel.newErrorBuilder).
        if fp and status < 400 and isinstance(body, (dict, list)):
            body = filter_path(body, fp)
        return status, hdrs, body

    @property
    def minor(self):
        return int(self.version.split(".")[1])

    def _handle(self, req):
        uri = req.path
        parts = [p for p in req.path.split("/") if p]
        m = req.method
        bad = self._check_content_type(req)
        if bad:
            return bad
        bad = self._check_auth(req, uri)
        if bad:
            return bad
        if not parts and m in ("GET", "HEAD"):
            return 200, [], {"name": "fake-es-node", "cluster_name": "fake", "cluster_uuid": "fakeclusteruuid0000000",
                             "version": {"number": self.version, "build_flavor": "default",
                                         "lucene_version": "9.0.0", "minimum_wire_compatibility_version": "6.8.0",
                                         "minimum_index_compatibility_version": "6.0.0-beta1"},
                             "tagline": "You Know, for Search"}
        if parts and parts[-1] == "_bulk" and len(parts) <= 3:
            if m not in ("POST", "PUT"):
                return 405, [], {"error": "Incorrect HTTP method for uri [%s] and method [%s], allowed: [POST, PUT]"
                                 % (uri, m), "status": 405}
            return self._bulk(req, parts[0] if len(parts) >= 2 else None)
        if len(parts) == 3 and parts[0] == "_ingest" and parts[1] == "pipeline":
            if m in ("PUT", "POST") and req.body:
                bad = self._check_pipeline(req.body)
                if bad:
                    return bad
            return self._named(req, self.pipelines, parts[2])
        if len(parts) == 2 and parts[0] == "_index_template":
            return self._index_template(req, parts[1])
        if len(parts) == 2 and parts[0] in ("_template", "_component_template"):
            return self._named(req, self.templates, parts[0] + "/" + parts[1])
        if not parts or parts[0].startswith("_"):
            return self._no_handler(req)
        index = parts[0]
        if len(parts) == 1 and m == "PUT":
            bad = self._index_error(index)
            if bad:
                return bad
            if index in self.indices:
                return 400, [], es_error(400, "resource_already_exists_exception",
                                         "index [%s/aAsFqTI0Tc2W0LCWgPNrOA] already exists" % index,
                                         index_uuid="aAsFqTI0Tc2W0LCWgPNrOA", index=index)
            self.indices.add(index)
            return 200, [], {"acknowledged": True, "shards_acknowledged": True, "index": index}
        if len(parts) == 2 and parts[1] == "_count" and m in ("GET", "POST"):
            n = len([k for k in self.docs if fnmatch.fnmatchcase(k[0], index)])
            return 200, [], {"count": n, "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}}
        if len(parts) in (2, 3) and parts[1] == "_doc":
            if len(parts) == 3 and m in ("GET", "HEAD"):
                d = self.docs.get((index, parts[2]))
                if d is None:
                    return 404, [], {"_index": index, "_id": parts[2], "found": False}
                return 200, [], {"_index": index, "_id": parts[2], "_version": d["_version"],
                                 "_seq_no": d["_seq_no"], "_primary_term": 1, "found": True, "_source": d["_source"]}
            if len(parts) == 2 and m != "POST":
                return self._no_handler(req)
            if m not in ("POST", "PUT"):
                return self._no_handler(req)
            op_type = req.q("op_type", "index")
            return self._index(req, index, parts[2] if len(parts) == 3 else None, None, op_type == "create")
        if len(parts) == 3 and parts[1] == "_create" and m in ("POST", "PUT"):
            return self._index(req, index, parts[2], None, True)
        if len(parts) in (2, 3) and not parts[1].startswith("_") and m in ("POST", "PUT"):
            if len(parts) == 2 and m == "PUT":
                return self._no_handler(req)
            return self._index(req, index, parts[2] if len(parts) == 3 else None, parts[1], False)
        return self._no_handler(req)

    def _no_handler(self, req):
        return 400, [], {"error": "no handler found for uri [%s] and method [%s]" % (req.path, req.method)}

    def _named(self, req, store, name):
        if req.method == "PUT" or req.method == "POST":
            if not req.body:
                return 400, [], es_error(400, "parse_exception", "request body is required")
            doc, cause = self._parse_source(req.body)
            if doc is None:
                return 400, [], es_error(400, "parse_exception", "failed to parse content", caused_by=cause)
            store[name] = doc
            return 200, [], {"acknowledged": True}
        if req.method in ("GET", "HEAD"):
            if name not in store:
                return 404, [], {}
            return 200, [], {name.split("/")[-1]: store[name]}
        if req.method == "DELETE":
            if store.pop(name, None) is None:
                return 404, [], es_error(404, "resource_not_found_exception", "%s not found" % name)
            return 200, [], {"acknowledged": True}
        return self._no_handler(req)

    def _index(self, req, index, doc_id, typ, create):
        bad = self._index_error(index)
        if bad:
            return bad
        if not req.body:
            return 400, [], es_error(400, "parse_exception", "request body is required")
        source, cause = self._parse_source(req.body)
        if source is None:
            if cause["type"] == "mapper_parsing_exception":
                return 400, [], es_error(400, "mapper_parsing_exception", cause["reason"])
            return 400, [], es_error(400, "mapper_parsing_exception", "failed to parse", caused_by=cause)
        source, cause = self._ingest(index, source, req.q("pipeline"))
        if source is None:
            return cause["status"], [], es_error(cause["status"], cause["type"], cause["reason"])
        if doc_id is None:
            doc_id = self._new_id()
        elif create and (index, doc_id) in self.docs:
            return 409, [], self._conflict(index, doc_id)
        status, out = self._store(index, doc_id, source, req.body, "create" if create else "index", typ)
        return status, [("Location", "/%s/_doc/%s" % (index, doc_id))], out

    # ---- ingest pipelines and composable templates ------------------------

    def _compile_pipeline(self, doc):
        """[(kind, cond, fn)] or (status, type, reason) if refused."""
        procs = doc.get("processors")
        if not isinstance(procs, list):
            return 400, "parse_exception", "[processors] required property is missing"
        out = []
        for p in procs:
            if not isinstance(p, dict) or len(p) != 1:
                return 400, "parse_exception", "processor definition must be an object with one processor"
            kind, conf = next(iter(p.items()))
            conf = conf if isinstance(conf, dict) else {}
            cond = compile_condition(conf.get("if"))
            if cond is None:
                return 500, "fake_es_unsupported", "fake_es cannot evaluate the condition [%s]" % conf.get("if")
            if kind == "script":
                if "source" not in conf:
                    return 400, "parse_exception", "must specify either [source] for an inline script or [id] for a stored script"
                if conf.get("lang", "painless") != "painless":
                    return 400, "illegal_argument_exception", "script_lang not supported [%s]" % conf.get("lang")
                fn = compile_script(conf["source"])
                if fn is None:
                    return 500, "fake_es_unsupported", "fake_es cannot evaluate the script [%s]" % conf["source"]
            elif kind == "set":
                if "field" not in conf:
                    return 400, "parse_exception", "[field] required property is missing"
                if "value" not in conf and "copy_from" not in conf:
                    return 400, "parse_exception", "[value] required property is missing"

                def fn(d, c=conf):
                    if c.get("override", True) or d.get(c["field"]) is None:
                        d[c["field"]] = d.get(c["copy_from"]) if "copy_from" in c else c["value"]
            elif kind == "remove":
                if "field" not in conf:
                    return 400, "parse_exception", "[field] required property is missing"

                def fn(d, c=conf):
                    fields = c["field"] if isinstance(c["field"], list) else [c["field"]]
                    for f in fields:
                        if f not in d and not c.get("ignore_missing"):
                            raise ValueError("field [%s] not present as part of path [%s]" % (f, f))
                        d.pop(f, None)
            else:
                return 500, "fake_es_unsupported", "fake_es does not implement the [%s] processor" % kind
            out.append((kind, cond, fn))
        return out

    def _check_pipeline(self, body):
        doc, cause = self._parse_source(body)
        if doc is None:
            return 400, [], es_error(400, "parse_exception", "failed to parse content", caused_by=cause)
        got = self._compile_pipeline(doc)
        if isinstance(got, tuple):
            return got[0], [], es_error(got[0], got[1], got[2])
        return None

    def _default_pipeline(self, index):
        best = None
        for key, t in self.templates.items():
            if not key.startswith("_index_template/"):
                continue
            if any(fnmatch.fnmatchcase(index, p) for p in t.get("index_patterns", [])):
                if best is None or t.get("priority", 0) > best.get("priority", 0):
                    best = t
        if best is None:
            return None
        settings = (best.get("template") or {}).get("settings") or {}
        return (settings.get("index") or {}).get("default_pipeline") or settings.get("index.default_pipeline")

    def _ingest(self, index, source, pipeline):
        """(document after the pipeline, None) or (None, {"status","type","reason"})."""
        if pipeline is None:
            pipeline = self._default_pipeline(index)
        if pipeline is None or pipeline == "_none":
            return source, None
        doc = self.pipelines.get(pipeline)
        if doc is None:
            return None, {"status": 400, "type": "illegal_argument_exception",
                          "reason": "pipeline with id [%s] does not exist" % pipeline}
        procs = self._compile_pipeline(doc)
        out = json.loads(json.dumps(source))
        for kind, cond, fn in procs:
            try:
                if cond(out):
                    fn(out)
            except (ValueError, TypeError) as e:
                return None, {"status": 400, "type": "script_exception" if kind == "script" else
                              "illegal_argument_exception", "reason": str(e)}
        return out, None

    _TEMPLATE_KEYS = {"index_patterns", "template", "composed_of", "priority", "version", "_meta", "data_stream",
                      "allow_auto_create", "ignore_missing_component_templates", "deprecated"}

    def _index_template(self, req, name):
        if self.major < 7 or (self.major == 7 and self.minor < 8):
            # No such API before 7.8: the path reads as an index named "_index_template".
            return 400, [], es_error(400, "invalid_index_name_exception",
                                     "Invalid index name [_index_template], must not start with '_'.",
                                     index_uuid="_na_", index="_index_template")
        key = "_index_template/" + name
        if req.method in ("PUT", "POST"):
            if not req.body:
                return 400, [], es_error(400, "parse_exception", "request body is required")
            doc, cause = self._parse_source(req.body)
            if doc is None:
                return 400, [], es_error(400, "parse_exception", "failed to parse content", caused_by=cause)
            for k in doc:
                if k not in self._TEMPLATE_KEYS:
                    return 400, [], es_error(400, "x_content_parse_exception",
                                             "[1:2] [index_template] unknown field [%s]" % k)
            if not doc.get("index_patterns"):
                return 400, [], es_error(400, "action_request_validation_exception",
                                         "Validation Failed: 1: index patterns are missing;")
            self.templates[key] = doc
            return 200, [], {"acknowledged": True}
        if req.method in ("GET", "HEAD"):
            if key not in self.templates:
                return 404, [], es_error(404, "resource_not_found_exception",
                                         "index template matching [%s] not found" % name)
            return 200, [], {"index_templates": [{"name": name, "index_template": self.templates[key]}]}
        if req.method == "DELETE":
            if self.templates.pop(key, None) is None:
                return 404, [], es_error(404, "index_template_missing_exception",
                                         "index_template [%s] missing" % name)
            return 200, [], {"acknowledged": True}
        return self._no_handler(req)

    def _take_item_failure(self, index, doc_id, source):
        if self.item_failure_if is not None:
            f = self.item_failure_if(index, doc_id, source)
            if f:
                return f
        if self._item_failures:
            f = self._item_failures[0]
            f[0] -= 1
            if f[0] <= 0:
                self._item_failures.pop(0)
            return f[1], f[2], f[3]
        return None

    def _bulk(self, req, default_index):
        t0 = time.monotonic()
        body = req.body
        if not body:
            return 400, [], es_error(400, "parse_exception", "request body is required")
        if not body.endswith(b"\n"):
            return 400, [], es_error(400, "illegal_argument_exception",
                                     "The bulk request must be terminated by a newline [\\n]")
        lines = body.split(b"\n")[:-1]
        ops = []
        i = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            if not line.strip():
                continue
            try:
                action = json.loads(line)
            except ValueError:
                return 400, [], es_error(400, "x_content_parse_exception",
                                         "[%d:1] Unexpected character in action/metadata line [%d]" % (i, i))
            if not isinstance(action, dict) or len(action) != 1:
                return 400, [], es_error(400, "illegal_argument_exception",
                                         "Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT "
                                         "but found [%s]" % (i, type(action).__name__))
            op, meta = next(iter(action.items()))
            if op not in ("index", "create", "update", "delete"):
                return 400, [], es_error(400, "illegal_argument_exception",
                                         "Malformed action/metadata line [%d], expected one of [create, delete, "
                                         "index, update] but found [%s]" % (i, op))
            meta = meta if isinstance(meta, dict) else {}
            if self.major >= 8 and "_type" in meta:
                return 400, [], es_error(400, "illegal_argument_exception",
                                         "Action/metadata line [%d] contains an unknown parameter [_type]" % i)
            index = meta.get("_index", default_index)
            if index is None:
                return 400, [], es_error(400, "action_request_validation_exception",
                                         "Validation Failed: 1: index is missing;")
            src = None
            if op != "delete":
                if i >= len(lines):
                    return 400, [], es_error(400, "illegal_argument_exception",
                                             "The bulk request must be terminated by a newline [\\n]")
                src = lines[i]
                i += 1
            ops.append((op, index, meta.get("_id"), src, meta.get("pipeline", req.q("pipeline"))))
        if not ops:
            return 400, [], es_error(400, "action_request_validation_exception", "Validation Failed: 1: no requests added;")
        items = []
        errors = False
        for op, index, doc_id, src, pipeline in ops:
            item = self._bulk_item(op, index, doc_id, src, pipeline)
            if item["status"] >= 300:
                errors = True
            items.append({op: item})
        return 200, [], {"took": int((time.monotonic() - t0) * 1000), "errors": errors, "items": items}

    def _bulk_item(self, op, index, doc_id, src, pipeline=None):
        base = {"_index": index}
        if self.major < 8:
            base["_type"] = "_doc"
        bad = self._index_error(index)
        if bad:
            base.update({"_id": doc_id, "status": 400, "error": bad[2]["error"]["root_cause"][0]})
            return base
        if op == "delete":
            base["_id"] = doc_id
            d = self.docs.pop((index, doc_id), None)
            base.update({"_version": (d or {"_version": 0})["_version"] + 1,
                         "result": "deleted" if d else "not_found",
                         "_shards": {"total": 2, "successful": 1, "failed": 0},
                         "_seq_no": 0, "_primary_term": 1, "status": 200 if d else 404})
            return base
        source, cause = self._parse_source(src)
        if doc_id is not None and len(str(doc_id).encode()) > 512:
            base.update({"_id": doc_id, "status": 400, "error": {
                "type": "illegal_argument_exception",
                "reason": "id [%s] is too long, must be no longer than 512 bytes but was: %d"
                          % (doc_id, len(str(doc_id).encode()))}})
            return base
        if doc_id is None and op != "update":
            doc_id = self._new_id()
        base["_id"] = doc_id
        if source is not None and op in ("index", "create"):
            source, perr = self._ingest(index, source, pipeline)
            if source is None:
                base.update({"status": perr["status"], "error": {"type": perr["type"], "reason": perr["reason"]}})
                return base
        if source is None:
            base.update({"status": 400, "error": {"type": "mapper_parsing_exception", "reason": "failed to parse",
                                                  "caused_by": cause}})
            return base
        fail = self._take_item_failure(index, doc_id, source)
        if fail:
            base.update({"status": fail[0], "error": {"type": fail[1], "reason": fail[2]}})
            return base
        if op == "update":
            cur = self.docs.get((index, doc_id))
            if "doc" not in source and "script" not in source:
                base.update({"status": 400, "error": {"type": "action_request_validation_exception",
                                                      "reason": "Validation Failed: 1: script or doc is missing;"}})
                return base
            if cur is None and not source.get("doc_as_upsert") and "upsert" not in source:
                base.update({"status": 404, "error": {"type": "document_missing_exception",
                                                      "reason": "[%s]: document missing" % doc_id,
                                                      "index_uuid": "aAsFqTI0Tc2W0LCWgPNrOA", "shard": "0",
                                                      "index": index}})
                return base
            merged = dict(cur["_source"]) if cur else dict(source.get("upsert") or {})
            merged.update(source.get("doc") or {})
            status, out = self._store(index, doc_id, merged, src, "update")
        else:
            if op == "create" and (index, doc_id) in self.docs:
                err = self._conflict(index, doc_id)["error"]
                err.pop("root_cause", None)
                base.update({"status": 409, "error": err})
                return base
            status, out = self._store(index, doc_id, source, src, op)
        out.pop("_type", None)
        base.update(out)
        base["status"] = status
        return base


def main():
    ap = argparse.ArgumentParser(description="recording fake Elasticsearch")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9200)
    ap.add_argument("--version", default="7.17.18")
    ap.add_argument("--user", help="enables basic auth with --password")
    ap.add_argument("--password", default="")
    ap.add_argument("--api-key", action="append", default=[], help="accepted 'ApiKey <value>'")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    users = {a.user: a.password} if a.user else None
    run_standalone(FakeElasticsearch(a.host, a.port, a.version, users, a.api_key, a.verbose))


if __name__ == "__main__":
    main()
