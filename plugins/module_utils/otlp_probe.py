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
import math
import secrets
import time
from fractions import Fraction

from ansible_collections.tracefleet.otel.plugins.module_utils import tempo
from ansible_collections.tracefleet.otel.plugins.module_utils.settings import is_number
from ansible_collections.tracefleet.otel.plugins.module_utils.tempo import (
    Expectations, HttpTransport, TempoError, build_traceql, wait_for_trace)

DEFAULT_SERVICES = ("tracefleet-probe-frontend", "tracefleet-probe-backend")
DEFAULT_MARKER_KEY = "tracefleet.probe"
DEFAULT_MARKER_VALUE = "true"
SCOPE_NAME = "tracefleet.otel.tempo_trace"

KIND_INTERNAL = 1
KIND_SERVER = 2
KIND_CLIENT = 3
STATUS_ERROR = 2  # OTLP Status.code STATUS_CODE_ERROR


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
                resource_attributes=None, span_attributes=None, trace_id=None, now_ns=None, marked=True,
                duration_ms=None, error=False):
    """Build a probe trace across ``services`` (at least two for a cross-service hop).

    ``marked=False`` leaves the marker out (a sampling probe: the gateway must keep it on its own
    merits). ``duration_ms`` is the whole trace's duration (earliest start to latest end, what the tail
    sampling latency policy measures); by default 10 ms per layout step. ``error=True`` puts the last
    service's SERVER span and the root in status ERROR (HTTP 500), as a failing downstream call looks.
    ``trace_id`` is for tests only (the module always takes a fresh one).
    """
    services = [str(s) for s in services]
    if not services or any(not s for s in services):
        raise ValueError("probe services must be a non-empty list of names")
    if len(set(services)) != len(services):
        raise ValueError("probe services must be distinct: %s" % ", ".join(services))
    if marked and not marker_key:
        raise ValueError("the probe marker key must not be empty")
    if duration_ms is not None and not duration_ms > 0:
        raise ValueError("the probe duration must be above 0 ms, got %r" % (duration_ms,))
    trace_id = trace_id or new_trace_id()
    now_ns = int(now_ns if now_ns is not None else time.time() * 1e9)
    base_span_attrs = {marker_key: marker_value} if marked else {}
    base_span_attrs.update(span_attributes or {})

    # Lay out the spans: one step per hop level (10 ms unless a duration is asked), nested inside the caller's span.
    spans = []
    steps = 3 * len(services) + 1  # each hop nests 3 steps deeper
    total = int(duration_ms * 1e6) if duration_ms is not None else 10 * 1000 * 1000 * steps
    step = total // steps
    root_attrs = {"http.request.method": "GET", "url.path": "/tracefleet/probe",
                  "http.response.status_code": 500 if error else 200}
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

    # The failing callee (the last SERVER span) and the root that answers 500 because of it.
    failing = {spans[0]["span_id"], [x for x in spans if x["kind"] == KIND_SERVER][-1]["span_id"]} if error else set()
    resource_spans = []
    for service in services:
        own = [s for s in spans if s["service"] == service]
        resource = {"service.name": service, "telemetry.sdk.name": SCOPE_NAME}
        if marked:
            resource[marker_key] = marker_value
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
                "status": {"code": STATUS_ERROR, "message": "tracefleet sampling probe: simulated error"}
                if error and s["span_id"] in failing else {},
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


# ---------------------------------------------------------------------------------------------
# sampling probes: traces WITHOUT the marker, shaped like real traffic, that the gateway's own
# tail-sampling policies must keep (errors, slow traces) or keep at the routine percentage.

SAMPLING_KIND_KEY = "tracefleet.sampling_probe.kind"  # for reading the traces in Tempo; no policy matches it
SAMPLING_RUN_KEY = "tracefleet.sampling_probe.run"  # one random id per run: Tempo's search finds this run's kept probes
ROUTINE_BATCH = 100  # routine probes per OTLP request (an SDK batches traces too)
MAX_ROUTINE_COUNT = 20000
Z_95 = 1.959964


# The tail-sampling probabilistic policy (otelcol-contrib 0.158, internal/sampling/probabilistic.go) keeps a trace
# when FNV-1a-64(hash_salt + trace id bytes) <= percentage/100 * (2^64 - 1); the gateway role sets no hash_salt.
DEFAULT_HASH_SALT = "default-hash-seed"
FNV64_OFFSET = 0xCBF29CE484222325
FNV64_PRIME = 0x100000001B3
UINT64_MAX = 2 ** 64 - 1
# Error and slow probes take trace ids that a probabilistic policy below this share would drop, so a kept
# probe proves its own policy (errors / latency) kept it, never the routine share's luck.
POLICY_PROOF_PERCENTAGE = 99.9


