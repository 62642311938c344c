"""The cloud-neutral pipeline as a SageMaker Pipeline, its step code in S3, and its schedule."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from pipelines.package import bundle
from providers.aws import approval
from providers.aws import translate as tr
from providers.aws.feature_store import FeatureStoreOut
from providers.aws.foundation import FoundationOut
from providers.aws.model_registry import RegistryOut
from providers.aws.translate import AwsSettings
from providers.base import Capability, Deployment, asset

# A failed start is retried for an hour, three times, then lands in the dead-letter queue. Both
# EventBridge Scheduler and EventBridge rules allow 0-185 attempts and 60-86400 s (botocore
# scheduler/events RetryPolicy); their defaults (185 attempts over 24 h) would hide a broken start
# for a day.
RETRY_ATTEMPTS = 3
RETRY_MAX_AGE_SECONDS = 3600
DLQ_RETENTION_SECONDS = 14 * 24 * 3600  # SQS's maximum (MessageRetentionPeriod)


HERE = Path(__file__).resolve().parent
STEP_IO = HERE / "step_io.py"
"""The AWS step I/O, shipped as the bundle's ``mlops_io.py``."""
STEP_REQUIREMENTS_FILE = HERE / "step_requirements.txt"
DRIFT_SCRIPT = "aws_drift.py"
"""The drift job's entry (``drift_step.py``): the window from the schedule's time, then ``mlops_drift``."""
RECEIPTS_PREFIX = "feature-store-receipts"


@dataclass(frozen=True)
class TrainingOut:
    pipeline_arn: pulumi.Output[str]
    pipeline_name: str
    dead_letter_arn: pulumi.Output[str]
    """The KMS-encrypted SQS queue where a start that failed every retry lands."""
    code_uri: pulumi.Output[str]
    """``s3://<bucket>/code/<pipeline>/<digest>/``: the step code every job (the drift job too) runs."""
    image_uri: pulumi.Output[str]
    """The framework image the pipeline's processing steps run on (the SDK's answer, from the definition)."""


def code_files(pipeline, private: bool) -> dict[str, Path | str]:  # noqa: ANN001
    """What AWS adds to the pipeline's code bundle: run.sh, the step I/O's requirements, the drift entry."""
    from providers.aws.pipeline_definition import RUN_SCRIPT, STEP_REQUIREMENTS, run_script

    return {
        RUN_SCRIPT: run_script(pipeline, wheelhouse=private),
        STEP_REQUIREMENTS: STEP_REQUIREMENTS_FILE,
        DRIFT_SCRIPT: HERE / "drift_step.py",
    }


def io_config(region: str, bucket: str, groups: dict[str, dict[str, object]]) -> str:
    """``mlops_io.json`` of the training pipeline's feature-store steps (see step_io.py)."""
    return json.dumps(
        {"kind": "aws", "region": region, "groups": groups, "receipts": f"s3://{bucket}/{RECEIPTS_PREFIX}"},
        sort_keys=True,
    )


def config_key(content: str) -> str:
    """``config/<sha256[:12]>/mlops_io.json``: a changed configuration is a new object, so a run
    never reads one it did not start with."""
    from providers.aws.pipeline_definition import IO_FILE

    return f"config/{hashlib.sha256(content.encode()).hexdigest()[:12]}/{IO_FILE}"


