# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The gateway's sampling thresholds, derived from service objectives and a volume budget.

Inputs (gateway settings, keys without the ``tracefleet_gateway_`` prefix):

- ``service_objectives``: ``[{service, latency_ms, threshold_ms?}]``. ``latency_ms`` is the service's
  latency objective (for example p99 <= 800 ms for ``checkout``). Each becomes a service-scoped
  ``and`` policy (``service.name`` is the service, and the trace is slower than the threshold), so a
  request that breaks the service's objective is kept even when it is faster than the global
  threshold. ``threshold_ms`` overrides the derived threshold (the objective itself).
- ``latency_threshold_ms``: the global threshold for every other service (the article's 2000 ms).
- ``volume_budget``: ``{spans_per_sec, expected_spans_per_sec, always_kept_ratio}``: what Tempo may
  take, what arrives at the gateways, and the share the error, latency and probe policies keep
  anyway. The routine percentage p solves
  ``budget = expected * kept + expected * (1 - kept) * p / 100``.
- ``sampling_percentage``: an explicit routine percentage; it wins over the budget.
- ``services``: the services the inventory knows; when given, objectives must name only those.

The tail sampling processor's latency policy measures the whole trace (earliest span start to latest
span end), so a service's threshold applies to the traces that contain that service.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tracefleet.otel.plugins.module_utils.settings import is_int, is_number, show

DEFAULT_SAMPLING_PERCENTAGE = 10
BUDGET_KEYS = ("spans_per_sec", "expected_spans_per_sec", "always_kept_ratio")


def objective_errors(c):
    """Problems with service_objectives, services and volume_budget (c: a settings Checker)."""
    s = c.s
    known = s["services"]
    if not isinstance(known, list) or not all(isinstance(n, str) and n for n in known):
        c.fail("services", "a list of service names")
        known = []
    objectives = s["service_objectives"]
    if not isinstance(objectives, list):
        return c.fail("service_objectives", "a list of {service, latency_ms, threshold_ms}")
    seen = set()
    for index, item in enumerate(objectives):
        where = "service_objectives[%d]" % index
        if not isinstance(item, dict):
            c.fail(where, "a mapping with service and latency_ms", item)
            continue
        unknown = sorted(set(item) - {"service", "latency_ms", "threshold_ms"})
        if unknown:
            c.fail(where, "only the keys service, latency_ms, threshold_ms", ", ".join(unknown), show_got=True)
        service = item.get("service")
        if not isinstance(service, str) or not service.strip():
            c.fail(where + ".service", "a service name", service)
        elif service in seen:
            c.fail(where + ".service", "each service once", service)
        elif known and service not in known:
            c.fail(where + ".service", "one of the services in %s (%s)" % (c.var("services"), ", ".join(known)), service)
        else:
            seen.add(service)
        for key in ("latency_ms", "threshold_ms"):
            value = item.get(key)
            if (key == "latency_ms" or value is not None) and not (is_int(value) and value > 0):
                c.fail("%s.%s" % (where, key), "a whole number of milliseconds above 0", value)
    return _budget_errors(c)


def _budget_errors(c):
    budget = c.s["volume_budget"]
    if budget in (None, {}):
        return True
    if not isinstance(budget, dict):
        return c.fail("volume_budget", "a mapping with spans_per_sec and expected_spans_per_sec")
    ok = True
    for key in BUDGET_KEYS:
        value = budget.get(key, 0 if key == "always_kept_ratio" else None)
        if key == "always_kept_ratio":
            good = is_number(value) and 0 <= value < 1
            expected = "a ratio from 0 up to (not including) 1"
        else:
            good = is_number(value) and value > 0
            expected = "a number above 0"
        if not good:
            ok = c.fail("volume_budget.%s" % key, expected, value)
    unknown = sorted(set(budget) - set(BUDGET_KEYS))
    if unknown:
        ok = c.fail("volume_budget", "only the keys " + ", ".join(BUDGET_KEYS), ", ".join(unknown))
    if ok:
        kept = budget["expected_spans_per_sec"] * budget.get("always_kept_ratio", 0)
        if budget["spans_per_sec"] < kept:
            ok = c.fail("volume_budget.spans_per_sec", "at least the %.1f spans/s the error, latency and probe policies "
                        "keep anyway (expected_spans_per_sec %s x always_kept_ratio %s)"
                        % (kept, show(budget["expected_spans_per_sec"]), show(budget.get("always_kept_ratio", 0))),
                        budget["spans_per_sec"])
    return ok


def routine_percentage(s):
    """(percentage, how it was chosen) for the probabilistic policy."""
    if s["sampling_percentage"] is not None:
        return s["sampling_percentage"], "set by tracefleet_gateway_sampling_percentage"
    budget = s["volume_budget"] or {}
    if not budget:
        return DEFAULT_SAMPLING_PERCENTAGE, "default (no tracefleet_gateway_volume_budget)"
    expected, kept = budget["expected_spans_per_sec"], budget.get("always_kept_ratio", 0)
    share = (budget["spans_per_sec"] - expected * kept) / (expected * (1 - kept))
    percentage = round(min(1.0, share) * 100, 2)
    return percentage, ("from the volume budget: (%s - %s x %s) / (%s x (1 - %s)) = %s%%"
                        % (budget["spans_per_sec"], expected, kept, expected, kept, percentage))


def service_thresholds(s):
    """[(service, threshold_ms, how it was chosen)] for the service-scoped latency policies."""
    out = []
    for item in s["service_objectives"]:
        if item.get("threshold_ms") is not None:
            out.append((item["service"], item["threshold_ms"], "set by threshold_ms (objective %d ms)" % item["latency_ms"]))
        else:
            out.append((item["service"], item["latency_ms"], "the latency objective"))
    return out


def plan(s):
    """What the gateway keeps, and why: a dict for the run output and the verify report."""
    percentage, why = routine_percentage(s)
    services = [{"service": name, "threshold_ms": ms, "source": source} for name, ms, source in service_thresholds(s)]
    lines = ["routine traces: %s%% (%s)" % (percentage, why),
             "slow traces: longer than %d ms (global, tracefleet_gateway_latency_threshold_ms)" % s["latency_threshold_ms"]]
    lines += ["slow %s traces: longer than %d ms (%s)" % (x["service"], x["threshold_ms"], x["source"]) for x in services]
    return {"sampling_percentage": percentage, "sampling_percentage_source": why,
            "latency_threshold_ms": s["latency_threshold_ms"], "service_latency": services, "summary": lines}


def latency_policies(s, service_key="service.name"):
    """The global latency policy, then one service-scoped ``and`` policy per objective."""
    policies = [{"name": "keep-slow", "type": "latency", "latency": {"threshold_ms": s["latency_threshold_ms"]}}]
    for service, threshold, _source in service_thresholds(s):
        policies.append({
            "name": "keep-slow-%s" % service,
            "type": "and",
            "and": {"and_sub_policy": [
                {"name": "service-%s" % service, "type": "string_attribute",
                 "string_attribute": {"key": service_key, "values": [service]}},
                {"name": "slower-than-%dms" % threshold, "type": "latency", "latency": {"threshold_ms": threshold}},
            ]},
        })
    return policies
