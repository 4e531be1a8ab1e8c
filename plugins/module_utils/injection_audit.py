# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Injection audit: was each annotated pod really mutated by the OpenTelemetry Operator, and rightly?

An ``instrumentation.opentelemetry.io/inject-<language>`` annotation only asks for injection: the
operator's pod webhook (``mpod.kb.io``, ``failurePolicy: Ignore``) mutates a pod when it is created,
and a pod created while the webhook did not answer starts without the agent and stays so. Likewise a
pod keeps the agent image and environment of the Instrumentation as it was at the pod's creation.
This module reads pods and Instrumentations (objects as the Kubernetes API returns them) and says,
per pod, what is wrong, with one of these reasons:

- ``created while the webhook was unavailable``: no trace of the operator's mutation (no agent init
  container / Go sidecar, no agent volume mount);
- ``created before the annotation``: a pod of a workload the annotate role manages, without the
  annotation its pod template now has;
- ``created before the Instrumentation``: the pod is older than the Instrumentation it names;
- ``no Instrumentation``: the annotation names an Instrumentation the cluster does not have;
- ``wrong container``: the agent went into other containers than the ones the annotations (or the
  annotate role's ``container_names``) name;
- ``endpoint port``: the OTLP endpoint's port does not match the protocol the agent exports with
  (4318 for http/protobuf, 4317 for grpc, or the ports the inventory configures);
- ``agent image older than Instrumentation``: the agent image in the pod is not the one the
  Instrumentation names now.

Facts from the operator's source (``internal/instrumentation``, v0.141.0, the same in 0.139): the init
container and the volume are ``opentelemetry-auto-instrumentation-<language>`` for java, nodejs,
python and dotnet (the volume is mounted into each instrumented container); Go gets a sidecar
container ``opentelemetry-auto-instrumentation``. Containers come from
``instrumentation.opentelemetry.io/<language>-container-names``, else ``.../container-names``, else the
first container. The endpoint is ``OTEL_EXPORTER_OTLP_ENDPOINT`` (``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
wins in the SDKs when set); the protocol ``OTEL_EXPORTER_OTLP_PROTOCOL`` (``..._TRACES_PROTOCOL`` wins),
which the operator sets only for Python. Without it the Python, .NET, Go and Node.js agents and the Java
2.x agent export http/protobuf; the Java 1.x agent exports grpc.

Also here: ``instrumentation_digest``, the digest of the Instrumentation fields a language's pods depend
on (the annotate role restarts a workload when it changes), and ``restart_plan``, the annotate role's
decision which workloads to restart and why. Pure functions, standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

from ansible_collections.tracefleet.otel.plugins.module_utils.k8s_apply import apply_needed, live_object
from ansible_collections.tracefleet.otel.plugins.module_utils.k8s_objects import get_path as _get, meta as _meta, ref as _ref
from ansible_collections.tracefleet.otel.plugins.module_utils.settings import plain_copy

LANGUAGES = ("java", "nodejs", "python", "dotnet", "go")
ANNOTATION_PREFIX = "instrumentation.opentelemetry.io/"
INJECT_PREFIX = ANNOTATION_PREFIX + "inject-"
CONTAINER_NAMES = ANNOTATION_PREFIX + "container-names"
AGENT = "opentelemetry-auto-instrumentation"  # + "-<language>": init container and volume; Go: the sidecar

REASON_WEBHOOK = "created while the webhook was unavailable"
REASON_NOT_ANNOTATED = "created before the annotation"
REASON_BEFORE_INSTRUMENTATION = "created before the Instrumentation"
REASON_NO_INSTRUMENTATION = "no Instrumentation"
REASON_CONTAINER = "wrong container"
REASON_PORT = "endpoint port"
REASON_IMAGE = "agent image older than Instrumentation"
REASONS = (REASON_WEBHOOK, REASON_NOT_ANNOTATED, REASON_BEFORE_INSTRUMENTATION, REASON_NO_INSTRUMENTATION,
           REASON_CONTAINER, REASON_PORT, REASON_IMAGE)
# What a new pod fixes. An endpoint port or a missing Instrumentation is the Instrumentation's fault: a restart
# would give the new pods the same problem (and restart again on every run); fixing the Instrumentation changes
# its digest, which restarts the workload.
HEALED_BY_RESTART = (REASON_WEBHOOK, REASON_NOT_ANNOTATED, REASON_BEFORE_INSTRUMENTATION, REASON_CONTAINER, REASON_IMAGE)

# The pod-template annotations the annotate role restarts with (see restart_plan).
DIGEST_ANNOTATION = "tracefleet.otel/instrumentation-digest"
RESTARTED_AT_ANNOTATION = "tracefleet.otel/restarted-at"

DEFAULT_PORTS = {"http/protobuf": 4318, "http/json": 4318, "grpc": 4317}
# Fields of an Instrumentation spec a language's pods take at creation (what the instrumentation role sets).
_COMMON_FIELDS = ("exporter", "propagators", "sampler", "resource", "defaults", "env")
_LANGUAGE_FIELDS = ("image", "env")
_VAR_REF = re.compile(r"\$\(")
_ENDPOINT = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<host>\[[^\]]*\]|[^/:?#]*)(?::(?P<port>[0-9]+))?")


def _names(value):
    return [n.strip() for n in str(value or "").split(",") if n.strip()]


def _false(value):
    return value is None or value is False or str(value).strip().lower() in ("false", "")


# --- one pod -------------------------------------------------------------------------------------

def pod_languages(pod):
    """{language: annotation value} of the pod's inject annotations that ask for an agent (not false)."""
    annotations = _meta(pod, "annotations") or {}
    return dict((lang, str(annotations[INJECT_PREFIX + lang])) for lang in LANGUAGES
                if not _false(annotations.get(INJECT_PREFIX + lang)))


def target_containers(pod, language, wanted=None):
    """The containers the operator instruments for `language` (wanted: the annotate role's container_names)."""
    if wanted:
        return list(wanted)
    annotations = _meta(pod, "annotations") or {}
    names = _names(annotations.get(ANNOTATION_PREFIX + language + "-container-names")) or _names(annotations.get(CONTAINER_NAMES))
    if names:
        return names
    containers = _get(pod, "spec", "containers") or []
    return [containers[0].get("name")] if containers else []


def resolve_instrumentation(value, namespace, instrumentations):
    """(the Instrumentation, 'ns/name' or description) an inject annotation value selects, as the operator does."""
    value = str(value)
    if value.lower() == "true":
        here = [i for i in instrumentations or [] if _meta(i, "namespace") == namespace]
        if len(here) == 1:
            return here[0], _ref(here[0])
        return None, "\"true\" needs exactly one Instrumentation in namespace %s, found %d" % (namespace, len(here))
    ns, _sep, name = value.rpartition("/")
    ns = ns or namespace
    for inst in instrumentations or []:
        if _meta(inst, "namespace") == ns and _meta(inst, "name") == name:
            return inst, "%s/%s" % (ns, name)
    return None, "%s/%s" % (ns, name)


def _env(container):
    """{name: value} of a container's literal env (valueFrom entries map to None)."""
    return dict((e.get("name"), e.get("value")) for e in container.get("env") or [] if isinstance(e, dict))


def default_protocol(language, image):
    """The protocol an agent exports with when OTEL_EXPORTER_OTLP_PROTOCOL is unset."""
    if language == "java":
        tag = str(image or "").rpartition(":")[2]
        if tag.split(".")[0] in ("0", "1"):
            return "grpc"
    return "http/protobuf"


def endpoint_port(endpoint):
    """The port of an OTLP endpoint URL (scheme default when none), or None when it cannot be read."""
    if not isinstance(endpoint, str) or _VAR_REF.search(endpoint):
        return None
    match = _ENDPOINT.match(endpoint.strip())
    if not match:
        return None
    if match.group("port"):
        return int(match.group("port"))
    return {"http": 80, "https": 443}.get(match.group("scheme").lower())


def _image_of(pod, language):
    spec = _get(pod, "spec") or {}
    if language == "go":
        pool, name = spec.get("containers") or [], AGENT
    else:
        pool, name = spec.get("initContainers") or [], AGENT + "-" + language
    for container in pool:
        if container.get("name") == name:
            return True, container.get("image")
    return False, None


def _instrumented(container, language):
    """Whether the operator mutated this container for `language` (its agent volume is mounted)."""
    return any(m.get("name") == AGENT + "-" + language for m in container.get("volumeMounts") or [])


def audit_pod(pod, instrumentations, settings=None, language=None, wanted_containers=None, workload=None):
    """Problems of one pod: {"pod", "workload", "language", "reasons": [...], "details": [...]} (no reasons: fine).

    language / wanted_containers: what the annotate role asks for a pod of a workload it manages (None: read
    the pod's own annotations)."""
    settings = settings or {}
    namespace = _meta(pod, "namespace")
    languages = pod_languages(pod)
    finding = {"pod": _ref(pod), "workload": workload or owner(pod), "language": language or ",".join(sorted(languages)),
               "reasons": [], "details": []}
    if language and language not in languages:
        finding["reasons"].append(REASON_NOT_ANNOTATED)
        finding["details"].append("pod has no %s%s annotation (its workload's pod template has it)" % (INJECT_PREFIX, language))
        return finding
    containers = dict((c.get("name"), c) for c in _get(pod, "spec", "containers") or [])
    for lang in [language] if language else sorted(languages):
        inst, inst_ref = resolve_instrumentation(languages[lang], namespace, instrumentations)
        has_agent, image = _image_of(pod, lang)
        mutated = [n for n, c in containers.items() if _instrumented(c, lang)]
        if inst is None:
            finding["reasons"].append(REASON_NO_INSTRUMENTATION)
            finding["details"].append("%s: %s%s=%s names %s, which the cluster does not have"
                                      % (lang, INJECT_PREFIX, lang, languages[lang], inst_ref))
            continue
        if not has_agent and not mutated:
            created, inst_created = _meta(pod, "creationTimestamp"), _meta(inst, "creationTimestamp")
            if created and inst_created and str(created) < str(inst_created):
                finding["reasons"].append(REASON_BEFORE_INSTRUMENTATION)
                finding["details"].append("%s: not injected; pod created %s, Instrumentation %s created %s"
                                          % (lang, created, inst_ref, inst_created))
            else:
                finding["reasons"].append(REASON_WEBHOOK)
                finding["details"].append("%s: not injected (no %s %s%s, no agent volume in any container)" % (
                    lang, "sidecar" if lang == "go" else "init container", AGENT, "" if lang == "go" else "-" + lang))
            continue
        targets = target_containers(pod, lang, wanted_containers)
        if lang != "go" and sorted(mutated) != sorted(t for t in targets if t in containers):
            finding["reasons"].append(REASON_CONTAINER)
            finding["details"].append("%s: agent in container %s, expected %s"
                                      % (lang, ", ".join(sorted(mutated)) or "none", ", ".join(targets) or "none"))
        wanted_image = _get(inst, "spec", lang, "image")
        if wanted_image and image != wanted_image:
            finding["reasons"].append(REASON_IMAGE)
            finding["details"].append("%s: agent image %s, Instrumentation %s has %s" % (lang, image, inst_ref, wanted_image))
        exporting = [AGENT] if lang == "go" else [t for t in targets if t in containers and t in mutated]
        for name in exporting:
            container = containers.get(name) or {}
            env = _env(container)
            endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            protocol = (env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                        or default_protocol(lang, image))
            port = endpoint_port(endpoint)
            want = _want_port(protocol, settings)
            if endpoint is None:
                finding["reasons"].append(REASON_PORT)
                finding["details"].append("%s: container %s has no OTEL_EXPORTER_OTLP_ENDPOINT" % (lang, name))
            elif port is not None and want is not None and port != want:
                finding["reasons"].append(REASON_PORT)
                finding["details"].append("%s: container %s exports %s to %s (port %d), expected port %d"
                                          % (lang, name, protocol, endpoint, port, want))
    return finding


def _want_port(protocol, settings):
    if protocol == "grpc":
        return int(settings.get("otlp_grpc_port") or DEFAULT_PORTS["grpc"])
    if protocol in ("http/protobuf", "http/json"):
        return int(settings.get("otlp_http_port") or DEFAULT_PORTS["http/protobuf"])
    return None


def owner(pod):
    """'Deployment ns/name' (from the ReplicaSet's name and the pod-template-hash), 'StatefulSet ns/name', ... or None."""
    refs = [r for r in _meta(pod, "ownerReferences") or [] if r.get("controller")] or list(_meta(pod, "ownerReferences") or [])
    if not refs:
        return None
    kind, name = refs[0].get("kind"), refs[0].get("name") or ""
    suffix = "-" + str((_meta(pod, "labels") or {}).get("pod-template-hash") or "")
    if kind == "ReplicaSet" and suffix != "-" and name.endswith(suffix):
        kind, name = "Deployment", name[:-len(suffix)]
    return "%s %s/%s" % (kind, _meta(pod, "namespace"), name)


# --- every pod -----------------------------------------------------------------------------------

def _alive(pods):
    return [p for p in pods or [] if isinstance(p, dict) and not _meta(p, "deletionTimestamp")]


def audit(pods, instrumentations, workloads=None, settings=None):
    """Audit every pod with an inject annotation (``pods``) and every pod of the managed ``workloads``
    (``[{"workload": {namespace, name, kind, language, container_names}, "object": ..., "pods": [...]}]``).

    Returns {"checked": n, "findings": [failing pods, see audit_pod], "passed": [pod refs]}."""
    seen, findings, passed = set(), [], []

    def one(pod, **kwargs):
        key = _meta(pod, "uid") or _ref(pod)
        if key in seen:
            return
        seen.add(key)
        finding = audit_pod(pod, instrumentations, settings, **kwargs)
        if finding["reasons"]:
            findings.append(finding)
        else:
            passed.append(finding["pod"])

    for item in workloads or []:
        w = item.get("workload") or {}
        template = _get(item.get("object"), "spec", "template", "metadata", "annotations") or {}
        if _false(template.get(INJECT_PREFIX + str(w.get("language")))):
            continue  # not annotated: the critical-workloads check says so; nothing to audit yet
        ref = "%s %s/%s" % (w.get("kind") or "Deployment", w.get("namespace"), w.get("name"))
        for pod in _alive(item.get("pods")):
            one(pod, language=w.get("language"), wanted_containers=w.get("container_names") or None, workload=ref)
    for pod in _alive(pods):
        if pod_languages(pod):
            one(pod)
    findings.sort(key=lambda f: f["pod"])
    return {"checked": len(seen), "findings": findings, "passed": sorted(passed)}


def evidence(result):
    """One line per failing pod, then a count line."""
    lines = ["pod %s (%s, %s): %s - %s" % (f["pod"], f["workload"] or "no owner", f["language"] or "?",
                                           ", ".join(unique(f["reasons"])), "; ".join(f["details"]))
             for f in result["findings"]]
    counts = {}
    for f in result["findings"]:
        for reason in unique(f["reasons"]):
            counts[reason] = counts.get(reason, 0) + 1
    lines.append("injection audit: %d annotated pod%s checked, %d pass, %d fail%s" % (
        result["checked"], "" if result["checked"] == 1 else "s", len(result["passed"]), len(result["findings"]),
        " (%s)" % ", ".join("%s: %d" % (r, counts[r]) for r in REASONS if r in counts) if counts else ""))
    return lines


def unique(items):
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


# --- healing: the annotate role's restarts ---------------------------------------------------------

def instrumentation_digest(inst, language):
    """Digest of what a `language` pod takes from this Instrumentation at creation ('' without one)."""
    if not inst:
        return ""
    spec = _get(inst, "spec") or {}
    part = dict((k, spec[k]) for k in _COMMON_FIELDS if spec.get(k) not in (None, {}, []))
    lang = spec.get(language) or {}
    part[language] = dict((k, lang[k]) for k in _LANGUAGE_FIELDS if lang.get(k) not in (None, {}, []))
    part["ref"] = _ref(inst)
    text = json.dumps(part, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _instrumentations(reads):
    """Instrumentation objects from looped k8s_info results (or a list of objects already)."""
    if isinstance(reads, dict):
        reads = reads.get("results", [reads])
    out = []
    for read in reads or []:
        if isinstance(read, dict) and "resources" in read:
            out.extend(r for r in read.get("resources") or [] if isinstance(r, dict))
        elif isinstance(read, dict) and read.get("kind") == "Instrumentation":
            out.append(read)
    return out


def _results(reads):
    if isinstance(reads, dict):
        return reads.get("results", [])
    return list(reads or [])


def restart_plan(plan, workloads, restart, instrumentation_reads, workload_reads, pod_reads, now, state="present",
                 settings=None):
    """The annotate plan with restarts: each existing workload's definition gets the pod-template annotations
    DIGEST_ANNOTATION (the digest of its Instrumentation for its language) and, when the audit flagged its
    pods for a reason a new pod fixes (HEALED_BY_RESTART) and nothing else rolls it, RESTARTED_AT_ANNOTATION = now. ``changed`` is recomputed; each item gains
    ``restart`` (the reasons, [] for none) and ``flagged`` (the audit's findings for its pods).

    restart 'never' only keeps the two annotations as they are live (dropping them would roll the pods)."""
    instrumentations = _instrumentations(instrumentation_reads)
    workload_reads, pod_reads = _results(workload_reads), _results(pod_reads)
    out = []
    for item in plan:
        item = plain_copy(item)
        item.setdefault("restart", [])
        item.setdefault("flagged", [])
        index = item["index"]
        live = live_object(workload_reads[index] if index < len(workload_reads) else None)
        out.append(item)
        if not live or state != "present":
            continue
        w = workloads[index]
        language = w.get("language")
        live_annotations = _get(live, "spec", "template", "metadata", "annotations") or {}
        template = item["definition"].setdefault("spec", {}).setdefault("template", {}).setdefault("metadata", {})
        annotations = template.setdefault("annotations", {})
        for key in (DIGEST_ANNOTATION, RESTARTED_AT_ANNOTATION):
            if live_annotations.get(key):
                annotations[key] = live_annotations[key]
        annotation_change = apply_needed(live, item["definition"])
        if restart != "on_change":
            item["changed"] = annotation_change
            continue
        inst, _inst_ref = resolve_instrumentation(w.get("instrumentation") or "true", w.get("namespace"), instrumentations)
        digest = instrumentation_digest(inst, language)
        if digest:
            annotations[DIGEST_ANNOTATION] = digest
        old = live_annotations.get(DIGEST_ANNOTATION)
        if annotation_change:
            item["restart"].append("annotations changed")
        if digest and old != digest:
            item["restart"].append("Instrumentation %s changed for %s (digest %s -> %s)" % (_inst_ref, language, old or "none", digest))
        pods = (pod_reads[index] or {}).get("resources") if index < len(pod_reads) and isinstance(pod_reads[index], dict) else []
        if not annotation_change and not item["restart"]:
            result = audit([], instrumentations, [{"workload": w, "object": live, "pods": pods or []}], settings)
            item["flagged"] = result["findings"]
            healable = [f for f in result["findings"] if any(r in HEALED_BY_RESTART for r in f["reasons"])]
            if healable:
                annotations[RESTARTED_AT_ANNOTATION] = now
                item["restart"].append("audit flagged %s" % "; ".join(
                    "%s (%s)" % (f["pod"].split("/", 1)[1], ", ".join(unique(f["reasons"]))) for f in healable))
        item["changed"] = apply_needed(live, item["definition"])
    return out
