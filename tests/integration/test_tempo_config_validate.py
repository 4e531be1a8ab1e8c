"""The tempo.yaml the tempo role renders is accepted by the real Tempo binary at the pinned version.

Rendered exactly as the role does (the tempo_config filter, then to_nice_yaml(indent=2)), then:
- ``tempo -config.verify`` (strict parser: unknown keys fail; any configuration warning fails) for
  every storage backend and option the role offers;
- negative cases, so this test can fail: keys Tempo does not know, the legacy overrides format,
  a retention shorter than the blocklist poll;
- for the local backend, a real start on loopback (tests/integration/tempo_local.py maps only
  addresses, ports and paths), /ready, one span written over OTLP/HTTP, read back by id and found
  by TraceQL search.
"""

import json
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from ansible.plugins.filter.core import to_nice_yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pytest runs with --import-mode=importlib

import tempo_local  # noqa: E402
from ansible_collections.tracefleet.otel.plugins.filter.tempo_config import FilterModule  # noqa: E402

tempo_config = FilterModule().filters()["tempo_config"]

S3_AWS = {"storage_backend": "s3", "storage_bucket": "traces", "storage_endpoint": "s3.eu-west-1.amazonaws.com",
          "storage_region": "eu-west-1", "storage_secret_name": "tempo-s3"}
S3_MINIO = {"storage_backend": "s3", "storage_bucket": "traces", "storage_endpoint": "minio.storage.svc:9000",
            "storage_insecure": True, "storage_s3_force_path_style": True, "storage_prefix": "cluster-a"}
GCS = {"storage_backend": "gcs", "storage_bucket": "traces", "storage_secret_name": "tempo-gcs", "storage_prefix": "eu"}
AZURE = {"storage_backend": "azure", "storage_bucket": "traces", "storage_azure_account_name": "acme",
         "storage_endpoint": "blob.core.windows.net", "storage_secret_name": "tempo-azure"}
GENERATOR = {"metrics_generator_enabled": True, "metrics_generator_remote_write_url": "http://prometheus.monitoring.svc:9090/api/v1/write",
             "metrics_generator_processors": ["service-graphs", "span-metrics", "local-blocks"]}

ACCEPTED = {
    "defaults": {},
    "retention-14d": {"retention_days": 14},
    "retention-400d-with-reason": {"retention_days": 400, "retention_override_reason": "audit trail kept 13 months"},
    "debug-log": {"log_level": "debug"},
    "s3-aws": S3_AWS,
    "s3-minio": S3_MINIO,
    "gcs": GCS,
    "azure": AZURE,
    "metrics-generator": GENERATOR,
    "extra-config": {"extra_config": {"server": {"log_format": "json"}, "ingester": {"max_block_duration": "10m"}}},
}


def render(settings, path):
    """tempo.yaml exactly as the role writes it into the ConfigMap."""
    path.write_text(to_nice_yaml(tempo_config(settings), indent=2))
    return path


@pytest.fixture(scope="module")
def binary():
    try:
        return tempo_local.tempo_binary()
    except tempo_local.TempoCheckError as err:
        pytest.fail(str(err), pytrace=False)


@pytest.mark.parametrize("settings", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_real_tempo_verifies_the_rendered_config(settings, binary, tmp_path):
    rc, output = tempo_local.verify(render(settings, tmp_path / "tempo.yaml"), binary)
    assert rc == 0, output


REJECTED = {
    "unknown-server-key": ({"extra_config": {"server": {"bogus_key": 1}}}, "field bogus_key not found in type server.Config"),
    # Tempo 1.x's search switch: search is always on in 2.x, and the key no longer exists.
    "search-enabled-switch": ({"extra_config": {"search_enabled": True}}, "field search_enabled not found in type app.Config"),
    "misspelt-retention": ({"extra_config": {"compactor": {"compaction": {"retention": "168h"}}}}, "field retention not found"),
    # The legacy inline overrides format (why the role writes overrides.defaults).
    "legacy-overrides": ({"extra_config": {"overrides": {"metrics_generator_processors": ["span-metrics"]}}},
                         "Inline, unscoped overrides are deprecated"),
    # Below the 5m blocklist poll Tempo warns, and a warning fails -config.verify (the role refuses < 1 day anyway).
    "retention-below-blocklist-poll": ({"extra_config": {"compactor": {"compaction": {"block_retention": "1m"}}}},
                                       "compacted_block_timeout < storage.trace.blocklist_poll"),
}


@pytest.mark.parametrize("settings, expected", REJECTED.values(), ids=REJECTED.keys())
def test_real_tempo_rejects_what_it_does_not_know(settings, expected, binary, tmp_path):
    rc, output = tempo_local.verify(render(settings, tmp_path / "tempo.yaml"), binary)
    assert rc == 1, "Tempo accepted a config it should refuse:\n" + output
    assert expected in output


def _search(tempo, query, timeout=30.0):
    """TraceQL search until it returns a trace, with a deadline; returns (seconds, traces)."""
    started = time.monotonic()
    url = "%s/api/search?%s" % (tempo.url, urllib.parse.urlencode({"q": query, "limit": 20}))
    while True:
        with urllib.request.urlopen(url, timeout=10) as resp:  # loopback only
            traces = json.loads(resp.read()).get("traces") or []
        if traces or time.monotonic() - started > timeout:
            return time.monotonic() - started, traces
        time.sleep(0.25)


@pytest.mark.parametrize("settings", [ACCEPTED["defaults"], ACCEPTED["metrics-generator"]], ids=["defaults", "metrics-generator"])
def test_real_tempo_starts_with_the_config_and_returns_a_written_span(settings, binary, tmp_path):
    config = yaml.safe_load(render(settings, tmp_path / "tempo.yaml").read_text())
    with tempo_local.running(config, binary=binary) as tempo:
        print("ready after %.2f s; mapped %s" % (tempo.ready_after_s, sorted(".".join(map(str, p)) for p in tempo.changes)))
        found_after, trace_id = tempo_local.write_and_read_span(tempo)
        print("span %s readable after %.2f s" % (trace_id, found_after))
        took, traces = _search(tempo, '{ resource.service.name = "tracefleet-tempo-check" }')
        print("TraceQL search found %d trace(s) after %.2f s" % (len(traces), took))
        # search results trim leading zeros of trace ids
        assert trace_id.lstrip("0") in [t["traceID"].lstrip("0") for t in traces]
        assert tempo.process.poll() is None, tempo_local.log_tail(tempo.log_path)


def test_a_config_tempo_cannot_parse_does_not_start(binary, tmp_path):
    config = tempo_config({"extra_config": {"server": {"bogus_key": 1}}})
    with pytest.raises(tempo_local.TempoCheckError, match="bogus_key"):
        with tempo_local.running(config, binary=binary, ready_timeout=20):
            pass


def test_the_check_command_the_molecule_verify_runs(binary, tmp_path, capsys):
    assert tempo_local.main(["check", str(render({"retention_days": 10}, tmp_path / "tempo.yaml"))]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["verify_rc"] == 0 and summary["started"] is True and summary["span_readable_after_s"] < 30
    assert tempo_local.main(["check", str(render(S3_AWS, tmp_path / "s3.yaml"))]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["started"] is False and "object store" in summary["not_started_because"]
    assert tempo_local.main(["check", str(render({"extra_config": {"nope": 1}}, tmp_path / "bad.yaml"))]) == 1
    assert "field nope not found" in capsys.readouterr().err
