"""Tags on every AWS resource that takes them (issue 8 item 13), decided by botocore, not by hand.

A resource type is taggable when the request that creates it has a tag member (``Tags``, ``tags``,
``Tagging``, ``TagSpecifications``) in botocore's model, or its tags travel in a second call the
provider makes (``routed``: S3 buckets). Every such resource of every planned stack must carry the
kit's tags; the types that take none are listed here, literally, so a new one is looked at.
"""

from __future__ import annotations

import json

import pytest

from providers.aws import vendor_rules as vr
from tests.aws.stacks import STACKS

TAG_MEMBERS = ("Tags", "tags", "Tagging", "TagSpecifications")
# Created by requests with no tag member in botocore's model (the API cannot tag them).
UNTAGGABLE = {
    "aws:kms/alias:Alias",  # CreateAlias
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",  # PutPublicAccessBlock
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketPolicy:BucketPolicy",
    "aws:iam/rolePolicy:RolePolicy",  # PutRolePolicy
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",  # AttachRolePolicy
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",  # AttachUserPolicy
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",  # AttachGroupPolicy
    "aws:appautoscaling/policy:Policy",  # PutScalingPolicy
    "aws:scheduler/schedule:Schedule",  # CreateSchedule: only schedule groups are taggable
    "aws:cloudwatch/eventTarget:EventTarget",  # PutTargets
    "aws:sns/topicSubscription:TopicSubscription",  # Subscribe
    "aws:sqs/queuePolicy:QueuePolicy",  # SetQueueAttributes
    "aws:sns/topicPolicy:TopicPolicy",  # SetTopicAttributes
    "aws:ec2/routeTableAssociation:RouteTableAssociation",  # AssociateRouteTable
    "aws:lambda/permission:Permission",  # AddPermission (a statement of the function's resource policy)
}


def _taggable(type_: str) -> bool:
    rule = vr.RESOURCES[type_]
    shape = vr.service_model(rule.service).operation_model(rule.operation).input_shape
    return any(m in shape.members for m in TAG_MEMBERS) or "tags" in rule.routed


def test_the_untaggable_list_is_botocores():
    for type_ in vr.RESOURCES:
        assert _taggable(type_) is (type_ not in UNTAGGABLE), type_


@pytest.mark.parametrize("stack", STACKS)
def test_every_taggable_resource_carries_the_kit_tags(aws_plans, stack):
    untagged = []
    resources = vr.realistic([r.to_json() for r in aws_plans[stack].resources if r.type.startswith("aws:")])
    for r in resources:
        if not _taggable(r["type"]):
            continue
        sent = [
            params.get(member)
            for _service, _operation, params, _ in vr.resource_requests(r)
            for member in TAG_MEMBERS
            if params.get(member) is not None
        ]
        if not any("mlops-platform" in json.dumps(s) and "mlops-environment" in json.dumps(s) for s in sent):
            untagged.append(f"{r['type']} {r['name']}")
    assert untagged == []


def test_user_tags_reach_objects_while_s3_takes_them(aws_plans):
    # aws-dev: 3 tags (S3 takes 10 per object); aws-all-options: 11, so objects carry the kit's two.
    def object_tags(stack):
        return {
            tuple(sorted(r.inputs["tags"])) for r in aws_plans[stack].by_type("aws:s3/bucketObjectv2:BucketObjectv2")
        }

    assert object_tags("aws-dev") == {("mlops-environment", "mlops-platform", "team")}
    assert object_tags("aws-all-options") == {("mlops-environment", "mlops-platform")}
    role = aws_plans["aws-all-options"].by_type("aws:iam/role:Role")[0].inputs["tags"]
    assert len(role) == 11  # elsewhere every tag


def test_more_than_ten_tags_on_an_object_is_refused():
    from urllib.parse import urlencode

    request = {"Bucket": "b", "Key": "k", "Tagging": urlencode({f"k{i}": "v" for i in range(11)})}
    (violation,) = vr.check_request("s3", "PutObject", request)
    assert violation.rule == "at most 10 tags per object (is 11)"
    request["Tagging"] = urlencode({f"k{i}": "v" for i in range(10)})
    assert vr.check_request("s3", "PutObject", request) == []
