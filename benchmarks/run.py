"""`make bench`: run every benchmarks/bench_*.py; each writes benchmarks/results/<name>.json.

A result holds at least name, metric, value, unit, baseline, ratio, commit, date, machine
(see write_result). Figures are measured in one run, against a baseline measured in the same run.
"""

import json
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def write_result(name, metric, value, unit, baseline, **extra) -> Path:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip() or "uncommitted"
    result = {
        "name": name, "metric": metric, "value": value, "unit": unit, "baseline": baseline,
        "ratio": round(value / baseline, 3) if baseline else None,
        "commit": commit, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.node()} {len(__import__('os').sched_getaffinity(0))} cores",
        **extra,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def main() -> int:
    benches = sorted(HERE.glob("bench_*.py"))
    if not benches:
        print("no benchmarks yet")
        return 0
    failed = 0
    for bench in benches:
        print(f"== {bench.name}")
        failed += subprocess.run([sys.executable, str(bench)], cwd=HERE.parent).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
