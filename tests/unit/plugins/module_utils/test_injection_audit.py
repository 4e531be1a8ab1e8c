"""The injection audit (plugins/module_utils/injection_audit.py): for each reason an input that passes and
one that fails; and the annotate role's restart plan (what restarts, why, and that a re-run restarts nothing).

Pods are built the way the operator v0.141.0 mutates them (internal/instrumentation: the init container and
volume `opentelemetry-auto-instrumentation-<language>`, the volume mounted into each instrumented container,
the Instrumentation's language env appended). The Instrumentation comes from the instrumentation role's
own builder, so the tests see what the role applies. The real operator run is
tests/integration/test_injection_heal.py.
"""

import copy

import pytest

from ansible_collections.tracefleet.otel.plugins.filter.injection_audit import FilterModule
from ansible_collections.tracefleet.otel.plugins.module_utils import injection_audit as ia
from ansible_collections.tracefleet.otel.plugins.module_utils.instrumentation import (
    instrumentation_objects,
    workload_definition,
)

INST = instrumentation_objects({"namespaces": ["shop"], "name": "tracefleet"})[0]
INST["metadata"]["creationTimestamp"] = "2026-11-25T05:00:00Z"
JAVA_IMAGE = INST["spec"]["java"]["image"]


def inst(**spec_changes):
    obj = copy.deepcopy(INST)
    for language, image in spec_changes.items():
        obj["spec"][language]["image"] = image
    return obj


def mutated_pod(name="checkout-7d9f-abcde", language="java", containers=("app",), instrument=None, image=None,
                instrumentation=INST, annotations=None, created="2026-11-25T06:00:00Z"):
    """A pod as the operator's webhook returns it (instrument: the containers that got the agent)."""
    instrument = list(containers[:1]) if instrument is None else list(instrument)
    spec_lang = instrumentation["spec"][language]
    pod = {
        "metadata": {"name": name, "namespace": "shop", "uid": name, "creationTimestamp": created,
                     "labels": {"pod-template-hash": "7d9f"},
                     "ownerReferences": [{"kind": "ReplicaSet", "name": "checkout-7d9f", "controller": True}],
                     "annotations": dict({ia.INJECT_PREFIX + language: "true"}, **(annotations or {}))},
        "spec": {"containers": [], "initContainers": []},
    }
    for cname in containers:
        container = {"name": cname, "image": "registry.example.com/shop/%s:1" % cname}
        if cname in instrument and language != "go":
            container["env"] = copy.deepcopy(spec_lang["env"]) + [{"name": "OTEL_SERVICE_NAME", "value": "checkout"}]
            container["volumeMounts"] = [{"name": ia.AGENT + "-" + language, "mountPath": "/otel-auto-instrumentation-" + language}]
        pod["spec"]["containers"].append(container)
    if language == "go":
        pod["spec"]["containers"].append({"name": ia.AGENT, "image": image or spec_lang["image"], "env": copy.deepcopy(spec_lang["env"])})
    else:
        pod["spec"]["initContainers"].append({"name": ia.AGENT + "-" + language, "image": image or spec_lang["image"]})
    return pod


def plain_pod(name="checkout-7d9f-fghij", language="java", created="2026-11-25T06:00:00Z"):
    """A pod the webhook never saw: the annotation, nothing else."""
    pod = mutated_pod(name, language, instrument=[], created=created)
    pod["spec"]["initContainers"] = []
    pod["spec"]["containers"] = [c for c in pod["spec"]["containers"] if c["name"] != ia.AGENT]
    return pod


def reasons(pod, instrumentations=(INST,), **kwargs):
    return ia.audit_pod(pod, list(instrumentations), **kwargs)["reasons"]


# --- one reason each: pass and fail -----------------------------------------------------------------

def test_a_mutated_pod_passes():
    for language in ("java", "nodejs", "python", "dotnet", "go"):
        assert reasons(mutated_pod(language=language)) == [], language


def test_webhook_unavailable():
    finding = ia.audit_pod(plain_pod(), [INST])
    assert finding["reasons"] == [ia.REASON_WEBHOOK]
    assert finding["workload"] == "Deployment shop/checkout"
    assert "no init container opentelemetry-auto-instrumentation-java" in finding["details"][0]
    go = plain_pod(language="go")
    assert reasons(go) == [ia.REASON_WEBHOOK]


