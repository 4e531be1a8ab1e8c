"""Run the real OpenTelemetry Operator manager as a local process against a kwok cluster.

kwok's pods are fake, so the operator Deployment a chart installs never runs anything. Tests that
need reconciliation (collectors become Deployments, Services, ConfigMaps; annotated pods get the
auto-instrumentation init container) start the real manager here instead, out of cluster:

    python -m tfstack operator --name N      # start it for cluster N (idempotent); prints its ports
    python -m tfstack down --name N          # stops the cluster and, with it, the operator

What `start` does, every address on 127.0.0.1:
1. server-side applies the CRDs from the operator module's config/crd/bases (at the pinned version)
   that are not in the cluster yet (a chart may have installed them: those are left alone, so no
   field manager fights over them) and waits until all of them are Established;
2. makes a throwaway CA and a serving certificate with the IP SAN 127.0.0.1 and writes them where
   controller-runtime reads them: $TMPDIR/k8s-webhook-server/serving-certs/tls.{crt,key};
3. registers the module's config/webhook/manifests.yaml, rewritten to
   clientConfig.url https://127.0.0.1:<webhook port><path> plus the CA bundle;
4. starts the manager with free loopback ports for metrics and health probes, a free webhook port,
   the pinned collector image and Go auto-instrumentation enabled, and waits until /readyz answers
   and the webhook port completes a TLS handshake verified against the CA.

Everything lives in <kwok workdir>/clusters/<N>/operator/ and the manager's command line names its
config file there, so `tfstack down` (which kills every process whose command line points into the
cluster's directory) stops it and leaves no process. The log is <cluster logs dir>/opentelemetry-operator.log.
"""

import base64
import contextlib
import datetime
import fcntl
import ipaddress
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from . import build, cluster, pins
from .paths import STACK_SRC

LOOPBACK = "127.0.0.1"
MODULE = "github.com/open-telemetry/opentelemetry-operator"
FIELD_MANAGER = "tracefleet-operator-harness"
COLLECTOR_IMAGE = "otel/opentelemetry-collector-contrib:0.158.0"
LOG_NAME = "opentelemetry-operator.log"
WEBHOOK_NAMES = {
    "MutatingWebhookConfiguration": "tracefleet-harness-opentelemetry-operator-mutation",
    "ValidatingWebhookConfiguration": "tracefleet-harness-opentelemetry-operator-validation",
}


class OperatorStartError(RuntimeError):
    pass


@dataclass
class Operator:
    """A running manager: where it listens, where its files are, how long it took to be ready."""

    cluster: str
    pid: int
    metrics_port: int
    health_port: int
    webhook_port: int
    workdir: str
    log_path: str
    ready_after_s: float
    crds_applied: list
    manager_ready_s: float = 0.0  # from the manager's exec to /readyz + webhook TLS (the rest is CRDs, certs, webhooks)

    @property
    def readyz(self) -> str:
        return f"http://{LOOPBACK}:{self.health_port}/readyz"


def module_dir() -> Path:
    """The operator Go module at the pinned version (downloaded through the wrapper module if missing)."""
    proc = subprocess.run(["go", "mod", "download", "-json", MODULE], cwd=STACK_SRC / "operator",
                          capture_output=True, text=True, timeout=300)
    try:
        info = json.loads(proc.stdout)
    except ValueError:
        info = {}
    if proc.returncode != 0 or not info.get("Dir"):
        raise OperatorStartError(f"cannot locate {MODULE}@{pins.OPERATOR}: {info.get('Error') or proc.stderr.strip()}")
    if info.get("Version") != pins.OPERATOR:
        raise OperatorStartError(f"wrapper module resolves {MODULE} to {info.get('Version')}, pinned {pins.OPERATOR}")
    return Path(info["Dir"])


def workdir(name: str) -> Path:
    return cluster.kwok_workdir() / "clusters" / name / "operator"


def log_path(name: str) -> Path:
    return cluster.logs_dir(name) / LOG_NAME


def _free_ports(count: int) -> list:
    socks, ports = [], []
    try:
        for _ in range(count):  # hold them all open so the same port is not handed out twice
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            socks.append(sock)
            ports.append(sock.getsockname()[1])
    finally:
        for sock in socks:
            sock.close()
    return ports


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as err:
        return f"(no log at {path}: {err})"


# --- CRDs -------------------------------------------------------------------------------------

def crd_files(module: Path) -> list:
    return sorted((module / "config" / "crd" / "bases").glob("*.yaml"))


def crd_name(path: Path) -> str:
    """metadata.name of a CRD file, read from its header (parsing 400 kB of YAML in pure Python takes seconds)."""
    match = re.search(r"^metadata:\n(?:[ ].*\n)*?  name: (\S+)$", path.read_text(), re.M)
    if not match:
        raise OperatorStartError(f"no metadata.name in {path}")
    return match.group(1)


