"""Run a tempo.yaml the tempo role rendered through the real Tempo binary, on 127.0.0.1 only.

    python tests/integration/tempo_local.py check tempo.yaml [--ready-timeout 60] [--keep]

1. ``tempo -config.file=tempo.yaml -config.verify=true`` on the file exactly as given: Tempo's
   strict parser (an unknown key fails) plus its configuration warnings (any warning fails).
2. For the ``local`` backend: the same configuration with only addresses, ports and paths mapped
   (``loopback_config``: listeners on 127.0.0.1 and free ports, absolute paths under a temporary
   directory, remote-write URLs to a closed loopback port), started as a real Tempo; wait for
   ``/ready`` with a deadline, write one span over OTLP/HTTP and read it back by trace id.
   Object-store backends stop after step 1: there is no S3/GCS/Azure on loopback.

Prints one JSON line with what happened and the measured times; exits 1 on any failure. The
Molecule scenario's verify step runs it on the live ConfigMap; tests/integration/test_tempo_config_validate.py
imports the same functions.
"""

import argparse
import copy
import json
import os
import secrets
import shutil
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

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "stack"))

from tfstack.build import by_binary  # noqa: E402
from tfstack.tempo import Ports, free_port, log_tail, stop_process as _stop  # noqa: E402

LOOPBACK = "127.0.0.1"

# Where a rendered config names an address, and what it becomes on loopback.
ADDRESSES = {
    ("server", "http_listen_address"): LOOPBACK,
    ("server", "grpc_listen_address"): LOOPBACK,
    ("distributor", "ring", "instance_addr"): LOOPBACK,
    ("ingester", "lifecycler", "address"): LOOPBACK,
    ("compactor", "ring", "instance_addr"): LOOPBACK,
    ("memberlist", "bind_addr"): [LOOPBACK],
    ("memberlist", "advertise_addr"): LOOPBACK,
}
# Ports that become free loopback ports (attribute of tfstack.tempo.Ports).
PORTS = {
    ("server", "http_listen_port"): "http",
    ("server", "grpc_listen_port"): "grpc",
    ("memberlist", "bind_port"): "memberlist",
}
# host:port listeners, mapped only when the config has them.
ENDPOINTS = {
    ("distributor", "receivers", "otlp", "protocols", "grpc", "endpoint"): "otlp_grpc",
    ("distributor", "receivers", "otlp", "protocols", "http", "endpoint"): "otlp_http",
}


class TempoCheckError(RuntimeError):
    pass


def _get(data, path):
    for key in path:
        if isinstance(data, list) and isinstance(key, int) and key < len(data):
            data = data[key]
        elif isinstance(data, dict) and key in data:
            data = data[key]
        else:
            return None
    return data


def _set(data, path, value):
    for key in path[:-1]:
        data = data[key] if isinstance(data, list) else data.setdefault(key, {})
    data[path[-1]] = value


def _walk(data, path=()):
    """(path, value) for every leaf; list indexes are ints in the path."""
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _walk(value, path + (key,))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _walk(value, path + (index,))
    else:
        yield path, data


def loopback_config(config, workdir, ports, closed_port):
    """The config with only addresses, ports and paths changed; returns (mapped, {path: (old, new)})."""
    mapped = copy.deepcopy(config)
    changes = {}

    def change(path, value):
        changes[path] = (_get(config, path), value)
        _set(mapped, path, value)

    for path, value in ADDRESSES.items():
        change(path, value)
    for path, attr in PORTS.items():
        change(path, getattr(ports, attr))
    for path, attr in ENDPOINTS.items():
        if _get(config, path) is not None:
            change(path, "%s:%d" % (LOOPBACK, getattr(ports, attr)))
    for path, value in list(_walk(config)):
        if path and path[-1] == "path" and isinstance(value, str) and value.startswith("/"):
            change(path, str(Path(workdir) / value.lstrip("/")))
        if path[:3] == ("metrics_generator", "storage", "remote_write") and path[-1] == "url":
            change(path, "http://%s:%d/api/v1/write" % (LOOPBACK, closed_port))
    return mapped, changes


def startable(config):
    """Why this config cannot be started on loopback, or None when it can."""
    backend = _get(config, ("storage", "trace", "backend"))
    if backend != "local":
        return "storage backend %r needs its object store, which is not on loopback" % backend
    return None


def tempo_binary():
    binary = Path(by_binary("tempo").path)
    if not binary.exists():
        raise TempoCheckError("no Tempo binary at %s: build it with `PYTHONPATH=tools/stack python -m tfstack build tempo`" % binary)
    return binary


