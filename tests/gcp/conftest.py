from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "Pulumi.gcp-dev.yaml"


def stack_config() -> dict[str, Any]:
    return yaml.safe_load(STACK.read_text())["config"]


def write_stack(tmp_path: Path, name: str, change) -> Path:
    """A copy of the example GCP stack with `change(config)` applied."""
    config = copy.deepcopy(stack_config())
    change(config)
    path = tmp_path / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": config}))
    return path


@pytest.fixture(scope="session")
def gcp_plan():
    from infra.config import load_stack_file
    from infra.plan import plan

    return plan(load_stack_file(STACK))
