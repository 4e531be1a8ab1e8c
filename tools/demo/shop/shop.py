"""The demo shop: four small Python services on loopback, traced with the OpenTelemetry SDK.

    frontend  GET  /shop/orders/<id>   -> orders
    orders    POST /orders/<id>        -> inventory, then payments
    inventory GET  /inventory/<sku>    (the slow path sleeps here)
    payments  POST /payments/<id>      (the error path fails here: 500, span status ERROR)

One process per service (``python tools/demo/shop/shop.py --service orders --port P --otlp URL
--downstream inventory=http://... --downstream payments=http://...``), or all four at once with
``running_shop`` (a context manager that stops them). Every process has its own TracerProvider and
OTLP/HTTP exporter to the agent it is given. Context crosses the hops as W3C ``traceparent`` /
``baggage`` headers through the SDK's global propagator (``opentelemetry.propagate``); the
server and client spans are made here, a few lines each: the instrumentation libraries for this
SDK (1.45.2, semantic conventions 0.66b2) are not published (opentelemetry-instrumentation-*
stops at 0.66b1, which pins semantic conventions 0.66b1).

Span names are route templates (``POST /orders/{id}``), except inventory's, which carry the raw
path (``GET /inventory/48213``) like a naive instrumentation; the gateway's span-name rules
template them. Logs are one JSON object per line with ``trace_id`` and ``span_id``.

Flags travel as query parameters and are passed on downstream: ``fail=1`` (payments answers 500),
``slow=1`` (inventory sleeps ``--slow-seconds``, default 2.5), ``broken_hop=1`` (orders calls
payments with a ``traceparent`` naming a span nobody exports, as an uninstrumented proxy in the
middle would: payments' span is then an orphan in the trace). Payments records PII on its span
(an e-mail, a card number) for the gateway to scrub. ``/healthz`` answers 200.

The Go hop (optional): with ``running_shop(..., go_binary=PATH)`` orders also calls ``shipping``, the
Go service of tools/demo/goservice (``POST /shipping/{id}``), which calls inventory over HTTP (W3C
context injected by hand) and ``rates``, a second Go process, over gRPC (otelgrpc). ``go_skip_inject_to``
(``inventory`` or ``rates``) makes shipping's client for that service send no context: a broken hop.
Without ``go_binary`` the shop is the four Python services above.
"""

import argparse
import json
import logging
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SERVICES = ("frontend", "orders", "inventory", "payments")
ROUTES = {  # service -> (method, regex, route template)
    "frontend": ("GET", re.compile(r"^/shop/orders/(\d+)$"), "/shop/orders/{id}"),
    "orders": ("POST", re.compile(r"^/orders/(\d+)$"), "/orders/{id}"),
    "inventory": ("GET", re.compile(r"^/inventory/(\d+)$"), "/inventory/{sku}"),
    "payments": ("POST", re.compile(r"^/payments/(\d+)$"), "/payments/{id}"),
    "shipping": ("POST", re.compile(r"^/shipping/(\d+)$"), "/shipping/{id}"),  # the Go service
}
CALLS = {"frontend": ["orders"], "orders": ["inventory", "payments"], "inventory": [], "payments": []}
OPTIONAL_CALLS = {"orders": ["shipping"]}  # called when a --downstream names it
GO_SERVICES = ("shipping", "rates")
FLAGS = ("fail", "slow", "broken_hop")


class JsonFormatter(logging.Formatter):
    def __init__(self, service):
        super().__init__()
        self.service = service

    def format(self, record):
        from opentelemetry import trace

        ctx = trace.get_current_span().get_span_context()
        doc = {"ts": round(record.created, 3), "level": record.levelname.lower(), "service": self.service,
               "msg": record.getMessage(), "trace_id": "%032x" % ctx.trace_id if ctx.is_valid else None,
               "span_id": "%016x" % ctx.span_id if ctx.is_valid else None}
        doc.update(getattr(record, "fields", {}))
        return json.dumps(doc)


def _setup(service, otlp, log_file):
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": service, "service.namespace": "shop"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp.rstrip("/") + "/v1/traces"),
                                                   schedule_delay_millis=500))
    trace.set_tracer_provider(provider)
    handler = logging.FileHandler(log_file) if log_file else logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    log = logging.getLogger("shop")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return provider, trace.get_tracer("tracefleet.demo.shop"), log


