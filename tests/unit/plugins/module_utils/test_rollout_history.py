"""Rollout history: the applied part of live objects, entries, trimming, the rollback target and plan
(module_utils/rollout_history.py and its filters)."""

import copy
import json

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.tracefleet.otel.plugins.filter.rollout_history import FilterModule
from ansible_collections.tracefleet.otel.plugins.module_utils.rollout_history import (
    applied_object,
    applied_objects,
    choose_target,
    configmap_data,
    digest,
    helm_plan,
    helm_revision_problem,
    parse_entries,
    record,
    rollback_plan,
    trim,
)

FILTERS = FilterModule().filters()


def _collector(replicas=3, threshold=2000, manager="tracefleet"):
    """A live collector as the apiserver returns it: our applied fields, the webhook's defaults, status."""
    return {
        "apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
        "metadata": {
            "name": "gateway", "namespace": "observability", "resourceVersion": "41", "generation": 3, "uid": "u1",
            "labels": {"app.kubernetes.io/part-of": "tracefleet", "added-by-someone": "x"},
            "managedFields": [
                {"manager": manager, "operation": "Apply", "apiVersion": "opentelemetry.io/v1beta1",
                 "fieldsV1": {"f:metadata": {"f:labels": {"f:app.kubernetes.io/part-of": {}}},
                              "f:spec": {"f:replicas": {}, "f:mode": {},
                                         "f:env": {"k:{\"name\":\"A\"}": {".": {}, "f:name": {}, "f:value": {}}},
                                         "f:config": {"f:processors": {"f:tail_sampling": {"f:policies": {}}}}}}},
                {"manager": "manager", "operation": "Update", "subresource": "status", "fieldsV1": {"f:status": {}}},
                {"manager": "opentelemetry-operator", "operation": "Update",
                 "fieldsV1": {"f:spec": {"f:upgradeStrategy": {}, "f:managementState": {}}}},
            ]},
        "spec": {"replicas": replicas, "mode": "deployment", "upgradeStrategy": "automatic", "managementState": "managed",
                 "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "webhook"}],
                 "config": {"processors": {"tail_sampling": {"policies": [
                     {"name": "keep-slow", "latency": {"threshold_ms": threshold}}]}}}},
        "status": {"version": "0.158.0", "scale": {"replicas": replicas}},
    }


RELEASE = {"name": "opentelemetry-operator", "namespace": "opentelemetry-operator-system",
           "chart": "opentelemetry-operator-0.102.0", "app_version": "0.141.0", "revision": "1",
           "status": "deployed", "values": {"replicaCount": 1}}


def test_applied_object_keeps_only_the_managers_fields():
    assert applied_object(_collector()) == {
        "apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
        "metadata": {"name": "gateway", "namespace": "observability", "labels": {"app.kubernetes.io/part-of": "tracefleet"}},
        "spec": {"replicas": 3, "mode": "deployment", "env": [{"name": "A", "value": "1"}],
                 "config": {"processors": {"tail_sampling": {"policies": [
                     {"name": "keep-slow", "latency": {"threshold_ms": 2000}}]}}}}}


def test_objects_another_manager_applied_are_not_recorded():
    assert applied_object(_collector(manager="kubectl")) is None
    assert applied_objects([_collector(manager="kubectl"), _collector()])[0]["key"] == \
        "OpenTelemetryCollector observability/gateway"
    assert len(applied_objects([_collector(manager="kubectl")])) == 0


def test_digest_ignores_defaults_and_status_but_not_applied_fields():
    a, b = applied_objects([_collector()])[0], applied_objects([_collector(threshold=5000)])[0]
    defaulted = _collector()
    defaulted["spec"]["upgradeStrategy"] = "none"
    defaulted["status"]["scale"]["replicas"] = 1
    assert applied_objects([defaulted])[0]["digest"] == a["digest"]
    assert b["digest"] != a["digest"]
    assert digest(None) == digest({})


def test_record_adds_an_entry_only_when_the_state_changed():
    objects = applied_objects([_collector()])
    one = record([], RELEASE, objects, "t1", "1.0.0", keep=5)
    assert [e["id"] for e in one] == [1] and one[0]["reason"] == "rollout"
    assert one[0]["operator"] == {"release": "opentelemetry-operator", "namespace": "opentelemetry-operator-system",
                                  "chart": "opentelemetry-operator-0.102.0", "app_version": "0.141.0", "revision": 1,
                                  "values_digest": digest({"replicaCount": 1})}
    # Same state, a later Helm revision (a rollback or a no-op upgrade): nothing new.
    assert record(one, dict(RELEASE, revision="3"), objects, "t2", "1.0.0", keep=5) == one
    two = record(one, RELEASE, applied_objects([_collector(replicas=5)]), "t2", "1.0.0", keep=5)
    assert [e["id"] for e in two] == [1, 2]
    values = record(two, dict(RELEASE, values={"replicaCount": 2}), two[-1]["objects"], "t3", "1.0.0", keep=5)
    assert [e["id"] for e in values] == [1, 2, 3]
    back = record(values, RELEASE, objects, "t4", "1.0.0", keep=5, reason="rollback", rolled_back_to=1)
    assert back[-1]["rolled_back_to"] == 1 and back[-1]["digest"] == one[0]["digest"]