def _crd_states(name: str) -> dict:
    """{CRD name: status of its Established condition ("True", "False", or "")} for every CRD in the cluster."""
    # A go-template, not jsonpath: a jsonpath filter fails on a CRD whose status has no conditions yet.
    template = ('{{range .items}}{{.metadata.name}}{{range .status.conditions}}{{if eq .type "Established"}} '
                '{{.status}}{{end}}{{end}}{{"\\n"}}{{end}}')
    out = cluster.kubectl(name, "get", "crd", "-o", f"go-template={template}").stdout
    return {parts[0]: (parts[1] if len(parts) > 1 else "") for parts in (line.split() for line in out.splitlines()) if parts}


def ensure_crds(name: str, module: Path, timeout_s: float = 180) -> list:
    """Apply the module's CRDs that are missing (server-side, own field manager, no force); wait for all."""
    wanted = {crd_name(path): path for path in crd_files(module)}
    states = _crd_states(name)
    missing = sorted(n for n in wanted if n not in states)
    if missing:
        files = [arg for n in missing for arg in ("-f", str(wanted[n]))]
        cluster.kubectl(name, "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", *files, timeout=120)
    if missing or any(states[n] != "True" for n in wanted if n in states):
        # Polled: `kubectl wait` fails at once ("accessor error: <nil>") on a CRD with no conditions yet.
        deadline = time.monotonic() + timeout_s
        while True:
            current = _crd_states(name)
            pending = sorted(n for n in wanted if current.get(n) != "True")
            if not pending:
                break
            if time.monotonic() > deadline:
                raise OperatorStartError(f"operator CRDs not Established after {timeout_s:.0f} s: {', '.join(pending)}")
            time.sleep(0.5)
    return missing


# --- certificates ------------------------------------------------------------------------------

def make_certs(cert_dir: Path) -> bytes:
    """Write a CA-signed serving cert for 127.0.0.1 as tls.{crt,key} into cert_dir; return the CA PEM."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError as err:
        raise OperatorStartError(f"the `cryptography` package is needed (it is in the project venv): {err}")

    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=7)

    def name(common):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder().subject_name(name("tracefleet operator harness CA"))
        .issuer_name(name("tracefleet operator harness CA")).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(name(LOOPBACK)).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    cert_dir.mkdir(parents=True, exist_ok=True)
    ca_pem = ca_cert.public_bytes(pem)
    (cert_dir / "ca.crt").write_bytes(ca_pem)
    (cert_dir / "tls.crt").write_bytes(cert.public_bytes(pem))
    key_path = cert_dir / "tls.key"
    key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    key_path.chmod(0o600)
    return ca_pem


# --- webhooks ----------------------------------------------------------------------------------

def webhook_configurations(module: Path, port: int, ca_pem: bytes) -> list:
    """The module's webhook manifests with every Service reference turned into a loopback URL."""
    bundle = base64.b64encode(ca_pem).decode()
    docs = [d for d in yaml.safe_load_all((module / "config" / "webhook" / "manifests.yaml").read_text()) if d]
    for doc in docs:
        doc["metadata"] = {"name": WEBHOOK_NAMES[doc["kind"]],
                           "labels": {"app.kubernetes.io/managed-by": FIELD_MANAGER}}
        for hook in doc["webhooks"]:
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": f"https://{LOOPBACK}:{port}{path}", "caBundle": bundle}
    return docs


def register_webhooks(name: str, docs: list, work: Path) -> None:
    path = work / "webhooks.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    cluster.kubectl(name, "apply", "--server-side", "--force-conflicts", f"--field-manager={FIELD_MANAGER}",
                    "-f", str(path))


# --- the process -------------------------------------------------------------------------------

def _state_path(name: str) -> Path:
    return workdir(name) / "state.json"


def _alive(pid: int, marker: str) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # loopback only
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _tls_ok(port: int, ca_file: Path) -> bool:
    context = ssl.create_default_context(cafile=str(ca_file))
    try:
        with socket.create_connection((LOOPBACK, port), timeout=2) as sock:
            with context.wrap_socket(sock, server_hostname=LOOPBACK):
                return True
    except (OSError, ssl.SSLError):
        return False


def running(name: str):
    """The operator for cluster `name` if its process is alive and /readyz answers, else None."""
    try:
        state = json.loads(_state_path(name).read_text())
    except (OSError, ValueError):
        return None
    op = Operator(**state)
    if _alive(op.pid, str(workdir(name))) and _http_ok(op.readyz):
        return op
    return None


def stop(name: str) -> None:
    """Stop only the operator of cluster `name` (SIGTERM, then SIGKILL); `tfstack down` does this too."""
    try:
        state = json.loads(_state_path(name).read_text())
    except (OSError, ValueError):
        return
    pid = state["pid"]
    if not _alive(pid, str(workdir(name))):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while _alive(pid, str(workdir(name))) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid, str(workdir(name))):
        os.kill(pid, signal.SIGKILL)


