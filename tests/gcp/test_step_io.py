"""The GCP step I/O (`providers/gcp/step_io.py`, shipped as `mlops_io.py`) with the real BigQuery and
Cloud Logging clients against the local fake (tests/gcp/fake_google.py), configured by the exact
`$MLOPS_IO` the plan compiles onto the kit steps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from pipelines import get_pipeline
from pipelines.spec import KIT_DIR
from providers.gcp import pipeline_definition as pd_gcp
from tests.gcp.fake_google import FakeGoogle

PIPELINE = get_pipeline("churn")
TABLE = "my-ml-project.churn_dev_features.customer_profile"
CAPTURE = "my-ml-project.churn_dev_serving_logs.request_response_logging"
# The request-response logging table as Vertex AI creates it (columns the drift job reads, and two
# it ignores). Which exact columns Google writes is not verified here (see docs/gcp.md).
CAPTURE_SCHEMA = [
    {"name": "endpoint", "type": "STRING", "mode": "NULLABLE"},
    {"name": "deployed_model_id", "type": "STRING", "mode": "NULLABLE"},
    {"name": "logging_time", "type": "TIMESTAMP", "mode": "NULLABLE"},
    {"name": "request_payload", "type": "STRING", "mode": "REPEATED"},
    {"name": "response_payload", "type": "STRING", "mode": "REPEATED"},
]
REQUEST = [c.name for c in PIPELINE.contract.request]


@pytest.fixture(scope="module")
def io_config(tmp_path_factory) -> dict:
    """`$MLOPS_IO` as the planned training pipeline sets it on its kit steps."""
    from infra.config import load_stack_file
    from infra.plan import plan

    result = plan(load_stack_file(Path(__file__).resolve().parents[2] / "Pulumi.gcp-dev.yaml"))
    (schedule,) = [
        r.inputs
        for r in result.resources
        if r.type == "gcp:colab/schedule:Schedule"
        and r.inputs["createPipelineJobRequest"]["pipelineJob"]["labels"]["trigger"] == "schedule"
    ]
    spec = json.loads(schedule["createPipelineJobRequest"]["pipelineJob"]["pipelineSpec"])
    envs = {
        name: {e["name"]: e["value"] for e in executor["container"].get("env", [])}
        for name, executor in spec["deploymentSpec"]["executors"].items()
    }
    return json.loads(envs["exec-churn-store-features"]["MLOPS_IO"])


@pytest.fixture()
def google(io_config, monkeypatch, tmp_path):
    fake = FakeGoogle()
    url = fake.start()
    fake.create_table(TABLE, io_config["features"]["customer_profile"]["schema"])
    fake.create_table(CAPTURE, CAPTURE_SCHEMA)
    config = {**io_config, "bigquery_endpoint": url, "logging_endpoint": url}
    monkeypatch.setenv("MLOPS_IO", json.dumps(config))
    contract = tmp_path / "mlops_contract.json"
    contract.write_text(json.dumps(PIPELINE.contract.to_json()), encoding="utf-8")
    monkeypatch.setenv("MLOPS_CONTRACT", str(contract))
    monkeypatch.syspath_prepend(str(KIT_DIR))
    fake.config = config
    yield fake
    fake.stop()


def _io():
    from providers.gcp import step_io

    return step_io


def test_the_plan_configures_the_kit_steps_with_the_groups_table_and_the_capture_table(io_config):
    assert io_config["kind"] == "gcp"
    assert (io_config["project"], io_config["location"], io_config["platform"]) == (
        "my-ml-project",
        "europe-west4",
        "churn-dev",
    )
    group = io_config["features"]["customer_profile"]
    assert group["table"] == TABLE  # the TABLE, never the `_vertex_source` view
    assert (group["entity"], group["event_time"]) == ("customer_id", "event_time")
    assert [c["name"] for c in group["schema"]] == [
        "customer_id",
        "event_time",
        "tenure_months",
        "monthly_charges",
        "contract_type",
        "support_calls",
        "total_charges",
        "payment_method",
        "paperless_billing",
        "avg_monthly_spend",
        "support_calls_per_year",
        "mlops_written_at",
    ]
    assert "feature_timestamp" not in [c["name"] for c in group["schema"]]
    assert io_config["capture"] == CAPTURE
    assert io_config["drift_log"] == "mlops-drift"


def _frame(rows: list[dict]) -> pd.DataFrame:
    from mlops_schema import coerce, feature_columns

    columns = feature_columns(PIPELINE.contract.to_json(), "customer_profile")
    return coerce(pd.DataFrame(rows), columns)


def _row(customer: str, when: str, tenure: int, contract: str = "month_to_month") -> dict:
    return {
        "customer_id": customer,
        "event_time": when,
        "tenure_months": tenure,
        "monthly_charges": 50.5,
        "contract_type": contract,
        "support_calls": 1,
        "total_charges": 500.0,
        "payment_method": "card",
        "paperless_billing": True,
        "avg_monthly_spend": 49.0,
        "support_calls_per_year": 2.0,
    }


def test_writes_append_to_the_table_and_reads_keep_the_last_write(google):
    io = _io()
    assert (
        io.write_features(
            "customer_profile", _frame([_row("c1", "2024-01-01T00:00:00Z", 3), _row("c2", "2024-01-01T00:00:00Z", 7)])
        )
        == f"bq://{TABLE}"
    )
    # a later write of the same (entity, event time) and one new event time of c1
    io.write_features(
        "customer_profile",
        _frame([_row("c1", "2024-01-01T00:00:00Z", 4, "one_year"), _row("c1", "2024-02-01T00:00:00Z", 5)]),
    )
    assert len(google.tables[TABLE]["rows"]) == 4  # appended, nothing overwritten in place
    loads = [r for r in google.requests if r.path.startswith("/upload/bigquery/v2/")]
    assert len(loads) == 2  # one load job per write
    got = io.read_features("customer_profile").sort_values(["customer_id", "event_time"]).reset_index(drop=True)
    assert list(got.columns) == ["customer_id", "event_time", *[f.name for f in PIPELINE.contract.reads[0].features]]
    assert got[["customer_id", "tenure_months", "contract_type"]].to_dict(orient="records") == [
        {"customer_id": "c1", "tenure_months": 4, "contract_type": "one_year"},
        {"customer_id": "c1", "tenure_months": 5, "contract_type": "month_to_month"},
        {"customer_id": "c2", "tenure_months": 7, "contract_type": "month_to_month"},
    ]
    assert [t.isoformat() for t in got["event_time"]] == [
        "2024-01-01T00:00:00+00:00",
        "2024-02-01T00:00:00+00:00",
        "2024-01-01T00:00:00+00:00",
    ]
    assert got["paperless_billing"].tolist() == [True, True, True]


def test_a_write_never_creates_a_table(google):
    """CREATE_NEVER: the table is the one Pulumi declared under the platform's key."""
    from google.api_core.exceptions import NotFound

    del google.tables[TABLE]
    with pytest.raises(NotFound):
        _io().write_features("customer_profile", _frame([_row("c1", "2024-01-01T00:00:00Z", 3)]))
    assert TABLE not in google.tables


