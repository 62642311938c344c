"""Churn data generator and step scripts, exercised in-process (fast) and once as a CLI."""

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

PIPELINE = get_pipeline("churn")


def _load(step: str) -> ModuleType:
    """Import a step script by path, as the clouds see it: a file, not a package module."""
    path = PIPELINE.steps_dir / PIPELINE.step(step).script
    spec = importlib.util.spec_from_file_location(f"churn_step_{step}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


validate = _load("validate")
features = _load("features")
train = _load("train")
evaluate = _load("evaluate")


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return data.generate(rows=600, seed=3)


def _write(df: pd.DataFrame, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    df.to_csv(directory / "data.csv", index=False)
    return directory


# --- generator ----------------------------------------------------------------------------


def test_generator_is_deterministic_per_seed():
    pd.testing.assert_frame_equal(data.generate(300, seed=5), data.generate(300, seed=5))
    a, b = data.generate(300, seed=5), data.generate(300, seed=6)
    assert not a.equals(b)
    assert not a["tenure_months"].equals(b["tenure_months"])


def test_generator_shape_and_contract(frame: pd.DataFrame):
    assert list(frame.columns) == list(data.COLUMNS)
    assert len(frame) == 600
    assert frame["customer_id"].is_unique
    assert set(frame["churned"].unique()) == {0, 1}
    assert 0.15 < frame["churned"].mean() < 0.6
    assert (frame["tenure_months"] >= 0).all() and frame["tenure_months"].dtype == "int64"
    assert frame["monthly_charges"].dtype == "float64"
    pd.to_datetime(frame["event_time"], format="%Y-%m-%dT%H:%M:%S")  # parses, no exception


def test_write_roundtrips_through_csv(tmp_path: Path):
    path = data.write(tmp_path / "raw", rows=50, seed=1)
    assert path.name == "churn.csv"
    back = pd.read_csv(path, dtype={"customer_id": str})
    pd.testing.assert_frame_equal(back, data.generate(50, seed=1), check_dtype=False)


# --- validate -----------------------------------------------------------------------------


def test_validate_accepts_good_data(tmp_path: Path, frame: pd.DataFrame):
    raw = _write(frame, tmp_path / "raw")
    out, rep = tmp_path / "validated", tmp_path / "report"
    code = validate.main(["--raw", str(raw), "--validated", str(out), "--report", str(rep)])
    assert code == 0
    report = json.loads((rep / "report.json").read_text())
    assert report["passed"] is True and report["rows"] == 600 and report["problems"] == []
    clean = pd.read_csv(out / "validated.csv", dtype={"customer_id": str})
    assert len(clean) == 600
    assert clean["customer_id"].tolist() == frame["customer_id"].tolist()


def _null_ids(df):
    df.loc[[3, 9], "customer_id"] = None
    return df


def _duplicate_ids(df):
    df.loc[5, "customer_id"] = df.loc[4, "customer_id"]
    return df


def _negative_tenure(df):
    df.loc[7, "tenure_months"] = -2
    return df


def _wrong_type(df):
    df["support_calls"] = df["support_calls"].astype(object)
    df.loc[1, "support_calls"] = "lots"
    return df


def _bad_category(df):
    df.loc[0, "contract_type"] = "lifetime"
    return df


def _bad_timestamp(df):
    df.loc[0, "event_time"] = "yesterday"
    return df


BAD = {
    "null ids": (_null_ids, "customer_id", "not_nullable"),
    "duplicate ids": (_duplicate_ids, "customer_id", "field_uniqueness"),
    "negative tenure": (_negative_tenure, "tenure_months", "in_range"),
    "wrong type": (_wrong_type, "support_calls", "dtype"),
    "unknown category": (_bad_category, "contract_type", "isin"),
    "unparseable time": (_bad_timestamp, "event_time", "coerce_dtype"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_validate_rejects_bad_data(tmp_path, frame, capsys, case):
    breaker, column, check = BAD[case]
    raw = _write(breaker(frame.copy()), tmp_path / "raw")
    out, rep = tmp_path / "validated", tmp_path / "report"
    code = validate.main(["--raw", str(raw), "--validated", str(out), "--report", str(rep)])
    assert code == 1
    err = capsys.readouterr().err
    assert "data validation failed" in err
    assert f"column '{column}'" in err
    report = json.loads((rep / "report.json").read_text())
    assert report["passed"] is False
    assert any(p["column"] == column and check in p["check"] for p in report["problems"])
    assert not (out / "validated.csv").exists()  # bad data must not flow downstream


def test_validate_min_rows(frame: pd.DataFrame):
    validated, report = validate.validate(frame.head(10), min_rows=100)
    assert validated is None
    assert any("fewer than 100 rows" in p["check"] for p in report["problems"])


def test_validate_cli_exit_code_and_message(tmp_path: Path, frame: pd.DataFrame):
    """The real script, as a cloud runs it: non-zero exit and the column on stderr."""
    raw = _write(_negative_tenure(frame.copy()), tmp_path / "raw")
    argv = PIPELINE.command(
        "validate",
        {"raw": str(raw), "validated": str(tmp_path / "v"), "report": str(tmp_path / "r")},
        {},
    )
    proc = subprocess.run([sys.executable, *argv[1:]], cwd=PIPELINE.steps_dir, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "column 'tenure_months'" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- features -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    return features.split(features.engineer(frame), test_size=0.25, seed=7)


def test_features_split_has_no_customer_leakage(frame, split):
    tr, te = split
    assert set(tr["customer_id"]).isdisjoint(te["customer_id"])
    assert len(tr) + len(te) == len(frame)
    assert set(tr["customer_id"]) | set(te["customer_id"]) == set(frame["customer_id"])
    assert 0.15 < len(te) / len(frame) < 0.35
    assert list(tr.columns) == list(te.columns)


def test_features_split_is_deterministic_and_order_independent(frame, split):
    shuffled = frame.sample(frac=1.0, random_state=0)
    _, te2 = features.split(features.engineer(shuffled), test_size=0.25, seed=7)
    assert set(te2["customer_id"]) == set(split[1]["customer_id"])
    _, te3 = features.split(features.engineer(frame), test_size=0.25, seed=8)
    assert set(te3["customer_id"]) != set(split[1]["customer_id"])


def test_features_columns_are_numeric_and_fixed(frame):
    eng = features.engineer(frame[frame["contract_type"] != "two_year"])
    assert "contract_type__two_year" in eng.columns  # absent category still gets its column
    assert eng["contract_type__two_year"].sum() == 0
    feats = eng.drop(columns=["customer_id", "event_time", "churned"])
    assert all(pd.api.types.is_float_dtype(t) for t in feats.dtypes)
    assert not feats.isna().any().any()
    new = eng[eng["tenure_months"] == 0]
    assert (new["avg_monthly_spend"] == new["total_charges"]).all()  # no divide-by-zero


def test_features_cli_writes_train_and_test(tmp_path, frame):
    data_dir = _write(frame, tmp_path / "validated")
    code = features.main(
        ["--data", str(data_dir), "--train", str(tmp_path / "train"), "--test", str(tmp_path / "test")]
    )
    assert code == 0
    tr = pd.read_csv(tmp_path / "train" / "train.csv", dtype={"customer_id": str})
    te = pd.read_csv(tmp_path / "test" / "test.csv", dtype={"customer_id": str})
    assert set(tr["customer_id"]).isdisjoint(te["customer_id"])


def test_features_rejects_bad_test_size(frame):
    with pytest.raises(ValueError, match="test_size"):
        features.split(features.engineer(frame), test_size=1.5)


# --- train + evaluate ---------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", train.ALGORITHMS)
def test_train_and_evaluate_in_process(split, algorithm):
    tr, te = split
    model = train.train(tr, algorithm=algorithm, seed=7)
    assert list(model.feature_names_in_) == train.feature_columns(tr)
    assert "customer_id" not in model.feature_names_in_
    metrics = evaluate.evaluate(model, te)
    assert set(metrics) == set(PIPELINE.metrics)
    assert all(0.0 <= v <= 1.0 for v in metrics.values())
    assert metrics["roc_auc"] > 0.7


def test_train_rejects_unknown_algorithm():
    with pytest.raises(ValueError, match="unknown algorithm 'svm'"):
        train.build_model("svm")


def test_train_and_evaluate_cli_files(tmp_path, split):
    tr, te = split
    _write(tr, tmp_path / "train")
    _write(te, tmp_path / "test")
    assert train.main(["--train", str(tmp_path / "train"), "--model", str(tmp_path / "m")]) == 0
    assert (tmp_path / "m" / "model.joblib").is_file()
    assert json.loads((tmp_path / "m" / "model.json").read_text())["rows"] == len(tr)
    code = evaluate.main(
        ["--model", str(tmp_path / "m"), "--test", str(tmp_path / "test"), "--metrics", str(tmp_path / "out")]
    )
    assert code == 0
    doc = json.loads((tmp_path / "out" / PIPELINE.metrics_file).read_text())
    assert list(doc) == ["metrics"]
    assert set(doc["metrics"]) == set(PIPELINE.metrics)


def test_evaluate_rejects_missing_features(split):
    tr, te = split
    model = train.train(tr)
    with pytest.raises(ValueError, match="lacks model features: log_tenure"):
        evaluate.evaluate(model, te.drop(columns=["log_tenure"]))


def test_read_first_csv_errors_on_empty_dir(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no \*\.csv"):
        validate.read_first_csv(tmp_path)
