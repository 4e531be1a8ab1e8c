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
  - Three modes. Look up one trace by O(trace_id). Search recent traces (O(service), O(search_attributes) or
    a raw TraceQL O(query)), then fetch each hit by id. Or send a probe first (O(send_probe=true)) - a
    multi-span trace across at least two services with a fresh random W3C trace id, posted over OTLP/HTTP to
    O(probe_endpoint), then look it up.
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
  probe_endpoint:
    description:
      - OTLP/HTTP endpoint that receives the probe, for example the agent or gateway collector
        V(http://otel-agent:4318) or Tempo's own receiver. C(/v1/traces) is appended unless present.
      - Uses O(validate_certs), O(ca_path), O(client_cert) and O(client_key), not the Tempo credentials;
        put any authentication in O(probe_headers).
      - Required when O(send_probe=true).
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
  expect_single_root:
    description:
      - The trace must have exactly one root span (a span without a parent).
    type: bool
    default: true
  timeout:
    description:
      - Seconds to keep polling Tempo before failing. In probe mode counted from sending the probe.
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
        expect_single_root=dict(type="bool", default=True),
        timeout=dict(type="float", default=30.0),
        interval=dict(type="float", default=1.0),
        api_version=dict(type="str", default="auto", choices=["auto", "v1", "v2"]),
    )
    return spec


def _empty_result():
    return dict(
        changed=False, trace_id=None, found=False, found_after_s=None, span_count=0, services=[], root_count=0,
        orphan_spans=[], attributes_seen={}, duration_ms=0.0, problems=[], probe_sent=False, lookups=0,
    )


def _mode(params):
    modes = []
    if params["trace_id"]:
        modes.append("trace_id")
    if params["send_probe"]:
        modes.append("send_probe")
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
                        max_orphans=params["max_orphans"], single_root=params["expect_single_root"])


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
        required_if=[["send_probe", True, ["probe_endpoint"]]],
        required_by={"client_key": "client_cert"},
    )
    params = module.params
    result = _empty_result()

    modes = _mode(params)
    if len(modes) != 1:
        module.fail_json(msg="give exactly one of trace_id, send_probe=true, or a search (service, search_attributes, query); got %s"
                         % (", ".join(modes) or "none"), **result)
    for name in ("timeout", "interval"):
        if params[name] <= 0:
            module.fail_json(msg="%s must be greater than 0, got %s" % (name, params[name]), **result)
    if params["max_orphans"] < 0 or params["min_spans"] < 0 or params["search_limit"] < 1 or params["min_traces"] < 1:
        module.fail_json(msg="max_orphans and min_spans must be >= 0, search_limit and min_traces >= 1", **result)

    try:
        client = TempoClient.from_params(params, api_version=params["api_version"])
        if modes == ["trace_id"]:
            run_lookup(module, client, result)
        elif modes == ["send_probe"]:
            run_probe(module, client, result)
        else:
            run_search(module, client, result)
    except TempoError as err:
        result.update(msg="Tempo at %s: %s" % (params["url"], err))
        module.fail_json(**result)


if __name__ == "__main__":
    main()
