"""The drift check of the served version, on `monitor.schedule`, over its captured requests.

`monitor.engine: kit` (the default): the kit's own drift step (`mlops_drift.py`, the same statistic
on every cloud) as a SageMaker processing job that EventBridge Scheduler creates at each scheduled
time (a universal target, `aws-sdk:sagemaker:createProcessingJob`: no pipeline to build, and the
job is told the time it was scheduled for, so its window is exact). It reads the captured requests
of the window and the served version's baseline (`monitoring/baselines/<version>/`, published by
the training pipeline) and publishes one CloudWatch metric per request column
(`mlops/<prefix>` `feature_drift`, dimensions `Endpoint` and `Feature`) and a heartbeat
(`drift_checks`) on every run. It calls CloudWatch, so it is not network-isolated: in the private
subnets, it reaches CloudWatch and S3 through the VPC endpoints (`network.py`).

`monitor.engine: builtin`: SageMaker Model Monitor's data-quality job (closed to new AWS customers)
with the served version's `statistics.json` / `constraints.json` as its baseline; it publishes
`feature_baseline_drift_<column>` itself, in `aws/sagemaker/Endpoints/data-metrics` with the
dimensions `Endpoint` and `MonitoringSchedule` (see `BUILTIN_NAMESPACE`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from providers.aws import approval
from providers.aws.endpoint import EndpointOut
from providers.aws.foundation import FoundationOut
from providers.aws.training_pipeline import (
    DRIFT_SCRIPT,
    RETRY_ATTEMPTS,
    RETRY_MAX_AGE_SECONDS,
    TrainingOut,
    io_config_object,
    scheduler_trust_policy,
)
from providers.aws.translate import AwsSettings
from providers.base import Capability, Deployment

BUILTIN_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
"""Where Model Monitor's data-quality job publishes. AWS's pages disagree: "CloudWatch Metrics"
(model-monitor-interpreting-cloudwatch.html) names `/aws/sagemaker/Endpoints/data-metric` with
`EndpointName`/`ScheduleName`; "CloudWatch Metrics for Bring Your Own Containers" names
`/aws/sagemaker/Endpoint/data-metrics` with `Endpoint`/`MonitoringSchedule`; AWS's own sample
(aws-samples/amazon-sagemaker-drift-detection, deployment_pipeline/infra/sagemaker_stack.py) alarms
on this one with `Endpoint`/`MonitoringSchedule`, and so do the integrations that stream the
metrics (New Relic's SageMaker integration). Chosen for that; and the builtin's heartbeat alarm
treats missing data as breaching, so a namespace no metric arrives in alerts on day one instead
of looking healthy (docs/aws.md, "Drift")."""
BUILTIN_PREFIX = "feature_baseline_drift_"
MONITOR_INSTANCE = "ml.m5.large"
UNIVERSAL_TARGET = "arn:aws:scheduler:::aws-sdk:sagemaker:createProcessingJob"
"""EventBridge Scheduler's universal target for CreateProcessingJob ("Using universal targets",
https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-targets-universal.html)."""
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
EXECUTION_ID = "<aws.scheduler.execution-id>"
"""Scheduler's context attributes, replaced in the payload at each invocation ("Adding context
attributes in EventBridge Scheduler", https://docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-context-attributes.html)."""
CODE_DIR = "/opt/ml/processing/code"
BASELINE_DIR = "/opt/ml/processing/input/baseline"
DRIFT_DIR = "/opt/ml/processing/output/drift"
JOB_MAX_SECONDS = 3600
# What the drift job publishes (step_io.py, which runs in the job and cannot import this module,
# spells the same names; tests/aws/test_drift_wiring.py holds the alarms against what it publishes).
DRIFT_METRIC, HEARTBEAT_METRIC = "feature_drift", "drift_checks"
REQUESTS_METRIC, UNREADABLE_METRIC = "captured_requests", "unreadable_requests"
DRIFT_OUTPUTS = "monitoring/drift"
"""Where each drift job's output folder (`<job name>/drift.json`) lands in the platform bucket: the
retrain guard reads a check's verdict there, by the job's name (retrain_guard.py)."""
ENDPOINT_DIMENSION, FEATURE_DIMENSION = "Endpoint", "Feature"


@dataclass(frozen=True)
class Metric:
    """One CloudWatch metric an alarm watches."""

    namespace: str
    name: str
    dimensions: Mapping[str, pulumi.Input[str]]
    stat: str


