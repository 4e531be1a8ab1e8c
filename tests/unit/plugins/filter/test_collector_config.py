"""What the gateway and agent collector configurations contain, as the roles get them from the filters."""

import pytest
import yaml

from ansible_collections.tracefleet.otel.plugins.filter.collector_config import FilterModule

FILTERS = FilterModule().filters()
gateway = FILTERS["gateway_collector_config"]
agent = FILTERS["agent_collector_config"]

TEMPO = "otlp_grpc/tempo"
LB = "load_balancing/gateway"


def test_the_filters_a_role_can_call():
    assert sorted(FILTERS) == [
        "agent_collector_config", "agent_collector_config_errors",
        "gateway_collector_config", "gateway_collector_config_errors", "gateway_sampling_plan",
    ]


@pytest.mark.parametrize("build", [gateway, agent])
def test_configs_are_plain_data_that_yaml_round_trips(build):
    config = build({})
    assert yaml.safe_load(yaml.safe_dump(config)) == config


@pytest.mark.parametrize("build", [gateway, agent])
def test_the_defaults_are_not_shared_between_calls(build):
    first = build({})
    first["processors"]["batch"]["timeout"] = "99s"
    first["service"]["pipelines"]["traces"]["processors"].append("oops")
    assert build({}) == build({})
    assert build({})["processors"]["batch"]["timeout"] != "99s"


# --- gateway ---------------------------------------------------------------------------------

def test_gateway_pipeline_order_memory_limiter_first_batch_last():
    traces = gateway({})["service"]["pipelines"]["traces"]
    assert traces == {
        "receivers": ["otlp"],
        "processors": ["memory_limiter", "tail_sampling", "attributes", "redaction", "transform", "batch"],
        "exporters": [TEMPO],
    }


def test_gateway_declares_exactly_the_processors_it_uses():
    config = gateway({"processors": ["memory_limiter", "tail_sampling", "batch"]})
    assert list(config["processors"]) == ["memory_limiter", "tail_sampling", "batch"]
    assert config["service"]["pipelines"]["traces"]["processors"] == ["memory_limiter", "tail_sampling", "batch"]


