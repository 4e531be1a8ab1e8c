"""The verify report: building it from checks, validating it, and rendering Markdown and the fleet page."""

import copy
import json
import re
from html.parser import HTMLParser

import pytest

from ansible_collections.tracefleet.otel.plugins.module_utils import verify_report as vr
from ansible_collections.tracefleet.otel.plugins.module_utils.verify_report import VerifyReportError

WHEN = "2026-11-25T03:00:00Z"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>" onmouseover="alert(2)'


def _check(check_id, status="pass", summary=None, evidence=None, **extra):
    check = {"id": check_id, "status": status, "summary": summary or "%s is fine" % check_id}
    if evidence is not None:
        check["evidence"] = evidence
    check.update(extra)
    return check


def _all(**statuses):
    """Every check, passing unless named: _all(tls=("warn", "waived", ["..."]))."""
    checks = []
    for check_id in vr.CHECK_IDS:
        status, summary, evidence = statuses.get(check_id, ("pass", None, None))
        checks.append(_check(check_id, status, summary, evidence))
    return checks


def _errors(excinfo):
    return excinfo.value.errors


# --- the checklist --------------------------------------------------------------------------

def test_the_checklist_is_the_schema_list_in_order():
    assert vr.CHECK_IDS == (
        "agents_on_every_node", "gateway_limits", "tail_sampling_policies", "trace_id_routing", "propagation",
        "critical_workloads_instrumented", "tempo_retention", "tls", "self_monitoring", "probe_trace",
        "sampling_probe", "recent_traces", "trace_to_logs")
    assert all(vr.HEADERS[c] and len(vr.HEADERS[c]) <= 20 for c in vr.CHECK_IDS), "column headers stay short"
    assert all(vr.TITLES[c] for c in vr.CHECK_IDS)


# --- summary: status, counts, order ---------------------------------------------------------

def test_status_is_the_worst_check_and_counts_cover_every_status():
    report = vr.summary(_all(tls=("warn", "waived: in-cluster", None),
                             agents_on_every_node=("fail", "agent missing on kwok-node-3", ["node kwok-node-3"]),
                             probe_trace=("fail", "probe not found", None)), "prod-eu-1", WHEN)
    assert report["schema"] == "tracefleet.verify/v1"
    assert report["cluster"] == "prod-eu-1" and report["generated_at"] == WHEN
    assert report["status"] == "fail"
    assert report["counts"] == {"pass": 10, "warn": 1, "fail": 2}


@pytest.mark.parametrize("statuses, expected", [
    (["pass", "pass"], "pass"),
    (["pass", "warn"], "warn"),
    (["warn", "pass", "fail"], "fail"),
    (["fail", "warn"], "fail"),
])
def test_worst_status_wins(statuses, expected):
    checks = [_check(check_id, status) for check_id, status in zip(vr.CHECK_IDS, statuses)]
    report = vr.summary(checks, "c", WHEN)
    assert report["status"] == expected
    assert sum(report["counts"].values()) == len(statuses)
    assert set(report["counts"]) == {"pass", "warn", "fail"}


def test_checks_come_back_in_checklist_order_with_standard_titles_and_evidence_lists():
    checks = [_check("trace_to_logs", "warn", "no link"), _check("agents_on_every_node"), _check("tls", title="mTLS to Tempo")]
    report = vr.summary(checks, "c", WHEN)
    assert [c["id"] for c in report["checks"]] == ["agents_on_every_node", "tls", "trace_to_logs"]
    assert report["checks"][0]["title"] == "Agent ready on every schedulable node"
    assert report["checks"][1]["title"] == "mTLS to Tempo"
    assert all(c["evidence"] == [] for c in report["checks"])
    assert set(report["checks"][0]) == {"id", "title", "status", "summary", "evidence"}


def test_summary_is_one_line():
    report = vr.summary([_check("tls", "warn", "waived:\n  in-cluster\ttraffic ")], "c", WHEN)
    assert report["checks"][0]["summary"] == "waived: in-cluster traffic"


