"""The AWS program under Pulumi mocks: the inputs that matter, as `pulumi up` would send them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from infra.config import StackFile, load_stack_file
from infra.plan import plan

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "Pulumi.aws-dev.yaml"


@pytest.fixture(scope="module")
def planned():
    return plan(load_stack_file(STACK))


def stack_with(tmp_path: Path, mutate) -> StackFile:
    document = yaml.safe_load(STACK.read_text())
    mutate(document["config"])
    path = tmp_path / "Pulumi.aws-test.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_stack_file(path)


def test_only_aws_resources_and_seven_components(planned):
    types = {r.type for r in planned.resources}
    assert all(t.startswith(("aws:", "mlops:aws:")) for t in types)
    components = sorted(r.type for r in planned.resources if not r.custom)
    assert len(components) == 7


def test_key_rotates_and_bucket_is_private_versioned_and_kms_encrypted(planned):
    key = planned.one("aws:kms/key:Key")
    assert key.inputs["enableKeyRotation"] is True
    block = planned.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(
        block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    )
    assert planned.one("aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"] == {
        "status": "Enabled"
    }
    rule = planned.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs[
        "rules"
    ][0]["applyServerSideEncryptionByDefault"]
    assert rule["sseAlgorithm"] == "aws:kms"
    assert rule["kmsMasterKeyId"].startswith("arn:aws:kms:eu-west-1:")
    policy = json.loads(planned.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])
    assert policy["Statement"][0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_data_bearing_resources_are_protected(planned):
    protected = {r.type for r in planned.resources if r.protect}
    assert protected == {
        "aws:kms/key:Key",
        "aws:s3/bucket:Bucket",
        "aws:sagemaker/featureGroup:FeatureGroup",
        "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
    }


def test_feature_group_description_is_set_once(planned):
    # SageMaker would replace (and empty) the group for a new description: Pulumi must ignore edits.
    assert planned.one("aws:sagemaker/featureGroup:FeatureGroup").ignore_changes == ["description"]


def test_key_policy_lets_cloudwatch_publish_to_the_encrypted_topic(planned):
    policy = json.loads(planned.one("aws:kms/key:Key").inputs["policy"])
    cloudwatch = next(s for s in policy["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"})
    assert cloudwatch["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_protection_can_be_turned_off_explicitly(tmp_path):
    stack = stack_with(tmp_path, lambda c: c["mlops:platform"].update(protect_data=False))
    assert not any(r.protect for r in plan(stack).resources)


def test_execution_role_is_least_privilege(planned):
    policy = json.loads(
        planned.one("aws:iam/rolePolicy:RolePolicy").inputs["policy"]
        if len(planned.by_type("aws:iam/rolePolicy:RolePolicy")) == 1
        else next(
            r for r in planned.by_type("aws:iam/rolePolicy:RolePolicy") if r.name.endswith("sagemaker-policy")
        ).inputs["policy"]
    )
    actions = [
        a for s in policy["Statement"] for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    assert not any(a in ("*", "s3:*", "sagemaker:*", "kms:*") for a in actions)
    data = next(s for s in policy["Statement"] if s["Sid"] == "Data")
    assert {"s3:GetBucketAcl", "s3:PutObjectAcl"} <= set(data["Action"])  # Feature Store offline ingestion
    assert data["Resource"] == [
        "arn:aws:s3:::churn-dev-foundation-data-mock",
        "arn:aws:s3:::churn-dev-foundation-data-mock/*",
    ]
    passrole = next(s for s in policy["Statement"] if s["Sid"] == "PassOwnRoleToSageMaker")
    assert passrole["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    for role in planned.by_type("aws:iam/role:Role"):
        assert "managedPolicyArns" not in role.inputs
    assert not [r for r in planned.resources if r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment"]


def test_feature_group_offline_and_online_stores_encrypted(planned):
    fg = planned.one("aws:sagemaker/featureGroup:FeatureGroup").inputs
    assert fg["featureGroupName"] == "churn-dev-customer_profile"
    assert fg["recordIdentifierFeatureName"] == "customer_id"
    assert fg["eventTimeFeatureName"] == "event_time"
    assert {d["featureName"]: d["featureType"] for d in fg["featureDefinitions"]} == {
        "customer_id": "String",
        "event_time": "String",
        "tenure_months": "Integral",
        "monthly_charges": "Fractional",
        "contract_type": "String",
        "support_calls": "Integral",
        "total_charges": "Fractional",
        "payment_method": "String",
        "paperless_billing": "Integral",
        "avg_monthly_spend": "Fractional",
        "support_calls_per_year": "Fractional",
    }
    offline = fg["offlineStoreConfig"]["s3StorageConfig"]
    assert offline["s3Uri"] == "s3://churn-dev-foundation-data-mock/feature-store"
    assert offline["kmsKeyId"].startswith("arn:aws:kms:")
    assert fg["onlineStoreConfig"]["enableOnlineStore"] is True
    assert fg["onlineStoreConfig"]["securityConfig"]["kmsKeyId"].startswith("arn:aws:kms:")


def test_offline_only_group_has_no_online_store(tmp_path):
    def mutate(config):
        config["mlops:platform"]["feature_store"]["feature_groups"][0]["online"] = False

    fg = plan(stack_with(tmp_path, mutate)).one("aws:sagemaker/featureGroup:FeatureGroup").inputs
    assert "onlineStoreConfig" not in fg


def test_registry_and_manual_approval(planned):
    group = planned.one("aws:sagemaker/modelPackageGroup:ModelPackageGroup").inputs
    assert group["modelPackageGroupName"] == "churn-dev-models"
    assert planned.outputs["approval"] == "manual"


def test_endpoint_serves_the_registry_version_with_data_capture(planned):
    model = planned.one("aws:sagemaker/model:Model").inputs
    assert model["primaryContainer"]["modelPackageName"] == (
        "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn-dev-models/1"
    )
    assert model["enableNetworkIsolation"] is True
    config = planned.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration").inputs
    assert "name" not in config  # auto-named, so a changed configuration reaches the endpoint
    assert config["kmsKeyArn"].startswith("arn:aws:kms:")
    capture = config["dataCaptureConfig"]
    assert capture["enableCapture"] is True
    assert capture["initialSamplingPercentage"] == 20
    assert capture["destinationS3Uri"] == "s3://churn-dev-foundation-data-mock/data-capture"
    # The requests only, as text: what the drift check compares with the baseline (issue 8 item 8).
    assert capture["captureOptions"] == [{"captureMode": "Input"}]
    assert capture["captureContentTypeHeader"] == {
        "csvContentTypes": ["text/csv"],
        "jsonContentTypes": ["application/json"],
    }
    variant = config["productionVariants"][0]
    assert variant["instanceType"] == "ml.m5.large" and variant["initialInstanceCount"] == 1


def test_autoscaling_bounds_and_cpu_target(planned):
    target = planned.one("aws:appautoscaling/target:Target").inputs
    assert (target["minCapacity"], target["maxCapacity"]) == (1, 4)
    assert target["resourceId"] == "endpoint/churn-dev-endpoint-small/variant/primary"
    assert target["scalableDimension"] == "sagemaker:variant:DesiredInstanceCount"
    policy = planned.one("aws:appautoscaling/policy:Policy").inputs["targetTrackingScalingPolicyConfiguration"]
    # 70% of an ml.m5.large's 2 vCPUs, in SageMaker's summed-over-vCPUs CPUUtilization.
    assert policy["targetValue"] == 140.0
    metric = policy["customizedMetricSpecification"]
    assert metric["metricName"] == "CPUUtilization" and metric["namespace"] == "/aws/sagemaker/Endpoints"


def test_no_model_version_serves_nothing_and_still_plans(tmp_path):
    stack = stack_with(tmp_path, lambda c: c["mlops:platform"]["endpoint"].update(model_version=None))
    result = plan(stack)
    for absent in (
        "aws:sagemaker/model:Model",
        "aws:sagemaker/endpoint:Endpoint",
        "aws:sagemaker/monitoringSchedule:MonitoringSchedule",
    ):
        assert result.by_type(absent) == []
    # No drift alarm; the training schedule's failed starts still alert.
    alarms = [a.inputs["name"] for a in result.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")]
    assert alarms == ["churn-dev-start-failures"]
    assert result.outputs["endpoint"] is None
    assert result.outputs["serving"].startswith("nothing served: endpoint.model_version is null")
    assert result.by_type("aws:sagemaker/pipeline:Pipeline")  # training still there to make a model


def _schedule(plan, name: str) -> dict:
    return next(r.inputs for r in plan.by_type("aws:scheduler/schedule:Schedule") if r.inputs["name"] == name)


def test_training_schedule(planned):
    schedule = _schedule(planned, "churn-dev-training")
    assert schedule["scheduleExpression"] == "cron(0 3 * * ? *)"
    assert schedule["scheduleExpressionTimezone"] == "UTC"
    assert schedule["target"]["arn"] == "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/churn-dev-churn"
    assert schedule["target"]["sagemakerPipelineParameters"]["pipelineParameters"] == [
        {"name": "trigger", "value": "schedule"}
    ]
    assert schedule["name"] == "churn-dev-training"
    assert schedule["kmsKeyArn"].startswith("arn:aws:kms:eu-west-1:")
    assert schedule["target"]["retryPolicy"] == {"maximumRetryAttempts": 3, "maximumEventAgeInSeconds": 3600}
    assert schedule["target"]["deadLetterConfig"] == {
        "arn": "arn:aws:sqs:eu-west-1:123456789012:churn-dev-start-failures"
    }
    queue = planned.one("aws:sqs/queue:Queue").inputs
    assert queue["kmsMasterKeyId"].startswith("arn:aws:kms:eu-west-1:")
    assert queue["messageRetentionSeconds"] == 1209600


REQUEST = (
    "tenure_months",
    "monthly_charges",
    "total_charges",
    "support_calls",
    "contract_type",
    "payment_method",
    "paperless_billing",
    "avg_monthly_spend",
    "support_calls_per_year",
)
"""churn's request schema (its data contract), in request order."""


