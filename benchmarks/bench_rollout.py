"""bench rollout: cold site.yml on one kwok cluster vs plain helm + kubectl creating the same objects.

Two fresh 3-node kwok clusters with the real operator, in one run:
  A: demo_workloads.yml (not timed), then site.yml cold (timed), then site.yml again (timed, must be changed=0);
  B: demo_workloads.yml (not timed), then benchmarks/raw_rollout.sh (timed): helm install of the same chart
     with the values the operator role gave it, and `kubectl apply --server-side` of every object the
     roles own on A (field manager `tracefleet`), then the same rollout waits the roles do.
Goals (issue 9): cold ≤ 1.5 × raw; idempotent re-run ≤ 0.5 × cold with 0 changed.
Writes benchmarks/results/rollout.json and rollout-idempotent.json.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tfstack.fleet import kwok_clusters, recaps, run_playbook, scratch_dir, write_inventory  # noqa: E402
from run import write_result  # noqa: E402
from tfstack import build, cluster  # noqa: E402
from tfstack.paths import REPO  # noqa: E402

A, B = "bench-rollout-a", "bench-rollout-b"
DROP_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "ownerReferences")
DROP_ANNOTATIONS = ("deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration")


def _owned_by_roles(name):
    """Every object on cluster `name` that field manager `tracefleet` wrote, cleaned for re-applying."""
    kinds = cluster.kubectl(name, "api-resources", "--verbs=list,create", "-o", "name").stdout.split()
    kinds = [k for k in kinds if k.split(".")[0] not in ("events", "bindings", "componentstatuses")]
    items = json.loads(cluster.kubectl(name, "get", ",".join(kinds), "-A", "-o", "json",
                                       "--show-managed-fields", timeout=120).stdout)["items"]
    owned = []
    for obj in items:
        if not any(m.get("manager") == "tracefleet" for m in obj["metadata"].get("managedFields", [])):
            continue
        obj.pop("status", None)
        meta = obj["metadata"]
        for key in DROP_METADATA:
            meta.pop(key, None)
        for key in DROP_ANNOTATIONS:
            (meta.get("annotations") or {}).pop(key, None)
        spec = obj.get("spec") or {}
        for key in ("clusterIP", "clusterIPs", "volumeName"):
            spec.pop(key, None)
        owned.append(obj)
    return owned


def _raw_inputs(workdir: Path):
    helm = str(build.by_binary("helm").path)
    values = subprocess.run([helm, "--kubeconfig", str(cluster.kubeconfig_path(A)), "get", "values",
                             "opentelemetry-operator", "-n", "opentelemetry-operator-system", "-o", "yaml"],
                            capture_output=True, text=True, check=True).stdout
    (workdir / "values.yaml").write_text(values)
    owned = _owned_by_roles(A)
    namespaces = [o for o in owned if o["kind"] == "Namespace"]
    rest = [o for o in owned if o["kind"] != "Namespace"]
    (workdir / "00-namespaces.yaml").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": namespaces}))
    (workdir / "10-objects.yaml").write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": rest}))
    waits = ["deployment/gateway-collector observability", "daemonset/agent-collector observability",
             "statefulset/tempo tempo"]
    waits += [f"deployment/{o['metadata']['name']} {o['metadata']['namespace']}"
              for o in rest if o["kind"] == "Deployment"]
    (workdir / "waits.txt").write_text("\n".join(waits) + "\n")
    return helm, sorted(f"{o['kind']}/{o['metadata'].get('namespace', '-')}/{o['metadata']['name']}" for o in owned)


def main() -> int:
    workdir = scratch_dir("bench-rollout-")
    with kwok_clusters([A, B]):
        for sub in ("a", "b"):
            (workdir / sub).mkdir()
        inv_a, inv_b = write_inventory([A], workdir / "a"), write_inventory([B], workdir / "b")
        run_playbook(inv_a, "demo_workloads.yml")
        run_playbook(inv_b, "demo_workloads.yml")

        cold_run = run_playbook(inv_a, "site.yml")
        again_run = run_playbook(inv_a, "site.yml")
        changed = recaps(again_run.proc.stdout)[A]["changed"]
        cold, cold_cpu, rss = cold_run.seconds, cold_run.cpu_s, cold_run.peak_rss_mib
        again, again_cpu = again_run.seconds, again_run.cpu_s

        helm, objects = _raw_inputs(workdir)
        env = {"KUBECONFIG": str(cluster.kubeconfig_path(B)), "HELM": helm,
               "KUBECTL": str(build.by_binary("kubectl").path),
               "CHART": str(REPO / "tests/charts/opentelemetry-operator"),
               "VALUES": str(workdir / "values.yaml"), "OBJECTS": str(workdir), "PATH": "/usr/bin:/bin",
               "HOME": str(workdir)}
        started = time.monotonic()
        subprocess.run(["bash", str(Path(__file__).parent / "raw_rollout.sh")], env=env, check=True, timeout=900)
        raw = time.monotonic() - started

    print(f"site.yml cold {cold:.1f} s (controller CPU {cold_cpu:.1f} s, peak RSS {rss:.0f} MiB); "
          f"raw helm+kubectl {raw:.1f} s; ratio {cold / raw:.2f} (goal ≤ 1.5)")
    print(f"site.yml again {again:.1f} s, changed={changed}; ratio to cold {again / cold:.2f} (goal ≤ 0.5)")
    write_result("rollout", "site.yml cold rollout wall time", round(cold, 1), "s", round(raw, 1),
                 goal="ratio <= 1.5", baseline_what="benchmarks/raw_rollout.sh: helm install + kubectl apply "
                 "--server-side of the same objects + the same rollout waits, on a second fresh cluster",
                 controller_cpu_s=round(cold_cpu, 1), controller_peak_rss_mib=round(rss),
                 objects=objects, nodes=3)
    write_result("rollout-idempotent", "site.yml second run wall time", round(again, 1), "s", round(cold, 1),
                 goal="ratio <= 0.5 and changed == 0", changed=changed, controller_cpu_s=round(again_cpu, 1))
    return 0 if changed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
