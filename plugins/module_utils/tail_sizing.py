# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How many traces each gateway replica holds while it waits for the decision, and whether they fit.

Tail sampling keeps every trace in memory for ``decision_wait``; when more traces arrive than
``num_traces`` allows, the oldest are decided before their time (the collector counts them in
``otelcol_processor_tail_sampling_sampling_trace_dropped_too_early``) and what should have been kept is
lost silently. So, unless set:

- ``num_traces = ceil(expected_new_traces_per_sec x decision_wait_s x num_traces_safety_factor)``,
  ``expected_new_traces_per_sec`` being what one replica receives (the processor's own setting);
- the decision caches (which remember decisions for spans that arrive after them) hold
  ``decision_cache_seconds`` of new traces each.

And the memory those traces take, ``num_traces x average_trace_kib``, must fit below the memory
limiter's soft limit (its limit minus its spike limit: above it the limiter starts refusing data), or
the settings are refused before any cluster call, with the arithmetic in the message.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import re

from ansible_collections.tracefleet.otel.plugins.module_utils.settings import is_int, is_number

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|\u00b5s|ms|s|m|h)")
_SECONDS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def duration_seconds(text):
    """A Go duration ("10s", "1m30s", "500ms") in seconds."""
    return sum(float(number) * _SECONDS[unit] for number, unit in _DURATION_PART.findall(text))


def sizes(s):
    """(num_traces, sampled_cache_size, non_sampled_cache_size, why) with the derived ones filled in."""
    per_sec = s["expected_new_traces_per_sec"]
    wait = duration_seconds(s["decision_wait"])
    why = []
    num_traces = s["num_traces"]
    if num_traces is None:
        num_traces = max(1, int(math.ceil(per_sec * wait * s["num_traces_safety_factor"])))
        why.append("num_traces %d = %s new traces/s per replica x %gs decision_wait x safety %s"
                   % (num_traces, per_sec, wait, s["num_traces_safety_factor"]))
    else:
        why.append("num_traces %d (set by tracefleet_gateway_num_traces)" % num_traces)
    cache = max(1, int(math.ceil(per_sec * s["decision_cache_seconds"])))
    sampled = cache if s["sampled_cache_size"] is None else s["sampled_cache_size"]
    non_sampled = cache if s["non_sampled_cache_size"] is None else s["non_sampled_cache_size"]
    why.append("decision caches %d sampled / %d not sampled (%s)" % (
        sampled, non_sampled,
        "%s new traces/s x %ss of decisions" % (per_sec, s["decision_cache_seconds"])
        if s["sampled_cache_size"] is None or s["non_sampled_cache_size"] is None else "set"))
    return num_traces, sampled, non_sampled, why


def sizing_errors(c, limiter_limit_mib, limiter_spike_mib):
    """Refuse a memory limit that cannot hold num_traces traces of the average size (c: a settings Checker)."""
    s = c.s
    ok = c.number("num_traces_safety_factor", 1, 100)
    ok = c.number("average_trace_kib", 0.001, 1048576) and ok
    ok = c.integer("decision_cache_seconds", minimum=1) and ok
    for key in ("num_traces", "sampled_cache_size", "non_sampled_cache_size"):
        if s[key] is not None:
            ok = c.integer(key, minimum=1) and ok
    if not (ok and is_number(s["expected_new_traces_per_sec"]) and isinstance(s["decision_wait"], str)
            and is_int(limiter_limit_mib) and is_int(limiter_spike_mib)):
        return
    num_traces = sizes(s)[0]
    needed = num_traces * s["average_trace_kib"] / 1024.0
    soft = limiter_limit_mib - limiter_spike_mib
    if needed > soft:
        c.errors.append(
            "%s: %s leaves the memory limiter a soft limit of %d MiB (limit %d MiB - spike %d MiB), which cannot hold "
            "%d traces (num_traces) x %s KiB (%s) = %d MiB of traces waiting for their decision; raise %s "
            "(at least %d MiB of soft limit) or lower %s"
            % (c.var("memory_limit"), s["memory_limit"], soft, limiter_limit_mib, limiter_spike_mib, num_traces,
               s["average_trace_kib"], c.var("average_trace_kib"), int(math.ceil(needed)), c.var("memory_limit"),
               int(math.ceil(needed)),
               c.var("num_traces") if s["num_traces"] is not None
               else "%s or %s" % (c.var("expected_new_traces_per_sec"), c.var("num_traces_safety_factor"))))
