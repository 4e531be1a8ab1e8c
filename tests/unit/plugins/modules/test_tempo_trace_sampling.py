"""tempo_trace sampling_probe=true against a fake gateway + Tempo (open_url replaced).

The fake decides like the tail sampling processor's policies: keep a trace with a span in status ERROR, keep a
trace whose duration (earliest start to latest end) is at least the threshold, keep ``percentage`` % of the rest
(by trace id), and keep any trace carrying the probe marker. It answers Tempo's v2 trace-by-id API for kept
traces, in Tempo's JSON form, and Tempo's search (TraceQL on the run id) once ``search_visible_after`` searches
have passed (Tempo's search sees a trace only after the ingester cuts it). The real gateway and Tempo are in
tests/integration/test_sampling_probe.py.
"""

import base64
import copy
import json
import re
from urllib.parse import parse_qs, urlparse

import pytest

from ansible_collections.tracefleet.otel.plugins.module_utils import otlp_probe, tempo
from ansible_collections.tracefleet.otel.plugins.modules import tempo_trace
from tests.unit.plugins.modules.test_tempo_trace import Response, clock, no_exit  # noqa: F401 (autouse fixtures)
from tests.unit.plugins.modules.test_tempo_trace import OTLP, URL, run as module_run

NOT_FOUND = b'{"trace":{},"metrics":{}}'


