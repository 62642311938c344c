"""Endpoint: a managed online endpoint (Entra ID auth, private unless asked) and, when
`endpoint.model_version` is set, one deployment of that approved version with request/response
collection, scaled by an Azure Monitor autoscale setting on its CPU utilization."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import machinelearningservices as ml
from pulumi_azure_native import monitor

from providers.azure.dynamic import EndpointTraffic
from providers.azure.foundation import FoundationOut
from providers.azure.model_registry import APPROVAL_TAG, APPROVED, RegistryOut
from providers.azure.pipeline_definition import SCORE_SCRIPT_NAME
from providers.azure.training_pipeline import TrainingOut
from providers.azure.translate import AzureSettings
from providers.base import NOT_SERVING, Capability, Deployment, serving_sentence

CPU_METRIC = "CpuUtilizationPercentage"
# A platform metric's namespace is the resource type that emits it (Microsoft Learn "Supported
# metrics for Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments").
METRIC_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"


def scale_in_threshold(target_cpu_percent: int) -> int:
    """Scale in below half the target: far enough under the scale-out threshold that one instance
    fewer does not push the average straight back over it (no flapping)."""
    return max(1, target_cpu_percent // 2)


def cpu_rule(deployment_id, operator: str, threshold: int, direction: str) -> monitor.ScaleRuleArgs:
    return monitor.ScaleRuleArgs(
        metric_trigger=monitor.MetricTriggerArgs(
            metric_name=CPU_METRIC,
            metric_namespace=METRIC_NAMESPACE,
            metric_resource_uri=deployment_id,
            time_grain="PT1M",
            statistic="Average",
            time_window="PT5M",
            time_aggregation="Average",
            operator=operator,
            threshold=threshold,
        ),
        scale_action=monitor.ScaleActionArgs(direction=direction, type="ChangeCount", value="1", cooldown="PT5M"),
    )


class NotApprovedError(RuntimeError):
    pass


def approved_model_id(result, model: str, version: int) -> str:
    """The version's id if its approval tag says `approved`; fails the deployment otherwise."""
    props = result.properties if hasattr(result, "properties") else result["properties"]
    tags = (props.tags if hasattr(props, "tags") else props.get("tags")) or {}
    status = tags.get(APPROVAL_TAG)
    if status != APPROVED:
        raise NotApprovedError(
            f"model version {version} of {model} has {APPROVAL_TAG}={status!r}; only {APPROVAL_TAG}={APPROVED} "
            "versions are deployed (see docs/azure.md: approving a model version)"
        )
    return result.id if hasattr(result, "id") else result["id"]


@dataclass(frozen=True)
class EndpointOut:
    endpoint_name: pulumi.Output[str]
    deployment_id: pulumi.Output[str] | None
    """The deployment serving the model: None when nothing is served."""
    deployment_name: str | None


