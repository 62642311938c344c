"""The built definition against SageMaker's API, emulated by moto (in process).

moto accepts any string as a pipeline definition and runs nothing, so this checks the
API contract around the definition: it round-trips through CreatePipeline, executions
start with its parameters, each job step's arguments are a valid Create*Job request
once pipeline expressions are replaced by concrete values, and the registry's manual
approval gate works. Only a run on a real account proves the pipeline executes.
"""

from __future__ import annotations

import dataclasses
import json

import boto3
import pytest
from moto import mock_aws

from pipelines import get_pipeline
from providers.aws import pipeline_definition as pd

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's default account
BUCKET = "churn-dev-data"
GROUP = "churn-dev-models"
PIPELINE_NAME = "churn-dev-training"
EXECUTION_ID = "exec0123abcd"
PIPELINE = get_pipeline("churn")


SETTINGS = pd.DefinitionSettings(
    region=REGION,
    role_arn=f"arn:aws:iam::{ACCOUNT}:role/churn-dev-sagemaker",
    bucket=BUCKET,
    kms_key_arn=f"arn:aws:kms:{REGION}:{ACCOUNT}:key/11111111-2222-3333-4444-555555555555",
    instance_type="ml.m5.xlarge",
    inference_instance_type="ml.m5.large",
    image_table="sklearn",
    image_version="1.4-2-py312",
    pipeline_name=PIPELINE_NAME,
    model_package_group=GROUP,
    approval_status="PendingManualApproval",
    gate_metric="roc_auc",
    gate_threshold=0.8,
    code_prefix=f"s3://{BUCKET}/code/churn/0123456789ab/",
    io_config=f"s3://{BUCKET}/config/0123456789ab/mlops_io.json",
)


@pytest.fixture(scope="module")
def definition() -> str:
    # Built outside moto, as the Pulumi program does: offline, no credentials needed.
    return pd.build_definition(PIPELINE, SETTINGS)