def test_pod_older_than_the_instrumentation_is_not_blamed_on_the_webhook():
    assert reasons(plain_pod(created="2026-11-25T04:00:00Z")) == [ia.REASON_BEFORE_INSTRUMENTATION]


def test_agent_image_older_than_instrumentation():
    newer = inst(java=JAVA_IMAGE.replace("2.22.0", "2.23.0"))
    assert reasons(mutated_pod(), [INST]) == []
    finding = ia.audit_pod(mutated_pod(), [newer])
    assert finding["reasons"] == [ia.REASON_IMAGE]
    assert "autoinstrumentation-java:2.22.0" in finding["details"][0] and "2.23.0" in finding["details"][0]


def test_wrong_container():
    two = ("cache-warmer", "app")
    named = {ia.CONTAINER_NAMES: "app"}
    assert reasons(mutated_pod(containers=two, instrument=["app"], annotations=named)) == []
    # The language-specific annotation wins over container-names (operator setLanguageSpecificContainers).
    specific = {ia.CONTAINER_NAMES: "cache-warmer", ia.ANNOTATION_PREFIX + "java-container-names": "app"}
    assert reasons(mutated_pod(containers=two, instrument=["app"], annotations=specific)) == []
    # Created before container-names was set: the first container got the agent.
    assert reasons(mutated_pod(containers=two, instrument=["cache-warmer"], annotations=named)) == [ia.REASON_CONTAINER]
    # The annotate role's container_names decide for the workloads it manages.
    assert reasons(mutated_pod(containers=two, instrument=["cache-warmer"]), wanted_containers=["app"]) == [ia.REASON_CONTAINER]


