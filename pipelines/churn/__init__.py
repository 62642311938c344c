"""The ``churn`` example: validate -> features -> train -> evaluate.

Tabular binary classification on a synthetic telco dataset (see ``data.py``).
"""

from __future__ import annotations

from pathlib import Path

from pipelines.churn import data
from pipelines.spec import Framework, ParamDef, PipelineDef, StepDef

_HERE = Path(__file__).resolve().parent

PIPELINE = PipelineDef(
    name="churn",
    description="Customer churn classifier on tabular data (scikit-learn).",
    steps=(
        StepDef(
            name="validate",
            kind="processing",
            script="validate.py",
            inputs={"raw": "param:input_data"},
            outputs=("validated", "report"),
            params={"min_rows": "100"},
            description="Check the raw data against a pandera schema; stop on bad data.",
        ),
        StepDef(
            name="features",
            kind="processing",
            script="features.py",
            inputs={"data": "validate.validated"},
            outputs=("train", "test"),
            params={"test_size": "param:test_size", "seed": "param:seed"},
            description="Derived ratios, one-hot categoricals, split by customer id.",
        ),
        StepDef(
            name="train",
            kind="training",
            script="train.py",
            inputs={"train": "features.train"},
            outputs=("model",),
            params={"algorithm": "param:algorithm", "seed": "param:seed"},
            description="Fit a scikit-learn Pipeline; writes model.joblib.",
        ),
        StepDef(
            name="evaluate",
            kind="evaluation",
            script="evaluate.py",
            inputs={"model": "train.model", "test": "features.test"},
            outputs=("metrics",),
            description="Score the test split; writes evaluation.json.",
        ),
    ),
    params=(
        ParamDef(
            "input_data",
            "string",
            "",
            "Location (dir/URI) of the raw CSV; set by the backend that uploads it.",
        ),
        ParamDef("test_size", "float", 0.25, "Fraction of customers held out for evaluation."),
        ParamDef("seed", "int", 7, "Seed for the split hash and the model."),
        ParamDef(
            "algorithm",
            "string",
            "logistic_regression",
            "logistic_regression or gradient_boosting.",
        ),
    ),
    model_step="train",
    model_output="model",
    metrics_step="evaluate",
    metrics_output="metrics",
    metrics_file="evaluation.json",
    metrics=("roc_auc", "accuracy", "f1", "precision", "recall"),
    steps_dir=_HERE / "steps",
    requirements=_HERE / "requirements.txt",
    framework=Framework("scikit-learn", "1.4.2"),
)


def write_dataset(out_dir: Path, rows: int = 2000, seed: int = 7) -> Path:
    """Write the synthetic raw dataset the ``input_data`` param should point at."""
    return data.write(out_dir, rows=rows, seed=seed)


__all__ = ["PIPELINE", "write_dataset"]
