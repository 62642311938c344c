"""FeatureStore: an Azure ML managed feature store with one entity per key column and one
feature set per feature group, materialized offline (ADLS Gen2) and, for `online: true`, to Redis."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import yaml
from pulumi_azure_native import machinelearningservices as ml
from pulumi_azure_native import redis, storage

from pipelines.package import CodeBundle
from providers.azure.foundation import FoundationOut, grant
from providers.azure.translate import AzureSettings
from providers.base import Capability, Deployment
from providers.spec import FeatureGroup


@dataclass(frozen=True)
class FeatureGroupOut:
    id: pulumi.Output[str]
    offline_uri: str
    """The group's source folder (abfss://...) that the feature step writes and training reads."""


@dataclass(frozen=True)
class FeatureStoreOut:
    workspace_name: pulumi.Output[str]
    groups: Mapping[str, FeatureGroupOut]


def featureset_spec(group: FeatureGroup, settings: AzureSettings) -> str:
    """The FeaturesetSpec.yaml Azure ML reads from the feature set's specification folder."""
    types = settings.feature_types[group.name]
    return yaml.safe_dump(
        {
            "source": {
                "type": "parquet",
                "path": f"abfss://data@{settings.storage_account}.dfs.core.windows.net/features/{group.name}/",
                "timestamp_column": {"name": group.event_time},
            },
            "features": [{"name": f.name, "type": types[f.name].lower()} for f in group.features],
            "index_columns": [{"name": group.entity, "type": "string"}],
        },
        sort_keys=False,
    )


def featureset_version(spec: str) -> str:
    """A feature set version named by the hash of its spec: a changed schema (a column added,
    removed or retyped, a new source or timestamp column) is a new version, and a published
    version never changes under its readers."""
    return CodeBundle("featureset", {"FeaturesetSpec.yaml": spec}).digest


