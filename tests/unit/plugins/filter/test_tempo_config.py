"""What Tempo's tempo.yaml contains, as the tempo role gets it from the tempo_config filters."""

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.tracefleet.otel.plugins.filter import tempo_config as plugin
from ansible_collections.tracefleet.otel.plugins.filter.tempo_config import FilterModule

FILTERS = FilterModule().filters()
config = FILTERS["tempo_config"]
credentials = FILTERS["tempo_storage_credentials"]
errors = FILTERS["tempo_config_errors"]

SPEC = Path(__file__).resolve().parents[4] / "roles" / "tempo" / "meta" / "argument_specs.yml"

S3 = {"storage_backend": "s3", "storage_bucket": "traces", "storage_endpoint": "s3.eu-west-1.amazonaws.com",
      "storage_region": "eu-west-1", "storage_secret_name": "tempo-s3"}
GCS = {"storage_backend": "gcs", "storage_bucket": "traces", "storage_secret_name": "tempo-gcs"}
AZURE = {"storage_backend": "azure", "storage_bucket": "traces", "storage_azure_account_name": "acme",
         "storage_secret_name": "tempo-azure"}


def test_the_filters_a_role_can_call():
    assert sorted(FILTERS) == ["tempo_config", "tempo_config_errors", "tempo_storage_credentials"]


def test_defaults_mirror_the_role_spec():
    options = yaml.safe_load(SPEC.read_text())["argument_specs"]["main"]["options"]
    spec = {name[len(plugin.PREFIX):]: opt.get("default") for name, opt in options.items()}
    assert spec == plugin.DEFAULTS


def test_spec_choices_match_the_filter():
    options = yaml.safe_load(SPEC.read_text())["argument_specs"]["main"]["options"]
    assert tuple(options["tracefleet_tempo_state"]["choices"]) == plugin.STATES
    assert tuple(options["tracefleet_tempo_mode"]["choices"]) == plugin.MODES
    assert tuple(options["tracefleet_tempo_storage_backend"]["choices"]) == plugin.BACKENDS
    assert tuple(options["tracefleet_tempo_log_level"]["choices"]) == plugin.LOG_LEVELS
    assert tuple(options["tracefleet_tempo_image_pull_policy"]["choices"]) == plugin.PULL_POLICIES


# --- the default: one monolithic replica, local storage on the pod's volume -----------------

def test_default_config_is_monolithic_local_storage_on_the_volume():
    c = config({})
    assert c["storage"]["trace"] == {
        "backend": "local",
        "wal": {"path": "/var/tempo/wal"},
        "local": {"path": "/var/tempo/blocks"},
    }
    assert "target" not in c  # -target=all, Tempo's default: one process runs every component


def test_default_receivers_listen_on_all_interfaces_on_the_otlp_ports():
    protocols = config({})["distributor"]["receivers"]["otlp"]["protocols"]
    assert protocols == {"grpc": {"endpoint": "0.0.0.0:4317"}, "http": {"endpoint": "0.0.0.0:4318"}}
    assert config({})["server"]["http_listen_port"] == 3200
    assert config({})["server"]["grpc_listen_port"] == 9095


def test_rings_are_in_memory_for_one_replica_and_ready_is_not_delayed():
    c = config({})
    assert c["distributor"]["ring"]["kvstore"] == {"store": "inmemory"}
    assert c["ingester"]["lifecycler"]["ring"] == {"kvstore": {"store": "inmemory"}, "replication_factor": 1}
    assert c["ingester"]["lifecycler"]["min_ready_duration"] == "0s"
    assert c["compactor"]["ring"] == {"kvstore": {"store": "inmemory"}, "wait_stability_min_duration": "0s"}
    assert "memberlist" not in c


def test_usage_reports_are_off_and_single_tenant():
    c = config({})
    assert c["usage_report"] == {"reporting_enabled": False}
    assert c["multitenancy_enabled"] is False


def test_config_is_plain_data_that_yaml_round_trips_without_anchors():
    for settings in ({}, S3, GCS, AZURE, {"metrics_generator_enabled": True,
                                         "metrics_generator_remote_write_url": "http://prom:9090/api/v1/write"}):
        c = config(settings)
        text = yaml.safe_dump(c)
        assert yaml.safe_load(text) == c
        assert "&id" not in text and "*id" not in text


def test_the_defaults_are_not_shared_between_calls():
    first = config({})
    first["storage"]["trace"]["wal"]["path"] = "/oops"
    first["distributor"]["ring"]["kvstore"]["store"] = "consul"
    assert config({}) == config({})
    assert config({})["storage"]["trace"]["wal"]["path"] == "/var/tempo/wal"
    assert plugin.DEFAULTS["resources"]["limits"]["memory"] == "2Gi"