class TrainingPipeline(Capability):
    cloud = "aws"
    capability = "TrainingPipeline"
    out: TrainingOut

    def __init__(
        self,
        name: str,
        deployment: Deployment[AwsSettings],
        foundation: FoundationOut,
        features: FeatureStoreOut,
        registry: RegistryOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        platform, settings, pipeline = deployment.platform, deployment.settings, deployment.pipeline
        from providers.aws import wheelhouse
        from providers.aws.pipeline_definition import WHEELHOUSE

        private = foundation.network is not None
        code = bundle(pipeline, extra=code_files(pipeline, private), io_module=STEP_IO)
        code_key = code.prefix
        uploads = [
            aws.s3.BucketObjectv2(
                f"{name}-code-{file_name.replace('.', '-').replace('_', '-')}",
                bucket=foundation.bucket_name,
                key=f"{code_key}{file_name}",
                source=asset(source),
                server_side_encryption="aws:kms",
                kms_key_id=foundation.key_arn,
                tags=object_tags(platform.all_tags),
                opts=self.child(),
            )
            for file_name, source in code.files.items()
        ]
        if private:
            # The step containers have no network: run.sh installs from these wheels (--no-index).
            # Built by `python -m providers.aws.wheelhouse <pipeline>`; never downloaded here.
            wheels = wheelhouse.directory(pipeline, settings.image)
            if not wheels.is_dir():
                pulumi.log.warn(
                    f"mlops:platform.network.public_access: false needs the step wheelhouse {wheels}: build it "
                    f"with `python -m providers.aws.wheelhouse {pipeline.name}` before `pulumi up`",
                    resource=self,
                )
            uploads.append(
                aws.s3.BucketObjectv2(
                    f"{name}-code-wheelhouse",
                    bucket=foundation.bucket_name,
                    key=f"{code_key}{WHEELHOUSE}",
                    source=pulumi.FileArchive(str(wheels)),
                    server_side_encryption="aws:kms",
                    kms_key_id=foundation.key_arn,
                    tags=object_tags(platform.all_tags),
                    opts=self.child(),
                )
            )
        gate = platform.pipeline.quality_gate

        # The feature-store steps' configuration: the groups' offline prefixes are known only once
        # SageMaker created them, and are too long for an environment value (see pipeline_definition).
        online = {g.name: g.online for g in platform.feature_store.feature_groups}
        groups = {
            group: out.offline_uri.apply(
                lambda uri, out=out, group=group: {"name": out.name, "online": online[group], "offline": uri}  # type: ignore[misc]  # mypy cannot type a lambda with a default argument (python/mypy#15459)
            )
            for group, out in features.groups.items()
        }
        config_content = pulumi.Output.all(foundation.bucket_name, pulumi.Output.all(**groups)).apply(
            lambda a: io_config(deployment.region, a[0], dict(a[1]))
        )
        config_object = io_config_object(
            f"{name}-io-config", foundation, config_content, platform.all_tags, self.child()
        )
        uploads.append(config_object)

        vpc = foundation.network.vpc_config() if foundation.network else None

        processing = tr.processing_instance(settings.training_instance)

        def definition(args: dict) -> str:
            from providers.aws.pipeline_definition import DefinitionSettings, build_definition

            return build_definition(
                pipeline,
                DefinitionSettings(
                    region=deployment.region,
                    role_arn=args["role"],
                    bucket=args["bucket"],
                    kms_key_arn=args["key"],
                    instance_type=settings.training_instance,
                    inference_instance_type=settings.endpoint_instance,
                    image_table=settings.image.table,
                    image_version=settings.image.version,
                    volume_kms=settings.training_volume_kms,
                    pipeline_name=settings.pipeline_name,
                    model_package_group=args["group"],
                    approval_status=registry.approval_status,
                    gate_metric=gate.metric,
                    gate_threshold=gate.threshold,
                    code_prefix=f"s3://{args['bucket']}/{code_key}",
                    vpc=args.get("vpc"),
                    io_config=f"s3://{args['bucket']}/{args['io']}",
                    engine=settings.engine,
                    model_ships=settings.image.ships,
                    processing_instance_type=processing,
                    processing_volume_kms=not tr.has_local_nvme(processing),
                    supported_instance_types=tr.serving_instances(settings.image),
                ),
            )

        self.definition = pulumi.Output.all(
            role=foundation.role_arn,
            bucket=foundation.bucket_name,
            key=foundation.key_arn,
            group=registry.group_name,
            io=config_object.key,
            **({"vpc": vpc} if vpc is not None else {}),
        ).apply(definition)
        self.pipeline = aws.sagemaker.Pipeline(
            f"{name}-pipeline",
            pipeline_name=settings.pipeline_name,
            pipeline_display_name=settings.pipeline_name,
            pipeline_description=pipeline.description,
            role_arn=foundation.role_arn,
            pipeline_definition=self.definition,
            tags=platform.all_tags,
            opts=self.child(depends_on=uploads),
        )

        region = deployment.region
        # The schedule lives in the platform's own group: EventBridge Scheduler's confused-deputy
        # condition can only name a schedule GROUP (starter_trust_policy).
        group = settings.prefix
        group_arn = foundation.account_id.apply(
            lambda account: f"arn:aws:scheduler:{region}:{account}:schedule-group/{group}"
        )
        schedule_arn = foundation.account_id.apply(
            lambda account: f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{settings.schedule_name}"
        )
        rule_arn = foundation.account_id.apply(
            lambda account: f"arn:aws:events:{region}:{account}:rule/{settings.retrain_rule_name}"
        )
        starts_on_schedule = settings.training_schedule is not None

        # Where a start that failed every retry lands, for both the schedule and the drift rule.
        self.dead_letter = aws.sqs.Queue(
            f"{name}-start-failures",
            name=f"{settings.prefix}-start-failures",
            kms_master_key_id=foundation.key_arn,
            kms_data_key_reuse_period_seconds=300,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            tags=platform.all_tags,
            opts=self.child(),
        )
        # The drift rule's target writes as EventBridge itself (the schedule writes as the starter role).
        aws.sqs.QueuePolicy(
            f"{name}-start-failures-policy",
            queue_url=self.dead_letter.url,
            policy=pulumi.Output.all(queue=self.dead_letter.arn, rule=rule_arn).apply(
                lambda a: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "DriftRuleDeadLetters",
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sqs:SendMessage",
                                "Resource": a["queue"],
                                "Condition": {"ArnEquals": {"aws:SourceArn": a["rule"]}},
                            }
                        ],
                    }
                )
            ),
            opts=self.child(),
        )

        # EventBridge Scheduler starts the pipeline through this role, for this platform's schedule
        # only (confused-deputy conditions).
        self.starter_role = aws.iam.Role(
            f"{name}-starter",
            description=f"mlops {platform.prefix}: lets the training schedule start the pipeline",
            assume_role_policy=pulumi.Output.all(foundation.account_id, group_arn).apply(
                lambda a: starter_trust_policy(*a)
            ),
            tags=platform.all_tags,
            opts=self.child(),
        )
        aws.iam.RolePolicy(
            f"{name}-starter-policy",
            role=self.starter_role.id,
            policy=pulumi.Output.all(
                pipeline=self.pipeline.arn,
                key=foundation.key_arn,
                queue=self.dead_letter.arn,
                schedule=schedule_arn,
            ).apply(
                lambda a: starter_policy(
                    a["pipeline"], a["key"], a["queue"], a["schedule"] if starts_on_schedule else None, region
                )
            ),
            opts=self.child(),
        )

        self.schedule: aws.scheduler.Schedule | None = None
        if settings.training_schedule:
            # CreateScheduleGroup takes Tags; CreateSchedule does not.
            schedule_group = aws.scheduler.ScheduleGroup(
                f"{name}-schedule-group", name=group, tags=platform.all_tags, opts=self.child()
            )
            self.schedule = aws.scheduler.Schedule(
                f"{name}-schedule",
                # Named: the starter role's KMS condition names the schedule's ARN before it exists.
                name=settings.schedule_name,
                group_name=schedule_group.name,
                description=f"{pipeline.name} training, {platform.pipeline.schedule} UTC",
                schedule_expression=settings.training_schedule,
                schedule_expression_timezone="UTC",
                flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
                kms_key_arn=foundation.key_arn,
                target=aws.scheduler.ScheduleTargetArgs(
                    arn=self.pipeline.arn,
                    role_arn=self.starter_role.arn,
                    retry_policy=aws.scheduler.ScheduleTargetRetryPolicyArgs(
                        maximum_retry_attempts=RETRY_ATTEMPTS,
                        maximum_event_age_in_seconds=RETRY_MAX_AGE_SECONDS,
                    ),
                    dead_letter_config=aws.scheduler.ScheduleTargetDeadLetterConfigArgs(arn=self.dead_letter.arn),
                    sagemaker_pipeline_parameters=aws.scheduler.ScheduleTargetSagemakerPipelineParametersArgs(
                        pipeline_parameters=[
                            aws.scheduler.ScheduleTargetSagemakerPipelineParametersPipelineParameterArgs(
                                name="trigger", value="schedule"
                            )
                        ]
                    ),
                ),
                opts=self.child(),
            )
        self.out = TrainingOut(
            pipeline_arn=self.pipeline.arn,
            pipeline_name=settings.pipeline_name,
            dead_letter_arn=self.dead_letter.arn,
            code_uri=pulumi.Output.concat("s3://", foundation.bucket_name, f"/{code_key}"),
            image_uri=self.definition.apply(processing_image),
        )
        self.publish(
            training_pipeline=self.pipeline.arn,
            training_schedule=self.schedule.arn if self.schedule else None,
        )


