# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verify role's report (schema ``tracefleet.verify/v1``): build it from a list of checks,
validate it, and render it as Markdown (one cluster) or as one self-contained HTML page (the fleet).

A report, one per cluster::

    {"schema": "tracefleet.verify/v1", "cluster": "prod-eu", "generated_at": "2026-11-25T03:00:00Z",
     "status": "fail", "counts": {"pass": 9, "warn": 1, "fail": 2},
     "checks": [{"id": "agents_on_every_node", "title": "...", "status": "fail",
                 "summary": "agent missing on 1 of 4 nodes: kwok-node-3", "evidence": ["..."]}]}

``status`` is the worst check status (fail > warn > pass) and ``counts`` counts the checks by
status; both are computed here, never taken on trust. Everything a check says is text from the
cluster (node names, annotations, error messages) and is escaped wherever it is rendered.

``report_files`` reads the report files of a directory for the fleet page: a file it cannot use (not
JSON, another schema version, a report that does not validate, a second report of one cluster) is
kept as an "unreadable report" with the reason, shown on the page, and never fails the rendering.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import json
import posixpath
import re
from html import escape as _html_escape

SCHEMA_VERSION = 1
SCHEMA = "tracefleet.verify/v%d" % SCHEMA_VERSION
_SCHEMA_ANY = re.compile(r"^tracefleet\.verify/v(\d+)$")
# What report_files returns (the fleet as read from a directory); fleet_html takes it as its input.
FLEET_SCHEMA = "tracefleet.verify-fleet/v1"

STATUSES = ("pass", "warn", "fail")
_RANK = {"pass": 0, "warn": 1, "fail": 2}

# The checklist, in report order: id -> (short column header, full title).
CHECKS = (
    ("agents_on_every_node", "Agents", "Agent ready on every schedulable node"),
    ("gateway_limits", "Gateway limits", "Gateway has memory and CPU limits and memory_limiter first"),
    ("tail_sampling_policies", "Tail sampling", "Tail-sampling policies for errors, latency and a routine rate"),
    ("trace_id_routing", "Trace-ID routing", "Agent to gateway routing is trace-ID aware"),
    ("propagation", "Propagation", "Instrumentation propagates tracecontext and baggage"),
    ("critical_workloads_instrumented", "Critical workloads", "Every critical workload is annotated and injected"),
    ("tempo_retention", "Retention", "Tempo retention within policy"),
    ("tls", "TLS", "TLS on collector to backend links"),
    ("self_monitoring", "Self-monitoring", "Collector self-monitoring endpoints present"),
    ("probe_trace", "Probe trace", "A probe trace confirmed end to end in Tempo"),
    ("sampling_probe", "Sampling probe", "Error and slow traces kept without the probe marker"),
    ("recent_traces", "Recent traces", "Recent traces found from the listed services"),
    ("trace_to_logs", "Trace to logs", "Trace-to-log links configured"),
)
# Reports in the same schema from other playbooks: playbooks/drift.yml has this one check.
OTHER_CHECKS = (
    ("drift", "Drift", "Live objects match what the inventory would apply"),
)
CHECK_IDS = tuple(c[0] for c in CHECKS)
# Checks whose evidence is worth reading even when they pass: the injection audit's pod counts
# (critical_workloads_instrumented), how the sampling thresholds were derived (tail_sampling_policies) and
# what the sampling probe measured. Markdown and HTML show it for these.
DETAILED_WHEN_PASSING = ("critical_workloads_instrumented", "tail_sampling_policies", "sampling_probe")
REPORT_IDS = CHECK_IDS + tuple(c[0] for c in OTHER_CHECKS)
HEADERS = dict((c[0], c[1]) for c in CHECKS + OTHER_CHECKS)
TITLES = dict((c[0], c[2]) for c in CHECKS + OTHER_CHECKS)
_ORDER = dict((check_id, index) for index, check_id in enumerate(REPORT_IDS))

CHECK_KEYS = ("id", "title", "status", "summary", "evidence")
REPORT_KEYS = ("schema", "cluster", "generated_at", "status", "counts", "checks")

# UTC, ISO 8601, to the second or finer: 2026-11-25T03:00:00Z (or +00:00).
_UTC_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)$")

# What a status looks like on the page: a symbol and a word, never colour alone.
_SYMBOL = {"pass": u"\u2713", "warn": u"!", "fail": u"\u2717"}
_LABEL = {"pass": "PASS", "warn": "WARN", "fail": "FAIL"}


class VerifyReportError(ValueError):
    """A malformed check or report; ``errors`` lists every problem found."""

    def __init__(self, errors):
        super(VerifyReportError, self).__init__("; ".join(errors))
        self.errors = list(errors)


def _is_text(value):
    return isinstance(value, str)