def test_null_settings_take_the_defaults():
    assert config({"retention_days": None, "storage_backend": None}) == config({})
    assert config(None) == config({})


# --- retention ------------------------------------------------------------------------------

@pytest.mark.parametrize("days, duration", [(7, "168h"), (10, "240h"), (14, "336h")])
def test_retention_inside_the_article_range_needs_no_reason(days, duration):
    assert config({"retention_days": days})["compactor"]["compaction"]["block_retention"] == duration


def test_default_retention_is_seven_days():
    assert config({})["compactor"]["compaction"]["block_retention"] == "168h"


@pytest.mark.parametrize("days", [1, 6, 15, 90, 400])
def test_retention_outside_the_range_is_refused_without_a_reason(days):
    problems = errors({"retention_days": days})
    assert len(problems) == 1
    assert problems[0].startswith("tracefleet_tempo_retention_days is %d days" % days)
    assert "tracefleet_tempo_retention_override_reason" in problems[0]


@pytest.mark.parametrize("days", [1, 90, 400])
def test_retention_outside_the_range_is_allowed_with_a_reason(days):
    settings = {"retention_days": days, "retention_override_reason": "PCI DSS 10.5.1 keeps audit trails for a year"}
    assert errors(settings) == []
    assert config(settings)["compactor"]["compaction"]["block_retention"] == "%dh" % (24 * days)


@pytest.mark.parametrize("days", [0, -7])
def test_retention_below_a_day_is_refused_even_with_a_reason(days):
    problems = errors({"retention_days": days, "retention_override_reason": "testing"})
    assert problems == ["tracefleet_tempo_retention_days must be at least 1 day "
                        "(Tempo would delete blocks before the queriers see them), got %d" % days]


@pytest.mark.parametrize("value", ["7d", "168h", 7.5, True])
def test_retention_must_be_a_whole_number_of_days(value):
    assert errors({"retention_days": value})[0].startswith("tracefleet_tempo_retention_days must be a whole number of days")


def test_a_blank_reason_is_no_reason():
    assert errors({"retention_days": 30, "retention_override_reason": "   "})


# --- object storage: settings in the config, credentials only from the Secret ----------------

def test_s3_backend():
    trace = config(S3)["storage"]["trace"]
    assert trace == {
        "backend": "s3",
        "wal": {"path": "/var/tempo/wal"},
        "s3": {"bucket": "traces", "endpoint": "s3.eu-west-1.amazonaws.com", "region": "eu-west-1",
               "insecure": False, "forcepathstyle": False},
    }


def test_s3_minio_style_endpoint_with_prefix():
    trace = config(dict(S3, storage_endpoint="minio.storage.svc:9000", storage_insecure=True,
                        storage_s3_force_path_style=True, storage_prefix="cluster-a", storage_region=""))["storage"]["trace"]
    assert trace["s3"] == {"bucket": "traces", "endpoint": "minio.storage.svc:9000", "insecure": True,
                           "forcepathstyle": True, "prefix": "cluster-a"}


def test_gcs_backend():
    assert config(GCS)["storage"]["trace"] == {"backend": "gcs", "wal": {"path": "/var/tempo/wal"},
                                               "gcs": {"bucket_name": "traces"}}


def test_azure_backend():
    assert config(dict(AZURE, storage_endpoint="blob.core.windows.net"))["storage"]["trace"] == {
        "backend": "azure", "wal": {"path": "/var/tempo/wal"},
        "azure": {"container_name": "traces", "storage_account_name": "acme", "endpoint_suffix": "blob.core.windows.net"},
    }


@pytest.mark.parametrize("settings", [S3, GCS, AZURE])
def test_credentials_are_never_in_the_config(settings):
    c = config(settings)
    assert plugin._find_keys(c, plugin.CREDENTIAL_KEYS) == []
    assert "tempo-" not in yaml.safe_dump(c)  # not even the Secret's name


def test_s3_credentials_come_from_the_secret_as_env():
    assert credentials(S3) == {
        "env": [
            {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "tempo-s3", "key": "AWS_ACCESS_KEY_ID"}}},
            {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "tempo-s3", "key": "AWS_SECRET_ACCESS_KEY"}}},
        ],
        "volumes": [], "volume_mounts": [],
    }


def test_azure_key_comes_from_the_secret_as_env():
    assert credentials(AZURE)["env"] == [
        {"name": "AZURE_STORAGE_KEY", "valueFrom": {"secretKeyRef": {"name": "tempo-azure", "key": "AZURE_STORAGE_KEY"}}},
    ]


