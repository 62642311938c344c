"""Real offline plans of the example AWS stack and of edited copies of it (planned once per session)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.config import load_stack_file
from infra.plan import plan

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "Pulumi.aws-dev.yaml"


# A second group the churn pipeline does not read: its features may be removed, retyped or the
# group renamed (the groups the pipeline reads must keep what its data contract names).
EXTRA_GROUP = {
    "name": "account_flags",
    "entity": "customer_id",
    "event_time": "event_time",
    "online": False,
    "features": [
        {"name": "plan_tier", "type": "string"},
        {"name": "late_payments", "type": "int"},
        {"name": "autopay", "type": "bool"},
    ],
}


def stack_document() -> dict[str, Any]:
    document = yaml.safe_load(STACK.read_text(encoding="utf-8"))
    document["config"]["mlops:platform"]["feature_store"]["feature_groups"].append(copy.deepcopy(EXTRA_GROUP))
    return document


def plan_json(document: dict[str, Any], directory: Path, stack: str = "aws-dev") -> dict[str, Any]:
    """Write `document` as Pulumi.<stack>.yaml in `directory`, plan it, return the plan's JSON."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    # Through JSON, exactly as `mlops plan --format json` writes it.
    return json.loads(json.dumps(plan(load_stack_file(path, stack)).to_json()))


def edited(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = stack_document()
    edit(document["config"]["mlops:platform"])
    return document


def _ml_edit(p: dict[str, Any]) -> None:
    p["endpoint"].update(max_replicas=8, model_version=2, instance="medium", data_capture_percent=50)
    p["monitor"].update(drift_threshold=0.1, alert_email="ml-team@example.com", schedule="0 */2 * * *")
    p["pipeline"].update(schedule="0 4 * * *", instance="large")
    p["pipeline"]["quality_gate"]["threshold"] = 0.8
    p["registry"]["approval"] = "auto"
    p["feature_store"]["feature_groups"][0]["features"].append({"name": "churn_score", "type": "float"})
    flags = p["feature_store"]["feature_groups"][1]["features"]
    flags[:] = [f for f in flags if f["name"] != "plan_tier"]
    next(f for f in flags if f["name"] == "late_payments")["type"] = "float"


def _not_serving(p: dict[str, Any]) -> None:
    p["endpoint"]["model_version"] = None


def _rename_group(p: dict[str, Any]) -> None:
    p["feature_store"]["feature_groups"][1]["name"] = "account_flags_v2"


@pytest.fixture(scope="session")
def plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """base: the example stack; ml: many ML-level edits; unserved: model_version null; renamed."""
    root = tmp_path_factory.mktemp("plans")
    return {
        "base": plan_json(stack_document(), root / "base"),
        # the example stack file exactly as it is (what the other clouds' examples mirror)
        "example": plan_json(yaml.safe_load(STACK.read_text(encoding="utf-8")), root / "example"),
        "ml": plan_json(edited(_ml_edit), root / "ml"),
        "unserved": plan_json(edited(_not_serving), root / "unserved"),
        "renamed": plan_json(edited(_rename_group), root / "renamed"),
    }


@pytest.fixture()
def write(tmp_path: Path) -> Callable[[str, dict[str, Any]], Path]:
    def _write(name: str, data: dict[str, Any]) -> Path:
        path = tmp_path / name
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    return _write


def clone(data: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(data)
