"""Every Python file the kit ships into a vendor's image runs on that image's Python.

The step and serving images are the vendors' (SageMaker's scikit-learn image, Vertex AI's prebuilt
containers, Azure ML's inference base image); their Python is not ours to choose. The oldest any of
them may run is 3.9 (docs/gcp.md: scikit-learn 1.4 needs 3.9; the SageMaker and Azure images the kit
picks are newer), so nothing shipped may need more. The rule is read by vermin, which knows which
Python added every syntax feature, module, member and keyword argument
(https://github.com/netromdk/vermin): a `from datetime import UTC` (3.11) or a `zip(strict=True)`
(3.10) in a kit module fails here, where the test suite's own Python 3.11 would never notice.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import vermin

from pipelines import available, get_pipeline
from pipelines.package import bundle

ROOT = Path(__file__).resolve().parents[2]

# The oldest Python an image the kit ships code into may have.
IMAGE_PYTHON_FLOOR = (3, 9)

# Files a cloud ships next to (or instead of) the bundle: its step I/O, job scripts, serving shim.
CLOUD_SHIPPED = ("providers/*/step_io.py", "providers/*/job_scripts/*.py", "providers/gcp/vertex_server.py")


def _needs(source: str) -> tuple[int, int] | None:
    """The oldest Python 3 that runs `source` (None: no Python 3 does)."""
    config = vermin.Config()
    config.set_eval_annotations(True)
    return vermin.detect(source, config=config)[1]


def _evaluated_union_annotations(source: str) -> list[int]:
    """Lines of `X | Y` annotations Python evaluates at import (3.10+), which vermin does not flag:
    every annotation is a string under `from __future__ import annotations`."""
    tree = ast.parse(source)
    future = any(
        isinstance(node, ast.ImportFrom)
        and node.module == "__future__"
        and any(a.name == "annotations" for a in node.names)
        for node in tree.body
    )
    if future:
        return []
    annotations = [
        *(n.annotation for n in ast.walk(tree) if isinstance(n, ast.arg) and n.annotation),
        *(n.returns for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.returns),
        *(n.annotation for n in ast.walk(tree) if isinstance(n, ast.AnnAssign)),
    ]
    return sorted(
        node.lineno
        for annotation in annotations
        for node in ast.walk(annotation)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr)
    )


def _shipped() -> dict[str, str]:
    files: dict[str, str] = {}
    for name in available():
        code = bundle(get_pipeline(name))
        for file in code.files:
            if file.endswith(".py"):
                files[f"{name} bundle: {file}"] = code.content(file).decode()
    for pattern in CLOUD_SHIPPED:
        for path in sorted(ROOT.glob(pattern)):
            files[str(path.relative_to(ROOT))] = path.read_text()
    return files


SHIPPED = _shipped()


def test_the_files_shipped_include_the_kit_and_every_pipeline():
    assert any(key.endswith(": mlops_serve.py") for key in SHIPPED)
    assert any(key.endswith(": mlops_drift.py") for key in SHIPPED)
    assert {key.split(" bundle")[0] for key in SHIPPED if " bundle: " in key} >= {"churn", "fraud"}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_runs_on_the_oldest_image_python(name):
    needs = _needs(SHIPPED[name])
    assert needs is not None and needs <= IMAGE_PYTHON_FLOOR, f"{name} needs Python {needs}"
    assert _evaluated_union_annotations(SHIPPED[name]) == [], f"{name}: `X | Y` annotations need Python 3.10"


@pytest.mark.parametrize(
    "source, lines",
    [
        ("def f(x: int | None) -> None: ...\n", [1]),
        ("def f() -> int | None: ...\n", [1]),
        ("x: int | str = 1\n", [1]),
        ("from __future__ import annotations\ndef f(x: int | None) -> int | None: ...\n", []),
        ("def f(x: 'int | None') -> None: ...\nflags = 1 | 2\n", []),
    ],
)
def test_union_annotations_evaluated_at_import_are_found(source, lines):
    assert _evaluated_union_annotations(source) == lines


@pytest.mark.parametrize(
    "source, runs_on_3_9",
    [
        ("from datetime import UTC\n", False),
        ("pairs = dict(zip('ab', 'cd', strict=True))\n", False),
        ("from datetime import datetime, timezone\nnow = datetime.now(timezone.utc)\n", True),
    ],
)
def test_the_oracle_sees_what_older_pythons_lack(source, runs_on_3_9):
    """The rule is vermin's: the shapes this kit has been caught with are ones it reports."""
    needs = _needs(source)
    assert (needs is not None and needs <= (3, 9)) is runs_on_3_9
