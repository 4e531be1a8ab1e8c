# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verify role's sampling parts: what the gateway should keep, how that was derived, and what the
sampling probe (``tempo_trace`` with ``sampling_probe: true``) showed.

Pure functions over plain data, used by ``verify_checks`` (which wraps the outcomes in its report schema):

- ``sampling_targets(collector, plan)``: the latency threshold and routine percentage the sampling probe
  tests, and where they come from. The gateway role's derived plan (fact ``tracefleet_gateway_sampling``,
  what the inventory asks for) wins over the live gateway collector's policies, so a gateway edited by hand
  fails the probe instead of moving the target; without the fact (``playbooks/verify.yml`` alone) the live
  policies are read.
- ``plan_lines(plan, live)``: the derivation as evidence lines (per-service latency policies from the
  objectives, the global threshold, the routine percentage and why) and where the live policies differ.
- ``sampling_probe_outcome(gathered)``: ``(status, summary, evidence)`` of the ``sampling_probe`` check.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.tracefleet.otel.plugins.module_utils.k8s_objects import get_path as _get

FACT = "tracefleet_gateway_sampling"


def _num(value):
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


def live_policies(collector):
    """{"latency_threshold_ms", "sampling_percentage", "service_latency": {service: ms}} of the live gateway's first
    tail_sampling processor in a traces pipeline (None for what it does not have); None without a collector."""
    config = _get(collector, "spec", "config")
    if not isinstance(config, dict):
        return None
    pipelines = _get(config, "service", "pipelines") or {}
    names = [p for name in sorted(pipelines) if str(name).split("/", 1)[0] == "traces"
             for p in (_get(pipelines, name, "processors") or []) if str(p).split("/", 1)[0] == "tail_sampling"]
    policies = _get(config, "processors", names[0], "policies") if names else None
    out = {"latency_threshold_ms": None, "sampling_percentage": None, "service_latency": {}}
    for policy in policies or []:
        if not isinstance(policy, dict):
            continue
        kind = policy.get("type")
        if kind == "latency" and out["latency_threshold_ms"] is None:
            out["latency_threshold_ms"] = _get(policy, "latency", "threshold_ms")
        elif kind == "probabilistic" and out["sampling_percentage"] is None:
            out["sampling_percentage"] = _get(policy, "probabilistic", "sampling_percentage")
        elif kind == "and":
            subs = _get(policy, "and", "and_sub_policy") or []
            services = [v for s in subs if isinstance(s, dict) and s.get("type") == "string_attribute"
                        and _get(s, "string_attribute", "key") == "service.name" for v in _get(s, "string_attribute", "values") or []]
            latency = [_get(s, "latency", "threshold_ms") for s in subs if isinstance(s, dict) and s.get("type") == "latency"]
            for service in services:
                if latency:
                    out["service_latency"][service] = latency[0]
    return out


def sampling_targets(collector, plan=None):
    """What the sampling probe tests: ``{latency_threshold_ms, sampling_percentage, source, live}``."""
    live = live_policies(collector)
    if isinstance(plan, dict) and plan.get("latency_threshold_ms") is not None:
        return {"latency_threshold_ms": plan.get("latency_threshold_ms"), "sampling_percentage": plan.get("sampling_percentage"),
                "source": "the gateway role's plan (fact %s)" % FACT, "live": live}
    live_threshold = (live or {}).get("latency_threshold_ms")
    if live_threshold is not None:
        return {"latency_threshold_ms": live_threshold, "sampling_percentage": live.get("sampling_percentage"),
                "source": "the live gateway collector's tail_sampling policies (no %s fact in this run)" % FACT, "live": live}
    return {"latency_threshold_ms": None, "sampling_percentage": None, "live": live,
            "source": "nowhere: no %s fact and no latency policy in the live gateway collector" % FACT}


