# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Auto-instrumentation as data: the Instrumentation spec, the sampling arithmetic, the pod-template annotations.

Three things live here, each a pure function of the role settings (a flat dict keyed by the role
variable without its prefix, as for the collector configurations):

1. ``instrumentation_spec``: the ``spec`` of an ``opentelemetry.io/v1alpha1`` Instrumentation for the
   OpenTelemetry Operator (pinned at v0.141.0 in the tests). The operator sets the OTLP protocol only
   for Python, and which protocol an agent speaks by default differs by agent and agent version (the
   operator's own default Java image is the 1.x agent, which speaks gRPC on 4317), so every language
   gets ``OTEL_EXPORTER_OTLP_PROTOCOL`` and ``OTEL_EXPORTER_OTLP_ENDPOINT`` explicitly in
   ``spec.<language>.env``. The operator gives the language env precedence over ``spec.exporter``
   (``appendIfNotSet`` in ``internal/instrumentation``), so what is written here is what the pod gets.
2. ``sampling_keep_rates``: the effective keep rate of each gateway tail policy once head sampling
   has run in the SDK. Tail sampling only sees what the SDK exported: a trace dropped by a
   ``parentbased_traceidratio`` head sampler never reaches the gateway's keep-errors policy.
3. ``workload_*``: the annotations the ``annotate`` role sets on a workload's pod template, and the
   partial object it server-side applies.

Every error names the role variable, says what was expected and shows what was given.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.tracefleet.otel.plugins.module_utils.k8s_apply import apply_needed, live_object
from ansible_collections.tracefleet.otel.plugins.module_utils.settings import (
    DNS_LABEL as _DNS_LABEL,
    ENV_VAR_NAME as _ENV_NAME,
    Checker,
    checked,
    is_int as _is_int,
    is_number as _is_number,
    resolve,
    show as _show,
)

INSTRUMENTATION_PREFIX = "tracefleet_instrumentation_"
ANNOTATE_PREFIX = "tracefleet_annotate_"

LANGUAGES = ("java", "nodejs", "python", "dotnet", "go")

# OTLP protocols each operator-injected agent can export with. The operator's Python image ships only
# the OTLP/HTTP exporter ("gRPC is not appropriate for injected auto-instrumentation" in its
# requirements.txt), so Python is http/protobuf only.
LANGUAGE_PROTOCOLS = {
    "java": ("http/protobuf", "grpc"),
    "nodejs": ("http/protobuf", "grpc"),
    "python": ("http/protobuf",),
    "dotnet": ("http/protobuf", "grpc"),
    "go": ("http/protobuf", "grpc"),
}

# Agent images, without the registry. The tags are those the operator v0.141.0 repository builds
# (autoinstrumentation/<language>/version.txt, versions.txt for Go): the Java 2.x agent rather than
# the operator's default 1.33.6, and .NET 1.13.0 rather than its default 1.2.0.
DEFAULT_IMAGES = {
    "java": "open-telemetry/opentelemetry-operator/autoinstrumentation-java:2.22.0",
    "nodejs": "open-telemetry/opentelemetry-operator/autoinstrumentation-nodejs:0.67.2",
    "python": "open-telemetry/opentelemetry-operator/autoinstrumentation-python:0.60b0",
    "dotnet": "open-telemetry/opentelemetry-operator/autoinstrumentation-dotnet:1.13.0",
    "go": "open-telemetry/opentelemetry-go-instrumentation/autoinstrumentation-go:v0.22.1",
}

PROPAGATORS = ("tracecontext", "baggage", "b3", "b3multi", "jaeger", "xray", "ottrace", "none")

PROFILES = {
    # The article: 10 % head sampling in the SDK, then tail sampling at the gateway.
    "article": "parentbased_traceidratio",
    # Every root is sampled in the SDK; the gateway's tail policies alone decide what is kept.
    "tail_first": "parentbased_always_on",
}

INSTRUMENTATION_DEFAULTS = {
    "state": "present",
    "name": "tracefleet",
    "namespaces": ["default"],
    "endpoint_host": "agent-collector.observability.svc.cluster.local",
    "otlp_http_port": 4318,
    "otlp_grpc_port": 4317,
    "protocols": dict((language, "http/protobuf") for language in LANGUAGES),
    "image_registry": "ghcr.io",
    "images": dict(DEFAULT_IMAGES),
    "propagators": ["tracecontext", "baggage"],
    "allow_non_w3c": False,
    "sampling_profile": "tail_first",
    "head_ratio": 0.1,
    "tail_sampling_percentage": 10,
    "tail_latency_threshold_ms": 2000,
    "resource_attributes": {},
    "use_labels_for_resource_attributes": True,
    "add_k8s_uid_attributes": False,
    "log_correlation_enabled": True,
    "logs_exporter": "none",
    "metrics_exporter": "none",
    "env": {},
    "language_env": {},
}

# Environment variables the role sets itself; each maps to the variable that controls it.
MANAGED_ENV = {
    "OTEL_EXPORTER_OTLP_ENDPOINT": "endpoint_host",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "protocols",
    "OTEL_PROPAGATORS": "propagators",
    "OTEL_TRACES_SAMPLER": "sampling_profile",
    "OTEL_TRACES_SAMPLER_ARG": "head_ratio",
    "OTEL_LOGS_EXPORTER": "logs_exporter",
    "OTEL_METRICS_EXPORTER": "metrics_exporter",
    "OTEL_RESOURCE_ATTRIBUTES": "resource_attributes",
    "OTEL_PYTHON_LOG_CORRELATION": "log_correlation_enabled",
}

# Log correlation per language: what makes log records carry trace_id and span_id.
#  - java: the agent's logback-mdc and log4j-context-data instrumentations put trace_id, span_id and
#    trace_flags into the MDC (on by default in the 2.x agent; set explicitly so the intent is visible);
#    a log pattern with %X{trace_id} %X{span_id} prints them. With logs exported over OTLP the
#    logback/log4j appender instrumentation sends each record with its span context.
#  - python: OTEL_PYTHON_LOG_CORRELATION=true makes the logging instrumentation add otelTraceID,
#    otelSpanID and otelServiceName to every LogRecord and (when the root logger has no handler yet)
#    installs a format that prints them. With logs over OTLP, OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED
#    attaches the OTLP handler so records carry the span context.
#  - nodejs: the winston, pino and bunyan instrumentations of auto-instrumentations-node inject
#    trace_id, span_id and trace_flags into log records by default; nothing to set.
#  - dotnet: ILogger records carry the current Activity's TraceId/SpanId (the generic host's
#    ActivityTrackingOptions) and are exported with them over OTLP when logs go over OTLP;
#    OTEL_DOTNET_AUTO_LOGS_INCLUDE_FORMATTED_MESSAGE adds the rendered message.
#  - go: the eBPF agent has no log bridge; Go services add the span context themselves (otelslog).
LOG_CORRELATION_ENV = {
    "java": [("OTEL_INSTRUMENTATION_LOGBACK_MDC_ENABLED", "true"),
             ("OTEL_INSTRUMENTATION_LOG4J_CONTEXT_DATA_ENABLED", "true")],
    "python": [("OTEL_PYTHON_LOG_CORRELATION", "true")],
    "nodejs": [],
    "dotnet": [],
    "go": [],
}
LOG_EXPORT_ENV = {
    "python": [("OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED", "true")],
    "dotnet": [("OTEL_DOTNET_AUTO_LOGS_INCLUDE_FORMATTED_MESSAGE", "true")],
}

ANNOTATION_PREFIX = "instrumentation.opentelemetry.io/"
CONTAINER_NAMES_ANNOTATION = ANNOTATION_PREFIX + "container-names"
GO_TARGET_EXE_ANNOTATION = ANNOTATION_PREFIX + "otel-go-auto-target-exe"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
WORKLOAD_KEYS = ("namespace", "kind", "name", "language", "instrumentation", "container_names", "go_target_exe")

ANNOTATE_DEFAULTS = {
    "state": "present",
    "workloads": [],
    "missing": "fail",
    "verify_instrumentation": True,
    "max_parallel": 1,
    "wait": True,
    "wait_timeout": 300,
    "restart": "on_change",  # restarts: plugins/module_utils/injection_audit.py (restart_plan)
}

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[-a-z0-9.]{0,251}[a-z0-9])?$")
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$")
_IPV4 = re.compile(r"^[0-9]{1,3}(?:\.[0-9]{1,3}){3}$")
_REGISTRY = re.compile(r"^(?:localhost|[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+|[A-Za-z0-9.-]+:[0-9]+)$")
_IMAGE = re.compile(r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
                    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$")


class _Checker(Checker):
    """Collects errors about the instrumentation or annotate role's resolved settings."""

    def dns_label(self, value, name):
        if isinstance(value, str) and _DNS_LABEL.match(value):
            return True
        self.errors.append("%s: expected a Kubernetes name (lower-case letters, digits and '-', at most 63), got %s"
                           % (name, _show(value)))
        return False


def _unknown(c, raw, defaults):
    if not isinstance(raw, dict):
        c.errors.append("settings for %s*: expected a dict, got %s" % (c.prefix, type(raw).__name__))
        return
    for key in sorted(set(raw) - set(defaults)):
        c.errors.append("%s: unknown setting (no such role variable)" % c.var(key))


def _string_map(c, key, value_check=None):
    """A dict of non-empty string keys to string values (Kubernetes stores map[string]string)."""
    value = c.s[key]
    if not isinstance(value, dict):
        return c.fail(key, "a dict of names to string values")
    ok = True
    for name in value:
        item = value[name]
        if not isinstance(name, str) or not name.strip():
            ok = c.fail(key, "non-empty names", name)
        elif not isinstance(item, str):
            ok = False
            c.errors.append("%s.%s: expected a string (quote it in YAML), got %s" % (c.var(key), name, _show(item)))
        elif value_check:
            ok = value_check(name, item) and ok
    return ok


def _env_map(c, key, value, label):
    if not isinstance(value, dict):
        c.errors.append("%s: expected a dict of environment variable names to string values, got %s" % (label, _show(value)))
        return
    for name in value:
        item = value[name]
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            c.errors.append("%s: expected environment variable names (letters, digits, '_'), got %s" % (label, _show(name)))
        elif name in MANAGED_ENV:
            c.errors.append("%s.%s: set by the role from %s; change that variable instead"
                            % (label, name, c.var(MANAGED_ENV[name])))
        elif not isinstance(item, str):
            c.errors.append("%s.%s: expected a string (quote it in YAML), got %s" % (label, name, _show(item)))


def image_ref(registry, image):
    """The full image reference: the registry prefix unless the image already names a registry."""
    first = image.split("/", 1)[0]
    if "/" in image and _REGISTRY.match(first):
        return image
    return "%s/%s" % (registry.rstrip("/"), image) if registry else image


def _language_map(c, key, check_item):
    value = c.s[key]
    if not isinstance(value, dict):
        return c.fail(key, "a dict keyed by language (%s)" % ", ".join(LANGUAGES))
    for language in value:
        if language not in LANGUAGES:
            c.errors.append("%s: unknown language %s (expected %s)" % (c.var(key), _show(language), ", ".join(LANGUAGES)))
        else:
            check_item(language, value[language])
    return True


def instrumentation_errors(raw, s, prefix=INSTRUMENTATION_PREFIX):
    """Every problem with the instrumentation settings (raw: as given; s: resolved)."""
    c = _Checker(s, prefix)
    _unknown(c, raw, s)
    c.choice("state", ("present", "absent"))
    c.dns_label(s["name"], c.var("name"))
    namespaces = s["namespaces"]
    if not isinstance(namespaces, list) or not namespaces:
        c.fail("namespaces", "a non-empty list of namespace names")
    else:
        for index, namespace in enumerate(namespaces):
            c.dns_label(namespace, "%s[%d]" % (c.var("namespaces"), index))
        dupes = sorted(set(n for n in namespaces if isinstance(n, str) and namespaces.count(n) > 1))
        if dupes:
            c.fail("namespaces", "each namespace once", dupes)
    host = s["endpoint_host"]
    if not (isinstance(host, str) and (_HOST.match(host) or _IPV4.match(host))):
        c.fail("endpoint_host", "a host name or IPv4 address without scheme or port, such as "
               "agent-collector.observability.svc.cluster.local")
    c.integer("otlp_http_port", 1, 65535)
    c.integer("otlp_grpc_port", 1, 65535)

    def protocol(language, value):
        allowed = LANGUAGE_PROTOCOLS[language]
        if value not in allowed:
            why = " (the operator's Python image ships only the OTLP/HTTP exporter)" if language == "python" else ""
            c.errors.append("%s.%s: expected %s%s, got %s" % (c.var("protocols"), language,
                                                              " or ".join(_show(p) for p in allowed), why, _show(value)))
    _language_map(c, "protocols", protocol)

    registry = s["image_registry"]
    if not isinstance(registry, str) or (registry and not _REGISTRY.match(registry.split("/", 1)[0])):
        c.fail("image_registry", "a registry host such as ghcr.io or mirror.example.com:5000 (optionally with a path), "
               "or empty when every image names its registry")
        registry = ""

    def image(language, value):
        name = "%s.%s" % (c.var("images"), language)
        match = _IMAGE.match(value) if isinstance(value, str) else None
        if not match:
            c.errors.append("%s: expected an image reference such as %s, got %s" % (name, DEFAULT_IMAGES[language], _show(value)))
        elif not match.group("tag") and not match.group("digest"):
            c.errors.append("%s: expected a pinned tag or digest (the operator pulls exactly this), got %s" % (name, _show(value)))
        elif match.group("tag") == "latest" and not match.group("digest"):
            c.errors.append("%s: 'latest' is not a pin: name the version (or a digest), got %s" % (name, _show(value)))
    _language_map(c, "images", image)

    propagators = s["propagators"]
    if not isinstance(propagators, list) or not propagators:
        c.fail("propagators", "a non-empty list of propagators")
    else:
        unknown = [p for p in propagators if p not in PROPAGATORS]
        if unknown:
            c.fail("propagators", "only " + ", ".join(PROPAGATORS), unknown)
        elif len(set(propagators)) != len(propagators):
            c.fail("propagators", "each propagator once")
        elif "none" in propagators and len(propagators) > 1:
            c.fail("propagators", "'none' alone (it turns propagation off)")
        elif c.boolean("allow_non_w3c") and "tracecontext" not in propagators and not s["allow_non_w3c"]:
            c.errors.append(
                "%s: expected a list that includes 'tracecontext' (W3C Trace Context, the header every agent reads and "
                "writes, so a request crossing java, nodejs, python, dotnet and go services stays one trace), got %s; "
                "set %s: true to run without it"
                % (c.var("propagators"), _show(propagators), c.var("allow_non_w3c")))
    c.boolean("allow_non_w3c")

    c.choice("sampling_profile", tuple(PROFILES))
    ratio = s["head_ratio"]
    if not (_is_number(ratio) and 0 < ratio <= 1):
        c.fail("head_ratio", "a number above 0 and at most 1 (0.1 keeps 10 % of root traces)")
    tail = s["tail_sampling_percentage"]
    if not (_is_number(tail) and 0 <= tail <= 100):
        c.fail("tail_sampling_percentage", "a number from 0 to 100")
    c.integer("tail_latency_threshold_ms", 1)

    _string_map(c, "resource_attributes")
    c.boolean("use_labels_for_resource_attributes")
    c.boolean("add_k8s_uid_attributes")
    c.boolean("log_correlation_enabled")
    c.choice("logs_exporter", ("none", "otlp"))
    c.choice("metrics_exporter", ("none", "otlp"))
    _env_map(c, "env", s["env"], c.var("env"))

    def language_env(language, value):
        _env_map(c, "language_env", value, "%s.%s" % (c.var("language_env"), language))
    _language_map(c, "language_env", language_env)
    return c.errors


def check_instrumentation(settings):
    """The resolved settings, or SettingsError listing every problem."""
    s = checked(settings, INSTRUMENTATION_DEFAULTS, instrumentation_errors)
    # Languages left out of a dict setting keep their defaults.
    for key in ("protocols", "images"):
        s[key] = dict(INSTRUMENTATION_DEFAULTS[key], **s[key])
    return s


def ratio_text(ratio):
    """A sampler argument as the SDKs parse it: 0.1 -> "0.1", 1 -> "1", 0.00001 -> "0.00001"."""
    text = ("%.10f" % ratio).rstrip("0").rstrip(".")
    return text or "0"


def endpoint_url(s, language):
    protocol = s["protocols"][language]
    port = s["otlp_http_port"] if protocol == "http/protobuf" else s["otlp_grpc_port"]
    return "http://%s:%d" % (s["endpoint_host"], port)


def _env_list(pairs):
    return [{"name": name, "value": value} for name, value in pairs]


def language_env(s, language):
    """The env of spec.<language>: protocol and endpoint always, then exporters, log correlation, extras."""
    pairs = [("OTEL_EXPORTER_OTLP_PROTOCOL", s["protocols"][language]),
             ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint_url(s, language))]
    if language != "go":  # the Go eBPF agent exports traces only
        pairs += [("OTEL_TRACES_EXPORTER", "otlp"),
                  ("OTEL_METRICS_EXPORTER", s["metrics_exporter"]),
                  ("OTEL_LOGS_EXPORTER", s["logs_exporter"])]
    if s["log_correlation_enabled"]:
        pairs += LOG_CORRELATION_ENV[language]
        if s["logs_exporter"] == "otlp":
            pairs += LOG_EXPORT_ENV.get(language, [])
    pairs += sorted(s["language_env"].get(language, {}).items())
    return _env_list(pairs)


