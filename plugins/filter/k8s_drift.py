# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Drift between live objects and what the inventory would apply (playbooks/drift.yml).

- ``apply_results | tracefleet.otel.k8s_drift``: from the registered results of the roles'
  ``kubernetes.core.k8s`` applies run in check mode with diff, one ``{object, field, live, wanted}`` per
  field that differs (an object that does not exist is one entry with field ``(object)``).
- ``drift | tracefleet.otel.k8s_drift_check``: that list as one check (id ``drift``) of the verify report
  schema, for the fleet page.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tracefleet.otel.plugins.module_utils.k8s_drift import drift, drift_check


class FilterModule(object):
    """Fleet drift."""

    def filters(self):
        return {"k8s_drift": drift, "k8s_drift_check": drift_check}
