"""The approval gate on AWS: what no kit identity may do to the registry, and who may approve.

A version's gate is its `ModelApprovalStatus`. CreateModelPackage takes it (botocore's sagemaker
model: `CreateModelPackageInput.ModelApprovalStatus`, optional, enum Approved | Rejected |
PendingManualApproval) and UpdateModelPackage changes it. So the identity the pipeline registers as
(the execution role, which every step, the served model and the drift job also run as) must not be
able to register a version with another status than the configured one, nor update any version:
otherwise any step code, or anyone able to start a run with altered code, approves its own model.

IAM can say this: the Service Authorization Reference for SageMaker ("Actions, resources, and
condition keys for Amazon SageMaker",
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html) lists
the condition key `sagemaker:ModelApprovalStatus` ("Filters access by the model approval status with
the model-package in the request", type String) on exactly two actions: CreateModelPackage and
UpdateModelPackage. `CONDITION_KEYS` below is the kit's copy of the keys it uses and the actions the
reference pairs them with; tests/aws/test_approval.py holds a literal copy taken from the page.

Two statements make the gate hold:

- the execution role's only CreateModelPackage grant is conditioned on `StringEquals` the
  configured status (manual: PendingManualApproval; auto: Approved), so a request without the key
  or with another value is not allowed by it;
- an explicit Deny of CreateModelPackage on `StringNotEquals` the configured status (which, for a
  key absent from the request, matches: "If the policy condition requires that the key is not
  matched, such as StringNotLike or ArnNotLike, and the right key is not present, the condition is
  true", "IAM JSON policy elements: Condition operators",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html)
  and of every UpdateModelPackage. An explicit deny wins over any allow ("Policy evaluation logic",
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html), so a
  broad policy an admin attaches to the role later (AmazonSageMakerFullAccess) does not reopen it.

The other kit roles (training starter, drift check, retrain guard) never touch the registry: they
get the same Deny on both actions, unconditioned.

`registry.approvers`: IAM role, user or group ARNs of this account. The kit creates the customer
managed policy `mlops-<prefix>-model-approver` (approve/reject and read this group's versions,
nothing else) and attaches it to each listed principal; with none listed, admins attach it
themselves, or reference it by name from an IAM Identity Center permission set (whose roles the
kit cannot change, so their ARNs are refused here).
"""

from __future__ import annotations

import re

from providers.spec import SpecError

CONDITION_KEY = "sagemaker:ModelApprovalStatus"
CONDITION_KEYS: dict[str, frozenset[str]] = {
    CONDITION_KEY: frozenset({"sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage"}),
}
"""Condition key -> the SageMaker actions the Service Authorization Reference lists it for (above)."""

REGISTRATION_STATUS = {"manual": "PendingManualApproval", "auto": "Approved"}
"""`registry.approval` -> the one status the pipeline may register a version with."""

APPROVER_ACTIONS = (
    "sagemaker:UpdateModelPackage",
    "sagemaker:DescribeModelPackage",
    "sagemaker:DescribeModelPackageGroup",
)
"""What `mlops model approve|reject|list` needs on the group and its versions (providers/aws/operations.py)."""

# IAM names: "alphanumeric ... plus =,.@-_" (+ for users and roles), paths of such segments
# ("IAM identifiers", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html).
_PRINCIPAL_RE = re.compile(
    r"^arn:aws(?:-cn|-us-gov)?:iam::(?P<account>\d{12}):(?P<kind>role|user|group)"
    r"/(?P<path>(?:[\w+=,.@-]+/)*)(?P<name>[\w+=,.@-]{1,128})$"
)
_SSO_PATH = "aws-reserved/sso.amazonaws.com/"
KIT_ROLES = (
    "foundation-sagemaker",
    "training-pipeline-starter",
    "model-monitor-drift-check",
    "retraining-trigger-guard",
)
"""The kit's own roles, named `<prefix>-<this>-<random suffix>` by Pulumi."""


def policy_name(prefix: str) -> str:
    return f"mlops-{prefix}-model-approver"


