"""The sampling probe through the real pipeline: unmarked probes that the gateway's own policies must keep.

A kwok cluster ``sampling-probe-it`` with the real operator; the project's playbooks roll out Tempo, the
gateway (3 replicas; tests/integration/dataplane_setup.py: latency threshold 300 ms, decision wait 2 s,
routine 10 %) and the agent. What the operator rendered then runs on loopback through the data-plane
harness (tfstack.dataplane): a real agent (load_balancing by trace ID) -> 3 real gateways with tail
sampling -> a real Tempo (tests/integration/tempo_local.py); the collector specs and the operator start are
the pipeline test's. The real ``tracefleet.otel.tempo_trace`` module (through ``ansible``) sends the probes
to the agent and reads Tempo; the last test runs the real gateway and verify roles (site.yml).

This test's collectors bind 127.0.3.x (the pipeline test uses 127.0.0.2-6), so both can run at once. The
negative case's gateways run the rendered config with one value changed (the latency threshold), which is
what a hand-edited gateway would run; nothing is faked.

    pytest -m dataplane tests/integration/test_sampling_probe.py -s    # -s prints the figures
"""

import json
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pytest runs with --import-mode=importlib

import dataplane_setup as setup  # noqa: E402
import tempo_local  # noqa: E402
from tfstack import cluster  # noqa: E402
from tfstack.dataplane import processes  # noqa: E402
from ansible_collections.tracefleet.otel.plugins.module_utils.otlp_probe import (  # noqa: E402
    SAMPLING_KIND_KEY, SAMPLING_RUN_KEY, probabilistic_keeps)
from ansible_collections.tracefleet.otel.plugins.module_utils.tempo import TempoClient, build_traceql  # noqa: E402

pytestmark = pytest.mark.dataplane

NAME = "sampling-probe-it"
GATEWAY_ADDRESSES = ("127.0.3.2", "127.0.3.3", "127.0.3.4")
AGENT_ADDRESSES = ("127.0.3.5", "127.0.3.6")
ROUTINE_COUNT = 2000
# A service objective, so the gateway role derives a service-scoped latency policy the report must show.
ROLLOUT_VARS = dict(setup.GATEWAY_VARS, tracefleet_gateway_service_objectives=[{"service": "checkout", "latency_ms": 200}])
TOLERANCE = 2.5  # points; at 10 % over 2000 probes one standard deviation is 0.67 points, so this is 3.7 sigma


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    """The cluster rolled out (Tempo, gateway, agent); yields the rendered configs and the gateway's sampling figures."""
    setup.require_tools()
    workdir = tmp_path_factory.mktemp("sampling-probe-rollout")
    vars_file = workdir / "vars.yml"
    vars_file.write_text(yaml.safe_dump(ROLLOUT_VARS))
    log = workdir / "rollout.log"
    try:
        started = time.monotonic()
        setup.fresh_cluster(NAME)
        setup._playbook(NAME, ["playbooks/demo_workloads.yml"], vars_file, log)
        setup._playbook(NAME, ["playbooks/site.yml", "--tags", "tempo,gateway,agent"], vars_file, log)
        result = {c: setup.read_collector(NAME, c) for c in ("gateway", "agent")}
        result["tempo"] = setup.read_tempo(NAME)
        result["workdir"] = workdir
        # What the gateway runs, read from the rendered config (not from the test's variables).
        policies = yaml.safe_load(result["gateway"].text)["processors"]["tail_sampling"]["policies"]
        result["threshold_ms"] = next(p["latency"]["threshold_ms"] for p in policies if p["type"] == "latency")
        result["percentage"] = next(p["probabilistic"]["sampling_percentage"] for p in policies if p["type"] == "probabilistic")
        print("\ncluster + operator + rollout: %.1f s; gateway latency threshold %s ms, routine %s %%"
              % (time.monotonic() - started, result["threshold_ms"], result["percentage"]))
        yield result
    finally:
        cluster.down(NAME, log=lambda *_: None)


@pytest.fixture(scope="module")
def tempo(applied):
    with tempo_local.running(yaml.safe_load(applied["tempo"])) as server:
        server.otlp_grpc = server.changes[("distributor", "receivers", "otlp", "protocols", "grpc", "endpoint")][1]
        yield server


def with_threshold(config_text, threshold_ms):
    """The gateway's rendered config with its global latency threshold changed (the negative case's gateway)."""
    config = yaml.safe_load(config_text)
    for policy in config["processors"]["tail_sampling"]["policies"]:
        if policy["type"] == "latency":
            policy["latency"]["threshold_ms"] = threshold_ms
    return yaml.safe_dump(config, sort_keys=False)