def test_the_kit_drift_check_is_a_processing_job_the_scheduler_creates(planned):
    schedule = _schedule(planned, "churn-dev-drift-check")
    assert schedule["scheduleExpression"] == "cron(0 * ? * * *)"
    assert schedule["scheduleExpressionTimezone"] == "UTC"
    target = schedule["target"]
    assert target["arn"] == "arn:aws:scheduler:::aws-sdk:sagemaker:createProcessingJob"
    assert target["retryPolicy"] == {"maximumRetryAttempts": 3, "maximumEventAgeInSeconds": 3600}
    job = json.loads(target["input"])
    assert job["ProcessingJobName"] == "churn-dev-drift-<aws.scheduler.execution-id>"
    assert job["AppSpecification"]["ContainerEntrypoint"] == [
        "/bin/bash",
        "/opt/ml/processing/code/run.sh",
        "python",
        "aws_drift.py",
    ]
    assert job["AppSpecification"]["ContainerArguments"] == [
        "--baseline",
        "/opt/ml/processing/input/baseline",
        "--out",
        "/opt/ml/processing/output/drift",
        "--threshold",
        "0.2",
        "--min_samples",
        "100",
        "--until",
        "<aws.scheduler.scheduled-time>",
        "--window_hours",
        "1",
    ]
    inputs = {i["InputName"]: i["S3Input"]["S3Uri"] for i in job["ProcessingInputs"]}
    code = next(
        r.inputs["key"] for r in planned.by_type("aws:s3/bucketObjectv2:BucketObjectv2") if r.name.endswith("run-sh")
    ).removesuffix("run.sh")
    config = next(
        r.inputs["key"]
        for r in planned.by_type("aws:s3/bucketObjectv2:BucketObjectv2")
        if r.name == "churn-dev-model-monitor-io-config"
    )
    assert inputs == {
        "code": f"s3://churn-dev-foundation-data-mock/{code}",
        # the served version's (1) own baseline, published by the pipeline that registered it
        "baseline": "s3://churn-dev-foundation-data-mock/monitoring/baselines/1/",
        "mlops_io": f"s3://churn-dev-foundation-data-mock/{config}",
    }
    # The class: an S3Prefix input takes every key starting with its URI (botocore S3DataType), so a
    # folder must end in `/` or `baselines/1` also reads versions 10-19, 100... (audit2-aws finding 1).
    for name, uri in inputs.items():
        last = uri.rstrip("/").rsplit("/", 1)[-1]
        assert "." in last or uri.endswith("/"), f"{name}: {uri} is a folder without its trailing /"
    assert job["Environment"]["MLOPS_IO"] == ('{"kind":"aws","file":"/opt/ml/processing/input/mlops_io/mlops_io.json"}')
    assert job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == (
        "s3://churn-dev-foundation-data-mock/monitoring/drift/churn-dev-drift-<aws.scheduler.execution-id>"
    )
    assert job["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"].startswith("arn:aws:kms:eu-west-1:")
    assert job["ProcessingOutputConfig"]["KmsKeyId"].startswith("arn:aws:kms:eu-west-1:")
    assert job["RoleArn"] == "arn:aws:iam::123456789012:role/churn-dev-foundation-sagemaker-mock"
    assert job["AppSpecification"]["ImageUri"] == (
        "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3"
    )


