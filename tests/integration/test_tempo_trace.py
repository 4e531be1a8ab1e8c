"""tracefleet.otel.tempo_trace against a real Grafana Tempo on 127.0.0.1, run through `ansible`.

Every call goes through the real ad-hoc command with the collection on ANSIBLE_COLLECTIONS_PATH,
so argument parsing, AnsiballZ packaging of module_utils and the JSON result are all real.
"""

import json
import time
import urllib.request

from ansible_collections.tracefleet.otel.plugins.module_utils import otlp_probe

MODULE = "tracefleet.otel.tempo_trace"


def post(endpoint, probe, headers=None):
    req = urllib.request.Request(otlp_probe.traces_url(endpoint), data=probe.body(), method="POST",
                                 headers=dict({"Content-Type": "application/json"}, **(headers or {})))
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200


def test_probe_found_with_expected_services_and_no_orphans(tempo, run_module):
    start = time.monotonic()
    failed, r = run_module(MODULE, dict(url=tempo.url, send_probe=True, probe_endpoint=tempo.otlp_http,
                                        probe_attributes={"deployment.environment": "kwok"},
                                        expect_attributes={"deployment.environment": "kwok"},
                                        timeout=30, interval=0.2))
    assert not failed, r["msg"]
    assert r["probe_sent"] is True and r["found"] is True and r["changed"] is False
    assert r["services"] == ["tracefleet-probe-backend", "tracefleet-probe-frontend"]
    assert r["span_count"] == 4 and r["root_count"] == 1 and r["orphan_spans"] == [] and r["problems"] == []
    assert r["attributes_seen"]["tracefleet.probe"] == ["true"]
    assert r["attributes_seen"]["deployment.environment"] == ["kwok"]
    assert r["traceparent"] == "00-%s-%s-01" % (r["trace_id"], r["traceparent"].split("-")[2])
    assert 0 <= r["found_after_s"] < 10 and r["duration_ms"] > 0
    print("probe readable after %.3f s (whole ansible run %.1f s)" % (r["found_after_s"], time.monotonic() - start))

    # The same trace, looked up by id in a second run (read-only, so also in check mode).
    failed, again = run_module(MODULE, dict(url=tempo.url, trace_id=r["trace_id"],
                                            expect_services=r["services"], min_spans=4), check=True)
    assert not failed, again["msg"]
    assert again["span_count"] == 4 and again["lookups"] == 1 and again["probe_sent"] is False


def test_probe_not_sent_in_check_mode(tempo, run_module):
    failed, r = run_module(MODULE, dict(url=tempo.url, send_probe=True, probe_endpoint=tempo.otlp_http), check=True)
    assert not failed and r["probe_sent"] is False and r["found"] is False and r["trace_id"] is None
    assert r["msg"].startswith("check mode: the probe (4 spans across tracefleet-probe-frontend, tracefleet-probe-backend) was not sent")


def test_missing_parent_reported_as_broken_propagation(tempo, run_module):
    probe = otlp_probe.build_probe(["shop-frontend", "shop-orders", "shop-payments"])
    client_spans = [s for s in probe.spans if s["kind"] == otlp_probe.KIND_CLIENT]
    lost = client_spans[1]  # orders -> payments: the orders CLIENT span never arrives
    post(tempo.otlp_http, probe.without_spans([lost["span_id"]]))
    failed, r = run_module(MODULE, dict(url=tempo.url, trace_id=probe.trace_id,
                                        expect_services=["shop-frontend", "shop-orders", "shop-payments"],
                                        timeout=4, interval=0.5))
    assert failed
    assert r["found"] is True and r["span_count"] == probe.span_count - 1
    orphan = next(s for s in probe.spans if s["parent_span_id"] == lost["span_id"])
    assert r["orphan_spans"] == [dict(span_id=orphan["span_id"], name="handle probe", service="shop-payments",
                                      parent_span_id=lost["span_id"])]
    assert r["msg"].startswith("trace %s found after " % probe.trace_id)
    assert r["msg"].endswith("but broken propagation: 1 span whose parent is not in the trace (allowed 0): "
                             "span 'handle probe' in service 'shop-payments' has parent %s" % lost["span_id"])
    assert r["lookups"] > 1  # it kept polling in case the missing span was still in flight


def test_missing_trace_reported_after_the_deadline(tempo, run_module):
    trace_id = otlp_probe.new_trace_id()
    start = time.monotonic()
    failed, r = run_module(MODULE, dict(url=tempo.url, trace_id=trace_id, timeout=3, interval=0.5))
    took = time.monotonic() - start
    assert failed and r["found"] is False and r["found_after_s"] is None
    assert r["msg"] == "trace %s not found in Tempo after 3.0 s (%d lookups)" % (trace_id, r["lookups"])
    assert 5 <= r["lookups"] <= 7
    assert took < 30


def test_search_finds_a_trace_by_service(tempo, run_module):
    service = "search-%s" % otlp_probe.new_span_id()[:8]
    probe = otlp_probe.build_probe([service, service + "-db"], trace_id="00" + otlp_probe.new_trace_id()[2:])
    post(tempo.otlp_http, probe)
    sent = time.monotonic()
    failed, r = run_module(MODULE, dict(url=tempo.url, service=service, expect_services=[service, service + "-db"],
                                        search_window=600, timeout=60, interval=0.5))
    assert not failed, r["msg"]
    assert r["query"] == '{ resource.service.name = "%s" }' % service
    assert [t["trace_id"] for t in r["traces"]] == [probe.trace_id]  # leading zeros restored
    assert r["trace_id"] == probe.trace_id and r["span_count"] == probe.span_count
    print("search found the trace %.1f s after it was sent" % (time.monotonic() - sent))

    # and by attribute (the probe marker), narrowed to this service
    failed, r = run_module(MODULE, dict(url=tempo.url, service=service, search_attributes={"tracefleet.probe": "true"},
                                        timeout=30, interval=0.5))
    assert not failed, r["msg"]
    assert r["query"] == '{ resource.service.name = "%s" && .tracefleet.probe = "true" }' % service


def test_search_with_no_match_fails_clearly(tempo, run_module):
    failed, r = run_module(MODULE, dict(url=tempo.url, service="no-such-service-%s" % otlp_probe.new_span_id(),
                                        timeout=2, interval=0.5))
    assert failed and r["traces"] == []
    assert "found no traces in the last 3600 s after" in r["msg"]


def test_multitenant_tempo_needs_the_tenant(tempo_multitenant, run_module):
    tenant = {"X-Scope-OrgID": "team-a"}
    failed, r = run_module(MODULE, dict(url=tempo_multitenant.url, tenant="team-a", send_probe=True,
                                        probe_endpoint=tempo_multitenant.otlp_http, probe_headers=tenant,
                                        timeout=30, interval=0.2))
    assert not failed, r["msg"]
    assert r["span_count"] == 4
    assert "team-a" not in json.dumps(r.get("invocation", {}).get("module_args", {}).get("probe_headers", ""))

    failed, other = run_module(MODULE, dict(url=tempo_multitenant.url, tenant="team-b", trace_id=r["trace_id"],
                                            timeout=1, interval=0.5))
    assert failed and "not found in Tempo" in other["msg"]  # tenants are isolated

    failed, none = run_module(MODULE, dict(url=tempo_multitenant.url, trace_id=r["trace_id"], timeout=1))
    assert failed and none["msg"].startswith("Tempo at %s: GET %s/api/v2/traces/" % (tempo_multitenant.url, tempo_multitenant.url))
