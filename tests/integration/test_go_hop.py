"""The article's Go propagation path, for real: Python service -> Go service -> HTTP and gRPC downstreams.

The demo shop (tools/demo/shop/shop.py) with its Go hop: frontend -> orders -> shipping (Go, built by
tfstack.goservice from tools/demo/goservice) -> inventory over HTTP (a plain http.Client that injects the
W3C context by hand, the article's callDownstream) and -> rates (Go) over gRPC (otelgrpc stats handlers,
the article's newGRPCServer). Every process exports OTLP/HTTP to a real Tempo on 127.0.0.1
(tfstack.tempo); traces are checked with the real tracefleet.otel.tempo_trace module run by `ansible`.

With ``-skip-inject-to inventory`` (HTTP) or ``rates`` (gRPC) shipping's client for that service sends
no context: tempo_trace must name exactly that hop (shipping -> callee) as broken propagation, the
callee's span must be the root of a new trace, and the verify role's recent-traces check must name the pair.

    pytest -m dataplane tests/integration/test_go_hop.py -s     # -s prints the build and run times

TRACEFLEET_RECORD_GO_HOP=tests/unit/plugins/fixtures/tempo re-records the two traces the unit tests read
(go_hop_whole.json, go_hop_skip_inventory.json: Tempo's /api/v2/traces answers, as received).
"""

import json
import os
import secrets
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tfstack import goservice
from tfstack.tempo import running_tempo
from ansible_collections.tracefleet.otel.plugins.module_utils import verify_checks
from ansible_collections.tracefleet.otel.plugins.module_utils.tempo import TempoClient, flatten_spans

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "demo" / "shop"))
import shop  # noqa: E402

pytestmark = pytest.mark.dataplane

MODULE = "tracefleet.otel.tempo_trace"
SERVICES = sorted(shop.SERVICES + shop.GO_SERVICES)
# frontend 2, orders 4 (server + inventory, payments, shipping), inventory 2 (from orders and from
# shipping), payments 1, shipping 3 (server + HTTP + gRPC client), rates 2 (server + "compute rate").
WHOLE_SPANS = 14


@pytest.fixture(scope="module")
def go_binary():
    started = time.monotonic()
    path = goservice.ensure(log=print)
    print("goservice binary %s ready in %.1f s" % (path, time.monotonic() - started))
    return path


def shop_request(tempo, go_binary, workdir, skip=None):
    """One order through the shop with the Go hop (shipping's client for `skip` sends no context).

    Returns (trace id, order id). The services stop (and flush their spans) before this returns."""
    order = str(100000 + secrets.randbelow(800000))
    endpoints = {s: tempo.otlp_http for s in SERVICES}
    with shop.running_shop(endpoints, workdir, go_binary=go_binary, go_skip_inject_to=skip) as urls:
        with urllib.request.urlopen(urls["frontend"] + "/shop/orders/" + order, timeout=30) as resp:  # loopback
            body = json.load(resp)
    assert body["status"] == 200, body
    return body["trace_id"], order


def record(tempo, trace_id, name):
    """Keep Tempo's answer for the unit tests when TRACEFLEET_RECORD_GO_HOP names a directory."""
    where = os.environ.get("TRACEFLEET_RECORD_GO_HOP")
    if where:
        with urllib.request.urlopen("%s/api/v2/traces/%s" % (tempo.url, trace_id), timeout=10) as resp:  # loopback
            Path(where, name).write_text(json.dumps(json.load(resp), indent=1, sort_keys=True) + "\n")


def searchable(tempo, query, trace_id, timeout=60.0):
    """Wait until Tempo's search finds trace_id (its search of recent data lags the lookup by id)."""
    client, deadline = TempoClient(tempo.url), time.monotonic() + timeout
    while trace_id not in [hit["trace_id"] for hit in client.search(query, limit=50)]:
        assert time.monotonic() < deadline, "search %s did not find %s in %.0f s" % (query, trace_id, timeout)
        time.sleep(0.5)


def lookup(run_module, tempo, trace_id, **extra):
    args = dict(url=tempo.url, trace_id=trace_id, expect_services=SERVICES, min_spans=WHOLE_SPANS,
                timeout=20, interval=0.5)
    args.update(extra)
    return run_module(MODULE, args)


