# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn role settings into OpenTelemetry Collector configurations (as data).

``settings`` is a dict the role builds from its variables, keyed by the variable name without
its prefix (``latency_threshold_ms`` for ``tracefleet_gateway_latency_threshold_ms``); keys left
out or set to null take the defaults in
``plugins/module_utils/collector_config.py`` (``GATEWAY_DEFAULTS``, ``AGENT_DEFAULTS``).

- ``settings | tracefleet.otel.gateway_collector_config``: the gateway's ``spec.config``.
- ``settings | tracefleet.otel.agent_collector_config``: the agent's ``spec.config``.
- ``settings | tracefleet.otel.gateway_sampling_plan``: what the gateway keeps and why (routine
  percentage, global and per-service latency thresholds, each with its source), for the run output.
- ``settings | tracefleet.otel.gateway_collector_config_errors`` (and ``agent_...``): a list of
  human-readable problems, each naming its variable; empty when the settings are valid. Roles
  check it in their preflight, before any cluster call.

The two config filters fail with every problem listed when the settings are invalid.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tracefleet.otel.plugins.module_utils.collector_config import (
    agent_config,
    agent_settings_errors,
    gateway_config,
    gateway_sampling_plan,
    gateway_settings_errors,
)
from ansible_collections.tracefleet.otel.plugins.plugin_utils.settings_filter import raising as _raising


class FilterModule(object):
    """Collector configuration builders."""

    def filters(self):
        return {
            "gateway_collector_config": _raising(gateway_config, "gateway collector"),
            "agent_collector_config": _raising(agent_config, "agent collector"),
            "gateway_collector_config_errors": gateway_settings_errors,
            "gateway_sampling_plan": _raising(gateway_sampling_plan, "gateway sampling plan"),
            "agent_collector_config_errors": agent_settings_errors,
        }