def instrumentation_spec(settings):
    """The Instrumentation's spec. Fields the operator would drop (false, empty) are left out, so the
    live object holds exactly what was applied and a second run has nothing to change."""
    s = check_instrumentation(settings)
    http_default = "http://%s:%d" % (s["endpoint_host"], s["otlp_http_port"])
    sampler = {"type": PROFILES[s["sampling_profile"]]}
    if s["sampling_profile"] == "article":
        sampler["argument"] = ratio_text(s["head_ratio"])
    spec = {
        "exporter": {"endpoint": http_default},
        "propagators": list(s["propagators"]),
        "sampler": sampler,
    }
    resource = {}
    if s["resource_attributes"]:
        resource["resourceAttributes"] = dict(s["resource_attributes"])
    if s["add_k8s_uid_attributes"]:
        resource["addK8sUIDAttributes"] = True
    if resource:
        spec["resource"] = resource
    if s["use_labels_for_resource_attributes"]:
        spec["defaults"] = {"useLabelsForResourceAttributes": True}
    if s["env"]:
        spec["env"] = _env_list(sorted(s["env"].items()))
    for language in LANGUAGES:
        spec[language] = {"image": image_ref(s["image_registry"], s["images"][language]),
                          "env": language_env(s, language)}
    return spec


MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
LABELS = {MANAGED_BY_LABEL: "tracefleet.otel", "app.kubernetes.io/part-of": "tracefleet"}