def test_the_report_survives_json():
    report = vr.summary(_all(tls=("warn", "waived", ["a", "b"])), "c", WHEN)
    again = json.loads(json.dumps(report))
    assert vr.report_errors(again) == []
    assert vr.validate(again) == report


def test_generated_at_defaults_to_now_in_utc():
    report = vr.summary([_check("tls")], "c")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", report["generated_at"])


@pytest.mark.parametrize("when", ["2026-11-25T03:00:00Z", "2026-11-25T03:00:00.123456+00:00"])
def test_utc_times_are_accepted(when):
    assert vr.summary([_check("tls")], "c", when)["generated_at"] == when


@pytest.mark.parametrize("when", ["2026-11-25 03:00:00", "2026-11-25T03:00:00+01:00", "yesterday", 1764039600])
def test_other_times_are_refused(when):
    with pytest.raises(VerifyReportError, match="generated_at must be a UTC ISO 8601 time"):
        vr.summary([_check("tls")], "c", when)


# --- malformed checks: a clear error naming each problem -------------------------------------

@pytest.mark.parametrize("check, message", [
    (_check("agents_everywhere"), r"check 0 \(agents_everywhere\): id must be one of agents_on_every_node, .*got 'agents_everywhere'"),
    (_check("tls", "FAILED"), r"check 0 \(tls\): status must be one of pass, warn, fail, got 'FAILED'"),
    (_check("tls", "ok"), r"status must be one of pass, warn, fail, got 'ok'"),
    ({"id": "tls", "status": "pass"}, r"check 0 \(tls\): summary must be a non-empty line of text, got None"),
    (_check("tls", summary="   "), r"summary must be a non-empty line"),
    (_check("tls", evidence="node kwok-node-3"), r"\(tls\): evidence must be a list of strings, got 'node kwok-node-3'"),
    (_check("tls", evidence=["ok", {"node": "n1"}]), r"\(tls\): evidence\[1\] must be a string, got \{'node': 'n1'\}"),
    (_check("tls", title=""), r"title must be non-empty text"),
    (_check("tls", detail="x"), r"\(tls\): unknown keys detail \(a check has id, title, status, summary, evidence\)"),
    ("tls: pass", r"check 0: expected a dict with id, title, status, summary, evidence, got 'tls: pass'"),
])
def test_a_malformed_check_is_named_with_its_problem(check, message):
    with pytest.raises(VerifyReportError) as excinfo:
        vr.summary([check], "prod-eu-1", WHEN)
    assert any(re.search(message, e) for e in _errors(excinfo)), _errors(excinfo)
    assert all(e.startswith("cluster prod-eu-1: check 0") for e in _errors(excinfo)), _errors(excinfo)


def test_every_problem_is_listed_at_once():
    with pytest.raises(VerifyReportError) as excinfo:
        vr.summary([_check("tls", "bad"), _check("nope"), _check("tls")], "", "now")
    errors = _errors(excinfo)
    assert len(errors) == 5, errors
    assert any("cluster must be the inventory host name" in e for e in errors)
    assert any("generated_at must be" in e for e in errors)
    assert any("check 0 (tls): status must be" in e for e in errors)
    assert any("check 1 (nope): id must be one of" in e for e in errors)
    assert any("check 2 (tls): id tls appears more than once" in e for e in errors)


@pytest.mark.parametrize("checks, message", [
    ([], "no checks: a report needs at least one check"),
    (None, "checks must be a list of checks, got None"),
    ({"id": "tls"}, "checks must be a list of checks"),
])
def test_no_checks_is_an_error(checks, message):
    with pytest.raises(VerifyReportError, match=re.escape(message)):
        vr.summary(checks, "c", WHEN)


# --- whole reports --------------------------------------------------------------------------

