"""Operational settings of the AWS plan, asserted literally (issue 16 items 3, 4, 5).

Protection of data-bearing resources against the kit's own catalog (with the exceptions written
here, and why), encryption of everything that stores or moves data, every alarm's missing-data
treatment, scaling cooldowns, and every numeric knob at its bounds held against AWS's rules.
"""

from __future__ import annotations

import json

import pytest

from infra.config import load_stack_file, resolve
from infra.plan import plan
from providers.aws import catalog
from providers.spec import SpecError
from tests.aws.stacks import EXAMPLE, STACKS, with_changes, write

KEY = "arn:aws:kms:eu-west-1:123456789012:key/churn-dev-foundation-key-key-id"

# The kit's list of what loses data on delete/replace (providers/aws/catalog.py), literally.
DATA_BEARING = {
    "aws:s3/bucket:Bucket": "bucket",
    "aws:kms/key:Key": "encryption key",
    "aws:sagemaker/featureGroup:FeatureGroup": "feature group",
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": "model registry",
}
# Every other type the plans declare, and why deleting or replacing it loses nothing.
NOT_DATA_BEARING = {
    "aws:appautoscaling/policy:Policy": "configuration",
    "aws:appautoscaling/target:Target": "configuration",
    "aws:cloudwatch/eventRule:EventRule": "configuration",
    "aws:cloudwatch/eventTarget:EventTarget": "configuration",
    "aws:cloudwatch/logGroup:LogGroup": "the retrain guard's log (30 days): why an alert did or did not retrain",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "configuration; metric history stays in CloudWatch",
    "aws:ec2/routeTable:RouteTable": "network configuration",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "network configuration",
    "aws:ec2/securityGroup:SecurityGroup": "network configuration",
    "aws:ec2/subnet:Subnet": "network configuration",
    "aws:ec2/vpc:Vpc": "network configuration",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "network configuration",
    "aws:iam/role:Role": "identity",
    "aws:iam/rolePolicy:RolePolicy": "identity",
    "aws:iam/policy:Policy": "identity (the approver policy)",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "identity",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment": "identity",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment": "identity",
    "aws:kms/alias:Alias": "a name for the key",
    "aws:lambda/function:Function": "the retrain guard's code, from the repository",
    "aws:lambda/permission:Permission": "configuration",
    "aws:s3/bucketObjectv2:BucketObjectv2": "the step code, wheelhouse and step I/O configuration, uploaded again",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "bucket configuration",
    "aws:s3/bucketPolicy:BucketPolicy": "bucket configuration",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "bucket configuration",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": "bucket configuration",
    "aws:s3/bucketVersioning:BucketVersioning": "bucket configuration",
    "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition": "configuration; reports are in the bucket",
    "aws:sagemaker/endpoint:Endpoint": "serves a registry version; the captured data is in the bucket",
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": "configuration",
    "aws:sagemaker/model:Model": "a pointer to a registry version",
    "aws:sagemaker/monitoringSchedule:MonitoringSchedule": "configuration",
    "aws:sagemaker/pipeline:Pipeline": "generated from pipelines/; run outputs are in the bucket",
    "aws:scheduler/schedule:Schedule": "configuration",
    "aws:scheduler/scheduleGroup:ScheduleGroup": "holds the schedule; configuration",
    "aws:sns/topic:Topic": "delivers, stores nothing",
    "aws:sns/topicPolicy:TopicPolicy": "configuration",
    "aws:sns/topicSubscription:TopicSubscription": "configuration (re-confirmed by e-mail when recreated)",
    "aws:sqs/queue:Queue": "failed pipeline starts only (kept 14 days); an empty queue is recreated",
    "aws:sqs/queuePolicy:QueuePolicy": "configuration",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "network configuration",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "network configuration",
}


def test_the_catalog_of_data_bearing_types_is_this_one():
    assert catalog.DATA_BEARING == DATA_BEARING


@pytest.mark.parametrize("stack", STACKS)
def test_every_data_bearing_resource_is_protected_and_nothing_else(aws_plans, stack):
    resources = [r for r in aws_plans[stack].resources if r.custom]
    assert {r.type for r in resources} <= set(DATA_BEARING) | set(NOT_DATA_BEARING)
    assert sorted({r.type for r in resources if r.protect}) == sorted(DATA_BEARING)
    assert [r.name for r in resources if r.type in DATA_BEARING and not r.protect] == []


