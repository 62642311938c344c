"""Endpoint: a managed online endpoint (Entra ID auth, private unless asked) and, when
`endpoint.model_version` is set, one deployment of that approved version with request/response
collection, scaled by an Azure Monitor autoscale setting on its CPU utilization."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import machinelearningservices as ml
from pulumi_azure_native import monitor, storage

from providers.azure.dynamic import ApprovedVersionCheck, EndpointTraffic
from providers.azure.foundation import FoundationOut, datastore_properties
from providers.azure.model_registry import APPROVAL_TAG, APPROVED, RegistryOut
from providers.azure.pipeline_definition import SCORE_SCRIPT_NAME
from providers.azure.sdk_cache import RestBody, sdk_built
from providers.azure.training_pipeline import TrainingOut
from providers.azure.translate import AzureSettings, deployment_name
from providers.base import NOT_SERVING, Capability, Deployment, serving_sentence

CPU_METRIC = "CpuUtilizationPercentage"
# A platform metric's namespace is the resource type that emits it (Microsoft Learn "Supported
# metrics for Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments").
METRIC_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"


def scale_in_threshold(target_cpu_percent: int) -> int:
    """Scale in below half the target: far enough under the scale-out threshold that one instance
    fewer does not push the average straight back over it (no flapping)."""
    return max(1, target_cpu_percent // 2)


def cpu_rule(
    deployment_id: pulumi.Input[str],
    operator: monitor.ComparisonOperationType,
    threshold: int,
    direction: monitor.ScaleDirection,
) -> monitor.ScaleRuleArgs:
    return monitor.ScaleRuleArgs(
        metric_trigger=monitor.MetricTriggerArgs(
            metric_name=CPU_METRIC,
            metric_namespace=METRIC_NAMESPACE,
            metric_resource_uri=deployment_id,
            time_grain="PT1M",
            statistic=monitor.MetricStatisticType.AVERAGE,
            time_window="PT5M",
            time_aggregation=monitor.TimeAggregationType.AVERAGE,
            operator=operator,
            threshold=threshold,
        ),
        scale_action=monitor.ScaleActionArgs(
            direction=direction, type=monitor.ScaleType.CHANGE_COUNT, value="1", cooldown="PT5M"
        ),
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


CAPTURE_CONTAINER = "capture"
CAPTURE_DATASTORE = "mlopscapture"
COLLECTION = "model_inputs"


def capture_prefix(endpoint: str, deployment: str) -> str:
    """Where the collector writes `model_inputs` in the capture container (the data asset's path;
    the collector appends `{yyyy}/{MM}/{dd}/{HH}/{instance}.jsonl`)."""
    return f"modelDataCollector/{endpoint}/{deployment}/{COLLECTION}/"


@sdk_built("capture-data")
def capture_data_properties(endpoint: str, deployment: str, tags: dict[str, str]) -> RestBody:
    """The data asset the collection is registered as, as azure-ai-ml registers it
    (operations/_online_deployment_operations.py `_register_collection_data_assets`: a `uri_folder`
    Data entity at the collection's path), from azure-ai-ml's own Data entity."""
    from azure.ai.ml.entities import Data

    path = f"azureml://datastores/{CAPTURE_DATASTORE}/paths/{capture_prefix(endpoint, deployment).rstrip('/')}"
    rest = Data(name="x", version="1", path=path, type="uri_folder", tags=dict(tags))._to_rest_object()
    assert rest is not None  # Optional in its signature; a Data entity always builds one
    return rest.as_dict()["properties"]


@dataclass(frozen=True)
class EndpointOut:
    endpoint_name: pulumi.Output[str]
    deployment_id: pulumi.Output[str] | None
    """The deployment serving the model: None when nothing is served."""
    deployment_name: str | None
    capture_data: str | None = None
    """The collected `model_inputs` as a data asset reference (`azureml:<name>:<version>`)."""


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
        settings, endpoint_spec = deployment.settings, deployment.platform.endpoint
        resource_group_name, workspace_name = foundation.resource_group_name, foundation.workspace_name
        identity = ml.ManagedServiceIdentityArgs(
            type=ml.ManagedServiceIdentityType.USER_ASSIGNED, user_assigned_identities=[foundation.identity_id]
        )
        version = deployment.model_version
        self.deployment_name = settings.deployment_name
        # Unique in the region (its scoring URI is <name>.<region>.inference.ml.azure.com): the
        # name carries the stack's suffix.
        endpoint_name = foundation.names.apply(lambda n: n.endpoint)
        self.endpoint = ml.OnlineEndpoint(
            f"{name}-endpoint",
            endpoint_name=endpoint_name,
            workspace_name=workspace_name,
            resource_group_name=resource_group_name,
            location=settings.location,
            identity=identity,
            kind="Managed",
            properties=ml.OnlineEndpointPropertiesArgs(
                auth_mode=ml.EndpointAuthMode.AAD_TOKEN,
                # Private: reached through the workspace's private endpoint (Microsoft Learn "Network
                # isolation with managed online endpoints"), see docs/azure.md.
                public_network_access=ml.PublicNetworkAccessType(settings.public_network_access),
                description=f"{settings.prefix} real-time endpoint",
                # No traffic here: it may only name a deployment that exists, and the deployment
                # depends on this endpoint. `EndpointTraffic` routes it once the deployment exists.
            ),
            tags=settings.tags,
            opts=self.child(ignore_changes=["properties.traffic"]),
        )
        served_deployment = self.deployment_name
        if version is None or served_deployment is None:
            self.out = EndpointOut(endpoint_name, None, None)
            self.publish(endpoint=None, serving=NOT_SERVING)
            return

        found = ml.get_model_version_output(
            name=registry.model_name,
            version=str(version),
            resource_group_name=resource_group_name,
            workspace_name=workspace_name,
            opts=pulumi.InvokeOutputOptions(parent=self, depends_on=[registry.container]),
        )
        model_id = found.apply(lambda r: approved_model_id(r, registry.model_name, version))
        # The gate that the runtime identity cannot forge: with `manual`, an approval record written by
        # an approver (providers/azure/dynamic.py, ApprovedVersionCheck); the deployment waits for it.
        approval = self._approval_check(f"{name}-approval", foundation, registry, version)
        sampling = endpoint_spec.data_capture_percent / 100
        # Captured requests: the collector's `model_inputs` in a container of the workspace's storage,
        # through an identity-based blob datastore, registered as a data asset (Microsoft Learn
        # "Collect production data ...", Collect data to a custom Blob Storage container: the
        # endpoint identity, the runtime identity, holds Storage Blob Data Contributor on it).
        workspace_account = foundation.names.apply(lambda n: n.workspace_account)
        capture = storage.BlobContainer(
            f"{name}-capture",
            container_name=CAPTURE_CONTAINER,
            account_name=workspace_account,
            resource_group_name=resource_group_name,
            public_access=storage.PublicAccess.NONE,
            opts=self.protected(deployment),
        )
        datastore = ml.Datastore(
            f"{name}-capture-datastore",
            name=CAPTURE_DATASTORE,
            workspace_name=workspace_name,
            resource_group_name=resource_group_name,
            properties=workspace_account.apply(lambda a: datastore_properties("blob", a, CAPTURE_CONTAINER)),
            opts=self.child(depends_on=[capture]),
        )
        data_name = f"{settings.prefix}-{self.deployment_name}-{COLLECTION}"
        data_container = ml.DataContainer(
            f"{name}-capture-data",
            name=data_name,
            workspace_name=workspace_name,
            resource_group_name=resource_group_name,
            properties=ml.DataContainerPropertiesArgs(
                data_type=ml.DataType.URI_FOLDER, description="captured requests", tags=settings.tags
            ),
            opts=self.child(),
        )
        data_version = ml.DataVersion(
            f"{name}-capture-data-v1",
            name=data_name,
            version="1",
            workspace_name=workspace_name,
            resource_group_name=resource_group_name,
            properties=endpoint_name.apply(lambda n: capture_data_properties(n, served_deployment, settings.tags)),
            opts=self.child(depends_on=[data_container, datastore]),
        )
        self.deployment = ml.OnlineDeployment(
            f"{name}-deployment",
            deployment_name=self.deployment_name,
            endpoint_name=self.endpoint.name,
            workspace_name=workspace_name,
            resource_group_name=resource_group_name,
            location=settings.location,
            kind="Managed",
            # The starting instance count; afterwards the autoscale setting owns it.
            sku=ml.SkuArgs(name="Default", capacity=endpoint_spec.min_replicas),
            properties=ml.ManagedOnlineDeploymentArgs(
                endpoint_compute_type="Managed",
                instance_type=settings.endpoint_instance,
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
                # Only `model_inputs`, which the scoring script logs with Azure ML's collector: the
                # request columns, typed. No payload logging (`request`/`response`: raw bodies,
                # not tabular; Microsoft Learn "Collect production data ...").
                data_collector=ml.DataCollectorArgs(
                    collections={
                        COLLECTION: ml.CollectionArgs(
                            data_collection_mode=ml.DataCollectionMode.ENABLED,
                            sampling_rate=sampling,
                            data_id=data_version.id,
                        )
                    },
                    rolling_rate=ml.RollingRateType.HOUR,
                ),
            ),
            tags=settings.tags,
            # `pulumi refresh` reads the count the autoscaler set; the next `up` must not reset it.
            opts=self.child(
                ignore_changes=["sku.capacity"],
                depends_on=[foundation.network_ready, training.environment_version, *approval],
            ),
        )
        bounds = monitor.ScaleCapacityArgs(
            minimum=str(endpoint_spec.min_replicas),
            maximum=str(endpoint_spec.max_replicas),
            default=str(endpoint_spec.min_replicas),
        )
        self.autoscale = monitor.AutoscaleSetting(
            f"{name}-autoscale",
            autoscale_setting_name=f"{settings.prefix}-{self.deployment_name}-autoscale",
            resource_group_name=resource_group_name,
            location=settings.location,
            enabled=True,
            target_resource_uri=self.deployment.id,
            profiles=[
                monitor.AutoscaleProfileArgs(
                    name="cpu",
                    capacity=bounds,
                    rules=[
                        cpu_rule(
                            self.deployment.id,
                            monitor.ComparisonOperationType.GREATER_THAN,
                            endpoint_spec.target_cpu_percent,
                            monitor.ScaleDirection.INCREASE,
                        ),
                        cpu_rule(
                            self.deployment.id,
                            monitor.ComparisonOperationType.LESS_THAN,
                            scale_in_threshold(endpoint_spec.target_cpu_percent),
                            monitor.ScaleDirection.DECREASE,
                        ),
                    ],
                )
            ],
            tags=settings.tags,
            opts=self.child(),
        )
        # Shadow: a second deployment of another approved version that gets a copy of
        # `sample_percent` of the live requests (the endpoint's `mirror_traffic`); its answers are
        # never returned (Microsoft Learn "Perform safe rollout of new deployments for real-time
        # inference", Test the deployment with mirrored traffic). Not collected, not autoscaled.
        mirror: pulumi.Input[dict] = {}
        waits: list[pulumi.Resource] = [self.deployment]
        if endpoint_spec.shadow is not None:
            shadow_version = endpoint_spec.shadow.model_version
            shadow_model = ml.get_model_version_output(
                name=registry.model_name,
                version=str(shadow_version),
                resource_group_name=resource_group_name,
                workspace_name=workspace_name,
                opts=pulumi.InvokeOutputOptions(parent=self, depends_on=[registry.container]),
            ).apply(lambda r: approved_model_id(r, registry.model_name, shadow_version))
            shadow_approval = self._approval_check(f"{name}-shadow-approval", foundation, registry, shadow_version)
            self.shadow = ml.OnlineDeployment(
                f"{name}-shadow",
                deployment_name=deployment_name(shadow_version),
                endpoint_name=self.endpoint.name,
                workspace_name=workspace_name,
                resource_group_name=resource_group_name,
                location=settings.location,
                kind="Managed",
                sku=ml.SkuArgs(name="Default", capacity=1),
                properties=ml.ManagedOnlineDeploymentArgs(
                    endpoint_compute_type="Managed",
                    instance_type=settings.endpoint_instance,
                    model=shadow_model,
                    code_configuration=ml.CodeConfigurationArgs(
                        code_id=training.code_id, scoring_script=SCORE_SCRIPT_NAME
                    ),
                    environment_id=training.environment_id,
                    app_insights_enabled=True,
                    egress_public_network_access=ml.EgressPublicNetworkAccessType(settings.public_network_access),
                    scale_settings=ml.DefaultScaleSettingsArgs(scale_type="Default"),
                ),
                tags=settings.tags,
                opts=self.child(depends_on=[foundation.network_ready, training.environment_version, *shadow_approval]),
            )
            mirror = self.shadow.name.apply(lambda n: {n: endpoint_spec.shadow.sample_percent})  # type: ignore[union-attr]
            waits.append(self.shadow)
        # Takes the deployment's name from the deployment itself: it runs after it exists. A new
        # version takes the traffic by `endpoint.rollout` (steps, bake, revert on a breach).
        rollout = endpoint_spec.rollout
        self.traffic = EndpointTraffic(
            f"{name}-traffic",
            endpoint_id=self.endpoint.id,
            traffic=self.deployment.name.apply(lambda deployment_name: {deployment_name: 100}),
            rollout={
                "strategy": rollout.strategy,
                "canary_percent": rollout.canary_percent,
                "step_percent": rollout.step_percent,
                "bake_minutes": rollout.bake_minutes,
                "rollback_on": {
                    "error_rate": rollout.rollback_on.error_rate,
                    "p99_latency_ms": rollout.rollback_on.p99_latency_ms,
                },
            },
            mirror=mirror,
            opts=self.child(depends_on=waits),
        )
        self.out = EndpointOut(
            endpoint_name,
            self.deployment.id,
            self.deployment_name,
            capture_data=f"azureml:{data_name}:1",
        )
        self.publish(
            endpoint=self.endpoint.id,
            serving=registry.container_id.apply(lambda container: serving_sentence(version, container)),
        )

    def _approval_check(
        self, name: str, foundation: FoundationOut, registry: RegistryOut, version: int
    ) -> list[pulumi.Resource]:
        """The deploy-time approval check of `version` (none for a foundation without records)."""
        if foundation.approvals_account_name is None:
            return []
        return [
            ApprovedVersionCheck(
                name,
                version_id=registry.container_id.apply(lambda c: f"{c}/versions/{version}"),
                mode=registry.approval,
                approvals_account=foundation.approvals_account_name,
                opts=self.child(depends_on=[registry.container, *foundation.approvals_ready]),
            )
        ]
