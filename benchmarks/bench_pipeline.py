"""bench pipeline: spans/s through agent -> 3 gateways -> Tempo against a pass-through collector, same run, same machine.

Both arms are the same otelcol binary (tfstack build otelcol, 0.158.0) on loopback with a real Tempo
(tfstack.tempo), and get the same pre-encoded OTLP/HTTP requests (protobuf, built before the clock
starts, so the Python sender is not what is measured): traces of 3 spans from 3 services, 10 % with an
error status, posted by SENDERS threads; a refused request (429/503 from the memory_limiter) is retried
and counted.

* pipeline: one agent and three gateways with the collection's own configuration builders and the role
  defaults (module_utils/collector_config.py: what the roles render) except the gateway's
  expected_new_traces_per_sec and average_trace_kib, set to the rate and trace size pushed here so num_traces
  holds every trace (the agent's load_balancing exporter
  routes by trace id to the gateways, static resolver on 127.0.0.2-4 as the data-plane mapping gives;
  the agent without k8s_attributes, which needs a pod's API and node, as in bench_verify). The clock stops
  when the gateways' receivers have accepted every span (the last hop that sees all of them; tail sampling
  then holds them decision_wait, 10 s by default, and exports the kept ones, which is not throughput).
* baseline: one pass-through collector (otlp receiver -> otlp_grpc exporter to Tempo, nothing else). The
  clock stops when its exporter has sent every span to Tempo.

Each arm runs ROUNDS times, alternating; the figure is the median. While the pipeline arm runs (until
the gateways have exported what they keep) each gateway's resident memory (VmRSS) is sampled every 0.2 s
and compared with its memory_limiter limit_mib. Bounded: SPANS per round, a deadline per phase.
Writes benchmarks/results/pipeline.json. Note: on a shared 2-core machine the figures are noisy.
"""

import random
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import write_result  # noqa: E402
from tfstack.collection import collections_root  # noqa: E402
from tfstack.dataplane.processes import AGENT_ADDRESSES, GATEWAY_ADDRESSES, parse_metrics, running  # noqa: E402
from tfstack.tempo import running_tempo  # noqa: E402

sys.path.insert(0, str(collections_root()))

from ansible_collections.tracefleet.otel.plugins.module_utils.collector_config import (  # noqa: E402
    GATEWAY_DEFAULTS,
    agent_config,
    gateway_config,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status  # noqa: E402

SPANS = 450_000  # per round and arm: about 10 s of sending, so the queues reach a steady state
TRACES_PER_REQUEST = 300  # 900 spans per request
SENDERS = 4
ROUNDS = 2
GOAL = 0.8
EXPECTED_TRACES_PER_S = 8000  # tracefleet_gateway_expected_new_traces_per_sec for this load (per gateway)
TRACE_KIB = 1  # tracefleet_gateway_average_trace_kib: these traces are 3 small spans (the role's sizing check uses it)
PHASE_TIMEOUT_S = 180.0
GATEWAY_PORT = 4317
SERVICES = ("frontend", "orders", "payments")


def requests_for(spans, seed):
    """Serialized ExportTraceServiceRequests holding spans // 3 traces (3 services, 10 % errors)."""
    rnd = random.Random(seed)
    now = time.time_ns()
    bodies = []
    for _ in range(spans // 3 // TRACES_PER_REQUEST):
        request = ExportTraceServiceRequest()
        scopes = {}
        for service in SERVICES:
            rs = request.resource_spans.add()
            rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value=service)))
            scopes[service] = rs.scope_spans.add()
            scopes[service].scope.name = "bench_pipeline"
        for _ in range(TRACES_PER_REQUEST):
            trace_id = rnd.getrandbits(128).to_bytes(16, "big")
            parent = b""
            error = rnd.random() < 0.1
            for depth, service in enumerate(SERVICES):
                span_id = rnd.getrandbits(64).to_bytes(8, "big")
                span = scopes[service].spans.add(trace_id=trace_id, span_id=span_id, parent_span_id=parent,
                                                 name="GET /%s/{id}" % service, kind=Span.SPAN_KIND_SERVER,
                                                 start_time_unix_nano=now + depth * 1000,
                                                 end_time_unix_nano=now + 20_000_000 - depth * 1000)
                span.attributes.append(KeyValue(key="http.route", value=AnyValue(string_value="/%s/{id}" % service)))
                if error and service == "payments":
                    span.status.code = Status.STATUS_CODE_ERROR
                parent = span_id
        bodies.append(request.SerializeToString())
    return bodies


