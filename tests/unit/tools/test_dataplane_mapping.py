"""The one mapping the loopback data plane applies to a collector configuration (tfstack.dataplane.mapping).

Inputs are the configurations the gateway and agent roles render (collector_config), so a change in
the roles that the mapping does not understand fails here, without a cluster.
"""

import pytest
import yaml

from tfstack.dataplane import mapping
from tfstack.dataplane.processes import parse_metrics
from ansible_collections.tracefleet.otel.plugins.module_utils.collector_config import agent_config, gateway_config

TEMPO = {"tempo.tempo.svc.cluster.local:4317": "127.0.0.1:45001"}
GATEWAYS = ["127.0.0.2:4317", "127.0.0.3:4317", "127.0.0.4:4317"]


def dotted(overlay):
    return {".".join(map(str, path)): new for path, (old, new) in overlay.changes.items()}


def test_gateway_listens_on_its_own_address_with_the_pod_ports_and_dials_loopback_tempo(tmp_path):
    config = gateway_config({"persistent_queue_enabled": True})
    overlay = mapping.collector_overlay(config, "127.0.0.3", services=TEMPO, workdir=tmp_path)
    assert dotted(overlay) == {
        "receivers.otlp.protocols.grpc.endpoint": "127.0.0.3:4317",
        "receivers.otlp.protocols.http.endpoint": "127.0.0.3:4318",
        "extensions.health_check.endpoint": "127.0.0.3:13133",
        "extensions.file_storage.directory": "%s/var/lib/otelcol/queue" % tmp_path,
        "service.telemetry.metrics.readers": [{"pull": {"exporter": {"prometheus": dict(
            config["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"], host="127.0.0.3")}}}],
        "exporters.otlp_grpc/tempo.endpoint": "127.0.0.1:45001",
    }
    assert sorted(overlay.listens) == [("127.0.0.3", 4317), ("127.0.0.3", 4318), ("127.0.0.3", 8888), ("127.0.0.3", 13133)]


def test_the_agent_resolver_becomes_the_static_list_of_loopback_gateways():
    config = agent_config({})
    overlay = mapping.collector_overlay(config, "127.0.0.5", gateways=GATEWAYS)
    resolver = mapping.merge(config, overlay.data)["exporters"]["load_balancing/gateway"]["resolver"]
    assert resolver == {"static": {"hostnames": GATEWAYS}}
    assert dotted(overlay)["exporters.load_balancing/gateway.resolver.dns"] is None
    # the one change that is not an address: no service account outside a cluster
    assert dotted(overlay)["processors.k8s_attributes.auth_type"] == "kubeConfig"


def test_the_k8s_resolver_is_replaced_too():
    config = agent_config({"resolver": "k8s"})
    merged = mapping.merge(config, mapping.collector_overlay(config, "127.0.0.5", gateways=GATEWAYS).data)
    assert merged["exporters"]["load_balancing/gateway"]["resolver"] == {"static": {"hostnames": GATEWAYS}}


def test_given_a_loopback_gateway_service_the_k8s_resolver_watches_it_instead():
    """Only the Service the resolver watches changes (its EndpointSlices list the loopback gateways)."""
    config = agent_config({"resolver": "k8s"})
    rendered = config["exporters"]["load_balancing/gateway"]["resolver"]["k8s"]
    overlay = mapping.collector_overlay(config, "127.0.0.5", gateway_service="gateway-collector-headless.tracefleet-loopback")
    resolver = mapping.merge(config, overlay.data)["exporters"]["load_balancing/gateway"]["resolver"]
    assert resolver == {"k8s": dict(rendered, service="gateway-collector-headless.tracefleet-loopback", ports=[4317])}
    assert rendered["service"] != resolver["k8s"]["service"]
    dns = agent_config({})  # the dns resolver becomes k8s on the same port
    merged = mapping.merge(dns, mapping.collector_overlay(dns, "127.0.0.5", gateway_service="gw.ns").data)
    assert merged["exporters"]["load_balancing/gateway"]["resolver"] == {"k8s": {"service": "gw.ns", "ports": [4317]}}
    with pytest.raises(mapping.MappingError, match="<service>.<namespace>"):
        mapping.collector_overlay(config, "127.0.0.5", gateway_service="gw.ns.svc.cluster.local")


def test_gateways_on_another_port_than_the_resolver_are_refused():
    with pytest.raises(mapping.MappingError, match="resolver's port 4317"):
        mapping.collector_overlay(agent_config({}), "127.0.0.5", gateways=["127.0.0.2:14317"])