def stop_pid(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def manager_args(config_file: Path, metrics: int, health: int, webhook: int) -> list:
    return [
        f"--config-file={config_file}",
        f"--metrics-addr={LOOPBACK}:{metrics}",
        f"--health-probe-addr={LOOPBACK}:{health}",
        f"--webhook-port={webhook}",
        f"--collector-image={COLLECTOR_IMAGE}",
        "--enable-go-instrumentation=true",
        "--enable-leader-election=false",
    ]


@contextlib.contextmanager
def _locked(name: str):
    """One start at a time per cluster (two managers without leader election would both reconcile)."""
    work = workdir(name)
    work.mkdir(parents=True, exist_ok=True)
    with open(work / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def start(name: str, ready_timeout: float = 90.0, log=print, start_delay_s: float = 0.0) -> Operator:
    """Start (or keep) the operator for cluster `name`; raise OperatorStartError with the log tail on failure.

    With start_delay_s the CRDs and webhooks are registered at once but the manager starts that many
    seconds later and this returns without waiting: a slow operator whose webhooks refuse calls meanwhile.
    """
    if not cluster.healthy(name):
        raise OperatorStartError(f"cluster {name} is not running: start it with `python -m tfstack up --name {name}`")
    with _locked(name):
        return _start(name, ready_timeout, log, start_delay_s)


def _start(name: str, ready_timeout: float, log, start_delay_s: float = 0.0) -> Operator:
    current = running(name)
    if current:
        log(f"operator for {name} already running (pid {current.pid})")
        return current
    stop(name)  # a stale one that no longer answers

    binary = build.by_binary("opentelemetry-operator")
    if not build.version_ok(binary):
        raise OperatorStartError(f"no operator binary at {binary.path}: run `python -m tfstack build opentelemetry-operator`")
    started = time.monotonic()
    module = module_dir()
    applied = ensure_crds(name, module)

    work = workdir(name)
    tmpdir = work / "tmp"
    cert_dir = tmpdir / "k8s-webhook-server" / "serving-certs"
    ca_pem = make_certs(cert_dir)
    metrics, health, webhook = _free_ports(3)
    register_webhooks(name, webhook_configurations(module, webhook, ca_pem), work)

    config_file = work / "config.yaml"
    # The same settings as the flags below (flags win over the file); the file's path on the
    # command line is what lets `tfstack down` find this process.
    config_file.write_text(yaml.safe_dump({
        "metrics-addr": f"{LOOPBACK}:{metrics}",
        "health-probe-addr": f"{LOOPBACK}:{health}",
        "webhook-port": webhook,
        "collector-image": COLLECTOR_IMAGE,
        "enable-go-auto-instrumentation": True,
        "enable-leader-election": False,
        "enable-webhooks": True,
    }, sort_keys=False))
    logfile = log_path(name)
    logfile.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig_path(name)), "TMPDIR": str(tmpdir)}
    env.pop("WATCH_NAMESPACE", None)
    exec_at = time.monotonic()
    argv = [str(binary.path), *manager_args(config_file, metrics, health, webhook)]
    if start_delay_s > 0:  # the shell execs the manager in place, keeping the pid and the command line
        argv = ["/bin/sh", "-c", f'sleep {start_delay_s:g}; exec "$0" "$@"', *argv]
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(argv,
                                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=work,
                                env=env, start_new_session=True)
    op = Operator(cluster=name, pid=proc.pid, metrics_port=metrics, health_port=health, webhook_port=webhook,
                  workdir=str(work), log_path=str(logfile), ready_after_s=0.0, crds_applied=applied)
    if start_delay_s > 0:
        _state_path(name).write_text(json.dumps(asdict(op), indent=2))
        log(f"operator for {name}: CRDs and webhooks registered, the manager starts in {start_delay_s:g} s (pid {op.pid})")
        return op
    deadline = started + ready_timeout
    while not (_http_ok(op.readyz) and _tls_ok(webhook, cert_dir / "ca.crt")):
        if proc.poll() is not None:
            raise OperatorStartError(f"operator exited with {proc.returncode} during startup\n"
                                     f"--- tail of {logfile}\n{_log_tail(logfile)}")
        if time.monotonic() > deadline:
            stop_pid(proc)
            raise OperatorStartError(f"operator not ready after {ready_timeout:.0f} s\n"
                                     f"--- tail of {logfile}\n{_log_tail(logfile)}")
        time.sleep(0.2)
    op.ready_after_s = round(time.monotonic() - started, 2)
    op.manager_ready_s = round(time.monotonic() - exec_at, 2)
    _state_path(name).write_text(json.dumps(asdict(op), indent=2))
    log(f"operator for {name} ready after {op.ready_after_s:.1f} s, the manager itself {op.manager_ready_s:.1f} s "
        f"(pid {op.pid}; readyz {op.readyz}; "
        f"webhook https://{LOOPBACK}:{webhook}; CRDs applied: {', '.join(applied) or 'none, all present'}); "
        f"log {logfile}")
    return op
