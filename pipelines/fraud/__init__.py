"""The ``fraud`` example: card-transaction fraud, a rare label, categories and point-in-time windows.

validate -> features (two feature groups: the transaction, and the card's activity as of it) ->
feature store -> training set -> train (XGBoost) -> evaluate. See ``data.py`` for the data and
``steps/features.py`` for the window features the feature store keeps point-in-time.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pipelines.kit import store_features, training_data
from pipelines.spec import Column, DataContract, FeatureRead, Framework, ParamDef, PipelineDef, StepDef

_HERE = Path(__file__).resolve().parent

TRANSACTION = (
    Column("amount", "float"),
    Column("merchant_category", "string"),
    Column("channel", "string"),
    Column("country", "string"),
    Column("foreign", "bool"),
)
"""What the transaction itself says (the card_transaction group)."""
ACTIVITY = (
    Column("txn_count_24h", "int"),
    Column("txn_count_7d", "int"),
    Column("amount_mean_7d", "float"),
    Column("amount_ratio_7d", "float"),
    Column("hours_since_last_txn", "float"),
)
"""The card's transactions before this one (the card_activity group), computed as of its time."""

# XGBoost 1.7.6: 1.7 is the one XGBoost minor both clouds with prebuilt XGBoost serving images
# serve, so training and serving load the model with the same minor:
# - SageMaker: the sagemaker SDK's image table `sagemaker/core/image_uri_config/xgboost.json`
#   (sagemaker 3.27.0) lists inference versions 0.90-1 ... 1.5-1, 1.7-1, 3.0-5, 3.2-0: `1.7-1`. That
#   image is Python 3.8 with scikit-learn 0.24.1, where these pins do not install, so SageMaker runs and
#   serves this pipeline on its scikit-learn 1.4-2-py312 image with xgboost 1.7.6 shipped inside the
#   model (docs/aws.md, "Framework images and their Python");
# - Vertex AI: the aiplatform SDK's prebuilt prediction table
#   `google/cloud/aiplatform/constants/prediction.py` (google-cloud-aiplatform 2.7.0),
#   XGBOOST_CONTAINER_URIS, lists xgboost-cpu.0-82 ... 1-7, 2-0, 2-1: `xgboost-cpu.1-7`.
# (3.x is SageMaker only, 2.x Vertex only.) Azure ML has no prebuilt XGBoost serving image: it
# serves with an environment built from requirements.txt, pinned to the same version.
FRAMEWORK = Framework("xgboost", "1.7.6")

PIPELINE = PipelineDef(
    name="fraud",
    description="Card-transaction fraud classifier: a rare label, categories, point-in-time windows (XGBoost).",
    steps=(
        StepDef(
            name="validate",
            kind="processing",
            script="validate.py",
            inputs={"raw": "param:input_data"},
            outputs=("validated", "report"),
            params={"min_rows": "100"},
            description="Check the raw transactions against a pandera schema; stop on bad data.",
        ),
        StepDef(
            name="features",
            kind="processing",
            script="features.py",
            inputs={"data": "validate.validated"},
            outputs=("features", "labels"),
            description="The card_transaction and card_activity features of each transaction, and the label spine.",
        ),
        store_features("features.features"),
        training_data("features.labels"),
        StepDef(
            name="train",
            kind="training",
            script="train.py",
            inputs={"train": "training_data.train"},
            outputs=("model",),
            params={"n_estimators": "param:n_estimators", "seed": "param:seed"},
            description="Fit an XGBoost classifier behind a one-hot encoder on the request columns; save it.",
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
        ParamDef("test_size", "float", 0.25, "Fraction of cards held out for evaluation."),
        ParamDef("seed", "int", 7, "Seed for the split hash and the model."),
        ParamDef("n_estimators", "int", 200, "XGBoost boosting rounds."),
    ),
    model_step="train",
    model_output="model",
    metrics_step="evaluate",
    metrics_output="metrics",
    metrics_file="evaluation.json",
    metrics=("roc_auc", "average_precision", "f1", "precision", "recall"),
    steps_dir=_HERE / "steps",
    requirements=_HERE / "requirements.txt",
    framework=FRAMEWORK,
    contract=DataContract(
        entity="card_id",
        event_time="event_time",
        label=Column("is_fraud", "int"),
        reads=(FeatureRead("card_transaction", TRANSACTION), FeatureRead("card_activity", ACTIVITY)),
        request=(*TRANSACTION, *ACTIVITY),
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
    """Write a batch of synthetic transactions where the ``input_data`` param points."""
    # Imported here: data.py needs pandas and numpy, which planning a stack never does.
    from pipelines.fraud import data

    return data.write(out_dir, rows=rows, seed=seed, start=start, shift=shift, name=name or data.FILE_NAME)


__all__ = ["PIPELINE", "write_dataset"]
