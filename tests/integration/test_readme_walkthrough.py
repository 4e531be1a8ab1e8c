"""The README's walkthroughs, run as written: "Five minutes on one cluster" and "A fleet on this machine".

The bash block between `<!-- walkthrough: single-cluster -->` and `<!-- /walkthrough -->` runs with
`bash -e` from the clone, in its own TRACEFLEET_STATE (so its cluster "tracefleet" is not the
developer's), against the real stack: kwok control plane, the real operator, real Helm, a real Tempo.
The test then reads what a user reading the terminal would: the check run changes nothing, the first
site.yml changes things and its verify gate passes, the second changes nothing, the Markdown report is
printed, kubectl lists the collectors and the Instrumentation, and uninstall/stack-down leave nothing.
The fleet block (`<!-- walkthrough: local-fleet -->`) does the same for two clusters in two waves.
"""

import os
import re
import subprocess

from tfstack.paths import REPO

END = "<!-- /walkthrough -->"


def walkthrough_script(name="single-cluster") -> str:
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- walkthrough: %s -->" % name, 1)[1].split(END, 1)[0]
    lines = block.strip().splitlines()
    assert lines[0] == "```bash" and lines[-1] == "```", "the walkthrough is one fenced bash block"
    return "\n".join(lines[1:-1]) + "\n"


def recaps(text: str, host="local") -> list:
    """Counters of each `<host> : ok=... changed=...` recap line, in order."""
    return [{k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
            for line in re.findall(r"^%s\s+:\s+(ok=.*)$" % re.escape(host), text, re.M)]


def run_walkthrough(script, tmp_path, timeout):
    """The script under bash -e in its own TRACEFLEET_STATE; every cluster of that state is stopped after."""
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "KUBECONFIG")}
    env.update(TRACEFLEET_STATE=str(state), ANSIBLE_FORCE_COLOR="0")
    try:
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=timeout)
    finally:
        # Whatever happened, nothing of this state directory keeps running.
        subprocess.run([os.sys.executable, "-m", "tfstack", "down"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=120)
    (tmp_path / "walkthrough.log").write_text(proc.stdout + proc.stderr)
    return proc, state


def test_walkthrough_steps_and_their_output(tmp_path):
    script = walkthrough_script()
    # Each step is one command a user types; a step added or dropped should be a conscious change here.
    steps = [line.split("#")[0].strip() for line in script.splitlines() if line.strip()]
    assert steps[0] == "make stack-up" and steps[-1] == "make stack-down"
    proc, state = run_walkthrough(script, tmp_path, timeout=1100)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-6000:]

    # demo_workloads, site --check, site, site again, uninstall: one recap each (site.yml's plays share one).
    runs = recaps(proc.stdout)
    assert len(runs) == 5, runs
    demo, check, first, second, uninstall = runs
    assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in runs), runs
    assert check["changed"] > 0, "check mode reports what it would change on a fresh cluster"
    assert first["changed"] > 0 and second["changed"] == 0, (first, second)
    assert uninstall["changed"] > 0
    # The Markdown report the README tells the user to cat: verify ran, and its overall status is not FAIL
    # (site.yml would have failed before; this is what the user reads).
    header = re.search(r"^# Verify report: local \S+ \S+ (\S+)$", proc.stdout, re.M)
    assert header, proc.stdout[-3000:]
    assert header.group(1) in ("PASS", "WARN"), header.group(0)
    assert re.search(r"probe_trace|Probe trace", proc.stdout), "the report shows the probe trace check"
    # kubectl's listing: both collectors and the Instrumentation, as the user sees them.
    assert re.search(r"^observability\s+opentelemetrycollector\S*/gateway\s", proc.stdout, re.M), proc.stdout[-3000:]
    assert re.search(r"^observability\s+opentelemetrycollector\S*/agent\s", proc.stdout, re.M)
    assert re.search(r"^shop\s+instrumentation\S*/tracefleet\s", proc.stdout, re.M)
    # make stack-down stopped this state directory's cluster and removed its kubeconfig.
    assert not (state / "tracefleet.kubeconfig").exists()


def test_fleet_walkthrough_rolls_out_two_clusters_wave_by_wave(tmp_path):
    script = walkthrough_script("local-fleet")
    steps = [line.split("#")[0].strip() for line in script.splitlines() if line.strip()]
    assert steps[0] == 'eval "$(make -s env)"' and steps[-1] == "python -m tfstack down --name fleet-a --name fleet-b"
    proc, state = run_walkthrough(script, tmp_path, timeout=2400)
    out = proc.stdout
    assert proc.returncode == 0, (out + proc.stderr)[-6000:]
    # demo_workloads, site, site again, uninstall: one recap line per cluster each.
    runs = {host: recaps(out, host) for host in ("fleet-a", "fleet-b")}
    for host, counters in runs.items():
        assert len(counters) == 4, (host, counters)
        assert all(r["failed"] == 0 and r["unreachable"] == 0 for r in counters), (host, counters)
        _, first, second, uninstall = counters
        assert first["changed"] > 0 and second["changed"] == 0, (host, first, second)
        assert uninstall["changed"] > 0, host
    # Waves: in the first site.yml run's rollout play, every task result of fleet-a (through its verify gate)
    # comes before the first of fleet-b (preflight.yml, the play before it, checks both clusters at once).
    rollout = out.split("PLAY RECAP")[1].split("PLAY [Roll out the tracing stack]", 1)[1]
    lines = {host: [m.start() for m in re.finditer(r"^\w+: \[%s[\]\s]" % host, rollout, re.M)] for host in runs}
    assert lines["fleet-a"] and lines["fleet-b"], rollout[-3000:]
    assert max(lines["fleet-a"]) < min(lines["fleet-b"]), "fleet-b was rolled out in fleet-a's wave"
    assert re.search(r"TASK \[tracefleet\.otel\.verify", rollout[:min(lines["fleet-b"])]), "fleet-a's wave ran verify"
    # The listing the README asks for: both clusters' reports and the fleet page.
    for name in ("fleet-a.md", "fleet-a.json", "fleet-b.md", "fleet-b.json", "index.html"):
        assert re.search(r"^%s$" % re.escape(name), out, re.M), name
    assert not (state / "fleet-a.kubeconfig").exists() and not (state / "fleet-b.kubeconfig").exists()
