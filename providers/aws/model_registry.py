"""A SageMaker model package group; the approval status of each version is the gate."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from providers.aws.foundation import FoundationOut
from providers.aws.translate import AwsSettings
from providers.base import Capability, Deployment

# What the pipeline's register step sets on a new version, per `registry.approval`.
APPROVAL_STATUS = {"manual": "PendingManualApproval", "auto": "Approved"}


@dataclass(frozen=True)
class RegistryOut:
    group_name: pulumi.Output[str]
    group_arn: pulumi.Output[str]
    approval_status: str
    """What the register step sets on a new version: PendingManualApproval or Approved."""


def version_arn(group_arn: pulumi.Input[str], version: int) -> pulumi.Output[str]:
    """ARN of one version: `...:model-package/<group>/<version>`."""
    return pulumi.Output.from_input(group_arn).apply(
        lambda arn: arn.replace(":model-package-group/", ":model-package/") + f"/{version}"
    )


class ModelRegistry(Capability):
    cloud = "aws"
    capability = "ModelRegistry"
    out: RegistryOut

    def __init__(
        self,
        name: str,
        deployment: Deployment[AwsSettings],
        foundation: FoundationOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        platform = deployment.platform
        self.group = aws.sagemaker.ModelPackageGroup(
            f"{name}-models",
            model_package_group_name=deployment.settings.model_package_group,
            # Nothing that can change with the config goes in here: the description forces a replace.
            model_package_group_description=f"{platform.prefix} models",
            tags=platform.all_tags,
            opts=self.protected(deployment),
        )
        self.out = RegistryOut(
            group_name=self.group.model_package_group_name,
            group_arn=self.group.arn,
            approval_status=APPROVAL_STATUS[platform.registry.approval],
        )
        self.publish(model_registry=self.group.arn, approval=platform.registry.approval)
