"""The Instrumentation spec, the sampling arithmetic and the annotate logic, as the roles get them from the filters."""

import copy
import random

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.tracefleet.otel.plugins.filter.instrumentation import FilterModule
from ansible_collections.tracefleet.otel.plugins.module_utils import instrumentation as mu

FILTERS = FilterModule().filters()
spec = FILTERS["instrumentation_spec"]
errors = FILTERS["instrumentation_errors"]
rates = FILTERS["sampling_keep_rates"]
annotate_errors = FILTERS["annotate_errors"]

AGENT = "agent-collector.observability.svc.cluster.local"


def env_of(language_spec):
    return dict((item["name"], item["value"]) for item in language_spec["env"])


def test_the_filters_a_role_can_call():
    assert sorted(FILTERS) == [
        "annotate_errors", "annotate_instrumentation_errors", "annotate_instrumentation_namespaces",
        "annotate_live_errors", "annotate_missing_warnings", "annotate_plan",
        "instrumentation_errors", "instrumentation_objects", "instrumentation_spec", "sampling_keep_rates",
    ]


def test_spec_is_plain_data_that_yaml_round_trips_and_defaults_are_not_shared():
    first = spec({})
    assert yaml.safe_load(yaml.safe_dump(first)) == first
    first["java"]["env"].append({"name": "X", "value": "y"})
    assert spec({}) == spec({})
    assert {"name": "X", "value": "y"} not in spec({})["java"]["env"]


def test_the_role_defaults_mirror_the_module_defaults():
    defaults = yaml.safe_load(open(mu.__file__.replace("plugins/module_utils/instrumentation.py",
                                                       "roles/instrumentation/defaults/main.yml")))
    resolved = dict((k[len("tracefleet_instrumentation_"):], v) for k, v in defaults.items())
    # Null in the role means "follow the agent/gateway role"; the module's defaults are those roles' defaults.
    for key in ("endpoint_host", "tail_sampling_percentage", "tail_latency_threshold_ms"):
        assert resolved.pop(key) is None
    assert resolved == dict((k, v) for k, v in mu.INSTRUMENTATION_DEFAULTS.items()
                            if k not in ("endpoint_host", "tail_sampling_percentage", "tail_latency_threshold_ms"))


# --- export: protocol and endpoint explicit per language --------------------------------------------

@pytest.mark.parametrize("language", mu.LANGUAGES)
def test_every_language_sets_protocol_and_endpoint_explicitly(language):
    env = env_of(spec({})[language])
    assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://%s:4318" % AGENT
    # first in the list: the operator appends its own defaults only when a name is not set yet
    assert [item["name"] for item in spec({})[language]["env"][:2]] == ["OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_ENDPOINT"]