def check_approvers(arns: list[str], prefix: str, key: str) -> tuple[str, ...]:
    """`registry.approvers` on AWS: IAM role, user or group ARNs, each once, all in one account, none
    an Identity Center role and none of the kit's own roles."""
    seen: set[str] = set()
    accounts: set[str] = set()
    for i, arn in enumerate(arns):
        where = f"{key}[{i}]"
        m = _PRINCIPAL_RE.match(arn)
        if m is None:
            raise SpecError(
                where,
                f"{arn!r} is not an IAM role, user or group ARN (arn:aws:iam::<12-digit account>:role/NAME, "
                "user/NAME or group/NAME; IAM identifiers, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html)",
            )
        if m["path"].startswith(_SSO_PATH):
            raise SpecError(
                where,
                f"{arn} is an IAM Identity Center role, which only Identity Center may change; leave it out and "
                f"add the customer managed policy {policy_name(prefix)} to its permission set",
            )
        if m["kind"] == "role" and any(m["name"].startswith(f"{prefix}-{r}") for r in KIT_ROLES):
            raise SpecError(where, f"{arn} is a role the kit runs as; an approver must be someone else")
        if arn in seen:
            raise SpecError(where, f"{arn} is listed twice")
        accounts.add(m["account"])
        if len(accounts) > 1:
            raise SpecError(
                where,
                f"{arn} is in account {m['account']}, another approver in {min(accounts - {m['account']})}: the kit "
                "attaches its approver policy to principals of the stack's own account only",
            )
        seen.add(arn)
    return tuple(arns)


def principal(arn: str) -> tuple[str, str, str]:
    """(account, kind, name) of a checked approver ARN."""
    m = _PRINCIPAL_RE.match(arn)
    if m is None:  # check_approvers ran first
        raise ValueError(arn)
    return m["account"], m["kind"], m["name"]


def registration_statements(sm: str, group: str, status: str) -> list[dict]:
    """The execution role's registry grants: create versions of `group` with `status` only, read them,
    and never change a version's approval (see the module docstring for the sources)."""
    return [
        {
            "Sid": "RegisterAsConfigured",
            "Effect": "Allow",
            "Action": "sagemaker:CreateModelPackage",
            "Resource": [f"{sm}:model-package-group/{group}", f"{sm}:model-package/{group}/*"],
            "Condition": {"StringEquals": {CONDITION_KEY: status}},
        },
        {
            # No sagemaker:ListModelPackages: nothing the role runs lists packages (the register
            # step creates one), and a List action's resource scoping is the Service Authorization
            # Reference's to say, not ours to guess.
            "Sid": "Registry",
            "Effect": "Allow",
            "Action": ["sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup"],
            "Resource": [f"{sm}:model-package-group/{group}", f"{sm}:model-package/{group}/*"],
        },
        {
            "Sid": "NeverRegisterOtherwise",
            "Effect": "Deny",
            "Action": "sagemaker:CreateModelPackage",
            "Resource": "*",
            "Condition": {"StringNotEquals": {CONDITION_KEY: status}},
        },
        {"Sid": "NeverApprove", "Effect": "Deny", "Action": "sagemaker:UpdateModelPackage", "Resource": "*"},
    ]


NO_REGISTRY_STATEMENT = {
    "Sid": "NeverTheRegistry",
    "Effect": "Deny",
    "Action": ["sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage"],
    "Resource": "*",
}
"""For the kit's roles that never register or approve (starter, drift check, retrain guard)."""


def approver_policy(sm: str, group: str, prefix: str, bucket_arn: str, key_arn: str, region: str, reports: str) -> dict:
    """What `mlops model approve|reject|list` reads and changes, on this platform only: the versions
    (and their approval), the evaluation report each version carries (its gate metrics, in the
    platform's bucket under its key), and what the endpoint serves. ListModelPackages is on "*": the
    reference gives it no resource the kit can scope to one group (it returns names and statuses)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ApproveThisRegistry",
                "Effect": "Allow",
                "Action": list(APPROVER_ACTIONS),
                "Resource": [f"{sm}:model-package-group/{group}", f"{sm}:model-package/{group}/*"],
            },
            {"Sid": "ListVersions", "Effect": "Allow", "Action": "sagemaker:ListModelPackages", "Resource": "*"},
            {
                "Sid": "ReadEvaluationReports",
                "Effect": "Allow",
                "Action": "s3:GetObject",
                "Resource": f"{bucket_arn}/{reports}",
            },
            {
                "Sid": "DecryptEvaluationReports",
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            },
            {
                "Sid": "SeeWhatIsServed",
                "Effect": "Allow",
                "Action": ["sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
                "Resource": [
                    f"{sm}:endpoint/{prefix}-endpoint-*",
                    f"{sm}:endpoint-config/{prefix}-endpoint-*",
                    f"{sm}:model/{prefix}-endpoint-*",
                ],
            },
        ],
    }
