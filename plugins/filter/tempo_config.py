# -*- coding: utf-8 -*-
# Copyright: (c) 2026, tracefleet.otel contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the tempo role's settings into Grafana Tempo's ``tempo.yaml`` (as data).

``settings`` is a dict the role builds from its variables, keyed by the variable name without
its prefix (``retention_days`` for ``tracefleet_tempo_retention_days``); keys left out or set to
null take ``DEFAULTS`` below, which mirror ``roles/tempo/meta/argument_specs.yml`` (a unit test
holds them together).

- ``settings | tracefleet.otel.tempo_config``: Tempo's configuration for one monolithic replica
  (``-target=all``) in a pod: OTLP gRPC 4317 and HTTP 4318 receivers on all interfaces, HTTP API
  3200, in-memory rings, the WAL on the pod's volume, blocks on that volume (``local``) or in
  S3/GCS/Azure, retention as ``compactor.compaction.block_retention``, anonymous usage reports
  off, and optionally the metrics generator. Object-store credentials are never in it: Tempo
  reads them from the environment (see ``tempo_storage_credentials``).
- ``settings | tracefleet.otel.tempo_storage_credentials``: ``{"env": [...], "volumes": [...],
  "volume_mounts": [...]}`` for the Tempo container, taking the object-store credentials from the
  Secret named in ``storage_secret_name`` (empty when there is none: the pod's cloud identity).
- ``settings | tracefleet.otel.tempo_config_errors``: a list of human-readable problems, each
  naming its variable; empty when the settings are valid. The role asserts it is empty in its
  preflight, before any cluster call.

``tempo_config`` and ``tempo_storage_credentials`` fail with every problem listed when the
settings are invalid.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.tracefleet.otel.plugins.module_utils.settings import SettingsError, plain_copy
from ansible_collections.tracefleet.otel.plugins.plugin_utils.settings_filter import raising as _raising

PREFIX = "tracefleet_tempo_"

# Mirrors the defaults of roles/tempo/meta/argument_specs.yml (tests/unit/plugins/filter/test_tempo_config.py).
DEFAULTS = {
    "state": "present",
    "mode": "managed",
    "name": "tempo",
    "namespace": "tempo",
    "cluster_domain": "cluster.local",
    "image_registry": "docker.io",
    "image_repository": "grafana/tempo",
    "image_tag": "2.8.2",
    "image_pull_policy": "IfNotPresent",
    "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
    "log_level": "info",
    "retention_days": 7,
    "retention_override_reason": "",
    "storage_backend": "local",
    "storage_size": "10Gi",
    "storage_class": "",
    "storage_bucket": "",
    "storage_prefix": "",
    "storage_endpoint": "",
    "storage_region": "",
    "storage_insecure": False,
    "storage_s3_force_path_style": False,
    "storage_azure_account_name": "",
    "storage_secret_name": "",
    "storage_gcs_credentials_key": "key.json",
    "metrics_generator_enabled": False,
    "metrics_generator_remote_write_url": "",
    "metrics_generator_processors": ["service-graphs", "span-metrics"],
    "extra_config": {},
    "external_otlp_grpc_endpoint": "",
    "external_otlp_http_endpoint": "",
    "external_query_url": "",
    "wait_timeout": 300,
    "remove_data": False,
    "remove_namespace": False,
}

STATES = ("present", "absent")
MODES = ("managed", "external")
BACKENDS = ("local", "s3", "gcs", "azure")
LOG_LEVELS = ("debug", "info", "warn", "error")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
GENERATOR_PROCESSORS = ("service-graphs", "span-metrics", "local-blocks")

# Retention the role accepts without an explanation: the article's 7 to 14 days.
RETENTION_DAYS_MIN = 7
RETENTION_DAYS_MAX = 14

# Ports of the Tempo container (the Services expose the same numbers).
HTTP_PORT = 3200
GRPC_PORT = 9095
OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318

# Everything Tempo writes lives on the pod's one volume, mounted here.
DATA_DIR = "/var/tempo"
CREDENTIALS_DIR = "/var/run/secrets/tempo-storage"

# Secret keys the container reads, per backend: the environment variable names Tempo's storage
# clients look for (s3: minio's EnvAWS provider; azure: AZURE_STORAGE_KEY when storage_account_key
# is empty). GCS reads a service-account JSON file named by GOOGLE_APPLICATION_CREDENTIALS.
SECRET_ENV = {
    "s3": ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    "azure": ("AZURE_STORAGE_KEY",),
    "gcs": (),
}
# Keys that hold credentials in Tempo's storage configuration: never allowed in the ConfigMap.
CREDENTIAL_KEYS = ("access_key", "secret_key", "session_token", "storage_account_key")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_HOST_PORT = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?(:[0-9]{1,5})?$")
_HTTP_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
# The name is used for the StatefulSet: its pods' controller-revision-hash label is
# "<name>-<10 chars>" and must stay a 63-character label value.
NAME_MAX = 52


def _var(key):
    return PREFIX + key


def _merged(settings):
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise AnsibleFilterError("tempo settings must be a dict keyed by variable name without %r, got %s"
                                 % (PREFIX, type(settings).__name__))
    unknown = sorted(k for k in settings if k not in DEFAULTS)
    if unknown:
        raise AnsibleFilterError("unknown tempo settings: %s (known: %s)" % (", ".join(unknown), ", ".join(sorted(DEFAULTS))))
    merged = copy.deepcopy(DEFAULTS)
    for key, value in settings.items():
        if value is not None:
            merged[key] = _like_the_spec(DEFAULTS[key], plain_copy(value))
    return merged


def _like_the_spec(default, value):
    """Convert what the argument spec accepts but leaves as given (extra vars are strings: -e retention_days=14)."""
    if isinstance(default, bool):
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            try:
                return boolean(value.strip().lower() if isinstance(value, str) else value, strict=True)
            except TypeError:
                return value
        return value
    if isinstance(default, int) and isinstance(value, str) and re.match(r"^\s*-?[0-9]+\s*$", value):
        return int(value)
    return value


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _find_keys(data, names, path=""):
    """Dotted paths of every key in ``names`` anywhere inside ``data``."""
    found = []
    if isinstance(data, dict):
        for key, value in data.items():
            here = "%s.%s" % (path, key) if path else str(key)
            if key in names:
                found.append(here)
            found.extend(_find_keys(value, names, here))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found.extend(_find_keys(value, names, "%s[%d]" % (path, index)))
    return found


def _errors(s):
    errors = []

    def bad(key, message):
        errors.append("%s %s" % (_var(key), message))

    def choice(key, allowed):
        if s[key] not in allowed:
            bad(key, "must be one of %s, got %r" % (", ".join(allowed), s[key]))

    def text(key):
        if not isinstance(s[key], str):
            bad(key, "must be a string, got %r" % (s[key],))
            return ""
        return s[key]

    choice("state", STATES)
    choice("mode", MODES)
    choice("log_level", LOG_LEVELS)
    choice("image_pull_policy", PULL_POLICIES)
    choice("storage_backend", BACKENDS)

    name = text("name")
    if not _DNS_1035.match(name) or len(name) > NAME_MAX:
        bad("name", "must be a DNS-1035 label of at most %d characters (lower-case letters, digits, '-', starting with a letter), got %r"
            % (NAME_MAX, name))
    namespace = text("namespace")
    if not _DNS_LABEL.match(namespace) or len(namespace) > 63:
        bad("namespace", "must be a DNS-1123 label (lower-case letters, digits, '-', at most 63 characters), got %r" % namespace)
    domain = text("cluster_domain")
    if not _DNS_SUBDOMAIN.match(domain):
        bad("cluster_domain", "must be a DNS domain such as cluster.local, got %r" % domain)

    # The image.
    if not text("image_registry").strip("/"):
        bad("image_registry", "must name a registry (docker.io, or your mirror), got %r" % s["image_registry"])
    repository = text("image_repository")
    if not repository or repository != repository.strip("/") or ":" in repository or "@" in repository:
        bad("image_repository", "must be a repository path without tag or digest, such as grafana/tempo, got %r" % repository)
    tag = text("image_tag")
    if tag == "latest":
        bad("image_tag", "must pin a Tempo release such as 2.8.2, not 'latest' (a moving tag makes a rollout unrepeatable)")
    elif not _IMAGE_TAG.match(tag):
        bad("image_tag", "must be an image tag such as 2.8.2, got %r" % tag)

    resources = s["resources"]
    if not isinstance(resources, dict) or sorted(set(resources) - {"requests", "limits"}):
        bad("resources", "must be a dict with only 'requests' and/or 'limits', got %r" % (resources,))
    else:
        for part in ("requests", "limits"):
            values = resources.get(part) or {}
            if not isinstance(values, dict) or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values.values()):
                bad("resources", "%s must map resource names to quantities such as 500m or 1Gi, got %r" % (part, values))

    if not _is_int(s["wait_timeout"]) or s["wait_timeout"] <= 0:
        bad("wait_timeout", "must be a positive number of seconds, got %r" % (s["wait_timeout"],))

    # Retention: 7-14 days unless somebody writes down why.
    days = s["retention_days"]
    reason = text("retention_override_reason").strip()
    if not _is_int(days):
        bad("retention_days", "must be a whole number of days, got %r" % (days,))
    elif days < 1:
        bad("retention_days", "must be at least 1 day (Tempo would delete blocks before the queriers see them), got %d" % days)
    elif not RETENTION_DAYS_MIN <= days <= RETENTION_DAYS_MAX and not reason:
        bad("retention_days", "is %d days, outside the %d-%d days the role accepts by default; set %s to the reason "
            "(for example the compliance rule that needs it) to allow it"
            % (days, RETENTION_DAYS_MIN, RETENTION_DAYS_MAX, _var("retention_override_reason")))

    # Storage.
    backend = s["storage_backend"]
    if not _QUANTITY.match(str(s["storage_size"])):
        bad("storage_size", "must be a Kubernetes quantity such as 10Gi, got %r" % (s["storage_size"],))
    storage_class = text("storage_class")
    if storage_class and not _DNS_SUBDOMAIN.match(storage_class):
        bad("storage_class", "must be a StorageClass name (or empty for the cluster default), got %r" % storage_class)
    secret = text("storage_secret_name")
    if secret and not _DNS_SUBDOMAIN.match(secret):
        bad("storage_secret_name", "must be a Secret name (DNS-1123 subdomain), got %r" % secret)
    if not _SECRET_KEY.match(text("storage_gcs_credentials_key")):
        bad("storage_gcs_credentials_key", "must be a Secret key such as key.json, got %r" % s["storage_gcs_credentials_key"])
    for key in ("storage_insecure", "storage_s3_force_path_style", "metrics_generator_enabled", "remove_data", "remove_namespace"):
        if not isinstance(s[key], bool):
            bad(key, "must be true or false, got %r" % (s[key],))
    if backend in ("s3", "gcs", "azure"):
        what = "container" if backend == "azure" else "bucket"
        bucket = text("storage_bucket")
        if not bucket:
            bad("storage_bucket", "must name the %s %s when %s is %s" % (backend.upper(), what, _var("storage_backend"), backend))
        elif "/" in bucket or ":" in bucket:
            bad("storage_bucket", "must be a bare %s name (put a path in %s), got %r" % (what, _var("storage_prefix"), bucket))
    endpoint = text("storage_endpoint")
    if backend == "s3" and not endpoint:
        bad("storage_endpoint", "must be the S3 endpoint host[:port] (for example s3.eu-west-1.amazonaws.com) when %s is s3"
            % _var("storage_backend"))
    if endpoint and backend in ("s3", "azure") and not _HOST_PORT.match(endpoint):
        bad("storage_endpoint", "must be host[:port] without a scheme for %s (use %s for plain HTTP), got %r"
            % (backend, _var("storage_insecure"), endpoint))
    if endpoint and backend == "gcs" and not _HTTP_URL.match(endpoint):
        bad("storage_endpoint", "must be an http(s):// URL for gcs, got %r" % endpoint)
    if backend == "azure" and not text("storage_azure_account_name"):
        bad("storage_azure_account_name", "must name the Azure storage account when %s is azure" % _var("storage_backend"))

    # Metrics generator.
    processors = s["metrics_generator_processors"]
    if not isinstance(processors, list) or any(p not in GENERATOR_PROCESSORS for p in processors):
        bad("metrics_generator_processors", "must be a list drawn from %s, got %r" % (", ".join(GENERATOR_PROCESSORS), processors))
    if s["metrics_generator_enabled"] is True:
        if not _HTTP_URL.match(text("metrics_generator_remote_write_url")):
            bad("metrics_generator_remote_write_url", "must be the Prometheus remote-write URL (http(s)://...) when %s is true, got %r"
                % (_var("metrics_generator_enabled"), s["metrics_generator_remote_write_url"]))
        if isinstance(processors, list) and not processors:
            bad("metrics_generator_processors", "must name at least one processor when %s is true" % _var("metrics_generator_enabled"))

    # The escape hatch must not smuggle credentials into the ConfigMap.
    extra = s["extra_config"]
    if not isinstance(extra, dict):
        bad("extra_config", "must be a dict merged into tempo.yaml, got %r" % (extra,))
    else:
        leaked = _find_keys(extra, CREDENTIAL_KEYS)
        if leaked:
            bad("extra_config", "must not hold credentials (%s): they would be stored in the ConfigMap; put them in the Secret named by %s"
                % (", ".join(leaked), _var("storage_secret_name")))

    # Mode external: only endpoints, which the other roles need.
    if s["mode"] == "external":
        grpc = text("external_otlp_grpc_endpoint")
        if not grpc or not _HOST_PORT.match(grpc) or ":" not in grpc:
            bad("external_otlp_grpc_endpoint", "must be the external Tempo's OTLP gRPC host:port when %s is external, got %r"
                % (_var("mode"), grpc))
        if not _HTTP_URL.match(text("external_query_url")):
            bad("external_query_url", "must be the external Tempo's HTTP API URL (http(s)://...) when %s is external, got %r"
                % (_var("mode"), s["external_query_url"]))
        http = text("external_otlp_http_endpoint")
        if http and not _HTTP_URL.match(http):
            bad("external_otlp_http_endpoint", "must be an http(s):// URL (or empty), got %r" % http)

    # Deleting the namespace deletes the PVC with it.
    if s["remove_namespace"] is True and s["remove_data"] is not True:
        bad("remove_namespace", "is true but %s is false: deleting the namespace deletes the trace data volume too; "
            "set both to remove everything" % _var("remove_data"))
    return errors


