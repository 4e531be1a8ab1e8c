"""The verify report's sampling parts: the derivation as evidence, the sampling probe's targets and outcome.

The gateway configs and plans here come from the real builders (module_utils/collector_config.py), so the
policies the checks read are the ones the gateway role applies.
"""

import copy
import re

from ansible_collections.tracefleet.otel.plugins.module_utils import verify_checks as vc
from ansible_collections.tracefleet.otel.plugins.module_utils import verify_report as vr
from ansible_collections.tracefleet.otel.plugins.module_utils import verify_sampling as vs
from ansible_collections.tracefleet.otel.plugins.module_utils.collector_config import gateway_config, gateway_sampling_plan

WHEN = "2026-11-25T03:00:00Z"
SLO = {
    "services": ["storefront", "checkout", "payments"],
    "service_objectives": [{"service": "checkout", "latency_ms": 800},
                           {"service": "payments", "latency_ms": 300, "threshold_ms": 250}],
    "volume_budget": {"spans_per_sec": 500, "expected_spans_per_sec": 20000, "always_kept_ratio": 0.01},
}


def collector(settings):
    return {"apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
            "metadata": {"name": "gateway", "namespace": "observability"}, "spec": {"config": gateway_config(settings)}}


def by_id(checks):
    return dict((c["id"], c) for c in checks)


def test_live_policies_read_the_global_threshold_percentage_and_service_scoped_policies():
    live = vs.live_policies(collector(SLO))
    assert live == {"latency_threshold_ms": 2000, "sampling_percentage": 1.52,
                    "service_latency": {"checkout": 800, "payments": 250}}
    assert vs.live_policies(None) is None


def test_targets_come_from_the_plan_first_then_the_live_collector():
    plan = gateway_sampling_plan(dict(SLO, latency_threshold_ms=1500))
    live_only = collector(SLO)
    targets = vs.sampling_targets(live_only, plan)
    assert (targets["latency_threshold_ms"], targets["sampling_percentage"]) == (1500, 1.52)
    assert targets["source"] == "the gateway role's plan (fact tracefleet_gateway_sampling)"
    targets = vs.sampling_targets(live_only, None)
    assert (targets["latency_threshold_ms"], targets["sampling_percentage"]) == (2000, 1.52)
    assert targets["source"].startswith("the live gateway collector's tail_sampling policies")
    nothing = vs.sampling_targets(None, None)
    assert nothing["latency_threshold_ms"] is None and nothing["source"].startswith("nowhere")


def test_the_derivation_is_evidence_of_the_tail_sampling_check_and_shows_in_every_format():
    plan = gateway_sampling_plan(SLO)
    gathered = {"gateway": {"name": "gateway", "namespace": "observability", "collector": collector(SLO)},
                "gateway_sampling": plan}
    check = by_id(vc.evaluate(gathered))["tail_sampling_policies"]
    assert check["status"] == "pass", check
    derivation = [e for e in check["evidence"] if e.startswith("derivation")]
    prefix = "derivation (gateway role, tracefleet_gateway_sampling): "
    assert prefix + "routine traces: 1.52% (from the volume budget: (500 - 20000 x 0.01) / (20000 x (1 - 0.01)) = 1.52%)" in derivation
    assert prefix + "slow traces: longer than 2000 ms (global, tracefleet_gateway_latency_threshold_ms)" in derivation
    assert prefix + "slow checkout traces: longer than 800 ms (the latency objective)" in derivation
    assert prefix + "slow payments traces: longer than 250 ms (set by threshold_ms (objective 300 ms))" in derivation

    report = vr.summary([check], "prod-eu-1", WHEN)
    md = vr.markdown(report)
    details = md.split("## Details of passing checks", 1)[1]
    assert "`tail_sampling_policies`" in details and "slow checkout traces: longer than 800 ms (the latency objective)" in details
    page = vr.fleet_html([report])
    passing = page.split('<h2 id="passing-details">', 1)[1]
    assert 'data-passing-cluster="prod-eu-1"' in passing and 'data-passing-check="tail_sampling_policies"' in passing
    assert "slow payments traces: longer than 250 ms (set by threshold_ms (objective 300 ms))" in passing
    assert "<section" not in page, "a passing cluster still has no failure section"
    # other passing checks keep their evidence to the JSON report
    quiet = vr.summary([vc.result("tls", "pass", "TLS", ["gateway otlp_grpc/tempo -> x: TLS"])], "c", WHEN)
    assert "## Details" not in vr.markdown(quiet) and "passing-details" not in vr.fleet_html([quiet])


def test_a_live_gateway_that_differs_from_the_plan_warns_naming_each_difference():
    plan = gateway_sampling_plan(SLO)
    edited = collector(SLO)
    for policy in edited["spec"]["config"]["processors"]["tail_sampling"]["policies"]:
        if policy["name"] == "keep-slow":
            policy["latency"]["threshold_ms"] = 5000
        if policy["name"] == "keep-slow-checkout":
            policy["and"]["and_sub_policy"][1]["latency"]["threshold_ms"] = 900
    check = by_id(vc.evaluate({"gateway": {"collector": edited}, "gateway_sampling": plan}))["tail_sampling_policies"]
    assert check["status"] == "warn"
    assert check["summary"] == ("the live policies differ from the gateway role's plan: the plan's latency threshold is "
                                "2000 ms, the live gateway has 5000 ms; the plan's checkout latency threshold is 800 ms, "
                                "the live gateway has 900 ms")


