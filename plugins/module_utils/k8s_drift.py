# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift: what differs between the live objects and what the inventory would apply, field by field.

playbooks/drift.yml runs the roles in check mode with diff: each role's server-side apply is a dry run
whose result holds, per object, the live object (``diff.before``) and the object as the apply would
leave it (``diff.after``). A field whose value differs is drift: someone changed it by hand, or the
inventory changed and was not rolled out. An object with no live ``before`` is missing.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from ansible_collections.tracefleet.otel.plugins.module_utils.k8s_apply import _label

_IGNORED_METADATA = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink")
ABSENT = "(absent)"


def leaves(data, path=""):
    """{path: value} of every leaf (lists by index), without status and the API server's bookkeeping."""
    out = {}
    if isinstance(data, dict):
        for key, value in data.items():
            if (not path and key == "status") or (path == "metadata" and key in _IGNORED_METADATA):
                continue
            out.update(leaves(value, "%s.%s" % (path, key) if path else str(key)))
    elif isinstance(data, list) and data:
        for index, value in enumerate(data):
            out.update(leaves(value, "%s[%d]" % (path, index)))
    else:
        out[path] = data
    return out


def _show(value):
    return value if value == ABSENT else json.dumps(value, sort_keys=True)


def object_drift(before, after, obj=None):
    """[{object, field, live, wanted}] for one object's dry-run apply.

    before/after: kubernetes.core's diff, the live and the applied values of the fields that differ
    (only those: the rest of the object is not in them); obj: the object as the apply returned it.
    """
    label = _label(obj or after or before or {})
    if not before:
        return [{"object": label, "field": "(object)", "live": ABSENT, "wanted": "present"}]
    live, wanted = leaves(before), leaves(after or {})
    fields = sorted(path for path in set(live) | set(wanted) if live.get(path, ABSENT) != wanted.get(path, ABSENT))
    return [{"object": label, "field": path, "live": _show(live.get(path, ABSENT)), "wanted": _show(wanted.get(path, ABSENT))}
            for path in fields]


def drift(apply_results):
    """Every field that differs, over the registered results of the roles' apply tasks (skipped ones ignored)."""
    found = []
    for result in apply_results or []:
        if not isinstance(result, dict) or result.get("skipped"):
            continue
        if isinstance(result.get("results"), list) and "result" not in result:  # a loop of applies
            found.extend(drift(result["results"]))
            continue
        inner = result.get("result")
        items = inner.get("results") if isinstance(inner, dict) and "results" in inner else [result]
        for item in items or []:
            if not isinstance(item, dict) or not item.get("changed"):
                continue
            diff = item.get("diff") or {}
            found.extend(object_drift(diff.get("before"), diff.get("after"), item.get("result")))
    return found


def drift_check(found, not_checked=None):
    """The drift as one check of the verify report schema (id ``drift``).

    not_checked: messages for what could not be dry-run (a role that failed in check mode): a warn when
    there is no drift, and listed in the evidence either way.
    """
    notes = ["not checked: %s" % note for note in not_checked or []]
    if not found:
        if notes:
            return {"id": "drift", "status": "warn", "summary": "no drift found, but not everything could be checked",
                    "evidence": notes}
        return {"id": "drift", "status": "pass", "summary": "no drift: the cluster is what the inventory would apply",
                "evidence": []}
    objects = sorted(set(d["object"] for d in found))
    return {"id": "drift", "status": "fail",
            "summary": "%d field%s differ%s in %d object%s: %s" % (
                len(found), "" if len(found) == 1 else "s", "s" if len(found) == 1 else "", len(objects),
                "" if len(objects) == 1 else "s", ", ".join(objects)),
            "evidence": ["%s %s: live %s, wanted %s" % (d["object"], d["field"], d["live"], d["wanted"]) for d in found]
            + notes}
