# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pre-production checklist, evaluated from objects read back from a live cluster and from Tempo.

Pure functions: the verify role gathers (``kubernetes.core.k8s_info``, ``tracefleet.otel.tempo_trace``)
and passes what it read here as one dict; each check returns
``{"id", "title", "status": "pass"|"warn"|"fail", "summary", "evidence": [str, ...]}``
(the report schema shared with ``verify_report``). A check that cannot run says why and warns;
it never passes on missing data.

``gathered`` keys (each optional; a missing one makes the checks that need it warn):

- ``nodes``: Node objects.
- ``agent``: ``{"name", "namespace", "collector": CR or None, "daemonset": DaemonSet or None, "pods": [...]}``
- ``gateway``: ``{"name", "namespace", "collector": CR or None, "deployment": Deployment or None}``
- ``instrumentations``: Instrumentation objects (every namespace).
- ``workloads``: ``[{"workload": {namespace, name, language, kind}, "object": workload or None, "pods": [...]}]``
- ``pods``: every Pod (the injection audit checks each one with an inject annotation; None: no audit);
  ``injection_settings``: ``{otlp_http_port, otlp_grpc_port}`` the endpoints should use.
- ``tempo``: ``{"mode": "managed"|"external", "name", "namespace", "configmap": ConfigMap or None,
  "config": its tempo.yaml parsed (the role parses it with from_yaml; module_utils use the standard library only)}``
- ``sampling``: the instrumentation role's fact ``tracefleet_instrumentation_sampling`` (or None).
- ``probe``: ``{"skipped": reason}`` or ``{"result": tempo_trace result, "failed": bool}``.
- ``gateway_sampling``: the gateway role's fact ``tracefleet_gateway_sampling`` (its derived plan) or None.
- ``sampling_probe``: ``{"skipped": reason, "targets"}`` or ``{"result": tempo_trace result (sampling_probe), "failed",
  "targets"}`` (``verify_sampling.sampling_targets``).
- ``recent``: ``{"skipped": reason}`` or ``{"results": [{"service", "result", "failed"}]}``.

``settings`` keys: ``retention_min``, ``retention_max`` (durations such as ``7d``), ``waive``
(check id -> reason), ``gateway_tls_insecure`` (whether the inventory set
tracefleet_gateway_tls_insecure: true), ``check_mode``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.tracefleet.otel.plugins.module_utils import injection_audit
from ansible_collections.tracefleet.otel.plugins.module_utils import verify_sampling
from ansible_collections.tracefleet.otel.plugins.module_utils.k8s_objects import get_path as _get, meta as _meta, ref as _ref

CHECKS = (
    ("agents_on_every_node", "Agent ready on every schedulable node"),
    ("gateway_limits", "Gateway has memory and CPU limits, memory_limiter first"),
    ("tail_sampling_policies", "Tail sampling keeps errors, slow traces and a routine share"),
    ("trace_id_routing", "Agents route spans to the gateways by trace ID"),
    ("propagation", "W3C tracecontext and baggage propagation; effective error keep rate"),
    ("critical_workloads_instrumented", "Critical workloads annotated and their pods injected"),
    ("tempo_retention", "Tempo retention within policy"),
    ("tls", "TLS on collector-to-backend links"),
    ("self_monitoring", "Collector self-monitoring metrics endpoint"),
    ("probe_trace", "Probe trace confirmed end to end in Tempo"),
    ("sampling_probe", "Error and slow traces kept by the gateway's own policies (sampling probe)"),
    ("recent_traces", "Recent traces from listed services found"),
    ("trace_to_logs", "Trace-to-log correlation"),
)
CHECK_IDS = tuple(check_id for check_id, _title in CHECKS)
TITLES = dict(CHECKS)
STATUSES = ("pass", "warn", "fail")
PREFIX = "tracefleet_verify_"

INJECT_PREFIX = "instrumentation.opentelemetry.io/inject-"
AUTO_INSTRUMENTATION = "opentelemetry-auto-instrumentation"
# Environment the operator's pod webhook adds to an injected container.
INJECTED_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES")
# Tolerations the DaemonSet controller adds to every daemon pod (pkg/controller/daemon/util).
DAEMONSET_TOLERATIONS = (
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/network-unavailable", "operator": "Exists", "effect": "NoSchedule"},
)
# Log-correlation settings the instrumentation role writes into spec.<language>.env.
LOG_CORRELATION_ENV = {
    "OTEL_INSTRUMENTATION_LOGBACK_MDC_ENABLED": "java",
    "OTEL_INSTRUMENTATION_LOG4J_CONTEXT_DATA_ENABLED": "java",
    "OTEL_PYTHON_LOG_CORRELATION": "python",
}
TEMPO_DEFAULT_RETENTION = "336h"  # Tempo's compactor default block_retention (14 days)

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0,
                 "d": 86400.0, "w": 604800.0}


# --- helpers ------------------------------------------------------------------------------------