def test_trim_keeps_the_newest_and_respects_the_size_limit():
    entries = [{"id": i, "blob": "x" * 100} for i in range(1, 8)]
    assert [e["id"] for e in trim(entries, 5)] == [3, 4, 5, 6, 7]
    size = len(json.dumps(entries[0], sort_keys=True, separators=(",", ":")))
    assert [e["id"] for e in trim(entries, 5, limit=size * 2 + 1)] == [6, 7]
    with pytest.raises(ValueError, match="more than the 10 a history ConfigMap may hold"):
        trim(entries, 5, limit=10)
    with pytest.raises(AnsibleFilterError, match="history_record"):
        FILTERS["history_record"]([], RELEASE, [], "t", "1", 5, limit=10)


def test_configmap_round_trip():
    entries = record([], RELEASE, applied_objects([_collector()]), "t1", "1.0.0", keep=5)
    entries = record(entries, RELEASE, applied_objects([_collector(replicas=5)]), "t2", "1.0.0", keep=5)
    data = configmap_data(entries)
    assert sorted(data) == ["entry-000001.json", "entry-000002.json"]
    assert parse_entries({"resources": [{"data": dict(data, other="x")}]}) == entries
    assert parse_entries({"resources": []}) == []


def test_target_is_the_previous_different_state_and_a_second_rollback_undoes_the_first():
    a = record([], RELEASE, applied_objects([_collector()]), "t1", "1", keep=5)
    ab = record(a, RELEASE, applied_objects([_collector(replicas=5)]), "t2", "1", keep=5)
    choice = choose_target(ab)
    assert (choice["current"]["id"], choice["target"]["id"]) == (2, 1)
    aba = record(ab, RELEASE, a[0]["objects"], "t3", "1", keep=5, reason="rollback", rolled_back_to=1)
    assert choose_target(aba)["target"]["id"] == 2
    assert choose_target(aba, rollback_to=1)["target"]["id"] == 1


def test_no_previous_state_is_a_clear_error():
    assert "no rollout is recorded in ConfigMap x/y" in choose_target([], where="ConfigMap x/y")["error"]
    a = record([], RELEASE, applied_objects([_collector()]), "t1", "1", keep=5)
    error = choose_target(a)["error"]
    assert "no previous recorded rollout" in error and "1 entry (#1 rollout t1)" in error
    assert "entry 7 is not in the history (it holds entries 1)" == choose_target(a, rollback_to=7)["error"]


def test_rollback_plan_applies_what_differs_and_deletes_what_was_added():
    a = record([], RELEASE, applied_objects([_collector()]), "t1", "1", keep=5)[0]
    extra = _collector()
    extra["metadata"]["name"] = "extra"
    live = [_collector(replicas=5, threshold=5000), extra]
    plan = rollback_plan(a, live, dict(RELEASE, revision="2", values={"replicaCount": 2}))
    assert plan["apply"] == [a["objects"][0]["applied"]]
    assert plan["delete"] == [{"apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
                               "metadata": {"name": "extra", "namespace": "observability"}}]
    assert plan["helm"]["needed"] and plan["helm"]["revision"] == 1
    # Already there: nothing to do (the webhook's defaults do not count).
    same = rollback_plan(a, [_collector()], dict(RELEASE, revision="3"))
    assert same["apply"] == [] and same["delete"] == [] and not same["helm"]["needed"]
    # The filter takes k8s_info loop results.
    reads = {"results": [{"resources": [_collector()]}, {"skipped": True}]}
    assert FILTERS["history_rollback_plan"](a, reads, RELEASE)["apply"] == []


def test_helm_plan_without_release_or_record():
    assert helm_plan(None, RELEASE)["needed"] is False
    recorded = record([], RELEASE, [], "t", "1", 5)[0]["operator"]
    plan = helm_plan(recorded, None)
    assert plan["needed"] and "not installed" in plan["reason"]


def test_helm_revision_problem_checks_history_chart_and_values():
    recorded = record([], RELEASE, [], "t", "1", 5)[0]["operator"]
    history = [{"revision": 1, "chart": "opentelemetry-operator-0.102.0"}, {"revision": 2, "chart": "opentelemetry-operator-0.103.0"}]
    assert helm_revision_problem(recorded, history, {"replicaCount": 1}) == ""
    assert "has values" in helm_revision_problem(recorded, history, {"replicaCount": 9})
    assert "no longer in Helm's history (it keeps revisions 2)" in helm_revision_problem(recorded, history[1:], {})
    moved = copy.deepcopy(history)
    moved[0]["chart"] = "other-1.0.0"
    assert "is chart other-1.0.0" in helm_revision_problem(recorded, moved, {"replicaCount": 1})


def test_list_items_by_set_and_index():
    obj = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "n", "managedFields": [
        {"manager": "tracefleet", "operation": "Apply",
         "fieldsV1": {"f:spec": {"f:set": {"v:\"a\"": {}}, "f:idx": {"i:1": {"f:x": {}}}}}}]},
        "spec": {"set": ["a", "b"], "idx": [{"x": 0, "y": 0}, {"x": 1, "y": 1}]}}
    assert applied_object(obj)["spec"] == {"set": ["a"], "idx": [{"x": 1}]}
