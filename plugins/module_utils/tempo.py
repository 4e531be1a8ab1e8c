# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Grafana Tempo client and trace analysis shared by the tempo_trace module and the tests.

Only the standard library and ``ansible.module_utils.urls`` are used, so this file works
inside a module (AnsiballZ) and in plain Python (unit and integration tests) alike.

Trace lookup: ``GET /api/v2/traces/<id>`` (``{"trace": {"resourceSpans": [...]}}``). Tempo 2.8
answers an id it does not have (yet) with 200 and an empty trace (``{"trace": {}, "metrics": {}}``,
recorded); a bare 404 means the same. With ``api_version: auto`` a 404 whose body is the HTTP
router's own "404 page not found" (the route does not exist: a Tempo older than 2.6) switches the
client to the v1 form, ``GET /api/traces/<id>`` (``{"batches": [...]}``, 404 with an empty body
when not found).
Ids inside Tempo's JSON are base64; ids in search results are hex with leading zeros trimmed.
Everything is normalised here to lower-case hex (32 digits for traces, 16 for spans).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import json
import re
import time

from urllib.error import HTTPError, URLError
from urllib.parse import quote, urlencode, urlsplit

from ansible.module_utils.urls import open_url

# Seams for tests (a fake clock makes polling tests instant).
monotonic = time.monotonic
sleep = time.sleep

SPAN_KINDS = {
    0: "SPAN_KIND_UNSPECIFIED",
    1: "SPAN_KIND_INTERNAL",
    2: "SPAN_KIND_SERVER",
    3: "SPAN_KIND_CLIENT",
    4: "SPAN_KIND_PRODUCER",
    5: "SPAN_KIND_CONSUMER",
}

# How many distinct values attributes_seen keeps per key (a big trace has many urls).
MAX_VALUES_PER_KEY = 20

# Attributes that record the callee's answer on a CLIENT span (HTTP, and gRPC in the old and new
# semantic conventions), and those that name the callee, in the order they are trusted.
ANSWER_ATTRIBUTES = ("http.response.status_code", "http.status_code", "rpc.grpc.status_code", "rpc.response.status_code")
CALLEE_ATTRIBUTES = ("peer.service", "server.address", "net.peer.name", "url.full", "http.url")
DATABASE_ATTRIBUTES = ("db.system", "db.system.name")

_HEX_RE = re.compile(r"^[0-9a-fA-F]+$")
_ADDRESS_RE = re.compile(r"^(\d+\.\d+\.\d+\.\d+|\[?[0-9a-fA-F]*:[0-9a-fA-F:.]*\]?|localhost)$")  # IPv4, IPv6, localhost
_PLAIN_ATTR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def tempo_argument_spec():
    """Connection options shared by modules that talk to Tempo (doc fragment tracefleet.otel.tempo)."""
    return dict(
        url=dict(type="str", required=True, aliases=["tempo_url"]),
        tenant=dict(type="str"),
        bearer_token=dict(type="str", no_log=True),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        validate_certs=dict(type="bool", default=True),
        ca_path=dict(type="path"),
        client_cert=dict(type="path"),
        client_key=dict(type="path"),
        use_proxy=dict(type="bool", default=True),
        request_timeout=dict(type="float", default=10.0),
    )


class TempoError(Exception):
    """Tempo could not be asked (network, TLS, auth, bad response)."""