def instrumentation_objects(settings):
    """One Instrumentation per target namespace, each with the same spec."""
    s = check_instrumentation(settings)
    spec = instrumentation_spec(settings)
    return [{
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "Instrumentation",
        "metadata": {"name": s["name"], "namespace": namespace, "labels": dict(LABELS)},
        "spec": copy.deepcopy(spec),
    } for namespace in s["namespaces"]]


def instrumentation_settings_errors(settings):
    """Every problem with the instrumentation settings, each naming its variable (empty list: fine)."""
    return instrumentation_errors(settings, resolve(settings, INSTRUMENTATION_DEFAULTS))


# --- sampling consistency ----------------------------------------------------------------------

def _percent(rate):
    text = ("%.4f" % (rate * 100)).rstrip("0").rstrip(".")
    return (text or "0") + " %"


def sampling_keep_rates(settings):
    """How much of each kind of trace is kept once the SDK's head sampler and the gateway's tail policies both ran.

    The gateway keeps a trace when any policy says so (keep-errors, keep-slow, a probabilistic share of
    the rest), but it only decides on traces the SDK exported. The probabilistic tail policy hashes the
    trace id with a salt (otelcol-contrib 0.158), independently of the SDK's trace-id threshold, so the
    two probabilities multiply: effective = head ratio x tail keep probability.
    """
    s = check_instrumentation(settings)
    head = 1.0 if s["sampling_profile"] == "tail_first" else float(s["head_ratio"])
    tail_routine = s["tail_sampling_percentage"] / 100.0
    sampler = PROFILES[s["sampling_profile"]]
    head_text = sampler if s["sampling_profile"] == "tail_first" else "%s %s" % (sampler, ratio_text(head))
    policies = [
        ("errors", "traces with a span in status ERROR (tail policy keep-errors)", 1.0),
        ("slow", "traces of %d ms or longer (tail policy keep-slow)" % s["tail_latency_threshold_ms"], 1.0),
        ("routine", "all other traces (tail policy sample-rest, %s)" % _percent(tail_routine), tail_routine),
    ]
    rates = []
    for name, description, tail in policies:
        effective = round(head * tail, 10)
        rates.append({
            "policy": name,
            "description": description,
            "head": head,
            "tail": tail,
            "effective": effective,
            "line": "%-8s head %s x tail %s = %s kept" % (name + ":", _percent(head), _percent(tail), _percent(effective)),
        })
    warning = ""
    if head < 1.0:
        lost = 1.0 - head
        warning = (
            "%ssampling_profile '%s' samples %s of root traces in the SDK (%s), and the gateway's keep-errors "
            "and keep-slow tail policies only see traces the SDK exported: %s of error traces and %s of slow "
            "traces are dropped before the gateway can keep them (effective keep rate %s, not 100 %%). "
            "Use sampling_profile 'tail_first' (parentbased_always_on in the SDK) to keep every error and "
            "slow trace and control volume at the gateway (%stail_sampling_percentage)."
            % (INSTRUMENTATION_PREFIX, s["sampling_profile"], _percent(head), head_text, _percent(lost),
               _percent(lost), _percent(head), INSTRUMENTATION_PREFIX))
    return {
        "profile": s["sampling_profile"],
        "head_sampler": sampler,
        "head_ratio": head,
        "head": head_text,
        "policies": rates,
        "effective": dict((rate["policy"], rate["effective"]) for rate in rates),
        "warning": warning,
        "summary": [rate["line"] for rate in rates],
    }


