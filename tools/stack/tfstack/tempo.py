"""Run a real Grafana Tempo (monolithic, local storage) on 127.0.0.1 for tests and the demo.

    with running_tempo() as tempo:
        tempo.url          # query API, e.g. http://127.0.0.1:41234
        tempo.otlp_http    # OTLP/HTTP receiver base, POST <otlp_http>/v1/traces
        tempo.otlp_grpc    # OTLP/gRPC receiver, host:port

The configuration is built as a dict (tempo_config) and dumped as YAML. Every port is a free
loopback port, so several Tempos can run at once. Startup waits for /ready with a deadline
(the two ring settings below make that seconds instead of about 80 s); on failure the tail of
Tempo's log is printed and its work directory kept. On exit the process is stopped (SIGTERM,
then SIGKILL after STOP_GRACE_S) and the work directory removed unless keep=True or
TRACEFLEET_KEEP=1.

    python -m tfstack.tempo [--multitenancy] [--seconds N]   # run one in the foreground
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from .build import by_binary
from .paths import cache_root

LOOPBACK = "127.0.0.1"


class TempoStartError(RuntimeError):
    pass


def free_port(host=LOOPBACK) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@dataclass
class Ports:
    http: int
    grpc: int
    otlp_http: int
    otlp_grpc: int
    memberlist: int

    @classmethod
    def pick(cls):
        ports = set()
        while len(ports) < 5:
            ports.add(free_port())
        return cls(*sorted(ports))


def tempo_config(workdir: Path, ports: Ports, multitenancy=False, retention="24h", log_level="info") -> dict:
    """Tempo's configuration for one monolithic process on loopback with local storage."""
    def inmemory():  # a fresh dict each time, so the YAML has no anchors
        return {"store": "inmemory"}

    return {
        "multitenancy_enabled": bool(multitenancy),
        "usage_report": {"reporting_enabled": False},
        "server": {
            "http_listen_address": LOOPBACK,
            "http_listen_port": ports.http,
            "grpc_listen_address": LOOPBACK,
            "grpc_listen_port": ports.grpc,
            "log_level": log_level,
        },
        "distributor": {
            "receivers": {"otlp": {"protocols": {
                "grpc": {"endpoint": f"{LOOPBACK}:{ports.otlp_grpc}"},
                "http": {"endpoint": f"{LOOPBACK}:{ports.otlp_http}"},
            }}},
            "ring": {"instance_addr": LOOPBACK, "kvstore": inmemory()},
        },
        "ingester": {
            "lifecycler": {
                "address": LOOPBACK,
                "ring": {"kvstore": inmemory(), "replication_factor": 1},
                # default 15s: /ready waits for it
                "min_ready_duration": "0s",
            },
        },
        "compactor": {
            "ring": {
                "instance_addr": LOOPBACK,
                "kvstore": inmemory(),
                # default 1m: /ready waits for the ring to be stable that long
                "wait_stability_min_duration": "0s",
            },
            "compaction": {"block_retention": retention},
        },
        "memberlist": {
            "bind_addr": [LOOPBACK],
            "advertise_addr": LOOPBACK,
            "bind_port": ports.memberlist,
        },
        "storage": {"trace": {
            "backend": "local",
            "wal": {"path": str(workdir / "wal")},
            "local": {"path": str(workdir / "blocks")},
        }},
        # The per-tenant ingestion rate defaults to 15 MB/s (burst 20 MB); a pass-through collector on an idle
        # machine sends faster (benchmarks/bench_pipeline.py) and Tempo then refuses with RATE_LIMITED.
        "overrides": {"defaults": {"ingestion": {"rate_limit_bytes": 200_000_000, "burst_size_bytes": 400_000_000}}},
    }


@dataclass
class Tempo:
    url: str
    otlp_http: str
    otlp_grpc: str
    workdir: Path
    log_path: Path
    config_path: Path
    process: subprocess.Popen
    ready_after_s: float
    multitenancy: bool = False

    def log_tail(self, lines=40) -> str:
        return log_tail(self.log_path, lines)


