"""Sampling probes (otlp_probe.build_sampling_probes, keep_rate): unmarked, shaped like real traffic, and the statistics."""

import json

import pytest

from ansible_collections.tracefleet.otel.plugins.module_utils import otlp_probe
from ansible_collections.tracefleet.otel.plugins.module_utils.tempo import analyze_trace, flatten_spans


def test_sampling_probes_carry_no_marker_and_are_shaped_like_traffic():
    probes = otlp_probe.build_sampling_probes(300, routine_count=3, now_ns=1_700_000_000_000_000_000, run_id="r1")
    assert probes["run_id"] == "r1" and [len(probes[k]) for k in ("error", "slow", "routine")] == [1, 1, 3]
    for kind, duration, errors in (("error", 70.0, 2), ("slow", 450.0, 0), ("routine", 70.0, 0)):
        for probe in probes[kind]:
            analysis = analyze_trace(probe.payload)
            assert analysis["duration_ms"] == duration and analysis["error_spans"] == errors, kind
            assert analysis["root_count"] == 1 and analysis["orphan_spans"] == [] and analysis["span_count"] == 4
            assert "tracefleet.probe" not in analysis["attributes_seen"]
            assert analysis["attributes_seen"][otlp_probe.SAMPLING_KIND_KEY] == [kind]
            assert analysis["attributes_seen"][otlp_probe.SAMPLING_RUN_KEY] == ["r1"]
    spans = flatten_spans(probes["error"][0].payload)
    failing = sorted((s["service"], s["kind"]) for s in spans if s["status"] == 2)
    assert failing == [("tracefleet-probe-backend", "SPAN_KIND_SERVER"), ("tracefleet-probe-frontend", "SPAN_KIND_SERVER")]
    root = [s for s in spans if not s["parent_span_id"]][0]
    assert root["attributes"]["http.response.status_code"] == 500
    assert len({p.trace_id for k in ("error", "slow", "routine") for p in probes[k]}) == 5


@pytest.mark.parametrize("threshold, slow, fast", [(300, 450.0, 70.0), (2000, 3000.0, 70.0), (100, 200.0, 25.0), (1, 101.0, 0.25)])
def test_slow_is_safely_above_and_routine_safely_below_the_threshold(threshold, slow, fast):
    assert otlp_probe.slow_duration_ms(threshold) == slow and otlp_probe.routine_duration_ms(threshold) == fast


def test_batches_carry_many_traces_in_one_request():
    probes = otlp_probe.build_sampling_probes(300, routine_count=3)["routine"]
    body = json.loads(otlp_probe.batch_body(probes))
    assert len(body["resourceSpans"]) == 6
    assert {s["traceId"] for rs in body["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]} == {p.trace_id for p in probes}


@pytest.mark.parametrize("args, fragment", [
    (dict(latency_threshold_ms=0), "above 0"),
    (dict(latency_threshold_ms=300, routine_count=-1), "routine_count"),
    (dict(latency_threshold_ms=300, routine_count=True), "routine_count"),
    (dict(latency_threshold_ms=300, resource_attributes={"tracefleet.probe": "true"}), "must not carry the probe marker"),
])
def test_bad_sampling_probe_input(args, fragment):
    with pytest.raises(ValueError, match=fragment):
        otlp_probe.build_sampling_probes(**args)


def test_keep_rate_reports_the_interval_and_the_spread():
    r = otlp_probe.keep_rate(203, 2000, 10.0, 2.5)
    assert r["percentage"] == 10.15 and r["within"] and r["interval"] == [7.5, 12.5]
    assert r["confidence_interval"] == [8.902, 11.551]  # Wilson score interval, z = 1.96 (worked by hand)
    assert r["standard_deviation"] == 0.671 and r["chance_of_false_failure"] < 0.001
    edge = otlp_probe.keep_rate(0, 100, 1.0, 2.0)
    assert edge["interval"] == [0.0, 3.0] and edge["within"] and edge["confidence_interval"][0] == 0.0
    at_two_sigma = otlp_probe.keep_rate(100, 1000, 10.0, 1.96 * 100 * (0.1 * 0.9 / 1000) ** 0.5)
    assert at_two_sigma["chance_of_false_failure"] == pytest.approx(0.05, abs=0.001)
    assert not otlp_probe.keep_rate(300, 1000, 10.0, 3.0)["within"]
    with pytest.raises(ValueError):
        otlp_probe.keep_rate(0, 0, 10.0, 1.0)


@pytest.mark.parametrize("data, expected", [(b"", 0xCBF29CE484222325), (b"a", 0xAF63DC4C8601EC8C), (b"foobar", 0x85944171F73967E8)])
def test_the_probabilistic_hash_is_fnv1a_64(data, expected):
    """Published FNV-1a 64-bit vectors: the salt is hashed first, then the 16 trace-id bytes."""
    assert otlp_probe.probabilistic_hash(data.hex(), salt="") == expected
    assert otlp_probe.probabilistic_hash("", salt=data.decode()) == expected


def test_probabilistic_keeps_compares_with_the_percentage_of_the_hash_range():
    ids = [otlp_probe.new_trace_id() for _ in range(4000)]
    kept = [t for t in ids if otlp_probe.probabilistic_keeps(t, 10)]
    assert 300 <= len(kept) <= 500  # 10 % of 4000, sd 19
    assert all(otlp_probe.probabilistic_keeps(t, 100) for t in ids)
    assert not any(otlp_probe.probabilistic_keeps(t, 0) for t in ids)
    assert set(kept) <= set(t for t in ids if otlp_probe.probabilistic_keeps(t, 20))


def test_error_and_slow_probes_take_ids_the_routine_share_drops():
    """A kept error or slow probe must be kept by its own policy, not by the routine percentage's luck."""
    for _ in range(50):
        probes = otlp_probe.build_sampling_probes(300, routine_count=0)
        for kind in ("error", "slow"):
            tid = probes[kind][0].trace_id
            assert not otlp_probe.probabilistic_keeps(tid, otlp_probe.POLICY_PROOF_PERCENTAGE), kind
            assert not otlp_probe.probabilistic_keeps(tid, 10), kind
