"""playbooks/site.yml and playbooks/uninstall.yml against a kwok cluster with the real operator.

One cluster `it-site` (3 nodes) and the operator harness; the local inventory (inventories/local)
pointed at it with `-e tracefleet_kubeconfig=...`. The rollout (demo_workloads.yml + site.yml) must
leave: the operator release, the gateway Deployment 3/3, the agent DaemonSet 3/3, Tempo's StatefulSet
ready, the Instrumentation in `shop`, and the demo Deployments' pod templates annotated with their
new pods injected. A second site.yml run reports changed=0; uninstall.yml removes the collectors,
the Instrumentation, Tempo and the release. `tfstack down` then leaves no process.
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfstack import build, cluster, operator
from tfstack.collection import collections_root
from tfstack.paths import REPO

NAME = "it-site"
NODES = 3
PLAYBOOK_TIMEOUT = 600
INJECT = {"checkout": "java", "storefront": "nodejs"}


def _get(*args, check=True):
    proc = cluster.kubectl(NAME, "get", *args, "-o", "json", check=check)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def _playbook(*playbooks, timeout=PLAYBOOK_TIMEOUT):
    env = dict(os.environ,
               ANSIBLE_COLLECTIONS_PATH=str(collections_root()),
               TRACEFLEET_HELM=str(build.by_binary("helm").path),
               ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/local",
           "-e", f"tracefleet_kubeconfig={cluster.kubeconfig_path(NAME)}",
           *(f"playbooks/{p}" for p in playbooks)]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    print(f"\n{' '.join(playbooks)}: rc {proc.returncode} in {time.monotonic() - started:.1f} s")
    return proc


def _recap(out):
    """The last PLAY RECAP line of host `local` (ansible-playbook prints one per playbook)."""
    lines = re.findall(r"^local\s+:\s+(.*)$", out, re.M)
    assert lines, out[-3000:]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", lines[-1])}


@pytest.fixture(scope="module")
def site():
    for tool in ("opentelemetry-operator", "helm"):
        if not build.version_ok(build.by_binary(tool)):
            pytest.fail(f"no {tool} binary: run `PYTHONPATH=tools/stack python -m tfstack build {tool}`", pytrace=False)
    try:
        cluster.down(NAME, log=lambda *_: None)  # a leftover from an interrupted run: start clean
        cluster.up(NAME, NODES, log=lambda *_: None)
        operator.start(NAME, log=lambda *_: None)
        yield NAME
    finally:
        cluster.down(NAME, log=lambda *_: None)
        assert cluster.cluster_pids(NAME) == [], "processes of the cluster survived tfstack down"


def test_site_rollout_is_idempotent_and_uninstall_removes_it(site):
    proc = _playbook("demo_workloads.yml", "site.yml")
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert _recap(proc.stdout)["failed"] == 0

    # Operator release (Helm stores it as a Secret), collectors, Tempo, Instrumentation.
    releases = _get("secrets", "-n", "opentelemetry-operator-system", "-l", "owner=helm,status=deployed")["items"]
    assert [s["metadata"]["labels"]["name"] for s in releases] == ["opentelemetry-operator"]
    gateway = _get("deployment", "gateway-collector", "-n", "observability")
    assert gateway["status"].get("readyReplicas") == 3, gateway["status"]
    agent = _get("daemonset", "agent-collector", "-n", "observability")
    assert agent["status"].get("numberReady") == NODES == agent["status"]["desiredNumberScheduled"], agent["status"]
    tempo = _get("statefulset", "tempo", "-n", "tempo")
    assert tempo["status"].get("readyReplicas") == 1, tempo["status"]
    inst = _get("instrumentation", "tracefleet", "-n", "shop")
    assert inst["spec"]["sampler"]["type"] == "parentbased_always_on"

    # Pod templates annotated, and the pods the rollout made carry the agent's init container.
    for name, language in INJECT.items():
        annotations = _get("deployment", name, "-n", "shop")["spec"]["template"]["metadata"]["annotations"]
        assert annotations.get(f"instrumentation.opentelemetry.io/inject-{language}") == "tracefleet", annotations
        pods = [p for p in _get("pods", "-n", "shop", "-l", f"app={name}")["items"]
                if not p["metadata"].get("deletionTimestamp")]
        assert pods, name
        for pod in pods:
            init = [c["name"] for c in pod["spec"].get("initContainers", [])]
            assert f"opentelemetry-auto-instrumentation-{language}" in init, (pod["metadata"]["name"], init)

    again = _playbook("site.yml")
    assert again.returncode == 0, again.stdout[-6000:] + again.stderr[-2000:]
    recap = _recap(again.stdout)
    assert recap["changed"] == 0 and recap["failed"] == 0, [
        line for line in again.stdout.splitlines() if line.startswith("changed:")]

    gone = _playbook("uninstall.yml")
    assert gone.returncode == 0, gone.stdout[-6000:] + gone.stderr[-2000:]
    assert _get("opentelemetrycollectors", "-A")["items"] == []
    assert _get("deployment", "gateway-collector", "-n", "observability", check=False) is None
    assert _get("daemonset", "agent-collector", "-n", "observability", check=False) is None
    assert _get("instrumentations", "-A")["items"] == []
    assert _get("statefulset", "tempo", "-n", "tempo", check=False) is None
    assert _get("secrets", "-n", "opentelemetry-operator-system", "-l", "owner=helm")["items"] == []
    for name, language in INJECT.items():
        annotations = _get("deployment", name, "-n", "shop")["spec"]["template"]["metadata"].get("annotations") or {}
        assert f"instrumentation.opentelemetry.io/inject-{language}" not in annotations, annotations