class HttpTransport:
    """A thin adapter over ``open_url``: TLS, client certificates, auth and extra headers.

    ``request`` returns ``(status, body_bytes)`` for every HTTP answer, including 4xx/5xx,
    and raises TempoError only when no answer came back at all.
    """

    def __init__(self, validate_certs=True, ca_path=None, client_cert=None, client_key=None,
                 bearer_token=None, username=None, password=None, headers=None, timeout=10.0,
                 use_proxy=True):
        self.validate_certs = validate_certs
        self.ca_path = ca_path
        self.client_cert = client_cert
        self.client_key = client_key
        self.bearer_token = bearer_token
        self.username = username
        self.password = password
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.use_proxy = use_proxy
        if bearer_token and username:
            raise TempoError("use either bearer_token or username/password, not both")

    def request(self, method, url, data=None, headers=None):
        all_headers = dict(self.headers)
        if self.bearer_token:
            all_headers["Authorization"] = "Bearer %s" % self.bearer_token
        all_headers.update(headers or {})
        kwargs = dict(
            data=data, headers=all_headers, method=method, timeout=self.timeout,
            validate_certs=self.validate_certs, ca_path=self.ca_path,
            client_cert=self.client_cert, client_key=self.client_key,
            use_proxy=self.use_proxy, follow_redirects="safe",
        )
        if self.username:
            kwargs.update(url_username=self.username, url_password=self.password or "",
                          force_basic_auth=True)
        try:
            resp = open_url(url, **kwargs)
        except HTTPError as err:
            try:
                body = err.read() or b""
            except Exception:  # the body of an error answer is best effort
                body = b""
            return err.code, body
        except URLError as err:
            raise TempoError("cannot reach %s: %s" % (url, getattr(err, "reason", err)))
        except (OSError, ValueError) as err:  # TLS errors, timeouts, bad urls
            raise TempoError("cannot reach %s: %s" % (url, err))
        try:
            status = resp.getcode()
            body = resp.read()
        finally:
            resp.close()
        return status, body


def _short(body, limit=300):
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------------------------------------
# ids


def normalize_trace_id(value):
    """A trace id from a user or from search results -> 32 lower-case hex digits.

    Tempo's search results trim leading zeros ("f1e2..." for "00f1e2..."): pad them back.
    """
    if value is None:
        raise ValueError("trace id is empty")
    text = str(value).strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if not text or not _HEX_RE.match(text) or len(text) > 32:
        raise ValueError("trace id %r is not 1 to 32 hex digits" % (value,))
    text = text.zfill(32)
    if text == "0" * 32:
        raise ValueError("trace id must not be all zeros")
    return text


def id_to_hex(value, size):
    """A trace (size 16) or span (size 8) id as found in Tempo or OTLP JSON -> hex, '' if empty.

    Tempo's JSON carries ids as base64 (24 or 12 characters); OTLP/JSON carries them as hex
    (32 or 16 characters). The lengths never overlap, so the form is told by length.
    """
    if not value:
        return ""
    text = str(value).strip()
    if len(text) == size * 2 and _HEX_RE.match(text):
        return text.lower()
    padded = text + "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        try:
            raw = base64.urlsafe_b64decode(padded)
        except (binascii.Error, ValueError):
            raise ValueError("id %r is neither hex nor base64" % (value,))
    if len(raw) > size:
        raise ValueError("id %r decodes to %d bytes, expected %d" % (value, len(raw), size))
    return binascii.hexlify(raw).decode("ascii").zfill(size * 2)


# ---------------------------------------------------------------------------------------------
# parsing


