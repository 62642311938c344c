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
from providers.aws.translate import AwsSettings
from providers.base import NOT_SERVING, Capability, Deployment, serving_sentence

VARIANT = "primary"


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
        model = aws.sagemaker.Model(
            f"{name}-model",
            execution_role_arn=foundation.role_arn,
            primary_container=aws.sagemaker.ModelPrimaryContainerArgs(
                model_package_name=version_arn(registry.group_arn, version),
            ),
            enable_network_isolation=True,
            vpc_config=aws.sagemaker.ModelVpcConfigArgs(
                subnets=foundation.network.subnet_ids, security_group_ids=foundation.network.security_group_ids
            )
            if foundation.network
            else None,
            tags={**platform.all_tags, "mlops-model-version": str(version)},
            opts=self.child(),
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
                )
            ],
            data_capture_config=aws.sagemaker.EndpointConfigurationDataCaptureConfigArgs(
                enable_capture=spec.data_capture_percent > 0,
                initial_sampling_percentage=spec.data_capture_percent,
                destination_s3_uri=capture_uri,
                kms_key_id=foundation.key_arn,
                capture_options=[
                    aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(capture_mode="Input"),
                    aws.sagemaker.EndpointConfigurationDataCaptureConfigCaptureOptionArgs(capture_mode="Output"),
                ],
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
        self.publish(
            endpoint=endpoint.arn,
            serving=registry.group_arn.apply(lambda group: serving_sentence(version, group)),
        )