def test_every_alarm_treats_missing_data_this_way(aws_plans):
    # Literal, so a change is deliberate. A window under min_samples publishes no drift (no verdict:
    # not breaching); a drift check that stopped running is missing heartbeats (breaching); no
    # invocations during a rollout is no evidence against the new version (not breaching).
    alarms = {
        stack: sorted(
            (a.inputs["name"], a.inputs["treatMissingData"])
            for a in aws_plans[stack].by_type("aws:cloudwatch/metricAlarm:MetricAlarm")
        )
        for stack in STACKS
    }
    assert alarms == {
        "aws-dev": [
            ("churn-dev-capture-unreadable", "notBreaching"),
            ("churn-dev-drift-check-silent", "breaching"),
            ("churn-dev-feature-drift", "notBreaching"),
            ("churn-dev-retrain-guard-errors", "notBreaching"),
            ("churn-dev-start-failures", "notBreaching"),
        ],
        "aws-public": [
            ("churn-dev-capture-unreadable", "notBreaching"),
            ("churn-dev-drift-check-silent", "breaching"),
            ("churn-dev-feature-drift", "notBreaching"),
            ("churn-dev-retrain-guard-errors", "notBreaching"),
            ("churn-dev-start-failures", "notBreaching"),
        ],
        "aws-all-options": [
            ("churn-prediction-eu1-staging-capture-unreadable", "notBreaching"),
            ("churn-prediction-eu1-staging-drift-check-silent", "breaching"),
            ("churn-prediction-eu1-staging-feature-drift", "notBreaching"),
            ("churn-prediction-eu1-staging-retrain-guard-errors", "notBreaching"),
            ("churn-prediction-eu1-staging-rollout-error-rate", "notBreaching"),
            ("churn-prediction-eu1-staging-rollout-error-rate-all", "notBreaching"),
            ("churn-prediction-eu1-staging-rollout-p99-latency", "notBreaching"),
            ("churn-prediction-eu1-staging-start-failures", "notBreaching"),
        ],
        "aws-builtin": [
            ("churn-dev-drift-check-silent", "breaching"),
            ("churn-dev-feature-drift", "notBreaching"),
            ("churn-dev-retrain-guard-errors", "notBreaching"),
            ("churn-dev-rollout-error-rate", "notBreaching"),
            ("churn-dev-rollout-error-rate-all", "notBreaching"),
            ("churn-dev-start-failures", "notBreaching"),
        ],
    }


