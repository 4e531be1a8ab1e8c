"""Server-side apply helpers shared by the roles: apply_needed/apply_pending and k8s_apply_diff."""

import copy

from ansible_collections.tracefleet.otel.plugins.filter.instrumentation import FilterModule as InstrumentationFilters
from ansible_collections.tracefleet.otel.plugins.filter.k8s import FilterModule
from ansible_collections.tracefleet.otel.plugins.module_utils import k8s_apply as mu

FILTERS = FilterModule().filters()
plugin = mu


def test_the_filters_a_role_can_call():
    assert sorted(FILTERS) == ["apply_needed", "apply_pending", "k8s_apply_diff"]


# --- apply_needed: the server-side apply bookkeeping ------------------------------------------------

DESIRED = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"template": {"metadata": {"annotations": {"instrumentation.opentelemetry.io/inject-java": "true"}}}},
}


def _live(annotations, owned, manager="tracefleet"):
    fields = {"f:spec": {"f:template": {"f:metadata": {"f:annotations": dict(("f:" + k, {}) for k in owned)}}}} if owned else {}
    managed = [{"manager": "kubectl-client-side-apply", "operation": "Update", "fieldsV1": {"f:spec": {"f:replicas": {}}}}]
    if owned:
        managed.append({"manager": manager, "operation": "Apply", "fieldsV1": fields})
    return {"metadata": {"name": "web", "namespace": "shop", "managedFields": managed},
            "spec": {"replicas": 2, "template": {"metadata": {"annotations": annotations}}}}


def test_apply_is_needed_for_a_missing_object():
    assert mu.apply_needed(None, DESIRED)
    assert FILTERS["apply_needed"]({"resources": []}, DESIRED)


def test_apply_is_not_needed_when_the_fields_are_live_and_owned():
    live = _live({"instrumentation.opentelemetry.io/inject-java": "true", "other": "x"},
                 ["instrumentation.opentelemetry.io/inject-java"])
    assert not mu.apply_needed(live, DESIRED)
    assert not FILTERS["apply_needed"]({"resources": [live]}, DESIRED)


def test_apply_is_needed_when_a_value_differs_or_another_manager_took_the_field():
    live = _live({"instrumentation.opentelemetry.io/inject-java": "other"}, ["instrumentation.opentelemetry.io/inject-java"])
    assert mu.apply_needed(live, DESIRED)
    taken = _live({"instrumentation.opentelemetry.io/inject-java": "true"}, [])
    assert mu.apply_needed(taken, DESIRED)


def test_apply_is_needed_to_release_a_field_no_longer_wanted():
    live = _live({"instrumentation.opentelemetry.io/inject-java": "true", "instrumentation.opentelemetry.io/container-names": "app"},
                 ["instrumentation.opentelemetry.io/inject-java", "instrumentation.opentelemetry.io/container-names"])
    assert mu.apply_needed(live, DESIRED)
    identity = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
    assert mu.apply_needed(live, identity)
    assert not mu.apply_needed(_live({"x": "y"}, []), identity)


def test_dot_entries_in_managed_fields_are_ignored():
    live = _live({"instrumentation.opentelemetry.io/inject-java": "true"}, ["instrumentation.opentelemetry.io/inject-java"])
    live["metadata"]["managedFields"][1]["fieldsV1"]["f:spec"]["f:template"]["f:metadata"]["f:annotations"]["."] = {}
    assert not mu.apply_needed(live, DESIRED)


def test_apply_pending_pairs_reads_with_definitions():
    live = _live({"instrumentation.opentelemetry.io/inject-java": "true"}, ["instrumentation.opentelemetry.io/inject-java"])
    other = copy.deepcopy(DESIRED)
    other["metadata"]["name"] = "api"
    reads = {"results": [{"resources": [live]}, {"resources": []}]}
    assert FILTERS["apply_pending"](reads, [DESIRED, other]) == [other]