def _payload(records: list[dict]) -> str:
    return json.dumps({"instances": records})


def test_captured_requests_are_decoded_into_exactly_the_request_columns(google):
    good = {name: value for name, value in _row("c9", "2024-01-01T00:00:00Z", 12).items() if name in REQUEST}
    other = dict(good, tenure_months=30)
    google.insert(
        CAPTURE,
        [
            # in the window: a request of two records, stored as Vertex stores it (REPEATED STRING)
            {"logging_time": "2025-01-06T02:10:00Z", "request_payload": [_payload([good, other])]},
            # in the window but refused by serving (an unknown column): never scored, never compared
            {"logging_time": "2025-01-06T02:20:00Z", "request_payload": [_payload([dict(good, customer_id="c9")])]},
            # in the window, a record missing a column: refused too
            {"logging_time": "2025-01-06T02:30:00Z", "request_payload": [_payload([{"tenure_months": 1}])]},
            {"logging_time": "2025-01-06T02:40:00Z", "request_payload": ["not json"]},
            # outside the window (the window is [since, until))
            {"logging_time": "2025-01-06T01:59:59Z", "request_payload": [_payload([other])]},
            {"logging_time": "2025-01-06T03:00:00Z", "request_payload": [_payload([other])]},
        ],
    )
    got = _io().read_captured(datetime(2025, 1, 6, 2, tzinfo=UTC), datetime(2025, 1, 6, 3, tzinfo=UTC))
    assert list(got.columns) == REQUEST
    assert got["tenure_months"].tolist() == [12, 30]
    assert got.to_dict(orient="records")[0] == good
    (query,) = [json.loads(r.body) for r in google.requests if r.path.endswith("/queries")]
    assert query["query"] == (
        f"SELECT request_payload FROM `{CAPTURE}` WHERE logging_time >= @since AND logging_time < @until"
    )


def test_no_captured_request_is_an_empty_frame_of_the_request_columns(google):
    got = _io().read_captured(datetime(2025, 1, 6, 2, tzinfo=UTC), datetime(2025, 1, 6, 3, tzinfo=UTC))
    assert got.empty and list(got.columns) == REQUEST