def test_the_drift_job_reads_the_served_variants_capture_and_publishes_where_the_alarms_watch(planned):
    config = next(
        r.inputs
        for r in planned.by_type("aws:s3/bucketObjectv2:BucketObjectv2")
        if r.name == "churn-dev-model-monitor-io-config"
    )
    assert json.loads(config["content"]) == {
        "kind": "aws",
        "region": "eu-west-1",
        "capture": "s3://churn-dev-foundation-data-mock/data-capture/churn-dev-endpoint-small/primary",
        "metrics": {"namespace": "mlops/churn-dev", "endpoint": "churn-dev-endpoint-small"},
    }


def test_no_model_monitor_by_default(planned):
    assert planned.by_type("aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition") == []
    assert planned.by_type("aws:sagemaker/monitoringSchedule:MonitoringSchedule") == []


def _builtin(tmp_path):
    return plan(stack_with(tmp_path, lambda c: c["mlops:platform"]["monitor"].update(engine="builtin")))


def test_builtin_runs_model_monitor_on_the_served_versions_baseline(tmp_path):
    result = _builtin(tmp_path)
    job = result.one("aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition").inputs
    assert job["dataQualityJobInput"]["endpointInput"]["endpointName"] == "churn-dev-endpoint-small"
    assert job["dataQualityAppSpecification"]["environment"] == {"publish_cloudwatch_metrics": "Enabled"}
    baseline = job["dataQualityBaselineConfig"]
    assert baseline["statisticsResource"]["s3Uri"] == (
        "s3://churn-dev-foundation-data-mock/monitoring/baselines/1/statistics.json"
    )
    assert baseline["constraintsResource"]["s3Uri"] == (
        "s3://churn-dev-foundation-data-mock/monitoring/baselines/1/constraints.json"
    )
    assert job["dataQualityJobOutputConfig"]["kmsKeyId"].startswith("arn:aws:kms:")
    assert job["jobResources"]["clusterConfig"]["volumeKmsKeyId"].startswith("arn:aws:kms:")
    assert job["networkConfig"]["enableInterContainerTrafficEncryption"] is True
    schedule = result.one("aws:sagemaker/monitoringSchedule:MonitoringSchedule").inputs
    assert schedule["monitoringScheduleConfig"]["scheduleConfig"]["scheduleExpression"] == "cron(0 * ? * * *)"
    assert schedule["monitoringScheduleConfig"]["monitoringType"] == "DataQuality"
    assert [r.inputs["name"] for r in result.by_type("aws:scheduler/schedule:Schedule")] == ["churn-dev-training"]
    assert result.outputs["monitor"] == (
        "arn:aws:sagemaker:eu-west-1:123456789012:monitoring-schedule/churn-dev-data-quality"
    )


