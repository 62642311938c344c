"""One suite, every registered cloud: the same platform description plans to the same platform."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from infra.config import load_stack_file
from infra.plan import plan
from providers import registry
from providers.base import CAPABILITIES, STACK_OUTPUT_KEYS

ROOT = Path(__file__).resolve().parents[2]
CLOUDS = registry.implemented()

EXPECTED_KEYS = {
    "feature_groups",      # {group: {"entity", "event_time", "online", "features": [names in order]}}
    "replicas",            # (min, max)
    "cpu_target",          # int percent
    "data_capture_percent",
    "training_schedule",   # five-field cron as in the description
    "monitor_schedule",
    "drift_threshold",
    "quality_gate",        # (metric, threshold)
    "approval",            # "manual" | "auto"
    "retrain_on_drift",    # bool: a retrain path is declared
    "alert_email",
    "served_version",      # int or None
}


def _plan(cloud: str):
    return plan(load_stack_file(ROOT / f"Pulumi.{cloud}-dev.yaml"))


@pytest.fixture(scope="module", params=CLOUDS)
def planned(request):
    return request.param, _plan(request.param)


def test_every_cloud_in_the_contract_is_registered():
    assert set(registry.clouds()) == {"aws", "gcp", "azure"}
    assert "aws" in CLOUDS


def test_seven_components_typed_per_cloud(planned):
    cloud, result = planned
    components = {r.type for r in result.resources if not r.custom}
    assert {f"mlops:{cloud}:{c}" for c in CAPABILITIES} <= components


def test_every_resource_sits_under_a_component(planned):
    cloud, result = planned
    orphans = [r.urn for r in result.resources if r.custom and r.parent is None
               and not r.type.startswith("pulumi:providers:")]
    assert orphans == []


def test_same_stack_output_keys(planned):
    _, result = planned
    assert set(result.outputs) == set(STACK_OUTPUT_KEYS)
    assert result.outputs["cloud"] == result.cloud


def test_same_settings_on_every_cloud(planned):
    cloud, result = planned
    extractor = importlib.import_module(f"tests.contract.extractors.{cloud}")
    got = extractor.extract(result)
    assert set(got) == EXPECTED_KEYS
    platform = load_stack_file(ROOT / f"Pulumi.{cloud}-dev.yaml").config["mlops:platform"]
    groups = platform["feature_store"]["feature_groups"]
    assert got["feature_groups"] == {
        g["name"]: {
            "entity": g["entity"],
            "event_time": g["event_time"],
            "online": g["online"],
            "features": [f["name"] for f in g["features"]],
        }
        for g in groups
    }
    endpoint, monitor, pipeline = platform["endpoint"], platform["monitor"], platform["pipeline"]
    assert got["replicas"] == (endpoint["min_replicas"], endpoint["max_replicas"])
    assert got["cpu_target"] == endpoint["target_cpu_percent"]
    assert got["data_capture_percent"] == endpoint["data_capture_percent"]
    assert got["served_version"] == endpoint["model_version"]
    assert got["training_schedule"] == pipeline["schedule"]
    assert got["quality_gate"] == (pipeline["quality_gate"]["metric"], pipeline["quality_gate"]["threshold"])
    assert got["monitor_schedule"] == monitor["schedule"]
    assert got["drift_threshold"] == pytest.approx(monitor["drift_threshold"])
    assert got["retrain_on_drift"] is monitor["retrain_on_drift"]
    assert got["alert_email"] == monitor["alert_email"]
    assert got["approval"] == platform["registry"]["approval"]


def test_example_stacks_share_one_platform_description():
    descriptions = [load_stack_file(ROOT / f"Pulumi.{c}-dev.yaml").config["mlops:platform"]
                    for c in registry.clouds()]
    assert all(d == descriptions[0] for d in descriptions)
