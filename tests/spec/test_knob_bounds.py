"""Every bound of every numeric knob of `mlops:platform`: accepted at the edge, refused one past it
(issue 16). The bounds are written here, literally; a knob added to the spec without a row here
fails `test_every_numeric_knob_has_a_row`.
"""

from __future__ import annotations

import copy
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from providers.spec import Platform, SpecError, parse_platform

ROOT = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((ROOT / "Pulumi.aws-dev.yaml").read_text())["config"]["mlops:platform"]

# path -> (values accepted at the edges, values refused just past them, other settings the row needs)
BOUNDS: dict[str, tuple[list[Any], list[Any], dict[str, Any]]] = {
    "pipeline.quality_gate.threshold": ([0.0, 1.0], [-0.01, 1.01], {}),
    "endpoint.model_version": ([1], [0], {}),
    "endpoint.min_replicas": ([1, 100], [0, 101], {"endpoint.max_replicas": 100}),
    "endpoint.max_replicas": ([1, 100], [0, 101], {"endpoint.min_replicas": 1}),
    "endpoint.target_cpu_percent": ([10, 95], [9, 96], {}),
    "endpoint.data_capture_percent": ([1, 100], [0, 101], {}),
    "endpoint.rollout.canary_percent": ([1, 50], [0, 51], {"endpoint.rollout.strategy": "canary"}),
    "endpoint.rollout.step_percent": ([5, 50], [4, 51], {"endpoint.rollout.strategy": "linear"}),
    "endpoint.rollout.bake_minutes": ([1, 1440], [0, 1441], {"endpoint.rollout.strategy": "canary"}),
    "endpoint.rollout.rollback_on.error_rate": ([0.0001, 1.0], [0.0, 1.01], {"endpoint.rollout.strategy": "canary"}),
    "endpoint.rollout.rollback_on.p99_latency_ms": (
        [1, 600_000],
        [0, 600_001],
        {"endpoint.rollout.strategy": "canary"},
    ),
    "endpoint.shadow.model_version": ([1], [0], {"endpoint.model_version": 5}),
    "endpoint.shadow.sample_percent": ([1, 100], [0, 101], {"endpoint.shadow.model_version": 2}),
    "monitor.drift_threshold": ([0.0001, 1.0], [0.0, 1.01], {}),
    "monitor.min_samples": ([30, 1_000_000], [29, 1_000_001], {}),
    "monitor.retrain_cooldown_hours": ([0, 720], [-1, 721], {}),
}


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = data
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def _platform(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for other, setting in BOUNDS[path][2].items():
        _set(data, other, setting)
    _set(data, path, value)
    return data


def _read(platform: Platform, path: str) -> Any:
    node: Any = platform
    for part in path.split("."):
        node = getattr(node, part)
    return node


@pytest.mark.parametrize(
    ("path", "value"), [(p, v) for p, (ok, _, _) in BOUNDS.items() for v in ok], ids=lambda x: str(x)
)
def test_a_knob_at_its_edge_is_accepted(path, value):
    assert _read(parse_platform(_platform(path, value)), path) == value


@pytest.mark.parametrize(
    ("path", "value"), [(p, v) for p, (_, bad, _) in BOUNDS.items() for v in bad], ids=lambda x: str(x)
)
def test_a_knob_one_past_its_edge_is_refused_naming_it(path, value):
    with pytest.raises(SpecError) as info:
        parse_platform(_platform(path, value))
    assert info.value.key == f"mlops:platform.{path}"


def _numeric_paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    """The dotted path of every int or float field under `model` (Optional unwrapped)."""
    out: set[str] = set()
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if typing.get_origin(annotation) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0] if len(args) == 1 else annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out |= _numeric_paths(annotation, f"{prefix}{name}.")
        elif annotation in (int, float):
            out.add(f"{prefix}{name}")
    return out


def test_every_numeric_knob_has_a_row():
    assert _numeric_paths(Platform) == set(BOUNDS)
