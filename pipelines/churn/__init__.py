"""The ``churn`` example: validate -> features -> feature store -> training set -> train -> evaluate.

Tabular binary classification of monthly customer snapshots (see ``data.py``), scikit-learn.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipelines.kit import store_features, training_data
from pipelines.spec import Column, DataContract, FeatureRead, Framework, ParamDef, PipelineDef, StepDef

_HERE = Path(__file__).resolve().parent

FEATURES = (
    Column("tenure_months", "int"),
    Column("monthly_charges", "float"),
    Column("total_charges", "float"),
    Column("support_calls", "int"),
    Column("contract_type", "string"),
    Column("payment_method", "string"),
    Column("paperless_billing", "bool"),
    Column("avg_monthly_spend", "float"),
    Column("support_calls_per_year", "float"),
)

PIPELINE = PipelineDef(
    name="churn",
    description="Customer churn classifier on monthly snapshots (scikit-learn).",
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
            outputs=("features", "labels"),
            description="The customer_profile features of each snapshot, and the label spine.",
        ),
        store_features("features.features"),
        training_data("features.labels"),
        StepDef(
            name="train",
            kind="training",
            script="train.py",
            inputs={"train": "training_data.train"},
            outputs=("model",),
            params={"algorithm": "param:algorithm", "seed": "param:seed"},
            description="Fit a scikit-learn Pipeline on the request columns; save the servable model.",
        ),
        StepDef(
            name="evaluate",
            kind="evaluation",
            script="evaluate.py",
            inputs={"model": "train.model", "test": "training_data.test"},
            outputs=("metrics",),
            description="Score the test split as serving scores it; writes evaluation.json.",
        ),
    ),
    params=(
        ParamDef(
            "input_data",
            "string",
            "",
            "Location (dir/URI) of the raw CSV batches; set by the backend that uploads them.",
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
    contract=DataContract(
        entity="customer_id",
        event_time="event_time",
        label=Column("churned", "int"),
        reads=(FeatureRead("customer_profile", FEATURES),),
        request=FEATURES,
        task="classification",
    ),
)


def write_dataset(
    out_dir: Path,
    rows: int = 2000,
    seed: int = 7,
    *,
    start: str | None = None,
    shift: Mapping[str, float] | None = None,
    name: str | None = None,
) -> Path:
    """Write a batch of synthetic raw data where the ``input_data`` param points."""
    # Imported here: data.py needs pandas and numpy, which planning a stack never does.
    from pipelines.churn import data

    return data.write(out_dir, rows=rows, seed=seed, start=start, shift=shift, name=name or data.FILE_NAME)


__all__ = ["PIPELINE", "write_dataset"]