def test_grpc_languages_get_the_grpc_port_and_the_others_keep_http():
    result = spec({"protocols": {"nodejs": "grpc", "java": "grpc"}, "otlp_grpc_port": 14317})
    assert env_of(result["nodejs"])["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://%s:14317" % AGENT
    assert env_of(result["java"])["OTEL_EXPORTER_OTLP_PROTOCOL"] == "grpc"
    assert env_of(result["python"])["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://%s:4318" % AGENT
    assert env_of(result["python"])["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"


def test_the_common_exporter_endpoint_is_the_http_one():
    assert spec({"endpoint_host": "203.0.113.7", "otlp_http_port": 8318})["exporter"] == {"endpoint": "http://203.0.113.7:8318"}


def test_go_gets_only_trace_export_settings():
    env = env_of(spec({})["go"])
    assert "OTEL_LOGS_EXPORTER" not in env and "OTEL_METRICS_EXPORTER" not in env


# --- images ----------------------------------------------------------------------------------------

def test_images_are_pinned_and_get_the_registry_prefix():
    result = spec({})
    assert result["java"]["image"] == "ghcr.io/open-telemetry/opentelemetry-operator/autoinstrumentation-java:2.22.0"
    assert result["dotnet"]["image"].endswith("autoinstrumentation-dotnet:1.13.0")
    assert result["go"]["image"] == "ghcr.io/open-telemetry/opentelemetry-go-instrumentation/autoinstrumentation-go:v0.22.1"


def test_one_mirror_prefix_moves_every_image_and_full_references_stay():
    digest = "sha256:" + "a" * 64
    result = spec({"image_registry": "mirror.example.com:5000/otel",
                   "images": {"python": "registry.local/team/python-agent:1.0", "java": "open-telemetry/java@" + digest}})
    assert result["nodejs"]["image"] == "mirror.example.com:5000/otel/open-telemetry/opentelemetry-operator/autoinstrumentation-nodejs:0.67.2"
    assert result["python"]["image"] == "registry.local/team/python-agent:1.0"
    assert result["java"]["image"] == "mirror.example.com:5000/otel/open-telemetry/java@" + digest


def test_images_left_out_keep_their_defaults():
    result = spec({"images": {"java": "open-telemetry/opentelemetry-operator/autoinstrumentation-java:2.21.0"}})
    assert result["java"]["image"].endswith(":2.21.0")
    assert result["python"]["image"].endswith(":0.60b0")


# --- propagators, sampler, resource ------------------------------------------------------------------

def test_propagators_default_to_w3c():
    assert spec({})["propagators"] == ["tracecontext", "baggage"]


def test_a_list_without_tracecontext_needs_the_explicit_override():
    assert spec({"propagators": ["b3multi"], "allow_non_w3c": True})["propagators"] == ["b3multi"]
    assert spec({"propagators": ["tracecontext", "baggage", "b3"]})["propagators"] == ["tracecontext", "baggage", "b3"]


def test_profiles_set_the_sampler():
    assert spec({})["sampler"] == {"type": "parentbased_always_on"}
    assert spec({"sampling_profile": "article"})["sampler"] == {"type": "parentbased_traceidratio", "argument": "0.1"}
    assert spec({"sampling_profile": "article", "head_ratio": 0.00001})["sampler"]["argument"] == "0.00001"
    assert spec({"sampling_profile": "article", "head_ratio": 1})["sampler"]["argument"] == "1"


def test_resource_settings_and_fields_the_operator_would_drop_are_left_out():
    bare = spec({"use_labels_for_resource_attributes": False})
    assert "resource" not in bare and "defaults" not in bare and "env" not in bare
    full = spec({"resource_attributes": {"deployment.environment.name": "prod"}, "add_k8s_uid_attributes": True,
                 "env": {"OTEL_BSP_MAX_QUEUE_SIZE": "4096"}})
    assert full["resource"] == {"resourceAttributes": {"deployment.environment.name": "prod"}, "addK8sUIDAttributes": True}
    assert full["defaults"] == {"useLabelsForResourceAttributes": True}
    assert full["env"] == [{"name": "OTEL_BSP_MAX_QUEUE_SIZE", "value": "4096"}]


# --- logs ------------------------------------------------------------------------------------------

def test_log_correlation_per_language():
    result = spec({})
    assert env_of(result["python"])["OTEL_PYTHON_LOG_CORRELATION"] == "true"
    assert env_of(result["java"])["OTEL_INSTRUMENTATION_LOGBACK_MDC_ENABLED"] == "true"
    assert env_of(result["java"])["OTEL_INSTRUMENTATION_LOG4J_CONTEXT_DATA_ENABLED"] == "true"
    for language in ("java", "nodejs", "python", "dotnet"):
        assert env_of(result[language])["OTEL_LOGS_EXPORTER"] == "none"
        assert env_of(result[language])["OTEL_TRACES_EXPORTER"] == "otlp"


def test_logs_over_otlp_add_the_language_bridges():
    result = spec({"logs_exporter": "otlp"})
    assert env_of(result["python"])["OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED"] == "true"
    assert env_of(result["dotnet"])["OTEL_DOTNET_AUTO_LOGS_INCLUDE_FORMATTED_MESSAGE"] == "true"
    assert env_of(result["java"])["OTEL_LOGS_EXPORTER"] == "otlp"


def test_log_correlation_off():
    result = spec({"log_correlation_enabled": False})
    assert "OTEL_PYTHON_LOG_CORRELATION" not in env_of(result["python"])
    assert "OTEL_INSTRUMENTATION_LOGBACK_MDC_ENABLED" not in env_of(result["java"])


def test_language_env_is_appended_after_the_roles_own():
    result = spec({"language_env": {"java": {"OTEL_INSTRUMENTATION_JDBC_ENABLED": "false"}}})
    assert result["java"]["env"][-1] == {"name": "OTEL_INSTRUMENTATION_JDBC_ENABLED", "value": "false"}


def test_objects_one_per_namespace_with_the_labels():
    objects = FILTERS["instrumentation_objects"]({"namespaces": ["shop", "payments"], "name": "otel"})
    assert [(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects] == [("shop", "otel"), ("payments", "otel")]
    assert objects[0]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "tracefleet.otel"
    assert objects[0]["spec"] == objects[1]["spec"] == spec({})
    assert objects[0]["spec"] is not objects[1]["spec"]


# --- instrumentation bad input: every error names its variable ----------------------------------------

INSTRUMENTATION_CASES = [
    ({"propagators": ["b3"]}, "propagators", "includes 'tracecontext'"),
    ({"propagators": ["b3"]}, "propagators", "set tracefleet_instrumentation_allow_non_w3c: true"),
    ({"propagators": ["tracecontext", "w3c"]}, "propagators", "only tracecontext"),
    ({"propagators": ["tracecontext", "none"]}, "propagators", "'none' alone"),
    ({"propagators": ["tracecontext", "tracecontext"]}, "propagators", "each propagator once"),
    ({"propagators": []}, "propagators", "non-empty list"),
    ({"images": {"java": "ghcr.io/x/java:latest"}}, "images.java", "'latest' is not a pin"),
    ({"images": {"python": "ghcr.io/x/python"}}, "images.python", "pinned tag or digest"),
    ({"images": {"go": "Not An Image"}}, "images.go", "image reference"),
    ({"images": {"ruby": "x/ruby:1"}}, "images", "unknown language 'ruby'"),
    ({"protocols": {"python": "grpc"}}, "protocols.python", "only the OTLP/HTTP exporter"),
    ({"protocols": {"java": "http/json"}}, "protocols.java", "'http/protobuf' or 'grpc'"),
    ({"head_ratio": 0}, "head_ratio", "above 0 and at most 1"),
    ({"head_ratio": 1.5}, "head_ratio", "got 1.5"),
    ({"head_ratio": "0.1"}, "head_ratio", "got '0.1'"),
    ({"tail_sampling_percentage": 101}, "tail_sampling_percentage", "from 0 to 100"),
    ({"sampling_profile": "head_only"}, "sampling_profile", "'article', 'tail_first'"),
    ({"namespaces": []}, "namespaces", "non-empty list"),
    ({"namespaces": ["Shop"]}, "namespaces[0]", "Kubernetes name"),
    ({"namespaces": ["shop", "shop"]}, "namespaces", "each namespace once"),
    ({"name": "my_inst"}, "name", "Kubernetes name"),
    ({"endpoint_host": "http://agent:4318"}, "endpoint_host", "without scheme or port"),
    ({"otlp_http_port": 70000}, "otlp_http_port", "from 1 to 65535"),
    ({"resource_attributes": {"team.size": 4}}, "resource_attributes.team.size", "quote it"),
    ({"env": {"OTEL_PROPAGATORS": "b3"}}, "env.OTEL_PROPAGATORS", "tracefleet_instrumentation_propagators"),
    ({"env": {"9BAD": "x"}}, "env", "environment variable names"),
    ({"language_env": {"python": {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}}}, "language_env.python.OTEL_EXPORTER_OTLP_PROTOCOL",
     "tracefleet_instrumentation_protocols"),
    ({"logs_exporter": "console"}, "logs_exporter", "'none', 'otlp'"),
    ({"image_registry": "not a registry"}, "image_registry", "registry host"),
    ({"allow_non_w3c": "yes"}, "allow_non_w3c", "true or false"),
    ({"head_rato": 0.2}, "head_rato", "unknown setting"),
]


@pytest.mark.parametrize("settings, variable, words", INSTRUMENTATION_CASES)
def test_bad_instrumentation_settings_name_the_variable(settings, variable, words):
    problems = errors(settings)
    named = [p for p in problems if p.startswith("tracefleet_instrumentation_%s:" % variable)]
    assert named, problems
    assert any(words in p for p in named), named


def test_spec_fails_with_every_problem_listed():
    with pytest.raises(AnsibleFilterError) as err:
        spec({"head_ratio": 2, "propagators": ["b3"]})
    assert "tracefleet_instrumentation_head_ratio" in str(err.value)
    assert "tracefleet_instrumentation_propagators" in str(err.value)


def test_valid_settings_have_no_errors():
    assert errors({}) == []
    assert errors({"propagators": ["xray"], "allow_non_w3c": True, "protocols": {"go": "grpc"}}) == []


# --- sampling consistency ---------------------------------------------------------------------------

def test_the_article_profile_keeps_a_tenth_of_errors_and_warns():
    result = rates({"sampling_profile": "article", "head_ratio": 0.1, "tail_sampling_percentage": 10})
    assert result["effective"] == {"errors": 0.1, "slow": 0.1, "routine": 0.01}
    assert [(p["policy"], p["head"], p["tail"]) for p in result["policies"]] == [
        ("errors", 0.1, 1.0), ("slow", 0.1, 1.0), ("routine", 0.1, 0.1)]
    assert "90 % of error traces and 90 % of slow traces are dropped" in result["warning"]
    assert "tail_first" in result["warning"]
    assert result["summary"][0] == "errors:  head 10 % x tail 100 % = 10 % kept"
    assert result["summary"][2] == "routine: head 10 % x tail 10 % = 1 % kept"


def test_the_tail_first_profile_keeps_every_error_and_slow_trace_without_warning():
    result = rates({"sampling_profile": "tail_first", "head_ratio": 0.1, "tail_sampling_percentage": 10})
    assert result["head_sampler"] == "parentbased_always_on"
    assert result["effective"] == {"errors": 1.0, "slow": 1.0, "routine": 0.1}
    assert result["warning"] == ""


def test_the_article_profile_at_ratio_one_is_consistent():
    assert rates({"sampling_profile": "article", "head_ratio": 1.0})["warning"] == ""


def test_rates_follow_the_gateway_settings():
    result = rates({"sampling_profile": "article", "head_ratio": 0.25, "tail_sampling_percentage": 2,
                    "tail_latency_threshold_ms": 500})
    assert result["effective"] == {"errors": 0.25, "slow": 0.25, "routine": 0.005}
    assert "500 ms" in result["policies"][1]["description"]
    assert "75 % of error traces" in result["warning"]


def _python_sdk_head_sampled(trace_id, ratio):
    """opentelemetry-sdk TraceIdRatioBased: the low 64 bits of the trace id below ratio x 2^64."""
    return trace_id & (2 ** 64 - 1) < round(ratio * 2 ** 64)


def _fnv1a64(data):
    h = 0xcbf29ce484222325
    for byte in bytearray(data):
        h ^= byte
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def _tail_probabilistic_sampled(trace_id, percentage):
    """otelcol-contrib 0.158 tail_sampling probabilistic policy: FNV-1a 64 of salt + trace id <= MaxUint64 x ratio."""
    return _fnv1a64(b"default-hash-seed" + trace_id.to_bytes(16, "big")) <= int((2 ** 64 - 1) * percentage / 100.0)


def test_head_and_tail_decisions_are_independent_so_the_rates_multiply():
    """Both samplers read the trace id; the tail policy hashes it with a salt, so the two decisions are
    independent and the kept share of routine traces is the product (10 % x 10 % = 1 %), not min(10 %, 10 %)."""
    rng = random.Random(20261125)
    n = 40000
    ids = [rng.getrandbits(128) for _ in range(n)]
    head = [t for t in ids if _python_sdk_head_sampled(t, 0.1)]
    both = [t for t in head if _tail_probabilistic_sampled(t, 10)]
    tail_alone = sum(1 for t in ids[:10000] if _tail_probabilistic_sampled(t, 10)) / 10000.0
    assert abs(len(head) / float(n) - 0.1) < 0.006
    assert abs(tail_alone - 0.1) < 0.012
    assert abs(len(both) / float(n) - 0.01) < 0.002   # the product; a nested (consistent) pair would give 0.1


def test_fnv_reference_values():
    # Go's hash/fnv New64a: FNV-1a 64 of "" and "a".
    assert _fnv1a64(b"") == 0xcbf29ce484222325
    assert _fnv1a64(b"a") == 0xaf63dc4c8601ec8c