def test_trace_through_the_go_hop_arrives_whole(tempo, go_binary, run_module, tmp_path):
    started = time.monotonic()
    trace_id, order = shop_request(tempo, go_binary, tmp_path / "shop")
    failed, r = lookup(run_module, tempo, trace_id)
    print("whole trace %s: %s (%.1f s)" % (trace_id, r["msg"], time.monotonic() - started))
    assert not failed, r["msg"]
    assert r["services"] == SERVICES and r["span_count"] == WHOLE_SPANS
    assert r["root_count"] == 1 and r["orphan_spans"] == [] and r["broken_hops"] == [] and r["problems"] == []
    record(tempo, trace_id, "go_hop_whole.json")

    # Each hop of the Go service hangs under the span that called it.
    spans = flatten_spans(TempoClient(tempo.url).get_trace(trace_id))
    by_id = {s["span_id"]: s for s in spans}

    def parent(span):
        return by_id[span["parent_span_id"]]

    shipping = next(s for s in spans if s["service"] == "shipping" and s["kind"] == "SPAN_KIND_SERVER")
    assert (parent(shipping)["service"], parent(shipping)["kind"]) == ("orders", "SPAN_KIND_CLIENT")
    go_inventory = next(s for s in spans if s["service"] == "inventory" and s["attributes"]["url.path"] == "/inventory/" + order)
    assert parent(go_inventory)["service"] == "shipping" and parent(go_inventory)["name"] == "GET /inventory/{sku}"
    assert parent(parent(go_inventory))["span_id"] == shipping["span_id"]
    rates = next(s for s in spans if s["service"] == "rates" and s["kind"] == "SPAN_KIND_SERVER")
    grpc_client = parent(rates)
    assert grpc_client["service"] == "shipping" and grpc_client["kind"] == "SPAN_KIND_CLIENT"
    assert grpc_client["attributes"]["rpc.method"] == "tracefleet.demo.Rates/Quote"
    assert parent(grpc_client)["span_id"] == shipping["span_id"]


@pytest.mark.parametrize("callee", ["inventory", "rates"])
def test_skipped_injection_is_reported_as_that_broken_hop(tempo, go_binary, run_module, tmp_path, callee):
    started = time.monotonic()
    trace_id, order = shop_request(tempo, go_binary, tmp_path / "shop", skip=callee)
    failed, r = lookup(run_module, tempo, trace_id, timeout=5)
    print("skip-inject-to %s, trace %s: %s (%.1f s)" % (callee, trace_id, r["msg"], time.monotonic() - started))
    assert failed
    assert [(h["from"], h["to"], h["callee_attribute"]) for h in r["broken_hops"]] == [("shipping", callee, "peer.service")]
    assert "shipping -> %s" % callee in r["msg"]
    assert r["orphan_spans"] == [] and r["root_count"] == 1  # nothing else looks wrong: only the hop
    if callee == "inventory":
        record(tempo, trace_id, "go_hop_skip_inventory.json")
    if callee == "rates":  # rates has no other caller: the whole service is gone from the trace
        assert r["problems"][0].startswith("service 'rates' missing")

    # Not a lost span: the callee's span is the root of a trace of its own.
    query = ('{ resource.service.name = "inventory" && span.url.path = "/inventory/%s" }' % order if callee == "inventory"
             else '{ resource.service.name = "rates" && span.shop.order_id = "%s" }' % order)
    failed, found = run_module(MODULE, dict(url=tempo.url, query=query, expect_services=[callee], search_window=600,
                                            timeout=40, interval=0.5))  # returns once found
    assert not failed, found["msg"]
    assert found["trace_id"] != trace_id and found["services"] == [callee] and found["root_count"] == 1


def test_verify_recent_traces_names_the_broken_hop(go_binary, run_module, tmp_path):
    """The verify role's recent-traces step (a tempo_trace search per listed service) and check, on a Tempo
    that holds only a trace whose shipping -> inventory call skipped injection."""
    with running_tempo(log=print) as own_tempo:
        trace_id, _ = shop_request(own_tempo, go_binary, tmp_path / "shop", skip="inventory")
        searchable(own_tempo, '{ resource.service.name = "shipping" }', trace_id)
        # As roles/verify/tasks/present.yml calls it for tracefleet_verify_recent_services: [shipping].
        failed, res = run_module(MODULE, dict(url=own_tempo.url, service="shipping", search_window=600, timeout=3,
                                              interval=0.5))
        res["item"], res["failed"] = "shipping", failed
        check = verify_checks.check_recent_traces({"recent": {"results": [verify_checks.search_item(res)]}})
    print("recent_traces: %s: %s\n  %s" % (check["status"], check["summary"], "\n  ".join(check["evidence"])))
    assert failed and check["status"] == "fail"
    assert any("broken hop shipping -> inventory" in line for line in check["evidence"]), check["evidence"]