def make_handler(service, tracer, log, downstream, slow_seconds):
    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    method, pattern, template = ROUTES[service]

    def call(target, ident, flags, broken_hop=False):
        t_method, _, t_template = ROUTES[target]
        path = t_template.replace("{id}", ident).replace("{sku}", str(int(ident) % 997 + 1000))
        query = urllib.parse.urlencode({k: "1" for k in flags})
        url = downstream[target] + path + ("?" + query if query else "")
        with tracer.start_as_current_span("%s %s" % (t_method, t_template), kind=SpanKind.CLIENT,
                                          attributes={"http.request.method": t_method, "url.full": url,
                                                      "server.address": target}) as span:
            headers = {}
            propagate.inject(headers)
            if broken_hop:
                # An uninstrumented proxy in the middle: it forwards a traceparent naming a span it never exports.
                ctx = span.get_span_context()
                headers["traceparent"] = "00-%032x-%s-01" % (ctx.trace_id, secrets.token_hex(8))
            request = urllib.request.Request(url, method=t_method, headers=headers, data=b"" if t_method == "POST" else None)
            try:
                with urllib.request.urlopen(request, timeout=30) as resp:  # loopback only
                    status = resp.status
            except urllib.error.HTTPError as err:
                status = err.code
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR, "%s answered %d" % (target, status)))
            return status

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # JSON logs only
            pass

        def _reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self, verb):
            parsed = urllib.parse.urlsplit(self.path)
            if parsed.path == "/healthz":
                return self._reply(200, {"service": service})
            match = pattern.match(parsed.path)
            if verb != method or not match:
                return self._reply(404, {"error": "no route %s %s" % (verb, parsed.path)})
            flags = {k for k, v in urllib.parse.parse_qsl(parsed.query) if k in FLAGS and v == "1"}
            ctx = propagate.extract({k.lower(): v for k, v in self.headers.items()})  # urllib capitalises names
            name = "%s %s" % (method, parsed.path if service == "inventory" else template)
            with tracer.start_as_current_span(name, context=ctx, kind=SpanKind.SERVER, attributes={
                    "http.request.method": method, "http.route": template, "url.path": parsed.path}) as span:
                status, ident = 200, match.group(1)
                if service == "payments":
                    span.set_attribute("user.email", "customer-%s@example.com" % ident)
                    span.set_attribute("payment.card", "4111 1111 1111 1111")
                    if "fail" in flags:
                        status = 500
                        span.set_status(Status(StatusCode.ERROR, "card declined"))
                if service == "inventory" and "slow" in flags:
                    time.sleep(slow_seconds)
                for target in CALLS[service] + [t for t in OPTIONAL_CALLS.get(service, []) if t in downstream]:
                    answered = call(target, ident, flags, broken_hop=service == "orders" and target == "payments"
                                    and "broken_hop" in flags)
                    if answered >= 500:
                        status = 502
                span.set_attribute("http.response.status_code", status)
                if status >= 500 and service != "payments":
                    span.set_status(Status(StatusCode.ERROR, "downstream failed"))
                ctx = span.get_span_context()
                log.info("%s %s -> %d" % (verb, parsed.path, status),
                         extra={"fields": {"route": template, "status": status, "flags": sorted(flags)}})
                self._reply(status, {"service": service, "status": status, "trace_id": "%032x" % ctx.trace_id,
                                     "span_id": "%016x" % ctx.span_id})

        def do_GET(self):  # noqa: N802
            self._handle("GET")

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self._handle("POST")

    return Handler