def _queries(alarm: dict) -> list[tuple[str, str, dict, str, int]]:
    return [
        (
            q["metric"]["namespace"],
            q["metric"]["metricName"],
            q["metric"]["dimensions"],
            q["metric"]["stat"],
            q["metric"]["period"],
        )
        for q in alarm["metricQueries"]
        if "metric" in q
    ]


def _alarm(plan, name: str) -> dict:
    return next(r.inputs for r in plan.by_type("aws:cloudwatch/metricAlarm:MetricAlarm") if r.inputs["name"] == name)


def test_the_drift_alarm_watches_exactly_the_request_columns_the_kit_publishes(planned):
    alarm = _alarm(planned, "churn-dev-feature-drift")
    assert alarm["threshold"] == 0.2
    assert alarm["comparisonOperator"] == "GreaterThanThreshold"
    assert alarm["treatMissingData"] == "notBreaching"
    assert _queries(alarm) == [
        ("mlops/churn-dev", "feature_drift", {"Endpoint": "churn-dev-endpoint-small", "Feature": c}, "Maximum", 3600)
        for c in REQUEST
    ]
    expression = next(q for q in alarm["metricQueries"] if q.get("returnData"))
    assert expression["expression"] == "MAX([m0, m1, m2, m3, m4, m5, m6, m7, m8])"
    topic = planned.one("aws:sns/topic:Topic")
    assert alarm["alarmActions"] == [f"arn:aws:sns:eu-west-1:123456789012:{topic.name}-mock"]
    assert topic.inputs["kmsMasterKeyId"]
    sub = planned.one("aws:sns/topicSubscription:TopicSubscription").inputs
    assert (sub["protocol"], sub["endpoint"]) == ("email", "ml-oncall@example.com")


