"""Reading the operator-webhook dry run (module_utils/operator_webhooks.py)."""

from ansible_collections.tracefleet.otel.plugins.filter.operator_webhooks import FilterModule
from ansible_collections.tracefleet.otel.plugins.module_utils.operator_webhooks import probe_objects, webhook_problems

REFUSED = ('Failed to create object: {"kind":"Status","message":"Internal error occurred: failed calling webhook '
           '\\"mopentelemetrycollectorbeta.kb.io\\": failed to call webhook: Post \\"https://127.0.0.1:41000/mutate-'
           'opentelemetry-io-v1beta1-opentelemetrycollector?timeout=10s\\": dial tcp 127.0.0.1:41000: connect: '
           'connection refused"}')


def _result(*objects):
    return {"changed": False, "result": {"results": [{"changed": True, "result": obj} for obj in objects]}}


def _defaulted():
    inst, coll = probe_objects("ops")
    inst = dict(inst, spec=dict(inst["spec"], java={"image": "ghcr.io/.../autoinstrumentation-java:2.22.0"}))
    coll = dict(coll, spec=dict(coll["spec"], upgradeStrategy="automatic", mode="deployment"))
    return inst, coll


def test_the_probe_objects_are_one_instrumentation_and_one_collector_in_the_namespace():
    objects = probe_objects("ops")
    assert [(o["kind"], o["metadata"]["namespace"]) for o in objects] == [
        ("Instrumentation", "ops"), ("OpenTelemetryCollector", "ops")]
    assert "upgradeStrategy" not in objects[1]["spec"] and "java" not in objects[0]["spec"]


def test_both_defaulted_means_the_webhooks_serve():
    assert webhook_problems(_result(*_defaulted())) == []


def test_an_undefaulted_object_names_its_webhook():
    inst, coll = _defaulted()
    coll = dict(coll, spec={k: v for k, v in coll["spec"].items() if k != "upgradeStrategy"})
    assert webhook_problems(_result(inst, coll)) == [
        "OpenTelemetryCollector: spec.upgradeStrategy came back empty, so webhook mopentelemetrycollectorbeta.kb.io "
        "did not run (not registered, or not serving)"]


def test_a_refused_call_names_the_webhook_the_cause_and_the_address():
    assert webhook_problems({"failed": False, "msg": REFUSED}) == [
        "the API server could not call webhook mopentelemetrycollectorbeta.kb.io "
        "(connect: connection refused at https://127.0.0.1:41000)"]


def test_another_failure_is_reported_as_it_came():
    assert webhook_problems({"msg": "Failed to get client due to 401 Unauthorized"}) == [
        "the dry run failed: Failed to get client due to 401 Unauthorized"]


def test_the_filters():
    assert sorted(FilterModule().filters()) == ["operator_webhook_probe_objects", "operator_webhook_problems"]
