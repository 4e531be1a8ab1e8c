# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build the gateway and agent OpenTelemetry Collector configurations as data.

The result goes into an OpenTelemetryCollector's ``spec.config`` (a structured object for
``opentelemetry.io/v1beta1``); YAML serialisation does the indenting, never a template.

Component type names are those of otelcol-contrib 0.158 (``otlp_grpc``, ``load_balancing``,
``k8s_attributes``, ...; the older names are deprecated aliases there).

Settings are a flat dict whose keys are the role variables without their prefix:
``latency_threshold_ms`` is ``tracefleet_gateway_latency_threshold_ms``. Every default lives
in ``GATEWAY_DEFAULTS`` / ``AGENT_DEFAULTS``; a ``None`` value means "use the default".
Invalid settings raise ``SettingsError`` listing every problem, each naming its variable
(the checks are in ``collector_settings``).

PII scrubbing uses the ``redaction`` processor rather than ``attributes``/``transform``
delete or hash actions, because at 0.158 it is the one component that, in one pass,
reaches resource, scope, span and span-event attributes alike, masks only the matching
part of a value (an e-mail inside a longer message), and hashes instead of masking when
``hash_function`` is set. Keys whose name matches a pattern (Authorization, Cookie, user
keys) have their whole value hashed or masked; the key itself stays, so a reader can see
that a header was present. Nothing is dropped: the redaction processor deletes only keys
missing from an allow list (which would delete every attribute nobody listed), and the
attributes processor's ``delete`` reaches span attributes only. ``redact_all_types`` is on,
so card numbers sent as integers and header values sent as string arrays are caught too.

Span-name rules are OTTL ``replace_pattern`` statements for the transform processor. The
patterns are Go RE2 (no lookarounds, no backreferences) and are written as plain regexes in
the settings; this module quotes them as OTTL string literals (backslash and quote escaped),
so ``\\b`` in a setting reaches RE2 as ``\\b``. Replacements use Go's ``$1``/``${name}``.

The collector resolves ``${...}`` in every string of its configuration and reads ``$$`` as
``$``, so every ``$`` in the output is written as ``$$`` (``literal``): settings are literal
text, and environment references in settings are not supported.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.tracefleet.otel.plugins.module_utils.collector_settings import (
    agent_errors,
    gateway_errors,
    limiter_sizes,
)
from ansible_collections.tracefleet.otel.plugins.module_utils.sampling_plan import latency_policies, plan, routine_percentage
from ansible_collections.tracefleet.otel.plugins.module_utils.settings import checked, resolve
from ansible_collections.tracefleet.otel.plugins.module_utils.tail_sizing import sizes as tail_sizes

GATEWAY_PREFIX = "tracefleet_gateway_"
AGENT_PREFIX = "tracefleet_agent_"