def _result(status: str = "ok") -> dict:
    features = {
        "tenure_months": {"statistic": "ks", "value": 0.41, "drifted": True},
        "contract_type": {"statistic": "linf", "value": 0.05, "drifted": False},
    }
    result = {
        "statistic": "ks for numbers and timestamps, linf for strings and booleans",
        "threshold": 0.2,
        "min_samples": 100,
        "n_baseline": 900,
        "n_current": 250,
        "features": features,
        "status": "ok",
        "max": 0.41,
        "drifted": True,
        "window": {"since": "2025-01-06T02:00:00+00:00", "until": "2025-01-06T03:00:00+00:00"},
    }
    if status == "skipped":
        result.update(features={}, status="skipped", reason="20 requests < min_samples 100", max=None, drifted=False)
        result["n_current"] = 20
    return result


def test_publish_writes_one_entry_per_column_and_one_per_run_under_a_fixed_resource(google):
    assert _io().publish_drift(_result()) == "projects/my-ml-project/logs/mlops-drift"
    writes = [r for r in google.requests if r.path == "/v2/entries:write"]
    assert len(writes) == 1  # one call: the run's entries land together
    entries = google.entries
    assert {e["logName"] for e in entries} == {"projects/my-ml-project/logs/mlops-drift"}
    # issue 9 item 5: one monitored resource whichever VM ran the check, so one series per metric
    assert [e["resource"] for e in entries] == [{"type": "global", "labels": {"project_id": "my-ml-project"}}] * 3
    payloads = [e["jsonPayload"] for e in entries]
    assert [(p["kind"], p.get("feature"), p.get("value"), p["drifted"]) for p in payloads] == [
        ("feature", "tenure_months", 0.41, True),
        ("feature", "contract_type", 0.05, False),
        ("check", None, None, True),
    ]
    assert {p["mlops_platform"] for p in payloads} == {"churn-dev"}
    assert payloads[2]["status"] == "ok" and payloads[2]["features"] == {"tenure_months": 0.41, "contract_type": 0.05}
    assert [e["severity"] for e in entries] == ["WARNING", "INFO", "WARNING"]


def test_a_skipped_window_publishes_its_run_and_no_column(google):
    _io().publish_drift(_result("skipped"))
    (entry,) = google.entries
    assert entry["jsonPayload"]["kind"] == "check"
    assert entry["jsonPayload"]["status"] == "skipped"
    assert entry["jsonPayload"]["reason"] == "20 requests < min_samples 100"


def test_the_kit_steps_run_with_the_gcp_io_from_the_code_bundle(google, tmp_path):
    """store_features -> training_data, the kit's own scripts from the GCP code bundle, in their own
    processes, reading and writing BigQuery through `mlops_io.py`: training reads what was stored."""
    from pipelines.churn import write_dataset
    from pipelines.local import run_steps

    code = pd_gcp.code_bundle(PIPELINE).write(tmp_path / "code")
    assert (code / "mlops_io.py").read_text() == Path(pd_gcp.STEP_IO).read_text()
    raw = write_dataset(tmp_path / "raw", rows=300, seed=5).parent
    produced, _ = run_steps(PIPELINE, tmp_path / "local", raw, tmp_path / "scratch", until="features")
    env = {**os.environ, "MLOPS_IO": json.dumps(google.config)}
    env.pop("MLOPS_CONTRACT")  # the bundle's own contract
    for argv in (
        [
            "mlops_store_features.py",
            "--features",
            str(produced["features"]["features"]),
            "--written",
            str(tmp_path / "w"),
        ],
        [
            "mlops_training_data.py",
            "--labels",
            str(produced["features"]["labels"]),
            "--written",
            str(tmp_path / "w"),
            "--train",
            str(tmp_path / "train"),
            "--test",
            str(tmp_path / "test"),
            "--baseline",
            str(tmp_path / "baseline"),
        ],
    ):
        proc = subprocess.run([sys.executable, *argv], cwd=code, env=env, capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
    stored = pd.read_csv(produced["features"]["features"] / "customer_profile.csv")
    assert len(google.tables[TABLE]["rows"]) == len(stored)
    baseline = pd.read_csv(tmp_path / "baseline" / "baseline.csv")
    assert list(baseline.columns) == REQUEST
    train, test = pd.read_csv(tmp_path / "train" / "train.csv"), pd.read_csv(tmp_path / "test" / "test.csv")
    labels = pd.read_csv(
        produced["features"]["labels"] / next(p.name for p in produced["features"]["labels"].iterdir())
    )
    assert len(train) + len(test) == len(labels)  # every label row found its features in BigQuery
