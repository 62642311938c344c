"""serve.py on a model a real local pipeline run produced, loaded from the model dir.

The module is imported from ``<model>/code/serve.py`` (the copy train.py ships in the model
archive), as the SageMaker scikit-learn container does with SAGEMAKER_SUBMIT_DIRECTORY.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from pipelines import get_pipeline
from pipelines.churn import data
from pipelines.local import LocalRunResult, run_local

PIPELINE = get_pipeline("churn")
ROWS = 400
# The raw dataset's columns, in its order, without the id, the event time and the label: what a
# request carries. Derived from the generator so serve.py is checked against the data itself.
RAW_COLUMNS = [c for c in data.COLUMNS if c not in ("customer_id", "event_time", "churned")]


def _import(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> LocalRunResult:
    return run_local("churn", tmp_path_factory.mktemp("serve"), rows=ROWS, seed=7)


@pytest.fixture(scope="module")
def serve(run) -> ModuleType:
    return _import(run.model_path / "code" / "serve.py", "shipped_serve")


@pytest.fixture(scope="module")
def validated(run) -> pd.DataFrame:
    return pd.read_csv(run.workdir / "validate" / "validated" / "validated.csv", dtype={"customer_id": str})


@pytest.fixture(scope="module")
def model(serve, run):
    return serve.model_fn(str(run.model_path))


def _csv(frame: pd.DataFrame) -> str:
    return frame[RAW_COLUMNS].to_csv(index=False, header=False)


def test_model_archive_carries_its_inference_code(run, serve):
    shipped = run.model_path / "code" / "serve.py"
    assert shipped.read_bytes() == (PIPELINE.steps_dir / "serve.py").read_bytes()
    # No requirements.txt: the serving container would pip-install it at start, without network.
    assert sorted(p.name for p in (run.model_path / "code").iterdir()) == ["serve.py"]
    meta = json.loads((run.model_path / "model.json").read_text())
    assert meta["serving"] == "code/serve.py"
    assert list(serve.INPUT_COLUMNS) == RAW_COLUMNS


def test_csv_and_json_requests_get_the_same_probabilities(serve, model, run, validated):
    rows = validated.head(25)
    from_csv = serve.predict_fn(serve.input_fn(_csv(rows).encode(), "text/csv"), model)
    records = json.loads(rows[RAW_COLUMNS].to_json(orient="records"))
    from_json = serve.predict_fn(serve.input_fn(json.dumps(records), "application/json; charset=utf-8"), model)
    assert len(from_csv) == 25
    assert all(isinstance(p, float) and 0.0 <= p <= 1.0 for p in from_csv)
    assert from_json == pytest.approx(from_csv, abs=1e-12)
    assert len({round(p, 6) for p in from_csv}) > 1  # not a constant
    again = serve.predict_fn(serve.input_fn(_csv(rows), "text/csv"), serve.model_fn(str(run.model_path)))
    assert again == from_csv  # deterministic, also across loads


def test_serving_matches_the_pipelines_own_features_and_model(run, serve, model, validated):
    """No train/serve skew: serve.features == features.engineer, and scores == the model's."""
    features = _import(PIPELINE.steps_dir / "features.py", "churn_features_for_serve")
    engineered = features.engineer(validated)
    columns = model["columns"]
    served = serve.features(serve.to_frame(json.loads(validated[RAW_COLUMNS].to_json(orient="records"))))
    pd.testing.assert_frame_equal(served[columns], engineered[columns], check_dtype=False)
    expected = model["model"].predict_proba(engineered[columns])[:, 1]
    assert serve.predict(model, validated[RAW_COLUMNS].to_dict("records")) == pytest.approx(list(expected))


def test_output_fn_answers_json_or_csv(serve):
    body, mime = serve.output_fn([0.25, 0.75], "application/json")
    assert (json.loads(body), mime) == ({"predictions": [0.25, 0.75]}, "application/json")
    assert serve.output_fn([0.25, 0.75], None)[1] == "application/json"
    assert serve.output_fn([0.25, 0.75], "text/csv") == ("0.25\n0.75\n", "text/csv")
    with pytest.raises(ValueError, match="unsupported accept type 'image/png'"):
        serve.output_fn([0.5], "image/png")


def test_bad_requests_get_a_clear_error(serve):
    with pytest.raises(ValueError, match="unsupported content type 'application/x-npy'.*text/csv"):
        serve.input_fn(b"\x93NUMPY", "application/x-npy")
    with pytest.raises(ValueError, match="csv line 1 has 3 values; expected 7: tenure_months,contract_type"):
        serve.input_fn("1,2,3\n", "text/csv")
    with pytest.raises(ValueError, match="record 0 lacks payment_method"):
        serve.input_fn(json.dumps({c: 1 for c in RAW_COLUMNS if c != "payment_method"}), "application/json")
    with pytest.raises(ValueError, match="monthly_charges must be a number, got 'lots'"):
        serve.input_fn("12,one_year,credit_card,lots,10,0,1\n", "text/csv")
    with pytest.raises(ValueError, match="not valid JSON"):
        serve.input_fn("{oops", "application/json")


def test_csv_header_line_is_optional(serve, model, validated):
    rows = validated.head(3)
    with_header = rows[RAW_COLUMNS].to_csv(index=False)
    assert serve.predict_fn(serve.input_fn(with_header, "text/csv"), model) == serve.predict_fn(
        serve.input_fn(_csv(rows), "text/csv"), model
    )


def test_azure_init_and_run_read_azureml_model_dir(serve, model, run, validated, monkeypatch, tmp_path):
    # Azure ML mounts the registered folder under AZUREML_MODEL_DIR: the model is one level down.
    (tmp_path / "model").symlink_to(run.model_path, target_is_directory=True)
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path))
    monkeypatch.setattr(serve, "_MODEL", None)
    serve.init()
    records = json.loads(validated.head(5)[RAW_COLUMNS].to_json(orient="records"))
    expected = serve.predict(model, records)
    assert serve.run(json.dumps({"data": records})) == {"predictions": expected}
    assert serve.run(json.dumps(records).encode()) == {"predictions": expected}
    # One row scored alone may differ from the same row in a batch in the last bits (BLAS).
    single = serve.run(json.dumps({"instances": records[:1]}))
    assert single["predictions"] == pytest.approx(expected[:1], rel=1e-12)


def test_baseline_inputs_are_the_request_columns(run, tmp_path):
    """`python serve.py inputs` (the pipeline's baseline_inputs step) on the validated data."""
    out = tmp_path / "inputs"
    argv = ["serve.py", "inputs", "--data", str(run.workdir / "validate" / "validated"), "--out", str(out)]
    subprocess.run([sys.executable, *argv], cwd=PIPELINE.steps_dir, check=True, capture_output=True, timeout=60)
    baseline = pd.read_csv(out / "inputs.csv")
    assert list(baseline.columns) == RAW_COLUMNS  # no id, no event time, no label
    assert len(baseline) == ROWS
