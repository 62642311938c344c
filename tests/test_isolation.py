"""A stack on one cloud imports none of the other clouds' code or SDKs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOREIGN = {
    "aws": ("pulumi_aws", "sagemaker", "boto3", "providers.aws"),
    "gcp": ("pulumi_gcp", "google.cloud.aiplatform", "kfp", "providers.gcp"),
    "azure": ("pulumi_azure_native", "azure.ai.ml", "providers.azure"),
}
PROBE = """
import json, sys
from pathlib import Path
from infra.config import load_stack_file
from infra.plan import plan
plan(load_stack_file(Path(sys.argv[1])))
print(json.dumps(sorted(sys.modules)))
"""


@pytest.mark.parametrize("cloud", sorted(FOREIGN))
def test_planning_one_cloud_imports_no_other_cloud(cloud):
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT / f"Pulumi.{cloud}-dev.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = set(json.loads(proc.stdout.strip().splitlines()[-1]))
    own = FOREIGN[cloud][0]
    assert own in modules  # the probe really planned this cloud
    for other, names in FOREIGN.items():
        if other == cloud:
            continue
        loaded = [m for m in modules for n in names if m == n or m.startswith(n + ".")]
        assert loaded == [], f"{cloud} stack imported {other} code: {loaded[:5]}"
