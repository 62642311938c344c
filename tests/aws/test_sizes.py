"""The portable sizes on SageMaker: the table, its figures against AWS's own data, GPU, local NVMe.

Expected values are written here literally; the figures are cross-checked against moto's capture of
EC2 DescribeInstanceTypes (AWS's API answer, shipped as data with moto) and the sagemaker SDK's
instance_gpu_info.json, never against the code under test.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.util
import json
from pathlib import Path

import pytest
import yaml

from infra.config import SpecError, load_stack_file
from infra.plan import plan
from pipelines import available, get_pipeline
from pipelines.spec import Framework
from providers.aws import translate as tr
from providers.aws import vendor_rules as vr
from providers.base import Target

ROOT = Path(__file__).resolve().parents[2]
STACK = yaml.safe_load((ROOT / "Pulumi.aws-dev.yaml").read_text())

# The portable table (CONTEXT: issue 11 item 6): vCPUs, memory GiB (+-10%), GPU.
PORTABLE = {
    "small": (2, 8, None),
    "medium": (4, 16, None),
    "large": (8, 32, None),
    "gpu": (4, 16, ("T4", 1)),  # memory: 16 GiB or more
}
EXPECTED = {
    "small": ("ml.m5.large", 2, 8, None),
    "medium": ("ml.m5.xlarge", 4, 16, None),
    "large": ("ml.m5.2xlarge", 8, 32, None),
    "gpu": ("ml.g4dn.xlarge", 4, 16, ("NVIDIA T4", 1)),
}


def _package_data(module: str, relative: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / relative


EC2_TYPES = json.loads(gzip.decompress(_package_data("moto", "ec2/resources/instance_types.json.gz").read_bytes()))
GPU_INFO = json.loads(_package_data("sagemaker", "core/image_uri_config/instance_gpu_info.json").read_text())


def test_the_size_table_is_this_one():
    assert tr.SIZES == EXPECTED


@pytest.mark.parametrize("size", sorted(EXPECTED))
def test_each_size_has_the_portable_shape_by_aws_own_figures(size):
    instance, vcpus, memory, gpu = EXPECTED[size]
    ec2 = EC2_TYPES[instance.removeprefix("ml.")]
    assert ec2["VCpuInfo"]["DefaultVCpus"] == vcpus == PORTABLE[size][0]
    memory_gib = ec2["MemoryInfo"]["SizeInMiB"] / 1024
    assert memory_gib == memory
    assert 0.9 * PORTABLE[size][1] <= memory_gib and (gpu or memory_gib <= 1.1 * PORTABLE[size][1])
    gpus = ec2.get("GpuInfo", {}).get("Gpus", [])
    if PORTABLE[size][2] is None:
        assert gpus == [] and instance not in GPU_INFO["eu-west-1"]
    else:
        (card,) = gpus
        assert (card["Manufacturer"], card["Name"], card["Count"]) == ("NVIDIA", "T4", 1)
        assert GPU_INFO["eu-west-1"][instance] == {"Count": 1, "TotalGpuMemoryInMiB": 16384}


def test_local_nvme_families_are_those_with_instance_storage():
    # SageMaker refuses a volume key on them; the list is documentation, checked against EC2's data.
    for family in sorted(tr.LOCAL_NVME_FAMILIES):
        sizes = [v for k, v in EC2_TYPES.items() if k.split(".")[0] == family]
        assert sizes, family
        assert all(
            v["InstanceStorageSupported"] and v["InstanceStorageInfo"]["NvmeSupport"] == "required" for v in sizes
        )
    for instance, *_ in EXPECTED.values():
        assert tr.has_local_nvme(instance) is EC2_TYPES[instance.removeprefix("ml.")]["InstanceStorageSupported"]
    assert {i: tr.has_local_nvme(i) for i, *_ in EXPECTED.values()} == {
        "ml.m5.large": False,
        "ml.m5.xlarge": False,
        "ml.m5.2xlarge": False,
        "ml.g4dn.xlarge": True,
    }


def _stack(tmp_path: Path, **endpoint) -> Path:
    document = json.loads(json.dumps(STACK))
    document["config"]["mlops:platform"]["endpoint"].update(endpoint)
    path = tmp_path / "Pulumi.aws-size.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


# 70% of the whole machine, in SageMaker's CPUUtilization summed over vCPUs (400% = 4 busy vCPUs).
TARGET_AT_70 = {"small": 140.0, "medium": 280.0, "large": 560.0}


@pytest.mark.parametrize("size", sorted(TARGET_AT_70))
def test_every_size_scales_on_its_own_vcpus(tmp_path, size):
    result = plan(load_stack_file(_stack(tmp_path, instance=size, target_cpu_percent=70)))
    config = result.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration").inputs
    assert config["productionVariants"][0]["instanceType"] == EXPECTED[size][0]
    policy = result.one("aws:appautoscaling/policy:Policy").inputs["targetTrackingScalingPolicyConfiguration"]
    assert policy["targetValue"] == TARGET_AT_70[size]
    assert config["kmsKeyArn"].startswith("arn:aws:kms:")  # EBS-backed: the platform key


@pytest.mark.parametrize("key", ["pipeline", "endpoint"])
def test_gpu_with_a_scikit_learn_pipeline_is_refused_naming_the_key(key):
    config = json.loads(json.dumps(STACK["config"]))
    config["mlops:platform"][key]["instance"] = "gpu"
    from infra.config import resolve

    with pytest.raises(SpecError) as info:
        resolve("t", config.get)
    assert info.value.key == f"mlops:platform.{key}.instance"
    assert "no GPU image" in info.value.rule and "sklearn.json" in info.value.rule


def test_gpu_exits_2_with_one_line(tmp_path, capsys):
    from infra import cli

    document = json.loads(json.dumps(STACK))
    document["config"]["mlops:platform"]["pipeline"]["instance"] = "gpu"
    path = tmp_path / "Pulumi.aws-gpu.yaml"
    path.write_text(yaml.safe_dump(document))
    assert cli.main(["plan", "--config-file", str(path)]) == 2
    err = capsys.readouterr().err
    assert "mlops:platform.pipeline.instance" in err and "Traceback" not in err


def test_the_images_come_from_the_sdk_table_for_the_framework():
    churn = get_pipeline("churn")
    assert tr.framework_image(churn, "k") == tr.FrameworkImage("sklearn", "1.4-2-py312", "3.12", gpu=False)
    xgb = dataclasses.replace(churn, framework=Framework("xgboost", "1.7.6"))
    assert tr.framework_image(xgb, "k") == tr.FrameworkImage("xgboost", "1.7-1", "3.9", gpu=True)
    with pytest.raises(SpecError, match="no image of 1.3 for both training and serving"):
        tr.framework_image(dataclasses.replace(churn, framework=Framework("scikit-learn", "1.3.0")), "k")


@pytest.mark.parametrize("name", available())
def test_every_example_pipelines_image_names_its_python_so_the_private_wheelhouse_builds(name):
    """A private platform (the default) installs the step requirements from a wheelhouse built for
    the image's Python: an image whose Python is unknown cannot run any step of its pipeline."""
    from providers.aws import wheelhouse

    pipeline = get_pipeline(name)
    image = tr.framework_image(pipeline, "k")
    assert (image.table, image.version, image.python) == {
        "churn": ("sklearn", "1.4-2-py312", "3.12"),
        "fraud": ("xgboost", "1.7-1", "3.9"),
    }[name]
    command = wheelhouse.download_command(pipeline, image, wheelhouse.directory(pipeline, image))
    assert command[command.index("--python-version") + 1] == image.python


