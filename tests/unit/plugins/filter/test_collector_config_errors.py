"""Bad settings give errors a user can act on, each naming the role variable, before any cluster call."""

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.tracefleet.otel.plugins.filter.collector_config import FilterModule

FILTERS = FilterModule().filters()

GATEWAY_CASES = [
    # (settings, variable named, words the message must contain)
    ({"processors": ["tail_sampling", "memory_limiter", "batch"]}, "processors", "memory_limiter first"),
    ({"processors": ["memory_limiter", "batch", "tail_sampling"]}, "processors", "batch last"),
    ({"processors": ["memory_limiter", "tail_sampling", "filter", "batch"]}, "processors", "'filter'"),
    ({"processors": ["memory_limiter", "tail_sampling", "batch", "batch"]}, "processors", "each processor once"),
    ({"processors": ["memory_limiter", "batch"]}, "processors", "includes tail_sampling"),
    ({"sampling_percentage": 150}, "sampling_percentage", "from 0 to 100, got 150"),
    ({"sampling_percentage": -1}, "sampling_percentage", "from 0 to 100, got -1"),
    ({"sampling_percentage": "10"}, "sampling_percentage", "got '10'"),
    ({"latency_threshold_ms": -2000}, "latency_threshold_ms", "at least 1, got -2000"),
    ({"num_traces": 0}, "num_traces", "at least 1"),
    ({"sampled_cache_size": -5}, "sampled_cache_size", "at least 1, got -5"),
    ({"expected_new_traces_per_sec": 0}, "expected_new_traces_per_sec", "at least 1, got 0"),
    ({"num_traces_safety_factor": 0.5}, "num_traces_safety_factor", "from 1 to 100"),
    ({"average_trace_kib": 0}, "average_trace_kib", "got 0"),
    # The article's num_traces at 16 KiB a trace needs 1563 MiB; 2Gi leaves the limiter 1536 - 389 = 1147 MiB.
    ({"num_traces": 100000}, "memory_limit", "soft limit of 1147 MiB (limit 1536 MiB - spike 389 MiB), which cannot "
     "hold 100000 traces (num_traces) x 16 KiB (tracefleet_gateway_average_trace_kib) = 1563 MiB"),
    ({"expected_new_traces_per_sec": 20000}, "memory_limit", "or lower tracefleet_gateway_expected_new_traces_per_sec"),
    ({"non_sampled_cache_size": 1.5}, "non_sampled_cache_size", "whole number"),
    ({"decision_wait": "10 seconds"}, "decision_wait", "Go duration"),
    ({"memory_limit": "1536Mi", "memory_limiter_limit_mib": 1600}, "memory_limiter_limit_mib",
     "below the container memory limit tracefleet_gateway_memory_limit = 1536Mi (1536 MiB), got 1600 MiB"),
    ({"memory_limit": "512Mi"}, "memory_limit", "at least 1024 MiB"),
    ({"memory_limit": "two gigs"}, "memory_limit", "memory quantity"),
    ({"memory_limiter_limit_mib": 1000, "memory_limiter_spike_limit_mib": 1000}, "memory_limiter_spike_limit_mib",
     "less than the limiter limit (1000 MiB)"),
    ({"memory_limiter_limit_mib": -1}, "memory_limiter_limit_mib", "at least 1"),
    ({"tls_enabled": True, "tls_ca_file": "../../etc/shadow"}, "tls_ca_file", "file name inside tracefleet_gateway_tls_dir"),
    ({"tls_enabled": True, "tls_ca_file": ""}, "tls_ca_file", "file name"),
    ({"tls_enabled": True, "tls_key_file": ""}, "tls_cert_file", "both set"),
    ({"tls_enabled": True, "tls_dir": "certs"}, "tls_dir", "absolute path"),
    ({"tls_enabled": True, "tls_insecure": True}, "tls_insecure", "expected false while tracefleet_gateway_tls_enabled"),
    ({"tls_insecure": "yes"}, "tls_insecure", "true or false"),
    ({"probe_attribute_key": ""}, "probe_attribute_key", "non-empty"),
    ({"environment": ""}, "environment", "non-empty"),
    ({"extra_attributes": {"deployment.environment": "x"}}, "extra_attributes", "no entry for deployment.environment"),
    ({"redaction_value_patterns": ["(?<=card:)[0-9]+"]}, "redaction_value_patterns[0]", "RE2"),
    ({"redaction_key_patterns": ["(unclosed"]}, "redaction_key_patterns[0]", "not a valid regular expression"),
    ({"redaction_hash_function": "sha256"}, "redaction_hash_function", "'sha3'"),
    ({"span_name_rules": [{"pattern": "/([0-9]+)/\\1", "replacement": "x"}]}, "span_name_rules[0].pattern", "RE2"),
    ({"span_name_rules": [{"regex": "/[0-9]+"}]}, "span_name_rules[0]", "exactly the keys pattern and replacement"),
    ({"tempo_endpoint": "tempo"}, "tempo_endpoint", "host:port"),
    ({"tempo_protocol": "http"}, "tempo_endpoint", "http:// or https:// URL"),
    ({"persistent_queue_enabled": True, "persistent_queue_directory": "queue"}, "persistent_queue_directory", "absolute"),
    ({"otlp_grpc_endpoint": "0.0.0.0:99999"}, "otlp_grpc_endpoint", "host]:port"),
    ({"metrics_port": 0}, "metrics_port", "from 1 to 65535"),
    ({"queue_size": 0}, "queue_size", "at least 1"),
    ({"latency_treshold_ms": 100}, "latency_treshold_ms", "unknown setting"),
    ({"service_objectives": [{"service": "checkout", "latency_ms": -800}]}, "service_objectives[0].latency_ms",
     "above 0, got -800"),
    ({"service_objectives": [{"service": "checkout"}]}, "service_objectives[0].latency_ms", "got null"),
    ({"service_objectives": [{"service": "checkout", "latency_ms": 800, "threshold_ms": 0}]},
     "service_objectives[0].threshold_ms", "above 0, got 0"),
    ({"service_objectives": [{"service": "", "latency_ms": 800}]}, "service_objectives[0].service", "a service name"),
    ({"service_objectives": [{"service": "checkout", "latency_ms": 800}, {"service": "checkout", "latency_ms": 900}]},
     "service_objectives[1].service", "each service once"),
    ({"services": ["checkout"], "service_objectives": [{"service": "chekout", "latency_ms": 800}]},
     "service_objectives[0].service", "one of the services in tracefleet_gateway_services (checkout), got 'chekout'"),
    ({"service_objectives": [{"service": "checkout", "latency": 800}]}, "service_objectives[0]", "only the keys"),
    ({"service_objectives": {"checkout": 800}}, "service_objectives", "a list of"),
    ({"volume_budget": {"spans_per_sec": -5, "expected_spans_per_sec": 100}}, "volume_budget.spans_per_sec",
     "above 0, got -5"),
    ({"volume_budget": {"spans_per_sec": 50}}, "volume_budget.expected_spans_per_sec", "above 0, got null"),
    ({"volume_budget": {"spans_per_sec": 50, "expected_spans_per_sec": 100, "always_kept_ratio": 1.5}},
     "volume_budget.always_kept_ratio", "up to (not including) 1"),
    ({"volume_budget": {"spans_per_sec": 10, "expected_spans_per_sec": 10000, "always_kept_ratio": 0.05}},
     "volume_budget.spans_per_sec", "at least the 500.0 spans/s"),
    ({"volume_budget": {"spans_per_second": 10, "spans_per_sec": 10, "expected_spans_per_sec": 100}},
     "volume_budget", "only the keys"),
]

