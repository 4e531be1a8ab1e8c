# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build and send a multi-span probe trace over OTLP/HTTP (JSON encoding).

The probe is a small, well-formed distributed trace: a root SERVER span in the first service,
and for each further service a CLIENT span in the caller and a SERVER span in the callee, plus
one INTERNAL span in the last service. Every span and every resource carries the probe marker
(default ``tracefleet.probe = "true"``), which the gateway's always-keep tail-sampling policy
matches, so the probe survives sampling.

OTLP/JSON rules (unlike Tempo's own JSON answers): traceId/spanId are hex strings, times are
unix nanoseconds as strings, kind is the integer enum.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import secrets
import time

from ansible_collections.tracefleet.otel.plugins.module_utils.tempo import HttpTransport, TempoError

DEFAULT_SERVICES = ("tracefleet-probe-frontend", "tracefleet-probe-backend")
DEFAULT_MARKER_KEY = "tracefleet.probe"
DEFAULT_MARKER_VALUE = "true"
SCOPE_NAME = "tracefleet.otel.tempo_trace"

KIND_INTERNAL = 1
KIND_SERVER = 2
KIND_CLIENT = 3


def new_trace_id():
    """A fresh random W3C trace id (32 hex digits, never all zeros)."""
    while True:
        value = secrets.token_hex(16)
        if value.strip("0"):
            return value


def new_span_id():
    while True:
        value = secrets.token_hex(8)
        if value.strip("0"):
            return value


def traceparent(trace_id, span_id, sampled=True):
    return "00-%s-%s-%s" % (trace_id, span_id, "01" if sampled else "00")


def _attr(key, value):
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": str(value)}}


def _attrs(mapping):
    return [_attr(k, v) for k, v in sorted(mapping.items())]


class Probe:
    """One probe trace: its payload (OTLP/JSON ExportTraceServiceRequest) and what to expect."""

    def __init__(self, trace_id, spans, services, payload):
        self.trace_id = trace_id
        self.spans = spans  # list of dicts: span_id, parent_span_id, name, service, kind
        self.services = services
        self.payload = payload

    @property
    def span_count(self):
        return len(self.spans)

    @property
    def root_span_id(self):
        return self.spans[0]["span_id"]

    @property
    def traceparent(self):
        return traceparent(self.trace_id, self.root_span_id)

    def body(self):
        return json.dumps(self.payload, separators=(",", ":"), sort_keys=True).encode("utf-8")

    def without_spans(self, span_ids):
        """The same trace with some spans left out: a broken propagation hop, for tests."""
        drop = set(span_ids)
        payload = {"resourceSpans": []}
        for rs in self.payload["resourceSpans"]:
            scopes = []
            for ss in rs["scopeSpans"]:
                kept = [s for s in ss["spans"] if s["spanId"] not in drop]
                if kept:
                    scopes.append(dict(ss, spans=kept))
            if scopes:
                payload["resourceSpans"].append(dict(rs, scopeSpans=scopes))
        spans = [s for s in self.spans if s["span_id"] not in drop]
        return Probe(self.trace_id, spans, self.services, payload)


def build_probe(services=DEFAULT_SERVICES, marker_key=DEFAULT_MARKER_KEY, marker_value=DEFAULT_MARKER_VALUE,
                resource_attributes=None, span_attributes=None, trace_id=None, now_ns=None):
    """Build a probe trace across ``services`` (at least two for a cross-service hop).

    ``trace_id`` is for tests only (the module always takes a fresh one).
    """
    services = [str(s) for s in services]
    if not services or any(not s for s in services):
        raise ValueError("probe services must be a non-empty list of names")
    if len(set(services)) != len(services):
        raise ValueError("probe services must be distinct: %s" % ", ".join(services))
    if not marker_key:
        raise ValueError("the probe marker key must not be empty")
    trace_id = trace_id or new_trace_id()
    now_ns = int(now_ns if now_ns is not None else time.time() * 1e9)
    base_span_attrs = {marker_key: marker_value}
    base_span_attrs.update(span_attributes or {})

    # Lay out the spans: 10 ms per hop, nested inside the caller's span.
    spans = []
    step = 10 * 1000 * 1000
    total = step * (3 * len(services) + 1)  # each hop nests 3 steps deeper
    root_attrs = {"http.request.method": "GET", "url.path": "/tracefleet/probe", "http.response.status_code": 200}
    root = dict(span_id=new_span_id(), parent_span_id="", name="GET /tracefleet/probe", service=services[0],
                kind=KIND_SERVER, start=now_ns - total, end=now_ns, attributes=root_attrs)
    spans.append(root)
    caller = root
    for index, service in enumerate(services[1:], start=1):
        client = dict(span_id=new_span_id(), parent_span_id=caller["span_id"], name="call %s" % service,
                      service=caller["service"], kind=KIND_CLIENT, start=caller["start"] + step,
                      end=caller["end"] - step, attributes={"server.address": service, "tracefleet.probe.hop": index})
        server = dict(span_id=new_span_id(), parent_span_id=client["span_id"], name="handle probe",
                      service=service, kind=KIND_SERVER, start=client["start"] + step // 2,
                      end=client["end"] - step // 2, attributes={"tracefleet.probe.hop": index})
        spans.extend([client, server])
        caller = server
    spans.append(dict(span_id=new_span_id(), parent_span_id=caller["span_id"], name="probe work",
                      service=caller["service"], kind=KIND_INTERNAL, start=caller["start"] + step // 4,
                      end=caller["end"] - step // 4, attributes={}))

    resource_spans = []
    for service in services:
        own = [s for s in spans if s["service"] == service]
        resource = {"service.name": service, marker_key: marker_value, "telemetry.sdk.name": SCOPE_NAME}
        resource.update(resource_attributes or {})
        otlp_spans = []
        for s in own:
            attrs = dict(base_span_attrs)
            attrs.update(s["attributes"])
            otlp = {
                "traceId": trace_id,
                "spanId": s["span_id"],
                "name": s["name"],
                "kind": s["kind"],
                "startTimeUnixNano": str(s["start"]),
                "endTimeUnixNano": str(s["end"]),
                "attributes": _attrs(attrs),
                "status": {},
            }
            if s["parent_span_id"]:
                otlp["parentSpanId"] = s["parent_span_id"]
            otlp_spans.append(otlp)
        resource_spans.append({
            "resource": {"attributes": _attrs(resource)},
            "scopeSpans": [{"scope": {"name": SCOPE_NAME, "version": "0.1.0"}, "spans": otlp_spans}],
        })
    summary = [dict(span_id=s["span_id"], parent_span_id=s["parent_span_id"], name=s["name"],
                    service=s["service"], kind=s["kind"]) for s in spans]
    return Probe(trace_id, summary, services, {"resourceSpans": resource_spans})


def traces_url(endpoint):
    """``http://host:4318`` -> ``http://host:4318/v1/traces`` (a full /v1/traces url is kept)."""
    endpoint = (endpoint or "").strip()
    if not endpoint.startswith(("http://", "https://")):
        raise TempoError("probe endpoint must start with http:// or https://, got %r" % (endpoint,))
    endpoint = endpoint.rstrip("/")
    if endpoint.endswith("/v1/traces"):
        return endpoint
    return endpoint + "/v1/traces"


def send_payload(endpoint, body, transport=None, headers=None, **transport_args):
    """POST an OTLP/JSON body; raise TempoError unless every span was accepted."""
    transport = transport or HttpTransport(**transport_args)
    url = traces_url(endpoint)
    all_headers = {"Content-Type": "application/json", "Accept": "application/json"}
    all_headers.update(headers or {})
    status, answer = transport.request("POST", url, data=body, headers=all_headers)
    text = (answer or b"").decode("utf-8", "replace").strip()
    if status not in (200, 202):
        raise TempoError("POST %s answered %s: %s" % (url, status, text[:300]))
    if text:
        try:
            doc = json.loads(text)
        except ValueError:
            doc = {}
        partial = doc.get("partialSuccess") if isinstance(doc, dict) else None
        if partial and int(partial.get("rejectedSpans") or 0):
            raise TempoError("POST %s rejected %s spans: %s" % (
                url, partial.get("rejectedSpans"), partial.get("errorMessage", "")))
    return status


def send_probe(endpoint, probe, transport=None, headers=None, **transport_args):
    return send_payload(endpoint, probe.body(), transport=transport, headers=headers, **transport_args)
