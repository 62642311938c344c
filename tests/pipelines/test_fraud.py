"""The fraud example: a rare label, categories, point-in-time window features, an XGBoost model.

Step code runs in-process from the fraud code bundle (as every cloud ships it), with the fraud
data contract (`$MLOPS_CONTRACT`) and a local feature store (`$MLOPS_IO`); one slow test runs the
whole pipeline as subprocesses. Expected values are written out here.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from infra.cli import main
from pipelines import get_pipeline
from pipelines.fraud import data
from pipelines.package import bundle

ROOT = Path(__file__).resolve().parents[2]
REQUEST = [
    "amount",
    "merchant_category",
    "channel",
    "country",
    "foreign",
    "txn_count_24h",
    "txn_count_7d",
    "amount_mean_7d",
    "amount_ratio_7d",
    "hours_since_last_txn",
]
ACTIVITY = REQUEST[5:]


@pytest.fixture(scope="module")
def code(tmp_path_factory) -> Path:
    """The fraud bundle on sys.path, its contract and a local store in the environment."""
    directory = bundle(get_pipeline("fraud")).write(tmp_path_factory.mktemp("fraud") / "code")
    store = tmp_path_factory.mktemp("fraud-store")
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(directory))
        mp.setenv("MLOPS_CONTRACT", str(directory / "mlops_contract.json"))
        mp.setenv("MLOPS_IO", json.dumps({"kind": "local", "root": str(store)}))
        yield directory
    # The kit's modules imported by name from this bundle would read its contract next to them:
    # forget them, so the next test module imports its own bundle's.
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(directory)):
            del sys.modules[name]


def _module(code: Path, script: str) -> ModuleType:
    """A fraud step script, imported under its own name (churn's steps have the same file names)."""
    spec = importlib.util.spec_from_file_location(f"fraud_step_{script[:-3]}", code / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the definition ------------------------------------------------------------------------------


def test_the_definition_pins_xgboost_and_reads_two_groups():
    p = get_pipeline("fraud")
    assert (p.framework.name, p.framework.version, p.framework.minor) == ("xgboost", "1.7.6", "1.7")
    assert "xgboost==1.7.6" in p.requirements.read_text().splitlines()
    assert p.metrics == ("roc_auc", "average_precision", "f1", "precision", "recall")
    c = p.contract
    assert (c.entity, c.event_time, c.label.name, c.label.type, c.task) == (
        "card_id",
        "event_time",
        "is_fraud",
        "int",
        "classification",
    )
    assert [(r.group, [f.name for f in r.features]) for r in c.reads] == [
        ("card_transaction", ["amount", "merchant_category", "channel", "country", "foreign"]),
        ("card_activity", ACTIVITY),
    ]
    assert list(c.request_names) == REQUEST
    assert [s.name for s in p.steps] == ["validate", "features", "store_features", "training_data", "train", "evaluate"]


def test_both_clouds_with_prebuilt_xgboost_images_serve_its_minor():
    """SageMaker's image table and Vertex AI's prebuilt prediction table both list XGBoost 1.7."""
    sagemaker = importlib.util.find_spec("sagemaker")
    aiplatform = importlib.util.find_spec("google.cloud.aiplatform")
    if sagemaker is None or aiplatform is None:
        pytest.skip("needs the aws and gcp extras (the vendors' tables)")
    table = Path(next(iter(sagemaker.submodule_search_locations))) / "core/image_uri_config/xgboost.json"
    assert "1.7-1" in json.loads(table.read_text())["inference"]["versions"]
    constants = Path(next(iter(aiplatform.submodule_search_locations))) / "constants/prediction.py"
    text = constants.read_text()
    block = text[text.index("XGBOOST_CONTAINER_URIS") :]
    assert re.search(r"vertex-ai/prediction/xgboost-cpu\.1-7:latest", block[: block.index("]")])


# --- the generator: a rare label --------------------------------------------------------------------


def test_generator_is_deterministic_and_shaped_like_a_transaction_log():
    frame = data.generate(2000, seed=5)
    pd.testing.assert_frame_equal(frame, data.generate(2000, seed=5))
    assert not frame.equals(data.generate(2000, seed=6))
    assert list(frame.columns) == [
        "transaction_id",
        "card_id",
        "event_time",
        "amount",
        "merchant_category",
        "channel",
        "country",
        "card_country",
        "is_fraud",
    ]
    assert len(frame) == 2000 and frame["transaction_id"].is_unique
    assert not frame.duplicated(["card_id", "event_time"]).any()
    assert frame["event_time"].is_monotonic_increasing
    assert 200 <= frame["card_id"].nunique() <= 260  # about 8 transactions per card
    assert (frame["amount"] > 0).all()


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_the_label_is_imbalanced(seed):
    share = data.generate(5000, seed=seed)["is_fraud"].mean()
    assert 0.02 <= share <= 0.04


def test_fraud_comes_in_bursts_on_few_cards():
    frame = data.generate(5000, seed=3)
    fraud_cards = frame.loc[frame["is_fraud"] == 1, "card_id"]
    assert fraud_cards.nunique() < len(fraud_cards) / 1.5  # several frauds per compromised card
    assert fraud_cards.nunique() < 0.15 * frame["card_id"].nunique()  # on a small minority of cards


def test_shift_moves_only_amount_and_start_moves_time():
    base = data.generate(500, seed=2)
    moved = data.generate(500, seed=2, shift={"amount": 40.0})
    assert np.allclose(moved["amount"] - base["amount"], 40.0)
    pd.testing.assert_series_equal(moved["is_fraud"], base["is_fraud"])
    later = data.generate(500, seed=2, start="2024-03-01")
    assert later["event_time"].min() >= "2024-03-01" and base["event_time"].max() < "2024-02-01"
    with pytest.raises(ValueError, match="cannot shift channel; shiftable: amount"):
        data.generate(10, shift={"channel": 1.0})


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "column", "check"),
    [
        (
            lambda f: f.assign(merchant_category=f["merchant_category"].where(f.index != 3, "casino")),
            "merchant_category",
            "isin",
        ),
        (lambda f: f.assign(amount=f["amount"].where(f.index != 3, -5.0)), "amount", "in_range"),
        (lambda f: f.assign(country=f["country"].where(f.index != 3, "Netherlands")), "country", "str_matches"),
        (lambda f: pd.concat([f, f.iloc[[3]].assign(transaction_id="T999999999")]), "card_id", "unique"),
        (lambda f: f.assign(is_fraud=(f.index % 2).astype("int64")), "<dataframe>", "labelled fraud"),
    ],
)
def test_validation_stops_bad_transactions_naming_the_column(code, change, column, check):
    validate = _module(code, "validate.py")
    good = data.generate(300, seed=1)
    validated, report = validate.validate(good.copy(), min_rows=100)
    assert validated is not None and report["passed"]
    validated, report = validate.validate(change(good.copy()).reset_index(drop=True), min_rows=100)
    assert validated is None and not report["passed"]
    problems = [(p["column"], p["check"]) for p in report["problems"]]
    assert any(col.startswith(column) or column in col for col, _ in problems), problems
    assert any(check in chk for _, chk in problems), problems


