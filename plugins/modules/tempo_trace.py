#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: tempo_trace
short_description: Confirm that a complete, multi-span trace is in Grafana Tempo
version_added: 0.1.0
description:
  - Looks up a trace in Grafana Tempo and checks that it is complete - the expected services, enough spans,
    exactly one root, no span whose parent is missing (a broken propagation hop), and the expected attributes.
  - Four modes. Look up one trace by O(trace_id). Search recent traces (O(service), O(search_attributes) or
    a raw TraceQL O(query)), then fetch each hit by id. Or send a probe first (O(send_probe=true)) - a
    multi-span trace across at least two services with a fresh random W3C trace id, posted over OTLP/HTTP to
    O(probe_endpoint), then look it up. Or test the gateway's tail sampling with probes that do not carry the
    always-keep marker (O(sampling_probe=true)).
  - Polls Tempo every O(interval) seconds until the trace meets the expectations or O(timeout) passes.
    A trace can arrive in parts, so a trace that is found but incomplete is polled again too.
  - Fails with a message that says what was expected and what was seen.
  - Reads trace by id from C(/api/v2/traces/<id>). With O(api_version=auto), a Tempo without that route
    (the v2 route came with Tempo 2.6) is read through the v1 form C(/api/traces/<id>) instead.
author:
  - tracefleet.otel maintainers (@tracefleet)
extends_documentation_fragment:
  - tracefleet.otel.tempo
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: partial
    details:
      - Lookups and searches are read-only and run in check mode.
      - The probe is not sent in check mode; the result says so (RV(probe_sent=false)) and nothing is looked up.
      - Neither are sampling probes (O(sampling_probe=true)).
