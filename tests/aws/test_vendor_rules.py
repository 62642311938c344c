"""What the kit sends to AWS, held against AWS's own rules (botocore's service models).

The limits in these tests are read from botocore (the vendor's machine-readable rule), never from
the code under test; the expected violations and tables are written out literally.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import botocore.session
import pytest

from infra.config import SECRET_PLACEHOLDER, load_stack_file
from infra.plan import plan
from providers.aws import mocks as offline
from providers.aws import vendor_rules as vr
from tests.aws.stacks import STACKS

ROOT = Path(__file__).resolve().parents[2]
BOTOCORE = botocore.session.get_session()
SAGEMAKER = BOTOCORE.get_service_model("sagemaker")


@pytest.fixture(scope="module")
def plans(aws_plans) -> dict[str, list[dict]]:
    return {stack: [r.to_json() for r in result.resources] for stack, result in aws_plans.items()}


# ---- the validator on synthetic requests ------------------------------------------------------


def processing_request() -> dict:
    """A CreateProcessingJob request AWS accepts."""
    return {
        "ProcessingJobName": "churn-validate-2024-01-01",
        "ProcessingResources": {
            "ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}
        },
        "AppSpecification": {
            "ImageUri": "141502667606.dkr.ecr.eu-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            "ContainerEntrypoint": ["python3", "/opt/ml/processing/code/validate.py"],
            "ContainerArguments": ["--min_rows", "100"],
        },
        "ProcessingInputs": [
            {
                "InputName": "raw",
                "S3Input": {
                    "S3Uri": "s3://bucket/raw/",
                    "LocalPath": "/opt/ml/processing/input/raw",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                },
            }
        ],
        "Environment": {"PYTHONUNBUFFERED": "1"},
        "RoleArn": "arn:aws:iam::123456789012:role/churn-dev-sagemaker-a1b2c3d",
        "StoppingCondition": {"MaxRuntimeInSeconds": 10800},
    }


def found(violations: list[vr.Violation]) -> list[tuple[str, str]]:
    return [(v.path, v.rule) for v in violations]


def test_a_valid_request_passes():
    assert vr.check_request("sagemaker", "CreateProcessingJob", processing_request()) == []


def test_a_container_entrypoint_item_one_past_the_maximum_is_refused():
    item_shape = SAGEMAKER.shape_for("AppSpecification").members["ContainerEntrypoint"].member
    limit = item_shape.metadata["max"]  # the vendor's rule, not ours
    request = processing_request()
    request["AppSpecification"]["ContainerEntrypoint"] = ["/bin/bash", "-c", "x" * limit]
    assert vr.check_request("sagemaker", "CreateProcessingJob", request) == []
    request["AppSpecification"]["ContainerEntrypoint"][2] = "x" * (limit + 1)
    violations = vr.check_request("sagemaker", "CreateProcessingJob", request)
    assert found(violations) == [
        (
            "CreateProcessingJob.AppSpecification.ContainerEntrypoint[2]",
            f"max length {limit} characters (is {limit + 1})",
        )
    ]
    assert violations[0].source == "botocore sagemaker CreateProcessingJob, shape ContainerEntrypointString"
    assert violations[0].value.endswith(f"... ({limit + 1} chars)")  # truncated


def test_a_value_outside_the_enum_is_refused():
    request = processing_request()
    request["ProcessingInputs"][0]["S3Input"]["S3InputMode"] = "Fast"
    assert found(vr.check_request("sagemaker", "CreateProcessingJob", request)) == [
        ("CreateProcessingJob.ProcessingInputs[0].S3Input.S3InputMode", "enum ['File', 'Pipe']")
    ]


def test_a_name_breaking_the_pattern_is_refused_even_when_a_prefix_matches():
    request = processing_request()
    request["ProcessingJobName"] = "churn_validate"  # 'churn' alone would match
    assert found(vr.check_request("sagemaker", "CreateProcessingJob", request)) == [
        ("CreateProcessingJob.ProcessingJobName", "pattern '[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}' (whole value)")
    ]


def test_a_number_outside_the_range_is_refused():
    volume = SAGEMAKER.shape_for("ProcessingClusterConfig").members["VolumeSizeInGB"]
    request = processing_request()
    request["ProcessingResources"]["ClusterConfig"]["VolumeSizeInGB"] = volume.metadata["max"] + 1
    request["ProcessingResources"]["ClusterConfig"]["InstanceCount"] = 0
    assert found(vr.check_request("sagemaker", "CreateProcessingJob", request)) == [
        ("CreateProcessingJob.ProcessingResources.ClusterConfig.InstanceCount", "minimum 1"),
        ("CreateProcessingJob.ProcessingResources.ClusterConfig.VolumeSizeInGB", f"maximum {volume.metadata['max']}"),
    ]


def test_an_unknown_member_and_a_missing_required_member_are_refused():
    request = processing_request()
    request["AppSpecification"]["Entrypoint"] = ["python3"]
    del request["RoleArn"]
    rules = found(vr.check_request("sagemaker", "CreateProcessingJob", request))
    assert ("CreateProcessingJob.RoleArn", "required member missing") in rules
    assert any(
        p == "CreateProcessingJob.AppSpecification.Entrypoint" and r.startswith("unknown member") for p, r in rules
    )
    assert len(rules) == 2


def test_a_supplied_member_is_not_required():
    request = processing_request()
    del request["ProcessingJobName"]
    assert found(vr.check_request("sagemaker", "CreateProcessingJob", request)) == [
        ("CreateProcessingJob.ProcessingJobName", "required member missing")
    ]
    assert vr.check_request("sagemaker", "CreateProcessingJob", request, supplied=["ProcessingJobName"]) == []


def test_pipeline_variables_are_run_time_values_only_in_pipeline_steps():
    request = processing_request()
    request["AppSpecification"]["ContainerArguments"] = ["--seed", {"Get": "Parameters.seed"}]
    assert vr.check_request("sagemaker", "CreateProcessingJob", request, pipeline_variables=True) == []
    assert found(vr.check_request("sagemaker", "CreateProcessingJob", request)) == [
        ("CreateProcessingJob.AppSpecification.ContainerArguments[1]", "type: expected a string")
    ]


# ---- Java patterns in Python -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "accepted", "refused"),
    [
        # The whole value must match; `.` matches no line terminator (Java and ECMAScript alike).
        (".*", ["any thing; at all"], ["two\nlines", "cr\rhere"]),
        (".*(?:[ \\r\\n\\t].*)*", ["two\nlines"], []),
        ("[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", ["churn-dev-1"], ["churn_dev", "-churn", "a" * 64]),
        # \p{..} Unicode categories, and a quantified anchor (CustomerMetadataValue).
        ("([\\p{L}\\p{Z}\\p{N}_.:\\/=+\\-@]*)${1,256}", ["roc_auc 0.75", "é=1", ""], ["roc_auc >= 0.75", "a;b"]),
        # Java's POSIX classes are ASCII.
        ("\\A\\S[\\p{Print}]*\\z", ["ok value", "é"], [" leading", "xé", "line\n"]),
        ("\\p{ASCII}*", ["abc~"], ["é"]),
        # A supplementary code point written as a UTF-16 surrogate pair.
        ("[\\u0020-\\uD7FF\\uE000-\\uFFFD\\uD800\\uDC00-\\uDBFF\\uDFFF\\t]*", ["emoji \U0001f600"], ["bell\x07"]),
        # `-` after a class escape is a literal in Java.
        ("[\\w-_]*", ["a-b_c"], ["a.b"]),
        # \w and \d are ASCII in Java.
        ("\\w+", ["abc_1"], ["é"]),
    ],
)
def test_java_patterns_keep_their_meaning(pattern, accepted, refused):
    compiled = vr.java_regex(pattern)
    assert [v for v in accepted if not compiled.fullmatch(v)] == []
    assert [v for v in refused if compiled.fullmatch(v)] == []


def _services_checked() -> set[str]:
    services = {rule.service for rule in vr.RESOURCES.values()} | {"sagemaker"}
    return services


def test_every_pattern_of_every_service_checked_translates():
    untranslated = []
    for service in sorted(_services_checked()):
        model = BOTOCORE.get_service_model(service)
        for name in model.shape_names:
            pattern = model.shape_for(name).metadata.get("pattern")
            if pattern:
                try:
                    vr.java_regex(pattern)
                except (vr.UnsupportedPattern, re.error) as exc:
                    untranslated.append((service, name, pattern, str(exc)))
    assert untranslated == []


# ---- Pulumi inputs -> API requests ------------------------------------------------------------


def test_every_aws_type_the_kit_declares_is_mapped(plans):
    declared = {r["type"] for stack in STACKS for r in plans[stack] if r["type"].startswith("aws:")}
    assert declared - set(vr.RESOURCES) == set()
    assert declared == {
        "aws:appautoscaling/policy:Policy",
        "aws:appautoscaling/target:Target",
        "aws:cloudwatch/eventRule:EventRule",
        "aws:cloudwatch/eventTarget:EventTarget",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/routeTableAssociation:RouteTableAssociation",
        "aws:ec2/securityGroup:SecurityGroup",
        "aws:ec2/subnet:Subnet",
        "aws:ec2/vpc:Vpc",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        "aws:iam/policy:Policy",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:kms/alias:Alias",
        "aws:kms/key:Key",
        "aws:lambda/function:Function",
        "aws:lambda/permission:Permission",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketObjectv2:BucketObjectv2",
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "aws:s3/bucketPolicy:BucketPolicy",
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketVersioning:BucketVersioning",
        "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition",
        "aws:sagemaker/endpoint:Endpoint",
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
        "aws:sagemaker/featureGroup:FeatureGroup",
        "aws:sagemaker/model:Model",
        "aws:sagemaker/modelPackageGroup:ModelPackageGroup",
        "aws:sagemaker/monitoringSchedule:MonitoringSchedule",
        "aws:sagemaker/pipeline:Pipeline",
        "aws:scheduler/schedule:Schedule",
        "aws:scheduler/scheduleGroup:ScheduleGroup",
        "aws:sns/topic:Topic",
        "aws:sns/topicPolicy:TopicPolicy",
        "aws:sns/topicSubscription:TopicSubscription",
        "aws:sqs/queue:Queue",
        "aws:sqs/queuePolicy:QueuePolicy",
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    }


def test_the_all_options_stack_declares_every_optional_resource(plans):
    types = [r["type"] for r in plans["aws-all-options"]]
    assert types.count("aws:sagemaker/featureGroup:FeatureGroup") == 2
    # the drift alarm, the silent-check alarm, the unreadable-capture alarm, and the rollout's
    # error-rate (new fleet, whole variant) and p99 alarms, the dead-letter queue's and the retrain
    # guard's failure alarms
    assert types.count("aws:cloudwatch/metricAlarm:MetricAlarm") == 8
    assert types.count("aws:sagemaker/model:Model") == 2  # the served version and its shadow
    assert types.count("aws:scheduler/schedule:Schedule") == 2  # training and the drift check
    for optional in (
        "aws:sagemaker/endpoint:Endpoint",
        "aws:cloudwatch/eventTarget:EventTarget",
        "aws:lambda/function:Function",
    ):
        assert optional in types
    builtin = [r["type"] for r in plans["aws-builtin"]]
    assert "aws:sagemaker/monitoringSchedule:MonitoringSchedule" in builtin


def test_every_input_of_every_plan_maps_to_a_request(plans):
    # resource_requests raises UnmappedInput for anything the tables do not map
    for stack in STACKS:
        for r in vr.realistic([r for r in plans[stack] if r["type"].startswith("aws:")]):
            assert vr.resource_requests(r)


def _one(plans, type_):
    return copy.deepcopy(next(r for r in plans["aws-dev"] if r["type"] == type_))


@pytest.mark.parametrize(
    ("type_", "mutate"),
    [
        ("aws:sagemaker/endpointConfiguration:EndpointConfiguration", lambda i: i.update(frobnicate=True)),
        (
            "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
            lambda i: i["dataCaptureConfig"].update(captureEverything=True),
        ),
        ("aws:cloudwatch/metricAlarm:MetricAlarm", lambda i: i["metricQueries"][0]["metric"].update(accountIds="1")),
        ("aws:scheduler/schedule:Schedule", lambda i: i["target"].update(sagemakerPipelineParams={})),
    ],
)
def test_an_input_the_tables_do_not_map_fails_loudly(plans, type_, mutate):
    resource = _one(plans, type_)
    mutate(resource["inputs"])
    with pytest.raises(vr.UnmappedInput):
        vr.check_plan([resource])


def test_an_aws_type_the_tables_do_not_know_fails_loudly():
    with pytest.raises(vr.UnmappedInput):
        vr.check_plan([{"type": "aws:ec2/natGateway:NatGateway", "name": "net", "inputs": {"subnetId": "subnet-1"}}])


def _shape_at(service: str, operation: str, path: str):
    shape = BOTOCORE.get_service_model(service).operation_model(operation).input_shape
    for part in [p for p in path.split(".") if p]:
        while shape.type_name == "list":
            shape = shape.member
        shape = shape.members[part.split("[")[0]]
    return shape


def test_every_target_in_the_tables_is_a_member_of_the_api():
    missing = []
    for type_, rule in vr.RESOURCES.items():
        for key, member in rule.renames.items():
            parent = key.rpartition(".")[0]
            shape = _shape_at(rule.service, rule.operation, parent)
            while shape.type_name == "list":
                shape = shape.member
            if member not in shape.members:
                missing.append((type_, key, member))
        for path in list(rule.moves.values()) + ([rule.autoname] if rule.autoname else []):
            try:
                _shape_at(rule.service, rule.operation, path)
            except KeyError:
                missing.append((type_, path))
        for operation, path in rule.routed.values():
            try:
                _shape_at(rule.service, operation, path)
            except KeyError:
                missing.append((type_, operation, path))
        for operation, members in rule.supplied.items():
            required = _shape_at(rule.service, operation, "").required_members
            missing += [(type_, operation, m) for m in members if m not in required]
    assert missing == []


def test_the_plan_mocks_are_recognised_and_made_realistic():
    # mocks.py's fake ids; if their format changes, realistic() must follow or this fails.
    _, bucket = offline.fake_state("aws:s3/bucket:Bucket", "x-data", {})
    state, _ = offline.fake_state("aws:kms/key:Key", "x-key", {})
    assert (bucket, state["keyId"]) == ("x-data-mock", "x-key-key-id")
    resources = [
        {"type": "aws:s3/bucket:Bucket", "name": "x-data", "inputs": {}},
        {"type": "aws:kms/key:Key", "name": "x-key", "inputs": {}},
        {
            "type": "aws:s3/bucketPolicy:BucketPolicy",
            "name": "x-policy",
            "inputs": {"bucket": bucket, "policy": json.dumps({"Resource": f"arn:aws:kms:r:1:key/{state['keyId']}"})},
        },
    ]
    inputs = vr.realistic(resources)[2]["inputs"]
    assert inputs["bucket"] == "x-data-a1b2c3d"  # Pulumi's autoname: name, '-', 7 hex
    key_id = json.loads(inputs["policy"])["Resource"].rsplit("/", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", key_id)


def test_no_mock_value_is_left_in_what_is_checked(plans):
    for stack in STACKS:
        text = json.dumps(vr.realistic([r for r in plans[stack] if r["type"].startswith("aws:")]))
        assert re.findall(r"[\w-]+-(?:mock|key-id)\b", text) == []


def test_unknowns_secrets_and_assets_are_not_checked(plans):
    from pulumi.runtime.rpc import UNKNOWN

    config = _one(plans, "aws:sagemaker/endpointConfiguration:EndpointConfiguration")
    config["inputs"]["kmsKeyArn"] = UNKNOWN
    config["inputs"]["productionVariants"][0]["modelName"] = SECRET_PLACEHOLDER
    obj = next(
        copy.deepcopy(r)
        for r in plans["aws-dev"]
        if r["type"] == "aws:s3/bucketObjectv2:BucketObjectv2" and "source" in r["inputs"]
    )
    assert obj["inputs"]["source"]["asset"] == "FileAsset"
    assert vr.check_plan([config, obj], placeholders=[SECRET_PLACEHOLDER]) == []
    # the same placeholder where it is not declared one is checked like any value
    assert found(vr.check_plan([config])) == [
        (
            "CreateEndpointConfig.ProductionVariants[0].ModelName",
            r"pattern '[a-zA-Z0-9]([\-a-zA-Z0-9]*[a-zA-Z0-9])?' (whole value)",
        )
    ]


def test_a_resource_input_over_a_limit_is_found(plans):
    group = _one(plans, "aws:sagemaker/featureGroup:FeatureGroup")
    limit = SAGEMAKER.shape_for("CreateFeatureGroupRequest").members["Description"].metadata["max"]
    group["inputs"]["description"] = "d" * (limit + 1)
    assert found(vr.check_plan([group])) == [
        ("CreateFeatureGroup.Description", f"max length {limit} characters (is {limit + 1})")
    ]


# ---- the pipeline definition -----------------------------------------------------------------


def test_condition_branches_are_checked_and_unknown_step_types_fail_loudly():
    register = {"Name": "register", "Type": "RegisterModel", "Arguments": {"ModelApprovalStatus": "Maybe"}}
    definition = {
        "Version": "2020-12-01",
        "Steps": [
            {"Name": "gate", "Type": "Condition", "Arguments": {"IfSteps": [], "ElseSteps": [register]}},
        ],
    }
    assert found(vr.check_pipeline_definition(json.dumps(definition))) == [
        (
            "pipelineDefinition.Steps[gate].Arguments.ElseSteps[register].Arguments.ModelApprovalStatus",
            "enum ['Approved', 'PendingManualApproval', 'Rejected']",
        )
    ]
    definition["Steps"].append({"Name": "notify", "Type": "Lambda", "Arguments": {}})
    with pytest.raises(vr.UnmappedInput):
        vr.check_pipeline_definition(definition)


def test_every_step_type_of_the_plans_is_checked(plans):
    def kinds_of(steps: list[dict]) -> set[str]:
        out = set()
        for step in steps:
            out.add(step["Type"])
            args = step.get("Arguments") or {}
            out |= kinds_of(args.get("IfSteps") or []) | kinds_of(args.get("ElseSteps") or [])
        return out

    kinds = set()
    for stack in STACKS:
        pipeline = next(r for r in plans[stack] if r["type"] == "aws:sagemaker/pipeline:Pipeline")
        kinds |= kinds_of(json.loads(pipeline["inputs"]["pipelineDefinition"])["Steps"])
    # each of these is either checked against its API or known to be none (Condition, Fail)
    assert kinds <= set(vr.STEP_OPERATIONS) | vr.NO_API_STEPS
    assert kinds == {"Processing", "QualityCheck", "Training", "Condition", "RegisterModel", "Fail"}


def test_no_json_schema_of_the_pipeline_definition_ships_with_botocore_or_the_sdk():
    # If one ever ships, hold the definition against it too.
    import importlib.util

    roots = [Path(importlib.util.find_spec(m).origin).parent for m in ("botocore", "sagemaker")]
    schemas = [p for root in roots for p in root.rglob("*.json") if "IfSteps" in p.read_text(errors="ignore")]
    assert schemas == []


# ---- the class test: everything the plans send ------------------------------------------------


def test_every_resource_request_of_the_plans_obeys_aws_rules(plans):
    violations = []
    for stack in STACKS:
        for r in vr.realistic([r for r in plans[stack] if r["type"].startswith("aws:")]):
            for service, operation, params, supplied in vr.resource_requests(r):
                violations += vr.check_request(service, operation, params, supplied=supplied, resource=r["name"])
    assert [str(v) for v in violations] == []


@pytest.mark.parametrize("stack", STACKS)
def test_everything_the_plan_sends_obeys_aws_rules(plans, stack):
    """What `mlops plan` will run: resource requests, every pipeline step, IAM actions."""
    assert [str(v) for v in vr.check_plan(plans[stack], placeholders=[SECRET_PLACEHOLDER])] == []


def test_mlops_plan_holds_the_plan_against_the_rules(monkeypatch):
    # The provider's check is the validator itself: a plan it refuses ends `mlops plan` with exit 2.
    from infra.plan import VendorRuleError

    seen = []
    real = vr.check_plan

    def spy(resources, **kwargs):
        seen.append(len(resources))
        return real(resources, **kwargs) + [vr.Violation("X.Y", '"z"', "a planted rule", "test")]

    monkeypatch.setattr(vr, "check_plan", spy)
    with pytest.raises(VendorRuleError) as info:
        plan(load_stack_file(ROOT / "Pulumi.aws-dev.yaml"))
    assert seen and seen[0] > 30
    assert info.value.violations == ['X.Y = "z" breaks a planted rule [test]']


def test_an_unmapped_input_is_a_kit_bug_not_a_refusal(monkeypatch):
    from providers.aws import AwsProvider

    def unmapped(resources, **kwargs):
        raise vr.UnmappedInput("aws:x/y:Z input 'w': no mapping")

    monkeypatch.setattr(vr, "check_plan", unmapped)
    with pytest.raises(vr.UnmappedInput):
        AwsProvider().check_plan([])


# ---- IAM actions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "exists"),
    [
        ("sagemaker:CreateProcessingJob", True),
        ("sagemaker:CreateProcesingJob", False),  # misspelt
        ("sagemaker:PutRecord", True),  # sagemaker-featurestore-runtime
        ("sagemaker:InvokeEndpoint", True),  # sagemaker-runtime
        ("iam:PassRole", True),  # IAM-only
        ("s3:ListBucket", True),  # IAM-only: authorizes ListObjects(V2)
        ("s3:ListObjects", False),  # an API operation, but IAM calls it s3:ListBucket
        ("s3:PutBucketEncryption", False),  # IAM: s3:PutEncryptionConfiguration
        ("cloudwatch:PutMetricData", True),
        ("monitoring:PutMetricData", False),  # botocore's endpoint prefix, not an IAM prefix
        ("events:PutTargets", True),
        ("eventbridge:PutTargets", False),
        ("scheduler:CreateSchedule", True),
        ("kms:GenerateDataKey*", True),
        ("kms:Generate*Key", True),
        ("kms:Frobnicate*", False),
        ("kms:decrypt", True),  # IAM action names are case-insensitive
        ("PassRole", False),
    ],
)
def test_the_iam_catalogue(action, exists):
    assert (vr.check_action(action) is None) is exists


def test_the_iam_tables_agree_with_botocore():
    ops = {
        prefix: {op for service in services for op in BOTOCORE.get_service_model(service).operation_names}
        for prefix, services in {"s3": ("s3", "s3control"), "iam": ("iam",)}.items()
    }
    # an IAM-only action is no API operation; an operation IAM renames is one
    assert [a for a in vr.IAM_ONLY_ACTIONS if a.split(":")[1] in ops[a.split(":")[0]]] == []
    assert [a for a in vr.NOT_IAM_ACTIONS if a.split(":")[1] not in ops[a.split(":")[0]]] == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_iam_action_of_the_plan_exists(plans, stack):
    assert [str(v) for v in vr.check_iam_actions(plans[stack])] == []


def test_wildcard_actions_only_where_listed(plans):
    wildcards = {
        (pa.resource.split()[0], pa.statement, pa.action)
        for stack in STACKS
        for pa in vr.policy_actions(plans[stack])
        if "*" in pa.action or "?" in pa.action
    }
    assert wildcards == {
        # the key policy's administrator statement: the account, through IAM (AWS's default key policy)
        ("aws:kms/key:Key", "AccountAdministersKeyThroughIAM", "kms:*"),
        ("aws:kms/key:Key", "CloudWatchAlarmsPublishToEncryptedTopic", "kms:GenerateDataKey*"),
        # a Deny of everything over plain HTTP
        ("aws:s3/bucketPolicy:BucketPolicy", "DenyInsecureTransport", "s3:*"),
        ("aws:iam/rolePolicy:RolePolicy", "Key", "kms:ReEncrypt*"),
        ("aws:iam/rolePolicy:RolePolicy", "Key", "kms:GenerateDataKey*"),
        # CloudWatch Logs encrypting the retrain guard's log group (the form of AWS's own example,
        # "Encrypt log data in CloudWatch Logs using AWS KMS"), for that log group only
        ("aws:kms/key:Key", "CloudWatchLogsEncryptRetrainGuardLogs", "kms:Encrypt*"),
        ("aws:kms/key:Key", "CloudWatchLogsEncryptRetrainGuardLogs", "kms:Decrypt*"),
        ("aws:kms/key:Key", "CloudWatchLogsEncryptRetrainGuardLogs", "kms:ReEncrypt*"),
        ("aws:kms/key:Key", "CloudWatchLogsEncryptRetrainGuardLogs", "kms:GenerateDataKey*"),
        ("aws:kms/key:Key", "CloudWatchLogsEncryptRetrainGuardLogs", "kms:Describe*"),
    }


def test_every_policy_document_of_the_plan_is_found(plans):
    documents = {(pa.resource.split()[0], pa.document) for pa in vr.policy_actions(plans["aws-dev"])}
    assert documents == {
        ("aws:iam/role:Role", "assumeRolePolicy"),
        ("aws:iam/rolePolicy:RolePolicy", "policy"),
        ("aws:iam/policy:Policy", "policy"),
        ("aws:kms/key:Key", "policy"),
        ("aws:s3/bucketPolicy:BucketPolicy", "policy"),
        ("aws:sqs/queuePolicy:QueuePolicy", "policy"),
        ("aws:sns/topicPolicy:TopicPolicy", "policy"),
        ("aws:ec2/vpcEndpoint:VpcEndpoint", "policy"),
    }
