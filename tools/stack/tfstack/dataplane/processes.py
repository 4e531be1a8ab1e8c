"""Run the collector configurations the roles applied as real otelcol processes on loopback.

    with running(gateways=[...], agents=[...], workdir=...) as plane:
        plane.agents[0].otlp_http     # http://127.0.0.5:4318, where applications send
        plane.gateways[1].metrics()   # the gateway's own Prometheus metrics, parsed
        kill(plane.gateways[1]); restart(plane.gateways[1])   # a crashed pod, restarted in place

Each collector gets two ``--config`` files: the rendered ``collector.yaml`` exactly as read from
the cluster, and the overlay from ``mapping.collector_overlay`` (addresses only). Before a
process starts, every address:port it will bind is checked free; it is ready when its
health_check endpoint answers 200. On exit every process is stopped (SIGTERM, then SIGKILL), agents
first so they hand their queues to the gateways. The work directory (configs, one log per
process) is removed unless the block raised, ``keep=True`` or ``TRACEFLEET_KEEP=1``.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ..build import by_binary
from ..tempo import stop_process
from .mapping import collector_overlay, component_type, split_endpoint

GATEWAY_ADDRESSES = ("127.0.0.2", "127.0.0.3", "127.0.0.4")
AGENT_ADDRESSES = ("127.0.0.5", "127.0.0.6")
STOP_GRACE_S = 10.0


class DataplaneError(RuntimeError):
    pass


def otelcol_binary():
    tool = by_binary("otelcol")
    if not Path(tool.path).exists():
        raise DataplaneError("no otelcol %s at %s: run `make tools`" % (tool.version, tool.path))
    return str(tool.path)


def port_free(address, port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As Go's listeners do: a port with only TIME_WAIT connections left (a scrape) is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def parse_metrics(text):
    """Prometheus text -> {metric name: sum over its series} (enough for counters and gauges)."""
    totals = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name_labels, _, value = line.rpartition(" ")
        name = name_labels.split("{", 1)[0]
        try:
            totals[name] = totals.get(name, 0.0) + float(value)
        except ValueError:
            continue
    return totals


@dataclass
class Collector:
    name: str
    role: str  # gateway | agent
    address: str
    config_text: str  # the ConfigMap's collector.yaml, byte for byte
    overlay: dict
    changes: dict
    listens: list
    env: dict
    workdir: Path
    process: subprocess.Popen = None
    ready_after_s: float = 0.0
    config_paths: list = field(default_factory=list)

    @property
    def log_path(self):
        return self.workdir / ("%s.log" % self.name)

    def _port(self, path, default):
        value = self.overlay
        for key in path:
            value = (value or {}).get(key) if isinstance(value, dict) else None
        return split_endpoint(value)[2] if value else default

    @property
    def otlp_grpc(self):
        return "%s:%d" % (self.address, self._port(("receivers", "otlp", "protocols", "grpc", "endpoint"), 4317))

    @property
    def otlp_http(self):
        return "http://%s:%d" % (self.address, self._port(("receivers", "otlp", "protocols", "http", "endpoint"), 4318))

    @property
    def metrics_url(self):
        readers = self.overlay.get("service", {}).get("telemetry", {}).get("metrics", {}).get("readers") or []
        for reader in readers:
            prometheus = reader.get("pull", {}).get("exporter", {}).get("prometheus")
            if prometheus:
                return "http://%s:%d/metrics" % (self.address, int(prometheus.get("port", 8888)))
        return None

    @property
    def health_url(self):
        for name, ext in (self.overlay.get("extensions") or {}).items():
            if component_type(name) == "health_check" and ext.get("endpoint"):
                return "http://%s/" % ext["endpoint"]
        return None

    def metrics(self):
        with urllib.request.urlopen(self.metrics_url, timeout=5) as resp:  # loopback only
            return parse_metrics(resp.read().decode())

    def log_tail(self, lines=30):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as err:
            return "(no log: %s)" % err


def _http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # loopback only
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def prepare(name, config_text, address, workdir, role="collector", services=None, gateways=None, env=None,
            gateway_service=None):
    """A Collector (not started) for config_text on address; writes its two config files."""
    config = yaml.safe_load(config_text)
    overlay = collector_overlay(config, address, services=services, gateways=gateways, workdir=workdir / name,
                                gateway_service=gateway_service)
    collector = Collector(name=name, role=role, address=address, config_text=config_text, overlay=overlay.data,
                          changes=overlay.changes, listens=sorted(set(overlay.listens)), env=dict(env or {}),
                          workdir=workdir)
    rendered = workdir / ("%s.collector.yaml" % name)
    rendered.write_text(config_text)
    mapped = workdir / ("%s.loopback.yaml" % name)
    mapped.write_text(yaml.safe_dump(overlay.data, sort_keys=False))
    collector.config_paths = [rendered, mapped]
    return collector


def print_config(otelcol, config_paths, env):
    """otelcol's own resolved view of the merged config files (``print-config``), parsed."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environ.update(env)
    proc = subprocess.run([otelcol, "print-config"]
                          + ["--config=%s" % p for p in config_paths],
                          capture_output=True, text=True, timeout=60, env=environ, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise DataplaneError("otelcol print-config %s failed (rc %d):\n%s" % (config_paths, proc.returncode, proc.stderr[-2000:]))
    return yaml.safe_load(proc.stdout)


def start(collector, otelcol=None, ready_timeout=30.0):
    busy = [(a, p) for a, p in collector.listens if not port_free(a, p)]
    if busy:
        raise DataplaneError("%s: %s already in use on this machine (another run?); nothing started"
                             % (collector.name, ", ".join("%s:%d" % ap for ap in busy)))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    environ.update(collector.env)
    cmd = [otelcol or otelcol_binary()] + ["--config=%s" % p for p in collector.config_paths]
    started = time.monotonic()
    with open(collector.log_path, "ab") as log:
        collector.process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             env=environ, cwd=collector.workdir, start_new_session=True)
    while not _http_ok(collector.health_url):
        if collector.process.poll() is not None:
            raise DataplaneError("%s exited with %s at start\n--- %s\n%s" % (
                collector.name, collector.process.returncode, collector.log_path, collector.log_tail()))
        if time.monotonic() - started > ready_timeout:
            raise DataplaneError("%s not healthy after %.0f s\n--- %s\n%s" % (
                collector.name, ready_timeout, collector.log_path, collector.log_tail()))
        time.sleep(0.1)
    collector.ready_after_s = time.monotonic() - started
    return collector


