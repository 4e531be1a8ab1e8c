"""The verify role's fleet page, rendered by a real browser: Debian's chromium, headless.

A real ``ansible-playbook`` renders a fleet of eight clusters with the collection's filters
(``verify_report_summary``, ``verify_markdown``) and writes the fleet page with the verify role's own
``index.yml`` (``verify_report_files``, ``verify_fleet_html``) from the report directory; one cluster fails
``agents_on_every_node`` with the missing node's name in the evidence, another carries hostile
evidence (markup and a script), and three files in the directory are not readable reports (a newer
schema version, a truncated report, a file that is not JSON): the page lists them as unreadable and
the play does not fail. Chromium loads the page from a file and hands back the DOM it
built (``--dump-dom``) and a screenshot (``--screenshot``). The DOM must show FAIL in that cluster's
agents cell and the node name in its details, the worst clusters first, and no element the evidence
tried to inject; the screenshot must be a real picture (many colours, the failure red among them).

``make setup`` installs chromium (target ``chromium``); without it the test is skipped, except in
CI (``CI`` set), where it fails. Every chromium run is bounded by a timeout. The page, the DOM
chromium built and the screenshot of the last run stay in ``$TRACEFLEET_VERIFY_ARTIFACTS`` (default
``/tmp/tracefleet-verify-report``), passed or failed, so they can be looked at.
"""

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tfstack.collection import collections_root

from ansible_collections.tracefleet.otel.plugins.filter.verify_report import FilterModule
from ansible_collections.tracefleet.otel.plugins.module_utils.verify_report import CHECK_IDS

FILTERS = FilterModule().filters()
summary = FILTERS["verify_report_summary"]
fleet_html = FILTERS["verify_fleet_html"]

CHROMIUM = "/usr/bin/chromium"
TIMEOUT = 180  # seconds per chromium run: about 2 s on an idle machine, far more on a loaded 2-core one
HOSTILE = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'
MISSING_NODE = "kwok-node-3"
ARTIFACTS = Path(os.environ.get("TRACEFLEET_VERIFY_ARTIFACTS") or Path(tempfile.gettempdir()) / "tracefleet-verify-report")
GENERATED = "2026-11-25T03:00:00Z"
# Files in the report directory that are not readable reports, and the reason the page must give for each.
UNREADABLE = {
    "zz-newer-collection.json": "schema version 7, this collection reads 1",
    "zz-truncated.json": "not JSON: ",
    "notes.json": "not JSON: Expecting value: line 1 column 1 (char 0)",
}


@pytest.fixture(scope="module")
def chromium():
    path = shutil.which("chromium") or (CHROMIUM if os.access(CHROMIUM, os.X_OK) else None)
    if path is None:
        reason = "Debian's chromium is not installed (`make setup` installs it: target `chromium`)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must run this test", pytrace=False)
        pytest.skip(reason)
    return path


def _passing(**overrides):
    checks = [{"id": check_id, "status": "pass", "summary": "ok: %s" % check_id.replace("_", " ")} for check_id in CHECK_IDS]
    for check_id, (status, text, evidence) in overrides.items():
        for check in checks:
            if check["id"] == check_id:
                check.update(status=status, summary=text, evidence=evidence)
    return checks


def _fleet():
    reports = [summary(_passing(), name, GENERATED) for name in ("prod-us-1", "prod-us-2", "staging-eu", "dev-1")]
    reports.append(summary(_passing(agents_on_every_node=(
        "fail", "agent missing on 1 of 4 nodes: %s" % MISSING_NODE,
        ["node %s: no agent pod (taint dedicated=db:NoSchedule not tolerated)" % MISSING_NODE,
         "daemonset otel-agent: desired 3, ready 3, nodes 4"])), "prod-eu-1", GENERATED))
    reports.append(summary(_passing(
        tls=("warn", "waived: collector to Tempo runs inside the cluster network", []),
        trace_to_logs=("warn", "no Loki data source linked to Tempo", ["grafana: tracesToLogsV2 not set"])),
        "prod-eu-2", GENERATED))
    reports.append(summary(_passing(
        critical_workloads_instrumented=("fail", "1 of 3 critical workloads not annotated: payments/checkout",
                                         ["deployment payments/checkout: no instrumentation.opentelemetry.io annotation",
                                          HOSTILE]),
        recent_traces=("warn", "no trace from service checkout in the last 15 minutes", [])),
        "prod-ap-1", GENERATED))
    reports.append(summary(_passing(tempo_retention=("warn", "retention 30 days, above the 14-day policy",
                                                     ["compactor.compaction.block_retention: 720h"])),
                           "lab-" + HOSTILE, GENERATED))
    return reports


