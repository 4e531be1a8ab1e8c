"""Tempo client and trace analysis, driven by answers recorded from the real Tempo.

The fixtures and their index.json come from tests/integration/record_tempo_fixtures.py;
the tests read the expected ids and span layout from the index, so a re-recording keeps them valid.
"""

import base64
import json
import re
from pathlib import Path
from urllib.error import HTTPError, URLError

import pytest

from ansible_collections.tracefleet.otel.plugins.module_utils import tempo

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tempo"
INDEX = json.loads((FIXTURES / "index.json").read_text())
PROBE = INDEX["traces"]["probe"]
ORPHAN = INDEX["traces"]["orphan"]
PARTS = INDEX["traces"]["parts"]


def body(name):
    return (FIXTURES / name).read_bytes()


def doc(name):
    return json.loads(body(name))


class FakeClock:
    """Replaces tempo.monotonic and tempo.sleep: sleeping advances time instantly."""

    def __init__(self, monkeypatch):
        self.now = 1000.0
        self.slept = []
        monkeypatch.setattr(tempo, "monotonic", lambda: self.now)
        monkeypatch.setattr(tempo, "sleep", self.sleep)

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


class SequenceTransport:
    """Answers each request from a list of (status, body) per url pattern, repeating the last."""

    def __init__(self, routes):
        self.routes = [(re.compile(pattern), list(answers)) for pattern, answers in routes]
        self.headers = {}
        self.calls = []

    def request(self, method, url, data=None, headers=None):
        self.calls.append((method, url))
        for pattern, answers in self.routes:
            if pattern.search(url):
                return answers.pop(0) if len(answers) > 1 else answers[0]
        raise AssertionError("unexpected request %s %s" % (method, url))


NOT_FOUND_V2 = (INDEX["not_found"]["v2"]["status"], INDEX["not_found"]["v2"]["body"].encode())
NOT_FOUND_V1 = (INDEX["not_found"]["v1"]["status"], INDEX["not_found"]["v1"]["body"].encode())
NO_ROUTE = (INDEX["not_found"]["no_route"]["status"], INDEX["not_found"]["no_route"]["body"].encode())


def client_for(routes, **kwargs):
    return tempo.TempoClient("http://127.0.0.1:3200/", transport=SequenceTransport(routes), **kwargs)


# ---------------------------------------------------------------------------------------------- ids

def test_recorded_not_found_answers():
    # Tempo 2.8's v2 answers an unknown id with 200 and an empty trace; v1 with a bare 404;
    # a route Tempo does not have with the router's own 404 text.
    assert NOT_FOUND_V2[0] == 200 and json.loads(NOT_FOUND_V2[1])["trace"] == {}
    assert NOT_FOUND_V1 == (404, b"")
    assert NO_ROUTE[0] == 404 and b"page not found" in NO_ROUTE[1].lower()


def test_empty_v2_answer_means_not_found_yet():
    client = client_for([(r"/api/v2/traces/", [NOT_FOUND_V2])])
    assert client.get_trace(PROBE["trace_id"]) is None
    assert client.api_version == "auto"


@pytest.mark.parametrize("raw,expected", [
    ("4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f3577b34da6a3ce929d0e0e4736"),
    ("4BF92F3577B34DA6A3CE929D0E0E4736", "4bf92f3577b34da6a3ce929d0e0e4736"),
    ("f1e2d3", "00000000000000000000000000f1e2d3"),
    ("0x00ff", "000000000000000000000000000000ff"),
    (" 0000abcdef0123456789abcdef012345 ", "0000abcdef0123456789abcdef012345"),
])
def test_normalize_trace_id(raw, expected):
    assert tempo.normalize_trace_id(raw) == expected


@pytest.mark.parametrize("raw", ["", None, "xyz", "0" * 32, "1" * 33, "4bf9-2f35"])
def test_normalize_trace_id_refuses(raw):
    with pytest.raises(ValueError):
        tempo.normalize_trace_id(raw)


