"""Recover the portable settings from an AWS plan's resource inputs."""

from __future__ import annotations

import json
from typing import Any

_FROM_SAGEMAKER_STATUS = {"PendingManualApproval": "manual", "Approved": "auto"}


_FIELD_MAX = (59, 23, 31, 12)  # minute, hour, day of month, month


def from_eventbridge_cron(expression: str) -> str:
    """`cron(0 3 ? * * *)` -> `0 3 * * *` (the inverse of the kit's translation, for these tests).

    EventBridge's increment `a/n` (a, a+n, ... to the field's end) is unix `a-MAX/n`."""
    fields = expression.removeprefix("cron(").removesuffix(")").split()[:5]
    fields = ["*" if f == "?" else f for f in fields]
    for i, field in enumerate(fields[:4]):
        start, slash, step = field.partition("/")
        if slash and start != "*":
            fields[i] = f"{start}-{_FIELD_MAX[i]}/{step}"
    if fields[4] != "*":
        fields[4] = ",".join("-".join(str(int(d) - 1) for d in item.split("-")) for item in fields[4].split(","))
    return " ".join(fields)


def _maybe(plan: Any, type_: str) -> dict[str, Any] | None:
    found = plan.by_type(type_)
    return found[0].inputs if found else None


def extract(plan: Any) -> dict[str, Any]:
    """Values of resources the description left out (nothing served, no schedule) come back None."""
    groups, types = {}, {}
    for fg in plan.by_type("aws:sagemaker/featureGroup:FeatureGroup"):
        i = fg.inputs
        name = i["featureGroupName"].split("-", 2)[-1]  # <name>-<environment>-<group>
        columns = [d["featureName"] for d in i["featureDefinitions"]]
        groups[name] = {
            "entity": i["recordIdentifierFeatureName"],
            "event_time": i["eventTimeFeatureName"],
            "online": bool(i.get("onlineStoreConfig", {}).get("enableOnlineStore")),
            "features": [c for c in columns if c not in (i["recordIdentifierFeatureName"], i["eventTimeFeatureName"])],
        }
        types[name] = {
            d["featureName"]: d["featureType"]
            for d in i["featureDefinitions"]
            if d["featureName"] in groups[name]["features"]
        }
    target = _maybe(plan, "aws:appautoscaling/target:Target")
    policy = _maybe(plan, "aws:appautoscaling/policy:Policy")
    config = _maybe(plan, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    model = _maybe(plan, "aws:sagemaker/model:Model")
    schedule = _maybe(plan, "aws:scheduler/schedule:Schedule")
    monitor = _maybe(plan, "aws:sagemaker/monitoringSchedule:MonitoringSchedule")
    alarm = _maybe(plan, "aws:cloudwatch/metricAlarm:MetricAlarm")
    pipeline = plan.one("aws:sagemaker/pipeline:Pipeline").inputs
    definition = json.loads(pipeline["pipelineDefinition"])
    condition = next(s for s in definition["Steps"] if s["Type"] == "Condition")
    cond = condition["Arguments"]["Conditions"][0]
    metric = cond["LeftValue"]["Std:JsonGet"]["Path"].split(".")[-1]
    register = [s for s in condition["Arguments"]["IfSteps"] if "ModelApprovalStatus" in json.dumps(s)]
    status = json.loads(json.dumps(register[0]))
    approval = next(v for k, v in _walk(status) if k == "ModelApprovalStatus")
    subscription = plan.one("aws:sns/topicSubscription:TopicSubscription").inputs
    targets = plan.by_type("aws:cloudwatch/eventTarget:EventTarget")
    vcpus = None
    if config:
        instance = config["productionVariants"][0]["instanceType"]
        # vCPUs of each size's instance type (EC2 DescribeInstanceTypes), written here, not imported.
        vcpus = {"ml.m5.large": 2, "ml.m5.xlarge": 4, "ml.m5.2xlarge": 8, "ml.g4dn.xlarge": 4}[instance]
    capture = config["dataCaptureConfig"] if config else None
    return {
        "feature_groups": groups,
        "feature_types": types,
        "replicas": (target["minCapacity"], target["maxCapacity"]) if target else None,
        "cpu_target": int(policy["targetTrackingScalingPolicyConfiguration"]["targetValue"] / vcpus)
        if policy
        else None,
        "data_capture_percent": (capture["initialSamplingPercentage"] if capture["enableCapture"] else 0)
        if capture
        else None,
        "training_schedule": from_eventbridge_cron(schedule["scheduleExpression"]) if schedule else None,
        "monitor_schedule": from_eventbridge_cron(
            monitor["monitoringScheduleConfig"]["scheduleConfig"]["scheduleExpression"]
        )
        if monitor
        else None,
        "drift_threshold": alarm["threshold"] if alarm else None,
        "quality_gate": (metric, cond["RightValue"]),
        "approval": _FROM_SAGEMAKER_STATUS[approval],
        "retrain_on_drift": any(t.inputs.get("sagemakerPipelineTarget") for t in targets),
        "alert_email": subscription["endpoint"],
        "served_version": int(model["primaryContainer"]["modelPackageName"].rsplit("/", 1)[-1]) if model else None,
    }


def _walk(value: Any):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)
