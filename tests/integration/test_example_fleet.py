"""inventories/example-fleet: it parses, its variables resolve per environment, region and host, every role
variable it sets passes that role's argument spec, and playbooks/site.yml passes --syntax-check with it.

No cluster is needed: everything runs the real `ansible-inventory`, `ansible` and `ansible-playbook`
against the inventory as it is in the repository.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from tfstack.collection import collections_root
from tfstack.paths import REPO

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pytest runs with --import-mode=importlib

from site_waves import site_waves  # noqa: E402

INVENTORY = REPO / "inventories" / "example-fleet"
BIN = Path(sys.executable).parent
STAGING = ["stg-eu-west-1", "stg-us-east-1"]
PRODUCTION = ["prod-eu-west-2", "prod-eu-west-1", "prod-us-east-1", "prod-us-east-2", "prod-ap-southeast-1"]
ROLES = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())


def _env(tmp_path, **extra):
    return dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_root()), ANSIBLE_NOCOLOR="1",
                ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"),
                **extra)


def _run(cmd, env, timeout=120):
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)}: rc {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


@pytest.fixture(scope="module")
def listing(tmp_path_factory):
    env = _env(tmp_path_factory.mktemp("inv"))
    proc = _run([str(BIN / "ansible-inventory"), "-i", str(INVENTORY), "--list"], env)
    assert "WARNING" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def resolved(tmp_path_factory):
    """Every host's tracefleet_* variables after Ansible templated them (the ad-hoc debug module on each host)."""
    tmp = tmp_path_factory.mktemp("resolved")
    env = _env(tmp, ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               K8S_AUTH_KUBECONFIG="/srv/fleet/kubeconfig", TRACEFLEET_KUBECONFIG_DIR="/srv/fleet/own")
    expression = ("{{ hostvars[inventory_hostname] | dict2items | selectattr('key', 'match', 'tracefleet_|ansible_connection')"
                  " | items2dict }}")
    proc = _run([str(BIN / "ansible"), "tracefleet_clusters", "-i", str(INVENTORY), "-m", "ansible.builtin.debug",
                 "-a", f"msg={expression}"], env)
    hosts = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]
    return {name: result["msg"] for name, result in hosts.items()}


def test_inventory_has_one_host_per_cluster_grouped_by_environment_and_region(listing):
    assert listing["staging"]["hosts"] == STAGING
    assert listing["production"]["hosts"] == PRODUCTION
    assert set(listing["tracefleet_clusters"]["children"]) == {"staging", "production", "eu_west", "us_east",
                                                                 "ap_southeast"}
    regions = [h for group in ("eu_west", "us_east", "ap_southeast") for h in listing[group]["hosts"]]
    assert sorted(regions) == sorted(STAGING + PRODUCTION), "every cluster is in exactly one region"
    for host in STAGING + PRODUCTION:
        hostvars = listing["_meta"]["hostvars"][host]
        assert hostvars["ansible_connection"] == "local", host
        assert hostvars["tracefleet_kube_context"] == host, host
        assert hostvars["tracefleet_kubeconfig"], host


def test_variables_resolve_per_environment_region_and_host(resolved):
    assert sorted(resolved) == sorted(STAGING + PRODUCTION)
    for host in STAGING:
        assert resolved[host]["tracefleet_instrumentation_sampling_profile"] == "article", host
        assert resolved[host]["tracefleet_instrumentation_head_ratio"] == 0.1, host
        assert resolved[host]["tracefleet_gateway_environment"] == "staging", host
        assert resolved[host]["tracefleet_gateway_replicas"] == 2, host
    for host in PRODUCTION:
        assert resolved[host]["tracefleet_instrumentation_sampling_profile"] == "tail_first", host
        assert resolved[host]["tracefleet_gateway_environment"] == "production", host
    # The article's values, shared by every cluster.
    for host, values in resolved.items():
        assert values["ansible_connection"] == "local"
        assert values["tracefleet_gateway_decision_wait"] == "10s"
        assert values["tracefleet_gateway_num_traces"] >= 100000
        assert values["tracefleet_gateway_latency_threshold_ms"] == 2000
        assert values["tracefleet_gateway_sampling_percentage"] == 10
        assert values["tracefleet_tempo_retention_days"] == 7
        assert values["tracefleet_instrumentation_propagators"] == ["tracecontext", "baggage"]
        assert values["tracefleet_tempo_storage_prefix"] == host
    # Regions pick the bucket; the kubeconfig comes from the environment (what an AWX credential injects).
    assert resolved["prod-eu-west-1"]["tracefleet_tempo_storage_region"] == "eu-west-1"
    assert resolved["stg-us-east-1"]["tracefleet_tempo_storage_bucket"] == "acme-traces-us-east"
    assert resolved["prod-eu-west-1"]["tracefleet_kubeconfig"] == "/srv/fleet/kubeconfig"
    # host_vars overrides.
    busy = resolved["prod-us-east-1"]
    assert busy["tracefleet_kubeconfig"] == "/srv/fleet/own/prod-us-east-1.kubeconfig"
    assert (busy["tracefleet_gateway_replicas"], busy["tracefleet_gateway_num_traces"]) == (5, 200000)
    assert resolved["prod-us-east-2"]["tracefleet_gateway_replicas"] == 3
    assert resolved["prod-ap-southeast-1"]["tracefleet_tempo_mode"] == "external"


