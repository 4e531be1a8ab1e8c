"""`make demo`'s traffic step: the demo shop through real collectors and Tempo running what site.yml applied.

    python tools/demo/dataplane_demo.py --name tracefleet [--requests 300] [--minutes 30]

After site.yml rolled out to kwok cluster NAME (with the operator running), this reads what the
cluster got (tests/integration/dataplane_setup.py: the gateway's and agent's rendered ConfigMaps,
Tempo's ConfigMap), starts Tempo (tests/integration/tempo_local.py), 3 gateways on 127.0.0.2-4 and
2 agents on 127.0.0.5-6 (tfstack.dataplane, addresses mapped only), the four shop services
(tools/demo/shop) with the Go hop (orders -> shipping -> inventory over HTTP and rates over gRPC; the Go
service is built by tfstack.goservice before anything starts), and drives a bounded load (``--requests`` at 20/s, errors, slow requests, one
broken hop). It then prints kept error and slow trace ids with the Tempo URLs to open them.

It runs in the background (``--detach``, what `make demo` uses): the first process starts a second one
in its own session, waits until that one reports in ``<cluster dir>/dataplane/ready.json`` and prints
it. The background process keeps the pipeline up for ``--minutes`` (then stops everything by itself);
all its files and every child's command line are under the kwok cluster's directory, so
`make stack-down` (``tfstack down``) stops it too.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
for extra in (REPO / "tools" / "stack", REPO / "tests" / "integration", REPO / "tools" / "demo" / "shop"):
    sys.path.insert(0, str(extra))

from tfstack import cluster  # noqa: E402
from tfstack.collection import collections_root  # noqa: E402

sys.path.insert(0, str(collections_root()))

SLOW_SECONDS = 2.5  # the shop's slow path; the gateway's default latency threshold is 2 s
READY_TIMEOUT_S = 180


def state_dir(name):
    return cluster.kwok_workdir() / "clusters" / name / "dataplane"


def serve(name, requests, minutes, go_binary):
    import dataplane_setup as setup
    import load
    import shop
    import tempo_local
    from tfstack.dataplane import processes
    from ansible_collections.tracefleet.otel.plugins.module_utils.tempo import (
        Expectations, TempoClient, wait_for_trace)

    state = state_dir(name)
    state.mkdir(parents=True, exist_ok=True)
    tempfile.tempdir = str(state)  # Tempo's work directory too: `tfstack down` finds every process by it
    stop_at = time.monotonic() + 60 * minutes
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    gateway, agent = setup.read_collector(name, "gateway"), setup.read_collector(name, "agent")
    with tempo_local.running(yaml.safe_load(setup.read_tempo(name)), keep=False) as tempo:
        grpc = tempo.changes[("distributor", "receivers", "otlp", "protocols", "grpc", "endpoint")][1]
        endpoints = ["%s:4317" % a for a in processes.GATEWAY_ADDRESSES]
        gateways = [dict(name="gateway-%d" % i, config_text=gateway.text, address=a, env=gateway.envs[i % len(gateway.envs)],
                         services={"tempo.tempo.svc.cluster.local:4317": grpc})
                    for i, a in enumerate(processes.GATEWAY_ADDRESSES)]
        agents = [dict(name="agent-%d" % i, config_text=agent.text, address=a, gateways=endpoints,
                       env=dict(agent.envs[i % len(agent.envs)], KUBECONFIG=str(cluster.kubeconfig_path(name))))
                  for i, a in enumerate(processes.AGENT_ADDRESSES)]
        with processes.running(gateways, agents, workdir=state / "collectors") as plane:
            a0, a1 = plane.agents
            shop_endpoints = {"frontend": a0.otlp_http, "orders": a0.otlp_http, "shipping": a0.otlp_http,
                              "inventory": a1.otlp_http, "payments": a1.otlp_http, "rates": a1.otlp_http}
            with shop.running_shop(shop_endpoints, state / "shop", slow_seconds=SLOW_SECONDS, go_binary=go_binary) as urls:
                results = load.drive(urls["frontend"], count=requests, max_seconds=120, rate=20,
                                     error_every=10, slow_every=25, broken_hop_every=50, seed=None)
                client = TempoClient(tempo.url)
                kept = {}
                for kind in ("error", "slow", "broken_hop"):
                    for r in [r for r in results if r["kind"] == kind][:3]:
                        outcome = wait_for_trace(client, r["trace_id"], Expectations(), timeout=30)
                        kept.setdefault(kind, []).append({
                            "trace_id": r["trace_id"], "found": outcome.found,
                            "spans": outcome.analysis["span_count"] if outcome.analysis else 0,
                            "services": outcome.analysis["services"] if outcome.analysis else [],
                            "url": "%s/api/v2/traces/%s" % (tempo.url, r["trace_id"])})
                report = {
                    "tempo": tempo.url, "requests": len(results),
                    "by_kind": {k: sum(1 for r in results if r["kind"] == k) for k in ("routine", "error", "slow", "broken_hop")},
                    "kept": kept, "shop": urls, "agents": [a.otlp_http for a in plane.agents],
                    "gateway_metrics": [g.metrics_url for g in plane.gateways], "logs": str(state),
                    "pid": os.getpid(), "stops_in_minutes": minutes,
                }
                (state / "ready.json").write_text(json.dumps(report, indent=2))
                while time.monotonic() < stop_at:
                    time.sleep(1)


def detach(name, requests, minutes):
    """Build the Go service, start serve() in its own session, wait for its ready.json, print it; returns the exit code."""
    from tfstack import goservice
    go_binary = goservice.ensure()  # here, so a cold build does not eat the background process's ready timeout
    state = state_dir(name)
    state.mkdir(parents=True, exist_ok=True)
    ready = state / "ready.json"
    ready.unlink(missing_ok=True)
    log = state / "dataplane-demo.log"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--name", name, "--requests", str(requests),
           "--minutes", str(minutes), "--state-dir", str(state), "--go-binary", str(go_binary)]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=REPO)
    started = time.monotonic()
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() - started > READY_TIMEOUT_S:
            if proc.poll() is None:
                proc.terminate()
            print("the demo traffic did not come up; see %s:\n%s" % (
                log, "\n".join(log.read_text(errors="replace").splitlines()[-20:])), file=sys.stderr)
            return 1
        time.sleep(1)
    report = json.loads(ready.read_text())
    print("\nDemo traffic through the real pipeline (the configs site.yml applied, run on loopback):")
    print("  shop:      frontend %s -> orders -> inventory, payments, shipping (Go) -> inventory (HTTP), rates (Go, gRPC)"
          " (OpenTelemetry SDKs, W3C context)" % report["shop"]["frontend"])
    print("  pipeline:  2 agents %s -> 3 gateways 127.0.0.2-4:4317 (tail sampling) -> Tempo %s" % (
        ", ".join(report["agents"]), report["tempo"]))
    print("  load:      %d requests %s" % (report["requests"], report["by_kind"]))
    for kind, items in report["kept"].items():
        for item in items:
            state_text = "%d spans from %s" % (item["spans"], ", ".join(item.get("services") or [])) if item["found"] \
                else "not in Tempo (yet)"
            print("  %-10s %s  %s  %s" % (kind, item["trace_id"], state_text, item["url"]))
    print("  logs:      %s (JSON logs with trace_id/span_id in shop/, one log per collector)" % report["logs"])
    print("  It stays up for %d minutes, then stops by itself; `make stack-down` stops it at once." % report["stops_in_minutes"])
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default="tracefleet")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--minutes", type=int, default=30)
    parser.add_argument("--detach", action="store_true", help="run in the background and print what to open")
    parser.add_argument("--state-dir", help=argparse.SUPPRESS)  # only marks the background process's command line
    parser.add_argument("--go-binary", help="the Go service (default: build it with tfstack.goservice)")
    args = parser.parse_args(argv)
    if args.detach:
        return detach(args.name, args.requests, args.minutes)
    if not args.go_binary:
        from tfstack import goservice
        args.go_binary = str(goservice.ensure())
    serve(args.name, args.requests, args.minutes, args.go_binary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
