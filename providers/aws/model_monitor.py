"""SageMaker Model Monitor: a data-quality job on the captured requests, on a schedule.

Each run compares the captured requests with the baseline the training pipeline writes to
`s3://<bucket>/monitoring/baseline/` and publishes `feature_baseline_drift_<feature>` to
CloudWatch (namespace `aws/sagemaker/Endpoints/data-metrics`): the per-feature distribution
distance that `monitor.drift_threshold` is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from providers.aws.endpoint import EndpointOut
from providers.aws.foundation import FoundationOut
from providers.aws.training_pipeline import TrainingOut
from providers.aws.translate import AwsSettings
from providers.base import Capability, Deployment

METRIC_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
MONITOR_INSTANCE = "ml.m5.large"


def monitored_features(deployment: Deployment[AwsSettings]) -> tuple[str, ...]:
    """The model's inputs are the feature groups' features (entity and event time excluded)."""
    return tuple(f.name for g in deployment.platform.feature_store.feature_groups for f in g.features)


@dataclass(frozen=True)
class MonitorOut:
    """What the drift alarms watch: None/empty when nothing is monitored."""

    schedule_name: pulumi.Output[str] | None
    endpoint_name: pulumi.Output[str] | None
    columns: tuple[str, ...]


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
        platform, settings = deployment.platform, deployment.settings
        if endpoint.endpoint_name is None:
            self.out = MonitorOut(None, None, ())
            self.publish(monitor=None)  # nothing is served, so there is nothing to monitor yet
            return
        bucket = foundation.bucket_name
        baseline = pulumi.Output.concat("s3://", bucket, "/monitoring/baseline")
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
                max_runtime_in_seconds=3600,
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
        self.out = MonitorOut(schedule.name, endpoint.endpoint_name, monitored_features(deployment))
        self.publish(monitor=schedule.arn)