class FakeGateway:
    """An OTLP/HTTP receiver that tail-samples like the gateway's policies, and Tempo's trace-by-id API."""

    def __init__(self, threshold_ms=300, percentage=10.0, marker="tracefleet.probe", visible_after=1):
        self.threshold_ms, self.percentage, self.marker = threshold_ms, percentage, marker
        self.visible_after = visible_after  # lookups answered "not yet" before a kept trace shows
        self.spans = {}  # trace id -> list of (resource, span)
        self.lookups = {}
        self.posts = []
        self.drop_span_of = set()  # trace ids that lose one span on the way (an incomplete trace)
        self.search_visible_after = 2
        self.searches = []

    def keeps(self, trace_id):
        spans = self.spans[trace_id]
        attrs = [a["key"] for r, s in spans for a in r["attributes"] + s["attributes"]]
        if self.marker in attrs:
            return True
        if any((s.get("status") or {}).get("code") == 2 for r, s in spans):
            return True
        start = min(int(s["startTimeUnixNano"]) for r, s in spans)
        end = max(int(s["endTimeUnixNano"]) for r, s in spans)
        if self.threshold_ms is not None and (end - start) / 1e6 >= self.threshold_ms:
            return True
        return int(trace_id[-8:], 16) % 10000 < self.percentage * 100

    def __call__(self, url, data=None, method=None, headers=None, **kwargs):
        if method == "POST":
            assert url == OTLP + "/v1/traces"
            payload = json.loads(data)
            self.posts.append(payload)
            for rs in payload["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    for span in ss["spans"]:
                        self.spans.setdefault(span["traceId"], []).append((rs["resource"], span))
            return Response(200, b"{}")
        if url.startswith(URL + "/api/search?"):
            return self.search(url)
        match = re.match(re.escape(URL) + r"/api/v2/traces/([0-9a-f]{32})$", url)
        assert match, url
        trace_id = match.group(1)
        self.lookups[trace_id] = self.lookups.get(trace_id, 0) + 1
        if trace_id not in self.spans or not self.keeps(trace_id) or self.lookups[trace_id] <= self.visible_after:
            return Response(200, NOT_FOUND)
        spans = self.spans[trace_id][1:] if trace_id in self.drop_span_of else self.spans[trace_id]
        batches = []
        for resource, span in spans:
            span = copy.deepcopy(span)
            for key in ("traceId", "spanId", "parentSpanId"):
                if key in span:
                    span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
            span["kind"] = tempo.SPAN_KINDS[span["kind"]]
            if span.get("status", {}).get("code") == 2:
                span["status"] = {"code": "STATUS_CODE_ERROR", "message": span["status"].get("message", "")}
            batches.append({"resource": resource, "scopeSpans": [{"scope": {"name": "x"}, "spans": [span]}]})
        return Response(200, json.dumps({"trace": {"resourceSpans": batches}}).encode())

    def search(self, url):
        query = parse_qs(urlparse(url).query)
        self.searches.append(query)
        run = re.search(r'\.tracefleet\.sampling_probe\.run = "([0-9a-f]+)"', query["q"][0]).group(1)
        traces = []
        if len(self.searches) > self.search_visible_after:
            for trace_id, spans in self.spans.items():
                values = [a["value"]["stringValue"] for r, sp in spans for a in sp["attributes"] if a["key"] == otlp_probe.SAMPLING_RUN_KEY]
                if values and values[0] == run and self.keeps(trace_id):
                    traces.append({"traceID": trace_id.lstrip("0"), "rootServiceName": "tracefleet-probe-frontend"})
        return Response(200, json.dumps({"traces": traces[:int(query["limit"][0])]}).encode())

    def sent_kinds(self):
        kinds = {}
        for trace_id, spans in self.spans.items():
            kind = [a["value"]["stringValue"] for r, s in spans for a in s["attributes"] if a["key"] == otlp_probe.SAMPLING_KIND_KEY]
            kinds.setdefault(kind[0], []).append(trace_id)
        return kinds


@pytest.fixture
def gateway(monkeypatch):
    fake = FakeGateway()
    monkeypatch.setattr(tempo, "open_url", fake)
    return fake


def run(args, check_mode=False):
    """test_tempo_trace.run in sampling probe mode (the probe endpoint left out when given as None)."""
    args = dict(dict(sampling_probe=True, probe_endpoint=OTLP), **args)
    if args["probe_endpoint"] is None:
        del args["probe_endpoint"]
    return module_run(args, check_mode)


def test_production_default_sends_only_an_error_and_a_slow_probe_and_confirms_both(gateway):
    out = run(dict(sampling_latency_threshold_ms=300))
    assert not out.failed, out.result["msg"]
    r = out.result
    assert len(gateway.posts) == 2 and sorted(gateway.sent_kinds()) == ["error", "slow"]
    # no marker anywhere: the gateway kept them on their own merits
    keys = {a["key"] for spans in gateway.spans.values() for r, sp in spans for a in r["attributes"] + sp["attributes"]}
    assert "tracefleet.probe" not in keys and otlp_probe.SAMPLING_KIND_KEY in keys
    s = r["sampling"]
    assert s["routine"] is None and s["latency_threshold_ms"] == 300
    assert s["probes"]["error"]["confirmed"] and s["probes"]["error"]["error_spans"] == 2
    assert s["probes"]["slow"]["confirmed"] and s["probes"]["slow"]["duration_ms"] == 450.0
    assert s["probes"]["slow"]["span_count"] == s["probes"]["slow"]["expected_spans"] == 4
    assert r["probe_sent"] and r["found"] and r["problems"] == [] and r["changed"] is False
    assert re.match(r"sampling probes: error probe \(a failing downstream span\) [0-9a-f]{32} whole after [\d.]+ s: 4 spans; "
                    r"slow probe \(450 ms, threshold 300 ms\) [0-9a-f]{32} whole after", r["msg"]), r["msg"]


def test_slow_probe_missing_when_the_live_threshold_is_above_it(gateway):
    gateway.threshold_ms = 5000  # the gateway runs a config whose threshold is above the slow probe
    out = run(dict(sampling_latency_threshold_ms=300, timeout=5))
    assert out.failed
    slow = out.result["sampling"]["probes"]["slow"]
    assert not slow["found"] and not slow["confirmed"] and out.result["sampling"]["probes"]["error"]["confirmed"]
    assert re.search(r"slow probe \(450 ms, threshold 300 ms\) [0-9a-f]{32} missing from Tempo after 5.0 s: the gateway's "
                     r"latency policy did not keep it: is the live threshold above 450 ms", out.result["msg"]), out.result["msg"]
    assert "error probe" not in out.result["msg"], "only what failed is in the message"


def test_error_probe_missing_when_no_error_policy(gateway, monkeypatch):
    real = gateway.keeps
    monkeypatch.setattr(gateway, "keeps", lambda tid: tid not in gateway.sent_kinds().get("error", []) and real(tid))
    out = run(dict(sampling_latency_threshold_ms=300, timeout=4))
    assert out.failed and "error probe (a failing downstream span)" in out.result["msg"]
    assert "status_code policy did not keep it" in out.result["msg"]


def test_incomplete_probe_is_reported_with_what_is_missing(gateway, monkeypatch):
    real = gateway.__call__

    def lose_a_span(url, **kwargs):
        answer = real(url, **kwargs)
        gateway.drop_span_of.update(gateway.sent_kinds().get("slow", []))
        return answer

    monkeypatch.setattr(tempo, "open_url", lose_a_span)
    out = run(dict(sampling_latency_threshold_ms=300, timeout=4))
    assert out.failed
    slow = out.result["sampling"]["probes"]["slow"]
    assert slow["found"] and not slow["confirmed"] and slow["span_count"] == 3
    assert "slow probe" in out.result["msg"] and "found after" in out.result["msg"] and "expected at least 4" in out.result["msg"]


def test_statistical_check_counts_routine_probes_by_id_within_tolerance(gateway, clock):
    out = run(dict(sampling_latency_threshold_ms=300, routine_count=2000, routine_percentage=10, routine_tolerance=2,
                   timeout=600))
    assert not out.failed, out.result["msg"]
    routine = out.result["sampling"]["routine"]
    kinds = gateway.sent_kinds()
    assert len(kinds["routine"]) == 2000 and len(gateway.posts) == 20 + 2  # 100 routine probes a request
    expected_kept = sum(1 for tid in kinds["routine"] if gateway.keeps(tid))
    assert routine["sent"] == 2000 and routine["kept"] == expected_kept
    assert routine["percentage"] == pytest.approx(100.0 * expected_kept / 2000, abs=0.001)
    assert routine["interval"] == [8.0, 12.0] and routine["within"] and routine["complete"]
    lo, hi = routine["confidence_interval"]
    assert lo < routine["percentage"] < hi and hi - lo < 3
    assert routine["standard_deviation"] == pytest.approx(0.671, abs=0.001)
    assert routine["searches"] >= 4, "the count waits until the search shows the run and then stays the same"
    assert all(q["limit"] == ["2012"] for q in gateway.searches)
    assert "routine probes: %d of 2000 kept" % expected_kept in out.result["msg"]


def test_statistical_check_fails_outside_tolerance(gateway):
    gateway.percentage = 30.0
    out = run(dict(sampling_latency_threshold_ms=300, routine_count=500, routine_percentage=10, routine_tolerance=3,
                   timeout=600))
    assert out.failed
    routine = out.result["sampling"]["routine"]
    assert not routine["within"] and routine["percentage"] > 20
    assert "OUTSIDE the tolerance" in out.result["msg"] and "expected 10 % \u00b1 3 points (7-13 %)" in out.result["msg"]


def test_tight_tolerance_for_few_probes_is_called_out(gateway):
    out = run(dict(sampling_latency_threshold_ms=300, routine_count=100, routine_percentage=10, routine_tolerance=30,
                   timeout=600))
    assert not out.failed and "note:" not in out.result["msg"]
    r = otlp_probe.keep_rate(10, 100, 10.0, 1.0)
    assert r["chance_of_false_failure"] > 0.5 and "standard deviation is 3.00 points" in otlp_probe.describe_rate(r)


def test_count_stops_at_the_timeout_and_says_so(gateway):
    gateway.search_visible_after = 10 ** 6  # the search never shows the run (Tempo's ingester never cuts it)
    out = run(dict(sampling_latency_threshold_ms=300, routine_count=50, routine_percentage=10, timeout=3))
    assert out.failed
    assert not out.result["sampling"]["routine"]["complete"]
    assert "counting stopped at the 3 s timeout" in out.result["msg"]


def test_check_mode_sends_nothing(gateway):
    out = run(dict(sampling_latency_threshold_ms=2000, routine_count=100, routine_percentage=10), check_mode=True)
    assert not out.failed and gateway.posts == [] and gateway.lookups == {}
    assert out.result["msg"] == ("check mode: an error probe, a slow probe (3000 ms against a 2000 ms threshold) and 100 "
                                 "routine probes were not sent to %s, so nothing was looked up" % OTLP)
    assert out.result["probe_sent"] is False and "sampling" not in out.result


@pytest.mark.parametrize("args,fragment", [
    (dict(), "sampling_latency_threshold_ms: the gateway's latency threshold in ms (above 0) is required"),
    (dict(sampling_latency_threshold_ms=0), "is required with sampling_probe=true, got 0"),
    (dict(sampling_latency_threshold_ms=300, routine_count=10), "routine_percentage: the percentage the gateway keeps is required"),
    (dict(sampling_latency_threshold_ms=300, routine_count=10, routine_percentage=120), "routine_percentage must be above 0"),
    (dict(sampling_latency_threshold_ms=300, routine_count=20001, routine_percentage=10), "routine_count must be a whole number from 0 to 20000"),
    (dict(sampling_latency_threshold_ms=300, routine_tolerance=-1), "routine_tolerance must be 0 or more"),
    (dict(sampling_latency_threshold_ms=300, probe_attributes={"tracefleet.probe": "true"}), "must not carry the probe marker"),
    (dict(sampling_latency_threshold_ms=300, send_probe=True), "got send_probe, sampling_probe"),
    (dict(sampling_latency_threshold_ms=300, probe_endpoint=None), "sampling_probe is True but all of the following are missing: probe_endpoint"),
])
def test_argument_errors(gateway, args, fragment):
    out = run(args)
    assert out.failed and fragment in out.result["msg"], out.result["msg"]
    assert gateway.posts == []