def tempo_config_errors(settings):
    """Every problem with the settings, each naming its variable; [] when they are valid."""
    return _errors(_merged(settings))


def _valid(settings):
    s = _merged(settings)
    errors = _errors(s)
    if errors:
        raise SettingsError(errors)
    return s


def _deep_merge(base, extra):
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = plain_copy(value)
    return base


def retention(days):
    """Tempo's duration for a number of days (Go durations have no 'd' unit)."""
    return "%dh" % (days * 24)


def _trace_storage(s):
    backend = s["storage_backend"]
    storage = {
        "backend": backend,
        "wal": {"path": DATA_DIR + "/wal"},
    }
    if backend == "local":
        storage["local"] = {"path": DATA_DIR + "/blocks"}
    elif backend == "s3":
        s3 = {
            "bucket": s["storage_bucket"],
            "endpoint": s["storage_endpoint"],
            "insecure": s["storage_insecure"],
            "forcepathstyle": s["storage_s3_force_path_style"],
        }
        if s["storage_region"]:
            s3["region"] = s["storage_region"]
        if s["storage_prefix"]:
            s3["prefix"] = s["storage_prefix"]
        storage["s3"] = s3
    elif backend == "gcs":
        gcs = {"bucket_name": s["storage_bucket"]}
        if s["storage_endpoint"]:
            gcs["endpoint"] = s["storage_endpoint"]
        if s["storage_insecure"]:
            gcs["insecure"] = True
        if s["storage_prefix"]:
            gcs["prefix"] = s["storage_prefix"]
        storage["gcs"] = gcs
    elif backend == "azure":
        azure = {
            "container_name": s["storage_bucket"],
            "storage_account_name": s["storage_azure_account_name"],
        }
        if s["storage_endpoint"]:
            azure["endpoint_suffix"] = s["storage_endpoint"]
        if s["storage_prefix"]:
            azure["prefix"] = s["storage_prefix"]
        storage["azure"] = azure
    return storage


