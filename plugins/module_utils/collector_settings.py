# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolve and check the settings the gateway and agent collector configurations are built from.

Every error names the role variable (``tracefleet_gateway_<key>``), says what was expected and
shows what was given, so a role can fail before any cluster call with a message a user can act
on. Regular expressions are checked with Python's ``re`` plus a scan for the constructs Go's
RE2 lacks (lookarounds, backreferences, ``\\Z``, conditionals); the real ``otelcol validate``
in the integration tests is the final word.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from fractions import Fraction

from ansible_collections.tracefleet.otel.plugins.module_utils.sampling_plan import objective_errors
from ansible_collections.tracefleet.otel.plugins.module_utils.tail_sizing import sizing_errors
from ansible_collections.tracefleet.otel.plugins.module_utils.settings import (
    DNS_LABEL as _DNS_LABEL,
    ENV_VAR_NAME as _ENV_VAR,
    Checker,
    is_int as _is_int,
    show as _show,
)

# The memory limiter's share of the container memory limit when not set explicitly.
LIMIT_PERCENT = 75
SPIKE_PERCENT = 19

GATEWAY_MIN_MEMORY_MIB = 1024

GATEWAY_PROCESSORS = ("memory_limiter", "tail_sampling", "attributes", "redaction", "transform", "batch")
AGENT_PROCESSORS = ("memory_limiter", "k8s_attributes", "batch")


_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_UNITS = {
    None: 1, "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60,
    "k": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18,
}
_DURATION = re.compile(r"^(?:0|(?:[0-9]+(?:\.[0-9]+)?(?:ns|us|\u00b5s|ms|s|m|h))+)$")
_ENDPOINT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]*):([0-9]{1,5})$")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)(?::([0-9]{1,5}))?$")
_URL = re.compile(r"^https?://[^\s/?#]+(/\S*)?$")
_DOMAIN = re.compile(r"^[a-z0-9](?:[-a-z0-9.]*[a-z0-9])?$")
_RE2_UNSUPPORTED = re.compile(r"\(\?<?[=!]|\(\?>|\(\?P=|\(\?\(|\\[1-9]|\\Z")


