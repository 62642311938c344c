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
    model = _served_model(plan)
    schedule = _training_schedule(plan)
    drift = _drift_alarm(plan)
    pipeline = plan.one("aws:sagemaker/pipeline:Pipeline").inputs
    definition = json.loads(pipeline["pipelineDefinition"])
    condition = next(s for s in definition["Steps"] if s["Type"] == "Condition")
    cond = condition["Arguments"]["Conditions"][0]
    metric = cond["LeftValue"]["Std:JsonGet"]["Path"].split(".")[-1]
    register = [s for s in condition["Arguments"]["IfSteps"] if "ModelApprovalStatus" in json.dumps(s)]
    status = json.loads(json.dumps(register[0]))
    approval = next(v for k, v in _walk(status) if k == "ModelApprovalStatus")
    subscription = plan.one("aws:sns/topicSubscription:TopicSubscription").inputs
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
        "monitor_schedule": _monitor_schedule(plan),
        "drift_threshold": drift["threshold"] if drift else None,
        "quality_gate": (metric, cond["RightValue"]),
        "approval": _FROM_SAGEMAKER_STATUS[approval],
        "retrain_on_drift": _retrain_function(plan) is not None,
        "alert_email": subscription["endpoint"],
        "served_version": int(model["primaryContainer"]["modelPackageName"].rsplit("/", 1)[-1]) if model else None,
    }


# ---- the one-loop keys (LOOP-WAVE item 5), each read from the declared resources ---------------
DRIFT_JOB_TARGET = "arn:aws:scheduler:::aws-sdk:sagemaker:createProcessingJob"
DRIFT_ENTRY = "aws_drift.py"
KIT_NAMESPACE_METRIC = "feature_drift"
BUILTIN_METRIC_PREFIX = "feature_baseline_drift_"
BUILTIN_STATISTIC = "sagemaker-model-monitor"