def _steps(plan) -> dict[str, dict]:
    definition = json.loads(plan.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"])
    steps = {s["Name"]: s for s in definition["Steps"]}
    for s in list(steps.values()):
        for branch in ("IfSteps", "ElseSteps"):
            steps.update({b["Name"]: b for b in s["Arguments"].get(branch) or []})
    return steps


@pytest.mark.parametrize("stack", ["aws-dev", "aws-public"])
def test_everything_that_stores_or_moves_data_is_encrypted_with_the_platform_key(aws_plans, stack):
    plan = aws_plans[stack]

    def one(type_: str) -> dict:
        return plan.one(type_).inputs

    sse = one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")["rules"][0]
    drift_job = json.loads(
        next(
            s.inputs["target"]["input"]
            for s in plan.by_type("aws:scheduler/schedule:Schedule")
            if s.inputs["name"] == "churn-dev-drift-check"
        )
    )
    found = {
        "bucket": (sse["applyServerSideEncryptionByDefault"], sse["bucketKeyEnabled"]),
        "objects": {
            (o.inputs["serverSideEncryption"], o.inputs["kmsKeyId"])
            for o in plan.by_type("aws:s3/bucketObjectv2:BucketObjectv2")
        },
        "feature store": (
            one("aws:sagemaker/featureGroup:FeatureGroup")["offlineStoreConfig"]["s3StorageConfig"]["kmsKeyId"],
            one("aws:sagemaker/featureGroup:FeatureGroup")["onlineStoreConfig"]["securityConfig"]["kmsKeyId"],
        ),
        "endpoint": (
            one("aws:sagemaker/endpointConfiguration:EndpointConfiguration")["kmsKeyArn"],
            one("aws:sagemaker/endpointConfiguration:EndpointConfiguration")["dataCaptureConfig"]["kmsKeyId"],
        ),
        "drift check": (
            drift_job["ProcessingOutputConfig"]["KmsKeyId"],
            drift_job["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"],
        ),
        "alert topic": one("aws:sns/topic:Topic")["kmsMasterKeyId"],
        "dead letters": one("aws:sqs/queue:Queue")["kmsMasterKeyId"],
        "schedules": {s.inputs["kmsKeyArn"] for s in plan.by_type("aws:scheduler/schedule:Schedule")},
        "guard log": one("aws:cloudwatch/logGroup:LogGroup")["kmsKeyId"],
    }
    for name, step in _steps(plan).items():
        args = step["Arguments"]
        if step["Type"] in ("Processing", "QualityCheck"):
            found[name] = (
                args["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"],
                args["ProcessingOutputConfig"]["KmsKeyId"],
            )
        elif step["Type"] == "Training":
            found[name] = (args["ResourceConfig"]["VolumeKmsKeyId"], args["OutputDataConfig"]["KmsKeyId"])
    assert found == {
        "bucket": ({"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}, True),
        "objects": {("aws:kms", KEY)},
        "feature store": (KEY, KEY),
        "endpoint": (KEY, KEY),
        "drift check": (KEY, KEY),
        "alert topic": "churn-dev-foundation-key-key-id",  # SNS takes the key id
        "dead letters": KEY,
        "schedules": {KEY},
        "guard log": KEY,
        "validate": (KEY, KEY),
        "publish_baseline": (KEY, KEY),
        "features": (KEY, KEY),
        "store_features": (KEY, KEY),
        "training_data": (KEY, KEY),
        "train": (KEY, KEY),
        "evaluate": (KEY, KEY),
    }


def test_scaling_cooldowns_and_metric(aws_plans):
    policy = aws_plans["aws-dev"].one("aws:appautoscaling/policy:Policy").inputs
    config = policy["targetTrackingScalingPolicyConfiguration"]
    assert (policy["policyType"], config["scaleInCooldown"], config["scaleOutCooldown"]) == (
        "TargetTrackingScaling",
        300,
        60,
    )
    metric = config["customizedMetricSpecification"]
    assert (metric["metricName"], metric["namespace"], metric["statistic"], metric["unit"]) == (
        "CPUUtilization",
        "/aws/sagemaker/Endpoints",
        "Average",
        "Percent",
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_start_is_retried_then_dead_lettered(aws_plans, stack):
    plan = aws_plans[stack]
    queue = plan.one("aws:sqs/queue:Queue")
    arn_suffix = f":{queue.inputs['name']}"
    targets = [s.inputs["target"] for s in plan.by_type("aws:scheduler/schedule:Schedule")]
    # The failed-drift-check alert goes to the topic: not a start.
    targets += [
        t.inputs
        for t in plan.by_type("aws:cloudwatch/eventTarget:EventTarget")
        if not t.inputs["rule"].endswith("-drift-check-failed")
    ]
    # the training schedule, the drift check's schedule (kit engine), the drift rule's guard
    assert len(targets) == {"aws-builtin": 2}.get(stack, 3)
    for target in targets:
        assert target["retryPolicy"] == {"maximumRetryAttempts": 3, "maximumEventAgeInSeconds": 3600}
        assert target["deadLetterConfig"]["arn"].endswith(arn_suffix)


# ---- every numeric knob at its bounds -----------------------------------------------------------

LOW = {
    "pipeline": {"instance": "small", "quality_gate": {"metric": "roc_auc", "threshold": 0.0}},
    "endpoint": {
        "model_version": 1,
        "instance": "small",
        "min_replicas": 1,
        "max_replicas": 1,
        "target_cpu_percent": 10,
        "data_capture_percent": 1,
    },
    "monitor": {"drift_threshold": 1e-9},
}
HIGH = {
    "pipeline": {"instance": "large", "quality_gate": {"metric": "roc_auc", "threshold": 1.0}},
    "endpoint": {
        "model_version": 1,
        "instance": "large",
        "min_replicas": 100,
        "max_replicas": 100,
        "target_cpu_percent": 95,
        "data_capture_percent": 100,
    },
    "monitor": {"drift_threshold": 1.0},
}


@pytest.mark.parametrize(
    ("bounds", "expected"),
    [
        # (min, max capacity, initial count, CPU target in summed-vCPU percent, capture %, alarm threshold, gate)
        (LOW, (1, 1, 1, 20.0, 1, 1e-9, 0.0)),  # 10% of 2 vCPUs
        (HIGH, (100, 100, 100, 760.0, 100, 1.0, 1.0)),  # 95% of 8 vCPUs
    ],
    ids=["low", "high"],
)
def test_every_knob_at_its_bound_plans_within_aws_rules(tmp_path, bounds, expected):
    # plan() holds every request against botocore's rules (mlops plan's check): it raises if one breaks.
    document = with_changes(EXAMPLE, **bounds)
    result = plan(load_stack_file(write(tmp_path, "aws-bounds", document)))
    target = result.one("aws:appautoscaling/target:Target").inputs
    policy = result.one("aws:appautoscaling/policy:Policy").inputs["targetTrackingScalingPolicyConfiguration"]
    config = result.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration").inputs
    alarm = next(
        a.inputs for a in result.by_type("aws:cloudwatch/metricAlarm:MetricAlarm") if a.inputs["name"].endswith("drift")
    )
    definition = json.loads(result.one("aws:sagemaker/pipeline:Pipeline").inputs["pipelineDefinition"])
    gate = next(s for s in definition["Steps"] if s["Type"] == "Condition")["Arguments"]["Conditions"][0]
    assert (
        target["minCapacity"],
        target["maxCapacity"],
        config["productionVariants"][0]["initialInstanceCount"],
        policy["targetValue"],
        config["dataCaptureConfig"]["initialSamplingPercentage"],
        alarm["threshold"],
        gate["RightValue"],
    ) == expected


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("endpoint", "min_replicas", 0),
        ("endpoint", "max_replicas", 101),
        ("endpoint", "target_cpu_percent", 9),
        ("endpoint", "target_cpu_percent", 96),
        ("endpoint", "data_capture_percent", 0),
        ("endpoint", "data_capture_percent", 101),
        ("monitor", "drift_threshold", 0.0),
        ("monitor", "drift_threshold", 1.01),
    ],
)
def test_one_past_each_bound_is_refused_naming_the_key(section, key, value):
    config = with_changes(EXAMPLE, **{section: {key: value}})["config"]
    with pytest.raises(SpecError) as info:
        resolve("t", config.get)
    assert info.value.key.startswith(f"mlops:platform.{section}")
