"""One SageMaker FeatureGroup per feature group: offline store in the bucket, online when asked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from providers.aws.foundation import FoundationOut
from providers.aws.translate import AwsSettings
from providers.base import Capability, Deployment


@dataclass(frozen=True)
class FeatureGroupOut:
    name: str
    arn: pulumi.Output[str]
    offline_uri: pulumi.Output[str | None]
    """The group's own offline-store prefix in S3 (SageMaker picks it at creation)."""


@dataclass(frozen=True)
class FeatureStoreOut:
    groups: Mapping[str, FeatureGroupOut]


class FeatureStore(Capability):
    cloud = "aws"
    capability = "FeatureStore"
    out: FeatureStoreOut

    def __init__(
        self,
        name: str,
        deployment: Deployment[AwsSettings],
        foundation: FoundationOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        settings = deployment.settings
        groups: dict[str, FeatureGroupOut] = {}
        published: dict[str, pulumi.Input[dict[str, Any]]] = {}
        for group in deployment.platform.feature_store.feature_groups:
            columns = settings.feature_types[group.name]
            online = (
                aws.sagemaker.FeatureGroupOnlineStoreConfigArgs(
                    enable_online_store=True,
                    storage_type="Standard",
                    security_config=aws.sagemaker.FeatureGroupOnlineStoreConfigSecurityConfigArgs(
                        kms_key_id=foundation.key_arn
                    ),
                )
                if group.online
                else None
            )
            fg = aws.sagemaker.FeatureGroup(
                f"{name}-{group.name}",
                feature_group_name=settings.feature_group_names[group.name],
                description=group.description or f"{group.name} features keyed by {group.entity}",
                record_identifier_feature_name=group.entity,
                event_time_feature_name=group.event_time,
                feature_definitions=[
                    aws.sagemaker.FeatureGroupFeatureDefinitionArgs(feature_name=col, feature_type=typ)
                    for col, typ in columns.items()
                ],
                offline_store_config=aws.sagemaker.FeatureGroupOfflineStoreConfigArgs(
                    s3_storage_config=aws.sagemaker.FeatureGroupOfflineStoreConfigS3StorageConfigArgs(
                        s3_uri=pulumi.Output.concat("s3://", foundation.bucket_name, "/feature-store"),
                        kms_key_id=foundation.key_arn,
                    ),
                    table_format="Glue",
                ),
                online_store_config=online,
                role_arn=foundation.role_arn,
                tags=deployment.platform.all_tags,
                # SageMaker cannot change a description in place: editing it must not replace
                # (and empty) the group, so it is set once, at creation.
                opts=self.protected(deployment, ignore_changes=["description"]),
            )
            # SageMaker picks the group's own prefix (account, region, name, creation time).
            offline = fg.offline_store_config.apply(_resolved_offline_uri)
            groups[group.name] = FeatureGroupOut(settings.feature_group_names[group.name], fg.arn, offline)
            published[group.name] = {"id": fg.arn, "offline": offline, "online": group.online}
        self.out = FeatureStoreOut(groups)
        self.publish(feature_groups=published)


def _resolved_offline_uri(config: Any) -> str | None:
    storage = getattr(config, "s3_storage_config", None) if config is not None else None
    return getattr(storage, "resolved_output_s3_uri", None)
