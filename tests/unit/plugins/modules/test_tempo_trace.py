"""The tempo_trace module end to end in-process: real argument handling, HTTP faked at open_url.

Trace answers are the bodies recorded from the real Tempo (fixtures/tempo, see
tests/integration/record_tempo_fixtures.py). A sent probe is answered the way Tempo answers:
ids base64, span kinds as strings.
"""

import base64
import copy
import io
import json
import re
from pathlib import Path
from urllib.error import HTTPError

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.tracefleet.otel.plugins.module_utils import otlp_probe, tempo
from ansible_collections.tracefleet.otel.plugins.modules import tempo_trace

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tempo"
INDEX = json.loads((FIXTURES / "index.json").read_text())
PROBE = INDEX["traces"]["probe"]
ORPHAN = INDEX["traces"]["orphan"]
NOT_FOUND = INDEX["not_found"]["v2"]
URL = "http://127.0.0.1:3200"
OTLP = "http://127.0.0.1:4318"


class Exit(Exception):
    def __init__(self, failed, result):
        super().__init__(result.get("msg"))
        self.failed, self.result = failed, result


@pytest.fixture(autouse=True)
def no_exit(monkeypatch):
    def exit_json(self, **kwargs):
        raise Exit(False, kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs["msg"] = msg
        raise Exit(True, kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)


@pytest.fixture(autouse=True)
def clock(monkeypatch):
    state = {"now": 500.0}

    def sleep(seconds):
        state["now"] += seconds

    monkeypatch.setattr(tempo, "monotonic", lambda: state["now"])
    monkeypatch.setattr(tempo, "sleep", sleep)
    return state


def tempo_form(payload):
    """An OTLP/JSON request as Tempo's v2 API answers it: base64 ids, string kinds."""
    out = copy.deepcopy(payload)
    for rs in out["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for span in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
                span["kind"] = tempo.SPAN_KINDS[span["kind"]]
    return {"trace": out}


class FakeTempo:
    """Stands in for open_url: Tempo's query API and an OTLP/HTTP receiver."""

    def __init__(self):
        self.traces = {}  # hex id -> list of (status, body), the last repeats
        self.search_answers = []
        self.posts = []
        self.gets = []
        self.kwargs = []

    def add(self, trace_id, *answers):
        self.traces[trace_id] = list(answers)

    def __call__(self, url, data=None, method=None, headers=None, **kwargs):
        self.kwargs.append(dict(kwargs, headers=headers, method=method))
        if method == "POST":
            assert url == OTLP + "/v1/traces" and headers["Content-Type"] == "application/json"
            payload = json.loads(data)
            self.posts.append(payload)
            trace_id = payload["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
            self.add(trace_id, (NOT_FOUND["status"], NOT_FOUND["body"].encode()), (200, json.dumps(tempo_form(payload)).encode()))
            return Response(200, b"{}")
        self.gets.append(url)
        match = re.match(re.escape(URL) + r"/api/v2/traces/([0-9a-f]{32})$", url)
        if match:
            answers = self.traces.get(match.group(1), [(NOT_FOUND["status"], NOT_FOUND["body"].encode())])
            status, body = answers.pop(0) if len(answers) > 1 else answers[0]
        elif url.startswith(URL + "/api/search?"):
            status, body = self.search_answers.pop(0) if len(self.search_answers) > 1 else self.search_answers[0]
        else:
            raise AssertionError("unexpected GET " + url)
        if status != 200:
            raise HTTPError(url, status, "error", {}, io.BytesIO(body))
        return Response(status, body)


class Response:
    def __init__(self, status, body):
        self.status, self.body = status, body

    def getcode(self):
        return self.status

    def read(self):
        return self.body

    def close(self):
        pass


@pytest.fixture
def fake(monkeypatch):
    fake = FakeTempo()
    monkeypatch.setattr(tempo, "open_url", fake)
    return fake


def run(args, check_mode=False):
    args = dict(args)
    args.setdefault("url", URL)
    if check_mode:
        args["_ansible_check_mode"] = True
    with patch_module_args(args):
        with pytest.raises(Exit) as exc:
            tempo_trace.main()
    return exc.value


def fixture_body(name):
    return (FIXTURES / name).read_bytes()


# ---------------------------------------------------------------------------------------------- lookup

def test_lookup_found_and_complete(fake):
    fake.add(PROBE["trace_id"], (404, b"trace not found"), (200, fixture_body("v2_probe.json")))
    out = run(dict(trace_id=PROBE["trace_id"].lstrip("0"), expect_services=PROBE["services"],
                   expect_attributes={"deployment.environment": "staging"}, interval=0.5))
    assert not out.failed, out.result["msg"]
    r = out.result
    assert r["changed"] is False and r["found"] is True and r["probe_sent"] is False
    assert r["trace_id"] == PROBE["trace_id"] and r["found_after_s"] == 0.5 and r["lookups"] == 2
    assert r["span_count"] == len(PROBE["spans"]) and r["services"] == sorted(PROBE["services"])
    assert r["root_count"] == 1 and r["orphan_spans"] == [] and r["problems"] == []
    assert r["attributes_seen"]["deployment.environment"] == ["staging"] and r["duration_ms"] > 0
    assert r["msg"] == "trace %s found after 0.5 s: %d spans from %s" % (
        PROBE["trace_id"], len(PROBE["spans"]), ", ".join(sorted(PROBE["services"])))


def test_lookup_missing_service_fails_naming_it(fake):
    fake.add(PROBE["trace_id"], (200, fixture_body("v2_probe.json")))
    out = run(dict(trace_id=PROBE["trace_id"], expect_services=["payments"], timeout=3))
    assert out.failed
    assert out.result["msg"] == "trace %s found after 0.0 s but service 'payments' missing; saw: %s" % (
        PROBE["trace_id"], ", ".join(sorted(PROBE["services"])))
    assert out.result["found"] is True and out.result["lookups"] == 4  # kept polling until the deadline
    assert out.result["problems"] == ["service 'payments' missing; saw: %s" % ", ".join(sorted(PROBE["services"]))]


def test_lookup_orphan_fails_as_broken_propagation(fake):
    fake.add(ORPHAN["trace_id"], (200, fixture_body("v2_orphan.json")))
    out = run(dict(trace_id=ORPHAN["trace_id"], timeout=2))
    assert out.failed
    child = next(s for s in ORPHAN["spans"] if s["parent_span_id"] == ORPHAN["dropped_span_id"])
    assert "broken propagation: 1 span whose parent is not in the trace (allowed 0): span 'handle probe' in service '%s' has parent %s" % (
        child["service"], ORPHAN["dropped_span_id"]) in out.result["msg"]
    assert out.result["orphan_spans"][0]["service"] == child["service"]


def test_lookup_orphan_allowed(fake):
    fake.add(ORPHAN["trace_id"], (200, fixture_body("v2_orphan.json")))
    out = run(dict(trace_id=ORPHAN["trace_id"], max_orphans=1))
    assert not out.failed and len(out.result["orphan_spans"]) == 1


def test_lookup_not_found_after_deadline(fake):
    out = run(dict(trace_id="4bf92f3577b34da6a3ce929d0e0e4736", timeout=4, interval=1))
    assert out.failed
    assert out.result["msg"] == "trace 4bf92f3577b34da6a3ce929d0e0e4736 not found in Tempo after 4.0 s (5 lookups)"
    assert out.result["found"] is False and out.result["found_after_s"] is None


def test_lookup_runs_in_check_mode(fake):
    fake.add(PROBE["trace_id"], (200, fixture_body("v2_probe.json")))
    out = run(dict(trace_id=PROBE["trace_id"]), check_mode=True)
    assert not out.failed and out.result["found"] and fake.gets


def test_bad_trace_id(fake):
    out = run(dict(trace_id="not-a-trace"))
    assert out.failed and out.result["msg"].startswith("trace_id: trace id 'not-a-trace' is not 1 to 32 hex digits")
    assert fake.gets == []


def test_tls_and_auth_options_reach_open_url(fake):
    fake.add(PROBE["trace_id"], (200, fixture_body("v2_probe.json")))
    out = run(dict(url="http://127.0.0.1:3200/", trace_id=PROBE["trace_id"], tenant="team-a", username="u", password="p",
                   validate_certs=False, ca_path="/tmp/ca.pem"))
    assert not out.failed
    kw = fake.kwargs[0]
    assert kw["headers"]["X-Scope-OrgID"] == "team-a" and kw["url_username"] == "u" and kw["force_basic_auth"]
    assert kw["validate_certs"] is False and kw["ca_path"] == "/tmp/ca.pem"


def test_unreachable_tempo_fails_cleanly(monkeypatch):
    from urllib.error import URLError

    def refuse(url, **kwargs):
        raise URLError("Connection refused")

    monkeypatch.setattr(tempo, "open_url", refuse)
    out = run(dict(trace_id=PROBE["trace_id"]))
    assert out.failed and out.result["msg"].startswith("Tempo at %s: cannot reach %s/api/v2/traces/" % (URL, URL))


# ---------------------------------------------------------------------------------------------- probe

def test_probe_sent_and_found(fake):
    out = run(dict(send_probe=True, probe_endpoint=OTLP, probe_attributes={"deployment.environment": "prod"},
                   expect_attributes={"deployment.environment": "prod"}, interval=0.25))
    assert not out.failed, out.result["msg"]
    r = out.result
    assert r["probe_sent"] is True and len(fake.posts) == 1
    sent = fake.posts[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["traceId"]
    assert r["trace_id"] == sent and r["traceparent"].startswith("00-%s-" % sent)
    assert r["services"] == sorted(otlp_probe.DEFAULT_SERVICES) and r["span_count"] == 4
    assert r["root_count"] == 1 and r["orphan_spans"] == [] and r["found_after_s"] == 0.25
    assert r["msg"].startswith("probe trace %s found after 0.2 s: 4 spans" % sent)
    assert r["attributes_seen"]["tracefleet.probe"] == ["true"]


def test_each_probe_has_a_fresh_trace_id(fake):
    ids = {run(dict(send_probe=True, probe_endpoint=OTLP)).result["trace_id"] for dummy in range(3)}
    assert len(ids) == 3


def test_probe_expects_its_own_services_even_if_not_listed(fake, monkeypatch):
    real = tempo.analyze_trace

    def lose_backend(doc, trace_id=None):  # as if the backend's spans never arrived
        analysis = real(doc, trace_id)
        return dict(analysis, services=[s for s in analysis["services"] if not s.endswith("backend")])

    monkeypatch.setattr(tempo, "analyze_trace", lose_backend)
    out = run(dict(send_probe=True, probe_endpoint=OTLP, timeout=2))
    assert out.failed and "service 'tracefleet-probe-backend' missing; saw: tracefleet-probe-frontend" in out.result["msg"]
    assert out.result["msg"].startswith("probe trace ")


def test_probe_not_sent_in_check_mode(fake):
    out = run(dict(send_probe=True, probe_endpoint=OTLP), check_mode=True)
    assert not out.failed
    assert fake.posts == [] and fake.gets == []
    r = out.result
    assert r["probe_sent"] is False and r["found"] is False and r["trace_id"] is None and r["changed"] is False
    assert r["msg"] == ("check mode: the probe (4 spans across tracefleet-probe-frontend, tracefleet-probe-backend) "
                        "was not sent to %s, so nothing was looked up" % OTLP)


def test_probe_refused_by_receiver(monkeypatch, fake):
    def refuse(url, data=None, method=None, headers=None, **kwargs):
        if method == "POST":
            raise HTTPError(url, 400, "Bad Request", {}, io.BytesIO(b'{"code":3,"message":"bad payload"}'))
        return fake(url, data=data, method=method, headers=headers, **kwargs)

    monkeypatch.setattr(tempo, "open_url", refuse)
    out = run(dict(send_probe=True, probe_endpoint=OTLP))
    assert out.failed and out.result["probe_sent"] is False
    assert re.match(r"probe [0-9a-f]{32} could not be sent: POST %s/v1/traces answered 400: .*bad payload" % OTLP,
                    out.result["msg"])


def test_probe_needs_an_endpoint(fake):
    out = run(dict(send_probe=True))
    assert out.failed and "probe_endpoint" in out.result["msg"]


def test_probe_headers_and_marker(fake):
    out = run(dict(send_probe=True, probe_endpoint=OTLP, probe_headers={"X-Scope-OrgID": "t1"},
                   probe_marker_key="acme.synthetic", probe_marker_value="1", probe_services=["a", "b", "c"]))
    assert not out.failed, out.result["msg"]
    post_kw = next(k for k in fake.kwargs if k["method"] == "POST")
    assert post_kw["headers"]["X-Scope-OrgID"] == "t1"
    assert out.result["services"] == ["a", "b", "c"] and out.result["span_count"] == 6
    assert out.result["attributes_seen"]["acme.synthetic"] == ["1"]


# ---------------------------------------------------------------------------------------------- search

def test_search_by_service(fake):
    fake.search_answers = [(200, b'{"traces":[]}'), (200, fixture_body("search_probe.json"))]
    for hit in tempo.parse_search(json.loads(fixture_body("search_probe.json"))):
        fake.add(hit["trace_id"], (200, fixture_body("v2_probe.json") if hit["trace_id"] == PROBE["trace_id"]
                                   else fixture_body("v2_orphan.json")))
    out = run(dict(service=PROBE["services"][0], expect_attributes={"deployment.environment": "staging"}, interval=1))
    assert not out.failed, out.result["msg"]
    r = out.result
    assert r["query"] == '{ resource.service.name = "%s" }' % PROBE["services"][0]
    assert r["trace_id"] == PROBE["trace_id"] and r["found"]
    assert PROBE["trace_id"] in [t["trace_id"] for t in r["traces"]]
    assert all(len(t["trace_id"]) == 32 for t in r["traces"])
    assert "q=%7B+resource.service.name+%3D+%22tracefleet-probe-frontend%22+%7D" in fake.gets[0]
    assert "1 meet the expectations" in r["msg"]


def test_search_nothing_found(fake):
    fake.search_answers = [(200, b'{"traces":[]}')]
    out = run(dict(query='{ status = error }', timeout=3, search_window=600))
    assert out.failed
    assert out.result["msg"] == "search { status = error } found no traces in the last 600 s after 3.0 s (4 searches)"
    assert out.result["traces"] == [] and out.result["found"] is False


def test_search_found_but_broken(fake):
    orphan_hit = {"traces": [{"traceID": ORPHAN["trace_id"].lstrip("0"), "rootServiceName": "x"}]}
    fake.search_answers = [(200, json.dumps(orphan_hit).encode())]
    fake.add(ORPHAN["trace_id"], (200, fixture_body("v2_orphan.json")))
    out = run(dict(service="x", timeout=2))
    assert out.failed and "but only 0 meet the expectations (need 1)" in out.result["msg"]
    assert "%s: broken propagation" % ORPHAN["trace_id"] in out.result["msg"]
    assert out.result["traces"][0]["orphan_spans"]


# ---------------------------------------------------------------------------------------------- arguments

@pytest.mark.parametrize("args,fragment", [
    (dict(), "give exactly one of trace_id, send_probe=true, sampling_probe=true, or a search (service, search_attributes, "
             "query); got none"),
    (dict(trace_id="ab", service="x"), "got trace_id, search"),
    (dict(trace_id="ab", send_probe=True, probe_endpoint=OTLP), "got trace_id, send_probe"),
    (dict(trace_id="ab", timeout=0), "timeout must be greater than 0"),
    (dict(trace_id="ab", query="{ }", service="x"), "mutually exclusive"),
    (dict(trace_id="ab", bearer_token="t", username="u", password="p"), "mutually exclusive"),
])
def test_argument_errors(fake, args, fragment):
    out = run(args)
    assert out.failed and fragment in out.result["msg"]


def test_secrets_are_no_log():
    spec = tempo_trace.argument_spec()
    assert [k for k, v in spec.items() if v.get("no_log")] == ["bearer_token", "password", "probe_headers"]
