"""Start and stop named kwok clusters whose control plane is the real, locally built Kubernetes.

Each cluster runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the
kwok controller as local processes bound to 127.0.0.1 (kwokctl's binary runtime picks
free ports, so several clusters run side by side). Nodes and pods are simulated by kwok:
their addresses are fake and must never be dialled.
"""

import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import yaml

from . import build, pins
from .paths import state_root

CONTROL_PLANE = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl",
                 "etcd", "kwok", "kwokctl"]


class StackError(RuntimeError):
    pass


def kwok_workdir() -> Path:
    return state_root() / "kwok"


def kubeconfig_path(name: str) -> Path:
    return state_root() / f"{name}.kubeconfig"


def logs_dir(name: str) -> Path:
    return kwok_workdir() / "clusters" / name / "logs"


def _config(name: str, tools: dict) -> Path:
    options = {
        "runtime": "binary",
        "bindAddress": "127.0.0.1",
        "kubeVersion": pins.KUBERNETES,
        "etcdVersion": pins.ETCD.lstrip("v"),
        "kubeApiserverBinary": str(tools["kube-apiserver"]),
        "kubeControllerManagerBinary": str(tools["kube-controller-manager"]),
        "kubeSchedulerBinary": str(tools["kube-scheduler"]),
        "kubectlBinary": str(tools["kubectl"]),
        "etcdBinary": str(tools["etcd"]),
        "kwokControllerBinary": str(tools["kwok"]),
        "cacheDir": str(state_root() / "kwok-cache"),
    }
    config = {"apiVersion": "config.kwok.x-k8s.io/v1alpha1", "kind": "KwokctlConfiguration",
              "options": options}
    path = state_root() / f"{name}.kwokctl.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _env() -> dict:
    return {**os.environ, "KWOK_WORKDIR": str(kwok_workdir())}


def _kwokctl(tools: dict, *args, timeout=180) -> str:
    cmd = [str(tools["kwokctl"]), *args]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise StackError(f"{' '.join(cmd[1:])} failed:\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def kubectl(name: str, *args, timeout=60, check=True, input_text=None) -> subprocess.CompletedProcess:
    tool = build.by_binary("kubectl")
    cmd = [str(tool.path), f"--kubeconfig={kubeconfig_path(name)}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input_text)
    if check and proc.returncode != 0:
        raise StackError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def existing() -> list:
    root = kwok_workdir() / "clusters"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def healthy(name: str) -> bool:
    if not kubeconfig_path(name).exists():
        return False
    proc = kubectl(name, "get", "--raw=/readyz", timeout=10, check=False)
    return proc.returncode == 0 and proc.stdout.strip() == "ok"


def ready_nodes(name: str) -> int:
    nodes = json.loads(kubectl(name, "get", "nodes", "-o", "json").stdout)["items"]
    return sum(
        1 for node in nodes
        if any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions", []))
    )


def wait_nodes(name: str, count: int, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while (seen := ready_nodes(name)) < count:
        if time.monotonic() > deadline:
            raise StackError(f"cluster {name}: {seen} of {count} nodes Ready after {deadline_s:.0f} s")
        time.sleep(0.5)


def _create(name: str, tools: dict, log) -> None:
    """kwokctl picks free ports itself; two clusters created at once can pick the same one.
    Creations are serialised by a lock, and a failed one is cleaned up and tried once more."""
    kwok_workdir().mkdir(parents=True, exist_ok=True)
    with open(kwok_workdir() / "create.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for attempt in (1, 2):
            try:
                _kwokctl(tools, "create", "cluster", f"--name={name}", f"--config={_config(name, tools)}",
                         f"--kubeconfig={kubeconfig_path(name)}", "--wait=60s")
                return
            except (StackError, subprocess.TimeoutExpired) as err:
                if attempt == 2:
                    raise StackError(f"cluster {name} did not start: {err}\n{log_tail(name)}") from err
                log(f"cluster {name} failed to start, retrying once: {str(err)[:300]}")
                down(name, log=lambda *_: None)


def up(name: str = "tracefleet", nodes: int = 3, log=print) -> Path:
    """Start (or keep) cluster `name` with `nodes` Ready nodes; return its kubeconfig path."""
    tools = build.ensure(CONTROL_PLANE, log=lambda *_: None)
    if name in existing() and not healthy(name):
        log(f"cluster {name} exists but does not answer: recreating it")
        down(name, log=log)
    if name not in existing():
        started = time.monotonic()
        _create(name, tools, log)
        log(f"cluster {name} started in {time.monotonic() - started:.1f} s")
    _kwokctl(tools, "scale", "node", f"--name={name}", f"--replicas={nodes}")
    wait_nodes(name, nodes)
    return kubeconfig_path(name)


def cluster_pids(name: str) -> list:
    """Processes whose command line points into this cluster's directory."""
    marker = str(kwok_workdir() / "clusters" / name) + "/"
    pids = []
    for proc_dir in Path("/proc").iterdir():
        if not proc_dir.name.isdigit():
            continue
        try:
            cmdline = (proc_dir / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmdline:
            pids.append(int(proc_dir.name))
    return pids


def _kill_until_gone(name: str, timeout: float = 15.0) -> None:
    """SIGKILL every process of the cluster and wait until /proc no longer lists them.

    A killed process stays in /proc (cmdline readable) until the kernel has torn it down, which on a busy
    machine takes a moment; returning before that let callers see survivors right after `down`.
    """
    deadline = time.monotonic() + timeout
    while True:
        pids = cluster_pids(name)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise StackError(f"cluster {name}: processes {pids} still running {timeout:.0f} s after SIGKILL")
        time.sleep(0.1)


def down(name: str, log=print) -> None:
    """Stop cluster `name` and everything it started; a no-op when it is not there."""
    if name in existing():
        tools = {"kwokctl": build.by_binary("kwokctl").path}
        try:
            _kwokctl(tools, "delete", "cluster", f"--name={name}", f"--kubeconfig={kubeconfig_path(name)}")
        except StackError as err:
            log(f"kwokctl delete failed, killing what is left: {err}")
    _kill_until_gone(name)
    shutil.rmtree(kwok_workdir() / "clusters" / name, ignore_errors=True)
    for path in (kubeconfig_path(name), state_root() / f"{name}.kwokctl.yaml"):
        path.unlink(missing_ok=True)
    log(f"cluster {name} is down")


def log_tail(name: str, lines: int = 30) -> str:
    out = []
    for path in sorted(logs_dir(name).glob("*.log")) if logs_dir(name).is_dir() else []:
        text = path.read_text(errors="replace").splitlines()[-lines:]
        out.append(f"==> {path} <==\n" + "\n".join(text))
    return "\n".join(out) or f"no logs under {logs_dir(name)}"
