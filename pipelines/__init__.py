"""Registry of the example pipelines.

Each pipeline is a subpackage exposing ``PIPELINE`` (a ``PipelineDef``) and
``write_dataset(out_dir, rows, seed)`` (sample raw data for ``input_data``).
Subpackages are imported lazily so listing names stays cheap.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from pipelines.spec import ParamDef, PipelineDef, StepDef

_REGISTRY: dict[str, str] = {
    "churn": "pipelines.churn",
}


class UnknownPipelineError(ValueError):
    """Raised for a pipeline name that is not registered."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"unknown pipeline {name!r}; available: {', '.join(available())}")


def available() -> list[str]:
    """Registered pipeline names, sorted."""
    return sorted(_REGISTRY)


def _module(name: str) -> ModuleType:
    if name not in _REGISTRY:
        raise UnknownPipelineError(name)
    return importlib.import_module(_REGISTRY[name])


def get_pipeline(name: str) -> PipelineDef:
    """The validated ``PipelineDef`` for ``name``."""
    pipeline: PipelineDef = _module(name).PIPELINE
    pipeline.validate()
    return pipeline


def write_sample_data(pipeline: str, out_dir: Path | str, *, rows: int = 2000, seed: int = 7, **options: Any) -> Path:
    """Generate a batch of the pipeline's synthetic raw data into ``out_dir``; returns the file.

    ``options`` go to the pipeline's ``write_dataset`` (e.g. ``start``, ``shift``, ``name``).
    Backends upload this file and point the ``input_data`` param at its folder.
    """
    return _module(pipeline).write_dataset(Path(out_dir), rows=rows, seed=seed, **options)


__all__ = [
    "ParamDef",
    "PipelineDef",
    "StepDef",
    "UnknownPipelineError",
    "available",
    "get_pipeline",
    "write_sample_data",
]
