"""The one loop on Azure, read back from the declared resources by the contract extractor
(tests/contract/extractors/azure.py `extract_loop`): one request schema reaches serving, capture,
baseline, drift metrics and alarms; the statistic, window, cooldown and rollout are what the
description says. Expected values are written out here."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from infra.config import load_stack_file
from infra.plan import plan
from tests.contract.extractors.azure import LOOP_KEYS, extract, extract_loop

ROOT = Path(__file__).resolve().parents[2]
CHURN_REQUEST = [
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
FRAUD_REQUEST = [
    "amount",
    "merchant_category",
    "channel",
    "country",
    "foreign",
    "txn_count_24h",
    "txn_count_7d",
    "amount_mean_7d",
    "amount_ratio_7d",
    "hours_since_last_txn",
]
# all at once: nothing bakes, nothing is watched (the knobs of the other strategies take no effect)
DEFAULT_ROLLOUT = {
    "strategy": "all_at_once",
    "canary_percent": None,
    "step_percent": None,
    "bake_minutes": 0,
    "rollback": {},
}


def _variant(tmp_path: Path, stack: str, **changes) -> dict:
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    platform = document["config"]["mlops:platform"]
    for dotted, value in changes.items():
        *path, last = dotted.split(".")
        node = platform
        for part in path:
            node = node.setdefault(part, {})
        node[last] = copy.deepcopy(value)
    path = tmp_path / "Pulumi.azure-loop.yaml"
    path.write_text(yaml.safe_dump(document))
    result = plan(load_stack_file(path))
    return {**extract(result), **extract_loop(result)}


def test_the_kit_engine_on_churn():
    got = extract_loop(plan(load_stack_file(ROOT / "Pulumi.azure-dev.yaml")))
    assert set(got) == LOOP_KEYS
    assert got == {
        "served_columns": CHURN_REQUEST,
        "captured_columns": CHURN_REQUEST,
        "baseline_columns": CHURN_REQUEST,
        "drift_metric_columns": CHURN_REQUEST,
        "alarm_columns": CHURN_REQUEST,
        "drift_statistic": "kit",
        "drift_window_hours": 1,  # monitor.schedule "0 * * * *"
        "retrain_cooldown_hours": 24,
        "rollout": DEFAULT_ROLLOUT,
    }


@pytest.fixture(scope="module")
def fraud():
    return plan(load_stack_file(ROOT / "Pulumi.azure-fraud.yaml"))


def test_the_kit_engine_on_fraud(fraud):
    got = extract_loop(fraud)
    assert {
        k: got[k] for k in ("served_columns", "captured_columns", "baseline_columns", "alarm_columns")
    } == dict.fromkeys(("served_columns", "captured_columns", "baseline_columns", "alarm_columns"), FRAUD_REQUEST)
    assert (got["drift_statistic"], got["drift_window_hours"]) == ("kit", 6)  # "0 */6 * * *"


def test_the_builtin_engine_a_linear_rollout_and_a_shorter_cooldown(tmp_path):
    got = _variant(
        tmp_path,
        "azure-dev",
        **{
            "monitor.engine": "builtin",
            "monitor.schedule": "0 */4 * * *",
            "monitor.retrain_cooldown_hours": 6,
            "endpoint.rollout": {
                "strategy": "linear",
                "step_percent": 20,
                "bake_minutes": 15,
                "rollback_on": {"error_rate": 0.02, "p99_latency_ms": 400},
            },
        },
    )
    assert got["drift_statistic"] == "JensenShannonDistance"
    assert got["drift_metric_columns"] == CHURN_REQUEST and got["baseline_columns"] == CHURN_REQUEST
    assert got["alarm_columns"] == CHURN_REQUEST and got["captured_columns"] == CHURN_REQUEST
    assert got["drift_window_hours"] == 4
    assert got["drift_threshold"] == pytest.approx(0.2)
    assert got["retrain_cooldown_hours"] == 6
    assert got["rollout"] == {
        "strategy": "linear",
        "canary_percent": None,
        "step_percent": 20,
        "bake_minutes": 15,
        "rollback": {"error_rate": 0.02, "p99_latency_ms": 400},
    }


def test_nothing_served_declares_no_loop(tmp_path):
    got = _variant(tmp_path, "azure-dev", **{"endpoint.model_version": None})
    assert {k: got[k] for k in LOOP_KEYS} == dict.fromkeys(LOOP_KEYS)


def test_xgboost_1_7_6_is_served_by_the_environment_pinned_to_it(fraud):
    """Framework("xgboost", "1.7.6"): Azure ML serves from the kit's environment (a documented
    inference base with the pipeline's requirements installed from a wheelhouse), so the pin in that
    environment is the framework the model is loaded with, the one it was trained with."""
    ml = "azure-native:machinelearningservices:"
    (env,) = fraud.by_type(ml + "EnvironmentVersion")
    version = env.inputs["version"]
    blobs = {b.inputs["blobName"]: b.inputs["source"] for b in fraud.by_type("azure-native:storage:Blob")}
    requirements = blobs[f"env/{version}/requirements.txt"]["text"].splitlines()
    assert "xgboost==1.7.6" in requirements and "scikit-learn==1.4.2" in requirements
    assert not any(line.startswith("xgboost") and line != "xgboost==1.7.6" for line in requirements)
    (deployment,) = fraud.by_type(ml + "OnlineDeployment")
    assert deployment.inputs["properties"]["environmentId"].endswith(
        f"/environments/fraud-dev-steps-env/versions/{version}"
    )
    dockerfile = blobs[f"env/{version}/Dockerfile"]["text"]
    assert dockerfile.startswith("FROM mcr.microsoft.com/azureml/minimal-py312-inference:latest\n")
    # every step of the training job runs in the same environment
    (training,) = [s for s in fraud.by_type(ml + "Schedule") if s.inputs["name"] == "fraud-dev-training"]
    components = [c for c in fraud.by_type(ml + "ComponentVersion") if not c.inputs["name"].endswith("_drift")]
    assert components and all(
        c.inputs["properties"]["componentSpec"]["environment"].endswith(
            f"/environments/fraud-dev-steps-env/versions/{version}"
        )
        for c in components
    )
    assert training.inputs["properties"]["action"]["jobDefinition"]["jobType"] == "Pipeline"


def test_a_requirements_file_that_does_not_pin_the_framework_is_refused(tmp_path):
    from dataclasses import replace

    from pipelines import get_pipeline
    from providers.azure import wheelhouse

    fraud = get_pipeline("fraud")
    loose = tmp_path / "requirements.txt"
    loose.write_text(fraud.requirements.read_text().replace("xgboost==1.7.6", "xgboost>=1.7"))
    with pytest.raises(ValueError, match=r"must pin xgboost==1.7.6 \(PipelineDef.framework\)"):
        wheelhouse.requirements(replace(fraud, requirements=loose))
