"""playbooks/preflight.yml: pre-upgrade checks on a kwok cluster, read only, one message per problem.

One cluster `it-preflight` with the operator's CRDs as the stack harness applies them (no release yet).
1. A clean cluster passes, and nothing changes.
2. A registry override reaches every image of the chart (kube-rbac-proxy too); an image the override does
   not cover is named.
3. A stored version the target chart's CRDs no longer serve (made by serving and storing an extra version
   `v1alpha0` of the Instrumentation CRD, as an older operator would have) fails the check, naming the CRD
   and the version, and leaves the CRD and the cluster as they were.
"""

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tfstack import build, cluster, operator
from tfstack.collection import collections_root
from tfstack.paths import REPO

NAME = "it-preflight"
CRD = "instrumentations.opentelemetry.io"


def _preflight(*extra):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_root()),
               TRACEFLEET_HELM=str(build.by_binary("helm").path), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/local",
           "-e", f"tracefleet_kubeconfig={cluster.kubeconfig_path(NAME)}", *extra, "playbooks/preflight.yml"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    return proc, proc.stdout + proc.stderr


def _recap(out):
    line = re.findall(r"^local\s+:\s+(.*)$", out, re.M)[-1]
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def _crd():
    return json.loads(cluster.kubectl(NAME, "get", "crd", CRD, "-o", "json").stdout)


@pytest.fixture(scope="module")
def kwok():
    if not build.version_ok(build.by_binary("helm")):
        pytest.fail("no helm binary: run `PYTHONPATH=tools/stack python -m tfstack build helm`", pytrace=False)
    try:
        cluster.down(NAME, log=lambda *_: None)
        cluster.up(NAME, 1, log=lambda *_: None)
        operator.ensure_crds(NAME, operator.module_dir())
        yield NAME
    finally:
        cluster.down(NAME, log=lambda *_: None)


def test_a_clean_cluster_passes_and_nothing_changes(kwok):
    proc, out = _preflight()
    assert proc.returncode == 0, out[-5000:]
    assert "The cluster can take operator chart 0.102.0" in out
    assert "CRD instrumentations.opentelemetry.io stored versions: v1alpha1" in out
    assert _recap(out)["changed"] == 0


def test_the_registry_override_must_reach_every_image(kwok):
    mirror = {"tracefleet_operator_image_registry": "registry.example.com/mirror"}
    proc, out = _preflight("-e", json.dumps(mirror))
    assert proc.returncode == 0, out[-5000:]

    # A value that pins the sidecar back to its public registry: the check names it.
    escaped = dict(mirror, tracefleet_operator_extra_values={
        "kubeRBACProxy": {"image": {"repository": "quay.io/brancz/kube-rbac-proxy"}}})
    proc, out = _preflight("-e", json.dumps(escaped))
    assert proc.returncode != 0, out[-5000:]
    assert ("image quay.io/brancz/kube-rbac-proxy:v0.18.1 (Deployment/opentelemetry-operator container "
            "kube-rbac-proxy) does not come from the registry override registry.example.com/mirror") in out, out[-5000:]


def test_a_stored_version_the_target_drops_fails_naming_it_and_changes_nothing(kwok, tmp_path):
    crd = yaml.safe_load(next(p for p in operator.crd_files(operator.module_dir())
                              if operator.crd_name(p) == CRD).read_text())
    older = copy.deepcopy(next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"))
    older.update(name="v1alpha0", storage=True)
    for version in crd["spec"]["versions"]:
        version["storage"] = False
    crd["spec"]["versions"].append(older)
    path = tmp_path / "crd.yaml"
    path.write_text(yaml.safe_dump(crd))
    cluster.kubectl(NAME, "apply", "--server-side", "--force-conflicts", "--field-manager=older-operator", "-f", str(path))
    assert "v1alpha0" in _crd()["status"]["storedVersions"]
    before = _crd()["metadata"]["resourceVersion"]

    proc, out = _preflight()
    assert proc.returncode != 0, out[-5000:]
    assert ("CRD instrumentations.opentelemetry.io has objects stored as v1alpha0, which the target chart 0.102.0 "
            "no longer serves (it serves v1alpha1)") in out, out[-5000:]
    assert _crd()["metadata"]["resourceVersion"] == before
    releases = cluster.kubectl(NAME, "get", "secrets", "-A", "-l", "owner=helm", "-o", "name").stdout.split()
    assert releases == []