def test_a_report_whose_status_or_counts_lie_is_refused():
    report = vr.summary(_all(tls=("fail", "plain text to Tempo", None)), "c", WHEN)
    lying = dict(report, status="pass", counts={"pass": 13, "warn": 0, "fail": 0})
    errors = vr.report_errors(lying)
    assert "report (cluster c): status is 'pass' but its checks make it fail" in errors
    assert any(e.startswith("report (cluster c): counts are") for e in errors)


@pytest.mark.parametrize("change, message", [
    ({"schema": "tracefleet.verify/v2"}, "schema must be tracefleet.verify/v1, got 'tracefleet.verify/v2'"),
    ({"generated_at": None}, "generated_at is missing"),
    ({"extra": 1}, "unknown keys extra"),
    ({"checks": [{"id": "tls"}]}, "summary must be a non-empty line"),
])
def test_report_problems(change, message):
    report = dict(vr.summary([_check("tls")], "c", WHEN), **change)
    errors = vr.report_errors(report)
    assert any(message in e for e in errors), errors
    with pytest.raises(VerifyReportError):
        vr.validate(report)


# --- Markdown -------------------------------------------------------------------------------

def test_markdown_table_is_worst_first_with_evidence_for_what_did_not_pass():
    report = vr.summary(_all(tls=("warn", "waived", None),
                             agents_on_every_node=("fail", "agent missing on 1 of 4 nodes: kwok-node-3",
                                                   ["node kwok-node-3: no agent pod"])), "prod-eu-1", WHEN)
    md = vr.markdown(report)
    lines = md.splitlines()
    assert lines[0] == "# Verify report: prod-eu-1 \u2014 \u2717 FAIL"
    assert "1 fail, 1 warn, 11 pass (13 checks)" in md
    rows = [line for line in lines if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 13
    assert rows[0].startswith("| \u2717 FAIL | Agent ready on every schedulable node (`agents_on_every_node`)")
    assert rows[1].startswith("| ! WARN | TLS on collector to backend links (`tls`)")
    assert all(row.startswith("| \u2713 PASS") for row in rows[2:])
    evidence = md.split("## Evidence", 1)[1]
    assert evidence.index("agents_on_every_node") < evidence.index("`tls`")
    assert "```text\nnode kwok-node-3: no agent pod\n```" in evidence
    assert "gateway_limits" not in evidence


def test_markdown_escapes_markup_and_keeps_evidence_verbatim():
    report = vr.summary([_check("tls", "fail", "a | b <b>x</b> *y* [l](http://x)", [HOSTILE, "```ticks```"])], "c", WHEN)
    md = vr.markdown(report)
    row = [line for line in md.splitlines() if "`tls`" in line and line.startswith("|")][0]
    assert row.count(" | ") == 2 and row.endswith(" |"), "the pipe in the summary does not split the row: %s" % row
    assert "a \\| b &lt;b&gt;x&lt;/b&gt; \\*y\\* \\[l\\]\\(http://x\\)" in row
    assert "<b>" not in md and "<script>" not in md.split("````text", 1)[0]
    # The evidence is inside a fence longer than any run of backticks in it.
    assert "````text\n%s\n```ticks```\n````" % HOSTILE in md


def test_all_pass_markdown_has_no_evidence_section():
    md = vr.markdown(vr.summary(_all(), "c", WHEN))
    assert "\u2713 PASS" in md.splitlines()[0] and "## Evidence" not in md


# --- the fleet page -------------------------------------------------------------------------

class _Page(HTMLParser):
    """Just enough of the page: rows of the matrix, their cells, sections and every tag seen."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.tags, self.rows, self.headers, self.sections = [], [], [], {}
        self._cell = self._section = self._header = None
        self.overall = ""
        self._in_overall = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "tr" and "data-cluster" in a:
            self.rows.append({"cluster": a["data-cluster"], "status": a["data-status"], "cells": {}})
        elif tag == "td" and self.rows and "data-check" in a and self._section is None:
            self._cell = self.rows[-1]["cells"].setdefault(a["data-check"], {"text": "", "title": None})
        elif tag in ("a", "span") and self._cell is not None and "title" in a:
            self._cell["title"] = a["title"]
        elif tag == "th" and "data-check" in a:
            self.headers.append(a["data-check"])
        elif tag == "section":
            self._section = self.sections.setdefault(a["data-cluster"], {"text": "", "findings": []})
        elif tag == "div" and self._section is not None and "data-check" in a:
            self._section["findings"].append(a["data-check"])
        elif tag == "p" and a.get("class") == "overall":
            self._in_overall = True

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None
        elif tag == "section":
            self._section = None
        elif tag == "p":
            self._in_overall = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell["text"] += data
        if self._section is not None:
            self._section["text"] += data
        if self._in_overall:
            self.overall += data


def _fleet():
    return [
        vr.summary(_all(), "prod-us-1", WHEN),
        vr.summary(_all(tls=("warn", "waived", None)), "prod-eu-2", WHEN),
        vr.summary(_all(agents_on_every_node=("fail", "agent missing on 1 of 4 nodes: kwok-node-3",
                                              ["node kwok-node-3: no agent pod (taint not tolerated)"])), "prod-eu-1", WHEN),
        vr.summary(_all(), "dev-1", WHEN),
        vr.summary(_all(probe_trace=("fail", "probe not found", None), recent_traces=("fail", "no traces", None),
                        tls=("warn", "waived", None)), "prod-ap-1", WHEN),
    ]


def test_fleet_rows_are_worst_first_and_columns_follow_the_checklist():
    page = _Page(vr.fleet_html(_fleet()))
    assert [r["cluster"] for r in page.rows] == ["prod-ap-1", "prod-eu-1", "prod-eu-2", "dev-1", "prod-us-1"]
    assert [r["status"] for r in page.rows] == ["fail", "fail", "warn", "pass", "pass"]
    assert page.headers == list(vr.CHECK_IDS)
    assert all(list(r["cells"]) == list(vr.CHECK_IDS) for r in page.rows)


def test_fleet_cells_say_the_status_in_words_with_the_summary_as_title():
    page = _Page(vr.fleet_html(_fleet()))
    row = [r for r in page.rows if r["cluster"] == "prod-eu-1"][0]
    agents = row["cells"]["agents_on_every_node"]
    assert agents["text"] == "\u2717 FAIL"
    assert agents["title"] == "Agent ready on every schedulable node: agent missing on 1 of 4 nodes: kwok-node-3"
    assert row["cells"]["tls"]["text"] == "\u2713 PASS"
    assert [r for r in page.rows if r["cluster"] == "prod-eu-2"][0]["cells"]["tls"]["text"] == "! WARN"


def test_fleet_overall_line_and_details_for_clusters_that_did_not_pass():
    html = vr.fleet_html(_fleet(), title="Week 48")
    page = _Page(html)
    assert page.overall == "\u2717 2 of 5 clusters fail, 1 warns, 2 pass"
    assert "<title>Week 48: 2 of 5 clusters fail, 1 warns, 2 pass</title>" in html
    assert sorted(page.sections) == ["prod-ap-1", "prod-eu-1", "prod-eu-2"]
    assert page.sections["prod-ap-1"]["findings"] == ["probe_trace", "recent_traces", "tls"]
    assert "node kwok-node-3: no agent pod (taint not tolerated)" in page.sections["prod-eu-1"]["text"]
    assert "agent missing on 1 of 4 nodes: kwok-node-3" in page.sections["prod-eu-1"]["text"]


@pytest.mark.parametrize("statuses, line", [
    (["fail", "fail", "warn", "pass", "pass", "pass", "pass", "pass"], "2 of 8 clusters fail, 1 warns, 5 pass"),
    (["fail", "pass"], "1 of 2 clusters fails, 1 passes"),
    (["warn", "warn", "pass"], "2 of 3 clusters warn, 1 passes"),
    (["pass", "pass"], "All 2 clusters pass"),
    (["pass"], "The cluster passes"),
    (["fail"], "1 of 1 cluster fails"),
    ([], "No cluster reports"),
])
def test_fleet_line(statuses, line):
    assert vr.fleet_line([{"status": s} for s in statuses]) == line


def test_a_cluster_without_a_check_shows_not_applicable():
    reports = [vr.summary([_check("tls"), _check("probe_trace")], "a", WHEN), vr.summary([_check("tls")], "b", WHEN)]
    page = _Page(vr.fleet_html(reports))
    assert page.headers == ["tls", "probe_trace"]
    html = vr.fleet_html(reports)
    assert html.count("\u2013 n/a") == 1


def test_hostile_strings_are_escaped_everywhere():
    report = vr.summary([_check("tls", "fail", HOSTILE, [HOSTILE, "plain & simple"], title=HOSTILE)], "lab" + HOSTILE, WHEN)
    html = vr.fleet_html([report], title=HOSTILE)
    page = _Page(html)
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert not [t for t, _ in page.tags if t in ("script", "img", "iframe")]
    assert not [a for _, a in page.tags if any(k.startswith("on") for k in a)], "an event handler attribute got in"
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "plain &amp; simple" in html
    # The browser-side text is the original string, attribute included.
    assert page.rows[0]["cluster"] == "lab" + HOSTILE
    assert page.rows[0]["cells"]["tls"]["title"] == "%s: %s" % (HOSTILE, HOSTILE)
    assert HOSTILE in page.sections["lab" + HOSTILE]["text"]


def test_the_page_is_self_contained():
    html = vr.fleet_html(_fleet())
    page = _Page(html)
    assert not [t for t, _ in page.tags if t in ("script", "link", "img", "iframe", "object", "embed")]
    assert not [a for _, a in page.tags if "src" in a]
    assert "http://" not in html and "https://" not in html and "@import" not in html and "url(" not in html
    assert [t for t, _ in page.tags].count("style") == 1
    assert "default-src 'none'" in html, "a content security policy forbids every fetch"


def test_every_failing_cell_links_to_its_finding():
    html = vr.fleet_html(_fleet())
    anchors = re.findall(r'<a class="cell (?:fail|warn)" href="#([^"]+)"', html)
    assert len(anchors) == 5
    for anchor in anchors:
        assert html.count('id="%s"' % anchor) == 1, anchor


def test_a_dict_of_reports_is_a_fleet_too():
    fleet = _fleet()
    assert vr.fleet_html(dict((r["cluster"], r) for r in fleet)) == vr.fleet_html(fleet)


def test_an_empty_fleet_says_so():
    html = vr.fleet_html([])
    assert "No cluster reports" in html and "nothing was checked" in html and 'id="matrix"' not in html


@pytest.mark.parametrize("reports, message", [
    ("not a list", "reports must be a list of verify reports"),
    ([{"cluster": "x"}], "report 0 (cluster x): schema must be tracefleet.verify/v1"),
    ([None], "report 0: expected a report dict"),
])
def test_malformed_fleets_are_refused(reports, message):
    with pytest.raises(VerifyReportError) as excinfo:
        vr.fleet_html(reports)
    assert any(message in e for e in _errors(excinfo)), _errors(excinfo)


def test_a_cluster_reported_twice_is_refused():
    report = vr.summary([_check("tls")], "prod-eu-1", WHEN)
    with pytest.raises(VerifyReportError, match="report 1: cluster prod-eu-1 appears more than once"):
        vr.fleet_html([report, copy.deepcopy(report)])


def test_a_lying_report_in_the_fleet_is_refused():
    report = dict(vr.summary([_check("tls", "fail", "no tls")], "prod-eu-1", WHEN), status="pass")
    with pytest.raises(VerifyReportError, match="status is 'pass' but its checks make it fail"):
        vr.fleet_html([report])
