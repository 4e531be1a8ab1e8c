"""playbooks/rollback.yml against one kwok cluster with the real operator and real Helm.

State A is the local inventory's rollout (demo_workloads.yml + site.yml, verify included). A rollback then
has no previous state: it must fail with a clear message and change nothing. State B is site.yml again (first with a verify made to fail, which must record nothing) with
5 gateway replicas, a 5000 ms slow-trace threshold, the `article` sampling profile (Instrumentation sampler
`parentbased_traceidratio`, argument "0.25") and one more operator chart value (a Helm upgrade). A check-mode
rollback must leave B as it is. The rollback must bring back A: every collector's and Instrumentation's live
spec equal to A's field by field (webhook defaults included), the Helm release at A's chart and values, the
gateway Deployment back at 3 Ready replicas; the history must read A, B, then the rollback entry pointing
at A; and the verify that rollback.yml runs must pass.
"""

import json
import subprocess

import pytest

from tfstack import build, cluster
from tfstack.fleet import kwok_clusters, recaps, run_playbook, write_inventory
from tfstack.paths import state_root

NAME = "rollback-it-1"
RELEASE, RELEASE_NS = "opentelemetry-operator", "opentelemetry-operator-system"
HISTORY = ("configmap", "tracefleet-rollout-history", "-n", RELEASE_NS)
STATE_B = {
    "tracefleet_gateway_replicas": 5,
    "tracefleet_gateway_latency_threshold_ms": 5000,
    "tracefleet_instrumentation_sampling_profile": "article",
    "tracefleet_instrumentation_head_ratio": 0.25,
    "tracefleet_operator_extra_values": {"revisionHistoryLimit": 5},
}


