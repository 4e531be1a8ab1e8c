# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Server-side apply helpers for the roles (the logic is in module_utils/k8s_apply.py).

- ``live | tracefleet.otel.apply_needed(desired)``: whether a server-side apply of ``desired`` by the
  field manager ``tracefleet`` would change the live object (a k8s_info result or the object itself).
- ``reads | tracefleet.otel.apply_pending(definitions)``: the definitions whose apply would change
  something, ``reads`` being the live objects (k8s_info results, or a loop's results) in the same order.
- ``apply_result | tracefleet.otel.k8s_apply_diff(definitions)``: what a ``kubernetes.core.k8s`` list
  apply changed (or would change in check mode), as unified-diff lines, one diff per changed object.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tracefleet.otel.plugins.module_utils.k8s_apply import (
    FIELD_MANAGER,
    apply_needed,
    apply_pending,
    k8s_apply_diff,
    live_object,
)


def apply_needed_filter(live, desired, manager=FIELD_MANAGER):
    """Whether server-side applying `desired` as `manager` would change `live`."""
    return apply_needed(live_object(live), desired, manager)


def apply_pending_filter(reads, definitions, manager=FIELD_MANAGER):
    """The definitions a server-side apply would change; reads[i] holds the live object of definitions[i]."""
    if isinstance(reads, dict) and "results" in reads:
        reads = reads["results"]
    return apply_pending([live_object(read) for read in reads or []], list(definitions or []), manager)


class FilterModule(object):
    """Server-side apply helpers."""

    def filters(self):
        return {
            "apply_needed": apply_needed_filter,
            "apply_pending": apply_pending_filter,
            "k8s_apply_diff": k8s_apply_diff,
        }