def probabilistic_hash(trace_id, salt=DEFAULT_HASH_SALT):
    """The tail-sampling probabilistic policy's hash of a trace id (hex), as otelcol-contrib computes it."""
    value = FNV64_OFFSET
    for byte in salt.encode("utf-8") + bytes.fromhex(trace_id):
        value = ((value ^ byte) * FNV64_PRIME) & UINT64_MAX
    return value


def probabilistic_keeps(trace_id, percentage, salt=DEFAULT_HASH_SALT):
    """Whether a probabilistic tail policy at ``percentage`` keeps this trace id."""
    return probabilistic_hash(trace_id, salt) <= int(Fraction(UINT64_MAX) * Fraction(percentage) / 100)


def trace_id_outside_probabilistic(percentage=POLICY_PROOF_PERCENTAGE, salt=DEFAULT_HASH_SALT):
    """A fresh random trace id that a probabilistic tail policy at up to ``percentage`` drops."""
    while True:
        trace_id = new_trace_id()
        if not probabilistic_keeps(trace_id, percentage, salt):
            return trace_id


def slow_duration_ms(threshold_ms):
    """A duration safely above the latency threshold: 1.5 times it, at least 100 ms above."""
    return max(threshold_ms * 1.5, threshold_ms + 100.0)


def routine_duration_ms(threshold_ms):
    """A duration safely below the latency threshold (a quarter of it, at most the default 70 ms shape)."""
    return max(0.001, min(threshold_ms / 4.0, 70.0))


def build_sampling_probes(latency_threshold_ms, routine_count=0, services=DEFAULT_SERVICES, resource_attributes=None,
                          marker_key=DEFAULT_MARKER_KEY, now_ns=None, run_id=None):
    """{"error": [Probe], "slow": [Probe], "routine": [Probe, ...]}: unmarked probes shaped like real traffic.

    The error probe has a failing downstream span (status ERROR) and is fast; the slow probe lasts
    ``slow_duration_ms(threshold)`` (the span times are set in the payload: nothing sleeps); routine
    probes are fast and healthy. The error and slow probes' trace ids are ones the gateway's probabilistic
    policy drops (``trace_id_outside_probabilistic``), so only their own policy can keep them; routine
    probes' ids are random. None carries ``marker_key``. Every span carries ``SAMPLING_KIND_KEY`` and
    ``SAMPLING_RUN_KEY`` (``run_id``, random by default; also returned as ``"run_id"``).
    """
    if not is_number(latency_threshold_ms) or latency_threshold_ms <= 0:
        raise ValueError("the latency threshold must be a number of milliseconds above 0, got %r" % (latency_threshold_ms,))
    if not isinstance(routine_count, int) or isinstance(routine_count, bool) or not 0 <= routine_count <= MAX_ROUTINE_COUNT:
        raise ValueError("routine_count must be a whole number from 0 to %d, got %r" % (MAX_ROUTINE_COUNT, routine_count))
    if marker_key and marker_key in (resource_attributes or {}):
        raise ValueError("sampling probes must not carry the probe marker %s (it would keep them regardless of the "
                         "gateway's policies); remove it from the probe attributes" % marker_key)
    fast = routine_duration_ms(latency_threshold_ms)
    run_id = run_id or secrets.token_hex(8)

    def one(kind, **kwargs):
        return build_probe(services=services, marked=False, resource_attributes=resource_attributes,
                           span_attributes={SAMPLING_KIND_KEY: kind, SAMPLING_RUN_KEY: run_id}, now_ns=now_ns, **kwargs)

    return {
        "error": [one("error", duration_ms=fast, error=True, trace_id=trace_id_outside_probabilistic())],
        "slow": [one("slow", duration_ms=slow_duration_ms(latency_threshold_ms), trace_id=trace_id_outside_probabilistic())],
        "routine": [one("routine", duration_ms=fast) for dummy in range(routine_count)],
        "run_id": run_id,
    }


def batch_body(probes):
    """One OTLP/JSON request carrying several traces."""
    payload = {"resourceSpans": [rs for probe in probes for rs in probe.payload["resourceSpans"]]}
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")