def processing_image(definition: str) -> str:
    """The image of the definition's first processing step: the framework image the SDK resolved."""
    steps = json.loads(definition)["Steps"]
    return next(s["Arguments"]["AppSpecification"]["ImageUri"] for s in steps if s["Type"] == "Processing")


S3_OBJECT_TAGS_MAX = 10
"""S3 takes at most 10 tags per object ("Categorizing your storage using tags",
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-tagging.html); botocore's PutObject
`Tagging` is a plain string, so no model says so."""


def io_config_object(
    name: str,
    foundation: FoundationOut,
    content: pulumi.Output[str],
    tags: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> aws.s3.BucketObjectv2:
    """A step I/O configuration (`mlops_io.json`) in the platform's bucket under the platform's key,
    at a content-addressed key (`config_key`): the training pipeline's and the drift job's."""
    return aws.s3.BucketObjectv2(
        name,
        bucket=foundation.bucket_name,
        key=content.apply(config_key),
        content=content,
        content_type="application/json",
        server_side_encryption="aws:kms",
        kms_key_id=foundation.key_arn,
        tags=object_tags(tags),
        opts=opts,
    )


def object_tags(tags: dict[str, str]) -> dict[str, str]:
    """The platform's tags for an S3 object: all of them when S3 takes them, else the kit's own."""
    if len(tags) <= S3_OBJECT_TAGS_MAX:
        return dict(tags)
    return {k: v for k, v in tags.items() if k.startswith("mlops-")}


def scheduler_trust_policy(account: str, schedule_group_arn: str, sid: str) -> str:
    """EventBridge Scheduler may assume the role for the schedules of one group only ("Set up the
    execution role", https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role).
    Its ``aws:SourceArn`` is the schedule GROUP's ARN, never a schedule's ("Confused deputy prevention
    in EventBridge Scheduler",
    https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": sid,
                    "Effect": "Allow",
                    "Principal": {"Service": "scheduler.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account},
                        "ArnEquals": {"aws:SourceArn": schedule_group_arn},
                    },
                },
            ],
        }
    )


def starter_trust_policy(account: str, schedule_group_arn: str) -> str:
    """The training schedule's group may assume the starter role. Drift starts the pipeline through
    the retrain guard Lambda, with its own role."""
    return scheduler_trust_policy(account, schedule_group_arn, "TrainingSchedule")


def starter_policy(pipeline_arn: str, key_arn: str, queue_arn: str, schedule_arn: str | None, region: str) -> str:
    """Start the pipeline; read the schedule's KMS-encrypted payload (EventBridge Scheduler decrypts it
    as the execution role, with the schedule's ARN as encryption context: "Encryption at rest",
    https://docs.aws.amazon.com/scheduler/latest/UserGuide/encryption-rest.html); write a failed start
    to the KMS-encrypted dead-letter queue (the schedule's DLQ is written as the execution role:
    "Configuring a dead-letter queue", https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html)."""
    statements: list[dict] = [
        {
            "Sid": "StartPipeline",
            "Effect": "Allow",
            "Action": "sagemaker:StartPipelineExecution",
            "Resource": pipeline_arn,
        },
        {"Sid": "DeadLetters", "Effect": "Allow", "Action": "sqs:SendMessage", "Resource": queue_arn},
        {
            "Sid": "EncryptDeadLetters",
            "Effect": "Allow",
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": key_arn,
            "Condition": {"StringEquals": {"kms:ViaService": f"sqs.{region}.amazonaws.com"}},
        },
        approval.NO_REGISTRY_STATEMENT,
    ]
    if schedule_arn is not None:
        statements.append(
            {
                "Sid": "DecryptSchedulePayload",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key_arn,
                "Condition": {
                    "ArnEquals": {"kms:EncryptionContext:aws:scheduler:schedule:arn": schedule_arn},
                    "StringEquals": {"kms:ViaService": f"scheduler.{region}.amazonaws.com"},
                },
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})
