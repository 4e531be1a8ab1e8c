"""The verify report filters: the names the verify role calls, their documentation, and their errors."""

import inspect
import json
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.tracefleet.otel.plugins.filter.verify_report import FilterModule
from ansible_collections.tracefleet.otel.plugins.module_utils import verify_report as vr

FILTERS = FilterModule().filters()
FILTER_DIR = Path(__file__).resolve().parents[4] / "plugins" / "filter"
WHEN = "2026-11-25T03:00:00Z"


def test_the_filters_the_verify_role_calls():
    assert sorted(FILTERS) == ["verify_fleet_html", "verify_markdown", "verify_report_files", "verify_report_summary"]


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_every_filter_is_documented_beside_the_plugin(name):
    doc = yaml.safe_load((FILTER_DIR / ("%s.yml" % name)).read_text())
    assert doc["DOCUMENTATION"]["name"] == name
    assert doc["DOCUMENTATION"]["short_description"]
    assert "tracefleet.otel.%s" % name in doc["EXAMPLES"]
    assert "_value" in doc["RETURN"]
    # The documented options are the function's parameters (the input is _input).
    target = {"verify_report_summary": vr.summary, "verify_markdown": vr.markdown, "verify_fleet_html": vr.fleet_html,
              "verify_report_files": vr.report_files}[name]
    params = list(inspect.signature(target).parameters)
    assert sorted(doc["DOCUMENTATION"]["options"]) == sorted(["_input"] + params[1:])


def test_summary_then_markdown_then_fleet_page():
    checks = [{"id": "agents_on_every_node", "status": "fail", "summary": "agent missing on kwok-node-3",
               "evidence": ["node kwok-node-3: no agent pod"]}]
    report = FILTERS["verify_report_summary"](checks, "prod-eu-1", WHEN)
    assert report["status"] == "fail" and report["counts"] == {"pass": 0, "warn": 0, "fail": 1}
    assert "kwok-node-3" in FILTERS["verify_markdown"](report)
    page = FILTERS["verify_fleet_html"]([report], title="Fleet")
    assert "<title>Fleet: 1 of 1 cluster fails</title>" in page


def test_a_malformed_check_fails_the_task_with_every_problem():
    checks = [{"id": "agents", "status": "FAIL", "summary": ""}]
    with pytest.raises(AnsibleFilterError) as excinfo:
        FILTERS["verify_report_summary"](checks, "prod-eu-1", WHEN)
    message = str(excinfo.value)
    assert message.startswith("malformed verify report:\n- cluster prod-eu-1: check 0 (agents): id must be one of")
    assert "status must be one of pass, warn, fail, got 'FAIL'" in message
    assert "summary must be a non-empty line of text, got ''" in message


def test_a_malformed_fleet_fails_the_task():
    with pytest.raises(AnsibleFilterError, match="malformed verify report:\n- report 0: expected a report dict"):
        FILTERS["verify_fleet_html"](["prod-eu-1"])
    with pytest.raises(AnsibleFilterError, match="status is 'pass' but its checks make it fail"):
        FILTERS["verify_markdown"]({"schema": vr.SCHEMA, "cluster": "c", "generated_at": WHEN, "status": "pass",
                                    "counts": {"pass": 0, "warn": 0, "fail": 1},
                                    "checks": [{"id": "tls", "status": "fail", "summary": "plain text"}]})


def test_files_that_are_not_reports_never_fail_the_task_but_bad_input_does():
    report = FILTERS["verify_report_summary"]([{"id": "tls", "status": "pass", "summary": "ok"}], "prod-eu-1", WHEN)
    files = {"/r/prod-eu-1.json": json.dumps(report), "/r/old.json": json.dumps(dict(report, schema="tracefleet.verify/v7")),
             "/r/half.json": json.dumps(report)[:30]}
    fleet = FILTERS["verify_report_files"](files)
    assert [u["line"] for u in fleet["unreadable"]][0].startswith("half.json: not JSON: ")
    assert [u["line"] for u in fleet["unreadable"]][1] == "old.json: schema version 7, this collection reads 1"
    page = FILTERS["verify_fleet_html"](fleet, title="Fleet")
    assert "<title>Fleet: The cluster passes; 2 reports unreadable</title>" in page
    with pytest.raises(AnsibleFilterError, match="malformed verify report:\n- files must map each report file's path"):
        FILTERS["verify_report_files"]("/r/prod-eu-1.json")
