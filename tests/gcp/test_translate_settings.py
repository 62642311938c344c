"""providers/gcp/translate.py: the whole settings of the example stack and each helper's table,
written out literally (the tests `scripts/mutation.py --only gcp-translate` runs per mutant, with
tests/gcp/test_translate.py). No stack is planned.

Sources of the values: the aiplatform SDK's SERVING_CONTAINER_URIS (prebuilt image tags, the
`europe`/`asia`/`us` mirrors), AiEndpoint's numeric name rule, the portable size table (CONTEXT,
issue 11), the drift window = the monitor schedule's (longest) interval.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from infra.config import load_stack_file, resolve_file
from pipelines.spec import Framework
from providers.gcp import translate as t
from providers.spec import SpecError

ROOT = Path(__file__).resolve().parents[2]

SCHEMA = [
    {"name": "customer_id", "type": "STRING", "mode": "REQUIRED"},
    {"name": "event_time", "type": "TIMESTAMP", "mode": "REQUIRED"},
    {"name": "tenure_months", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "monthly_charges", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "contract_type", "type": "STRING", "mode": "NULLABLE"},
    {"name": "support_calls", "type": "INTEGER", "mode": "NULLABLE"},
    {"name": "total_charges", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "payment_method", "type": "STRING", "mode": "NULLABLE"},
    {"name": "paperless_billing", "type": "BOOLEAN", "mode": "NULLABLE"},
    {"name": "avg_monthly_spend", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "support_calls_per_year", "type": "FLOAT", "mode": "NULLABLE"},
    {"name": "mlops_written_at", "type": "TIMESTAMP", "mode": "NULLABLE"},
]

EXPECTED = {
    "project": "my-ml-project",
    "region": "europe-west4",
    "prefix": "churn-dev",
    "labels": {"mlops-environment": "dev", "mlops-platform": "churn", "team": "ml-platform"},
    "bucket_name": "my-ml-project-churn-dev-mlops",
    "approvals_bucket": "my-ml-project-churn-dev-gate",
    "approvers": (),
    "service_account_id": "churn-dev-ml",
    "workflow_account_id": "churn-dev-retrain",
    "dataset_id": "churn_dev_features",
    "logs_dataset_id": "churn_dev_serving_logs",
    "online_store_name": "churn_dev_online",
    "feature_views": {"customer_profile": "customer_profile"},
    "feature_group_ids": {"customer_profile": "churn_dev_customer_profile"},
    "bq_schemas": {"customer_profile": SCHEMA},
    "source_views": {"customer_profile": "customer_profile_vertex_source"},
    "training_size": ("e2-standard-4", 4, 16, None),
    "serving_size": ("e2-standard-2", 2, 8, None),
    "step_limits": ("4", "16G"),
    "step_accelerator": None,
    "serving_machine": "e2-standard-2",
    "serving_accelerator": None,
    "model_id": "churn-dev-churn",
    "endpoint_id": "1966262384",
    "pipeline_display_name": "churn-dev-churn",
    "training_schedule": "0 3 * * *",
    "monitor_schedule": "0 * * * *",
    "drift_window_seconds": 3600,
    "drift_window_regular": True,
    "sampling_rate": 0.2,
    "serving_image": "europe-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-4:latest",
    "image_lookup": {
        "location": "europe",
        "project": "vertex-ai",
        "repository_id": "prediction",
        "image_name": "sklearn-cpu.1-4:latest",
    },
    "io_config": {
        "kind": "gcp",
        "project": "my-ml-project",
        "location": "europe-west4",
        "platform": "churn-dev",
        "features": {
            "customer_profile": {
                "table": "my-ml-project.churn_dev_features.customer_profile",
                "schema": SCHEMA,
                "entity": "customer_id",
                "event_time": "event_time",
            }
        },
        "written_at": "mlops_written_at",
        "capture": "my-ml-project.churn_dev_serving_logs.request_response_logging",
        "drift_log": "mlops-drift",
    },
    "log_bucket_id": "churn-dev-mlops-logs",
    "drift_log_filter": 'logName="projects/my-ml-project/logs/mlops-drift" AND jsonPayload.mlops_platform="churn-dev"',
    "private": True,
    "vpc_name": "churn-dev-mlops",
    "psc_subnet_cidr": "10.201.0.0/28",
}


def test_the_example_stack_translates_to_exactly_these_settings():
    _, deployment = resolve_file(load_stack_file(ROOT / "Pulumi.gcp-dev.yaml"))
    assert dataclasses.asdict(deployment.settings) == EXPECTED


@pytest.mark.parametrize(
    ("region", "area"),
    [
        ("europe-west4", "europe"),
        ("me-west1", "europe"),
        ("asia-east1", "asia"),
        ("australia-southeast1", "asia"),
        ("us-central1", "us"),
        ("northamerica-northeast1", "us"),
        ("africa-south1", "us"),
    ],
)
def test_the_prebuilt_image_mirror_nearest_each_region(region, area):
    assert t.image_area(region) == area


def test_the_serving_image_of_each_framework_and_its_digest_lookup():
    image = t.serving_image("us-central1", Framework("xgboost", "1.7.6"))
    assert image == "us-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.1-7:latest"
    assert t.image_lookup(image) == {
        "location": "us",
        "project": "vertex-ai",
        "repository_id": "prediction",
        "image_name": "xgboost-cpu.1-7:latest",
    }
    assert t.serving_image("asia-east1", Framework("scikit-learn", "1.4.2")) == (
        "asia-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-4:latest"
    )


@pytest.mark.parametrize(
    ("framework", "offered"),
    [
        (Framework("scikit-learn", "0.99.1"), "0.20, 0.22, 0.23, 0.24, 1.0, 1.2, 1.3, 1.4, 1.5, 1.6"),
        (Framework("lightgbm", "4.0.0"), "none"),
    ],
)
def test_a_framework_without_a_prebuilt_image_is_refused_listing_the_offered_ones(framework, offered):
    with pytest.raises(SpecError) as raised:
        t.serving_image("europe-west4", framework)
    minor = framework.version.rsplit(".", 1)[0]
    assert (raised.value.key, raised.value.rule) == (
        "mlops:platform.pipeline.name",
        f"trains with {framework.name} {framework.version}, but Vertex AI has no prebuilt prediction image for "
        f"{framework.name} {minor} (google-cloud-aiplatform's SERVING_CONTAINER_URIS offers {offered}): "
        "pin the pipeline's framework to one of those",
    )


@pytest.mark.parametrize(
    ("cron", "seconds", "regular"),
    [
        ("*/5 * * * *", 300, True),
        ("0 * * * *", 3600, True),
        ("0 */6 * * *", 21600, True),
        ("0 3 * * *", 86400, True),
        ("30 2 * * 0", 604800, True),
        ("0 3 * * 1-5", 259200, False),  # Friday 03:00 -> Monday 03:00
        ("0 0 1 * *", 2678400, False),  # the longest month, 31 days
    ],
)
def test_the_drift_window_is_the_schedules_longest_interval(cron, seconds, regular):
    assert t.schedule_window(cron) == (seconds, regular)


def test_the_endpoint_id_is_a_stable_ten_digit_number_per_prefix():
    assert t.endpoint_id("churn-dev") == "1966262384"
    assert t.endpoint_id("a-b") == "2833149503"


def test_vertex_regions_are_the_sdks_list():
    regions = t.vertex_regions()
    assert {"europe-west4", "us-central1", "asia-east1", "africa-south1"} <= regions
    assert "europe-west99" not in regions and all(isinstance(r, str) for r in regions)
    assert len(regions) == 43


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (
            "abcde",
            "service account id 'abcde' is 5 characters; GCP allows 6 to 30 (shorten the platform name or environment)",
        ),
        (
            "a" * 31,
            f"service account id '{'a' * 31}' is 31 characters; GCP allows 6 to 30 "
            "(shorten the platform name or environment)",
        ),
        ("1abcdef", "service account id '1abcdef' breaks the GCP naming rule ^[a-z][a-z0-9-]{4,28}[a-z0-9]$"),
    ],
)
def test_a_service_account_id_outside_the_rule_is_refused(value, rule):
    with pytest.raises(SpecError) as raised:
        t.check_service_account_id(value, "k")
    assert (raised.value.key, raised.value.rule) == ("k", rule)


def test_service_account_ids_at_the_edges_are_accepted():
    assert t.check_service_account_id("abcdef", "k") == "abcdef"
    assert t.check_service_account_id("a" * 30, "k") == "a" * 30


def test_online_store_names_and_feature_group_ids_at_their_edges():
    assert t.check_online_store_name("a" * 60, "k") == "a" * 60
    with pytest.raises(SpecError) as raised:
        t.check_online_store_name("a" * 61, "k")
    assert (raised.value.key, raised.value.rule) == (
        "k",
        f"feature online store / view id '{'a' * 61}' is 61 characters; Vertex AI allows at most 60 of [a-z0-9_]",
    )
    with pytest.raises(SpecError) as raised:
        t.check_online_store_name("a-b", "k")
    assert (
        raised.value.rule == "feature online store / view id 'a-b' breaks the GCP naming rule ^[a-z_][a-z0-9_]{0,59}$"
    )
    assert t.check_feature_group_id("a" * 128, "k") == "a" * 128
    with pytest.raises(SpecError) as raised:
        t.check_feature_group_id("a" * 129, "k")
    assert (raised.value.key, raised.value.rule) == (
        "k",
        f"feature group id '{'a' * 129}' (<name>_<environment>_<group>) is 129 characters; "
        "Vertex AI allows at most 128 of [a-z0-9_] (shorten the group name)",
    )


# --- found by mutation testing (scripts/mutation.py --only gcp-translate) ---------------------------

GPU_REGIONS = (
    "asia-east1, asia-northeast1, asia-northeast3, asia-south1, asia-southeast1, australia-southeast1, "
    "europe-west1, europe-west2, europe-west3, europe-west4, northamerica-northeast1, southamerica-east1, "
    "us-central1, us-east1, us-east4, us-west1, us-west2, us-west4"
)


def test_gpu_where_vertex_offers_no_t4_lists_the_regions_that_do():
    with pytest.raises(SpecError) as raised:
        t._gpu("gpu", "europe-north1", "k")
    assert (raised.value.key, raised.value.rule) == (
        "k",
        f"'gpu' maps to NVIDIA_TESLA_T4, which Vertex AI does not offer in europe-north1; use one of {GPU_REGIONS}",
    )
    assert t._gpu("gpu", "europe-west4", "k") == ("NVIDIA_TESLA_T4", 1)
    assert t._gpu("large", "europe-north1", "k") is None


def test_names_breaking_the_charset_name_their_key_and_what_they_are():
    with pytest.raises(SpecError) as raised:
        t.check_feature_group_id("churn-dev_profile", "k")
    assert (raised.value.key, raised.value.rule) == (
        "k",
        "feature group id 'churn-dev_profile' breaks the GCP naming rule ^[a-z_][a-z0-9_]{0,127}$",
    )
    with pytest.raises(SpecError) as raised:
        t.check_online_store_name("a-b", "k")
    assert raised.value.key == "k"


def test_without_the_aiplatform_sdk_the_regions_cannot_be_checked(monkeypatch, tmp_path):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SpecError) as raised:
        t.vertex_regions()
    assert (raised.value.key, raised.value.rule) == (
        "mlops:cloud",
        "the gcp provider needs google-cloud-aiplatform: pip install -e '.[gcp]'",
    )


def test_an_aiplatform_sdk_without_its_region_list_is_named(monkeypatch, tmp_path):
    import importlib.machinery
    import importlib.util

    (tmp_path / "constants").mkdir()
    (tmp_path / "constants" / "base.py").write_text("a.b = 1\nx, y = 1, 2\nOTHER = {'europe-west4'}\n")
    spec = importlib.machinery.ModuleSpec("google.cloud.aiplatform", None, is_package=True)
    spec.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(SpecError) as raised:
        t.vertex_regions()
    assert (raised.value.key, raised.value.rule) == (
        "mlops:cloud",
        f"google-cloud-aiplatform changed: no SUPPORTED_REGIONS in {tmp_path / 'constants' / 'base.py'}",
    )
    spec.submodule_search_locations = []
    with pytest.raises(SpecError) as raised:
        t.vertex_regions()
    assert raised.value.rule == "the gcp provider needs google-cloud-aiplatform: pip install -e '.[gcp]'"


WRITTEN_AT_TAKEN = "'mlops_written_at' is the column the kit stamps each feature-store write with: rename this column"
EXTRA = {
    "name": "flags",
    "entity": "customer_id",
    "event_time": "event_time",
    "online": False,
    "features": [{"name": "autopay", "type": "bool"}],
}


def _translate(**changes) -> t.GcpSettings:
    import copy

    import yaml

    from infra.config import resolve

    config = yaml.safe_load((ROOT / "Pulumi.gcp-dev.yaml").read_text(encoding="utf-8"))["config"]
    extra = copy.deepcopy(EXTRA)
    extra.update(changes.pop("extra", {}))
    config["mlops:platform"]["feature_store"]["feature_groups"].append(extra)
    config.update(changes)
    return resolve("gcp-dev", config.get)[1].settings


@pytest.mark.parametrize(
    ("extra", "key", "rule"),
    [
        ({"entity": "mlops_written_at"}, "mlops:platform.feature_store.feature_groups[1].entity", WRITTEN_AT_TAKEN),
        (
            {"event_time": "mlops_written_at"},
            "mlops:platform.feature_store.feature_groups[1].event_time",
            WRITTEN_AT_TAKEN,
        ),
        (
            {"features": [{"name": "a", "type": "int"}, {"name": "mlops_written_at", "type": "timestamp"}]},
            "mlops:platform.feature_store.feature_groups[1].features[1].name",
            WRITTEN_AT_TAKEN,
        ),
    ],
)
def test_the_column_the_kit_stamps_writes_with_is_reserved(extra, key, rule):
    with pytest.raises(SpecError) as raised:
        _translate(extra=extra)
    assert (raised.value.key, raised.value.rule) == (key, rule)


def test_a_project_id_breaking_the_rule_is_named():
    with pytest.raises(SpecError) as raised:
        _translate(**{"gcp:project": "My_Project"})
    assert (raised.value.key, raised.value.rule) == (
        "gcp:project",
        "must be a GCP project id (6-30 of a-z, 0-9, '-'), got 'My_Project'",
    )


TIMESTAMP_TAKEN = (
    "'feature_timestamp' is the column Vertex AI Feature Store reads the event time from (the kit exposes "
    "event_time under that name): name this column otherwise, or name the event_time column feature_timestamp"
)


@pytest.mark.parametrize(
    ("extra", "key", "rule"),
    [
        ({"entity": "feature_timestamp"}, "mlops:platform.feature_store.feature_groups[1].entity", TIMESTAMP_TAKEN),
        (
            {"features": [{"name": "a", "type": "int"}, {"name": "feature_timestamp", "type": "int"}]},
            "mlops:platform.feature_store.feature_groups[1].features[1].name",
            TIMESTAMP_TAKEN,
        ),
        (
            {"name": "customer_profile_vertex_source"},
            "mlops:platform.feature_store.feature_groups[1].name",
            "'customer_profile_vertex_source' is also the BigQuery view of another group (<group>_vertex_source): "
            "rename it",
        ),
    ],
)
def test_column_and_view_names_vertex_reserves(extra, key, rule):
    with pytest.raises(SpecError) as raised:
        _translate(extra=extra)
    assert (raised.value.key, raised.value.rule) == (key, rule)


def test_names_too_long_for_gcp_name_the_platform_name():
    import copy

    import yaml

    from infra.config import resolve

    config = yaml.safe_load((ROOT / "Pulumi.gcp-dev.yaml").read_text(encoding="utf-8"))["config"]
    long_name = copy.deepcopy(config)
    long_name["mlops:platform"]["name"] = "a" * 20  # a-...-dev-ml fits (27), a-...-dev-retrain does not (32)
    with pytest.raises(SpecError) as raised:
        resolve("gcp-dev", long_name.get)
    assert (raised.value.key, raised.value.rule) == (
        "mlops:platform.name",
        f"service account id '{'a' * 20}-dev-retrain' is 32 characters; GCP allows 6 to 30 "
        "(shorten the platform name or environment)",
    )
    long_bucket = copy.deepcopy(config)
    long_bucket["gcp:project"] = "p" * 30
    long_bucket["mlops:platform"].update(name="b" * 20, environment="staging")
    with pytest.raises(SpecError) as raised:
        resolve("gcp-staging", long_bucket.get)
    assert (raised.value.key, raised.value.rule) == (
        "mlops:platform.name",
        f"bucket name '{'p' * 30}-{'b' * 20}-staging-mlops' breaks the Cloud Storage rule "
        "^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$",
    )


def test_without_a_training_schedule_there_is_none():
    import yaml

    from infra.config import resolve

    config = yaml.safe_load((ROOT / "Pulumi.gcp-dev.yaml").read_text(encoding="utf-8"))["config"]
    config["mlops:platform"]["pipeline"]["schedule"] = None
    assert resolve("gcp-dev", config.get)[1].settings.training_schedule is None