@dataclass(frozen=True)
class MonitorOut:
    """What the drift alarms watch; empty when nothing is monitored."""

    engine: str
    columns: tuple[str, ...]
    """The request columns (the data contract's), in request order."""
    drift: tuple[Metric, ...]
    """One metric per request column, in the same order."""
    heartbeat: Metric | None
    """A metric every check publishes: missing data means the check did not run."""
    window_seconds: int
    capture: tuple[Metric, Metric] | None = None
    """The kit's (unreadable capture lines, captured requests) of each check; None for builtin."""


def drift_job_prefix(prefix: str) -> str:
    """What every drift-check job's name starts with (then Scheduler's execution id)."""
    return f"{prefix}-drift-"


def request_columns(deployment: Deployment[AwsSettings]) -> tuple[str, ...]:
    """The request schema: what serving accepts, capture records, the baseline holds, the check compares."""
    return deployment.pipeline.contract.request_names


def baseline_uri(bucket: pulumi.Input[str], version: int) -> pulumi.Output[str]:
    from providers.aws.pipeline_definition import BASELINES_PREFIX

    return pulumi.Output.concat("s3://", bucket, f"/{BASELINES_PREFIX}/{version}")


class ModelMonitor(Capability):
    cloud = "aws"
    capability = "ModelMonitor"
    out: MonitorOut

    def __init__(
        self,
        name: str,
        deployment: Deployment[AwsSettings],
        foundation: FoundationOut,
        endpoint: EndpointOut,
        training: TrainingOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        settings = deployment.settings
        window = settings.drift_window_hours * 3600
        if not deployment.serves_model:
            self.out = MonitorOut(settings.engine, (), (), None, window)
            self.publish(monitor=None)  # nothing is served, so there is nothing to monitor yet
            return
        if settings.engine == "builtin":
            self.out, arn = self._model_monitor(name, deployment, foundation, endpoint)
        else:
            self.out, arn = self._kit(name, deployment, foundation, endpoint, training)
        self.publish(monitor=arn)

    # ---- the kit's drift job -------------------------------------------------------------------
    def _kit(
        self,
        name: str,
        deployment: Deployment[AwsSettings],
        foundation: FoundationOut,
        endpoint: EndpointOut,
        training: TrainingOut,
    ) -> tuple[MonitorOut, pulumi.Output[str]]:
        from providers.aws.pipeline_definition import IO_DIR, IO_INPUT, io_environment

        platform, settings = deployment.platform, deployment.settings
        version = deployment.model_version
        assert version is not None and endpoint.endpoint_name is not None
        content = pulumi.Output.all(endpoint.capture_uri, endpoint.endpoint_name).apply(
            lambda a: drift_io_config(deployment.region, a[0], a[1], settings.drift_namespace)
        )
        config = io_config_object(f"{name}-io-config", foundation, content, platform.all_tags, self.child())
        # The drift schedule lives in its own group: EventBridge Scheduler's confused-deputy condition
        # can only name a schedule GROUP (schedule_trust_policy).
        group = settings.drift_schedule_group
        group_arn = foundation.account_id.apply(
            lambda account: f"arn:aws:scheduler:{deployment.region}:{account}:schedule-group/{group}"
        )
        schedule_arn = foundation.account_id.apply(
            lambda account: (
                f"arn:aws:scheduler:{deployment.region}:{account}:schedule/{group}/{settings.drift_schedule_name}"
            )
        )
        role = aws.iam.Role(
            f"{name}-drift-check",
            description=f"mlops {platform.prefix}: lets the drift schedule create the drift-check job",
            assume_role_policy=pulumi.Output.all(foundation.account_id, group_arn).apply(
                lambda a: schedule_trust_policy(*a)
            ),
            tags=platform.all_tags,
            opts=self.child(),
        )
        aws.iam.RolePolicy(
            f"{name}-drift-check-policy",
            role=role.id,
            policy=pulumi.Output.all(
                account=foundation.account_id,
                execution=foundation.role_arn,
                key=foundation.key_arn,
                queue=training.dead_letter_arn,
                schedule=schedule_arn,
            ).apply(
                lambda a: drift_check_policy(
                    deployment.region,
                    a["account"],
                    settings.prefix,
                    a["execution"],
                    a["key"],
                    a["queue"],
                    a["schedule"],
                )
            ),
            opts=self.child(),
        )
        vpc = foundation.network.vpc_config() if foundation.network else None
        request = pulumi.Output.all(
            role=foundation.role_arn,
            key=foundation.key_arn,
            image=training.image_uri,
            code=training.code_uri,
            # A folder, with its `/`: an S3Prefix input takes every key with that prefix (botocore
            # S3DataType), and `baselines/1` would also take versions 10-19, 100...
            baseline=pulumi.Output.concat(baseline_uri(foundation.bucket_name, version), "/"),
            config=pulumi.Output.concat("s3://", foundation.bucket_name, "/", config.key),
            bucket=foundation.bucket_name,
            **({"vpc": vpc} if vpc is not None else {}),
        ).apply(
            lambda a: json.dumps(
                drift_job_request(
                    prefix=settings.prefix,
                    role_arn=a["role"],
                    key_arn=a["key"],
                    image_uri=a["image"],
                    code_uri=a["code"],
                    baseline_uri=a["baseline"],
                    config_uri=a["config"],
                    io_env=io_environment(),
                    io_dir=IO_DIR,
                    io_input=IO_INPUT,
                    # Named by the job, so the retrain guard finds the verdict of the job whose
                    # completion it is told about (the window is in drift.json).
                    output_uri=f"s3://{a['bucket']}/{DRIFT_OUTPUTS}/{drift_job_prefix(settings.prefix)}{EXECUTION_ID}",
                    threshold=platform.monitor.drift_threshold,
                    min_samples=platform.monitor.min_samples,
                    window_hours=settings.drift_window_hours,
                    vpc=a.get("vpc"),
                    tags=platform.all_tags,
                ),
                sort_keys=True,
            )
        )
        # CreateScheduleGroup takes Tags; CreateSchedule does not.
        schedule_group = aws.scheduler.ScheduleGroup(
            f"{name}-schedule-group", name=group, tags=platform.all_tags, opts=self.child()
        )
        schedule = aws.scheduler.Schedule(
            f"{name}-schedule",
            # Named: the drift-check role's KMS condition names its ARN before it exists.
            name=settings.drift_schedule_name,
            group_name=schedule_group.name,
            description=f"drift check of {settings.endpoint_name}, {platform.monitor.schedule} UTC",
            schedule_expression=settings.monitor_schedule,
            schedule_expression_timezone="UTC",
            flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
            kms_key_arn=foundation.key_arn,
            target=aws.scheduler.ScheduleTargetArgs(
                arn=UNIVERSAL_TARGET,
                role_arn=role.arn,
                input=request,
                retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                    maximum_retry_attempts=RETRY_ATTEMPTS, maximum_event_age_in_seconds=RETRY_MAX_AGE_SECONDS
                ),
                dead_letter_config=aws.scheduler.ScheduleTargetDeadLetterConfigArgs(arn=training.dead_letter_arn),
            ),
            opts=self.child(depends_on=[config]),
        )
        where = {ENDPOINT_DIMENSION: endpoint.endpoint_name}
        columns = request_columns(deployment)
        out = MonitorOut(
            engine="kit",
            columns=columns,
            drift=tuple(
                Metric(settings.drift_namespace, DRIFT_METRIC, {**where, FEATURE_DIMENSION: c}, "Maximum")
                for c in columns
            ),
            heartbeat=Metric(settings.drift_namespace, HEARTBEAT_METRIC, where, "Sum"),
            window_seconds=settings.drift_window_hours * 3600,
            capture=(
                Metric(settings.drift_namespace, UNREADABLE_METRIC, where, "Sum"),
                Metric(settings.drift_namespace, REQUESTS_METRIC, where, "Sum"),
            ),
        )
        return out, schedule.arn

    # ---- SageMaker Model Monitor -----------------------------------------------------------------
    def _model_monitor(
        self, name: str, deployment: Deployment[AwsSettings], foundation: FoundationOut, endpoint: EndpointOut
    ) -> tuple[MonitorOut, pulumi.Output[str]]:
        platform, settings = deployment.platform, deployment.settings
        version = deployment.model_version
        assert version is not None and endpoint.endpoint_name is not None
        bucket = foundation.bucket_name
        baseline = baseline_uri(bucket, version)
        job = aws.sagemaker.DataQualityJobDefinition(
            f"{name}-data-quality",
            role_arn=foundation.role_arn,
            data_quality_app_specification=aws.sagemaker.DataQualityJobDefinitionDataQualityAppSpecificationArgs(
                image_uri=settings.monitor_image,
                environment={"publish_cloudwatch_metrics": "Enabled"},
            ),
            data_quality_baseline_config=aws.sagemaker.DataQualityJobDefinitionDataQualityBaselineConfigArgs(
                constraints_resource=aws.sagemaker.DataQualityJobDefinitionDataQualityBaselineConfigConstraintsResourceArgs(
                    s3_uri=pulumi.Output.concat(baseline, "/constraints.json"),
                ),
                statistics_resource=aws.sagemaker.DataQualityJobDefinitionDataQualityBaselineConfigStatisticsResourceArgs(
                    s3_uri=pulumi.Output.concat(baseline, "/statistics.json"),
                ),
            ),
            data_quality_job_input=aws.sagemaker.DataQualityJobDefinitionDataQualityJobInputArgs(
                endpoint_input=aws.sagemaker.DataQualityJobDefinitionDataQualityJobInputEndpointInputArgs(
                    endpoint_name=endpoint.endpoint_name,
                    local_path="/opt/ml/processing/input/endpoint",
                ),
            ),
            data_quality_job_output_config=aws.sagemaker.DataQualityJobDefinitionDataQualityJobOutputConfigArgs(
                kms_key_id=foundation.key_arn,
                monitoring_outputs=aws.sagemaker.DataQualityJobDefinitionDataQualityJobOutputConfigMonitoringOutputsArgs(
                    s3_output=aws.sagemaker.DataQualityJobDefinitionDataQualityJobOutputConfigMonitoringOutputsS3OutputArgs(
                        s3_uri=pulumi.Output.concat("s3://", bucket, "/monitoring/reports"),
                        local_path="/opt/ml/processing/output",
                        s3_upload_mode="EndOfJob",
                    ),
                ),
            ),
            job_resources=aws.sagemaker.DataQualityJobDefinitionJobResourcesArgs(
                cluster_config=aws.sagemaker.DataQualityJobDefinitionJobResourcesClusterConfigArgs(
                    instance_count=1,
                    instance_type=MONITOR_INSTANCE,
                    volume_size_in_gb=20,
                    volume_kms_key_id=foundation.key_arn,
                ),
            ),
            network_config=aws.sagemaker.DataQualityJobDefinitionNetworkConfigArgs(
                enable_inter_container_traffic_encryption=True,
                enable_network_isolation=True,
                vpc_config=aws.sagemaker.DataQualityJobDefinitionNetworkConfigVpcConfigArgs(
                    subnets=foundation.network.subnet_ids,
                    security_group_ids=foundation.network.security_group_ids,
                )
                if foundation.network
                else None,
            ),
            stopping_condition=aws.sagemaker.DataQualityJobDefinitionStoppingConditionArgs(
                max_runtime_in_seconds=JOB_MAX_SECONDS,
            ),
            tags=platform.all_tags,
            opts=self.child(),
        )
        schedule = aws.sagemaker.MonitoringSchedule(
            f"{name}-schedule",
            name=f"{settings.prefix}-data-quality",
            monitoring_schedule_config=aws.sagemaker.MonitoringScheduleMonitoringScheduleConfigArgs(
                monitoring_type="DataQuality",
                monitoring_job_definition_name=job.name,
                schedule_config=aws.sagemaker.MonitoringScheduleMonitoringScheduleConfigScheduleConfigArgs(
                    schedule_expression=settings.monitor_schedule,
                ),
            ),
            tags=platform.all_tags,
            opts=self.child(),
        )
        where = {"Endpoint": endpoint.endpoint_name, "MonitoringSchedule": schedule.name}
        columns = request_columns(deployment)
        drift = tuple(Metric(BUILTIN_NAMESPACE, f"{BUILTIN_PREFIX}{c}", where, "Maximum") for c in columns)
        out = MonitorOut(
            engine="builtin",
            columns=columns,
            drift=drift,
            # Every run publishes each column's drift: the first one doubles as the heartbeat.
            heartbeat=Metric(BUILTIN_NAMESPACE, f"{BUILTIN_PREFIX}{columns[0]}", where, "SampleCount"),
            window_seconds=settings.drift_window_hours * 3600,
        )
        return out, schedule.arn


