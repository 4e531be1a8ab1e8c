"""The data plane for real: the configs the roles applied, run as real collectors and Tempo, with real traces.

A kwok cluster ``dataplane-it`` with the real operator; the project's playbooks roll out Tempo, the
gateway (3 replicas), the agent, and a second agent ``agent-plain`` with the plain-otlp opt-out
(tests/integration/dataplane_setup.py, variables there: latency threshold 300 ms, decision wait 2 s).
What the operator rendered (each collector's mounted ConfigMap) and Tempo's ConfigMap then run on
loopback: Tempo through tests/integration/tempo_local.py, 3 gateways on 127.0.0.2-4 and 2 agents
on 127.0.0.5-6 through tfstack.dataplane (only addresses mapped). Three services' OpenTelemetry SDKs
send traces: frontend and orders to agent 0, payments to agent 1 (two nodes), children before
roots, so the spans of one trace cross agents and batches.

    pytest -m dataplane tests/integration/test_dataplane_pipeline.py -s    # -s prints the figures

Figures (keep rates, counts, times) are printed. TRACEFLEET_KEEP=1 keeps work directories and logs.
"""

import json
import os
import re
import secrets
import sys
import time
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))  # pytest runs with --import-mode=importlib

import dataplane_setup as setup  # noqa: E402
import tempo_local  # noqa: E402
from tfstack import cluster  # noqa: E402
from tfstack.dataplane import mapping, processes, traffic  # noqa: E402
from ansible_collections.tracefleet.otel.plugins.module_utils.tempo import (  # noqa: E402
    Expectations, TempoClient, flatten_spans, wait_for_trace)

pytestmark = pytest.mark.dataplane

NAME = "dataplane-it"
ROUTINE, ERRORS, SLOW = 5000, 100, 100
SEARCH_SETTLE_S = 15.0
ENVIRONMENT = setup.GATEWAY_VARS["tracefleet_gateway_environment"]


@pytest.fixture(scope="module")
def applied(tmp_path_factory):
    """The cluster, rolled out; yields {collector name: Applied, "tempo": tempo.yaml text}."""
    setup.require_tools()
    workdir = tmp_path_factory.mktemp("dataplane-rollout")
    # TRACEFLEET_DATAPLANE_REUSE=1: development only, reuse a cluster a previous run rolled out and left up.
    reuse = bool(os.environ.get("TRACEFLEET_DATAPLANE_REUSE")) and cluster.healthy(NAME)
    try:
        started = time.monotonic()
        rollout_s = 0.0
        if not reuse:
            setup.fresh_cluster(NAME)
            rollout_s = setup.rollout(NAME, workdir)
        result = {c: setup.read_collector(NAME, c) for c in ("gateway", "agent", "agent-plain")}
        result["tempo"] = setup.read_tempo(NAME)
        print("\ncluster + operator + rollout: %.1f s (playbooks %.1f s)" % (time.monotonic() - started, rollout_s))
        yield result
    finally:
        if not os.environ.get("TRACEFLEET_DATAPLANE_REUSE"):
            cluster.down(NAME, log=lambda *_: None)


@pytest.fixture(scope="module")
def tempo(applied):
    with tempo_local.running(yaml.safe_load(applied["tempo"])) as server:
        grpc = server.changes[("distributor", "receivers", "otlp", "protocols", "grpc", "endpoint")][1]
        server.otlp_grpc = grpc
        yield server


def search_ids(client, run_id, kind, want=None, settle_s=6.0, timeout=90.0):
    """Trace ids Tempo's search finds for run/kind, once the count is stable (or reaches want)."""
    query = '{ span.%s = "%s" && span.%s = "%s" }' % (traffic.RUN_KEY, run_id, traffic.KIND_KEY, kind)
    started = time.monotonic()
    last, stable_since = None, None
    while True:
        ids = {r["trace_id"] for r in client.search(query, limit=20000)}
        if want is not None and len(ids) >= want:
            return ids
        if last is not None and ids == last and ids:
            if time.monotonic() - stable_since >= settle_s:
                return ids
        else:
            last, stable_since = ids, time.monotonic()
        if time.monotonic() - started > timeout:
            return ids
        time.sleep(1.5)


