# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that build and render the verify role's report (schema ``tracefleet.verify/v1``).

- ``checks | tracefleet.otel.verify_report_summary(cluster, generated_at)``: the full report of one
  cluster, its status (the worst check) and counts computed, every check validated.
- ``report | tracefleet.otel.verify_markdown``: a Markdown summary of one report.
- ``files | tracefleet.otel.verify_report_files(clusters)``: the fleet as read from a report
  directory (path -> text): the readable reports, and every other file as an unreadable report with
  the reason (not JSON, another schema version, validation errors), which never fails the task.
- ``reports | tracefleet.otel.verify_fleet_html(title=...)``: one self-contained HTML page for the
  fleet, one row per cluster (worst first), one column per check; given what ``verify_report_files``
  read, unreadable reports get rows of their own.

A malformed check or report handed over as data fails the task with every problem listed. The work is in
``plugins/module_utils/verify_report.py``; the documentation is in the ``.yml`` files beside this one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.tracefleet.otel.plugins.module_utils import verify_report as _report


def _raising(render):
    """``render`` as a filter: a VerifyReportError becomes an AnsibleFilterError listing every problem."""
    def render_or_fail(*args, **kwargs):
        try:
            return render(*args, **kwargs)
        except _report.VerifyReportError as err:
            raise AnsibleFilterError("malformed verify report:\n- %s" % "\n- ".join(err.errors))
    render_or_fail.__name__ = render.__name__
    render_or_fail.__doc__ = render.__doc__
    return render_or_fail


class FilterModule(object):
    """The verify report: build, Markdown, fleet HTML page."""

    def filters(self):
        return {
            "verify_report_summary": _raising(_report.summary),
            "verify_markdown": _raising(_report.markdown),
            "verify_fleet_html": _raising(_report.fleet_html),
            "verify_report_files": _raising(_report.report_files),
        }