def test_the_plain_otlp_opt_out_dials_the_loopback_stand_in_of_the_gateway_service():
    config = agent_config({"export_mode": "plain_otlp"})
    service = "gateway-collector.observability.svc.cluster.local:4317"
    overlay = mapping.collector_overlay(config, "127.0.0.6", services={service: "127.0.0.3:4317"})
    assert dotted(overlay)["exporters.otlp_grpc/gateway.endpoint"] == "127.0.0.3:4317"


def test_an_unknown_cluster_service_is_an_error_not_a_guess():
    with pytest.raises(mapping.MappingError, match="tempo.tempo.svc.cluster.local:4317"):
        mapping.collector_overlay(gateway_config({}), "127.0.0.2", services={})
    with pytest.raises(mapping.MappingError, match="neither a cluster Service nor loopback"):
        mapping.collector_overlay(gateway_config({"tempo_endpoint": "10.0.0.7:4317"}), "127.0.0.2", services=TEMPO)
    with pytest.raises(mapping.MappingError, match="no loopback gateways"):
        mapping.collector_overlay(agent_config({}), "127.0.0.5")


@pytest.mark.parametrize("build, kwargs", [
    (lambda: gateway_config({}), {"services": TEMPO}),
    (lambda: gateway_config({"latency_threshold_ms": 300, "tempo_protocol": "http",
                             "tempo_endpoint": "http://tempo.tempo.svc:4318"}), {"services": {"tempo.tempo.svc:4318": "127.0.0.1:45002"}}),
    (lambda: agent_config({}), {"gateways": GATEWAYS}),
    (lambda: agent_config({"export_mode": "plain_otlp"}),
     {"services": {"gateway-collector.observability.svc.cluster.local:4317": "127.0.0.2:4317"}}),
], ids=["gateway", "gateway-http", "agent", "agent-plain"])
def test_everything_but_the_mapped_paths_is_unchanged(build, kwargs):
    # through YAML, as the ConfigMap carries it
    config = yaml.safe_load(yaml.safe_dump(build()))
    overlay = mapping.collector_overlay(config, "127.0.0.2", **kwargs)
    merged = mapping.merge(config, overlay.data)
    paths = list(overlay.changes)
    assert yaml.safe_dump(mapping.without(config, paths)) == yaml.safe_dump(mapping.without(merged, paths))
    assert merged["service"]["pipelines"] == config["service"]["pipelines"]
    unchanged = {k: v for k, v in config["processors"].items() if k != "k8s_attributes"}
    assert {k: v for k, v in merged["processors"].items() if k != "k8s_attributes"} == unchanged
    assert config == yaml.safe_load(yaml.safe_dump(build())), "the mapping must not touch its input"
    # nothing left that dials or binds outside loopback
    text = yaml.safe_dump(merged)
    assert "0.0.0.0" not in text and ".svc" not in text


def test_a_listener_on_a_specific_non_loopback_address_is_refused():
    config = gateway_config({"otlp_grpc_endpoint": "10.1.2.3:4317"})
    with pytest.raises(mapping.MappingError, match="only 0.0.0.0"):
        mapping.collector_overlay(config, "127.0.0.2", services=TEMPO)


@pytest.mark.parametrize("text, parts", [
    ("tempo.tempo.svc.cluster.local:4317", ("", "tempo.tempo.svc.cluster.local", 4317, "")),
    ("http://tempo.tempo.svc:4318/otlp", ("http", "tempo.tempo.svc", 4318, "/otlp")),
    ("[::]:4317", ("", "::", 4317, "")),
    ("0.0.0.0:13133", ("", "0.0.0.0", 13133, "")),
])
def test_endpoints_split_and_join(text, parts):
    assert mapping.split_endpoint(text) == parts
    scheme, host, port, path = parts
    if host != "::":
        assert mapping.join_endpoint(scheme, host, port, path) == text


def test_merge_removes_null_replaces_lists_and_merges_maps():
    base = {"a": {"x": 1, "y": [1, 2]}, "b": {"dns": {"h": 1}}}
    assert mapping.merge(base, {"a": {"y": [3]}, "b": {"dns": None, "static": {"h": [2]}}}) == {
        "a": {"x": 1, "y": [3]}, "b": {"static": {"h": [2]}}}


def test_prometheus_text_is_summed_per_metric():
    text = ('# HELP x\notelcol_receiver_accepted_spans{receiver="otlp",transport="grpc"} 12\n'
            'otelcol_receiver_accepted_spans{receiver="otlp",transport="http"} 30\notelcol_exporter_queue_size 2\n')
    assert parse_metrics(text) == {"otelcol_receiver_accepted_spans": 42.0, "otelcol_exporter_queue_size": 2.0}