def extract_loop(plan: Any) -> dict[str, Any]:
    """``served_columns`` ... ``rollout`` for the contract suite; None where nothing is served."""
    served = _contract_request(plan) if _served_model(plan) else None
    config = _maybe(plan, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    captured = None
    if config and served is not None:
        modes = [o["captureMode"] for o in config["dataCaptureConfig"]["captureOptions"]]
        # Input only: the captured record is the request, which serving accepts only in these columns.
        captured = served if modes == ["Input"] else [*served, "<response>"]
    alarmed, published = _alarmed_columns(plan)
    job = _drift_job(plan)
    monitor = _maybe(plan, "aws:sagemaker/monitoringSchedule:MonitoringSchedule")
    statistic, window = None, None
    if job is not None:
        statistic = "kit"
        arguments = job["AppSpecification"]["ContainerArguments"]
        window = int(arguments[arguments.index("--window_hours") + 1])
    elif monitor is not None:
        statistic = BUILTIN_STATISTIC
        window = _interval_hours(monitor["monitoringScheduleConfig"]["scheduleConfig"]["scheduleExpression"])
    guard = _retrain_function(plan)
    return {
        "served_columns": served,
        "captured_columns": captured,
        "baseline_columns": _contract_request(plan) if _baseline_output(plan) else None,
        "drift_metric_columns": published or None,
        "alarm_columns": alarmed or None,
        "drift_statistic": statistic,
        "drift_window_hours": window,
        "retrain_cooldown_hours": int(float(guard["environment"]["variables"]["COOLDOWN_HOURS"])) if guard else None,
        "rollout": _rollout(plan),
    }


def _named(plan: Any, type_: str, suffix: str) -> dict[str, Any] | None:
    found = [r.inputs for r in plan.by_type(type_) if r.name.endswith(suffix)]
    return found[0] if found else None


def _served_model(plan: Any) -> dict[str, Any] | None:
    return _named(plan, "aws:sagemaker/model:Model", "-endpoint-model")  # not the shadow's


def _training_schedule(plan: Any) -> dict[str, Any] | None:
    found = [
        r.inputs for r in plan.by_type("aws:scheduler/schedule:Schedule") if ":pipeline/" in r.inputs["target"]["arn"]
    ]
    return found[0] if found else None


def _drift_job(plan: Any) -> dict[str, Any] | None:
    for r in plan.by_type("aws:scheduler/schedule:Schedule"):
        target = r.inputs["target"]
        if target["arn"] == DRIFT_JOB_TARGET:
            job = json.loads(target["input"])
            if DRIFT_ENTRY in job["AppSpecification"]["ContainerEntrypoint"]:
                return {**job, "_expression": r.inputs["scheduleExpression"]}
    return None


def _monitor_schedule(plan: Any) -> str | None:
    job = _drift_job(plan)
    if job is not None:
        return from_eventbridge_cron(job["_expression"])
    monitor = _maybe(plan, "aws:sagemaker/monitoringSchedule:MonitoringSchedule")
    if monitor is None:
        return None
    return from_eventbridge_cron(monitor["monitoringScheduleConfig"]["scheduleConfig"]["scheduleExpression"])


def _interval_hours(expression: str) -> int:
    hours = expression.removeprefix("cron(").split()[1]
    return 1 if hours == "*" else int(hours.split("/")[1]) if "/" in hours else 24


def _drift_alarm(plan: Any) -> dict[str, Any] | None:
    """The (first) alarm over per-column drift metrics."""
    for r in plan.by_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        if _columns_of(r.inputs):
            return r.inputs
    return None


def _columns_of(alarm: dict[str, Any]) -> list[str]:
    out = []
    for query in alarm.get("metricQueries") or []:
        metric = query.get("metric")
        if not metric:
            continue
        if metric["metricName"] == KIT_NAMESPACE_METRIC:
            out.append(metric["dimensions"]["Feature"])
        elif metric["metricName"].startswith(BUILTIN_METRIC_PREFIX):
            out.append(metric["metricName"].removeprefix(BUILTIN_METRIC_PREFIX))
    return out


def _alarmed_columns(plan: Any) -> tuple[list[str], list[str]]:
    """(columns an alert fires on, columns of every drift metric the alarms read). An alarm alerts
    when it notifies the topic itself or through a composite alarm naming it."""
    composite_names = " ".join(
        r.inputs["alarmRule"]
        for r in plan.by_type("aws:cloudwatch/compositeAlarm:CompositeAlarm")
        if r.inputs.get("alarmActions")
    )
    alarmed, published = [], []
    for r in plan.by_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        columns = _columns_of(r.inputs)
        published += columns
        if r.inputs.get("alarmActions") or f'ALARM("{r.inputs["name"]}")' in composite_names:
            alarmed += columns
    return alarmed, published


def _retrain_function(plan: Any) -> dict[str, Any] | None:
    """The Lambda the drift rule's target invokes (the retrain guard), if any."""
    targets = [t.inputs["arn"] for t in plan.by_type("aws:cloudwatch/eventTarget:EventTarget")]
    for r in plan.by_type("aws:lambda/function:Function"):
        if any(arn.endswith(f":function:{r.inputs['name']}") for arn in targets):
            return r.inputs
    return None


def _contract_request(plan: Any) -> list[str] | None:
    """The request columns of the data contract the step bundle ships (train saves them with the
    model as its request schema; training_data writes the baseline in them; the drift job reads them)."""
    for r in plan.by_type("aws:s3/bucketObjectv2:BucketObjectv2"):
        if r.inputs["key"].endswith("/mlops_contract.json"):
            return [c["name"] for c in json.loads(r.inputs["source"]["text"])["request"]]
    return None


def _baseline_output(plan: Any) -> bool:
    definition = json.loads(plan.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"])
    for step in definition["Steps"]:
        outputs = ((step.get("Arguments") or {}).get("ProcessingOutputConfig") or {}).get("Outputs") or []
        if step["Name"] == "training_data" and any(o["OutputName"] == "baseline" for o in outputs):
            return True
    return False


def _rollout(plan: Any) -> dict[str, Any] | None:
    endpoint = _maybe(plan, "aws:sagemaker/endpoint:Endpoint")
    if endpoint is None:
        return None
    deployment = endpoint.get("deploymentConfig")
    if not deployment:
        return {
            "strategy": "all_at_once",
            "canary_percent": None,
            "step_percent": None,
            "bake_minutes": 0,
            "rollback": {},
        }
    routing = deployment["blueGreenUpdatePolicy"]["trafficRoutingConfiguration"]
    alarms = {r.inputs["name"]: r.inputs for r in plan.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    rollback: dict[str, float] = {}
    for ref in (deployment.get("autoRollbackConfiguration") or {}).get("alarms") or []:
        alarm = alarms[ref["alarmName"]]
        if alarm["metricName"] == "Invocation5XXErrors" and alarm.get("statistic") == "Average":
            rollback["error_rate"] = alarm["threshold"]
        elif alarm["metricName"] == "ModelLatency" and alarm.get("extendedStatistic") == "p99":
            rollback["p99_latency_ms"] = alarm["threshold"] / 1000  # ModelLatency is in microseconds
    return {
        "strategy": routing["type"].lower(),
        "canary_percent": int(routing["canarySize"]["value"]) if routing.get("canarySize") else None,
        "step_percent": int(routing["linearStepSize"]["value"]) if routing.get("linearStepSize") else None,
        "bake_minutes": int(routing["waitIntervalInSeconds"] // 60),
        "rollback": rollback,
    }


def _walk(value: Any):
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def feature_io(plan: Any) -> dict[str, list[str]]:
    """The feature groups the kit's feature-store steps write (`store_features`) and read back
    (`training_data`): the groups of the step I/O configuration object each step is given, that
    name a feature group the plan declares."""
    declared = {r.inputs["featureGroupName"] for r in plan.by_type("aws:sagemaker/featureGroup:FeatureGroup")}
    configs = {
        r.inputs["key"]: json.loads(r.inputs["content"])
        for r in plan.by_type("aws:s3/bucketObjectv2:BucketObjectv2")
        if r.inputs["key"].endswith("mlops_io.json")
    }
    steps = {
        s["Name"]: s
        for s in json.loads(plan.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"])["Steps"]
    }

    def groups(step: str) -> list[str]:
        (uri,) = [
            i["S3Input"]["S3Uri"] for i in steps[step]["Arguments"]["ProcessingInputs"] if i["InputName"] == "mlops_io"
        ]
        config = configs[uri.split("/", 3)[3]]
        return sorted(g for g, where in config.get("groups", {}).items() if where["name"] in declared)

    return {"written": groups("store_features"), "read": groups("training_data")}