def post_all(url, bodies):
    """POST every body (retrying refusals); returns the number of retries."""
    retries = [0]

    def post(body):
        for _ in range(200):
            request = urllib.request.Request(url, data=body, method="POST",
                                             headers={"Content-Type": "application/x-protobuf"})
            try:
                with urllib.request.urlopen(request, timeout=30) as resp:  # loopback only
                    resp.read()
                    return
            except urllib.error.HTTPError as err:
                if err.code not in (429, 503):
                    raise
            retries[0] += 1
            time.sleep(0.05)
        raise RuntimeError("a request was refused 200 times")

    with ThreadPoolExecutor(SENDERS) as pool:
        list(pool.map(post, bodies))
    return retries[0]


def total(collectors, name):
    return sum(parse_metrics_of(c).get(name, 0.0) for c in collectors)


def parse_metrics_of(collector):
    with urllib.request.urlopen(collector.metrics_url, timeout=5) as resp:  # loopback only
        return parse_metrics(resp.read().decode())


def wait_for(collectors, name, want, started):
    while total(collectors, name) < want:
        if time.monotonic() - started > PHASE_TIMEOUT_S:
            raise RuntimeError("%s stayed below %d after %.0f s" % (name, want, PHASE_TIMEOUT_S))
        time.sleep(0.05)
    return time.monotonic() - started


def rss_mib(pid):
    try:
        for line in Path("/proc/%d/status" % pid).read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return 0.0
    return 0.0


def passthrough_config(tempo_host):
    return {
        "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "0.0.0.0:4318"}}}},
        "exporters": {"otlp_grpc/tempo": {"endpoint": tempo_host, "tls": {"insecure": True}}},
        "extensions": {"health_check": {"endpoint": "0.0.0.0:13133"}},
        "service": {
            "extensions": ["health_check"],
            "telemetry": {"metrics": {"readers": [{"pull": {"exporter": {"prometheus": {"host": "0.0.0.0", "port": 8888}}}}]}},
            "pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["otlp_grpc/tempo"]}},
        },
    }


def run_baseline(tempo, bodies, spans):
    tempo_host = GATEWAY_DEFAULTS["tempo_endpoint"]
    spec = {"config_text": yaml.safe_dump(passthrough_config(tempo_host)), "address": GATEWAY_ADDRESSES[0],
            "services": {tempo_host: tempo.otlp_grpc}, "name": "passthrough"}
    with running([spec], []) as plane:
        collector = plane.gateways[0]
        before = total([collector], "otelcol_exporter_sent_spans")
        started = time.monotonic()
        retries = post_all(collector.otlp_http + "/v1/traces", bodies)
        seconds = wait_for([collector], "otelcol_exporter_sent_spans", before + spans, started)
    return spans / seconds, seconds, retries