def parse_duration(text):
    """Seconds in a Go (``168h``, ``336h0m0s``) or day/week (``7d``, ``2w``) duration; None when not one."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return float(text)
    if not isinstance(text, str):
        return None
    text = text.strip()
    if text == "0":
        return 0.0
    parts = _DURATION_PART.findall(text)
    if not text or not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)


def show_duration(seconds):
    """168 h -> '7d', 36 h -> '1d12h', 90 min -> '1h30m'."""
    seconds = int(round(seconds))
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append("%d%s" % (seconds // size, unit))
            seconds %= size
    return "".join(out) or "0s"


def _percent(rate):
    text = ("%.4f" % (rate * 100)).rstrip("0").rstrip(".")
    return (text or "0") + " %"


def _ready(obj):
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in _get(obj, "status", "conditions") or [])


def _alive(pods):
    return [p for p in pods or [] if not _meta(p, "deletionTimestamp")]


def _type(component):
    """Component type of a config key: 'otlp_grpc/tempo' -> 'otlp_grpc'."""
    return str(component).split("/", 1)[0]


def _traces_pipelines(config):
    """(name, pipeline) for every traces pipeline of a collector config."""
    pipelines = _get(config, "service", "pipelines") or {}
    return [(name, pipelines[name]) for name in sorted(pipelines) if _type(name) == "traces" and isinstance(pipelines[name], dict)]


def _config(collector):
    """spec.config of an OpenTelemetryCollector (opentelemetry.io/v1beta1: a mapping)."""
    config = _get(collector, "spec", "config")
    return config if isinstance(config, dict) else None


def result(check_id, status, summary, evidence=None):
    if status not in STATUSES:
        raise ValueError("status %r of check %s is not one of %s" % (status, check_id, ", ".join(STATUSES)))
    return {"id": check_id, "title": TITLES[check_id], "status": status, "summary": summary,
            "evidence": [str(line) for line in evidence or []]}


# --- agents_on_every_node -----------------------------------------------------------------------

def tolerates(toleration, taint):
    """Kubernetes' ToleratesTaint: effect (empty matches all), key (empty + Exists matches all), value."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    operator = toleration.get("operator") or "Equal"
    if key and key != taint.get("key"):
        return False
    if operator == "Exists":
        return True
    return bool(key) and (toleration.get("value") or "") == (taint.get("value") or "")


def show_taint(taint):
    value = taint.get("value")
    return "%s%s:%s" % (taint.get("key"), "=" + value if value else "", taint.get("effect"))


def untolerated_taints(node, tolerations):
    """The node's NoSchedule/NoExecute taints that none of the tolerations tolerates."""
    return [t for t in _get(node, "spec", "taints") or []
            if t.get("effect") in ("NoSchedule", "NoExecute") and not any(tolerates(tol, t) for tol in tolerations)]


def check_agents_on_every_node(gathered):
    agent = gathered.get("agent") or {}
    what = "DaemonSet %s/%s-collector" % (agent.get("namespace"), agent.get("name"))
    nodes = gathered.get("nodes")
    daemonset = agent.get("daemonset")
    if nodes is None:
        return result("agents_on_every_node", "warn", "nodes were not read", [])
    if not daemonset:
        return result("agents_on_every_node", "fail", "no agent %s" % what,
                      ["%s not found: run the tracefleet.otel.agent role" % what])
    tolerations = list(_get(daemonset, "spec", "template", "spec", "tolerations") or []) + list(DAEMONSET_TOLERATIONS)
    pods = _alive(agent.get("pods"))
    by_node = {}
    for pod in pods:
        by_node.setdefault(_get(pod, "spec", "nodeName"), []).append(pod)
    schedulable = [n for n in nodes if not _get(n, "spec", "unschedulable")]
    cordoned = sorted(_meta(n, "name") for n in nodes if _get(n, "spec", "unschedulable"))
    missing, evidence = [], []
    for node in sorted(schedulable, key=lambda n: _meta(n, "name")):
        name = _meta(node, "name")
        on_node = by_node.get(name, [])
        blocked = untolerated_taints(node, tolerations)
        evicting = [t for t in blocked if t.get("effect") == "NoExecute"]
        ready = [p for p in on_node if _ready(p)]
        if ready and not evicting:
            continue
        missing.append(name)
        if evicting and on_node:
            evidence.append("node %s: agent pod %s is being evicted (taint %s not tolerated)"
                            % (name, _meta(on_node[0], "name"), ", ".join(show_taint(t) for t in evicting)))
        elif not on_node and blocked:
            evidence.append("node %s: no agent pod (taint %s not tolerated)" % (name, ", ".join(show_taint(t) for t in blocked)))
        elif not on_node:
            evidence.append("node %s: no agent pod%s" % (name, "" if _ready(node) else " (node not Ready)"))
        else:
            pod = on_node[0]
            evidence.append("node %s: agent pod %s not Ready (phase %s)" % (name, _meta(pod, "name"), _get(pod, "status", "phase")))
    status = _get(daemonset, "status") or {}
    counts = "%s desired %s, ready %s" % (what, status.get("desiredNumberScheduled", 0), status.get("numberReady", 0))
    tail = [counts] + (["cordoned nodes skipped: " + ", ".join(cordoned)] if cordoned else [])
    if not schedulable:
        return result("agents_on_every_node", "warn", "no schedulable nodes", tail)
    if missing:
        return result("agents_on_every_node", "fail", "agent missing on %d of %d nodes: %s"
                      % (len(missing), len(schedulable), ", ".join(missing)), evidence + tail)
    return result("agents_on_every_node", "pass", "a Ready agent on each of %d schedulable nodes" % len(schedulable), tail)


