"""The verify role's checks, each with inputs that pass and inputs that fail.

The collector configurations and the Instrumentation spec come from the collection's own builders
(what the gateway, agent and instrumentation roles apply), so a change there that breaks a check shows here.
"""

import copy

import pytest
import yaml

from ansible_collections.tracefleet.otel.plugins.filter.verify_checks import FilterModule
from ansible_collections.tracefleet.otel.plugins.module_utils import verify_checks as vc
from ansible_collections.tracefleet.otel.plugins.module_utils.collector_config import agent_config, gateway_config
from ansible_collections.tracefleet.otel.plugins.module_utils.instrumentation import (
    instrumentation_objects,
    sampling_keep_rates,
)
from ansible_collections.tracefleet.otel.plugins.module_utils.verify_report import CHECK_IDS as REPORT_IDS
from ansible_collections.tracefleet.otel.plugins.module_utils.verify_report import summary


def node(name, taints=None, unschedulable=False, ready=True):
    obj = {"metadata": {"name": name}, "spec": {},
           "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}
    if taints:
        obj["spec"]["taints"] = taints
    if unschedulable:
        obj["spec"]["unschedulable"] = True
    return obj


def pod(name, node_name=None, ready=True, init=(), env=(), deleting=False, namespace="observability"):
    obj = {"metadata": {"name": name, "namespace": namespace},
           "spec": {"nodeName": node_name, "initContainers": [{"name": n} for n in init],
                    "containers": [{"name": "app", "env": [{"name": e, "value": "x"} for e in env]}]},
           "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-11-25T03:00:00Z"
    return obj


def collector(name, config, replicas=None, limits=None):
    spec = {"config": config, "resources": {"limits": limits if limits is not None else {"cpu": "1", "memory": "2Gi"}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"metadata": {"name": name, "namespace": "observability"}, "spec": spec}


def daemonset(tolerations=None):
    return {"metadata": {"name": "agent-collector", "namespace": "observability"},
            "spec": {"template": {"spec": {"tolerations": tolerations if tolerations is not None else [{"operator": "Exists"}]}}},
            "status": {"desiredNumberScheduled": 3, "numberReady": 3}}


def deployment(name, annotations=None, limits=None):
    template = {"metadata": {"annotations": annotations or {}},
                "spec": {"containers": [{"name": "c", "resources": {"limits": limits or {}}}]}}
    return {"metadata": {"name": name, "namespace": "shop"}, "spec": {"template": template}}


def tempo_configmap(retention="168h", reason=None):
    obj = {"metadata": {"name": "tempo", "namespace": "tempo", "annotations": {}},
           "data": {"tempo.yaml": yaml.safe_dump({"compactor": {"compaction": {"block_retention": retention}}})}}
    if reason:
        obj["metadata"]["annotations"]["tracefleet.io/retention-override-reason"] = reason
    return obj


def tempo_part(configmap, mode="managed"):
    """gathered["tempo"] as the role builds it: the ConfigMap and its tempo.yaml parsed (from_yaml)."""
    config = yaml.safe_load(configmap["data"]["tempo.yaml"]) if configmap else None
    return {"mode": mode, "name": "tempo", "namespace": "tempo", "configmap": configmap, "config": config}


INJECTED = dict(init=["opentelemetry-auto-instrumentation-java"])


# What the verify role records after a passing tempo_trace sampling_probe run (tests/unit/plugins/module_utils/test_verify_sampling.py).
SAMPLING_PROBE_PASSED = {"failed": False, "targets": {"latency_threshold_ms": 2000, "sampling_percentage": 10, "source": "the plan"},
                         "result": {"probe_sent": True, "sampling": {"latency_threshold_ms": 2000, "routine": None, "lines": [],
                                                                     "probes": {}}}}


def healthy():
    """What the role reads from a cluster the other roles rolled out to, with a probe and a search that succeeded."""
    nodes = [node("n1"), node("n2"), node("n3", taints=[{"key": "dedicated", "value": "db", "effect": "NoSchedule"}])]
    return {
        "nodes": nodes,
        "agent": {"name": "agent", "namespace": "observability", "daemonset": daemonset(),
                  "collector": collector("agent", agent_config({})),
                  "pods": [pod("agent-%d" % i, n["metadata"]["name"]) for i, n in enumerate(nodes)]},
        "gateway": {"name": "gateway", "namespace": "observability",
                    "collector": collector("gateway", gateway_config({"tls_insecure": True}), replicas=3),
                    "deployment": deployment("gateway-collector", limits={"cpu": "1", "memory": "2Gi"})},
        "instrumentations": instrumentation_objects({"namespaces": ["shop"]}),
        "sampling": sampling_keep_rates({}),
        "workloads": [{"workload": {"namespace": "shop", "name": "checkout", "language": "java"},
                       "object": deployment("checkout", {vc.INJECT_PREFIX + "java": "tracefleet"}),
                       "pods": [pod("checkout-1", "n1", namespace="shop", **INJECTED),
                                pod("checkout-0", "n2", namespace="shop", deleting=True)]}],
        "tempo": tempo_part(tempo_configmap()),
        "probe": {"failed": False, "result": {
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "found": True, "found_after_s": 0.4, "span_count": 4,
            "services": ["tracefleet-probe-backend", "tracefleet-probe-frontend"], "root_count": 1, "orphan_spans": [],
            "problems": [], "probe_sent": True, "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}},
        "recent": {"results": [{"service": "checkout", "failed": False, "result": {
            "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_count": 7, "services": ["checkout"],
            "traces": [{}, {}]}}]},
        "sampling_probe": SAMPLING_PROBE_PASSED,
    }


SETTINGS = {"retention_min": "7d", "retention_max": "14d", "waive": {}, "gateway_tls_insecure": True}


def by_id(checks):
    return dict((c["id"], c) for c in checks)


def run(gathered, settings=SETTINGS):
    return by_id(vc.evaluate(gathered, settings))


# --- the whole list ---------------------------------------------------------------------------

def test_ids_and_order_are_the_report_schema():
    assert vc.CHECK_IDS == REPORT_IDS
    assert [c["id"] for c in vc.evaluate(healthy(), SETTINGS)] == list(REPORT_IDS)


def test_a_healthy_cluster_passes_except_the_honest_warnings():
    checks = run(healthy())
    statuses = dict((k, c["status"]) for k, c in checks.items())
    # tls: plain text to Tempo, waived by tracefleet_gateway_tls_insecure; trace_to_logs: no UI link configured.
    assert statuses == dict((k, "pass") for k in vc.CHECK_IDS if k not in ("tls", "trace_to_logs")) | {
        "tls": "warn", "trace_to_logs": "warn"}
    assert checks["tls"]["summary"].startswith("waived by tracefleet_gateway_tls_insecure")


def test_every_check_is_a_valid_report_entry():
    report = summary(vc.evaluate({}, SETTINGS), "empty")
    assert report["status"] in ("warn", "fail")
    for check in report["checks"]:
        assert check["summary"] and isinstance(check["evidence"], list)


def test_nothing_gathered_never_passes():
    assert [c["id"] for c in vc.evaluate({}, SETTINGS) if c["status"] == "pass"] == []


def test_the_filters():
    assert sorted(FilterModule().filters()) == [
        "verify_checks", "verify_failures", "verify_sampling_targets", "verify_search_item", "verify_selector_labels",
        "verify_settings_errors", "verify_workload_items"]


# --- gathering helpers (what the role's tasks hand over) ---------------------------------------

def test_workload_items_zip_the_looped_reads_and_tolerate_skipped_ones():
    workloads = [{"namespace": "shop", "name": "checkout", "language": "java"},
                 {"namespace": "shop", "name": "gone", "language": "python", "kind": "StatefulSet"}]
    reads = {"results": [{"resources": [deployment("checkout")]}, {"resources": []}]}
    pod_reads = {"results": [{"resources": [pod("p1")]}, {"skipped": True}]}
    items = vc.workload_items(workloads, reads, pod_reads)
    assert items[0]["workload"]["kind"] == "Deployment" and items[0]["object"]["metadata"]["name"] == "checkout"
    assert [p["metadata"]["name"] for p in items[0]["pods"]] == ["p1"]
    assert items[1] == {"workload": dict(workloads[1]), "object": None, "pods": []}
    assert vc.workload_items([], None, None) == []


def test_search_item_and_selector_labels():
    assert vc.search_item({"item": "checkout", "failed": True, "msg": "x"}) == {
        "service": "checkout", "failed": True, "result": {"item": "checkout", "failed": True, "msg": "x"}}
    assert vc.search_item({"item": "a"})["failed"] is False
    assert vc.selector_labels({"spec": {"selector": {"matchLabels": {"b": "2", "a": "1"}}}}) == ["a=1", "b=2"]
    assert vc.selector_labels({}) == []


# --- agents_on_every_node ---------------------------------------------------------------------

def test_agents_pass_on_every_node_tainted_ones_too():
    check = vc.check_agents_on_every_node(healthy())
    assert check["status"] == "pass" and "3 schedulable nodes" in check["summary"]


def test_a_node_whose_taint_the_agent_does_not_tolerate_is_named_with_the_taint():
    g = healthy()
    g["agent"]["daemonset"] = daemonset(tolerations=[{"key": "tracefleet.io/dedicated", "operator": "Exists"}])
    g["agent"]["pods"] = [p for p in g["agent"]["pods"] if p["spec"]["nodeName"] != "n3"]
    check = vc.check_agents_on_every_node(g)
    assert check["status"] == "fail"
    assert check["summary"] == "agent missing on 1 of 3 nodes: n3"
    assert "node n3: no agent pod (taint dedicated=db:NoSchedule not tolerated)" in check["evidence"]


def test_an_agent_about_to_be_evicted_by_a_noexecute_taint_counts_as_missing():
    g = healthy()
    g["agent"]["daemonset"] = daemonset(tolerations=[])
    g["nodes"][0]["spec"]["taints"] = [{"key": "k", "effect": "NoExecute"}]
    g["nodes"][2]["spec"].pop("taints")
    check = vc.check_agents_on_every_node(g)
    assert check["status"] == "fail" and "n1" in check["summary"]
    assert "being evicted (taint k:NoExecute not tolerated)" in check["evidence"][0]


def test_not_ready_and_absent_agents_and_cordoned_nodes():
    g = healthy()
    g["nodes"].append(node("n4", unschedulable=True))
    g["nodes"].append(node("n5"))
    g["agent"]["pods"][1]["status"]["conditions"][0]["status"] = "False"
    check = vc.check_agents_on_every_node(g)
    assert check["status"] == "fail" and check["summary"].endswith("n2, n5")
    assert any("n2: agent pod agent-1 not Ready" in line for line in check["evidence"])
    assert "node n5: no agent pod" in check["evidence"]
    assert "cordoned nodes skipped: n4" in check["evidence"]


def test_no_daemonset_fails():
    g = healthy()
    g["agent"]["daemonset"] = None
    assert vc.check_agents_on_every_node(g)["status"] == "fail"


@pytest.mark.parametrize("toleration, taint, expected", [
    ({"operator": "Exists"}, {"key": "a", "value": "b", "effect": "NoSchedule"}, True),
    ({"key": "a", "operator": "Exists"}, {"key": "a", "value": "b", "effect": "NoExecute"}, True),
    ({"key": "a", "value": "b"}, {"key": "a", "value": "b", "effect": "NoSchedule"}, True),
    ({"key": "a", "value": "c"}, {"key": "a", "value": "b", "effect": "NoSchedule"}, False),
    ({"key": "a", "operator": "Exists", "effect": "NoSchedule"}, {"key": "a", "effect": "NoExecute"}, False),
    ({"key": "x", "operator": "Exists"}, {"key": "a", "effect": "NoSchedule"}, False),
])
def test_toleration_matching_follows_kubernetes(toleration, taint, expected):
    assert vc.tolerates(toleration, taint) is expected


# --- gateway_limits ----------------------------------------------------------------------------

def test_gateway_limits_pass_and_report_the_limiter():
    check = vc.check_gateway_limits(healthy())
    assert check["status"] == "pass"
    assert "Deployment shop/gateway-collector container limits: cpu=1, memory=2Gi" in check["evidence"]
    assert any(line.startswith("memory_limiter: limit_mib") for line in check["evidence"])


def test_gateway_without_cpu_limit_or_with_memory_limiter_later_fails():
    g = healthy()
    g["gateway"]["deployment"] = deployment("gateway-collector", limits={"memory": "2Gi"})
    config = g["gateway"]["collector"]["spec"]["config"]
    config["service"]["pipelines"]["traces"]["processors"] = ["tail_sampling", "memory_limiter", "batch"]
    check = vc.check_gateway_limits(g)
    assert check["status"] == "fail"
    assert "no cpu limit" in check["summary"] and "memory_limiter not first in traces" in check["summary"]


def test_gateway_limits_from_the_collector_spec_when_no_deployment_was_read():
    g = healthy()
    g["gateway"]["deployment"] = None
    g["gateway"]["collector"]["spec"]["resources"] = {}
    assert "no memory limit" in vc.check_gateway_limits(g)["summary"]


# --- tail_sampling_policies --------------------------------------------------------------------

def test_tail_sampling_reports_the_thresholds():
    check = vc.check_tail_sampling_policies(healthy())
    assert check["status"] == "pass"
    assert "keep-slow keeps traces of 2000 ms" in check["summary"] and "keeps 10 % of the rest" in check["summary"]


def test_missing_latency_policy_fails_and_missing_probe_policy_warns():
    g = healthy()
    g["gateway"]["collector"]["spec"]["config"] = gateway_config({"latency_threshold_ms": 500, "probe_policy_enabled": False})
    assert vc.check_tail_sampling_policies(g)["status"] == "warn"
    policies = g["gateway"]["collector"]["spec"]["config"]["processors"]["tail_sampling"]["policies"]
    policies[:] = [p for p in policies if p["type"] != "latency"]
    check = vc.check_tail_sampling_policies(g)
    assert check["status"] == "fail" and check["summary"] == "no tail policy for latency"


def test_no_tail_sampling_in_the_pipeline_fails():
    g = healthy()
    g["gateway"]["collector"]["spec"]["config"]["service"]["pipelines"]["traces"]["processors"] = ["memory_limiter", "batch"]
    check = vc.check_tail_sampling_policies(g)
    assert check["status"] == "fail" and check["evidence"] == ["processors: memory_limiter, batch"]


# --- trace_id_routing --------------------------------------------------------------------------

def test_load_balancing_by_trace_id_passes():
    check = vc.check_trace_id_routing(healthy())
    assert check["status"] == "pass" and "load_balancing/gateway" in check["summary"]


def test_plain_otlp_fails_with_several_gateways_and_warns_with_one():
    g = healthy()
    g["agent"]["collector"] = collector("agent", agent_config({"export_mode": "plain_otlp"}))
    assert vc.check_trace_id_routing(g)["status"] == "fail"
    g["gateway"]["collector"]["spec"]["replicas"] = 1
    assert vc.check_trace_id_routing(g)["status"] == "warn"


def test_routing_by_service_fails():
    g = healthy()
    g["agent"]["collector"]["spec"]["config"]["exporters"]["load_balancing/gateway"]["routing_key"] = "service"
    assert vc.check_trace_id_routing(g)["status"] == "fail"


# --- propagation -------------------------------------------------------------------------------

def test_propagation_reports_the_sampler_and_error_keep_rate():
    check = vc.check_propagation(healthy())
    assert check["status"] == "pass" and "error traces kept: 100 %" in check["summary"]
    assert any("sampler parentbased_always_on" in line for line in check["evidence"])


def test_article_head_sampling_warns_with_the_rate_recomputed_from_the_cr():
    g = healthy()
    g["instrumentations"] = instrumentation_objects({"namespaces": ["shop"], "sampling_profile": "article"})
    g["sampling"] = None
    check = vc.check_propagation(g)
    assert check["status"] == "warn" and "keeps only 10 % of error traces" in check["summary"]


def test_missing_baggage_fails_and_no_instrumentation_fails():
    g = healthy()
    g["instrumentations"][0]["spec"]["propagators"] = ["tracecontext", "b3"]
    check = vc.check_propagation(g)
    assert check["status"] == "fail" and "shop/tracefleet lacks baggage" in check["summary"]
    g["instrumentations"] = []
    assert vc.check_propagation(g)["status"] == "fail"


# --- critical_workloads_instrumented -----------------------------------------------------------

def test_workloads_annotated_and_injected_pass():
    check = vc.check_critical_workloads_instrumented(healthy())
    assert check["status"] == "pass"
    assert "1 of 1 pods injected" in check["evidence"][0]


def test_an_unannotated_workload_fails_naming_it():
    g = healthy()
    g["workloads"][0]["object"] = deployment("checkout", {})
    check = vc.check_critical_workloads_instrumented(g)
    assert check["status"] == "fail" and check["summary"] == "not instrumented: Deployment shop/checkout"
    assert "not annotated instrumentation.opentelemetry.io/inject-java" in check["evidence"][0]


def test_inject_sdk_alone_is_not_instrumentation():
    g = healthy()
    g["workloads"][0]["object"] = deployment("checkout", {vc.INJECT_PREFIX + "sdk": "true"})
    check = vc.check_critical_workloads_instrumented(g)
    assert check["status"] == "fail" and "only instrumentation.opentelemetry.io/inject-sdk" in check["evidence"][0]


def test_pods_without_injection_fail_and_env_counts_as_injection():
    g = healthy()
    g["workloads"][0]["pods"] = [pod("checkout-1", namespace="shop"), pod("checkout-2", namespace="shop", env=["OTEL_SERVICE_NAME"])]
    check = vc.check_critical_workloads_instrumented(g)
    assert check["status"] == "fail" and "1 of 2 pods were not injected: checkout-1" in check["evidence"][0]


def test_missing_workload_fails_and_no_pods_or_list_warns():
    g = healthy()
    g["workloads"][0]["pods"] = []
    assert vc.check_critical_workloads_instrumented(g)["status"] == "warn"
    g["workloads"][0]["object"] = None
    assert vc.check_critical_workloads_instrumented(g)["status"] == "fail"
    g["workloads"] = []
    assert vc.check_critical_workloads_instrumented(g)["status"] == "warn"


# --- tempo_retention ---------------------------------------------------------------------------

@pytest.mark.parametrize("retention, status", [("168h", "pass"), ("336h0m0s", "pass"), ("24h", "fail"), ("720h", "fail"), ("7x", "fail")])
def test_retention_against_the_policy(retention, status):
    g = healthy()
    g["tempo"] = tempo_part(tempo_configmap(retention))
    assert vc.check_tempo_retention(g, SETTINGS)["status"] == status


def test_retention_override_reason_warns_and_external_tempo_warns():
    g = healthy()
    g["tempo"] = tempo_part(tempo_configmap("720h", reason="legal hold"))
    check = vc.check_tempo_retention(g, SETTINGS)
    assert check["status"] == "warn" and "legal hold" in check["summary"] and "30d" in check["summary"]
    g["tempo"] = {"mode": "external"}
    assert vc.check_tempo_retention(g, SETTINGS)["status"] == "warn"


def test_missing_configmap_warns_and_unparsed_config_fails():
    g = healthy()
    g["tempo"] = tempo_part(None)
    assert vc.check_tempo_retention(g, SETTINGS)["status"] == "warn"
    g["tempo"] = dict(tempo_part(tempo_configmap()), config=None)
    assert vc.check_tempo_retention(g, SETTINGS)["status"] == "fail"


def test_unset_retention_is_tempo_default_14_days():
    g = healthy()
    g["tempo"]["config"] = {"server": {}}
    assert vc.check_tempo_retention(g, SETTINGS)["status"] == "pass"
    assert vc.check_tempo_retention(g, dict(SETTINGS, retention_max="10d"))["status"] == "fail"


@pytest.mark.parametrize("text, seconds", [("7d", 604800), ("168h", 604800), ("1h30m", 5400), ("500ms", 0.5), ("2w", 1209600),
                                           ("0", 0), ("", None), ("7", None), ("h", None), (None, None)])
def test_parse_duration(text, seconds):
    assert vc.parse_duration(text) == seconds


# --- tls ---------------------------------------------------------------------------------------

def test_tls_pass_when_the_gateway_verifies_tempo():
    g = healthy()
    g["gateway"]["collector"]["spec"]["config"] = gateway_config({"tls_enabled": True})
    check = vc.check_tls(g, dict(SETTINGS, gateway_tls_insecure=False))
    assert check["status"] == "pass"
    assert any("TLS (ca_file /etc/otelcol/tls/ca.crt" in line for line in check["evidence"])


def test_plain_text_to_tempo_fails_unless_waived():
    g = healthy()
    assert vc.check_tls(g, dict(SETTINGS, gateway_tls_insecure=False))["status"] == "fail"
    assert vc.check_tls(g, SETTINGS)["status"] == "warn"
    g["gateway"]["collector"]["spec"]["config"] = gateway_config({"tempo_protocol": "http", "tempo_endpoint": "http://tempo:4318"})
    assert "plain HTTP" in " ".join(vc.check_tls(g, {})["evidence"])


# --- self_monitoring ---------------------------------------------------------------------------

def test_self_monitoring_pass_and_fail():
    check = vc.check_self_monitoring(healthy())
    assert check["status"] == "pass" and "gateway: metrics level normal, Prometheus endpoint 0.0.0.0:8888" in check["evidence"]
    g = healthy()
    g["agent"]["collector"]["spec"]["config"]["service"]["telemetry"] = {}
    check = vc.check_self_monitoring(g)
    assert check["status"] == "fail" and "agent has no metrics reader" in check["summary"]


# --- probe_trace, recent_traces ----------------------------------------------------------------

def test_probe_pass_shows_the_trace():
    check = vc.check_probe_trace(healthy())
    assert check["status"] == "pass"
    assert check["evidence"][0].startswith("trace 4bf92f3577b34da6a3ce929d0e0e4736: found True after 0.4 s, 4 spans")


def test_probe_failure_names_the_broken_hop_and_skips_warn():
    g = healthy()
    g["probe"] = {"failed": True, "result": dict(g["probe"]["result"], msg="probe trace 4bf9 found but 1 orphan span",
                                                 orphan_spans=[{"span_id": "a1", "name": "GET", "service": "orders", "parent_span_id": "b2"}])}
    check = vc.check_probe_trace(g)
    assert check["status"] == "fail" and "orphan span a1 (GET in orders): parent b2 missing" in check["evidence"]
    assert vc.check_probe_trace({"probe": {"skipped": "no probe endpoint"}})["status"] == "warn"
    sent_nothing = {"probe": {"failed": False, "result": {"probe_sent": False, "msg": "check mode: not sent"}}}
    assert vc.check_probe_trace(sent_nothing)["summary"] == "check mode: not sent"


def test_recent_traces_pass_fail_and_skip():
    assert vc.check_recent_traces(healthy())["status"] == "pass"
    g = healthy()
    g["recent"]["results"].append({"service": "payments", "failed": True, "result": {"msg": "search found no traces"}})
    check = vc.check_recent_traces(g)
    assert check["status"] == "fail" and check["summary"] == "no complete recent trace from payments"
    assert vc.check_recent_traces({"recent": {"skipped": "no services listed"}})["status"] == "warn"


# --- trace_to_logs -----------------------------------------------------------------------------

def test_trace_to_logs_never_passes_without_a_link():
    check = vc.check_trace_to_logs(healthy())
    assert check["status"] == "warn" and "java, python" in check["summary"]
    g = healthy()
    g["instrumentations"] = instrumentation_objects({"namespaces": ["shop"], "log_correlation_enabled": False})
    assert "log correlation is off" in vc.check_trace_to_logs(g)["summary"]


# --- waivers, settings, failures ---------------------------------------------------------------

def test_a_waived_failure_warns_with_the_reason_and_keeps_the_evidence():
    g = healthy()
    g["agent"]["daemonset"] = None
    checks = run(g, dict(SETTINGS, waive={"agents_on_every_node": "agents rolled out next week"}))
    check = checks["agents_on_every_node"]
    assert check["status"] == "warn" and check["summary"] == "waived: agents rolled out next week"
    assert check["evidence"][0].startswith("without the waiver: fail - no agent DaemonSet")


def test_settings_errors_name_the_variable():
    assert vc.settings_errors(SETTINGS) == []
    errors = vc.settings_errors({"retention_min": "15d", "retention_max": "14d", "waive": {"nope": "x", "tls": ""},
                                 "fail_on": ["bad"]})
    assert errors == [
        "tracefleet_verify_retention_min: expected at most tracefleet_verify_retention_max (14d), got 15d",
        "tracefleet_verify_waive: unknown check 'nope' (expected one of %s)" % ", ".join(vc.CHECK_IDS),
        "tracefleet_verify_waive.tls: expected the reason for waiving it, got ''",
        "tracefleet_verify_fail_on: expected a list of pass, warn, fail, got ['bad']",
    ]
    assert vc.settings_errors({"retention_min": "a week", "retention_max": "14d"})[0].startswith("tracefleet_verify_retention_min")


def test_failures_name_each_failing_check_and_its_summary():
    g = healthy()
    g["workloads"][0]["object"] = deployment("checkout", {})
    checks = vc.evaluate(g, SETTINGS)
    assert vc.failures(checks) == ["critical_workloads_instrumented (fail): not instrumented: Deployment shop/checkout"]
    assert vc.failures({"checks": checks}, ["warn"]) == [
        "tls (warn): " + by_id(checks)["tls"]["summary"], "trace_to_logs (warn): " + by_id(checks)["trace_to_logs"]["summary"]]
    assert vc.failures(checks, []) == []


def test_evaluate_does_not_change_its_input():
    g = healthy()
    before = copy.deepcopy(g)
    vc.evaluate(g, SETTINGS)
    assert g == before
