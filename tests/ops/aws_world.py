"""A deployed AWS stack in moto: what `pulumi up` and a few pipeline runs would leave behind.

One `AwsStack` per account: bucket, KMS key, model package group with versions (their evaluation
reports in S3), a SageMaker pipeline, an endpoint serving one version, drift metrics and an alarm.
moto has no model package group policy API, so `PolicyStore` answers those two calls at botocore's
`before-call` hook, after botocore validated the request against the service model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

REGION = "eu-west-1"
DEV_ACCOUNT = "123456789012"
PROD_ACCOUNT = "222222222222"
IMAGE = "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"


def session(account: str) -> boto3.Session:
    """Credentials of `account` (moto maps an assumed role's keys to its account)."""
    base = boto3.Session(region_name=REGION)
    if account == DEV_ACCOUNT:
        return base
    creds = base.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account}:role/deployer", RoleSessionName="tests")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


class _Http:
    def __init__(self, status: int) -> None:
        self.status_code = status
        self.headers: dict[str, str] = {}
        self.content = b""


@dataclass
class PolicyStore:
    """Get/PutModelPackageGroupPolicy, which moto does not implement; every Put is recorded."""

    policies: dict[str, str] = field(default_factory=dict)
    puts: list[dict[str, Any]] = field(default_factory=list)

    def attach(self, boto_session: boto3.Session) -> None:
        boto_session.events.register("before-call.sagemaker.PutModelPackageGroupPolicy", self._put)
        boto_session.events.register("before-call.sagemaker.GetModelPackageGroupPolicy", self._get)

    def _put(self, params: dict[str, Any], **_: Any):
        body = json.loads(params["body"])
        self.puts.append(body)
        self.policies[body["ModelPackageGroupName"]] = body["ResourcePolicy"]
        return _Http(200), {"ModelPackageGroupArn": body["ModelPackageGroupName"]}

    def _get(self, params: dict[str, Any], **_: Any):
        name = json.loads(params["body"])["ModelPackageGroupName"]
        if name not in self.policies:
            error = {"Code": "ValidationException", "Message": f"no resource policy on {name}"}
            return _Http(400), {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400}}
        return _Http(200), {"ResourcePolicy": self.policies[name]}