# --- gateway_limits ------------------------------------------------------------------------------

def _first_container(workload):
    containers = _get(workload, "spec", "template", "spec", "containers") or []
    return containers[0] if containers else {}


def check_gateway_limits(gathered):
    gateway = gathered.get("gateway") or {}
    collector = gateway.get("collector")
    ref = "%s/%s" % (gateway.get("namespace"), gateway.get("name"))
    if not collector:
        return result("gateway_limits", "fail", "no gateway collector %s" % ref,
                      ["OpenTelemetryCollector %s not found: run the tracefleet.otel.gateway role" % ref])
    problems, evidence = [], []
    deployment = gateway.get("deployment")
    limits = _get(_first_container(deployment), "resources", "limits") if deployment else None
    source = "Deployment %s container" % _ref(deployment) if deployment else "collector spec"
    if limits is None:
        limits = _get(collector, "spec", "resources", "limits") or {}
    for resource in ("memory", "cpu"):
        if limits.get(resource) in (None, ""):
            problems.append("no %s limit" % resource)
    evidence.append("%s limits: %s" % (source, ", ".join("%s=%s" % (k, limits[k]) for k in sorted(limits)) or "none"))
    config = _config(collector)
    pipelines = _traces_pipelines(config)
    if not pipelines:
        problems.append("no traces pipeline")
    for name, pipeline in pipelines:
        processors = pipeline.get("processors") or []
        evidence.append("pipeline %s processors: %s" % (name, ", ".join(processors) or "none"))
        if not processors or _type(processors[0]) != "memory_limiter":
            where = "absent" if not any(_type(p) == "memory_limiter" for p in processors) else "not first"
            problems.append("memory_limiter %s in %s" % (where, name))
        else:
            limiter = _get(config, "processors", processors[0]) or {}
            evidence.append("%s: limit_mib %s, spike_limit_mib %s, check_interval %s" % (
                processors[0], limiter.get("limit_mib", limiter.get("limit_percentage")),
                limiter.get("spike_limit_mib", limiter.get("spike_limit_percentage")), limiter.get("check_interval")))
    if problems:
        return result("gateway_limits", "fail", "gateway %s: %s" % (ref, "; ".join(problems)), evidence)
    return result("gateway_limits", "pass", "memory and CPU limits set; memory_limiter first", evidence)


# --- tail_sampling_policies ----------------------------------------------------------------------

def _flat_policies(policies):
    """Policies with the sub-policies of and/composite ones, each as (name, type, body)."""
    out = []
    for policy in policies or []:
        if not isinstance(policy, dict):
            continue
        kind = policy.get("type")
        out.append((policy.get("name"), kind, policy.get(kind) or {}))
        for nested in ("and_sub_policy", "composite_sub_policy"):
            out.extend(_flat_policies(_get(policy, kind, nested)))
    return out


def check_tail_sampling_policies(gathered):
    gateway = gathered.get("gateway") or {}
    collector = gateway.get("collector")
    if not collector:
        return result("tail_sampling_policies", "fail", "no gateway collector %s/%s" % (gateway.get("namespace"), gateway.get("name")))
    config = _config(collector) or {}
    in_pipeline = [p for _n, pipeline in _traces_pipelines(config) for p in pipeline.get("processors") or []
                   if _type(p) == "tail_sampling"]
    if not in_pipeline:
        return result("tail_sampling_policies", "fail", "no tail_sampling processor in the gateway's traces pipeline",
                      ["processors: %s" % ", ".join(name for _n, p in _traces_pipelines(config) for name in p.get("processors") or [])])
    processor = _get(config, "processors", in_pipeline[0]) or {}
    policies = _flat_policies(processor.get("policies"))
    found = {}
    for name, kind, body in policies:
        if kind == "status_code" and "ERROR" in (body.get("status_codes") or []):
            found.setdefault("errors", "errors: policy %s keeps status ERROR" % name)
        elif kind == "latency" and body.get("threshold_ms") is not None:
            found.setdefault("latency", "latency: policy %s keeps traces of %s ms or longer" % (name, body.get("threshold_ms")))
        elif kind == "probabilistic" and body.get("sampling_percentage") is not None:
            found.setdefault("routine", "routine: policy %s keeps %s %% of the rest" % (name, body.get("sampling_percentage")))
        elif kind == "string_attribute":
            found.setdefault("probe", "probe: policy %s keeps %s=%s" % (name, body.get("key"), ",".join(map(str, body.get("values") or []))))
    evidence = [found[k] for k in ("errors", "latency", "routine", "probe") if k in found]
    evidence.append("decision_wait %s, num_traces %s" % (processor.get("decision_wait"), processor.get("num_traces")))
    # How the thresholds were derived (issue 12), and where the live policies differ from that plan.
    derivation = verify_sampling.plan_lines(gathered.get("gateway_sampling"), verify_sampling.live_policies(collector))
    evidence += derivation
    missing = [k for k in ("errors", "latency", "routine") if k not in found]
    if missing:
        return result("tail_sampling_policies", "fail", "no tail policy for %s" % ", ".join(missing), evidence)
    if "probe" not in found:
        return result("tail_sampling_policies", "warn", "errors, latency and routine policies present, but no always-keep "
                      "policy for probe traces (tracefleet_gateway_probe_policy_enabled)", evidence)
    differs = verify_sampling.plan_differences(derivation)
    if differs:
        return result("tail_sampling_policies", "warn", "the live policies differ from the gateway role's plan: %s"
                      % "; ".join(d[len("differs: "):] for d in differs), evidence)
    return result("tail_sampling_policies", "pass", "; ".join(found[k] for k in ("errors", "latency", "routine")), evidence)


