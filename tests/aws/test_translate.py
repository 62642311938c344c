"""AWS's own rules and the portable -> AWS mapping, checked before any resource is declared."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from infra.config import resolve
from providers.aws.translate import SAGEMAKER_FEATURE_TYPES, SIZES, to_eventbridge_cron, to_monitor_cron
from providers.spec import INSTANCE_SIZES, SpecError
from providers.spec import PORTABLE_FEATURE_TYPES as PORTABLE_TYPES

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "Pulumi.aws-dev.yaml").read_text())["config"]


def resolve_with(**changes):
    config = copy.deepcopy(CONFIG)
    for key, value in changes.items():
        node = config
        parts = key.split("__")
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value
    return resolve("test", config.get)


def test_every_portable_value_has_an_aws_mapping():
    assert set(SAGEMAKER_FEATURE_TYPES) == set(PORTABLE_TYPES)
    assert set(SAGEMAKER_FEATURE_TYPES.values()) <= {"Integral", "Fractional", "String"}
    assert set(SIZES) == set(INSTANCE_SIZES)


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 3 * * *", "cron(0 3 * * ? *)"),
        ("*/15 * * * *", "cron(0/15 * * * ? *)"),  # EventBridge's documented increment form
        ("0 6 1 * *", "cron(0 6 1 * ? *)"),
        ("30 2 * * 1-5", "cron(30 2 ? * 2-6 *)"),  # Mon-Fri: AWS counts Sunday as 1
        ("0 0 * * 0,6", "cron(0 0 ? * 1,7 *)"),
        ("0 0 * * 7", "cron(0 0 ? * 1 *)"),
        ("0 9 * * MON", "cron(0 9 ? * 2 *)"),
        ("0 9 * * MON-FRI", "cron(0 9 ? * 2-6 *)"),
        ("0 9 * * 1-fri", "cron(0 9 ? * 2-6 *)"),
        ("0 3 * * */2", "cron(0 3 ? * 1,3,5,7 *)"),  # no `/` in EventBridge's day-of-week: a list
        ("0 3 * * 1-5/2", "cron(0 3 ? * 2,4,6 *)"),  # Mon, Wed, Fri
        ("0 3 * * 0-6", "cron(0 3 * * ? *)"),  # every day
        ("0 3 * * 0-7", "cron(0 3 * * ? *)"),  # every day, not Sundays only
        ("0 3 * * 6,0", "cron(0 3 ? * 1,7 *)"),
        ("0 3 * * 5-7", "cron(0 3 ? * 1,6-7 *)"),  # Fri-Sun: a range that wraps in AWS's numbering
        ("0 */6 * 1-6 *", "cron(0 0/6 * 1-6 ? *)"),
    ],
)
def test_eventbridge_cron(cron, expected):
    assert to_eventbridge_cron(cron, "k") == expected


@pytest.mark.parametrize("cron", ["0 3 * * 5#3", "0 3 * * 5L", "0 3 L * *", "0 3 15W * *", "0 3 ? * 1"])
def test_dialect_extensions_are_refused(cron):
    with pytest.raises(SpecError, match="dialect extension") as info:
        to_eventbridge_cron(cron, "mlops:platform.pipeline.schedule")
    assert info.value.key == "mlops:platform.pipeline.schedule"


def test_eventbridge_cannot_use_both_day_fields():
    with pytest.raises(SpecError, match="both the day of month and the day of week") as info:
        to_eventbridge_cron("0 0 1 * 1", "mlops:platform.pipeline.schedule")
    assert info.value.key == "mlops:platform.pipeline.schedule"


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 * * * *", "cron(0 * ? * * *)"),
        ("0 */1 * * *", "cron(0 * ? * * *)"),
        ("0 4 * * *", "cron(0 4 ? * * *)"),
        ("0 */6 * * *", "cron(0 0/6 ? * * *)"),
        ("0 2-23/3 * * *", "cron(0 2/3 ? * * *)"),
        ("0 */12 * * *", "cron(0 0/12 ? * * *)"),
        ("0 5,17 * * *", "cron(0 5/12 ? * * *)"),
        ("0 * * * 0-7", "cron(0 * ? * * *)"),
    ],
)
def test_monitor_cron_emits_only_the_documented_shapes(cron, expected):
    assert to_monitor_cron(cron, "k") == expected


@pytest.mark.parametrize(
    "cron",
    [
        "15 * * * *",
        "0 0 * * 1",
        "0 0 1 * *",
        "0 1,5 * * *",
        "0 1-4 * * *",
        "0 */6 * 2 *",
        "0,30 * * * *",
        "0 */5 * * *",  # 5 does not divide 24: "every 5 hours" and "at 0,5,10,15,20" differ
        "0 13-23/6 * * *",  # 13, 19: starts after its own step
    ],
)
def test_monitor_cron_rejects_what_model_monitor_cannot_run(cron):
    with pytest.raises(SpecError, match="on the hour"):
        to_monitor_cron(cron, "mlops:platform.monitor.schedule")


def test_translation_of_the_example_stack():
    _, deployment = resolve("aws-dev", CONFIG.get)
    s = deployment.settings
    assert s.region == "eu-west-1"
    assert s.training_instance == "ml.m5.xlarge"
    assert s.endpoint_instance == "ml.m5.large" and s.endpoint_vcpus == 2
    assert s.feature_group_names == {"customer_profile": "churn-dev-customer_profile"}
    assert s.feature_types["customer_profile"] == {
        "customer_id": "String",
        "event_time": "String",
        "tenure_months": "Integral",
        "monthly_charges": "Fractional",
        "contract_type": "String",
        "support_calls": "Integral",
        "total_charges": "Fractional",
        "payment_method": "String",
        "paperless_billing": "Integral",
        "avg_monthly_spend": "Fractional",
        "support_calls_per_year": "Fractional",
    }
    assert s.monitor_image == "468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer:latest"


@pytest.mark.parametrize(
    ("changes", "key", "rule"),
    [
        ({"aws:region": "europe"}, "aws:region", "must be an AWS region"),
        ({"aws:region": None}, "aws:region", "is required when mlops:cloud is aws"),
        ({"aws:region": "xx-east-9"}, "aws:region", "botocore's partition data has no 'xx-east-9'"),
        ({"aws:region": 5}, "aws:region", "must be an AWS region"),
        ({"mlops:platform__monitor__schedule": "30 * * * *"}, "mlops:platform.monitor.schedule", "on the hour"),
        ({"mlops:platform__pipeline__schedule": "0 0 1 * 1"}, "mlops:platform.pipeline.schedule", "both the day"),
        ({"mlops:platform__pipeline__schedule": "0 3 * * 1#2"}, "mlops:platform.pipeline.schedule", "extension"),
        ({"mlops:platform__pipeline__schedule": "0 3 31 2 *"}, "mlops:platform.pipeline.schedule", "never fires"),
    ],
)
def test_aws_rules_name_the_key(changes, key, rule):
    with pytest.raises(SpecError) as info:
        resolve_with(**changes)
    assert info.value.key == key
    assert rule in info.value.rule


def test_feature_group_name_too_long_for_sagemaker():
    config = copy.deepcopy(CONFIG)
    groups = config["mlops:platform"]["feature_store"]["feature_groups"]
    groups.append({**copy.deepcopy(groups[0]), "name": "g" * 60})  # a group the pipeline does not read
    with pytest.raises(SpecError, match="feature group name") as info:
        resolve("t", config.get)
    assert info.value.key == "mlops:platform.feature_store.feature_groups[1].name"


def _botocore_max(operation: str, member: str) -> int:
    """A member's max length, read from botocore's own SageMaker service model."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.operation_model(operation).input_shape.members[member].metadata["max"]


