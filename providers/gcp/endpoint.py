"""A private, CMEK-encrypted Vertex AI endpoint logging sampled requests to BigQuery.

Deploying a model version to it has no Pulumi resource (`deployed_models` is output only): the
dynamic resource `dynamic.DeployedModel` does it, after the registry's approval gate, moving the
traffic to it by `endpoint.rollout` (all at once, or canary / linear steps reverted on a breach).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from providers.base import NOT_SERVING, Capability, Deployment, serving_sentence
from providers.gcp.dynamic import DeployedModel
from providers.gcp.foundation import FoundationOut
from providers.gcp.model_registry import RegistryOut
from providers.gcp.training_pipeline import TrainingOut
from providers.gcp.translate import REQUEST_LOG_TABLE, GcpSettings


@dataclass(frozen=True)
class EndpointOut:
    endpoint: pulumi.Resource
    requests_table: str
    """`<project>.<dataset>.<table>`: where the endpoint logs sampled requests. The drift check reads
    the same table from the settings (`GcpSettings.io_config`'s "capture"), not from this field."""


class Endpoint(Capability):
    cloud = "gcp"
    capability = "Endpoint"
    out: EndpointOut

    def __init__(
        self,
        name: str,
        deployment: Deployment[GcpSettings],
        foundation: FoundationOut,
        registry: RegistryOut,
        training: TrainingOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        settings = deployment.settings
        platform = deployment.platform
        endpoint_spec = platform.endpoint

        # Captured requests are data: their own CMEK dataset, protected like the rest.
        logs_dataset = gcp.bigquery.Dataset(
            f"{name}-request-logs",
            project=settings.project,
            dataset_id=settings.logs_dataset_id,
            location=settings.region,
            description=f"mlops {settings.prefix}: sampled endpoint requests and responses",
            default_encryption_configuration=gcp.bigquery.DatasetDefaultEncryptionConfigurationArgs(
                kms_key_name=foundation.key_id
            ),
            delete_contents_on_destroy=False,
            labels=settings.labels,
            opts=self.protected(deployment, depends_on=foundation.key_ready),
        )
        # The drift check reads the logs.
        gcp.bigquery.DatasetIamMember(
            f"{name}-request-logs-reader",
            project=settings.project,
            dataset_id=logs_dataset.dataset_id,
            role="roles/bigquery.dataViewer",
            member=foundation.account_member,
            opts=self.child(),
        )
        requests_table = f"{settings.project}.{settings.logs_dataset_id}.{REQUEST_LOG_TABLE}"

        private = None
        consumer = None
        if settings.private:
            # Reachable only through Private Service Connect, from the project itself: a forwarding
            # rule in the project's VPC targets the service attachment Vertex creates for the endpoint.
            private = gcp.vertex.AiEndpointPrivateServiceConnectConfigArgs(
                enable_private_service_connect=True, project_allowlists=[settings.project]
            )
            consumer = self._psc_network(name, settings, foundation)
        endpoint = gcp.vertex.AiEndpoint(
            f"{name}-endpoint",
            project=settings.project,
            location=settings.region,
            region=settings.region,
            name=settings.endpoint_id,
            display_name=f"{settings.prefix}-endpoint",
            description=f"mlops {settings.prefix}: real-time predictions",
            encryption_spec=gcp.vertex.AiEndpointEncryptionSpecArgs(kms_key_name=foundation.key_id),
            private_service_connect_config=private,
            predict_request_response_logging_config=gcp.vertex.AiEndpointPredictRequestResponseLoggingConfigArgs(
                enabled=endpoint_spec.data_capture_percent > 0,
                sampling_rate=settings.sampling_rate,
                bigquery_destination=gcp.vertex.AiEndpointPredictRequestResponseLoggingConfigBigqueryDestinationArgs(
                    output_uri=f"bq://{requests_table}"
                ),
            ),
            labels=settings.labels,
            opts=self.child(depends_on=[*foundation.key_ready, logs_dataset]),
        )

        version = deployment.model_version
        if version is None:
            self.out = EndpointOut(endpoint, requests_table)
            self.publish(endpoint=None, serving=NOT_SERVING)
            return

        accelerator = settings.serving_accelerator
        deployed = DeployedModel(
            f"{name}-model-v{version}",
            {
                "project": settings.project,
                "region": settings.region,
                # The resource's Output: a replaced endpoint (new id) replaces the deployment.
                "endpoint": endpoint.id,
                "model_id": registry.model_id,
                "version": str(version),
                "machine_type": settings.serving_machine,
                "accelerator_type": accelerator[0] if accelerator else "",
                "accelerator_count": accelerator[1] if accelerator else 0,
                "min_replicas": endpoint_spec.min_replicas,
                "max_replicas": endpoint_spec.max_replicas,
                "cpu_target": endpoint_spec.target_cpu_percent,
                "display_name": f"{registry.model_id}-v{version}",
                # How the version takes the traffic from the one served before (steps, bake, revert).
                "rollout": {
                    "strategy": endpoint_spec.rollout.strategy,
                    "canary_percent": endpoint_spec.rollout.canary_percent,
                    "step_percent": endpoint_spec.rollout.step_percent,
                    "bake_minutes": endpoint_spec.rollout.bake_minutes,
                    "rollback_on": {
                        "error_rate": endpoint_spec.rollout.rollback_on.error_rate,
                        "p99_latency_ms": endpoint_spec.rollout.rollback_on.p99_latency_ms,
                    },
                },
            },
            opts=self.child(depends_on=[endpoint, *([registry.approval] if registry.approval else [])]),
        )
        if consumer is not None:
            self._psc_endpoint(name, settings, consumer, deployed)
        self.out = EndpointOut(endpoint, requests_table)
        self.publish(endpoint=endpoint.id, serving=serving_sentence(version, registry.model_name))

    def _psc_network(
        self, name: str, settings: GcpSettings, foundation: FoundationOut
    ) -> tuple[gcp.compute.Network, gcp.compute.Subnetwork, gcp.compute.Address]:
        """The consumer side of Private Service Connect: the kit's VPC, a subnet in the platform's
        region, and the internal address clients call the endpoint at."""
        network = gcp.compute.Network(
            f"{name}-vpc",
            project=settings.project,
            name=settings.vpc_name,
            description=f"mlops {settings.prefix}: where clients reach the private prediction endpoint",
            auto_create_subnetworks=False,
            routing_mode="REGIONAL",
            opts=self.child(depends_on=foundation.apis),
        )
        subnet = gcp.compute.Subnetwork(
            f"{name}-psc-subnet",
            project=settings.project,
            region=settings.region,
            name=f"{settings.vpc_name}-psc",
            network=network.id,
            ip_cidr_range=settings.psc_subnet_cidr,
            private_ip_google_access=True,  # clients without external IPs still reach Google APIs (tokens)
            opts=self.child(),
        )
        address = gcp.compute.Address(
            f"{name}-psc-address",
            project=settings.project,
            region=settings.region,
            name=f"{settings.prefix}-endpoint-psc",
            description=f"mlops {settings.prefix}: the private prediction endpoint's address",
            address_type="INTERNAL",
            subnetwork=subnet.id,
            labels=settings.labels,
            opts=self.child(),
        )
        return network, subnet, address

    def _psc_endpoint(
        self,
        name: str,
        settings: GcpSettings,
        consumer: tuple[gcp.compute.Network, gcp.compute.Subnetwork, gcp.compute.Address],
        deployed: DeployedModel,
    ) -> gcp.compute.ForwardingRule:
        """The forwarding rule to the endpoint's service attachment, which Vertex creates with the
        first deployment ("Use dedicated private endpoints based on Private Service Connect for
        online inference": "Private Service Connect uses a forwarding rule in your VPC network ...
        The forwarding rule connects to a service attachment")."""
        network, _subnet, address = consumer
        return gcp.compute.ForwardingRule(
            f"{name}-psc-rule",
            project=settings.project,
            region=settings.region,
            name=f"{settings.prefix}-endpoint-psc",
            network=network.id,
            ip_address=address.id,
            target=deployed.service_attachment,
            load_balancing_scheme="",  # pulumi_gcp: "" for Private Service Connect forwarding rules
            opts=self.child(),
        )