# --- annotate -----------------------------------------------------------------------------------

def workload_ref(workload):
    """'Deployment shop/checkout' for messages."""
    if not isinstance(workload, dict):
        return _show(workload)
    return "%s %s/%s" % (workload.get("kind") or "Deployment", workload.get("namespace"), workload.get("name"))


def _workload(raw):
    w = {"kind": "Deployment", "instrumentation": "true", "container_names": [], "go_target_exe": ""}
    w.update((k, v) for k, v in raw.items() if v is not None)
    inst = w["instrumentation"]
    if inst is True or (isinstance(inst, str) and inst.lower() == "true"):
        w["instrumentation"] = "true"  # YAML `true` unquoted, or the argument spec's str() of it
    elif inst is False or (isinstance(inst, str) and inst.lower() == "false"):
        w["instrumentation"] = "false"
    return w


_SDK_REFUSAL = (
    "'sdk' is refused: instrumentation.opentelemetry.io/inject-sdk only sets the OTEL_* SDK environment "
    "(endpoint, propagators, sampler) and attaches no language agent, so a service without the OpenTelemetry "
    "SDK built in emits no spans; name the runtime's agent instead: " + ", ".join(LANGUAGES))


def annotate_errors(raw, s, prefix=ANNOTATE_PREFIX):
    """Every problem with the annotate settings that needs no cluster (raw: as given; s: resolved)."""
    c = _Checker(s, prefix)
    _unknown(c, raw, s)
    c.choice("state", ("present", "absent"))
    c.choice("missing", ("fail", "warn"))
    c.choice("restart", ("on_change", "never"))
    c.boolean("verify_instrumentation")
    c.boolean("wait")
    c.integer("max_parallel", 1)
    c.integer("wait_timeout", 1)
    workloads = s["workloads"]
    if not isinstance(workloads, list):
        c.fail("workloads", "a list of workloads ({namespace, name, language, ...})")
        return c.errors
    seen = {}
    for index, raw_workload in enumerate(workloads):
        name = "%s[%d]" % (c.var("workloads"), index)
        if not isinstance(raw_workload, dict):
            c.errors.append("%s: expected a dict with namespace, name and language, got %s" % (name, _show(raw_workload)))
            continue
        unknown = sorted(set(raw_workload) - set(WORKLOAD_KEYS))
        if unknown:
            c.errors.append("%s: unknown keys %s (expected %s)" % (name, ", ".join(unknown), ", ".join(WORKLOAD_KEYS)))
        w = _workload(raw_workload)
        has = dict((key, raw_workload.get(key) is not None) for key in ("namespace", "name", "language"))
        for key in ("namespace", "name", "language"):
            if not has[key]:
                c.errors.append("%s.%s: required" % (name, key))
        if has["namespace"]:
            c.dns_label(w["namespace"], name + ".namespace")
        if has["name"] and not (isinstance(w["name"], str) and _DNS_SUBDOMAIN.match(w["name"])):
            c.errors.append("%s.name: expected a Kubernetes object name, got %s" % (name, _show(w["name"])))
        if w["kind"] not in WORKLOAD_KINDS:
            c.errors.append("%s.kind: expected one of %s, got %s" % (name, ", ".join(WORKLOAD_KINDS), _show(w["kind"])))
        language = w.get("language")
        if language == "sdk":
            c.errors.append("%s.language: %s" % (name, _SDK_REFUSAL))
        elif has["language"] and language not in LANGUAGES:
            c.errors.append("%s.language: expected one of %s, got %s" % (name, ", ".join(LANGUAGES), _show(language)))
        inst = w["instrumentation"]
        parts = inst.split("/") if isinstance(inst, str) else []
        if inst == "false":
            c.errors.append("%s.instrumentation: 'false' turns injection off; use %sstate: absent to remove the "
                            "annotations instead" % (name, prefix))
        elif not (inst == "true" or (len(parts) in (1, 2) and all(_DNS_LABEL.match(p) for p in parts))):
            c.errors.append("%s.instrumentation: expected \"true\" (the one Instrumentation in the workload's namespace), "
                            "a name, or namespace/name, got %s" % (name, _show(inst)))
        containers = w["container_names"]
        if not isinstance(containers, list) or not all(isinstance(n, str) and _DNS_LABEL.match(n) for n in containers):
            c.errors.append("%s.container_names: expected a list of container names, got %s" % (name, _show(containers)))
        elif len(set(containers)) != len(containers):
            c.errors.append("%s.container_names: expected each container once, got %s" % (name, _show(containers)))
        exe = w["go_target_exe"]
        if not isinstance(exe, str):
            c.errors.append("%s.go_target_exe: expected a string, got %s" % (name, _show(exe)))
        elif language == "go" and not exe.startswith("/"):
            c.errors.append("%s.go_target_exe: required for language go: the absolute path of the executable "
                            "the Go agent attaches to (annotation %s), got %s" % (name, GO_TARGET_EXE_ANNOTATION, _show(exe)))
        elif language != "go" and exe:
            c.errors.append("%s.go_target_exe: only for language go, got %s for language %s" % (name, _show(exe), _show(language)))
        if language == "go" and len(containers) > 1:
            c.errors.append("%s.container_names: the Go agent attaches to one container, got %s" % (name, _show(containers)))
        key = (w["kind"], w["namespace"], w["name"]) if has["namespace"] and has["name"] else None
        if key in seen:
            c.errors.append("%s: the same workload as %s[%d] (%s); one entry per workload"
                            % (name, c.var("workloads"), seen[key], workload_ref(w)))
        elif key:
            seen[key] = index
    return c.errors