def test_ids_in_recorded_answers_are_base64_and_decode_to_the_sent_hex():
    span = doc("v2_probe.json")["trace"]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert not re.match(r"^[0-9a-f]{32}$", span["traceId"])  # Tempo answers base64, not hex
    assert base64.b64decode(span["traceId"]).hex() == PROBE["trace_id"]
    assert tempo.id_to_hex(span["traceId"], 16) == PROBE["trace_id"]
    assert tempo.id_to_hex(span["spanId"], 8) in {s["span_id"] for s in PROBE["spans"]}


@pytest.mark.parametrize("value,size,expected", [
    ("", 8, ""),
    (None, 8, ""),
    ("AAECAwQFBgc=", 8, "0001020304050607"),
    ("AAECAwQFBgc", 8, "0001020304050607"),
    ("0001020304050607", 8, "0001020304050607"),
    ("AAAAAAAAAAAAAAAAAAAA/w==", 16, "000000000000000000000000000000ff"),
    ("AAAAAAAAAAAAAAAAAAAA_w==", 16, "000000000000000000000000000000ff"),
])
def test_id_to_hex(value, size, expected):
    assert tempo.id_to_hex(value, size) == expected


def test_id_to_hex_refuses_too_long():
    with pytest.raises(ValueError):
        tempo.id_to_hex(base64.b64encode(b"x" * 12).decode(), 8)


# ---------------------------------------------------------------------------------------------- parsing

def test_v2_probe_analysis():
    analysis = tempo.analyze_trace(doc("v2_probe.json"))
    assert analysis["trace_id"] == PROBE["trace_id"] and PROBE["trace_id"].startswith("0000")
    assert analysis["span_count"] == len(PROBE["spans"])
    assert analysis["services"] == sorted(PROBE["services"])
    assert analysis["root_count"] == 1
    assert analysis["roots"] == [dict(span_id=PROBE["spans"][0]["span_id"], name="GET /tracefleet/probe",
                                      service=PROBE["services"][0])]
    assert analysis["orphan_spans"] == []
    assert analysis["attributes_seen"]["deployment.environment"] == ["staging"]
    assert analysis["attributes_seen"]["tracefleet.probe"] == ["true"]
    assert analysis["attributes_seen"]["service.name"] == sorted(PROBE["services"])
    assert analysis["attributes_seen"]["http.response.status_code"] == ["200"]
    assert analysis["duration_ms"] > 0


def test_v2_spans_keep_the_sent_parent_chain():
    spans = tempo.flatten_spans(doc("v2_probe.json"))
    got = {(s["span_id"], s["parent_span_id"], s["name"], s["service"]) for s in spans}
    sent = {(s["span_id"], s["parent_span_id"], s["name"], s["service"]) for s in PROBE["spans"]}
    assert got == sent
    assert {s["kind"] for s in spans} == {"SPAN_KIND_SERVER", "SPAN_KIND_CLIENT", "SPAN_KIND_INTERNAL"}


def test_v1_form_gives_the_same_analysis():
    v1 = doc("v1_probe.json")
    assert "batches" in v1 and "trace" not in v1
    assert tempo.analyze_trace(v1) == tempo.analyze_trace(doc("v2_probe.json"))


def test_plain_otlp_and_legacy_instrumentation_library_spans():
    v1 = doc("v1_probe.json")
    legacy = {"batches": [{"resource": b["resource"], "instrumentationLibrarySpans": b["scopeSpans"]}
                          for b in v1["batches"]]}
    otlp = {"resourceSpans": v1["batches"]}
    expected = tempo.analyze_trace(v1)
    assert tempo.analyze_trace(legacy) == expected
    assert tempo.analyze_trace(otlp) == expected


def test_empty_and_odd_documents():
    assert tempo.resource_spans({"trace": {}}) == []
    assert tempo.resource_spans({}) == []
    with pytest.raises(tempo.TempoError):
        tempo.resource_spans({"data": []})
    with pytest.raises(tempo.TempoError):
        tempo.resource_spans([])


