"""providers/aws/translate.py: the example stack's whole settings and each helper's table, written
out literally (the tests `scripts/mutation.py --only aws-translate` runs per mutant, with
tests/aws/test_translate.py and tests/aws/test_sizes.py). No stack is planned.

Sources: EventBridge cron expressions (Sunday = 1, `?` in day-of-month or day-of-week), SageMaker
Model Monitor's ScheduleConfig forms, botocore's TrafficRoutingConfig / BlueGreenUpdatePolicy
limits (WaitIntervalInSeconds 0-3600, MaximumExecutionTimeoutInSeconds 600-28800).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import load_stack_file, resolve_file
from providers.aws import translate as t
from providers.spec import SpecError, parse_platform

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = yaml.safe_load((ROOT / "Pulumi.aws-dev.yaml").read_text(encoding="utf-8"))["config"]["mlops:platform"]


def test_the_example_stack_translates_to_exactly_these_settings():
    _, deployment = resolve_file(load_stack_file(ROOT / "Pulumi.aws-dev.yaml"))
    assert deployment.settings == t.AwsSettings(
        region="eu-west-1",
        prefix="churn-dev",
        training_instance="ml.m5.xlarge",
        endpoint_instance="ml.m5.large",
        endpoint_vcpus=2,
        training_volume_kms=True,
        endpoint_volume_kms=True,
        image=t.FrameworkImage(table="sklearn", version="1.4-2-py312", python="3.12", gpu=False, ships=()),
        private_network=True,
        feature_types={
            "customer_profile": {
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
        },
        feature_group_names={"customer_profile": "churn-dev-customer_profile"},
        model_package_group="churn-dev-models",
        pipeline_name="churn-dev-churn",
        training_schedule="cron(0 3 * * ? *)",
        schedule_name="churn-dev-training",
        retrain_rule_name="churn-dev-retrain-on-drift",
        endpoint_name="churn-dev-endpoint-small",
        monitor_schedule="cron(0 * ? * * *)",
        monitor_image="468650794304.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer:latest",
        image_repositories=("arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-scikit-learn",),
        engine="kit",
        drift_window_hours=1,
        drift_schedule_name="churn-dev-drift-check",
        drift_schedule_group="churn-dev-drift",
        drift_namespace="mlops/churn-dev",
        retrain_cooldown_hours=24,
        guard_function_name="churn-dev-retrain-guard",
        rollout=None,
        shadow_version=None,
        shadow_weight=None,
        approver_policy_name="mlops-churn-dev-model-approver",
        evaluation_reports="runs/churn/*/evaluation.json",
    )


@pytest.mark.parametrize(
    ("cron", "eventbridge"),
    [
        ("0 3 * * *", "cron(0 3 * * ? *)"),
        ("0 3 * * 1-5", "cron(0 3 ? * 2-6 *)"),
        ("*/15 * * * *", "cron(0/15 * * * ? *)"),
        ("0 0 1 * *", "cron(0 0 1 * ? *)"),
        ("0 3 * * 0,6", "cron(0 3 ? * 1,7 *)"),
        ("0 3 * * 7", "cron(0 3 ? * 1 *)"),
        ("0 3 * * */2", "cron(0 3 ? * 1,3,5,7 *)"),
        ("5-50/15 2 * 1-6 *", "cron(5/15 2 * 1-6 ? *)"),
    ],
)
def test_a_portable_cron_in_eventbridges_dialect(cron, eventbridge):
    assert t.to_eventbridge_cron(cron, "k") == eventbridge


@pytest.mark.parametrize(
    ("cron", "monitor", "hours"),
    [
        ("0 * * * *", "cron(0 * ? * * *)", 1),
        ("0 3 * * *", "cron(0 3 ? * * *)", 24),
        ("0 */6 * * *", "cron(0 0/6 ? * * *)", 6),
        ("0 2-23/6 * * *", "cron(0 2/6 ? * * *)", 6),
        ("0 */1 * * *", "cron(0 * ? * * *)", 1),
    ],
)
def test_the_drift_check_schedules_aws_takes_and_their_window(cron, monitor, hours):
    assert t.to_monitor_cron(cron, "k") == monitor
    assert t.drift_window_hours(monitor) == hours


@pytest.mark.parametrize(
    "cron", ["5 * * * *", "0 3 * * 1", "0 3 1 * *", "0 */5 * * *", "0 6-23/6 * * *", "0 1,2 * * *"]
)
def test_a_drift_check_schedule_aws_cannot_run_is_refused(cron):
    with pytest.raises(SpecError) as raised:
        t.to_monitor_cron(cron, "k")
    assert (raised.value.key, raised.value.rule) == (
        "k",
        f"{cron!r}: on AWS the drift check runs on the hour at a fixed interval (its window), hourly, every N "
        "hours (N dividing 24) or daily, as SageMaker Model Monitor's ScheduleConfig documents: use "
        "'0 * * * *', '0 */N * * *' or '0 H * * *'",
    )


def _rollout(**rollout: Any):
    platform = copy.deepcopy(PLATFORM)
    platform["endpoint"]["rollout"] = rollout
    return t.rollout_settings(parse_platform(platform))


def test_rollouts_in_sagemakers_terms():
    assert _rollout(strategy="all_at_once") is None
    assert _rollout(strategy="linear", step_percent=25, bake_minutes=10) == t.RolloutSettings(
        traffic="LINEAR", step_percent=25, wait_seconds=600, maximum_seconds=4200, error_rate=0.05, p99_latency_us=None
    )
    # 30% steps: 4 steps (30, 60, 90, 100), each baked 60 minutes, the most SageMaker waits.
    assert _rollout(strategy="linear", step_percent=30, bake_minutes=60) == t.RolloutSettings(
        traffic="LINEAR",
        step_percent=30,
        wait_seconds=3600,
        maximum_seconds=16200,
        error_rate=0.05,
        p99_latency_us=None,
    )
    canary = _rollout(
        strategy="canary", canary_percent=10, bake_minutes=5, rollback_on={"error_rate": 0.02, "p99_latency_ms": 300}
    )
    assert canary == t.RolloutSettings(
        traffic="CANARY",
        step_percent=10,
        wait_seconds=300,
        maximum_seconds=2400,
        error_rate=0.02,
        p99_latency_us=300000,
    )


@pytest.mark.parametrize(
    ("rollout", "key", "rule"),
    [
        (
            {"strategy": "canary", "canary_percent": 10, "bake_minutes": 61},
            "mlops:platform.endpoint.rollout.bake_minutes",
            "is 61; SageMaker bakes at most 60 minutes between traffic steps "
            "(TrafficRoutingConfig WaitIntervalInSeconds, 0-3600)",
        ),
        (
            {"strategy": "linear", "step_percent": 9, "bake_minutes": 5},
            "mlops:platform.endpoint.rollout.step_percent",
            "is 9; a SageMaker linear step is 10-50% of the variant's capacity (TrafficRoutingConfig LinearStepSize)",
        ),
        (
            # 10 steps of 46 minutes + 30 minutes to provision = 29,400 seconds: over 8 hours
            {"strategy": "linear", "step_percent": 10, "bake_minutes": 46},
            "mlops:platform.endpoint.rollout.bake_minutes",
            "10 steps of 46 minutes take longer than a SageMaker deployment may run (8 hours, "
            "BlueGreenUpdatePolicy MaximumExecutionTimeoutInSeconds): bake less or take larger steps",
        ),
    ],
)
def test_a_rollout_sagemaker_cannot_run_is_refused(rollout, key, rule):
    with pytest.raises(SpecError) as raised:
        _rollout(**rollout)
    assert (raised.value.key, raised.value.rule) == (key, rule)


def test_a_rollout_of_exactly_eight_hours_is_accepted():
    # 9 steps (12% each: 12, 24, ... 96, 100) x 50 minutes + 30 minutes = 28,800 seconds
    settings = _rollout(strategy="linear", step_percent=12, bake_minutes=50)
    assert (settings.wait_seconds, settings.maximum_seconds) == (3000, 28800)


# --- found by mutation testing (scripts/mutation.py --only aws-translate, partial run) ---------------


def test_processing_steps_run_on_the_cpu_size_of_a_gpu_training_instance():
    assert t.processing_instance("ml.g4dn.xlarge") == "ml.m5.xlarge"
    assert t.processing_instance("ml.m5.2xlarge") == "ml.m5.2xlarge"
    assert t.processing_instance("ml.m5.large") == "ml.m5.large"


def test_a_model_package_lists_every_size_its_image_can_serve_on():
    cpu = t.FrameworkImage(table="sklearn", version="1.4-2-py312", python="3.12", gpu=False, ships=())
    gpu = t.FrameworkImage(table="xgboost", version="1.7-1", python="3.10", gpu=True, ships=())
    assert t.serving_instances(cpu) == ("ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge")
    assert t.serving_instances(gpu) == ("ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge", "ml.g4dn.xlarge")


def test_the_alarms_a_rollout_rolls_back_on():
    import dataclasses

    _, deployment = resolve_file(load_stack_file(ROOT / "Pulumi.aws-dev.yaml"))
    settings = deployment.settings
    assert t.rollback_alarms(settings) == []
    rollout = t.RolloutSettings(
        traffic="CANARY",
        step_percent=10,
        wait_seconds=300,
        maximum_seconds=2400,
        error_rate=0.02,
        p99_latency_us=300000,
    )
    assert t.rollback_alarms(dataclasses.replace(settings, rollout=rollout)) == [
        {
            "suffix": "error-rate",
            "name": "churn-dev-rollout-error-rate",
            "description": (
                "Share of failed invocations of churn-dev-endpoint-small's new fleet (the endpoint configuration "
                "a rollout deploys) above 0.02"
            ),
            "metric": "Invocation5XXErrors",
            "statistic": {"statistic": "Average"},
            "threshold": 0.02,
            "fleet": "new",
        },
        {
            "suffix": "error-rate-all",
            "name": "churn-dev-rollout-error-rate-all",
            "description": (
                "Share of failed invocations of churn-dev-endpoint-small's variant (old and new fleet together) "
                "above 0.02"
            ),
            "metric": "Invocation5XXErrors",
            "statistic": {"statistic": "Average"},
            "threshold": 0.02,
            "fleet": "all",
        },
        {
            "suffix": "p99-latency",
            "name": "churn-dev-rollout-p99-latency",
            "description": (
                "p99 model latency of churn-dev-endpoint-small's new fleet (the endpoint configuration a rollout "
                "deploys) above 300000 us"
            ),
            "metric": "ModelLatency",
            "statistic": {"extended_statistic": "p99"},
            "threshold": 300000.0,
            "fleet": "new",
        },
    ]
    only_latency = dataclasses.replace(rollout, error_rate=None)
    assert [a["suffix"] for a in t.rollback_alarms(dataclasses.replace(settings, rollout=only_latency))] == [
        "p99-latency"
    ]
    assert isinstance(t.rollback_alarms(dataclasses.replace(settings, rollout=rollout))[2]["threshold"], float)


@pytest.mark.parametrize(
    ("image", "arn"),
    [
        (
            "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3",
            "arn:aws:ecr:eu-west-1:141502667606:repository/sagemaker-scikit-learn",
        ),
        (
            "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-xgboost:1.7-1",
            "arn:aws-cn:ecr:cn-north-1:450853457545:repository/sagemaker-xgboost",
        ),
    ],
)
def test_the_ecr_repository_of_an_image(image, arn):
    assert t.repository_arn(image) == arn
