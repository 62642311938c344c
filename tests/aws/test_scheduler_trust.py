"""Every role EventBridge Scheduler assumes trusts a schedule GROUP, and the schedules are in it.

"Confused deputy prevention in EventBridge Scheduler"
(https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html):
the `aws:SourceArn` of a schedule execution role's trust must be the schedule group's ARN, "Do not scope
the aws:SourceArn statement to a specific schedule or a schedule name prefix". ARN shapes, from the
Service Authorization Reference ("Actions, resources, and condition keys for Amazon EventBridge
Scheduler", https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridgescheduler.html):
`schedule-group/${GroupName}` and `schedule/${GroupName}/${ScheduleName}`.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.aws.stacks import DOCUMENTS

ACCOUNT = "123456789012"
GROUP_ARN = "^arn:aws:scheduler:{region}:123456789012:schedule-group/(?P<group>[0-9A-Za-z._-]{{1,64}})$"
SOURCE_ARN_OPERATORS = {"ArnEquals", "ArnLike", "StringEquals", "StringLike"}


def _statements(resource, key):
    value = resource.inputs.get(key)
    return json.loads(value)["Statement"] if isinstance(value, str) and '"Statement"' in value else []


def _services(statement) -> list[str]:
    service = (statement.get("Principal") or {}).get("Service", [])
    return [service] if isinstance(service, str) else list(service)


def _region(stack: str) -> str:
    return DOCUMENTS[stack]["config"].get("aws:region", "eu-west-1")


def _schedule_arn(schedule, region: str) -> str:
    group = schedule.inputs.get("groupName") or "default"
    return f"arn:aws:scheduler:{region}:{ACCOUNT}:schedule/{group}/{schedule.inputs['name']}"


@pytest.mark.parametrize("stack", sorted(DOCUMENTS))
def test_every_scheduler_trust_names_a_planned_schedule_group(aws_plans, stack):
    plan = aws_plans[stack]
    groups = {g.inputs["name"] for g in plan.by_type("aws:scheduler/scheduleGroup:ScheduleGroup")}
    schedules = plan.by_type("aws:scheduler/schedule:Schedule")
    trusted: set[str] = set()
    for role in plan.by_type("aws:iam/role:Role"):
        for statement in _statements(role, "assumeRolePolicy"):
            if "scheduler.amazonaws.com" not in _services(statement):
                continue
            conditions = statement.get("Condition") or {}
            sources = [
                value
                for operator, keys in conditions.items()
                if operator in SOURCE_ARN_OPERATORS
                for key, value in keys.items()
                if key.lower() == "aws:sourcearn"
            ]
            assert sources, f"{role.name}: scheduler trust without aws:SourceArn"
            for source in sources:
                match = re.match(GROUP_ARN.format(region=_region(stack)), source)
                assert match, f"{role.name}: aws:SourceArn {source!r} is not a schedule group ARN"
                trusted.add(match["group"])
            assert conditions["StringEquals"]["aws:SourceAccount"] == ACCOUNT
    for schedule in schedules:
        group = schedule.inputs.get("groupName")
        assert group in groups, f"{schedule.name}: in group {group!r}, not one the kit declares"
        assert group in trusted, f"{schedule.name}: no scheduler trust names its group {group!r}"


@pytest.mark.parametrize("stack", sorted(DOCUMENTS))
def test_every_schedule_payload_key_condition_names_a_planned_schedule(aws_plans, stack):
    plan = aws_plans[stack]
    arns = {_schedule_arn(s, _region(stack)) for s in plan.by_type("aws:scheduler/schedule:Schedule")}
    for resource in plan.resources:
        for key in ("policy", "assumeRolePolicy"):
            for statement in _statements(resource, key):
                for keys in (statement.get("Condition") or {}).values():
                    value = keys.get("kms:EncryptionContext:aws:scheduler:schedule:arn")
                    if value is not None:
                        assert value in arns, f"{resource.name}: {value!r} is no planned schedule"


def test_the_example_schedules_are_in_the_platform_groups(aws_plans):
    plan = aws_plans["aws-dev"]
    groups = sorted(g.inputs["name"] for g in plan.by_type("aws:scheduler/scheduleGroup:ScheduleGroup"))
    assert groups == ["churn-dev", "churn-dev-drift"]
    assert sorted(_schedule_arn(s, "eu-west-1") for s in plan.by_type("aws:scheduler/schedule:Schedule")) == [
        "arn:aws:scheduler:eu-west-1:123456789012:schedule/churn-dev-drift/churn-dev-drift-check",
        "arn:aws:scheduler:eu-west-1:123456789012:schedule/churn-dev/churn-dev-training",
    ]