def test_apply_needed_on_the_instrumentation_with_labels_and_lists():
    objects = InstrumentationFilters().filters()["instrumentation_objects"]({"namespaces": ["shop"]})
    desired = objects[0]
    owned = mu.applied_fields(desired)
    assert owned["f:metadata"] == {"f:labels": {"f:app.kubernetes.io/managed-by": {}, "f:app.kubernetes.io/part-of": {}}}
    assert owned["f:spec"]["f:propagators"] == {} and owned["f:spec"]["f:java"] == {"f:image": {}, "f:env": {}}
    live = copy.deepcopy(desired)
    live["spec"]["java"]["resources"] = {"limits": {"cpu": "500m"}}   # webhook defaults, owned by nobody
    live["metadata"]["managedFields"] = [{"manager": "tracefleet", "operation": "Apply", "fieldsV1": owned}]
    assert not mu.apply_needed(live, desired)
    changed = InstrumentationFilters().filters()["instrumentation_objects"]({"namespaces": ["shop"], "propagators": ["tracecontext"]})[0]
    assert mu.apply_needed(live, changed)


# --- k8s_apply_diff: what --diff shows for the role's one list apply -----------------------------

def _applied(kind, name, changed, before=None, after=None, namespace="tempo"):
    return {"changed": changed, "method": "apply", "diff": {"before": before, "after": after} if changed else {},
            "result": {"kind": kind, "metadata": {"name": name, "namespace": namespace}}}


def test_apply_diff_shows_one_line_diff_per_changed_object():
    before = {"data": {"tempo.yaml": "compactor:\n  compaction:\n    block_retention: 168h\n"},
              "metadata": {"managedFields": [{"manager": "tracefleet"}], "resourceVersion": "41"}}
    after = {"data": {"tempo.yaml": "compactor:\n  compaction:\n    block_retention: 336h\n"},
             "metadata": {"managedFields": [{"manager": "tracefleet"}], "resourceVersion": "42"}}
    result = {"changed": True, "result": {"results": [
        _applied("Namespace", "tempo", False, namespace=None),
        _applied("ConfigMap", "tempo", True, before, after),
        _applied("StatefulSet", "tempo", True, {"metadata": {"generation": 1}, "spec": {"replicas": 1}},
                 {"metadata": {"generation": 2}, "spec": {"replicas": 2}}),
    ]}}
    lines = plugin.k8s_apply_diff(result)
    text = "\n".join(lines)
    assert lines[:7] == [
        "--- ConfigMap tempo/tempo (live)",
        "+++ ConfigMap tempo/tempo (applied)",
        "@@ -1,3 +1,3 @@",
        " data.tempo.yaml | compactor:",
        " data.tempo.yaml |   compaction:",
        "-data.tempo.yaml |     block_retention: 168h",
        "+data.tempo.yaml |     block_retention: 336h",
    ]
    assert lines[7:] == ["--- StatefulSet tempo/tempo (live)", "+++ StatefulSet tempo/tempo (applied)", "@@ -1 +1 @@",
                         "-spec.replicas: 1", "+spec.replicas: 2"]
    assert "generation" not in text and "resourceVersion" not in text and "managedFields" not in text


def test_apply_diff_of_a_new_object_and_of_nothing():
    created = {"changed": True, "result": {"results": [
        {"changed": True, "method": "create", "diff": {}, "result": {"kind": "Service", "metadata": {"name": "tempo", "namespace": "t"}}}]}}
    assert plugin.k8s_apply_diff(created) == ["--- Service t/tempo (live)", "+++ Service t/tempo (applied)", "@@ -0,0 +1 @@", "+(create)"]
    assert plugin.k8s_apply_diff({"changed": False, "result": {"results": []}}) == []
    assert plugin.k8s_apply_diff(None) == []


def test_apply_diff_names_objects_a_dry_run_could_not_apply():
    error = {"msg": 'Failed to apply object: {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
                    '"message":"namespaces \\"new\\" not found","reason":"NotFound","code":404}\n', "reason": "Not Found"}
    result = {"changed": True, "result": {"results": [
        _applied("Namespace", "new", True, {}, {"metadata": {"name": "new"}}, namespace=None),
        {"changed": False, "result": {}, "error": error},
    ]}}
    definitions = [{"kind": "Namespace", "metadata": {"name": "new"}}, {"kind": "ConfigMap", "metadata": {"name": "tempo", "namespace": "new"}}]
    lines = plugin.k8s_apply_diff(result, definitions)
    assert lines[-1] == 'ConfigMap new/tempo: not applied: namespaces "new" not found'
    assert "+metadata.name: \"new\"" in lines
