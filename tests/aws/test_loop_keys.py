"""The one-loop keys the contract suite reads from an AWS plan (tests/contract/extractors/aws.py,
`extract_loop`), on the example, every-option and builtin stacks: one request schema from serving to
the alarms, the kit's statistic and window, the cooldown, the rollout. Expected values are literal."""

from __future__ import annotations

from tests.contract.extractors.aws import extract, extract_loop

REQUEST = [
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "contract_type",
    "payment_method",
    "paperless_billing",
    "avg_monthly_spend",
    "support_calls_per_year",
]
"""churn's request schema (its data contract), in request order."""


def test_the_example_stack(aws_plans):
    got = extract_loop(aws_plans["aws-dev"])
    assert got == {
        "served_columns": REQUEST,
        "captured_columns": REQUEST,
        "baseline_columns": REQUEST,
        "drift_metric_columns": REQUEST,
        "alarm_columns": REQUEST,
        "drift_statistic": "kit",
        "drift_window_hours": 1,
        "retrain_cooldown_hours": 24,
        "rollout": {
            "strategy": "all_at_once",
            "canary_percent": None,
            "step_percent": None,
            "bake_minutes": 0,
            "rollback": {},
        },
    }
    base = extract(aws_plans["aws-dev"])
    assert (base["monitor_schedule"], base["training_schedule"], base["drift_threshold"]) == (
        "0 * * * *",
        "0 3 * * *",
        0.2,
    )
    assert base["retrain_on_drift"] is True and base["served_version"] == 1


def test_every_option(aws_plans):
    got = extract_loop(aws_plans["aws-all-options"])
    assert got["served_columns"] == got["alarm_columns"] == got["drift_metric_columns"] == REQUEST
    assert (got["drift_statistic"], got["drift_window_hours"], got["retrain_cooldown_hours"]) == ("kit", 6, 12)
    assert got["rollout"] == {
        "strategy": "linear",
        "canary_percent": None,
        "step_percent": 25,
        "bake_minutes": 15,
        "rollback": {"error_rate": 0.02, "p99_latency_ms": 400},
    }
    assert extract(aws_plans["aws-all-options"])["served_version"] == 3  # not the shadow's 4


def test_the_builtin_monitor(aws_plans):
    got = extract_loop(aws_plans["aws-builtin"])
    assert (got["drift_statistic"], got["drift_window_hours"]) == ("sagemaker-model-monitor", 1)
    assert got["alarm_columns"] == got["drift_metric_columns"] == REQUEST
    assert got["rollout"] == {
        "strategy": "canary",
        "canary_percent": 20,
        "step_percent": None,
        "bake_minutes": 5,
        "rollback": {"error_rate": 0.05},  # the spec's default
    }
    assert extract(aws_plans["aws-builtin"])["monitor_schedule"] == "0 * * * *"
