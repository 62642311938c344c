"""The cloud-neutral pipeline as a SageMaker Pipeline, its step code in S3, and its schedule."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from pipelines.package import bundle
from providers.aws.feature_store import FeatureStoreOut
from providers.aws.foundation import FoundationOut
from providers.aws.model_registry import RegistryOut
from providers.aws.translate import AwsSettings
from providers.base import Capability, Deployment, asset


@dataclass(frozen=True)
class TrainingOut:
    pipeline_arn: pulumi.Output[str]
    pipeline_name: str
    starter_role_arn: pulumi.Output[str]
    """The role schedules and drift rules start the pipeline with."""


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
        from providers.aws.pipeline_definition import RUN_SCRIPT, run_script

        code = bundle(pipeline, extra={RUN_SCRIPT: run_script(pipeline, wheelhouse=False)})
        code_key = code.prefix
        uploads = [
            aws.s3.BucketObjectv2(
                f"{name}-code-{file_name.replace('.', '-').replace('_', '-')}",
                bucket=foundation.bucket_name,
                key=f"{code_key}{file_name}",
                source=asset(source),
                server_side_encryption="aws:kms",
                kms_key_id=foundation.key_arn,
                opts=self.child(),
            )
            for file_name, source in code.files.items()
        ]
        gate = platform.pipeline.quality_gate

        def definition(args: dict) -> str:
            from providers.aws.pipeline_definition import build_definition

            return build_definition(
                pipeline,
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
            )

        self.pipeline = aws.sagemaker.Pipeline(
            f"{name}-pipeline",
            pipeline_name=settings.pipeline_name,
            pipeline_display_name=settings.pipeline_name,
            pipeline_description=pipeline.description,
            role_arn=foundation.role_arn,
            pipeline_definition=pulumi.Output.all(
                role=foundation.role_arn,
                bucket=foundation.bucket_name,
                key=foundation.key_arn,
                group=registry.group_name,
            ).apply(definition),
            tags=platform.all_tags,
            opts=self.child(depends_on=uploads),
        )

        # EventBridge Scheduler and EventBridge rules start the pipeline through this role.
        self.starter_role = aws.iam.Role(
            f"{name}-starter",
            description=f"mlops {platform.prefix}: lets schedules and drift rules start the pipeline",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": ["scheduler.amazonaws.com", "events.amazonaws.com"]},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            tags=platform.all_tags,
            opts=self.child(),
        )
        aws.iam.RolePolicy(
            f"{name}-starter-policy",
            role=self.starter_role.id,
            policy=self.pipeline.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {"Effect": "Allow", "Action": "sagemaker:StartPipelineExecution", "Resource": arn}
                        ],
                    }
                )
            ),
            opts=self.child(),
        )

        self.schedule: aws.scheduler.Schedule | None = None
        if settings.training_schedule:
            self.schedule = aws.scheduler.Schedule(
                f"{name}-schedule",
                description=f"{pipeline.name} training, {platform.pipeline.schedule} UTC",
                schedule_expression=settings.training_schedule,
                schedule_expression_timezone="UTC",
                flexible_time_window=aws.scheduler.ScheduleFlexibleTimeWindowArgs(mode="OFF"),
                kms_key_arn=foundation.key_arn,
                target=aws.scheduler.ScheduleTargetArgs(
                    arn=self.pipeline.arn,
                    role_arn=self.starter_role.arn,
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
            starter_role_arn=self.starter_role.arn,
        )
        self.publish(
            training_pipeline=self.pipeline.arn,
            training_schedule=self.schedule.arn if self.schedule else None,
        )
