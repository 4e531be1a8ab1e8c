# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the ``instrumentation`` and ``annotate`` roles (the logic is in
``plugins/module_utils/instrumentation.py``, unit-tested in plain Python).

``settings`` is a dict of the role's variables keyed without their prefix (``head_ratio`` for
``tracefleet_instrumentation_head_ratio``); keys left out or null take the module's defaults.

Role ``instrumentation``:

- ``settings | tracefleet.otel.instrumentation_errors``: every problem, each naming its variable.
- ``settings | tracefleet.otel.instrumentation_spec``: the Instrumentation's ``spec``.
- ``settings | tracefleet.otel.instrumentation_objects``: the Instrumentation objects, one per namespace.
- ``settings | tracefleet.otel.sampling_keep_rates``: effective keep rate per tail policy, and a
  warning when head sampling below 1.0 meets the gateway's keep-errors/keep-slow policies.

Role ``annotate``:

- ``settings | tracefleet.otel.annotate_errors``: problems found without the cluster.
- ``settings | tracefleet.otel.annotate_plan(reads)``: per workload, whether it exists, the partial
  object to server-side apply and whether that would change anything (``reads``: the k8s_info
  results, one per workload, in order).
- ``settings | tracefleet.otel.annotate_live_errors(plan)``, ``annotate_missing_warnings(plan)``.
- ``settings | tracefleet.otel.annotate_instrumentation_namespaces`` and
  ``settings | tracefleet.otel.annotate_instrumentation_errors(reads[, planned])``: the Instrumentations the
  annotations refer to, checked against what the cluster has (plus ``planned``, ``namespace/name`` strings).

The server-side apply helpers (``apply_needed``, ``apply_pending``, ``k8s_apply_diff``) are in
``plugins/filter/k8s.py``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tracefleet.otel.plugins.module_utils.instrumentation import (
    annotate_instrumentation_errors,
    annotate_instrumentation_namespaces,
    annotate_live_errors,
    annotate_missing_warnings,
    annotate_plan,
    annotate_settings_errors,
    instrumentation_objects,
    instrumentation_settings_errors,
    instrumentation_spec,
    sampling_keep_rates,
)
from ansible_collections.tracefleet.otel.plugins.plugin_utils.settings_filter import raising as _raising


def _instrumentations_by_namespace(reads):
    """{namespace: [names]} from k8s_info results looped over namespaces (or such a dict already)."""
    if isinstance(reads, dict) and "results" in reads:
        reads = reads["results"]
    if isinstance(reads, dict):
        return reads
    found = {}
    for read in reads or []:
        if not isinstance(read, dict) or read.get("skipped"):
            continue
        names = [(r.get("metadata") or {}).get("name") for r in read.get("resources") or []]
        found[read.get("item")] = names
    return found


def instrumentation_reference_errors(settings, reads, planned=None):
    """References to Instrumentations the cluster does not have (see annotate_instrumentation_errors).
    `planned`: ``namespace/name`` of Instrumentations this run creates (check mode: they are not there yet)."""
    found = {ns: list(names) for ns, names in _instrumentations_by_namespace(reads).items()}
    for ref in planned or []:
        namespace, _sep, name = str(ref).rpartition("/")
        if namespace in found and name not in found[namespace]:
            found[namespace].append(name)
    return annotate_instrumentation_errors(settings, found)


def _plan(settings, reads):
    if isinstance(reads, dict) and "results" in reads:
        reads = reads["results"]
    return annotate_plan(settings, list(reads or []))


class FilterModule(object):
    """Instrumentation spec, sampling arithmetic and pod-template annotations."""

    def filters(self):
        return {
            "instrumentation_spec": _raising(instrumentation_spec, "instrumentation"),
            "instrumentation_objects": _raising(instrumentation_objects, "instrumentation"),
            "instrumentation_errors": instrumentation_settings_errors,
            "sampling_keep_rates": _raising(sampling_keep_rates, "instrumentation"),
            "annotate_errors": annotate_settings_errors,
            "annotate_plan": _raising(_plan, "annotate"),
            "annotate_live_errors": _raising(annotate_live_errors, "annotate"),
            "annotate_missing_warnings": _raising(annotate_missing_warnings, "annotate"),
            "annotate_instrumentation_namespaces": _raising(annotate_instrumentation_namespaces, "annotate"),
            "annotate_instrumentation_errors": _raising(instrumentation_reference_errors, "annotate"),
        }