def test_a_drift_check_that_stops_running_alerts(planned):
    alarm = _alarm(planned, "churn-dev-drift-check-silent")
    assert (alarm["namespace"], alarm["metricName"], alarm["dimensions"], alarm["statistic"]) == (
        "mlops/churn-dev",
        "drift_checks",
        {"Endpoint": "churn-dev-endpoint-small"},
        "Sum",
    )
    assert (alarm["period"], alarm["evaluationPeriods"], alarm["datapointsToAlarm"]) == (3600, 2, 2)
    assert (alarm["comparisonOperator"], alarm["threshold"]) == ("LessThanThreshold", 1)
    assert alarm["treatMissingData"] == "breaching"


def test_builtin_alarms_watch_model_monitors_metrics_and_its_silence(tmp_path):
    result = _builtin(tmp_path)
    where = {"Endpoint": "churn-dev-endpoint-small", "MonitoringSchedule": "churn-dev-data-quality"}
    assert _queries(_alarm(result, "churn-dev-feature-drift")) == [
        ("aws/sagemaker/Endpoints/data-metrics", f"feature_baseline_drift_{c}", where, "Maximum", 3600) for c in REQUEST
    ]
    silent = _alarm(result, "churn-dev-drift-check-silent")
    assert (silent["namespace"], silent["metricName"], silent["statistic"], silent["treatMissingData"]) == (
        "aws/sagemaker/Endpoints/data-metrics",
        "feature_baseline_drift_tenure_months",
        "SampleCount",
        "breaching",
    )


def _rules(plan) -> dict[str, dict]:
    return {r.inputs["name"]: r.inputs for r in plan.by_type("aws:cloudwatch/eventRule:EventRule")}


def test_every_completed_drift_check_asks_the_retrain_guard(planned):
    """Audit 3 findings 1, 6, 8: one ask per drift check, after its verdict exists (the job's
    completion), not a scheduled re-ask of the alarm's state nor the alarm's state change."""
    rules = _rules(planned)
    assert sorted(rules) == ["churn-dev-drift-check-failed", "churn-dev-retrain-on-drift"]
    rule = rules.pop("churn-dev-retrain-on-drift")
    rules.pop("churn-dev-drift-check-failed")  # alerts; test_a_drift_check_that_fails_alerts
    assert "scheduleExpression" not in rule
    assert json.loads(rule["eventPattern"]) == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Processing Job State Change"],
        "detail": {"ProcessingJobName": [{"prefix": "churn-dev-drift-"}], "ProcessingJobStatus": ["Completed"]},
    }
    targets = {
        t.inputs["rule"]: t.inputs
        for t in planned.by_type("aws:cloudwatch/eventTarget:EventTarget")
        if t.inputs["rule"] == "churn-dev-retrain-on-drift"
    }
    assert sorted(targets) == ["churn-dev-retrain-on-drift"]
    for target in targets.values():
        assert target["arn"] == "arn:aws:lambda:eu-west-1:123456789012:function:churn-dev-retrain-guard"
        assert "roleArn" not in target  # a Lambda target: EventBridge invokes it under its resource policy
        # A failed start is retried three times within an hour, then kept in the encrypted queue.
        assert target["retryPolicy"] == {"maximumRetryAttempts": 3, "maximumEventAgeInSeconds": 3600}
        assert target["deadLetterConfig"] == {"arn": "arn:aws:sqs:eu-west-1:123456789012:churn-dev-start-failures"}
    permissions = [p.inputs for p in planned.by_type("aws:lambda/permission:Permission")]
    assert sorted((p["action"], p["principal"], p["function"], p["sourceArn"]) for p in permissions) == [
        (
            "lambda:InvokeFunction",
            "events.amazonaws.com",
            "churn-dev-retrain-guard",
            "arn:aws:events:eu-west-1:123456789012:rule/churn-dev-retrain-on-drift",
        ),
    ]
    # The drift job writes its verdict under a folder named by the job, where the guard reads it.
    (schedule,) = [
        s.inputs
        for s in planned.by_type("aws:scheduler/schedule:Schedule")
        if s.inputs["name"] == "churn-dev-drift-check"
    ]
    request = json.loads(schedule["target"]["input"])
    assert request["ProcessingJobName"] == "churn-dev-drift-<aws.scheduler.execution-id>"
    assert request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"] == (
        "s3://churn-dev-foundation-data-mock/monitoring/drift/churn-dev-drift-<aws.scheduler.execution-id>"
    )
    function = planned.one("aws:lambda/function:Function").inputs
    assert function["environment"]["variables"] == {
        "PIPELINE_NAME": "churn-dev-churn",
        "COOLDOWN_HOURS": "24",
        "VERDICTS": "s3://churn-dev-foundation-data-mock/monitoring/drift",
        "JOB_PREFIX": "churn-dev-drift-",
    }
    assert (function["runtime"], function["handler"]) == ("python3.12", "retrain_guard.handler")
    assert function["deadLetterConfig"] == {"targetArn": "arn:aws:sqs:eu-west-1:123456789012:churn-dev-start-failures"}
    logs = planned.one("aws:cloudwatch/logGroup:LogGroup").inputs
    assert (logs["name"], logs["retentionInDays"]) == ("/aws/lambda/churn-dev-retrain-guard", 30)
    assert logs["kmsKeyId"].startswith("arn:aws:kms:eu-west-1:")


