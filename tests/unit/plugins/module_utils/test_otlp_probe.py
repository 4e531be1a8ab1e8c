"""The probe trace: OTLP/JSON shape, parent chain, fresh ids, marker, and how it is posted."""

import json
import re

import pytest

from ansible_collections.tracefleet.otel.plugins.module_utils import otlp_probe
from ansible_collections.tracefleet.otel.plugins.module_utils.tempo import TempoError, analyze_trace

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def all_spans(payload):
    for rs in payload["resourceSpans"]:
        resource = {a["key"]: a["value"] for a in rs["resource"]["attributes"]}
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                yield resource, span


def test_trace_ids_are_fresh_random_w3c_ids():
    ids = {otlp_probe.new_trace_id() for dummy in range(500)}
    assert len(ids) == 500
    assert all(HEX32.match(i) and i != "0" * 32 for i in ids)
    assert all(HEX16.match(otlp_probe.new_span_id()) for dummy in range(50))
    probes = [otlp_probe.build_probe() for dummy in range(20)]
    assert len({p.trace_id for p in probes}) == 20


def test_probe_is_valid_otlp_json():
    probe = otlp_probe.build_probe(now_ns=1_700_000_000_000_000_000)
    doc = json.loads(probe.body())
    spans = list(all_spans(doc))
    assert len(spans) == probe.span_count == 4
    for resource, span in spans:
        # OTLP/JSON: hex ids (not base64), unix-nano strings, integer kinds
        assert span["traceId"] == probe.trace_id
        assert HEX16.match(span["spanId"])
        assert "parentSpanId" not in span or HEX16.match(span["parentSpanId"])
        assert isinstance(span["startTimeUnixNano"], str) and span["startTimeUnixNano"].isdigit()
        assert int(span["startTimeUnixNano"]) < int(span["endTimeUnixNano"]) <= 1_700_000_000_000_000_000
        assert isinstance(span["kind"], int) and span["kind"] in (1, 2, 3)
        assert resource["service.name"]["stringValue"].startswith("tracefleet-probe-")
    kinds = sorted(span["kind"] for dummy, span in spans)
    assert kinds == [otlp_probe.KIND_INTERNAL, otlp_probe.KIND_SERVER, otlp_probe.KIND_SERVER, otlp_probe.KIND_CLIENT]


def test_parent_chain_crosses_services_and_nests_in_time():
    probe = otlp_probe.build_probe(["a", "b", "c", "d"])
    by_id = {}
    for resource, span in all_spans(probe.payload):
        by_id[span["spanId"]] = (resource["service.name"]["stringValue"], span)
    roots = [s for dummy, s in by_id.values() if "parentSpanId" not in s]
    assert len(roots) == 1 and by_id[roots[0]["spanId"]][0] == "a"
    for service, span in by_id.values():
        if "parentSpanId" in span:
            parent_service, parent = by_id[span["parentSpanId"]]
            assert int(parent["startTimeUnixNano"]) <= int(span["startTimeUnixNano"])
            assert int(span["endTimeUnixNano"]) <= int(parent["endTimeUnixNano"])
            if span["kind"] == otlp_probe.KIND_SERVER:
                assert parent["kind"] == otlp_probe.KIND_CLIENT and parent_service != service
    assert probe.span_count == 1 + 2 * 3 + 1


def test_probe_analyses_as_complete():
    probe = otlp_probe.build_probe()
    analysis = analyze_trace(probe.payload)
    assert analysis["trace_id"] == probe.trace_id
    assert analysis["services"] == sorted(otlp_probe.DEFAULT_SERVICES)
    assert analysis["root_count"] == 1
    assert analysis["orphan_spans"] == []
    assert analysis["span_count"] == probe.span_count


