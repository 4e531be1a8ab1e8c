"""The gateway and agent roles declare the collector settings once, and refuse bad input before any cluster call.

- Each role's argument spec (what role users read) has exactly the defaults of GATEWAY_DEFAULTS /
  AGENT_DEFAULTS in plugins/module_utils/collector_config.py (what the filter falls back to), so the
  two never drift; vars/main.yml hands the filter exactly those keys, each from its own variable.
- The spec defaults themselves are valid settings.
- Bad input, through the filter the preflight calls: every message names the role variable.
- Bad input through the real role (ansible-playbook, one play per case, with a kubeconfig that does not
  exist): the run fails in the argument spec or the preflight, with a message naming the variable, and
  never reaches a task that would talk to the cluster.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.tracefleet.otel.plugins.module_utils import collector_config
from ansible_collections.tracefleet.otel.plugins.module_utils.collector_config import (
    agent_settings_errors,
    gateway_settings_errors,
)

REPO = Path(__file__).resolve().parents[2]
ROLES = {
    "gateway": collector_config.GATEWAY_DEFAULTS,
    "agent": collector_config.AGENT_DEFAULTS,
}
ERRORS = {"gateway": gateway_settings_errors, "agent": agent_settings_errors}


def _options(role):
    spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"]


def _role_vars(role):
    return yaml.safe_load((REPO / "roles" / role / "vars" / "main.yml").read_text())


def _spec_settings(role):
    """The collector settings as the spec defaults them (variable name without the prefix)."""
    prefix = "tracefleet_%s_" % role
    return {name[len(prefix):]: option["default"] for name, option in _options(role).items()
            if name[len(prefix):] in ROLES[role]}


# --- one source of defaults --------------------------------------------------------------------

@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_collector_setting_is_a_role_variable(role):
    prefix = "tracefleet_%s_" % role
    missing = sorted(key for key in ROLES[role] if prefix + key not in _options(role))
    assert missing == []


@pytest.mark.parametrize("role", sorted(ROLES))
def test_spec_defaults_equal_the_module_utils_defaults(role):
    spec = _spec_settings(role)
    different = {key: (spec[key], ROLES[role][key]) for key in ROLES[role] if spec[key] != ROLES[role][key]}
    assert different == {}, "argument_specs.yml default != collector_config.py default: %s" % different
    # YAML and Python agree on types too (10 is not "10", null is not "").
    assert {k: type(v) for k, v in spec.items()} == {k: type(v) for k, v in ROLES[role].items()}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_vars_hand_the_filter_exactly_the_settings(role):
    settings = _role_vars(role)["tracefleet_%s__settings" % role]
    assert sorted(settings) == sorted(ROLES[role])
    wrong = {key: value for key, value in settings.items() if value != "{{ tracefleet_%s_%s }}" % (role, key)}
    assert wrong == {}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_spec_defaults_are_valid_settings(role):
    assert ERRORS[role](_spec_settings(role)) == []


def test_the_agent_defaults_point_at_the_gateway_defaults():
    gateway, agent = _options("gateway"), _options("agent")
    assert agent["tracefleet_agent_gateway_name"]["default"] == gateway["tracefleet_gateway_name"]["default"]
    assert agent["tracefleet_agent_gateway_namespace"]["default"] == gateway["tracefleet_gateway_namespace"]["default"]


def test_the_gateway_exports_to_the_tempo_role_service_by_default():
    tempo = yaml.safe_load((REPO / "roles" / "tempo" / "defaults" / "main.yml").read_text())
    expected = "%s.%s.svc.%s:4317" % (tempo["tracefleet_tempo_name"], tempo["tracefleet_tempo_namespace"],
                                      tempo["tracefleet_tempo_cluster_domain"])
    assert _options("gateway")["tracefleet_gateway_tempo_endpoint"]["default"] == expected


# --- bad input through the filter -----------------------------------------------------------------

GATEWAY_FILTER_CASES = [
    ("processors", ["tail_sampling", "memory_limiter", "batch"], "memory_limiter first"),
    ("processors", ["memory_limiter", "batch", "tail_sampling"], "batch last"),
    ("processors", ["memory_limiter", "batch"], "tail_sampling"),
    ("sampling_percentage", 150, "from 0 to 100"),
    ("sampling_percentage", -1, "from 0 to 100"),
    ("latency_threshold_ms", -5, "at least 1"),
    ("num_traces", 0, "at least 1"),
    ("memory_limit", "512Mi", "at least 1024 MiB"),
    ("memory_limiter_limit_mib", 4096, "below the container memory limit"),
    ("decision_wait", "10 seconds", "Go duration"),
    ("tempo_endpoint", "tempo:99999", "host:port"),
    ("redaction_hash_function", "sha256", "one of"),
]


@pytest.mark.parametrize("key,value,expected", GATEWAY_FILTER_CASES, ids=[c[0] + "=" + repr(c[1]) for c in GATEWAY_FILTER_CASES])
def test_gateway_filter_names_the_variable(key, value, expected):
    errors = gateway_settings_errors(dict(_spec_settings("gateway"), **{key: value}))
    assert any(e.startswith("tracefleet_gateway_%s" % key) and expected in e for e in errors), errors


def test_gateway_filter_refuses_tls_file_refs_outside_the_secret():
    errors = gateway_settings_errors(dict(_spec_settings("gateway"), tls_enabled=True, tls_ca_file="../ca.crt",
                                          tls_key_file=""))
    assert any(e.startswith("tracefleet_gateway_tls_ca_file") for e in errors), errors
    assert any("tracefleet_gateway_tls_cert_file and tracefleet_gateway_tls_key_file" in e for e in errors), errors


AGENT_FILTER_CASES = [
    ("processors", ["batch", "memory_limiter"], "memory_limiter first"),
    ("processors", ["memory_limiter", "k8s_attributes"], "batch"),
    ("memory_limiter_limit_mib", 600, "below the container memory limit"),
    ("memory_limiter_spike_limit_mib", 300, "less than the limiter limit"),
    ("gateway_port", 0, "from 1 to 65535"),
    ("gateway_namespace", "Observability", "Kubernetes name"),
    ("k8s_node_env_var", "1BAD", "environment variable"),
    ("batch_timeout", "2", "Go duration"),
    ("export_mode", "otlp", "one of"),
    ("k8s_metadata", [], "non-empty list"),
]


@pytest.mark.parametrize("key,value,expected", AGENT_FILTER_CASES, ids=[c[0] + "=" + repr(c[1]) for c in AGENT_FILTER_CASES])
def test_agent_filter_names_the_variable(key, value, expected):
    errors = agent_settings_errors(dict(_spec_settings("agent"), **{key: value}))
    assert any(e.startswith("tracefleet_agent_%s" % key) and expected in e for e in errors), errors


def test_agent_filter_refuses_a_static_resolver_without_hosts():
    errors = agent_settings_errors(dict(_spec_settings("agent"), resolver="static", static_hostnames=[]))
    assert any(e.startswith("tracefleet_agent_static_hostnames") for e in errors), errors


# --- bad input through the real role, with no cluster at all ----------------------------------------

# The preflight reports every problem at once, so one play can carry many bad settings; each
# (variable, fragment) must appear in its message. Argument-spec failures stop at the first, so they
# get a play each. A case is (variables, [(variable named, fragment of its message), ...]).
GATEWAY_ROLE_CASES = [
    ({
        "tracefleet_gateway_sampling_percentage": 150,
        "tracefleet_gateway_processors": ["tail_sampling", "memory_limiter", "batch"],
        "tracefleet_gateway_latency_threshold_ms": -5,
        "tracefleet_gateway_memory_limiter_limit_mib": 3000,
        "tracefleet_gateway_tls_enabled": True,
        "tracefleet_gateway_tls_ca_file": "../ca.crt",
        "tracefleet_gateway_image_tag": "latest",
        "tracefleet_gateway_cpu_request": "2",
        "tracefleet_gateway_memory_request": "3Gi",
        "tracefleet_gateway_pdb_min_available": 3,
        "tracefleet_gateway_name": "Gateway_1",
        "tracefleet_gateway_tempo_protocol": "http",
        "tracefleet_gateway_span_name_rules": [{"pattern": "(?<=/)[0-9]+", "replacement": "{id}"}],
        "tracefleet_gateway_spec_overrides": {"config": {}},
    }, [
        ("tracefleet_gateway_sampling_percentage", "from 0 to 100"),
        ("tracefleet_gateway_processors", "memory_limiter first"),
        ("tracefleet_gateway_latency_threshold_ms", "at least 1"),
        ("tracefleet_gateway_memory_limiter_limit_mib", "below the container memory limit"),
        ("tracefleet_gateway_tls_ca_file", "inside"),
        ("tracefleet_gateway_tls_secret_name", "Secret"),
        ("tracefleet_gateway_image_tag", "pinned version"),
        ("tracefleet_gateway_cpu_request", "at most tracefleet_gateway_cpu_limit"),
        ("tracefleet_gateway_memory_request", "at most tracefleet_gateway_memory_limit"),
        ("tracefleet_gateway_pdb_min_available", "less than"),
        ("tracefleet_gateway_name", "Kubernetes name"),
        ("tracefleet_gateway_tempo_endpoint", "http:// or https:// URL"),
        ("tracefleet_gateway_span_name_rules[0].pattern", "RE2"),
        ("tracefleet_gateway_spec_overrides", "no config or mode"),
    ]),
    ({
        "tracefleet_gateway_memory_limit": "512Mi",
        "tracefleet_gateway_memory_request": "256Mi",
        "tracefleet_gateway_tls_enabled": True,
        "tracefleet_gateway_tls_insecure": True,
        "tracefleet_gateway_tls_secret_name": "tempo-tls",
        "tracefleet_gateway_replicas": 0,
        "tracefleet_gateway_pdb_min_available": 0,
        "tracefleet_gateway_cpu_limit": "a lot",
    }, [
        ("tracefleet_gateway_memory_limit", "at least 1024 MiB"),
        ("tracefleet_gateway_tls_insecure", "TLS on and off"),
        ("tracefleet_gateway_replicas", "at least 1"),
        ("tracefleet_gateway_cpu_limit", "Kubernetes quantity"),
    ]),
    # caught by the argument spec itself
    ({"tracefleet_gateway_tempo_protocol": "udp"}, [("tracefleet_gateway_tempo_protocol", "udp")]),
    ({"tracefleet_gateway_replicas": "three"}, [("tracefleet_gateway_replicas", "three")]),
    ({"tracefleet_gateway_processors": ["memory_limiter", "tail_sampling", "sampling", "batch"]},
     [("tracefleet_gateway_processors", "sampling")]),
]

AGENT_ROLE_CASES = [
    ({
        "tracefleet_agent_processors": ["batch", "memory_limiter"],
        "tracefleet_agent_memory_limiter_spike_limit_mib": 400,
        "tracefleet_agent_gateway_port": 0,
        "tracefleet_agent_gateway_namespace": "Observability",
        "tracefleet_agent_k8s_node_env_var": "1BAD",
        "tracefleet_agent_tls_enabled": True,
        "tracefleet_agent_tls_key_file": "",
        "tracefleet_agent_image_tag": "",
        "tracefleet_agent_memory_request": "1Gi",
        "tracefleet_agent_tolerations": [{"effect": "NoSchedule"}],
        "tracefleet_agent_batch_timeout": "2",
        "tracefleet_agent_spec_overrides": {"mode": "deployment"},
    }, [
        ("tracefleet_agent_processors", "memory_limiter first"),
        ("tracefleet_agent_memory_limiter_spike_limit_mib", "less than the limiter limit"),
        ("tracefleet_agent_gateway_port", "from 1 to 65535"),
        ("tracefleet_agent_gateway_namespace", "Kubernetes name"),
        ("tracefleet_agent_k8s_node_env_var", "environment variable"),
        ("tracefleet_agent_tls_cert_file and tracefleet_agent_tls_key_file", "both set"),
        ("tracefleet_agent_tls_secret_name", "Secret"),
        ("tracefleet_agent_image_tag", "pinned version"),
        ("tracefleet_agent_memory_request", "at most tracefleet_agent_memory_limit"),
        ("tracefleet_agent_tolerations", "operator Exists"),
        ("tracefleet_agent_batch_timeout", "Go duration"),
        ("tracefleet_agent_spec_overrides", "no config or mode"),
    ]),
    ({
        "tracefleet_agent_memory_limit": "256Mi",
        "tracefleet_agent_memory_request": "128Mi",
        "tracefleet_agent_resolver": "static",
        "tracefleet_agent_cpu_limit": "lots",
    }, [
        ("tracefleet_agent_memory_limiter_limit_mib", "below the container memory limit"),
        ("tracefleet_agent_static_hostnames", "non-empty list"),
        ("tracefleet_agent_cpu_limit", "Kubernetes quantity"),
    ]),
    # caught by the argument spec itself
    ({"tracefleet_agent_export_mode": "otlp"}, [("tracefleet_agent_export_mode", "otlp")]),
    ({"tracefleet_agent_k8s_auth_type": "token"}, [("tracefleet_agent_k8s_auth_type", "token")]),
]

# Valid settings: these pass the preflight and stop only at the first cluster call (there is none).
GATEWAY_VALID_CASES = [
    ({}, []),
    # Removing needs only a valid name: a broken setting does not block `absent`.
    ({"tracefleet_gateway_state": "absent", "tracefleet_gateway_sampling_percentage": 150}, []),
]
AGENT_VALID_CASES = [
    ({"tracefleet_agent_export_mode": "plain_otlp"}, []),
    ({"tracefleet_agent_state": "absent", "tracefleet_agent_gateway_port": 0}, []),
]

PREFLIGHT_TASKS = ("Validating arguments against arg spec", "Check the %s settings before touching the cluster")


def _expectations(cases):
    return [(index, variable, fragment) for index, (_, expected) in enumerate(cases) for variable, fragment in expected]


def _run_cases(role, cases, tmp_path):
    """One ansible-playbook run, one play per case; returns (per-case failure record, stdout)."""
    results = tmp_path / "results.json"
    plays = []
    for index, (variables, _) in enumerate(cases):
        plays.append({
            "name": "case %d" % index,
            "hosts": "localhost",
            "gather_facts": False,
            "vars": variables,
            "module_defaults": {"group/tracefleet.otel.cluster": {"kubeconfig": str(tmp_path / "no-such-kubeconfig")}},
            "tasks": [{
                "block": [{"ansible.builtin.include_role": {"name": "tracefleet.otel.%s" % role}}],
                "rescue": [{"ansible.builtin.set_fact": {"case_results": "{{ case_results | default({}) | combine({'%d': {"
                                                                          "'task': ansible_failed_task.name, "
                                                                          "'msg': ansible_failed_result.msg | default('') | string}}) }}" % index}}],
            }],
        })
    plays.append({"name": "write results", "hosts": "localhost", "gather_facts": False, "tasks": [
        {"ansible.builtin.copy": {"content": "{{ case_results | default({}) | to_json }}", "dest": str(results), "mode": "0600"}},
    ]})
    playbook = tmp_path / "cases.yml"
    playbook.write_text(yaml.safe_dump(plays, sort_keys=False))
    from tfstack.collection import collections_root

    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_root()), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               K8S_AUTH_KUBECONFIG=str(tmp_path / "no-such-kubeconfig"))
    env.pop("KUBECONFIG", None)
    playbook_bin = Path(sys.executable).with_name("ansible-playbook")
    proc = subprocess.run([str(playbook_bin), "-i", "localhost,", "-c", "local",
                           "-e", "ansible_python_interpreter=%s" % sys.executable, str(playbook)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    recorded = json.loads(results.read_text())
    return [recorded.get(str(i)) for i in range(len(cases))], proc.stdout


@pytest.fixture(scope="module")
def gateway_run(tmp_path_factory):
    return _run_cases("gateway", GATEWAY_ROLE_CASES + GATEWAY_VALID_CASES, tmp_path_factory.mktemp("gateway-role"))


@pytest.fixture(scope="module")
def agent_run(tmp_path_factory):
    return _run_cases("agent", AGENT_ROLE_CASES + AGENT_VALID_CASES, tmp_path_factory.mktemp("agent-role"))


def _check_refused(role, record, variable, fragment):
    assert record is not None, "the role accepted the bad input"
    assert record["task"].startswith(PREFLIGHT_TASKS[0]) or record["task"] == PREFLIGHT_TASKS[1] % role, \
        "failed in %r, not in the argument spec or preflight: %s" % (record["task"], record["msg"])
    assert variable in record["msg"] and fragment in record["msg"], record["msg"]


GATEWAY_EXPECTED = _expectations(GATEWAY_ROLE_CASES)
AGENT_EXPECTED = _expectations(AGENT_ROLE_CASES)


@pytest.mark.parametrize("index,variable,fragment", GATEWAY_EXPECTED, ids=["%d-%s" % (i, v) for i, v, _ in GATEWAY_EXPECTED])
def test_gateway_role_refuses_before_any_cluster_call(gateway_run, index, variable, fragment):
    records, _ = gateway_run
    _check_refused("gateway", records[index], variable, fragment)


@pytest.mark.parametrize("index,variable,fragment", AGENT_EXPECTED, ids=["%d-%s" % (i, v) for i, v, _ in AGENT_EXPECTED])
def test_agent_role_refuses_before_any_cluster_call(agent_run, index, variable, fragment):
    records, _ = agent_run
    _check_refused("agent", records[index], variable, fragment)


def test_gateway_role_passes_valid_settings_on_to_the_cluster(gateway_run):
    """Defaults, and absent with an unrelated bad setting, pass the preflight: the first failure is the cluster call."""
    records, _ = gateway_run
    present, absent = records[len(GATEWAY_ROLE_CASES):]
    assert present["task"] == "Read the CRDs the gateway objects need (and the namespace when it matters)", present
    assert absent["task"] == "Read the CRDs of the kinds the gateway role creates", absent


def test_agent_role_warns_about_plain_otlp_before_any_cluster_call(agent_run):
    records, stdout = agent_run
    plain, absent = records[len(AGENT_ROLE_CASES):]
    assert plain["task"] == "Read the OpenTelemetryCollector CRD (and the namespace when it matters)", plain
    assert absent["task"] == "Read the OpenTelemetryCollector CRD", absent
    warning = stdout.index("WARNING: tracefleet_agent_export_mode is plain_otlp")
    assert warning < stdout.index("Read the OpenTelemetryCollector CRD (and the namespace")
