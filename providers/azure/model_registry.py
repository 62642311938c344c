"""ModelRegistry: a workspace model container whose versions carry an `approval` tag.

The pipeline's register step tags a new version `approval: pending` (manual) or `approved` (auto);
the Endpoint refuses to deploy a version whose tag is not `approved`. With `manual` it also requires
an approval record, which the runtime identity (the one registering versions) cannot write: an
approver writes it with `approve(ml_client, name, version, records=...)` or `mlops model approve`
(providers/azure/dynamic.py ApprovedVersionCheck; docs/azure.md, Approving a model version).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import machinelearningservices as ml

from providers.azure.foundation import FoundationOut
from providers.azure.translate import AzureSettings
from providers.base import Capability, Deployment

APPROVAL_TAG = "approval"
APPROVED, PENDING = "approved", "pending"


def initial_status(approval: str) -> str:
    """The tag a freshly registered version gets under `registry.approval`."""
    return APPROVED if approval == "auto" else PENDING


def approve(
    ml_client: Any, name: str, version: str | int, approver: str = "", records: Any = None, reason: str = ""
) -> Any:
    """Mark one model version deployable, as the approver: first the approval record in the
    platform's approvals account (`records`: providers/azure/dynamic.py ApprovalRecords), which is
    what the deploy-time check trusts with `registry.approval: manual`, then the `approval` tag, for
    people to see. Only tags change (the model files are untouched), so nothing is uploaded.
    """
    model = ml_client.models.get(name=name, version=str(version))
    if records is not None:
        records.write(str(model.id), APPROVED, model, reason, by=approver)
    tags = dict(model.tags or {})
    tags[APPROVAL_TAG] = APPROVED
    if approver:
        tags["approved-by"] = approver
    model.tags = tags
    return ml_client.models.create_or_update(model)


@dataclass(frozen=True)
class RegistryOut:
    model_name: str
    container: pulumi.Resource
    """The model container: look a version up only once it exists."""
    container_id: pulumi.Output[str]
    approval: str


class ModelRegistry(Capability):
    cloud = "azure"
    capability = "ModelRegistry"
    out: RegistryOut

    def __init__(
        self,
        name: str,
        deployment: Deployment[AzureSettings],
        foundation: FoundationOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        settings, platform = deployment.settings, deployment.platform
        approval = platform.registry.approval
        container = ml.ModelContainer(
            f"{name}-models",
            name=settings.model_name,
            workspace_name=foundation.workspace_name,
            resource_group_name=foundation.resource_group_name,
            properties=ml.ModelContainerPropertiesArgs(
                description=(
                    f"{platform.pipeline.name} models. approval={approval}: new versions are tagged "
                    f"{APPROVAL_TAG}={initial_status(approval)}; only {APPROVAL_TAG}={APPROVED} versions are served."
                ),
                tags={**settings.tags, APPROVAL_TAG: approval},
            ),
            opts=self.protected(deployment),
        )
        self.out = RegistryOut(settings.model_name, container, container.id, approval)
        self.publish(model_registry=container.id, approval=approval)