@pytest.fixture(scope="module")
def balanced_run(applied, tempo):
    """One load through agents with the load_balancing exporter: the traces sent, what Tempo has, metrics."""
    run_id = "lb-" + secrets.token_hex(4)
    gateways, agents = setup.plane_specs(applied, tempo, NAME)
    client = TempoClient(tempo.url)
    with processes.running(gateways, agents) as plane:
        shop = setup.shop_for(plane, run_id, seed=8)
        started = time.monotonic()
        sent = shop.send(traffic.plan(routine=ROUTINE, error=ERRORS, slow=SLOW, seed=8), chunk=250,
                         max_seconds=240, children_first=True)
        shop.shutdown()
        send_s = time.monotonic() - started
        assert len(sent) == ROUTINE + ERRORS + SLOW, "the load stopped at its time limit after %d traces" % len(sent)
        by_kind = {kind: [s.trace_id for s in sent if s.kind == kind] for kind in traffic.KINDS}
        # Tempo's search sees a trace once the ingester cuts it from its live traces (trace_idle_period, 10 s
        # by default), so a count is final only after it has been stable for longer than that.
        found = {kind: search_ids(client, run_id, kind, want=len(by_kind[kind]) if kind != "routine" else None,
                                  settle_s=SEARCH_SETTLE_S)
                 for kind in ("error", "slow", "routine")}
        searched = {kind: len(ids) for kind, ids in found.items()}
        for kind in ("error", "slow"):  # search missed some: the lookup by id is authoritative
            missing = set(by_kind[kind]) - found[kind]
            found[kind] |= set(setup.lookup(client, missing))
        time.sleep(1)
        metrics = {c.name: c.metrics() for c in plane.collectors}
    kept_routine = sorted(found["routine"])
    started = time.monotonic()
    analyses = setup.lookup(client, list(found["error"]) + list(found["slow"]) + kept_routine[:100])
    lookup_s = time.monotonic() - started
    print("\nbalanced run %s: %d traces (%d spans) sent in %.1f s; Tempo has error %d/%d, slow %d/%d, routine %d/%d; "
          "%d traces looked up in %.1f s; search alone found %s" % (run_id, len(sent), 3 * len(sent), send_s, len(found["error"]), ERRORS,
                                             len(found["slow"]), SLOW, len(found["routine"]), ROUTINE, len(analyses), lookup_s, searched))
    return dict(run_id=run_id, tempo_url=tempo.url, sent=sent, by_kind=by_kind, found=found, analyses=analyses, metrics=metrics)


def test_the_collectors_run_what_the_cluster_got_with_only_addresses_mapped(applied, tempo, tmp_path):
    """Byte for byte: the first config file is the ConfigMap; otelcol's own resolved view differs only at mapped paths."""
    gateways, agents = setup.plane_specs(applied, tempo, NAME)
    _, plain_agents = setup.plane_specs(applied, tempo, NAME, agent="agent-plain")
    otelcol = processes.otelcol_binary()
    for spec in (gateways[1], agents[0], plain_agents[1]):
        collector_name = spec["name"].rsplit("-", 1)[0]
        now = setup.read_configmap_key(NAME, setup.NAMESPACE, applied[collector_name].configmap, "collector.yaml")
        collector = processes.prepare(workdir=tmp_path, **spec)
        assert collector.config_paths[0].read_bytes() == now.encode(), "the first config file is the ConfigMap, byte for byte"
        original = processes.print_config(otelcol, collector.config_paths[:1], collector.env)
        effective = processes.print_config(otelcol, collector.config_paths, collector.env)
        paths = list(collector.changes)
        # otelcol prints every resolver kind (unset ones as null): compare the resolver only through the mapped paths
        assert yaml.safe_dump(mapping.without(original, paths)) == yaml.safe_dump(mapping.without(effective, paths)), spec["name"]
        assert effective["service"]["pipelines"] == original["service"]["pipelines"]
        keep = [k for k in original["processors"] if mapping.component_type(k) not in mapping.K8S_ATTRIBUTES_TYPES]
        assert {k: effective["processors"][k] for k in keep} == {k: original["processors"][k] for k in keep}
        # and the mapped paths are addresses (plus the one documented auth_type)
        for path, (old, new) in collector.changes.items():
            assert path[-1] in ("endpoint", "readers", "dns", "k8s", "static", "auth_type", "directory"), path
        rendered = yaml.safe_load(now)
        if collector_name == "gateway":
            policies = [p["name"] for p in rendered["processors"]["tail_sampling"]["policies"]]
            assert policies == ["keep-probes", "keep-errors", "keep-slow", "sample-rest"]
            assert rendered["processors"]["tail_sampling"]["policies"][2]["latency"] == {"threshold_ms": 300}
            assert effective["service"]["pipelines"]["traces"]["processors"] == [
                "memory_limiter", "tail_sampling", "attributes", "redaction", "transform", "batch"]
            assert effective["exporters"]["otlp_grpc/tempo"]["endpoint"] == tempo.otlp_grpc
        elif collector_name == "agent":
            assert effective["exporters"]["load_balancing/gateway"]["resolver"]["static"]["hostnames"] == [
                "127.0.0.2:4317", "127.0.0.3:4317", "127.0.0.4:4317"]
        else:
            assert effective["exporters"]["otlp_grpc/gateway"]["endpoint"] == "127.0.0.3:4317"


