"""The real otelcol (0.158, built from tools/stack/otelcol/manifest.yaml) accepts the generated configs.

Each configuration is built by the same code the roles call, dumped with yaml.safe_dump and
checked with ``otelcol validate --config=<file>``. Negative cases prove the check can fail: a
misspelt field and an OTTL statement whose regex was not quoted for OTTL are both rejected.
Last, the gateway configuration runs for real (on loopback, exporting to the debug exporter)
to show that its rules behave at runtime as the unit tests say they do.
"""

import datetime
import json
from contextlib import contextmanager
import os
import socket
import subprocess
import time
import urllib.request

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tfstack.build import by_binary

from ansible_collections.tracefleet.otel.plugins.module_utils.collector_config import (
    agent_config,
    gateway_config,
    span_name_statements,
)


@pytest.fixture(scope="module")
def otelcol():
    tool = by_binary("otelcol")
    if not tool.path.exists():
        pytest.fail("no otelcol %s binary at %s: run `make tools` or `PYTHONPATH=tools/stack python -m tfstack.build "
                    "otelcol` first" % (tool.version, tool.path), pytrace=False)
    return str(tool.path)


def _write_pem(path, data):
    path.write_bytes(data)
    return path


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory):
    """A throwaway CA and client certificate where the role would mount the Secret.

    `otelcol validate` 0.158 does not open the TLS files (the exporter loads them when it starts),
    but the configs should name files that exist and parse, as they would in the pod.
    """
    directory = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tracefleet test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gateway")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(ca_key, hashes.SHA256()))
    _write_pem(directory / "ca.crt", ca.public_bytes(serialization.Encoding.PEM))
    _write_pem(directory / "tls.crt", cert.public_bytes(serialization.Encoding.PEM))
    _write_pem(directory / "tls.key", key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(directory)


# What the agent DaemonSet's pods get from the downward API (spec.nodeName): k8s_attributes
# refuses a config whose node_from_env_var names an unset variable, even in `validate`.
POD_ENV = {"K8S_NODE_NAME": "node-1"}


def validate(otelcol, config, tmp_path, env=POD_ENV):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    environ = {key: value for key, value in dict(os.environ, **env).items() if value is not None}
    proc = subprocess.run([otelcol, "validate", "--config=%s" % path], capture_output=True, text=True, timeout=120,
                          env=environ)
    return proc.returncode, proc.stdout + proc.stderr


CUSTOM_RULES = [
    {"pattern": "^GET /(users|teams)/[^/]+$", "replacement": "GET /${1}/{name}"},
    {"pattern": "\\b[0-9]{4}-[0-9]{2}-[0-9]{2}\\b", "replacement": "{date}"},
    {"pattern": 'quote"d', "replacement": "quoted"},
]


def gateway_variants(tls_dir, queue_dir):
    return {
        "defaults": {},
        "tls+persistent-queue+custom-rules": {
            "tls_enabled": True, "tls_dir": tls_dir, "tls_server_name": "tempo.tracing",
            "persistent_queue_enabled": True, "persistent_queue_directory": queue_dir,
            "span_name_rules": CUSTOM_RULES,
            "redaction_keys": ["user.email", "enduser.id"], "redaction_value_patterns": ["SSN-[0-9]{9}"],
            "redaction_hash_function": "", "redaction_summary": "debug",
            "extra_attributes": {"team": "payments", "tier": 2},
            "sampling_percentage": 2.5, "latency_threshold_ms": 500, "debug_exporter_enabled": True,
            "memory_limit": "4Gi",
        },
        "tls-without-client-cert": {"tls_enabled": True, "tls_dir": tls_dir, "tls_cert_file": "", "tls_key_file": ""},
        "slo-objectives+volume-budget": {
            "services": ["checkout", "payments", "storefront"],
            "service_objectives": [{"service": "checkout", "latency_ms": 800},
                                   {"service": "payments", "latency_ms": 300, "threshold_ms": 250}],
            "volume_budget": {"spans_per_sec": 500, "expected_spans_per_sec": 20000, "always_kept_ratio": 0.01},
        },
        "insecure+otlp-http+no-probe+few-processors": {
            "tls_insecure": True, "tempo_protocol": "http", "tempo_endpoint": "http://127.0.0.1:4318",
            "probe_policy_enabled": False, "processors": ["memory_limiter", "tail_sampling", "batch"],
            "span_name_rules": [], "redaction_key_patterns": [], "redaction_value_patterns": [],
        },
    }


AGENT_VARIANTS = {
    "defaults (dns resolver)": {},
    "k8s resolver": {"resolver": "k8s", "gateway_name": "edge", "gateway_namespace": "otel"},
    "static resolver (the local stack)": {
        "resolver": "static", "static_hostnames": ["127.0.0.2:4317", "127.0.0.3:4317", "127.0.0.4:4317"],
        "k8s_node_env_var": "", "k8s_auth_type": "none",
    },
    "plain otlp opt-out": {"export_mode": "plain_otlp"},
}


@pytest.mark.parametrize("variant", ["defaults", "tls+persistent-queue+custom-rules", "tls-without-client-cert",
                                     "insecure+otlp-http+no-probe+few-processors", "slo-objectives+volume-budget"])
def test_gateway_config_is_accepted(otelcol, tls_dir, tmp_path, variant):
    settings = gateway_variants(tls_dir, str(tmp_path / "queue"))[variant]
    code, output = validate(otelcol, gateway_config(settings), tmp_path)
    assert code == 0, output


@pytest.mark.parametrize("variant", sorted(AGENT_VARIANTS))
def test_agent_config_is_accepted(otelcol, tls_dir, tmp_path, variant):
    code, output = validate(otelcol, agent_config(AGENT_VARIANTS[variant]), tmp_path)
    assert code == 0, output


def test_agent_config_with_tls_is_accepted(otelcol, tls_dir, tmp_path):
    code, output = validate(otelcol, agent_config({"tls_enabled": True, "tls_dir": tls_dir}), tmp_path)
    assert code == 0, output


def test_the_agent_needs_its_node_name_in_the_environment(otelcol, tmp_path):
    """The role must set K8S_NODE_NAME from spec.nodeName, or the agent does not start."""
    env = {"K8S_NODE_NAME": None}  # unset
    code, output = validate(otelcol, agent_config({}), tmp_path, env=env)
    assert code != 0 and "K8S_NODE_NAME" in output, output
    assert validate(otelcol, agent_config({"k8s_node_env_var": ""}), tmp_path, env=env)[0] == 0


def test_a_misspelt_field_is_rejected(otelcol, tmp_path):
    config = gateway_config({})
    tail = config["processors"]["tail_sampling"]
    tail["decision_wiat"] = tail.pop("decision_wait")
    code, output = validate(otelcol, config, tmp_path)
    assert code != 0
    assert "decision_wiat" in output


def test_a_regex_not_quoted_for_ottl_is_rejected(otelcol, tmp_path):
    # "\d" inside an OTTL string literal is an invalid Go escape: the builder must write "\\d".
    config = gateway_config({})
    config["processors"]["transform"]["trace_statements"] = ['replace_pattern(span.name, "/\\d+", "/{id}")']
    code, output = validate(otelcol, config, tmp_path)
    assert code != 0, output
    assert "replace_pattern" in output or "statement" in output, output


def test_the_collector_reads_back_the_rules_exactly_as_written(otelcol, tls_dir, tmp_path):
    """`$` (escaped as `$$`), backslashes and quotes survive the config resolver as the settings had them."""
    settings = gateway_variants(tls_dir, str(tmp_path / "queue"))["tls+persistent-queue+custom-rules"]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(gateway_config(settings)))
    proc = subprocess.run([otelcol, "print-config", "--mode=unredacted", "--format=json", "--config=%s" % path],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    resolved = json.loads(proc.stdout)["processors"]
    assert resolved["transform"]["trace_statements"][0]["statements"] == span_name_statements(CUSTOM_RULES)
    assert resolved["redaction"]["blocked_key_patterns"][-2:] == ["^user\\.email$", "^enduser\\.id$"]
    assert resolved["redaction"]["blocked_values"] == ["SSN-[0-9]{9}"]


def test_configs_use_the_current_component_names(otelcol, tls_dir, tmp_path):
    """Every type the configs name is listed by `otelcol components` under its 0.158 name."""
    proc = subprocess.run([otelcol, "components"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    listed = yaml.safe_load(proc.stdout)
    names = {kind: {c["name"] for c in listed.get(kind) or []} for kind in ("receivers", "processors", "exporters", "extensions")}
    configs = [gateway_config(s) for s in gateway_variants(tls_dir, str(tmp_path)).values()]
    configs += [agent_config(s) for s in AGENT_VARIANTS.values()]
    for config in configs:
        for kind in names:
            for component_id in config.get(kind, {}):
                assert component_id.split("/")[0] in names[kind], (kind, component_id, sorted(names[kind]))


# --- beyond validate: the running gateway does what the unit tests say -----------------------

def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _span(trace_id, span_id, name, attributes, error=False, duration_ms=5):
    return {
        "traceId": trace_id, "spanId": span_id, "name": name, "kind": 2,
        "startTimeUnixNano": str(time.time_ns() - duration_ms * 1000000), "endTimeUnixNano": str(time.time_ns()),
        "attributes": [{"key": k, "value": v} for k, v in attributes.items()],
        "status": {"code": 2 if error else 1},
    }


def _post_traces(port, spans, service="shop"):
    body = {"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                               "scopeSpans": [{"spans": spans}]}]}
    request = urllib.request.Request("http://127.0.0.1:%d/v1/traces" % port, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def _wait_healthy(port, proc, log, deadline):
    while time.monotonic() < deadline:
        assert proc.poll() is None, "otelcol exited:\n" + log.read_text()
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail("otelcol not healthy within the deadline:\n" + log.read_text())


@contextmanager
def _running_gateway(otelcol, tmp_path, **settings):
    """A real gateway from gateway_config(settings) on loopback, exporting to its log (debug exporter)."""
    grpc, http, metrics, health = (_free_port() for _ in range(4))
    config = gateway_config(dict({
        "otlp_grpc_endpoint": "127.0.0.1:%d" % grpc, "otlp_http_endpoint": "127.0.0.1:%d" % http,
        "metrics_host": "127.0.0.1", "metrics_port": metrics, "health_check_endpoint": "127.0.0.1:%d" % health,
        "decision_wait": "1s", "sampling_percentage": 0, "tls_insecure": True,
    }, **settings))
    config["exporters"] = {"debug": {"verbosity": "detailed"}}
    config["service"]["pipelines"]["traces"]["exporters"] = ["debug"]
    path = tmp_path / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    log = tmp_path / "otelcol.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([otelcol, "--config=%s" % path], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(health, proc, log, time.monotonic() + 60)
        yield http, log
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_running_gateway_keeps_what_breaks_a_service_objective(otelcol, tmp_path):
    """checkout's objective is 800 ms: a 1.2 s checkout trace is kept, a 1.2 s storefront trace (global 2000 ms) is not."""
    with _running_gateway(otelcol, tmp_path, service_objectives=[{"service": "checkout", "latency_ms": 800}]) as (http, log):
        _post_traces(http, [_span("d" * 32, "4" * 16, "POST /checkout-slow", {}, duration_ms=1200)], service="checkout")
        _post_traces(http, [_span("e" * 32, "5" * 16, "GET /checkout-fast", {}, duration_ms=300)], service="checkout")
        _post_traces(http, [_span("f" * 32, "6" * 16, "GET /storefront-medium", {}, duration_ms=1200)], service="storefront")
        _post_traces(http, [_span("0" * 31 + "1", "7" * 16, "GET /storefront-long", {}, duration_ms=2500)],
                     service="storefront")
        deadline = time.monotonic() + 30
        output = ""
        while time.monotonic() < deadline and "/storefront-long" not in output:
            time.sleep(0.5)
            output = log.read_text()
        time.sleep(2)  # the other decisions are taken in the same tick; give the exporter a moment
        output = log.read_text()
    assert "POST /checkout-slow" in output, output        # slower than checkout's 800 ms objective
    assert "GET /storefront-long" in output, output     # slower than the global 2000 ms
    assert "GET /checkout-fast" not in output, output     # within the objective, routine at 0 %
    assert "GET /storefront-medium" not in output, output   # no objective: 1.2 s is under the global 2000 ms


def test_running_gateway_keeps_probes_and_errors_normalises_names_and_scrubs_pii(otelcol, tmp_path):
    with _running_gateway(otelcol, tmp_path, environment="it-env") as (http, log):
        deadline = time.monotonic() + 60
        secret = {"stringValue": "Bearer s3cr3t-token"}
        _post_traces(http, [
            _span("a" * 32, "1" * 16, "GET /orders/12345", {
                "tracefleet.probe": {"stringValue": "true"},
                "http.request.header.authorization": {"arrayValue": {"values": [secret]}},
                "note": {"stringValue": "mail alice@example.com, card 4111 1111 1111 1111"},
            }),
            _span("b" * 32, "2" * 16, "GET /users/3f2504e0-4f89-41d3-9a0c-0305e82c3301/cart", {}, error=True),
            _span("c" * 32, "3" * 16, "GET /routine/777", {}),
        ])
        output = ""
        while time.monotonic() < deadline and not ("/orders/{id}" in output and "/users/{id}/cart" in output):
            time.sleep(0.5)
            output = log.read_text()
    output = log.read_text()
    assert "GET /orders/{id}" in output, output              # probe kept (sampling is 0 %), id normalised
    assert "GET /users/{id}/cart" in output, output          # error kept, UUID normalised
    assert "/routine/" not in output, output                 # routine trace dropped at 0 %
    assert "deployment.environment: Str(it-env)" in output, output
    assert "redaction.masked.count: Int(2)" in output, output   # header and note were rewritten
    for leaked in ("s3cr3t", "alice@example.com", "4111 1111 1111 1111"):
        assert leaked not in output, leaked
