# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout history: what each successful rollout applied to a cluster, and the way back to it.

The role ``tracefleet.otel.history`` keeps one ConfigMap per cluster whose keys ``entry-NNNNNN.json``
are the recorded rollouts, newest last, at most ``keep`` of them. An entry holds:

- ``operator``: the Helm release (chart ``name-version``, app version, revision, and the sha256 of its
  user-supplied values), or None when there is no release;
- ``objects``: every collector and Instrumentation the roles applied, each as *applied*: only the
  fields the roles' field manager owns (read from the live object's ``managedFields``), not the
  webhook's defaults and not the status, with the sha256 of that;
- ``digest`` (the state: chart, values digest and object digests), ``collection_version``, ``time``,
  ``reason`` (``rollout`` or ``rollback``) and, for a rollback, ``rolled_back_to``.

Re-applying an entry's objects with server-side apply under the same field manager returns each
object to exactly what was applied then: fields the later rollout added are released and removed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

FIELD_MANAGER = "tracefleet"
KEY_PREFIX = "entry-"
KEY_SUFFIX = ".json"
# A ConfigMap holds at most 1 MiB (keys, values and metadata); stay well below it.
SIZE_LIMIT = 900 * 1024


def digest(value):
    """sha256 of the canonical JSON of a value (None counts as {})."""
    text = json.dumps({} if value is None else value, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- the applied part of a live object ----------------------------------------------------------

def _match(item, key):
    return isinstance(item, dict) and all(item.get(k) == v for k, v in key.items())


def _pick(value, fields):
    """The parts of `value` named by a fieldsV1 tree (an empty tree: the whole value, a leaf or atomic)."""
    fields = dict((k, v) for k, v in (fields or {}).items() if k != ".")
    if not fields:
        return value
    if isinstance(value, dict):
        out = {}
        for key, sub in fields.items():
            if key.startswith("f:") and key[2:] in value:
                out[key[2:]] = _pick(value[key[2:]], sub)
        return out
    if isinstance(value, list):
        out = []
        for index, item in enumerate(value):
            for key, sub in fields.items():
                if key.startswith("k:"):
                    wanted = json.loads(key[2:])
                    if _match(item, wanted):
                        picked = _pick(item, sub)
                        if isinstance(picked, dict):
                            picked = dict(wanted, **picked)
                        out.append(picked)
                elif key.startswith("v:") and item == json.loads(key[2:]):
                    out.append(item)
                elif key.startswith("i:") and int(key[2:]) == index:
                    out.append(_pick(item, sub))
        return out
    return value


def owned_fields(obj, manager=FIELD_MANAGER):
    """The fieldsV1 tree `manager` owns in `obj` through server-side apply (None: it owns nothing)."""
    for entry in (obj.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply" and not entry.get("subresource"):
            return entry.get("fieldsV1") or {}
    return None


def applied_object(obj, manager=FIELD_MANAGER):
    """The object as `manager` applied it: identity plus the owned fields (None if it owns none)."""
    owned = owned_fields(obj, manager)
    if owned is None:
        return None
    picked = _pick(obj, owned)
    meta = obj.get("metadata") or {}
    out = dict((k, v) for k, v in picked.items() if k not in ("apiVersion", "kind", "metadata", "status"))
    metadata = dict((k, v) for k, v in (picked.get("metadata") or {}).items() if k in ("labels", "annotations"))
    metadata["name"] = meta.get("name")
    if meta.get("namespace"):
        metadata["namespace"] = meta["namespace"]
    out.update({"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "metadata": metadata})
    return out


def object_key(obj):
    meta = obj.get("metadata") or {}
    return "%s %s/%s" % (obj.get("kind"), meta.get("namespace", ""), meta.get("name"))


def applied_objects(live_objects, manager=FIELD_MANAGER):
    """[{key, digest, applied}] for every live object `manager` applied, sorted by key."""
    out = []
    for obj in live_objects or []:
        if not isinstance(obj, dict) or (obj.get("metadata") or {}).get("deletionTimestamp"):
            continue
        applied = applied_object(obj, manager)
        if applied is not None:
            out.append({"key": object_key(applied), "digest": digest(applied), "applied": applied})
    return sorted(out, key=lambda o: o["key"])


# --- entries ----------------------------------------------------------------------------------------

def operator_state(release):
    """The recorded part of a Helm release (helm_info's ``status``), or None when there is none."""
    if not release:
        return None
    return {"release": release.get("name"), "namespace": release.get("namespace"), "chart": release.get("chart"),
            "app_version": release.get("app_version"), "revision": int(release.get("revision") or 0),
            "values_digest": digest(release.get("values"))}


def state_digest(operator, objects):
    """What makes two entries the same state: the chart, the values digest and every object's digest."""
    return digest({"operator": {"chart": operator["chart"], "values_digest": operator["values_digest"]} if operator else None,
                   "objects": dict((o["key"], o["digest"]) for o in objects)})


def build_entry(entries, release, objects, time, collection_version, reason="rollout", rolled_back_to=None):
    """The next entry (id = last id + 1) for the state now live."""
    operator = operator_state(release)
    entry = {"id": (max([e["id"] for e in entries]) if entries else 0) + 1, "time": time, "reason": reason,
             "collection_version": collection_version, "operator": operator, "objects": objects,
             "digest": state_digest(operator, objects)}
    if rolled_back_to is not None:
        entry["rolled_back_to"] = rolled_back_to
    return entry


def record(entries, release, objects, time, collection_version, keep, reason="rollout", rolled_back_to=None,
           limit=SIZE_LIMIT):
    """The history after recording the live state: unchanged when a rollout leaves the state of the last
    entry as it was (a second run adds nothing), else with one new entry, trimmed to `keep` and `limit`."""
    entries = sorted(entries or [], key=lambda e: e["id"])
    entry = build_entry(entries, release, objects, time, collection_version, reason, rolled_back_to)
    if entries and entries[-1]["digest"] == entry["digest"]:
        return entries
    return trim(entries + [entry], keep, limit)


def _text(entry):
    return json.dumps(entry, sort_keys=True, separators=(",", ":"))


def trim(entries, keep, limit=SIZE_LIMIT):
    """The newest `keep` entries, fewer when their JSON would exceed `limit` bytes (the newest always stays)."""
    entries = sorted(entries, key=lambda e: e["id"])[-max(int(keep), 1):]
    while len(entries) > 1 and sum(len(_text(e)) for e in entries) > limit:
        entries = entries[1:]
    if entries and len(_text(entries[-1])) > limit:
        raise ValueError("the rollout entry is %d bytes, more than the %d a history ConfigMap may hold"
                         % (len(_text(entries[-1])), limit))
    return entries


def configmap_data(entries):
    return dict(("%s%06d%s" % (KEY_PREFIX, e["id"], KEY_SUFFIX), _text(e)) for e in entries)


def parse_entries(configmap):
    """The entries of a history ConfigMap (an object, or a k8s_info result), oldest first."""
    if isinstance(configmap, dict) and "resources" in configmap:
        configmap = (configmap.get("resources") or [None])[0]
    data = (configmap or {}).get("data") or {}
    entries = [json.loads(v) for k, v in data.items() if k.startswith(KEY_PREFIX) and k.endswith(KEY_SUFFIX)]
    return sorted(entries, key=lambda e: e["id"])


# --- rollback ---------------------------------------------------------------------------------------

def choose_target(entries, rollback_to=None, where="the history"):
    """{current, target} for a rollback, or {error}: the target is entry `rollback_to`, or else the newest
    entry before the last whose state differs from the last one's (so a second rollback undoes the first)."""
    entries = sorted(entries or [], key=lambda e: e["id"])
    if not entries:
        return {"error": "no rollout is recorded in %s: nothing to roll back to (site.yml records each rollout "
                         "whose verify passed)" % where}
    current = entries[-1]
    if rollback_to:
        found = [e for e in entries if e["id"] == int(rollback_to)]
        if not found:
            return {"error": "entry %s is not in %s (it holds entries %s)"
                    % (rollback_to, where, ", ".join(str(e["id"]) for e in entries))}
        return {"current": current, "target": found[0]}
    earlier = [e for e in entries[:-1] if e["digest"] != current["digest"]]
    if not earlier:
        return {"error": "no previous recorded rollout in %s: it holds %d entr%s (%s), none with a state other than "
                         "the current one, so there is nothing to roll back to"
                         % (where, len(entries), "y" if len(entries) == 1 else "ies",
                            ", ".join("#%d %s %s" % (e["id"], e["reason"], e["time"]) for e in entries))}
    return {"current": current, "target": earlier[-1]}


def _identity(obj):
    meta = obj.get("metadata") or {}
    return {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"),
            "metadata": dict((k, v) for k, v in meta.items() if k in ("name", "namespace"))}


def rollback_plan(target, live_objects, release=None, manager=FIELD_MANAGER):
    """What returns the cluster to `target`: the objects to apply (recorded, and live differs or missing),
    the objects to delete (applied by `manager` now, but not in the target), and whether Helm must roll back
    given the live release (helm_info's status, or None)."""
    live = dict((o["key"], o) for o in applied_objects(live_objects, manager))
    wanted = dict((o["key"], o) for o in target.get("objects") or [])
    apply = [wanted[k]["applied"] for k in sorted(wanted) if k not in live or live[k]["digest"] != wanted[k]["digest"]]
    delete = [_identity(live[k]["applied"]) for k in sorted(live) if k not in wanted]
    return {"apply": apply, "delete": delete, "helm": helm_plan(target.get("operator"), release)}


def helm_plan(recorded, release):
    """Whether and to what the operator release must roll back: {needed, revision, chart, reason}."""
    if not recorded:
        return {"needed": False, "reason": "no operator release recorded"}
    now = operator_state(release)
    if now and now["chart"] == recorded["chart"] and now["values_digest"] == recorded["values_digest"]:
        return {"needed": False, "revision": recorded["revision"], "chart": recorded["chart"],
                "reason": "release %s already runs %s with the recorded values" % (recorded["release"], recorded["chart"])}
    return {"needed": True, "revision": recorded["revision"], "chart": recorded["chart"],
            "reason": "release %s: %s -> revision %d (%s, values %s)"
            % (recorded["release"], now["chart"] if now else "not installed", recorded["revision"], recorded["chart"],
               recorded["values_digest"][:19])}


def helm_revision_problem(recorded, history, values):
    """Why Helm's revision `recorded.revision` is not the recorded state ('' when it is): `history` is
    ``helm history -o json``, `values` is ``helm get values --revision N -o json`` of that revision."""
    rows = [r for r in history or [] if int(r.get("revision", 0)) == int(recorded["revision"])]
    if not rows:
        return ("revision %d of release %s is no longer in Helm's history (it keeps revisions %s); the recorded state "
                "cannot be restored by a Helm rollback" % (recorded["revision"], recorded["release"],
                                                           ", ".join(str(r.get("revision")) for r in history or [])))
    if rows[0].get("chart") != recorded["chart"]:
        return "revision %d of release %s is chart %s, the history recorded %s" % (
            recorded["revision"], recorded["release"], rows[0].get("chart"), recorded["chart"])
    if digest(values) != recorded["values_digest"]:
        return "revision %d of release %s has values %s, the history recorded %s" % (
            recorded["revision"], recorded["release"], digest(values)[:19], recorded["values_digest"][:19])
    return ""
