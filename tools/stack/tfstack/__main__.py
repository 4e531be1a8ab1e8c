"""Command line for the local stack: python -m tfstack {build,up,down,operator,tempo,status,logs,collections}."""

import argparse
import sys

from . import build, cluster, operator, tempo
from .collection import collections_root


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="tfstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_build = sub.add_parser("build", help="build (or reuse) the pinned tools")
    p_build.add_argument("tools", nargs="*", help="binary names (default: all)")
    p_up = sub.add_parser("up", help="start a named kwok cluster (idempotent)")
    p_up.add_argument("--name", default="tracefleet")
    p_up.add_argument("--nodes", type=int, default=3)
    p_down = sub.add_parser("down", help="stop clusters and everything they started (idempotent)")
    p_down.add_argument("--name", action="append", help="cluster name (default: every cluster)")
    p_operator = sub.add_parser("operator", help="run the real OpenTelemetry Operator for a cluster (idempotent)")
    p_operator.add_argument("--name", default="tracefleet")
    p_operator.add_argument("--delay", type=float, default=0.0,
                            help="register CRDs and webhooks now, start the manager this many seconds later, and "
                                 "return at once (a slow operator: its webhooks refuse calls until then)")
    p_tempo = sub.add_parser("tempo", help="run a real Tempo on loopback for a cluster (idempotent); print its URLs")
    p_tempo.add_argument("--name", default="tracefleet")
    sub.add_parser("status", help="list clusters and their kubeconfigs")
    p_logs = sub.add_parser("logs", help="print the tail of a cluster's component logs")
    p_logs.add_argument("--name", default="tracefleet")
    p_path = sub.add_parser("path", help="print the cached path of a tool")
    p_path.add_argument("tool")
    sub.add_parser("collections", help="print the ANSIBLE_COLLECTIONS_PATH entry for this clone")
    args = parser.parse_args(argv)

    try:
        if args.command == "build":
            build.ensure(args.tools or None)
        elif args.command == "up":
            kubeconfig = cluster.up(args.name, args.nodes)
            print(f"cluster {args.name}: {args.nodes} Ready nodes")
            print(f"export KUBECONFIG={kubeconfig}")
        elif args.command == "down":
            for name in args.name or cluster.existing():
                cluster.down(name)
        elif args.command == "operator":
            operator.start(args.name, start_delay_s=args.delay)
        elif args.command == "tempo":
            state = tempo.for_cluster(args.name, log=lambda msg: print(msg, file=sys.stderr))
            print(f"TEMPO_URL={state['url']}\nTEMPO_OTLP_HTTP={state['otlp_http']}\nTEMPO_OTLP_GRPC={state['otlp_grpc']}")
        elif args.command == "status":
            for name in cluster.existing():
                state = "running" if cluster.healthy(name) else "stopped"
                print(f"{name:20} {state:8} {cluster.kubeconfig_path(name)}")
        elif args.command == "logs":
            print(cluster.log_tail(args.name))
        elif args.command == "path":
            print(build.by_binary(args.tool).path)
        elif args.command == "collections":
            print(collections_root())
    except (build.BuildError, cluster.StackError, operator.OperatorStartError, tempo.TempoStartError) as err:
        print(f"tfstack: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