AGENT_CASES = [
    ({"processors": ["k8s_attributes", "memory_limiter", "batch"]}, "processors", "memory_limiter first"),
    ({"processors": ["memory_limiter", "batch", "k8s_attributes"]}, "processors", "batch last"),
    ({"processors": ["memory_limiter", "tail_sampling", "batch"]}, "processors", "'tail_sampling'"),
    ({"processors": ["k8s_attributes"]}, "processors", "includes memory_limiter, batch"),
    ({"memory_limit": "256Mi"}, "memory_limiter_limit_mib",
     "below the container memory limit tracefleet_agent_memory_limit = 256Mi (256 MiB), got 300 MiB"),
    ({"memory_limiter_spike_limit_mib": 300}, "memory_limiter_spike_limit_mib", "less than the limiter limit (300 MiB)"),
    ({"memory_limiter_check_interval": 500}, "memory_limiter_check_interval", "Go duration"),
    ({"export_mode": "otlp"}, "export_mode", "'load_balancing', 'plain_otlp'"),
    ({"resolver": "consul"}, "resolver", "'dns', 'k8s', 'static'"),
    ({"resolver": "static"}, "static_hostnames", "non-empty list"),
    ({"resolver": "static", "static_hostnames": ["127.0.0.2:4317", "bad host"]}, "static_hostnames", "'bad host'"),
    ({"gateway_name": "Gateway_1"}, "gateway_name", "Kubernetes name"),
    ({"gateway_port": -4317}, "gateway_port", "from 1 to 65535"),
    ({"k8s_auth_type": "token"}, "k8s_auth_type", "'serviceAccount'"),
    ({"k8s_node_env_var": "node name"}, "k8s_node_env_var", "environment variable name"),
    ({"k8s_metadata": []}, "k8s_metadata", "non-empty list"),
    ({"tls_enabled": True, "tls_insecure": True}, "tls_insecure", "expected false while tracefleet_agent_tls_enabled"),
    ({"tls_enabled": True, "tls_cert_file": "certs/tls.crt"}, "tls_cert_file", "file name inside"),
    ({"batch_send_batch_size": -1}, "batch_send_batch_size", "at least 1"),
    ({"batch_timeout": "2"}, "batch_timeout", "Go duration"),
    ({"export_timeout": "soon"}, "export_timeout", "Go duration"),
    ({"decision_wait": "10s"}, "decision_wait", "unknown setting"),
]


