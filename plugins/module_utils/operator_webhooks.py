# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is the OpenTelemetry Operator's admission webhook serving? Ask it with a server-side dry run.

Collectors and Instrumentations created before the operator's webhook serves are refused (the
webhooks' failurePolicy is Fail) or, where no webhook is registered, stored without the operator's
defaults. So the operator role sends, with ``dryRun=All``, one Instrumentation and one
OpenTelemetryCollector and reads back what the API server would store: only the operator's mutating
webhooks set the fields below (the CRDs' own schema defaults do not), so a defaulted answer proves
the webhooks serve. Nothing is stored.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# (kind, webhook that defaults it, field only that webhook sets, as a path)
DEFAULTED_BY = {
    "Instrumentation": ("minstrumentation.kb.io", ("spec", "java", "image")),
    "OpenTelemetryCollector": ("mopentelemetrycollectorbeta.kb.io", ("spec", "upgradeStrategy")),
}
# The API server's error, often inside a JSON Status inside the module's message (quotes escaped).
_FAILED_CALLING = re.compile(r'failed calling webhook \\*"([^"\\]+)\\*"')
_CAUSE = re.compile(r'(connect: [a-z ]+|i/o timeout|context deadline exceeded|x509: [^"\\]+|'
                    r'no endpoints available[^"\\]*|service "[^"\\]+" not found|tls: [^"\\]+)')
_URL = re.compile(r'(https://[^/"\\]+)')


def probe_objects(namespace, name="tracefleet-webhook-probe"):
    """The two objects sent as a dry run (valid as they are; the operator fills the rest)."""
    meta = {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "tracefleet"}}
    return [
        {"apiVersion": "opentelemetry.io/v1alpha1", "kind": "Instrumentation", "metadata": dict(meta),
         "spec": {"exporter": {"endpoint": "http://127.0.0.1:4318"}}},
        {"apiVersion": "opentelemetry.io/v1beta1", "kind": "OpenTelemetryCollector", "metadata": dict(meta),
         "spec": {"config": {
             "receivers": {"otlp": {"protocols": {"grpc": {"endpoint": "127.0.0.1:4317"}}}},
             "exporters": {"debug": {}},
             "service": {"pipelines": {"traces": {"receivers": ["otlp"], "exporters": ["debug"]}}},
         }}},
    ]


def _get(obj, path):
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _answers(result):
    """(kind, returned object or None, error text) per probe object of a kubernetes.core.k8s result."""
    items = result.get("result", {}).get("results") if isinstance(result.get("result"), dict) else None
    if items is None:
        items = [result]
    out = []
    for item in items:
        obj = item.get("result") if isinstance(item.get("result"), dict) else None
        kind = (obj or {}).get("kind") or _get(item, ("definition", "kind")) or _get(item, ("item", "kind"))
        error = item.get("msg") or item.get("error") or ""
        if item.get("failed") or not obj:
            error = error or result.get("msg", "")
        out.append((kind, obj if not item.get("failed") else None, str(error)))
    return out


def webhook_problems(result):
    """What stops the webhooks from serving, one message per webhook; empty when both defaulted the probe."""
    problems = []
    if not isinstance(result.get("result"), dict):  # the whole call failed (failed_when: false keeps msg)
        return [_call_failure(str(result.get("msg", "")))]
    for kind, obj, error in _answers(result):
        webhook, path = DEFAULTED_BY.get(kind, ("?", ()))
        if obj is None:
            problems.append("%s: %s" % (kind, _call_failure(error)))
        elif not _get(obj, path):
            problems.append("%s: %s came back empty, so webhook %s did not run (not registered, or not serving)"
                            % (kind, ".".join(path), webhook))
    return problems


def _call_failure(message):
    """One line for a failed dry run: the webhook the API server could not call, why, and where."""
    named = sorted(set(_FAILED_CALLING.findall(message)))
    if not named:
        return "the dry run failed: %s" % _short(message)
    cause, url = _CAUSE.search(message), _URL.search(message)
    return "the API server could not call webhook %s (%s%s)" % (
        ", ".join(named), cause.group(1) if cause else "see the API server's message",
        " at " + url.group(1) if url else "")


def _short(text, limit=400):
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[:limit] + "..."