def stop(collector, grace=STOP_GRACE_S):
    """SIGTERM (the collector drains its queues), then SIGKILL after grace."""
    if collector.process is not None:
        stop_process(collector.process, grace=grace)


def kill(collector):
    """SIGKILL, as a crashed or OOM-killed pod: no drain, in-memory state is gone (a persistent queue stays on disk)."""
    if collector.process is not None and collector.process.poll() is None:
        collector.process.kill()
        collector.process.wait(timeout=10)


def restart(collector, otelcol=None, ready_timeout=30.0):
    """Start a stopped or killed collector again on the same address, configs and work directory (a container restart)."""
    if collector.process is not None and collector.process.poll() is None:
        raise DataplaneError("%s is still running" % collector.name)
    return start(collector, otelcol, ready_timeout)


@dataclass
class Dataplane:
    workdir: Path
    gateways: list
    agents: list

    @property
    def collectors(self):
        return self.gateways + self.agents


@contextmanager
def running(gateways, agents, workdir=None, keep=False, ready_timeout=30.0):
    """Start every gateway, then every agent; stop them all on exit.

    gateways / agents: lists of dicts with ``config_text``, ``address`` and optionally ``name``,
    ``services``, ``gateways``, ``env`` (arguments of ``prepare``).
    """
    workdir = Path(workdir or tempfile.mkdtemp(prefix="dataplane-"))
    workdir.mkdir(parents=True, exist_ok=True)
    otelcol = otelcol_binary()
    plane = Dataplane(workdir=workdir, gateways=[], agents=[])
    failed = True
    try:
        for role, specs, into in (("gateway", gateways, plane.gateways), ("agent", agents, plane.agents)):
            for index, spec in enumerate(specs):
                spec = dict(spec)
                name = spec.pop("name", "%s-%d" % (role, index))
                collector = prepare(name, role=role, workdir=workdir, **spec)
                into.append(collector)
                start(collector, otelcol, ready_timeout)
        yield plane
        failed = False
    finally:
        for collector in reversed(plane.collectors):
            stop(collector)
        if failed or keep or os.environ.get("TRACEFLEET_KEEP"):
            print("dataplane: work directory (configs, logs) kept at %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