@pytest.fixture
def aws(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        iam = boto3.client("iam", region_name=REGION)
        role = iam.create_role(
            RoleName="churn-dev-sagemaker",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "sagemaker.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]
        sm = boto3.client("sagemaker", region_name=REGION)
        sm.create_model_package_group(ModelPackageGroupName=GROUP, ModelPackageGroupDescription="churn models")
        yield {"sagemaker": sm, "role_arn": role["Arn"]}


def _concrete(node, params: dict[str, object]):
    """Replace pipeline expressions by what the service would substitute at run time."""
    if isinstance(node, list):
        return [_concrete(v, params) for v in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Get"}:
        ref = node["Get"]
        if ref.startswith("Parameters."):
            return params[ref.removeprefix("Parameters.")]
        if ref == "Execution.PipelineExecutionId":
            return EXECUTION_ID
        if ref == f"Steps.{pd.REGISTER_STEP}.ModelPackageVersion":  # the registered version's number
            return 1
        if ref.startswith("Steps."):  # an upstream output location
            step = ref.split(".")[1]
            return f"s3://{BUCKET}/runs/churn/{EXECUTION_ID}/{step}/output"
        raise AssertionError(f"unexpected reference {ref}")
    if set(node) == {"Std:Join"}:
        join = node["Std:Join"]
        return join["On"].join(str(_concrete(v, params)) for v in join["Values"])
    return {k: _concrete(v, params) for k, v in node.items()}


def _steps(definition: str) -> dict[str, dict]:
    top = {s["Name"]: s for s in json.loads(definition)["Steps"]}
    gate = top[pd.GATE_STEP]["Arguments"]
    return {**top, **{s["Name"]: s for s in (*gate["IfSteps"], *gate["ElseSteps"])}}


def _defaults(definition: str) -> dict[str, object]:
    return {p["Name"]: p["DefaultValue"] for p in json.loads(definition)["Parameters"]}


def test_pipeline_round_trips_and_starts_with_its_parameters(aws, definition):
    sm = aws["sagemaker"]
    arn = sm.create_pipeline(
        PipelineName=PIPELINE_NAME,
        PipelineDefinition=definition,
        RoleArn=aws["role_arn"],
        PipelineDescription=PIPELINE.description,
    )["PipelineArn"]
    described = sm.describe_pipeline(PipelineName=PIPELINE_NAME)
    assert described["PipelineArn"] == arn
    assert json.loads(described["PipelineDefinition"]) == json.loads(definition)

    # moto does not check parameter names; SageMaker rejects undeclared ones, so check here.
    parameters = [
        {"Name": "input_data", "Value": f"s3://{BUCKET}/datasets/churn/2024-06-01/"},
        {"Name": "seed", "Value": "11"},
        {"Name": pd.TRIGGER_PARAM, "Value": "schedule"},
    ]
    declared = {p["Name"] for p in json.loads(described["PipelineDefinition"])["Parameters"]}
    assert {p["Name"] for p in parameters} <= declared

    execution_arn = sm.start_pipeline_execution(
        PipelineName=PIPELINE_NAME, PipelineParameters=parameters, PipelineExecutionDisplayName="manual-run"
    )["PipelineExecutionArn"]
    listed = sm.list_pipeline_executions(PipelineName=PIPELINE_NAME)["PipelineExecutionSummaries"]
    assert [e["PipelineExecutionArn"] for e in listed] == [execution_arn]
    execution = sm.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
    assert execution["PipelineArn"] == arn
    assert execution["PipelineExecutionDisplayName"] == "manual-run"
    assert execution["PipelineExecutionStatus"] in {"Executing", "Succeeded"}
    assert (
        sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=execution_arn)["PipelineParameters"]
        == parameters
    )


def test_job_step_arguments_are_valid_create_job_requests(aws, definition):
    """boto3 validates each request against SageMaker's API model before moto sees it."""
    sm = aws["sagemaker"]
    steps, params = _steps(definition), _defaults(definition)
    for name in ("validate", "features", "evaluate"):
        request = _concrete(steps[name]["Arguments"], params)
        sm.create_processing_job(ProcessingJobName=f"churn-{name}-{EXECUTION_ID}", **request)
        job = sm.describe_processing_job(ProcessingJobName=f"churn-{name}-{EXECUTION_ID}")
        assert job["ProcessingOutputConfig"]["KmsKeyId"] == request["ProcessingOutputConfig"]["KmsKeyId"]
        assert job["AppSpecification"]["ContainerArguments"][1].startswith("/opt/ml/processing/input/")
    for name in ("store_features", "training_data", "publish_baseline"):
        request = _concrete(steps[name]["Arguments"], params)
        sm.create_processing_job(ProcessingJobName=f"churn-{name.replace('_', '-')}-{EXECUTION_ID}", **request)
    job = sm.describe_processing_job(ProcessingJobName=f"churn-publish-baseline-{EXECUTION_ID}")
    (output,) = job["ProcessingOutputConfig"]["Outputs"]
    assert output["S3Output"]["S3Uri"] == f"s3://{BUCKET}/monitoring/baselines/1"
    request = _concrete(steps["train"]["Arguments"], params)
    sm.create_training_job(TrainingJobName=f"churn-train-{EXECUTION_ID}", **request)
    job = sm.describe_training_job(TrainingJobName=f"churn-train-{EXECUTION_ID}")
    assert job["ModelArtifacts"]["S3ModelArtifacts"].endswith("model.tar.gz")


def test_register_arguments_create_a_version_and_approval_is_the_manual_gate(aws, definition):
    sm = aws["sagemaker"]
    register = _steps(definition)[pd.REGISTER_STEP]["Arguments"]
    request = _concrete(register, _defaults(definition))
    assert request["ModelApprovalStatus"] == "PendingManualApproval"
    version_arn = sm.create_model_package(**request)["ModelPackageArn"]
    assert version_arn.endswith(f"model-package/{GROUP}/1")

    def listed(status: str) -> list[str]:
        summaries = sm.list_model_packages(ModelPackageGroupName=GROUP, ModelApprovalStatus=status)
        return [p["ModelPackageArn"] for p in summaries["ModelPackageSummaryList"]]

    assert listed("PendingManualApproval") == [version_arn]
    assert listed("Approved") == []

    sm.update_model_package(
        ModelPackageArn=version_arn, ModelApprovalStatus="Approved", ApprovalDescription="reviewed metrics"
    )
    assert listed("Approved") == [version_arn]
    assert listed("PendingManualApproval") == []
    described = sm.describe_model_package(ModelPackageName=version_arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ModelPackageGroupName"] == GROUP
    (container,) = described["InferenceSpecification"]["Containers"]
    assert container["ModelDataUrl"].startswith(f"s3://{BUCKET}/")
    assert container["Environment"]["SAGEMAKER_PROGRAM"] == "serve.py"
    assert container["Environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"


def test_upsert_updates_the_definition_in_place(aws, definition):
    """What `pulumi up` does on a changed gate: UpdatePipeline on the same pipeline, same ARN."""
    sm = aws["sagemaker"]
    arn = sm.create_pipeline(PipelineName=PIPELINE_NAME, PipelineDefinition=definition, RoleArn=aws["role_arn"])[
        "PipelineArn"
    ]
    stricter = pd.build_definition(
        PIPELINE, dataclasses.replace(SETTINGS, role_arn=aws["role_arn"], gate_threshold=0.9)
    )
    assert (
        sm.update_pipeline(PipelineName=PIPELINE_NAME, PipelineDefinition=stricter, RoleArn=aws["role_arn"])[
            "PipelineArn"
        ]
        == arn
    )
    stored = json.loads(sm.describe_pipeline(PipelineName=PIPELINE_NAME)["PipelineDefinition"])
    assert stored["Steps"] == json.loads(stricter)["Steps"] != json.loads(definition)["Steps"]
    gate = next(s for s in stored["Steps"] if s["Name"] == pd.GATE_STEP)
    assert gate["Arguments"]["Conditions"][0]["RightValue"] == 0.9
    started = sm.start_pipeline_execution(PipelineName=PIPELINE_NAME)["PipelineExecutionArn"]
    assert sm.describe_pipeline_execution(PipelineExecutionArn=started)["PipelineArn"] == arn
