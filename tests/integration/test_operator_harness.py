"""The operator harness: the real OpenTelemetry Operator v0.141.0 as a local process against a kwok cluster.

One cluster gets the harness on its own (the harness applies the CRDs); a second gets the project's
test chart first (the chart owns the CRDs and the harness leaves them alone). On the first:
an OpenTelemetryCollector becomes a Deployment with 3 Ready pods, its three Services and the rendered
ConfigMap; an Instrumentation plus a Deployment whose pod template asks for Java injection gets pods
back from the apiserver with the agent's init container and JAVA_TOOL_OPTIONS. `tfstack down` then
leaves no process. Figures are printed (run with -s to see them).
"""

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tfstack import build, cluster, operator
from tfstack.paths import REPO

NAME = "it-operator"
CHART_CLUSTER = "it-operator-chart"
CHART = REPO / "tests" / "charts" / "opentelemetry-operator"
NAMESPACE = "harness"
COLLECTOR_CONFIG = {
    "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "0.0.0.0:4317"}}}},
    "processors": {"batch": {}},
    "exporters": {"debug": {}},
    "service": {"pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"], "exporters": ["debug"]}}},
}
ENDPOINT = "http://gateway-collector.harness.svc.cluster.local:4318"


def _tfstack(*args, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "tfstack", *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"tfstack {' '.join(args)}: {proc.stdout}{proc.stderr}"
    return proc.stdout


def _apply(name, tmp_path, docs):
    path = tmp_path / f"apply-{time.monotonic_ns()}.yaml"
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    cluster.kubectl(name, "apply", "--server-side", "--field-manager=harness-test", "-f", str(path))


def _get(name, *args):
    return json.loads(cluster.kubectl(name, "get", *args, "-o", "json").stdout)


def _wait(what, probe, deadline_s=60.0, sleep=0.5):
    """Poll probe() until it returns something truthy; fail with its last answer after the deadline."""
    started = time.monotonic()
    while True:
        last = probe()
        if last and last[0]:
            return time.monotonic() - started, last[1]
        if time.monotonic() - started > deadline_s:
            pytest.fail(f"{what} not reached after {deadline_s:.0f} s; last seen: {last[1] if last else None}")
        time.sleep(sleep)


def _alive(pid):
    return Path(f"/proc/{pid}").exists() and b"zombie" not in Path(f"/proc/{pid}/status").read_bytes().lower()


@pytest.fixture(scope="module")
def harness():
    if not build.version_ok(build.by_binary("opentelemetry-operator")):
        pytest.fail("no operator binary: run `PYTHONPATH=tools/stack python -m tfstack build opentelemetry-operator`",
                    pytrace=False)
    try:
        cluster.up(NAME, 3, log=lambda *_: None)
        started = time.monotonic()
        out = _tfstack("operator", "--name", NAME)
        wall = time.monotonic() - started
        op = operator.running(NAME)
        assert op is not None, out
        print(f"\noperator start: ready after {op.ready_after_s:.2f} s inside the harness (manager {op.manager_ready_s:.2f} s), "
              f"{wall:.2f} s for `tfstack operator` (CRDs applied: {len(op.crds_applied)})")
        cluster.kubectl(NAME, "create", "namespace", NAMESPACE)
        yield op
    finally:
        cluster.down(NAME, log=lambda *_: None)


def test_operator_starts_ready_with_crds_and_loopback_webhooks(harness):
    assert harness.ready_after_s < 60
    assert sorted(harness.crds_applied) == sorted(
        operator.crd_name(p) for p in operator.crd_files(operator.module_dir()))
    for crd in harness.crds_applied:
        conditions = _get(NAME, "crd", crd)["status"]["conditions"]
        assert any(c["type"] == "Established" and c["status"] == "True" for c in conditions), (crd, conditions)
    module_hooks = [h for doc in yaml.safe_load_all((operator.module_dir() / "config" / "webhook" / "manifests.yaml")
                                                    .read_text()) if doc for h in doc["webhooks"]]
    hooks = [h for kind, name in operator.WEBHOOK_NAMES.items() for h in _get(NAME, kind.lower(), name)["webhooks"]]
    assert sorted(h["name"] for h in hooks) == sorted(h["name"] for h in module_hooks)
    base = f"https://127.0.0.1:{harness.webhook_port}"
    assert sorted(h["clientConfig"]["url"] for h in hooks) == sorted(
        base + h["clientConfig"]["service"]["path"] for h in module_hooks)
    assert all(h["clientConfig"]["caBundle"] for h in hooks)
    cmdline = Path(f"/proc/{harness.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    assert str(cluster.kwok_workdir() / "clusters" / NAME) + "/" in cmdline, "tfstack down would not find it"
    for flag in ("--metrics-addr=127.0.0.1:", "--health-probe-addr=127.0.0.1:", f"--webhook-port={harness.webhook_port}",
                 f"--collector-image={operator.COLLECTOR_IMAGE}", "--enable-go-instrumentation=true"):
        assert flag in cmdline
    assert Path(harness.log_path).parent == cluster.logs_dir(NAME)


def test_operator_again_keeps_the_running_one(harness):
    out = _tfstack("operator", "--name", NAME)
    assert "already running" in out
    assert operator.running(NAME).pid == harness.pid


def test_collector_becomes_a_deployment_with_three_ready_pods_services_and_configmap(harness, tmp_path):
    started = time.monotonic()
    _apply(NAME, tmp_path, [{
        "apiVersion": "opentelemetry.io/v1beta1",
        "kind": "OpenTelemetryCollector",
        "metadata": {"name": "gateway", "namespace": NAMESPACE},
        "spec": {"mode": "deployment", "replicas": 3, "config": COLLECTOR_CONFIG},
    }])

    def deployment_ready():
        proc = cluster.kubectl(NAME, "get", "deployment", "gateway-collector", "-n", NAMESPACE, "-o", "json", check=False)
        if proc.returncode != 0:
            return False, proc.stderr.strip()
        status = json.loads(proc.stdout).get("status", {})
        return status.get("readyReplicas") == 3, status

    ready_s, _ = _wait("3 Ready collector pods", deployment_ready)
    pods = _get(NAME, "pods", "-n", NAMESPACE, "-l", "app.kubernetes.io/name=gateway-collector")["items"]
    ready = [p for p in pods if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])]
    assert len(ready) == 3
    images = {c["image"] for p in pods for c in p["spec"]["containers"]}
    assert images == {operator.COLLECTOR_IMAGE}, "the operator did not use the collector image it was given"

    services = {s["metadata"]["name"] for s in _get(NAME, "services", "-n", NAMESPACE)["items"]}
    assert {"gateway-collector", "gateway-collector-headless", "gateway-collector-monitoring"} <= services

    configmaps = [c for c in _get(NAME, "configmaps", "-n", NAMESPACE)["items"]
                  if c["metadata"]["name"].startswith("gateway-collector-")]
    assert len(configmaps) == 1, [c["metadata"]["name"] for c in configmaps]
    rendered = yaml.safe_load(configmaps[0]["data"]["collector.yaml"])
    for key in ("receivers", "processors", "exporters"):
        assert rendered[key] == COLLECTOR_CONFIG[key]
    assert rendered["service"]["pipelines"] == COLLECTOR_CONFIG["service"]["pipelines"]

    spec = _get(NAME, "opentelemetrycollector", "gateway", "-n", NAMESPACE)["spec"]
    assert spec["upgradeStrategy"] == "automatic", "the defaulting webhook did not run"
    print(f"\ncollector: 3 Ready pods {ready_s:.2f} s after apply ({time.monotonic() - started:.2f} s with checks); "
          f"services {sorted(s for s in services if s.startswith('gateway'))}; configmap {configmaps[0]['metadata']['name']}")


