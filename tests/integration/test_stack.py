"""The local stack: named kwok clusters on loopback, started and stopped without leftovers."""

import json
import subprocess
import sys

import pytest

from tfstack import cluster

NAMES = ["it-stack-a", "it-stack-b"]


def _tfstack(*args):
    proc = subprocess.run([sys.executable, "-m", "tfstack", *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr + "\n" + "\n".join(cluster.log_tail(n) for n in NAMES)
    return proc.stdout


@pytest.fixture(scope="module")
def two_clusters():
    try:
        for name in NAMES:
            _tfstack("up", "--name", name, "--nodes", "3")
        yield NAMES
    finally:
        for name in NAMES:
            cluster.down(name, log=lambda *_: None)


def _server(name):
    config = cluster.kubectl(name, "config", "view", "--minify", "-o", "json").stdout
    return json.loads(config)["clusters"][0]["cluster"]["server"]


def test_clusters_have_three_ready_nodes_and_a_loopback_apiserver(two_clusters):
    servers = set()
    for name in two_clusters:
        assert cluster.ready_nodes(name) == 3
        server = _server(name)
        assert server.startswith("https://127.0.0.1:") or server.startswith("http://127.0.0.1:"), server
        servers.add(server)
    assert len(servers) == 2, "each cluster needs its own apiserver port"


def test_up_again_keeps_the_running_cluster(two_clusters):
    name = two_clusters[0]
    before = sorted(cluster.cluster_pids(name))
    out = _tfstack("up", "--name", name, "--nodes", "3")
    assert "started in" not in out
    assert sorted(cluster.cluster_pids(name)) == before


def test_down_leaves_no_process_and_is_idempotent(two_clusters):
    name = two_clusters[1]
    assert cluster.cluster_pids(name), "the cluster should be running before the test stops it"
    _tfstack("down", "--name", name)
    assert cluster.cluster_pids(name) == []
    assert name not in cluster.existing()
    assert not cluster.kubeconfig_path(name).exists()
    _tfstack("down", "--name", name)