def test_gcs_service_account_is_mounted_from_the_secret():
    creds = credentials(dict(GCS, storage_gcs_credentials_key="sa.json"))
    assert creds["env"] == [{"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": "/var/run/secrets/tempo-storage/sa.json"}]
    assert creds["volumes"] == [{"name": "storage-credentials",
                                 "secret": {"secretName": "tempo-gcs", "items": [{"key": "sa.json", "path": "sa.json"}]}}]
    assert creds["volume_mounts"] == [{"name": "storage-credentials", "mountPath": "/var/run/secrets/tempo-storage", "readOnly": True}]


@pytest.mark.parametrize("settings", [{}, dict(S3, storage_secret_name=""), {"storage_secret_name": "ignored-for-local"}])
def test_no_secret_no_credentials(settings):
    assert credentials(settings) == {"env": [], "volumes": [], "volume_mounts": []}


# --- metrics generator, escape hatch -----------------------------------------------------------

def test_metrics_generator_is_off_by_default():
    c = config({})
    assert "metrics_generator" not in c and "overrides" not in c


def test_metrics_generator_writes_to_prometheus_with_processors_as_overrides():
    c = config({"metrics_generator_enabled": True, "metrics_generator_remote_write_url": "http://prom.monitoring:9090/api/v1/write"})
    assert c["metrics_generator"] == {
        "ring": {"kvstore": {"store": "inmemory"}},
        "storage": {"path": "/var/tempo/generator/wal",
                    "remote_write": [{"url": "http://prom.monitoring:9090/api/v1/write", "send_exemplars": True}]},
        "traces_storage": {"path": "/var/tempo/generator/traces"},
    }
    # the new overrides format (the legacy inline one makes -config.verify fail with a warning)
    assert c["overrides"] == {"defaults": {"metrics_generator": {"processors": ["service-graphs", "span-metrics"]}}}


def test_extra_config_is_merged_last_and_deeply():
    c = config({"extra_config": {"server": {"log_format": "json"}, "ingester": {"max_block_duration": "5m"}}})
    assert c["server"] == {"http_listen_port": 3200, "grpc_listen_port": 9095, "log_level": "info", "log_format": "json"}
    assert c["ingester"]["max_block_duration"] == "5m"
    assert c["ingester"]["lifecycler"]["ring"]["replication_factor"] == 1


def test_extra_config_cannot_carry_credentials():
    problems = errors(dict(S3, extra_config={"storage": {"trace": {"s3": {"secret_key": "hunter2"}}}}))
    assert problems == ["tracefleet_tempo_extra_config must not hold credentials (storage.trace.s3.secret_key): they would "
                        "be stored in the ConfigMap; put them in the Secret named by tracefleet_tempo_storage_secret_name"]
    assert "hunter2" not in problems[0]


# --- bad input: every problem names its variable ----------------------------------------------

