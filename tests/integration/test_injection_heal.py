"""Injection audit and healing against the real OpenTelemetry Operator (tfstack) on a kwok cluster.

One kwok cluster `heal-it-1`, the real operator run out of cluster by the stack harness (its pod webhook
`mpod.kb.io` registered on the kwok apiserver from the operator module's own config/webhook/manifests.yaml,
`failurePolicy: Ignore`, at a 127.0.0.1 URL), and the collection's real roles:

1. instrumentation + annotate: the annotated Deployment `shop/checkout` rolls and its pod comes out of the
   apiserver injected.
2. The operator is stopped; `checkout` is scaled from 1 to 3, so kwok's controller-manager creates two pods
   through the real apiserver, which lets them through uninjected (failurePolicy Ignore). The operator starts
   again (a new serving cert and port, webhooks re-registered): verify's report names exactly those two pods
   with "created while the webhook was unavailable".
3. The annotate role (tracefleet_annotate_restart: on_change, the default) restarts checkout through the
   `tracefleet.otel/restarted-at` pod-template annotation and waits for the rollout; verify then passes with
   3 injected pods. A re-run of annotate changes nothing and restarts nothing (same ReplicaSets, same template).
4. The Instrumentation's Java image moves on (instrumentation role, then annotate and verify in one run):
   annotate restarts checkout because the Instrumentation digest on its pod template changed, and verify
   passes with the new agent image in every pod. (The audit's "agent image older than Instrumentation" for
   the pods in between is covered by tests/unit/plugins/module_utils/test_injection_audit.py.)
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tfstack import build, cluster, operator
from tfstack.collection import collections_root
from tfstack.paths import REPO

NAME = "heal-it-1"
NAMESPACE = "shop"
WEBHOOK_REASON = "created while the webhook was unavailable"
JAVA_IMAGE = "open-telemetry/opentelemetry-operator/autoinstrumentation-java:2.22.0"
NEWER_JAVA_IMAGE = "open-telemetry/opentelemetry-operator/autoinstrumentation-java:2.23.0"

PLAYBOOK = """\
- name: Run the collection's roles named in heal_roles against the heal-it cluster
  hosts: localhost
  connection: local
  gather_facts: false
  module_defaults:
    group/tracefleet.otel.cluster:
      kubeconfig: "{{ heal_kubeconfig }}"
  tasks:
    - name: Run each role
      ansible.builtin.include_role:
        name: "tracefleet.otel.{{ heal_role }}"
      loop: "{{ heal_roles }}"
      loop_control:
        loop_var: heal_role
