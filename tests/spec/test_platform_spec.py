"""The portable rules of `mlops:platform`: each broken rule names its key and the rule."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from pipelines import get_pipeline
from providers.spec import CLOUDS, Platform, SpecError, check_data_contract, parse_cloud, parse_platform

ROOT = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((ROOT / "Pulumi.aws-dev.yaml").read_text())["config"]["mlops:platform"]


def with_change(path: str, value):
    data = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


DELETE = object()


def test_example_description_is_valid_and_fills_defaults():
    platform = parse_platform(BASE)
    assert isinstance(platform, Platform)
    assert platform.prefix == "churn-dev"
    assert platform.network.public_access is False
    assert platform.protect_data is True
    assert platform.all_tags == {"mlops-platform": "churn", "mlops-environment": "dev", "team": "ml-platform"}


def test_minimal_description_gets_secure_defaults():
    platform = parse_platform(
        {
            "name": "abc",
            "environment": "prod",
            "pipeline": {"name": "churn", "quality_gate": {"threshold": 0.7}},
            "monitor": {"drift_threshold": 0.1, "alert_email": "a@b.io"},
        }
    )
    assert platform.endpoint.model_version is None
    assert platform.registry.approval == "manual"
    assert platform.pipeline.schedule is None
    assert platform.pipeline.quality_gate.metric == "roc_auc"


@pytest.mark.parametrize(
    ("path", "value", "key", "rule"),
    [
        ("name", "Churn", "mlops:platform.name", "lowercase letters"),
        ("name", "ab", "mlops:platform.name", "3-20 characters"),
        ("name", "a" * 21, "mlops:platform.name", "3-20 characters"),
        ("name", "1churn", "mlops:platform.name", "starting with a letter"),
        ("name", "churn-", "mlops:platform.name", "end with a hyphen"),
        ("environment", "qa", "mlops:platform.environment", "'dev', 'staging' or 'prod'"),
        ("tags", {"Team": "x"}, "mlops:platform.tags", "tag key 'Team'"),
        ("tags", {"team": "ML Platform"}, "mlops:platform.tags", "value"),
        ("surprise", 1, "mlops:platform.surprise", "unknown key"),
        ("pipeline.name", "nope", "mlops:platform.pipeline.name", "unknown pipeline 'nope'"),
        ("pipeline.schedule", "0 3 * *", "mlops:platform.pipeline.schedule", "five-field cron"),
        ("pipeline.schedule", "61 3 * * *", "mlops:platform.pipeline.schedule", "minute 61 is out of range 0-59"),
        ("pipeline.instance", "huge", "mlops:platform.pipeline.instance", "'small', 'medium', 'large' or 'gpu'"),
        ("pipeline.quality_gate.metric", "ROC-AUC", "mlops:platform.pipeline.quality_gate.metric", "lowercase letters"),
        (
            "pipeline.quality_gate.threshold",
            1.5,
            "mlops:platform.pipeline.quality_gate.threshold",
            "less than or equal to 1",
        ),
        ("pipeline.quality_gate", DELETE, "mlops:platform.pipeline.quality_gate", "is required"),
        ("registry.approval", "sometimes", "mlops:platform.registry.approval", "'manual' or 'auto'"),
        ("endpoint.model_version", 0, "mlops:platform.endpoint.model_version", "greater than or equal to 1"),
        ("endpoint.min_replicas", 0, "mlops:platform.endpoint.min_replicas", "greater than or equal to 1"),
        ("endpoint.max_replicas", 0, "mlops:platform.endpoint.max_replicas", "greater than or equal to 1"),
        ("endpoint.target_cpu_percent", 100, "mlops:platform.endpoint.target_cpu_percent", "less than or equal to 95"),
        (
            "endpoint.data_capture_percent",
            101,
            "mlops:platform.endpoint.data_capture_percent",
            "less than or equal to 100",
        ),
        ("endpoint.instance", "xl", "mlops:platform.endpoint.instance", "'small', 'medium', 'large' or 'gpu'"),
        ("monitor.drift_threshold", 0, "mlops:platform.monitor.drift_threshold", "greater than 0"),
        ("monitor.alert_email", "oncall", "mlops:platform.monitor.alert_email", "e-mail address"),
        ("monitor.schedule", "every hour", "mlops:platform.monitor.schedule", "five-field cron"),
        ("monitor", DELETE, "mlops:platform.monitor", "is required"),
        (
            "feature_store.feature_groups.0.name",
            "Customer",
            "mlops:platform.feature_store.feature_groups[0].name",
            "lowercase",
        ),
        (
            "feature_store.feature_groups.0.features",
            [],
            "mlops:platform.feature_store.feature_groups[0].features",
            "at least 1",
        ),
        (
            "feature_store.feature_groups.0.features.0.type",
            "decimal",
            "mlops:platform.feature_store.feature_groups[0].features[0].type",
            "'int', 'float', 'string', 'bool' or 'timestamp'",
        ),
        (
            "feature_store.feature_groups.0.event_time",
            "customer_id",
            "mlops:platform.feature_store.feature_groups[0]",
            "entity and event_time must be different",
        ),
    ],
)
def test_each_rule_names_key_and_rule(path, value, key, rule):
    with pytest.raises(SpecError) as info:
        parse_platform(with_change(path, value))
    assert info.value.key == key
    assert rule in info.value.rule


def test_max_below_min_replicas():
    data = with_change("endpoint.min_replicas", 5)
    with pytest.raises(SpecError, match=r"max_replicas \(4\) must be >= min_replicas \(5\)") as info:
        parse_platform(data)
    assert info.value.key == "mlops:platform.endpoint"


def test_duplicate_feature_and_group_names():
    data = copy.deepcopy(BASE)
    group = data["feature_store"]["feature_groups"][0]
    group["features"].append(dict(group["features"][0]))
    with pytest.raises(SpecError, match="duplicate feature names: tenure_months"):
        parse_platform(data)
    data = copy.deepcopy(BASE)
    data["feature_store"]["feature_groups"].append(copy.deepcopy(data["feature_store"]["feature_groups"][0]))
    with pytest.raises(SpecError, match="duplicate feature group names: customer_profile"):
        parse_platform(data)


def test_feature_repeating_entity_is_rejected():
    data = copy.deepcopy(BASE)
    data["feature_store"]["feature_groups"][0]["features"].append({"name": "customer_id", "type": "string"})
    with pytest.raises(SpecError, match="repeats the entity or event_time column"):
        parse_platform(data)


def test_platform_must_be_a_mapping():
    with pytest.raises(SpecError) as info:
        parse_platform("churn")
    assert info.value.key == "mlops:platform"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_known_clouds(cloud):
    assert parse_cloud(cloud) == cloud


@pytest.mark.parametrize(("raw", "rule"), [(None, "is required"), ("oracle", "unknown cloud 'oracle'")])
def test_bad_cloud(raw, rule):
    with pytest.raises(SpecError, match=rule) as info:
        parse_cloud(raw)
    assert info.value.key == "mlops:cloud"


@pytest.mark.parametrize("value", [True, "4", 4.0])
def test_wrong_types_are_rejected_not_coerced(value):
    with pytest.raises(SpecError) as info:
        parse_platform(with_change("endpoint.max_replicas", value))
    assert info.value.key == "mlops:platform.endpoint.max_replicas"


def test_data_capture_cannot_be_off_while_a_monitor_reads_it():
    with pytest.raises(SpecError, match="greater than or equal to 1") as info:
        parse_platform(with_change("endpoint.data_capture_percent", 0))
    assert info.value.key == "mlops:platform.endpoint.data_capture_percent"


def test_reserved_tags_cannot_be_overridden():
    with pytest.raises(SpecError, match="the mlops- prefix is the kit's own") as info:
        parse_platform(with_change("tags", {"mlops-environment": "prod"}))
    assert info.value.key == "mlops:platform.tags"


# --- rollout and shadow -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "key", "rule"),
    [
        ({"rollout": {"canary_percent": 0}}, "endpoint.rollout.canary_percent", "greater than or equal to 1"),
        ({"rollout": {"canary_percent": 51}}, "endpoint.rollout.canary_percent", "less than or equal to 50"),
        ({"rollout": {"step_percent": 4}}, "endpoint.rollout.step_percent", "greater than or equal to 5"),
        ({"rollout": {"bake_minutes": 1441}}, "endpoint.rollout.bake_minutes", "less than or equal to 1440"),
        ({"rollout": {"strategy": "blue"}}, "endpoint.rollout.strategy", "'all_at_once', 'canary' or 'linear'"),
        ({"rollout": {"rollback_on": {"error_rate": 0}}}, "endpoint.rollout.rollback_on.error_rate", "greater than 0"),
        ({"shadow": {"model_version": 1}}, "endpoint", "is the version served"),
        ({"model_version": None, "shadow": {"model_version": 2}}, "endpoint", "needs a served model_version"),
        ({"shadow": {"model_version": 2, "sample_percent": 101}}, "endpoint.shadow.sample_percent", "less than"),
    ],
)
def test_rollout_and_shadow_bounds(endpoint, key, rule):
    raw = copy.deepcopy(BASE)
    raw["endpoint"].update(endpoint)
    with pytest.raises(SpecError) as info:
        parse_platform(raw)
    assert info.value.key == f"mlops:platform.{key}"
    assert rule in info.value.rule


def test_rollout_defaults_and_edges_accepted():
    raw = copy.deepcopy(BASE)
    raw["endpoint"].update(
        rollout={"strategy": "canary", "canary_percent": 50, "step_percent": 5, "bake_minutes": 1},
        shadow={"model_version": 2, "sample_percent": 1},
    )
    endpoint = parse_platform(raw).endpoint
    assert (endpoint.rollout.strategy, endpoint.rollout.canary_percent, endpoint.shadow.sample_percent) == (
        "canary",
        50,
        1,
    )
    default = parse_platform(copy.deepcopy(BASE)).endpoint.rollout
    assert (default.strategy, default.rollback_on.error_rate, default.rollback_on.p99_latency_ms) == (
        "all_at_once",
        0.05,
        None,
    )


# --- the quality gate judges a metric the pipeline reports ----------------------------------------


@pytest.mark.parametrize("metric", ["roc_auc", "accuracy", "f1", "precision", "recall"])
def test_any_metric_the_pipeline_reports_is_a_gate(metric):
    platform = parse_platform(with_change("pipeline.quality_gate.metric", metric))
    check_data_contract(platform, get_pipeline("churn"))  # no error
    assert platform.pipeline.quality_gate.metric == metric


def test_a_gate_on_a_metric_the_pipeline_does_not_report_names_the_key_and_the_metrics():
    # "auc" is a well-formed metric name: the platform parses; the pipeline refuses it
    platform = parse_platform(with_change("pipeline.quality_gate.metric", "auc"))
    with pytest.raises(SpecError) as info:
        check_data_contract(platform, get_pipeline("churn"))
    assert info.value.key == "mlops:platform.pipeline.quality_gate.metric"
    assert info.value.rule == (
        "'auc' is not a metric pipeline 'churn' reports; its metrics: roc_auc, accuracy, f1, precision, recall"
    )
