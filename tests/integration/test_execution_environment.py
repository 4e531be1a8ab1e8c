"""execution-environment.yml: the real `ansible-builder create` writes a complete build context offline.

The collection tarball is built into a scratch copy of the definition (so `build/` in the clone is not
touched), then `ansible-builder create` runs with the network cut off (a user+network namespace when the
kernel allows one, else proxies pointing at a closed loopback port). The context must hold the
Containerfile with the pinned Helm install step, the collection requirements (this collection's tarball
and the kubernetes.core the tests run) and the Python requirements pinned as in constraints.txt. The
image build itself needs a container engine and the network; it is documented in README.md, not run.

The Helm install script of the image is run for real too: against a loopback HTTP server that serves
the stack's own Helm build packed the way get.helm.sh packs releases.
"""

import hashlib
import http.server
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import threading
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from tfstack import build, pins
from tfstack.paths import REPO

BIN = Path(sys.executable).parent
VERSION = yaml.safe_load((REPO / "galaxy.yml").read_text())["version"]
TARBALL = f"tracefleet-otel-{VERSION}.tar.gz"


def _constraints():
    pinned = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            pinned[_key(req.name)] = str(req.specifier).removeprefix("==")
    return pinned


def _key(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(*names):
    """The installed distributions `names` pull in (the test venv is installed from constraints.txt)."""
    seen = {}

    def walk(name):
        if _key(name) in seen:
            return
        try:
            dist = distribution(name)
        except PackageNotFoundError:
            return
        seen[_key(name)] = dist.version
        for line in dist.requires or []:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                walk(req.name)

    for name in names:
        walk(name)
    return seen


def _offline(cmd):
    """Run cmd with no network: in a new network namespace if possible, else with dead proxies."""
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True) if shutil.which("unshare") else None
    if probe is not None and probe.returncode == 0:
        return ["unshare", "-rn", *cmd], {}
    dead = "http://127.0.0.1:9"
    return cmd, {"HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead}


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    work = tmp_path_factory.mktemp("ee")
    shutil.copy(REPO / "execution-environment.yml", work)
    shutil.copytree(REPO / "execution-environment", work / "execution-environment")
    proc = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(work / "build"),
                           str(REPO)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (work / "build" / TARBALL).is_file()
    cmd, extra = _offline([str(BIN / "ansible-builder"), "create", "-f", "execution-environment.yml",
                           "-c", "context", "--output-filename", "Containerfile", "-v", "3"])
    proc = subprocess.run(cmd, cwd=work, env={**os.environ, **extra}, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return work / "context"


def test_containerfile_installs_python_ansible_collections_and_the_pinned_helm(context):
    containerfile = (context / "Containerfile").read_text()
    constraints = _constraints()
    assert 'ARG PYCMD="/usr/bin/python3.11"' in containerfile
    assert f"ansible-core=={constraints['ansible-core']}" in containerfile
    assert re.search(r"ansible-galaxy collection install .*-r requirements\.yml", containerfile)
    assert "introspect --user-pip=requirements.txt" in containerfile
    # Helm: the pin the tests run, installed by the script copied into the context, then checked.
    assert f"ARG HELM_VERSION={pins.HELM}\n" in containerfile
    final = containerfile.split("FROM base AS final", 1)[1]
    assert "COPY _build/helm/install_helm.py /tmp/install_helm.py" in final
    assert re.search(r'RUN /usr/bin/python3\.11 /tmp/install_helm\.py --version "\$HELM_VERSION"', final)
    assert "RUN helm version --short" in final
    assert final.index("install_helm.py") < final.index("USER 1000")
    assert (context / "_build" / "helm" / "install_helm.py").read_bytes() == \
        (REPO / "execution-environment" / "install_helm.py").read_bytes()


def test_collection_requirements_name_the_tarball_and_the_tested_kubernetes_core(context):
    requirements = yaml.safe_load((context / "_build" / "requirements.yml").read_text())["collections"]
    by_name = {entry["name"]: entry for entry in requirements}
    ours = by_name[f"collections/{TARBALL}"]
    assert ours["type"] == "file"
    # The galaxy stage runs in /build, where the context's _build/ is copied.
    assert (context / "_build" / "collections" / TARBALL).is_file()
    import ansible_collections.kubernetes.core as k8s_core
    bundled = json.loads((Path(k8s_core.__path__[0]) / "MANIFEST.json").read_text())["collection_info"]["version"]
    assert by_name["kubernetes.core"]["version"] == bundled
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    assert "kubernetes.core" in galaxy["dependencies"]


def test_python_requirements_are_pinned_as_in_constraints(context):
    pinned = {}
    for line in (context / "_build" / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            assert len(req.specifier) == 1 and str(req.specifier).startswith("=="), line
            pinned[_key(req.name)] = str(req.specifier)[2:]
    constraints = _constraints()
    # What the collection and kubernetes.core need, with everything it pulls in, at the tested versions.
    assert {name: pinned.get(name) for name in _closure("kubernetes", "PyYAML", "requests-oauthlib")} == \
        {name: version for name, version in _closure("kubernetes", "PyYAML", "requests-oauthlib").items()}
    disagree = {name: (version, constraints[name]) for name, version in pinned.items()
                if name in constraints and constraints[name] != version}
    assert disagree == {}
    assert sorted(set(pinned) - set(constraints)) == ["jsonpatch"], "only jsonpatch is pinned outside constraints.txt"


class _Releases(http.server.BaseHTTPRequestHandler):
    files = {}

    def do_GET(self):  # noqa: N802 (http.server's name)
        body = self.files.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        if body is not None:
            self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def releases():
    helm = build.by_binary("helm")
    if not build.version_ok(helm):
        pytest.fail("no helm binary: run `PYTHONPATH=tools/stack python -m tfstack build helm`", pytrace=False)
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(helm.path, arcname=f"linux-{arch}/helm")
    archive = buffer.getvalue()
    name = f"/helm-{pins.HELM}-linux-{arch}.tar.gz"
    digest = hashlib.sha256(archive).hexdigest()
    _Releases.files = {name: archive, f"{name}.sha256sum": f"{digest}  {name[1:]}\n".encode()}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Releases)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", digest
    finally:
        server.shutdown()
        server.server_close()


def _install_helm(base_url, dest, *extra):
    return subprocess.run([sys.executable, str(REPO / "execution-environment" / "install_helm.py"),
                           "--version", pins.HELM, "--base-url", base_url, "--dest", str(dest), *extra],
                          capture_output=True, text=True, timeout=60)


def test_helm_install_step_checks_the_digest_and_installs_a_working_helm(releases, tmp_path):
    base_url, digest = releases
    dest = tmp_path / "helm"
    proc = _install_helm(base_url, dest)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    version = subprocess.run([str(dest), "version", "--short"], capture_output=True, text=True, timeout=30)
    assert version.stdout.startswith(pins.HELM), version.stdout + version.stderr
    assert _install_helm(base_url, tmp_path / "helm2", "--sha256", digest).returncode == 0

    wrong = _install_helm(base_url, tmp_path / "helm3", "--sha256", "0" * 64)
    assert wrong.returncode == 1 and "expected 000" in wrong.stderr
    assert not (tmp_path / "helm3").exists()
