"""Which instance each job of every planned pipeline runs on, and what a registered version may serve on.

Audit findings 9 and 10: a GPU only for the train step (processing jobs and the Model Monitor
baseline on the CPU instance of the same size), and every model package listing every serving size
its image runs on, so a version registered before an `endpoint.instance` change stays deployable.
Whether an instance has a GPU is read from moto's capture of EC2 DescribeInstanceTypes (AWS's API
answer), never from the code under test; the expected lists are literal.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CPU_SIZES = ["ml.m5.large", "ml.m5.xlarge", "ml.m5.2xlarge"]
ALL_SIZES = [*CPU_SIZES, "ml.g4dn.xlarge"]


def _ec2_types() -> dict[str, dict]:
    spec = importlib.util.find_spec("moto")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "ec2/resources/instance_types.json.gz"
    return json.loads(gzip.decompress(path.read_bytes()))


EC2 = _ec2_types()


def _has_gpu(instance: str) -> bool:
    return bool(EC2[instance.removeprefix("ml.")].get("GpuInfo", {}).get("Gpus"))


def _jobs(steps: list[dict]) -> list[tuple[str, dict]]:
    """(step type, Arguments) of every job of the definition, Condition branches included."""
    out = []
    for step in steps:
        args = step.get("Arguments") or {}
        if step["Type"] == "Condition":
            out += _jobs([*(args.get("IfSteps") or []), *(args.get("ElseSteps") or [])])
        else:
            out.append((step["Type"], args))
    return out


def _gpu_plan(tmp_path, monkeypatch):
    """aws-fraud with `gpu` for pipeline and endpoint, its pipeline on the xgboost image (GPU-capable)."""
    import pipelines
    from infra.config import load_stack_file
    from infra.plan import plan

    requirements = tmp_path / "requirements.txt"
    requirements.write_text("xgboost==1.7.6\njoblib==1.4.2\n")
    variant = dataclasses.replace(pipelines.get_pipeline("fraud"), requirements=requirements)
    real = pipelines.get_pipeline
    monkeypatch.setattr(pipelines, "get_pipeline", lambda name: variant if name == "fraud" else real(name))
    document = yaml.safe_load((ROOT / "Pulumi.aws-fraud.yaml").read_text())
    document["config"]["mlops:platform"]["pipeline"]["instance"] = "gpu"
    document["config"]["mlops:platform"]["endpoint"]["instance"] = "gpu"
    path = tmp_path / "Pulumi.aws-fraud-gpu.yaml"
    path.write_text(yaml.safe_dump(document))
    return plan(load_stack_file(path))


@pytest.fixture(scope="module")
def fraud_plan():
    from infra.config import load_stack_file
    from infra.plan import plan

    return plan(load_stack_file(ROOT / "Pulumi.aws-fraud.yaml"))


def _check(result, *, training: str, processing: str, supported: list[str]) -> None:
    definition = json.loads(result.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"])
    jobs = _jobs(definition["Steps"])
    # (QualityCheck, Model Monitor's baseline, only exists with monitor.engine: builtin)
    assert {kind for kind, _ in jobs} >= {"Processing", "Training", "RegisterModel"}
    for kind, args in jobs:
        if kind in ("Processing", "QualityCheck"):
            cluster = args["ProcessingResources"]["ClusterConfig"]
            assert not _has_gpu(cluster["InstanceType"]), f"{kind} job on a GPU: {cluster['InstanceType']}"
            assert cluster["InstanceType"] == processing
            assert cluster["VolumeKmsKeyId"].startswith("arn:aws:kms:")  # EBS: the platform key
        elif kind == "Training":
            assert args["ResourceConfig"]["InstanceType"] == training
        elif kind == "RegisterModel":
            spec = args["InferenceSpecification"]
            assert spec["SupportedRealtimeInferenceInstanceTypes"] == supported
            assert spec["SupportedTransformInstanceTypes"] == supported
    endpoint = result.by_type("aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    for config in endpoint:
        for variant in config.inputs["productionVariants"]:
            assert variant["instanceType"] in supported


@pytest.mark.parametrize("stack", ["aws-dev", "aws-all-options", "aws-public"])
def test_every_example_plan(aws_plans, stack):
    result = aws_plans[stack]
    definition = json.loads(result.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"])
    (train,) = [a for k, a in _jobs(definition["Steps"]) if k == "Training"]
    training = train["ResourceConfig"]["InstanceType"]
    assert not _has_gpu(training)
    _check(result, training=training, processing=training, supported=CPU_SIZES)


def test_the_fraud_plan(fraud_plan):
    _check(fraud_plan, training="ml.m5.xlarge", processing="ml.m5.xlarge", supported=CPU_SIZES)


def test_gpu_only_for_the_train_step(tmp_path, monkeypatch):
    _check(_gpu_plan(tmp_path, monkeypatch), training="ml.g4dn.xlarge", processing="ml.m5.xlarge", supported=ALL_SIZES)
