"""The one loop on GCP, read back from the planned resources of both example stacks (through the
contract extractor's `extract_loop`): one request schema reaches serving, capture, the baseline, the
drift metric and the alarm; the statistic is the kit's, the window is the schedule's interval, the
cooldown is the description's; the serving image is the prebuilt one of the pipeline's framework."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import load_stack_file
from infra.plan import plan
from tests.contract.extractors.gcp import extract_loop

ROOT = Path(__file__).resolve().parents[2]

CHURN = [
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
FRAUD = [
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
# stack -> (request columns, drift window hours from monitor.schedule, serving image prefix)
EXPECTED = {
    "gcp-dev": (CHURN, 1, "europe-docker.pkg.dev/vertex-ai/prediction/sklearn-cpu.1-4@sha256:"),
    "gcp-fraud": (FRAUD, 6, "europe-docker.pkg.dev/vertex-ai/prediction/xgboost-cpu.1-7@sha256:"),
}


@pytest.fixture(scope="module", params=sorted(EXPECTED))
def planned(request):
    return request.param, plan(load_stack_file(ROOT / f"Pulumi.{request.param}.yaml"))


def test_one_request_schema_from_serving_to_the_alarm(planned):
    stack, result = planned
    columns, window, _ = EXPECTED[stack]
    got = extract_loop(result)
    for key in ("served_columns", "captured_columns", "baseline_columns", "drift_metric_columns", "alarm_columns"):
        assert got[key] == columns, key
    assert got["drift_statistic"] == "kit"
    assert (got["drift_window_hours"], type(got["drift_window_hours"])) == (window, int)
    assert (got["retrain_cooldown_hours"], type(got["retrain_cooldown_hours"])) == (24, int)
    assert got["rollout"] == {
        "strategy": "all_at_once",
        "canary_percent": None,
        "step_percent": None,
        "bake_minutes": 0,
        "rollback": {},
    }


def test_training_and_serving_run_on_the_prebuilt_image_of_the_framework(planned):
    stack, result = planned
    _, _, image = EXPECTED[stack]
    schedules = [r.inputs for r in result.resources if r.type == "gcp:colab/schedule:Schedule"]
    (training,) = [
        s["createPipelineJobRequest"]["pipelineJob"]
        for s in schedules
        if s["createPipelineJobRequest"]["pipelineJob"]["labels"]["trigger"] == "schedule"
    ]
    assert training["runtimeConfig"]["parameterValues"]["serving_image"].startswith(image)


# stack -> (the requirement line training installs, the prebuilt table's (framework, accelerator, minor))
FRAMEWORKS = {
    "gcp-dev": ("scikit-learn==1.4.2", ("sklearn", "cpu", "1.4")),
    "gcp-fraud": ("xgboost==1.7.6", ("xgboost", "cpu", "1.7")),
}


def test_every_example_is_trained_with_the_version_it_is_served_with(planned):
    """The class check (`vendor_rules.check_training_matches_serving`, run by `mlops plan`) holds on
    both examples, and the versions are the ones written here."""
    import json

    from providers.gcp import vendor_rules as vr

    stack, result = planned
    pin, entry = FRAMEWORKS[stack]
    resources = json.loads(json.dumps(result.to_json()))["resources"]
    assert [str(v) for v in vr.check_plan(resources) if v.kind == "vendor"] == []
    requirements, _ = vr._requirements_text(resources, ROOT)
    package = pin.split("==")[0]
    assert [line for line in requirements.splitlines() if line.startswith(package + "=")] == [pin]
    (job,) = [
        job
        for _, path, job in vr._pipeline_jobs(resources)
        if path.startswith("createPipeline") and "serving_image" in job["runtimeConfig"]["parameterValues"]
    ]
    assert vr.prebuilt_entry(job["runtimeConfig"]["parameterValues"]["serving_image"]) == entry
