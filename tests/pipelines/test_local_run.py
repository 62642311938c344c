"""End-to-end local runs: every step as a subprocess with the cloud command line."""

from __future__ import annotations

import json

import pytest

from pipelines import UnknownPipelineError, get_pipeline
from pipelines.local import LocalRunResult, StepFailedError, run_local

ROWS = 600


@pytest.fixture(scope="module")
def passing(tmp_path_factory) -> tuple[LocalRunResult, list[tuple[str, str]]]:
    events: list[tuple[str, str]] = []
    result = run_local(
        "churn",
        tmp_path_factory.mktemp("run"),
        rows=ROWS,
        seed=7,
        quality_gate=("roc_auc", 0.5),
        on_event=lambda event, step: events.append((event, step)),
    )
    return result, events


def test_run_produces_metrics_and_passes_low_gate(passing):
    result, _ = passing
    assert result.pipeline == "churn"
    assert set(result.metrics) == set(get_pipeline("churn").metrics)
    assert 0.7 < result.metrics["roc_auc"] <= 1.0
    assert all(0.0 <= v <= 1.0 for v in result.metrics.values())
    assert (result.gate_metric, result.gate_threshold, result.gate_passed) == ("roc_auc", 0.5, True)


def test_run_reports_progress_in_step_order(passing):
    _, events = passing
    order = [s.name for s in get_pipeline("churn").steps]
    assert events == [(kind, step) for step in order for kind in ("start", "done")]


def test_run_lays_out_workdir_per_step_output(passing):
    result, _ = passing
    wd = result.workdir
    assert (wd / "data" / "raw" / "churn.csv").is_file()
    assert [s.name for s in result.steps] == [
        "validate",
        "features",
        "store_features",
        "training_data",
        "train",
        "evaluate",
    ]
    for step in result.steps:
        assert step.seconds > 0
        for name, path in step.outputs.items():
            assert path == wd / step.name / name and path.is_dir() and any(path.iterdir())
    assert result.model_path == wd / "train" / "model"
    assert (result.model_path / "model.joblib").is_file()
    doc = json.loads((wd / "evaluate" / "metrics" / "evaluation.json").read_text())
    assert doc["metrics"] == result.metrics
    assert json.loads((wd / "validate" / "report" / "report.json").read_text())["passed"]
    # the feature store is in the loop: the features went in, and training read them back
    written = json.loads((wd / "store_features" / "written" / "written.json").read_text())
    assert written["customer_profile"]["rows"] == ROWS
    assert sorted((wd / "feature_store" / "features" / "customer_profile").glob("part-*.csv"))
    # the steps ran from the same code bundle every cloud uploads
    assert (wd / "code" / "mlops_contract.json").is_file() and (wd / "code" / "mlops_io.py").is_file()


def test_run_fails_high_gate_and_is_deterministic(passing, tmp_path):
    result = run_local("churn", tmp_path, rows=ROWS, seed=7, quality_gate=("roc_auc", 0.99))
    assert result.gate_passed is False
    assert result.gate_threshold == 0.99
    assert result.metrics == passing[0].metrics  # same seed, same data, same model


def test_unknown_gate_metric_fails_before_running(tmp_path):
    with pytest.raises(ValueError) as info:
        run_local("churn", tmp_path / "wd", rows=ROWS, quality_gate=("auc", 0.5))
    msg = str(info.value)
    assert "'auc'" in msg and "roc_auc" in msg and "f1" in msg
    assert not (tmp_path / "wd").exists()


def test_unknown_pipeline(tmp_path):
    with pytest.raises(UnknownPipelineError, match="churn"):
        run_local("nope", tmp_path)


def test_failing_step_raises_step_failed_error(tmp_path):
    events: list[tuple[str, str]] = []
    # 50 rows is below validate's min_rows=100: the first step must stop the run.
    with pytest.raises(StepFailedError) as info:
        run_local("churn", tmp_path, rows=50, on_event=lambda e, s: events.append((e, s)))
    err = info.value
    assert err.step == "validate" and err.returncode == 1
    assert "fewer than 100 rows" in err.stderr_tail
    assert "step 'validate' failed with exit code 1" in str(err)
    assert events == [("start", "validate")]
    assert not (tmp_path / "features").exists()