def test_without_the_fact_the_evidence_says_the_derivation_is_not_in_this_run():
    check = by_id(vc.evaluate({"gateway": {"collector": collector({})}}))["tail_sampling_policies"]
    assert check["status"] == "pass"
    assert any(e.startswith("derivation: the gateway role did not run in this play") for e in check["evidence"])


SENT = {
    "probe_sent": True, "msg": "sampling probes: ...",
    "sampling": {
        "latency_threshold_ms": 300, "run_id": "9f2c4e1a7b3d5f60",
        "probes": {kind: {"trace_id": tid, "found": True, "found_after_s": 3.2, "span_count": 4, "expected_spans": 4,
                          "root_count": 1, "orphan_spans": [], "error_spans": errors, "duration_ms": ms, "confirmed": True}
                   for kind, tid, errors, ms in (("error", "a" * 32, 2, 70.0), ("slow", "b" * 32, 0, 450.0))},
        "routine": {"sent": 2000, "kept": 203, "percentage": 10.15, "expected_percentage": 10, "tolerance": 2.5},
        "lines": ["error probe (a failing downstream span) aaaa whole after 3.2 s: 4 spans",
                  "routine probes: 203 of 2000 kept = 10.15 % (95 % interval 8.90-11.55 %); expected 10 % \u00b1 2.5 points"],
    },
}
TARGETS = {"latency_threshold_ms": 300, "sampling_percentage": 10, "source": "the gateway role's plan (fact tracefleet_gateway_sampling)"}


def test_sampling_probe_passes_with_its_measurements_as_evidence():
    check = by_id(vc.evaluate({"sampling_probe": {"failed": False, "result": SENT, "targets": TARGETS}}))["sampling_probe"]
    assert check["status"] == "pass"
    assert check["summary"] == ("error and slow probes (no marker) kept whole at a 300 ms threshold; routine 203 of 2000 "
                                "kept = 10.15 %, within 10 \u00b1 2.5 points")
    assert check["evidence"][0] == "latency threshold 300 ms, routine percentage 10 %, from the gateway role's plan (fact tracefleet_gateway_sampling)"
    assert re.match(r"slow probe b{32}: found True after 3.2 s, 4 of 4 spans, roots 1, orphans 0, error spans 0, 450.0 ms", check["evidence"][2])
    md = vr.markdown(vr.summary([check], "c", WHEN))
    assert "routine probes: 203 of 2000 kept" in md.split("## Details of passing checks", 1)[1]


def test_sampling_probe_fails_with_the_modules_message():
    failed = copy.deepcopy(SENT)
    failed["msg"] = "sampling probes: slow probe (450 ms, threshold 300 ms) bbbb missing from Tempo after 15.0 s: ..."
    failed["sampling"]["probes"]["slow"].update(found=False, confirmed=False)
    check = by_id(vc.evaluate({"sampling_probe": {"failed": True, "result": failed, "targets": TARGETS}}))["sampling_probe"]
    assert check["status"] == "fail" and check["summary"] == failed["msg"]
    assert vc.failures([check]) == ["sampling_probe (fail): " + failed["msg"]]


def test_sampling_probe_warns_when_skipped_or_not_sent():
    checks = by_id(vc.evaluate({"sampling_probe": {"skipped": "waived", "targets": TARGETS}}))
    assert checks["sampling_probe"]["status"] == "warn" and checks["sampling_probe"]["summary"] == "waived"
    check_mode = {"probe_sent": False, "msg": "check mode: an error probe, a slow probe (450 ms against a 300 ms threshold) were not sent"}
    check = by_id(vc.evaluate({"sampling_probe": {"failed": False, "result": check_mode, "targets": TARGETS}}))["sampling_probe"]
    assert check["status"] == "warn" and check["summary"].startswith("check mode:")
    assert by_id(vc.evaluate({}))["sampling_probe"]["status"] == "warn", "nothing gathered never passes"


def test_bad_sampling_probe_settings_name_the_variable():
    errors = vc.settings_errors({"retention_min": "7d", "retention_max": "14d", "sampling_probe_routine_count": 20001,
                                 "sampling_probe_tolerance": -1, "sampling_probe_timeout": 0})
    assert errors == ["tracefleet_verify_sampling_probe_routine_count: expected a whole number from 0 to 20000, got 20001",
                      "tracefleet_verify_sampling_probe_tolerance: expected percentage points from 0 to 100, got -1",
                      "tracefleet_verify_sampling_probe_timeout: expected seconds above 0, got 0"]
    good = {"retention_min": "7d", "retention_max": "14d", "sampling_probe_routine_count": 2000,
            "sampling_probe_tolerance": 2.5, "sampling_probe_timeout": 60}
    assert vc.settings_errors(good) == []
    assert vs.settings_errors({"sampling_probe_routine_count": True}) == [
        "tracefleet_verify_sampling_probe_routine_count: expected a whole number from 0 to 20000, got True"]


def test_a_passing_injection_audit_shows_its_pod_counts_in_markdown_and_html():
    audit = vc.result("critical_workloads_instrumented", "pass", "2 workloads annotated and injected",
                      ["Deployment shop/checkout: inject-java, 2/2 pods injected",
                       "injection audit: 3 annotated pods checked, 3 pass, 0 fail"])
    report = vr.summary([audit], "prod-eu-1", WHEN)
    details = vr.markdown(report).split("## Details of passing checks", 1)[1]
    assert "injection audit: 3 annotated pods checked, 3 pass, 0 fail" in details
    passing = vr.fleet_html([report]).split('<h2 id="passing-details">', 1)[1]
    assert 'data-passing-check="critical_workloads_instrumented"' in passing
    assert "injection audit: 3 annotated pods checked, 3 pass, 0 fail" in passing