def test_the_builtin_monitor_asks_the_guard_when_its_alarm_enters_alarm(aws_plans):
    planned = aws_plans["aws-builtin"]
    (rule,) = _rules(planned).values()
    assert json.loads(rule["eventPattern"]) == {
        "source": ["aws.cloudwatch"],
        "detail-type": ["CloudWatch Alarm State Change"],
        "resources": ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:churn-dev-feature-drift"],
        "detail": {"state": {"value": ["ALARM"]}},
    }
    function = planned.one("aws:lambda/function:Function").inputs
    assert function["environment"]["variables"] == {
        "PIPELINE_NAME": "churn-dev-churn",
        "COOLDOWN_HOURS": "24",
        "ALARM_NAME": "churn-dev-feature-drift",
    }


def test_retrain_off_keeps_the_alert_but_no_pipeline_target(tmp_path):
    stack = stack_with(tmp_path, lambda c: c["mlops:platform"]["monitor"].update(retrain_on_drift=False))
    result = plan(stack)
    assert result.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    # Only the failed-drift-check alert: nothing targets the guard or the pipeline.
    targets = result.by_type("aws:cloudwatch/eventTarget:EventTarget")
    assert [t.inputs["rule"] for t in targets] == ["churn-dev-drift-check-failed"]
    assert result.by_type("aws:lambda/function:Function") == []
    assert result.outputs["retrain_target"] is None


def test_tags_everywhere_they_are_taken(planned):
    tagged = [r for r in planned.resources if r.custom and "tags" in r.inputs]
    assert len(tagged) >= 10
    for r in tagged:
        assert r.inputs["tags"]["mlops-platform"] == "churn"
        assert r.inputs["tags"]["team"] == "ml-platform"


def test_stack_outputs(planned):
    out = planned.outputs
    assert out["storage_uri"] == "s3://churn-dev-foundation-data-mock"
    assert out["training_schedule"] == (
        "arn:aws:scheduler:eu-west-1:123456789012:schedule/churn-dev/churn-dev-training"
    )
    assert out["serving"] == (
        "model version 1 of arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/churn-dev-models"
    )
    assert out["endpoint"] == "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/churn-dev-endpoint-small"
    assert out["monitor"] == "arn:aws:scheduler:eu-west-1:123456789012:schedule/churn-dev-drift/churn-dev-drift-check"
    assert out["drift_alarm"] == [
        "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:churn-dev-feature-drift",
        "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:churn-dev-drift-check-silent",
    ]
    assert out["retrain_target"] == "arn:aws:lambda:eu-west-1:123456789012:function:churn-dev-retrain-guard"
    assert out["feature_groups"] == {
        "customer_profile": {
            "id": "arn:aws:sagemaker:eu-west-1:123456789012:feature-group/churn-dev-customer_profile",
            "offline": "s3://churn-dev-foundation-data-mock/feature-store/123456789012/sagemaker/eu-west-1/offline-store/"
            "churn-dev-customer_profile-1700000000/data",
            "online": True,
        }
    }