def test_every_process_stops_and_its_ports_are_free_again(applied, tempo):
    gateways, agents = setup.plane_specs(applied, tempo, NAME)
    with processes.running(gateways[:1], []) as plane:
        gateway = plane.gateways[0]
        assert not processes.port_free("127.0.0.2", 4317)
        with pytest.raises(processes.DataplaneError, match="127.0.0.2:4317.* already in use"):
            processes.start(processes.prepare(workdir=plane.workdir, **dict(gateways[0], name="second")))
    assert gateway.process.poll() is not None
    assert all(processes.port_free(a, p) for a, p in gateway.listens)
    assert not plane.workdir.exists(), "the work directory of a passing run is removed"


def test_agents_and_gateways_passed_every_span(balanced_run):
    sent_spans = 3 * len(balanced_run["sent"])
    m = balanced_run["metrics"]
    agents_in = sum(v.get("otelcol_receiver_accepted_spans", 0) for k, v in m.items() if k.startswith("agent"))
    gateways_in = sum(v.get("otelcol_receiver_accepted_spans", 0) for k, v in m.items() if k.startswith("gateway"))
    refused = sum(v.get("otelcol_receiver_refused_spans", 0) + v.get("otelcol_exporter_send_failed_spans", 0) for v in m.values())
    print("\nspans sent %d, agents accepted %d, gateways accepted %d, refused/failed %d; per gateway: %s" % (
        sent_spans, agents_in, gateways_in, refused,
        {k: v.get("otelcol_receiver_accepted_spans") for k, v in m.items() if k.startswith("gateway")}))
    assert agents_in == sent_spans == gateways_in
    assert refused == 0
    assert all(v.get("otelcol_receiver_accepted_spans", 0) > 0 for k, v in m.items() if k.startswith("gateway")), \
        "every gateway gets a share of the traces"


def test_every_kept_trace_is_whole_with_one_root_and_no_orphans(balanced_run):
    analyses = balanced_run["analyses"]
    assert len(analyses) >= ERRORS + SLOW
    bad = {tid: a for tid, a in analyses.items() if setup.broken(a)}
    assert not bad, "split or incomplete traces: %s" % list(bad.items())[:3]


def test_keep_rates_errors_and_slow_all_routine_ten_percent(balanced_run):
    found, by_kind = balanced_run["found"], balanced_run["by_kind"]
    rates = {kind: len(found[kind] & set(by_kind[kind])) / len(by_kind[kind]) for kind in traffic.KINDS}
    print("\nkeep rates over %d traces: %s" % (len(balanced_run["sent"]), {k: "%.2f %%" % (100 * v) for k, v in rates.items()}))
    assert not found["routine"] - set(by_kind["routine"]), "search returned traces this run did not send"
    assert rates["error"] == 1.0
    assert rates["slow"] == 1.0
    assert 0.08 <= rates["routine"] <= 0.12


