# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server-side apply helpers shared by every role that applies objects with kubernetes.core.k8s.

- ``apply_needed`` / ``apply_pending``: whether a server-side apply would change anything, from the
  live object's ``managedFields`` (some webhooks re-encode an object on every write, so an apply of
  an unchanged object still bumps ``metadata.generation``; skipping it keeps a second run free of writes).
- ``k8s_apply_diff``: the changes of a ``kubernetes.core.k8s`` call that applied a list of definitions,
  as unified-diff lines, one diff per changed object (the module keeps those diffs inside
  ``result.results``, where ``--diff`` does not print them).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import json
import re

FIELD_MANAGER = "tracefleet"


def live_object(value):
    """The object from a k8s_info result (first resource), or the object itself."""
    if isinstance(value, dict) and "resources" in value:
        resources = value.get("resources") or []
        return resources[0] if resources else None
    return value or None


# --- server-side apply bookkeeping --------------------------------------------------------------

def _fields(value):
    """fieldsV1 of an applied (partial) object: maps are granular, lists and scalars atomic."""
    out = {}
    for key, item in value.items():
        out["f:" + key] = _fields(item) if isinstance(item, dict) and item else {}
    return out


def applied_fields(desired):
    """The fieldsV1 the apiserver records for a manager that applied `desired` (identity fields left out)."""
    body = dict((k, v) for k, v in desired.items() if k not in ("apiVersion", "kind", "metadata", "status"))
    metadata = dict((k, v) for k, v in (desired.get("metadata") or {}).items() if k in ("labels", "annotations"))
    if metadata:
        body["metadata"] = metadata
    return _fields(body)


def _strip_dots(fields):
    if not isinstance(fields, dict):
        return fields
    return dict((k, _strip_dots(v)) for k, v in fields.items() if k != ".")


def _contains(live, desired):
    if isinstance(desired, dict):
        return isinstance(live, dict) and all(k in live and _contains(live[k], v) for k, v in desired.items())
    return live == desired


def apply_needed(live, desired, manager=FIELD_MANAGER):
    """Whether server-side applying `desired` as `manager` would change `live` (None or {}: it does not exist).

    Nothing changes when the manager's recorded field set is exactly what `desired` sets (so nothing
    would be released and removed) and every value in `desired` is already live.
    """
    if not live:
        return True
    entries = [m for m in (live.get("metadata") or {}).get("managedFields") or []
               if m.get("manager") == manager and m.get("operation") == "Apply" and not m.get("subresource")]
    owned = _strip_dots(entries[0].get("fieldsV1") or {}) if entries else {}
    if owned != applied_fields(desired):
        return True
    body = dict((k, v) for k, v in desired.items() if k not in ("apiVersion", "kind", "metadata"))
    body["metadata"] = dict((k, v) for k, v in (desired.get("metadata") or {}).items() if k in ("labels", "annotations"))
    return not _contains(live, body)


def apply_pending(lives, definitions, manager=FIELD_MANAGER):
    """The definitions whose server-side apply would change something; lives[i] is the live object of
    definitions[i] (None when it does not exist)."""
    return [d for live, d in zip(list(lives) + [None] * (len(definitions) - len(lives)), definitions)
            if apply_needed(live, d, manager)]


# Metadata the apiserver keeps for itself: not a change anybody asked for.
_BOOKKEEPING = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


def _lines(data, path=""):
    """'path: value' lines for every leaf; a multi-line string gives one 'path | line' per line."""
    if isinstance(data, dict):
        lines = []
        for key in sorted(data):
            if path == "metadata" and key in _BOOKKEEPING:
                continue
            lines.extend(_lines(data[key], "%s.%s" % (path, key) if path else str(key)))
        return lines
    if isinstance(data, list):
        lines = []
        for index, value in enumerate(data):
            lines.extend(_lines(value, "%s[%d]" % (path, index)))
        return lines
    if isinstance(data, str) and "\n" in data:
        return ["%s | %s" % (path, line) for line in data.splitlines()]
    return ["%s: %s" % (path, json.dumps(data, sort_keys=True))]


def _label(obj):
    meta = obj.get("metadata") or {}
    return "%s %s%s" % (obj.get("kind", "object"), meta["namespace"] + "/" if meta.get("namespace") else "", meta.get("name", "?"))


def _error_message(error):
    """The apiserver's own message from a kubernetes.core error ('Failed to apply object: {...Status...}')."""
    msg = str(error.get("msg", error) if isinstance(error, dict) else error).strip()
    match = re.search(r"(\{.*\})", msg, re.S)
    if match:
        try:
            return json.loads(match.group(1)).get("message") or msg
        except (ValueError, AttributeError):
            pass
    return msg


def k8s_apply_diff(apply_result, definitions=None):
    """Diff lines for what a kubernetes.core.k8s list apply changed (or would change in check mode).

    One unified diff per changed object, as a flat list of lines (so ``debug`` prints it one line
    per line). ``definitions`` (the list that was applied) names the objects whose apply failed
    with ``continue_on_error``: their results carry only the error.
    """
    if not isinstance(apply_result, dict):
        return []
    inner = apply_result.get("result") or {}
    results = inner.get("results") if isinstance(inner, dict) and "results" in inner else [apply_result]
    definitions = definitions if isinstance(definitions, list) else []
    lines = []
    for index, item in enumerate(results or []):
        if not isinstance(item, dict):
            continue
        if item.get("error"):
            definition = definitions[index] if index < len(definitions) and isinstance(definitions[index], dict) else {}
            lines.append("%s: not applied: %s" % (_label(definition), _error_message(item["error"])))
            continue
        if not item.get("changed"):
            continue
        label = _label(item.get("result") or {})
        diff = item.get("diff") or {}
        before, after = _lines(diff.get("before") or {}), _lines(diff.get("after") or {})
        if not diff:
            before, after = [], ["(%s)" % (item.get("method") or "changed")]
        lines.extend(difflib.unified_diff(before, after, "%s (live)" % label, "%s (applied)" % label, n=2, lineterm=""))
    return lines
