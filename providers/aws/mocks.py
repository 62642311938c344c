"""What the offline plan's mocks answer for AWS (plan-time fakes): computed attributes and invoke results."""

from __future__ import annotations

from typing import Any

ACCOUNT = "123456789012"
REGION = "eu-west-1"

# Pulumi type -> (ARN service:resource-type, input holding the physical name)
_ARNS = {
    "aws:kms/key:Key": ("kms:key", None),
    "aws:s3/bucket:Bucket": ("s3", "bucket"),
    "aws:iam/role:Role": ("iam:role", "name"),
    "aws:iam/policy:Policy": ("iam:policy", "name"),
    "aws:sagemaker/featureGroup:FeatureGroup": ("sagemaker:feature-group", "featureGroupName"),
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": ("sagemaker:model-package-group", "modelPackageGroupName"),
    "aws:sagemaker/pipeline:Pipeline": ("sagemaker:pipeline", "pipelineName"),
    "aws:sagemaker/model:Model": ("sagemaker:model", "name"),
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": ("sagemaker:endpoint-config", "name"),
    "aws:sagemaker/endpoint:Endpoint": ("sagemaker:endpoint", "name"),
    "aws:sagemaker/dataQualityJobDefinition:DataQualityJobDefinition": (
        "sagemaker:data-quality-job-definition",
        "name",
    ),
    "aws:sagemaker/monitoringSchedule:MonitoringSchedule": ("sagemaker:monitoring-schedule", "name"),
    "aws:sns/topic:Topic": ("sns", "name"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("cloudwatch:alarm", "name"),
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": ("cloudwatch:alarm", "alarmName"),
    "aws:cloudwatch/logGroup:LogGroup": ("logs:log-group", "name"),
    "aws:lambda/function:Function": ("lambda:function", "name"),
    "aws:cloudwatch/eventRule:EventRule": ("events:rule", "name"),
    "aws:scheduler/schedule:Schedule": ("scheduler:schedule", "name"),
    "aws:scheduler/scheduleGroup:ScheduleGroup": ("scheduler:schedule-group", "name"),
    "aws:sqs/queue:Queue": ("sqs", "name"),
}
# EC2 ids have a shape of their own (`subnet-0123456789abcdef0`); SageMaker's VpcConfig checks it.
_EC2_IDS = {
    "aws:ec2/vpc:Vpc": "vpc",
    "aws:ec2/subnet:Subnet": "subnet",
    "aws:ec2/routeTable:RouteTable": "rtb",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "rtbassoc",
    "aws:ec2/securityGroup:SecurityGroup": "sg",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "vpce",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "sgr",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "sgr",
}
# Physical-name inputs Pulumi fills in (with a random suffix) when the program leaves them unset.
_AUTONAMED = {"bucket", "name"}


def configure(cloud_config: dict[str, Any]) -> None:
    global REGION
    REGION = str(cloud_config.get("region", REGION))


def _ec2_id(kind: str, name: str) -> str:
    import hashlib

    return f"{kind}-0{hashlib.sha256(name.encode()).hexdigest()[:16]}"


def fake_state(typ: str, name: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
    state: dict[str, Any] = {}
    if typ in _EC2_IDS:
        physical = _ec2_id(_EC2_IDS[typ], name)
        if typ == "aws:ec2/vpcEndpoint:VpcEndpoint":
            state["prefixListId"] = _ec2_id("pl", name)[:11]  # pl- + 8 hex, as AWS's prefix lists
        if typ in ("aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:ec2/securityGroup:SecurityGroup"):
            kind = {"aws:ec2/vpc:Vpc": "vpc", "aws:ec2/subnet:Subnet": "subnet"}.get(typ, "security-group")
            state["arn"] = f"arn:aws:ec2:{REGION}:{ACCOUNT}:{kind}/{physical}"
        return state, physical
    if typ not in _ARNS:
        return state, f"{name}-id"
    service, name_key = _ARNS[typ]
    given: str | None = inputs.get(name_key) if name_key else None
    if given is None and name_key in _AUTONAMED:
        given = f"{name}-mock"
        state[name_key] = given
    physical = given or f"{name}-id"
    if typ == "aws:kms/key:Key":
        state["keyId"] = f"{name}-key-id"
        physical = state["keyId"]
    svc, _, kind = service.partition(":")
    if svc == "s3":
        arn = f"arn:aws:s3:::{physical}"
    elif svc == "iam":
        arn = f"arn:aws:iam::{ACCOUNT}:{kind}/{physical}"
    elif svc in ("sns", "sqs"):
        arn = f"arn:aws:{svc}:{REGION}:{ACCOUNT}:{physical}"
    elif kind in ("alarm", "function", "log-group"):
        # These services put a colon between the resource type and its name.
        arn = f"arn:aws:{svc}:{REGION}:{ACCOUNT}:{kind}:{physical}"
    elif kind == "schedule":  # schedule/<group>/<name>
        arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{inputs.get('groupName') or 'default'}/{physical}"
    else:
        arn = f"arn:aws:{svc}:{REGION}:{ACCOUNT}:{kind}/{physical}"
    state["arn"] = arn
    if typ == "aws:sqs/queue:Queue":
        state["url"] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{physical}"
    if typ == "aws:sagemaker/featureGroup:FeatureGroup":
        # Computed by SageMaker: the group's own prefix under the configured offline store URI.
        offline = dict(inputs.get("offlineStoreConfig") or {})
        storage = dict(offline.get("s3StorageConfig") or {})
        storage["resolvedOutputS3Uri"] = (
            f"{storage.get('s3Uri')}/{ACCOUNT}/sagemaker/{REGION}/offline-store/{physical}-1700000000/data"
        )
        state["offlineStoreConfig"] = {**offline, "s3StorageConfig": storage}
    return state, physical


def fake_call(token: str, args: dict[str, Any]) -> dict[str, Any]:
    if token == "aws:index/getCallerIdentity:getCallerIdentity":
        return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:user/plan", "userId": "PLAN", "id": ACCOUNT}
    if token == "aws:index/getRegion:getRegion":
        return {"name": REGION, "region": REGION, "id": REGION}
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        names = [f"{REGION}{zone}" for zone in "abc"]
        return {"names": names, "zoneIds": [f"{REGION[:3]}{REGION[-1]}-az{i}" for i in (1, 2, 3)], "id": REGION}
    if token == "aws:index/getPartition:getPartition":
        return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}
    return {}
