"""The entry point `pulumi up` runs (infra/__main__.py), under the SDK's mocks."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pulumi
import pytest
import yaml

from infra.plan import use_offline_mocks

ROOT = Path(__file__).resolve().parents[2]


def _config(mutate=None) -> dict[str, str]:
    config = yaml.safe_load((ROOT / "Pulumi.aws-dev.yaml").read_text())["config"]
    if mutate:
        mutate(config)
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def test_main_module_declares_the_platform():
    monitor = use_offline_mocks("aws", "aws-dev", {"region": "eu-west-1"})
    pulumi.runtime.set_all_config(_config())

    @pulumi.runtime.test
    def run():
        runpy.run_path(str(ROOT / "infra" / "__main__.py"), run_name="__main__")

    run()
    types = {r.type for r in monitor.recorded}
    assert "mlops:aws:RetrainingTrigger" in types and "aws:sagemaker/pipeline:Pipeline" in types


def test_invalid_config_stops_pulumi_with_one_line_and_no_traceback():
    use_offline_mocks("aws", "aws-dev", {"region": "eu-west-1"})
    pulumi.runtime.set_all_config(_config(lambda c: c["mlops:platform"]["endpoint"].update(max_replicas=0)))

    @pulumi.runtime.test
    def run():
        runpy.run_path(str(ROOT / "infra" / "__main__.py"), run_name="__main__")

    # RunError is the error Pulumi prints as one line, without a Python traceback.
    with pytest.raises(pulumi.RunError) as info:
        run()
    assert str(info.value) == (
        "invalid stack config: mlops:platform.endpoint.max_replicas: Input should be greater than or equal to 1"
    )
    assert info.value.__suppress_context__