class Endpoint(Capability):
    cloud = "azure"
    capability = "Endpoint"
    out: EndpointOut

    def __init__(
        self,
        name: str,
        deployment: Deployment[AzureSettings],
        foundation: FoundationOut,
        registry: RegistryOut,
        training: TrainingOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        s, e = deployment.settings, deployment.platform.endpoint
        rg, ws = foundation.resource_group_name, foundation.workspace_name
        identity = ml.ManagedServiceIdentityArgs(type="UserAssigned", user_assigned_identities=[foundation.identity_id])
        version = deployment.model_version
        self.deployment_name = s.deployment_name
        # Unique in the region (its scoring URI is <name>.<region>.inference.ml.azure.com): the
        # name carries the stack's suffix.
        endpoint_name = foundation.names.apply(lambda n: n.endpoint)
        self.endpoint = ml.OnlineEndpoint(
            f"{name}-endpoint",
            endpoint_name=endpoint_name,
            workspace_name=ws,
            resource_group_name=rg,
            location=s.location,
            identity=identity,
            kind="Managed",
            properties=ml.OnlineEndpointPropertiesArgs(
                auth_mode="AADToken",
                # Private: reached through the workspace's private endpoint (Microsoft Learn "Network
                # isolation with managed online endpoints"), see docs/azure.md.
                public_network_access=s.public_network_access,
                description=f"{s.prefix} real-time endpoint",
                # No traffic here: it may only name a deployment that exists, and the deployment
                # depends on this endpoint. `EndpointTraffic` routes it once the deployment exists.
            ),
            tags=s.tags,
            opts=self.child(ignore_changes=["properties.traffic"]),
        )
        if version is None or self.deployment_name is None:
            self.out = EndpointOut(endpoint_name, None, None)
            self.publish(endpoint=None, serving=NOT_SERVING)
            return

        found = ml.get_model_version_output(
            name=registry.model_name,
            version=str(version),
            resource_group_name=rg,
            workspace_name=ws,
            opts=pulumi.InvokeOutputOptions(parent=self, depends_on=[registry.container]),
        )
        model_id = found.apply(lambda r: approved_model_id(r, registry.model_name, version))
        sampling = e.data_capture_percent / 100
        self.deployment = ml.OnlineDeployment(
            f"{name}-deployment",
            deployment_name=self.deployment_name,
            endpoint_name=self.endpoint.name,
            workspace_name=ws,
            resource_group_name=rg,
            location=s.location,
            kind="Managed",
            # The starting instance count; afterwards the autoscale setting owns it.
            sku=ml.SkuArgs(name="Default", capacity=e.min_replicas),
            properties=ml.ManagedOnlineDeploymentArgs(
                endpoint_compute_type="Managed",
                instance_type=s.endpoint_instance,
                model=model_id,
                code_configuration=ml.CodeConfigurationArgs(code_id=training.code_id, scoring_script=SCORE_SCRIPT_NAME),
                environment_id=training.environment_id,
                app_insights_enabled=True,
                # No egressPublicNetworkAccess: the workspace has a managed network, which governs
                # the deployment's outbound traffic; the flag "no longer applies" there (Microsoft
                # Learn "Network traffic flow when using a secured workspace").
                # Managed deployments take Default scale settings (a fixed instance count =
                # sku.capacity); TargetUtilization is for Kubernetes deployments. Autoscaling is the
                # Azure Monitor autoscale setting below.
                scale_settings=ml.DefaultScaleSettingsArgs(scale_type="Default"),
                # The deployment's container pulls the environment image and the model as the
                # endpoint's identity (the runtime identity: AcrPull, Storage Blob Data reader/writer).
                data_collector=ml.DataCollectorArgs(
                    collections={
                        kind: ml.CollectionArgs(data_collection_mode="Enabled", sampling_rate=sampling)
                        for kind in ("request", "response")
                    },
                    rolling_rate="Hour",
                ),
            ),
            tags=s.tags,
            # `pulumi refresh` reads the count the autoscaler set; the next `up` must not reset it.
            opts=self.child(
                ignore_changes=["sku.capacity"],
                depends_on=[foundation.network_ready, training.environment_version],
            ),
        )
        bounds = monitor.ScaleCapacityArgs(
            minimum=str(e.min_replicas), maximum=str(e.max_replicas), default=str(e.min_replicas)
        )
        self.autoscale = monitor.AutoscaleSetting(
            f"{name}-autoscale",
            autoscale_setting_name=f"{s.prefix}-{self.deployment_name}-autoscale",
            resource_group_name=rg,
            location=s.location,
            enabled=True,
            target_resource_uri=self.deployment.id,
            profiles=[
                monitor.AutoscaleProfileArgs(
                    name="cpu",
                    capacity=bounds,
                    rules=[
                        cpu_rule(self.deployment.id, "GreaterThan", e.target_cpu_percent, "Increase"),
                        cpu_rule(
                            self.deployment.id,
                            "LessThan",
                            scale_in_threshold(e.target_cpu_percent),
                            "Decrease",
                        ),
                    ],
                )
            ],
            tags=s.tags,
            opts=self.child(),
        )
        # Takes the deployment's name from the deployment itself: it runs after it exists.
        self.traffic = EndpointTraffic(
            f"{name}-traffic",
            endpoint_id=self.endpoint.id,
            traffic=self.deployment.name.apply(lambda deployment_name: {deployment_name: 100}),
            opts=self.child(depends_on=[self.deployment]),
        )
        self.out = EndpointOut(endpoint_name, self.deployment.id, self.deployment_name)
        self.publish(
            endpoint=self.endpoint.id,
            serving=registry.container_id.apply(lambda container: serving_sentence(version, container)),
        )
