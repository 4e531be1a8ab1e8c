"""The collection tarball builds, installs on its own, and ansible-doc lists its plugins."""

import importlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(*cmd, env=None):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    _run(BIN / "ansible-galaxy", "collection", "build", "--output-path", out, REPO)
    tarball = next(out.glob("tracefleet-otel-*.tar.gz"))
    root = tmp_path_factory.mktemp("collections")
    _run(BIN / "ansible-galaxy", "collection", "install", "--force", "--no-deps", "-p", root, tarball)
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(root)}
    return tarball, root, env


def _module_names():
    return sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py") if p.stem != "__init__")


def _filter_names():
    names = []
    for path in (REPO / "plugins" / "filter").glob("*.py"):
        module = importlib.import_module(f"ansible_collections.tracefleet.otel.plugins.filter.{path.stem}")
        names += [f"tracefleet.otel.{name}" for name in module.FilterModule().filters()]
    return sorted(names)


def test_tarball_ships_the_product_and_not_the_proving_ground(installed):
    tarball, _, _ = installed
    with tarfile.open(tarball) as tar:
        top = {name.split("/")[0] for name in tar.getnames()}
    assert {"MANIFEST.json", "FILES.json", "plugins", "meta", "README.md"} <= top
    assert not top & {"tests", "tools", "molecule", "benchmarks", ".ci", "Makefile"}


def test_installed_collection_lists_its_plugins(installed):
    _, root, env = installed
    assert (root / "ansible_collections" / "tracefleet" / "otel" / "MANIFEST.json").is_file()
    modules = _run(BIN / "ansible-doc", "-t", "module", "-l", "tracefleet.otel", env=env)
    filters = _run(BIN / "ansible-doc", "-t", "filter", "-l", "tracefleet.otel", env=env)
    listed = modules + filters
    expected = [f"tracefleet.otel.{name}" for name in _module_names()] + _filter_names()
    assert expected, "the collection should ship at least one plugin"
    missing = [name for name in expected if name not in listed]
    assert not missing, f"ansible-doc does not list {missing}:\n{listed}"