options:
  trace_id:
    description:
      - Hex id of the trace to look up (up to 32 digits; leading zeros may be omitted).
      - Give exactly one of O(trace_id), O(send_probe=true), or a search (O(service), O(search_attributes), O(query)).
    type: str
  service:
    description:
      - Search mode. Find recent traces with a span from this service (C(resource.service.name)).
    type: str
  search_attributes:
    description:
      - Search mode. Attributes a span or its resource must have, as a mapping of key to value.
        A null value only asks for the attribute to be present.
    type: dict
  query:
    description:
      - Search mode. A raw TraceQL query, for example C({ resource.service.name = "checkout" && status = error }).
      - Mutually exclusive with O(service) and O(search_attributes).
    type: str
  search_limit:
    description:
      - Search mode. At most this many traces are fetched and checked.
    type: int
    default: 20
  search_window:
    description:
      - Search mode. Look back this many seconds. V(0) leaves the time range to Tempo (recent data only).
    type: int
    default: 3600
  min_traces:
    description:
      - Search mode. Succeed when at least this many found traces meet the expectations.
    type: int
    default: 1
  send_probe:
    description:
      - Send a probe trace to O(probe_endpoint) first, then look it up by its id.
      - The probe has a root C(SERVER) span in the first of O(probe_services), and for each further service a
        C(CLIENT) span in the caller and a C(SERVER) span in the callee, plus one C(INTERNAL) span in the last.
      - Every span and resource carries the marker O(probe_marker_key)=O(probe_marker_value), so a tail-sampling
        policy can always keep probes.
      - The probe's services and span count are always expected, in addition to O(expect_services) and O(min_spans).
    type: bool
    default: false
  sampling_probe:
    description:
      - Test the gateway's tail sampling with probe traces that do NOT carry the always-keep marker
        O(probe_marker_key), shaped like real traffic across O(probe_services) and sent to O(probe_endpoint).
      - One error probe (fast; the last service's C(SERVER) span and the root in status ERROR, HTTP 500), one slow
        probe lasting 1.5 times O(sampling_latency_threshold_ms) (at least 100 ms more; the span times are set in the
        payload, nothing sleeps), and O(routine_count) fast, healthy routine probes.
      - Confirms, by trace id, that the error and the slow probe arrive whole in Tempo (their services and spans, one
        root, no orphans, the error span, the duration). With O(routine_count) above 0 it also counts how many routine
        probes Tempo has, and checks that the percentage kept is within O(routine_tolerance) points of
        O(routine_percentage).
      - Routine probes are sent first (100 to a request), then the error and the slow probe; once those two are in
        Tempo the routine ones have been decided too. The routine count uses Tempo's search on the run's id (one
        request a round, where looking up 2000 ids one by one takes minutes); search sees a trace once Tempo's
        ingester has cut it (C(trace_idle_period)), so the count is final when the run's error and slow probes are in
        the search results and the count has not changed for O(routine_settle) seconds.
      - Every probe span carries C(tracefleet.sampling_probe.kind) (V(error), V(slow), V(routine)) and
        C(tracefleet.sampling_probe.run) (a random id per run) so the probes can be told apart in Tempo; no gateway
        policy matches them.
      - Production default is O(routine_count=0) - only the error and the slow probe. The statistical check is for
        tests and staging, where a few thousand extra traces do not matter.
    type: bool
    default: false
  sampling_latency_threshold_ms:
    description:
      - Sampling probe mode. The gateway's latency threshold for the probe's services (the global
        C(tracefleet_gateway_latency_threshold_ms) unless a service objective names a probe service). Required with
        O(sampling_probe=true).
    type: float
  routine_count:
    description:
      - Sampling probe mode. How many routine probes to send and count (0 to 20000). V(0) checks only the error and the
        slow probe.
      - The binomial spread decides what tolerance is fair - at 10 % over 2000 probes one standard deviation is
        0.67 points; the result reports it and warns when the tolerance is tight for the count.
    type: int
    default: 0
  routine_percentage:
    description:
      - Sampling probe mode. The routine percentage the gateway should keep (its probabilistic policy's
        C(sampling_percentage)). Required when O(routine_count) is above 0.
    type: float
  routine_tolerance:
    description:
      - Sampling probe mode. How many percentage points the measured routine share may differ from
        O(routine_percentage).
    type: float
    default: 3.0
  routine_settle:
    description:
      - Sampling probe mode. Seconds the routine count must stay the same (with the run's error and slow probes
        already in the search results) before it is final.
    type: float
    default: 5.0
  probe_endpoint:
    description:
      - OTLP/HTTP endpoint that receives the probe, for example the agent or gateway collector
        V(http://otel-agent:4318) or Tempo's own receiver. C(/v1/traces) is appended unless present.
      - Uses O(validate_certs), O(ca_path), O(client_cert) and O(client_key), not the Tempo credentials;
        put any authentication in O(probe_headers).
      - Required when O(send_probe=true) or O(sampling_probe=true).
    type: str
  probe_headers:
    description:
      - Extra HTTP headers for the probe request, for example C(X-Scope-OrgID) when the probe goes straight
        to a multi-tenant Tempo, or an C(Authorization) header.
    type: dict
  probe_services:
    description:
      - Service names of the probe's hops, in call order. At least two make a cross-service hop.
    type: list
    elements: str
    default: [tracefleet-probe-frontend, tracefleet-probe-backend]
  probe_marker_key:
    description:
      - Attribute key that marks the probe, set on every span and resource. Must match the gateway's
        always-keep sampling policy.
    type: str
    default: tracefleet.probe
  probe_marker_value:
    description:
      - Value of O(probe_marker_key).
    type: str
    default: "true"
  probe_attributes:
    description:
      - Extra resource attributes for the probe's resources.
    type: dict
  expect_services:
    description:
      - Services (C(service.name)) the trace must contain.
    type: list
    elements: str
    default: []
  min_spans:
    description:
      - The trace must have at least this many spans.
    type: int
    default: 1
  expect_attributes:
    description:
      - Attributes some span or resource of the trace must carry, as a mapping of key to value, for example
        C(deployment.environment=production) upserted by the gateway. A null value only asks for presence.
    type: dict
  max_orphans:
    description:
      - Most spans allowed whose parent span is not in the trace. Each is a broken propagation hop
        (or a part of the trace still in flight).
    type: int
    default: 0
  max_broken_hops:
    description:
      - Most broken hops allowed (RV(broken_hops)) - calls whose callee started a new trace because the caller
        sent no context. Without it, O(max_orphans) applies to them too.
      - A broken hop is a C(CLIENT) span that recorded the callee's answer (C(http.response.status_code),
        C(http.status_code), C(rpc.grpc.status_code) or C(rpc.response.status_code)) but has no child span in the
        trace, while the callee is traced - its C(service.name) is in the trace or in O(expect_services).
        Database calls (C(db.system)) are never hops.
      - The callee is named by the span's C(peer.service), else C(server.address), C(net.peer.name) or the host of
        C(url.full)/C(http.url); an IP address or C(localhost) names no service, so set C(peer.service) on client spans
        (the OpenTelemetry Go C(otelhttp) and C(otelgrpc) clients put the dialled host in C(server.address)).
    type: int
  expect_single_root:
    description:
      - The trace must have exactly one root span (a span without a parent).
    type: bool
    default: true
  timeout:
    description:
      - Seconds to keep polling Tempo before failing. In probe mode counted from sending the probe.
      - In sampling probe mode the whole run (sending, confirming, counting the routine probes) ends this many seconds
        after the first probe was sent; allow the gateway's C(decision_wait) plus a few seconds per thousand routine probes.
    type: float
    default: 30.0
  interval:
    description:
      - Seconds between two lookups.
    type: float
    default: 1.0
  api_version:
    description:
      - Which trace-by-id API to use. V(auto) uses v2 and falls back to v1 when Tempo has no v2 route.
    type: str
    choices: [auto, v1, v2]
    default: auto
notes:
  - The module reports RV(ignore:changed=false) even when it sends a probe - a probe adds test data to the tracing
    backend but changes no managed state. It is still not sent in check mode.
seealso:
  - name: Tempo HTTP API
    description: The endpoints this module reads.
    link: https://grafana.com/docs/tempo/latest/api_docs/
"""

EXAMPLES = r"""
- name: Send a probe through the agent and confirm it reached Tempo complete
  tracefleet.otel.tempo_trace:
    url: http://tempo.observability.svc:3200
    send_probe: true
    probe_endpoint: http://otel-agent.observability.svc:4318
    expect_attributes:
      deployment.environment: production
    timeout: 60

- name: Check a trace id taken from a log line
  tracefleet.otel.tempo_trace:
    url: https://tempo.example.com
    tenant: team-a
    bearer_token: "{{ tempo_token }}"
    ca_path: /etc/pki/tempo-ca.pem
    trace_id: 4bf92f3577b34da6a3ce929d0e0e4736
    expect_services: [frontend, orders, payments]
  register: trace

- name: Find a recent trace from the checkout service that carries the environment attribute
  tracefleet.otel.tempo_trace:
    url: http://tempo:3200
    service: checkout
    expect_attributes:
      deployment.environment: null
    search_window: 900
    timeout: 10

- name: Check that the gateway keeps an error trace and a slow trace without the probe marker (production)
  tracefleet.otel.tempo_trace:
    url: http://tempo:3200
    sampling_probe: true
    probe_endpoint: http://otel-agent.observability.svc:4318
    sampling_latency_threshold_ms: 2000
    timeout: 60

- name: In staging, also check that routine traces are kept near 10 % (2000 probes, within 2 points)
  tracefleet.otel.tempo_trace:
    url: http://tempo:3200
    sampling_probe: true
    probe_endpoint: http://otel-agent.observability.svc:4318
    sampling_latency_threshold_ms: 2000
    routine_count: 2000
    routine_percentage: 10
    routine_tolerance: 2
    timeout: 120
  register: sampling

- name: Look for recent error traces with a raw TraceQL query
  tracefleet.otel.tempo_trace:
    url: http://tempo:3200
    query: '{ resource.service.name = "orders" && status = error }'
    max_orphans: 0
    min_traces: 1
"""

RETURN = r"""
msg:
  description: What was found, or what was missing.
  returned: always
  type: str
  sample: "trace 4bf92f3577b34da6a3ce929d0e0e4736 found after 1.2 s: 4 spans from tracefleet-probe-backend, tracefleet-probe-frontend"
trace_id:
  description: The trace looked up (32 hex digits). In search mode the best matching trace. Null in check mode with a probe.
  returned: always
  type: str
  sample: 4bf92f3577b34da6a3ce929d0e0e4736
found:
  description: Whether Tempo returned the trace (in search mode - whether any trace was found).
  returned: always
  type: bool
  sample: true
found_after_s:
  description: Seconds until Tempo first returned the trace (from sending the probe, in probe mode). Null if not found.
  returned: always
  type: float
  sample: 1.2
span_count:
  description: Number of spans in the trace.
  returned: always
  type: int
  sample: 4
services:
  description: Sorted service names (resource C(service.name)) seen in the trace.
  returned: always
  type: list
  elements: str
  sample: [tracefleet-probe-backend, tracefleet-probe-frontend]
root_count:
  description: Number of spans without a parent.
  returned: always
  type: int
  sample: 1
orphan_spans:
  description: Spans whose parent span is not in the trace, each a broken propagation hop.
  returned: always
  type: list
  elements: dict
  sample: [{"span_id": "a1b2c3d4e5f60708", "name": "GET /orders", "service": "orders", "parent_span_id": "0102030405060708"}]
  contains:
    span_id:
      description: Hex id of the orphan span.
      type: str
    name:
      description: Span name.
      type: str
    service:
      description: Service of the span.
      type: str
    parent_span_id:
      description: Hex id of the parent that is missing.
      type: str
broken_hops:
  description:
    - Calls whose callee started a new trace (see O(max_broken_hops)), each naming the service pair.
  returned: always
  type: list
  elements: dict
  sample: [{"from": "shipping", "to": "inventory", "span": "GET /inventory/{sku}", "span_id": "86601f1ab24e7c9c",
            "callee_attribute": "peer.service"}]
  contains:
    from:
      description: Service of the C(CLIENT) span (the caller).
      type: str
    to:
      description: The callee, as the span names it.
      type: str
    span:
      description: Name of the C(CLIENT) span.
      type: str
    span_id:
      description: Hex id of the C(CLIENT) span.
      type: str
    callee_attribute:
      description: The span attribute that named the callee, for example C(peer.service).
      type: str
attributes_seen:
  description:
    - Every resource and span attribute key in the trace, with the distinct values seen (as strings, at most 20 per key).
  returned: always
  type: dict
  sample: {"deployment.environment": ["production"], "service.name": ["frontend", "orders"]}
duration_ms:
  description: From the earliest span start to the latest span end, in milliseconds.
  returned: always
  type: float
  sample: 70.0
problems:
  description: Expectations the trace did not meet (empty on success).
  returned: always
  type: list
  elements: str
  sample: ["service 'payments' missing; saw: frontend, orders"]
probe_sent:
  description: Whether a probe was sent (false in check mode and outside probe mode).
  returned: always
  type: bool
  sample: true
traceparent:
  description: W3C C(traceparent) of the probe's root span.
  returned: when a probe was sent
  type: str
  sample: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
sampling:
  description: What the sampling probes showed.
  returned: in sampling probe mode, when the probes were sent
  type: dict
  sample:
    latency_threshold_ms: 300
    probes:
      error: {trace_id: 4bf92f3577b34da6a3ce929d0e0e4736, found: true, found_after_s: 3.1, span_count: 4, error_spans: 2,
              duration_ms: 70.0, confirmed: true, problems: []}
      slow: {trace_id: 0af7651916cd43dd8448eb211c80319c, found: true, found_after_s: 3.4, span_count: 4, error_spans: 0,
             duration_ms: 450.0, confirmed: true, problems: []}
    routine: {sent: 2000, kept: 203, percentage: 10.15, expected_percentage: 10, tolerance: 2,
              interval: [8, 12], confidence_interval: [8.9, 11.55], standard_deviation: 0.671, within: true,
              searches: 9, complete: true}
    run_id: 9f2c4e1a7b3d5f60
    lines: ["error probe (a failing downstream span) 4bf9... whole after 3.1 s: 4 spans"]
  contains:
    latency_threshold_ms:
      description: The threshold the slow probe was built against (O(sampling_latency_threshold_ms)).
      type: float
    probes:
      description:
        - C(error) and C(slow), each the analysis of that probe as in the top-level return values (C(trace_id), C(found),
          C(found_after_s), C(span_count), C(services), C(root_count), C(orphan_spans), C(duration_ms)) plus C(kind),
          C(expected_spans), C(error_spans), C(traceparent), C(problems) and C(confirmed) (found whole).
      type: dict
    routine:
      description:
        - Null when O(routine_count=0). Otherwise C(sent), C(kept), C(percentage) kept, C(expected_percentage),
          C(tolerance), C(interval) (the accepted range), C(confidence_interval) (95 % Wilson interval of the
          measured rate), C(standard_deviation) (binomial, in points, at the expected rate), C(chance_of_false_failure)
          (how often an exact gateway would still fall outside the tolerance), C(within), C(searches) and
          C(complete) (false when the timeout ended the count).
      type: dict
    run_id:
      description: The value of C(tracefleet.sampling_probe.run) on every probe span of this run.
      type: str
    lines:
      description: One line per probe kind, as in RV(msg).
      type: list
      elements: str
    sent_s:
      description: Seconds spent sending the probes.
      type: float
    elapsed_s:
      description: Seconds from the first send to the end of the count.
      type: float
lookups:
  description: Number of trace-by-id requests made.
  returned: always
  type: int
  sample: 3
query:
  description: The TraceQL query sent to C(/api/search).
  returned: in search mode
  type: str
  sample: '{ resource.service.name = "checkout" }'
traces:
  description: Each trace the search found and fetched, with its own analysis.
  returned: in search mode
  type: list
  elements: dict
  contains:
    trace_id:
      description: Hex id (32 digits, leading zeros restored).
      type: str
    found:
      description: Whether the trace could be fetched by id.
      type: bool
    found_after_s:
      description: Seconds from the start of the search until the trace was fetched.
      type: float
    span_count:
      description: Number of spans.
      type: int
    services:
      description: Service names in the trace.
      type: list
      elements: str
    root_count:
      description: Number of root spans.
      type: int
    orphan_spans:
      description: Spans whose parent is missing, as in RV(orphan_spans).
      type: list
      elements: dict
    broken_hops:
      description: Calls whose callee started a new trace, as in RV(broken_hops).
      type: list
      elements: dict
    attributes_seen:
      description: Attribute keys and values seen, as in RV(attributes_seen).
      type: dict
    duration_ms:
      description: Trace duration in milliseconds.
      type: float
    problems:
      description: Expectations this trace did not meet.
      type: list
      elements: str
"""


from ansible.module_utils.basic import AnsibleModule

from ansible_collections.tracefleet.otel.plugins.module_utils import otlp_probe
from ansible_collections.tracefleet.otel.plugins.module_utils.otlp_probe import (
    DEFAULT_MARKER_KEY,
    DEFAULT_MARKER_VALUE,
    DEFAULT_SERVICES,
    build_probe,
    send_probe,
)
from ansible_collections.tracefleet.otel.plugins.module_utils import tempo
from ansible_collections.tracefleet.otel.plugins.module_utils.tempo import (
    Expectations,
    TempoClient,
    TempoError,
    build_traceql,
    normalize_trace_id,
    search_traces,
    tempo_argument_spec,
    wait_for_trace,
)


def argument_spec():
    spec = tempo_argument_spec()
    spec.update(
        trace_id=dict(type="str"),
        service=dict(type="str"),
        search_attributes=dict(type="dict"),
        query=dict(type="str"),
        search_limit=dict(type="int", default=20),
        search_window=dict(type="int", default=3600),
        min_traces=dict(type="int", default=1),
        send_probe=dict(type="bool", default=False),
        sampling_probe=dict(type="bool", default=False),
        sampling_latency_threshold_ms=dict(type="float"),
        routine_count=dict(type="int", default=0),
        routine_percentage=dict(type="float"),
        routine_tolerance=dict(type="float", default=3.0),
        routine_settle=dict(type="float", default=5.0),
        probe_endpoint=dict(type="str"),
        probe_headers=dict(type="dict", no_log=True),
        probe_services=dict(type="list", elements="str", default=list(DEFAULT_SERVICES)),
        probe_marker_key=dict(type="str", default=DEFAULT_MARKER_KEY, no_log=False),
        probe_marker_value=dict(type="str", default=DEFAULT_MARKER_VALUE),
        probe_attributes=dict(type="dict"),
        expect_services=dict(type="list", elements="str", default=[]),
        min_spans=dict(type="int", default=1),
        expect_attributes=dict(type="dict"),
        max_orphans=dict(type="int", default=0),
        max_broken_hops=dict(type="int"),
        expect_single_root=dict(type="bool", default=True),
        timeout=dict(type="float", default=30.0),
        interval=dict(type="float", default=1.0),
        api_version=dict(type="str", default="auto", choices=["auto", "v1", "v2"]),
    )
    return spec


def _empty_result():
    return dict(
        changed=False, trace_id=None, found=False, found_after_s=None, span_count=0, services=[], root_count=0,
        orphan_spans=[], broken_hops=[], attributes_seen={}, duration_ms=0.0, problems=[], probe_sent=False, lookups=0,
    )


def _mode(params):
    modes = []
    if params["trace_id"]:
        modes.append("trace_id")
    if params["send_probe"]:
        modes.append("send_probe")
    if params["sampling_probe"]:
        modes.append("sampling_probe")
    if params["service"] or params["query"] or params["search_attributes"]:
        modes.append("search")
    return modes


def _expectations(params, probe=None):
    services = list(params["expect_services"])
    min_spans = params["min_spans"]
    if probe is not None:
        services = list(probe.services) + [s for s in services if s not in probe.services]
        min_spans = max(min_spans, probe.span_count)
    return Expectations(services=services, min_spans=min_spans, attributes=params["expect_attributes"],
                        max_orphans=params["max_orphans"], single_root=params["expect_single_root"],
                        max_broken_hops=params["max_broken_hops"])


def run_lookup(module, client, result):
    params = module.params
    try:
        trace_id = normalize_trace_id(params["trace_id"])
    except ValueError as err:
        module.fail_json(msg="trace_id: %s" % err, **result)
    outcome = wait_for_trace(client, trace_id, _expectations(params), params["timeout"], params["interval"])
    result.update(outcome.as_dict(), lookups=outcome.lookups, msg=outcome.message(params["timeout"]))
    if not outcome.ok:
        module.fail_json(**result)
    module.exit_json(**result)


def run_probe(module, client, result):
    params = module.params
    try:
        probe = build_probe(services=params["probe_services"], marker_key=params["probe_marker_key"],
                            marker_value=params["probe_marker_value"], resource_attributes=params["probe_attributes"])
    except ValueError as err:
        module.fail_json(msg="probe: %s" % err, **result)
    if module.check_mode:
        result.update(msg="check mode: the probe (%d spans across %s) was not sent to %s, so nothing was looked up"
                      % (probe.span_count, ", ".join(probe.services), params["probe_endpoint"]))
        module.exit_json(**result)
    sent_at = tempo.monotonic()
    try:
        send_probe(params["probe_endpoint"], probe, headers=params["probe_headers"],
                   validate_certs=params["validate_certs"], ca_path=params["ca_path"],
                   client_cert=params["client_cert"], client_key=params["client_key"],
                   timeout=params["request_timeout"], use_proxy=params["use_proxy"])
    except TempoError as err:
        result.update(trace_id=probe.trace_id)
        module.fail_json(msg="probe %s could not be sent: %s" % (probe.trace_id, err), **result)
    result.update(probe_sent=True, traceparent=probe.traceparent)
    outcome = wait_for_trace(client, probe.trace_id, _expectations(params, probe), params["timeout"],
                             params["interval"], started=sent_at)
    result.update(outcome.as_dict(), lookups=outcome.lookups,
                  msg="probe " + outcome.message(params["timeout"]))
    if not outcome.ok:
        module.fail_json(**result)
    module.exit_json(**result)


def run_sampling_probe(module, client, result):
    params = module.params
    threshold, count = params["sampling_latency_threshold_ms"], params["routine_count"]
    if threshold is None or threshold <= 0:
        module.fail_json(msg="sampling_latency_threshold_ms: the gateway's latency threshold in ms (above 0) is required "
                         "with sampling_probe=true, got %s" % threshold, **result)
    if count and params["routine_percentage"] is None:
        module.fail_json(msg="routine_percentage: the percentage the gateway keeps is required when routine_count is "
                         "above 0", **result)
    if count and not 0 < params["routine_percentage"] <= 100:
        module.fail_json(msg="routine_percentage must be above 0 and at most 100, got %s" % params["routine_percentage"], **result)
    if params["routine_tolerance"] < 0:
        module.fail_json(msg="routine_tolerance must be 0 or more percentage points, got %s" % params["routine_tolerance"], **result)
    try:
        probes = otlp_probe.build_sampling_probes(
            threshold, count, services=params["probe_services"], resource_attributes=params["probe_attributes"],
            marker_key=params["probe_marker_key"])
    except ValueError as err:
        module.fail_json(msg="sampling probe: %s" % err, **result)
    what = "an error probe, a slow probe (%.0f ms against a %s ms threshold)%s" % (
        otlp_probe.slow_duration_ms(threshold), otlp_probe._num(threshold),
        " and %d routine probes" % count if count else "")
    if module.check_mode:
        result.update(msg="check mode: %s were not sent to %s, so nothing was looked up" % (what, params["probe_endpoint"]))
        module.exit_json(**result)
    try:
        outcome = otlp_probe.run_sampling_probe(
            client, params["probe_endpoint"], probes, threshold, timeout=params["timeout"], interval=params["interval"],
            expected_percentage=params["routine_percentage"], tolerance=params["routine_tolerance"],
            settle=params["routine_settle"], headers=params["probe_headers"], validate_certs=params["validate_certs"],
            ca_path=params["ca_path"],
            client_cert=params["client_cert"], client_key=params["client_key"], request_timeout=params["request_timeout"],
            use_proxy=params["use_proxy"])
    except TempoError as err:
        module.fail_json(msg="sampling probes could not be sent to %s: %s" % (params["probe_endpoint"], err), **result)
    sampling = dict((k, outcome[k]) for k in ("latency_threshold_ms", "probes", "routine", "lines", "run_id", "sent_s", "elapsed_s"))
    result.update(probe_sent=True, sampling=sampling, problems=outcome["problems"], lookups=outcome["lookups"],
                  found=all(p["found"] for p in outcome["probes"].values()),
                  msg="sampling probes: %s" % outcome["msg"])
    if not outcome["ok"]:
        module.fail_json(**result)
    module.exit_json(**result)


def run_search(module, client, result):
    params = module.params
    query = params["query"] or build_traceql(params["service"], params["search_attributes"])
    expectations = _expectations(params)
    outcomes, searches, elapsed = search_traces(
        client, query, expectations, limit=params["search_limit"], window_s=params["search_window"],
        min_traces=params["min_traces"], timeout=params["timeout"], interval=params["interval"])
    good = [o for o in outcomes if o.ok]
    best = good[0] if good else (outcomes[0] if outcomes else None)
    result.update(query=query, traces=[o.as_dict() for o in outcomes], lookups=sum(o.lookups for o in outcomes))
    if best is not None:
        result.update(best.as_dict())
    result.update(found=any(o.found for o in outcomes))
    where = "in the last %d s" % params["search_window"] if params["search_window"] else "in recent data"
    if len(good) >= params["min_traces"]:
        result.update(msg="search %s found %d trace%s %s; %d meet the expectations (best: %s)" % (
            query, len(outcomes), "" if len(outcomes) == 1 else "s", where, len(good), best.message(params["timeout"])))
        module.exit_json(**result)
    if not outcomes:
        result.update(msg="search %s found no traces %s after %.1f s (%d searches)" % (query, where, elapsed, searches))
    else:
        details = "; ".join("%s: %s" % (o.trace_id, "; ".join(o.problems) if o.found else "not fetchable by id")
                            for o in outcomes if not o.ok)
        result.update(msg="search %s found %d trace%s %s but only %d meet the expectations (need %d) after %.1f s: %s" % (
            query, len(outcomes), "" if len(outcomes) == 1 else "s", where, len(good), params["min_traces"], elapsed, details))
    module.fail_json(**result)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        supports_check_mode=True,
        mutually_exclusive=[["query", "service"], ["query", "search_attributes"], ["bearer_token", "username"]],
        required_together=[["username", "password"]],
        required_if=[["send_probe", True, ["probe_endpoint"]], ["sampling_probe", True, ["probe_endpoint"]]],
        required_by={"client_key": "client_cert"},
    )
    params = module.params
    result = _empty_result()

    modes = _mode(params)
    if len(modes) != 1:
        module.fail_json(msg="give exactly one of trace_id, send_probe=true, sampling_probe=true, or a search (service, "
                         "search_attributes, query); got %s"
                         % (", ".join(modes) or "none"), **result)
    for name in ("timeout", "interval"):
        if params[name] <= 0:
            module.fail_json(msg="%s must be greater than 0, got %s" % (name, params[name]), **result)
    if params["max_orphans"] < 0 or params["min_spans"] < 0 or params["search_limit"] < 1 or params["min_traces"] < 1:
        module.fail_json(msg="max_orphans and min_spans must be >= 0, search_limit and min_traces >= 1", **result)
    if (params["max_broken_hops"] or 0) < 0:
        module.fail_json(msg="max_broken_hops must be >= 0, got %s" % params["max_broken_hops"], **result)

    try:
        client = TempoClient.from_params(params, api_version=params["api_version"])
        if modes == ["trace_id"]:
            run_lookup(module, client, result)
        elif modes == ["send_probe"]:
            run_probe(module, client, result)
        elif modes == ["sampling_probe"]:
            run_sampling_probe(module, client, result)
        else:
            run_search(module, client, result)
    except TempoError as err:
        result.update(msg="Tempo at %s: %s" % (params["url"], err))
        module.fail_json(**result)


if __name__ == "__main__":
    main()
