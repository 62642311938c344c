"""The laptop loop: train, register, serve, traffic, drift, retrain once per episode.

The full loops take about a minute each: marked `slow` (run by .ci/run, skipped by the default
`pytest -q`). The guard, registry and argument checks are fast.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra import cli
from pipelines.loop import LocalRegistry, LoopOptions, RetrainGuard, run_loop

QUIET = {"say": lambda line: None}


@pytest.mark.slow
def test_no_drift_no_retraining(tmp_path):
    result = run_loop(LoopOptions("churn", tmp_path, rows=1500, requests=300), **QUIET)
    assert result.stopped == ""
    assert [(v.version, v.trigger, v.status) for v in result.versions] == [(1, "initial", "approved")]
    assert len(result.drift_checks) == 1
    check = result.drift_checks[0]
    assert check["status"] == "ok" and check["drifted"] is False and check["n_current"] == 300
    assert result.retrainings == []
    assert result.traffic == [{"sent": 300, "scored": 300, "refused": 0}]
    assert result.report is not None and "Drift check 1" in result.report.read_text()


@pytest.mark.slow
def test_injected_drift_retrains_exactly_once_and_registers_a_new_version(tmp_path):
    options = LoopOptions("churn", tmp_path, rows=1500, requests=300, drift={"monthly_charges": 30.0})
    result = run_loop(options, **QUIET)
    assert [(v.version, v.trigger) for v in result.versions] == [(1, "initial"), (2, "drift")]
    first, second = result.drift_checks
    assert first["version"] == 1 and first["features"]["monthly_charges"]["drifted"] is True
    assert first["features"]["tenure_months"]["drifted"] is False  # only the shifted column
    assert second["version"] == 2 and second["drifted"] is True  # the world stays shifted...
    started = [r for r in result.retrainings if r["started"]]
    assert len(started) == 1  # ...but one episode starts one retraining
    assert result.retrainings[1]["started"] is False and "cooldown" in result.retrainings[1]["why"]
    # the retraining read the newest data: the drifted batch went into the feature store
    parts = sorted((tmp_path / "feature_store" / "features" / "customer_profile").glob("part-*.csv"))
    assert len(parts) == 2
    html = result.report.read_text()
    assert html.count("data:image/png;base64,") >= 9 and "DRIFT" in html


@pytest.mark.slow
def test_the_fraud_pipeline_loops_the_same_way(tmp_path):
    """The second example (XGBoost, two feature groups, window features): no drift, no retraining;
    shifted amounts drift `amount` and the window features built from it, and start one retraining.

    Traffic is as large as the training batch: the window features (7-day counts and means per card)
    are computed over the batch at hand, and a 300-request batch gives them less history than the
    training data had, which KS reads as drift of `amount_mean_7d` (0.21 on 300 requests, 0.09 on
    1500). Serving-time window features from the online store's history would remove that skew."""
    quiet = run_loop(LoopOptions("fraud", tmp_path / "quiet", rows=1500, requests=1500), **QUIET)
    assert [(v.version, v.trigger) for v in quiet.versions] == [(1, "initial")]
    assert quiet.drift_checks[0]["drifted"] is False and quiet.retrainings == []

    options = LoopOptions("fraud", tmp_path / "drift", rows=1500, requests=1500, drift={"amount": 200.0})
    result = run_loop(options, **QUIET)
    assert [(v.version, v.trigger) for v in result.versions] == [(1, "initial"), (2, "drift")]
    first = result.drift_checks[0]
    drifted = sorted(name for name, column in first["features"].items() if column["drifted"])
    assert "amount" in drifted and set(drifted) <= {"amount", "amount_mean_7d", "amount_ratio_7d"}
    assert first["features"]["merchant_category"]["drifted"] is False
    assert [r["started"] for r in result.retrainings] == [True, False]  # one episode, one retraining
    assert result.traffic == [{"sent": 1500, "scored": 1500, "refused": 0}] * 2


@pytest.mark.slow
def test_bad_raw_data_stops_at_validation_and_nothing_downstream_runs(tmp_path, capsys):
    code = cli.main(
        ["loop", "churn", "--local", "--rows", "600", "--corrupt", "tenure_months", "--workdir", str(tmp_path)]
    )
    captured = capsys.readouterr()
    assert code == cli.EXIT_RUN_FAILED
    assert "step 'validate' stopped the run: column 'tenure_months'" in captured.out
    assert "nothing downstream ran" in captured.err
    assert not (tmp_path / "feature_store" / "features").exists()  # no feature reached the store
    assert LocalRegistry(tmp_path / "registry").versions() == []


def test_guard_refuses_while_in_flight_and_within_the_cooldown(tmp_path):
    guard = RetrainGuard(tmp_path, timedelta(hours=24))
    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert guard.decide(now) == (True, "drift above the threshold")
    guard.start(now)
    allowed, why = guard.decide(now + timedelta(minutes=5))
    assert not allowed and "in flight" in why
    guard.finish()
    allowed, why = guard.decide(now + timedelta(hours=23, minutes=59))
    assert not allowed and "cooldown" in why
    assert guard.decide(now + timedelta(hours=24))[0] is True  # the cooldown is 24 h, not more


def test_manual_approval_waits_until_approved(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.joblib").write_bytes(b"x")
    registry = LocalRegistry(tmp_path / "registry")
    pending = registry.register(model, {"roc_auc": 0.8}, "initial", "manual")
    assert pending.status == "pending" and registry.latest_approved() is None
    approved = registry.approve(pending.version, "alice")
    assert (approved.status, approved.approved_by) == ("approved", "alice")
    assert json.loads((tmp_path / "registry" / "1" / "version.json").read_text())["status"] == "approved"
    auto = registry.register(model, {"roc_auc": 0.9}, "drift", "auto")
    assert (auto.version, auto.status) == (2, "approved")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--drift", "monthly_charges"], "--drift: must look like COLUMN=SHIFT"),
        (["--drift", "monthly_charges=lots"], "--drift: must look like COLUMN=SHIFT"),
        (["--rows", "10"], "--rows: must be between 300 and 200,000"),
        (["--gate", "mse:0.5"], "--gate: unknown metric 'mse'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    code = cli.main(["loop", "churn", "--local", "--workdir", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == cli.EXIT_INVALID
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "registry").exists()


def test_unknown_pipeline_is_exit_2(capsys):
    assert cli.main(["loop", "nope", "--local"]) == cli.EXIT_INVALID
    assert "unknown pipeline 'nope'" in capsys.readouterr().err


def test_a_column_that_cannot_shift_is_exit_2(capsys, tmp_path):
    code = cli.main(["loop", "churn", "--local", "--workdir", str(tmp_path), "--drift", "contract_type=1"])
    assert code == cli.EXIT_INVALID
    assert "cannot shift contract_type" in capsys.readouterr().err


def test_stop_after_train_registers_nothing(tmp_path):
    result = run_loop(LoopOptions("churn", tmp_path, rows=600, stop_after="train"), **QUIET)
    assert result.stages == ["validate", "train"]
    assert result.versions == [] and not (Path(tmp_path) / "traffic").exists()