def test_endpoint_port():
    assert reasons(mutated_pod(language="python")) == []
    grpc_port = mutated_pod(language="python")
    for env in grpc_port["spec"]["containers"][0]["env"]:
        if env["name"] == "OTEL_EXPORTER_OTLP_ENDPOINT":
            env["value"] = "http://agent-collector.observability.svc.cluster.local:4317"
    finding = ia.audit_pod(grpc_port, [INST])
    assert finding["reasons"] == [ia.REASON_PORT]
    assert "exports http/protobuf to http://agent-collector.observability.svc.cluster.local:4317 (port 4317), " \
           "expected port 4318" in finding["details"][0]
    # grpc on 4317 is right; the traces-specific variables win over the general ones.
    grpc = mutated_pod(language="java")
    env = grpc["spec"]["containers"][0]["env"]
    env.append({"name": "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "value": "grpc"})
    assert reasons(grpc) == [ia.REASON_PORT]
    env.append({"name": "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "value": "http://agent:4317"})
    assert reasons(grpc) == []
    # Configured ports count, not the defaults.
    assert reasons(mutated_pod(language="python"), settings={"otlp_http_port": 14318}) == [ia.REASON_PORT]


def test_protocol_defaults_by_agent():
    assert ia.default_protocol("python", "x/autoinstrumentation-python:0.60b0") == "http/protobuf"
    assert ia.default_protocol("java", "x/autoinstrumentation-java:2.22.0") == "http/protobuf"
    assert ia.default_protocol("java", "x/autoinstrumentation-java:1.33.6") == "grpc"
    assert ia.endpoint_port("http://h:4318") == 4318 and ia.endpoint_port("https://h") == 443
    assert ia.endpoint_port("http://$(OTEL_NODE_IP):4318") is None


def test_no_instrumentation_and_not_annotated():
    assert reasons(mutated_pod(), []) == [ia.REASON_NO_INSTRUMENTATION]
    pod = mutated_pod()
    del pod["metadata"]["annotations"][ia.INJECT_PREFIX + "java"]
    assert reasons(pod, language="java") == [ia.REASON_NOT_ANNOTATED]
    assert reasons(mutated_pod(), language="java") == []


def test_audit_covers_managed_workloads_and_every_annotated_pod_once():
    good, bad = mutated_pod("checkout-7d9f-good"), plain_pod("checkout-7d9f-bad")
    other = plain_pod("other-1")
    other["metadata"]["ownerReferences"] = []
    unannotated = plain_pod("plain-1")
    unannotated["metadata"]["annotations"] = {}
    deleting = plain_pod("checkout-7d9f-gone")
    deleting["metadata"]["deletionTimestamp"] = "2026-11-25T06:10:00Z"
    template = {"spec": {"template": {"metadata": {"annotations": {ia.INJECT_PREFIX + "java": "true"}}}}}
    workloads = [{"workload": {"namespace": "shop", "name": "checkout", "language": "java"}, "object": template,
                  "pods": [good, bad, deleting]}]
    result = FilterModule().filters()["injection_audit"]([good, bad, other, unannotated, deleting], [INST], workloads)
    assert result["checked"] == 3
    assert [f["pod"] for f in result["findings"]] == ["shop/checkout-7d9f-bad", "shop/other-1"]
    assert result["findings"][1]["workload"] is None
    lines = ia.evidence(result)
    assert lines[0].startswith("pod shop/checkout-7d9f-bad (Deployment shop/checkout, java): created while the webhook was unavailable")
    assert lines[-1] == ("injection audit: 3 annotated pods checked, 1 pass, 2 fail "
                         "(created while the webhook was unavailable: 2)")


# --- restarts ----------------------------------------------------------------------------------------

WORKLOAD = {"namespace": "shop", "kind": "Deployment", "name": "checkout", "language": "java", "instrumentation": "true",
            "container_names": [], "go_target_exe": ""}


def live(annotations):
    return {"kind": "Deployment", "metadata": {"name": "checkout", "namespace": "shop", "managedFields": [
        {"manager": "tracefleet", "operation": "Apply", "fieldsV1": {"f:spec": {"f:template": {"f:metadata": {
            "f:annotations": dict(("f:" + key, {}) for key in annotations)}}}}}]},
        "spec": {"template": {"metadata": {"annotations": dict(annotations)}, "spec": {"containers": [{"name": "app"}]}}}}


def plan_for(obj):
    return [{"index": 0, "ref": "Deployment shop/checkout", "kind": "Deployment", "namespace": "shop", "name": "checkout",
             "exists": True, "changed": False, "definition": workload_definition(WORKLOAD, "present"), "containers": ["app"]}]


def restart(obj, pods, instrumentation=INST, mode="on_change"):
    return ia.restart_plan(plan_for(obj), [WORKLOAD], mode, {"results": [{"resources": [instrumentation]}]},
                           {"results": [{"resources": [obj]}]}, {"results": [{"resources": pods}]}, "2026-11-25T07:00:00Z")[0]


INJECT = {ia.INJECT_PREFIX + "java": "true"}
DIGEST = ia.instrumentation_digest(INST, "java")


def test_digest_follows_the_language_part_of_the_instrumentation():
    assert DIGEST == ia.instrumentation_digest(copy.deepcopy(INST), "java")
    assert ia.instrumentation_digest(inst(java=JAVA_IMAGE + "-1"), "java") != DIGEST
    assert ia.instrumentation_digest(inst(python="x/p:1"), "java") == DIGEST  # another language's image: no restart
    changed = copy.deepcopy(INST)
    changed["spec"]["sampler"] = {"type": "always_on"}
    assert ia.instrumentation_digest(changed, "java") != DIGEST
    assert ia.instrumentation_digest(None, "java") == ""


def test_nothing_to_restart_when_nothing_changed():
    obj = live(dict(INJECT, **{ia.DIGEST_ANNOTATION: DIGEST}))
    item = restart(obj, [mutated_pod()])
    assert (item["changed"], item["restart"], item["flagged"]) == (False, [], [])


def test_a_changed_instrumentation_restarts_with_the_new_digest():
    obj = live(dict(INJECT, **{ia.DIGEST_ANNOTATION: DIGEST}))
    newer = inst(java=JAVA_IMAGE.replace("2.22.0", "2.23.0"))
    item = restart(obj, [mutated_pod()], instrumentation=newer)
    assert item["changed"] is True
    assert item["definition"]["spec"]["template"]["metadata"]["annotations"][ia.DIGEST_ANNOTATION] == \
        ia.instrumentation_digest(newer, "java")
    assert item["restart"][0].startswith("Instrumentation shop/tracefleet changed for java (digest %s -> " % DIGEST)


def test_pods_the_audit_flags_restart_the_workload_once():
    obj = live(dict(INJECT, **{ia.DIGEST_ANNOTATION: DIGEST}))
    item = restart(obj, [mutated_pod(), plain_pod("checkout-7d9f-xyz12")])
    assert item["changed"] is True
    annotations = item["definition"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations[ia.RESTARTED_AT_ANNOTATION] == "2026-11-25T07:00:00Z"
    assert item["restart"] == ["audit flagged checkout-7d9f-xyz12 (created while the webhook was unavailable)"]
    # After the rollout: the annotation is live, the new pods pass; the next run keeps it and changes nothing.
    healed = live(annotations)
    again = restart(healed, [mutated_pod("checkout-8a1b-new01")])
    assert (again["changed"], again["restart"]) == (False, [])
    assert again["definition"]["spec"]["template"]["metadata"]["annotations"][ia.RESTARTED_AT_ANNOTATION] == "2026-11-25T07:00:00Z"


def test_an_endpoint_port_problem_is_reported_but_not_restarted():
    pod = mutated_pod()
    for env in pod["spec"]["containers"][0]["env"]:
        if env["name"] == "OTEL_EXPORTER_OTLP_ENDPOINT":
            env["value"] = "http://agent:4317"
    item = restart(live(dict(INJECT, **{ia.DIGEST_ANNOTATION: DIGEST})), [pod])
    assert item["changed"] is False and item["restart"] == []
    assert item["flagged"][0]["reasons"] == [ia.REASON_PORT]


@pytest.mark.parametrize("mode", ["never", "on_change"])
def test_never_restarts_and_keeps_the_restart_annotations(mode):
    obj = live(dict(INJECT, **{ia.DIGEST_ANNOTATION: "0123456789abcdef", ia.RESTARTED_AT_ANNOTATION: "2026-11-24T00:00:00Z"}))
    item = restart(obj, [plain_pod()], mode=mode)
    annotations = item["definition"]["spec"]["template"]["metadata"]["annotations"]
    if mode == "never":
        assert item["changed"] is False and item["restart"] == []
        assert annotations[ia.DIGEST_ANNOTATION] == "0123456789abcdef"
    else:
        assert item["changed"] is True and item["restart"][0].startswith("Instrumentation shop/tracefleet changed")
        # the digest change rolls the pods already: no restarted-at bump on top
        assert annotations[ia.RESTARTED_AT_ANNOTATION] == "2026-11-24T00:00:00Z"


# --- the verify check ----------------------------------------------------------------------------------

def test_verify_check_reports_each_failing_pod_and_passes_when_all_are_injected():
    from ansible_collections.tracefleet.otel.plugins.module_utils import verify_checks as vc
    from ansible_collections.tracefleet.otel.plugins.module_utils.verify_report import markdown, summary

    template = {"spec": {"template": {"metadata": {"annotations": {ia.INJECT_PREFIX + "java": "true"}}}}}
    good, bad = mutated_pod("checkout-7d9f-good"), plain_pod("checkout-7d9f-bad")
    gathered = {"instrumentations": [INST], "pods": [good, bad],
                "workloads": [{"workload": {"namespace": "shop", "name": "checkout", "language": "java"},
                               "object": template, "pods": [good, bad]}]}
    check = vc.check_critical_workloads_instrumented(gathered)
    assert check["status"] == "fail"
    assert "injection audit: shop/checkout-7d9f-bad (created while the webhook was unavailable)" in check["summary"]
    assert any(line.startswith("pod shop/checkout-7d9f-bad (Deployment shop/checkout, java)") for line in check["evidence"])
    page = markdown(summary([check], "prod-eu", "2026-11-25T07:00:00Z"))
    assert "pod shop/checkout-7d9f-bad (Deployment shop/checkout, java): created while the webhook was unavailable" in page

    gathered["pods"] = gathered["workloads"][0]["pods"] = [good]
    check = vc.check_critical_workloads_instrumented(gathered)
    assert check["status"] == "pass" and check["evidence"][-1] == "injection audit: 1 annotated pod checked, 1 pass, 0 fail"

    # Without critical workloads the audit still covers every annotated pod.
    check = vc.check_critical_workloads_instrumented({"instrumentations": [INST], "pods": [good, bad], "workloads": []})
    assert check["status"] == "fail" and "shop/checkout-7d9f-bad" in check["summary"]
    # A port problem on an unmanaged pod, with the inventory's ports.
    check = vc.check_critical_workloads_instrumented({"instrumentations": [INST], "pods": [good], "workloads": [],
                                                      "injection_settings": {"otlp_http_port": "14318"}})
    assert check["status"] == "fail" and "(endpoint port)" in check["summary"]