# --- trace_id_routing ----------------------------------------------------------------------------

def check_trace_id_routing(gathered):
    agent = gathered.get("agent") or {}
    gateway = gathered.get("gateway") or {}
    collector = agent.get("collector")
    if not collector:
        return result("trace_id_routing", "fail", "no agent collector %s/%s" % (agent.get("namespace"), agent.get("name")))
    config = _config(collector) or {}
    exporters = [e for _n, p in _traces_pipelines(config) for e in p.get("exporters") or []]
    evidence = ["agent traces exporters: %s" % (", ".join(exporters) or "none")]
    balanced = [e for e in exporters if _type(e) in ("load_balancing", "loadbalancing")]
    for name in balanced:
        body = _get(config, "exporters", name) or {}
        key = body.get("routing_key") or "traceID"
        resolver = body.get("resolver") or {}
        evidence.append("%s: routing_key %s%s, resolver %s" % (
            name, key, "" if body.get("routing_key") else " (the exporter's default)",
            ", ".join("%s %s" % (k, _get(resolver, k, "hostname") or _get(resolver, k, "service") or _get(resolver, k, "hostnames") or "")
                      for k in sorted(resolver)) or "none"))
        if key != "traceID":
            return result("trace_id_routing", "fail", "%s routes by %s, not traceID: the spans of one trace reach different "
                          "gateways" % (name, key), evidence)
    if balanced:
        return result("trace_id_routing", "pass", "agents export through %s with routing_key traceID" % ", ".join(balanced), evidence)
    replicas = _get(gateway.get("collector"), "spec", "replicas")
    if replicas == 1:
        return result("trace_id_routing", "warn", "agents export with plain OTLP, acceptable only while the gateway has "
                      "1 replica (tracefleet_agent_export_mode)", evidence)
    return result("trace_id_routing", "fail", "agents export with plain OTLP to a gateway of %s replicas: tail sampling "
                  "decides on trace fragments (set tracefleet_agent_export_mode: load_balancing)" % (replicas or "several"), evidence)


# --- propagation ---------------------------------------------------------------------------------

def _head_rate(sampler):
    kind = (sampler or {}).get("type") or "parentbased_always_on"
    if kind in ("always_on", "parentbased_always_on"):
        return 1.0
    if kind in ("always_off", "parentbased_always_off"):
        return 0.0
    try:
        return float((sampler or {}).get("argument", 1))
    except (TypeError, ValueError):
        return None


def check_propagation(gathered):
    instrumentations = gathered.get("instrumentations")
    if instrumentations is None:
        return result("propagation", "warn", "Instrumentations were not read")
    if not instrumentations:
        return result("propagation", "fail", "no Instrumentation in the cluster: run the tracefleet.otel.instrumentation role")
    bad, evidence, rates = [], [], []
    for inst in sorted(instrumentations, key=_ref):
        propagators = _get(inst, "spec", "propagators") or []
        sampler = _get(inst, "spec", "sampler") or {}
        rate = _head_rate(sampler)
        rates.append(rate)
        missing = [p for p in ("tracecontext", "baggage") if p not in propagators]
        if missing:
            bad.append("%s lacks %s" % (_ref(inst), ", ".join(missing)))
        evidence.append("Instrumentation %s: propagators %s; sampler %s%s" % (
            _ref(inst), ", ".join(propagators) or "none (operator default)", sampler.get("type", "unset"),
            " " + str(sampler["argument"]) if sampler.get("argument") is not None else ""))
    sampling = gathered.get("sampling")
    if isinstance(sampling, dict) and isinstance(sampling.get("effective"), dict):
        errors_rate = sampling["effective"].get("errors")
        evidence.append("effective keep rates (instrumentation role): " + "; ".join(sampling.get("summary") or []))
    else:
        known = [r for r in rates if r is not None]
        errors_rate = min(known) if known else None
        evidence.append("effective error keep rate recomputed from the sampler: head rate x keep-errors (100 %)")
    rate_text = _percent(errors_rate) if errors_rate is not None else "unknown"
    if bad:
        return result("propagation", "fail", "W3C propagation incomplete: %s" % "; ".join(bad), evidence)
    if errors_rate is not None and errors_rate < 1.0:
        return result("propagation", "warn", "tracecontext+baggage; but head sampling keeps only %s of error traces "
                      "(tracefleet_instrumentation_sampling_profile: tail_first keeps them all)" % rate_text, evidence)
    return result("propagation", "pass", "tracecontext+baggage in %d Instrumentation%s; error traces kept: %s"
                  % (len(instrumentations), "" if len(instrumentations) == 1 else "s", rate_text), evidence)