def memory_mib(quantity):
    """A Kubernetes memory quantity ("2Gi", "1536Mi", "2G", or bytes) in whole MiB."""
    if isinstance(quantity, bool):
        raise ValueError(quantity)
    if isinstance(quantity, int):
        return quantity // 2 ** 20
    match = _QUANTITY.match(quantity) if isinstance(quantity, str) else None
    if not match:
        raise ValueError(quantity)
    return int(Fraction(match.group(1)) * _UNITS[match.group(2)] // 2 ** 20)


def limiter_sizes(s):
    """The memory limiter's (limit_mib, spike_limit_mib): explicit, or a share of memory_limit."""
    total = memory_mib(s["memory_limit"])
    limit = s["memory_limiter_limit_mib"]
    spike = s["memory_limiter_spike_limit_mib"]
    if limit is None:
        limit = total * LIMIT_PERCENT // 100
    if spike is None:
        spike = total * SPIKE_PERCENT // 100
    return limit, spike


class _Checker(Checker):
    """Collects errors about one collector's resolved settings."""

    def number(self, key, minimum, maximum):
        value = self.s[key]
        if isinstance(value, (int, float)) and not isinstance(value, bool) and minimum <= value <= maximum:
            return True
        return self.fail(key, "a number from %s to %s" % (minimum, maximum))

    def string(self, key, allow_empty=False):
        value = self.s[key]
        return (isinstance(value, str) and (allow_empty or value.strip() != "")) or self.fail(key, "a non-empty string")

    def duration(self, key):
        value = self.s[key]
        ok = isinstance(value, str) and _DURATION.match(value)
        return bool(ok) or self.fail(key, "a Go duration such as 500ms, 5s or 1m")

    def endpoint(self, key, need_host=False):
        match = _ENDPOINT.match(self.s[key]) if isinstance(self.s[key], str) else None
        if match and 1 <= int(match.group(2)) <= 65535 and (match.group(1) or not need_host):
            return True
        return self.fail(key, "host:port" if need_host else "[host]:port, such as 0.0.0.0:4317")

    def absolute_path(self, key):
        value = self.s[key]
        return (isinstance(value, str) and value.startswith("/")) or self.fail(key, "an absolute path")

    def string_list(self, key, allow_empty_list=True):
        value = self.s[key]
        if not isinstance(value, list) or not (allow_empty_list or value):
            return self.fail(key, "a list of strings" if allow_empty_list else "a non-empty list of strings")
        bad = [item for item in value if not isinstance(item, str) or not item.strip()]
        return not bad or self.fail(key, "a list of non-empty strings", bad[0])

    def regex(self, name, pattern):
        """Check one RE2 pattern; name is the full variable path for the message."""
        if not isinstance(pattern, str) or not pattern:
            self.errors.append("%s: expected a non-empty regular expression, got %s" % (name, _show(pattern)))
            return
        unsupported = _RE2_UNSUPPORTED.search(pattern)
        if unsupported:
            self.errors.append("%s: %s uses %r, which Go's RE2 (the collector's regex engine) does not support"
                               % (name, _show(pattern), unsupported.group(0)))
            return
        try:
            re.compile(pattern)
        except re.error as err:
            self.errors.append("%s: %s is not a valid regular expression (%s)" % (name, _show(pattern), err))

    def regex_list(self, key):
        if self.string_list(key):
            for index, pattern in enumerate(self.s[key]):
                self.regex("%s[%d]" % (self.var(key), index), pattern)


def _unknown(checker, raw, defaults):
    if not isinstance(raw, dict):
        checker.errors.append("settings for %s*: expected a dict, got %s" % (checker.prefix, type(raw).__name__))
        return
    for key in sorted(set(raw) - set(defaults)):
        checker.errors.append("%s: unknown setting (no such role variable)" % checker.var(key))


def _processors(c, known, required):
    procs = c.s["processors"]
    if not c.string_list("processors", allow_empty_list=False):
        return
    unknown = [p for p in procs if p not in known]
    if unknown:
        c.fail("processors", "only " + ", ".join(known), unknown)
    dupes = sorted(set(p for p in procs if procs.count(p) > 1))
    if dupes:
        c.fail("processors", "each processor once", dupes)
    missing = [p for p in required if p not in procs]
    if missing:
        c.fail("processors", "a list that includes " + ", ".join(missing), procs)
    if "memory_limiter" in procs and procs[0] != "memory_limiter":
        c.fail("processors", "memory_limiter first (it must refuse data before any other processor holds it)", procs)
    if "batch" in procs and procs[-1] != "batch":
        c.fail("processors", "batch last (right before the exporters)", procs)


def _memory(c, minimum_mib=1):
    c.duration("memory_limiter_check_interval")
    for key in ("memory_limiter_limit_mib", "memory_limiter_spike_limit_mib"):
        if c.s[key] is not None and not c.integer(key, minimum=1):
            return
    try:
        total = memory_mib(c.s["memory_limit"])
    except (TypeError, ValueError):
        c.fail("memory_limit", "a Kubernetes memory quantity such as 2Gi or 1536Mi")
        return
    if total < minimum_mib:
        c.fail("memory_limit", "at least %d MiB" % minimum_mib, "%s (%d MiB)" % (c.s["memory_limit"], total))
        return
    limit, spike = limiter_sizes(c.s)
    if limit >= total:
        c.errors.append("%s: expected a limit below the container memory limit %s = %s (%d MiB), got %d MiB; "
                        "the container would be killed before the limiter refuses data"
                        % (c.var("memory_limiter_limit_mib"), c.var("memory_limit"), c.s["memory_limit"], total, limit))
    elif limit < 1:
        c.fail("memory_limit", "enough memory for a memory_limiter limit of at least 1 MiB")
    if spike >= limit:
        c.errors.append("%s: expected less than the limiter limit (%d MiB), got %d MiB"
                        % (c.var("memory_limiter_spike_limit_mib"), limit, spike))


def _tls(c):
    insecure_ok = c.s["tls_insecure"] is None or c.boolean("tls_insecure")
    if not (c.boolean("tls_enabled") and insecure_ok):
        return
    c.string("tls_server_name", allow_empty=True)
    if c.s["tls_enabled"] and c.s["tls_insecure"]:
        c.errors.append("%s: expected false while %s is true (TLS on and off at once)"
                        % (c.var("tls_insecure"), c.var("tls_enabled")))
    if not c.s["tls_enabled"]:
        return
    c.absolute_path("tls_dir")
    for key in ("tls_ca_file", "tls_cert_file", "tls_key_file"):
        value = c.s[key]
        if not isinstance(value, str) or "/" in value or value in (".", "..") or (key == "tls_ca_file" and not value):
            c.fail(key, "a file name inside %s (a key of the mounted Secret)" % c.var("tls_dir"))
    if bool(c.s["tls_cert_file"]) != bool(c.s["tls_key_file"]):
        c.errors.append("%s and %s: expected both set (mutual TLS) or both empty, got %s and %s"
                        % (c.var("tls_cert_file"), c.var("tls_key_file"),
                           _show(c.s["tls_cert_file"]), _show(c.s["tls_key_file"])))


def _common(c):
    c.endpoint("otlp_grpc_endpoint")
    c.endpoint("otlp_http_endpoint")
    c.endpoint("health_check_endpoint")
    c.string("metrics_host")
    c.integer("metrics_port", 1, 65535)
    c.integer("queue_size", minimum=1)
    c.duration("retry_max_elapsed_time")
    c.duration("batch_timeout")
    c.integer("batch_send_batch_size", minimum=1)
    c.boolean("debug_exporter_enabled")
    _tls(c)


def _span_name_rules(c):
    key = "span_name_rules"
    rules = c.s[key]
    if not isinstance(rules, list):
        c.fail(key, "a list of {pattern, replacement} dicts")
        return
    for index, rule in enumerate(rules):
        name = "%s[%d]" % (c.var(key), index)
        if not isinstance(rule, dict) or set(rule) != {"pattern", "replacement"}:
            c.errors.append("%s: expected a dict with exactly the keys pattern and replacement, got %s" % (name, _show(rule)))
            continue
        c.regex(name + ".pattern", rule["pattern"])
        if not isinstance(rule["replacement"], str):
            c.errors.append("%s.replacement: expected a string, got %s" % (name, _show(rule["replacement"])))


def _attributes(c):
    c.string("environment")
    c.string("environment_attribute")
    extra = c.s["extra_attributes"]
    if not isinstance(extra, dict):
        c.fail("extra_attributes", "a dict of attribute key to value")
        return
    for key, value in extra.items():
        if not isinstance(key, str) or not key.strip():
            c.fail("extra_attributes", "non-empty attribute keys", key)
        elif key == c.s["environment_attribute"]:
            c.fail("extra_attributes", "no entry for %s (set by %s)" % (key, c.var("environment")), key)
        if not isinstance(value, (str, int, float)):
            c.fail("extra_attributes", "string, number or boolean values", {key: value})


def gateway_errors(raw, s, prefix):
    """Every problem with the gateway settings (raw: as given; s: resolved)."""
    c = _Checker(s, prefix)
    _unknown(c, raw, s)
    _processors(c, GATEWAY_PROCESSORS, ("memory_limiter", "tail_sampling", "batch"))
    _memory(c, GATEWAY_MIN_MEMORY_MIB)
    _common(c)
    c.duration("decision_wait")
    c.integer("expected_new_traces_per_sec", minimum=1)
    limiter = limiter_sizes(s) if not any(e.startswith(c.var("memory")) for e in c.errors) else (None, None)
    sizing_errors(c, *limiter)
    if c.boolean("probe_policy_enabled") and s["probe_policy_enabled"]:
        c.string("probe_attribute_key")
        c.string("probe_attribute_value")
    c.integer("latency_threshold_ms", minimum=1)
    if s["sampling_percentage"] is not None:
        c.number("sampling_percentage", 0, 100)
    objective_errors(c)
    _attributes(c)
    c.regex_list("redaction_key_patterns")
    c.string_list("redaction_keys")
    c.regex_list("redaction_value_patterns")
    c.choice("redaction_hash_function", ("", "md5", "sha1", "sha3"))
    c.choice("redaction_summary", ("silent", "info", "debug"))
    _span_name_rules(c)
    if c.choice("tempo_protocol", ("grpc", "http")):
        if s["tempo_protocol"] == "grpc":
            c.endpoint("tempo_endpoint", need_host=True)
        elif not (isinstance(s["tempo_endpoint"], str) and _URL.match(s["tempo_endpoint"])):
            c.fail("tempo_endpoint", "an http:// or https:// URL when %s is http" % c.var("tempo_protocol"))
    if c.boolean("persistent_queue_enabled") and s["persistent_queue_enabled"]:
        c.absolute_path("persistent_queue_directory")
    return c.errors


def _static_host(c, key, value):
    match = _HOST.match(value) if isinstance(value, str) else None
    if not match or (match.group(2) and not 1 <= int(match.group(2)) <= 65535):
        c.fail(key, "host names or host:port", value)


def agent_errors(raw, s, prefix):
    """Every problem with the agent settings (raw: as given; s: resolved)."""
    c = _Checker(s, prefix)
    _unknown(c, raw, s)
    _processors(c, AGENT_PROCESSORS, ("memory_limiter", "batch"))
    _memory(c)
    _common(c)
    c.choice("k8s_auth_type", ("serviceAccount", "kubeConfig", "none"))
    if not (isinstance(s["k8s_node_env_var"], str) and (s["k8s_node_env_var"] == "" or _ENV_VAR.match(s["k8s_node_env_var"]))):
        c.fail("k8s_node_env_var", "an environment variable name, or empty for no node filter")
    c.string_list("k8s_metadata", allow_empty_list=False)
    c.duration("export_timeout")
    c.integer("gateway_port", 1, 65535)
    for key in ("gateway_name", "gateway_namespace"):
        if not (isinstance(s[key], str) and _DNS_LABEL.match(s[key])):
            c.fail(key, "a Kubernetes name (lower-case letters, digits and '-', at most 63)")
    if not (isinstance(s["cluster_domain"], str) and _DOMAIN.match(s["cluster_domain"])):
        c.fail("cluster_domain", "a DNS domain such as cluster.local")
    if c.choice("export_mode", ("load_balancing", "plain_otlp")) and c.choice("resolver", ("dns", "k8s", "static")):
        if s["export_mode"] == "load_balancing" and s["resolver"] == "static":
            if c.string_list("static_hostnames", allow_empty_list=False):
                for host in s["static_hostnames"]:
                    _static_host(c, "static_hostnames", host)
    return c.errors
