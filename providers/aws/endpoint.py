"""A real-time SageMaker endpoint for one approved registry version, autoscaled, capturing data.

With `endpoint.model_version: null` nothing is declared: there is no model to serve on a first
deploy, and an endpoint without a model fails to create (the trap of declaring it too early).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from providers.aws.foundation import FoundationOut
from providers.aws.model_registry import RegistryOut, version_arn
from providers.aws.training_pipeline import TrainingOut
from providers.aws.translate import INVOCATION_NAMESPACE, AwsSettings, rollback_alarms
from providers.base import NOT_SERVING, Capability, Deployment, serving_sentence

VARIANT = "primary"
"""The production variant: a blue/green update keeps its name ("Exclusions", deployment guardrails,
https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html)."""
SHADOW_VARIANT = "shadow"
CAPTURE_CONTENT_TYPES = {"csv": ["text/csv"], "json": ["application/json"]}
"""Captured as text, not base64: "If no headers are specified SageMaker AI will by default base64
encode when capturing the data" (API reference, DataCaptureConfig.CaptureContentTypeHeader)."""


@dataclass(frozen=True)
class EndpointOut:
    endpoint_name: pulumi.Output[str] | None
    """None when nothing is served."""
    capture_uri: pulumi.Output[str]


class Endpoint(Capability):
    cloud = "aws"
    capability = "Endpoint"
    out: EndpointOut

    def __init__(
        self,
        name: str,
        deployment: Deployment[AwsSettings],
        foundation: FoundationOut,
        registry: RegistryOut,
        training: TrainingOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        platform, settings = deployment.platform, deployment.settings
        spec = platform.endpoint
        capture_uri = pulumi.Output.concat("s3://", foundation.bucket_name, "/data-capture")
        version = deployment.model_version
        if version is None:
            self.out = EndpointOut(None, capture_uri)
            self.publish(endpoint=None, serving=NOT_SERVING)
            return

        # SageMaker refuses to create a model from a version that is not Approved: the gate holds.
        def served_model(suffix: str, number: int) -> aws.sagemaker.Model:
            return aws.sagemaker.Model(
                f"{name}-{suffix}",
                execution_role_arn=foundation.role_arn,
                primary_container=aws.sagemaker.ModelPrimaryContainerArgs(
                    model_package_name=version_arn(registry.group_arn, number),
                ),
                enable_network_isolation=True,
                vpc_config=aws.sagemaker.ModelVpcConfigArgs(
                    subnets=foundation.network.subnet_ids, security_group_ids=foundation.network.security_group_ids
                )
                if foundation.network
                else None,
                tags={**platform.all_tags, "mlops-model-version": str(number)},
                opts=self.child(),
            )

        model = served_model("model", version)
        shadow = (
            [
                aws.sagemaker.EndpointConfigurationShadowProductionVariantArgs(
                    variant_name=SHADOW_VARIANT,
                    model_name=served_model("shadow-model", settings.shadow_version).name,
                    instance_type=settings.endpoint_instance,
                    initial_instance_count=1,
                    # A copy of this share of the production variant's requests (its weight is 1.0).
                    initial_variant_weight=settings.shadow_weight,
                )
            ]
            if settings.shadow_version is not None
            else None
        )
        # Auto-named on purpose: an Endpoint only picks up a new configuration under a new name.
        config = aws.sagemaker.EndpointConfiguration(
            f"{name}-config",
            # No key on local-NVMe instance types: SageMaker refuses one (their storage is hardware-encrypted).
            kms_key_arn=foundation.key_arn if settings.endpoint_volume_kms else None,
            production_variants=[
                aws.sagemaker.EndpointConfigurationProductionVariantArgs(
                    variant_name=VARIANT,
                    model_name=model.name,
                    instance_type=settings.endpoint_instance,
                    initial_instance_count=spec.min_replicas,
                    initial_variant_weight=1.0,
                )
            ],
            shadow_production_variants=shadow,
            data_capture_config=aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs(
                enable_capture=spec.data_capture_percent > 0,
                initial_sampling_percentage=spec.data_capture_percent,
                destination_s3_uri=capture_uri,
                kms_key_id=foundation.key_arn,
                # The requests only: what the drift check compares with the baseline (the request
                # columns of the training data); Model Monitor compares captured records with its
                # baseline column by column ("Create a Baseline", model-monitor-create-baseline.html).
                capture_options=[
                    aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(capture_mode="Input"),
                ],
                capture_content_type_header=aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureContentTypeHeaderArgs(
                    csv_content_types=CAPTURE_CONTENT_TYPES["csv"],
                    json_content_types=CAPTURE_CONTENT_TYPES["json"],
                ),
            ),
            tags=platform.all_tags,
            opts=self.child(),
        )
        # The name carries the size: SageMaker refuses to update a variant registered as a scalable
        # target to another instance type ("Update endpoints that use auto scaling",
        # https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html). A new size is a
        # new endpoint (and scaling target and policy, whose ResourceId changes with it), created
        # before the old ones are deleted: no UpdateEndpoint that changes an instance type, no downtime.
        endpoint = aws.sagemaker.Endpoint(
            f"{name}-endpoint",
            name=settings.endpoint_name,
            endpoint_config_name=config.name,
            deployment_config=self._guardrails(name, deployment, config),
            tags=platform.all_tags,
            opts=self.child(),
        )
        resource_id = pulumi.Output.concat("endpoint/", endpoint.name, f"/variant/{VARIANT}")
        target = aws.appautoscaling.Target(
            f"{name}-scaling-target",
            service_namespace="sagemaker",
            scalable_dimension="sagemaker:variant:DesiredInstanceCount",
            resource_id=resource_id,
            min_capacity=spec.min_replicas,
            max_capacity=spec.max_replicas,
            tags=platform.all_tags,
            opts=self.child(),
        )
        # SageMaker's CPUUtilization is summed over an instance's vCPUs (400% = 4 busy vCPUs), while
        # target_cpu_percent means a share of the whole machine: scale by the vCPU count.
        aws.appautoscaling.Policy(
            f"{name}-cpu-target",
            policy_type="TargetTrackingScaling",
            service_namespace=target.service_namespace,
            scalable_dimension=target.scalable_dimension,
            resource_id=target.resource_id,
            target_tracking_scaling_policy_configuration=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs(
                target_value=float(spec.target_cpu_percent * settings.endpoint_vcpus),
                customized_metric_specification=aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationArgs(
                    metric_name="CPUUtilization",
                    namespace="/aws/sagemaker/Endpoints",
                    statistic="Average",
                    unit="Percent",
                    dimensions=[
                        aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationDimensionArgs(
                            name="EndpointName", value=endpoint.name
                        ),
                        aws.appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationCustomizedMetricSpecificationDimensionArgs(
                            name="VariantName", value=VARIANT
                        ),
                    ],
                ),
                scale_in_cooldown=300,
                scale_out_cooldown=60,
            ),
            opts=self.child(),
        )
        self.out = EndpointOut(endpoint.name, capture_uri)
        extra = (
            f"; shadow: version {settings.shadow_version} gets a copy of {platform.endpoint.shadow.sample_percent}% "
            "of requests (its answers are not returned)"
            if platform.endpoint.shadow
            else ""
        )
        self.publish(
            endpoint=endpoint.arn,
            serving=registry.group_arn.apply(lambda group: serving_sentence(version, group) + extra),
        )

    def _guardrails(
        self, name: str, deployment: Deployment[AwsSettings], config: aws.sagemaker.EndpointConfiguration
    ) -> aws.sagemaker.EndpointDeploymentConfigArgs | None:
        """Canary or linear: SageMaker's blue/green update shifts traffic in steps, bakes
        `bake_minutes` after each, and rolls all traffic back when one of the kit's alarms trips
        ("Auto-Rollback Configuration and Monitoring",
        https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html).

        The alarms watch the NEW fleet only: during a blue/green update both fleets keep the variant's
        name, and SageMaker publishes the new fleet's metrics with the extra dimension
        `EndpointConfigName` = the new configuration's name (the same page, "Monitor model latency on
        the new fleet"). Each alarm names the configuration this update deploys, so it is updated to
        the new configuration before the endpoint (which names the alarms' outputs, so it waits for
        them); the old fleet's errors neither dilute the new version's error rate nor roll it back.
        That dimension is documented for ModelLatency only; the error rate is also watched over the
        whole variant (both fleets), a second alarm (translate.rollback_alarms)."""
        settings = deployment.settings
        rollout = settings.rollout
        if rollout is None:
            return None
        alarms = []
        for alarm in rollback_alarms(settings):
            resource = aws.cloudwatch.MetricAlarm(
                f"{name}-{alarm['suffix']}",
                name=alarm["name"],
                alarm_description=alarm["description"],
                namespace=INVOCATION_NAMESPACE,
                metric_name=alarm["metric"],
                dimensions={
                    "EndpointName": settings.endpoint_name,
                    "VariantName": VARIANT,
                    **({"EndpointConfigName": config.name} if alarm["fleet"] == "new" else {}),
                },
                period=rollout.wait_seconds,
                evaluation_periods=1,
                datapoints_to_alarm=1,
                threshold=alarm["threshold"],
                comparison_operator="GreaterThanThreshold",
                # No invocations is no evidence against the new version.
                treat_missing_data="notBreaching",
                tags=deployment.platform.all_tags,
                opts=self.child(),
                **alarm["statistic"],
            )
            alarms.append(resource)
        size = aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationCanarySizeArgs
        step = aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationLinearStepSizeArgs
        return aws.sagemaker.EndpointDeploymentConfigArgs(
            blue_green_update_policy=aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyArgs(
                traffic_routing_configuration=aws.sagemaker.EndpointDeploymentConfigBlueGreenUpdatePolicyTrafficRoutingConfigurationArgs(
                    type=rollout.traffic,
                    wait_interval_in_seconds=rollout.wait_seconds,
                    canary_size=size(type="CAPACITY_PERCENT", value=rollout.step_percent)
                    if rollout.traffic == "CANARY"
                    else None,
                    linear_step_size=step(type="CAPACITY_PERCENT", value=rollout.step_percent)
                    if rollout.traffic == "LINEAR"
                    else None,
                ),
                maximum_execution_timeout_in_seconds=rollout.maximum_seconds,
                termination_wait_in_seconds=0,
            ),
            auto_rollback_configuration=aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationArgs(
                alarms=[
                    aws.sagemaker.EndpointDeploymentConfigAutoRollbackConfigurationAlarmArgs(alarm_name=a.name)
                    for a in alarms
                ]
            )
            if alarms
            else None,
        )
