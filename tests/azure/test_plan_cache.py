"""The plan-time cache (issue 14): a warm plan declares exactly what a cold one does and imports no
azure-ai-ml; the key holds what the output depends on (a changed input is a miss)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAN = """
import json, sys
from pathlib import Path
from infra.config import load_stack_file
from infra.plan import plan
result = plan(load_stack_file(Path(sys.argv[1])), check=False)
print(json.dumps({"resources": result.to_json()["resources"], "outputs": result.outputs,
                  "imported": sorted(m for m in sys.modules if m == "azure.ai.ml" or m.startswith("azure.ai.ml."))[:3]},
                 default=str, sort_keys=True))
"""


def _plan(cache: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLOPS_CACHE_DIR": str(cache)}
    env.pop("MLOPS_NO_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-c", PLAN, str(ROOT / "Pulumi.azure-dev.yaml")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=900,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_warm_plan_declares_the_same_and_imports_no_azure_ai_ml(tmp_path):
    cold = _plan(tmp_path)
    assert cold["imported"]  # a miss builds with the SDK
    kinds = sorted(p.name for p in tmp_path.iterdir())
    assert {"azure-training-job", "azure-drift-job", "azure-featureset-body", "azure-datastore-properties"} <= set(
        kinds
    )
    warm = _plan(tmp_path)
    assert warm["imported"] == []
    assert warm["resources"] == cold["resources"] and warm["outputs"] == cold["outputs"]


def test_a_changed_input_is_a_miss(tmp_path, monkeypatch):
    from providers.azure import sdk_cache

    monkeypatch.setenv("MLOPS_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("MLOPS_NO_CACHE", raising=False)
    calls: list[str] = []

    def build(value: str) -> dict:
        calls.append(value)
        return {"built": value}

    assert sdk_cache.cached_json("t", {"x": 1}, lambda: build("a")) == {"built": "a"}
    assert sdk_cache.cached_json("t", {"x": 1}, lambda: build("b")) == {"built": "a"}  # a hit: not rebuilt
    assert sdk_cache.cached_json("t", {"x": 2}, lambda: build("c")) == {"built": "c"}
    assert calls == ["a", "c"]
    monkeypatch.setenv("MLOPS_NO_CACHE", "1")
    assert sdk_cache.cached_json("t", {"x": 1}, lambda: build("d")) == {"built": "d"}
