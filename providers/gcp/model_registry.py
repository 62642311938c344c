"""Vertex Model Registry: no Pulumi resource exists, so the gap is closed in two places.

- Run time: the pipeline's register step uploads each model that passes the quality gate as a new
  version of model `<prefix>-<pipeline>` (the first upload creates the model). With
  `approval: auto` it gets the alias `approved`; with `manual` the label approval=pending.
- Deploy time: a dynamic resource (`dynamic.ModelVersionApproval`) gates `endpoint.model_version`:
  it checks the alias (manual) or sets it (auto); the endpoint deploys only after it succeeded.
"""

from __future__ import annotations

import pulumi

from providers.base import Capability, Deployment
from providers.gcp.dynamic import ModelVersionApproval, model_name
from providers.gcp.translate import GcpSettings


class ModelRegistry(Capability):
    cloud = "gcp"
    capability = "ModelRegistry"

    def __init__(self, name: str, deployment: Deployment, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, opts)
        s: GcpSettings = deployment.settings
        self.approval_mode = deployment.platform.registry.approval
        self.model_id = s.model_id
        self.model_name = model_name(s.project, s.region, s.model_id)

        self.approval = None
        version = deployment.platform.endpoint.model_version
        if version is not None:
            self.approval = ModelVersionApproval(
                f"{name}-approval-v{version}",
                {
                    "project": s.project,
                    "region": s.region,
                    "model_id": s.model_id,
                    "version": str(version),
                    "mode": self.approval_mode,
                },
                opts=self.child(),
            )

        self.publish(model_registry=self.model_name, approval=self.approval_mode)