# --- critical_workloads_instrumented -------------------------------------------------------------

def pod_injected(pod, language=None):
    """Whether the operator's webhook injected this pod: the agent's init container (or Go sidecar), or OTEL_ env."""
    spec = _get(pod, "spec") or {}
    for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
        name = container.get("name") or ""
        if name.startswith(AUTO_INSTRUMENTATION):
            return True
    return any(env.get("name") in INJECTED_ENV for c in spec.get("containers") or [] for env in c.get("env") or [])


def check_critical_workloads_instrumented(gathered):
    workloads = gathered.get("workloads")
    if not workloads and gathered.get("pods") is None:
        return result("critical_workloads_instrumented", "warn",
                      "no critical workloads listed (tracefleet_verify_critical_workloads)")
    failed, warned, evidence, audited = [], [], [], []
    for item in workloads or []:
        w = item.get("workload") or {}
        language = w.get("language")
        ref = "%s %s/%s" % (w.get("kind") or "Deployment", w.get("namespace"), w.get("name"))
        obj = item.get("object")
        if not obj:
            failed.append(ref)
            evidence.append("%s: not found" % ref)
            continue
        annotations = _get(obj, "spec", "template", "metadata", "annotations") or {}
        injects = dict((k[len(INJECT_PREFIX):], v) for k, v in annotations.items() if k.startswith(INJECT_PREFIX))
        wanted = INJECT_PREFIX + str(language)
        value = injects.get(language)
        if value is None or str(value).lower() == "false":
            failed.append(ref)
            if injects.get("sdk") not in (None, "false") and len(injects) == 1:
                evidence.append("%s: only %ssdk=%s (SDK environment, no %s agent); annotation %s missing"
                                % (ref, INJECT_PREFIX, injects["sdk"], language, wanted))
            else:
                evidence.append("%s: pod template not annotated %s%s" % (
                    ref, wanted, " (has %s)" % ", ".join("inject-%s=%s" % kv for kv in sorted(injects.items())) if injects else ""))
            continue
        pods = _alive(item.get("pods"))
        plain = [_meta(p, "name") for p in pods if not pod_injected(p, language)]
        if not pods:
            warned.append(ref)
            evidence.append("%s: %s=%s, but no pods to show injection" % (ref, wanted, value))
        elif plain:
            failed.append(ref)
            evidence.append("%s: %s=%s, but %d of %d pods were not injected: %s (started before the annotation or while "
                            "the operator webhook was down: restart the workload)" % (ref, wanted, value, len(plain), len(pods), ", ".join(sorted(plain))))
        else:
            evidence.append("%s: %s=%s; %d of %d pods injected" % (ref, wanted, value, len(pods), len(pods)))
    # The injection audit (plugins/module_utils/injection_audit.py): every pod with an inject annotation
    # (gathered["pods"], when the role read them) and every pod of these workloads, each failing one by reason.
    if gathered.get("pods") is not None:
        audit = injection_audit.audit(gathered["pods"], gathered.get("instrumentations") or [], workloads,
                                      settings=gathered.get("injection_settings"))
        evidence += injection_audit.evidence(audit)
        audited.append(audit)
    findings = [f for a in audited for f in a["findings"]]
    if failed or findings:
        parts = ["not instrumented: %s" % ", ".join(failed)] if failed else []
        if findings:
            parts.append("injection audit: %s" % "; ".join("%s (%s)" % (f["pod"], ", ".join(injection_audit.unique(f["reasons"])))
                                                           for f in findings))
        return result("critical_workloads_instrumented", "fail", "; ".join(parts), evidence)
    if not workloads:
        return result("critical_workloads_instrumented", "warn", "no critical workloads listed "
                      "(tracefleet_verify_critical_workloads); %s" % evidence[-1], evidence)
    if warned:
        return result("critical_workloads_instrumented", "warn", "annotated, no pods running: %s" % ", ".join(warned), evidence)
    return result("critical_workloads_instrumented", "pass", "%d workload%s annotated, every pod injected"
                  % (len(workloads), "" if len(workloads) == 1 else "s"), evidence)


# --- tempo_retention -----------------------------------------------------------------------------

