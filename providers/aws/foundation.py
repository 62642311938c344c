"""KMS key, private encrypted bucket, and the one execution role SageMaker runs as."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from providers.aws import approval
from providers.aws.network import NetworkOut, private_network
from providers.aws.translate import AwsSettings, rollback_alarms
from providers.base import Capability, Deployment


@dataclass(frozen=True)
class FoundationOut:
    """What the other AWS components use of the foundation."""

    account_id: pulumi.Output[str]
    key_arn: pulumi.Output[str]
    key_id: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    role_arn: pulumi.Output[str]
    """The execution role SageMaker jobs, models and monitors run as."""
    network: NetworkOut | None
    """The private subnets and security group (``network.public_access: false``), else None."""


class Foundation(Capability):
    cloud = "aws"
    capability = "Foundation"
    out: FoundationOut

    def __init__(
        self, name: str, deployment: Deployment[AwsSettings], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(name, opts)
        platform = deployment.platform
        tags = platform.all_tags
        identity = aws.get_caller_identity_output()
        self.account_id = identity.account_id

        settings = deployment.settings
        self.key = aws.kms.Key(
            f"{name}-key",
            description=f"mlops {platform.prefix}: data, artifacts, features, captured requests",
            policy=self.account_id.apply(
                lambda account: key_policy(account, deployment.region, settings.guard_function_name)
            ),
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=tags,
            opts=self.protected(deployment),
        )
        aws.kms.Alias(
            f"{name}-key-alias", name=f"alias/mlops-{platform.prefix}", target_key_id=self.key.key_id, opts=self.child()
        )

        # Auto-named (random suffix): bucket names are global, and the logical name keeps it stable.
        self.bucket = aws.s3.Bucket(f"{name}-data", tags=tags, opts=self.protected(deployment))
        aws.s3.BucketPublicAccessBlock(
            f"{name}-data-public-access",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=self.child(),
        )
        aws.s3.BucketOwnershipControls(
            f"{name}-data-ownership",
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=self.child(),
        )
        aws.s3.BucketVersioning(
            f"{name}-data-versioning",
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=self.child(),
        )
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-data-encryption",
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=self.key.arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=self.child(),
        )
        aws.s3.BucketPolicy(
            f"{name}-data-tls-only",
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(_tls_only_policy),
            opts=self.child(),
        )

        self.role = aws.iam.Role(
            f"{name}-sagemaker",
            description=f"mlops {platform.prefix}: what SageMaker jobs, endpoints and monitors run as",
            assume_role_policy=self.account_id.apply(
                lambda account: sagemaker_trust_policy(account, deployment.region)
            ),
            tags=tags,
            opts=self.child(),
        )
        aws.iam.RolePolicy(
            f"{name}-sagemaker-policy",
            role=self.role.id,
            policy=pulumi.Output.all(
                bucket=self.bucket.arn, key=self.key.arn, role=self.role.arn, account=self.account_id
            ).apply(
                lambda a: execution_policy(
                    a["bucket"], a["key"], a["role"], a["account"], deployment.region, deployment.settings
                )
            ),
            opts=self.child(),
        )
        self.network = (
            private_network(
                name,
                prefix=platform.prefix,
                region=deployment.region,
                account_id=self.account_id,
                bucket_arn=self.bucket.arn,
                tags=tags,
                child=self.child(),
                feature_groups=tuple(settings.feature_group_names.values()),
                metrics_namespace=settings.drift_namespace
                if settings.engine == "kit" and deployment.serves_model
                else None,
            )
            if settings.private_network
            else None
        )
        self.out = FoundationOut(
            account_id=self.account_id,
            key_arn=self.key.arn,
            key_id=self.key.id,
            bucket_name=self.bucket.bucket,
            bucket_arn=self.bucket.arn,
            role_arn=self.role.arn,
            network=self.network,
        )
        self.publish(
            storage_uri=pulumi.Output.concat("s3://", self.bucket.bucket),
            encryption_key=self.key.arn,
            execution_identity=self.role.arn,
        )


def sagemaker_trust_policy(account: str, region: str) -> str:
    """SageMaker may assume the execution role only for this account's SageMaker resources in this
    region (confused-deputy prevention: "Cross-service confused deputy prevention",
    https://docs.aws.amazon.com/sagemaker/latest/dg/security-confused-deputy-prevention.html)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sagemaker.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account},
                        "ArnLike": {"aws:SourceArn": f"arn:aws:sagemaker:{region}:{account}:*"},
                    },
                }
            ],
        }
    )


