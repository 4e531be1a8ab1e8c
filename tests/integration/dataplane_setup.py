"""Roll the roles out to a kwok cluster with the real operator, read back what the data plane runs, and
the pieces the data-plane tests share (the process specs, the demo shop's wiring, Tempo lookups).

Used by tests/integration/test_dataplane_*.py and test_sampling_probe.py (and
``python tests/integration/dataplane_setup.py NAME`` to try it by hand). ``rollout`` runs the
project's own playbooks (demo_workloads.yml for Tempo's volume, then site.yml with ``--tags
tempo,gateway,agent``) against the cluster with the test's variables, and more agent collectors:
``agent-plain`` with ``tracefleet_agent_export_mode: plain_otlp`` (the opt-out) by default, or
``agent-k8s`` with the k8s resolver. ``applied`` reads what the operator rendered: each collector's mounted
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

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # --import-mode=importlib

import test_applied_collector_config as applied_config  # noqa: E402
from tfstack import build, cluster, operator  # noqa: E402
from tfstack.dataplane import processes, traffic  # noqa: E402
from ansible_collections.tracefleet.otel.plugins.module_utils.tempo import analyze_trace  # noqa: E402
from tfstack.collection import collections_root  # noqa: E402
from tfstack.paths import REPO  # noqa: E402

NAMESPACE = "observability"
PLAYBOOK_TIMEOUT = 600
TOOLS = ("opentelemetry-operator", "otelcol", "tempo")
TEMPO_SERVICE = "tempo.tempo.svc.cluster.local:4317"
GATEWAY_SERVICE = "gateway-collector.observability.svc.cluster.local:4317"

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
# A third agent collector whose load_balancing exporter finds the gateways through their EndpointSlices.
K8S_AGENT_VARS = {
    "tracefleet_agent_name": "agent-k8s",
    "tracefleet_agent_resolver": "k8s",
    "tracefleet_agent_batch_timeout": "200ms",
}


class RolloutError(RuntimeError):
    pass


def require_tools():
    """Fail the test (not error it) with the command to run when a pinned binary is missing."""
    for tool in TOOLS:
        if not build.version_ok(build.by_binary(tool)):
            pytest.fail("no %s binary: run `make tools`" % tool, pytrace=False)


def fresh_cluster(name, nodes=3):
    """A new kwok cluster ``name`` (whatever was left under that name goes first) with the real operator."""
    cluster.down(name, log=lambda *_: None)
    cluster.up(name, nodes, log=lambda *_: None)
    return operator.start(name, log=lambda *_: None)


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


def rollout(name, workdir, extra_vars=None, more_agents=(PLAIN_AGENT_VARS,)):
    """Tempo, gateway, agent and the ``more_agents`` (agent-plain by default) on cluster name (the operator
    must be running); returns seconds.

    extra_vars: role variables added to GATEWAY_VARS for this cluster (e.g. the persistent queue)."""
    workdir = Path(workdir)
    log = workdir / "rollout.log"
    main_vars = workdir / "dataplane-vars.yml"
    main_vars.write_text(yaml.safe_dump(dict(GATEWAY_VARS, **(extra_vars or {}))))
    seconds = _playbook(name, ["playbooks/demo_workloads.yml"], main_vars, log)
    # Only the roles the data plane runs (the operator runs beside the cluster; preflight, instrumentation,
    # annotate and verify are other tests' business).
    seconds += _playbook(name, ["playbooks/site.yml", "--tags", "tempo,gateway,agent"], main_vars, log)
    for agent_vars in more_agents:
        vars_file = workdir / ("dataplane-%s-vars.yml" % agent_vars["tracefleet_agent_name"])
        vars_file.write_text(yaml.safe_dump(dict(GATEWAY_VARS, **(extra_vars or {}), **agent_vars)))
        seconds += _playbook(name, ["playbooks/site.yml", "--tags", "agent"], vars_file, log)
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


def plane_specs(applied, tempo, name, agent="agent", gateway_service=None):
    """Arguments for processes.running: 3 gateways and 2 agents from what cluster ``name`` got.

    gateway_service: "<service>.<namespace>" of the loopback EndpointSlice the agents' load_balancing
    exporter watches (tfstack.dataplane.endpoints) instead of the static list of the three gateways."""
    gateway = applied["gateway"]
    gateways = [dict(name="gateway-%d" % i, config_text=gateway.text, address=address,
                     services={TEMPO_SERVICE: tempo.otlp_grpc}, env=gateway.envs[i % len(gateway.envs)])
                for i, address in enumerate(processes.GATEWAY_ADDRESSES)]
    endpoints = ["%s:4317" % a for a in processes.GATEWAY_ADDRESSES]
    agents = []
    for i, address in enumerate(processes.AGENT_ADDRESSES):
        env = dict(applied[agent].envs[i % len(applied[agent].envs)], KUBECONFIG=str(cluster.kubeconfig_path(name)))
        # The plain exporter's one gRPC connection to the gateway Service lands on one replica, chosen
        # per connection (kube-proxy); agent i's connection is taken to land on gateway i.
        agents.append(dict(name="%s-%d" % (agent, i), config_text=applied[agent].text, address=address, env=env,
                           gateways=None if gateway_service else endpoints, gateway_service=gateway_service,
                           services={GATEWAY_SERVICE: endpoints[i % len(endpoints)]}))
    return gateways, agents


def shop_for(plane, run_id, seed):
    """The demo shop's three services on two nodes: frontend and orders send to agent 0, payments to agent 1."""
    a0, a1 = plane.agents
    return traffic.Shop({"frontend": a0.otlp_http, "orders": a0.otlp_http, "payments": a1.otlp_http}, run_id, seed=seed)


def lookup(client, trace_ids):
    """{trace id: analysis} of the traces Tempo has, by id."""
    return {tid: analyze_trace(doc) for tid in trace_ids for doc in [client.get_trace(tid)] if doc}


def broken(analysis):
    """A demo-shop trace that is not whole: not 3 spans of the 3 services under one root."""
    return (analysis["span_count"] != 3 or analysis["root_count"] != 1 or analysis["orphan_spans"]
            or analysis["services"] != list(traffic.SERVICES))


if __name__ == "__main__":
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
