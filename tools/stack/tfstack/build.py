"""Build the pinned tools from the Go module proxy and cache them outside the clone.

Each binary lands at <cache>/bin/<binary>-<version>; a cached binary whose own
version output matches the pin is reused. A failed build names the tool and
shows the tail of the Go output.
"""

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import pins
from .paths import STACK_SRC, bin_dir


class BuildError(RuntimeError):
    pass


def _k8s_ldflags() -> str:
    major, minor = pins.KUBERNETES.lstrip("v").split(".")[:2]
    values = {
        "gitVersion": pins.KUBERNETES,
        "gitMajor": major,
        "gitMinor": minor,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
    }
    flags = []
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.{key}={value}" for key, value in values.items()]
    return " ".join(flags)


@dataclass
class Tool:
    """One binary: how to build it and how it states its version."""

    binary: str
    version: str
    package: str
    version_args: list
    expect: str  # substring of the version output
    wrapper: str = ""  # directory under tools/stack holding go.mod (else `go install`)
    ldflags: str = ""
    env: dict = field(default_factory=dict)
    version_env: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return bin_dir() / f"{self.binary}-{self.version}"


def _operator_ldflags() -> str:
    """The version and default image tags the upstream Makefile stamps in (versions.txt)."""
    values = {
        "version": pins.OPERATOR.lstrip("v"),
        "buildDate": "2026-01-01T00:00:00Z",
        "otelCol": pins.OPERATOR.lstrip("v"),
        "targetAllocator": pins.OPERATOR.lstrip("v"),
        "operatorOpAMPBridge": pins.OPERATOR.lstrip("v"),
        **pins.OPERATOR_AUTOINSTRUMENTATION,
    }
    pkg = "github.com/open-telemetry/opentelemetry-operator/internal/version"
    return " ".join(f"-X {pkg}.{key}={value}" for key, value in values.items())


def _kube(binary, version_args, expect=pins.KUBERNETES):
    return Tool(binary, pins.KUBERNETES, f"k8s.io/kubernetes/cmd/{binary}", version_args,
                expect, wrapper="kubernetes", ldflags=_k8s_ldflags())


TOOLS = [
    _kube("kube-apiserver", ["--version"]),
    _kube("kube-controller-manager", ["--version"]),
    _kube("kube-scheduler", ["--version"]),
    _kube("kubectl", ["version", "--client"]),
    Tool("etcd", pins.ETCD, "go.etcd.io/etcd/server/v3", ["--version"],
         pins.ETCD.lstrip("v"), wrapper="etcd"),
    Tool("kwok", pins.KWOK, f"sigs.k8s.io/kwok/cmd/kwok@{pins.KWOK}", ["--version"], pins.KWOK,
         ldflags=f"-X sigs.k8s.io/kwok/pkg/consts.Version={pins.KWOK}"),
    Tool("kwokctl", pins.KWOK, f"sigs.k8s.io/kwok/cmd/kwokctl@{pins.KWOK}", ["--version"], pins.KWOK,
         ldflags=f"-X sigs.k8s.io/kwok/pkg/consts.Version={pins.KWOK}"),
    Tool("helm", pins.HELM, f"helm.sh/helm/v3/cmd/helm@{pins.HELM}", ["version", "--short"], pins.HELM,
         ldflags=f"-X helm.sh/helm/v3/internal/version.version={pins.HELM}"),
    # The manager has no --version flag: it logs its version first, then stops
    # at once when the kubeconfig it is given does not exist.
    Tool("opentelemetry-operator", pins.OPERATOR, "github.com/open-telemetry/opentelemetry-operator",
         [], pins.OPERATOR.lstrip("v"), wrapper="operator", ldflags=_operator_ldflags(),
         version_env={"KUBECONFIG": "/nonexistent/kubeconfig"}),
    Tool("tempo", pins.TEMPO, "github.com/grafana/tempo/cmd/tempo", ["--version"], pins.TEMPO_RELEASE,
         wrapper="tempo", env={"GOSUMDB": "off"},
         ldflags=f"-X main.Version={pins.TEMPO_RELEASE} -X main.Revision=87c2dc380cec -X main.Branch=main"),
    Tool("otelcol", pins.OTELCOL, "otelcol", ["--version"], pins.OTELCOL.lstrip("v")),
]


def by_binary(name: str) -> Tool:
    for tool in TOOLS:
        if tool.binary == name:
            return tool
    raise KeyError(name)


def version_ok(tool: Tool) -> bool:
    if not tool.path.exists():
        return False
    try:
        out = subprocess.run([str(tool.path), *tool.version_args], capture_output=True,
                             text=True, timeout=60, env={**os.environ, **tool.version_env})
    except (OSError, subprocess.TimeoutExpired):
        return False
    return tool.expect in (out.stdout + out.stderr)


def _run(tool: Tool, cmd, cwd, env):
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-25:])
        raise BuildError(f"building {tool.binary} {tool.version} failed: {' '.join(cmd)}\n{tail}")


def _go_env(tool: Tool) -> dict:
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    env.update(tool.env)
    return env


def _build_otelcol(tool: Tool, out: Path, env: dict):
    work = Path(tempfile.mkdtemp(prefix="otelcol-build-"))
    try:
        gobin = work / "gobin"
        _run(tool, ["go", "install", f"go.opentelemetry.io/collector/cmd/builder@{pins.OTELCOL}"],
             work, {**env, "GOBIN": str(gobin)})
        manifest = work / "manifest.yaml"
        shutil.copy(STACK_SRC / "otelcol" / "manifest.yaml", manifest)
        _run(tool, [str(gobin / "builder"), f"--config={manifest}"], work, env)
        shutil.move(str(work / "build" / "otelcol-tracefleet"), out)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def build(tool: Tool):
    bin_dir().mkdir(parents=True, exist_ok=True)
    out = tool.path.with_name(f"{tool.path.name}.partial-{os.getpid()}")
    env = _go_env(tool)
    flags = ["-trimpath", f"-ldflags={tool.ldflags}"] if tool.ldflags else ["-trimpath"]
    if tool.binary == "otelcol":
        _build_otelcol(tool, out, env)
    elif tool.wrapper:
        _run(tool, ["go", "build", *flags, "-o", str(out), tool.package], STACK_SRC / tool.wrapper, env)
    else:
        with tempfile.TemporaryDirectory() as gobin:
            _run(tool, ["go", "install", *flags, tool.package], gobin, {**env, "GOBIN": gobin})
            shutil.move(str(Path(gobin) / tool.binary), out)
    out.rename(tool.path)
    if not version_ok(tool):
        raise BuildError(f"{tool.binary} built, but its version output does not mention {tool.expect}")


def ensure(names=None, log=print) -> dict:
    """Build what is missing; return {binary: path}."""
    wanted = [by_binary(n) for n in names] if names else TOOLS
    for tool in wanted:
        if version_ok(tool):
            log(f"cached  {tool.binary:24} {tool.path}")
            continue
        log(f"build   {tool.binary:24} {tool.version} ...")
        build(tool)
        log(f"built   {tool.binary:24} {tool.path}")
    return {tool.binary: tool.path for tool in wanted}

