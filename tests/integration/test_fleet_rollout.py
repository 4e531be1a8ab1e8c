"""playbooks/site.yml across a fleet of 8 kwok clusters, in waves, with verify as the gate of each wave.

Eight clusters `fleet-1` .. `fleet-8` (2 nodes each) are started in parallel by the stack harness
(`tfstack up`); the real OpenTelemetry Operator runs for every cluster a wave reaches if the rollout does
not stop (`tfstack operator`: fleet-1 .. fleet-4). The clusters of the last wave get only the operator's
CRDs (no operator), so "no OpenTelemetryCollector / Instrumentation" there is a real query against
registered resource types, not an unknown-kind error.

A generated inventory has one host per cluster (`ansible_connection: local`, the cluster's kubeconfig),
the local stack's settings (inventories/local/group_vars), and the waves `[1, 3, 4]` with
`max_fail_percentage: 0` passed as extra vars (play keywords cannot come from inventory variables). One
wave-2 cluster, fleet-3, is made to fail verify honestly: its host_vars add a Deployment `ledger` to the
demo workloads and list it among the critical workloads, but not among the workloads to annotate, so the
verify role finds a critical workload that is really not instrumented.

`ansible-playbook demo_workloads.yml site.yml -f 8` must then fail, naming fleet-3 and the check
`critical_workloads_instrumented`; fleet-1, fleet-2 and fleet-4 carry the tracing objects (the operator's
Helm release, gateway and agent collectors, the Instrumentation, annotated pod templates) and pass verify;
fleet-5 .. fleet-8 carry none of them (no release, no collector, no Instrumentation, no annotation, no
verify report). Every cluster is stopped at the end, also on failure, and no process may survive.
"""

import json
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tfstack import build, cluster, operator
from tfstack.collection import collections_root
from tfstack.paths import REPO

CLUSTERS = [f"fleet-{n}" for n in range(1, 9)]
WAVES = [1, 3, 4]
REACHED = CLUSTERS[:WAVES[0] + WAVES[1]]       # waves 1 and 2: fleet-1 .. fleet-4
UNTOUCHED = CLUSTERS[WAVES[0] + WAVES[1]:]     # wave 3: fleet-5 .. fleet-8
FAILING = "fleet-3"
FAILING_CHECK = "critical_workloads_instrumented"
NODES = 2
PLAYBOOK_TIMEOUT = 2400  # about 10 min on an idle 2-core machine; 20+ min when it is shared
INJECT = {"checkout": "java", "storefront": "nodejs"}
INJECT_PREFIX = "instrumentation.opentelemetry.io/inject-"


def _quiet(*_):
    pass


def _get(name, *args, check=True):
    proc = cluster.kubectl(name, "get", *args, "-o", "json", check=check)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def _start(name):
    cluster.down(name, log=_quiet)  # a leftover from an interrupted run: start clean
    cluster.up(name, NODES, log=_quiet)
    if name in REACHED:
        operator.start(name, log=_quiet)
    else:
        operator.ensure_crds(name, operator.module_dir())


def _stop(name):
    cluster.down(name, log=_quiet)
    return name, cluster.cluster_pids(name)


@pytest.fixture(scope="module")
def fleet():
    for tool in ("opentelemetry-operator", "helm", *cluster.CONTROL_PLANE):
        if not build.version_ok(build.by_binary(tool)):
            pytest.fail(f"no {tool} binary: run `PYTHONPATH=tools/stack python -m tfstack build`", pytrace=False)
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(max_workers=len(CLUSTERS)) as pool:
            list(pool.map(_start, CLUSTERS))
        print(f"\n{len(CLUSTERS)} clusters up ({len(REACHED)} with the operator) in {time.monotonic() - started:.1f} s")
        yield CLUSTERS
    finally:
        with ThreadPoolExecutor(max_workers=len(CLUSTERS)) as pool:
            survivors = {name: pids for name, pids in pool.map(_stop, CLUSTERS) if pids}
        assert survivors == {}, f"processes survived tfstack down: {survivors}"