def tempo_config(settings):
    """Tempo's tempo.yaml for one monolithic replica, as a dict."""
    s = _valid(settings)

    def inmemory():  # a fresh dict each time, so the YAML has no anchors
        return {"store": "inmemory"}

    config = {
        "multitenancy_enabled": False,
        "usage_report": {"reporting_enabled": False},
        "server": {
            "http_listen_port": HTTP_PORT,
            "grpc_listen_port": GRPC_PORT,
            "log_level": s["log_level"],
        },
        "distributor": {
            # Since Tempo 2.7 the receivers listen on localhost unless told otherwise.
            "receivers": {"otlp": {"protocols": {
                "grpc": {"endpoint": "0.0.0.0:%d" % OTLP_GRPC_PORT},
                "http": {"endpoint": "0.0.0.0:%d" % OTLP_HTTP_PORT},
            }}},
            "ring": {"kvstore": inmemory()},
        },
        "ingester": {
            "lifecycler": {
                "ring": {"kvstore": inmemory(), "replication_factor": 1},
                # One replica: nobody else needs time to see it in the ring (default 15s delays /ready).
                "min_ready_duration": "0s",
            },
        },
        "compactor": {
            "ring": {
                "kvstore": inmemory(),
                # One replica: the ring cannot change under it (default 1m delays /ready).
                "wait_stability_min_duration": "0s",
            },
            "compaction": {"block_retention": retention(s["retention_days"])},
        },
        "storage": {"trace": _trace_storage(s)},
    }
    if s["metrics_generator_enabled"]:
        config["metrics_generator"] = {
            "ring": {"kvstore": inmemory()},
            "storage": {
                "path": DATA_DIR + "/generator/wal",
                "remote_write": [{"url": s["metrics_generator_remote_write_url"], "send_exemplars": True}],
            },
            "traces_storage": {"path": DATA_DIR + "/generator/traces"},
        }
        config["overrides"] = {"defaults": {"metrics_generator": {"processors": list(s["metrics_generator_processors"])}}}
    return _deep_merge(config, s["extra_config"])


def tempo_storage_credentials(settings):
    """Container env, volumes and mounts that hand the object-store credentials to Tempo."""
    s = _valid(settings)
    backend, secret = s["storage_backend"], s["storage_secret_name"]
    result = {"env": [], "volumes": [], "volume_mounts": []}
    if backend == "local" or not secret:
        return result
    for env in SECRET_ENV[backend]:
        result["env"].append({"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": env}}})
    if backend == "gcs":
        key = s["storage_gcs_credentials_key"]
        result["env"].append({"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "%s/%s" % (CREDENTIALS_DIR, key)})
        result["volumes"].append({"name": "storage-credentials",
                                  "secret": {"secretName": secret, "items": [{"key": key, "path": key}]}})
        result["volume_mounts"].append({"name": "storage-credentials", "mountPath": CREDENTIALS_DIR, "readOnly": True})
    return result


class FilterModule(object):
    """Grafana Tempo configuration builders."""

    def filters(self):
        return {
            "tempo_config": _raising(tempo_config, "tempo"),
            "tempo_storage_credentials": _raising(tempo_storage_credentials, "tempo"),
            "tempo_config_errors": tempo_config_errors,
        }