def verify(config_path, binary=None, timeout=60):
    """Tempo's own -config.verify on the file as given: (returncode, output)."""
    proc = subprocess.run([str(binary or tempo_binary()), "-config.file=%s" % config_path, "-config.verify=true"],
                          capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    return proc.returncode, (proc.stdout + proc.stderr).strip()


def _status(url, timeout=2.0):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # loopback only
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except (urllib.error.URLError, OSError):
        return None, b""


@dataclass
class RunningTempo:
    url: str
    otlp_http: str
    workdir: Path
    log_path: Path
    process: subprocess.Popen
    ready_after_s: float
    changes: dict


@contextmanager
def running(config, ready_timeout=60.0, keep=False, binary=None):
    """Start the loopback-mapped config as a real Tempo; yield a RunningTempo once /ready is 200."""
    reason = startable(config)
    if reason:
        raise TempoCheckError("cannot start this config locally: " + reason)
    binary = binary or tempo_binary()
    workdir = Path(tempfile.mkdtemp(prefix="tempo-check-"))
    ports = Ports.pick()
    mapped, changes = loopback_config(config, workdir, ports, closed_port=free_port())
    config_path = workdir / "tempo.yaml"
    config_path.write_text(yaml.safe_dump(mapped, sort_keys=False))
    log_path = workdir / "tempo.log"
    started = time.monotonic()
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen([str(binary), "-config.file=%s" % config_path], stdout=log_file, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=workdir, start_new_session=True)
    url = "http://%s:%d" % (LOOPBACK, ports.http)
    try:
        while True:
            if proc.poll() is not None:
                raise TempoCheckError("Tempo exited with %s during startup (TRACEFLEET_KEEP=1 keeps %s)\n--- tail of %s\n%s"
                                      % (proc.returncode, workdir, log_path, log_tail(log_path)))
            if _status(url + "/ready")[0] == 200:
                break
            if time.monotonic() - started > ready_timeout:
                raise TempoCheckError("Tempo not ready after %.0f s (TRACEFLEET_KEEP=1 keeps %s)\n--- tail of %s\n%s"
                                      % (ready_timeout, workdir, log_path, log_tail(log_path)))
            time.sleep(0.25)
        yield RunningTempo(url=url, otlp_http="http://%s:%d" % (LOOPBACK, ports.otlp_http), workdir=workdir,
                           log_path=log_path, process=proc, ready_after_s=time.monotonic() - started, changes=changes)
    finally:
        _stop(proc)
        if not keep and not os.environ.get("TRACEFLEET_KEEP"):
            shutil.rmtree(workdir, ignore_errors=True)


def write_and_read_span(tempo, timeout=30.0, service="tracefleet-tempo-check"):
    """POST one span over OTLP/HTTP (JSON) and poll /api/v2/traces/<id> until it is there; return seconds and the span."""
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    now = time.time_ns()
    body = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "tempo_local"}, "spans": [{
            "traceId": trace_id, "spanId": span_id, "name": "tempo-check", "kind": 2,
            "startTimeUnixNano": str(now - 5_000_000), "endTimeUnixNano": str(now),
        }]}],
    }]}
    request = urllib.request.Request(tempo.otlp_http + "/v1/traces", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as resp:  # loopback only
        if resp.status != 200:
            raise TempoCheckError("OTLP/HTTP write answered %s" % resp.status)
    written = time.monotonic()
    while True:
        # v2 answers 200 with {"trace": {}} for a trace it does not have (yet); v1 answers 404.
        status, payload = _status("%s/api/v2/traces/%s" % (tempo.url, trace_id))
        spans = []
        if status == 200:
            spans = [span for rs in json.loads(payload).get("trace", {}).get("resourceSpans", [])
                     for ss in rs.get("scopeSpans", []) for span in ss.get("spans", [])]
        if spans:
            names = [span["name"] for span in spans]
            if names != ["tempo-check"]:
                raise TempoCheckError("trace %s came back with spans %s, expected ['tempo-check']" % (trace_id, names))
            return time.monotonic() - written, trace_id
        if time.monotonic() - written > timeout:
            raise TempoCheckError("trace %s written over OTLP/HTTP was not readable after %.0f s (last status %s)\n%s"
                                  % (trace_id, timeout, status, log_tail(tempo.log_path)))
        time.sleep(0.2)


def check(config_path, ready_timeout=60.0, keep=False):
    """Everything the module docstring lists; returns the summary dict (raises TempoCheckError on failure)."""
    config_path = Path(config_path)
    config = yaml.safe_load(config_path.read_text())
    binary = tempo_binary()
    summary = {"config": str(config_path), "binary": str(binary)}
    started = time.monotonic()
    rc, output = verify(config_path, binary)
    summary.update(verify_rc=rc, verify_s=round(time.monotonic() - started, 2))
    if rc != 0:
        raise TempoCheckError("tempo -config.verify rejected %s (rc %d):\n%s" % (config_path, rc, output))
    reason = startable(config)
    if reason:
        summary["started"] = False
        summary["not_started_because"] = reason
        return summary
    with running(config, ready_timeout=ready_timeout, keep=keep, binary=binary) as tempo:
        summary.update(started=True, ready_after_s=round(tempo.ready_after_s, 2),
                       mapped=sorted(".".join(str(p) for p in path) for path in tempo.changes))
        found_after, trace_id = write_and_read_span(tempo)
        summary.update(trace_id=trace_id, span_readable_after_s=round(found_after, 2))
    return summary


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_check = sub.add_parser("check", help="verify, start, write a span and read it back")
    p_check.add_argument("config")
    p_check.add_argument("--ready-timeout", type=float, default=60.0)
    p_check.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(check(args.config, ready_timeout=args.ready_timeout, keep=args.keep), sort_keys=True))
    except (TempoCheckError, OSError, subprocess.SubprocessError, ValueError) as err:
        print("tempo check failed: %s" % err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