def any_value(value):
    """An OTLP AnyValue object -> a plain Python value."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return value["intValue"]
    if "doubleValue" in value:
        return float(value["doubleValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in (value["arrayValue"] or {}).get("values") or []]
    if "kvlistValue" in value:
        return attributes_to_dict((value["kvlistValue"] or {}).get("values"))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attributes_to_dict(attributes):
    result = {}
    for item in attributes or []:
        if isinstance(item, dict) and "key" in item:
            result[item["key"]] = any_value(item.get("value"))
    return result


def resource_spans(doc):
    """The list of resourceSpans in any form Tempo (or OTLP) answers with.

    v2: {"trace": {"resourceSpans": [...]}}; v1: {"batches": [...]}; OTLP: {"resourceSpans": [...]}.
    """
    if not isinstance(doc, dict):
        raise TempoError("unexpected trace document: %s" % _short(json.dumps(doc)))
    if isinstance(doc.get("trace"), dict):
        doc = doc["trace"]
    for key in ("resourceSpans", "batches"):
        if key in doc:
            return doc[key] or []
    if doc.get("trace") is None and set(doc) <= {"trace", "status", "message", "metrics"}:
        return []  # v2 with an empty trace
    raise TempoError("unexpected trace document (no resourceSpans or batches): %s" % _short(json.dumps(doc)))


def flatten_spans(doc):
    """Every span of a trace document, with its resource attributes and service name."""
    spans = []
    for batch in resource_spans(doc):
        resource_attrs = attributes_to_dict((batch.get("resource") or {}).get("attributes"))
        service = resource_attrs.get("service.name") or "unknown_service"
        scopes = batch.get("scopeSpans") or batch.get("instrumentationLibrarySpans") or []
        for scope in scopes:
            for span in scope.get("spans") or []:
                kind = span.get("kind", 0)
                if isinstance(kind, int):
                    kind = SPAN_KINDS.get(kind, str(kind))
                spans.append(dict(
                    trace_id=id_to_hex(span.get("traceId"), 16),
                    span_id=id_to_hex(span.get("spanId"), 8),
                    parent_span_id=id_to_hex(span.get("parentSpanId"), 8),
                    name=span.get("name", ""),
                    kind=kind,
                    service=str(service),
                    start_ns=int(span.get("startTimeUnixNano") or 0),
                    end_ns=int(span.get("endTimeUnixNano") or 0),
                    attributes=attributes_to_dict(span.get("attributes")),
                    resource_attributes=resource_attrs,
                    status=(span.get("status") or {}).get("code", "STATUS_CODE_UNSET"),
                ))
    return spans


# ---------------------------------------------------------------------------------------------
# analysis


def _value_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def callee_of(span):
    """(name, attribute) naming the service a CLIENT span called, or (None, None).

    ``peer.service`` first (OTel Go and Python leave it to the caller to set; the demo's Go
    service sets it on its HTTP and gRPC clients), then ``server.address``, ``net.peer.name`` and
    the host of ``url.full`` / ``http.url``. An IP address or ``localhost`` names no service: the
    OTel Go HTTP and gRPC clients set ``server.address`` to the host they dialled.
    """
    attrs = span["attributes"]
    for key in CALLEE_ATTRIBUTES:
        value = attrs.get(key)
        if not value:
            continue
        value = str(value)
        if key in ("url.full", "http.url"):
            try:
                value = urlsplit(value).hostname or ""
            except ValueError:
                value = ""
        if value and not _ADDRESS_RE.match(value):
            return value, key
    return None, None


def leaf_calls(spans):
    """CLIENT spans that got an answer (they record a response status) but have no child in the trace.

    Calls to databases (``db.system``) are left out: a database is no traced hop. Each is a candidate
    broken hop; ``select_broken_hops`` keeps those whose callee is a traced service.
    """
    parents = set(s["parent_span_id"] for s in spans if s["parent_span_id"])
    calls = []
    for span in spans:
        if span["kind"] != "SPAN_KIND_CLIENT" or span["span_id"] in parents:
            continue
        attrs = span["attributes"]
        if any(k in attrs for k in DATABASE_ATTRIBUTES) or not any(k in attrs for k in ANSWER_ATTRIBUTES):
            continue
        callee, named_by = callee_of(span)
        if callee:
            calls.append({"from": span["service"], "to": callee, "span": span["name"], "span_id": span["span_id"],
                          "callee_attribute": named_by})
    return calls


def select_broken_hops(calls, traced_services):
    """The leaf calls whose callee is traced (its ``service.name`` is in ``traced_services``).

    The callee answered and is traced, so its SERVER span should hang under the CLIENT span; it does
    not: the call carried no context the callee used, and the callee started a new trace.
    """
    traced = set(traced_services)
    return [dict(c) for c in calls if c["to"] in traced]


def analyze_trace(doc, trace_id=None, expected_services=None):
    """Summarise a trace: the facts the module returns and the expectations check.

    ``expected_services`` count as traced callees for ``broken_hops`` beside the trace's own services.
    """
    spans = flatten_spans(doc)
    calls = leaf_calls(spans)
    ids = set(s["span_id"] for s in spans)
    roots = [s for s in spans if not s["parent_span_id"]]
    orphans = [
        dict(span_id=s["span_id"], name=s["name"], service=s["service"], parent_span_id=s["parent_span_id"])
        for s in spans if s["parent_span_id"] and s["parent_span_id"] not in ids
    ]
    seen = {}
    for span in spans:
        for attrs in (span["resource_attributes"], span["attributes"]):
            for key, value in attrs.items():
                values = seen.setdefault(key, [])
                text = _value_text(value)
                if text not in values and len(values) < MAX_VALUES_PER_KEY:
                    values.append(text)
    starts = [s["start_ns"] for s in spans if s["start_ns"]]
    ends = [s["end_ns"] for s in spans if s["end_ns"]]
    duration_ms = round((max(ends) - min(starts)) / 1e6, 3) if starts and ends else 0.0
    trace_ids = sorted(set(s["trace_id"] for s in spans if s["trace_id"]))
    return dict(
        trace_id=trace_id or (trace_ids[0] if trace_ids else ""),
        span_count=len(spans),
        services=sorted(set(s["service"] for s in spans)),
        root_count=len(roots),
        roots=[dict(span_id=s["span_id"], name=s["name"], service=s["service"]) for s in roots],
        orphan_spans=orphans,
        attributes_seen=dict((k, sorted(v)) for k, v in sorted(seen.items())),
        duration_ms=duration_ms,
        error_spans=sum(1 for s in spans if s["status"] in ("STATUS_CODE_ERROR", 2)),
        leaf_calls=calls,
        broken_hops=select_broken_hops(calls, set(s["service"] for s in spans) | set(expected_services or [])),
    )


class Expectations:
    """What a complete, healthy trace must show; ``problems`` lists what is missing."""

    def __init__(self, services=None, min_spans=1, attributes=None, max_orphans=0, single_root=True,
                 max_broken_hops=None):
        self.services = list(services or [])
        self.min_spans = int(min_spans or 0)
        self.attributes = dict(attributes or {})
        self.max_orphans = max_orphans
        self.single_root = single_root
        # None: as many as max_orphans allows (both are broken propagation).
        self.max_broken_hops = max_orphans if max_broken_hops is None else max_broken_hops

    def problems(self, analysis):
        problems = []
        saw = ", ".join(analysis["services"]) or "none"
        for service in self.services:
            if service not in analysis["services"]:
                problems.append("service '%s' missing; saw: %s" % (service, saw))
        if analysis["span_count"] < self.min_spans:
            problems.append("%d span%s, expected at least %d" % (
                analysis["span_count"], "" if analysis["span_count"] == 1 else "s", self.min_spans))
        orphans = analysis["orphan_spans"]
        if self.max_orphans is not None and len(orphans) > self.max_orphans:
            listed = "; ".join("span '%s' in service '%s' has parent %s" % (o["name"], o["service"], o["parent_span_id"])
                               for o in orphans[:5])
            more = "; and %d more" % (len(orphans) - 5) if len(orphans) > 5 else ""
            problems.append("broken propagation: %d span%s whose parent is not in the trace (allowed %d): %s%s" % (
                len(orphans), "" if len(orphans) == 1 else "s", self.max_orphans, listed, more))
        hops = self.broken_hops(analysis)
        if self.max_broken_hops is not None and len(hops) > self.max_broken_hops:
            listed = "; ".join("%s -> %s (client span '%s' %s, callee from %s)" % (
                h["from"], h["to"], h["span"], h["span_id"], h["callee_attribute"]) for h in hops[:5])
            more = "; and %d more" % (len(hops) - 5) if len(hops) > 5 else ""
            problems.append("broken propagation: %d call%s answered by a traced service that joined no span to this "
                            "trace (allowed %d): %s%s" % (len(hops), "" if len(hops) == 1 else "s",
                                                          self.max_broken_hops, listed, more))
        if self.single_root and analysis["root_count"] != 1:
            if analysis["root_count"] == 0:
                problems.append("no root span (every span has a parent)")
            else:
                names = ", ".join("'%s' in '%s'" % (r["name"], r["service"]) for r in analysis["roots"][:5])
                problems.append("%d root spans, expected exactly 1: %s" % (analysis["root_count"], names))
        seen = analysis["attributes_seen"]
        for key, want in sorted(self.attributes.items()):
            if key not in seen:
                problems.append("attribute '%s' not on any span or resource" % key)
            elif want is not None and _value_text(want) not in seen[key]:
                problems.append("attribute '%s' is never '%s'; saw: %s" % (key, _value_text(want), ", ".join(seen[key])))
        return problems

    def broken_hops(self, analysis):
        """The analysis' broken hops, with the expected services counted as traced callees too."""
        if "leaf_calls" not in analysis:
            return list(analysis.get("broken_hops") or [])
        return select_broken_hops(analysis["leaf_calls"], set(analysis["services"]) | set(self.services))


