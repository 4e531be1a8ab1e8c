# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every role's settings check shares: defaults overlay, the error type, and the checker whose
messages name the role variable ("tracefleet_gateway_sampling_percentage: expected a number from 0
to 100, got 150")."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

# Kubernetes names (RFC 1123 labels) and environment variable names, as every role checks them.
DNS_LABEL = re.compile(r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$")
ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class SettingsError(ValueError):
    """Invalid role settings; ``errors`` lists every problem found."""

    def __init__(self, errors):
        super(SettingsError, self).__init__("; ".join(errors))
        self.errors = list(errors)


def show(value):
    """A value as a message shows it: true/false, null, quoted strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(str(value))
    if value is None:
        return "null"
    return repr(value)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def plain_copy(value):
    """A deep copy of inventory data as plain dicts and lists.

    ``copy.deepcopy`` of the lazy containers Ansible (core 2.19) hands to a filter also copies their templar, with
    every variable of the host (all hosts' hostvars): it made one filter call cost seconds of controller CPU, more
    with each host in the inventory. Reading the container renders its values instead, once."""
    if isinstance(value, dict):
        return dict((key, plain_copy(item)) for key, item in value.items())
    if isinstance(value, list):
        return [plain_copy(item) for item in value]
    if isinstance(value, tuple):
        return tuple(plain_copy(item) for item in value)
    return copy.deepcopy(value)


def resolve(settings, defaults):
    """Defaults overlaid with the given settings; a None setting keeps its default."""
    resolved = plain_copy(defaults)
    if isinstance(settings, dict):
        resolved.update((key, plain_copy(value)) for key, value in settings.items()
                        if value is not None and key in defaults)
    return resolved


def checked(settings, defaults, errors_of, *args):
    """The settings resolved over ``defaults``, or SettingsError with what ``errors_of(settings, resolved, *args)`` found."""
    resolved = resolve(settings, defaults)
    errors = errors_of(settings, resolved, *args)
    if errors:
        raise SettingsError(errors)
    return resolved


class Checker:
    """Collects errors about one role's resolved settings ``s``; ``prefix`` makes keys variable names."""

    def __init__(self, s, prefix):
        self.s = s
        self.prefix = prefix
        self.errors = []

    def var(self, key):
        return self.prefix + key

    def fail(self, key, expected, got=None, show_got=True):
        message = "%s: expected %s" % (self.var(key), expected)
        if show_got:
            message += ", got %s" % show(self.s.get(key) if got is None else got)
        self.errors.append(message)
        return False

    def boolean(self, key):
        return isinstance(self.s[key], bool) or self.fail(key, "true or false")

    def integer(self, key, minimum=None, maximum=None):
        value = self.s[key]
        if is_int(value) and (minimum is None or value >= minimum) and (maximum is None or value <= maximum):
            return True
        if minimum is not None and maximum is not None:
            return self.fail(key, "a whole number from %d to %d" % (minimum, maximum))
        return self.fail(key, "a whole number of at least %d" % minimum if minimum is not None else "a whole number")

    def choice(self, key, choices):
        return self.s[key] in choices or self.fail(key, "one of " + ", ".join(show(c) for c in choices))
