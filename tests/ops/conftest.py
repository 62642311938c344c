"""Shared pieces of the day-two tests: a project folder with stack files, outputs files."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def project(tmp_path: Path, stacks: dict[str, str]) -> Path:
    """A project folder: Pulumi.yaml and `stacks` (name -> stack file text)."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    for name, text in stacks.items():
        (tmp_path / f"Pulumi.{name}.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def example(cloud: str) -> str:
    return (ROOT / f"Pulumi.{cloud}-dev.yaml").read_text(encoding="utf-8")


def write_outputs(folder: Path, stack: str, outputs: dict[str, Any]) -> Path:
    path = folder / f"{stack}.outputs.json"
    path.write_text(json.dumps(outputs), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _no_pulumi_cli(monkeypatch):
    """The outputs come from --outputs files: a Pulumi CLI on the test machine must not be used."""
    path = os.environ.get("PATH", "")
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in path.split(os.pathsep) if not (Path(p) / "pulumi").exists()))


@pytest.fixture(autouse=True)
def _restore_environ():
    """MLClient for a custom cloud sets AZUREML_CURRENT_CLOUD in os.environ (see tests/azure/conftest.py)."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