def keep_rate(kept, sent, expected_percentage, tolerance):
    """The routine keep rate against its expectation: percentage, accepted interval, 95 % Wilson interval,
    the binomial standard deviation at the expected rate and the chance that an exact gateway still fails."""
    if sent <= 0:
        raise ValueError("no routine probes sent")
    rate = kept / float(sent)
    centre = (rate + Z_95 ** 2 / (2 * sent)) / (1 + Z_95 ** 2 / sent)
    half = Z_95 * math.sqrt(rate * (1 - rate) / sent + Z_95 ** 2 / (4 * sent * sent)) / (1 + Z_95 ** 2 / sent)
    p = expected_percentage / 100.0
    sigma = 100.0 * math.sqrt(p * (1 - p) / sent)
    chance = math.erfc(tolerance / (sigma * math.sqrt(2))) if sigma > 0 else 0.0
    low, high = expected_percentage - tolerance, expected_percentage + tolerance
    percentage = 100.0 * rate
    return {
        "sent": sent, "kept": kept, "percentage": round(percentage, 3),
        "expected_percentage": expected_percentage, "tolerance": tolerance,
        "interval": [round(max(0.0, low), 3), round(min(100.0, high), 3)],
        "confidence_interval": [round(100.0 * (centre - half), 3), round(100.0 * (centre + half), 3)],
        "standard_deviation": round(sigma, 3),
        "chance_of_false_failure": round(chance, 4),
        "within": low <= percentage <= high,
    }


def describe_rate(r):
    text = "routine probes: %d of %d kept = %.2f %% (95 %% interval %.2f-%.2f %%); expected %s %% \u00b1 %s points (%s-%s %%): %s" % (
        r["kept"], r["sent"], r["percentage"], r["confidence_interval"][0], r["confidence_interval"][1],
        _num(r["expected_percentage"]), _num(r["tolerance"]), _num(r["interval"][0]), _num(r["interval"][1]),
        "within" if r["within"] else "OUTSIDE the tolerance")
    if r["chance_of_false_failure"] > 0.01:
        text += " (note: with %d probes the standard deviation is %.2f points, so an exact gateway falls outside this " \
                "tolerance %.1f %% of the time; send more probes or widen it)" % (
                    r["sent"], r["standard_deviation"], 100 * r["chance_of_false_failure"])
    return text


def _num(value):
    return ("%.3f" % value).rstrip("0").rstrip(".") if isinstance(value, float) else str(value)


def _probe_summary(kind, probe, outcome, threshold_ms):
    """The result of one error/slow probe, with the problems specific to its kind."""
    out = outcome.as_dict()
    analysis = outcome.analysis or {}
    problems = list(out["problems"])
    if outcome.found and kind == "error" and not analysis.get("error_spans"):
        problems.append("it arrived without its error span")
    if outcome.found and kind == "slow" and analysis.get("duration_ms", 0) < threshold_ms:
        problems.append("it arrived lasting %.1f ms, below the %s ms threshold" % (analysis.get("duration_ms", 0), _num(threshold_ms)))
    out.update(kind=kind, expected_spans=probe.span_count, error_spans=analysis.get("error_spans", 0), problems=problems,
               confirmed=bool(outcome.found and not problems), traceparent=probe.traceparent)
    return out


def _probe_message(kind, probe_result, timeout, threshold_ms, sent_duration_ms):
    what = "error probe (a failing downstream span)" if kind == "error" else \
        "slow probe (%.0f ms, threshold %s ms)" % (sent_duration_ms, _num(threshold_ms))
    tid = probe_result["trace_id"]
    if probe_result["confirmed"]:
        return "%s %s whole after %.1f s: %d spans" % (what, tid, probe_result["found_after_s"], probe_result["span_count"])
    if not probe_result["found"]:
        why = ("the gateway's status_code policy did not keep it" if kind == "error" else
               "the gateway's latency policy did not keep it: is the live threshold above %.0f ms, or no latency policy?"
               % sent_duration_ms)
        return "%s %s missing from Tempo after %.1f s: %s" % (what, tid, timeout, why)
    return "%s %s found after %.1f s but %s" % (what, tid, probe_result["found_after_s"], "; ".join(probe_result["problems"]))


