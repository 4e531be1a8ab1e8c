"""The fleet page read from a report directory: files that are not readable reports are listed as
"unreadable report" rows with the reason and never raise; the clusters filter leaves out other
inventories' reports and counts them; readable reports render exactly as before."""

import json
from html.parser import HTMLParser

import pytest

from ansible_collections.tracefleet.otel.plugins.module_utils import verify_report as vr
from ansible_collections.tracefleet.otel.plugins.module_utils.verify_report import VerifyReportError

WHEN = "2026-11-25T03:00:00Z"
OLD = "2026-01-02T03:04:05Z"
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
HOSTILE_NAME = '<img src=x onerror=alert(1)>" onmouseover="alert(2)'  # a file name has no slash


def _report(cluster, status="pass", when=WHEN):
    checks = [{"id": check_id, "status": "pass", "summary": "%s is fine" % check_id} for check_id in vr.CHECK_IDS]
    checks[0].update(status=status, summary="agent missing on kwok-node-3" if status != "pass" else checks[0]["summary"])
    return vr.summary(checks, cluster, when)


def _text(report):
    return json.dumps(report, indent=2) + "\n"


class _Page(HTMLParser):
    """The parts of the page this file looks at: matrix rows, unreadable rows and sections, tiles, banner."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.rows, self.unreadable_rows, self.unreadable_sections, self.tags = [], {}, {}, []
        self.overall = self.meta = ""
        self._into = []
        self._li = False
        self.banner = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        target = None
        if tag == "header" and a.get("id") == "overall":
            self.banner = a["data-status"]
        if tag == "tr" and "data-cluster" in a:
            self.rows.append(a["data-cluster"])
        elif tag == "tr" and "data-unreadable" in a:
            target = self.unreadable_rows.setdefault(a["data-unreadable"], {"text": "", "class": a.get("class")})
        elif tag == "section" and "data-unreadable" in a:
            target = self.unreadable_sections.setdefault(a["data-unreadable"], {"text": "", "errors": []})
        elif tag == "p" and a.get("class") in ("overall", "meta"):
            target = a["class"]
        elif tag == "li" and self._into and isinstance(self._into[-1][1], dict) and "errors" in self._into[-1][1]:
            self._into[-1][1]["errors"].append("")
            self._li = True
        if target is not None:
            self._into.append((tag, target))

    def handle_endtag(self, tag):
        if tag == "li":
            self._li = False
        if self._into and self._into[-1][0] == tag:
            self._into.pop()

    def handle_data(self, data):
        for _, target in self._into:
            if isinstance(target, dict):
                target["text"] += data
                if "errors" in target and self._li:
                    target["errors"][-1] += data
            else:
                setattr(self, target, getattr(self, target) + data)


# --- reading: every kind of file that is not a readable report ------------------------------------

LYING = dict(_report("prod-eu-3", "fail"), status="pass")


@pytest.mark.parametrize("text, reason", [
    (_text(dict(_report("prod-eu-1"), schema="tracefleet.verify/v7")), "schema version 7, this collection reads 1"),
    (_text(dict(_report("prod-eu-1"), schema="tracefleet.verify/v0")), "schema version 0, this collection reads 1"),
    (_text(_report("prod-eu-1"))[:120], "not JSON: "),
    ("", "not JSON: the file is empty"),
    ("  \n", "not JSON: the file is empty"),
    ("cluster: prod\n", "not JSON: Expecting value: line 1 column 1 (char 0)"),
    ("[1, 2]", "not a verify report: the JSON is a list, a report is an object"),
    ("null", "not a verify report: the JSON is null, a report is an object"),
    ('{"cluster": "prod-eu-1", "drift": []}', "not a verify report: no schema (this collection reads tracefleet.verify/v1)"),
    ('{"schema": "acme/v1"}', "not a verify report: schema 'acme/v1' (this collection reads tracefleet.verify/v1)"),
    (_text(LYING), "1 validation error: status is 'pass' but its checks make it fail"),
    ("{\"schema\": \"tracefleet.verify/v1\", \"cluster\": \"x\udcff\"}", "not UTF-8 text (a report is UTF-8 JSON)"),
    (None, "not text: got None"),
])
def test_a_file_that_is_not_a_readable_report_is_listed_with_the_reason(text, reason):
    fleet = vr.report_files({"/reports/prod-eu-1.json": text, "/reports/prod-us-1.json": _text(_report("prod-us-1"))})
    assert [r["cluster"] for r in fleet["reports"]] == ["prod-us-1"]
    assert len(fleet["unreadable"]) == 1
    entry = fleet["unreadable"][0]
    assert entry["file"] == "prod-eu-1.json" and entry["path"] == "/reports/prod-eu-1.json"
    assert entry["reason"].startswith(reason), entry["reason"]
    assert entry["line"] == "prod-eu-1.json: " + entry["reason"]
    assert fleet["not_shown"] == [] and fleet["schema"] == vr.FLEET_SCHEMA


def test_an_unreadable_report_keeps_its_cluster_and_time_when_it_says_them():
    newer = dict(_report("prod-eu-1", when=OLD), schema="tracefleet.verify/v2")
    entry = vr.report_files({"r/prod-eu-1.json": _text(newer)})["unreadable"][0]
    assert (entry["cluster"], entry["generated_at"]) == ("prod-eu-1", OLD)
    junk = vr.report_files({"r/x.json": '{"cluster": 7, "generated_at": "yesterday"}'})["unreadable"][0]
    assert (junk["cluster"], junk["generated_at"]) == (None, None)


def test_validation_errors_are_listed_one_by_one_without_the_file_prefix():
    bad = dict(LYING, extra=1)
    bad["checks"] = bad["checks"] + [{"id": "tls", "status": "FAIL", "summary": ""}]
    entry = vr.report_files({"r/prod-eu-3.json": _text(bad)})["unreadable"][0]
    assert entry["errors"][0] == "unknown keys extra (a report has schema, cluster, generated_at, status, counts, checks)"
    assert any("status must be one of pass, warn, fail, got 'FAIL'" in e for e in entry["errors"]), entry["errors"]
    assert any("id tls appears more than once" in e for e in entry["errors"]), entry["errors"]
    assert not any(e.startswith("prod-eu-3.json") for e in entry["errors"])
    assert entry["reason"] == "%d validation errors: %s; ..." % (len(entry["errors"]), entry["errors"][0])


def test_a_second_report_of_one_cluster_is_unreadable_and_the_file_named_after_it_wins():
    first, second = _report("prod-eu-1", "fail"), _report("prod-eu-1", when=OLD)
    fleet = vr.report_files([["r/a-copy.json", _text(second)], ["r/prod-eu-1.json", _text(first)]])
    assert fleet["reports"] == [first]
    assert [(u["file"], u["reason"], u["generated_at"]) for u in fleet["unreadable"]] == [
        ("a-copy.json", "a second report of cluster prod-eu-1 (prod-eu-1.json is shown)", OLD)]
    # Neither named after the cluster: the first by path is shown.
    fleet = vr.report_files({"r/y.json": _text(second), "r/x.json": _text(first)})
    assert fleet["reports"] == [first] and fleet["unreadable"][0]["file"] == "y.json"


# --- the clusters option: this play's hosts, or every file ------------------------------------

FILES = {
    "r/a.json": _text(_report("a")),
    "r/b.json": _text(_report("b"))[:40],                                          # truncated, a host of the play
    "r/a-v7.json": _text(dict(_report("a", when=OLD), schema="tracefleet.verify/v7")),  # names host a inside
    "r/c.json": _text(_report("c", "fail")),                                       # another inventory's cluster
    "r/junk.json": "not json",                                                     # nobody's
}


def test_clusters_keeps_the_play_hosts_and_counts_the_rest():
    fleet = vr.report_files(FILES, ["a", "b"])
    assert [r["cluster"] for r in fleet["reports"]] == ["a"]
    assert [u["file"] for u in fleet["unreadable"]] == ["a-v7.json", "b.json"]
    assert fleet["not_shown"] == ["c.json", "junk.json"]


def test_without_clusters_every_file_is_shown():
    fleet = vr.report_files(FILES)
    assert sorted(r["cluster"] for r in fleet["reports"]) == ["a", "c"]
    assert [u["file"] for u in fleet["unreadable"]] == ["a-v7.json", "b.json", "junk.json"]
    assert fleet["not_shown"] == []


@pytest.mark.parametrize("files, clusters, message", [
    ("r/a.json", None, "files must map each report file's path to its text"),
    ([["r/a.json"]], None, "files must map each report file's path to its text"),
    ({"": "{}"}, None, "files: a path must be text"),
    ({"r/a.json": "{}"}, "a", "clusters must be a list of cluster names"),
])
def test_input_that_is_not_files_is_refused(files, clusters, message):
    with pytest.raises(VerifyReportError) as excinfo:
        vr.report_files(files, clusters)
    assert any(message in e for e in excinfo.value.errors), excinfo.value.errors


# --- the page ------------------------------------------------------------------------------------

def test_readable_reports_render_exactly_as_before():
    reports = [_report("prod-us-1"), _report("prod-eu-1", "fail"), _report("dev-1", "warn")]
    files = dict(("r/%s.json" % r["cluster"], _text(r)) for r in reports)
    assert vr.fleet_html(vr.report_files(files), title="Week 48") == vr.fleet_html(reports, title="Week 48")


def test_unreadable_reports_get_rows_and_sections_of_their_own():
    fleet = vr.report_files(FILES, ["a", "b"])
    html = vr.fleet_html(fleet)
    page = _Page(html)
    assert page.rows == ["a"], "the readable cluster keeps its row; unreadable rows carry no data-cluster"
    assert sorted(page.unreadable_rows) == ["a-v7.json", "b.json"]
    row = page.unreadable_rows["a-v7.json"]
    assert row["class"] == "unreadable"
    assert "? UNREADABLE" in row["text"] and "schema version 7, this collection reads 1" in row["text"]
    assert "cluster a" in row["text"] and "2026-01-02 03:04 UTC" in row["text"], "the file's own cluster and time"
    assert "not JSON: Expecting property name enclosed in double quotes: line 3" in page.unreadable_rows["b.json"]["text"]
    assert "r/a-v7.json" in page.unreadable_sections["a-v7.json"]["text"]
    assert page.overall == "! The cluster passes; 2 reports unreadable"
    assert page.banner == "warn", "an unreadable report keeps the banner from saying the whole fleet passes"
    assert '<div class="tile unreadable"><b>2</b><a href="#unreadable">unreadable reports</a></div>' in html
    assert "2 other reports in the directory not shown" in page.meta
    assert html.count('href="#unreadable-0"') == 2 and html.count('id="unreadable-0"') == 1


def test_every_validation_error_is_on_the_page():
    bad = dict(LYING, extra=1)
    entry_errors = vr.report_files({"r/prod-eu-3.json": _text(bad)})["unreadable"][0]["errors"]
    page = _Page(vr.fleet_html(vr.report_files({"r/prod-eu-3.json": _text(bad), "r/a.json": _text(_report("a", "fail"))})))
    assert page.unreadable_sections["prod-eu-3.json"]["errors"] == entry_errors and len(entry_errors) == 2
    assert page.banner == "fail" and page.overall == "\u2717 1 of 1 cluster fails; 1 report unreadable"


def test_a_directory_of_only_unreadable_files_still_shows_them():
    html = vr.fleet_html(vr.report_files({"r/x.json": "{", "r/y.json": "[]"}))
    page = _Page(html)
    assert sorted(page.unreadable_rows) == ["x.json", "y.json"]
    assert page.overall == "! No cluster reports; 2 reports unreadable" and page.banner == "warn"
    assert "No readable cluster report" in html and 'id="matrix"' in html
    assert '<th scope="col">Checks</th>' in html and 'colspan="1"' in html


def test_hostile_file_names_and_reasons_are_text():
    name = "r/%s.json" % HOSTILE_NAME
    html = vr.fleet_html(vr.report_files({name: json.dumps({"schema": HOSTILE, "cluster": HOSTILE})}))
    page = _Page(html)
    assert not [t for t, _ in page.tags if t in ("script", "img")]
    assert not [a for _, a in page.tags if any(k.startswith("on") for k in a)]
    assert list(page.unreadable_rows) == [HOSTILE_NAME + ".json"]
    text = page.unreadable_rows[HOSTILE_NAME + ".json"]["text"]
    assert HOSTILE in text and "cluster " + HOSTILE in text


@pytest.mark.parametrize("fleet, message", [
    ({"schema": vr.FLEET_SCHEMA, "reports": [], "unreadable": [{"file": "x.json"}]}, "fleet: unreadable 0: reason must be non-empty text"),
    ({"schema": vr.FLEET_SCHEMA, "reports": [], "unreadable": "x"}, "fleet: unreadable must be a list"),
    ({"schema": vr.FLEET_SCHEMA, "reports": [], "unreadable": [], "not_shown": [1]}, "fleet: not_shown must be a list of file names"),
    ({"schema": vr.FLEET_SCHEMA, "unreadable": []}, "reports must be a list of verify reports"),
    ({"schema": vr.FLEET_SCHEMA, "reports": [{"cluster": "x"}], "unreadable": []}, "schema must be tracefleet.verify/v1"),
])
def test_a_malformed_fleet_handed_over_as_data_is_still_refused(fleet, message):
    with pytest.raises(VerifyReportError) as excinfo:
        vr.fleet_html(fleet)
    assert any(message in e for e in excinfo.value.errors), excinfo.value.errors


@pytest.mark.parametrize("statuses, unreadable, line", [
    (["pass", "pass"], 1, "All 2 clusters pass; 1 report unreadable"),
    (["fail", "pass"], 3, "1 of 2 clusters fails, 1 passes; 3 reports unreadable"),
    ([], 2, "No cluster reports; 2 reports unreadable"),
    (["warn"], 0, "1 of 1 cluster warns"),
])
def test_fleet_line_counts_unreadable_reports(statuses, unreadable, line):
    assert vr.fleet_line([{"status": s} for s in statuses], unreadable) == line
