"""Fleets of kwok clusters for tests and benchmarks: clusters with the real operator, an inventory of one
host per cluster, and timed ansible-playbook runs.

Clusters are started by the stack harness (tfstack) in parallel and always stopped at the end. A playbook
run is timed with the controller's CPU time (this process's children) and the peak resident memory of its process tree.
"""

import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import yaml

from . import build, cluster, operator
from .collection import collections_root
from .paths import REPO

PLAYBOOK_TIMEOUT = 1800
QUIET = lambda *_: None  # noqa: E731


def _start(name, nodes):
    cluster.down(name, log=QUIET)
    cluster.up(name, nodes, log=QUIET)
    operator.start(name, log=QUIET)


@contextmanager
def kwok_clusters(names, nodes=3, parallel=4):
    """Start (or restart clean) every named cluster with its operator; stop them all on exit."""
    try:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            list(pool.map(lambda n: _start(n, nodes), names))
        yield names
    finally:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            list(pool.map(lambda n: cluster.down(n, log=QUIET), names))


def write_inventory(names, directory: Path, **overrides) -> Path:
    """An inventory of one host per cluster, with inventories/local's group_vars (the kwok settings)."""
    local = yaml.safe_load((REPO / "inventories/local/group_vars/tracefleet_clusters.yml").read_text())
    local["tracefleet_operator_chart_path"] = str(REPO / "tests/charts/opentelemetry-operator")
    local.update(overrides)
    hosts = {n: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "tracefleet_kubeconfig": str(cluster.kubeconfig_path(n))} for n in names}
    inventory = {"tracefleet_clusters": {"hosts": hosts, "vars": local}}
    path = directory / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


def playbook_env():
    return dict(os.environ,
                ANSIBLE_COLLECTIONS_PATH=str(collections_root()),
                TRACEFLEET_HELM=str(build.by_binary("helm").path),
                ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_HOST_KEY_CHECKING="False")


def _tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants (MiB), read from /proc."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/statm") as statm:
                total += int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo += [int(c) for c in children.read().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total / 2**20


class Run:
    """One timed ansible-playbook run: wall seconds, controller CPU seconds, peak RSS of its process tree."""

    def __init__(self, proc, seconds, cpu_s, peak_rss_mib):
        self.proc, self.seconds, self.cpu_s, self.peak_rss_mib = proc, seconds, cpu_s, peak_rss_mib


def run_playbook(inventory: Path, *playbooks, forks=8, extra=(), check=True) -> Run:
    """Run ansible-playbook (the controller with all its forks), sampling its memory every 0.2 s."""
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), "-f", str(forks),
           *extra, *(str(REPO / "playbooks" / p) for p in playbooks)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=REPO, env=playbook_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    peak = [0.0]

    def sample():
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mib(proc.pid))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = proc.communicate(timeout=PLAYBOOK_TIMEOUT)
    sampler.join()
    seconds = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    done = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    if check and proc.returncode != 0:
        sys.exit(f"{' '.join(playbooks)} failed (rc {proc.returncode}):\n{stdout[-4000:]}{stderr[-2000:]}")
    return Run(done, seconds, cpu, peak[0])


def recaps(stdout: str) -> dict:
    """host -> counters of the last PLAY RECAP line for that host."""
    out = {}
    for host, rest in re.findall(r"^(\S+)\s+:\s+(ok=.*)$", stdout, re.M):
        out[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", rest)}
    return out


def scratch_dir(prefix) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
