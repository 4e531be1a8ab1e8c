"""The configuration the operator rendered on the cluster is accepted by the real otelcol.

Two uses:

* a command the Molecule scenarios (molecule/gateway, molecule/agent) run in their verify step, against
  the scenario's kwok cluster after the role converged with the real operator reconciling::

      python tests/integration/test_applied_collector_config.py --kubeconfig K --namespace NS --name NAME

  It finds the operator's workload ``<name>-collector`` (Deployment or DaemonSet), the ConfigMap its pods
  mount as ``otc-internal`` (the operator keeps several ``<name>-collector-<hash>`` versions; the mounted
  one is the one that runs), takes its ``collector.yaml`` byte for byte, gives ``otelcol validate`` the
  environment the container gets (``K8S_NODE_NAME`` from ``spec.nodeName`` of one of its pods, literal
  values as they are), and exits non-zero with otelcol's output when the configuration is refused. It
  reads only the Kubernetes API on 127.0.0.1; it never dials a pod.

* pytest tests (``make integration``) for the parts that need no cluster: picking the mounted ConfigMap,
  resolving the container environment, and proving the check fails on a config otelcol refuses.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "tools" / "stack") not in sys.path:  # run as a script (pytest's conftest does this itself)
    sys.path.insert(0, str(REPO / "tools" / "stack"))

CONFIG_VOLUME = "otc-internal"  # the volume the operator mounts the rendered ConfigMap as
CONFIG_KEY = "collector.yaml"
CONTAINER = "otc-container"


class AppliedConfigError(RuntimeError):
    pass


def otelcol_path():
    from tfstack.build import by_binary

    tool = by_binary("otelcol")
    if not tool.path.exists():
        raise AppliedConfigError("no otelcol %s at %s: run `make tools` first" % (tool.version, tool.path))
    return str(tool.path)


def mounted_configmap(workload):
    """Name of the ConfigMap the workload's pods mount as the collector configuration."""
    for volume in workload["spec"]["template"]["spec"].get("volumes") or []:
        if volume.get("name") == CONFIG_VOLUME and volume.get("configMap"):
            return volume["configMap"]["name"]
    raise AppliedConfigError("%s %s mounts no %s ConfigMap" % (workload.get("kind"), workload["metadata"]["name"], CONFIG_VOLUME))


def container_env(workload, pod=None, read_ref=None):
    """The environment the collector container gets, as far as `otelcol validate` needs it.

    Literal values as written; fieldRef from the given pod (spec.nodeName, metadata.name, ...);
    secretKeyRef/configMapKeyRef through read_ref(kind, name, key) when given; resourceFieldRef and
    anything unresolvable is left out (the configs the roles build reference only K8S_NODE_NAME).
    """
    containers = workload["spec"]["template"]["spec"]["containers"]
    container = next((c for c in containers if c["name"] == CONTAINER), containers[0])
    env = {}
    for item in container.get("env") or []:
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        source = item.get("valueFrom") or {}
        if "fieldRef" in source and pod is not None:
            value = pod
            for part in source["fieldRef"]["fieldPath"].split("."):
                value = value.get(part) if isinstance(value, dict) else None
            if isinstance(value, str):
                env[item["name"]] = value
        elif read_ref and ("secretKeyRef" in source or "configMapKeyRef" in source):
            kind = "Secret" if "secretKeyRef" in source else "ConfigMap"
            ref = source.get("secretKeyRef") or source.get("configMapKeyRef")
            value = read_ref(kind, ref["name"], ref["key"])
            if value is not None:
                env[item["name"]] = value
    return env