def serve(service, port, otlp, downstream, slow_seconds=2.5, log_file=None, host="127.0.0.1"):
    provider, tracer, log = _setup(service, otlp, log_file)
    server = ThreadingHTTPServer((host, port), make_handler(service, tracer, log, downstream, slow_seconds))
    server.daemon_threads = True

    def stop(*_):
        server.shutdown()
    signal.signal(signal.SIGTERM, lambda *_: __import__("threading").Thread(target=stop).start())
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        provider.shutdown()  # flush what is left


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url):
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=1) as resp:  # loopback only
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _go_commands(binary, urls, endpoints, workdir, skip_inject_to):
    """Command lines of the Go services: rates (gRPC only), then shipping (HTTP in; inventory over HTTP, rates over gRPC)."""
    rates = urls["rates"].split("//", 1)[1]
    common = ["-skip-inject-to", skip_inject_to or ""]
    return {
        "rates": [str(binary), "-service", "rates", "-grpc", rates, "-otlp", endpoints.get("rates", endpoints["orders"]),
                  "-log-file", str(workdir / "rates.log")] + common,
        "shipping": [str(binary), "-service", "shipping", "-http", urls["shipping"].split("//", 1)[1],
                     "-otlp", endpoints.get("shipping", endpoints["orders"]), "-log-file", str(workdir / "shipping.log"),
                     "-http-downstream", "inventory=%s" % urls["inventory"], "-grpc-downstream", "rates=%s" % rates] + common,
    }


def _listening(url):
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


@contextmanager
def running_shop(endpoints, workdir, slow_seconds=2.5, ready_timeout=20.0, go_binary=None, go_skip_inject_to=None):
    """Start the four services (endpoints: service -> OTLP/HTTP base URL of its agent); yields {service: URL}.

    With ``go_binary`` (tfstack.goservice.ensure()) the Go services shipping and rates start too and
    orders calls shipping; their OTLP endpoint is ``endpoints[name]``, else orders'. Logs go to
    <workdir>/<service>.log (JSON lines). On exit each process gets SIGTERM (it flushes its spans),
    then SIGKILL after 10 s.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    names = SERVICES + (GO_SERVICES if go_binary else ())
    urls = {s: "http://127.0.0.1:%d" % _free_port() for s in names}
    procs = []
    try:
        go = _go_commands(go_binary, urls, endpoints, workdir, go_skip_inject_to) if go_binary else {}
        for service, cmd in go.items():  # they dial their downstreams lazily, so they may start first
            with open(workdir / ("%s.stderr" % service), "ab") as err:
                procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                                              env={k: v for k, v in os.environ.items() if not k.startswith("OTEL_")},
                                              start_new_session=True))
            started = time.monotonic()
            while not (_healthy(urls[service]) if service == "shipping" else _listening(urls[service])):
                if procs[-1].poll() is not None or time.monotonic() - started > ready_timeout:
                    raise RuntimeError("Go service %s did not start; see %s" % (service, workdir / ("%s.stderr" % service)))
                time.sleep(0.1)
        for service in reversed(SERVICES):  # leaves first
            cmd = [sys.executable, str(Path(__file__).resolve()), "--service", service,
                   "--port", urls[service].rsplit(":", 1)[1], "--otlp", endpoints[service],
                   "--slow-seconds", str(slow_seconds), "--log-file", str(workdir / ("%s.log" % service))]
            for target in CALLS[service] + [t for t in OPTIONAL_CALLS.get(service, []) if t in urls]:
                cmd += ["--downstream", "%s=%s" % (target, urls[target])]
            env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
            with open(workdir / ("%s.stderr" % service), "ab") as err:
                procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
                                              env=env, start_new_session=True))
            started = time.monotonic()
            while not _healthy(urls[service]):
                if procs[-1].poll() is not None or time.monotonic() - started > ready_timeout:
                    raise RuntimeError("shop service %s did not start; see %s" % (service, workdir / ("%s.stderr" % service)))
                time.sleep(0.1)
        yield urls
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service", required=True, choices=SERVICES)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--otlp", required=True, help="OTLP/HTTP base URL of the agent, e.g. http://127.0.0.5:4318")
    parser.add_argument("--downstream", action="append", default=[], help="service=URL (repeat)")
    parser.add_argument("--slow-seconds", type=float, default=2.5)
    parser.add_argument("--log-file")
    args = parser.parse_args(argv)
    downstream = dict(item.split("=", 1) for item in args.downstream)
    missing = [t for t in CALLS[args.service] if t not in downstream]
    if missing:
        parser.error("--downstream needed for %s" % ", ".join(missing))
    random.seed()
    serve(args.service, args.port, args.otlp, downstream, args.slow_seconds, args.log_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
