"""Train the churn classifier on the training set the kit read from the feature store.

CLI: ``--train DIR --model DIR [--algorithm NAME] [--seed N]``. Reads every ``*.csv`` in
``--train`` (the request columns and the label, as the kit's ``training_data`` step writes them),
fits a scikit-learn Pipeline that takes the request columns exactly as serving receives them
(strings one-hot encoded inside the model, numbers scaled), and saves it with ``mlops_model.save``:
the model folder then holds the request schema and the serving code, and is servable on its own.
Self-contained: runs in a container with requirements.txt and the kit's modules next to it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import mlops_model
import pandas as pd
from mlops_schema import coerce, load_contract, read_table
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

ALGORITHMS = ("logistic_regression", "gradient_boosting")


def build_model(request: list[dict[str, str]], algorithm: str = "logistic_regression", seed: int = 7) -> Pipeline:
    """An unfitted Pipeline over the request columns."""
    categorical = [c["name"] for c in request if c["type"] == "string"]
    numeric = [c["name"] for c in request if c["type"] in ("int", "float", "bool")]
    encode = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), categorical),
            ("numbers", StandardScaler(), numeric),
        ]
    )
    if algorithm == "logistic_regression":
        clf = LogisticRegression(max_iter=1000, random_state=seed)
    elif algorithm == "gradient_boosting":
        clf = GradientBoostingClassifier(n_estimators=150, max_depth=2, learning_rate=0.05, random_state=seed)
    else:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose from {', '.join(ALGORITHMS)}")
    return Pipeline([("encode", encode), ("clf", clf)])


def train(frame: pd.DataFrame, algorithm: str = "logistic_regression", seed: int = 7) -> Pipeline:
    contract = load_contract()
    request, label = contract["request"], contract["label"]
    x = coerce(frame, request, where="training data")
    y = coerce(frame, [label], where="training data")[label["name"]]
    if y.nunique() < 2:
        raise ValueError(f"training data needs both classes of {label['name']!r}")
    model = build_model(request, algorithm, seed)
    model.fit(x, y)
    return model


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="dir with the training CSV")
    parser.add_argument("--model", type=Path, required=True, help="output dir for the model folder")
    parser.add_argument("--algorithm", choices=ALGORITHMS, default="logistic_regression")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    frame = read_table(args.train)
    model = train(frame, args.algorithm, args.seed)
    path = mlops_model.save(model, args.model)
    print(f"trained {args.algorithm} on {len(frame)} rows -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