def _kill_session(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _run_chromium(chromium, workdir, *args):
    """Run headless chromium with a fresh profile in ``workdir``; its stdout."""
    profile = workdir / "profile"
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--user-data-dir=%s" % profile] + list(args)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "HOME": str(workdir)})
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill_session(proc)
        proc.communicate()
        pytest.fail("chromium did not finish within %d s: %s" % (TIMEOUT, " ".join(command)), pytrace=False)
    finally:
        _kill_session(proc)  # a helper process chromium left behind, if any (only this run's session)
        shutil.rmtree(profile, ignore_errors=True)
    assert proc.returncode == 0, "chromium exited %d\n%s\n%s" % (proc.returncode, " ".join(command), err[-3000:])
    return out


class _Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def find_all(self, tag=None, **attrs):
        found = []
        for child in self.children:
            if isinstance(child, _Node):
                if (tag is None or child.tag == tag) and all(child.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items()):
                    found.append(child)
                found.extend(child.find_all(tag, **attrs))
        return found


class _Tree(HTMLParser):
    """The DOM chromium dumped, as a small tree (the stdlib parser; no new packages)."""

    VOID = {"meta", "link", "br", "img", "input", "hr", "source", "wbr", "col", "area", "base", "embed", "track"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.root = self.node = _Node("#document", {}, None)
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        node = _Node(tag, attrs, self.node)
        self.node.children.append(node)
        if tag not in self.VOID:
            self.node = node

    def handle_endtag(self, tag):
        node = self.node
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.node = node.parent

    def handle_data(self, data):
        self.node.children.append(data)


def _png_pixels(path, max_rows=600):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA PNG: zlib and the five PNG row filters."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "%s is not a PNG" % path
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, "unexpected PNG format %r" % (header,)
    channels = 4 if colour == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(min(height, max_rows)):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                corner = previous[i - channels] if i >= channels else 0
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, channels)])
        previous = line
    return width, height, rows


PLAYBOOK = r"""
- name: Render the verify reports of a fleet, as the verify role does
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Build each cluster's report from its checks
      ansible.builtin.set_fact:
        reports: "{{ reports | default([]) + [item.checks | tracefleet.otel.verify_report_summary(item.cluster, generated_at)] }}"
      loop: "{{ fleet }}"
      loop_control:
        label: "{{ item.cluster }}"

    - name: Write each report as JSON
      ansible.builtin.copy:
        content: "{{ item | to_nice_json }}\n"
        dest: "{{ report_dir }}/report-{{ index }}.json"
        mode: "0644"
      loop: "{{ reports }}"
      loop_control:
        index_var: index
        label: "{{ item.cluster }}"

    - name: Write each report's Markdown summary
      ansible.builtin.copy:
        content: "{{ item | tracefleet.otel.verify_markdown }}"
        dest: "{{ report_dir }}/report-{{ index }}.md"
        mode: "0644"
      loop: "{{ reports }}"
      loop_control:
        index_var: index
        label: "{{ item.cluster }}"

    - name: Write the fleet page from every file in the report directory, as the verify role does
      ansible.builtin.include_role:
        name: tracefleet.otel.verify
        tasks_from: index
      vars:
        tracefleet_verify_report_dir: "{{ report_dir }}"
        tracefleet_verify_report_title: "Tracing rollout: fleet check"
        tracefleet_verify_fleet_hosts: all
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """index.html as a real ansible-playbook writes it with the collection's filters."""
    directory = tmp_path_factory.mktemp("verify-report")
    fleet = [{"cluster": r["cluster"], "checks": r["checks"]} for r in _fleet()]
    work = tmp_path_factory.mktemp("verify-render")  # the playbook and its vars, outside the report directory
    (work / "vars.json").write_text(json.dumps({"fleet": fleet, "generated_at": GENERATED, "report_dir": str(directory)}))
    (work / "render.yml").write_text(PLAYBOOK)
    newer = dict(_fleet()[0], schema="tracefleet.verify/v7", cluster="prod-eu-9")
    (directory / "zz-newer-collection.json").write_text(json.dumps(newer, indent=2))
    (directory / "zz-truncated.json").write_text(json.dumps(_fleet()[1], indent=2)[:300])
    (directory / "notes.json").write_text("reports moved to s3://bucket/verify\n")
    home = work / "ansible-home"
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_root()), ANSIBLE_HOME=str(home),
               ANSIBLE_LOCAL_TEMP=str(home / "tmp"), ANSIBLE_NOCOLOR="1", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                           "-e", "@%s" % (work / "vars.json"), str(work / "render.yml")],
                          env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, "ansible-playbook failed\n%s\n%s" % (proc.stdout[-4000:], proc.stderr[-2000:])
    for name, reason in UNREADABLE.items():
        assert "%s: %s" % (name, reason) in proc.stdout, "the play's output does not name %s\n%s" % (name, proc.stdout[-4000:])
    written = sorted(p.name for p in directory.glob("report-*"))
    assert len(written) == 16, written
    assert json.loads((directory / "report-4.json").read_text()) == _fleet()[4]
    assert MISSING_NODE in (directory / "report-4.md").read_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(directory / "index.html", ARTIFACTS / "index.html")
    return directory / "index.html"


@pytest.fixture(scope="module")
def dom(chromium, page, tmp_path_factory):
    """The DOM chromium built from the page, as a tree."""
    text = _run_chromium(chromium, tmp_path_factory.mktemp("chromium"), "--dump-dom", page.as_uri())
    (ARTIFACTS / "dom.html").write_text(text, encoding="utf-8")
    return _Tree(text).root