def test_environment_upserted_pii_hashed_and_span_names_templated(balanced_run):
    """What the gateway role's processors promise, read span by span from Tempo."""
    sent = {s.trace_id: s for s in balanced_run["sent"]}
    client = TempoClient(balanced_run["tempo_url"])
    sample = sorted(balanced_run["found"]["error"])[:20] + sorted(balanced_run["found"]["routine"])[:20]
    templated = {"frontend": "GET /shop/orders/{id}", "orders": "POST /orders/{id}/checkout", "payments": "POST /payments/{id}"}
    for tid in sample:
        spans = flatten_spans(client.get_trace(tid))
        assert len(spans) == 3, tid
        for span in spans:
            assert span["attributes"].get("deployment.environment") == ENVIRONMENT, (tid, span["name"])
            assert span["name"] == templated[span["service"]], (span["name"], sent[tid].raw_names[span["service"]])
            assert sent[tid].raw_names[span["service"]] != span["name"]
            values = {str(v) for v in span["attributes"].values()}
            assert not values & set(traffic.PII.values()), "raw PII reached Tempo: %s" % span["attributes"]
            if span["service"] == "payments":
                for key in traffic.PII:  # the key stays, its value is a SHA3-256 hex digest
                    value = span["attributes"].get(key, "")
                    assert len(value) == 64 and set(value) <= set("0123456789abcdef"), (key, value)


def test_plain_otlp_opt_out_splits_traces_across_gateways(applied, tempo):
    """The opt-out: the same traffic through agents with the plain otlp exporter leaves error traces in pieces."""
    run_id = "plain-" + secrets.token_hex(4)
    gateways, agents = setup.plane_specs(applied, tempo, NAME, agent="agent-plain")
    client = TempoClient(tempo.url)
    with processes.running(gateways, agents) as plane:
        shop = setup.shop_for(plane, run_id, seed=9)
        sent = shop.send(traffic.plan(error=100, seed=9), chunk=100, max_seconds=60)
        shop.shutdown()
        found = search_ids(client, run_id, "error", want=len(sent), settle_s=SEARCH_SETTLE_S, timeout=45)
        metrics = {c.name: c.metrics().get("otelcol_receiver_accepted_spans", 0) for c in plane.gateways}
    analyses = setup.lookup(client, [s.trace_id for s in sent])
    split = [tid for tid, a in analyses.items() if setup.broken(a)]
    print("\nplain otlp run %s: %d error traces sent; %d found in Tempo; %d of them split (orphans / missing spans); "
          "gateway spans %s" % (run_id, len(sent), len(analyses), len(split), metrics))
    assert metrics["gateway-2"] == 0 and metrics["gateway-0"] == 2 * len(sent) and metrics["gateway-1"] == len(sent)
    # the error is on the payments span only: its gateway keeps it, the other keeps frontend+orders ~10 % of the time
    assert len(split) >= 0.5 * len(sent), "expected most error traces split; got %d of %d" % (len(split), len(sent))


SHOP_SPANS = 7  # frontend server+client, orders server+2 clients, inventory server, payments server
SHOP_SERVICES = ["frontend", "inventory", "orders", "payments"]


