#!/usr/bin/env python3
"""Record real Tempo answers as unit-test fixtures (rerunnable).

Starts the real Tempo from the stack harness on 127.0.0.1, posts probe traces built by the
collection's own otlp_probe code to Tempo's OTLP/HTTP receiver, and saves what Tempo answers
under tests/unit/plugins/fixtures/tempo/:

  v2_probe.json        GET /api/v2/traces/<id>  a complete probe (3 services, leading-zero trace id)
  v1_probe.json        GET /api/traces/<id>     the same trace in the v1 form ({"batches": ...})
  v2_orphan.json       a trace whose CLIENT span was never sent: the next hop's parent is missing
  v2_partial.json      a trace of which only the first service's spans had arrived
  v2_complete.json     the same trace after the rest arrived
  search_probe.json    GET /api/search?q={ resource.service.name = "..." }  (trace ids trimmed of leading zeros)
  index.json           trace ids, span layout, the 404 answers, Tempo's version, when recorded

Bodies are Tempo's JSON, parsed and re-indented (no value changed). Run:

  /tmp/tf/venv0/bin/python tests/integration/record_tempo_fixtures.py
"""

import datetime
import json
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools" / "stack"))

from tfstack.collection import collections_root  # noqa: E402
from tfstack.tempo import running_tempo  # noqa: E402

sys.path.insert(0, str(collections_root()))

from ansible_collections.tracefleet.otel.plugins.module_utils import otlp_probe  # noqa: E402

FIXTURES = REPO / "tests" / "unit" / "plugins" / "fixtures" / "tempo"
SERVICES = ["tracefleet-probe-frontend", "tracefleet-probe-orders", "tracefleet-probe-payments"]
DEADLINE_S = 60


def get(url, timeout=10):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def post(url, body):
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.read()


def wait_for(tempo_url, trace_id, spans, deadline_s=DEADLINE_S):
    """Poll v2 until the trace has `spans` spans; return (seconds, body)."""
    start = time.monotonic()
    while True:
        status, body = get(f"{tempo_url}/api/v2/traces/{trace_id}")
        if status == 200:
            doc = json.loads(body)
            got = sum(len(ss.get("spans", [])) for rs in doc.get("trace", {}).get("resourceSpans", [])
                      for ss in rs.get("scopeSpans", []))
            if got >= spans:
                return time.monotonic() - start, body
        if time.monotonic() - start > deadline_s:
            raise SystemExit(f"trace {trace_id} not complete after {deadline_s} s (last {status}: {body[:200]!r})")
        time.sleep(0.1)


def save(name, body):
    doc = json.loads(body)
    (FIXTURES / name).write_text(json.dumps(doc, indent=1, sort_keys=False) + "\n")
    return doc


def layout(probe):
    return [dict(s) for s in probe.spans]


def main():
    FIXTURES.mkdir(parents=True, exist_ok=True)
    index = {"recorded_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "traces": {}}
    with running_tempo() as tempo:
        index["tempo_ready_after_s"] = round(tempo.ready_after_s, 2)
        status, body = get(f"{tempo.url}/api/status/buildinfo")
        index["tempo_buildinfo"] = json.loads(body) if status == 200 else {"status": status}
        otlp = otlp_probe.traces_url(tempo.otlp_http)

        # Before anything is sent: what "not found" looks like, in both API versions, and a route that does not exist.
        absent = otlp_probe.new_trace_id()
        index["not_found"] = {}
        for label, path in (("v2", f"/api/v2/traces/{absent}"), ("v1", f"/api/traces/{absent}"),
                            ("no_route", f"/api/v9/traces/{absent}")):
            status, body = get(tempo.url + path)
            index["not_found"][label] = {"path": path, "status": status, "body": body.decode("utf-8", "replace")}

        # 1. A complete probe across three services, with a trace id that starts with zeros.
        probe = otlp_probe.build_probe(SERVICES, resource_attributes={"deployment.environment": "staging"},
                                       trace_id="0000" + secrets.token_hex(14))
        sent = time.monotonic()
        post(otlp, probe.body())
        readable_after, body = wait_for(tempo.url, probe.trace_id, probe.span_count)
        save("v2_probe.json", body)
        status, body = get(f"{tempo.url}/api/traces/{probe.trace_id}")
        assert status == 200, (status, body)
        save("v1_probe.json", body)
        index["traces"]["probe"] = {"trace_id": probe.trace_id, "spans": layout(probe), "services": SERVICES,
                                    "readable_after_s": round(readable_after, 3)}

        # 2. A broken hop: the frontend's CLIENT span is never sent, so orders' SERVER span is an orphan.
        orphan_probe = otlp_probe.build_probe(SERVICES)
        client = next(s for s in orphan_probe.spans if s["kind"] == otlp_probe.KIND_CLIENT)
        post(otlp, orphan_probe.without_spans([client["span_id"]]).body())
        wait_for(tempo.url, orphan_probe.trace_id, orphan_probe.span_count - 1)
        time.sleep(1.0)  # nothing else is coming; read it once more to be sure
        status, body = get(f"{tempo.url}/api/v2/traces/{orphan_probe.trace_id}")
        save("v2_orphan.json", body)
        index["traces"]["orphan"] = {"trace_id": orphan_probe.trace_id, "spans": layout(orphan_probe),
                                     "dropped_span_id": client["span_id"], "services": SERVICES}

        # 3. A trace that arrives in two parts.
        parts = otlp_probe.build_probe(SERVICES[:2])
        first = {"resourceSpans": parts.payload["resourceSpans"][:1]}
        rest = {"resourceSpans": parts.payload["resourceSpans"][1:]}
        first_count = sum(len(ss["spans"]) for rs in first["resourceSpans"] for ss in rs["scopeSpans"])
        post(otlp, json.dumps(first).encode())
        _, body = wait_for(tempo.url, parts.trace_id, first_count)
        save("v2_partial.json", body)
        post(otlp, json.dumps(rest).encode())
        _, body = wait_for(tempo.url, parts.trace_id, parts.span_count)
        save("v2_complete.json", body)
        index["traces"]["parts"] = {"trace_id": parts.trace_id, "spans": layout(parts), "services": SERVICES[:2]}

        # 4. Search by service: poll until the leading-zero probe shows up.
        query = '{ resource.service.name = "%s" }' % SERVICES[0]
        start = time.monotonic()
        while True:
            end_s = int(time.time()) + 60
            params = urllib.parse.urlencode({"q": query, "limit": 20, "start": end_s - 3660, "end": end_s})
            status, body = get(f"{tempo.url}/api/search?{params}")
            doc = json.loads(body) if status == 200 else {}
            ids = [t.get("traceID", "") for t in doc.get("traces", [])]
            if any(i.lstrip("0") == probe.trace_id.lstrip("0") for i in ids):
                break
            if time.monotonic() - start > DEADLINE_S:
                raise SystemExit(f"search did not find the probe after {DEADLINE_S} s: {status} {body[:300]!r}")
            time.sleep(0.5)
        index["search"] = {"query": query, "found_after_s": round(time.monotonic() - start, 2),
                           "since_probe_sent_s": round(time.monotonic() - sent, 2)}
        save("search_probe.json", body)

    (FIXTURES / "index.json").write_text(json.dumps(index, indent=1) + "\n")
    print(json.dumps({k: v for k, v in index.items() if k != "traces"}, indent=1))
    print("probe readable after %.3f s" % index["traces"]["probe"]["readable_after_s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