def _get(*args):
    proc = cluster.kubectl(NAME, "get", *args, "-o", "json", check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def _helm(*args):
    proc = subprocess.run([str(build.by_binary("helm").path), *args, "-n", RELEASE_NS,
                           f"--kubeconfig={cluster.kubeconfig_path(NAME)}", "-o", "json"],
                          capture_output=True, text=True, timeout=60, check=True)
    return json.loads(proc.stdout)


def _snapshot():
    """What the roles set, read back from the cluster: each collector's and Instrumentation's whole live spec,
    the release's chart and user-supplied values, the gateway Deployment's replicas, and the history."""
    specs = {}
    for kind in ("opentelemetrycollectors", "instrumentations"):
        for obj in _get(kind, "-A")["items"]:
            specs[f"{obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']}"] = obj["spec"]
    release = _helm("history", RELEASE)[-1]
    deployment = _get("deployment", "gateway-collector", "-n", "observability")
    history = _get(*HISTORY)
    entries = sorted((json.loads(v) for v in ((history or {}).get("data") or {}).values()), key=lambda e: e["id"])
    return {"specs": specs, "chart": release["chart"], "revision": release["revision"],
            "values": _helm("get", "values", RELEASE), "gateway_replicas": deployment["spec"]["replicas"],
            "gateway_ready": deployment["status"].get("readyReplicas"), "history": entries}


def _policy(snapshot, name):
    policies = snapshot["specs"]["OpenTelemetryCollector observability/gateway"]["config"]["processors"]["tail_sampling"]["policies"]
    return next(p for p in policies if p["name"] == name)


def _ok(run):
    assert run.proc.returncode == 0, run.proc.stdout[-6000:] + run.proc.stderr[-2000:]
    assert recaps(run.proc.stdout)[NAME]["failed"] == 0


@pytest.fixture(scope="module")
def rolled(tmp_path_factory):
    """Every step once (one cluster, the slow part): the runs and the snapshots between them."""
    work = tmp_path_factory.mktemp("rollback")
    out = {}
    with kwok_clusters([NAME], nodes=1, parallel=1):
        inventory = write_inventory([NAME], work)
        one_wave = ("-e", '{"tracefleet_rollout_waves": ["100%"]}')
        out["site_a"] = run_playbook(inventory, "demo_workloads.yml", "site.yml", forks=1, check=False, extra=one_wave)
        _ok(out["site_a"])
        out["a"] = _snapshot()
        out["no_previous"] = run_playbook(inventory, "rollback.yml", forks=1, check=False)
        out["after_no_previous"] = _snapshot()
        # B with a verify that fails (its warnings count as failures; kwok has no probe endpoint): nothing recorded.
        out["site_b_unverified"] = run_playbook(
            inventory, "site.yml", forks=1, check=False,
            extra=(*one_wave, "--skip-tags", "preflight", "-e", json.dumps(dict(STATE_B, tracefleet_verify_fail_on=["fail", "warn"]))))
        out["after_unverified"] = _snapshot()
        out["site_b"] = run_playbook(inventory, "site.yml", forks=1, check=False,
                                     extra=(*one_wave, "--skip-tags", "preflight", "-e", json.dumps(STATE_B)))
        _ok(out["site_b"])
        out["b"] = _snapshot()
        out["check"] = run_playbook(inventory, "rollback.yml", forks=1, check=False, extra=("--check", "--diff"))
        out["after_check"] = _snapshot()
        out["rollback"] = run_playbook(inventory, "rollback.yml", forks=1, check=False)
        out["back"] = _snapshot()
        # Only site.yml's last step (tag history): recording the state the rollback reached adds nothing.
        out["site_again"] = run_playbook(inventory, "site.yml", forks=1, check=False, extra=(*one_wave, "--tags", "history"))
        out["after_again"] = _snapshot()
        print("\n" + ", ".join("%s %.0f s" % (k, v.seconds) for k, v in out.items() if hasattr(v, "seconds")))
        yield out


def test_state_b_differs_from_a_where_the_inventory_changed(rolled):
    a, b = rolled["a"], rolled["b"]
    assert (a["gateway_replicas"], b["gateway_replicas"]) == (3, 5)
    assert (_policy(a, "keep-slow")["latency"]["threshold_ms"], _policy(b, "keep-slow")["latency"]["threshold_ms"]) == (2000, 5000)
    sampler = lambda s: s["specs"]["Instrumentation shop/tracefleet"]["sampler"]  # noqa: E731
    assert sampler(a)["type"] == "parentbased_always_on" and "argument" not in sampler(a), sampler(a)
    assert sampler(b) == {"type": "parentbased_traceidratio", "argument": "0.25"}
    assert b["values"]["revisionHistoryLimit"] == 5 and "revisionHistoryLimit" not in a["values"]
    assert (a["revision"], b["revision"]) == (1, 2)
    assert [(e["id"], e["reason"]) for e in b["history"]] == [(1, "rollout"), (2, "rollout")]
    assert b["history"][0]["operator"]["revision"] == 1 and b["history"][1]["operator"]["revision"] == 2


def test_rollback_without_a_previous_entry_fails_clearly_and_changes_nothing(rolled):
    run = rolled["no_previous"]
    assert run.proc.returncode != 0
    assert "Cannot roll back rollback-it-1: no previous recorded rollout in ConfigMap " \
           "opentelemetry-operator-system/tracefleet-rollout-history: it holds 1 entry (#1 rollout" in run.proc.stdout
    assert rolled["after_no_previous"] == rolled["a"]


def test_a_rollout_whose_verify_fails_records_nothing(rolled):
    run, after = rolled["site_b_unverified"], rolled["after_unverified"]
    assert run.proc.returncode != 0 and recaps(run.proc.stdout)[NAME]["failed"] == 1
    assert f"{NAME}: " in run.proc.stdout and "check(s) with status fail or warn" in run.proc.stdout  # verify's gate
    assert "TASK [tracefleet.otel.history" not in run.proc.stdout
    assert after["gateway_replicas"] == 5  # B was applied ...
    assert after["history"] == rolled["a"]["history"]  # ... but not recorded


def test_check_mode_rollback_changes_nothing_and_shows_the_plan(rolled):
    _ok(rolled["check"])
    out = rolled["check"].proc.stdout
    assert "Would run: helm rollback opentelemetry-operator 1" in out
    assert "Apply again: Instrumentation shop/tracefleet, OpenTelemetryCollector observability/gateway" in out
    assert rolled["after_check"] == rolled["b"]


def test_rollback_returns_every_object_to_state_a_field_by_field(rolled):
    _ok(rolled["rollback"])
    a, back = rolled["a"], rolled["back"]
    assert back["specs"] == a["specs"]
    assert (back["chart"], back["values"]) == (a["chart"], a["values"])
    assert back["revision"] == 3  # helm rollback makes a new revision from revision 1
    assert back["gateway_replicas"] == back["gateway_ready"] == 3


def test_history_reads_a_b_then_the_rollback_to_a(rolled):
    entries = rolled["back"]["history"]
    assert [(e["id"], e["reason"], e.get("rolled_back_to")) for e in entries] == [
        (1, "rollout", None), (2, "rollout", None), (3, "rollback", 1)]
    assert entries[2]["digest"] == entries[0]["digest"] != entries[1]["digest"]
    assert entries[2]["operator"]["revision"] == 3
    assert {o["key"] for o in entries[0]["objects"]} == {
        "OpenTelemetryCollector observability/gateway", "OpenTelemetryCollector observability/agent",
        "Instrumentation shop/tracefleet"}


def test_rollback_runs_verify_and_it_passes(rolled):
    out = rolled["rollback"].proc.stdout
    assert "TASK [tracefleet.otel.verify" in out
    report = json.loads((state_root() / "verify-reports" / f"{NAME}.json").read_text())
    assert report["status"] != "fail", report


def test_a_rollout_of_the_state_reached_records_nothing_new(rolled):
    run = rolled["site_again"]
    _ok(run)
    assert recaps(run.proc.stdout)[NAME]["changed"] == 0
    assert rolled["after_again"]["history"] == rolled["back"]["history"]
    assert "nothing to record" in run.proc.stdout