def plan_lines(plan, live=None):
    """The gateway role's derivation as evidence lines, and where the live policies differ from it."""
    if not isinstance(plan, dict):
        return ["derivation: the gateway role did not run in this play (no %s fact); the live policies above are "
                "what the gateway runs" % FACT]
    lines = ["derivation (gateway role, %s): %s" % (FACT, line) for line in plan.get("summary") or []]
    if not isinstance(live, dict):
        return lines
    wanted = [("latency threshold", plan.get("latency_threshold_ms"), live.get("latency_threshold_ms"), " ms"),
              ("routine percentage", plan.get("sampling_percentage"), live.get("sampling_percentage"), " %")]
    for item in plan.get("service_latency") or []:
        wanted.append(("%s latency threshold" % item.get("service"), item.get("threshold_ms"),
                       (live.get("service_latency") or {}).get(item.get("service")), " ms"))
    for what, plan_value, live_value, unit in wanted:
        if plan_value is not None and (live_value is None or float(live_value) != float(plan_value)):
            lines.append("differs: the plan's %s is %s%s, the live gateway has %s" % (
                what, _num(plan_value), unit, "none" if live_value is None else _num(live_value) + unit))
    return lines


def plan_differences(lines):
    return [line for line in lines if line.startswith("differs: ")]


def settings_errors(settings, prefix="tracefleet_verify_"):
    """Problems with the sampling probe settings (keys ``sampling_probe_routine_count``, ``_tolerance``, ``_timeout``;
    absent keys are not checked), each naming its variable."""
    errors = []
    checks = (("sampling_probe_routine_count", lambda v: isinstance(v, int) and 0 <= v <= 20000, "a whole number from 0 to 20000"),
              ("sampling_probe_tolerance", lambda v: 0 <= v <= 100, "percentage points from 0 to 100"),
              ("sampling_probe_timeout", lambda v: v > 0, "seconds above 0"))
    for key, good, expected in checks:
        if key not in settings:
            continue
        value = settings[key]
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not good(value):
            errors.append("%s%s: expected %s, got %r" % (prefix, key, expected, value))
    return errors


def sampling_probe_outcome(gathered):
    """(status, summary, evidence) of the sampling_probe check from ``gathered["sampling_probe"]``:
    ``{"skipped": reason}`` or ``{"result": tempo_trace result, "failed": bool, "targets": sampling_targets(...)}``."""
    probe = gathered.get("sampling_probe") or {"skipped": "the sampling probe step did not run"}
    targets = probe.get("targets") or {}
    evidence = []
    if targets:
        evidence.append("latency threshold %s ms, routine percentage %s, from %s" % (
            _num(targets.get("latency_threshold_ms")),
            "%s %%" % _num(targets["sampling_percentage"]) if targets.get("sampling_percentage") is not None else "unknown",
            targets.get("source")))
    if probe.get("skipped"):
        return "warn", probe["skipped"], evidence
    res = probe.get("result") or {}
    sampling = res.get("sampling") or {}
    for kind in ("error", "slow"):
        p = _get(sampling, "probes", kind) or {}
        if p:
            evidence.append("%s probe %s: found %s after %s s, %s of %s spans, roots %s, orphans %d, error spans %s, %s ms" % (
                kind, p.get("trace_id"), p.get("found"), p.get("found_after_s"), p.get("span_count"), p.get("expected_spans"),
                p.get("root_count"), len(p.get("orphan_spans") or []), p.get("error_spans"), p.get("duration_ms")))
    evidence += sampling.get("lines") or []
    routine = sampling.get("routine")
    if not probe.get("failed") and not res.get("probe_sent"):
        return "warn", res.get("msg") or "the sampling probes were not sent", evidence
    if probe.get("failed"):
        return "fail", res.get("msg") or "the sampling probes were not confirmed", evidence
    summary = "error and slow probes (no marker) kept whole at a %s ms threshold" % _num(sampling.get("latency_threshold_ms"))
    if routine:
        summary += "; routine %d of %d kept = %.2f %%, within %s \u00b1 %s points" % (
            routine["kept"], routine["sent"], routine["percentage"], _num(routine["expected_percentage"]), _num(routine["tolerance"]))
    return "pass", summary, evidence
