"""The Azure step I/O (`mlops_io.py` in the Azure bundle) with the real azure-storage-blob client
against a fake Blob service, and the Logs Ingestion request it sends: write -> read back (last
write wins), the data collector's `model_inputs` files decoded into exactly the request columns,
publish -> the rows the drift alert queries."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest

from pipelines import get_pipeline
from tests.azure.fake_blob import FakeBlob

KIT = Path(__file__).resolve().parents[2] / "pipelines" / "kit"
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


@pytest.fixture
def io(tmp_path, monkeypatch):
    contract = tmp_path / "mlops_contract.json"
    contract.write_text(json.dumps(get_pipeline("churn").contract.to_json()))
    monkeypatch.setenv("MLOPS_CONTRACT", str(contract))
    monkeypatch.syspath_prepend(str(KIT))
    from providers.azure import step_io

    with FakeBlob() as blob:
        config = {
            "kind": "azure",
            "client_id": "00000000-0000-0000-0000-0000000c1e17",
            "features": {"account_url": blob.account_url("churndevdata"), "container": "data", "prefix": "features/"},
            "capture": {
                "account_url": blob.account_url("churndevws"),
                "container": "capture",
                "prefix": "modelDataCollector/ep/model-v1/model_inputs/",
            },
            "drift": {
                "endpoint": "http://127.0.0.1:1",
                "rule": "dcr-0",
                "stream": "Custom-MlopsDrift_CL",
                "monitor": "m",
            },
        }
        monkeypatch.setenv("MLOPS_IO", json.dumps(config))
        yield step_io, blob, config


def _rows(customer: str, at: str, tenure: int) -> dict:
    return {
        "customer_id": customer,
        "event_time": pd.Timestamp(at, tz="UTC"),
        "tenure_months": tenure,
        "monthly_charges": 50.5,
        "total_charges": 505.0,
        "support_calls": 1,
        "contract_type": "monthly",
        "payment_method": "card",
        "paperless_billing": True,
        "avg_monthly_spend": 50.5,
        "support_calls_per_year": 1.2,
    }


def test_written_features_read_back_last_write_wins(io):
    step_io, blob, _ = io
    first = pd.DataFrame([_rows("c1", "2024-01-01", 3), _rows("c2", "2024-01-01", 7)])
    location = step_io.write_features("customer_profile", first)
    assert location.startswith("abfss://data@churndevdata.dfs.core.windows.net/features/customer_profile/part-")
    # Three more writes: the listing spans several pages (the fake pages by 3).
    step_io.write_features("customer_profile", pd.DataFrame([_rows("c1", "2024-01-01", 4)]))
    step_io.write_features("customer_profile", pd.DataFrame([_rows("c3", "2024-02-01", 1)]))
    step_io.write_features("customer_profile", pd.DataFrame([_rows("c1", "2024-01-01", 5)]))
    parts = blob.names("churndevdata", "data")
    assert len(parts) == 4 and all(p.startswith("features/customer_profile/part-") for p in parts)
    assert all(p.endswith(".parquet") for p in parts)

    got = step_io.read_features("customer_profile").sort_values("customer_id").reset_index(drop=True)
    assert list(got["customer_id"]) == ["c1", "c2", "c3"]
    assert list(got["tenure_months"]) == [5, 7, 1]  # c1 written three times: the last write wins
    assert str(got["event_time"].dt.tz) == "UTC"
    assert list(got["event_time"].dt.strftime("%Y-%m-%d")) == ["2024-01-01", "2024-01-01", "2024-02-01"]
    assert list(got.columns) == ["customer_id", "event_time", *REQUEST]


def test_an_empty_group_reads_as_no_rows_with_the_groups_columns(io):
    step_io, _, _ = io
    got = step_io.read_features("customer_profile")
    assert got.empty and list(got.columns) == ["customer_id", "event_time", *REQUEST]


def _event(at: str, records: list[dict], kind: str = "azureml.inference.model_inputs") -> str:
    # The collector's line (Microsoft Learn "Collect production data ...", Store collected data).
    return json.dumps(
        {
            "specversion": "1.0",
            "id": "aaaaaaaa-0000-1111-2222-bbbbbbbbbbbb",
            "source": "/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearningServices/workspaces/w/"
            "onlineEndpoints/ep/deployments/model-v1",
            "type": kind,
            "datacontenttype": "application/json",
            "time": at,
            "data": records,
            "correlationid": "c",
            "xrequestid": "c",
            "modelversion": "default",
            "collectdatatype": "pandas.core.frame.DataFrame",
            "agent": "azureml-ai-monitoring/1.0.0",
        }
    )


def _record(tenure: int) -> dict:
    return {
        "tenure_months": tenure,
        "monthly_charges": 20.0,
        "total_charges": 200.0,
        "support_calls": 0,
        "contract_type": "annual",
        "payment_method": "transfer",
        "paperless_billing": False,
        "avg_monthly_spend": 20.0,
        "support_calls_per_year": 0.0,
    }


def test_collected_model_inputs_decode_into_exactly_the_request_columns(io):
    step_io, blob, _ = io
    folder = "modelDataCollector/ep/model-v1/model_inputs"
    blob.put(
        "churndevws",
        "capture",
        f"{folder}/2024/03/05/17/inst-a.jsonl",
        "\n".join(
            [
                _event("2024-03-05T17:59:59Z", [_record(1)]),  # before the window
            ]
        ).encode(),
    )
    blob.put(
        "churndevws",
        "capture",
        f"{folder}/2024/03/05/18/inst-a.jsonl",
        "\n".join(
            [
                _event("2024-03-05T18:16:25Z", [_record(2), _record(3)]),  # two requests batched together
                _event("2024-03-05T18:20:00Z", [{"0": 0.7}], kind="azureml.inference.model_outputs"),
                _event("2024-03-05T18:59:00Z", [_record(4)]),
            ]
        ).encode()
        + b"\n",
    )
    blob.put(
        "churndevws",
        "capture",
        f"{folder}/2024/03/05/19/inst-b.jsonl",
        _event("2024-03-05T19:00:00Z", [_record(5)]).encode(),  # the window's end is exclusive
    )
    got = step_io.read_captured(datetime(2024, 3, 5, 18, tzinfo=UTC), datetime(2024, 3, 5, 19, tzinfo=UTC))
    assert list(got.columns) == REQUEST
    assert list(got["tenure_months"]) == [2, 3, 4]
    assert list(got["contract_type"]) == ["annual"] * 3
    # The hour folders outside the window were not read.
    reads = [path for method, path in blob.requests if method == "GET" and path.endswith(".jsonl")]
    assert reads == ["capture/" + f"{folder}/2024/03/05/18/inst-a.jsonl"]


class _Ingestion:
    def __init__(self) -> None:
        self.posts: list[tuple[str, dict, list]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.posts.append((self.path, dict(self.headers), body))
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_a_drift_result_is_published_as_one_row_per_request_column(io, monkeypatch):
    step_io, _, config = io
    ingestion = _Ingestion()
    config["drift"] = {
        "endpoint": ingestion.url,
        "rule": "dcr-abc",
        "stream": "Custom-MlopsDrift_CL",
        "monitor": "churn-dev-drift",
    }
    monkeypatch.setenv("MLOPS_IO", json.dumps(config))
    result = {
        "status": "ok",
        "threshold": 0.2,
        "n_current": 250,
        "features": {name: {"statistic": "ks", "value": 0.05, "drifted": False} for name in REQUEST},
        "window": {"since": "2024-03-05T18:00:00+00:00", "until": "2024-03-05T19:00:00+00:00"},
    }
    result["features"]["tenure_months"] = {"statistic": "ks", "value": 0.41, "drifted": True}
    step_io.publish_drift(result)
    ingestion.server.shutdown()
    ((path, headers, rows),) = ingestion.posts
    assert path == "/dataCollectionRules/dcr-abc/streams/Custom-MlopsDrift_CL?api-version=2023-01-01"
    assert headers["Content-Type"] == "application/json" and headers["Authorization"] == "Bearer local-fake"
    assert [r["Feature"] for r in rows] == REQUEST
    # Exactly the columns the table declares and the alert queries (providers/azure/model_monitor.py).
    assert set(rows[0]) == {
        "TimeGenerated",
        "Monitor",
        "Feature",
        "Statistic",
        "Value",
        "Threshold",
        "Drifted",
        "Status",
        "Samples",
        "WindowStart",
        "WindowEnd",
    }
    tenure = rows[0]
    assert (tenure["Value"], tenure["Drifted"], tenure["Status"], tenure["Samples"]) == (0.41, True, "ok", 250)
    assert (tenure["Monitor"], tenure["Threshold"]) == ("churn-dev-drift", 0.2)
    assert rows[4]["Statistic"] == "ks" and rows[4]["Drifted"] is False


def test_a_skipped_window_is_still_published(io):
    step_io, _, _ = io
    rows = step_io.drift_rows(
        {
            "status": "skipped",
            "threshold": 0.2,
            "n_current": 12,
            "features": {},
            "window": {"since": None, "until": "x"},
        },
        "m",
    )
    assert len(rows) == 9
    assert {(r["Status"], r["Value"], r["Drifted"], r["Samples"]) for r in rows} == {("skipped", None, False, 12)}
    assert [r["Statistic"] for r in rows][:5] == ["ks", "ks", "ks", "ks", "linf"]


def test_the_baseline_of_a_version_is_written_as_an_mltable(io, tmp_path):
    step_io, blob, _ = io
    folder = tmp_path / "baseline"
    folder.mkdir()
    (folder / "baseline.csv").write_text("tenure_months\n3\n")
    assert step_io.write_baseline(folder, "churn-dev-churn", 7) == "baselines/churn-dev-churn/7/"
    assert blob.names("churndevdata", "data") == [
        "baselines/churn-dev-churn/7/MLTable",
        "baselines/churn-dev-churn/7/baseline.csv",
    ]
    assert (
        blob.blobs[("churndevdata", "data", "baselines/churn-dev-churn/7/MLTable")]
        .decode()
        .startswith("paths:\n  - file: ./baseline.csv\n")
    )


def test_the_azure_io_refuses_another_clouds_configuration(io, monkeypatch):
    step_io, _, _ = io
    monkeypatch.setenv("MLOPS_IO", json.dumps({"kind": "local", "root": "/tmp/x"}))
    with pytest.raises(RuntimeError, match="asks for 'local'"):
        step_io.read_captured()
