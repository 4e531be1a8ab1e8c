# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn a settings builder into a filter that fails the task with every problem listed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.tracefleet.otel.plugins.module_utils.settings import SettingsError


def raising(build, what):
    """``build`` as a filter: a SettingsError becomes an AnsibleFilterError listing every problem."""
    def build_or_fail(*args):
        try:
            return build(*args)
        except SettingsError as err:
            raise AnsibleFilterError("invalid %s settings:\n- %s" % (what, "\n- ".join(err.errors)))
    build_or_fail.__name__ = build.__name__
    build_or_fail.__doc__ = build.__doc__
    return build_or_fail