def test_orphan_is_named_with_service_span_and_missing_parent():
    analysis = tempo.analyze_trace(doc("v2_orphan.json"))
    dropped = ORPHAN["dropped_span_id"]
    child = next(s for s in ORPHAN["spans"] if s["parent_span_id"] == dropped)
    assert analysis["span_count"] == len(ORPHAN["spans"]) - 1
    assert analysis["orphan_spans"] == [dict(span_id=child["span_id"], name=child["name"], service=child["service"],
                                             parent_span_id=dropped)]
    assert analysis["root_count"] == 1
    problems = tempo.Expectations(services=ORPHAN["services"]).problems(analysis)
    assert problems == ["broken propagation: 1 span whose parent is not in the trace (allowed 0): span 'handle probe' "
                        "in service '%s' has parent %s" % (child["service"], dropped)]
    assert tempo.Expectations(max_orphans=1).problems(analysis) == []
    assert tempo.Expectations(max_orphans=None).problems(analysis) == []


def test_partial_trace_lacks_a_service():
    analysis = tempo.analyze_trace(doc("v2_partial.json"))
    assert analysis["services"] == [PARTS["services"][0]]
    problems = tempo.Expectations(services=PARTS["services"], min_spans=len(PARTS["spans"])).problems(analysis)
    assert problems == [
        "service '%s' missing; saw: %s" % (PARTS["services"][1], PARTS["services"][0]),
        "%d spans, expected at least %d" % (analysis["span_count"], len(PARTS["spans"])),
    ]
    complete = tempo.analyze_trace(doc("v2_complete.json"))
    assert tempo.Expectations(services=PARTS["services"], min_spans=len(PARTS["spans"])).problems(complete) == []


def test_search_results_get_their_leading_zeros_back():
    raw_ids = [t["traceID"] for t in doc("search_probe.json")["traces"]]
    trimmed = PROBE["trace_id"].lstrip("0")
    assert trimmed in raw_ids  # Tempo trims the zeros...
    hits = tempo.parse_search(doc("search_probe.json"))
    assert PROBE["trace_id"] in [h["trace_id"] for h in hits]  # ...and the client restores them
    assert all(len(h["trace_id"]) == 32 for h in hits)
    hit = next(h for h in hits if h["trace_id"] == PROBE["trace_id"])
    assert hit["root_service"] == PROBE["services"][0] and hit["root_name"] == "GET /tracefleet/probe"


# ---------------------------------------------------------------------------------------------- expectations

def analysis_of_probe():
    return tempo.analyze_trace(doc("v2_probe.json"))


def test_expectations_met():
    exp = tempo.Expectations(services=PROBE["services"], min_spans=len(PROBE["spans"]),
                             attributes={"deployment.environment": "staging", "tracefleet.probe": True,
                                         "http.response.status_code": 200, "url.path": None})
    assert exp.problems(analysis_of_probe()) == []


def test_expectation_messages_say_what_was_expected_and_seen():
    analysis = analysis_of_probe()
    exp = tempo.Expectations(services=["payments", PROBE["services"][0]], min_spans=50,
                             attributes={"deployment.environment": "production", "k8s.namespace.name": None})
    saw = ", ".join(sorted(PROBE["services"]))
    assert exp.problems(analysis) == [
        "service 'payments' missing; saw: %s" % saw,
        "%d spans, expected at least 50" % len(PROBE["spans"]),
        "attribute 'deployment.environment' is never 'production'; saw: staging",
        "attribute 'k8s.namespace.name' not on any span or resource",
    ]


def test_root_count_expectation():
    analysis = analysis_of_probe()
    two_roots = dict(analysis, root_count=2, roots=analysis["roots"] * 2)
    assert tempo.Expectations().problems(two_roots) == [
        "2 root spans, expected exactly 1: 'GET /tracefleet/probe' in '%s', 'GET /tracefleet/probe' in '%s'"
        % (PROBE["services"][0], PROBE["services"][0])]
    assert tempo.Expectations().problems(dict(analysis, root_count=0, roots=[])) == ["no root span (every span has a parent)"]
    assert tempo.Expectations(single_root=False).problems(dict(analysis, root_count=0, roots=[])) == []