def test_demo_shop_through_the_pipeline_errors_slow_and_a_broken_hop(applied, tempo, run_module, tmp_path):
    """tools/demo/shop: four SDK-traced services and the bounded load driver, through agents -> gateways -> Tempo."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "demo" / "shop"))
    import load
    import shop

    gateways, agents = setup.plane_specs(applied, tempo, NAME)
    client = TempoClient(tempo.url)
    with processes.running(gateways, agents) as plane:
        a0, a1 = plane.agents
        endpoints = {"frontend": a0.otlp_http, "orders": a0.otlp_http, "inventory": a1.otlp_http, "payments": a1.otlp_http}
        with shop.running_shop(endpoints, tmp_path / "shop", slow_seconds=0.5) as urls:
            started = time.monotonic()
            results = load.drive(urls["frontend"], count=60, max_seconds=60, rate=20, error_every=10, slow_every=15,
                                 broken_hop_every=20, seed=3)
            drive_s = time.monotonic() - started
    kinds = {kind: [r for r in results if r["kind"] == kind] for kind in ("error", "slow", "broken_hop", "routine")}
    assert len(results) == 60 and all(kinds.values())
    assert {r["status"] for r in kinds["error"] + kinds["broken_hop"]} == {502}
    assert {r["status"] for r in kinds["slow"] + kinds["routine"]} == {200}
    whole = Expectations(services=SHOP_SERVICES, min_spans=SHOP_SPANS)
    outcomes = {r["trace_id"]: wait_for_trace(client, r["trace_id"], whole, timeout=30)
                for r in kinds["error"] + kinds["slow"]}
    bad = {tid: o.problems for tid, o in outcomes.items() if not o.ok}
    print("\nshop: %d requests in %.1f s (%s); %d error/slow traces whole in Tempo" % (
        len(results), drive_s, {k: len(v) for k, v in kinds.items()}, len(outcomes) - len(bad)))
    assert not bad, bad
    names = {span["name"] for tid in list(outcomes)[:3] for span in flatten_spans(client.get_trace(tid))}
    assert "GET /inventory/{id}" in names and not any(re.search(r"/\d+", n) for n in names), names

    # The broken hop: the real tempo_trace module reports it as broken propagation.
    tid = kinds["broken_hop"][0]["trace_id"]
    failed, result = run_module("tracefleet.otel.tempo_trace", {"url": tempo.url, "trace_id": tid,
                                                                "expect_services": SHOP_SERVICES, "timeout": 30})
    assert failed, result
    assert "broken propagation" in result["msg"] or any("broken propagation" in p for p in result["problems"]), result
    assert [o["service"] for o in result["orphan_spans"]] == ["payments"], result["orphan_spans"]

    # JSON logs carry the trace and span ids Tempo has.
    error_tid = kinds["error"][0]["trace_id"]
    span_ids = {s["span_id"] for s in flatten_spans(client.get_trace(error_tid))}
    logged = {}
    for service in SHOP_SERVICES:
        for line in (tmp_path / "shop" / ("%s.log" % service)).read_text().splitlines():
            doc = json.loads(line)
            if doc["trace_id"] == error_tid:
                logged[service] = doc["span_id"]
    assert sorted(logged) == SHOP_SERVICES and set(logged.values()) <= span_ids, (logged, span_ids)


def test_article_head_sampling_times_tail_matches_the_instrumentation_roles_prediction(applied, tempo):
    """The article's profile: 10 % head sampling in the SDK, then the gateway's tail policies. Errors are kept at
    head x tail = 10 %, not 100 %, as tracefleet.otel.instrumentation's sampling_keep_rates predicts."""
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    from ansible_collections.tracefleet.otel.plugins.module_utils.instrumentation import sampling_keep_rates

    predicted = sampling_keep_rates({"sampling_profile": "article", "head_ratio": 0.1, "tail_sampling_percentage": 10,
                                     "tail_latency_threshold_ms": 300})["effective"]
    run_id = "article-" + secrets.token_hex(4)
    count = 2000
    gateways, agents = setup.plane_specs(applied, tempo, NAME)
    client = TempoClient(tempo.url)
    with processes.running(gateways, agents) as plane:
        a0, a1 = plane.agents
        shop = traffic.Shop({"frontend": a0.otlp_http, "orders": a0.otlp_http, "payments": a1.otlp_http}, run_id,
                            sampler=ParentBased(TraceIdRatioBased(0.1)), seed=10)
        sent = shop.send(traffic.plan(error=count, routine=count, seed=10), chunk=500, max_seconds=120)
        shop.shutdown()
        exported = sum(v for c in plane.agents for k, v in c.metrics().items() if k == "otelcol_receiver_accepted_spans") / 3
        found = {kind: search_ids(client, run_id, kind, settle_s=SEARCH_SETTLE_S) for kind in ("error", "routine")}
    assert len(sent) == 2 * count
    measured = {kind: len(found[kind]) / count for kind in found}
    print("\narticle profile: %d traces started, %d exported by the SDK (head %.1f %%); kept error %.2f %% (predicted %.0f %%), "
          "routine %.2f %% (predicted %.0f %%)" % (len(sent), exported, 100 * exported / len(sent), 100 * measured["error"],
                                                  100 * predicted["errors"], 100 * measured["routine"], 100 * predicted["routine"]))
    assert abs(exported / len(sent) - 0.1) <= 0.02
    assert abs(measured["error"] - predicted["errors"]) <= 0.03
    assert abs(measured["routine"] - predicted["routine"]) <= 0.01