def test_feature_group_description_limit_is_botocores():
    limit = _botocore_max("CreateFeatureGroup", "Description")
    config = copy.deepcopy(CONFIG)
    group = config["mlops:platform"]["feature_store"]["feature_groups"][0]
    group["description"] = "d" * limit
    resolve("t", config.get)  # at the limit: accepted
    group["description"] = "d" * (limit + 1)
    with pytest.raises(SpecError) as info:
        resolve("t", config.get)
    assert info.value.key == "mlops:platform.feature_store.feature_groups[0].description"
    assert f"SageMaker allows at most {limit}" in info.value.rule


def test_regions_are_botocores_sagemaker_regions():
    import botocore.session

    session = botocore.session.get_session()
    regions = set()
    for partition in session.get_available_partitions():
        regions |= set(session.get_available_regions("sagemaker", partition))
    with_monitor = {r for r in regions if "fips" not in r}
    accepted = set()
    for region in sorted(with_monitor):
        try:
            resolve_with(**{"aws:region": region})
            accepted.add(region)
        except SpecError as exc:
            assert exc.key == "aws:region" and "Model Monitor is not offered" in exc.rule, (region, exc)
    assert "eu-west-1" in accepted and len(accepted) > 20
    for region in ("mars-1", "eu-west-99", "EU-WEST-1"):
        with pytest.raises(SpecError) as info:
            resolve_with(**{"aws:region": region})
        assert info.value.key == "aws:region"