def test_a_later_batch_validates_together_with_the_earlier_ones(code, tmp_path):
    """The loop's retraining reads every batch: a later batch (another seed and start, drifted)
    repeats no transaction id and no (card, time) of an earlier one."""
    validate = _module(code, "validate.py")
    data.write(tmp_path, rows=600, seed=7, name="batch-1.csv")
    data.write(tmp_path, rows=300, seed=108, start="2024-02-15", shift={"amount": 40.0}, name="batch-2.csv")
    validated, report = validate.validate(validate.read_csvs(tmp_path), min_rows=100)
    assert report["problems"] == [] and validated is not None and len(validated) == 900


# --- point-in-time window features ---------------------------------------------------------------

HANDMADE = pd.DataFrame(
    {
        "card_id": ["A", "A", "A", "B", "A", "A"],
        "event_time": [
            "2024-01-01T10:00:00",
            "2024-01-01T11:00:00",
            "2024-01-01T12:00:00",
            "2024-01-01T12:00:00",
            "2024-01-02T11:30:00",
            "2024-01-09T11:00:00",
        ],
        "amount": [10.0, 20.0, 30.0, 99.0, 40.0, 50.0],
        "merchant_category": ["grocery"] * 6,
        "channel": ["chip", "chip", "online", "chip", "chip", "chip"],
        "country": ["NL", "NL", "DE", "FR", "NL", "NL"],
        "card_country": ["NL", "NL", "NL", "FR", "NL", "NL"],
        "is_fraud": [0, 0, 1, 0, 0, 0],
    }
)