DEFAULT_SPAN_NAME_RULES = [
    # UUIDs first: the numeric rule would otherwise eat their leading digits.
    {"pattern": "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "replacement": "{id}"},
    # Hex ids (object ids, hashes) of 16+ digits as a path segment.
    {"pattern": "/[0-9a-fA-F]{16,}\\b", "replacement": "/{id}"},
    # Numeric path segments (up to the next non-word character): /orders/12345 -> /orders/{id}; /v1 stays.
    {"pattern": "/[0-9]+\\b", "replacement": "/{id}"},
]

DEFAULT_REDACTION_KEY_PATTERNS = ["(?i)authorization", "(?i)cookie", "(?i)api[-_.]?key"]

DEFAULT_REDACTION_VALUE_PATTERNS = [
    # e-mail addresses
    "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}",
    # payment card numbers (Visa, Mastercard, Amex, Discover), with optional space/dash groups
    "\\b(?:4[0-9]{3}|5[1-5][0-9]{2}|2[2-7][0-9]{2}|3[47][0-9]{2}|6011)(?:[ -]?[0-9]{4}){2}[ -]?[0-9]{3,4}\\b",
]

_COMMON_DEFAULTS = {
    "otlp_grpc_endpoint": "0.0.0.0:4317",
    "otlp_http_endpoint": "0.0.0.0:4318",
    "memory_limiter_limit_mib": None,
    "memory_limiter_spike_limit_mib": None,
    "queue_size": 1000,
    "retry_max_elapsed_time": "300s",
    "tls_enabled": False,
    "tls_dir": "/etc/otelcol/tls",
    "tls_ca_file": "ca.crt",
    "tls_cert_file": "tls.crt",
    "tls_key_file": "tls.key",
    "tls_server_name": "",
    "metrics_host": "0.0.0.0",
    "metrics_port": 8888,
    "health_check_endpoint": "0.0.0.0:13133",
    "debug_exporter_enabled": False,
}

GATEWAY_DEFAULTS = dict(
    _COMMON_DEFAULTS,
    processors=["memory_limiter", "tail_sampling", "attributes", "redaction", "transform", "batch"],
    memory_limit="2Gi",
    memory_limiter_check_interval="1s",
    decision_wait="10s",
    # Null sizes are derived (module_utils/tail_sizing.py): num_traces from the expected new traces per
    # second per replica x decision_wait x the safety factor, the caches from decision_cache_seconds.
    num_traces=None,
    expected_new_traces_per_sec=1000,
    num_traces_safety_factor=2,
    average_trace_kib=16,
    decision_cache_seconds=60,
    sampled_cache_size=None,
    non_sampled_cache_size=None,
    probe_policy_enabled=True,
    probe_attribute_key="tracefleet.probe",
    probe_attribute_value="true",
    latency_threshold_ms=2000,
    # Null: derived from volume_budget when given, else 10 (module_utils/sampling_plan.py).
    sampling_percentage=None,
    service_objectives=[],
    volume_budget={},
    services=[],
    environment="production",
    environment_attribute="deployment.environment",
    extra_attributes={},
    redaction_key_patterns=DEFAULT_REDACTION_KEY_PATTERNS,
    redaction_keys=[],
    redaction_value_patterns=DEFAULT_REDACTION_VALUE_PATTERNS,
    redaction_hash_function="sha3",
    redaction_summary="info",
    span_name_rules=DEFAULT_SPAN_NAME_RULES,
    batch_timeout="5s",
    batch_send_batch_size=8192,
    tempo_endpoint="tempo.tempo.svc.cluster.local:4317",
    tempo_protocol="grpc",
    persistent_queue_enabled=False,
    persistent_queue_directory="/var/lib/otelcol/queue",
    tls_insecure=False,
)

AGENT_DEFAULTS = dict(
    _COMMON_DEFAULTS,
    processors=["memory_limiter", "k8s_attributes", "batch"],
    memory_limit="512Mi",
    memory_limiter_check_interval="500ms",
    memory_limiter_limit_mib=300,
    memory_limiter_spike_limit_mib=80,
    k8s_auth_type="serviceAccount",
    k8s_node_env_var="K8S_NODE_NAME",
    k8s_metadata=[
        "k8s.namespace.name", "k8s.pod.name", "k8s.pod.uid", "k8s.pod.start_time",
        "k8s.deployment.name", "k8s.node.name",
    ],
    batch_timeout="2s",
    batch_send_batch_size=4096,
    export_mode="load_balancing",
    resolver="dns",
    gateway_name="gateway",
    gateway_namespace="observability",
    gateway_port=4317,
    cluster_domain="cluster.local",
    static_hostnames=[],
    export_timeout="10s",
    # Null: the in-cluster hop to the gateway is plain text unless tls_enabled is set.
    tls_insecure=None,
)

_GO_QUOTEMETA = re.compile(r"([\\.+*?()|\[\]{}^$])")


def go_quote_meta(text):
    """Escape text for a Go regexp the way Go's regexp.QuoteMeta does."""
    return _GO_QUOTEMETA.sub(r"\\\1", text)


def ottl_string(text):
    """Quote text as an OTTL string literal (the parser unquotes it with Go string-literal rules)."""
    for raw, escaped in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        text = text.replace(raw, escaped)
    return '"' + text + '"'


def literal(value):
    """Escape every ``$`` as ``$$`` in the strings of value.

    The collector resolves ``${...}`` in every config string (environment and other providers)
    and reads ``$$`` as ``$``; settings are literal text (regex anchors, ``${1}`` in replacements),
    so each ``$`` must reach the component as written.
    """
    if isinstance(value, str):
        return value.replace("$", "$$")
    if isinstance(value, dict):
        return {key: literal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [literal(item) for item in value]
    return value


def _tls(s):
    insecure = s["tls_insecure"]
    if insecure is None:
        insecure = not s["tls_enabled"]
    if insecure:
        return {"insecure": True}
    tls = {"insecure": False}
    if s["tls_enabled"]:
        tls["ca_file"] = s["tls_dir"].rstrip("/") + "/" + s["tls_ca_file"]
        if s["tls_cert_file"]:
            tls["cert_file"] = s["tls_dir"].rstrip("/") + "/" + s["tls_cert_file"]
            tls["key_file"] = s["tls_dir"].rstrip("/") + "/" + s["tls_key_file"]
    if s["tls_server_name"]:
        tls["server_name_override"] = s["tls_server_name"]
    return tls


def _retry(s):
    return {"enabled": True, "max_elapsed_time": s["retry_max_elapsed_time"]}


def _memory_limiter(s):
    limit, spike = limiter_sizes(s)
    return {"check_interval": s["memory_limiter_check_interval"], "limit_mib": limit, "spike_limit_mib": spike}


def _batch(s):
    return {"timeout": s["batch_timeout"], "send_batch_size": s["batch_send_batch_size"]}


def _assemble(s, processors, exporters, extensions):
    """The parts every collector shares around its own processors and exporters."""
    if s["debug_exporter_enabled"]:
        exporters["debug"] = {"verbosity": "basic"}
    extensions = dict({"health_check": {"endpoint": s["health_check_endpoint"]}}, **extensions)
    prometheus = {
        "host": s["metrics_host"],
        "port": s["metrics_port"],
        # The same metric names as the collector's default reader (no _total, no unit suffix),
        # so alerts on otelcol_exporter_send_failed_spans etc. match.
        "without_scope_info": True,
        "without_type_suffix": True,
        "without_units": True,
    }
    return literal({
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": s["otlp_grpc_endpoint"]},
                    "http": {"endpoint": s["otlp_http_endpoint"]},
                },
            },
        },
        "processors": {name: processors[name] for name in s["processors"]},
        "exporters": exporters,
        "extensions": extensions,
        "service": {
            "extensions": list(extensions),
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": list(s["processors"]),
                    "exporters": list(exporters),
                },
            },
            "telemetry": {"metrics": {"level": "normal", "readers": [{"pull": {"exporter": {"prometheus": prometheus}}}]}},
        },
    })


