"""Serve the churn model: raw customer fields in, churn probability out.

The request is what a caller knows about a customer, NOT the engineered features: the
``INPUT_COLUMNS`` below, in this order for ``text/csv`` (one customer per line, no header;
a header line equal to the column names is skipped), or by name for ``application/json``
(a record, a list of records, or ``{"instances": [...]}`` / ``{"data": [...]}``; extra keys
such as ``customer_id`` are ignored). ``features(...)`` derives the model's columns the way
``features.py`` does, and the model (a fitted scikit-learn Pipeline) picks them by the names
it was fit on (``feature_names_in_``, also listed in ``model.json``). The response is
``{"predictions": [p, ...]}`` (``application/json``) or one probability per line (``text/csv``).

The same request columns are the Model Monitor baseline (``main``: ``inputs`` writes them,
with a header, from the validated data), so captured requests and the baseline line up.

Entry points, all thin wrappers over ``load(model_dir)`` / ``predict(model, records)``:

* SageMaker scikit-learn container: ``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn``
  (``SAGEMAKER_PROGRAM=serve.py``, ``SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code``; train.py
  copies this file to ``<model>/code/serve.py``).
* Azure ML scoring script: ``init()`` / ``run(raw)``, model dir from ``AZUREML_MODEL_DIR``.

Self-contained: numpy, pandas, joblib and scikit-learn only (all in the serving images).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

MODEL_FILE = "model.joblib"
META_FILE = "model.json"
INPUT_COLUMNS = (
    "tenure_months",
    "contract_type",
    "payment_method",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "paperless_billing",
)
"""Request columns, in ``text/csv`` order (the raw dataset's order, ids/time/label left out)."""
CATEGORICAL = {
    "contract_type": ("month_to_month", "one_year", "two_year"),
    "payment_method": ("electronic_check", "credit_card", "bank_transfer", "mailed_check"),
}
NUMERIC = tuple(c for c in INPUT_COLUMNS if c not in CATEGORICAL)
CSV, JSON = "text/csv", "application/json"
BASELINE_FILE = "inputs.csv"


class ServingError(ValueError):
    """A request the model cannot score; the message says what to send instead."""


# ---- cloud-neutral core -------------------------------------------------------------------
def load(model_dir: str | os.PathLike) -> dict[str, Any]:
    """Load ``model.joblib`` from ``model_dir`` (or its only subfolder that has one: Azure layout).

    Fails at load time, not per request, if the model wants a column ``features`` cannot make.
    """
    root = Path(model_dir)
    path = root / MODEL_FILE
    if not path.is_file():
        found = sorted(root.glob(f"*/{MODEL_FILE}"))
        if len(found) != 1:
            raise FileNotFoundError(f"no {MODEL_FILE} in {root} (nor in exactly one subfolder)")
        path = found[0]
    model = joblib.load(path)
    meta_path = path.parent / META_FILE
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    columns = list(getattr(model, "feature_names_in_", meta.get("features", [])))
    if not columns:
        raise ValueError(f"{path}: the model does not record its feature names")
    if meta.get("features") and list(meta["features"]) != columns:
        raise ValueError(f"{meta_path} lists other features than the model was fit on")
    unknown = sorted(set(columns) - set(features(_example()).columns))
    if unknown:
        raise ValueError(f"the model expects features serve.py cannot derive: {', '.join(unknown)}")
    return {"model": model, "columns": columns}


def predict(model: Mapping[str, Any], records: Iterable[Mapping[str, Any]] | pd.DataFrame) -> list[float]:
    """Churn probability (class 1) for each record of ``INPUT_COLUMNS``, in order."""
    frame = records if isinstance(records, pd.DataFrame) else to_frame(records)
    if frame.empty:
        return []
    scores = model["model"].predict_proba(features(frame)[model["columns"]])[:, 1]
    return [float(s) for s in scores]


def to_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Validate request records into a frame of ``INPUT_COLUMNS`` (typed, in order)."""
    rows = list(records)
    for i, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ServingError(f"record {i} is not an object with the fields {', '.join(INPUT_COLUMNS)}")
        missing = [c for c in INPUT_COLUMNS if c not in row]
        if missing:
            raise ServingError(f"record {i} lacks {', '.join(missing)}")
    frame = pd.DataFrame([[row[c] for c in INPUT_COLUMNS] for row in rows], columns=list(INPUT_COLUMNS))
    for col in NUMERIC:
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna()
        if bad.any():
            raise ServingError(f"{col} must be a number, got {frame[col][bad].iloc[0]!r}")
        frame[col] = values.astype(float)
    for col in CATEGORICAL:
        frame[col] = frame[col].astype(str)
    return frame


def features(frame: pd.DataFrame) -> pd.DataFrame:
    """The model's features from request columns: the same formulas as ``features.engineer``."""
    tenure = frame["tenure_months"].astype(float)
    months = tenure.clip(lower=1.0)
    out = pd.DataFrame(index=frame.index)
    for col in ("tenure_months", "monthly_charges", "total_charges", "support_calls", "paperless_billing"):
        out[col] = frame[col].astype(float)
    out["avg_monthly_spend"] = frame["total_charges"].astype(float) / months
    out["support_calls_per_year"] = frame["support_calls"].astype(float) / (months / 12.0)
    out["log_tenure"] = np.log1p(tenure)
    out["is_new_customer"] = (tenure < 6).astype(float)
    for col, vocab in CATEGORICAL.items():
        for value in vocab:  # unseen values become all-zero, as in training
            out[f"{col}__{value}"] = (frame[col] == value).astype(float)
    return out


def _example() -> pd.DataFrame:
    row = {c: (CATEGORICAL[c][0] if c in CATEGORICAL else 1.0) for c in INPUT_COLUMNS}
    return to_frame([row])


# ---- request decoding ---------------------------------------------------------------------
def _media_type(value: str | None, default: str) -> str:
    return (value or default).split(";")[0].strip().lower()


def _text(body: bytes | bytearray | str) -> str:
    return body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else str(body)


def parse_csv(text: str) -> pd.DataFrame:
    rows = [r for r in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in r)]
    if rows and [c.strip() for c in rows[0]] == list(INPUT_COLUMNS):
        rows = rows[1:]
    for i, row in enumerate(rows):
        if len(row) != len(INPUT_COLUMNS):
            raise ServingError(
                f"csv line {i + 1} has {len(row)} values; expected {len(INPUT_COLUMNS)}: " + ",".join(INPUT_COLUMNS)
            )
    return to_frame(dict(zip(INPUT_COLUMNS, (c.strip() for c in row), strict=True)) for row in rows)


