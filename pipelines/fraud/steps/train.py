"""Train the fraud classifier (XGBoost) on the training set the kit read from the feature store.

CLI: ``--train DIR --model DIR [--n_estimators N] [--seed N]``. Reads every ``*.csv`` in
``--train`` (the request columns and the label, as the kit's ``training_data`` step writes them)
and fits a scikit-learn Pipeline that takes the request columns exactly as serving receives them:
strings one-hot encoded inside the model (a category never seen in training scores as none of
them, it is not an error), numbers and booleans passed as floats, then ``xgboost.XGBClassifier``
weighted for the rare positive class. Saved with ``mlops_model.save(..., framework="xgboost")``:
the model folder holds the request schema and the serving code, and is servable on its own.
Self-contained: runs in a container with requirements.txt and the kit's modules next to it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import mlops_model
import numpy as np
import pandas as pd
from mlops_schema import coerce, load_contract, read_table
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder
from xgboost import XGBClassifier


def build_model(request: list[dict[str, str]], *, positive_weight: float, n_estimators: int, seed: int) -> Pipeline:
    """An unfitted Pipeline over the request columns."""
    categorical = [c["name"] for c in request if c["type"] == "string"]
    numeric = [c["name"] for c in request if c["type"] in ("int", "float", "bool")]
    encode = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
            # Trees need no scaling; the cast makes ints and booleans one float matrix with the rest.
            ("numbers", FunctionTransformer(np.asarray, kw_args={"dtype": "float64"}), numeric),
        ],
        sparse_threshold=0.0,
    )
    clf = XGBClassifier(
        n_estimators=n_estimators,
        max_depth=4,
        learning_rate=0.1,
        subsample=0.9,
        colsample_bytree=0.9,
        scale_pos_weight=positive_weight,
        eval_metric="aucpr",
        tree_method="hist",
        n_jobs=1,  # deterministic, and polite on a shared machine
        random_state=seed,
    )
    return Pipeline([("encode", encode), ("clf", clf)])


def train(frame: pd.DataFrame, n_estimators: int = 200, seed: int = 7) -> Pipeline:
    contract = load_contract()
    request, label = contract["request"], contract["label"]
    x = coerce(frame, request, where="training data")
    y = coerce(frame, [label], where="training data")[label["name"]].to_numpy(dtype=np.int64)
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        raise ValueError(f"training data needs both classes of {label['name']!r}")
    # The label is rare: weight positives by the class ratio, so the trees do not ignore them.
    model = build_model(request, positive_weight=(len(y) - positives) / positives, n_estimators=n_estimators, seed=seed)
    model.fit(x, y)
    return model


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="dir with the training CSV")
    parser.add_argument("--model", type=Path, required=True, help="output dir for the model folder")
    parser.add_argument("--n_estimators", type=int, default=200, help="boosting rounds")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    frame = read_table(args.train)
    model = train(frame, args.n_estimators, args.seed)
    path = mlops_model.save(model, args.model, framework="xgboost")
    print(f"trained xgboost ({args.n_estimators} rounds) on {len(frame)} rows -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