def check_tempo_retention(gathered, settings):
    tempo = gathered.get("tempo") or {}
    low, high = parse_duration(settings.get("retention_min")), parse_duration(settings.get("retention_max"))
    policy = "policy %s to %s" % (settings.get("retention_min"), settings.get("retention_max"))
    if tempo.get("mode") == "external":
        return result("tempo_retention", "warn", "Tempo is external: its retention is not visible from the cluster (%s)" % policy)
    configmap = tempo.get("configmap")
    ref = "ConfigMap %s/%s" % (tempo.get("namespace"), tempo.get("name"))
    if not configmap:
        return result("tempo_retention", "warn", "%s not found: retention not checked (%s)" % (ref, policy))
    config = tempo.get("config")
    if not isinstance(config, dict):
        return result("tempo_retention", "fail", "%s: no tempo.yaml mapping in it" % ref)
    raw = _get(config, "compactor", "compaction", "block_retention")
    evidence = ["%s compactor.compaction.block_retention: %s" % (ref, raw if raw is not None else "unset (Tempo default 336h)")]
    seconds = parse_duration(raw if raw is not None else TEMPO_DEFAULT_RETENTION)
    if seconds is None:
        return result("tempo_retention", "fail", "block_retention %r is not a duration" % (raw,), evidence)
    shown = show_duration(seconds)
    if (low is None or seconds >= low) and (high is None or seconds <= high):
        return result("tempo_retention", "pass", "retention %s within %s" % (shown, policy), evidence)
    reason = (_meta(configmap, "annotations") or {}).get("tracefleet.io/retention-override-reason")
    if reason:
        evidence.append("override reason: %s" % reason)
        return result("tempo_retention", "warn", "retention %s outside %s, overridden: %s" % (shown, policy, reason), evidence)
    return result("tempo_retention", "fail", "retention %s outside %s" % (shown, policy), evidence)


# --- tls -----------------------------------------------------------------------------------------

def _exporter_tls(name, body):
    """(secure, description) of one exporter's link."""
    endpoint = str(_get(body, "endpoint") or "")
    tls = _get(body, "tls") or _get(body, "protocol", "otlp", "tls") or {}
    if endpoint.startswith("http://"):
        return False, "%s -> %s: plain HTTP" % (name, endpoint)
    if tls.get("insecure"):
        return False, "%s -> %s: tls.insecure true" % (name, endpoint or "resolver")
    files = ", ".join("%s %s" % (k, tls[k]) for k in ("ca_file", "cert_file") if tls.get(k))
    return True, "%s -> %s: TLS%s" % (name, endpoint or "resolver", " (" + files + ")" if files else " (system CAs)")


def check_tls(gathered, settings):
    gateway = gathered.get("gateway") or {}
    agent = gathered.get("agent") or {}
    config = _config(gateway.get("collector"))
    if not config:
        return result("tls", "fail", "no gateway collector %s/%s" % (gateway.get("namespace"), gateway.get("name")))
    backend = [e for _n, p in _traces_pipelines(config) for e in p.get("exporters") or [] if _type(e) not in ("debug",)]
    evidence, plain = [], []
    for name in backend:
        secure, line = _exporter_tls(name, _get(config, "exporters", name) or {})
        evidence.append("gateway " + line)
        if not secure:
            plain.append(name)
    agent_config = _config(agent.get("collector"))
    for name in [e for _n, p in _traces_pipelines(agent_config) for e in p.get("exporters") or []] if agent_config else []:
        secure, line = _exporter_tls(name, _get(agent_config, "exporters", name) or {})
        evidence.append("agent " + line + ("" if secure else " (in-cluster hop; tracefleet_agent_tls_enabled)"))
    if not backend:
        return result("tls", "fail", "the gateway exports traces nowhere", evidence)
    if not plain:
        return result("tls", "pass", "gateway exports to the backend over TLS", evidence)
    if settings.get("gateway_tls_insecure"):
        return result("tls", "warn", "waived by tracefleet_gateway_tls_insecure: %s without TLS" % ", ".join(plain), evidence)
    return result("tls", "fail", "gateway exports without TLS: %s (enable TLS, or set tracefleet_gateway_tls_insecure: true "
                  "to waive it explicitly)" % ", ".join(plain), evidence)


# --- self_monitoring -----------------------------------------------------------------------------

def telemetry_endpoints(config):
    """'host:port' of each Prometheus pull reader (or the legacy metrics address), and the metrics level."""
    metrics = _get(config, "service", "telemetry", "metrics") or {}
    endpoints = []
    for reader in metrics.get("readers") or []:
        prometheus = _get(reader, "pull", "exporter", "prometheus")
        if isinstance(prometheus, dict):
            endpoints.append("%s:%s" % (prometheus.get("host", "localhost"), prometheus.get("port", "?")))
    if metrics.get("address"):
        endpoints.append(str(metrics["address"]))
    return endpoints, metrics.get("level", "normal")