def check_annotate(settings):
    s = checked(settings, ANNOTATE_DEFAULTS, annotate_errors)
    s["workloads"] = [_workload(w) for w in s["workloads"]]
    return s


def annotate_settings_errors(settings):
    """Every cluster-free problem with the annotate settings, each naming its variable (empty list: fine)."""
    return annotate_errors(settings, resolve(settings, ANNOTATE_DEFAULTS))


def workload_annotations(workload):
    """The pod-template annotations for one workload entry."""
    w = _workload(workload)
    annotations = {ANNOTATION_PREFIX + "inject-" + w["language"]: w["instrumentation"]}
    if w["container_names"]:
        annotations[CONTAINER_NAMES_ANNOTATION] = ",".join(w["container_names"])
    if w["language"] == "go":
        annotations[GO_TARGET_EXE_ANNOTATION] = w["go_target_exe"]
    return annotations


def workload_definition(workload, state):
    """The partial object the annotate role server-side applies: identity plus the pod-template annotations
    (state present), or identity alone (state absent: the apply releases, and so removes, what the role set)."""
    w = _workload(workload)
    definition = {
        "apiVersion": "apps/v1",
        "kind": w["kind"],
        "metadata": {"name": w["name"], "namespace": w["namespace"]},
    }
    if state == "present":
        definition["spec"] = {"template": {"metadata": {"annotations": workload_annotations(w)}}}
    return definition


