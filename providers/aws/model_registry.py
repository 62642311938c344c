"""A SageMaker model package group; the approval status of each version is the gate."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from providers.base import Capability, Deployment

# What the pipeline's register step sets on a new version, per `registry.approval`.
APPROVAL_STATUS = {"manual": "PendingManualApproval", "auto": "Approved"}


class ModelRegistry(Capability):
    cloud = "aws"
    capability = "ModelRegistry"

    def __init__(self, name: str, deployment: Deployment, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, opts)
        platform = deployment.platform
        self.approval_status = APPROVAL_STATUS[platform.registry.approval]
        self.group = aws.sagemaker.ModelPackageGroup(
            f"{name}-models",
            model_package_group_name=deployment.settings.model_package_group,
            # Nothing that can change with the config goes in here: the description forces a replace.
            model_package_group_description=f"{platform.prefix} models",
            tags=platform.all_tags,
            opts=self.protected(deployment),
        )
        self.publish(model_registry=self.group.arn, approval=platform.registry.approval)

    def version_arn(self, version: int) -> pulumi.Output[str]:
        """ARN of one version: `...:model-package/<group>/<version>`."""
        return self.group.arn.apply(lambda arn: arn.replace(":model-package-group/", ":model-package/") + f"/{version}")
