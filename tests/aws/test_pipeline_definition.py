"""The SageMaker pipeline definition built offline from the churn PipelineDef.

Built once per module with no AWS environment, no credentials and every socket call
refused; the assertions read the definition JSON the way SageMaker would.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import tarfile
import threading
from pathlib import Path

import pytest

from pipelines import get_pipeline
from providers.aws import pipeline_definition as pd

PIPELINE = get_pipeline("churn")
KMS = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
ROLE = "arn:aws:iam::123456789012:role/churn-dev-sagemaker"
BUCKET = "churn-dev-data-123456789012"
CODE_PREFIX = f"s3://{BUCKET}/code/churn/0123456789ab/"
ARGS = dict(
    region="eu-west-1",
    role_arn=ROLE,
    bucket=BUCKET,
    kms_key_arn=KMS,
    instance_type="ml.m5.xlarge",
    inference_instance_type="ml.m5.large",
    image_table="sklearn",
    image_version="1.4-2-py312",
    pipeline_name="churn-dev-training",
    model_package_group="churn-dev-models",
    approval_status="PendingManualApproval",
    gate_metric="roc_auc",
    gate_threshold=0.8,
    code_prefix=CODE_PREFIX,
    io_config=f"s3://{BUCKET}/config/0123456789ab/mlops_io.json",
)
PROCESSING_PATHS = {
    "validate": {
        "raw": "/opt/ml/processing/input/raw",
        "validated": "/opt/ml/processing/output/validated",
        "report": "/opt/ml/processing/output/report",
    },
    "features": {
        "data": "/opt/ml/processing/input/data",
        "features": "/opt/ml/processing/output/features",
        "labels": "/opt/ml/processing/output/labels",
    },
    "store_features": {
        "features": "/opt/ml/processing/input/features",
        "written": "/opt/ml/processing/output/written",
    },
    "training_data": {
        "labels": "/opt/ml/processing/input/labels",
        "written": "/opt/ml/processing/input/written",
        "train": "/opt/ml/processing/output/train",
        "test": "/opt/ml/processing/output/test",
        "baseline": "/opt/ml/processing/output/baseline",
    },
    "evaluate": {
        "model": "/opt/ml/processing/input/model",
        "test": "/opt/ml/processing/input/test",
        "metrics": "/opt/ml/processing/output/metrics",
    },
}
TRAIN_PATHS = {"train": "/opt/ml/input/data/train", "model": "/opt/ml/model"}


def _offline_build(**overrides) -> tuple[str, list, dict]:
    """Build with no AWS env/credentials; return (json, refused network calls, env vars changed)."""
    calls: list = []

    def refuse(*args, **kwargs):
        calls.append(args)
        raise OSError("network disabled in this test")

    with pytest.MonkeyPatch.context() as mp:
        for key in list(os.environ):
            if key.startswith("AWS_"):
                mp.delenv(key)
        mp.setenv("AWS_CONFIG_FILE", os.devnull)
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        mp.setattr(socket, "getaddrinfo", refuse)
        mp.setattr(socket, "create_connection", refuse)
        env_before = dict(os.environ)
        definition = pd.build_definition(PIPELINE, pd.DefinitionSettings(**{**ARGS, **overrides}))
        # SDK telemetry would send from a daemon thread: let any such thread finish first.
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and thread.daemon:
                thread.join(timeout=5)
        env_changes = {k for k in {*env_before, *os.environ} if env_before.get(k) != os.environ.get(k)}
    return definition, calls, env_changes


@pytest.fixture(scope="module")
def built() -> tuple[str, list, dict]:
    return _offline_build()


@pytest.fixture(scope="module")
def definition(built) -> dict:
    return json.loads(built[0])


@pytest.fixture(scope="module")
def steps(definition) -> dict[str, dict]:
    top = {s["Name"]: s for s in definition["Steps"]}
    gate = top[pd.GATE_STEP]["Arguments"]
    nested = {s["Name"]: s for s in (*gate["IfSteps"], *gate["ElseSteps"])}
    return {**top, **nested}


def _resolve(value, params: dict[str, str]):
    """Evaluate the pipeline expressions an argv element may hold, with given parameter values."""
    if isinstance(value, str):
        return value
    if "Get" in value and value["Get"].startswith("Parameters."):
        return params[value["Get"].removeprefix("Parameters.")]
    if "Std:Join" in value:
        join = value["Std:Join"]
        return join["On"].join(str(_resolve(v, params)) for v in join["Values"])
    raise AssertionError(f"unexpected expression in container arguments: {value}")


def _defaults(definition: dict) -> dict[str, str]:
    return {p["Name"]: str(p["DefaultValue"]) for p in definition["Parameters"]}


def _entrypoint(step: dict) -> list[str]:
    args = step["Arguments"]
    return (args.get("AppSpecification") or args["AlgorithmSpecification"])["ContainerEntrypoint"]


def _argv(step: dict, params: dict[str, str]) -> list[str]:
    """The command line run.sh ends with: entrypoint after run.sh and its --untar pairs + arguments."""
    args = step["Arguments"]
    spec = args.get("AppSpecification") or args["AlgorithmSpecification"]
    entrypoint, arguments = spec["ContainerEntrypoint"], spec["ContainerArguments"]
    assert entrypoint[0] == "/bin/bash" and entrypoint[1].endswith("/run.sh")
    rest = entrypoint[2:]
    while rest[0] == "--untar":
        rest = rest[2:]
    return rest + [_resolve(a, params) for a in arguments]


def test_build_made_no_network_call_and_restored_the_environment(built):
    _, calls, env_changes = built
    assert calls == []
    assert env_changes == set()


def test_steps_in_order_with_their_types(definition, steps):
    # The kit's drift check needs no Model Monitor: no QualityCheck step (engine kit, the default).
    assert [(s["Name"], s["Type"]) for s in definition["Steps"]] == [
        ("validate", "Processing"),
        ("features", "Processing"),
        ("store_features", "Processing"),
        ("training_data", "Processing"),
        ("train", "Training"),
        ("evaluate", "Processing"),
        (pd.GATE_STEP, "Condition"),
    ]
    gate = steps[pd.GATE_STEP]["Arguments"]
    assert [(s["Name"], s["Type"]) for s in gate["IfSteps"]] == [
        (pd.REGISTER_STEP, "RegisterModel"),
        ("publish_baseline", "Processing"),
    ]
    assert [(s["Name"], s["Type"]) for s in gate["ElseSteps"]] == [(pd.FAIL_STEP, "Fail")]


def test_parameters_declared_with_types_and_defaults(definition):
    params = {p["Name"]: (p["Type"], p["DefaultValue"]) for p in definition["Parameters"]}
    assert list(params) == pd.parameter_names(PIPELINE) == ["input_data", "test_size", "seed", "algorithm", "trigger"]
    assert params == {
        "input_data": ("String", f"s3://{BUCKET}/datasets/churn/raw/"),
        "test_size": ("Float", 0.25),
        "seed": ("Integer", 7),
        "algorithm": ("String", "logistic_regression"),
        "trigger": ("String", "manual"),
    }


@pytest.mark.parametrize("step_name", ["validate", "features", "store_features", "training_data", "evaluate"])
def test_processing_containers_run_the_pipeline_command(definition, steps, step_name):
    assert _argv(steps[step_name], _defaults(definition)) == PIPELINE.command(
        step_name, PROCESSING_PATHS[step_name], {}
    )


def test_training_container_runs_the_pipeline_command(definition, steps):
    assert _argv(steps["train"], _defaults(definition)) == PIPELINE.command("train", TRAIN_PATHS, {})


def test_parameter_values_reach_the_command_line(definition, steps):
    values = {**_defaults(definition), "seed": "11", "algorithm": "gradient_boosting", "test_size": "0.3"}
    overrides = {"seed": "11", "algorithm": "gradient_boosting", "test_size": "0.3"}
    assert _argv(steps["train"], values) == PIPELINE.command("train", TRAIN_PATHS, overrides)
    assert _argv(steps["training_data"], values) == PIPELINE.command(
        "training_data", PROCESSING_PATHS["training_data"], overrides
    )


def test_inputs_are_wired_to_the_producing_step(steps):
    def processing_inputs(name):
        return {i["InputName"]: i["S3Input"] for i in steps[name]["Arguments"]["ProcessingInputs"]}

    names = ("validate", "features", "store_features", "training_data", "evaluate")
    validate, features, store, dataset, evaluate = (processing_inputs(n) for n in names)
    assert validate["raw"]["S3Uri"] == {"Get": "Parameters.input_data"}
    assert features["data"]["S3Uri"] == {
        "Get": "Steps.validate.ProcessingOutputConfig.Outputs['validated'].S3Output.S3Uri"
    }
    assert store["features"]["S3Uri"] == {
        "Get": "Steps.features.ProcessingOutputConfig.Outputs['features'].S3Output.S3Uri"
    }
    assert dataset["labels"]["S3Uri"] == {
        "Get": "Steps.features.ProcessingOutputConfig.Outputs['labels'].S3Output.S3Uri"
    }
    assert dataset["written"]["S3Uri"] == {
        "Get": "Steps.store_features.ProcessingOutputConfig.Outputs['written'].S3Output.S3Uri"
    }
    assert evaluate["model"]["S3Uri"] == {"Get": "Steps.train.ModelArtifacts.S3ModelArtifacts"}
    assert evaluate["test"]["S3Uri"] == {
        "Get": "Steps.training_data.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"
    }
    for name, inputs in zip(names, (validate, features, store, dataset, evaluate), strict=True):
        for input_name, s3 in inputs.items():
            if input_name not in (pd.CODE_CHANNEL, pd.IO_INPUT):
                assert s3["LocalPath"] == PROCESSING_PATHS[name][input_name]
    channels = {c["ChannelName"]: c for c in steps["train"]["Arguments"]["InputDataConfig"]}
    assert channels["train"]["DataSource"]["S3DataSource"]["S3Uri"] == {
        "Get": "Steps.training_data.ProcessingOutputConfig.Outputs['train'].S3Output.S3Uri"
    }


def test_outputs_go_under_the_run_prefix(steps):
    for name in ("validate", "features", "store_features", "training_data", "evaluate"):
        for output in steps[name]["Arguments"]["ProcessingOutputConfig"]["Outputs"]:
            s3 = output["S3Output"]
            assert s3["LocalPath"] == PROCESSING_PATHS[name][output["OutputName"]]
            assert s3["S3Uri"] == {
                "Std:Join": {
                    "On": "/",
                    "Values": [
                        f"s3://{BUCKET}/runs/churn",
                        {"Get": "Execution.PipelineExecutionId"},
                        name,
                        output["OutputName"],
                    ],
                }
            }
    assert steps["train"]["Arguments"]["OutputDataConfig"]["S3OutputPath"]["Std:Join"]["Values"][0] == (
        f"s3://{BUCKET}/runs/churn"
    )


def test_step_code_comes_from_code_prefix_and_nothing_else_from_s3(built, steps):
    for name in ("validate", "features", "evaluate"):
        inputs = {i["InputName"]: i["S3Input"] for i in steps[name]["Arguments"]["ProcessingInputs"]}
        assert inputs[pd.CODE_CHANNEL]["S3Uri"] == CODE_PREFIX
        assert inputs[pd.CODE_CHANNEL]["LocalPath"] == pd.PROCESSING_CODE
    channels = {c["ChannelName"]: c for c in steps["train"]["Arguments"]["InputDataConfig"]}
    assert channels[pd.CODE_CHANNEL]["DataSource"]["S3DataSource"]["S3Uri"] == CODE_PREFIX
    assert set(channels) == {"train", pd.CODE_CHANNEL}  # no SDK driver channel was uploaded
    # Every literal S3 location is in the stack's bucket: no SDK default bucket, no upload.
    s3_literals = [s for s in _strings(json.loads(built[0])) if s.startswith("s3://")]
    assert s3_literals and all(s.startswith(f"s3://{BUCKET}/") for s in s3_literals)


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def test_every_container_starts_run_sh_from_the_code_dir_and_unpacks_the_model(steps):
    assert _entrypoint(steps["validate"]) == ["/bin/bash", "/opt/ml/processing/code/run.sh", "python", "validate.py"]
    assert _entrypoint(steps["train"]) == ["/bin/bash", "/opt/ml/input/data/steps_code/run.sh", "python", "train.py"]
    assert _entrypoint(steps["evaluate"]) == [
        "/bin/bash",
        "/opt/ml/processing/code/run.sh",
        "--untar",
        "/opt/ml/processing/input/model/model.tar.gz",
        "python",
        "evaluate.py",
    ]


def test_every_job_uses_the_kms_key_and_the_role(steps):
    for name in ("validate", "features", "evaluate"):
        args = steps[name]["Arguments"]
        assert args["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KMS
        assert args["ProcessingOutputConfig"]["KmsKeyId"] == KMS
        assert args["RoleArn"] == ROLE
        assert args["ProcessingResources"]["ClusterConfig"]["InstanceType"] == "ml.m5.xlarge"
    train = steps["train"]["Arguments"]
    assert train["ResourceConfig"]["VolumeKmsKeyId"] == KMS
    assert train["OutputDataConfig"]["KmsKeyId"] == KMS
    assert train["RoleArn"] == ROLE
    assert train["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"


def test_images_are_the_regions_scikit_learn_image(steps):
    images = {steps[n]["Arguments"]["AppSpecification"]["ImageUri"] for n in ("validate", "features", "evaluate")}
    images.add(steps["train"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"])
    (image,) = images
    assert image == "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"


def test_quality_gate_reads_the_metric_from_the_evaluation_report(steps):
    assert steps["evaluate"]["PropertyFiles"] == [
        {"PropertyFileName": "metrics", "OutputName": "metrics", "FilePath": "evaluation.json"}
    ]
    (condition,) = steps[pd.GATE_STEP]["Arguments"]["Conditions"]
    assert condition == {
        "Type": "GreaterThanOrEqualTo",
        "LeftValue": {
            "Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.evaluate.PropertyFiles.metrics"},
                "Path": "metrics.roc_auc",
            }
        },
        "RightValue": 0.8,
    }


def test_register_step_targets_the_group_with_the_approval_status(steps):
    args = steps[pd.REGISTER_STEP]["Arguments"]
    assert args["ModelPackageGroupName"] == "churn-dev-models"
    assert args["ModelApprovalStatus"] == "PendingManualApproval"
    (container,) = args["InferenceSpecification"]["Containers"]
    assert container["ModelDataUrl"] == {"Get": "Steps.train.ModelArtifacts.S3ModelArtifacts"}
    assert container["Image"] == (
        "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"
    )
    # The endpoint's instance type, not the training one (issue 8 item 12).
    assert args["InferenceSpecification"]["SupportedRealtimeInferenceInstanceTypes"] == ["ml.m5.large"]
    assert args["InferenceSpecification"]["SupportedTransformInstanceTypes"] == ["ml.m5.large"]
    assert args["CustomerMetadataProperties"]["gate_metric"] == "roc_auc"
    assert args["CustomerMetadataProperties"]["gate_threshold"] == "0.8"
    assert args["ModelMetrics"]["ModelQuality"]["Statistics"] == {
        "ContentType": "application/json",
        "S3Uri": {
            "Std:Join": {
                "On": "/",
                "Values": [
                    {"Get": "Steps.evaluate.ProcessingOutputConfig.Outputs['metrics'].S3Output.S3Uri"},
                    "evaluation.json",
                ],
            }
        },
    }
    assert args["CustomerMetadataProperties"]["trigger"] == {"Get": "Parameters.trigger"}


def test_registered_container_runs_serve_py_from_the_model_archive(steps):
    (container,) = steps[pd.REGISTER_STEP]["Arguments"]["InferenceSpecification"]["Containers"]
    env = container["Environment"]
    assert env["SAGEMAKER_PROGRAM"] == "serve.py" == pd.SERVE_SCRIPT
    assert env["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert (PIPELINE.steps_dir / env["SAGEMAKER_PROGRAM"]).is_file()
    spec = steps[pd.REGISTER_STEP]["Arguments"]["InferenceSpecification"]
    assert spec["SupportedContentTypes"] == ["text/csv", "application/json"]


def test_the_feature_store_steps_get_the_step_io_and_the_others_do_not(steps):
    for name in ("store_features", "training_data"):
        args = steps[name]["Arguments"]
        assert args["Environment"] == {
            "PYTHONUNBUFFERED": "1",
            "MLOPS_IO": '{"kind":"aws","file":"/opt/ml/processing/input/mlops_io/mlops_io.json"}',
        }, name
        inputs = {i["InputName"]: i["S3Input"] for i in args["ProcessingInputs"]}
        assert inputs["mlops_io"]["S3Uri"] == f"s3://{BUCKET}/config/0123456789ab/mlops_io.json"
        assert inputs["mlops_io"]["LocalPath"] == "/opt/ml/processing/input/mlops_io"
    for name in ("validate", "features", "evaluate"):
        assert "MLOPS_IO" not in steps[name]["Arguments"]["Environment"], name


def test_publish_baseline_copies_the_training_baseline_to_the_registered_versions_prefix(steps):
    step = steps["publish_baseline"]
    args = step["Arguments"]
    (source,) = args["ProcessingInputs"]
    assert source["S3Input"]["S3Uri"] == {
        "Get": "Steps.training_data.ProcessingOutputConfig.Outputs['baseline'].S3Output.S3Uri"
    }
    assert args["AppSpecification"]["ContainerEntrypoint"] == [
        "cp",
        "-R",
        "/opt/ml/processing/input/baseline/.",
        "/opt/ml/processing/output/baseline/",
    ]
    (output,) = args["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"] == {
        "Std:Join": {
            "On": "/",
            "Values": [f"s3://{BUCKET}/monitoring/baselines", {"Get": "Steps.register_model.ModelPackageVersion"}],
        }
    }
    assert args["ProcessingOutputConfig"]["KmsKeyId"] == KMS
    assert args["NetworkConfig"] == {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True}


@pytest.fixture(scope="module")
def builtin_steps() -> dict[str, dict]:
    definition = json.loads(_offline_build(engine="builtin")[0])
    top = {s["Name"]: s for s in definition["Steps"]}
    gate = top[pd.GATE_STEP]["Arguments"]
    return {**top, **{s["Name"]: s for s in gate["IfSteps"]}}


def test_builtin_describes_the_training_baseline_with_model_monitors_analyzer(builtin_steps):
    step = builtin_steps[pd.BASELINE_STEP]
    assert (step["CheckType"], step["SkipCheck"], step["RegisterNewBaseline"]) == ("DATA_QUALITY", True, True)
    args = step["Arguments"]
    (dataset,) = args["ProcessingInputs"]
    # The request columns of the training rows (training_data's baseline), not the raw data.
    assert dataset["S3Input"]["S3Uri"] == {
        "Get": "Steps.training_data.ProcessingOutputConfig.Outputs['baseline'].S3Output.S3Uri"
    }
    assert {r.split(".")[1] for r in _refs(step)} == {"training_data"}
    (output,) = args["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"] == {
        "Std:Join": {
            "On": "/",
            "Values": [f"s3://{BUCKET}/runs/churn", {"Get": "Execution.PipelineExecutionId"}, "data_baseline"],
        }
    }
    assert args["ProcessingOutputConfig"]["KmsKeyId"] == KMS
    assert args["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == KMS
    assert args["NetworkConfig"] == {"EnableNetworkIsolation": True, "EnableInterContainerTrafficEncryption": True}
    assert args["AppSpecification"]["ImageUri"].endswith(
        ".dkr.ecr.eu-west-1.amazonaws.com/sagemaker-model-monitor-analyzer"
    )
    assert json.loads(args["Environment"]["dataset_format"])["csv"]["header"] is True
    publish = builtin_steps["publish_baseline"]
    assert publish["DependsOn"] == [pd.BASELINE_STEP]
    assert publish["Arguments"]["AppSpecification"]["ContainerEntrypoint"] == [
        "cp",
        "-R",
        "/opt/ml/processing/input/baseline/.",
        "/opt/ml/processing/input/data_baseline/.",
        "/opt/ml/processing/output/baseline/",
    ]


def _refs(node) -> set[str]:
    if isinstance(node, dict):
        if set(node) == {"Get"} and node["Get"].startswith("Steps."):
            return {node["Get"]}
        return set().union(*(_refs(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node)) if node else set()
    return set()


def test_fail_step_names_metric_and_threshold(steps):
    message = steps[pd.FAIL_STEP]["Arguments"]["ErrorMessage"]["Std:Join"]["Values"]
    text = "".join(v for v in message if isinstance(v, str))
    assert "roc_auc" in text and "0.8" in text
    assert {
        "Std:JsonGet": {
            "PropertyFile": {"Get": "Steps.evaluate.PropertyFiles.metrics"},
            "Path": "metrics.roc_auc",
        }
    } in message


def test_build_is_deterministic_and_follows_the_arguments(built):
    again, calls, _ = _offline_build()
    assert again == built[0] and calls == []
    approved, _, _ = _offline_build(
        approval_status="Approved", gate_metric="f1", gate_threshold=0.5, region="us-east-1"
    )
    steps = {s["Name"]: s for s in json.loads(approved)["Steps"]}
    gate = steps[pd.GATE_STEP]["Arguments"]
    assert gate["IfSteps"][0]["Arguments"]["ModelApprovalStatus"] == "Approved"
    assert gate["Conditions"][0]["LeftValue"]["Std:JsonGet"]["Path"] == "metrics.f1"
    assert gate["Conditions"][0]["RightValue"] == 0.5
    assert ".dkr.ecr.us-east-1.amazonaws.com/" in steps["train"]["Arguments"]["AlgorithmSpecification"]["TrainingImage"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"gate_metric": "auc"}, "unknown quality gate metric 'auc'"),
        ({"code_prefix": "/tmp/code"}, "code_prefix must be an s3:// URI"),
        ({"bucket": "s3://bucket"}, "bucket must be a bucket name"),
        ({"approval_status": "Rejected"}, "approval_status must be"),
        ({"engine": "evidently"}, "engine must be kit or builtin"),
        ({"io_config": None}, "steps store_features, training_data need io_config"),
        ({"io_config": "/tmp/mlops_io.json"}, "io_config must be an s3:// URI"),
    ],
)
def test_bad_arguments_are_rejected_before_the_sdk_runs(overrides, message):
    with pytest.raises(ValueError, match=message):
        pd.build_definition(PIPELINE, pd.DefinitionSettings(**{**ARGS, **overrides}))


def test_a_pipeline_without_serve_py_is_rejected(tmp_path: Path):
    steps_dir = tmp_path / "steps"
    shutil.copytree(PIPELINE.steps_dir, steps_dir, ignore=shutil.ignore_patterns("serve.py", "__pycache__"))
    with pytest.raises(ValueError, match="has no serve.py"):
        pd.build_definition(dataclasses.replace(PIPELINE, steps_dir=steps_dir), pd.DefinitionSettings(**ARGS))


def test_run_sh_runs_the_same_argv_in_the_code_dir(tmp_path: Path):
    """Run the container bootstrap with a stand-in `python` that records what it is asked to do."""
    code_dir, model_dir, bin_dir = tmp_path / "code", tmp_path / "in" / "model", tmp_path / "bin"
    for d in (code_dir, model_dir, bin_dir):
        d.mkdir(parents=True)
    (code_dir / "requirements.txt").write_text("pandas\n")
    (code_dir / pd.STEP_REQUIREMENTS).write_text("boto3\n")
    (code_dir / "run.sh").write_text(pd.run_script(PIPELINE, wheelhouse=False))
    (tmp_path / "model.joblib").write_bytes(b"model")
    with tarfile.open(model_dir / "model.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "model.joblib", arcname="model.joblib")
    log = tmp_path / "calls.log"
    shim = bin_dir / "python"
    shim.write_text(f'#!/bin/sh\necho "$PWD|$PIP_BREAK_SYSTEM_PACKAGES|$*" >> {log}\n')
    shim.chmod(0o755)

    paths = {"model": str(model_dir), "test": "/data/test", "metrics": "/data/metrics"}
    argv = PIPELINE.command("evaluate", paths, {})
    command = pd.entrypoint(str(code_dir), [f"{model_dir}/model.tar.gz"], argv)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    subprocess.run([*command, *argv[2:]], check=True, env=env, timeout=30, cwd=tmp_path)

    assert (model_dir / "model.joblib").read_bytes() == b"model"
    pip_call, script_call = log.read_text().splitlines()
    assert pip_call == f"{code_dir}|1|-m pip install --quiet -r requirements.txt -r mlops_io_requirements.txt"
    assert script_call == f"{code_dir}|1|{' '.join(argv[1:])}"
