"""The kit's own steps: the feature store in the loop, the point-in-time read, the drift statistic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.pipelines.conftest import PIPELINE

FEATURES = [c.name for c in PIPELINE.contract.reads[0].features]


def _profile(customer: str, when: str, tenure: int, charges: float) -> dict[str, object]:
    return {
        "customer_id": customer,
        "event_time": when,
        "tenure_months": tenure,
        "monthly_charges": charges,
        "total_charges": charges * tenure,
        "support_calls": 1,
        "contract_type": "one_year",
        "payment_method": "credit_card",
        "paperless_billing": True,
        "avg_monthly_spend": charges,
        "support_calls_per_year": 1.0,
    }


def test_written_features_read_back_typed_and_the_last_write_wins(store, step):
    io = step("mlops_io")
    io.write_features("customer_profile", pd.DataFrame([_profile("C1", "2024-01-01T00:00:00Z", 3, 50.0)]))
    io.write_features("customer_profile", pd.DataFrame([_profile("C1", "2024-01-01T00:00:00Z", 3, 55.0)]))
    io.write_features("customer_profile", pd.DataFrame([_profile("C2", "2024-02-01T00:00:00Z", 9, 70.0)]))
    back = io.read_features("customer_profile").sort_values("customer_id").reset_index(drop=True)
    assert back["customer_id"].tolist() == ["C1", "C2"]
    assert back["monthly_charges"].tolist() == [55.0, 70.0]  # the rewrite of (C1, Jan 1) replaced the first
    assert back["tenure_months"].dtype == "int64" and back["paperless_billing"].dtype == bool
    assert str(back["event_time"].dtype).startswith("datetime64")


def test_store_features_refuses_columns_the_contract_does_not_name(tmp_path, store, step):
    features = tmp_path / "features"
    features.mkdir()
    row = {**_profile("C1", "2024-01-01T00:00:00Z", 3, 50.0), "secret_score": 0.9}
    pd.DataFrame([row]).to_csv(features / "customer_profile.csv", index=False)
    code = step("mlops_store_features").main(["--features", str(features), "--written", str(tmp_path / "w")])
    assert code == 1
    assert not (store / "features").exists()


def test_point_in_time_read_never_leaks_a_later_value(tmp_path, store, step):
    """C1 has snapshots in January and March; its January label must see January's features.

    A naive join on the customer alone (the latest row) would give it March's values.
    """
    io, dataset = step("mlops_io"), step("mlops_training_data")
    rows = [
        _profile("C1", "2024-01-01T00:00:00Z", 3, 50.0),
        _profile("C1", "2024-03-01T00:00:00Z", 5, 99.0),
        _profile("C2", "2024-02-01T00:00:00Z", 9, 70.0),
    ]
    io.write_features("customer_profile", pd.DataFrame(rows))
    labels = tmp_path / "labels"
    labels.mkdir()
    spine = pd.DataFrame(
        {
            "customer_id": ["C1", "C1", "C2", "C2"],
            "event_time": ["2024-01-15T00:00:00", "2024-03-01T00:00:00", "2024-02-10T00:00:00", "2024-01-20T00:00:00"],
            "churned": [0, 1, 1, 0],
        }
    )
    spine.to_csv(labels / "labels.csv", index=False)
    stored = io.read_features("customer_profile")
    contract = json.loads((Path(dataset.__file__).with_name("mlops_contract.json")).read_text())
    joined = dataset.point_in_time(
        dataset.coerce(
            dataset.read_table(labels),
            [{"name": "customer_id", "type": "string"}, {"name": "event_time", "type": "timestamp"}, contract["label"]],
        ),
        stored,
        "customer_id",
        "event_time",
    )
    assert joined["monthly_charges"].tolist()[:3] == [50.0, 99.0, 70.0]  # Jan label -> Jan values; exact time counts
    assert np.isnan(joined["monthly_charges"].iloc[3])  # C2 before its first snapshot: no value yet
    naive = spine.merge(stored.sort_values("event_time").groupby("customer_id").tail(1), on="customer_id")
    assert naive.loc[0, "monthly_charges"] == 99.0  # what the point-in-time read prevents


def test_training_data_writes_request_columns_the_label_and_the_baseline(tmp_path, store, step):
    from pipelines.churn import data

    frame = data.generate(900, seed=11)
    features = step("features")
    engineered, spine = features.engineer(frame), features.labels(frame)
    (tmp_path / "f").mkdir()
    engineered.to_csv(tmp_path / "f" / "customer_profile.csv", index=False)
    (tmp_path / "l").mkdir()
    spine.to_csv(tmp_path / "l" / "labels.csv", index=False)
    assert step("mlops_store_features").main(["--features", str(tmp_path / "f"), "--written", str(tmp_path / "w")]) == 0
    argv = ["--labels", str(tmp_path / "l"), "--written", str(tmp_path / "w")]
    argv += ["--train", str(tmp_path / "train"), "--test", str(tmp_path / "test"), "--baseline", str(tmp_path / "b")]
    assert step("mlops_training_data").main(argv) == 0
    train, test = pd.read_csv(tmp_path / "train" / "train.csv"), pd.read_csv(tmp_path / "test" / "test.csv")
    request = list(PIPELINE.contract.request_names)
    assert list(train.columns) == [*request, "churned"]
    assert list(pd.read_csv(tmp_path / "b" / "baseline.csv").columns) == request
    assert len(train) + len(test) == len(frame)


# --- drift --------------------------------------------------------------------------------

REQUEST = [{"name": "x", "type": "float"}, {"name": "k", "type": "string"}, {"name": "b", "type": "bool"}]


def test_numeric_drift_is_scipys_two_sample_ks_on_unequal_samples(step):
    drift = step("mlops_drift")
    rng = np.random.default_rng(1)
    baseline = pd.Series(rng.normal(0.0, 1.0, 1000))
    current = pd.Series(rng.normal(0.4, 1.0, 137))  # a different size on purpose
    name, value = drift.distance(baseline, current, "float")
    assert name == "ks"
    assert value == pytest.approx(stats.ks_2samp(baseline, current).statistic, abs=1e-12)
    # and by the definition, computed here independently: the largest gap between the two ECDFs
    grid = np.sort(np.concatenate([baseline, current]))
    ecdf = lambda s: np.searchsorted(np.sort(s), grid, side="right") / len(s)  # noqa: E731
    assert value == pytest.approx(np.max(np.abs(ecdf(baseline) - ecdf(current))), abs=1e-12)


def test_categorical_drift_is_the_largest_gap_in_category_share(step):
    drift = step("mlops_drift")
    baseline = pd.Series(["a"] * 50 + ["b"] * 30 + ["c"] * 20)  # 0.5 / 0.3 / 0.2
    current = pd.Series(["a"] * 20 + ["b"] * 20 + ["d"] * 10)  # 0.4 / 0.4 / 0 / 0.2 (d is new)
    assert drift.distance(baseline, current, "string") == ("linf", pytest.approx(0.2))
    assert drift.distance(pd.Series([True] * 9 + [False]), pd.Series([True] * 5 + [False] * 5), "bool")[1] == (
        pytest.approx(0.4)
    )


def _frame(n: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, n).astype(str),
            "k": rng.choice(["p", "q"], n),
            "b": rng.choice(["true", "false"], n),
        }
    )


def test_a_light_window_is_skipped_not_judged(step):
    result = step("mlops_drift").compare(_frame(1000, 0, 1), _frame(20, 0, 2), REQUEST, 0.2, 100)
    assert result["status"] == "skipped" and result["drifted"] is False and result["features"] == {}


def test_same_distribution_at_min_samples_does_not_drift(step):
    result = step("mlops_drift").compare(_frame(2000, 0, 1), _frame(100, 0, 2), REQUEST, 0.2, 100)
    assert result["status"] == "ok" and result["drifted"] is False and result["max"] < 0.2


def test_shifted_column_drifts_and_only_it(step):
    result = step("mlops_drift").compare(_frame(2000, 0, 1), _frame(300, 1.0, 2), REQUEST, 0.2, 100)
    assert result["drifted"] is True
    assert [n for n, f in result["features"].items() if f["drifted"]] == ["x"]


def test_value_exactly_at_the_threshold_is_tolerated(step):
    drift = step("mlops_drift")
    baseline = pd.DataFrame({"k": ["a"] * 50 + ["b"] * 50})
    current = pd.DataFrame({"k": ["a"] * 70 + ["b"] * 30})  # linf = 0.2 exactly
    result = drift.compare(baseline, current, [{"name": "k", "type": "string"}], 0.2, 10)
    assert result["features"]["k"]["value"] == pytest.approx(0.2)
    assert result["drifted"] is False
