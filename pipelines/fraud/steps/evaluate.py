"""Evaluate the fraud model on the held-out test set.

CLI: ``--model DIR --test DIR --metrics DIR [--threshold F]``. Loads the model folder
(``mlops_model``) and every ``*.csv`` in ``--test``; writes ``evaluation.json`` =
``{"metrics": {"average_precision": ..., ...}}``, the file the quality gate and the clouds' model
registries read. With about 3 % positives, accuracy says nothing (always "not fraud" scores 0.97)
and is not reported: ``average_precision`` (the area under the precision-recall curve) is the
ranking metric that sees the rare class, ``roc_auc`` the usual one, and ``f1``/``precision``/
``recall`` judge the decisions at ``--threshold``.
Self-contained: runs in a container with requirements.txt and the kit's modules next to it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import mlops_model
import pandas as pd
from mlops_schema import coerce, read_table
from sklearn.metrics import average_precision_score, f1_score, precision_score, recall_score, roc_auc_score

METRICS_FILE = "evaluation.json"


def evaluate(model, schema: dict, frame: pd.DataFrame, threshold: float = 0.5) -> dict[str, float]:  # noqa: ANN001
    """Metrics of the rare positive class on the request columns, scored as serving scores them."""
    label = schema["label"]
    x = coerce(frame, schema["request"], where="test data")
    y_true = coerce(frame, [label], where="test data")[label["name"]].astype(int).to_numpy()
    if len(set(y_true)) < 2:
        raise ValueError(f"test data needs both classes of {label['name']!r} for roc_auc")
    scores = model.predict_proba(x)[:, 1]
    y_pred = (scores >= threshold).astype(int)
    return {
        "roc_auc": float(roc_auc_score(y_true, scores)),
        "average_precision": float(average_precision_score(y_true, scores)),
        "f1": float(f1_score(y_true, y_pred, zero_division=0)),
        "precision": float(precision_score(y_true, y_pred, zero_division=0)),
        "recall": float(recall_score(y_true, y_pred, zero_division=0)),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="the model folder")
    parser.add_argument("--test", type=Path, required=True, help="dir with the test CSV")
    parser.add_argument("--metrics", type=Path, required=True, help="output dir for metrics")
    parser.add_argument("--threshold", type=float, default=0.5, help="decision threshold")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.metrics.mkdir(parents=True, exist_ok=True)
    model, schema = mlops_model.load(args.model)
    metrics = evaluate(model, schema, read_table(args.test), args.threshold)
    (args.metrics / METRICS_FILE).write_text(json.dumps({"metrics": metrics}, indent=2) + "\n")
    print(json.dumps({"metrics": metrics}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