def test_gpu_with_a_gpu_framework_drops_the_volume_key():
    from infra.config import parse_platform

    config = json.loads(json.dumps(STACK["config"]))
    config["mlops:platform"]["pipeline"]["instance"] = "gpu"
    config["mlops:platform"]["endpoint"]["instance"] = "gpu"
    xgb = dataclasses.replace(get_pipeline("churn"), framework=Framework("xgboost", "1.7.6"))
    target = Target("t", "aws", parse_platform(config["mlops:platform"]), xgb, {"region": "eu-west-1"}, "eu-west-1")
    s = tr.translate(target)
    assert (s.training_instance, s.endpoint_instance, s.endpoint_vcpus) == ("ml.g4dn.xlarge", "ml.g4dn.xlarge", 4)
    assert (s.training_volume_kms, s.endpoint_volume_kms) == (False, False)


KEY = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"


@pytest.mark.parametrize(
    ("instance", "refused"), [("ml.g4dn.xlarge", True), ("ml.g5.2xlarge", True), ("ml.m5.xlarge", False)]
)
def test_a_volume_key_on_local_nvme_is_refused_everywhere(instance, refused):
    cluster = {"InstanceCount": 1, "InstanceType": instance, "VolumeSizeInGB": 30, "VolumeKmsKeyId": KEY}
    processing = {
        "ProcessingJobName": "j",
        "ProcessingResources": {"ClusterConfig": cluster},
        "AppSpecification": {"ImageUri": "i"},
        "RoleArn": "arn:aws:iam::123456789012:role/r",
    }
    endpoint = {
        "EndpointConfigName": "c",
        "KmsKeyId": KEY,
        "ProductionVariants": [{"VariantName": "primary", "ModelName": "m", "InstanceType": instance}],
    }
    found = [
        v.path
        for v in vr.check_request("sagemaker", "CreateProcessingJob", processing)
        + vr.check_request("sagemaker", "CreateEndpointConfig", endpoint)
        if "NVMe" in v.rule
    ]
    expected = [
        "CreateProcessingJob.ProcessingResources.ClusterConfig.VolumeKmsKeyId",
        "CreateEndpointConfig.KmsKeyId",
    ]
    assert found == (expected if refused else [])