def test_result_messages():
    result = tempo.Result("4bf92f3577b34da6a3ce929d0e0e4736")
    result.lookups = 30
    assert result.message(30) == "trace 4bf92f3577b34da6a3ce929d0e0e4736 not found in Tempo after 30.0 s (30 lookups)"
    result.found, result.found_after_s = True, 12.04
    result.analysis = analysis_of_probe()
    result.problems = ["service 'payments' missing; saw: frontend, orders"]
    assert result.message(30) == ("trace 4bf92f3577b34da6a3ce929d0e0e4736 found after 12.0 s but service 'payments' "
                                  "missing; saw: frontend, orders")


# ---------------------------------------------------------------------------------------------- polling

def test_polls_through_404_until_found(monkeypatch):
    clock = FakeClock(monkeypatch)
    tid = PROBE["trace_id"]
    client = client_for([(r"/api/v2/traces/", [NOT_FOUND_V2, NOT_FOUND_V2, NOT_FOUND_V2, (200, body("v2_probe.json"))])])
    result = tempo.wait_for_trace(client, tid, tempo.Expectations(services=PROBE["services"]), timeout=30, interval=0.5)
    assert result.ok and result.found and result.lookups == 4
    assert result.found_after_s == pytest.approx(1.5)
    assert clock.slept == [0.5, 0.5, 0.5]
    assert client.transport.calls == [("GET", "http://127.0.0.1:3200/api/v2/traces/%s" % tid)] * 4
    out = result.as_dict()
    assert out["span_count"] == len(PROBE["spans"]) and out["found_after_s"] == 1.5 and out["problems"] == []


def test_keeps_polling_a_trace_that_arrives_in_parts(monkeypatch):
    FakeClock(monkeypatch)
    client = client_for([(r"/api/v2/traces/", [NOT_FOUND_V2, (200, body("v2_partial.json")), (200, body("v2_partial.json")),
                                               (200, body("v2_complete.json"))])])
    exp = tempo.Expectations(services=PARTS["services"], min_spans=len(PARTS["spans"]))
    result = tempo.wait_for_trace(client, PARTS["trace_id"], exp, timeout=30, interval=1)
    assert result.ok and result.lookups == 4
    assert result.found_after_s == pytest.approx(1.0)  # first seen (in part) after one interval
    assert result.analysis["services"] == sorted(PARTS["services"])


def test_not_found_after_deadline(monkeypatch):
    clock = FakeClock(monkeypatch)
    client = client_for([(r"/api/v2/traces/", [NOT_FOUND_V2])])
    result = tempo.wait_for_trace(client, "f1e2d3", tempo.Expectations(), timeout=5, interval=1)
    assert not result.found and result.lookups == 6 and clock.now - 1000.0 == 5  # at 0, 1, ... and at the deadline
    assert result.message(5) == "trace 00000000000000000000000000f1e2d3 not found in Tempo after 5.0 s (6 lookups)"
    assert result.as_dict()["found_after_s"] is None


def test_incomplete_until_deadline_reports_problems(monkeypatch):
    FakeClock(monkeypatch)
    client = client_for([(r"/api/v2/traces/", [(200, body("v2_partial.json"))])])
    result = tempo.wait_for_trace(client, PARTS["trace_id"], tempo.Expectations(services=PARTS["services"]),
                                  timeout=3, interval=1)
    assert result.found and not result.ok and result.lookups == 4
    assert result.message(3) == "trace %s found after 0.0 s but service '%s' missing; saw: %s" % (
        PARTS["trace_id"], PARTS["services"][1], PARTS["services"][0])


def test_started_counts_from_the_probe(monkeypatch):
    clock = FakeClock(monkeypatch)
    client = client_for([(r"/api/v2/traces/", [(200, body("v2_probe.json"))])])
    result = tempo.wait_for_trace(client, PROBE["trace_id"], tempo.Expectations(), timeout=5, started=clock.now - 2)
    assert result.found_after_s == pytest.approx(2.0)


