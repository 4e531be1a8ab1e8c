"""Roll the roles out to a kwok cluster with the real operator, and read back what the data plane runs.

Used by tests/integration/test_dataplane_*.py (and ``python tests/integration/dataplane_setup.py NAME``
to try it by hand). ``rollout`` runs the project's own playbooks (demo_workloads.yml for Tempo's
volume, then site.yml with ``--tags tempo,gateway,agent``) against the cluster with the test's
variables, and a second agent collector ``agent-plain`` with ``tracefleet_agent_export_mode:
plain_otlp`` (the opt-out). ``applied`` reads what the operator rendered: each collector's mounted
ConfigMap ``collector.yaml`` byte for byte, the environment of each of its pods (K8S_NODE_NAME from
the pod's spec.nodeName), and Tempo's ``tempo.yaml``. Only the Kubernetes API on 127.0.0.1 is read.
"""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib

import test_applied_collector_config as applied_config  # noqa: E402
from tfstack import build, cluster  # noqa: E402
from tfstack.collection import collections_root  # noqa: E402
from tfstack.paths import REPO  # noqa: E402

NAMESPACE = "observability"
PLAYBOOK_TIMEOUT = 600

# Role variables of the run: a short latency threshold and decision wait keep the tests short; the
# rest are the role defaults (tail_first profile: errors, slow and 10 % of the rest).
GATEWAY_VARS = {
    "tracefleet_gateway_latency_threshold_ms": 300,
    "tracefleet_gateway_decision_wait": "2s",
    "tracefleet_gateway_batch_timeout": "1s",
    "tracefleet_gateway_environment": "dataplane-test",
    "tracefleet_agent_batch_timeout": "200ms",
}
PLAIN_AGENT_VARS = {
    "tracefleet_agent_name": "agent-plain",
    "tracefleet_agent_export_mode": "plain_otlp",
    "tracefleet_agent_batch_timeout": "200ms",
}


class RolloutError(RuntimeError):
    pass


@dataclass
class Applied:
    name: str  # the OpenTelemetryCollector
    configmap: str
    text: str  # collector.yaml as the operator rendered it
    envs: list  # one environment per pod, as the container gets it


def _playbook(name, args, vars_file, log):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_root()), ANSIBLE_NOCOLOR="1",
               ANSIBLE_FORCE_COLOR="0", TRACEFLEET_HELM=str(build.by_binary("helm").path))
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/local",
           "-e", "tracefleet_kubeconfig=%s" % cluster.kubeconfig_path(name), "-e", "@%s" % vars_file, *args]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT)
    log.write_text(log.read_text() + proc.stdout + proc.stderr if log.exists() else proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise RolloutError("ansible-playbook %s failed (rc %d); log %s\n%s" % (
            " ".join(args), proc.returncode, log, "\n".join(proc.stdout.splitlines()[-30:])))
    return time.monotonic() - started


def rollout(name, workdir, extra_vars=None):
    """Tempo, gateway, agent and agent-plain on cluster name (the operator must be running); returns seconds.

    extra_vars: role variables added to GATEWAY_VARS for this cluster (e.g. the persistent queue)."""
    workdir = Path(workdir)
    log = workdir / "rollout.log"
    main_vars = workdir / "dataplane-vars.yml"
    main_vars.write_text(yaml.safe_dump(dict(GATEWAY_VARS, **(extra_vars or {}))))
    plain_vars = workdir / "dataplane-plain-vars.yml"
    plain_vars.write_text(yaml.safe_dump(dict(GATEWAY_VARS, **(extra_vars or {}), **PLAIN_AGENT_VARS)))
    seconds = _playbook(name, ["playbooks/demo_workloads.yml"], main_vars, log)
    # Only the roles the data plane runs (the operator runs beside the cluster; preflight, instrumentation,
    # annotate and verify are other tests' business).
    seconds += _playbook(name, ["playbooks/site.yml", "--tags", "tempo,gateway,agent"], main_vars, log)
    seconds += _playbook(name, ["playbooks/site.yml", "--tags", "agent"], plain_vars, log)
    return seconds


def _pods(name, namespace, workload):
    selector = ",".join("%s=%s" % kv for kv in sorted(workload["spec"]["selector"]["matchLabels"].items()))
    out = cluster.kubectl(name, "get", "pods", "-n", namespace, "-l", selector, "-o", "json").stdout
    return sorted(json.loads(out)["items"], key=lambda p: p["metadata"]["name"])


def read_collector(name, collector, namespace=NAMESPACE):
    kubeconfig = str(cluster.kubeconfig_path(name))
    workload, _, cm_name, text, read_ref = applied_config.read_applied(kubeconfig, namespace, collector)
    envs = [applied_config.container_env(workload, pod, read_ref) for pod in _pods(name, namespace, workload)]
    return Applied(name=collector, configmap=cm_name, text=text, envs=envs)


def read_tempo(name, namespace="tempo", configmap="tempo", key="tempo.yaml"):
    out = cluster.kubectl(name, "get", "configmap", configmap, "-n", namespace, "-o", "json").stdout
    return json.loads(out)["data"][key]


def read_configmap_key(name, namespace, configmap, key):
    """One key of one ConfigMap, as the API has it now (for comparing bytes)."""
    out = cluster.kubectl(name, "get", "configmap", configmap, "-n", namespace, "-o", "json").stdout
    return json.loads(out)["data"][key]


if __name__ == "__main__":
    from tfstack import operator

    cluster_name = sys.argv[1]
    cluster.up(cluster_name, 3, log=lambda *_: None)
    operator.start(cluster_name, log=lambda *_: None)
    out_dir = Path(sys.argv[2] if len(sys.argv) > 2 else ".")
    print("rollout %.1f s" % rollout(cluster_name, out_dir))
    for c in ("gateway", "agent", "agent-plain"):
        a = read_collector(cluster_name, c)
        (out_dir / ("%s.collector.yaml" % c)).write_text(a.text)
        print(c, a.configmap, a.envs[:1])
    (out_dir / "tempo.yaml").write_text(read_tempo(cluster_name))