def test_instrumented_deployment_comes_back_with_the_java_agent(harness, tmp_path):
    started = time.monotonic()
    _apply(NAME, tmp_path, [{
        "apiVersion": "opentelemetry.io/v1alpha1",
        "kind": "Instrumentation",
        "metadata": {"name": "java", "namespace": NAMESPACE},
        "spec": {
            "exporter": {"endpoint": ENDPOINT},
            "propagators": ["tracecontext", "baggage"],
            "sampler": {"type": "parentbased_traceidratio", "argument": "0.1"},
        },
    }])
    _apply(NAME, tmp_path, [{
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "orders", "namespace": NAMESPACE},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "orders"}},
            "template": {
                "metadata": {"labels": {"app": "orders"},
                             "annotations": {"instrumentation.opentelemetry.io/inject-java": "true"}},
                "spec": {"containers": [{"name": "orders", "image": "registry.invalid/orders:1.0.0"}]},
            },
        },
    }])

    def pods_created():
        pods = _get(NAME, "pods", "-n", NAMESPACE, "-l", "app=orders")["items"]
        return len(pods) == 2, pods

    created_s, pods = _wait("2 orders pods", pods_created)
    for pod in pods:
        init = [c["name"] for c in pod["spec"].get("initContainers", [])]
        assert "opentelemetry-auto-instrumentation-java" in init, f"{pod['metadata']['name']}: init {init}"
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0].get("env", [])}
        assert "-javaagent:" in env.get("JAVA_TOOL_OPTIONS", ""), env
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == ENDPOINT
        assert env["OTEL_PROPAGATORS"] == "tracecontext,baggage"
        assert env["OTEL_TRACES_SAMPLER"] == "parentbased_traceidratio"
        assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    print(f"\ninstrumentation: 2 mutated pods {created_s:.2f} s after the Deployment "
          f"({time.monotonic() - started:.2f} s with the Instrumentation)")