def drift_io_config(region: str, capture_uri: str, endpoint: str, namespace: str) -> str:
    """``mlops_io.json`` of the drift job (see step_io.py): the served variant's captured requests,
    and where the drift metrics go."""
    from providers.aws.endpoint import VARIANT

    return json.dumps(
        {
            "kind": "aws",
            "region": region,
            "capture": f"{capture_uri.rstrip('/')}/{endpoint}/{VARIANT}",
            "metrics": {"namespace": namespace, "endpoint": endpoint},
        },
        sort_keys=True,
    )


def _s3_input(name: str, uri: str, local: str) -> dict[str, object]:
    return {
        "InputName": name,
        "S3Input": {
            "S3Uri": uri,
            "LocalPath": local,
            "S3DataType": "S3Prefix",
            "S3InputMode": "File",
            "S3DataDistributionType": "FullyReplicated",
        },
    }


def drift_job_request(
    *,
    prefix: str,
    role_arn: str,
    key_arn: str,
    image_uri: str,
    code_uri: str,
    baseline_uri: str,
    config_uri: str,
    io_env: str,
    io_dir: str,
    io_input: str,
    output_uri: str,
    threshold: float,
    min_samples: int,
    window_hours: int,
    vpc: Mapping[str, list[str]] | None,
    tags: Mapping[str, str],
) -> dict[str, object]:
    """The CreateProcessingJob request the drift schedule sends (scheduled time and execution id
    filled in by Scheduler): `run.sh` installs the step requirements, then `aws_drift.py` runs the
    kit's drift step over the window ending at the scheduled time."""
    from providers.aws.pipeline_definition import RUN_SCRIPT

    return {
        "ProcessingJobName": f"{drift_job_prefix(prefix)}{EXECUTION_ID}",
        "RoleArn": role_arn,
        "AppSpecification": {
            "ImageUri": image_uri,
            "ContainerEntrypoint": ["/bin/bash", f"{CODE_DIR}/{RUN_SCRIPT}", "python", DRIFT_SCRIPT],
            "ContainerArguments": [
                "--baseline",
                BASELINE_DIR,
                "--out",
                DRIFT_DIR,
                "--threshold",
                str(threshold),
                "--min_samples",
                str(min_samples),
                "--until",
                SCHEDULED_TIME,
                "--window_hours",
                str(window_hours),
            ],
        },
        "ProcessingInputs": [
            _s3_input("code", code_uri, CODE_DIR),
            _s3_input("baseline", baseline_uri, BASELINE_DIR),
            _s3_input(io_input, config_uri, io_dir),
        ],
        "ProcessingOutputConfig": {
            "Outputs": [
                {
                    "OutputName": "drift",
                    "S3Output": {"S3Uri": output_uri, "LocalPath": DRIFT_DIR, "S3UploadMode": "EndOfJob"},
                }
            ],
            "KmsKeyId": key_arn,
        },
        "ProcessingResources": {
            "ClusterConfig": {
                "InstanceCount": 1,
                "InstanceType": MONITOR_INSTANCE,
                "VolumeSizeInGB": 20,
                "VolumeKmsKeyId": key_arn,
            }
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": JOB_MAX_SECONDS},
        "Environment": {"MLOPS_IO": io_env, "PYTHONUNBUFFERED": "1"},
        # Not isolated: the job publishes to CloudWatch (an isolated container "can't make any outbound
        # network calls, even to other AWS services", mkt-algo-model-internet-free.html).
        "NetworkConfig": {
            "EnableInterContainerTrafficEncryption": True,
            "EnableNetworkIsolation": False,
            **({"VpcConfig": dict(vpc)} if vpc else {}),
        },
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }


def schedule_trust_policy(account: str, schedule_group_arn: str) -> str:
    """EventBridge Scheduler may assume the drift-check role for the drift schedule's group only."""
    return scheduler_trust_policy(account, schedule_group_arn, "DriftSchedule")


def drift_check_policy(
    region: str, account: str, prefix: str, execution_role: str, key_arn: str, queue_arn: str, schedule_arn: str
) -> str:
    """Create (and tag) this platform's drift-check jobs as the execution role; read the schedule's
    KMS-encrypted payload; write a failed start to the dead-letter queue."""
    jobs = f"arn:aws:sagemaker:{region}:{account}:processing-job/{prefix}-drift-*"
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CreateDriftCheckJob",
                    "Effect": "Allow",
                    "Action": ["sagemaker:CreateProcessingJob", "sagemaker:AddTags"],
                    "Resource": jobs,
                },
                {
                    "Sid": "PassExecutionRole",
                    "Effect": "Allow",
                    "Action": "iam:PassRole",
                    "Resource": execution_role,
                    "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
                },
                {"Sid": "DeadLetters", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn},
                {
                    "Sid": "EncryptDeadLetters",
                    "Effect": "Allow",
                    "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                    "Resource": key_arn,
                    "Condition": {"StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}},
                },
                {
                    "Sid": "DecryptSchedulePayload",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": key_arn,
                    "Condition": {
                        "ArnEquals": {"kms:EncryptionContext:aws:scheduler:schedule:arn": schedule_arn},
                        "StringEquals": {"kms:ViaService": f"scheduler.{region}.amazonaws.com"},
                    },
                },
                approval.NO_REGISTRY_STATEMENT,
            ],
        }
    )
