# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters the operator role uses to prove the operator's webhooks serve before other roles create objects.

- ``namespace | tracefleet.otel.operator_webhook_probe_objects``: an Instrumentation and an
  OpenTelemetryCollector to send as a server-side dry run (nothing is stored).
- ``result | tracefleet.otel.operator_webhook_problems``: from the ``kubernetes.core.k8s`` result of
  that dry run, one message per webhook that did not default its object (empty: both serve).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tracefleet.otel.plugins.module_utils.operator_webhooks import probe_objects, webhook_problems


class FilterModule(object):
    """Operator webhook readiness."""

    def filters(self):
        return {
            "operator_webhook_probe_objects": probe_objects,
            "operator_webhook_problems": webhook_problems,
        }