# ---------------------------------------------------------------------------------------------- v1 / v2

def test_auto_falls_back_to_v1_when_tempo_has_no_v2_route():
    client = client_for([(r"/api/v2/traces/", [NO_ROUTE]), (r"/api/traces/", [(200, body("v1_probe.json"))])])
    first = client.get_trace(PROBE["trace_id"])
    second = client.get_trace(PROBE["trace_id"])
    assert "batches" in first and first == second
    assert client.api_version == "v1"
    assert [url.split("3200")[1].rsplit("/", 1)[0] for dummy, url in client.transport.calls] == [
        "/api/v2/traces", "/api/traces", "/api/traces"]


def test_a_404_for_a_missing_trace_is_not_a_missing_route():
    client = client_for([(r"/api/v2/traces/", [(404, b"trace not found")])])
    assert client.get_trace(PROBE["trace_id"]) is None
    assert client.api_version == "auto" and len(client.transport.calls) == 1


def test_v1_only():
    client = client_for([(r"/api/traces/", [NOT_FOUND_V1, (200, body("v1_probe.json"))])], api_version="v1")
    assert client.get_trace(PROBE["trace_id"]) is None
    assert tempo.analyze_trace(client.get_trace(PROBE["trace_id"]))["span_count"] == len(PROBE["spans"])


def test_v2_only_never_falls_back():
    client = client_for([(r"/api/v2/traces/", [NO_ROUTE])], api_version="v2")
    assert client.get_trace(PROBE["trace_id"]) is None
    assert client.api_version == "v2"


def test_200_with_an_empty_trace_means_not_found_yet():
    client = client_for([(r"/api/v2/traces/", [(200, b'{"trace":{},"status":"COMPLETE"}')])])
    assert client.get_trace(PROBE["trace_id"]) is None


@pytest.mark.parametrize("status,fragment", [(401, "check bearer_token"), (403, "refused"), (500, "answered 500")])
def test_errors_raise(status, fragment):
    client = client_for([(r"/api/v2/traces/", [(status, b"no")])])
    with pytest.raises(tempo.TempoError, match=fragment):
        client.get_trace(PROBE["trace_id"])


def test_non_json_body_raises():
    client = client_for([(r"/api/v2/traces/", [(200, b"<html>proxy login</html>")])])
    with pytest.raises(tempo.TempoError, match="not JSON"):
        client.get_trace(PROBE["trace_id"])


def test_bad_url_and_api_version():
    with pytest.raises(tempo.TempoError):
        tempo.TempoClient("127.0.0.1:3200")
    with pytest.raises(tempo.TempoError):
        tempo.TempoClient("http://127.0.0.1:3200", api_version="v3")


# ---------------------------------------------------------------------------------------------- search

def test_build_traceql():
    assert tempo.build_traceql("checkout") == '{ resource.service.name = "checkout" }'
    assert tempo.build_traceql("a\"b", {"tracefleet.probe": "true", "http.status": 500, "error": True, "x": None}) == (
        '{ resource.service.name = "a\\"b" && .error = true && .http.status = 500 && .tracefleet.probe = "true" && .x != nil }')
    assert tempo.build_traceql(None, {"odd key": "v"}) == '{ ."odd key" = "v" }'
    assert tempo.build_traceql() == "{ }"


def test_search_sends_query_and_window():
    client = client_for([(r"/api/search", [(200, body("search_probe.json"))])])
    hits = client.search('{ resource.service.name = "x" }', limit=5, start=100, end=200)
    assert PROBE["trace_id"] in [h["trace_id"] for h in hits]
    url = client.transport.calls[0][1]
    assert url.startswith("http://127.0.0.1:3200/api/search?q=%7B+resource.service.name+%3D+%22x%22+%7D")
    assert url.endswith("&limit=5&start=100&end=200")