def _show(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_errors(check, where="check"):
    """Every problem with one check (``where`` names it in the messages); [] when it is valid."""
    if not isinstance(check, dict):
        return ["%s: expected a dict with %s, got %s" % (where, ", ".join(CHECK_KEYS), _show(check))]
    check_id = check.get("id")
    if _is_text(check_id) and check_id:
        where = "%s (%s)" % (where, check_id)
    errors = []
    unknown = sorted(str(k) for k in check if k not in CHECK_KEYS)
    if unknown:
        errors.append("%s: unknown keys %s (a check has %s)" % (where, ", ".join(unknown), ", ".join(CHECK_KEYS)))
    if not _is_text(check_id) or check_id not in _ORDER:
        errors.append("%s: id must be one of %s, got %s" % (where, ", ".join(REPORT_IDS), _show(check_id)))
    if check.get("status") not in STATUSES:
        errors.append("%s: status must be one of %s, got %s" % (where, ", ".join(STATUSES), _show(check.get("status"))))
    summary = check.get("summary")
    if not _is_text(summary) or not summary.strip():
        errors.append("%s: summary must be a non-empty line of text, got %s" % (where, _show(summary)))
    title = check.get("title")
    if title is not None and (not _is_text(title) or not title.strip()):
        errors.append("%s: title must be non-empty text (or left out for the standard title), got %s" % (where, _show(title)))
    evidence = check.get("evidence", [])
    if evidence is None:
        evidence = []
    if not isinstance(evidence, list):
        errors.append("%s: evidence must be a list of strings, got %s" % (where, _show(evidence)))
    else:
        for index, item in enumerate(evidence):
            if not _is_text(item):
                errors.append("%s: evidence[%d] must be a string, got %s" % (where, index, _show(item)))
    return errors


def _normal_check(check):
    evidence = check.get("evidence") or []
    return {
        "id": check["id"],
        "title": " ".join(check["title"].split()) if check.get("title") else TITLES[check["id"]],
        "status": check["status"],
        "summary": " ".join(check["summary"].split()),
        "evidence": [str(item) for item in evidence],
    }


def _checks(checks, where):
    """Validated, normalised checks in checklist order, or VerifyReportError naming each problem."""
    if not isinstance(checks, list):
        raise VerifyReportError(["%s: checks must be a list of checks, got %s" % (where, _show(checks))])
    if not checks:
        raise VerifyReportError(["%s: no checks: a report needs at least one check" % where])
    errors = []
    first = {}
    for index, check in enumerate(checks):
        errors.extend(check_errors(check, "%s: check %d" % (where, index)))
        if isinstance(check, dict) and check.get("id") in _ORDER:
            if check["id"] in first:
                errors.append("%s: check %d (%s): id %s appears more than once (first as check %d)"
                              % (where, index, check["id"], check["id"], first[check["id"]]))
            first.setdefault(check["id"], index)
    if errors:
        raise VerifyReportError(errors)
    return sorted((_normal_check(c) for c in checks), key=lambda c: _ORDER[c["id"]])


def worst(statuses):
    """The worst of some statuses (fail > warn > pass); pass for none."""
    return max(statuses, key=lambda s: _RANK[s]) if statuses else "pass"


def counts(checks):
    """How many checks have each status, every status present."""
    result = dict((s, 0) for s in STATUSES)
    for check in checks:
        result[check["status"]] += 1
    return result


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary(checks, cluster, generated_at=None):
    """The full report for one cluster from its list of checks (status and counts computed)."""
    errors = []
    if not _is_text(cluster) or not cluster.strip():
        errors.append("cluster must be the inventory host name, got %s" % _show(cluster))
    if generated_at is None:
        generated_at = utc_now()
    elif not _is_text(generated_at) or not _UTC_TIMESTAMP.match(generated_at):
        errors.append("generated_at must be a UTC ISO 8601 time such as 2026-11-25T03:00:00Z, got %s" % _show(generated_at))
    where = "cluster %s" % cluster if _is_text(cluster) and cluster.strip() else "report"
    try:
        normal = _checks(checks, where)
    except VerifyReportError as err:
        errors.extend(err.errors)
    if errors:
        raise VerifyReportError(errors)
    return {
        "schema": SCHEMA,
        "cluster": cluster,
        "generated_at": generated_at,
        "status": worst([c["status"] for c in normal]),
        "counts": counts(normal),
        "checks": normal,
    }


def report_errors(report, where="report"):
    """Every problem with a whole report, including a status or counts that disagree with its checks."""
    if not isinstance(report, dict):
        return ["%s: expected a report dict (schema %s), got %s" % (where, SCHEMA, _show(report))]
    cluster = report.get("cluster")
    if _is_text(cluster) and cluster.strip():
        where = "%s (cluster %s)" % (where, cluster)
    errors = []
    unknown = sorted(str(k) for k in report if k not in REPORT_KEYS)
    if unknown:
        errors.append("%s: unknown keys %s (a report has %s)" % (where, ", ".join(unknown), ", ".join(REPORT_KEYS)))
    if report.get("schema") != SCHEMA:
        errors.append("%s: schema must be %s, got %s" % (where, SCHEMA, _show(report.get("schema"))))
    generated_at = report.get("generated_at")
    if generated_at is None:
        errors.append("%s: generated_at is missing (a UTC ISO 8601 time such as 2026-11-25T03:00:00Z)" % where)
        generated_at = "1970-01-01T00:00:00Z"  # reported above; do not report it twice
    try:
        built = summary(report.get("checks"), cluster, generated_at)
    except VerifyReportError as err:
        return errors + ["%s: %s" % (where, e) for e in err.errors]
    if report.get("status") != built["status"]:
        errors.append("%s: status is %s but its checks make it %s" % (where, _show(report.get("status")), built["status"]))
    if report.get("counts") != built["counts"]:
        errors.append("%s: counts are %s but its checks count %s" % (where, _show(report.get("counts")), built["counts"]))
    return errors


def validate(report, where="report"):
    """The report, normalised (checks in checklist order), or VerifyReportError with every problem."""
    errors = report_errors(report, where)
    if errors:
        raise VerifyReportError(errors)
    return summary(report["checks"], report["cluster"], report["generated_at"])


# --- reading a directory of reports ----------------------------------------------------------

def _schema_problem(doc):
    """Why a parsed JSON document is not a report of this schema ('' when its schema is ours)."""
    if not isinstance(doc, dict):
        kind = {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(type(doc), "a number")
        return "not a verify report: the JSON is %s, a report is an object" % kind
    schema = doc.get("schema")
    if schema == SCHEMA:
        return ""
    match = _SCHEMA_ANY.match(schema) if _is_text(schema) else None
    if match:
        return "schema version %s, this collection reads %d" % (match.group(1), SCHEMA_VERSION)
    if schema is None:
        return "not a verify report: no schema (this collection reads %s)" % SCHEMA
    return "not a verify report: schema %s (this collection reads %s)" % (_show(schema), SCHEMA)


def _read_one(path, text):
    """(report, None) for a valid report file, else (None, the unreadable entry without its ``line``)."""
    name = posixpath.basename(str(path)) or str(path)
    entry = {"file": name, "path": str(path), "reason": "", "errors": [], "cluster": None, "generated_at": None}
    if not _is_text(text):
        entry["reason"] = "not text: got %s" % _show(text)
        return None, entry
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # the file lookup escapes bytes that are not UTF-8 (surrogateescape)
        entry["reason"] = "not UTF-8 text (a report is UTF-8 JSON)"
        return None, entry
    if not text.strip():
        entry["reason"] = "not JSON: the file is empty"
        return None, entry
    try:
        doc = json.loads(text)
    except ValueError as err:
        entry["reason"] = "not JSON: %s" % err
        return None, entry
    if isinstance(doc, dict):
        # What the file says about itself, shown next to it when it is usable as text.
        if _is_text(doc.get("cluster")) and doc["cluster"].strip():
            entry["cluster"] = doc["cluster"]
        if _is_text(doc.get("generated_at")) and _UTC_TIMESTAMP.match(doc["generated_at"]):
            entry["generated_at"] = doc["generated_at"]
    problem = _schema_problem(doc)
    if problem:
        entry["reason"] = problem
        return None, entry
    errors = report_errors(doc, name)
    if errors:
        # report_errors names the file (and its cluster) in every message; the page names them already.
        prefix = name + (" (cluster %s)" % entry["cluster"] if entry["cluster"] else "") + ": "
        errors = [e[len(prefix):] if e.startswith(prefix) else e for e in errors]
        entry["errors"] = errors
        entry["reason"] = "%d validation %s: %s%s" % (
            len(errors), _plural(len(errors), "error", "errors"), errors[0], "; ..." if len(errors) > 1 else "")
        return None, entry
    return validate(doc, name), None


def report_files(files, clusters=None):
    """The fleet as read from a report directory, for ``fleet_html``: every readable report, and every
    file that is not one as an unreadable entry with the reason; never VerifyReportError for a file.

    ``files`` maps each file's path to its text (or is a list of ``[path, text]`` pairs). ``clusters``,
    when given, is the list of clusters to show (a play's hosts): reports of other clusters, and
    unreadable files named after none of them, are left out and only counted (``not_shown``).

    Two readable reports of one cluster: the file named after the cluster (``<cluster>.json``) is shown
    (else the first by path), the other is listed as unreadable."""
    if isinstance(files, dict):
        pairs = list(files.items())
    elif isinstance(files, list) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in files):
        pairs = [tuple(p) for p in files]
    else:
        raise VerifyReportError(["files must map each report file's path to its text (or be a list of [path, text]), got %s"
                                 % _show(files)])
    errors = ["files: a path must be text, got %s" % _show(path) for path in (p[0] for p in pairs) if not _is_text(path) or not path]
    if clusters is not None and (not isinstance(clusters, list) or not all(_is_text(c) for c in clusters)):
        errors.append("clusters must be a list of cluster names (or left out for every report), got %s" % _show(clusters))
    if errors:
        raise VerifyReportError(errors)
    shown = None if clusters is None else set(clusters)

    readable, unreadable = [], []
    for path, text in sorted(pairs, key=lambda p: p[0]):
        report, entry = _read_one(path, text)
        if report is not None:
            readable.append((path, report))
        else:
            unreadable.append(entry)

    def stem(path):
        name = posixpath.basename(path)
        return name[:-5] if name.endswith(".json") else name

    reports, first = [], {}
    for path, report in sorted(readable, key=lambda pr: (stem(pr[0]) != pr[1]["cluster"], pr[0])):
        cluster = report["cluster"]
        if cluster in first:
            unreadable.append({
                "file": posixpath.basename(path), "path": path, "cluster": cluster, "generated_at": report["generated_at"],
                "reason": "a second report of cluster %s (%s is shown)" % (cluster, posixpath.basename(first[cluster])),
                "errors": []})
            continue
        first[cluster] = path
        reports.append(report)

    not_shown = []
    if shown is not None:
        not_shown = sorted([posixpath.basename(first[r["cluster"]]) for r in reports if r["cluster"] not in shown]
                           + [u["file"] for u in unreadable if stem(u["path"]) not in shown and u["cluster"] not in shown])
        reports = [r for r in reports if r["cluster"] in shown]
        unreadable = [u for u in unreadable if stem(u["path"]) in shown or u["cluster"] in shown]
    unreadable.sort(key=lambda u: u["path"])
    for entry in unreadable:
        entry["line"] = "%s: %s" % (entry["file"], entry["reason"])
    return {"schema": FLEET_SCHEMA, "reports": reports, "unreadable": unreadable, "not_shown": not_shown}


def when(timestamp):
    """A report time as a person reads it: 2026-11-25 03:00 UTC."""
    return "%s %s UTC" % (timestamp[:10], timestamp[11:16])


def _worst_first(checks):
    return sorted(checks, key=lambda c: (-_RANK[c["status"]], _ORDER[c["id"]]))


def _plural(n, one, many):
    return one if n == 1 else many


# --- Markdown --------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~])")


def _md(text):
    """Text safe in a Markdown table cell or paragraph: one line, no live HTML or markup."""
    text = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", _html_escape(text, quote=False))


def _fence(lines):
    longest = max([len(run) for line in lines for run in re.findall(r"`+", line)] or [0])
    return "`" * max(3, longest + 1)


def markdown(report):
    """Markdown summary of one report: a table (status, check, summary), then evidence per non-pass check."""
    r = validate(report)
    c = r["counts"]
    out = [
        "# Verify report: %s \u2014 %s %s" % (_md(r["cluster"]), _SYMBOL[r["status"]], _LABEL[r["status"]]),
        "",
        "Generated %s: %d fail, %d warn, %d pass (%d %s)." % (
            when(r["generated_at"]), c["fail"], c["warn"], c["pass"], len(r["checks"]),
            _plural(len(r["checks"]), "check", "checks")),
        "",
        "| Status | Check | Summary |",
        "| --- | --- | --- |",
    ]
    for check in _worst_first(r["checks"]):
        out.append("| %s %s | %s (`%s`) | %s |" % (
            _SYMBOL[check["status"]], _LABEL[check["status"]], _md(check["title"]), check["id"], _md(check["summary"])))
    problems = [check for check in _worst_first(r["checks"]) if check["status"] != "pass"]
    if problems:
        out += ["", "## Evidence"]
    for check in problems:
        out += _md_evidence(check)
    detailed = _detailed(r)
    if detailed:
        out += ["", "## Details of passing checks"]
    for check in detailed:
        out += _md_evidence(check)
    return "\n".join(out) + "\n"


def _detailed(report):
    """The passing checks whose evidence the reports show anyway (DETAILED_WHEN_PASSING), in checklist order."""
    return [c for c in report["checks"] if c["status"] == "pass" and c["id"] in DETAILED_WHEN_PASSING and c["evidence"]]


def _md_evidence(check):
    out = ["", "### %s %s: %s (`%s`)" % (_SYMBOL[check["status"]], _LABEL[check["status"]], _md(check["title"]), check["id"]),
           "", _md(check["summary"])]
    if check["evidence"]:
        lines = [line for item in check["evidence"] for line in item.splitlines() or [""]]
        fence = _fence(lines)
        out += ["", fence + "text"] + lines + [fence]
    return out


# --- the fleet page --------------------------------------------------------------------------

def _h(text):
    return _html_escape(str(text), quote=True)


_UNREADABLE_KEYS = ("file", "path", "reason", "errors", "cluster", "generated_at", "line")


def _unreadable_errors(entry, where):
    if not isinstance(entry, dict):
        return ["%s: expected a dict as report_files makes it, got %s" % (where, _show(entry))]
    errors = []
    unknown = sorted(str(k) for k in entry if k not in _UNREADABLE_KEYS)
    if unknown:
        errors.append("%s: unknown keys %s" % (where, ", ".join(unknown)))
    for key in ("file", "reason"):
        if not _is_text(entry.get(key)) or not entry[key].strip():
            errors.append("%s: %s must be non-empty text, got %s" % (where, key, _show(entry.get(key))))
    for key in ("path", "cluster", "line"):
        if entry.get(key) is not None and not _is_text(entry[key]):
            errors.append("%s: %s must be text, got %s" % (where, key, _show(entry[key])))
    stamp = entry.get("generated_at")
    if stamp is not None and (not _is_text(stamp) or not _UTC_TIMESTAMP.match(stamp)):
        errors.append("%s: generated_at must be a UTC ISO 8601 time, got %s" % (where, _show(stamp)))
    problems = entry.get("errors", [])
    if problems is None:
        problems = []
    if not isinstance(problems, list) or not all(_is_text(e) for e in problems):
        errors.append("%s: errors must be a list of strings, got %s" % (where, _show(problems)))
    return errors


def _read_fleet(fleet):
    """(reports, unreadable entries, not-shown file names) of what ``report_files`` returned, checked."""
    errors = []
    unreadable = fleet.get("unreadable", [])
    if not isinstance(unreadable, list):
        errors.append("fleet: unreadable must be a list, got %s" % _show(unreadable))
        unreadable = []
    for index, entry in enumerate(unreadable):
        errors.extend(_unreadable_errors(entry, "fleet: unreadable %d" % index))
    not_shown = fleet.get("not_shown", [])
    if not isinstance(not_shown, list) or not all(_is_text(n) for n in not_shown):
        errors.append("fleet: not_shown must be a list of file names, got %s" % _show(not_shown))
    if errors:
        raise VerifyReportError(errors)
    return fleet.get("reports"), unreadable, not_shown


def _fleet(reports):
    """(valid reports worst first, unreadable entries, not-shown file names). ``reports`` is a list of
    reports, a dict whose values are reports, or what ``report_files`` read from a directory."""
    unreadable, not_shown = [], []
    if isinstance(reports, dict) and reports.get("schema") == FLEET_SCHEMA:
        reports, unreadable, not_shown = _read_fleet(reports)
    elif isinstance(reports, dict):
        reports = list(reports.values())
    if not isinstance(reports, list):
        raise VerifyReportError(["reports must be a list of verify reports, got %s" % _show(reports)])
    errors = []
    valid = []
    seen = set()
    for index, report in enumerate(reports):
        found = report_errors(report, "report %d" % index)
        if found:
            errors.extend(found)
            continue
        if report["cluster"] in seen:
            errors.append("report %d: cluster %s appears more than once" % (index, report["cluster"]))
        seen.add(report["cluster"])
        valid.append(validate(report))
    if errors:
        raise VerifyReportError(errors)
    valid = sorted(valid, key=lambda r: (-_RANK[r["status"]], -r["counts"]["fail"], -r["counts"]["warn"], r["cluster"]))
    return valid, unreadable, not_shown


def fleet_line(reports, unreadable=0):
    """The overall line, such as "2 of 8 clusters fail, 1 warns, 5 pass" (and "; 1 report unreadable")."""
    line = _clusters_line(reports)
    if unreadable:
        line += "; %d %s unreadable" % (unreadable, _plural(unreadable, "report", "reports"))
    return line


def _clusters_line(reports):
    total = len(reports)
    n = dict((s, sum(1 for r in reports if r["status"] == s)) for s in STATUSES)
    if total == 0:
        return "No cluster reports"
    if n["pass"] == total:
        return "All %d %s pass" % (total, _plural(total, "cluster", "clusters")) if total > 1 else "The cluster passes"
    parts = []
    if n["fail"]:
        parts.append("%d of %d %s %s" % (n["fail"], total, _plural(total, "cluster", "clusters"), _plural(n["fail"], "fails", "fail")))
    if n["warn"]:
        if parts:
            parts.append("%d %s" % (n["warn"], _plural(n["warn"], "warns", "warn")))
        else:
            parts.append("%d of %d %s %s" % (n["warn"], total, _plural(total, "cluster", "clusters"), _plural(n["warn"], "warns", "warn")))
    if n["pass"]:
        parts.append("%d %s" % (n["pass"], _plural(n["pass"], "passes", "pass")))
    return ", ".join(parts)


_CSS = """
:root { --fail: #b42318; --fail-bg: #fde8e7; --warn: #8a5300; --warn-bg: #fff4d6;
  --pass: #1d6b3a; --pass-bg: #e4f4e9; --none: #6b7280; --none-bg: #f3f4f6; --unread: #5b21b6; --unread-bg: #ede9fe;
  --ink: #1f2937; --muted: #6b7280; --line: #e5e7eb; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif;
  color: var(--ink); background: #f8fafc; }
main { max-width: 1500px; margin: 0 auto; padding: 24px 28px 48px; }
header.banner { border-radius: 10px; padding: 18px 24px; margin-bottom: 20px; color: #fff; }
header.banner.fail { background: var(--fail); }
header.banner.warn { background: #b26a00; }
header.banner.pass { background: var(--pass); }
header.banner h1 { margin: 0 0 4px; font-size: 15px; font-weight: normal; opacity: .9; letter-spacing: .02em; }
header.banner .overall { margin: 0; font-size: 28px; font-weight: bold; }
header.banner .meta { margin: 6px 0 0; font-size: 13px; opacity: .9; }
.tiles { display: flex; gap: 12px; margin: 0 0 20px; }
.tile { flex: 0 0 auto; min-width: 150px; padding: 10px 16px; border-radius: 8px; border: 1px solid var(--line); background: #fff; }
.tile b { display: block; font-size: 26px; }
.tile.fail b { color: var(--fail); } .tile.warn b { color: var(--warn); } .tile.pass b { color: var(--pass); }
.scroll { overflow-x: auto; }
table.matrix { border-collapse: separate; border-spacing: 0; width: 100%; background: #fff;
  border: 1px solid var(--line); border-radius: 10px; overflow: hidden; }
.matrix th, .matrix td { padding: 6px 4px; border-bottom: 1px solid var(--line); text-align: center; vertical-align: middle; }
.matrix thead th { background: #f1f5f9; font-size: 12px; font-weight: bold; color: #374151; line-height: 1.2; }
.matrix th.cluster { text-align: left; min-width: 170px; padding-left: 14px; }
.matrix th.cluster a { color: var(--ink); text-decoration: none; font-size: 15px; }
.matrix th.cluster .when { display: block; font-weight: normal; font-size: 11px; color: var(--muted); white-space: nowrap; }
.matrix tbody tr:last-child th, .matrix tbody tr:last-child td { border-bottom: 0; }
.matrix tfoot th, .matrix tfoot td { background: #f8fafc; font-size: 12px; color: var(--muted); border-top: 2px solid var(--line); border-bottom: 0; }
.cell { display: inline-block; min-width: 64px; padding: 3px 6px; border-radius: 6px; font-size: 12px;
  font-weight: bold; letter-spacing: .03em; white-space: nowrap; text-decoration: none; }
.cell.fail, .badge.fail { background: var(--fail); color: #fff; }
.cell.warn, .badge.warn { background: var(--warn-bg); color: var(--warn); border: 1px solid #f0c36d; }
.cell.pass, .badge.pass { background: var(--pass-bg); color: var(--pass); font-weight: normal; }
.cell.none { background: var(--none-bg); color: var(--none); font-weight: normal; }
.cell.unreadable, .badge.unreadable { background: var(--unread); color: #fff; }
tr.unreadable th.cluster { box-shadow: inset 4px 0 0 var(--unread); }
tr.unreadable th, tr.unreadable td { background: repeating-linear-gradient(135deg, #fff, #fff 8px, var(--unread-bg) 8px, var(--unread-bg) 16px); }
td.unreadable { text-align: left; padding-left: 10px; }
td.unreadable .reason { font: 13px/1.4 "DejaVu Sans Mono", Menlo, Consolas, monospace; color: var(--unread); }
.tile.unreadable { border-color: var(--unread); } .tile.unreadable b { color: var(--unread); } .tile.unreadable a { color: var(--unread); }
section.cluster.unreadable { border: 2px dashed var(--unread); }
.finding.unreadable { border-color: var(--unread); }
.badge { display: inline-block; padding: 2px 8px; border-radius: 6px; font-size: 12px; font-weight: bold; white-space: nowrap; }
tr.fail th.cluster { box-shadow: inset 4px 0 0 var(--fail); }
tr.warn th.cluster { box-shadow: inset 4px 0 0 #e0a100; }
tr.pass th.cluster { box-shadow: inset 4px 0 0 #55b17a; }
h2 { font-size: 20px; margin: 32px 0 12px; }
section.cluster { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 14px 20px; margin: 0 0 16px; }
section.cluster h3 { margin: 0 0 10px; font-size: 18px; }
section.cluster h3 .counts { font-size: 13px; font-weight: normal; color: var(--muted); margin-left: 8px; }
.finding { border-left: 4px solid var(--line); padding: 6px 0 6px 14px; margin: 10px 0; }
.finding.fail { border-color: var(--fail); } .finding.warn { border-color: #e0a100; } .finding.pass { border-color: #55b17a; }
details.passing { background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 10px 20px; margin: 0 0 12px; }
details.passing summary { cursor: pointer; font-weight: bold; }
.finding h4 { margin: 0 0 4px; font-size: 15px; }
.finding h4 code { font-size: 12px; color: var(--muted); font-weight: normal; }
.finding .summary { margin: 0 0 6px; }
.finding ul { margin: 0; padding-left: 20px; }
.finding li { font: 13px/1.5 "DejaVu Sans Mono", Menlo, Consolas, monospace; white-space: pre-wrap; word-break: break-word; }
.allpass { color: var(--muted); }
footer { margin-top: 28px; font-size: 12px; color: var(--muted); }
"""


def _cell(check, anchor):
    if check is None:
        return '<td class="none"><span class="cell none" title="not checked">\u2013 n/a</span></td>'
    status = check["status"]
    label = "%s %s" % (_SYMBOL[status], _LABEL[status])
    tip = _h("%s: %s" % (check["title"], check["summary"]))
    if status == "pass":
        return '<td class="pass" data-check="%s"><span class="cell pass" title="%s">%s</span></td>' % (
            _h(check["id"]), tip, label)
    return '<td class="%s" data-check="%s"><a class="cell %s" href="#%s" title="%s">%s</a></td>' % (
        status, _h(check["id"]), status, anchor, tip, label)


def _html_finding(check, attributes):
    """One check with its summary and evidence; ``attributes`` go on its div (already escaped)."""
    status = check["status"]
    out = ['<div class="finding %s" %s>' % (status, attributes),
           '<h4><span class="badge %s">%s %s</span> %s <code>%s</code></h4>' % (
               status, _SYMBOL[status], _LABEL[status], _h(check["title"]), _h(check["id"])),
           '<p class="summary">%s</p>' % _h(check["summary"])]
    if check["evidence"]:
        out.append("<ul>%s</ul>" % "".join("<li>%s</li>" % _h(item) for item in check["evidence"]))
    return out + ["</div>"]


_UNREADABLE = u"? UNREADABLE"


def _about(entry):
    """What an unreadable file says about itself, when it says it: cluster and time."""
    parts = []
    if entry.get("cluster"):
        parts.append("cluster %s" % entry["cluster"])
    if entry.get("generated_at"):
        parts.append(when(entry["generated_at"]))
    return parts


def _unreadable_row(entry, anchor, span):
    about = " \u00b7 ".join(["unreadable report"] + _about(entry))
    return "".join([
        '<tr class="unreadable" data-unreadable="%s">' % _h(entry["file"]),
        '<th class="cluster" scope="row"><a href="#%s">%s</a><span class="when">%s</span></th>' % (anchor, _h(entry["file"]), _h(about)),
        '<td class="unreadable" colspan="%d"><a class="cell unreadable" href="#%s" title="%s">%s</a>'
        ' <span class="reason">%s</span></td>' % (span, anchor, _h(entry["reason"]), _UNREADABLE, _h(entry["reason"])),
        "</tr>"])


def _unreadable_section(entry, anchor):
    about = " \u00b7 ".join(_about(entry) + [entry.get("path") or entry["file"]])
    out = ['<section class="cluster unreadable" id="%s" data-unreadable="%s">' % (anchor, _h(entry["file"])),
           '<h3><span class="badge unreadable">%s</span> %s<span class="counts">%s</span></h3>' % (
               _UNREADABLE, _h(entry["file"]), _h(about)),
           '<p class="summary">%s</p>' % _h(entry["reason"])]
    if entry.get("errors"):
        out.append('<div class="finding unreadable"><ul>%s</ul></div>' % "".join("<li>%s</li>" % _h(e) for e in entry["errors"]))
    return out + ["</section>"]


def fleet_html(reports, title="Tracing rollout: pre-production checklist"):
    """One self-contained HTML page: the fleet's overall line, a cluster-by-check matrix (worst
    clusters first) and the summary and evidence of every check that did not pass.

    ``reports`` is a list of reports (or a dict whose values are reports), each of which must be
    valid, or what ``report_files`` read from a directory: then the files that are not readable
    reports get their own rows and section ("unreadable report", with the reason), and the page
    says how many reports of other clusters it left out."""
    if not _is_text(title) or not title.strip():
        raise VerifyReportError(["title must be non-empty text, got %s" % _show(title)])
    fleet, unreadable, not_shown = _fleet(reports)
    present = set(c["id"] for r in fleet for c in r["checks"])
    columns = [check_id for check_id in REPORT_IDS if check_id in present]
    # An unreadable report makes the banner amber at least: the page cannot say the whole fleet passes.
    overall = worst([r["status"] for r in fleet] + (["warn"] if unreadable else [])) if fleet else "warn"
    n = dict((s, sum(1 for r in fleet if r["status"] == s)) for s in STATUSES)
    latest = max([r["generated_at"] for r in fleet] or [""])
    line = fleet_line(fleet, len(unreadable))

    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # Nothing on the page loads anything: no scripts, no remote styles, fonts or images.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">',
        "<title>%s: %s</title>" % (_h(title), _h(line)),
        "<style>%s</style>" % _CSS,
        "</head>",
        "<body>",
        "<main>",
        '<header class="banner %s" id="overall" data-status="%s">' % (overall, overall),
        "<h1>%s</h1>" % _h(title),
        '<p class="overall">%s %s</p>' % (_SYMBOL[overall], _h(line)),
        '<p class="meta">%d %s, %d %s each \u00b7 latest report %s%s</p>' % (
            len(fleet), _plural(len(fleet), "cluster", "clusters"), len(columns), _plural(len(columns), "check", "checks"),
            _h(when(latest)) if latest else "none",
            "" if not not_shown else ' \u00b7 <span class="not-shown" title="%s">%d other %s in the directory not shown</span>' % (
                _h(", ".join(not_shown)), len(not_shown), _plural(len(not_shown), "report", "reports"))),
        "</header>",
        '<div class="tiles">',
    ]
    for status in ("fail", "warn", "pass"):
        out.append('<div class="tile %s"><b>%d</b>%s %s</div>' % (
            status, n[status], _plural(n[status], "cluster", "clusters"), {"fail": "failing", "warn": "warning", "pass": "passing"}[status]))
    if unreadable:
        out.append('<div class="tile unreadable"><b>%d</b><a href="#unreadable">unreadable %s</a></div>' % (
            len(unreadable), _plural(len(unreadable), "report", "reports")))
    out.append("</div>")

    if fleet or unreadable:
        out += ['<div class="scroll">', '<table class="matrix" id="matrix">', "<thead><tr>", '<th class="cluster" scope="col">Cluster</th>']
        for check_id in columns:
            out.append('<th scope="col" data-check="%s" title="%s (%s)">%s</th>' % (
                _h(check_id), _h(TITLES[check_id]), _h(check_id), _h(HEADERS[check_id])))
        if not columns:
            out.append('<th scope="col">Checks</th>')
        out += ["</tr></thead>", "<tbody>"]
        for index, r in enumerate(fleet):
            by_id = dict((c["id"], c) for c in r["checks"])
            target = "cluster-%d" % index
            name = (
                '<a href="#%s">%s</a>' % (target, _h(r["cluster"])) if r["status"] != "pass" else _h(r["cluster"]))
            row = ['<tr class="%s" data-cluster="%s" data-status="%s">' % (r["status"], _h(r["cluster"]), r["status"]),
                   '<th class="cluster" scope="row">%s<span class="when">%s \u00b7 %d fail, %d warn</span></th>' % (
                       name, _h(when(r["generated_at"])), r["counts"]["fail"], r["counts"]["warn"])]
            for check_id in columns:
                row.append(_cell(by_id.get(check_id), "%s-%s" % (target, check_id)))
            row.append("</tr>")
            out.append("".join(row))
        out.append("</tbody>")
        if unreadable:
            out.append('<tbody class="unreadable">')
            for index, entry in enumerate(unreadable):
                out.append(_unreadable_row(entry, "unreadable-%d" % index, max(1, len(columns))))
            out.append("</tbody>")
        if fleet:
            out += ["<tfoot><tr>", '<th class="cluster" scope="row">Clusters not passing</th>']
            for check_id in columns:
                bad = sum(1 for r in fleet for c in r["checks"] if c["id"] == check_id and c["status"] != "pass")
                out.append("<td>%s</td>" % (bad if bad else "\u2013"))
            out.append("</tr></tfoot>")
        out += ["</table>", "</div>"]

    problems = [(index, r) for index, r in enumerate(fleet) if r["status"] != "pass"]
    out.append('<h2 id="details">What did not pass</h2>')
    if not fleet and unreadable:
        out.append('<p class="allpass">No readable cluster report: see the unreadable reports below.</p>')
    elif not fleet:
        out.append('<p class="allpass">No cluster reported: nothing was checked.</p>')
    elif not problems:
        out.append('<p class="allpass">Every check passed on every cluster.</p>')
    for index, r in problems:
        target = "cluster-%d" % index
        out += ['<section class="cluster %s" id="%s" data-cluster="%s">' % (r["status"], target, _h(r["cluster"])),
                '<h3><span class="badge %s">%s %s</span> %s<span class="counts">%d fail, %d warn, %d pass \u00b7 %s</span></h3>' % (
                    r["status"], _SYMBOL[r["status"]], _LABEL[r["status"]], _h(r["cluster"]),
                    r["counts"]["fail"], r["counts"]["warn"], r["counts"]["pass"], _h(when(r["generated_at"])))]
        for check in _worst_first(r["checks"]):
            if check["status"] == "pass":
                continue
            out += _html_finding(check, 'id="%s-%s" data-check="%s"' % (target, check["id"], _h(check["id"])))
        out.append("</section>")
    if unreadable:
        out += ['<h2 id="unreadable">Unreadable reports</h2>',
                '<p class="allpass">Files in the report directory that this collection cannot read as a %s report. '
                "They are not part of the result above and do not fail the play; replace or remove them.</p>" % SCHEMA]
    for index, entry in enumerate(unreadable):
        out += _unreadable_section(entry, "unreadable-%d" % index)
    passing = [(index, r, _detailed(r)) for index, r in enumerate(fleet) if _detailed(r)]
    if passing:
        out.append('<h2 id="passing-details">Details of passing checks (sampling derivation and probe)</h2>')
    for index, r, checks in passing:
        out += ['<details class="passing" id="cluster-%d-passing" data-passing-cluster="%s">' % (index, _h(r["cluster"])),
                "<summary>%s: %s</summary>" % (_h(r["cluster"]), _h(", ".join(c["title"] for c in checks)))]
        for check in checks:
            out += _html_finding(check, 'data-passing-check="%s"' % _h(check["id"]))
        out.append("</details>")
    out += ["<footer>tracefleet.otel verify report (%s). Hover a cell for its summary; a failing or warning cell links to its evidence.</footer>" % SCHEMA,
            "</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"
