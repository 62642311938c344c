"""A SageMaker model package group; the approval status of each version is the gate."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from providers.aws import approval
from providers.aws.foundation import FoundationOut
from providers.aws.translate import AwsSettings
from providers.base import Capability, Deployment


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
        settings = deployment.settings
        # Who may approve (providers/aws/approval.py): a customer managed policy, attached to the
        # `registry.approvers` of this account, or by admins (e.g. from a permission set) without them.
        policy = aws.iam.Policy(
            f"{name}-approver",
            name=settings.approver_policy_name,
            description=f"mlops {platform.prefix}: approve or reject versions of {settings.model_package_group}",
            policy=pulumi.Output.all(
                account=foundation.account_id, bucket=foundation.bucket_arn, key=foundation.key_arn
            ).apply(
                lambda a: json.dumps(
                    approval.approver_policy(
                        f"arn:aws:sagemaker:{deployment.region}:{a['account']}",
                        settings.model_package_group,
                        platform.prefix,
                        a["bucket"],
                        a["key"],
                        deployment.region,
                        settings.evaluation_reports,
                    )
                )
            ),
            tags=platform.all_tags,
            opts=self.child(),
        )
        for i, arn in enumerate(settings.approvers):
            kind = approval.principal(arn)[1]
            # The account is known at deploy time only: attaching by name in another account would
            # grant a same-named principal there, so a mismatch stops `pulumi up`.
            who = foundation.account_id.apply(functools.partial(_same_account, arn, i=i))
            opts = self.child()
            if kind == "role":
                aws.iam.RolePolicyAttachment(f"{name}-approver-{i}", role=who, policy_arn=policy.arn, opts=opts)
            elif kind == "user":
                aws.iam.UserPolicyAttachment(f"{name}-approver-{i}", user=who, policy_arn=policy.arn, opts=opts)
            else:
                aws.iam.GroupPolicyAttachment(f"{name}-approver-{i}", group=who, policy_arn=policy.arn, opts=opts)
        self.out = RegistryOut(
            group_name=self.group.model_package_group_name,
            group_arn=self.group.arn,
            approval_status=settings.registration_status,
        )
        self.publish(model_registry=self.group.arn, approval=platform.registry.approval)


def _same_account(arn: str, account: str, i: int) -> str:
    """The approver's name to attach the policy to, if it is in the deploying account."""
    theirs, _, principal_name = approval.principal(arn)
    if theirs != account:
        raise ValueError(
            f"mlops:platform.registry.approvers[{i}]: {arn} is in account {theirs}, the stack deploys to "
            f"{account}; the approver policy can only be attached in {account}"
        )
    return principal_name
