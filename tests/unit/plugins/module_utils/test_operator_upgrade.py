"""Pre-upgrade checks of the operator role (module_utils/operator_upgrade.py)."""

import pytest

from ansible_collections.tracefleet.otel.plugins.filter.operator_upgrade import FilterModule
from ansible_collections.tracefleet.otel.plugins.module_utils.operator_upgrade import (
    image_problems,
    images,
    upgrade_problems,
    version_tuple,
)


def _crd(name, served, stored=None):
    return {"kind": "CustomResourceDefinition", "metadata": {"name": name},
            "spec": {"versions": [{"name": v, "served": True} for v in served]},
            "status": {"storedVersions": stored or []}}


def _deployment(*containers, version="0.141.0"):
    return {"kind": "Deployment", "metadata": {"name": "op", "labels": {"app.kubernetes.io/version": version}},
            "spec": {"template": {"spec": {"containers": list(containers)}}}}


MANAGER = {"name": "manager", "image": "ghcr.io/otel/operator:0.141.0",
           "args": ["--collector-image=otel/opentelemetry-collector-contrib:0.158.0", "--webhook-port=9443"]}
RENDERED = [_crd("instrumentations.opentelemetry.io", ["v1alpha1"]), _deployment(MANAGER)]


def test_a_clean_cluster_has_no_problems():
    live = [_crd("instrumentations.opentelemetry.io", [], ["v1alpha1"])]
    release = {"chart": "opentelemetry-operator-0.101.0", "app_version": "0.140.0"}
    assert upgrade_problems(RENDERED, live, release, "0.102.0") == []


def test_a_stored_version_the_target_no_longer_serves_is_named():
    live = [_crd("instrumentations.opentelemetry.io", [], ["v1alpha1", "v1alpha0"])]
    [problem] = upgrade_problems(RENDERED, live, {}, "0.102.0")
    assert problem.startswith("CRD instrumentations.opentelemetry.io has objects stored as v1alpha0, which the target "
                              "chart 0.102.0 no longer serves (it serves v1alpha1)")


@pytest.mark.parametrize("release, words", [
    ({"chart": "opentelemetry-operator-0.110.0", "app_version": "0.141.0"}, "installed chart 0.110.0 is newer than the target 0.102.0"),
    ({"chart": "opentelemetry-operator-0.102.0", "app_version": "0.150.0"}, "installed operator 0.150.0 is newer than the target 0.141.0"),
])
def test_a_downgrade_is_refused(release, words):
    problems = upgrade_problems(RENDERED, [], release, "0.102.0")
    assert any(words in p for p in problems), problems


def test_cert_manager_must_be_there_when_the_values_expect_it():
    assert upgrade_problems(RENDERED, [], {}, "0.102.0", cert_manager_expected=True, cert_manager_found=True) == []
    [problem] = upgrade_problems(RENDERED, [], {}, "0.102.0", cert_manager_expected=True, cert_manager_found=False)
    assert "no certificates.cert-manager.io CRD" in problem


def test_images_of_containers_and_manager_flags_are_found():
    assert images(RENDERED) == [
        ("Deployment/op container manager", "ghcr.io/otel/operator:0.141.0"),
        ("Deployment/op container manager flag --collector-image", "otel/opentelemetry-collector-contrib:0.158.0"),
    ]


@pytest.mark.parametrize("image, pinned", [
    ("otel/collector:latest", False), ("otel/collector", False), ("localhost:5000/otel/collector", False),
    ("otel/collector:0.158.0", True), ("otel/collector@sha256:" + "a" * 64, True),
    ("localhost:5000/otel/collector:0.158.0", True),
])
def test_unpinned_images_are_named(image, pinned):
    problems = image_problems([("here", image)])
    assert (problems == []) is pinned, problems


def test_images_outside_the_registry_override_are_named():
    found = [("a", "mirror.example.com/otel/collector:1.0"), ("b", "quay.io/brancz/kube-rbac-proxy:v0.18.1")]
    assert image_problems(found, "mirror.example.com") == [
        "image quay.io/brancz/kube-rbac-proxy:v0.18.1 (b) does not come from the registry override mirror.example.com"]


def test_versions():
    assert version_tuple("v0.141.0") == (0, 141, 0) and version_tuple("0.102.0-rc.1") == (0, 102, 0)
    assert version_tuple("main") is None


def test_the_filters():
    assert sorted(FilterModule().filters()) == ["operator_upgrade_problems", "operator_upgrade_summary"]