# --- gateway -------------------------------------------------------------------------------

def _policies(s):
    policies = []
    if s["probe_policy_enabled"]:
        policies.append({
            "name": "keep-probes",
            "type": "string_attribute",
            "string_attribute": {"key": s["probe_attribute_key"], "values": [s["probe_attribute_value"]]},
        })
    policies.append({"name": "keep-errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}})
    policies += latency_policies(s)
    percentage, _why = routine_percentage(s)
    policies.append({"name": "sample-rest", "type": "probabilistic", "probabilistic": {"sampling_percentage": percentage}})
    return policies


def _redaction(s):
    key_patterns = list(s["redaction_key_patterns"])
    key_patterns += ["^" + go_quote_meta(key) + "$" for key in s["redaction_keys"]]
    config = {
        "allow_all_keys": True,
        "redact_all_types": True,
        "blocked_key_patterns": key_patterns,
        "blocked_values": list(s["redaction_value_patterns"]),
        "summary": s["redaction_summary"],
    }
    if s["redaction_hash_function"]:
        config["hash_function"] = s["redaction_hash_function"]
    return config


def span_name_statements(rules):
    """OTTL statements (transform processor, span context) for the span-name rules."""
    return [
        "replace_pattern(span.name, %s, %s)" % (ottl_string(rule["pattern"]), ottl_string(rule["replacement"]))
        for rule in rules
    ]


def _gateway_processors(s):
    num_traces, sampled, non_sampled, _why = tail_sizes(s)
    upserts = [(s["environment_attribute"], s["environment"])] + sorted(s["extra_attributes"].items())
    return {
        "memory_limiter": _memory_limiter(s),
        "tail_sampling": {
            "decision_wait": s["decision_wait"],
            "num_traces": num_traces,
            "expected_new_traces_per_sec": s["expected_new_traces_per_sec"],
            "decision_cache": {"sampled_cache_size": sampled, "non_sampled_cache_size": non_sampled},
            "policies": _policies(s),
        },
        "attributes": {"actions": [{"key": k, "value": v, "action": "upsert"} for k, v in upserts]},
        "redaction": _redaction(s),
        "transform": {"error_mode": "ignore", "trace_statements": span_name_statements(s["span_name_rules"])},
        "batch": _batch(s),
    }


def gateway_config(settings):
    """The gateway collector's configuration (tail sampling, scrubbing, export to Tempo)."""
    s = checked(settings, GATEWAY_DEFAULTS, gateway_errors, GATEWAY_PREFIX)
    queue = {"enabled": True, "queue_size": s["queue_size"]}
    extensions = {}
    if s["persistent_queue_enabled"]:
        queue["storage"] = "file_storage"
        extensions["file_storage"] = {"directory": s["persistent_queue_directory"], "create_directory": True}
    exporter = {"endpoint": s["tempo_endpoint"], "tls": _tls(s), "sending_queue": queue, "retry_on_failure": _retry(s)}
    name = "otlp_grpc/tempo" if s["tempo_protocol"] == "grpc" else "otlp_http/tempo"
    return _assemble(s, _gateway_processors(s), {name: exporter}, extensions)


def gateway_sampling_plan(settings):
    """What the gateway keeps and why (thresholds derived from objectives and the volume budget, sizes)."""
    s = checked(settings, GATEWAY_DEFAULTS, gateway_errors, GATEWAY_PREFIX)
    result = plan(s)
    num_traces, sampled, non_sampled, why = tail_sizes(s)
    result.update(num_traces=num_traces, sampled_cache_size=sampled, non_sampled_cache_size=non_sampled)
    result["summary"] = result["summary"] + ["memory: " + line for line in why]
    return result


# --- agent ---------------------------------------------------------------------------------

def gateway_service_host(s, headless):
    """DNS name of the gateway's Service (the headless one lists every replica)."""
    suffix = "-collector-headless" if headless else "-collector"
    return "%s%s.%s.svc.%s" % (s["gateway_name"], suffix, s["gateway_namespace"], s["cluster_domain"])


def _resolver(s):
    if s["resolver"] == "static":
        return {"static": {"hostnames": list(s["static_hostnames"])}}
    if s["resolver"] == "k8s":
        service = "%s-collector-headless.%s" % (s["gateway_name"], s["gateway_namespace"])
        return {"k8s": {"service": service, "ports": [s["gateway_port"]]}}
    return {"dns": {"hostname": gateway_service_host(s, headless=True), "port": str(s["gateway_port"])}}


def _agent_exporters(s):
    if s["export_mode"] == "plain_otlp":
        # Opt-out: one connection to the gateway Service; spans of one trace can land on
        # different replicas, so tail sampling decides on fragments.
        return {"otlp_grpc/gateway": {
            "endpoint": "%s:%d" % (gateway_service_host(s, headless=False), s["gateway_port"]),
            "timeout": s["export_timeout"],
            "tls": _tls(s),
            "sending_queue": {"enabled": True, "queue_size": s["queue_size"]},
            "retry_on_failure": _retry(s),
        }}
    return {"load_balancing/gateway": {
        "routing_key": "traceID",
        "protocol": {"otlp": {"timeout": s["export_timeout"], "tls": _tls(s)}},
        "resolver": _resolver(s),
        "sending_queue": {"enabled": True, "queue_size": s["queue_size"]},
        "retry_on_failure": _retry(s),
    }}


def _k8s_attributes(s):
    config = {
        "auth_type": s["k8s_auth_type"],
        "passthrough": False,
        "extract": {"metadata": list(s["k8s_metadata"])},
        "pod_association": [
            {"sources": [{"from": "resource_attribute", "name": "k8s.pod.ip"}]},
            {"sources": [{"from": "resource_attribute", "name": "k8s.pod.uid"}]},
            {"sources": [{"from": "connection"}]},
        ],
    }
    if s["k8s_node_env_var"]:
        # A DaemonSet pod only needs the pods of its own node.
        config["filter"] = {"node_from_env_var": s["k8s_node_env_var"]}
    return config


def agent_config(settings):
    """The node agent's configuration (k8s metadata, trace-ID-affine export to the gateways)."""
    s = checked(settings, AGENT_DEFAULTS, agent_errors, AGENT_PREFIX)
    processors = {"memory_limiter": _memory_limiter(s), "k8s_attributes": _k8s_attributes(s), "batch": _batch(s)}
    return _assemble(s, processors, _agent_exporters(s), {})


def gateway_settings_errors(settings):
    """Every problem with the gateway settings, each naming its variable (empty list: fine)."""
    return gateway_errors(settings, resolve(settings, GATEWAY_DEFAULTS), GATEWAY_PREFIX)


def agent_settings_errors(settings):
    """Every problem with the agent settings, each naming its variable (empty list: fine)."""
    return agent_errors(settings, resolve(settings, AGENT_DEFAULTS), AGENT_PREFIX)