def plane(applied, tempo, gateway_text=None):
    """3 gateways and 1 agent running what the cluster got (the pipeline test's specs: only addresses mapped),
    moved to 127.0.3.x; ``gateway_text`` replaces the gateways' config (the negative case)."""
    gateways, agents = setup.plane_specs(applied, tempo, NAME)
    moved = dict(zip(processes.GATEWAY_ADDRESSES + processes.AGENT_ADDRESSES, GATEWAY_ADDRESSES + AGENT_ADDRESSES))

    def move(endpoint):
        host, _, port = endpoint.rpartition(":")
        return "%s:%s" % (moved[host], port)

    for spec in gateways + agents:
        spec["address"] = moved[spec["address"]]
        if spec.get("gateways"):
            spec["gateways"] = [move(e) for e in spec["gateways"]]
            spec["services"] = dict((k, move(v)) for k, v in spec["services"].items())
        elif gateway_text:
            spec["config_text"] = gateway_text
    return processes.running(gateways, agents[:1])


def probe_args(applied, tempo, agent, **extra):
    args = {"url": tempo.url, "sampling_probe": True, "probe_endpoint": agent.otlp_http,
            "sampling_latency_threshold_ms": applied["threshold_ms"], "timeout": 60, "interval": 0.5}
    args.update(extra)
    return args


def test_error_and_slow_probes_arrive_whole_without_the_marker(applied, tempo, run_module):
    """The production default: one error probe and one slow probe, no routine ones, no always-keep marker."""
    with plane(applied, tempo) as p:
        started = time.monotonic()
        failed, result = run_module("tracefleet.otel.tempo_trace", probe_args(applied, tempo, p.agents[0]))
        took = time.monotonic() - started
        accepted = p.agents[0].metrics().get("otelcol_receiver_accepted_spans", 0)
    print("\nproduction sampling probe: %.1f s; %s" % (took, result.get("msg")))
    assert not failed, result.get("msg")
    probes = result["sampling"]["probes"]
    assert result["sampling"]["routine"] is None
    assert accepted == 8, "the agent got exactly the two probes (4 spans each), nothing else"
    for kind in ("error", "slow"):
        r = probes[kind]
        assert r["confirmed"] and r["span_count"] == 4 and r["root_count"] == 1 and r["orphan_spans"] == [], r
        assert r["services"] == ["tracefleet-probe-backend", "tracefleet-probe-frontend"]
        assert "tracefleet.probe" not in r["attributes_seen"], "the probe must not carry the always-keep marker"
        assert r["attributes_seen"]["tracefleet.sampling_probe.kind"] == [kind]
        assert r["attributes_seen"]["deployment.environment"] == [setup.GATEWAY_VARS["tracefleet_gateway_environment"]]
    assert probes["error"]["error_spans"] == 2
    assert probes["slow"]["duration_ms"] == pytest.approx(1.5 * applied["threshold_ms"], abs=1)


def test_routine_probes_kept_near_the_configured_percentage(applied, tempo, run_module):
    """The statistical check: 2000 routine probes, kept within 2.5 points of the gateway's percentage."""
    with plane(applied, tempo) as p:
        started = time.monotonic()
        failed, result = run_module("tracefleet.otel.tempo_trace", probe_args(
            applied, tempo, p.agents[0], routine_count=ROUTINE_COUNT, routine_percentage=applied["percentage"],
            routine_tolerance=TOLERANCE, timeout=120), timeout=200)
        took = time.monotonic() - started
        metrics = {c.name: c.metrics() for c in p.collectors}
    routine = result["sampling"]["routine"]
    # The count was final: searched again after Tempo's trace_idle_period (10 s) more, nothing new shows up.
    time.sleep(12)
    query = build_traceql(None, {SAMPLING_RUN_KEY: result["sampling"]["run_id"], SAMPLING_KIND_KEY: "routine"})
    hits = TempoClient(tempo.url).search(query, limit=ROUTINE_COUNT + 10)
    later = len(hits)
    print("\nstatistical sampling probe: %.1f s (sending %.1f s, %d searches); %s" % (
        took, result["sampling"]["sent_s"], routine["searches"], result.get("msg")))
    assert not failed, result.get("msg")
    assert routine["sent"] == ROUTINE_COUNT and routine["complete"] and routine["within"]
    assert later == routine["kept"], "searched 12 s later, Tempo has %d routine probes of this run, the module counted %d" % (
        later, routine["kept"])
    assert abs(routine["percentage"] - applied["percentage"]) <= TOLERANCE
    # The module's copy of the probabilistic policy's hash agrees with the real gateways on every kept trace
    # (the error and slow probes rely on it to pick ids that only their own policy can keep).
    wrongly_kept = [h["trace_id"] for h in hits if not probabilistic_keeps(h["trace_id"], applied["percentage"])]
    assert wrongly_kept == [], "kept by the gateway although the probabilistic hash says drop: %s" % wrongly_kept[:5]
    gateways_in = sum(m.get("otelcol_receiver_accepted_spans", 0) for k, m in metrics.items() if k.startswith("gateway"))
    assert gateways_in == 4 * (ROUTINE_COUNT + 2), "every probe span reached a gateway (the denominator is real)"
    assert all(m.get("otelcol_receiver_accepted_spans", 0) > 0 for k, m in metrics.items() if k.startswith("gateway"))


