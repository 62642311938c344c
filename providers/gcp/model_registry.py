"""Vertex Model Registry: no Pulumi resource exists, so the gap is closed in two places.

- Run time: the pipeline's register step uploads each model that passes the quality gate as a new
  version of model `<prefix>-<pipeline>` (the first upload creates the model), under the
  platform's key. The approval mode is compiled into the pipeline: with `approval: auto` the
  version is registered with label approval=approved, with `manual` approval=pending until a
  reviewer approves it with their own identity (the pipeline identity cannot update models).
- Deploy time: a dynamic resource (`dynamic.ApprovedVersionCheck`) refuses an unapproved
  `endpoint.model_version` without changing it; the endpoint deploys only after it passed. A deploy
  never approves or revokes anything.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from providers.base import Capability, Deployment
from providers.gcp.dynamic import ApprovedVersionCheck, model_name
from providers.gcp.foundation import FoundationOut
from providers.gcp.translate import GcpSettings


@dataclass(frozen=True)
class RegistryOut:
    model_id: str
    model_name: str
    """`projects/<p>/locations/<r>/models/<id>`: the registered model whose versions are served."""
    approval_mode: str
    approval: pulumi.Resource | None
    """The gate the served version passed (None when nothing is served)."""


class ModelRegistry(Capability):
    cloud = "gcp"
    capability = "ModelRegistry"
    out: RegistryOut

    def __init__(
        self,
        name: str,
        deployment: Deployment[GcpSettings],
        foundation: FoundationOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        s = deployment.settings
        approval_mode = deployment.platform.registry.approval
        registered = model_name(s.project, s.region, s.model_id)

        approval = None
        version = deployment.model_version
        if version is not None:
            approval = ApprovedVersionCheck(
                f"{name}-approval-v{version}",
                {
                    "project": s.project,
                    "region": s.region,
                    "model_id": s.model_id,
                    "version": str(version),
                    "mode": approval_mode,
                },
                opts=self.child(depends_on=foundation.apis),  # it reads the Vertex AI API, at preview too
            )

        self.out = RegistryOut(s.model_id, registered, approval_mode, approval)
        self.publish(model_registry=registered, approval=approval_mode)
