"""The kit's own steps, shipped with every pipeline: the feature store in the loop, drift, serving.

A pipeline adds the two feature-store steps to its graph with `store_features(...)` and
`training_data(...)`; their scripts (`mlops_*.py` here) go into every code bundle with the data
contract (`mlops_contract.json`) and the cloud's step I/O module (`mlops_io.py`; `io_local.py` on
this machine). Step scripts import them by name: they sit next to each other in the container.
"""

from __future__ import annotations

import json
from pathlib import Path

from pipelines.spec import KIT_DIR, PipelineDef, StepDef

STORE_STEP = "store_features"
DATASET_STEP = "training_data"
IO_MODULE = "mlops_io.py"
LOCAL_IO = KIT_DIR / "io_local.py"
CONTRACT_FILE = "mlops_contract.json"


def store_features(features: str, description: str = "") -> StepDef:
    """Write `features` (a `<step>.<output>` holding `<group>.csv` per group) into the feature store."""
    return StepDef(
        name=STORE_STEP,
        kind="processing",
        script="mlops_store_features.py",
        inputs={"features": features},
        outputs=("written",),
        description=description or "Write the engineered features into the platform's feature store (offline).",
    )


def training_data(labels: str, test_size: str = "param:test_size", seed: str = "param:seed") -> StepDef:
    """Read the features back point-in-time for the label spine in `labels`; split; write the baseline."""
    return StepDef(
        name=DATASET_STEP,
        kind="processing",
        script="mlops_training_data.py",
        inputs={"labels": labels, "written": f"{STORE_STEP}.written"},
        outputs=("train", "test", "baseline"),
        params={"test_size": test_size, "seed": seed},
        description="Point-in-time training set from the feature store; the drift baseline.",
    )


def kit_files(pipeline: PipelineDef, io_module: Path | str = LOCAL_IO) -> dict[str, Path | str]:
    """What the kit adds to a pipeline's code bundle: its scripts, the contract, the step I/O module."""
    files: dict[str, Path | str] = {p.name: p for p in sorted(KIT_DIR.glob("mlops_*.py"))}
    files[CONTRACT_FILE] = json.dumps(pipeline.contract.to_json(), indent=2, sort_keys=True) + "\n"
    files[IO_MODULE] = io_module
    return files