def _inventory(tmp_path):
    """hosts.yml (one host per cluster), the local stack's group_vars, fleet-3's host_vars, the waves file."""
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "host_vars").mkdir()
    hosts = {name: {"tracefleet_kubeconfig": str(cluster.kubeconfig_path(name))} for name in CLUSTERS}
    (inventory / "hosts.yml").write_text(yaml.safe_dump({"tracefleet_clusters": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"},
        "hosts": hosts}}, sort_keys=False))
    settings = yaml.safe_load((REPO / "inventories" / "local" / "group_vars" / "tracefleet_clusters.yml").read_text())
    settings.pop("tracefleet_kubeconfig")  # per host, above
    settings["tracefleet_operator_chart_path"] = str(REPO / "tests" / "charts" / "opentelemetry-operator")
    settings["tracefleet_verify_report_dir"] = str(tmp_path / "reports")
    (inventory / "group_vars" / "tracefleet_clusters.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
    ledger = {"name": "ledger", "replicas": 1,
              "containers": [{"name": "app", "image": "registry.example.com/shop/ledger:2.0.1"}]}
    critical = [{"namespace": w["namespace"], "name": w["name"], "language": w["language"]}
                for w in settings["tracefleet_annotate_workloads"]]
    (inventory / "host_vars" / f"{FAILING}.yml").write_text(yaml.safe_dump({
        # ledger runs here but nobody added it to tracefleet_annotate_workloads: verify must catch it.
        "tracefleet_demo_workloads": settings["tracefleet_demo_workloads"] + [ledger],
        "tracefleet_verify_critical_workloads": critical + [{"namespace": "shop", "name": "ledger",
                                                             "language": "python"}],
    }, sort_keys=False))
    rollout = tmp_path / "rollout.yml"
    rollout.write_text(yaml.safe_dump({"tracefleet_rollout_waves": WAVES, "tracefleet_max_fail_percentage": 0}))
    return inventory, rollout


@pytest.fixture(scope="module")
def rollout(fleet, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fleet")
    inventory, waves = _inventory(tmp)
    env = dict(os.environ,
               ANSIBLE_COLLECTIONS_PATH=str(collections_root()),
               TRACEFLEET_HELM=str(build.by_binary("helm").path),
               ANSIBLE_HOME=str(tmp / "ansible-home"),
               ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"),
               ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_PIPELINING="1",
               ANSIBLE_CALLBACKS_ENABLED="ansible.posix.profile_tasks")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), "-f", "8",
           "-e", f"@{waves}", "playbooks/demo_workloads.yml", "playbooks/site.yml"]
    started = time.monotonic()
    log = tmp / "site.log"  # written as the run goes, so a timed-out run still shows how far it got
    with open(log, "w") as out:
        proc = subprocess.run(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.PIPE, text=True,
                              timeout=PLAYBOOK_TIMEOUT)
    proc.stdout = log.read_text()
    print(f"site.yml on {len(CLUSTERS)} clusters: rc {proc.returncode} in {time.monotonic() - started:.1f} s ({log})")
    return proc, tmp / "reports"


def _releases(name):
    return [s["metadata"]["labels"]["name"] for s in _get(name, "secrets", "-A", "-l", "owner=helm")["items"]]


def _annotations(name, deployment):
    template = _get(name, "deployment", deployment, "-n", "shop")["spec"]["template"]["metadata"]
    return template.get("annotations") or {}


def test_rollout_stops_at_the_wave_whose_cluster_fails_verify(rollout):
    proc, reports = rollout
    out = proc.stdout
    assert proc.returncode != 0, out[-6000:]
    failed = re.findall(r"^fatal: \[([\w-]+)\]: FAILED! => (.*)$", out, re.M)
    assert [host for host, _ in failed] == [FAILING], out[-8000:] + proc.stderr[-2000:]
    assert FAILING_CHECK in failed[0][1], failed[0][1]
    # fleet-3's report says why; the healthy clusters of waves 1 and 2 passed; wave 3 was never verified.
    report = json.loads((reports / f"{FAILING}.json").read_text())
    assert FAILING_CHECK in json.dumps(report) and "ledger" in json.dumps(report)
    assert sorted(p.stem for p in reports.glob("*.json")) == REACHED
    assert "NO MORE HOSTS LEFT" in out


@pytest.mark.parametrize("name", REACHED)
def test_clusters_of_the_first_two_waves_carry_the_tracing_objects(rollout, name):
    assert _releases(name) == ["opentelemetry-operator"]
    collectors = sorted(c["metadata"]["name"] for c in _get(name, "opentelemetrycollectors", "-A")["items"])
    assert collectors == ["agent", "gateway"]
    assert [i["metadata"]["name"] for i in _get(name, "instrumentations", "-n", "shop")["items"]] == ["tracefleet"]
    for deployment, language in INJECT.items():
        assert _annotations(name, deployment).get(f"{INJECT_PREFIX}{language}") == "tracefleet", (name, deployment)
    if name == FAILING:
        assert not any(k.startswith(INJECT_PREFIX) for k in _annotations(name, "ledger"))


@pytest.mark.parametrize("name", UNTOUCHED)
def test_clusters_of_the_last_wave_show_no_tracing_objects(rollout, name):
    assert _releases(name) == []
    assert _get(name, "opentelemetrycollectors", "-A")["items"] == []
    assert _get(name, "instrumentations", "-A")["items"] == []
    namespaces = {n["metadata"]["name"] for n in _get(name, "namespaces")["items"]}
    assert not namespaces & {"observability", "tempo", "opentelemetry-operator-system"}, namespaces
    for deployment in INJECT:  # the demo workloads exist (created before the rollout) but stay unannotated
        assert not any(k.startswith(INJECT_PREFIX) for k in _annotations(name, deployment)), (name, deployment)