"""


def _kubectl(*args, check=True):
    return cluster.kubectl(NAME, *args, check=check)


@pytest.fixture(scope="module")
def kwok(tmp_path_factory):
    if not build.version_ok(build.by_binary("opentelemetry-operator")):
        pytest.fail("no operator binary: run `PYTHONPATH=tools/stack python -m tfstack build opentelemetry-operator`",
                    pytrace=False)
    work = tmp_path_factory.mktemp("heal")
    try:
        cluster.down(NAME, log=lambda *_: None)
        cluster.up(NAME, 1, log=lambda *_: None)
        operator.start(NAME, log=lambda *_: None)
        _kubectl("create", "namespace", NAMESPACE)
        deployment = {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "checkout", "namespace": NAMESPACE},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "checkout"}},
                     "template": {"metadata": {"labels": {"app": "checkout"}},
                                  "spec": {"containers": [{"name": "app", "image": "registry.example.com/shop/checkout:1.4.2"}]}}},
        }
        (work / "checkout.yaml").write_text(yaml.safe_dump(deployment))
        _kubectl("apply", "-f", str(work / "checkout.yaml"))
        (work / "play.yml").write_text(PLAYBOOK)
        yield work
    finally:
        cluster.down(NAME, log=lambda *_: None)
        assert cluster.cluster_pids(NAME) == [], "processes of the cluster survived tfstack down"


def _play(work, roles, java_image=JAVA_IMAGE):
    extra = {
        "heal_kubeconfig": str(cluster.kubeconfig_path(NAME)),
        "heal_roles": roles,
        "tracefleet_instrumentation_namespaces": [NAMESPACE],
        "tracefleet_instrumentation_images": {"java": java_image},
        "tracefleet_annotate_workloads": [{"namespace": NAMESPACE, "name": "checkout", "language": "java"}],
        "tracefleet_annotate_wait_timeout": 60,
        "tracefleet_verify_fail_on": [],
        "tracefleet_verify_report_dir": str(work / "reports"),
    }
    (work / "extra.json").write_text(json.dumps(extra))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_root()), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-e", "@" + str(work / "extra.json"), str(work / "play.yml")]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    print("playbook %s: %.1f s" % (", ".join(roles), time.monotonic() - started))
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    return out


def _recap_changed(out):
    line = [text for text in out.splitlines() if text.startswith("localhost") and "changed=" in text][-1]
    return int(line.split("changed=")[1].split()[0])


def _audit(work):
    report = json.loads((work / "reports" / "localhost.json").read_text())
    return next(c for c in report["checks"] if c["id"] == "critical_workloads_instrumented")


def _pods():
    pods = json.loads(_kubectl("get", "pods", "-n", NAMESPACE, "-l", "app=checkout", "-o", "json").stdout)["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def _replicasets():
    items = json.loads(_kubectl("get", "replicasets", "-n", NAMESPACE, "-o", "json").stdout)["items"]
    return sorted(rs["metadata"]["name"] for rs in items)


def _injected(pod):
    return any(c["name"] == "opentelemetry-auto-instrumentation-java" for c in pod["spec"].get("initContainers") or [])


def _wait_for(predicate, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("timed out after %d s waiting for %s" % (timeout, what))


def test_audit_names_uninjected_pods_and_annotate_heals_them(kwok):
    work = kwok
    started = time.monotonic()

    # 1. Annotate and roll out with the operator up: the audit passes.
    _play(work, ["instrumentation", "annotate"])
    before = {p["metadata"]["name"] for p in _pods()}
    assert len(before) == 1 and all(_injected(p) for p in _pods())

    # 2. Operator down: kwok's controller-manager creates two more pods, which the apiserver lets through
    #    uninjected (the pod webhook's failurePolicy is Ignore).
    operator.stop(NAME)
    assert operator.running(NAME) is None
    hooks = json.loads(_kubectl("get", "mutatingwebhookconfigurations", "-o", "json").stdout)["items"]
    pod_hook = [h for c in hooks for h in c["webhooks"] if h["name"] == "mpod.kb.io"]
    assert pod_hook and pod_hook[0]["failurePolicy"] == "Ignore"
    _kubectl("scale", "deployment/checkout", "-n", NAMESPACE, "--replicas=3")
    pods = _wait_for(lambda: (lambda now: now if len(now) == 3 else None)(_pods()), "3 checkout pods")
    plain = sorted(p["metadata"]["name"] for p in pods if not _injected(p))
    assert sorted(set(p["metadata"]["name"] for p in pods) - before) == plain and len(plain) == 2, plain
    operator.start(NAME, log=lambda *_: None)

    # The audit names exactly those two pods, with the reason.
    _play(work, ["verify"])
    check = _audit(work)
    assert check["status"] == "fail", check
    for name in plain:
        assert "%s/%s (%s)" % (NAMESPACE, name, WEBHOOK_REASON) in check["summary"], check["summary"]
        assert any(line.startswith("pod %s/%s (Deployment %s/checkout, java): %s" % (NAMESPACE, name, NAMESPACE, WEBHOOK_REASON))
                   for line in check["evidence"]), check["evidence"]
    assert "injection audit: 3 annotated pods checked, 1 pass, 2 fail (%s: 2)" % WEBHOOK_REASON in check["evidence"]
    markdown = (work / "reports" / "localhost.md").read_text()
    assert all(name in markdown for name in plain)

    # 3. Heal: annotate restarts checkout (it waits for the rollout); the audit then passes.
    rs_before = _replicasets()
    out = _play(work, ["annotate", "verify"])
    assert "Deployment shop/checkout: audit flagged" in out, out[-4000:]
    template = json.loads(_kubectl("get", "deployment", "checkout", "-n", NAMESPACE, "-o", "json").stdout)["spec"]["template"]
    assert "tracefleet.otel/restarted-at" in template["metadata"]["annotations"]
    assert len(_replicasets()) == len(rs_before) + 1
    check = _audit(work)
    assert check["status"] == "pass", check
    assert "injection audit: 3 annotated pods checked, 3 pass, 0 fail" in check["evidence"]
    pods = _pods()
    assert len(pods) == 3 and all(_injected(p) for p in pods) and not {p["metadata"]["name"] for p in pods} & set(plain)

    # A re-run restarts nothing.
    rs_healed, template_healed = _replicasets(), template
    out = _play(work, ["annotate"])
    assert _recap_changed(out) == 0, out[-3000:]
    assert _replicasets() == rs_healed
    assert json.loads(_kubectl("get", "deployment", "checkout", "-n", NAMESPACE, "-o", "json").stdout)["spec"]["template"] == template_healed

    # 4. A newer agent image in the Instrumentation: annotate restarts on the digest, the audit passes.
    out = _play(work, ["instrumentation", "annotate", "verify"], java_image=NEWER_JAVA_IMAGE)
    assert "Deployment shop/checkout: Instrumentation shop/tracefleet changed for java" in out, out[-4000:]
    check = _audit(work)
    assert check["status"] == "pass", check
    pods = _pods()
    assert len(pods) == 3 and all(c["image"].endswith(NEWER_JAVA_IMAGE) for p in pods for c in p["spec"]["initContainers"])
    print("heal scenario wall time %.1f s" % (time.monotonic() - started))