@dataclass
class AwsStack:
    account: str
    prefix: str
    session: boto3.Session
    versions: list[str] = field(default_factory=list)

    @property
    def bucket(self) -> str:
        return f"{self.prefix}-data-{self.account}"

    @property
    def group(self) -> str:
        return f"{self.prefix}-churn"

    def client(self, service: str) -> Any:
        return self.session.client(service, region_name=REGION)

    def arn(self, kind: str, name: str, service: str = "sagemaker") -> str:
        return f"arn:aws:{service}:{REGION}:{self.account}:{kind}/{name}"

    def create_foundation(self) -> None:
        self.client("s3").create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        self.key_arn = self.client("kms").create_key(Description=f"{self.prefix} key")["KeyMetadata"]["Arn"]
        self.client("sagemaker").create_model_package_group(
            ModelPackageGroupName=self.group, ModelPackageGroupDescription=f"{self.prefix} models"
        )
        definition = {
            "Version": "2020-12-01",
            "Parameters": [{"Name": "trigger", "Type": "String", "DefaultValue": "manual"}],
            "Steps": [],
        }
        self.client("sagemaker").create_pipeline(
            PipelineName=f"{self.prefix}-churn",
            PipelineDefinition=json.dumps(definition),
            RoleArn=f"arn:aws:iam::{self.account}:role/{self.prefix}-sagemaker",
        )

    def register(self, metrics: dict[str, float], trigger: str, status: str) -> str:
        """A version as the pipeline's register step leaves it (report in S3, metadata, status)."""
        number = len(self.versions) + 1
        s3 = self.client("s3")
        run = f"runs/{self.prefix}-churn/exec{number}"
        s3.put_object(Bucket=self.bucket, Key=f"{run}/train/model.tar.gz", Body=f"model {number}".encode())
        s3.put_object(
            Bucket=self.bucket, Key=f"{run}/evaluate/evaluation.json", Body=json.dumps({"metrics": metrics}).encode()
        )
        arn = self.client("sagemaker").create_model_package(
            ModelPackageGroupName=self.group,
            InferenceSpecification={
                "Containers": [
                    {
                        "Image": IMAGE,
                        "ModelDataUrl": f"s3://{self.bucket}/{run}/train/model.tar.gz",
                        "Environment": {"SAGEMAKER_PROGRAM": "serve.py"},
                    }
                ],
                "SupportedContentTypes": ["text/csv", "application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
                "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
            },
            ModelMetrics={  # what ModelMetrics(model_statistics=...) of the sagemaker SDK sends
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri": f"s3://{self.bucket}/{run}/evaluate/evaluation.json",
                    }
                }
            },
            ModelApprovalStatus=status,
            CustomerMetadataProperties={
                "pipeline": f"{self.prefix}-churn",
                "trigger": trigger,
                "gate": "roc_auc >= 0.75",
            },
        )["ModelPackageArn"]
        self.versions.append(arn)
        return arn

    def serve(self, number: int) -> None:
        sm = self.client("sagemaker")
        model = f"{self.prefix}-model-{number}"
        sm.create_model(
            ModelName=model,
            PrimaryContainer={"ModelPackageName": self.versions[number - 1]},
            ExecutionRoleArn=f"arn:aws:iam::{self.account}:role/{self.prefix}-sagemaker",
        )
        sm.create_endpoint_config(
            EndpointConfigName=f"{self.prefix}-config-{number}",
            ProductionVariants=[
                {
                    "VariantName": "primary",
                    "ModelName": model,
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                    "InitialVariantWeight": 1.0,
                }
            ],
        )
        sm.create_endpoint(EndpointName=f"{self.prefix}-endpoint", EndpointConfigName=f"{self.prefix}-config-{number}")

    def publish_drift(self, values: dict[str, float], alarm_state: str) -> None:
        cw = self.client("cloudwatch")
        dims = [
            {"Name": "Endpoint", "Value": f"{self.prefix}-endpoint"},
            {"Name": "MonitoringSchedule", "Value": f"{self.prefix}-data-quality"},
        ]
        stamp = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        cw.put_metric_data(
            Namespace="aws/sagemaker/Endpoints/data-metrics",
            MetricData=[
                {"MetricName": f"feature_baseline_drift_{f}", "Dimensions": dims, "Timestamp": stamp, "Value": v}
                for f, v in values.items()
            ],
        )
        # as providers/aws/retraining_trigger.py declares it: one query per feature, MAX over them
        queries = [
            {
                "Id": f"m{i}",
                "ReturnData": False,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "aws/sagemaker/Endpoints/data-metrics",
                        "MetricName": f"feature_baseline_drift_{feature}",
                        "Dimensions": dims,
                    },
                    "Period": 3600,
                    "Stat": "Maximum",
                },
            }
            for i, feature in enumerate(values)
        ]
        expression = f"MAX([{', '.join(q['Id'] for q in queries)}])"
        cw.put_metric_alarm(
            AlarmName=f"{self.prefix}-feature-drift",
            ComparisonOperator="GreaterThanThreshold",
            EvaluationPeriods=1,
            Threshold=0.2,
            Metrics=[*queries, {"Id": "drift", "Expression": expression, "Label": "largest", "ReturnData": True}],
        )
        cw.set_alarm_state(
            AlarmName=f"{self.prefix}-feature-drift",
            StateValue=alarm_state,
            StateReason="Threshold Crossed: 1 datapoint",
        )

    def publish_kit_drift(self, result: dict[str, Any], alarm_state: str) -> list[str]:
        """What the kit's drift job (monitor.engine: kit) leaves: its datums, built by the AWS step
        I/O's own `metric_data`, and the drift and silent-check alarms as retraining_trigger.py
        declares them. Returns the alarms' ARNs (the stack's `drift_alarm` output)."""
        import importlib.util
        from pathlib import Path

        spec = importlib.util.spec_from_file_location(
            "aws_step_io_for_ops", Path(__file__).resolve().parents[2] / "providers/aws/step_io.py"
        )
        assert spec is not None and spec.loader is not None
        step_io = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(step_io)
        cw = self.client("cloudwatch")
        namespace, endpoint = f"mlops/{self.prefix}", f"{self.prefix}-endpoint"
        stamp = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        cw.put_metric_data(Namespace=namespace, MetricData=step_io.metric_data(result, endpoint, stamp))
        queries = [
            {
                "Id": f"m{i}",
                "ReturnData": False,
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": "feature_drift",
                        "Dimensions": [{"Name": "Endpoint", "Value": endpoint}, {"Name": "Feature", "Value": c}],
                    },
                    "Period": 3600,
                    "Stat": "Maximum",
                },
            }
            for i, c in enumerate(result["features"])
        ]
        expression = f"MAX([{', '.join(q['Id'] for q in queries)}])"
        cw.put_metric_alarm(
            AlarmName=f"{self.prefix}-feature-drift",
            ComparisonOperator="GreaterThanThreshold",
            EvaluationPeriods=1,
            Threshold=0.2,
            Metrics=[*queries, {"Id": "drift", "Expression": expression, "Label": "largest", "ReturnData": True}],
        )
        cw.set_alarm_state(AlarmName=f"{self.prefix}-feature-drift", StateValue=alarm_state, StateReason="replayed")
        cw.put_metric_alarm(
            AlarmName=f"{self.prefix}-drift-check-silent",
            Namespace=namespace,
            MetricName="drift_checks",
            Dimensions=[{"Name": "Endpoint", "Value": endpoint}],
            Statistic="Sum",
            Period=3600,
            EvaluationPeriods=2,
            Threshold=1,
            ComparisonOperator="LessThanThreshold",
            TreatMissingData="breaching",
        )
        return [
            f"arn:aws:cloudwatch:{REGION}:{self.account}:alarm:{self.prefix}-feature-drift",
            f"arn:aws:cloudwatch:{REGION}:{self.account}:alarm:{self.prefix}-drift-check-silent",
        ]

    def outputs(self, serving: int | None, approval: str = "manual") -> dict[str, Any]:
        """What `pulumi stack output --json` prints for this stack (providers/base.py keys)."""
        return {
            "cloud": "aws",
            "region": REGION,
            "platform": self.prefix,
            "storage_uri": f"s3://{self.bucket}",
            "encryption_key": self.key_arn,
            "execution_identity": f"arn:aws:iam::{self.account}:role/{self.prefix}-sagemaker",
            "feature_groups": {},
            "model_registry": self.arn("model-package-group", self.group),
            "approval": approval,
            "training_pipeline": self.arn("pipeline", f"{self.prefix}-churn"),
            "training_schedule": f"arn:aws:scheduler:{REGION}:{self.account}:schedule/default/{self.prefix}",
            "endpoint": self.arn("endpoint", f"{self.prefix}-endpoint") if serving else None,
            "serving": f"model version {serving} of {self.arn('model-package-group', self.group)}"
            if serving
            else "nothing served: endpoint.model_version is null (set it to an approved registry version)",
            "monitor": self.arn("monitoring-schedule", f"{self.prefix}-data-quality") if serving else None,
            "drift_alarm": [f"arn:aws:cloudwatch:{REGION}:{self.account}:alarm:{self.prefix}-feature-drift"]
            if serving
            else [],
            "alert_topic": f"arn:aws:sns:{REGION}:{self.account}:{self.prefix}-alerts",
            "retrain_target": self.arn("pipeline", f"{self.prefix}-churn") if serving else None,
        }