def count_kept(client, run_id, routine_ids, ready_ids, deadline, interval=1.0, settle=5.0, started_wall=None):
    """Count the routine probes Tempo kept, with TraceQL search on the run id (one request a round; looking
    2000 ids up one by one takes minutes, as a missing id is the slowest lookup).

    Tempo's search sees a trace once its ingester has cut it (``trace_idle_period``), so the count is final
    when the error and slow probes of the same run (``ready_ids``) are in the search results and the count
    has not changed for ``settle`` seconds. Returns (kept ids, searches, complete)."""
    query = build_traceql(None, {SAMPLING_RUN_KEY: run_id})
    routine_ids, ready_ids = set(routine_ids), set(ready_ids)
    start = int(started_wall if started_wall is not None else time.time()) - 120
    last, stable_since, searches = None, None, 0
    while True:
        found = client.search(query, limit=len(routine_ids) + len(ready_ids) + 10, start=start, end=int(time.time()) + 120)
        hits = set(h["trace_id"] for h in found)
        searches += 1
        now = tempo.monotonic()
        kept = hits & routine_ids
        if not ready_ids <= hits or kept != last:
            last, stable_since = kept, now
        elif now - stable_since >= settle or kept == routine_ids:
            return kept, searches, True
        if now + interval > deadline:
            return kept, searches, False
        tempo.sleep(interval)


def run_sampling_probe(client, endpoint, probes, latency_threshold_ms, timeout=30.0, interval=1.0,
                       expected_percentage=None, tolerance=None, headers=None, transport=None, request_timeout=10.0,
                       settle=5.0, **transport_args):
    """Send the probes (routine first, then the error and the slow one), confirm the error and slow probes
    whole in Tempo, and count the routine probes kept. Every wait ends at ``timeout`` seconds from the first
    send. Returns a dict (``ok``, ``msg``, ``probes``, ``routine``, ``problems``, ``lookups``).

    Routine probes go first so that, once the error and slow probes (decided after the same decision wait)
    are in Tempo, the routine ones have been decided too; the count then ends as ``count_kept`` says."""
    transport = transport or HttpTransport(timeout=request_timeout, **transport_args)
    started = tempo.monotonic()
    started_wall = time.time()
    deadline = started + float(timeout)
    routine = probes.get("routine") or []
    for index in range(0, len(routine), ROUTINE_BATCH):
        send_payload(endpoint, batch_body(routine[index:index + ROUTINE_BATCH]), transport=transport, headers=headers)
    for kind in ("error", "slow"):
        send_probe(endpoint, probes[kind][0], transport=transport, headers=headers)
    sent_s = tempo.monotonic() - started

    results, lines, problems, lookups = {}, [], [], 0
    durations = {"error": routine_duration_ms(latency_threshold_ms), "slow": slow_duration_ms(latency_threshold_ms)}
    for kind in ("error", "slow"):
        probe = probes[kind][0]
        whole = Expectations(services=probe.services, min_spans=probe.span_count, max_orphans=0, single_root=True)
        # Counted from the first send, ending at the common deadline.
        outcome = wait_for_trace(client, probe.trace_id, whole, timeout=timeout, interval=interval, started=started)
        lookups += outcome.lookups
        results[kind] = _probe_summary(kind, probe, outcome, latency_threshold_ms)
        message = _probe_message(kind, results[kind], timeout, latency_threshold_ms, durations[kind])
        lines.append(message)
        if not results[kind]["confirmed"]:
            problems.append(message)

    rate = None
    if routine:
        ready = [results[k]["trace_id"] for k in ("error", "slow") if results[k]["confirmed"]]
        kept, searches, complete = count_kept(client, probes["run_id"], [p.trace_id for p in routine], ready, deadline,
                                              interval, settle, started_wall)
        rate = keep_rate(len(kept), len(routine), expected_percentage, tolerance)
        rate.update(searches=searches, complete=complete)
        message = describe_rate(rate)
        if not complete:
            message += " (counting stopped at the %.0f s timeout: raise it)" % timeout
        lines.append(message)
        if not rate["within"] or not complete:
            problems.append(message)
    ok = not problems
    return {"ok": ok, "msg": "; ".join(problems if problems else lines), "lines": lines, "probes": results,
            "run_id": probes.get("run_id"),
            "routine": rate, "problems": problems, "lookups": lookups, "sent_s": round(sent_s, 3),
            "latency_threshold_ms": latency_threshold_ms, "elapsed_s": round(tempo.monotonic() - started, 3)}
