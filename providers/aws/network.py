"""`network.public_access: false` on AWS: a private VPC the platform's jobs, model and monitor run in.

Declared by the Foundation (``private_network``). What it holds and why each part is there
(docs/aws.md, "Network", has the sources):

* a VPC with DNS support and hostnames (an interface endpoint's private DNS needs both), and two
  private subnets in the region's first two available zones, one route table with no route out:
  no internet gateway, no NAT;
* an S3 gateway endpoint on that route table, its policy limited to the platform's bucket: jobs and
  models in a VPC reach S3 only through it ("Give SageMaker Training Jobs Access to Resources in
  Your Amazon VPC", https://docs.aws.amazon.com/sagemaker/latest/dg/train-vpc.html, "Create an
  Amazon S3 VPC Endpoint"), and it cannot carry data to another bucket;
* an interface endpoint for ``sagemaker.runtime`` in both subnets, so callers inside the VPC invoke
  the endpoint without the internet ("Specifying a VPC configuration alone doesn't change the
  invocation path", "Give SageMaker AI Access to Resources in your Amazon VPC",
  https://docs.aws.amazon.com/sagemaker/latest/dg/infrastructure-give-access.html), its policy
  limited to invoking this platform's endpoints;
* an interface endpoint for ``sagemaker.featurestore-runtime``: the kit's ``store_features`` step
  writes the feature groups with ``PutRecord`` from inside the VPC; its policy allows PutRecord on
  this platform's feature groups only;
* with the kit's drift check (``monitor.engine: kit``) and a served model, an interface endpoint for
  ``monitoring`` (CloudWatch): the drift job publishes its metrics from inside the VPC; its policy
  allows PutMetricData in the platform's drift namespace only;
* two security groups without any rule from outside the VPC: ``workloads`` (jobs, model, monitor:
  no ingress, egress HTTPS to S3's prefix list and to the interface endpoints only) and
  ``endpoints`` (the interface endpoints: HTTPS in from the VPC's own range, no egress).

No other interface endpoint: every other job of a private platform runs network-isolated (its
container makes no call at all, to AWS or elsewhere), SageMaker pulls images from ECR and ships
logs itself, and EventBridge Scheduler / EventBridge start jobs and pipelines from outside the VPC.
The two steps that call AWS (``store_features``, ``training_data``) and the drift job run without
isolation, in the private subnets, reaching AWS only through these endpoints ("Connect to
SageMaker AI Within your VPC", https://docs.aws.amazon.com/sagemaker/latest/dg/interface-vpc-endpoint.html;
"Use CloudWatch with interface VPC endpoints",
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-interface-VPC.html).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

VPC_CIDR = "10.64.0.0/16"
SUBNET_CIDRS = ("10.64.0.0/20", "10.64.16.0/20")
"""Two /20s (4,091 addresses each): SageMaker needs 2 per training instance and one per endpoint
instance and job, with room to spare."""
HTTPS = 443


@dataclass(frozen=True)
class NetworkOut:
    """Where the platform's jobs, model and monitor run: SageMaker's ``VpcConfig``."""

    vpc_id: pulumi.Output[str]
    subnet_ids: pulumi.Output[list[str]]
    security_group_ids: pulumi.Output[list[str]]

    def vpc_config(self) -> pulumi.Output[dict[str, list[str]]]:
        """``{"Subnets": [...], "SecurityGroupIds": [...]}``, as SageMaker's API spells it."""
        return pulumi.Output.all(self.subnet_ids, self.security_group_ids).apply(
            lambda a: {"Subnets": list(a[0]), "SecurityGroupIds": list(a[1])}
        )


