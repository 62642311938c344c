"""Reading a `mlops plan --format json` file and checking its shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class PlanFileError(ValueError):
    """A plan file that cannot be read; the message names the file and the problem."""


def load_plan(path: Path) -> dict[str, Any]:
    """Read and check the shape of a `mlops plan --format json` file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PlanFileError(f"{path}: not valid JSON ({exc})") from None
    problem = _shape_problem(data)
    if problem:
        raise PlanFileError(f"{path}: not an mlops plan: {problem}")
    return data


def _shape_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "expected a JSON object"
    if not isinstance(data.get("stack"), str):
        return '"stack" must be a string'
    if not isinstance(data.get("resources"), list):
        return '"resources" must be a list'
    for i, res in enumerate(data["resources"]):
        if not isinstance(res, dict) or not all(isinstance(res.get(k), str) for k in ("urn", "type", "name")):
            return f'resources[{i}] needs string "urn", "type" and "name"'
        if not isinstance(res.get("inputs", {}), dict):
            return f"resources[{i}].inputs must be an object"
    for key in ("platform", "outputs"):
        if not isinstance(data.get(key, {}), dict):
            return f'"{key}" must be an object'
    return None
