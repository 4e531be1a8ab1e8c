"""The annotate role's logic: which annotations go on which pod template, what is refused and why."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.tracefleet.otel.plugins.filter.instrumentation import FilterModule
from ansible_collections.tracefleet.otel.plugins.module_utils import instrumentation as mu

FILTERS = FilterModule().filters()
errors = FILTERS["annotate_errors"]
plan = FILTERS["annotate_plan"]

JAVA = {"namespace": "shop", "name": "checkout", "language": "java"}
PYTHON = {"namespace": "shop", "name": "recommender", "language": "python", "instrumentation": "shop/tracefleet",
          "container_names": ["app"]}
GO = {"namespace": "shop", "name": "edge", "language": "go", "go_target_exe": "/app/edge", "kind": "DaemonSet"}


def deployment(name, containers=("app",), annotations=None, owned=None, kind="Deployment"):
    managed = []
    if owned:
        managed.append({"manager": "tracefleet", "operation": "Apply", "fieldsV1": {"f:spec": {"f:template": {"f:metadata": {
            "f:annotations": dict(("f:" + key, {}) for key in owned)}}}}})
    return {"kind": kind, "metadata": {"name": name, "namespace": "shop", "managedFields": managed},
            "spec": {"template": {"metadata": {"annotations": annotations or {}},
                                  "spec": {"containers": [{"name": c} for c in containers]}}}}


def test_annotations_go_on_the_pod_template_only():
    definition = mu.workload_definition(JAVA, "present")
    assert definition == {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "checkout", "namespace": "shop"},
        "spec": {"template": {"metadata": {"annotations": {"instrumentation.opentelemetry.io/inject-java": "true"}}}},
    }
    assert "annotations" not in definition["metadata"]


def test_container_names_and_named_instrumentation():
    assert mu.workload_annotations(PYTHON) == {
        "instrumentation.opentelemetry.io/inject-python": "shop/tracefleet",
        "instrumentation.opentelemetry.io/container-names": "app",
    }


def test_go_gets_its_target_executable():
    assert mu.workload_annotations(GO) == {
        "instrumentation.opentelemetry.io/inject-go": "true",
        "instrumentation.opentelemetry.io/otel-go-auto-target-exe": "/app/edge",
    }
    assert mu.workload_definition(GO, "present")["kind"] == "DaemonSet"


def test_absent_applies_the_identity_alone():
    assert mu.workload_definition(PYTHON, "absent") == {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "recommender", "namespace": "shop"}}


@pytest.mark.parametrize("value", [True, "True", "TRUE"])
def test_an_unquoted_yaml_true_means_true(value):
    assert mu.workload_annotations(dict(JAVA, instrumentation=value)) == {"instrumentation.opentelemetry.io/inject-java": "true"}
    assert errors({"workloads": [dict(JAVA, instrumentation=value)]}) == []


ANNOTATE_CASES = [
    ({"language": "sdk"}, "workloads[0].language", "'sdk' is refused"),
    ({"language": "sdk"}, "workloads[0].language", "attaches no language agent"),
    ({"language": "ruby"}, "workloads[0].language", "expected one of java, nodejs, python, dotnet, go, got 'ruby'"),
    ({"language": None}, "workloads[0].language", "required"),
    ({"language": "go"}, "workloads[0].go_target_exe", "required for language go"),
    ({"language": "go", "go_target_exe": "edge"}, "workloads[0].go_target_exe", "absolute path"),
    ({"go_target_exe": "/app/edge"}, "workloads[0].go_target_exe", "only for language go"),
    ({"language": "go", "go_target_exe": "/a", "container_names": ["a", "b"]}, "workloads[0].container_names", "one container"),
    ({"namespace": None}, "workloads[0].namespace", "required"),
    ({"namespace": "Shop"}, "workloads[0].namespace", "Kubernetes name"),
    ({"name": "Checkout_1"}, "workloads[0].name", "Kubernetes object name"),
    ({"kind": "Job"}, "workloads[0].kind", "Deployment, StatefulSet, DaemonSet"),
    ({"instrumentation": "a/b/c"}, "workloads[0].instrumentation", "namespace/name"),
    ({"instrumentation": "false"}, "workloads[0].instrumentation", "state: absent"),
    ({"container_names": "app"}, "workloads[0].container_names", "list of container names"),
    ({"container_names": ["app", "app"]}, "workloads[0].container_names", "each container once"),
    ({"image": "x"}, "workloads[0]", "unknown keys image"),
]


@pytest.mark.parametrize("change, variable, words", ANNOTATE_CASES)
def test_bad_workloads_name_the_variable(change, variable, words):
    workload = dict(JAVA, **change)
    problems = errors({"workloads": [workload]})
    named = [p for p in problems if p.startswith("tracefleet_annotate_%s:" % variable)]
    assert named, problems
    assert any(words in p for p in named), named


@pytest.mark.parametrize("settings, variable, words", [
    ({"workloads": [JAVA, dict(JAVA, language="python")]}, "workloads[1]", "the same workload as tracefleet_annotate_workloads[0]"),
    ({"workloads": "checkout"}, "workloads", "a list of workloads"),
    ({"workloads": ["checkout"]}, "workloads[0]", "expected a dict"),
    ({"missing": "ignore"}, "missing", "'fail', 'warn'"),
    ({"max_parallel": 0}, "max_parallel", "at least 1"),
    ({"wait_timeout": -1}, "wait_timeout", "at least 1"),
    ({"state": "removed"}, "state", "'present', 'absent'"),
    ({"restart": "always"}, "restart", "'on_change', 'never'"),
    ({"wokloads": []}, "wokloads", "unknown setting"),
])
def test_bad_settings_name_the_variable(settings, variable, words):
    problems = errors(settings)
    named = [p for p in problems if p.startswith("tracefleet_annotate_%s:" % variable)]
    assert named, problems
    assert any(words in p for p in named), named


def test_the_same_name_in_another_kind_is_another_workload():
    assert errors({"workloads": [JAVA, dict(JAVA, kind="StatefulSet")]}) == []


def test_plan_marks_missing_changed_and_unchanged_workloads():
    live_java = deployment("checkout", annotations={"instrumentation.opentelemetry.io/inject-java": "true", "x": "y"},
                           owned=["instrumentation.opentelemetry.io/inject-java"])
    live_python = deployment("recommender", containers=("cache-warmer", "app"))
    settings = {"workloads": [JAVA, PYTHON, dict(JAVA, name="ghost")]}
    reads = {"results": [{"resources": [live_java]}, {"resources": [live_python]}, {"resources": []}]}
    result = plan(settings, reads)
    assert [(p["ref"], p["exists"], p["changed"]) for p in result] == [
        ("Deployment shop/checkout", True, False),
        ("Deployment shop/recommender", True, True),
        ("Deployment shop/ghost", False, False),
    ]
    assert result[1]["containers"] == ["cache-warmer", "app"]
    assert result[1]["definition"] == mu.workload_definition(PYTHON, "present")


def test_plan_for_absent_changes_only_workloads_the_role_annotated():
    ours = deployment("checkout", annotations={"instrumentation.opentelemetry.io/inject-java": "true"},
                      owned=["instrumentation.opentelemetry.io/inject-java"])
    theirs = deployment("recommender", annotations={"instrumentation.opentelemetry.io/inject-python": "true"})
    result = plan({"state": "absent", "workloads": [JAVA, PYTHON]}, [{"resources": [ours]}, {"resources": [theirs]}])
    assert [p["changed"] for p in result] == [True, False]


def test_missing_workloads_fail_or_warn():
    settings = {"workloads": [JAVA]}
    missing = plan(settings, [{"resources": []}])
    assert FILTERS["annotate_live_errors"](settings, missing) == [
        "tracefleet_annotate_workloads[0]: Deployment shop/checkout does not exist "
        "(set tracefleet_annotate_missing: warn to skip missing workloads)"]
    warn = dict(settings, missing="warn")
    assert FILTERS["annotate_live_errors"](warn, missing) == []
    assert FILTERS["annotate_missing_warnings"](warn, missing) == [
        "tracefleet_annotate_workloads[0]: Deployment shop/checkout does not exist; skipped (tracefleet_annotate_missing: warn)"]
    assert FILTERS["annotate_missing_warnings"](settings, missing) == []


def test_container_names_must_exist_in_the_pod_template():
    settings = {"workloads": [dict(PYTHON, container_names=["app", "worker"])]}
    result = plan(settings, [{"resources": [deployment("recommender", containers=("cache-warmer", "app"))]}])
    assert FILTERS["annotate_live_errors"](settings, result) == [
        "tracefleet_annotate_workloads[0].container_names: Deployment shop/recommender has no container worker "
        "(its pod template has cache-warmer, app)"]


def test_instrumentation_references_are_checked_against_the_cluster():
    settings = {"workloads": [JAVA, PYTHON, dict(JAVA, name="api", instrumentation="observability/global"),
                              dict(JAVA, name="web", instrumentation="nope")]}
    assert FILTERS["annotate_instrumentation_namespaces"](settings) == ["observability", "shop"]
    reads = [{"item": "observability", "resources": []},
             {"item": "shop", "resources": [{"metadata": {"name": "tracefleet"}}]}]
    assert FILTERS["annotate_instrumentation_errors"](settings, reads) == [
        "tracefleet_annotate_workloads[2].instrumentation: no Instrumentation observability/global (the operator would "
        "start the pods without injection); found none",
        "tracefleet_annotate_workloads[3].instrumentation: no Instrumentation shop/nope (the operator would start the "
        "pods without injection); found tracefleet",
    ]


def test_true_needs_exactly_one_instrumentation_in_the_namespace():
    settings = {"workloads": [JAVA]}
    two = [{"item": "shop", "resources": [{"metadata": {"name": "a"}}, {"metadata": {"name": "b"}}]}]
    assert FILTERS["annotate_instrumentation_errors"](settings, two) == [
        "tracefleet_annotate_workloads[0].instrumentation: \"true\" needs exactly one Instrumentation in namespace "
        "shop, found a, b; name one"]
    assert FILTERS["annotate_instrumentation_errors"](settings, [{"item": "shop", "resources": [{"metadata": {"name": "a"}}]}]) == []


def test_plan_refuses_invalid_settings():
    with pytest.raises(AnsibleFilterError) as err:
        plan({"workloads": [dict(JAVA, language="sdk")]}, [])
    assert "tracefleet_annotate_workloads[0].language" in str(err.value)


def test_planned_instrumentations_count_as_present_in_check_mode():
    # A fresh cluster under --check: the instrumentation role created nothing yet, but says what it would apply.
    settings = {"workloads": [dict(JAVA, instrumentation="tracefleet")]}
    empty = [{"item": "shop", "resources": []}]
    assert FILTERS["annotate_instrumentation_errors"](settings, empty) != []
    assert FILTERS["annotate_instrumentation_errors"](settings, empty, ["shop/tracefleet"]) == []
    # Planned elsewhere (or under another name) does not excuse a wrong reference.
    assert FILTERS["annotate_instrumentation_errors"](settings, empty, ["other/tracefleet", "shop/global"]) != []