def validate(otelcol, config_text, env):
    """Run `otelcol validate` on the exact text; return (returncode, output)."""
    with tempfile.TemporaryDirectory(prefix="applied-config-") as tmp:
        path = Path(tmp) / CONFIG_KEY
        path.write_text(config_text)
        environ = {k: v for k, v in os.environ.items() if k not in env}
        environ.update(env)
        proc = subprocess.run([otelcol, "validate", "--config=%s" % path], capture_output=True, text=True,
                              timeout=120, env=environ)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def read_applied(kubeconfig, namespace, name):
    """(workload, one of its pods or None, ConfigMap name, collector.yaml text) from the cluster."""
    import base64

    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=kubeconfig)
    apps, core = client.AppsV1Api(api_client), client.CoreV1Api(api_client)
    workload_name = "%s-collector" % name
    workload = None
    for kind, read in (("Deployment", apps.read_namespaced_deployment), ("DaemonSet", apps.read_namespaced_daemon_set)):
        try:
            workload = api_client.sanitize_for_serialization(read(workload_name, namespace))
            workload["kind"] = kind
            break
        except client.ApiException as err:
            if err.status != 404:
                raise
    if workload is None:
        raise AppliedConfigError("no Deployment or DaemonSet %s/%s: did the operator reconcile the collector?"
                                 % (namespace, workload_name))
    cm_name = mounted_configmap(workload)
    configmap = core.read_namespaced_config_map(cm_name, namespace)
    if CONFIG_KEY not in (configmap.data or {}):
        raise AppliedConfigError("ConfigMap %s/%s has no key %s (keys: %s)"
                                 % (namespace, cm_name, CONFIG_KEY, sorted(configmap.data or {})))
    selector = ",".join("%s=%s" % kv for kv in sorted(workload["spec"]["selector"]["matchLabels"].items()))
    pods = core.list_namespaced_pod(namespace, label_selector=selector).items
    pod = api_client.sanitize_for_serialization(pods[0]) if pods else None

    def read_ref(kind, ref_name, key):
        try:
            if kind == "Secret":
                data = core.read_namespaced_secret(ref_name, namespace).data or {}
                return base64.b64decode(data[key]).decode() if key in data else None
            return (core.read_namespaced_config_map(ref_name, namespace).data or {}).get(key)
        except client.ApiException:
            return None

    return workload, pod, cm_name, configmap.data[CONFIG_KEY], read_ref


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--name", required=True, help="the OpenTelemetryCollector's name")
    args = parser.parse_args(argv)
    try:
        workload, pod, cm_name, text, read_ref = read_applied(args.kubeconfig, args.namespace, args.name)
        env = container_env(workload, pod, read_ref)
        code, output = validate(otelcol_path(), text, env)
    except AppliedConfigError as err:
        print("applied-config: %s" % err, file=sys.stderr)
        return 2
    report = {"collector": "%s/%s" % (args.namespace, args.name), "workload": workload["kind"], "configmap": cm_name,
              "env": sorted(env), "validated": code == 0}
    print(json.dumps(report))
    if code != 0:
        print("otelcol validate refused %s/%s (ConfigMap %s):\n%s" % (args.namespace, args.name, cm_name, output),
              file=sys.stderr)
        return 1
    return 0


# --- pytest: the parts that need no cluster --------------------------------------------------

def _daemonset(env=None, volumes=None):
    return {
        "kind": "DaemonSet",
        "metadata": {"name": "agent-collector"},
        "spec": {"template": {"spec": {
            "containers": [{"name": CONTAINER, "env": env or []}],
            "volumes": volumes if volumes is not None else [
                {"name": "tls", "secret": {"secretName": "x"}},
                {"name": CONFIG_VOLUME, "configMap": {"name": "agent-collector-44ca3a2a", "items": [{"key": CONFIG_KEY}]}},
            ],
        }}},
    }


def test_the_mounted_configmap_is_the_one_that_runs():
    assert mounted_configmap(_daemonset()) == "agent-collector-44ca3a2a"


def test_a_workload_without_the_config_volume_is_an_error():
    import pytest

    with pytest.raises(AppliedConfigError, match=CONFIG_VOLUME):
        mounted_configmap(_daemonset(volumes=[{"name": "tls", "secret": {"secretName": "x"}}]))


def test_the_environment_is_resolved_as_the_pod_gets_it():
    workload = _daemonset(env=[
        {"name": "K8S_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "MODE", "value": "agent"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "token"}}},
        {"name": "GOMEMLIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}},
    ])
    pod = {"metadata": {"name": "agent-collector-abc"}, "spec": {"nodeName": "node-000003"}}
    env = container_env(workload, pod, read_ref=lambda kind, name, key: "%s/%s/%s" % (kind, name, key))
    assert env == {"K8S_NODE_NAME": "node-000003", "MODE": "agent", "TOKEN": "Secret/s/token"}


def _agent_text():
    import yaml

    from ansible_collections.tracefleet.otel.plugins.module_utils.collector_config import agent_config

    return yaml.safe_dump(agent_config({}))


def test_the_check_passes_with_the_node_name_and_fails_without_it():
    """What the agent's DaemonSet must provide: k8s_attributes refuses to start without K8S_NODE_NAME."""
    otelcol = otelcol_path()
    code, output = validate(otelcol, _agent_text(), {"K8S_NODE_NAME": "node-000000"})
    assert code == 0, output
    environ_without = {k: v for k, v in os.environ.items() if k != "K8S_NODE_NAME"}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / CONFIG_KEY
        path.write_text(_agent_text())
        proc = subprocess.run([otelcol, "validate", "--config=%s" % path], capture_output=True, text=True,
                              timeout=120, env=environ_without)
    assert proc.returncode != 0 and "K8S_NODE_NAME" in proc.stdout + proc.stderr


def test_a_config_otelcol_refuses_fails_the_check():
    text = _agent_text().replace("send_batch_size:", "send_batch_sise:")
    code, output = validate(otelcol_path(), text, {"K8S_NODE_NAME": "node-000000"})
    assert code != 0
    assert "send_batch_sise" in output


if __name__ == "__main__":
    sys.exit(main())