BAD = [
    ({"state": "gone"}, "tracefleet_tempo_state"),
    ({"mode": "cloud"}, "tracefleet_tempo_mode"),
    ({"storage_backend": "ftp"}, "tracefleet_tempo_storage_backend"),
    ({"log_level": "loud"}, "tracefleet_tempo_log_level"),
    ({"image_pull_policy": "Sometimes"}, "tracefleet_tempo_image_pull_policy"),
    ({"name": "Tempo"}, "tracefleet_tempo_name"),
    ({"name": "t" * 53}, "tracefleet_tempo_name"),
    ({"namespace": "my_ns"}, "tracefleet_tempo_namespace"),
    ({"cluster_domain": "cluster local"}, "tracefleet_tempo_cluster_domain"),
    ({"image_tag": "latest"}, "tracefleet_tempo_image_tag"),
    ({"image_tag": "2.8.2 "}, "tracefleet_tempo_image_tag"),
    ({"image_repository": "grafana/tempo:2.8.2"}, "tracefleet_tempo_image_repository"),
    ({"image_registry": ""}, "tracefleet_tempo_image_registry"),
    ({"resources": {"requests": {"cpu": "1"}, "limit": {}}}, "tracefleet_tempo_resources"),
    ({"resources": {"limits": ["2Gi"]}}, "tracefleet_tempo_resources"),
    ({"wait_timeout": 0}, "tracefleet_tempo_wait_timeout"),
    ({"retention_days": 0}, "tracefleet_tempo_retention_days"),
    ({"retention_days": 30}, "tracefleet_tempo_retention_days"),
    ({"storage_size": "10 GB"}, "tracefleet_tempo_storage_size"),
    ({"storage_class": "Fast_SSD"}, "tracefleet_tempo_storage_class"),
    ({"storage_secret_name": "S3 creds"}, "tracefleet_tempo_storage_secret_name"),
    ({"storage_gcs_credentials_key": "a/b.json"}, "tracefleet_tempo_storage_gcs_credentials_key"),
    (dict(S3, storage_bucket=""), "tracefleet_tempo_storage_bucket"),
    (dict(S3, storage_bucket="traces/cluster-a"), "tracefleet_tempo_storage_bucket"),
    (dict(S3, storage_endpoint=""), "tracefleet_tempo_storage_endpoint"),
    (dict(S3, storage_endpoint="https://s3.amazonaws.com"), "tracefleet_tempo_storage_endpoint"),
    (dict(GCS, storage_endpoint="storage.googleapis.com"), "tracefleet_tempo_storage_endpoint"),
    (dict(GCS, storage_bucket=""), "tracefleet_tempo_storage_bucket"),
    (dict(AZURE, storage_azure_account_name=""), "tracefleet_tempo_storage_azure_account_name"),
    ({"storage_insecure": "maybe"}, "tracefleet_tempo_storage_insecure"),
    ({"metrics_generator_enabled": True}, "tracefleet_tempo_metrics_generator_remote_write_url"),
    ({"metrics_generator_processors": ["span-metrics", "service-map"]}, "tracefleet_tempo_metrics_generator_processors"),
    ({"metrics_generator_enabled": True, "metrics_generator_remote_write_url": "http://p/api/v1/write",
      "metrics_generator_processors": []}, "tracefleet_tempo_metrics_generator_processors"),
    ({"extra_config": ["server"]}, "tracefleet_tempo_extra_config"),
    ({"mode": "external", "external_query_url": "https://tempo.example.com"}, "tracefleet_tempo_external_otlp_grpc_endpoint"),
    ({"mode": "external", "external_otlp_grpc_endpoint": "http://tempo:4317", "external_query_url": "http://tempo:3200"},
     "tracefleet_tempo_external_otlp_grpc_endpoint"),
    ({"mode": "external", "external_otlp_grpc_endpoint": "tempo:4317"}, "tracefleet_tempo_external_query_url"),
    ({"mode": "external", "external_otlp_grpc_endpoint": "tempo:4317", "external_query_url": "http://tempo:3200",
      "external_otlp_http_endpoint": "tempo:4318"}, "tracefleet_tempo_external_otlp_http_endpoint"),
    ({"remove_namespace": True}, "tracefleet_tempo_remove_namespace"),
]


@pytest.mark.parametrize("settings, variable", BAD, ids=["%s-%d" % (v[len("tracefleet_tempo_"):], i) for i, (_, v) in enumerate(BAD)])
def test_bad_input_is_one_problem_naming_its_variable(settings, variable):
    problems = errors(settings)
    assert len(problems) == 1, problems
    assert problems[0].startswith(variable + " "), problems[0]


def test_the_config_filter_fails_with_every_problem_listed():
    with pytest.raises(AnsibleFilterError) as err:
        config({"retention_days": 0, "image_tag": "latest", "storage_backend": "s3"})
    message = str(err.value)
    for variable in ("retention_days", "image_tag", "storage_bucket", "storage_endpoint"):
        assert "- tracefleet_tempo_" + variable in message


def test_the_credentials_filter_fails_on_bad_input_too():
    with pytest.raises(AnsibleFilterError, match="tracefleet_tempo_storage_bucket"):
        credentials({"storage_backend": "s3", "storage_endpoint": "s3.amazonaws.com"})


def test_strings_the_argument_spec_accepts_are_converted_like_it_does():
    # -e tracefleet_tempo_retention_days=14 reaches the role as a string, which the spec accepts
    assert config({"retention_days": "14"})["compactor"]["compaction"]["block_retention"] == "336h"
    assert config({"metrics_generator_enabled": "true", "metrics_generator_remote_write_url": "http://p:9090/api/v1/write"})["metrics_generator"]
    assert errors({"remove_namespace": "yes", "remove_data": "1"}) == []
    assert errors({"remove_namespace": "yes", "remove_data": "no"})[0].startswith("tracefleet_tempo_remove_namespace ")


def test_unknown_settings_are_refused():
    with pytest.raises(AnsibleFilterError, match="unknown tempo settings: retention"):
        errors({"retention": "168h"})


def test_valid_input_has_no_problems():
    for settings in ({}, S3, GCS, AZURE, {"mode": "external", "external_otlp_grpc_endpoint": "tempo.example.com:443",
                                          "external_query_url": "https://tempo.example.com",
                                          "external_otlp_http_endpoint": "https://tempo.example.com/otlp"},
                     {"remove_namespace": True, "remove_data": True}):
        assert errors(settings) == []
