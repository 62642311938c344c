"""The AWS stacks the tests plan: the example, every option switched on, and the public variant."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE: dict[str, Any] = yaml.safe_load((ROOT / "Pulumi.aws-dev.yaml").read_text())

# Every option switched on: a schedule with a day-of-week range, a served version, two feature
# groups (online and offline-only, every feature type), automatic approval, retraining on drift
# with a cooldown, a linear rollout with both rollback alarms, a shadow version, the private network
# (the default, written out), more user tags than an S3 object takes, the longest name and
# environment the spec allows.
ALL_OPTIONS: dict[str, Any] = {
    "config": {
        "mlops:cloud": "aws",
        "aws:region": "us-east-1",
        "mlops:platform": {
            "name": "churn-prediction-eu1",
            "environment": "staging",
            "tags": {f"tag-{i}": f"value-{i}" for i in range(9)},
            "protect_data": True,
            "network": {"public_access": False},
            "feature_store": {
                "online_sync_schedule": "30 * * * *",
                "feature_groups": [
                    {
                        "name": "customer_profile",
                        "entity": "customer_id",
                        "event_time": "event_time",
                        "online": True,
                        # the churn pipeline's data contract reads these nine
                        "features": [
                            {"name": "tenure_months", "type": "int"},
                            {"name": "monthly_charges", "type": "float"},
                            {"name": "contract_type", "type": "string"},
                            {"name": "paperless_billing", "type": "bool"},
                            {"name": "support_calls", "type": "int"},
                            {"name": "total_charges", "type": "float"},
                            {"name": "payment_method", "type": "string"},
                            {"name": "avg_monthly_spend", "type": "float"},
                            {"name": "support_calls_per_year", "type": "float"},
                        ],
                    },
                    {
                        "name": "usage_history",
                        "entity": "customer_id",
                        "event_time": "observed_at",
                        "online": False,
                        "description": "Monthly usage aggregates, one row per customer and month",
                        "features": [
                            {"name": "support_tickets", "type": "int"},
                            {"name": "monthly_bill", "type": "float"},
                            {"name": "billing_channel", "type": "string"},
                            {"name": "last_login", "type": "timestamp"},
                            {"name": "data_gb", "type": "float"},
                            {"name": "voice_minutes", "type": "float"},
                            {"name": "sms_count", "type": "int"},
                            {"name": "roaming", "type": "bool"},
                        ],
                    },
                ],
            },
            "registry": {"approval": "auto"},
            "pipeline": {
                "name": "churn",
                "schedule": "0 3 * * 1-5",
                "instance": "large",
                "quality_gate": {"metric": "accuracy", "threshold": 0.8},
            },
            "endpoint": {
                "model_version": 3,
                "instance": "medium",
                "min_replicas": 2,
                "max_replicas": 10,
                "target_cpu_percent": 60,
                "data_capture_percent": 100,
                "rollout": {
                    "strategy": "linear",
                    "step_percent": 25,
                    "bake_minutes": 15,
                    "rollback_on": {"error_rate": 0.02, "p99_latency_ms": 400},
                },
                "shadow": {"model_version": 4, "sample_percent": 50},
            },
            "monitor": {
                "schedule": "0 */6 * * *",
                "drift_threshold": 0.3,
                "min_samples": 200,
                "retrain_on_drift": True,
                "retrain_cooldown_hours": 12,
                "alert_email": "ml-oncall@example.com",
            },
        },
    }
}


def with_changes(document: dict[str, Any], **platform: Any) -> dict[str, Any]:
    """A copy of a stack document with top-level `mlops:platform` keys replaced or merged (dicts)."""
    out = copy.deepcopy(document)
    target = out["config"]["mlops:platform"]
    for key, value in platform.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            target[key] = {**target[key], **value}
        else:
            target[key] = value
    return out


PUBLIC = with_changes(EXAMPLE, network={"public_access": True})
# SageMaker Model Monitor instead of the kit's drift job, with a canary rollout on the error rate.
BUILTIN = with_changes(
    EXAMPLE,
    monitor={"engine": "builtin"},
    endpoint={"rollout": {"strategy": "canary", "canary_percent": 20, "bake_minutes": 5}},
)

DOCUMENTS = {"aws-dev": EXAMPLE, "aws-all-options": ALL_OPTIONS, "aws-public": PUBLIC, "aws-builtin": BUILTIN}
STACKS = list(DOCUMENTS)


def write(directory: Path, stack: str, document: dict[str, Any]) -> Path:
    path = directory / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path
