"""playbooks/drift.yml across three kwok clusters: exactly the hand-made changes are reported, nothing changes.

Three 1-node clusters with the real operator get the same rollout (demo_workloads.yml + site.yml, one
wave). Then, by hand: on drift-a the gateway collector is edited (replicas 3 -> 5, and the keep-slow
threshold 2000 -> 5000 ms), on drift-b the Instrumentation is deleted; drift-c is left alone. drift.yml
must report those two fields on drift-a, the missing Instrumentation on drift-b, nothing on drift-c, write
the fleet page, and leave every cluster as it found it.
"""

import json

import pytest

from tfstack import cluster
from tfstack.fleet import kwok_clusters, recaps, run_playbook, write_inventory

NAMES = ["drift-a", "drift-b", "drift-c"]
GATEWAY = "OpenTelemetryCollector observability/gateway"
THRESHOLD = "spec.config.processors.tail_sampling.policies[2].latency.threshold_ms"


def _get(name, *args):
    proc = cluster.kubectl(name, "get", *args, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


@pytest.fixture(scope="module")
def drifted(tmp_path_factory):
    work = tmp_path_factory.mktemp("drift")
    with kwok_clusters(NAMES, nodes=1, parallel=3):
        inventory = write_inventory(NAMES, work)
        rollout = run_playbook(inventory, "demo_workloads.yml", "site.yml", forks=3, check=False,
                               extra=("-e", '{"tracefleet_rollout_waves": ["100%"]}', "--skip-tags", "verify"))
        assert rollout.proc.returncode == 0, rollout.proc.stdout[-5000:] + rollout.proc.stderr[-2000:]

        policy = _get("drift-a", "opentelemetrycollector", "gateway", "-n", "observability")
        policy = policy["spec"]["config"]["processors"]["tail_sampling"]["policies"][2]
        assert policy["name"] == "keep-slow" and policy["latency"]["threshold_ms"] == 2000, policy
        cluster.kubectl("drift-a", "patch", "opentelemetrycollector", "gateway", "-n", "observability", "--type", "json",
                        "-p", json.dumps([
                            {"op": "replace", "path": "/spec/replicas", "value": 5},
                            {"op": "replace", "path": "/spec/config/processors/tail_sampling/policies/2/latency/threshold_ms",
                             "value": 5000}]))
        cluster.kubectl("drift-b", "delete", "instrumentation", "tracefleet", "-n", "shop")

        report_dir = work / "reports"
        run = run_playbook(inventory, "drift.yml", forks=3, check=False,
                           extra=("--check", "--diff", "-e", f"tracefleet_drift_dir={report_dir}"))
        after = {
            "replicas": _get("drift-a", "opentelemetrycollector", "gateway", "-n", "observability")["spec"]["replicas"],
            "instrumentation": _get("drift-b", "instrumentation", "tracefleet", "-n", "shop"),
        }
        yield run, report_dir, after


def _fields(report_dir, name):
    doc = json.loads((report_dir / f"{name}.json").read_text())
    assert doc["cluster"] == name
    return sorted((d["object"], d["field"], d["live"], d["wanted"]) for d in doc["drift"])


def test_drift_runs_in_check_mode_and_changes_nothing(drifted):
    run, _dir, after = drifted
    assert run.proc.returncode == 0, run.proc.stdout[-5000:]
    assert all(r["failed"] == 0 for r in recaps(run.proc.stdout).values())
    assert after == {"replicas": 5, "instrumentation": None}, "drift.yml changed a cluster"


def test_the_edited_gateway_fields_are_reported(drifted):
    _run, report_dir, _after = drifted
    assert _fields(report_dir, "drift-a") == [
        (GATEWAY, THRESHOLD, "5000", "2000"),
        (GATEWAY, "spec.replicas", "5", "3"),
    ]


def test_the_deleted_instrumentation_is_reported(drifted):
    _run, report_dir, _after = drifted
    assert _fields(report_dir, "drift-b") == [("Instrumentation shop/tracefleet", "(object)", "(absent)", "present")]
    # In check mode the annotate role counts the Instrumentation the instrumentation role would create
    # (tracefleet_instrumentation_refs), so every role could be dry-run: nothing is left unchecked.
    assert json.loads((report_dir / "drift-b.json").read_text())["not_checked"] == []


def test_the_untouched_cluster_shows_no_drift(drifted):
    _run, report_dir, _after = drifted
    assert _fields(report_dir, "drift-c") == []
    assert json.loads((report_dir / "drift-c.json").read_text())["not_checked"] == []


def test_the_fleet_page_has_a_row_per_cluster(drifted):
    _run, report_dir, _after = drifted
    rows = {n: json.loads((report_dir / f"{n}.report.json").read_text()) for n in NAMES}
    assert {n: r["status"] for n, r in rows.items()} == {"drift-a": "fail", "drift-b": "fail", "drift-c": "pass"}
    page = (report_dir / "index.html").read_text()
    assert all(name in page for name in NAMES) and "2 of 3 clusters fail" in page
