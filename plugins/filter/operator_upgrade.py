# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the operator role's pre-upgrade checks (roles/operator/tasks/upgrade_checks.yml).

- ``rendered | tracefleet.otel.operator_upgrade_problems(live_crds, release, target_chart_version,
  cert_manager_expected, cert_manager_found, registry)``: one message per problem that would make the
  upgrade fail (stored CRD versions the target drops, a downgrade, missing cert-manager, unpinned images
  or images outside the registry override); empty when the upgrade can go ahead.
- ``rendered | tracefleet.otel.operator_upgrade_summary(live_crds, release, target_chart_version)``: what
  was looked at, one line each.

``rendered`` is the list of documents of the target chart rendered with the role's values
(``kubernetes.core.helm_template`` output through ``from_yaml_all``).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tracefleet.otel.plugins.module_utils.operator_upgrade import summary, upgrade_problems


def operator_upgrade_problems(rendered, live_crds, release, target_chart_version, cert_manager_expected=False,
                              cert_manager_found=False, registry=""):
    return upgrade_problems(list(rendered or []), live_crds, release, target_chart_version, cert_manager_expected,
                            cert_manager_found, registry)


def operator_upgrade_summary(rendered, live_crds, release, target_chart_version):
    return summary(live_crds, release, target_chart_version, list(rendered or []))


class FilterModule(object):
    """Operator pre-upgrade checks."""

    def filters(self):
        return {
            "operator_upgrade_problems": operator_upgrade_problems,
            "operator_upgrade_summary": operator_upgrade_summary,
        }