# ---------------------------------------------------------------------------------------------
# client


def _traceql_string(value):
    return '"%s"' % str(value).replace("\\", "\\\\").replace('"', '\\"')


def _traceql_attr(key, scope=""):
    if _PLAIN_ATTR_RE.match(key):
        return "%s.%s" % (scope, key)
    return '%s.%s' % (scope, _traceql_string(key))


def _traceql_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return _traceql_string(value)


def build_traceql(service=None, attributes=None):
    """A TraceQL spanset filter for a service (resource.service.name) and attributes (any scope)."""
    terms = []
    if service:
        terms.append("resource.service.name = %s" % _traceql_string(service))
    for key, value in sorted((attributes or {}).items()):
        if value is None:
            terms.append("%s != nil" % _traceql_attr(key))
        else:
            terms.append("%s = %s" % (_traceql_attr(key), _traceql_value(value)))
    return "{ %s }" % " && ".join(terms) if terms else "{ }"


class TempoClient:
    """Reads traces from Tempo's query API (query-frontend, or the monolithic process)."""

    def __init__(self, url, tenant=None, transport=None, api_version="auto", **transport_args):
        if not url or not re.match(r"^https?://", url):
            raise TempoError("url must start with http:// or https://, got %r" % (url,))
        self.url = url.rstrip("/")
        headers = {"Accept": "application/json"}
        if tenant:
            headers["X-Scope-OrgID"] = tenant
        self.transport = transport or HttpTransport(headers=headers, **transport_args)
        if transport is not None:
            self.transport.headers.update(headers)
        if api_version not in ("auto", "v1", "v2"):
            raise TempoError("api_version must be auto, v1 or v2")
        self.api_version = api_version
        self.requests = 0

    @classmethod
    def from_params(cls, params, api_version="auto"):
        """Build a client from module parameters (tempo_argument_spec)."""
        return cls(
            params["url"], tenant=params.get("tenant"), api_version=api_version,
            validate_certs=params.get("validate_certs", True), ca_path=params.get("ca_path"),
            client_cert=params.get("client_cert"), client_key=params.get("client_key"),
            bearer_token=params.get("bearer_token"), username=params.get("username"),
            password=params.get("password"), timeout=params.get("request_timeout") or 10.0,
            use_proxy=params.get("use_proxy", True),
        )

    def _get(self, path, query=None):
        url = self.url + path
        if query:
            url += "?" + urlencode(query)
        self.requests += 1
        status, body = self.transport.request("GET", url)
        return url, status, body

    @staticmethod
    def _json(url, status, body):
        try:
            return json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
        except ValueError:
            raise TempoError("GET %s answered %s with a body that is not JSON: %s" % (url, status, _short(body)))

    @staticmethod
    def _raise_for(url, status, body):
        if status in (401, 403):
            raise TempoError("GET %s was refused (%s): check bearer_token/username/password and tenant: %s"
                             % (url, status, _short(body)))
        raise TempoError("GET %s answered %s: %s" % (url, status, _short(body)))

    def get_trace(self, trace_id):
        """The raw trace document, or None while Tempo has no spans for it (200 empty, or 404)."""
        trace_id = normalize_trace_id(trace_id)
        if self.api_version in ("auto", "v2"):
            url, status, body = self._get("/api/v2/traces/%s" % quote(trace_id))
            if status == 200:
                doc = self._json(url, status, body)
                return doc if resource_spans(doc) else None
            if status == 404 and self.api_version == "auto" and b"page not found" in (body or b"").lower():
                self.api_version = "v1"  # a Tempo without the v2 API: use v1 from now on
            elif status == 404:
                return None
            else:
                self._raise_for(url, status, body)
        url, status, body = self._get("/api/traces/%s" % quote(trace_id))
        if status == 404:
            return None
        if status != 200:
            self._raise_for(url, status, body)
        doc = self._json(url, status, body)
        return doc if resource_spans(doc) else None

    def search(self, query, limit=20, start=None, end=None):
        """TraceQL search -> list of summaries with normalised 32-digit trace ids."""
        params = [("q", query), ("limit", int(limit))]
        if start is not None:
            params.append(("start", int(start)))
        if end is not None:
            params.append(("end", int(end)))
        url, status, body = self._get("/api/search", params)
        if status != 200:
            self._raise_for(url, status, body)
        doc = self._json(url, status, body)
        return parse_search(doc)

    def ready(self):
        url, status, body = self._get("/ready")
        return status == 200


