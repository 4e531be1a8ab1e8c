"""`make demo`: show, in a few readable lines, what runs in the local stack."""

import argparse
import json

from tfstack import cluster


def _ready(obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj["status"].get("conditions", []))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default="tracefleet")
    name = parser.parse_args().name

    nodes = json.loads(cluster.kubectl(name, "get", "nodes", "-o", "json").stdout)["items"]
    version = json.loads(cluster.kubectl(name, "version", "-o", "json").stdout)["serverVersion"]["gitVersion"]
    namespaces = json.loads(cluster.kubectl(name, "get", "namespaces", "-o", "json").stdout)["items"]
    print(f"\nCluster '{name}' (Kubernetes {version} control plane, kwok nodes) is up.")
    print(f"  nodes:      {sum(map(_ready, nodes))} of {len(nodes)} Ready: "
          + ", ".join(n["metadata"]["name"] for n in nodes))
    print(f"  namespaces: {', '.join(n['metadata']['name'] for n in namespaces)}")
    print(f"  kubeconfig: {cluster.kubeconfig_path(name)}")
    print(f"  logs:       {cluster.logs_dir(name)}")
    print(f"\nTry:  kubectl --kubeconfig {cluster.kubeconfig_path(name)} get nodes")
    print("Stop: make stack-down\n")


if __name__ == "__main__":
    main()