def check_self_monitoring(gathered):
    evidence, bad, unknown = [], [], []
    for role in ("gateway", "agent"):
        part = gathered.get(role) or {}
        config = _config(part.get("collector"))
        if not config:
            unknown.append(role)
            evidence.append("%s: no collector %s/%s" % (role, part.get("namespace"), part.get("name")))
            continue
        endpoints, level = telemetry_endpoints(config)
        if level == "none":
            bad.append("%s metrics level none" % role)
        elif not endpoints:
            bad.append("%s has no metrics reader (only the collector's localhost default)" % role)
        evidence.append("%s: metrics level %s, Prometheus endpoint %s" % (role, level, ", ".join(endpoints) or "none"))
    if bad or unknown:
        return result("self_monitoring", "fail", "; ".join(bad + ["%s collector missing" % r for r in unknown]), evidence)
    return result("self_monitoring", "pass", "gateway and agent publish their own metrics", evidence)


# --- probe_trace, recent_traces --------------------------------------------------------------------

def _trace_evidence(res):
    orphans = res.get("orphan_spans") or []
    lines = ["trace %s: found %s after %s s, %s spans, roots %s, orphans %d, services %s" % (
        res.get("trace_id"), res.get("found"), res.get("found_after_s"), res.get("span_count"), res.get("root_count"),
        len(orphans), ", ".join(res.get("services") or []) or "none")]
    lines += ["orphan span %s (%s in %s): parent %s missing" % (o.get("span_id"), o.get("name"), o.get("service"), o.get("parent_span_id"))
              for o in orphans]
    lines += _hop_lines(res)
    lines += ["problem: %s" % p for p in res.get("problems") or []]
    return lines


def _hop_lines(res):
    """A line per broken hop (tempo_trace's ``broken_hops``): the service pair whose call carried no context."""
    return ["broken hop %s -> %s: client span %s (%s) has no child; %s started a new trace" % (
        h.get("from"), h.get("to"), h.get("span_id"), h.get("span"), h.get("to")) for h in res.get("broken_hops") or []]


def check_probe_trace(gathered):
    probe = gathered.get("probe") or {"skipped": "the probe step did not run"}
    if probe.get("skipped"):
        return result("probe_trace", "warn", probe["skipped"])
    res = probe.get("result") or {}
    evidence = _trace_evidence(res)
    if res.get("traceparent"):
        evidence.append("traceparent %s" % res["traceparent"])
    if probe.get("failed"):
        return result("probe_trace", "fail", res.get("msg") or "the probe was not confirmed", evidence)
    if not res.get("probe_sent"):
        return result("probe_trace", "warn", res.get("msg") or "the probe was not sent", evidence)
    return result("probe_trace", "pass", "probe %s found after %s s: %s spans from %s, no orphans" % (
        res.get("trace_id"), res.get("found_after_s"), res.get("span_count"), ", ".join(res.get("services") or [])), evidence)


def check_sampling_probe(gathered):
    status, summary, evidence = verify_sampling.sampling_probe_outcome(gathered)
    return result("sampling_probe", status, summary, evidence)


def check_recent_traces(gathered):
    recent = gathered.get("recent") or {"skipped": "the search step did not run"}
    if recent.get("skipped"):
        return result("recent_traces", "warn", recent["skipped"])
    failed, evidence = [], []
    for item in recent.get("results") or []:
        res = item.get("result") or {}
        service = item.get("service")
        if item.get("failed"):
            failed.append(service)
            evidence.append("%s: %s" % (service, res.get("msg") or "no trace found"))
            evidence += ["%s: %s" % (service, line) for t in res.get("traces") or [res] for line in _hop_lines(t)]
        else:
            evidence.append("%s: %d trace%s found; best %s (%s spans, services %s)" % (
                service, len(res.get("traces") or []), "" if len(res.get("traces") or []) == 1 else "s",
                res.get("trace_id"), res.get("span_count"), ", ".join(res.get("services") or [])))
    if failed:
        return result("recent_traces", "fail", "no complete recent trace from %s" % ", ".join(failed), evidence)
    if not recent.get("results"):
        return result("recent_traces", "warn", "no services searched", evidence)
    return result("recent_traces", "pass", "recent traces found for %s" % ", ".join(i.get("service") for i in recent["results"]), evidence)


# --- trace_to_logs -------------------------------------------------------------------------------

def check_trace_to_logs(gathered):
    instrumentations = gathered.get("instrumentations")
    if not instrumentations:
        return result("trace_to_logs", "warn", "no Instrumentation read: log correlation unknown")
    evidence, correlated = [], set()
    for inst in sorted(instrumentations, key=_ref):
        spec = _get(inst, "spec") or {}
        on = sorted(set(LOG_CORRELATION_ENV[e.get("name")] for lang in ("java", "python") for e in _get(spec, lang, "env") or []
                        if e.get("name") in LOG_CORRELATION_ENV and str(e.get("value")).lower() == "true"))
        correlated.update(on)
        evidence.append("Instrumentation %s: trace_id/span_id in log records for %s" % (_ref(inst), ", ".join(on) or "no language"))
    evidence.append("tracefleet.otel configures no trace-to-logs link in a UI (e.g. Grafana's Tempo data source tracesToLogs): "
                    "set that up where the logs are searched")
    if correlated:
        return result("trace_to_logs", "warn", "log records carry trace ids (%s); no trace-to-logs link is configured by "
                      "the collection" % ", ".join(sorted(correlated)), evidence)
    return result("trace_to_logs", "warn", "log correlation is off (tracefleet_instrumentation_log_correlation_enabled) and "
                  "no trace-to-logs link is configured", evidence)


