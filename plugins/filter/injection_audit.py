# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Injection audit and restarts as filters (the logic is in plugins/module_utils/injection_audit.py).

- ``plan | tracefleet.otel.annotate_restart_plan(workloads, restart, instrumentation_reads, workload_reads,
  pod_reads, now, state, settings)``: the annotate role's plan with the restart annotations added where the
  Instrumentation changed or the audit flagged pods; each item gains ``restart`` (why) and ``flagged``.
- ``pods | tracefleet.otel.injection_audit(instrumentations, workloads, settings)``: the audit itself
  (``{checked, findings, passed}``); ``result | tracefleet.otel.injection_audit_evidence``: its lines.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tracefleet.otel.plugins.module_utils.injection_audit import audit, evidence, restart_plan


class FilterModule(object):
    """Injection audit and the annotate role's restarts."""

    def filters(self):
        return {
            "annotate_restart_plan": restart_plan,
            "injection_audit": audit,
            "injection_audit_evidence": evidence,
        }