def test_gateway_receivers_listen_on_otlp_grpc_and_http():
    assert gateway({})["receivers"] == {
        "otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "0.0.0.0:4318"}}},
    }
    custom = gateway({"otlp_grpc_endpoint": "127.0.0.2:4317", "otlp_http_endpoint": "127.0.0.2:4318"})
    assert custom["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "127.0.0.2:4317"
    assert custom["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "127.0.0.2:4318"


@pytest.mark.parametrize("memory, limit, spike", [
    ("2Gi", 1536, 389),      # the article's 2Gi container limit
    ("1Gi", 768, 194),
    ("4096Mi", 3072, 778),
    ("3G", 2145, 543),       # decimal units: 3e9 bytes = 2861 MiB
    ("1.5Gi", 1152, 291),
])
def test_gateway_memory_limiter_is_sized_from_the_container_limit(memory, limit, spike):
    limiter = gateway({"memory_limit": memory})["processors"]["memory_limiter"]
    assert limiter == {"check_interval": "1s", "limit_mib": limit, "spike_limit_mib": spike}


def test_gateway_memory_limiter_explicit_values_win():
    limiter = gateway({"memory_limiter_limit_mib": 1800, "memory_limiter_spike_limit_mib": 300,
                       "memory_limiter_check_interval": "2s"})["processors"]["memory_limiter"]
    assert limiter == {"check_interval": "2s", "limit_mib": 1800, "spike_limit_mib": 300}


def test_gateway_null_settings_take_the_default():
    assert gateway({"memory_limiter_limit_mib": None, "sampling_percentage": None}) == gateway({})


def test_gateway_tail_sampling_sizing():
    # Derived: 1000 new traces/s per replica x 10 s decision_wait x safety 2; caches hold 60 s of traces.
    tail = gateway({})["processors"]["tail_sampling"]
    assert tail["decision_wait"] == "10s"
    assert tail["num_traces"] == 20000
    assert tail["expected_new_traces_per_sec"] == 1000
    assert tail["decision_cache"] == {"sampled_cache_size": 60000, "non_sampled_cache_size": 60000}


def test_gateway_sizes_follow_the_load_and_explicit_sizes_win():
    tail = gateway({"expected_new_traces_per_sec": 300, "decision_wait": "5s", "num_traces_safety_factor": 1.5,
                    "decision_cache_seconds": 120})["processors"]["tail_sampling"]
    assert tail["num_traces"] == 2250
    assert tail["decision_cache"] == {"sampled_cache_size": 36000, "non_sampled_cache_size": 36000}
    tail = gateway({"num_traces": 5000, "sampled_cache_size": 7, "non_sampled_cache_size": 9})["processors"]["tail_sampling"]
    assert (tail["num_traces"], tail["decision_cache"]) == (5000, {"sampled_cache_size": 7, "non_sampled_cache_size": 9})


def test_gateway_policies_in_order_probe_first():
    policies = gateway({})["processors"]["tail_sampling"]["policies"]
    assert policies == [
        {"name": "keep-probes", "type": "string_attribute",
         "string_attribute": {"key": "tracefleet.probe", "values": ["true"]}},
        {"name": "keep-errors", "type": "status_code", "status_code": {"status_codes": ["ERROR"]}},
        {"name": "keep-slow", "type": "latency", "latency": {"threshold_ms": 2000}},
        {"name": "sample-rest", "type": "probabilistic", "probabilistic": {"sampling_percentage": 10}},
    ]


def test_gateway_thresholds_propagate_from_settings():
    policies = gateway({
        "latency_threshold_ms": 750, "sampling_percentage": 2.5,
        "probe_attribute_key": "synthetic.check", "probe_attribute_value": "yes",
    })["processors"]["tail_sampling"]["policies"]
    by_name = {p["name"]: p for p in policies}
    assert by_name["keep-probes"]["string_attribute"] == {"key": "synthetic.check", "values": ["yes"]}
    assert by_name["keep-slow"]["latency"] == {"threshold_ms": 750}
    assert by_name["sample-rest"]["probabilistic"] == {"sampling_percentage": 2.5}


def test_gateway_probe_policy_can_be_turned_off():
    policies = gateway({"probe_policy_enabled": False})["processors"]["tail_sampling"]["policies"]
    assert [p["name"] for p in policies] == ["keep-errors", "keep-slow", "sample-rest"]


def test_gateway_upserts_the_environment_and_extra_attributes():
    actions = gateway({"environment": "staging", "extra_attributes": {"team": "payments", "cluster.tier": 2}})[
        "processors"]["attributes"]["actions"]
    assert actions == [
        {"key": "deployment.environment", "value": "staging", "action": "upsert"},
        {"key": "cluster.tier", "value": 2, "action": "upsert"},
        {"key": "team", "value": "payments", "action": "upsert"},
    ]


def test_gateway_redaction_defaults_scrub_headers_emails_and_cards():
    redaction = gateway({})["processors"]["redaction"]
    assert redaction["allow_all_keys"] is True            # nothing is deleted for not being listed
    assert redaction["redact_all_types"] is True          # card numbers sent as integers are caught
    assert redaction["blocked_key_patterns"] == ["(?i)authorization", "(?i)cookie", "(?i)api[-_.]?key"]
    assert len(redaction["blocked_values"]) == 2          # e-mail, card number (semantics: module_utils tests)
    assert redaction["hash_function"] == "sha3"
    assert redaction["summary"] == "info"


def test_gateway_redaction_user_keys_are_exact_and_escaped():
    redaction = gateway({"redaction_keys": ["user.email", "enduser.id"], "redaction_hash_function": ""})[
        "processors"]["redaction"]
    # $ is written $$: the collector's config resolver turns it back into $
    assert redaction["blocked_key_patterns"][-2:] == ["^user\\.email$$", "^enduser\\.id$$"]
    assert "hash_function" not in redaction                # empty: mask with ****


def test_gateway_redaction_patterns_come_from_settings():
    redaction = gateway({"redaction_key_patterns": ["(?i)x-session"], "redaction_value_patterns": ["SSN-[0-9]{9}"],
                         "redaction_summary": "silent"})["processors"]["redaction"]
    assert redaction["blocked_key_patterns"] == ["(?i)x-session"]
    assert redaction["blocked_values"] == ["SSN-[0-9]{9}"]
    assert redaction["summary"] == "silent"


def test_gateway_span_name_rules_become_ottl_statements():
    transform = gateway({})["processors"]["transform"]
    assert transform["error_mode"] == "ignore"
    assert transform["trace_statements"] == [
        'replace_pattern(span.name, "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "{id}")',
        'replace_pattern(span.name, "/[0-9a-fA-F]{16,}\\\\b", "/{id}")',
        'replace_pattern(span.name, "/[0-9]+\\\\b", "/{id}")',
    ]


def test_gateway_custom_span_name_rules_are_quoted_for_ottl():
    rules = [{"pattern": 'say "hi" /users/[a-z]+\\.json', "replacement": "/users/{name}.json"}]
    statements = gateway({"span_name_rules": rules})["processors"]["transform"]["trace_statements"]
    assert statements == ['replace_pattern(span.name, "say \\"hi\\" /users/[a-z]+\\\\.json", "/users/{name}.json")']


def test_dollars_in_settings_are_escaped_so_the_collector_does_not_expand_them():
    config = gateway({"environment": "prod-${env:HOME}", "span_name_rules": [{"pattern": "x$", "replacement": "$1"}]})
    assert config["processors"]["attributes"]["actions"][0]["value"] == "prod-$${env:HOME}"
    assert config["processors"]["transform"]["trace_statements"] == ['replace_pattern(span.name, "x$$", "$$1")']


def test_gateway_batch_is_last_with_the_article_sizes():
    assert gateway({})["processors"]["batch"] == {"timeout": "5s", "send_batch_size": 8192}
    assert gateway({"batch_timeout": "1s", "batch_send_batch_size": 100})["processors"]["batch"] == {
        "timeout": "1s", "send_batch_size": 100}


def test_gateway_exports_to_tempo_with_queue_and_retry():
    exporter = gateway({"tempo_endpoint": "tempo.tracing.svc.cluster.local:4317"})["exporters"][TEMPO]
    assert exporter["endpoint"] == "tempo.tracing.svc.cluster.local:4317"
    assert exporter["sending_queue"] == {"enabled": True, "queue_size": 1000}
    assert exporter["retry_on_failure"] == {"enabled": True, "max_elapsed_time": "300s"}


def test_gateway_can_export_over_otlp_http():
    config = gateway({"tempo_protocol": "http", "tempo_endpoint": "http://tempo:4318"})
    assert list(config["exporters"]) == ["otlp_http/tempo"]
    assert config["exporters"]["otlp_http/tempo"]["endpoint"] == "http://tempo:4318"
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["otlp_http/tempo"]


def test_gateway_persistent_queue_adds_file_storage_and_references_it():
    config = gateway({"persistent_queue_enabled": True, "persistent_queue_directory": "/var/lib/otelcol/q"})
    assert config["extensions"]["file_storage"] == {"directory": "/var/lib/otelcol/q", "create_directory": True}
    assert config["service"]["extensions"] == ["health_check", "file_storage"]
    assert config["exporters"][TEMPO]["sending_queue"] == {"enabled": True, "queue_size": 1000, "storage": "file_storage"}


def test_gateway_without_persistent_queue_has_no_file_storage():
    config = gateway({})
    assert "file_storage" not in config["extensions"]
    assert config["service"]["extensions"] == ["health_check"]
    assert "storage" not in config["exporters"][TEMPO]["sending_queue"]


def test_gateway_tls_by_default_verifies_against_system_roots():
    assert gateway({})["exporters"][TEMPO]["tls"] == {"insecure": False}


def test_gateway_tls_enabled_reads_ca_cert_and_key_from_the_mounted_secret():
    tls = gateway({"tls_enabled": True, "tls_dir": "/etc/otelcol/tempo-tls/"})["exporters"][TEMPO]["tls"]
    assert tls == {
        "insecure": False,
        "ca_file": "/etc/otelcol/tempo-tls/ca.crt",
        "cert_file": "/etc/otelcol/tempo-tls/tls.crt",
        "key_file": "/etc/otelcol/tempo-tls/tls.key",
    }


def test_gateway_tls_without_client_certificate_and_with_server_name():
    tls = gateway({"tls_enabled": True, "tls_cert_file": "", "tls_key_file": "", "tls_server_name": "tempo.example"})[
        "exporters"][TEMPO]["tls"]
    assert tls == {"insecure": False, "ca_file": "/etc/otelcol/tls/ca.crt", "server_name_override": "tempo.example"}


def test_gateway_insecure_only_when_explicitly_requested():
    assert gateway({"tls_insecure": True})["exporters"][TEMPO]["tls"] == {"insecure": True}


def test_gateway_self_metrics_and_health_check():
    config = gateway({"metrics_port": 9888})
    assert config["service"]["telemetry"]["metrics"]["readers"] == [{"pull": {"exporter": {"prometheus": {
        "host": "0.0.0.0", "port": 9888,
        "without_scope_info": True, "without_type_suffix": True, "without_units": True}}}}]
    assert config["extensions"]["health_check"] == {"endpoint": "0.0.0.0:13133"}


def test_gateway_debug_exporter_is_opt_in():
    assert "debug" not in gateway({})["exporters"]
    config = gateway({"debug_exporter_enabled": True})
    assert config["exporters"]["debug"] == {"verbosity": "basic"}
    assert config["service"]["pipelines"]["traces"]["exporters"] == [TEMPO, "debug"]


# --- agent -----------------------------------------------------------------------------------

def test_agent_pipeline_order():
    config = agent({})
    assert config["service"]["pipelines"]["traces"] == {
        "receivers": ["otlp"], "processors": ["memory_limiter", "k8s_attributes", "batch"], "exporters": [LB]}
    assert config["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert config["receivers"]["otlp"]["protocols"]["http"]["endpoint"] == "0.0.0.0:4318"


def test_agent_memory_limiter_follows_the_article():
    assert agent({})["processors"]["memory_limiter"] == {"check_interval": "500ms", "limit_mib": 300, "spike_limit_mib": 80}


def test_agent_batch():
    assert agent({})["processors"]["batch"] == {"timeout": "2s", "send_batch_size": 4096}


def test_agent_k8s_attributes_extracts_metadata_and_associates_pods():
    k8s = agent({})["processors"]["k8s_attributes"]
    assert k8s["auth_type"] == "serviceAccount"
    assert k8s["passthrough"] is False
    assert k8s["extract"]["metadata"] == [
        "k8s.namespace.name", "k8s.pod.name", "k8s.pod.uid", "k8s.pod.start_time", "k8s.deployment.name", "k8s.node.name"]
    assert k8s["pod_association"] == [
        {"sources": [{"from": "resource_attribute", "name": "k8s.pod.ip"}]},
        {"sources": [{"from": "resource_attribute", "name": "k8s.pod.uid"}]},
        {"sources": [{"from": "connection"}]},
    ]
    assert k8s["filter"] == {"node_from_env_var": "K8S_NODE_NAME"}
    assert "filter" not in agent({"k8s_node_env_var": ""})["processors"]["k8s_attributes"]


def test_agent_load_balances_by_trace_id_over_the_headless_service():
    exporter = agent({"gateway_name": "edge", "gateway_namespace": "otel"})["exporters"][LB]
    assert exporter["routing_key"] == "traceID"
    assert exporter["resolver"] == {"dns": {"hostname": "edge-collector-headless.otel.svc.cluster.local", "port": "4317"}}
    assert exporter["protocol"] == {"otlp": {"timeout": "10s", "tls": {"insecure": True}}}
    assert exporter["sending_queue"] == {"enabled": True, "queue_size": 1000}
    assert exporter["retry_on_failure"]["enabled"] is True


def test_agent_k8s_resolver():
    resolver = agent({"resolver": "k8s", "gateway_namespace": "otel"})["exporters"][LB]["resolver"]
    assert resolver == {"k8s": {"service": "gateway-collector-headless.otel", "ports": [4317]}}


def test_agent_static_resolver_for_tests():
    hosts = ["127.0.0.2:4317", "127.0.0.3:4317", "127.0.0.4:4317"]
    resolver = agent({"resolver": "static", "static_hostnames": hosts})["exporters"][LB]["resolver"]
    assert resolver == {"static": {"hostnames": hosts}}


def test_agent_tls_to_the_gateway():
    tls = agent({"tls_enabled": True})["exporters"][LB]["protocol"]["otlp"]["tls"]
    assert tls == {"insecure": False, "ca_file": "/etc/otelcol/tls/ca.crt",
                   "cert_file": "/etc/otelcol/tls/tls.crt", "key_file": "/etc/otelcol/tls/tls.key"}
    # plain text is the in-cluster default; turning it off without TLS means TLS with system roots
    assert agent({"tls_insecure": False})["exporters"][LB]["protocol"]["otlp"]["tls"] == {"insecure": False}


def test_agent_plain_otlp_opt_out_exports_to_the_gateway_service():
    config = agent({"export_mode": "plain_otlp", "gateway_namespace": "otel"})
    assert list(config["exporters"]) == ["otlp_grpc/gateway"]
    exporter = config["exporters"]["otlp_grpc/gateway"]
    assert exporter["endpoint"] == "gateway-collector.otel.svc.cluster.local:4317"
    assert exporter["tls"] == {"insecure": True}
    assert "routing_key" not in exporter
    assert config["service"]["pipelines"]["traces"]["exporters"] == ["otlp_grpc/gateway"]


def test_agent_has_self_metrics_and_no_storage():
    config = agent({})
    assert config["service"]["extensions"] == ["health_check"]
    assert config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]["port"] == 8888