def _errors(kind, settings):
    return FILTERS["%s_collector_config_errors" % kind](settings)


@pytest.mark.parametrize("kind", ["gateway", "agent"])
def test_defaults_are_valid(kind):
    assert _errors(kind, {}) == []


@pytest.mark.parametrize("settings, key, words", GATEWAY_CASES)
def test_gateway_bad_input_names_the_variable(settings, key, words):
    errors = _errors("gateway", settings)
    named = [e for e in errors if e.startswith("tracefleet_gateway_%s" % key)]
    assert named, errors
    assert any(words in e for e in named), named


@pytest.mark.parametrize("settings, key, words", AGENT_CASES)
def test_agent_bad_input_names_the_variable(settings, key, words):
    errors = _errors("agent", settings)
    named = [e for e in errors if e.startswith("tracefleet_agent_%s" % key)]
    assert named, errors
    assert any(words in e for e in named), named


def test_every_problem_is_reported_at_once():
    errors = _errors("gateway", {"sampling_percentage": 101, "latency_threshold_ms": 0, "num_traces": -1})
    assert [e.split(":")[0] for e in errors] == [
        "tracefleet_gateway_num_traces", "tracefleet_gateway_latency_threshold_ms", "tracefleet_gateway_sampling_percentage"]


def test_settings_must_be_a_dict():
    assert _errors("agent", ["memory_limiter"]) == ["settings for tracefleet_agent_*: expected a dict, got list"]


@pytest.mark.parametrize("kind", ["gateway", "agent"])
def test_config_filters_refuse_bad_settings_listing_every_problem(kind):
    with pytest.raises(AnsibleFilterError) as err:
        FILTERS["%s_collector_config" % kind]({"processors": ["batch", "memory_limiter"], "queue_size": 0})
    message = str(err.value)
    assert message.startswith("invalid %s collector settings:" % kind)
    assert "tracefleet_%s_processors: expected memory_limiter first" % kind in message
    assert "tracefleet_%s_queue_size: expected a whole number of at least 1, got 0" % kind in message


def test_a_persistent_queue_is_a_gateway_setting_only():
    assert _errors("agent", {"persistent_queue_enabled": True}) == [
        "tracefleet_agent_persistent_queue_enabled: unknown setting (no such role variable)"]