def test_window_features_count_only_the_cards_earlier_transactions(code):
    features = _module(code, "features.py")
    got = features.activity_features(HANDMADE.copy())
    assert got["card_id"].tolist() == ["A", "A", "A", "B", "A", "A"]
    assert got["txn_count_24h"].tolist() == [0, 1, 2, 0, 1, 0]
    assert got["txn_count_7d"].tolist() == [0, 1, 2, 0, 3, 1]
    assert got["amount_mean_7d"].tolist() == [0.0, 10.0, 15.0, 0.0, 20.0, 40.0]
    assert got["amount_ratio_7d"].tolist() == [1.0, 2.0, 2.0, 1.0, 2.0, 1.25]
    assert got["hours_since_last_txn"].tolist() == [168.0, 1.0, 1.0, 168.0, 23.5, 167.5]
    transaction = features.transaction_features(HANDMADE.copy())
    assert transaction["foreign"].tolist() == [False, False, True, False, False, False]
    assert list(transaction.columns) == [
        "card_id",
        "event_time",
        "amount",
        "merchant_category",
        "channel",
        "country",
        "foreign",
    ]


def test_window_features_never_see_a_later_transaction(code):
    """The class of leak: each transaction's features are the same without any later transaction,
    and match a row-by-row count written here."""
    features = _module(code, "features.py")
    raw = data.generate(1500, seed=11)
    full = features.activity_features(raw)
    cutoff = raw["event_time"].iloc[900]
    early = raw[raw["event_time"] < cutoff]
    pd.testing.assert_frame_equal(features.activity_features(early), full.loc[early.index])
    times = pd.to_datetime(raw["event_time"])
    for i in range(0, len(raw), 97):
        same = raw["card_id"] == raw["card_id"].iloc[i]
        before = same & (times < times.iloc[i])
        day = before & (times >= times.iloc[i] - pd.Timedelta(hours=24))
        week = before & (times >= times.iloc[i] - pd.Timedelta(days=7))
        assert full["txn_count_24h"].iloc[i] == day.sum()
        assert full["txn_count_7d"].iloc[i] == week.sum()
        expected_mean = raw.loc[week, "amount"].mean() if week.any() else 0.0
        assert full["amount_mean_7d"].iloc[i] == pytest.approx(expected_mean, abs=1e-4)


@pytest.fixture(scope="module")
def training_set(code, tmp_path_factory):
    """Raw -> features -> the local feature store -> the point-in-time training set (the kit's steps)."""
    work = tmp_path_factory.mktemp("fraud-steps")
    raw = data.generate(3000, seed=7)
    data.write(work / "raw", rows=3000, seed=7)
    features = _module(code, "features.py")
    assert features.main(["--data", str(work / "raw"), "--features", str(work / "f"), "--labels", str(work / "l")]) == 0
    store = _module(code, "mlops_store_features.py")
    manifest = store.store(work / "f", work / "written")
    assert {g: e["rows"] for g, e in manifest.items()} == {"card_transaction": 3000, "card_activity": 3000}
    build = _module(code, "mlops_training_data.py")
    train, test, dropped = build.build(work / "l", test_size=0.25, seed=7)
    return raw, features.activity_features(raw), train, test, dropped