def test_chart_crds_are_the_modules_own():
    module = operator.module_dir()
    for path in operator.crd_files(module):
        assert (CHART / "conf" / "crds" / path.name).read_bytes() == path.read_bytes(), path.name
    for rel in ("rbac/role.yaml", "rbac/leader_election_role.yaml", "webhook/manifests.yaml"):
        assert (CHART / "conf" / rel).read_bytes() == (module / "config" / rel).read_bytes(), rel


def test_harness_leaves_crds_a_chart_installed_alone(tmp_path):
    helm = build.by_binary("helm").path
    try:
        kubeconfig = cluster.up(CHART_CLUSTER, 1, log=lambda *_: None)
        proc = subprocess.run([str(helm), "install", "op", str(CHART), "--namespace", "otel", "--create-namespace",
                               "--set", "admissionWebhooks.create=false", "--wait", "--timeout", "60s",
                               f"--kubeconfig={kubeconfig}"], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        op = operator.start(CHART_CLUSTER, log=lambda *_: None)
        assert op.crds_applied == []
        crd = _get(CHART_CLUSTER, "crd", "opentelemetrycollectors.opentelemetry.io", "--show-managed-fields")
        managers = {m["manager"] for m in crd["metadata"]["managedFields"]}
        assert operator.FIELD_MANAGER not in managers, managers
        _apply(CHART_CLUSTER, tmp_path, [{
            "apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector",
            "metadata": {"name": "probe", "namespace": "otel"},
            "spec": {"mode": "deployment", "config": COLLECTOR_CONFIG},
        }])
        _wait("the probe collector's Deployment", lambda: (
            cluster.kubectl(CHART_CLUSTER, "get", "deployment", "probe-collector", "-n", "otel", check=False)
            .returncode == 0, None))
    finally:
        cluster.down(CHART_CLUSTER, log=lambda *_: None)
    assert cluster.cluster_pids(CHART_CLUSTER) == []


def test_down_stops_the_operator_and_leaves_no_process(harness):
    pid = harness.pid
    assert _alive(pid)
    _tfstack("down", "--name", NAME)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), f"operator pid {pid} survived tfstack down"
    assert cluster.cluster_pids(NAME) == []
    assert not operator.workdir(NAME).exists()
