"""What a plan imports, every example on every cloud (issue 14): once the plan-time cache is warm,
planning imports none of the libraries only the steps or the vendor SDK builders need.

Each of these costs plan time and memory that a raw Pulumi program declaring the same resources does
not pay (`benchmarks/plan.py`): pandas alone added 77 MB and 0.4 s to the GCP plan, imported through a
module the plan read one constant from. The list is the step and builder side of the dependencies,
written here literally, not read from the code under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import load_stack_file, stack_files
from providers import registry

ROOT = Path(__file__).resolve().parents[2]

STEP_AND_BUILDER_ONLY = (
    "pandas",
    "numpy",
    "pyarrow",
    "sklearn",
    "xgboost",
    "kfp",  # GCP: compiles the pipeline spec on a cache miss
    "sagemaker",  # AWS: builds the pipeline definition on a cache miss
    "azure.ai.ml",  # Azure: builds the job bodies on a cache miss
    "google.cloud.aiplatform",
    "google.cloud.bigquery",
    "boto3",
)

PLAN = """
import json, sys
from pathlib import Path
from infra.config import load_stack_file
from infra.plan import plan
plan(load_stack_file(Path(sys.argv[1]), sys.argv[2]), check=False)
print(json.dumps(sorted(sys.modules)))
"""


def _examples() -> list[tuple[str, Path]]:
    found = []
    for name, path in stack_files(ROOT).items():
        if load_stack_file(path, name).config.get("mlops:cloud") in registry.implemented():
            found.append((name, path))
    return sorted(found)


def _imported(stack: str, path: Path, cache: Path) -> set[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLOPS_CACHE_DIR": str(cache)}
    env.pop("MLOPS_NO_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-c", PLAN, str(path), stack],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _offenders(modules: set[str]) -> list[str]:
    return sorted(
        heavy for heavy in STEP_AND_BUILDER_ONLY if any(m == heavy or m.startswith(heavy + ".") for m in modules)
    )


@pytest.mark.parametrize(("stack", "path"), _examples(), ids=[name for name, _ in _examples()])
def test_a_warm_plan_imports_nothing_only_the_steps_or_the_builders_need(stack, path, tmp_path):
    _imported(stack, path, tmp_path)  # cold: a miss may import the vendor SDK to build
    warm = _imported(stack, path, tmp_path)
    assert _offenders(warm) == [], f"{stack}: a warm plan imported {_offenders(warm)}"


def test_the_check_sees_an_import():
    """The check itself can fail: a module set holding a submodule of a listed library is caught."""
    assert _offenders({"pandas.core.frame", "pulumi"}) == ["pandas"]
    assert _offenders({"azure.ai.ml.entities"}) == ["azure.ai.ml"]
    assert _offenders({"pandasx", "kfp_server_api"}) == []