def annotate_plan(settings, reads):
    """One entry per workload: {index, ref, exists, changed, definition, containers}, `reads` being the
    k8s_info results in workload order."""
    s = check_annotate(settings)
    plan = []
    for index, w in enumerate(s["workloads"]):
        live = live_object(reads[index] if index < len(reads) else None)
        definition = workload_definition(w, s["state"])
        containers = []
        if live:
            containers = [ctr.get("name") for ctr in
                          (((live.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []]
        plan.append({
            "index": index,
            "ref": workload_ref(w),
            "kind": w["kind"],
            "namespace": w["namespace"],
            "name": w["name"],
            "exists": bool(live),
            "changed": bool(live) and apply_needed(live, definition),
            "definition": definition,
            "containers": containers,
        })
    return plan


def annotate_live_errors(settings, plan):
    """Problems only the live workloads show: a missing workload (unless missing: warn), a container name
    the pod template does not have (the operator would silently instrument the first container)."""
    s = check_annotate(settings)
    errors = []
    var = ANNOTATE_PREFIX + "workloads"
    for item in plan:
        w = s["workloads"][item["index"]]
        if not item["exists"]:
            if s["missing"] == "fail":
                errors.append("%s[%d]: %s does not exist (set %smissing: warn to skip missing workloads)"
                              % (var, item["index"], item["ref"], ANNOTATE_PREFIX))
            continue
        if s["state"] != "present":
            continue
        absent = [n for n in w["container_names"] if n not in item["containers"]]
        if absent:
            errors.append("%s[%d].container_names: %s has no container %s (its pod template has %s)"
                          % (var, item["index"], item["ref"], ", ".join(absent), ", ".join(item["containers"]) or "none"))
    return errors


def annotate_missing_warnings(settings, plan):
    s = check_annotate(settings)
    if s["missing"] != "warn":
        return []
    template = "%sworkloads[%d]: %s does not exist; skipped (%smissing: warn)"
    return [template % (ANNOTATE_PREFIX, item["index"], item["ref"], ANNOTATE_PREFIX)
            for item in plan if not item["exists"]]


def annotate_instrumentation_errors(settings, instrumentations):
    """References to Instrumentations that the operator could not resolve: `instrumentations` maps a
    namespace to the names of the Instrumentations in it (namespaces not listed were not read)."""
    s = check_annotate(settings)
    errors = []
    var = ANNOTATE_PREFIX + "workloads"
    for index, w in enumerate(s["workloads"]):
        ref = w["instrumentation"]
        if ref == "true":
            names = instrumentations.get(w["namespace"])
            if names is None:
                continue
            if len(names) != 1:
                errors.append("%s[%d].instrumentation: \"true\" needs exactly one Instrumentation in namespace %s, "
                              "found %s; name one" % (var, index, w["namespace"], ", ".join(sorted(names)) or "none"))
            continue
        namespace, _sep, name = ref.rpartition("/")
        namespace = namespace or w["namespace"]
        names = instrumentations.get(namespace)
        if names is not None and name not in names:
            errors.append("%s[%d].instrumentation: no Instrumentation %s/%s (the operator would start the pods "
                          "without injection); found %s" % (var, index, namespace, name, ", ".join(sorted(names)) or "none"))
    return errors


def annotate_instrumentation_namespaces(settings):
    """The namespaces whose Instrumentations the references need."""
    s = check_annotate(settings)
    namespaces = set()
    for w in s["workloads"]:
        ref = w["instrumentation"]
        referenced = ref.rpartition("/")[0] if ref != "true" else ""
        namespaces.add(referenced or w["namespace"])
    return sorted(namespaces)