# --- gathering helpers ---------------------------------------------------------------------------

def _resources(read):
    """The objects of one k8s_info result (a skipped or failed read has none)."""
    return list((read or {}).get("resources") or []) if isinstance(read, dict) else []


def workload_items(workloads, reads, pod_reads):
    """``gathered["workloads"]`` from the listed workloads and two loops of k8s_info results in the same order
    (the workloads, then the pods each selects)."""
    reads = (reads or {}).get("results", reads) if isinstance(reads, dict) else reads or []
    pod_reads = (pod_reads or {}).get("results", pod_reads) if isinstance(pod_reads, dict) else pod_reads or []
    items = []
    for index, workload in enumerate(workloads or []):
        objects = _resources(reads[index]) if index < len(reads) else []
        pods = _resources(pod_reads[index]) if index < len(pod_reads) else []
        w = dict(workload)
        w.setdefault("kind", "Deployment")
        items.append({"workload": w, "object": objects[0] if objects else None, "pods": pods})
    return items


def search_item(loop_result):
    """One item of a looped ``tempo_trace`` search (its ``item`` is the service) as ``gathered["recent"]["results"]`` wants it."""
    loop_result = loop_result or {}
    return {"service": loop_result.get("item"), "failed": bool(loop_result.get("failed")), "result": loop_result}


def selector_labels(obj):
    """``spec.selector.matchLabels`` as k8s_info label selectors (``["k=v", ...]``)."""
    labels = _get(obj, "spec", "selector", "matchLabels") or {}
    return ["%s=%s" % (key, labels[key]) for key in sorted(labels)]


# --- all together --------------------------------------------------------------------------------

def settings_errors(settings):
    """Problems with the verify settings the argument spec cannot see, each naming its variable."""
    errors = []
    settings = settings or {}
    low, high = (parse_duration(settings.get(k)) for k in ("retention_min", "retention_max"))
    for key, value in (("retention_min", low), ("retention_max", high)):
        if value is None:
            errors.append("%s%s: expected a duration such as 7d or 168h, got %r" % (PREFIX, key, settings.get(key)))
    if low is not None and high is not None and low > high:
        errors.append("%sretention_min: expected at most %sretention_max (%s), got %s"
                      % (PREFIX, PREFIX, settings.get("retention_max"), settings.get("retention_min")))
    waive = settings.get("waive") or {}
    if not isinstance(waive, dict):
        errors.append("%swaive: expected a dict of check id to reason, got %r" % (PREFIX, waive))
    else:
        for key in sorted(waive, key=str):
            if key not in CHECK_IDS:
                errors.append("%swaive: unknown check %r (expected one of %s)" % (PREFIX, key, ", ".join(CHECK_IDS)))
            elif not str(waive[key] or "").strip():
                errors.append("%swaive.%s: expected the reason for waiving it, got %r" % (PREFIX, key, waive[key]))
    fail_on = settings.get("fail_on")
    if fail_on is not None and (not isinstance(fail_on, list) or any(s not in STATUSES for s in fail_on)):
        errors.append("%sfail_on: expected a list of pass, warn, fail, got %r" % (PREFIX, fail_on))
    return errors + verify_sampling.settings_errors(settings, PREFIX)


def waived(check, reason):
    """A waived check: warn "waived: reason", the original outcome kept as evidence."""
    evidence = ["without the waiver: %s - %s" % (check["status"], check["summary"])] + check["evidence"]
    return result(check["id"], "warn", "waived: %s" % reason, evidence)


def evaluate(gathered, settings=None):
    """Every check, in the schema's order, with waivers applied."""
    settings = settings or {}
    gathered = gathered or {}
    checks = [
        check_agents_on_every_node(gathered),
        check_gateway_limits(gathered),
        check_tail_sampling_policies(gathered),
        check_trace_id_routing(gathered),
        check_propagation(gathered),
        check_critical_workloads_instrumented(gathered),
        check_tempo_retention(gathered, settings),
        check_tls(gathered, settings),
        check_self_monitoring(gathered),
        check_probe_trace(gathered),
        check_sampling_probe(gathered),
        check_recent_traces(gathered),
        check_trace_to_logs(gathered),
    ]
    waive = settings.get("waive") or {}
    return [waived(c, waive[c["id"]]) if c["id"] in waive else c for c in checks]


def failures(checks, fail_on=("fail",)):
    """'<id>: <summary>' for each check whose status is in fail_on (accepts a report dict or a list of checks)."""
    if isinstance(checks, dict):
        checks = checks.get("checks") or []
    return ["%s (%s): %s" % (c["id"], c["status"], c["summary"]) for c in checks or [] if c.get("status") in (fail_on or [])]
