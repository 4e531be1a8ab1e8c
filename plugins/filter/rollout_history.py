# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout history filters for the role tracefleet.otel.history (the logic is in module_utils/rollout_history.py).

- ``k8s_info_results | tracefleet.otel.history_applied_objects(manager)``: [{key, digest, applied}] of every
  live object the field manager applied (a loop of k8s_info results, or a list of objects).
- ``configmap | tracefleet.otel.history_entries``: the recorded entries, oldest first.
- ``entries | tracefleet.otel.history_record(release, objects, time, version, keep, ...)``: the entries
  after recording the live state (unchanged when it is the last entry's state).
- ``entries | tracefleet.otel.history_configmap_data``: the ConfigMap's ``data``.
- ``entries | tracefleet.otel.history_target(rollback_to, where)``: {current, target} or {error}.
- ``target | tracefleet.otel.history_rollback_plan(live, release, manager)``: {apply, delete, helm}.
- ``recorded | tracefleet.otel.history_helm_revision_problem(history, values)``: '' or why not.
- ``object | tracefleet.otel.history_object_key``: ``Kind namespace/name``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.tracefleet.otel.plugins.module_utils.rollout_history import (
    FIELD_MANAGER,
    SIZE_LIMIT,
    applied_objects,
    choose_target,
    configmap_data,
    helm_revision_problem,
    object_key,
    parse_entries,
    record,
    rollback_plan,
)


def _objects(reads):
    """Live objects from a k8s_info result, a loop of them, or a plain list."""
    if isinstance(reads, dict) and "results" in reads:
        reads = reads["results"]
    if isinstance(reads, dict):
        reads = [reads]
    out = []
    for read in reads or []:
        if isinstance(read, dict) and "resources" in read:
            out.extend(read.get("resources") or [])
        elif isinstance(read, dict) and not read.get("skipped"):
            out.append(read)
    return out


def history_applied_objects(reads, manager=FIELD_MANAGER):
    return applied_objects(_objects(reads), manager)


def history_record(entries, release, objects, time, collection_version, keep, reason="rollout", rolled_back_to=None,
                   limit=SIZE_LIMIT):
    try:
        return record(entries, release, objects, time, collection_version, keep, reason, rolled_back_to, limit)
    except ValueError as error:
        raise AnsibleFilterError("tracefleet.otel.history_record: %s" % error)


def history_rollback_plan(target, reads, release=None, manager=FIELD_MANAGER):
    return rollback_plan(target, _objects(reads), release or None, manager)


class FilterModule(object):
    """Rollout history."""

    def filters(self):
        return {
            "history_applied_objects": history_applied_objects,
            "history_entries": parse_entries,
            "history_record": history_record,
            "history_configmap_data": configmap_data,
            "history_target": choose_target,
            "history_rollback_plan": history_rollback_plan,
            "history_helm_revision_problem": helm_revision_problem,
            "history_object_key": object_key,
        }