def test_training_reads_each_transactions_features_as_of_its_time(training_set):
    raw, activity, train, test, dropped = training_set
    assert dropped == 0 and len(train) + len(test) == 3000
    rows = pd.concat([train, test], ignore_index=True)
    rows["event_time"] = rows["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    expected = activity.set_index(["card_id", "event_time"])
    got = rows.set_index(["card_id", "event_time"]).loc[expected.index, ACTIVITY]
    pd.testing.assert_frame_equal(got, expected[ACTIVITY], check_dtype=False)
    # ...and the check has teeth: the card's latest values (a naive join on the card) differ.
    latest = activity.groupby("card_id")[ACTIVITY].transform("last")
    assert (latest["txn_count_7d"] != activity["txn_count_7d"]).mean() > 0.5
    assert train["card_id"].isin(test["card_id"]).sum() == 0  # a card is on one side only
    assert 0.01 < test["is_fraud"].mean() < 0.06


# --- the model and its serving -------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(code, training_set, tmp_path_factory) -> Path:
    _, _, train, _, _ = training_set
    out = tmp_path_factory.mktemp("fraud-model")
    trainer = _module(code, "train.py")
    assert (
        trainer.main(["--train", str(_write(train, out / "train")), "--model", str(out / "model"), "--seed", "7"]) == 0
    )
    return out / "model"


def _write(frame: pd.DataFrame, directory: Path) -> Path:
    directory.mkdir(parents=True)
    frame.drop(columns=["card_id", "event_time"]).to_csv(directory / "train.csv", index=False)
    return directory


def test_the_model_folder_is_xgboost_with_the_request_schema(model_dir):
    runtime = json.loads((model_dir / "runtime.json").read_text())
    assert runtime == {"framework": "xgboost", "version": "1.7.6"}
    schema = json.loads((model_dir / "request_schema.json").read_text())
    assert [c["name"] for c in schema["request"]] == REQUEST
    assert [c["type"] for c in schema["request"]] == [
        "float",
        "string",
        "string",
        "string",
        "bool",
        "int",
        "int",
        "float",
        "float",
        "float",
    ]
    assert (model_dir / "code" / "mlops_serve.py").is_file()


def test_evaluation_sees_the_rare_class(code, model_dir, training_set):
    _, _, _, test, _ = training_set
    evaluate = _module(code, "evaluate.py")
    model_module = _module(code, "mlops_model.py")
    model, schema = model_module.load(model_dir)
    metrics = evaluate.evaluate(model, schema, test)
    assert set(metrics) == {"roc_auc", "average_precision", "f1", "precision", "recall"}
    base_rate = test["is_fraud"].mean()
    assert metrics["average_precision"] > 5 * base_rate  # far better than ranking at random
    assert metrics["roc_auc"] > 0.8


@pytest.fixture(scope="module")
def server(code, model_dir):
    serve = _module(model_dir / "code", "mlops_serve.py")
    httpd = serve.make_server(model_dir, port=0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _post(url: str, body: str, content_type: str = "application/json") -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/invocations", data=body.encode(), headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


RECORD = {
    "amount": 912.5,
    "merchant_category": "electronics",
    "channel": "online",
    "country": "US",
    "foreign": True,
    "txn_count_24h": 3,
    "txn_count_7d": 4,
    "amount_mean_7d": 120.0,
    "amount_ratio_7d": 7.6,
    "hours_since_last_txn": 0.4,
}


def test_the_served_model_answers_a_request_on_the_schema(server):
    status, body = _post(server, json.dumps([RECORD, {**RECORD, "merchant_category": "casino"}]))
    assert status == 200, body
    assert len(body["predictions"]) == 2 and all(0.0 <= p <= 1.0 for p in body["predictions"])
    line = ",".join(str(RECORD[c]) for c in REQUEST)
    status, body = _post(server, line, "text/csv")
    assert status == 200 and len(body["predictions"]) == 1


@pytest.mark.parametrize(
    ("record", "says"),
    [
        ({k: v for k, v in RECORD.items() if k != "foreign"}, "lacks foreign"),
        ({**RECORD, "card_id": "CARD100001"}, "carries card_id, not a request column"),
        ({**RECORD, "amount": "lots"}, "column 'amount' must be a number"),
        ({**RECORD, "txn_count_24h": 2.5}, "column 'txn_count_24h' must be a whole number"),
    ],
)
def test_the_served_model_refuses_a_request_off_the_schema(server, record, says):
    status, body = _post(server, json.dumps([record]))
    assert status == 400
    assert says in body["error"]


# --- the example stacks, and the gate -----------------------------------------------------------


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_the_example_stacks_validate_on_every_cloud(cloud, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["validate", "--stack", f"{cloud}-fraud"]) == 0
    assert f"{cloud}-fraud: valid ({cloud}, " in capsys.readouterr().out


def test_a_gate_on_a_metric_fraud_does_not_report_is_refused(tmp_path, capsys):
    text = (ROOT / "Pulumi.aws-fraud.yaml").read_text()
    path = tmp_path / "Pulumi.gate.yaml"
    path.write_text(text.replace("metric: average_precision", "metric: accuracy"))
    assert main(["validate", "--config-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert err == (
        "mlops: invalid config: mlops:platform.pipeline.quality_gate.metric: 'accuracy' is not a metric pipeline "
        "'fraud' reports; its metrics: roc_auc, average_precision, f1, precision, recall\n"
    )


def test_the_whole_pipeline_runs_locally_as_the_clouds_run_it(tmp_path):
    from pipelines.local import run_local

    result = run_local("fraud", tmp_path, rows=2000, seed=7, quality_gate=("average_precision", 0.3))
    assert set(result.metrics) == {"roc_auc", "average_precision", "f1", "precision", "recall"}
    assert result.gate_passed is True
    for group in ("card_transaction", "card_activity"):
        assert sorted((tmp_path / "feature_store" / "features" / group).glob("part-*.csv"))
    assert json.loads((result.model_path / "runtime.json").read_text())["framework"] == "xgboost"
