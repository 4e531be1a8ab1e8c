"""Synthetic multi-service traces through the OpenTelemetry Python SDK, for the loopback data plane.

One trace is three spans from three services, each service with its own TracerProvider, resource
(``service.name``) and OTLP/HTTP exporter, the way three processes would send::

    frontend  GET /shop/orders/<n>            SERVER, root
      orders    POST /orders/<uuid>/checkout  SERVER, child (context passed as a W3C traceparent)
        payments  POST /payments/<hex id>     SERVER, child; the error path sets ERROR here

Kinds: ``routine`` (short, OK), ``error`` (payments span ERROR), ``slow`` (payments span lasts
``slow_ms``). Span timestamps are explicit, so a slow trace costs no waiting. Every span carries
``dataplane.run`` and ``dataplane.kind``; the payments span carries PII the gateway must scrub
(an e-mail, a card number, an Authorization header value).

Bounded: ``send`` stops after ``count`` traces or ``max_seconds``; after each chunk it flushes every
provider (``force_flush`` blocks until the exporter has sent), so the SDK's queue never overflows
and the send rate is what the pipeline accepts. ``children_first`` exports the children of a chunk
before its roots (a pause longer than the agent's batch timeout between), so the spans of one
trace reach the agent in different requests and leave it in different batches.
"""

import random
import time
import uuid
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

SERVICES = ("frontend", "orders", "payments")
KINDS = ("routine", "error", "slow")
PII = {
    "user.email": "jane.doe@example.com",
    "payment.card": "4111 1111 1111 1111",
    "http.request.header.authorization": "Bearer s3cr3t-token",
}
RUN_KEY = "dataplane.run"
KIND_KEY = "dataplane.kind"


@dataclass
class Sent:
    trace_id: str
    kind: str
    spans: int
    raw_names: dict = field(default_factory=dict)  # service -> span name as sent


class Shop:
    """Three services' SDKs; endpoints maps service -> OTLP/HTTP base URL of the agent it sends to."""

    def __init__(self, endpoints, run_id, sampler=ALWAYS_ON, routine_ms=20, slow_ms=600, seed=None,
                 schedule_delay_ms=200, max_batch=512):
        self.run_id = run_id
        self.routine_ms = routine_ms
        self.slow_ms = slow_ms
        self.random = random.Random(seed)
        self.propagator = TraceContextTextMapPropagator()
        self.providers = {}
        self.tracers = {}
        for service in SERVICES:
            provider = TracerProvider(resource=Resource.create({"service.name": service, "service.namespace": "shop"}),
                                      sampler=sampler)
            exporter = OTLPSpanExporter(endpoint=endpoints[service].rstrip("/") + "/v1/traces", timeout=10)
            provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=8192, schedule_delay_millis=schedule_delay_ms,
                                                           max_export_batch_size=max_batch))
            self.providers[service] = provider
            self.tracers[service] = provider.get_tracer("tracefleet.dataplane")

    def _attrs(self, kind, **extra):
        return dict({RUN_KEY: self.run_id, KIND_KEY: kind}, **extra)

    def start_trace(self, kind):
        """Start the three spans of one trace; returns (Sent, [(span, end_ns)] children, (root, end_ns))."""
        now = time.time_ns()
        total_ms = self.slow_ms if kind == "slow" else self.routine_ms
        order = self.random.randrange(1, 10**6)
        names = {
            "frontend": "GET /shop/orders/%d" % order,
            "orders": "POST /orders/%s/checkout" % uuid.UUID(int=self.random.getrandbits(128)),
            "payments": "POST /payments/%016x" % self.random.getrandbits(64),
        }
        root = self.tracers["frontend"].start_span(names["frontend"], kind=SpanKind.SERVER, start_time=now,
                                                   attributes=self._attrs(kind, **{"http.route": "/shop/orders/{id}"}))
        carrier = {}
        self.propagator.inject(carrier, context=trace.set_span_in_context(root))
        orders = self.tracers["orders"].start_span(names["orders"], kind=SpanKind.SERVER, start_time=now + 1_000_000,
                                                   context=self.propagator.extract(carrier),
                                                   attributes=self._attrs(kind))
        carrier = {}
        self.propagator.inject(carrier, context=trace.set_span_in_context(orders))
        payments = self.tracers["payments"].start_span(names["payments"], kind=SpanKind.SERVER, start_time=now + 2_000_000,
                                                       context=self.propagator.extract(carrier),
                                                       attributes=self._attrs(kind, **PII))
        if kind == "error":
            payments.set_status(Status(StatusCode.ERROR, "card declined"))
        end = now + total_ms * 1_000_000
        children = [(payments, end - 2_000_000), (orders, end - 1_000_000)]
        sent = Sent(trace_id="%032x" % root.get_span_context().trace_id, kind=kind, spans=3, raw_names=names)
        return sent, children, (root, end)

    def flush(self, timeout_ms=30_000):
        ok = True
        for provider in self.providers.values():
            ok = provider.force_flush(timeout_ms) and ok
        return ok

    def send(self, plan, chunk=200, max_seconds=120.0, children_first=False, pause_s=0.4):
        """Send the traces of plan (a list of kinds) in chunks; returns the list of Sent (stops at max_seconds)."""
        started = time.monotonic()
        sent = []
        for offset in range(0, len(plan), chunk):
            if time.monotonic() - started > max_seconds:
                break
            roots = []
            for kind in plan[offset:offset + chunk]:
                record, children, root = self.start_trace(kind)
                for span, end in children:
                    span.end(end_time=end)
                roots.append(root)
                sent.append(record)
            if children_first:
                self.flush()
                time.sleep(pause_s)
            for span, end in roots:
                span.end(end_time=end)
            if not self.flush():
                raise RuntimeError("the SDK could not export a chunk within 30 s")
        return sent

    def shutdown(self):
        for provider in self.providers.values():
            provider.shutdown()


def plan(routine=0, error=0, slow=0, seed=None):
    kinds = ["routine"] * routine + ["error"] * error + ["slow"] * slow
    random.Random(seed).shuffle(kinds)
    return kinds
