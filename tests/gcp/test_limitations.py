"""Every portable knob GCP cannot honour is refused (exit 2, one line naming the key), never
silently ignored: a knob that is accepted must change what the plan declares."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((ROOT / "Pulumi.gcp-dev.yaml").read_text())

# (the knob, its value) -> the key GCP refuses it under, written literally.
VARIANTS = {
    "monitor.engine=builtin": (("monitor", "engine"), "builtin", "mlops:platform.monitor.engine"),
    "endpoint.shadow": (
        ("endpoint", "shadow"),
        {"model_version": 2, "sample_percent": 10},
        "mlops:platform.endpoint.shadow",
    ),
}


def _stack(tmp_path: Path, path: tuple[str, ...], value: object) -> Path:
    document = copy.deepcopy(BASE)
    node = document["config"]["mlops:platform"]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    out = tmp_path / "Pulumi.gcp-variant.yaml"
    out.write_text(yaml.safe_dump(document))
    return out


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_knob_gcp_cannot_honour_is_refused_in_one_line(variant, tmp_path):
    path, value, key = VARIANTS[variant]
    stack = _stack(tmp_path, path, value)
    run = subprocess.run(
        [sys.executable, "-m", "infra.cli", "validate", "--config-file", str(stack)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert key in lines[0] and "not possible on gcp" in lines[0]
    assert "Traceback" not in run.stderr


def test_the_refusals_follow_the_vendors_proto():
    """Shadow is refused because no Vertex AI endpoint field mirrors traffic: if the installed
    protos grow one, this test says the refusal must be revisited."""
    from google.cloud.aiplatform_v1.types import DeployedModel, Endpoint

    fields = set(Endpoint.meta.fields) | set(DeployedModel.meta.fields)
    assert not [f for f in fields if "shadow" in f or "mirror" in f]
    assert "traffic_split" in Endpoint.meta.fields


def test_the_default_knobs_are_accepted():
    from providers.gcp import GcpProvider
    from providers.spec import parse_platform

    assert GcpProvider().limitations(parse_platform(BASE["config"]["mlops:platform"])) == []


@pytest.mark.parametrize(
    "rollout",
    [
        {"strategy": "all_at_once"},
        {"strategy": "canary", "canary_percent": 10, "bake_minutes": 10},
        {"strategy": "linear", "step_percent": 25, "bake_minutes": 10, "rollback_on": {"p99_latency_ms": 500}},
    ],
)
def test_every_rollout_strategy_is_honoured_not_refused(rollout):
    """The class: each portable `endpoint.rollout.strategy` is built on GCP (providers/gcp/dynamic.py
    roll_out, tests/gcp/test_rollout.py), so none may be refused."""
    from providers.gcp import GcpProvider
    from providers.spec import parse_platform

    platform = copy.deepcopy(BASE["config"]["mlops:platform"])
    platform["endpoint"]["rollout"] = rollout
    assert GcpProvider().limitations(parse_platform(platform)) == []