def run_pipeline(tempo, bodies, spans):
    # Sized for the rate this benchmark pushes (about 7,000 new traces/s per gateway): with the role's default
    # (1,000/s, num_traces 20,000) tail sampling evicts most traces before deciding (dropped_too_early).
    gateway = gateway_config({"tls_insecure": True, "expected_new_traces_per_sec": EXPECTED_TRACES_PER_S,
                              "average_trace_kib": TRACE_KIB})
    agent = agent_config({"processors": ["memory_limiter", "batch"], "resolver": "static",
                          "static_hostnames": ["%s:%d" % (a, GATEWAY_PORT) for a in GATEWAY_ADDRESSES]})
    limit_mib = gateway["processors"]["memory_limiter"]["limit_mib"]
    tempo_host = GATEWAY_DEFAULTS["tempo_endpoint"]
    specs = [{"config_text": yaml.safe_dump(gateway), "address": address, "services": {tempo_host: tempo.otlp_grpc}}
             for address in GATEWAY_ADDRESSES]
    agents = [{"config_text": yaml.safe_dump(agent), "address": AGENT_ADDRESSES[0],
               "gateways": ["%s:%d" % (a, GATEWAY_PORT) for a in GATEWAY_ADDRESSES]}]
    peaks = {}
    with running(specs, agents) as plane:
        stop = threading.Event()

        def sample():
            while not stop.is_set():
                for g in plane.gateways:
                    peaks[g.name] = max(peaks.get(g.name, 0.0), rss_mib(g.process.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        retries = post_all(plane.agents[0].otlp_http + "/v1/traces", bodies)
        seconds = wait_for(plane.gateways, "otelcol_receiver_accepted_spans", spans, started)
        # keep sampling memory until the kept traces have left the gateways (decision_wait + batch)
        exported, stable_since = -1, time.monotonic()
        while time.monotonic() - started < seconds + PHASE_TIMEOUT_S:
            now = total(plane.gateways, "otelcol_exporter_sent_spans")
            if now != exported:
                exported, stable_since = now, time.monotonic()
            elif now and time.monotonic() - stable_since > 8:  # longer than the gateway's batch timeout (5 s)
                break
            time.sleep(0.5)
        dropped = total(plane.gateways, "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early")
        stop.set()
        sampler.join()
    return spans / seconds, seconds, retries, peaks, limit_mib, exported, dropped


def main() -> int:
    bodies = requests_for(SPANS, seed=1)
    spans = len(bodies) * TRACES_PER_REQUEST * 3
    baseline_runs, pipeline_runs, details = [], [], []
    with running_tempo(log=lambda *_: None) as tempo:
        for round_no in range(ROUNDS):
            rate, seconds, retries = run_baseline(tempo, bodies, spans)
            baseline_runs.append(round(rate))
            print("round %d baseline: %d spans in %.2f s = %.0f spans/s (%d retries)" % (round_no, spans, seconds, rate, retries))
            rate, seconds, retries, peaks, limit_mib, exported, dropped = run_pipeline(tempo, bodies, spans)
            pipeline_runs.append(round(rate))
            details.append({"gateway_rss_peak_mib": {k: round(v, 1) for k, v in peaks.items()},
                            "spans_exported_to_tempo": int(exported), "traces_dropped_too_early": int(dropped),
                            "retries": retries})
            print("round %d pipeline: %d spans in %.2f s = %.0f spans/s (%d retries); gateway RSS peaks %s MiB, "
                  "memory_limiter limit %d MiB; %d kept spans exported to Tempo (%.1f %%), %d traces dropped too early"
                  % (round_no, spans, seconds, rate, retries, details[-1]["gateway_rss_peak_mib"], limit_mib, exported,
                     100.0 * exported / spans, dropped))
    value, baseline = statistics.median(pipeline_runs), statistics.median(baseline_runs)
    rss_peak = max(v for d in details for v in d["gateway_rss_peak_mib"].values())
    dropped = sum(d["traces_dropped_too_early"] for d in details)
    ok = value / baseline >= GOAL and rss_peak < limit_mib and dropped == 0
    print("pipeline %.0f spans/s, pass-through %.0f spans/s: ratio %.3f (goal >= %.1f); gateway RSS peak %.1f MiB "
          "< memory_limiter %d MiB: %s" % (value, baseline, value / baseline, GOAL, rss_peak, limit_mib, rss_peak < limit_mib))
    write_result("pipeline", "spans/s agent -> 3 gateways (median of %d rounds)" % ROUNDS, value, "spans/s", baseline,
                 goal="ratio >= %.1f, gateway RSS < memory_limiter limit_mib, no trace dropped too early" % GOAL, goal_met=ok,
                 pipeline_runs=pipeline_runs, baseline_runs=baseline_runs, spans_per_round=spans,
                 gateway_rss_peak_mib=round(rss_peak, 1), gateway_memory_limiter_limit_mib=limit_mib, rounds=details,
                 gateway_settings={"expected_new_traces_per_sec": EXPECTED_TRACES_PER_S, "average_trace_kib": TRACE_KIB,
                                   "other": "role defaults"},
                 baseline_path="pass-through otelcol (otlp receiver -> otlp_grpc exporter) -> Tempo, clock to all spans sent",
                 path="agent (load_balancing by trace id) -> 3 gateways (role defaults: tail sampling, scrubbing, batch) -> "
                      "Tempo, clock to all spans accepted by the gateways; same otelcol 0.158.0 binary, real Tempo, loopback",
                 note="shared 2-core machine (other jobs running): figures are noisy")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
