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
    assert {o["captureMode"] for o in capture["captureOptions"]} == {"Input", "Output"}
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
        "aws:cloudwatch/metricAlarm:MetricAlarm",
    ):
        assert result.by_type(absent) == []
    assert result.outputs["endpoint"] is None
    assert result.outputs["serving"].startswith("nothing served: endpoint.model_version is null")
    assert result.by_type("aws:sagemaker/pipeline:Pipeline")  # training still there to make a model


def test_training_schedule(planned):
    schedule = planned.one("aws:scheduler/schedule:Schedule").inputs
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


def test_monitor_runs_data_quality_on_captured_requests(planned):
    job = planned.one("aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition").inputs
    assert job["dataQualityJobInput"]["endpointInput"]["endpointName"] == "churn-dev-endpoint-small"
    assert job["dataQualityAppSpecification"]["environment"] == {"publish_cloudwatch_metrics": "Enabled"}
    assert job["dataQualityJobOutputConfig"]["kmsKeyId"].startswith("arn:aws:kms:")
    assert job["jobResources"]["clusterConfig"]["volumeKmsKeyId"].startswith("arn:aws:kms:")
    assert job["networkConfig"]["enableInterContainerTrafficEncryption"] is True
    schedule = planned.one("aws:sagemaker/monitoringSchedule:MonitoringSchedule").inputs
    assert schedule["monitoringScheduleConfig"]["scheduleConfig"]["scheduleExpression"] == "cron(0 * ? * * *)"
    assert schedule["monitoringScheduleConfig"]["monitoringType"] == "DataQuality"


def test_drift_alarm_threshold_over_every_feature(planned):
    alarm = planned.one("aws:cloudwatch/metricAlarm:MetricAlarm").inputs
    assert alarm["threshold"] == 0.2
    assert alarm["comparisonOperator"] == "GreaterThanThreshold"
    metrics = [q["metric"]["metricName"] for q in alarm["metricQueries"] if "metric" in q]
    assert metrics == [
        f"feature_baseline_drift_{f}"
        for f in (
            "tenure_months",
            "monthly_charges",
            "contract_type",
            "support_calls",
            "total_charges",
            "payment_method",
            "paperless_billing",
            "avg_monthly_spend",
            "support_calls_per_year",
        )
    ]
    expression = next(q for q in alarm["metricQueries"] if q.get("returnData"))
    assert expression["expression"] == "MAX([m0, m1, m2, m3, m4, m5, m6, m7, m8])"
    topic = planned.one("aws:sns/topic:Topic")
    assert alarm["alarmActions"] == [f"arn:aws:sns:eu-west-1:123456789012:{topic.name}-mock"]
    assert topic.inputs["kmsMasterKeyId"]
    sub = planned.one("aws:sns/topicSubscription:TopicSubscription").inputs
    assert (sub["protocol"], sub["endpoint"]) == ("email", "ml-oncall@example.com")


def test_drift_alarm_starts_the_training_pipeline(planned):
    rule = planned.one("aws:cloudwatch/eventRule:EventRule").inputs
    pattern = json.loads(rule["eventPattern"])
    assert pattern["detail-type"] == ["CloudWatch Alarm State Change"]
    assert pattern["resources"] == ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:churn-dev-feature-drift"]
    assert pattern["detail"] == {"state": {"value": ["ALARM"]}}
    target = planned.one("aws:cloudwatch/eventTarget:EventTarget").inputs
    assert target["arn"] == "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/churn-dev-churn"
    assert target["sagemakerPipelineTarget"]["pipelineParameterLists"] == [{"name": "trigger", "value": "drift"}]
    assert rule["name"] == "churn-dev-retrain-on-drift"
    # A failed start is retried three times within an hour, then kept in the encrypted queue.
    assert target["retryPolicy"] == {"maximumRetryAttempts": 3, "maximumEventAgeInSeconds": 3600}
    assert target["deadLetterConfig"] == {"arn": "arn:aws:sqs:eu-west-1:123456789012:churn-dev-start-failures"}


def test_retrain_off_keeps_the_alert_but_no_pipeline_target(tmp_path):
    stack = stack_with(tmp_path, lambda c: c["mlops:platform"]["monitor"].update(retrain_on_drift=False))
    result = plan(stack)
    assert result.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert result.by_type("aws:cloudwatch/eventTarget:EventTarget") == []
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
    assert out["monitor"] == "arn:aws:sagemaker:eu-west-1:123456789012:monitoring-schedule/churn-dev-data-quality"
    assert out["drift_alarm"] == ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:churn-dev-feature-drift"]
    assert out["feature_groups"] == {
        "customer_profile": {
            "id": "arn:aws:sagemaker:eu-west-1:123456789012:feature-group/churn-dev-customer_profile",
            "offline": "s3://churn-dev-foundation-data-mock/feature-store/123456789012/sagemaker/eu-west-1/offline-store/"
            "churn-dev-customer_profile-1700000000/data",
            "online": True,
        }
    }


def test_stack_in_another_region_gets_that_regions_monitor_image(tmp_path):
    stack = stack_with(tmp_path, lambda c: c.update({"aws:region": "us-east-1"}))
    job = plan(stack).one("aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition").inputs
    assert job["dataQualityAppSpecification"]["imageUri"].startswith("156813124566.dkr.ecr.us-east-1.")


def test_more_than_ten_features_split_the_alarm(tmp_path):
    def mutate(config):
        group = config["mlops:platform"]["feature_store"]["feature_groups"][0]
        group["features"] += [{"name": f"f{i}", "type": "float"} for i in range(3)]  # 9 read + 3 = 12

    result = plan(stack_with(tmp_path, mutate))
    alarms = result.by_type("aws:cloudwatch/metricAlarm:MetricAlarm")
    assert sorted(len([q for q in a.inputs["metricQueries"] if "metric" in q]) for a in alarms) == [2, 10]
    rule = json.loads(result.one("aws:cloudwatch/eventRule:EventRule").inputs["eventPattern"])
    assert len(rule["resources"]) == 2


def test_the_bootstrap_ships_in_the_step_code_bundle(planned):
    objects = {
        r.inputs["key"].rsplit("/", 1)[1]: r.inputs for r in planned.by_type("aws:s3/bucketObjectv2:BucketObjectv2")
    }
    run = objects["run.sh"]
    assert run["source"]["text"].startswith("#!/bin/bash\n")
    assert run["key"].startswith("code/churn/") and run["serverSideEncryption"] == "aws:kms"
    assert {"run.sh", "requirements.txt", "train.py", "serve.py"} <= set(objects)
    prefixes = {o["key"].rsplit("/", 1)[0] for o in objects.values()}
    assert len(prefixes) == 1  # one content-addressed prefix
