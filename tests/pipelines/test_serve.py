"""Serving the model a local run trained, through the kit's serving code, as every cloud serves it.

The module is imported from ``<model>/code/`` (what ``mlops_model.save`` ships with the model), so
the test proves the model folder is servable on its own. One schema all the way: serving accepts
exactly the request columns, captures them, and the drift baseline has the same columns.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import urllib.error
import urllib.request
from types import ModuleType

import pandas as pd
import pytest

from pipelines.churn import data
from pipelines.local import LocalRunResult, run_local
from tests.pipelines.conftest import PIPELINE

REQUEST = list(PIPELINE.contract.request_names)


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> LocalRunResult:
    return run_local("churn", tmp_path_factory.mktemp("serve"), rows=900, seed=5)


@pytest.fixture(scope="module")
def serve(run) -> ModuleType:
    code = run.model_path / "code"
    sys.path.insert(0, str(code))
    spec = importlib.util.spec_from_file_location("shipped_serve", code / "serve.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path.remove(str(code))


@pytest.fixture(scope="module")
def loaded(serve, run):
    return serve.load(run.model_path)


@pytest.fixture(scope="module")
def records(run) -> list[dict]:
    rows = pd.read_csv(run.outputs["training_data"]["test"] / "test.csv").head(5)
    return json.loads(rows[REQUEST].to_json(orient="records"))


def test_the_model_folder_carries_its_schema_and_serving_code(run):
    schema = json.loads((run.model_path / "request_schema.json").read_text())
    assert [c["name"] for c in schema["request"]] == REQUEST
    assert schema["task"] == "classification"
    runtime = json.loads((run.model_path / "runtime.json").read_text())
    assert runtime["framework"] == "scikit-learn"
    assert sorted(p.name for p in (run.model_path / "code").iterdir()) == [
        "mlops_schema.py",
        "mlops_serve.py",
        "serve.py",
    ]


def test_csv_and_json_requests_get_the_same_scores(serve, loaded, records):
    csv = "".join(",".join(str(r[c]) for c in REQUEST) + "\n" for r in records)
    by_csv = serve.predict(loaded, serve.decode(loaded, csv, "text/csv"))
    by_json = serve.predict(loaded, serve.decode(loaded, json.dumps(records), "application/json"))
    by_instances = serve.predict(loaded, serve.decode(loaded, json.dumps({"instances": records}), "application/json"))
    assert by_csv == pytest.approx(by_json)
    assert by_instances == pytest.approx(by_json)
    assert len(by_json) == 5 and all(0.0 <= p <= 1.0 for p in by_json)
    header = ",".join(REQUEST) + "\n" + csv
    assert serve.predict(loaded, serve.decode(loaded, header, "text/csv")) == pytest.approx(by_csv)


def test_serving_scores_what_the_model_scores(serve, loaded, records):
    frame = serve.to_frame(loaded, records)
    assert serve.predict(loaded, frame) == pytest.approx(list(loaded["model"].predict_proba(frame)[:, 1]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("monthly_charges"), "record 0 lacks monthly_charges"),
        (lambda r: r.update(customer_id="C1"), "record 0 carries customer_id, not a request column"),
        (lambda r: r.update(tenure_months="three"), "column 'tenure_months' must be a number"),
        (lambda r: r.update(tenure_months=2.5), "column 'tenure_months' must be a whole number"),
        (lambda r: r.update(paperless_billing="maybe"), "column 'paperless_billing' must be true/false"),
    ],
)
def test_a_request_off_the_schema_is_refused_naming_the_column(serve, loaded, records, change, message):
    bad = dict(records[0])
    change(bad)
    with pytest.raises(serve.ServingError, match=message):
        serve.decode(loaded, json.dumps([bad]), "application/json")


def test_bad_shapes_get_a_clear_error(serve, loaded):
    with pytest.raises(serve.ServingError, match="not valid JSON"):
        serve.decode(loaded, "{", "application/json")
    with pytest.raises(serve.ServingError, match="csv line 1 has 2 values; expected 9"):
        serve.decode(loaded, "1,2\n", "text/csv")
    with pytest.raises(serve.ServingError, match="unsupported content type"):
        serve.decode(loaded, "x", "text/plain")


def test_sagemaker_entry_points(serve, run, records):
    model = serve.model_fn(str(run.model_path))
    data_in = serve.input_fn(json.dumps(records).encode(), "application/json")
    body, kind = serve.output_fn(serve.predict_fn(data_in, model), "application/json")
    assert kind == "application/json" and len(json.loads(body)["predictions"]) == 5
    assert serve.output_fn([0.25], "text/csv") == ("0.25\n", "text/csv")


def test_azure_init_and_run_read_azureml_model_dir(serve, run, records, monkeypatch, tmp_path):
    # Azure ML mounts the registered folder under AZUREML_MODEL_DIR: the model is one level down.
    (tmp_path / "model").symlink_to(run.model_path, target_is_directory=True)
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path))
    serve.init()
    answer = serve.run(json.dumps({"data": records}))
    assert len(answer["predictions"]) == 5


def _post(url: str, body: object) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_loopback_server_scores_refuses_and_captures_the_request_columns(serve, run, records, tmp_path):
    capture = tmp_path / "capture"
    server = serve.make_server(run.model_path, capture=capture)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/invocations"
        status, body = _post(url, records)
        assert status == 200 and len(body["predictions"]) == 5
        status, body = _post(url, [{**records[0], "extra": 1}])
        assert status == 400 and "carries extra" in body["error"]
    finally:
        server.shutdown()
        server.server_close()
    lines = (capture / "requests.jsonl").read_text().splitlines()
    assert len(lines) == 1  # the refused request is not captured
    captured = pd.DataFrame(json.loads(lines[0])["request"])
    baseline = pd.read_csv(run.outputs["training_data"]["baseline"] / "baseline.csv")
    assert list(captured.columns) == list(baseline.columns) == REQUEST  # one schema: serve = capture = baseline


def test_generated_traffic_is_on_the_schema(serve, loaded):
    """The laptop loop sends requests built from the generator: they must pass serving's checks."""
    from pipelines.churn.steps import features

    frame = features.engineer(data.generate(30, seed=9))[REQUEST]
    rows = json.loads(frame.to_json(orient="records"))
    assert len(serve.predict(loaded, serve.decode(loaded, json.dumps(rows), "application/json"))) == 30