def test_slow_probe_reported_missing_when_the_gateway_threshold_is_above_it(applied, tempo, run_module):
    """The negative case: the gateways run the rendered config with the latency threshold raised to 5000 ms
    (as a hand-edited gateway would); the probe still expects the 300 ms the inventory says, so its 450 ms
    slow probe is dropped by the gateway and the module fails naming it. (The slow probe's trace id is one
    the 10 % routine policy drops too: before that, this test failed one run in ten.)"""
    drifted = with_threshold(applied["gateway"].text, 5000)
    assert drifted != applied["gateway"].text
    with plane(applied, tempo, gateway_text=drifted) as p:
        failed, result = run_module("tracefleet.otel.tempo_trace", probe_args(applied, tempo, p.agents[0], timeout=15))
    print("\nnegative case: %s" % result.get("msg"))
    assert failed
    probes = result["sampling"]["probes"]
    assert probes["error"]["confirmed"], "the error policy still keeps the error probe"
    assert not probes["slow"]["found"]
    assert "slow probe (450 ms, threshold 300 ms)" in result["msg"]
    assert "missing from Tempo after 15.0 s: the gateway's latency policy did not keep it: is the live threshold above 450 ms" in result["msg"]


def test_verify_role_reports_the_sampling_probe_and_the_derivation(applied, tempo):
    """site.yml --tags gateway,verify with the probe endpoint at the running agent: the gateway role prints its
    plan, the verify role's sampling_probe check passes on that plan's threshold, and the report (JSON and
    Markdown) and the run output show the derivation, including the objective's service-scoped policy."""
    reports = applied["workdir"] / "reports"
    with plane(applied, tempo) as p:
        vars_file = applied["workdir"] / "verify-vars.yml"
        vars_file.write_text(yaml.safe_dump(dict(
            ROLLOUT_VARS, tracefleet_verify_probe_endpoint=p.agents[0].otlp_http, tracefleet_verify_tempo_url=tempo.url,
            tracefleet_verify_fail_on=[], tracefleet_verify_report_dir=str(reports))))
        log = applied["workdir"] / "verify.log"
        seconds = setup._playbook(NAME, ["playbooks/site.yml", "--tags", "gateway,verify"], vars_file, log)
    output = log.read_text()
    report = json.loads((reports / "local.json").read_text())
    markdown = (reports / "local.md").read_text()
    checks = dict((c["id"], c) for c in report["checks"])
    print("\nsite.yml --tags gateway,verify: %.1f s; sampling_probe %s: %s" % (
        seconds, checks["sampling_probe"]["status"], checks["sampling_probe"]["summary"]))
    probe = checks["sampling_probe"]
    assert probe["status"] == "pass", probe
    assert probe["evidence"][0] == ("latency threshold 300 ms, routine percentage 10 %, from the gateway role's plan "
                                    "(fact tracefleet_gateway_sampling)")
    assert probe["summary"] == "error and slow probes (no marker) kept whole at a 300 ms threshold"
    derivation = [e for e in checks["tail_sampling_policies"]["evidence"] if e.startswith("derivation")]
    wanted = ["routine traces: 10% (default (no tracefleet_gateway_volume_budget))",
              "slow traces: longer than 300 ms (global, tracefleet_gateway_latency_threshold_ms)",
              "slow checkout traces: longer than 200 ms (the latency objective)"]
    assert ["derivation (gateway role, tracefleet_gateway_sampling): " + w for w in wanted] == derivation[:3], derivation
    assert checks["tail_sampling_policies"]["status"] == "pass", "the live policies are the plan's"
    details = markdown.split("## Details of passing checks", 1)[1]
    assert all(w in details for w in wanted) and "`sampling_probe`" in details
    # The run output: the gateway role's plan, and the verify role's printed report with the derivation.
    assert output.count("slow checkout traces: longer than 200 ms (the latency objective)") >= 2, output[-3000:]

