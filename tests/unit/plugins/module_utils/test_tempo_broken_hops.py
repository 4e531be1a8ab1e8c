"""Broken propagation as a hop: a CLIENT span answered by a traced service that joined no span to the trace.

Two traces recorded from the real Tempo by tests/integration/test_go_hop.py (TRACEFLEET_RECORD_GO_HOP):
the demo shop with its Go hop whole (frontend -> orders -> shipping (Go) -> inventory over HTTP and rates
over gRPC), and the same request with shipping's HTTP client skipping the W3C injection
(``-skip-inject-to inventory``). Small hand-made spans cover the naming and exclusion rules.
"""

import io
import json
from pathlib import Path

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.tracefleet.otel.plugins.module_utils import tempo, verify_checks
from ansible_collections.tracefleet.otel.plugins.modules import tempo_trace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tempo"
GO_SERVICES = ["frontend", "inventory", "orders", "payments", "rates", "shipping"]


def doc(name):
    return json.loads((FIXTURES / name).read_text())


def trace_id_of(document):
    return tempo.flatten_spans(document)[0]["trace_id"]


def span(span_id, parent="", kind="SPAN_KIND_CLIENT", service="caller", **attributes):
    return {"spanId": span_id.zfill(16), "parentSpanId": parent.zfill(16) if parent else "", "kind": kind,
            "name": "call %s" % span_id,
            "traceId": "0af7651916cd43dd8448eb211c80319c",
            "attributes": [{"key": k, "value": {"intValue": v} if isinstance(v, int) else {"stringValue": v}}
                           for k, v in attributes.items()], "_service": service}


def trace(*spans):
    """A v2 trace document from hand-made spans (one resource per service)."""
    by_service = {}
    for s in spans:
        by_service.setdefault(s.pop("_service"), []).append(s)
    return {"trace": {"resourceSpans": [
        {"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": name}}]},
         "scopeSpans": [{"spans": items}]} for name, items in by_service.items()]}}


# --------------------------------------------------------------------------- recorded from the real Tempo

def test_whole_go_hop_trace_has_no_broken_hop():
    analysis = tempo.analyze_trace(doc("go_hop_whole.json"))
    assert analysis["services"] == GO_SERVICES and analysis["root_count"] == 1
    assert analysis["orphan_spans"] == [] and analysis["broken_hops"] == [] and analysis["leaf_calls"] == []
    assert tempo.Expectations(services=GO_SERVICES, min_spans=14).problems(analysis) == []


def test_skipped_injection_is_one_broken_hop_naming_the_pair():
    analysis = tempo.analyze_trace(doc("go_hop_skip_inventory.json"))
    client = next(s for s in tempo.flatten_spans(doc("go_hop_skip_inventory.json"))
                  if s["service"] == "shipping" and s["attributes"].get("peer.service") == "inventory")
    # No orphan and one root: without the hop analysis this trace would look healthy.
    assert analysis["orphan_spans"] == [] and analysis["root_count"] == 1
    assert analysis["broken_hops"] == [{"from": "shipping", "to": "inventory", "span": "GET /inventory/{sku}",
                                        "span_id": client["span_id"], "callee_attribute": "peer.service"}]
    problems = tempo.Expectations(services=GO_SERVICES).problems(analysis)
    assert problems == ["broken propagation: 1 call answered by a traced service that joined no span to this trace "
                        "(allowed 0): shipping -> inventory (client span 'GET /inventory/{sku}' %s, callee from "
                        "peer.service)" % client["span_id"]]


def test_max_broken_hops_follows_max_orphans_unless_given():
    analysis = tempo.analyze_trace(doc("go_hop_skip_inventory.json"))
    assert tempo.Expectations(max_orphans=None).problems(analysis) == []
    assert tempo.Expectations(max_broken_hops=1).problems(analysis) == []
    assert len(tempo.Expectations(max_orphans=None, max_broken_hops=0).problems(analysis)) == 1
    assert len(tempo.Expectations(max_orphans=5, max_broken_hops=0).problems(analysis)) == 1


# --------------------------------------------------------------------------- the rules, on hand-made spans

def test_callee_named_by_peer_service_before_addresses():
    spans = tempo.flatten_spans(trace(span("01", kind="SPAN_KIND_SERVER"),
                                      span("02", "01", **{"peer.service": "rates", "server.address": "127.0.0.1"})))
    assert tempo.callee_of(spans[1]) == ("rates", "peer.service")


@pytest.mark.parametrize("attributes, expected", [
    ({"server.address": "127.0.0.1", "url.full": "http://inventory.shop.svc:8080/inventory/1"},
     ("inventory.shop.svc", "url.full")),
    ({"server.address": "payments"}, ("payments", "server.address")),
    ({"net.peer.name": "localhost", "http.url": "http://[::1]:80/x"}, (None, None)),
    ({"server.address": "10.0.0.7"}, (None, None)),
    ({"server.address": "fe80::1", "url.full": "http://[::1]/x"}, (None, None)),
    ({"server.address": "cafe"}, ("cafe", "server.address")),  # hex letters, still a name
])
def test_an_address_names_no_service(attributes, expected):
    spans = tempo.flatten_spans(trace(span("02", "01", **attributes)))
    assert tempo.callee_of(spans[0]) == expected


