"""Evaluate the churn model on the held-out test set.

CLI: ``--model DIR --test DIR --metrics DIR [--threshold F]``.
Loads ``model.joblib`` from ``--model`` and the first ``*.csv`` in ``--test``;
writes ``evaluation.json`` = ``{"metrics": {"roc_auc": ..., ...}}``, the file the
quality gate and the clouds' model registries read.
Self-contained: runs in a bare container with only requirements.txt installed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import joblib
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

LABEL = "churned"
MODEL_FILE = "model.joblib"
METRICS_FILE = "evaluation.json"


def read_first_csv(directory: Path) -> pd.DataFrame:
    """Read the first ``*.csv`` in ``directory`` (how a mounted cloud channel looks)."""
    files = sorted(Path(directory).glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no *.csv file in {directory}")
    return pd.read_csv(files[0], dtype={"customer_id": str})


def evaluate(model, frame: pd.DataFrame, threshold: float = 0.5) -> dict[str, float]:
    """Classification metrics; columns are selected by the names the model was fit on."""
    missing = [c for c in model.feature_names_in_ if c not in frame.columns]
    if missing:
        raise ValueError(f"test data lacks model features: {', '.join(missing)}")
    y_true = frame[LABEL].astype(int)
    if y_true.nunique() < 2:
        raise ValueError("test data needs both classes of 'churned' for roc_auc")
    scores = model.predict_proba(frame[list(model.feature_names_in_)])[:, 1]
    y_pred = (scores >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y_true, scores)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1": float(f1_score(y_true, y_pred, zero_division=0)),
        "precision": float(precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0)),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="dir with model.joblib")
    parser.add_argument("--test", type=Path, required=True, help="dir with test CSV")
    parser.add_argument("--metrics", type=Path, required=True, help="output dir for metrics")
    parser.add_argument("--threshold", type=float, default=0.5, help="decision threshold")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.metrics.mkdir(parents=True, exist_ok=True)
    model = joblib.load(args.model / MODEL_FILE)
    metrics = evaluate(model, read_first_csv(args.test), args.threshold)
    (args.metrics / METRICS_FILE).write_text(json.dumps({"metrics": metrics}, indent=2) + "\n")
    print(json.dumps({"metrics": metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