def test_stack_in_another_region_gets_that_regions_monitor_image(tmp_path):
    def mutate(config):
        config.update({"aws:region": "us-east-1"})
        config["mlops:platform"]["monitor"]["engine"] = "builtin"

    job = (
        plan(stack_with(tmp_path, mutate)).one("aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition").inputs
    )
    assert job["dataQualityAppSpecification"]["imageUri"].startswith("156813124566.dkr.ecr.us-east-1.")


def test_the_alarms_follow_the_request_schema_not_the_feature_groups(tmp_path):
    """Features a group declares but the pipeline's requests do not carry are not alarmed: nothing
    publishes a drift for them (issue 8 item 2)."""

    def mutate(config):
        group = config["mlops:platform"]["feature_store"]["feature_groups"][0]
        group["features"] += [{"name": f"f{i}", "type": "float"} for i in range(3)]  # 9 read + 3 = 12

    result = plan(stack_with(tmp_path, mutate))
    queries = _queries(_alarm(result, "churn-dev-feature-drift"))
    assert [q[2]["Feature"] for q in queries] == list(REQUEST)


def test_more_than_ten_request_columns_split_the_alarm_under_one_composite(monkeypatch, tmp_path):
    import dataclasses

    import pipelines
    from pipelines.spec import Column, FeatureRead

    churn = pipelines.get_pipeline("churn")
    extra = tuple(Column(f"f{i}", "float") for i in range(3))
    contract = dataclasses.replace(
        churn.contract,
        reads=(FeatureRead("customer_profile", churn.contract.reads[0].features + extra),),
        request=churn.contract.request + extra,
    )
    wide = dataclasses.replace(churn, contract=contract)
    monkeypatch.setattr(pipelines, "get_pipeline", lambda name: wide)

    def mutate(config):
        group = config["mlops:platform"]["feature_store"]["feature_groups"][0]
        group["features"] += [{"name": f"f{i}", "type": "float"} for i in range(3)]

    result = plan(stack_with(tmp_path, mutate))
    first, second = _alarm(result, "churn-dev-feature-drift"), _alarm(result, "churn-dev-feature-drift-2")
    assert [q[2]["Feature"] for q in _queries(first) + _queries(second)] == [*REQUEST, "f0", "f1", "f2"]
    assert len(_queries(first)) == 10
    assert first["alarmActions"] == [] and second["alarmActions"] == []  # the composite notifies once
    composite = result.one("aws:cloudwatch/compositeAlarm:CompositeAlarm").inputs
    assert composite["alarmRule"] == 'ALARM("churn-dev-feature-drift") OR ALARM("churn-dev-feature-drift-2")'
    # The composite only e-mails: the retrain guard is asked by every completed drift check, whatever
    # the alarms' state, and reads no alarm (no DescribeAlarms, no '*' grant: audit 3 findings 2, 7).
    assert composite["alarmActions"] == ["arn:aws:sns:eu-west-1:123456789012:churn-dev-retraining-trigger-alerts-mock"]
    function = result.one("aws:lambda/function:Function").inputs
    assert "ALARM_NAME" not in function["environment"]["variables"]
    (guard,) = [r for r in result.by_type("aws:iam/rolePolicy:RolePolicy") if r.name.endswith("-guard-policy")]
    policy = json.loads(guard.inputs["policy"])
    # nothing is allowed on every resource (the Deny of the registry's approval actions is on "*")
    assert [s["Action"] for s in policy["Statement"] if s["Resource"] == "*" and s["Effect"] == "Allow"] == []


def test_the_bootstrap_ships_in_the_step_code_bundle(planned):
    objects = {
        r.inputs["key"].rsplit("/", 1)[1]: r.inputs for r in planned.by_type("aws:s3/bucketObjectv2:BucketObjectv2")
    }
    run = objects["run.sh"]
    assert run["source"]["text"].startswith("#!/bin/bash\n")
    assert run["key"].startswith("code/churn/") and run["serverSideEncryption"] == "aws:kms"
    assert {"run.sh", "requirements.txt", "train.py", "serve.py"} <= set(objects)
    code = {o["key"].rsplit("/", 1)[0] for name, o in objects.items() if name != "mlops_io.json"}
    assert len(code) == 1  # one content-addressed prefix
    assert {"mlops_io.py", "mlops_io_requirements.txt", "aws_drift.py", "mlops_drift.py"} <= set(objects)


