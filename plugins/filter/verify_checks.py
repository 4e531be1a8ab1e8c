# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verify role's checklist as filters (the logic is in plugins/module_utils/verify_checks.py).

- ``gathered | tracefleet.otel.verify_checks(settings)``: the list of checks (id, title, status, summary,
  evidence) evaluated from what the role read from the cluster and Tempo, waivers applied.
- ``settings | tracefleet.otel.verify_settings_errors``: problems with the verify settings, each naming
  its variable (empty: fine).
- ``report | tracefleet.otel.verify_failures(fail_on)``: ``"<id> (<status>): <summary>"`` for each check whose
  status is in ``fail_on`` (a report dict or a list of checks).
- ``workloads | tracefleet.otel.verify_workload_items(reads, pod_reads)``: the ``workloads`` entry of what the
  checks read, from two looped k8s_info results in workload order.
- ``loop_item | tracefleet.otel.verify_search_item``: one result of the looped Tempo search as the
  ``recent_traces`` check reads it (``{service, failed, result}``).
- ``object | tracefleet.otel.verify_selector_labels``: an object's ``spec.selector.matchLabels`` as label selectors.
- ``gateway_collector | tracefleet.otel.verify_sampling_targets(plan)``: the latency threshold and routine percentage
  the sampling probe tests, from the gateway role's plan or else the live collector (module_utils/verify_sampling.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tracefleet.otel.plugins.module_utils.verify_checks import (
    evaluate,
    failures,
    search_item,
    selector_labels,
    settings_errors,
    workload_items,
)
from ansible_collections.tracefleet.otel.plugins.module_utils.verify_sampling import sampling_targets


class FilterModule(object):
    """Pre-production checklist evaluation."""

    def filters(self):
        return {
            "verify_checks": evaluate,
            "verify_settings_errors": settings_errors,
            "verify_failures": failures,
            "verify_workload_items": workload_items,
            "verify_selector_labels": selector_labels,
            "verify_search_item": search_item,
            "verify_sampling_targets": sampling_targets,
        }