def test_chromium_shows_the_failing_agent_check_and_the_missing_node(dom):
    tree = dom

    overall = tree.find_all("header", id="overall")[0].text()
    assert "2 of 8 clusters fail, 2 warn, 4 pass" in overall, overall

    rows = tree.find_all("tr", data_cluster="prod-eu-1")
    assert len(rows) == 1, "no matrix row for prod-eu-1 in the DOM (kept at %s)" % (ARTIFACTS / "dom.html")
    cell = rows[0].find_all("td", data_check="agents_on_every_node")[0]
    assert "FAIL" in cell.text(), cell.text()
    assert MISSING_NODE in cell.find_all("a")[0].attrs["title"]
    # Every other check of that cluster passed.
    others = [td.text() for td in rows[0].find_all("td") if td.attrs.get("data-check") != "agents_on_every_node"]
    assert others and all("PASS" in text for text in others), others

    # Worst first: the two failing clusters, then the two that warn, then the passing ones by name.
    order = [tr.attrs["data-cluster"] for tr in tree.find_all("table", id="matrix")[0].find_all("tr") if "data-cluster" in tr.attrs]
    assert order[:2] == ["prod-ap-1", "prod-eu-1"], order
    assert order[2:4] == ["prod-eu-2", "lab-" + HOSTILE], order
    assert order[4:] == ["dev-1", "prod-us-1", "prod-us-2", "staging-eu"], order

    # The details: the failing cluster's section names the node; the cell links to it.
    section = tree.find_all("section", data_cluster="prod-eu-1")[0]
    finding = section.find_all("div", data_check="agents_on_every_node")[0]
    assert "FAIL" in finding.text() and MISSING_NODE in finding.text(), finding.text()
    assert cell.find_all("a")[0].attrs["href"] == "#" + finding.attrs["id"]
    assert not tree.find_all("section", data_cluster="prod-us-1"), "a passing cluster has no details section"


def test_chromium_shows_the_unreadable_reports_as_such(dom):
    tree = dom
    overall = tree.find_all("header", id="overall")[0].text()
    assert "2 of 8 clusters fail, 2 warn, 4 pass; 3 reports unreadable" in overall, overall
    rows = dict((tr.attrs["data-unreadable"], tr) for tr in tree.find_all("tr") if "data-unreadable" in tr.attrs)
    assert sorted(rows) == sorted(UNREADABLE), "unreadable rows in the DOM: %s (kept at %s)" % (sorted(rows), ARTIFACTS / "dom.html")
    for name, reason in UNREADABLE.items():
        text = rows[name].text()
        assert name in text and "UNREADABLE" in text and reason in text, text
        assert rows[name].attrs["class"] == "unreadable"
    assert "cluster prod-eu-9" in rows["zz-newer-collection.json"].text(), "the newer report's own cluster is shown"
    # Below the clusters, after every readable row, and each with a section that names the file.
    order = [tr.attrs.get("data-cluster") or tr.attrs.get("data-unreadable")
             for tr in tree.find_all("table", id="matrix")[0].find_all("tr") if "data-cluster" in tr.attrs or "data-unreadable" in tr.attrs]
    assert order[8:] == sorted(UNREADABLE), order
    for name in UNREADABLE:
        assert tree.find_all("section", data_unreadable=name), "no section for %s" % name


def test_chromium_shows_hostile_evidence_as_text(dom):
    tree = dom
    assert not tree.find_all("script"), "evidence became a <script> element"
    assert not tree.find_all("img"), "evidence became an <img> element"
    assert tree.find_all("title")[0].text().startswith("Tracing rollout: fleet check"), "the page's title was changed"
    finding = tree.find_all("div", data_check="critical_workloads_instrumented")[0]
    assert HOSTILE in finding.text()
    assert tree.find_all("tr", data_cluster="lab-" + HOSTILE), "a hostile cluster name is shown as text"


def test_chromium_screenshot_is_a_real_picture(chromium, page, tmp_path):
    png = ARTIFACTS / "fleet.png"
    png.unlink(missing_ok=True)
    _run_chromium(chromium, tmp_path, "--screenshot=%s" % png, "--window-size=1400,900", "--hide-scrollbars", page.as_uri())
    assert png.is_file() and png.stat().st_size > 20000, "no or tiny screenshot at %s" % png
    width, height, rows = _png_pixels(png)
    assert (width, height) == (1400, 900), "screenshot %s is %dx%d" % (png, width, height)
    pixels = [p for row in rows for p in row]
    colours = set(pixels)
    assert len(colours) > 50, "screenshot %s looks blank: %d colours" % (png, len(colours))
    # The failure red of the banner and the FAIL cells (#b42318), and the pass green (#1d6b3a) is drawn.
    red = sum(1 for r, g, b in pixels if r > 150 and g < 60 and b < 60)
    assert red > 20000, "screenshot %s shows little failure red (%d pixels)" % (png, red)
    assert (0x1D, 0x6B, 0x3A) in colours, "screenshot %s has no PASS green" % png