def private_network(
    name: str,
    *,
    prefix: str,
    region: str,
    account_id: pulumi.Output[str],
    bucket_arn: pulumi.Output[str],
    tags: dict[str, str],
    child: pulumi.ResourceOptions,
    feature_groups: tuple[str, ...] = (),
    metrics_namespace: str | None = None,
) -> NetworkOut:
    """Declare the private network (see the module docstring); ``child`` parents every resource."""

    def named(suffix: str) -> dict[str, str]:
        return {**tags, "Name": f"{prefix}-{suffix}"}

    vpc = aws.ec2.Vpc(
        f"{name}-vpc",
        cidr_block=VPC_CIDR,
        enable_dns_support=True,
        enable_dns_hostnames=True,
        tags=named("private"),
        opts=child,
    )
    zones = aws.get_availability_zones_output(state="available")
    subnets = [
        aws.ec2.Subnet(
            f"{name}-private-{i + 1}",
            vpc_id=vpc.id,
            cidr_block=cidr,
            availability_zone=zones.names.apply(lambda names, i=i: names[i]),  # type: ignore[misc]  # mypy cannot type a lambda with a default argument (python/mypy#15459)
            map_public_ip_on_launch=False,
            tags=named(f"private-{i + 1}"),
            opts=child,
        )
        for i, cidr in enumerate(SUBNET_CIDRS)
    ]
    routes = aws.ec2.RouteTable(f"{name}-private-routes", vpc_id=vpc.id, tags=named("private"), opts=child)
    for i, subnet in enumerate(subnets):
        aws.ec2.RouteTableAssociation(
            f"{name}-private-{i + 1}-routes", subnet_id=subnet.id, route_table_id=routes.id, opts=child
        )

    s3 = aws.ec2.VpcEndpoint(
        f"{name}-s3",
        vpc_id=vpc.id,
        service_name=f"com.amazonaws.{region}.s3",
        vpc_endpoint_type="Gateway",
        route_table_ids=[routes.id],
        policy=bucket_arn.apply(_s3_endpoint_policy),
        tags=named("s3"),
        opts=child,
    )
    workloads = aws.ec2.SecurityGroup(
        f"{name}-workloads",
        vpc_id=vpc.id,
        description=f"mlops {prefix}: SageMaker jobs, model and monitor; no ingress, HTTPS to S3 only",
        tags=named("workloads"),
        opts=child,
    )
    aws.vpc.SecurityGroupEgressRule(
        f"{name}-workloads-to-s3",
        security_group_id=workloads.id,
        description="HTTPS to S3 through the gateway endpoint",
        ip_protocol="tcp",
        from_port=HTTPS,
        to_port=HTTPS,
        prefix_list_id=s3.prefix_list_id,
        tags=tags,
        opts=child,
    )
    endpoints = aws.ec2.SecurityGroup(
        f"{name}-endpoints",
        vpc_id=vpc.id,
        description=f"mlops {prefix}: interface endpoints; HTTPS in from the VPC only",
        tags=named("endpoints"),
        opts=child,
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{name}-endpoints-from-vpc",
        security_group_id=endpoints.id,
        description="HTTPS from inside the VPC",
        ip_protocol="tcp",
        from_port=HTTPS,
        to_port=HTTPS,
        cidr_ipv4=VPC_CIDR,
        tags=tags,
        opts=child,
    )
    aws.vpc.SecurityGroupEgressRule(
        f"{name}-workloads-to-endpoints",
        security_group_id=workloads.id,
        description="HTTPS to the interface endpoints (Feature Store, CloudWatch)",
        ip_protocol="tcp",
        from_port=HTTPS,
        to_port=HTTPS,
        referenced_security_group_id=endpoints.id,
        tags=tags,
        opts=child,
    )

    def interface(suffix: str, service: str, policy: pulumi.Input[str]) -> aws.ec2.VpcEndpoint:
        return aws.ec2.VpcEndpoint(
            f"{name}-{suffix}",
            vpc_id=vpc.id,
            service_name=f"com.amazonaws.{region}.{service}",
            vpc_endpoint_type="Interface",
            subnet_ids=[s.id for s in subnets],
            security_group_ids=[endpoints.id],
            private_dns_enabled=True,
            policy=policy,
            tags=named(suffix),
            opts=child,
        )

    if feature_groups:
        interface(
            "featurestore-runtime",
            "sagemaker.featurestore-runtime",
            account_id.apply(lambda account: _featurestore_endpoint_policy(region, account, feature_groups)),
        )
    if metrics_namespace:
        interface("monitoring", "monitoring", _monitoring_endpoint_policy(metrics_namespace))
    aws.ec2.VpcEndpoint(
        f"{name}-sagemaker-runtime",
        vpc_id=vpc.id,
        service_name=f"com.amazonaws.{region}.sagemaker.runtime",
        vpc_endpoint_type="Interface",
        subnet_ids=[s.id for s in subnets],
        security_group_ids=[endpoints.id],
        private_dns_enabled=True,
        policy=account_id.apply(lambda account: _runtime_endpoint_policy(region, account, prefix)),
        tags=named("sagemaker-runtime"),
        opts=child,
    )
    return NetworkOut(
        vpc_id=vpc.id,
        subnet_ids=pulumi.Output.all(*[s.id for s in subnets]).apply(list),
        security_group_ids=pulumi.Output.all(workloads.id).apply(list),
    )


def _s3_endpoint_policy(bucket_arn: str) -> str:
    """Through the gateway endpoint, only the platform's bucket ("Use a custom endpoint policy to
    restrict access to S3", https://docs.aws.amazon.com/sagemaker/latest/dg/train-vpc.html)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PlatformBucketOnly",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": [
                        "s3:GetObject",
                        "s3:PutObject",
                        "s3:DeleteObject",
                        "s3:ListBucket",
                        "s3:GetBucketLocation",
                        "s3:AbortMultipartUpload",
                    ],
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                }
            ],
        }
    )


def _featurestore_endpoint_policy(region: str, account: str, groups: tuple[str, ...]) -> str:
    """Through the Feature Store endpoint, only PutRecord on this platform's feature groups."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "WritePlatformFeatureGroups",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "sagemaker:PutRecord",
                    "Resource": [f"arn:aws:sagemaker:{region}:{account}:feature-group/{g.lower()}" for g in groups],
                }
            ],
        }
    )


def _monitoring_endpoint_policy(namespace: str) -> str:
    """Through the CloudWatch endpoint, only PutMetricData in the platform's drift namespace
    (`cloudwatch:namespace`, the one condition key PutMetricData takes)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "PublishDriftMetrics",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "cloudwatch:PutMetricData",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"cloudwatch:namespace": namespace}},
                }
            ],
        }
    )


def _runtime_endpoint_policy(region: str, account: str, prefix: str) -> str:
    """Through the interface endpoint, only invocations of this platform's endpoints."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "InvokePlatformEndpoints",
                    "Effect": "Allow",
                    "Principal": "*",
                    "Action": "sagemaker:InvokeEndpoint",
                    "Resource": f"arn:aws:sagemaker:{region}:{account}:endpoint/{prefix}-endpoint-*",
                }
            ],
        }
    )
