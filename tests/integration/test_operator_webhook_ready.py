"""The operator role returns only when the operator's webhooks serve (a server-side dry run comes back defaulted).

One kwok cluster `it-webhook` and the real operator from the stack harness, started late on purpose:
`operator.start(..., start_delay_s=N)` registers the CRDs and the webhooks (on 127.0.0.1) at once but
starts the manager N seconds later, so until then the API server cannot call the webhooks, as when the
operator's pod is still starting after `helm install`.

1. A manager that never starts within the role's bounded wait: the role fails, naming the webhook that
   does not answer and the variable that bounds the wait.
2. A manager that starts 20 s late: site.yml (tags operator,gateway) waits in the operator role, then the
   gateway role creates its collector, which comes back defaulted by the webhook (spec.upgradeStrategy).
"""

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tfstack import build, cluster, operator
from tfstack.collection import collections_root
from tfstack.paths import REPO

NAME = "it-webhook"
DELAY_S = 20


def _site(*extra, timeout=600):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(collections_root()),
               TRACEFLEET_HELM=str(build.by_binary("helm").path), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "inventories/local",
           "-e", f"tracefleet_kubeconfig={cluster.kubeconfig_path(NAME)}", *extra, "playbooks/site.yml"]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - started


@pytest.fixture(scope="module")
def kwok():
    for tool in ("opentelemetry-operator", "helm"):
        if not build.version_ok(build.by_binary(tool)):
            pytest.fail(f"no {tool} binary: run `PYTHONPATH=tools/stack python -m tfstack build {tool}`", pytrace=False)
    try:
        cluster.down(NAME, log=lambda *_: None)
        cluster.up(NAME, 1, log=lambda *_: None)
        yield NAME
    finally:
        cluster.down(NAME, log=lambda *_: None)
        assert cluster.cluster_pids(NAME) == [], "processes of the cluster survived tfstack down"


def test_a_webhook_that_never_serves_fails_the_operator_role_naming_it(kwok):
    operator.start(NAME, start_delay_s=3600, log=lambda *_: None)  # registered, never serving in this test
    proc, seconds = _site("--tags", "operator", "-e", '{"tracefleet_operator_webhook_timeout": 6}')
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    failure = re.search(r"The OpenTelemetry Operator's webhooks did not serve within 6 s.*", out)
    assert failure, out[-4000:]
    assert "tracefleet_operator_webhook_timeout" in failure.group(0)
    assert re.search(r"could not call webhook (minstrumentation|mopentelemetrycollectorbeta)\.kb\.io", out), out[-4000:]
    assert _collectors() == [], "an object was stored by the dry run"
    operator.stop(NAME)


def test_collector_roles_wait_for_a_slow_operator_and_create_defaulted_objects(kwok):
    operator.start(NAME, start_delay_s=DELAY_S, log=lambda *_: None)
    launched = time.monotonic()
    proc, seconds = _site("--tags", "operator,gateway")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    retries = re.findall(r"FAILED - RETRYING: \[local\]: Wait until the operator's webhooks default", out)
    assert retries, "the role did not have to wait: the test proves nothing\n" + out[-4000:]
    assert time.monotonic() - launched >= DELAY_S
    gateway = json.loads(cluster.kubectl(NAME, "get", "opentelemetrycollector", "gateway", "-n", "observability",
                                         "-o", "json").stdout)
    # Only the operator's mutating webhook sets these (the CRD has no schema default for them).
    assert gateway["spec"].get("upgradeStrategy") == "automatic", gateway["spec"]
    assert gateway["spec"].get("mode") == "deployment", gateway["spec"]
    print(f"\nsite.yml waited through {len(retries)} retries and finished in {seconds:.1f} s")


def _collectors():
    return json.loads(cluster.kubectl(NAME, "get", "opentelemetrycollectors,instrumentations", "-A",
                                      "-o", "json").stdout)["items"]
