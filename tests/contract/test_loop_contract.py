"""The loop is one loop on every cloud: what serving accepts is what capture records, what the drift
baseline holds, what the drift check measures and what the alarms watch; the window, the cooldown
and the rollout are the description's.

Every value on the left is read by `tests/contract/extractors/<cloud>.py` from the resources the
plan declares (never from the description); the right side is the pipeline's data contract or the
stack file.
"""

from __future__ import annotations

import importlib
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from infra.config import load_stack_file
from infra.plan import plan
from pipelines import get_pipeline
from tests.contract.test_contract import EXAMPLES, ROOT

# Clouds whose provider refuses endpoint.rollout canary/linear today (docs/<cloud>.md says why).
REFUSES_CANARY: set[str] = set()

LOOP_KEYS = (
    "served_columns",
    "captured_columns",
    "baseline_columns",
    "drift_metric_columns",
    "alarm_columns",
)


def _extract(result):
    return importlib.import_module(f"tests.contract.extractors.{result.cloud}").extract_loop(result)


def _interval_hours(cron: str) -> float:
    from croniter import croniter

    runs = croniter(cron, datetime(2024, 1, 1))
    first, second = runs.get_next(datetime), runs.get_next(datetime)
    return (second - first).total_seconds() / 3600


@pytest.fixture(scope="module", params=sorted(EXAMPLES))
def looped(request):
    stack = request.param
    result = plan(load_stack_file(ROOT / f"Pulumi.{stack}.yaml"))
    return stack, result, _extract(result)


def test_one_request_schema_from_serving_to_the_alarm(looped):
    stack, result, got = looped
    request = [c.name for c in get_pipeline(result.platform["pipeline"]["name"]).contract.request]
    for key in LOOP_KEYS:
        assert sorted(got[key]) == sorted(request), f"{stack}: {key}"


def test_the_groups_the_pipeline_reads_are_written_by_its_feature_step_and_read_by_training(looped):
    """The feature store is in the loop: the kit's store_features step writes, and its training_data
    step reads back, exactly the feature groups the pipeline's data contract reads, each one a
    feature group (AWS), BigQuery table (GCP) or feature set (Azure) the plan declares."""
    stack, result, _ = looped
    reads = sorted(read.group for read in get_pipeline(result.platform["pipeline"]["name"]).contract.reads)
    got = importlib.import_module(f"tests.contract.extractors.{result.cloud}").feature_io(result)
    assert got == {"written": reads, "read": reads}, stack


def test_drift_window_cooldown_and_statistic_are_the_descriptions(looped):
    stack, result, got = looped
    monitor = load_stack_file(ROOT / f"Pulumi.{stack}.yaml").config["mlops:platform"]["monitor"]
    assert got["drift_statistic"] == "kit"  # every example runs the kit's engine (the default)
    assert got["drift_window_hours"] == pytest.approx(_interval_hours(monitor["schedule"]))
    assert got["retrain_cooldown_hours"] == result.platform["monitor"]["retrain_cooldown_hours"]


@pytest.mark.parametrize("stack", sorted(s for s, (_, p) in EXAMPLES.items() if p == "churn"))
def test_features_the_model_does_not_take_are_neither_captured_nor_alarmed(stack, tmp_path: Path):
    """A feature group holding more than the pipeline reads: the loop still follows the request."""
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    group = document["config"]["mlops:platform"]["feature_store"]["feature_groups"][0]
    group["features"].append({"name": "unread_extra", "type": "float"})
    path = tmp_path / f"Pulumi.{stack}-extra.yaml"
    path.write_text(yaml.safe_dump(document))
    got = _extract(plan(load_stack_file(path)))
    for key in LOOP_KEYS:
        assert "unread_extra" not in got[key], key
        assert len(got[key]) == 9, key  # churn's request schema has nine columns


@pytest.mark.parametrize("stack", sorted(s for s, (_, p) in EXAMPLES.items() if p == "churn"))
def test_a_canary_rollout_means_the_same_on_every_cloud_or_is_refused(stack, tmp_path: Path):
    """A cloud either rolls a canary out as described (share, bake, rollback triggers) or refuses
    the key with exit 2 (Provider.limitations): never a silent all-at-once."""
    from infra.cli import main

    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    document["config"]["mlops:platform"]["endpoint"]["rollout"] = {
        "strategy": "canary",
        "canary_percent": 10,
        "bake_minutes": 15,
        "rollback_on": {"error_rate": 0.05, "p99_latency_ms": 800},
    }
    path = tmp_path / f"Pulumi.{stack}-canary.yaml"
    path.write_text(yaml.safe_dump(document))
    if main(["validate", "--config-file", str(path)]) == 2:
        assert EXAMPLES[stack][0] in REFUSES_CANARY
        return
    assert EXAMPLES[stack][0] not in REFUSES_CANARY
    got = _extract(plan(load_stack_file(path)))["rollout"]
    assert (got["strategy"], got["canary_percent"], got["bake_minutes"]) == ("canary", 10, 15)
    assert got["rollback"]  # the error-rate and latency triggers are wired to something
