from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "Pulumi.gcp-dev.yaml"


def stack_config() -> dict[str, Any]:
    return yaml.safe_load(STACK.read_text())["config"]


def write_stack(tmp_path: Path, name: str, change) -> Path:
    """A copy of the example GCP stack with `change(config)` applied."""
    config = copy.deepcopy(stack_config())
    change(config)
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    return path


@pytest.fixture(scope="session")
def gcp_plan():
    from infra.config import load_stack_file
    from infra.plan import plan

    return plan(load_stack_file(STACK))


# --- plans with every option, shared by the class tests ---------------------------------------------


def _stack(name: str, environment: str, *, public: bool, retrain: bool, approval: str) -> dict:
    return {
        "mlops:cloud": "gcp",
        "gcp:project": "my-ml-project",
        "gcp:region": "europe-west4",
        "mlops:platform": {
            "name": name,
            "environment": environment,
            "tags": {"team": "ml-platform", "cost-centre": "cc-42"},
            "network": {"public_access": public},
            "feature_store": {
                "online_sync_schedule": "*/30 * * * *",
                "feature_groups": [
                    {
                        "name": "customer_profile",
                        "entity": "customer_id",
                        "event_time": "event_time",
                        "online": True,
                        "description": "who the customer is",
                        # the nine features the churn pipeline's data contract reads
                        "features": [
                            {"name": "tenure_months", "type": "int"},
                            {"name": "monthly_charges", "type": "float"},
                            {"name": "contract_type", "type": "string"},
                            {"name": "support_calls", "type": "int"},
                            {"name": "total_charges", "type": "float"},
                            {"name": "payment_method", "type": "string"},
                            {"name": "paperless_billing", "type": "bool"},
                            {"name": "avg_monthly_spend", "type": "float"},
                            {"name": "support_calls_per_year", "type": "float"},
                        ],
                    },
                    {
                        "name": "usage_daily",
                        "entity": "customer_id",
                        "event_time": "observed_at",
                        "online": True,
                        "features": [
                            {"name": "support_tickets", "type": "int"},
                            {"name": "roaming", "type": "bool"},
                            {"name": "last_login", "type": "timestamp"},
                        ],
                    },
                    {
                        "name": "billing_history",
                        "entity": "account_id",
                        "event_time": "billed_at",
                        "online": False,
                        "features": [{"name": "amount_due", "type": "float"}],
                    },
                ],
            },
            "registry": {"approval": approval},
            "pipeline": {
                "name": "churn",
                "schedule": "0 3 * * 1-5",
                "instance": "gpu",
                "quality_gate": {"metric": "f1", "threshold": 0.7},
            },
            "endpoint": {
                "model_version": 3,
                "instance": "gpu",
                "min_replicas": 2,
                "max_replicas": 6,
                "target_cpu_percent": 60,
                "data_capture_percent": 50,
            },
            "monitor": {
                "schedule": "0 */6 * * *",
                "drift_threshold": 0.15,
                "retrain_on_drift": retrain,
                "alert_email": "ml-oncall@example.com",
            },
        },
    }


STACKS = {
    "gcp-dev": None,  # Pulumi.gcp-dev.yaml as it is
    "every-option-private": _stack("churn", "prod", public=False, retrain=True, approval="auto"),
    "every-option-public": _stack("churnpub", "staging", public=True, retrain=False, approval="manual"),
}
_PLANS: dict[str, list[dict]] = {}


def plan_of(stack: str, tmp_path_factory) -> list[dict]:
    """The plan's resources, exactly as `mlops plan --format json` writes them."""
    if stack not in _PLANS:
        from infra.config import load_stack_file
        from infra.plan import plan

        if STACKS[stack] is None:
            path = ROOT / f"Pulumi.{stack}.yaml"
        else:
            path = tmp_path_factory.mktemp(stack) / f"Pulumi.{stack}.yaml"
            path.write_text(yaml.safe_dump({"config": STACKS[stack]}), encoding="utf-8")
        _PLANS[stack] = json.loads(json.dumps(plan(load_stack_file(path)).to_json()))["resources"]
    return _PLANS[stack]
