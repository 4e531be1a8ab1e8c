"""The one mapping tests/integration/tempo_local.py applies before it starts a rendered tempo.yaml on loopback.

Only addresses, ports and paths change; everything else reaches the real Tempo unchanged.
"""

import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))  # pytest runs with --import-mode=importlib

import tempo_local  # noqa: E402
from tfstack.tempo import Ports  # noqa: E402
from ansible_collections.tracefleet.otel.plugins.filter.tempo_config import FilterModule  # noqa: E402

tempo_config = FilterModule().filters()["tempo_config"]
PORTS = Ports(http=41001, grpc=41002, otlp_http=41003, otlp_grpc=41004, memberlist=41005)
CLOSED = 41999
GENERATOR = {"metrics_generator_enabled": True, "metrics_generator_remote_write_url": "http://prometheus.monitoring.svc:9090/api/v1/write"}


def leaves(data):
    return dict(tempo_local._walk(data))


@pytest.mark.parametrize("settings", [{}, GENERATOR, {"retention_days": 14, "log_level": "debug"}], ids=["defaults", "generator", "retention"])
def test_everything_but_addresses_ports_and_paths_is_unchanged(settings, tmp_path):
    config = tempo_config(settings)
    mapped, changes = tempo_local.loopback_config(config, tmp_path, PORTS, CLOSED)
    before, after = leaves(config), leaves(mapped)

    def mapped_leaf(path):  # a changed path, or inside one (memberlist.bind_addr is a list)
        return any(path[:len(changed)] == changed for changed in changes)
    kept = {path: value for path, value in before.items() if not mapped_leaf(path)}
    assert kept == {path: value for path, value in after.items() if not mapped_leaf(path)}
    assert len(kept) >= 10
    # byte for byte, once the mapped leaves are taken out of both
    strip = [path for path in changes]

    def without(data):
        data = yaml.safe_load(yaml.safe_dump(data))
        for path in strip:
            parent = tempo_local._get(data, path[:-1])
            if isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif isinstance(parent, list):
                parent[path[-1]] = None
        for key in [k for k, v in data.items() if v == {}]:  # sections the mapping added (memberlist)
            del data[key]
        return yaml.safe_dump(data, sort_keys=True)
    assert without(config) == without(mapped)
    assert config == tempo_config(settings), "the mapping must not touch its input"


def test_what_the_mapping_changes(tmp_path):
    config = tempo_config(GENERATOR)
    mapped, changes = tempo_local.loopback_config(config, tmp_path, PORTS, CLOSED)
    assert {".".join(map(str, path)): new for path, (old, new) in changes.items()} == {
        "server.http_listen_address": "127.0.0.1",
        "server.grpc_listen_address": "127.0.0.1",
        "server.http_listen_port": 41001,
        "server.grpc_listen_port": 41002,
        "distributor.receivers.otlp.protocols.grpc.endpoint": "127.0.0.1:41004",
        "distributor.receivers.otlp.protocols.http.endpoint": "127.0.0.1:41003",
        "distributor.ring.instance_addr": "127.0.0.1",
        "ingester.lifecycler.address": "127.0.0.1",
        "compactor.ring.instance_addr": "127.0.0.1",
        "memberlist.bind_addr": ["127.0.0.1"],
        "memberlist.advertise_addr": "127.0.0.1",
        "memberlist.bind_port": 41005,
        "storage.trace.wal.path": str(tmp_path / "var/tempo/wal"),
        "storage.trace.local.path": str(tmp_path / "var/tempo/blocks"),
        "metrics_generator.storage.path": str(tmp_path / "var/tempo/generator/wal"),
        "metrics_generator.traces_storage.path": str(tmp_path / "var/tempo/generator/traces"),
        "metrics_generator.storage.remote_write.0.url": "http://127.0.0.1:41999/api/v1/write",
    }
    assert changes[("server", "http_listen_port")] == (3200, 41001)
    assert changes[("distributor", "receivers", "otlp", "protocols", "grpc", "endpoint")] == ("0.0.0.0:4317", "127.0.0.1:41004")


def test_nothing_left_to_dial_or_bind_off_loopback(tmp_path):
    mapped, _ = tempo_local.loopback_config(tempo_config(GENERATOR), tmp_path, PORTS, CLOSED)
    for path, value in leaves(mapped).items():
        key = path[-1] if isinstance(path[-1], str) else path[-2]
        if key in ("endpoint", "url") or key.endswith(("_addr", "_address")) or key == "address":
            assert "127.0.0.1" in str(value), (path, value)
        if key == "path":
            assert str(value).startswith(str(tmp_path)), (path, value)


def test_object_store_configs_are_not_started():
    s3 = tempo_config({"storage_backend": "s3", "storage_bucket": "b", "storage_endpoint": "s3.amazonaws.com"})
    assert "object store" in tempo_local.startable(s3)
    assert tempo_local.startable(tempo_config({})) is None
