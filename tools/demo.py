"""`make demo`: roll the tracing stack out to the local cluster and show, in a few readable lines, what runs.

After `make stack-up` this starts the real OpenTelemetry Operator beside the cluster (`tfstack operator`),
runs `ansible-playbook -i inventories/local playbooks/demo_workloads.yml playbooks/site.yml`, then
summarises the cluster: operator release, collectors, Tempo, the Instrumentation and the annotated
Deployments with their injected pods. `--no-rollout` only shows the cluster.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tfstack import build, cluster, operator, tempo
from tfstack.collection import collections_root
from tfstack.paths import REPO, state_root

PLAYBOOK_TIMEOUT = 900
DEMO_NAMESPACE = "shop"


def _ready(obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj["status"].get("conditions", []))


def _get(name, *args):
    proc = cluster.kubectl(name, "get", *args, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def _rollout(name) -> None:
    print(f"\nStarting the OpenTelemetry Operator for '{name}' (a local process; CRDs and webhooks on 127.0.0.1) ...")
    op = operator.start(name, log=lambda *_: None)
    print(f"  operator pid {op.pid}, log {op.log_path}")
    # A real Tempo on loopback for the verify role's probe and search (kwok's collector pods are simulated).
    loopback_tempo = tempo.for_cluster(name, log=lambda *_: None)
    print(f"  tempo for verify's probe at {loopback_tempo['url']} (a local process; `make stack-down` stops it)")
    env = dict(os.environ,
               ANSIBLE_COLLECTIONS_PATH=str(collections_root()),
               TRACEFLEET_HELM=os.environ.get("TRACEFLEET_HELM") or str(build.by_binary("helm").path),
               TRACEFLEET_TEMPO_URL=loopback_tempo["url"], TRACEFLEET_TEMPO_OTLP_HTTP=loopback_tempo["otlp_http"])
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/local",
           "-e", f"tracefleet_kubeconfig={cluster.kubeconfig_path(name)}",
           "playbooks/demo_workloads.yml", "playbooks/site.yml"]
    print(f"Rolling out: ansible-playbook {' '.join(cmd[1:])}  (about a minute) ...")
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT)
    log = cluster.logs_dir(name) / "demo-site.log"
    log.write_text(proc.stdout + proc.stderr)
    recaps = [line.strip() for line in proc.stdout.splitlines() if line.startswith("local ")]
    recap = recaps[-1] if recaps else "(no recap)"  # one PLAY RECAP per playbook: the last is site.yml
    print(f"  site.yml recap: {recap}")
    print(f"  took {time.monotonic() - started:.0f} s; full output: {log}")
    if proc.returncode != 0:
        print("\n".join(proc.stdout.splitlines()[-40:]) + proc.stderr, file=sys.stderr)
        sys.exit(f"ansible-playbook failed (rc {proc.returncode}); see {log}")


def _summary(name) -> None:
    print("\nWhat the rollout left:")
    releases = (_get(name, "secrets", "-A", "-l", "owner=helm,status=deployed") or {}).get("items", [])
    for rel in releases:
        labels = rel["metadata"]["labels"]
        print(f"  operator:        Helm release {labels['name']} rev {labels['version']} in {rel['metadata']['namespace']}"
              f"  (its pods are kwok fakes; the real manager runs as a local process)")
    gateway = _get(name, "deployment", "gateway-collector", "-n", "observability")
    if gateway:
        st = gateway["status"]
        print(f"  gateway:         Deployment observability/gateway-collector {st.get('readyReplicas', 0)}/"
              f"{gateway['spec']['replicas']} ready (tail sampling, exports to Tempo)")
    agent = _get(name, "daemonset", "agent-collector", "-n", "observability")
    if agent:
        st = agent["status"]
        print(f"  agent:           DaemonSet observability/agent-collector {st.get('numberReady', 0)}/"
              f"{st.get('desiredNumberScheduled', 0)} ready (one per node, load-balances by trace ID)")
    tempo = _get(name, "statefulset", "tempo", "-n", "tempo")
    if tempo:
        print(f"  tempo:           StatefulSet tempo/tempo {tempo['status'].get('readyReplicas', 0)}/"
              f"{tempo['spec']['replicas']} ready")
    for inst in (_get(name, "instrumentations", "-n", DEMO_NAMESPACE) or {}).get("items", []):
        spec = inst["spec"]
        print(f"  instrumentation: {DEMO_NAMESPACE}/{inst['metadata']['name']} -> {spec['exporter'].get('endpoint', '?')}"
              f" (sampler {spec.get('sampler', {}).get('type', '?')})")
    pods = (_get(name, "pods", "-n", DEMO_NAMESPACE) or {}).get("items", [])
    for dep in (_get(name, "deployments", "-n", DEMO_NAMESPACE) or {}).get("items", []):
        dname = dep["metadata"]["name"]
        inject = {k.rsplit("inject-", 1)[1]: v for k, v in
                  (dep["spec"]["template"]["metadata"].get("annotations") or {}).items()
                  if k.startswith("instrumentation.opentelemetry.io/inject-")}
        mine = [p for p in pods if p["metadata"].get("labels", {}).get("app") == dname
                and not p["metadata"].get("deletionTimestamp")]
        injected = sum(any(c["name"].startswith("opentelemetry-auto-instrumentation")
                           for c in p["spec"].get("initContainers", [])) for p in mine)
        what = ", ".join(f"inject-{k}={v}" for k, v in inject.items()) or "not annotated"
        print(f"  workload:        {DEMO_NAMESPACE}/{dname}: {what}; {injected}/{len(mine)} pods injected (init container)")


def _verify_report() -> None:
    """The verify role's checklist of this rollout (inventories/local writes it under the state directory)."""
    reports = state_root() / "verify-reports"
    markdown = reports / "local.md"
    if not markdown.exists():
        print(f"\n(no verify report at {markdown})")
        return
    print("\nVerify report (the pre-production checklist site.yml ran):\n")
    print(markdown.read_text())
    print(f"  HTML: {reports / 'index.html'}  (JSON: {reports / 'local.json'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="tracefleet")
    parser.add_argument("--no-rollout", action="store_true", help="only show the cluster")
    args = parser.parse_args()
    name = args.name

    nodes = json.loads(cluster.kubectl(name, "get", "nodes", "-o", "json").stdout)["items"]
    version = json.loads(cluster.kubectl(name, "version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    print(f"\nCluster '{name}' (Kubernetes {version} control plane, kwok nodes) is up.")
    print(f"  nodes:      {sum(map(_ready, nodes))} of {len(nodes)} Ready: "
          + ", ".join(n["metadata"]["name"] for n in nodes))
    if not args.no_rollout:
        _rollout(name)
        _summary(name)
        _verify_report()
        # The shop's traffic through real collectors and Tempo running what site.yml applied (docs/dataplane.md).
        subprocess.run([sys.executable, str(REPO / "tools" / "demo" / "dataplane_demo.py"), "--name", name, "--detach"],
                       cwd=REPO, check=False)
    kubeconfig = cluster.kubeconfig_path(name)
    print(f"\n  kubeconfig: {kubeconfig}")
    print(f"  logs:       {cluster.logs_dir(name)} (operator: {operator.LOG_NAME})")
    print("\nNext:")
    print(f"  kubectl --kubeconfig {kubeconfig} get opentelemetrycollectors,instrumentations -A")
    print(f"  kubectl --kubeconfig {kubeconfig} -n {DEMO_NAMESPACE} get pods -o wide")
    print("  roles/*/README.md for every setting; inventories/local/ for the demo's own")
    print("  ansible-playbook -i inventories/local playbooks/uninstall.yml   (remove the stack)")
    print("Stop: make stack-down\n")


if __name__ == "__main__":
    main()
