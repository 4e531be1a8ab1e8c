"""The pins in tfstack agree with the wrapper modules and the collector manifest."""

import re

import yaml

from tfstack import pins
from tfstack.build import TOOLS, by_binary
from tfstack.paths import STACK_SRC


def _required(wrapper: str) -> dict:
    text = (STACK_SRC / wrapper / "go.mod").read_text()
    return dict(re.findall(r"^\s*(?:require\s+)?(\S+) (v\S+)(?: // indirect)?$", text, re.M))


def test_wrappers_require_the_pinned_versions():
    assert _required("kubernetes")["k8s.io/kubernetes"] == pins.KUBERNETES
    assert _required("etcd")["go.etcd.io/etcd/server/v3"] == pins.ETCD
    assert _required("operator")["github.com/open-telemetry/opentelemetry-operator"] == pins.OPERATOR
    assert _required("tempo")["github.com/grafana/tempo"] == pins.TEMPO


def test_kubernetes_staging_modules_are_replaced_at_the_matching_version():
    text = (STACK_SRC / "kubernetes" / "go.mod").read_text()
    replaced = re.findall(r"^\s+(k8s\.io/\S+) => (\S+) (v\S+)$", text, re.M)
    assert len(replaced) == 33
    staging = "v0." + pins.KUBERNETES.split(".", 1)[1]
    assert {(module == target, version) for module, target, version in replaced} == {(True, staging)}


def test_every_collector_component_is_at_the_builder_version():
    manifest = yaml.safe_load((STACK_SRC / "otelcol" / "manifest.yaml").read_text())
    gomods = [entry["gomod"] for kind in ("receivers", "processors", "exporters", "extensions")
              for entry in manifest[kind]]
    assert len(gomods) >= 14
    assert {line.split()[1] for line in gomods} == {pins.OTELCOL}


def test_every_tool_is_cached_outside_the_clone_under_its_version():
    for tool in TOOLS:
        assert tool.path.name == f"{tool.binary}-{tool.version}"
        assert STACK_SRC.parents[1] not in tool.path.parents


def test_kubernetes_binaries_carry_version_ldflags():
    flags = by_binary("kube-apiserver").ldflags
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {pkg}.gitVersion={pins.KUBERNETES}" in flags
        assert f"-X {pkg}.gitMinor=36" in flags