def test_marker_on_every_span_and_resource_and_configurable():
    probe = otlp_probe.build_probe(marker_key="acme.synthetic", marker_value="yes",
                                   resource_attributes={"deployment.environment": "staging"})
    for resource, span in all_spans(probe.payload):
        attrs = {a["key"]: a["value"] for a in span["attributes"]}
        assert attrs["acme.synthetic"] == {"stringValue": "yes"}
        assert resource["acme.synthetic"] == {"stringValue": "yes"}
        assert resource["deployment.environment"] == {"stringValue": "staging"}
        assert "tracefleet.probe" not in attrs
    default = otlp_probe.build_probe()
    for resource, span in all_spans(default.payload):
        assert resource["tracefleet.probe"] == {"stringValue": "true"}


def test_traceparent_names_the_root_span():
    probe = otlp_probe.build_probe()
    version, trace_id, span_id, flags = probe.traceparent.split("-")
    assert (version, trace_id, flags) == ("00", probe.trace_id, "01")
    assert span_id == probe.root_span_id == probe.spans[0]["span_id"]
    assert probe.spans[0]["parent_span_id"] == ""


def test_without_spans_makes_an_orphan():
    probe = otlp_probe.build_probe()
    client = next(s for s in probe.spans if s["kind"] == otlp_probe.KIND_CLIENT)
    broken = probe.without_spans([client["span_id"]])
    analysis = analyze_trace(broken.payload)
    assert analysis["span_count"] == probe.span_count - 1
    assert analysis["orphan_spans"] == [dict(span_id=next(s["span_id"] for s in probe.spans
                                                          if s["parent_span_id"] == client["span_id"]),
                                             name="handle probe", service="tracefleet-probe-backend",
                                             parent_span_id=client["span_id"])]
    assert probe.span_count == 4  # the original is untouched


@pytest.mark.parametrize("services", [[], ["a", "a"], ["a", ""]])
def test_bad_services_are_refused(services):
    with pytest.raises(ValueError):
        otlp_probe.build_probe(services)


@pytest.mark.parametrize("endpoint,url", [
    ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"),
    ("http://127.0.0.1:4318/", "http://127.0.0.1:4318/v1/traces"),
    ("https://gw.example:4318/v1/traces", "https://gw.example:4318/v1/traces"),
    ("https://gw.example/otlp", "https://gw.example/otlp/v1/traces"),
])
def test_traces_url(endpoint, url):
    assert otlp_probe.traces_url(endpoint) == url


def test_traces_url_needs_a_scheme():
    with pytest.raises(TempoError):
        otlp_probe.traces_url("127.0.0.1:4318")


class FakeTransport:
    def __init__(self, status=200, body=b"{}"):
        self.status, self.body, self.calls = status, body, []

    def request(self, method, url, data=None, headers=None):
        self.calls.append((method, url, data, headers))
        return self.status, self.body


def test_send_posts_json_to_v1_traces():
    probe = otlp_probe.build_probe()
    transport = FakeTransport()
    otlp_probe.send_probe("http://127.0.0.1:4318", probe, transport=transport, headers={"X-Scope-OrgID": "t1"})
    method, url, data, headers = transport.calls[0]
    assert (method, url) == ("POST", "http://127.0.0.1:4318/v1/traces")
    assert headers["Content-Type"] == "application/json" and headers["X-Scope-OrgID"] == "t1"
    assert json.loads(data) == probe.payload


@pytest.mark.parametrize("status,body,fragment", [
    (400, b'{"code":3,"message":"bad"}', "answered 400"),
    (503, b"", "answered 503"),
    (200, b'{"partialSuccess":{"rejectedSpans":"2","errorMessage":"too big"}}', "rejected 2 spans: too big"),
])
def test_send_failures_are_reported(status, body, fragment):
    with pytest.raises(TempoError, match=fragment):
        otlp_probe.send_probe("http://127.0.0.1:4318", otlp_probe.build_probe(), transport=FakeTransport(status, body))


def test_partial_success_without_rejections_is_fine():
    transport = FakeTransport(200, b'{"partialSuccess":{}}')
    assert otlp_probe.send_probe("http://127.0.0.1:4318", otlp_probe.build_probe(), transport=transport) == 200
