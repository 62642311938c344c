"""The Azure-only scripts the bundle ships: the scoring script (collects exactly the request
columns with Azure ML's Collector, a request off the schema is a 400) and the drift window (the
schedule's interval, ending at the trigger time)."""

from __future__ import annotations

import importlib
import json
import sys
import types
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines import get_pipeline

KIT = Path(__file__).resolve().parents[2] / "pipelines" / "kit"
SCRIPTS = Path(__file__).resolve().parents[2] / "providers" / "azure" / "job_scripts"
HOURLY = {"minute": [0], "hour": list(range(24)), "dow": list(range(7))}


class _Collector:
    """Stands in for azureml.ai.monitoring.Collector (package azureml-ai-monitoring, not installed
    here): records what the scoring script hands it."""

    made: list[_Collector] = []

    def __init__(self, name: str, on_error=None) -> None:
        self.name, self.frames = name, []
        _Collector.made.append(self)

    def collect(self, frame, context=None):
        self.frames.append(frame)
        return context


class _AMLResponse:
    def __init__(self, message, status_code, response_headers=None, json_str=False):
        self.message, self.status_code, self.json_str = message, status_code, json_str


@pytest.fixture
def score(tmp_path, monkeypatch):
    contract = tmp_path / "mlops_contract.json"
    contract.write_text(json.dumps(get_pipeline("churn").contract.to_json()))
    monkeypatch.setenv("MLOPS_CONTRACT", str(contract))
    monkeypatch.syspath_prepend(str(KIT))
    monkeypatch.syspath_prepend(str(SCRIPTS))
    for name, module in {
        "azureml": types.ModuleType("azureml"),
        "azureml.ai": types.ModuleType("azureml.ai"),
        "azureml.ai.monitoring": types.SimpleNamespace(Collector=_Collector),
        "azureml_inference_server_http": types.ModuleType("azureml_inference_server_http"),
        "azureml_inference_server_http.api": types.ModuleType("azureml_inference_server_http.api"),
        "azureml_inference_server_http.api.aml_response": types.SimpleNamespace(AMLResponse=_AMLResponse),
    }.items():
        monkeypatch.setitem(sys.modules, name, module)
    import mlops_model
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(0)
    rows = pd.DataFrame(
        {
            "tenure_months": rng.integers(1, 60, 40),
            "monthly_charges": rng.uniform(10, 90, 40),
            "total_charges": rng.uniform(10, 900, 40),
            "support_calls": rng.integers(0, 5, 40),
            "contract_type": rng.choice(["monthly", "annual"], 40),
            "payment_method": rng.choice(["card", "transfer"], 40),
            "paperless_billing": rng.choice([True, False], 40),
            "avg_monthly_spend": rng.uniform(10, 90, 40),
            "support_calls_per_year": rng.uniform(0, 5, 40),
        }
    )
    model = Pipeline(
        [
            (
                "prep",
                ColumnTransformer(
                    [("cat", OneHotEncoder(), ["contract_type", "payment_method"])], remainder="passthrough"
                ),
            ),
            ("clf", LogisticRegression(max_iter=2000)),
        ]
    ).fit(rows, np.arange(40) % 2)
    mlops_model.save(model, tmp_path / "models" / "model")
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path / "models"))
    monkeypatch.delitem(sys.modules, "mlops_azure_score", raising=False)
    _Collector.made.clear()
    module = importlib.import_module("mlops_azure_score")
    module.init()
    yield module, json.loads(rows.head(3).to_json(orient="records"))
    sys.modules.pop("mlops_azure_score", None)


def test_the_scoring_script_collects_exactly_the_request_columns(score):
    module, records = score
    answer = module.run(json.dumps({"data": records}))
    assert len(answer["predictions"]) == 3
    (collector,) = _Collector.made
    assert collector.name == "model_inputs"  # the collection the deployment enables
    (frame,) = collector.frames
    assert list(frame.columns) == [
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
    assert len(frame) == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"drop": "tenure_months"}, "lacks tenure_months"),
        ({"add": "customer_id"}, "carries customer_id"),
        ({"set": ("tenure_months", "many")}, "tenure_months"),
    ],
)
def test_a_request_off_the_schema_is_a_400_and_is_not_collected(score, change, message):
    module, records = score
    record = dict(records[0])
    if "drop" in change:
        record.pop(change["drop"])
    if "add" in change:
        record[change["add"]] = "c-1"
    if "set" in change:
        record[change["set"][0]] = change["set"][1]
    answer = module.run(json.dumps([record]))
    assert isinstance(answer, _AMLResponse)
    assert answer.status_code == 400 and answer.json_str is True
    assert message in json.loads(answer.message)["error"]
    assert _Collector.made[0].frames == []


def _drift():
    sys.path.insert(0, str(SCRIPTS))
    try:
        return importlib.import_module("mlops_azure_drift")
    finally:
        sys.path.remove(str(SCRIPTS))


@pytest.mark.parametrize(
    ("trigger", "schedule", "since", "until"),
    [
        ("2024-03-05T19:00:00Z", HOURLY, "2024-03-05T18:00:00+00:00", "2024-03-05T19:00:00+00:00"),
        ("2024-03-05T19:00:00", HOURLY, "2024-03-05T18:00:00+00:00", "2024-03-05T19:00:00+00:00"),
        # every 15 minutes
        (
            "2024-03-05T19:15:00Z",
            {"minute": [0, 15, 30, 45], "hour": list(range(24)), "dow": list(range(7))},
            "2024-03-05T19:00:00+00:00",
            "2024-03-05T19:15:00+00:00",
        ),
        # 03:00 on weekdays: Monday's window starts on Friday (2024-03-04 is a Monday)
        (
            "2024-03-04T03:00:00Z",
            {"minute": [0], "hour": [3], "dow": [1, 2, 3, 4, 5]},
            "2024-03-01T03:00:00+00:00",
            "2024-03-04T03:00:00+00:00",
        ),
    ],
)
def test_the_drift_window_is_the_schedule_interval_ending_at_the_trigger(trigger, schedule, since, until):
    start, end = _drift().window(trigger, schedule)
    assert (start.isoformat(), end.isoformat()) == (since, until)


def test_without_a_trigger_time_the_window_ends_at_the_last_fire_time():
    now = datetime(2024, 3, 5, 19, 7, 30, tzinfo=UTC)
    start, end = _drift().window("${{creation_context.trigger_time}}", HOURLY, now)
    assert (start.isoformat(), end.isoformat()) == ("2024-03-05T18:00:00+00:00", "2024-03-05T19:00:00+00:00")


def test_consecutive_windows_tile_time():
    drift = _drift()
    triggers = ["2024-03-05T18:00:00Z", "2024-03-05T19:00:00Z", "2024-03-05T20:00:00Z"]
    windows = [drift.window(t, HOURLY) for t in triggers]
    assert all(windows[i][1] == windows[i + 1][0] for i in range(len(windows) - 1))