def test_search_traces_polls_until_a_good_trace(monkeypatch):
    FakeClock(monkeypatch)
    only_probe = {"traces": [t for t in doc("search_probe.json")["traces"] if t["traceID"] == PROBE["trace_id"].lstrip("0")]}
    client = client_for([
        (r"/api/search", [(200, b'{"traces":[],"metrics":{}}'), (200, json.dumps(only_probe).encode())]),
        (r"/api/v2/traces/", [(200, body("v2_probe.json"))]),
    ])
    results, searches, elapsed = tempo.search_traces(client, "{ }", tempo.Expectations(services=PROBE["services"]),
                                                     timeout=10, interval=2)
    assert searches == 2 and elapsed == pytest.approx(2)
    assert [r.trace_id for r in results] == [PROBE["trace_id"]] and results[0].ok


def test_search_traces_gives_up_at_the_deadline(monkeypatch):
    FakeClock(monkeypatch)
    client = client_for([(r"/api/search", [(200, b'{"traces":[]}')])])
    results, searches, elapsed = tempo.search_traces(client, "{ }", tempo.Expectations(), timeout=5, interval=1)
    assert results == [] and searches == 6


# ---------------------------------------------------------------------------------------------- HTTP adapter

class FakeResponse:
    def __init__(self, status, data):
        self.status, self.data = status, data

    def getcode(self):
        return self.status

    def read(self):
        return self.data

    def close(self):
        pass


def test_transport_passes_tls_auth_and_tenant(monkeypatch):
    seen = {}

    def fake_open_url(url, **kwargs):
        seen.update(kwargs, url=url)
        return FakeResponse(200, body("v2_probe.json"))

    monkeypatch.setattr(tempo, "open_url", fake_open_url)
    client = tempo.TempoClient.from_params(dict(
        url="https://tempo.example:3200", tenant="team-a", bearer_token="s3cret", validate_certs=True,
        ca_path="/etc/ca.pem", client_cert="/etc/c.pem", client_key="/etc/k.pem", request_timeout=7.0))
    assert client.get_trace(PROBE["trace_id"])["trace"]
    assert seen["url"] == "https://tempo.example:3200/api/v2/traces/%s" % PROBE["trace_id"]
    assert seen["headers"]["X-Scope-OrgID"] == "team-a"
    assert seen["headers"]["Authorization"] == "Bearer s3cret"
    assert (seen["validate_certs"], seen["ca_path"], seen["client_cert"], seen["client_key"], seen["timeout"]) == (
        True, "/etc/ca.pem", "/etc/c.pem", "/etc/k.pem", 7.0)
    assert "url_username" not in seen


def test_transport_basic_auth(monkeypatch):
    seen = {}
    monkeypatch.setattr(tempo, "open_url", lambda url, **kw: seen.update(kw) or FakeResponse(200, b"{}"))
    tempo.HttpTransport(username="u", password="p").request("GET", "http://127.0.0.1:1/ready")
    assert (seen["url_username"], seen["url_password"], seen["force_basic_auth"]) == ("u", "p", True)
    assert "Authorization" not in seen["headers"]
    with pytest.raises(tempo.TempoError):
        tempo.HttpTransport(username="u", password="p", bearer_token="t")


def test_transport_turns_http_errors_into_answers(monkeypatch):
    import io

    def raise_404(url, **kwargs):
        raise HTTPError(url, 404, "Not Found", {}, io.BytesIO(NO_ROUTE[1]))

    monkeypatch.setattr(tempo, "open_url", raise_404)
    assert tempo.HttpTransport().request("GET", "http://127.0.0.1:1/x") == NO_ROUTE


def test_transport_unreachable(monkeypatch):
    def refuse(url, **kwargs):
        raise URLError(ConnectionRefusedError(111, "Connection refused"))

    monkeypatch.setattr(tempo, "open_url", refuse)
    with pytest.raises(tempo.TempoError, match="cannot reach http://127.0.0.1:1/x: .*Connection refused"):
        tempo.HttpTransport().request("GET", "http://127.0.0.1:1/x")


def test_argument_spec_hides_secrets():
    spec = tempo.tempo_argument_spec()
    assert spec["bearer_token"]["no_log"] and spec["password"]["no_log"]
    assert spec["validate_certs"]["default"] is True