class FeatureStore(Capability):
    cloud = "azure"
    capability = "FeatureStore"
    out: FeatureStoreOut

    def __init__(
        self,
        name: str,
        deployment: Deployment[AzureSettings],
        foundation: FoundationOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        s, p = deployment.settings, deployment.platform
        rg = foundation.resource_group_name
        groups = p.feature_store.feature_groups
        any_online = any(g.online for g in groups)
        offline_conn, online_conn = f"{s.prefix}-offline", f"{s.prefix}-online"

        self.store = ml.Workspace(
            f"{name}-workspace",
            workspace_name=s.feature_store,
            resource_group_name=rg,
            location=s.location,
            kind="FeatureStore",
            sku=ml.SkuArgs(name="Basic", tier="Basic"),
            feature_store_settings=ml.FeatureStoreSettingsArgs(
                compute_runtime=ml.ComputeRuntimeDtoArgs(spark_runtime_version="3.4"),
                offline_store_connection_name=offline_conn,
                online_store_connection_name=online_conn if any_online else None,
            ),
            **foundation.workspace_args,
            tags=s.tags,
            opts=self.protected(deployment, depends_on=[foundation.workspace]),
        )
        grant(
            self,
            name,
            "featurestore",
            "AzureML Data Scientist",
            self.store.id,
            principal_id=foundation.identity_principal_id,
            subscription_id=foundation.subscription_id,
            prefix=s.prefix,
        )
        identity = ml.WorkspaceConnectionManagedIdentityArgs(
            client_id=foundation.identity_client_id, resource_id=foundation.identity_id
        )
        ml.WorkspaceConnection(
            f"{name}-offline",
            connection_name=offline_conn,
            workspace_name=self.store.name,
            resource_group_name=rg,
            properties=ml.ManagedIdentityAuthTypeWorkspaceConnectionPropertiesArgs(
                auth_type="ManagedIdentity",
                category="ADLSGen2",
                credentials=identity,
                target=f"https://{s.storage_account}.dfs.core.windows.net/data",
            ),
            opts=self.child(),
        )
        if any_online:
            # Entra ID auth only (no access keys), TLS 1.2, private unless asked. Azure Cache for
            # Redis encrypts with platform keys: it takes no customer-managed key (documented gap).
            self.online = redis.Redis(
                f"{name}-online",
                name=f"{s.prefix}-online",
                resource_group_name=rg,
                location=s.location,
                sku=redis.SkuArgs(name="Standard", family="C", capacity=1),
                disable_access_key_authentication=True,
                enable_non_ssl_port=False,
                minimum_tls_version="1.2",
                public_network_access=s.public_network_access,
                redis_configuration=redis.RedisCommonPropertiesRedisConfigurationArgs(aad_enabled="true"),
                tags=s.tags,
                opts=self.protected(deployment),
            )
            redis.AccessPolicyAssignment(
                f"{name}-online-access",
                access_policy_assignment_name="mlops-materialization",
                access_policy_name="Data Contributor",
                cache_name=self.online.name,
                resource_group_name=rg,
                object_id=foundation.identity_principal_id,
                object_id_alias="mlops-identity",
                opts=self.child(),
            )
            ml.WorkspaceConnection(
                f"{name}-online-connection",
                connection_name=online_conn,
                workspace_name=self.store.name,
                resource_group_name=rg,
                properties=ml.ManagedIdentityAuthTypeWorkspaceConnectionPropertiesArgs(
                    auth_type="ManagedIdentity",
                    category="Redis",
                    credentials=identity,
                    target=self.online.id,
                ),
                opts=self.child(),
            )

        r = s.materialization
        schedule = ml.RecurrenceTriggerArgs(
            trigger_type="Recurrence",
            frequency=r.frequency,
            interval=r.interval,
            time_zone="UTC",
            schedule=ml.RecurrenceScheduleArgs(
                hours=list(r.hours), minutes=list(r.minutes), week_days=list(r.week_days) or None
            )
            if (r.hours or r.minutes)
            else None,
        )
        entities: dict[str, ml.FeaturestoreEntityVersion] = {}
        published: dict[str, dict[str, object]] = {}
        handed: dict[str, FeatureGroupOut] = {}
        for group in groups:
            if group.entity not in entities:
                container = ml.FeaturestoreEntityContainerEntity(
                    f"{name}-entity-{group.entity}",
                    name=group.entity,
                    workspace_name=self.store.name,
                    resource_group_name=rg,
                    properties=ml.FeaturestoreEntityContainerPropertiesArgs(
                        description=f"records keyed by {group.entity}", tags=s.tags
                    ),
                    opts=self.protected(deployment),
                )
                entities[group.entity] = ml.FeaturestoreEntityVersion(
                    f"{name}-entity-{group.entity}-v1",
                    name=group.entity,
                    version="1",
                    workspace_name=self.store.name,
                    resource_group_name=rg,
                    properties=ml.FeaturestoreEntityVersionPropertiesArgs(
                        index_columns=[ml.IndexColumnArgs(column_name=group.entity, data_type="String")],
                        tags=s.tags,
                    ),
                    opts=self.protected(deployment, depends_on=[container]),
                )
            spec = featureset_spec(group, s)
            version = featureset_version(spec)
            spec_folder = f"featuresets/{group.name}/{version}/"
            # One folder and one resource per version; retain_on_delete: when the spec changes,
            # Pulumi drops the old version from its state but leaves it (and its spec) in Azure,
            # so what was published keeps reading the spec it was published with.
            spec_blob = storage.Blob(
                f"{name}-{group.name}-spec-{version}",
                blob_name=spec_folder + "FeaturesetSpec.yaml",
                container_name=foundation.code_container_name,
                account_name=foundation.code_account_name,
                resource_group_name=rg,
                content_type="application/x-yaml",
                source=pulumi.StringAsset(spec),
                opts=self.child(retain_on_delete=True),
            )
            featureset = ml.FeaturesetContainerEntity(
                f"{name}-{group.name}",
                name=group.name,
                workspace_name=self.store.name,
                resource_group_name=rg,
                properties=ml.FeaturesetContainerPropertiesArgs(description=group.description or None, tags=s.tags),
                opts=self.protected(deployment),
            )
            ml.FeaturesetVersion(
                f"{name}-{group.name}-{version}",
                name=group.name,
                version=version,
                workspace_name=self.store.name,
                resource_group_name=rg,
                properties=ml.FeaturesetVersionPropertiesArgs(
                    description=group.description or None,
                    entities=[f"azureml:{group.entity}:1"],
                    specification=ml.FeaturesetSpecificationArgs(
                        path=f"https://{s.code_account}.blob.core.windows.net/code/{spec_folder}"
                    ),
                    materialization_settings=ml.MaterializationSettingsArgs(
                        store_type="OnlineAndOffline" if group.online else "Offline",
                        schedule=schedule,
                        resource=ml.MaterializationComputeResourceArgs(instance_type="standard_e4s_v3"),
                        notification=ml.NotificationSettingArgs(email_on=["JobFailed"], emails=[p.monitor.alert_email]),
                    ),
                    # Read back by `mlops` tools and the contract tests; the spec blob is the source of truth.
                    properties={
                        "mlops.entity": group.entity,
                        "mlops.event_time": group.event_time,
                        "mlops.features": json.dumps([f.name for f in group.features]),
                    },
                    tags=s.tags,
                ),
                # Versions are immutable; a superseded one is retained in Azure, not deleted.
                opts=self.child(retain_on_delete=True, depends_on=[featureset, entities[group.entity], spec_blob]),
            )
            offline = f"abfss://data@{s.storage_account}.dfs.core.windows.net/features/{group.name}/"
            published[group.name] = {"id": featureset.id, "offline": offline, "online": group.online}
            handed[group.name] = FeatureGroupOut(featureset.id, offline)
        self.out = FeatureStoreOut(self.store.name, handed)
        self.publish(feature_groups=published)