def test_only_answered_calls_to_traced_services_are_hops():
    document = trace(
        span("01", kind="SPAN_KIND_SERVER", service="orders"),
        span("02", "01", service="orders", **{"peer.service": "payments", "http.response.status_code": 200}),
        span("03", "01", service="orders", **{"peer.service": "stripe", "http.response.status_code": 200}),  # external
        span("04", "01", service="orders", **{"peer.service": "payments"}),  # no answer recorded (still in flight?)
        span("05", "01", service="orders", **{"peer.service": "payments", "db.system": "postgresql",
                                               "http.response.status_code": 200}),
        span("06", "01", service="orders", **{"peer.service": "payments", "rpc.grpc.status_code": 0}),
        span("07", "06", kind="SPAN_KIND_SERVER", service="payments"),
        span("08", "01", service="orders", **{"peer.service": "shipping", "rpc.response.status_code": "OK"}))
    analysis = tempo.analyze_trace(document)
    assert [(h["from"], h["to"], h["span_id"]) for h in analysis["broken_hops"]] == [("orders", "payments", "0000000000000002")]
    # An expected service is a traced callee too, though none of its spans is in the trace.
    hops = tempo.Expectations(services=["shipping"]).broken_hops(analysis)
    assert [(h["to"], h["span_id"]) for h in hops] == [("payments", "0000000000000002"), ("shipping", "0000000000000008")]
    assert [c["to"] for c in analysis["leaf_calls"]] == ["payments", "stripe", "shipping"]


def test_a_forged_parent_is_an_orphan_and_a_broken_hop():
    """The Python shop's broken_hop flag: the call forwards a traceparent naming a span nobody exports."""
    analysis = tempo.analyze_trace(trace(
        span("01", kind="SPAN_KIND_SERVER", service="orders"),
        span("02", "01", service="orders", **{"server.address": "payments", "http.response.status_code": 502}),
        span("03", "0f", kind="SPAN_KIND_SERVER", service="payments")))
    assert [o["service"] for o in analysis["orphan_spans"]] == ["payments"]
    assert [(h["from"], h["to"]) for h in analysis["broken_hops"]] == [("orders", "payments")]
    problems = tempo.Expectations().problems(analysis)
    assert len(problems) == 2 and "orders -> payments" in problems[1]  # the orphan, then the hop


# --------------------------------------------------------------------------- the module and verify

class Exit(Exception):
    def __init__(self, failed, result):
        super().__init__(result.get("msg"))
        self.failed, self.result = failed, result


class Answer:
    def __init__(self, body):
        self.body = body

    def getcode(self):
        return 200

    def read(self):
        return self.body

    def close(self):
        pass


@pytest.fixture
def module_run(monkeypatch):
    def exit_json(self, **kwargs):
        raise Exit(False, kwargs)

    def fail_json(self, msg, **kwargs):
        raise Exit(True, dict(kwargs, msg=msg))

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    monkeypatch.setattr(tempo, "sleep", lambda s: None)
    body = (FIXTURES / "go_hop_skip_inventory.json").read_bytes()
    monkeypatch.setattr(tempo, "open_url", lambda url, **kw: Answer(body))

    def run(args):
        with patch_module_args(dict(args, url="http://127.0.0.1:3200")):
            with pytest.raises(Exit) as exc:
                tempo_trace.main()
        return exc.value
    return run


def test_module_fails_naming_the_hop_and_returns_it(module_run):
    trace_id = trace_id_of(doc("go_hop_skip_inventory.json"))
    out = module_run(dict(trace_id=trace_id, expect_services=GO_SERVICES, timeout=1, interval=0.5))
    assert out.failed and "shipping -> inventory" in out.result["msg"]
    assert [(h["from"], h["to"]) for h in out.result["broken_hops"]] == [("shipping", "inventory")]
    allowed = module_run(dict(trace_id=trace_id, max_broken_hops=1, timeout=1, interval=0.5))
    assert not allowed.failed and len(allowed.result["broken_hops"]) == 1
    bad = module_run(dict(trace_id=trace_id, max_broken_hops=-1))
    assert bad.failed and "max_broken_hops must be >= 0" in bad.result["msg"]


def test_verify_evidence_names_the_pair():
    hop = {"from": "shipping", "to": "inventory", "span": "GET /inventory/{sku}", "span_id": "86601f1ab24e7c9c",
           "callee_attribute": "peer.service"}
    res = {"trace_id": "ab" * 16, "found": True, "msg": "trace ... broken propagation ...", "broken_hops": [hop],
           "problems": ["broken propagation: 1 call ..."], "traces": [{"trace_id": "ab" * 16, "broken_hops": [hop]}]}
    line = "broken hop shipping -> inventory: client span 86601f1ab24e7c9c (GET /inventory/{sku}) has no child; " \
           "inventory started a new trace"
    probe = verify_checks.check_probe_trace({"probe": {"failed": True, "result": dict(res, probe_sent=True)}})
    assert probe["status"] == "fail" and line in probe["evidence"]
    recent = verify_checks.check_recent_traces({"recent": {"results": [{"service": "shipping", "failed": True, "result": res}]}})
    assert recent["status"] == "fail" and "shipping: " + line in recent["evidence"]
