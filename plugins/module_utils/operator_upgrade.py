# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Before an operator upgrade: what in the cluster would make it fail, one message per problem.

Inputs: the target chart rendered with the role's values (``helm template``, CRDs included), the live
operator CRDs, the installed release (``helm_info``), and whether cert-manager's Certificate CRD exists.

- Every version in a live CRD's ``status.storedVersions`` must still be served by the target chart's CRD:
  the API server refuses a CRD update that drops a stored version, and objects stored in it could no
  longer be read.
- The installed chart and operator must not be newer than the target (a downgrade is not an upgrade).
- cert-manager must be there when the values ask for cert-manager certificates.
- Every image the chart deploys or configures (containers, and ``--*-image=`` flags of the manager) is
  pinned (a tag other than ``latest``, or a digest), and with a registry override, comes from it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_IMAGE_FLAG = re.compile(r"^--[a-z0-9-]*image=(.+)$")


def version_tuple(text):
    """'v0.141.0' / '0.102.0-rc.1' -> (0, 141, 0); None when it is not a version."""
    match = re.match(r"^v?([0-9]+)\.([0-9]+)\.([0-9]+)", str(text or ""))
    return tuple(int(part) for part in match.groups()) if match else None


def served_versions(rendered):
    """{CRD name: [served versions]} of the CRDs in the rendered chart."""
    out = {}
    for doc in rendered or []:
        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
            versions = doc.get("spec", {}).get("versions", [])
            out[doc["metadata"]["name"]] = [v["name"] for v in versions if v.get("served")]
    return out


def _pod_specs(doc):
    spec = doc.get("spec") or {}
    template = (spec.get("template") or {}).get("spec")
    if template:
        yield template
    job = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec")
    if job:
        yield job


def images(rendered):
    """[(where, image)] for every container image and every --*-image= flag in the rendered chart."""
    found = []
    for doc in rendered or []:
        if not isinstance(doc, dict):
            continue
        for pod in _pod_specs(doc):
            for container in (pod.get("containers") or []) + (pod.get("initContainers") or []):
                where = "%s/%s container %s" % (doc.get("kind"), doc.get("metadata", {}).get("name"), container.get("name"))
                if container.get("image"):
                    found.append((where, container["image"]))
                for arg in container.get("args") or []:
                    flag = _IMAGE_FLAG.match(str(arg))
                    if flag:
                        found.append(("%s flag %s" % (where, str(arg).split("=", maxsplit=1)[0]), flag.group(1)))
    return found


def image_problems(found, registry=""):
    problems = []
    for where, image in found:
        name = image.split("@")[0]
        tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""
        if "@" not in image and tag in ("", "latest"):
            problems.append("image %s (%s) is not pinned: give it a version tag or a digest" % (image, where))
        if registry and not image.startswith(registry.rstrip("/") + "/"):
            problems.append("image %s (%s) does not come from the registry override %s" % (image, where, registry))
    return problems


def upgrade_problems(rendered, live_crds, release, target_chart_version, cert_manager_expected=False,
                     cert_manager_found=False, registry=""):
    """Every problem, one message each; empty when the upgrade can go ahead."""
    problems = []
    served = served_versions(rendered)
    for crd in live_crds or []:
        name = crd["metadata"]["name"]
        stored = (crd.get("status") or {}).get("storedVersions") or []
        if name not in served:
            continue
        dropped = [v for v in stored if v not in served[name]]
        if dropped:
            problems.append(
                "CRD %s has objects stored as %s, which the target chart %s no longer serves (it serves %s): migrate "
                "the stored objects (for example with kube-storage-version-migrator), remove %s from the CRD's "
                "status.storedVersions, then upgrade" % (name, ", ".join(dropped), target_chart_version,
                                                         ", ".join(served[name]), ", ".join(dropped)))
    if release:
        installed_chart = release.get("chart", "").rsplit("-", 1)[-1]
        for what, installed, target in (("chart", installed_chart, target_chart_version),
                                        ("operator", release.get("app_version"), _target_app_version(rendered))):
            have, want = version_tuple(installed), version_tuple(target)
            if have and want and have > want:
                problems.append("the installed %s %s is newer than the target %s: a downgrade is not supported "
                                "(roll back with playbooks/rollback.yml or helm rollback instead)" % (what, installed, target))
    if cert_manager_expected and not cert_manager_found:
        problems.append("the values ask for cert-manager certificates (tracefleet_operator_webhook_cert_mode: "
                        "cert-manager) but the cluster has no certificates.cert-manager.io CRD: install cert-manager first")
    problems += image_problems(images(rendered), registry)
    return problems


def _target_app_version(rendered):
    for doc in rendered or []:
        if isinstance(doc, dict) and doc.get("kind") == "Deployment":
            version = (doc.get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/version")
            if version:
                return version
    return None


def summary(live_crds, release, target_chart_version, rendered):
    """One line per fact checked, for the run output."""
    lines = ["target chart %s (operator %s)" % (target_chart_version, _target_app_version(rendered) or "?")]
    if release:
        lines.append("installed chart %s (operator %s), revision %s"
                     % (release.get("chart"), release.get("app_version"), release.get("revision")))
    else:
        lines.append("no installed release")
    for crd in live_crds or []:
        lines.append("CRD %s stored versions: %s" % (crd["metadata"]["name"],
                                                     ", ".join((crd.get("status") or {}).get("storedVersions") or [])))
    lines.append("%d images checked" % len(images(rendered)))
    return lines
