"""The churn data generator and step scripts, in-process from the code bundle, and once as a CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.churn import data
from tests.pipelines.conftest import PIPELINE


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return data.generate(rows=900, seed=3)


def _write(df: pd.DataFrame, directory: Path, name: str = "data.csv") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    df.to_csv(directory / name, index=False)
    return directory


# --- generator ----------------------------------------------------------------------------


def test_generator_is_deterministic_per_seed():
    pd.testing.assert_frame_equal(data.generate(300, seed=5), data.generate(300, seed=5))
    assert not data.generate(300, seed=5).equals(data.generate(300, seed=6))


def test_generator_gives_monthly_snapshots_per_customer(frame: pd.DataFrame):
    assert list(frame.columns) == list(data.COLUMNS)
    assert len(frame) == 900
    per_customer = frame.groupby("customer_id").size()
    assert per_customer.max() == 3 and per_customer.min() >= 1
    assert not frame.duplicated(["customer_id", "event_time"]).any()
    one = frame[frame["customer_id"] == per_customer.idxmax()].sort_values("event_time")
    assert one["tenure_months"].diff().dropna().tolist() == [1, 1]  # a month apart
    assert set(frame["churned"].unique()) == {0, 1}
    assert 0.15 < frame["churned"].mean() < 0.6


def test_shift_moves_only_the_named_column():
    base, moved = data.generate(300, seed=5), data.generate(300, seed=5, shift={"monthly_charges": 30.0})
    assert np.allclose(moved["monthly_charges"] - base["monthly_charges"], 30.0)
    pd.testing.assert_series_equal(moved["tenure_months"], base["tenure_months"])
    with pytest.raises(ValueError, match="cannot shift contract_type"):
        data.generate(10, shift={"contract_type": 1.0})


def test_write_roundtrips_through_csv(tmp_path: Path):
    path = data.write(tmp_path / "raw", rows=50, seed=1)
    assert path.name == "churn.csv"
    back = pd.read_csv(path, dtype={"customer_id": str})
    pd.testing.assert_frame_equal(back, data.generate(50, seed=1), check_dtype=False)


# --- validate -----------------------------------------------------------------------------


def test_validate_accepts_every_batch_of_the_folder(tmp_path: Path, frame: pd.DataFrame, step):
    validate = step("validate")
    raw = _write(frame.iloc[:500], tmp_path / "raw", "a.csv")
    _write(frame.iloc[500:], raw, "b.csv")
    out, rep = tmp_path / "validated", tmp_path / "report"
    assert validate.main(["--raw", str(raw), "--validated", str(out), "--report", str(rep)]) == 0
    report = json.loads((rep / "report.json").read_text())
    assert report["passed"] is True and report["rows"] == 900 and report["problems"] == []
    assert len(pd.read_csv(out / "validated.csv")) == 900  # both batches, not the first


def _duplicate_snapshot(df):
    df.loc[5, ["customer_id", "event_time"]] = df.loc[4, ["customer_id", "event_time"]].to_numpy()
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


def _null_ids(df):
    df.loc[[3, 9], "customer_id"] = None
    return df


BAD = {
    "null ids": (_null_ids, "customer_id", "not_nullable"),
    "duplicate snapshot": (_duplicate_snapshot, "customer_id", "uniqueness"),
    "negative tenure": (_negative_tenure, "tenure_months", "in_range"),
    "wrong type": (_wrong_type, "support_calls", "dtype"),
    "unknown category": (_bad_category, "contract_type", "isin"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_validate_rejects_bad_data(tmp_path, frame, capsys, case, step):
    validate = step("validate")
    breaker, column, check = BAD[case]
    raw = _write(breaker(frame.copy()), tmp_path / "raw")
    out, rep = tmp_path / "validated", tmp_path / "report"
    assert validate.main(["--raw", str(raw), "--validated", str(out), "--report", str(rep)]) == 1
    err = capsys.readouterr().err
    assert "data validation failed" in err
    report = json.loads((rep / "report.json").read_text())
    assert report["passed"] is False
    assert any(check in p["check"] for p in report["problems"]), report["problems"]
    assert any(column in str(p["column"]) or column in str(p["check"]) for p in report["problems"])
    assert not (out / "validated.csv").exists()  # bad data must not flow downstream


def test_validate_cli_exit_code_and_message(tmp_path: Path, frame: pd.DataFrame, code_dir: Path):
    """The real script, as a cloud runs it from the bundle: non-zero exit and the column on stderr."""
    raw = _write(_negative_tenure(frame.copy()), tmp_path / "raw")
    argv = PIPELINE.command(
        "validate", {"raw": str(raw), "validated": str(tmp_path / "v"), "report": str(tmp_path / "r")}, {}
    )
    proc = subprocess.run([sys.executable, *argv[1:]], cwd=code_dir, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "column 'tenure_months'" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- features -----------------------------------------------------------------------------


def test_features_writes_the_contracts_group_and_the_label_spine(tmp_path, frame, step):
    features = step("features")
    raw = _write(frame, tmp_path / "validated")
    assert features.main(["--data", str(raw), "--features", str(tmp_path / "f"), "--labels", str(tmp_path / "l")]) == 0
    written = pd.read_csv(tmp_path / "f" / "customer_profile.csv")
    contract = PIPELINE.contract
    expected = [contract.entity, contract.event_time, *(c.name for c in contract.reads[0].features)]
    assert list(written.columns) == expected
    spine = pd.read_csv(tmp_path / "l" / "labels.csv")
    assert list(spine.columns) == ["customer_id", "event_time", "churned"]
    assert len(written) == len(spine) == len(frame)


def test_feature_formulas(frame, step):
    out = step("features").engineer(frame.head(3))
    row, source = out.iloc[0], frame.iloc[0]
    months = max(source["tenure_months"], 1)
    assert row["avg_monthly_spend"] == pytest.approx(source["total_charges"] / months, abs=1e-4)
    assert row["support_calls_per_year"] == pytest.approx(source["support_calls"] / (months / 12), abs=1e-4)
    assert row["paperless_billing"] in (True, False)


# --- train and evaluate --------------------------------------------------------------------


@pytest.fixture
def training_rows(frame) -> pd.DataFrame:
    request = [c.name for c in PIPELINE.contract.request]
    from pipelines.churn.steps import features  # the same formulas, imported as a module

    engineered = features.engineer(frame)
    return pd.concat([engineered[request], frame["churned"]], axis=1)


@pytest.mark.parametrize("algorithm", ["logistic_regression", "gradient_boosting"])
def test_train_and_evaluate_on_the_request_columns(tmp_path, training_rows, algorithm, step):
    train, evaluate = step("train"), step("evaluate")
    _write(training_rows.iloc[:600], tmp_path / "train")
    _write(training_rows.iloc[600:], tmp_path / "test")
    model_dir = tmp_path / "model"
    argv = ["--train", str(tmp_path / "train"), "--model", str(model_dir), "--algorithm", algorithm]
    assert train.main(argv) == 0
    assert {"model.joblib", "request_schema.json", "runtime.json"} <= {p.name for p in model_dir.iterdir()}
    assert sorted(p.name for p in (model_dir / "code").iterdir()) == ["mlops_schema.py", "mlops_serve.py", "serve.py"]
    assert (
        evaluate.main(["--model", str(model_dir), "--test", str(tmp_path / "test"), "--metrics", str(tmp_path / "m")])
        == 0
    )
    metrics = json.loads((tmp_path / "m" / "evaluation.json").read_text())["metrics"]
    assert set(metrics) == set(PIPELINE.metrics)
    assert 0.65 < metrics["roc_auc"] <= 1.0


def test_train_rejects_unknown_algorithm(step):
    with pytest.raises(ValueError, match="unknown algorithm"):
        step("train").build_model([], "magic")


def test_train_refuses_a_row_that_breaks_the_contract(tmp_path, training_rows, step):
    from mlops_schema import SchemaError

    broken = training_rows.iloc[:200].copy()
    broken["tenure_months"] = broken["tenure_months"].astype(object)
    broken.loc[broken.index[3], "tenure_months"] = "three"
    with pytest.raises(SchemaError, match="column 'tenure_months' must be a number"):
        step("train").train(broken)