def key_policy(account: str, region: str, guard_function: str) -> str:
    """The account administers the key (IAM decides who uses it); CloudWatch alarms may use it to
    publish to the KMS-encrypted alert topic, the drift rule's EventBridge target to write a failed
    start to the KMS-encrypted dead-letter queue ("Using dead-letter queues to process undelivered
    events", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html), and CloudWatch
    Logs to encrypt the retrain guard's log group, for that log group only ("Encrypt log data in
    CloudWatch Logs using AWS Key Management Service",
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html): service
    principals cannot use a key under the default key policy. EventBridge's use is scoped to SQS in
    this region and this account (``kms:ViaService``, ``kms:CallerAccount``), not by
    ``aws:SourceArn``, which no AWS page says EventBridge sends on the KMS calls SQS makes for it; the
    queue policy names the rule (docs/aws.md, "Retries and dead letters")."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministersKeyThroughIAM",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchAlarmsPublishToEncryptedTopic",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                },
                {
                    "Sid": "DriftRuleWritesToEncryptedDeadLetterQueue",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:ViaService": f"sqs.{region}.amazonaws.com",
                            "kms:CallerAccount": account,
                        }
                    },
                },
                {
                    # The failed-drift-check rule publishes to the KMS-encrypted alert topic ("Amazon
                    # SNS permissions", https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions):
                    # scoped to SNS in this region and account, as for the dead-letter queue.
                    "Sid": "FailedDriftChecksPublishToEncryptedTopic",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {
                            "kms:ViaService": f"sns.{region}.amazonaws.com",
                            "kms:CallerAccount": account,
                        }
                    },
                },
                {
                    "Sid": "CloudWatchLogsEncryptRetrainGuardLogs",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": [
                        "kms:Encrypt*",
                        "kms:Decrypt*",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:Describe*",
                    ],
                    "Resource": "*",
                    "Condition": {
                        "ArnEquals": {
                            "kms:EncryptionContext:aws:logs:arn": (
                                f"arn:aws:logs:{region}:{account}:log-group:/aws/lambda/{guard_function}"
                            )
                        }
                    },
                },
            ],
        }
    )


def _tls_only_policy(bucket_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )


def metrics_statement(settings: AwsSettings) -> dict:
    """PutMetricData takes no resource (Service Authorization Reference, CloudWatch), only the
    `cloudwatch:namespace` condition key: with the kit's drift job, its namespace only. Model
    Monitor publishes its own metrics (builtin), in a namespace AWS's pages do not agree on
    (model_monitor.BUILTIN_NAMESPACE), so there the grant stays unconditioned."""
    statement: dict = {"Sid": "Metrics", "Effect": "Allow", "Action": "cloudwatch:PutMetricData", "Resource": "*"}
    if settings.engine == "kit":
        statement["Condition"] = {"StringEquals": {"cloudwatch:namespace": settings.drift_namespace}}
    return statement


def execution_policy(
    bucket_arn: str, key_arn: str, role_arn: str, account: str, region: str, settings: AwsSettings
) -> str:
    """What the kit's SageMaker jobs, endpoints and monitors need, and no more.

    SageMaker job names are generated per pipeline run, so job actions are scoped to the
    account and region; everything that holds data is scoped to this platform's own resources by
    exact name (a prefix wildcard would also match another platform named `<name>-<env>-x`).
    """
    sm = f"arn:aws:sagemaker:{region}:{account}"
    group = settings.model_package_group
    feature_groups = [f"{sm}:feature-group/{n.lower()}" for n in settings.feature_group_names.values()]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "Data",
                    "Effect": "Allow",
                    # The ACL actions are what Feature Store's offline ingestion asks for (bucket-owner
                    # enforced ownership makes the ACLs themselves inert).
                    "Action": [
                        "s3:GetObject",
                        "s3:PutObject",
                        "s3:DeleteObject",
                        "s3:ListBucket",
                        "s3:GetBucketLocation",
                        "s3:AbortMultipartUpload",
                        "s3:GetBucketAcl",
                        "s3:PutObjectAcl",
                    ],
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                },
                {
                    "Sid": "Key",
                    "Effect": "Allow",
                    "Action": [
                        "kms:Encrypt",
                        "kms:Decrypt",
                        "kms:ReEncrypt*",
                        "kms:GenerateDataKey*",
                        "kms:DescribeKey",
                    ],
                    "Resource": key_arn,
                },
                {
                    # SageMaker encrypts job and endpoint volumes through grants it creates as the role.
                    "Sid": "KeyGrantsForAwsResources",
                    "Effect": "Allow",
                    "Action": "kms:CreateGrant",
                    "Resource": key_arn,
                    "Condition": {"Bool": {"kms:GrantIsForAWSResource": "true"}},
                },
                {
                    "Sid": "PipelineJobs",
                    "Effect": "Allow",
                    "Action": [
                        "sagemaker:CreateProcessingJob",
                        "sagemaker:DescribeProcessingJob",
                        "sagemaker:StopProcessingJob",
                        "sagemaker:CreateTrainingJob",
                        "sagemaker:DescribeTrainingJob",
                        "sagemaker:StopTrainingJob",
                        "sagemaker:AddTags",
                    ],
                    "Resource": [f"{sm}:processing-job/*", f"{sm}:training-job/*"],
                },
                # The approval gate (providers/aws/approval.py): register only with the configured
                # status (sagemaker:ModelApprovalStatus, Service Authorization Reference for SageMaker,
                # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html),
                # never update a version.
                *approval.registration_statements(sm, group, settings.registration_status),
                *(
                    [
                        {
                            "Sid": "Features",
                            "Effect": "Allow",
                            "Action": ["sagemaker:PutRecord", "sagemaker:GetRecord", "sagemaker:DescribeFeatureGroup"],
                            "Resource": feature_groups,
                        }
                    ]
                    if feature_groups
                    else []
                ),
                {
                    "Sid": "OfflineStoreCatalog",
                    "Effect": "Allow",
                    "Action": [
                        "glue:GetTable",
                        "glue:CreateTable",
                        "glue:UpdateTable",
                        "glue:GetDatabase",
                        "glue:CreateDatabase",
                    ],
                    "Resource": [
                        f"arn:aws:glue:{region}:{account}:catalog",
                        f"arn:aws:glue:{region}:{account}:database/sagemaker_featurestore",
                        f"arn:aws:glue:{region}:{account}:table/sagemaker_featurestore/*",
                    ],
                },
                {
                    # GetAuthorizationToken takes no resource (Service Authorization Reference, ECR).
                    "Sid": "RegistryLogin",
                    "Effect": "Allow",
                    "Action": "ecr:GetAuthorizationToken",
                    "Resource": "*",
                },
                {
                    "Sid": "Images",
                    "Effect": "Allow",
                    "Action": ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    "Resource": list(settings.image_repositories),
                },
                {
                    # SageMaker's job and endpoint log groups are /aws/sagemaker/<kind>[/<name>].
                    "Sid": "Logs",
                    "Effect": "Allow",
                    "Action": [
                        "logs:CreateLogGroup",
                        "logs:CreateLogStream",
                        "logs:PutLogEvents",
                        "logs:DescribeLogStreams",
                    ],
                    "Resource": [
                        f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/*",
                        f"arn:aws:logs:{region}:{account}:log-group:/aws/sagemaker/*:log-stream:*",
                    ],
                },
                metrics_statement(settings),
                *(
                    [
                        {
                            # SageMaker reads the rollback alarms as the execution role during a
                            # guarded update ("Auto-Rollback Configuration and Monitoring",
                            # https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html).
                            "Sid": "RollbackAlarms",
                            "Effect": "Allow",
                            "Action": "cloudwatch:DescribeAlarms",
                            "Resource": [
                                f"arn:aws:cloudwatch:{region}:{account}:alarm:{a['name']}"
                                for a in rollback_alarms(settings)
                            ],
                        }
                    ]
                    if rollback_alarms(settings)
                    else []
                ),
                *(
                    [
                        {
                            # What SageMaker needs to attach jobs and models to the private subnets
                            # ("CreateTrainingJob API: Execution Role Permissions",
                            # https://docs.aws.amazon.com/sagemaker/latest/dg/sagemaker-roles.html). The
                            # EC2 actions take no resource ARN the kit could name before the ENIs exist.
                            "Sid": "PrivateNetworkInterfaces",
                            "Effect": "Allow",
                            "Action": [
                                "ec2:CreateNetworkInterface",
                                "ec2:CreateNetworkInterfacePermission",
                                "ec2:DeleteNetworkInterface",
                                "ec2:DeleteNetworkInterfacePermission",
                                "ec2:DescribeNetworkInterfaces",
                                "ec2:DescribeVpcs",
                                "ec2:DescribeDhcpOptions",
                                "ec2:DescribeSubnets",
                                "ec2:DescribeSecurityGroups",
                            ],
                            "Resource": "*",
                        }
                    ]
                    if settings.private_network
                    else []
                ),
                {
                    "Sid": "PassOwnRoleToSageMaker",
                    "Effect": "Allow",
                    "Action": "iam:PassRole",
                    "Resource": role_arn,
                    "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
                },
            ],
        },
        indent=None,
    )
