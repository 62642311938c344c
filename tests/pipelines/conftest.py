"""The churn code bundle, as every cloud ships it, imported from a temporary code dir.

Step scripts import the kit's modules (`mlops_schema`, `mlops_model`, `mlops_io`, ...) by name: in
a container they sit next to each other. Here the bundle is written once per session and put on
`sys.path`, with `$MLOPS_IO` pointing at a local store per test.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from pipelines import get_pipeline
from pipelines.package import bundle

PIPELINE = get_pipeline("churn")


@pytest.fixture(scope="session")
def code_dir(tmp_path_factory) -> Path:
    code = bundle(PIPELINE).write(tmp_path_factory.mktemp("bundle") / "code")
    sys.path.insert(0, str(code))
    yield code
    sys.path.remove(str(code))


@pytest.fixture
def store(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "store"
    monkeypatch.setenv("MLOPS_IO", json.dumps({"kind": "local", "root": str(root)}))
    monkeypatch.delenv("MLOPS_CONTRACT", raising=False)
    return root


@pytest.fixture(scope="session")
def step(code_dir):
    """Import a bundle module by file name: step('train') -> train.py as the container sees it."""

    stems = {p.stem for p in code_dir.glob("*.py")}

    def load(name: str) -> ModuleType:
        # Another test may have imported a module of the same name from elsewhere (the kit's own
        # folder, another bundle): the container only ever sees this bundle's files.
        if sys.path[0] != str(code_dir):
            sys.path.remove(str(code_dir))
            sys.path.insert(0, str(code_dir))
        for stem in stems:
            module = sys.modules.get(stem)
            if module is not None and Path(getattr(module, "__file__", None) or "").parent != code_dir:
                del sys.modules[stem]
        return importlib.import_module(name)

    return load