def parse_search(doc):
    results = []
    for item in (doc or {}).get("traces") or []:
        raw = item.get("traceID") or item.get("traceId") or ""
        try:
            trace_id = normalize_trace_id(raw)
        except ValueError:
            continue
        results.append(dict(
            trace_id=trace_id,
            root_service=item.get("rootServiceName", ""),
            root_name=item.get("rootTraceName", ""),
            start_ns=int(item.get("startTimeUnixNano") or 0),
            duration_ms=item.get("durationMs", 0),
        ))
    return results


# ---------------------------------------------------------------------------------------------
# polling


class Result:
    """The outcome of a wait: found or not, when, the last analysis and what is still missing."""

    def __init__(self, trace_id):
        self.trace_id = trace_id
        self.found = False
        self.found_after_s = None
        self.analysis = None
        self.problems = []
        self.lookups = 0
        self.elapsed_s = 0.0

    @property
    def ok(self):
        return self.found and not self.problems

    def message(self, timeout):
        if not self.found:
            return "trace %s not found in Tempo after %.1f s (%d lookups)" % (self.trace_id, timeout, self.lookups)
        if self.problems:
            return "trace %s found after %.1f s but %s" % (self.trace_id, self.found_after_s, "; ".join(self.problems))
        return "trace %s found after %.1f s: %d spans from %s" % (
            self.trace_id, self.found_after_s, self.analysis["span_count"], ", ".join(self.analysis["services"]))

    def as_dict(self):
        analysis = self.analysis or {}
        return dict(
            trace_id=self.trace_id,
            found=self.found,
            found_after_s=round(self.found_after_s, 3) if self.found_after_s is not None else None,
            span_count=analysis.get("span_count", 0),
            services=analysis.get("services", []),
            root_count=analysis.get("root_count", 0),
            orphan_spans=analysis.get("orphan_spans", []),
            broken_hops=analysis.get("broken_hops", []),
            attributes_seen=analysis.get("attributes_seen", {}),
            duration_ms=analysis.get("duration_ms", 0.0),
            problems=list(self.problems),
        )


