"""bench fleet: site.yml across 1, 4 and 8 kwok clusters in one wave, forks 8; then a larger fleet.

    python benchmarks/bench_fleet.py [--sizes 1 4 8] [--scale 16] [--result fleet]

For each size: fresh 3-node kwok clusters with the real operator (started in parallel, not timed), the
demo workloads (not timed), then one timed `site.yml` over all of them in a single wave
(tracefleet_rollout_waves=['100%']) with `-f max(8, size)`. Reported per size: wall time, controller CPU
(the ansible-playbook process and all its forks) and the peak resident memory of that process tree.
Goal (issue 9): 8 clusters ≤ 2.5 × one cluster. `--scale N` adds a run of N clusters (as many as the
machine holds) to measure the controller's marginal time, CPU and memory per cluster, from which the
README extrapolates to 500 clusters. Writes benchmarks/results/fleet.json (`--result NAME`: NAME.json,
headlined by the --scale run when there is one).
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tfstack.fleet import kwok_clusters, recaps, run_playbook, scratch_dir, write_inventory  # noqa: E402
from run import write_result  # noqa: E402

WAVE = json.dumps(["100%"])


def rollout(size: int) -> dict:
    names = [f"bench-fleet-{size}-{i}" for i in range(size)]
    workdir = scratch_dir(f"bench-fleet-{size}-")
    started = time.monotonic()
    with kwok_clusters(names, parallel=4):
        startup = time.monotonic() - started
        inventory = write_inventory(names, workdir)
        forks = max(8, size)
        run_playbook(inventory, "demo_workloads.yml", forks=forks)
        run = run_playbook(inventory, "site.yml", forks=forks,
                           extra=("-e", f'{{"tracefleet_rollout_waves": {WAVE}}}'))
        failed = {h: r for h, r in recaps(run.proc.stdout).items() if r.get("failed") or r.get("unreachable")}
        if failed:
            sys.exit(f"{size} clusters: hosts failed: {failed}")
    row = {"clusters": size, "forks": forks, "seconds": round(run.seconds, 1),
           "controller_cpu_s": round(run.cpu_s, 1), "controller_peak_rss_mib": round(run.peak_rss_mib),
           "cluster_startup_s": round(startup, 1)}
    print(json.dumps(row))
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--scale", type=int, default=0, help="also roll out to this many clusters")
    parser.add_argument("--result", default="fleet",
                        help="result file name (benchmarks/results/<result>.json); with --scale the headline is that run")
    args = parser.parse_args(argv)
    rows = [rollout(size) for size in args.sizes]
    if args.scale:
        rows.append(rollout(args.scale))
    one = next(r for r in rows if r["clusters"] == min(args.sizes))
    eight = max((r for r in rows if r["clusters"] in args.sizes), key=lambda r: r["clusters"])
    big = max(rows, key=lambda r: r["clusters"])
    span = big["clusters"] - one["clusters"] or 1
    marginal = {
        "seconds_per_cluster": round((big["seconds"] - one["seconds"]) / span, 2),
        "controller_cpu_s_per_cluster": round((big["controller_cpu_s"] - one["controller_cpu_s"]) / span, 2),
        "controller_rss_mib_per_cluster": round((big["controller_peak_rss_mib"] - one["controller_peak_rss_mib"]) / span, 1),
    }
    print(f"{eight['clusters']} clusters {eight['seconds']} s vs 1 cluster {one['seconds']} s: "
          f"{eight['seconds'] / one['seconds']:.2f}x (goal <= 2.5); marginal {marginal}")
    head = big if args.scale else eight
    write_result(args.result, f"site.yml wall time, {head['clusters']} clusters in one wave", head["seconds"], "s",
                 one["seconds"], goal="ratio <= 2.5 (8 clusters vs 1)", runs=rows, marginal=marginal)
    return 0


if __name__ == "__main__":
    sys.exit(main())
