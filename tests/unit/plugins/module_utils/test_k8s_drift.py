"""Field-level drift from check-mode apply results (module_utils/k8s_drift.py)."""

from ansible_collections.tracefleet.otel.plugins.filter.k8s_drift import FilterModule
from ansible_collections.tracefleet.otel.plugins.module_utils.k8s_drift import drift, drift_check, leaves

LIVE = {"apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
        "metadata": {"name": "gateway", "namespace": "observability", "resourceVersion": "41", "generation": 3,
                     "managedFields": [{"manager": "kubectl-patch"}]},
        "spec": {"replicas": 5, "config": {"processors": {"tail_sampling": {"policies": [
            {"name": "keep-slow", "latency": {"threshold_ms": 5000}}]}}}},
        "status": {"version": "0.158.0"}}
WANTED = {"apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
          "metadata": {"name": "gateway", "namespace": "observability", "resourceVersion": "42", "generation": 4},
          "spec": {"replicas": 3, "config": {"processors": {"tail_sampling": {"policies": [
              {"name": "keep-slow", "latency": {"threshold_ms": 2000}}]}}}},
          "status": {"version": "0.158.0"}}


def _list_apply(*items):
    return {"changed": any(i.get("changed") for i in items), "result": {"results": list(items)}}


def test_leaves_skip_status_and_bookkeeping():
    assert leaves(LIVE) == {
        "apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
        "metadata.name": "gateway", "metadata.namespace": "observability", "spec.replicas": 5,
        "spec.config.processors.tail_sampling.policies[0].name": "keep-slow",
        "spec.config.processors.tail_sampling.policies[0].latency.threshold_ms": 5000}


def test_each_changed_field_is_one_entry_with_live_and_wanted():
    found = drift([_list_apply({"changed": True, "diff": {"before": LIVE, "after": WANTED}, "result": WANTED},
                               {"changed": False, "result": {"kind": "Namespace", "metadata": {"name": "observability"}}})])
    assert found == [
        {"object": "OpenTelemetryCollector observability/gateway",
         "field": "spec.config.processors.tail_sampling.policies[0].latency.threshold_ms", "live": "5000", "wanted": "2000"},
        {"object": "OpenTelemetryCollector observability/gateway", "field": "spec.replicas", "live": "5", "wanted": "3"}]


def test_a_missing_object_is_one_entry():
    created = {"kind": "Instrumentation", "metadata": {"name": "tracefleet", "namespace": "shop"}}
    found = drift([{"changed": True, "diff": {"before": {}, "after": created}, "result": created}])
    assert found == [{"object": "Instrumentation shop/tracefleet", "field": "(object)", "live": "(absent)", "wanted": "present"}]


def test_skipped_unchanged_and_looped_results():
    looped = {"results": [{"changed": True, "diff": {"before": LIVE, "after": dict(LIVE, spec=dict(LIVE["spec"], replicas=4))}}]}
    assert drift([{"skipped": True}, {"changed": False}, {}, looped]) == [
        {"object": "OpenTelemetryCollector observability/gateway", "field": "spec.replicas", "live": "5", "wanted": "4"}]


def test_the_drift_check_for_the_fleet_page():
    assert drift_check([])["status"] == "pass"
    check = drift_check([{"object": "A x", "field": "spec.a", "live": "1", "wanted": "2"},
                         {"object": "A x", "field": "spec.b", "live": "(absent)", "wanted": "3"}])
    assert check["status"] == "fail" and check["summary"] == "2 fields differ in 1 object: A x"
    assert check["evidence"] == ["A x spec.a: live 1, wanted 2", "A x spec.b: live (absent), wanted 3"]


def test_the_filters():
    assert sorted(FilterModule().filters()) == ["k8s_drift", "k8s_drift_check"]


def test_what_could_not_be_checked_is_a_warn_without_drift_and_listed_with_it():
    check = drift_check([], ["role tracefleet.otel.annotate failed in check mode: no Instrumentation"])
    assert check["status"] == "warn"
    assert check["evidence"] == ["not checked: role tracefleet.otel.annotate failed in check mode: no Instrumentation"]
    check = drift_check([{"object": "A x", "field": "(object)", "live": "(absent)", "wanted": "present"}], ["r failed"])
    assert check["status"] == "fail" and check["evidence"][-1] == "not checked: r failed"
