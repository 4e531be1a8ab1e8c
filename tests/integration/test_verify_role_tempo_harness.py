"""`python -m tfstack tempo --name N`: the real Tempo the verify role's Molecule scenario and the demo probe.

One kwok cluster `verify-it-1` (1 node). The command starts a real Tempo on loopback in the background, with
its files under the cluster's directory; a second call keeps it (same pid and URLs); a probe sent with the
`tempo_trace` module to its OTLP/HTTP receiver is read back through its query URL; and `tfstack down`
stops it with the cluster, leaving no process.
"""

import os
import subprocess
import sys
import urllib.request

import pytest

from tfstack import build, cluster, tempo
from tfstack.paths import REPO

NAME = "verify-it-1"


def _tfstack(*args, timeout=120):
    env = dict(os.environ, PYTHONPATH=str(REPO / "tools" / "stack"))
    return subprocess.run([sys.executable, "-m", "tfstack", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _urls(stdout):
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


@pytest.fixture(scope="module")
def stack():
    if not build.version_ok(build.by_binary("tempo")):
        pytest.fail("no Tempo binary: run `PYTHONPATH=tools/stack python -m tfstack build tempo`", pytrace=False)
    try:
        cluster.down(NAME, log=lambda *_: None)
        cluster.up(NAME, 1, log=lambda *_: None)
        yield NAME
    finally:
        cluster.down(NAME, log=lambda *_: None)


def test_tempo_for_a_cluster_is_idempotent_reachable_and_stopped_by_down(stack, run_module):
    first = _tfstack("tempo", "--name", stack)
    assert first.returncode == 0, first.stderr
    urls = _urls(first.stdout)
    assert sorted(urls) == ["TEMPO_OTLP_GRPC", "TEMPO_OTLP_HTTP", "TEMPO_URL"], first.stdout
    assert all(value.split("//")[-1].startswith("127.0.0.1:") for value in urls.values()), urls
    with urllib.request.urlopen(urls["TEMPO_URL"] + "/ready", timeout=5) as resp:  # loopback only
        assert resp.status == 200

    again = _tfstack("tempo", "--name", stack)
    assert again.returncode == 0 and _urls(again.stdout) == urls
    assert "already running" in again.stderr

    failed, result = run_module("tracefleet.otel.tempo_trace", dict(
        url=urls["TEMPO_URL"], send_probe=True, probe_endpoint=urls["TEMPO_OTLP_HTTP"], timeout=30, interval=0.3))
    assert not failed, result["msg"]
    assert result["span_count"] == 4 and result["orphan_spans"] == []

    workdir = str(tempo.cluster_workdir(stack))
    assert any(workdir in open(f"/proc/{pid}/cmdline").read().replace("\0", " ") for pid in cluster.cluster_pids(stack))
    cluster.down(stack, log=lambda *_: None)
    assert cluster.cluster_pids(stack) == []
    assert not os.path.exists(workdir)


def test_tempo_for_a_cluster_that_does_not_exist_fails_clearly():
    proc = _tfstack("tempo", "--name", "verify-it-no-such-cluster")
    assert proc.returncode == 1
    assert "cluster verify-it-no-such-cluster does not exist" in proc.stderr