def parse_json(text: str) -> pd.DataFrame:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ServingError(f"request is not valid JSON: {exc}") from None
    if isinstance(doc, Mapping):
        for key in ("instances", "data"):  # Vertex AI / Azure ML request shapes
            if key in doc:
                doc = doc[key]
                break
        else:
            doc = [doc]
    if not isinstance(doc, list):
        raise ServingError("JSON request must be a record, a list of records or {'instances': [...]}")
    return to_frame(doc)


# ---- SageMaker scikit-learn container ------------------------------------------------------
def model_fn(model_dir: str) -> dict[str, Any]:
    return load(model_dir)


def input_fn(body: bytes | str, content_type: str) -> pd.DataFrame:
    kind = _media_type(content_type, CSV)
    if kind == CSV:
        return parse_csv(_text(body))
    if kind == JSON:
        return parse_json(_text(body))
    raise ServingError(f"unsupported content type {content_type!r}; send {CSV} or {JSON}")


def predict_fn(data: pd.DataFrame, model: Mapping[str, Any]) -> list[float]:
    return predict(model, data)


def output_fn(prediction: list[float], accept: str | None) -> tuple[str, str]:
    kind = _media_type(accept, JSON)
    if kind in (JSON, "*/*"):
        return json.dumps({"predictions": prediction}), JSON
    if kind == CSV:
        return "".join(f"{p}\n" for p in prediction), CSV
    raise ServingError(f"unsupported accept type {accept!r}; ask for {JSON} or {CSV}")


# ---- Azure ML scoring script ---------------------------------------------------------------
_MODEL: dict[str, Any] | None = None


def init() -> None:
    global _MODEL
    _MODEL = load(os.environ["AZUREML_MODEL_DIR"])


def run(raw: str | bytes) -> dict[str, list[float]]:
    if _MODEL is None:
        raise RuntimeError("init() was not called")
    return {"predictions": predict(_MODEL, parse_json(_text(raw)))}


# ---- baseline data: python serve.py inputs --data DIR --out DIR -----------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the request columns of the first *.csv in --data.")
    parser.add_argument("command", choices=["inputs"])
    parser.add_argument("--data", type=Path, required=True, help="dir with a CSV holding INPUT_COLUMNS")
    parser.add_argument("--out", type=Path, required=True, help=f"output dir for {BASELINE_FILE}")
    args = parser.parse_args(argv)
    files = sorted(args.data.glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no *.csv file in {args.data}")
    frame = pd.read_csv(files[0])
    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise SystemExit(f"{files[0]} lacks {', '.join(missing)}")
    args.out.mkdir(parents=True, exist_ok=True)
    frame[list(INPUT_COLUMNS)].to_csv(args.out / BASELINE_FILE, index=False)
    print(f"{len(frame)} rows of {', '.join(INPUT_COLUMNS)} -> {args.out / BASELINE_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
