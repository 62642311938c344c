"""The AWS resources moto supports, created in moto from the very inputs the plan declares.

The offline plan proves what the program sends to Pulumi; this proves the same values are
accepted by the AWS APIs' shapes as moto implements them (moto is not AWS: see the README).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from infra.config import load_stack_file
from infra.plan import plan

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"


def pascal(value):
    """Pulumi's camelCase inputs -> the PascalCase the AWS APIs take."""
    if isinstance(value, dict):
        return {k[:1].upper() + k[1:]: pascal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [pascal(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # Pulumi's wire format carries every number as a double
    return value


@pytest.fixture(scope="module")
def planned():
    return plan(load_stack_file(ROOT / "Pulumi.aws-dev.yaml"))


@pytest.fixture
def aws(monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield lambda service: boto3.client(service, region_name=REGION)


def test_foundation_in_moto(planned, aws):
    kms, s3, iam = aws("kms"), aws("s3"), aws("iam")
    key = kms.create_key(Description=planned.one("aws:kms/key:Key").inputs["description"])["KeyMetadata"]
    kms.enable_key_rotation(KeyId=key["KeyId"])
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is True

    bucket = "churn-dev-foundation-data-mock"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    block = planned.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    s3.put_public_access_block(
        Bucket=bucket, PublicAccessBlockConfiguration=pascal({k: v for k, v in block.items() if k != "bucket"})
    )
    sse = planned.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    rules = pascal(sse.inputs["rules"])
    default = rules[0]["ApplyServerSideEncryptionByDefault"]
    # S3 spells these two in capitals; the values are the plan's (the key ARN is moto's own key).
    default["SSEAlgorithm"] = default.pop("SseAlgorithm")
    assert default.pop("KmsMasterKeyId").startswith("arn:aws:kms:")
    default["KMSMasterKeyID"] = key["Arn"]
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
    s3.put_bucket_versioning(
        Bucket=bucket,
        VersioningConfiguration=pascal(
            planned.one("aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"]
        ),
    )
    s3.put_bucket_policy(Bucket=bucket, Policy=planned.one("aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])

    enc = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]["BlockPublicPolicy"]
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"

    for role in planned.by_type("aws:iam/role:Role"):
        iam.create_role(RoleName=role.name, AssumeRolePolicyDocument=role.inputs["assumeRolePolicy"])
    for policy in planned.by_type("aws:iam/rolePolicy:RolePolicy"):
        role_name = policy.name.removesuffix("-policy")
        iam.put_role_policy(RoleName=role_name, PolicyName="kit", PolicyDocument=policy.inputs["policy"])
        stored = iam.get_role_policy(RoleName=role_name, PolicyName="kit")["PolicyDocument"]
        assert stored == json.loads(policy.inputs["policy"])
    assert iam.list_attached_role_policies(RoleName="churn-dev-foundation-sagemaker")["AttachedPolicies"] == []


def test_feature_group_registry_endpoint_and_monitor_in_moto(planned, aws):
    sm = aws("sagemaker")
    role = "arn:aws:iam::123456789012:role/churn-dev-foundation-sagemaker-mock"
    fg = pascal(planned.one("aws:sagemaker/featureGroup:FeatureGroup").inputs)
    fg.pop("Tags")
    sm.create_feature_group(**fg)
    described = sm.describe_feature_group(FeatureGroupName="churn-dev-customer_profile")
    # moto accepts OnlineStoreConfig but does not keep it; test_aws_plan.py checks the plan's value.
    assert described["OfflineStoreConfig"]["S3StorageConfig"]["KmsKeyId"].startswith("arn:aws:kms:")
    assert [d["FeatureName"] for d in described["FeatureDefinitions"]][:2] == ["customer_id", "event_time"]

    group = planned.one("aws:sagemaker/modelPackageGroup:ModelPackageGroup").inputs
    sm.create_model_package_group(
        ModelPackageGroupName=group["modelPackageGroupName"],
        ModelPackageGroupDescription=group["modelPackageGroupDescription"],
    )
    # What the pipeline's register step does under approval: manual, then a person approves.
    version = sm.create_model_package(
        ModelPackageGroupName=group["modelPackageGroupName"],
        ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={
            "Containers": [{"Image": "img", "ModelDataUrl": "s3://b/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    )["ModelPackageArn"]
    model = planned.one("aws:sagemaker/model:Model").inputs
    assert version.rsplit("/", 2)[-2:] == model["primaryContainer"]["modelPackageName"].rsplit("/", 2)[-2:]
    sm.update_model_package(ModelPackageArn=version, ModelApprovalStatus="Approved")

    sm.create_model(
        ModelName="churn-dev-model",
        ExecutionRoleArn=role,
        PrimaryContainer={"ModelPackageName": version},
        EnableNetworkIsolation=True,
    )
    config = pascal(planned.one("aws:sagemaker/endpointConfiguration:EndpointConfiguration").inputs)
    config.pop("Tags")
    config["ProductionVariants"][0]["ModelName"] = "churn-dev-model"
    config["KmsKeyId"] = config.pop("KmsKeyArn")
    sm.create_endpoint_config(EndpointConfigName="churn-dev-config", **config)
    endpoint = planned.one("aws:sagemaker/endpoint:Endpoint").inputs
    sm.create_endpoint(EndpointName=endpoint["name"], EndpointConfigName="churn-dev-config")
    assert sm.describe_endpoint(EndpointName=endpoint["name"])["EndpointStatus"] == "InService"
    capture = sm.describe_endpoint_config(EndpointConfigName="churn-dev-config")["DataCaptureConfig"]
    assert capture["InitialSamplingPercentage"] == 20

    # The kit's drift check: the CreateProcessingJob request its schedule sends, as Scheduler fills it in.
    schedule = next(
        r.inputs
        for r in planned.by_type("aws:scheduler/schedule:Schedule")
        if r.inputs["name"] == "churn-dev-drift-check"
    )
    job = json.loads(
        schedule["target"]["input"]
        .replace("<aws.scheduler.execution-id>", "d32c5kddcf5bb8c3")
        .replace("<aws.scheduler.scheduled-time>", "2022-03-22T18:00:00Z")
    )
    job["RoleArn"] = role
    sm.create_processing_job(**job)
    got = sm.describe_processing_job(ProcessingJobName="churn-dev-drift-d32c5kddcf5bb8c3")
    assert got["AppSpecification"]["ContainerArguments"][-4:] == [
        "--until",
        "2022-03-22T18:00:00Z",
        "--window_hours",
        "1",
    ]

    scaling = aws("application-autoscaling")
    target = pascal(planned.one("aws:appautoscaling/target:Target").inputs)
    scaling.register_scalable_target(**target)
    policy = pascal(planned.one("aws:appautoscaling/policy:Policy").inputs)
    scaling.put_scaling_policy(PolicyName="cpu", **policy)
    registered = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"][0]
    assert (registered["MinCapacity"], registered["MaxCapacity"]) == (1, 4)


def _alarm_request(inputs: dict) -> dict:
    alarm = pascal(inputs)
    alarm.pop("Tags")
    if "OkActions" in alarm:
        alarm["OKActions"] = alarm.pop("OkActions")  # CloudWatch's spelling
    alarm["AlarmName"] = alarm.pop("Name")
    if "MetricQueries" in alarm:
        alarm["Metrics"] = alarm.pop("MetricQueries")
        for query in alarm["Metrics"]:
            if "Metric" in query:
                metric = query.pop("Metric")
                query["MetricStat"] = {
                    "Metric": {
                        "Namespace": metric["Namespace"],
                        "MetricName": metric["MetricName"],
                        "Dimensions": [{"Name": k, "Value": v} for k, v in metric["Dimensions"].items()],
                    },
                    "Period": metric["Period"],
                    "Stat": metric["Stat"],
                }
    else:
        alarm["Dimensions"] = [{"Name": k, "Value": v} for k, v in alarm["Dimensions"].items()]
    return alarm


def test_alert_and_retrain_wiring_in_moto(planned, aws):
    sns, cw, events = aws("sns"), aws("cloudwatch"), aws("events")
    topic = sns.create_topic(Name="churn-dev-retraining-trigger-alerts-mock")["TopicArn"]
    sub = planned.one("aws:sns/topicSubscription:TopicSubscription").inputs
    sns.subscribe(TopicArn=topic, Protocol=sub["protocol"], Endpoint=sub["endpoint"])
    for alarm in planned.by_type("aws:cloudwatch/metricAlarm:MetricAlarm"):
        cw.put_metric_alarm(**_alarm_request(alarm.inputs))
    stored = cw.describe_alarms(AlarmNames=["churn-dev-feature-drift"])["MetricAlarms"][0]
    assert stored["Threshold"] == 0.2 and stored["AlarmActions"] == [topic]
    silent = cw.describe_alarms(AlarmNames=["churn-dev-drift-check-silent"])["MetricAlarms"][0]
    assert silent["TreatMissingData"] == "breaching" and silent["AlarmActions"] == [topic]

    targets = {t.inputs["rule"]: t.inputs for t in planned.by_type("aws:cloudwatch/eventTarget:EventTarget")}
    for rule in planned.by_type("aws:cloudwatch/eventRule:EventRule"):
        inputs = rule.inputs
        # A pattern rule (the alarm's state change) or a scheduled one (the re-ask at every drift
        # check): moto validates the schedule expression as EventBridge's cron/rate grammar.
        if "eventPattern" in inputs:
            when = {"EventPattern": inputs["eventPattern"]}
        else:
            when = {"ScheduleExpression": inputs["scheduleExpression"]}
        events.put_rule(Name=inputs["name"], State=inputs["state"], **when)
        target = targets[inputs["name"]]
        events.put_targets(
            Rule=inputs["name"],
            Targets=[
                {
                    "Id": "target",
                    "Arn": target["arn"],
                    **({"RetryPolicy": pascal(target["retryPolicy"])} if "retryPolicy" in target else {}),
                    **(
                        {"DeadLetterConfig": pascal(target["deadLetterConfig"])} if "deadLetterConfig" in target else {}
                    ),
                }
            ],
        )
    # the guard is asked by completed drift jobs; a failed or stopped one e-mails the alert topic
    listed = events.list_targets_by_rule(Rule="churn-dev-retrain-on-drift")["Targets"][0]
    assert listed["Arn"].endswith(":function:churn-dev-retrain-guard") and "DeadLetterConfig" in listed
    listed = events.list_targets_by_rule(Rule="churn-dev-drift-check-failed")["Targets"][0]
    assert listed["Arn"] == topic
    stored = {r["Name"]: r for r in events.list_rules()["Rules"]}
    # no scheduled re-ask (audit 3 finding 8)
    assert sorted(stored) == ["churn-dev-drift-check-failed", "churn-dev-retrain-on-drift"]
    assert "EventPattern" in stored["churn-dev-retrain-on-drift"]
    assert os.environ["AWS_DEFAULT_REGION"] == REGION


def test_the_builtin_monitor_in_moto(aws_plans, aws):
    sm = aws("sagemaker")
    job = pascal(aws_plans["aws-builtin"].one("aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition").inputs)
    job.pop("Tags")
    cluster = job["JobResources"]["ClusterConfig"]
    cluster["VolumeSizeInGB"] = cluster.pop("VolumeSizeInGb")  # the API's spelling
    outputs = job["DataQualityJobOutputConfig"]
    outputs["MonitoringOutputs"] = [outputs["MonitoringOutputs"]]  # a list in the API, one block in Pulumi
    sm.create_data_quality_job_definition(JobDefinitionName="churn-dev-data-quality", **job)
    got = sm.describe_data_quality_job_definition(JobDefinitionName="churn-dev-data-quality")
    assert got["DataQualityJobInput"]["EndpointInput"]["EndpointName"] == "churn-dev-endpoint-small"
    assert got["DataQualityBaselineConfig"]["StatisticsResource"]["S3Uri"].endswith(
        "/monitoring/baselines/1/statistics.json"
    )
