"""Vertex Model Registry: no Pulumi resource exists, so the gap is closed in two places.

- Run time: the pipeline's register step uploads each model that passes the quality gate as a new
  version of model `<prefix>-<pipeline>` (the first upload creates the model), under the
  platform's key. The approval mode is compiled into the pipeline: with `approval: auto` the
  version is registered with label approval=approved, with `manual` approval=pending until a
  reviewer approves it with their own identity (the pipeline identity cannot update models).
- Approval: with `manual`, a version is approved by an approval record in the platform's approvals
  bucket (`<project>-<prefix>-gate`), which a reviewer writes with the approval command. The bucket
  is CMEK-encrypted with the platform's key, uniform bucket-level access, public access prevention
  enforced, versioned and protected; the pipeline identity (the uploader), the retraining identity
  and the served model's identity hold no role on it. `registry.approvers` are granted
  `roles/storage.objectCreator` there (create, never overwrite or delete) and a project custom role
  with the Vertex AI permissions the command calls (get/list models, update labels and aliases).
- Deploy time: a dynamic resource (`dynamic.ApprovedVersionCheck`) refuses an unapproved
  `endpoint.model_version` without changing it; the endpoint deploys only after it passed. A deploy
  never approves or revokes anything.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from providers.base import Capability, Deployment
from providers.gcp.dynamic import ApprovedVersionCheck, model_name
from providers.gcp.foundation import FoundationOut, vertex_role
from providers.gcp.translate import GcpSettings


@dataclass(frozen=True)
class RegistryOut:
    model_id: str
    model_name: str
    """`projects/<p>/locations/<r>/models/<id>`: the registered model whose versions are served."""
    approval_mode: str
    approval: pulumi.Resource | None
    """The gate the served version passed (None when nothing is served)."""
    approvals_bucket: str
    """The bucket holding the approval records (approvers write to it; so can project owners/editors
    through Cloud Storage's default bindings, see docs/gcp.md)."""


# What the approval command calls as the approver (providers/gcp/dynamic.py set_approval, and
# `mlops model approve|reject`): GetModel / ListModelVersions, then UpdateModel (labels) and
# MergeVersionAliases. Vertex AI has no per-model IAM, so the role is bound on the project.
APPROVER_PERMISSIONS = ("aiplatform.models.get", "aiplatform.models.list", "aiplatform.models.update")
APPROVER_BUCKET_ROLE = "roles/storage.objectCreator"


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
        settings = deployment.settings
        approval_mode = deployment.platform.registry.approval
        registered = model_name(settings.project, settings.region, settings.model_id)

        # Approval records: created in either mode (switching modes never deletes a protected bucket);
        # after the storage agent may use the key.
        self.approvals = gcp.storage.Bucket(
            f"{name}-approvals",
            project=settings.project,
            name=settings.approvals_bucket,
            location=settings.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=foundation.key_id),
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            force_destroy=False,
            labels=settings.labels,
            opts=self.protected(deployment, depends_on=[*foundation.key_ready, *foundation.apis]),
        )
        # The approver role is created whether or not `registry.approvers` names anyone (a role grants
        # nothing by itself): without approvers, project admins grant it and objectCreator themselves.
        role = vertex_role(
            f"{name}-approver-role",
            settings.project,
            settings.prefix,
            "approver",
            APPROVER_PERMISSIONS,
            self.child(depends_on=foundation.apis),
        )
        approver_grants: list[pulumi.Resource] = []
        for member in settings.approvers:
            tag = f"{zlib.crc32(member.encode()):08x}"  # stable whatever the list's order
            approver_grants += [
                gcp.storage.BucketIAMMember(
                    f"{name}-approver-{tag}",
                    bucket=self.approvals.name,
                    role=APPROVER_BUCKET_ROLE,
                    member=member,
                    opts=self.child(),
                ),
                gcp.projects.IAMMember(
                    f"{name}-approver-{tag}-vertex",
                    project=settings.project,
                    role=role.name,
                    member=member,
                    opts=self.child(),
                ),
            ]

        approval = None
        version = deployment.model_version
        if version is not None:
            approval = ApprovedVersionCheck(
                f"{name}-approval-v{version}",
                {
                    "project": settings.project,
                    "region": settings.region,
                    "model_id": settings.model_id,
                    "version": str(version),
                    "mode": approval_mode,
                    "approvals_bucket": self.approvals.name,
                },
                # it reads the Vertex AI API (at preview too) and the approvals bucket; after the approvers'
                # grants, so a failing check (no record yet) never leaves an approver unable to approve
                opts=self.child(depends_on=[*foundation.apis, self.approvals, *approver_grants]),
            )

        self.out = RegistryOut(settings.model_id, registered, approval_mode, approval, settings.approvals_bucket)
        self.publish(model_registry=registered, approval=approval_mode)