@pytest.mark.parametrize("role", ROLES)
def test_role_variables_pass_the_role_argument_spec(resolved, role):
    """Each tracefleet_<role>_* variable the inventory sets is declared by the role and of the right type
    (a misspelt variable would otherwise be ignored silently)."""
    spec = yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())
    options = spec["argument_specs"]["main"]["options"]
    validator = ArgumentSpecValidator(options)
    prefix = f"tracefleet_{role}_"
    problems = {}
    for host, values in resolved.items():
        params = {k: v for k, v in values.items() if k.startswith(prefix)}
        result = validator.validate(params)
        if result.error_messages:
            problems[host] = result.error_messages
    assert problems == {}


def test_rollout_files_give_each_environment_its_waves():
    staging = yaml.safe_load((INVENTORY / "group_vars" / "staging" / "rollout.yml").read_text())
    production = yaml.safe_load((INVENTORY / "group_vars" / "production" / "rollout.yml").read_text())
    assert staging == {"tracefleet_rollout_waves": [1, "100%"], "tracefleet_max_fail_percentage": 0}
    assert production == {"tracefleet_rollout_waves": [1, "10%", "30%", "100%"], "tracefleet_max_fail_percentage": 0}


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_site_playbook_syntax_checks_with_the_fleet(tmp_path, environment):
    rollout = INVENTORY / "group_vars" / environment / "rollout.yml"
    proc = _run([str(BIN / "ansible-playbook"), "-i", str(INVENTORY), "--limit", environment, "-e", f"@{rollout}",
                 "--syntax-check", "playbooks/site.yml"], _env(tmp_path))
    assert "playbook: playbooks/site.yml" in proc.stdout


WAVES = {
    "staging": [["stg-eu-west-1"], ["stg-us-east-1"]],
    # [1, "10%", "30%", "100%"] of 5 clusters: the canary, then one, one, and the last two.
    "production": [["prod-eu-west-2"], ["prod-eu-west-1"], ["prod-us-east-1"], ["prod-us-east-2", "prod-ap-southeast-1"]],
}


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_site_playbook_waves_with_the_rollout_file(tmp_path, environment):
    """The waves site.yml's play gets from the environment's rollout file on this inventory."""
    rollout = INVENTORY / "group_vars" / environment / "rollout.yml"
    assert site_waves(INVENTORY, rollout, _env(tmp_path), tmp_path, limit=environment) == WAVES[environment]


def test_every_cluster_gateway_passes_the_gateway_checks(resolved):
    """The gateway role's own preflight (collector settings, the tail-sampling memory arithmetic included)
    accepts every cluster's gateway, so the example does not fail at its first rollout."""
    from ansible_collections.tracefleet.otel.plugins.module_utils.collector_config import (
        GATEWAY_DEFAULTS,
        gateway_settings_errors,
    )
    prefix = "tracefleet_gateway_"
    problems = {}
    for host, values in resolved.items():
        settings = {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix) and k[len(prefix):] in GATEWAY_DEFAULTS}
        errors = gateway_settings_errors(settings)
        if errors:
            problems[host] = errors
    assert problems == {}
