"""Vertex AI Feature Store v2: BigQuery tables offline, a Bigtable online store, feature views.

The legacy `vertex.AiFeatureStore*` resources are not used: Google announced their sunset.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_gcp as gcp

from providers.base import Capability, Deployment
from providers.gcp.foundation import FoundationOut
from providers.gcp.translate import FEATURE_TIMESTAMP, WRITTEN_AT, GcpSettings

ONLINE_NODES = (1, 3)
ONLINE_CPU_TARGET = 70


def source_query(project: str, dataset: str, table: str, entity: str, event_time: str) -> str:
    """The view a feature group reads: the LAST write of every (entity, event time) of the table
    (every write appends, stamped in `mlops_written_at`; the kit's training read keeps the same
    rows: providers/gcp/step_io.py), plus the event time as `feature_timestamp` (Feature Store v2's
    time-series column) unless it already has that name."""
    alias = "" if event_time == FEATURE_TIMESTAMP else f", `{event_time}` AS {FEATURE_TIMESTAMP}"
    return (
        f"SELECT * EXCEPT (mlops_rank){alias} FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY `{entity}`, "
        f"`{event_time}` ORDER BY `{WRITTEN_AT}` DESC) AS mlops_rank FROM `{project}.{dataset}.{table}`) "
        "WHERE mlops_rank = 1"
    )


@dataclass(frozen=True)
class FeatureGroupOut:
    id: pulumi.Output[str]
    table: pulumi.Output[str]
    """The BigQuery table of the offline store (`projects/.../datasets/.../tables/...`)."""


@dataclass(frozen=True)
class FeatureStoreOut:
    dataset_id: pulumi.Output[str]
    groups: Mapping[str, FeatureGroupOut]


class FeatureStore(Capability):
    cloud = "gcp"
    capability = "FeatureStore"
    out: FeatureStoreOut

    def __init__(
        self,
        name: str,
        deployment: Deployment[GcpSettings],
        foundation: FoundationOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        settings = deployment.settings
        store_spec = deployment.platform.feature_store
        cmek = foundation.key_id

        self.dataset = gcp.bigquery.Dataset(
            f"{name}-dataset",
            project=settings.project,
            dataset_id=settings.dataset_id,
            location=settings.region,
            description=f"mlops {settings.prefix}: offline feature store",
            default_encryption_configuration=gcp.bigquery.DatasetDefaultEncryptionConfigurationArgs(kms_key_name=cmek),
            delete_contents_on_destroy=False,
            labels=settings.labels,
            opts=self.protected(deployment, depends_on=foundation.key_ready),
        )
        gcp.bigquery.DatasetIamMember(
            f"{name}-dataset-editor",
            project=settings.project,
            dataset_id=self.dataset.dataset_id,
            role="roles/bigquery.dataEditor",
            member=foundation.account_member,
            opts=self.child(),
        )

        self.online_store = None
        if settings.online_store_name:
            self.online_store = gcp.vertex.AiFeatureOnlineStore(
                f"{name}-online",
                project=settings.project,
                region=settings.region,
                name=settings.online_store_name,
                bigtable=gcp.vertex.AiFeatureOnlineStoreBigtableArgs(
                    auto_scaling=gcp.vertex.AiFeatureOnlineStoreBigtableAutoScalingArgs(
                        min_node_count=ONLINE_NODES[0],
                        max_node_count=ONLINE_NODES[1],
                        cpu_utilization_target=ONLINE_CPU_TARGET,
                    )
                ),
                encryption_spec=gcp.vertex.AiFeatureOnlineStoreEncryptionSpecArgs(kms_key_name=cmek),
                labels=settings.labels,
                opts=self.protected(deployment, depends_on=foundation.key_ready),
            )

        groups: dict[str, pulumi.Input[dict[str, Any]]] = {}
        handed: dict[str, FeatureGroupOut] = {}
        for group in store_spec.feature_groups:
            table = gcp.bigquery.Table(
                f"{name}-{group.name}-table",
                project=settings.project,
                dataset_id=self.dataset.dataset_id,
                table_id=group.name,
                description=group.description or f"feature group {group.name}",
                schema=json.dumps(settings.bq_schemas[group.name]),
                encryption_configuration=gcp.bigquery.TableEncryptionConfigurationArgs(kms_key_name=cmek),
                deletion_protection=deployment.platform.protect_data,
                labels=settings.labels,
                opts=self.protected(deployment),
            )
            # What Vertex reads: a view of the table exposing the event time as `feature_timestamp`
            # (the only time-series column pulumi_gcp's AiFeatureGroup can use), so online sync
            # serves the latest row per entity. The table stays where the pipeline writes.
            source = gcp.bigquery.Table(
                f"{name}-{group.name}-source",
                project=settings.project,
                dataset_id=self.dataset.dataset_id,
                table_id=settings.source_views[group.name],
                description=f"feature group {group.name} as Vertex AI Feature Store reads it",
                view=gcp.bigquery.TableViewArgs(
                    query=source_query(
                        settings.project, settings.dataset_id, group.name, group.entity, group.event_time
                    ),
                    use_legacy_sql=False,
                ),
                deletion_protection=deployment.platform.protect_data,
                labels=settings.labels,
                opts=self.protected(deployment, depends_on=[table]),
            )
            uri = pulumi.Output.concat("bq://", settings.project, ".", source.dataset_id, ".", source.table_id)
            feature_group = gcp.vertex.AiFeatureGroup(
                f"{name}-{group.name}",
                project=settings.project,
                region=settings.region,
                name=settings.feature_group_ids[group.name],  # <prefix>_<group>: envs share a project
                description=group.description or f"feature group {group.name}",
                big_query=gcp.vertex.AiFeatureGroupBigQueryArgs(
                    big_query_source=gcp.vertex.AiFeatureGroupBigQueryBigQuerySourceArgs(input_uri=uri),
                    entity_id_columns=[group.entity],
                ),
                labels=settings.labels,
                opts=self.protected(deployment),
            )
            features = [
                gcp.vertex.AiFeatureGroupFeature(
                    f"{name}-{group.name}-{feature.name}",
                    project=settings.project,
                    region=settings.region,
                    feature_group=feature_group.name,
                    name=feature.name,
                    description=f"{feature.type} feature",
                    labels=settings.labels,
                    opts=self.protected(deployment),
                )
                for feature in group.features
            ]
            view = None
            if group.online and self.online_store is not None:
                view = gcp.vertex.AiFeatureOnlineStoreFeatureview(
                    f"{name}-{group.name}-view",
                    project=settings.project,
                    region=settings.region,
                    name=settings.feature_views[group.name],
                    feature_online_store=self.online_store.name,
                    sync_config=gcp.vertex.AiFeatureOnlineStoreFeatureviewSyncConfigArgs(
                        cron=store_spec.online_sync_schedule
                    ),
                    feature_registry_source=gcp.vertex.AiFeatureOnlineStoreFeatureviewFeatureRegistrySourceArgs(
                        feature_groups=[
                            gcp.vertex.AiFeatureOnlineStoreFeatureviewFeatureRegistrySourceFeatureGroupArgs(
                                feature_group_id=feature_group.name,
                                feature_ids=[f.name for f in group.features],
                            )
                        ]
                    ),
                    labels=settings.labels,
                    opts=self.protected(deployment, depends_on=features),  # holds the online copy
                )
            # The contract's shape on every cloud: the online view's id is not part of it.
            groups[group.name] = {
                "id": feature_group.id,  # projects/.../locations/.../featureGroups/<prefix>_<group>
                "offline": table.id,  # projects/.../datasets/<dataset>/tables/<group>
                "online": bool(group.online and view is not None),
            }
            handed[group.name] = FeatureGroupOut(feature_group.id, table.id)

        self.out = FeatureStoreOut(self.dataset.dataset_id, handed)
        self.publish(feature_groups=groups)
