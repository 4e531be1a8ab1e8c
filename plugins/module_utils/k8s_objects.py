# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading Kubernetes objects as plain dicts (k8s_info results): nested fields that may be missing,
and an object's namespace/name."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def get_path(data, *path):
    """data[path[0]][path[1]]..., or None as soon as a level is missing or not a dict."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def meta(obj, key):
    """A metadata field of an object (name, namespace, labels, ...), or None."""
    return get_path(obj, "metadata", key)


def ref(obj):
    """namespace/name of an object."""
    return "%s/%s" % (meta(obj, "namespace"), meta(obj, "name"))