def log_tail(path: Path, lines=40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as err:
        return f"(no log at {path}: {err})"


def _http_status(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # loopback only
            return resp.status
    except urllib.error.HTTPError as err:
        return err.code
    except (urllib.error.URLError, OSError):
        return None


# Measured: an idle Tempo exits 0.2 s after SIGTERM, but one that has ingested a trace stays up
# (its flush queue is abandoned and it never exits; still running 40 s later). Test data is
# disposable, so the harness waits briefly and then kills.
STOP_GRACE_S = 3.0


def stop_process(proc: subprocess.Popen, grace=STOP_GRACE_S):
    """SIGTERM, a short grace, then SIGKILL (see STOP_GRACE_S)."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def start(workdir=None, ready_timeout=60.0, multitenancy=False, binary=None, log=print) -> Tempo:
    """Start Tempo and wait until /ready answers 200; raise TempoStartError with the log tail otherwise."""
    binary = Path(binary or by_binary("tempo").path)
    if not binary.exists():
        raise TempoStartError(f"no Tempo binary at {binary}: build it with `python -m tfstack.build tempo`")
    if workdir is None:
        parent = cache_root() / "tempo"
        parent.mkdir(parents=True, exist_ok=True)
        workdir = Path(tempfile.mkdtemp(prefix="tempo-", dir=parent))
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ports = Ports.pick()
    config_path = workdir / "tempo.yaml"
    config_path.write_text(yaml.safe_dump(tempo_config(workdir, ports, multitenancy), sort_keys=False))
    log_path = workdir / "tempo.log"
    started = time.monotonic()
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen([str(binary), f"-config.file={config_path}"], stdout=log_file,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir,
                                start_new_session=True)
    url = f"http://{LOOPBACK}:{ports.http}"
    deadline = started + ready_timeout
    while True:
        if proc.poll() is not None:
            raise TempoStartError(f"Tempo exited with {proc.returncode} during startup; work dir {workdir}\n"
                                  f"--- tail of {log_path}\n{log_tail(log_path)}")
        if _http_status(url + "/ready") == 200:
            break
        if time.monotonic() > deadline:
            stop_process(proc)
            raise TempoStartError(f"Tempo not ready after {ready_timeout:.0f} s; work dir {workdir}\n"
                                  f"--- tail of {log_path}\n{log_tail(log_path)}")
        time.sleep(0.25)
    ready_after = time.monotonic() - started
    log(f"tempo ready after {ready_after:.1f} s at {url} (otlp http {LOOPBACK}:{ports.otlp_http}, "
        f"grpc {LOOPBACK}:{ports.otlp_grpc}); log {log_path}")
    return Tempo(url=url, otlp_http=f"http://{LOOPBACK}:{ports.otlp_http}", otlp_grpc=f"{LOOPBACK}:{ports.otlp_grpc}",
                 workdir=workdir, log_path=log_path, config_path=config_path, process=proc,
                 ready_after_s=ready_after, multitenancy=multitenancy)


def stop(tempo: Tempo, keep=False):
    stop_process(tempo.process)
    if not keep and not os.environ.get("TRACEFLEET_KEEP"):
        shutil.rmtree(tempo.workdir, ignore_errors=True)


@contextmanager
def running_tempo(workdir=None, ready_timeout=60.0, multitenancy=False, keep=False, binary=None, log=print):
    tempo = start(workdir=workdir, ready_timeout=ready_timeout, multitenancy=multitenancy, binary=binary, log=log)
    try:
        yield tempo
    finally:
        stop(tempo, keep=keep)


# --- one Tempo per kwok cluster, in the background ------------------------------------------------

def cluster_workdir(name: str) -> Path:
    """Tempo's files for cluster `name`, inside the cluster's directory: `tfstack down --name N` (which kills
    every process whose command line points there, and removes the directory) stops and removes it."""
    from .cluster import kwok_workdir
    return kwok_workdir() / "clusters" / name / "tempo"


def for_cluster(name: str, ready_timeout=60.0, log=print) -> dict:
    """Start (or keep) a real Tempo on loopback for kwok cluster `name`; return its URLs and pid.

    Idempotent: a Tempo that is still alive and ready is kept. The process outlives this call (its own
    session); `tfstack down --name N` stops it with the cluster."""
    from .cluster import cluster_pids, existing
    if name not in existing():
        raise TempoStartError(f"cluster {name} does not exist: start it with `python -m tfstack up --name {name}`")
    work = cluster_workdir(name)
    state_path = work / "state.json"
    try:
        state = json.loads(state_path.read_text())
    except (OSError, ValueError):
        state = None
    alive = bool(state) and state["pid"] in cluster_pids(name)  # its command line names its config in `work`
    if alive and _http_status(state["url"] + "/ready") == 200:
        log(f"tempo for {name} already running (pid {state['pid']})")
        return state
    if alive:
        os.kill(state["pid"], signal.SIGKILL)  # alive but not ready: a stale one
    shutil.rmtree(work, ignore_errors=True)
    tempo = start(workdir=work, ready_timeout=ready_timeout, log=log)
    state = {"pid": tempo.process.pid, "url": tempo.url, "otlp_http": tempo.otlp_http, "otlp_grpc": tempo.otlp_grpc,
             "log": str(tempo.log_path), "ready_after_s": round(tempo.ready_after_s, 2)}
    state_path.write_text(json.dumps(state, indent=2))
    return state


def main(argv=None):
    parser = argparse.ArgumentParser(description="Run a local Tempo on 127.0.0.1 until interrupted.")
    parser.add_argument("--multitenancy", action="store_true")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this many seconds (0: until Ctrl-C)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    try:
        with running_tempo(multitenancy=args.multitenancy, keep=args.keep) as tempo:
            print(f"TEMPO_URL={tempo.url}\nTEMPO_OTLP_HTTP={tempo.otlp_http}\nTEMPO_OTLP_GRPC={tempo.otlp_grpc}", flush=True)
            deadline = time.monotonic() + args.seconds if args.seconds else None
            while deadline is None or time.monotonic() < deadline:
                if tempo.process.poll() is not None:
                    print(f"tempo exited with {tempo.process.returncode}\n{tempo.log_tail()}", file=sys.stderr)
                    return 1
                time.sleep(0.5)
    except TempoStartError as err:
        print(err, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