def test_a_capture_the_check_cannot_read_alerts(planned):
    """Audit 3 finding 4: more than half of a window's capture lines unreadable alerts; a window with
    no capture at all (0 / 0, no value) or a check that did not run (the silent-check alarm's) does not."""
    alarm = _alarm(planned, "churn-dev-capture-unreadable")
    where = {"Endpoint": "churn-dev-endpoint-small"}
    assert _queries(alarm) == [
        ("mlops/churn-dev", "unreadable_requests", where, "Sum", 3600),
        ("mlops/churn-dev", "captured_requests", where, "Sum", 3600),
    ]
    (share,) = [q for q in alarm["metricQueries"] if q.get("returnData")]
    assert share["expression"] == "u / (u + c)"
    assert [q["id"] for q in alarm["metricQueries"]] == ["u", "c", "share"]
    assert (alarm["comparisonOperator"], alarm["threshold"], alarm["evaluationPeriods"]) == (
        "GreaterThanThreshold",
        0.5,
        1,
    )
    assert alarm["treatMissingData"] == "notBreaching"
    topic = planned.one("aws:sns/topic:Topic")
    assert alarm["alarmActions"] == [f"arn:aws:sns:eu-west-1:123456789012:{topic.name}-mock"]


def test_a_dead_lettered_start_or_a_failing_guard_alerts(planned):
    """Audit 4 finding 1: the dead-letter queue holding anything, or the retrain guard failing once,
    e-mails the alert topic; no data (no message, no call) is not a failure."""
    topic = planned.one("aws:sns/topic:Topic")
    topic_arn = f"arn:aws:sns:eu-west-1:123456789012:{topic.name}-mock"
    for name, metric in {
        "churn-dev-start-failures": (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": "churn-dev-start-failures"},
            "Maximum",
        ),
        "churn-dev-retrain-guard-errors": ("AWS/Lambda", "Errors", {"FunctionName": "churn-dev-retrain-guard"}, "Sum"),
    }.items():
        alarm = _alarm(planned, name)
        assert (alarm["namespace"], alarm["metricName"], alarm["dimensions"], alarm["statistic"]) == metric, name
        assert (alarm["period"], alarm["evaluationPeriods"], alarm["datapointsToAlarm"]) == (300, 1, 1), name
        assert (alarm["comparisonOperator"], alarm["threshold"]) == ("GreaterThanThreshold", 0), name
        assert alarm["treatMissingData"] == "notBreaching", name
        assert alarm["alarmActions"] == [topic_arn], name


def test_a_drift_check_that_fails_alerts(planned):
    """Audit 4 finding 2: this stack's drift-check jobs ending Failed or Stopped reach the alert topic
    (the same event and name prefix as the retrain rule), with the job's name and failure reason."""
    rule = _rules(planned)["churn-dev-drift-check-failed"]
    assert json.loads(rule["eventPattern"]) == {
        "source": ["aws.sagemaker"],
        "detail-type": ["SageMaker Processing Job State Change"],
        "detail": {"ProcessingJobName": [{"prefix": "churn-dev-drift-"}], "ProcessingJobStatus": ["Failed", "Stopped"]},
    }
    assert rule["state"] == "ENABLED"
    (target,) = [
        t.inputs
        for t in planned.by_type("aws:cloudwatch/eventTarget:EventTarget")
        if t.inputs["rule"] == "churn-dev-drift-check-failed"
    ]
    topic = planned.one("aws:sns/topic:Topic")
    assert target["arn"] == f"arn:aws:sns:eu-west-1:123456789012:{topic.name}-mock"
    assert target["inputTransformer"]["inputPaths"] == {
        "job": "$.detail.ProcessingJobName",
        "status": "$.detail.ProcessingJobStatus",
        "reason": "$.detail.FailureReason",
    }
    assert target["inputTransformer"]["inputTemplate"] == (
        '"Drift check <job> of churn-dev ended <status>: <reason>. '
        'It wrote no verdict; the retrain guard was not asked."'
    )
