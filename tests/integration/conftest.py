"""Fixtures for integration tests against the real local stack (here: a real Grafana Tempo on 127.0.0.1).

tests/conftest.py already puts tools/stack (tfstack) and the collection on sys.path.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tfstack.build import by_binary
from tfstack.collection import collections_root
from tfstack.tempo import TempoStartError, start, stop


def _serve(multitenancy):
    binary = by_binary("tempo").path
    if not binary.exists():
        pytest.fail(f"no Tempo binary at {binary}: run `PYTHONPATH=tools/stack python -m tfstack.build tempo` first",
                    pytrace=False)
    try:
        server = start(multitenancy=multitenancy)
    except TempoStartError as err:
        pytest.fail(str(err), pytrace=False)
    try:
        yield server
    finally:
        stop(server)


@pytest.fixture(scope="session")
def tempo():
    """One real Tempo for the session (single tenant): .url, .otlp_http, .otlp_grpc, .log_path."""
    yield from _serve(False)


@pytest.fixture(scope="session")
def tempo_multitenant():
    """A second real Tempo with multitenancy_enabled: every request needs X-Scope-OrgID."""
    yield from _serve(True)


def _ansible():
    beside = Path(sys.executable).parent / "ansible"
    return str(beside) if beside.exists() else shutil.which("ansible")


@pytest.fixture(scope="session")
def run_module(tmp_path_factory):
    """Run a module through the real `ansible` ad-hoc command on localhost; return (failed, result)."""
    home = tmp_path_factory.mktemp("ansible-home")
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=str(collections_root()),
        ANSIBLE_STDOUT_CALLBACK="json",
        ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
        ANSIBLE_PYTHON_INTERPRETER=sys.executable,
        ANSIBLE_HOME=str(home),
        ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_DEPRECATION_WARNINGS="0",
    )

    def run(module, args, check=False, timeout=120):
        cmd = [_ansible(), "localhost", "-i", "localhost,", "-c", "local", "-m", module, "-a", json.dumps(args)]
        if check:
            cmd.append("--check")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        try:
            out = json.loads(proc.stdout)
            result = out["plays"][0]["tasks"][0]["hosts"]["localhost"]
        except (ValueError, KeyError, IndexError):
            raise AssertionError(f"ansible gave no JSON result (rc {proc.returncode})\n{proc.stdout}\n{proc.stderr}")
        return bool(result.get("failed")), result

    return run
