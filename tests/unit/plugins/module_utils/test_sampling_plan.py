"""Sampling thresholds derived from service objectives and a volume budget (module_utils/sampling_plan.py)."""

import pytest

from ansible_collections.tracefleet.otel.plugins.module_utils.collector_config import (
    gateway_config,
    gateway_sampling_plan,
)
from ansible_collections.tracefleet.otel.plugins.module_utils.settings import SettingsError

CHECKOUT = {"service": "checkout", "latency_ms": 800}


def _policies(settings):
    return {p["name"]: p for p in gateway_config(settings)["processors"]["tail_sampling"]["policies"]}


def test_without_objectives_or_budget_the_article_defaults_apply():
    policies = _policies({})
    assert list(policies) == ["keep-probes", "keep-errors", "keep-slow", "sample-rest"]
    assert policies["keep-slow"]["latency"] == {"threshold_ms": 2000}
    assert policies["sample-rest"]["probabilistic"] == {"sampling_percentage": 10}
    plan = gateway_sampling_plan({})
    assert plan["sampling_percentage"] == 10 and "default" in plan["sampling_percentage_source"]


def test_an_objective_adds_a_service_scoped_latency_policy_beside_the_global_one():
    policies = _policies({"service_objectives": [CHECKOUT]})
    assert policies["keep-slow"]["latency"] == {"threshold_ms": 2000}
    scoped = policies["keep-slow-checkout"]
    assert scoped["type"] == "and"
    service, latency = scoped["and"]["and_sub_policy"]
    assert service["string_attribute"] == {"key": "service.name", "values": ["checkout"]}
    assert latency["latency"] == {"threshold_ms": 800}


def test_an_explicit_threshold_wins_over_the_objective():
    settings = {"service_objectives": [dict(CHECKOUT, threshold_ms=650)]}
    latency = _policies(settings)["keep-slow-checkout"]["and"]["and_sub_policy"][1]
    assert latency["latency"] == {"threshold_ms": 650}
    assert gateway_sampling_plan(settings)["service_latency"] == [
        {"service": "checkout", "threshold_ms": 650, "source": "set by threshold_ms (objective 800 ms)"}]


@pytest.mark.parametrize("budget, expected", [
    # 500 spans/s of 20,000: 1 % kept anyway (200/s), the other 300/s from 19,800/s routine -> 1.52 %
    ({"spans_per_sec": 500, "expected_spans_per_sec": 20000, "always_kept_ratio": 0.01}, 1.52),
    ({"spans_per_sec": 1000, "expected_spans_per_sec": 10000}, 10.0),
    # A budget above the traffic keeps everything (capped at 100 %).
    ({"spans_per_sec": 50000, "expected_spans_per_sec": 10000}, 100.0),
])
def test_the_budget_gives_the_routine_percentage(budget, expected):
    plan = gateway_sampling_plan({"volume_budget": budget})
    assert plan["sampling_percentage"] == expected
    assert "volume budget" in plan["sampling_percentage_source"]
    assert _policies({"volume_budget": budget})["sample-rest"]["probabilistic"]["sampling_percentage"] == expected


def test_an_explicit_percentage_wins_over_the_budget():
    settings = {"sampling_percentage": 25, "volume_budget": {"spans_per_sec": 1000, "expected_spans_per_sec": 10000}}
    plan = gateway_sampling_plan(settings)
    assert plan["sampling_percentage"] == 25
    assert plan["sampling_percentage_source"] == "set by tracefleet_gateway_sampling_percentage"


def test_the_plan_summary_says_each_threshold_and_why():
    plan = gateway_sampling_plan({"service_objectives": [CHECKOUT], "latency_threshold_ms": 1500})
    assert plan["summary"] == [
        "routine traces: 10% (default (no tracefleet_gateway_volume_budget))",
        "slow traces: longer than 1500 ms (global, tracefleet_gateway_latency_threshold_ms)",
        "slow checkout traces: longer than 800 ms (the latency objective)",
        "memory: num_traces 20000 = 1000 new traces/s per replica x 10s decision_wait x safety 2",
        "memory: decision caches 60000 sampled / 60000 not sampled (1000 new traces/s x 60s of decisions)",
    ]


def test_bad_objectives_fail_naming_the_variable():
    with pytest.raises(SettingsError) as err:
        gateway_sampling_plan({"services": ["checkout"], "service_objectives": [{"service": "payment", "latency_ms": 0}]})
    assert err.value.errors == [
        "tracefleet_gateway_service_objectives[0].service: expected one of the services in tracefleet_gateway_services "
        "(checkout), got 'payment'",
        "tracefleet_gateway_service_objectives[0].latency_ms: expected a whole number of milliseconds above 0, got 0",
    ]