def wait_for_trace(client, trace_id, expectations, timeout=30.0, interval=1.0, started=None):
    """Poll Tempo by id until the trace meets the expectations or the deadline passes.

    A 404 means "not there yet"; a trace that is there but incomplete (a span still in flight
    through a collector, so a missing service or an orphan) is polled again too, because traces
    arrive in parts. ``started`` lets a caller count from the moment a probe was sent.
    """
    trace_id = normalize_trace_id(trace_id)
    start = monotonic() if started is None else started
    deadline = start + float(timeout)
    result = Result(trace_id)
    while True:
        doc = client.get_trace(trace_id)
        result.lookups += 1
        now = monotonic()
        if doc is not None:
            if not result.found:
                result.found = True
                result.found_after_s = now - start
            result.analysis = analyze_trace(doc, trace_id)
            result.analysis["broken_hops"] = expectations.broken_hops(result.analysis)
            result.problems = expectations.problems(result.analysis)
            if not result.problems:
                break
        if now + interval > deadline:
            break
        sleep(interval)
    result.elapsed_s = monotonic() - start
    return result


def search_traces(client, query, expectations, limit=20, window_s=3600, min_traces=1, timeout=30.0, interval=1.0):
    """Search, fetch each hit by id and check it; poll until ``min_traces`` hits meet the expectations.

    Returns (results, searches, elapsed): one Result per trace fetched in the last round.
    """
    start = monotonic()
    deadline = start + float(timeout)
    searches = 0
    while True:
        end_s = int(time.time()) + 60
        hits = client.search(query, limit=limit, start=(end_s - 60 - int(window_s)) if window_s else None,
                             end=end_s if window_s else None)
        searches += 1
        results = []
        for hit in hits[:limit]:
            result = Result(hit["trace_id"])
            doc = client.get_trace(hit["trace_id"])
            result.lookups = 1
            if doc is not None:
                result.found = True
                result.found_after_s = monotonic() - start
                result.analysis = analyze_trace(doc, hit["trace_id"])
                result.analysis["broken_hops"] = expectations.broken_hops(result.analysis)
                result.problems = expectations.problems(result.analysis)
            results.append(result)
        if sum(1 for r in results if r.ok) >= min_traces:
            break
        if monotonic() + interval > deadline:
            break
        sleep(interval)
    return results, searches, monotonic() - start
