"""Train the churn classifier (a scikit-learn Pipeline) and save model.joblib.

CLI: ``--train DIR --model DIR [--algorithm NAME] [--seed N]``.
Reads the first ``*.csv`` in ``--train``; every column except the id/time
columns and the label is a feature. The whole Pipeline (scaler + model) is
saved, with the feature names it was fit on, so serving and evaluation need
no separate preprocessing code. The model dir also gets ``code/serve.py`` (the
inference code, see serve.py) so the model archive is servable on its own.
Self-contained: runs in a bare container with only requirements.txt installed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import joblib
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

LABEL = "churned"
NON_FEATURES = {"customer_id", "event_time", LABEL}
MODEL_FILE = "model.joblib"
ALGORITHMS = ("logistic_regression", "gradient_boosting")
SERVE_SCRIPT = Path(__file__).resolve().with_name("serve.py")
CODE_DIR = "code"  # the SageMaker scikit-learn container's place for code inside model.tar.gz


def read_first_csv(directory: Path) -> pd.DataFrame:
    """Read the first ``*.csv`` in ``directory`` (how a mounted cloud channel looks)."""
    files = sorted(Path(directory).glob("*.csv"))
    if not files:
        raise FileNotFoundError(f"no *.csv file in {directory}")
    return pd.read_csv(files[0], dtype={"customer_id": str})


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Feature columns in file order (the order the model is fit on)."""
    return [c for c in frame.columns if c not in NON_FEATURES]


def build_model(algorithm: str = "logistic_regression", seed: int = 7) -> Pipeline:
    """An unfitted Pipeline for ``algorithm``."""
    if algorithm == "logistic_regression":
        clf = LogisticRegression(max_iter=1000, random_state=seed)
    elif algorithm == "gradient_boosting":
        clf = GradientBoostingClassifier(n_estimators=150, max_depth=2, learning_rate=0.05, random_state=seed)
    else:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose from {', '.join(ALGORITHMS)}")
    return Pipeline([("scale", StandardScaler()), ("clf", clf)])


def train(frame: pd.DataFrame, algorithm: str = "logistic_regression", seed: int = 7) -> Pipeline:
    """Fit on ``frame``; the fitted model keeps ``feature_names_in_``."""
    if frame[LABEL].nunique() < 2:
        raise ValueError("training data needs both classes of 'churned'")
    model = build_model(algorithm, seed)
    model.fit(frame[feature_columns(frame)], frame[LABEL].astype(int))
    return model


def add_serving_code(model_dir: Path, serve_script: Path = SERVE_SCRIPT) -> Path | None:
    """Copy the inference script to ``<model_dir>/code/serve.py``; None if it is not next to train.py.

    Only the script: a ``code/requirements.txt`` would make the serving container pip-install
    at start, which fails on an endpoint without network access (SageMaker's network
    isolation). serve.py needs only what the serving image already has. A backend that does
    not ship serve.py with the step code still gets its model (a warning says what is missing).
    """
    if not serve_script.is_file():
        print(f"warning: {serve_script} not found; the model dir gets no code/serve.py", file=sys.stderr)
        return None
    code = model_dir / CODE_DIR
    code.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(serve_script, code / serve_script.name))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True, help="dir with train CSV")
    parser.add_argument("--model", type=Path, required=True, help="output dir for model.joblib")
    parser.add_argument("--algorithm", choices=ALGORITHMS, default="logistic_regression")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.model.mkdir(parents=True, exist_ok=True)
    frame = read_first_csv(args.train)
    model = train(frame, args.algorithm, args.seed)
    joblib.dump(model, args.model / MODEL_FILE)
    # Sidecar so a serving container or a human can see what the model expects.
    meta = {
        "algorithm": args.algorithm,
        "features": feature_columns(frame),
        "rows": len(frame),
        "serving": f"{CODE_DIR}/{SERVE_SCRIPT.name}",
    }
    (args.model / "model.json").write_text(json.dumps(meta, indent=2) + "\n")
    add_serving_code(args.model)
    print(f"trained {args.algorithm} on {len(frame)} rows -> {args.model / MODEL_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
