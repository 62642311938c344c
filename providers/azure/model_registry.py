"""ModelRegistry: a workspace model container whose versions carry an `approval` tag.

The pipeline's register step tags a new version `approval: pending` (manual) or `approved` (auto);
the Endpoint refuses to deploy a version whose tag is not `approved`. A person approves with
`approve(ml_client, name, version)` (or `az ml model update --set tags.approval=approved`).
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi_azure_native import machinelearningservices as ml

from providers.base import Capability, Deployment

APPROVAL_TAG = "approval"
APPROVED, PENDING = "approved", "pending"


def initial_status(approval: str) -> str:
    """The tag a freshly registered version gets under `registry.approval`."""
    return APPROVED if approval == "auto" else PENDING


def approve(ml_client: Any, name: str, version: str | int, approver: str = "") -> Any:
    """Mark one model version deployable: sets its `approval` tag to `approved`.

    Only tags change (the model files are untouched), so nothing is uploaded.
    """
    model = ml_client.models.get(name=name, version=str(version))
    tags = dict(model.tags or {})
    tags[APPROVAL_TAG] = APPROVED
    if approver:
        tags["approved-by"] = approver
    model.tags = tags
    return ml_client.models.create_or_update(model)


class ModelRegistry(Capability):
    cloud = "azure"
    capability = "ModelRegistry"

    def __init__(self, name: str, deployment: Deployment, foundation, opts: pulumi.ResourceOptions | None = None):
        super().__init__(name, opts)
        s, p = deployment.settings, deployment.platform
        approval = p.registry.approval
        self.model_name = s.model_name
        self.container = ml.ModelContainer(
            f"{name}-models",
            name=s.model_name,
            workspace_name=foundation.workspace.name,
            resource_group_name=foundation.resource_group.name,
            properties=ml.ModelContainerPropertiesArgs(
                description=(
                    f"{p.pipeline.name} models. approval={approval}: new versions are tagged "
                    f"{APPROVAL_TAG}={initial_status(approval)}; only {APPROVAL_TAG}={APPROVED} versions are served."
                ),
                tags={**s.tags, APPROVAL_TAG: approval},
            ),
            opts=self.protected(deployment),
        )
        self.publish(model_registry=self.container.id, approval=approval)
