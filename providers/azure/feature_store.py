"""FeatureStore: an Azure ML managed feature store built the way azure-ai-ml builds one.

Every Azure ML body here is the azure-ai-ml entity's own `_to_rest_object()` (FeatureStore,
WorkspaceConnection, FeatureStoreEntity, FeatureSet), plus what its operations add
(`operations/_feature_set_operations.py`: `featuresetPropertiesVersion`, `featuresetProperties`).
The order is the SDK's (`_arm_deployments/arm_templates/workspace_base.json`): the feature store
is created without connection names, then its connections (the offline store's target is the data
container's ARM id, the online store's the Redis cache's), then the names are set on it
(`dynamic.ArmPatch`). A feature set's `FeatureSetSpec.yaml` (that exact case) is read from an
`azureml://datastores/<store>/paths/<folder>` path on a datastore of the feature store.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pulumi
import yaml
from pulumi_azure_native import machinelearningservices as ml
from pulumi_azure_native import redis, storage

from pipelines.package import CodeBundle
from providers.azure import dynamic
from providers.azure.foundation import (
    FoundationOut,
    datastore_properties,
    grant,
    private_endpoint,
    private_endpoint_rules,
)
from providers.azure.sdk_cache import RestBody, cached_json, sdk_built
from providers.azure.translate import AzureSettings, Recurrence
from providers.base import Capability, Deployment
from providers.spec import FeatureGroup

logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)

SPEC_FILE = "FeatureSetSpec.yaml"  # exact case: azure-ai-ml _utils/_feature_store_utils.py
CODE_DATASTORE = "mlopscode"
DATA_DATASTORE = "mlopsdata"
MATERIALIZATION_INSTANCE = "standard_e4s_v3"
DATA_ACCOUNT = "{data_account}"  # filled in with the data account's name (it carries the stack's suffix)


@dataclass(frozen=True)
class FeatureGroupOut:
    id: pulumi.Output[str]
    offline_uri: pulumi.Output[str]
    """The group's source folder (abfss://...) that the feature step writes and training reads."""


@dataclass(frozen=True)
class FeatureStoreOut:
    workspace_name: pulumi.Output[str]
    groups: Mapping[str, FeatureGroupOut]


def offline_uri(group: str, data_account: str) -> str:
    return f"abfss://data@{data_account}.dfs.core.windows.net/features/{group}/"


def featureset_spec(group: FeatureGroup, settings: AzureSettings, data_account: str = DATA_ACCOUNT) -> str:
    """The FeatureSetSpec.yaml Azure ML reads from the feature set's specification folder."""
    types = settings.feature_types[group.name]
    return yaml.safe_dump(
        {
            "source": {
                "type": "parquet",
                "path": offline_uri(group.name, data_account),
                "timestamp_column": {"name": group.event_time},
            },
            "features": [{"name": f.name, "type": types[f.name].lower()} for f in group.features],
            "index_columns": [{"name": group.entity, "type": "string"}],
        },
        sort_keys=False,
    )


def featureset_version(spec: str) -> str:
    """A feature set version named by the hash of its spec (as written, before the data account's
    name is filled in): a changed schema (a column added, removed or retyped, a new source or
    timestamp column) is a new version, and a published version never changes under its readers."""
    return CodeBundle("featureset", {SPEC_FILE: spec}).digest


@sdk_built("featureset-properties")
def featureset_properties(spec_text: str) -> dict[str, str]:
    """What azure-ai-ml's feature set operations add to every version it sends
    (`featuresetPropertiesVersion`, `featuresetProperties` = the spec as the SDK reads it)."""
    from azure.ai.ml.entities._feature_set.featureset_spec_metadata import FeaturesetSpecMetadata

    spec = FeaturesetSpecMetadata._load(yaml.safe_load(spec_text), None)
    return {"featuresetPropertiesVersion": "1", "featuresetProperties": json.dumps(spec._to_dict())}


@sdk_built("connection-name")
def connection_name(kind: str, store: str) -> str:
    """`OfflineStoreConnectionName-<8 hex>` / `OnlineStoreConnectionName-<8 hex>`: the SDK's prefixes
    (it reads the materialization identity back only from connections named so), a stable suffix."""
    from azure.ai.ml.entities._feature_store._constants import (
        OFFLINE_STORE_CONNECTION_NAME,
        ONLINE_STORE_CONNECTION_NAME,
    )

    prefix = OFFLINE_STORE_CONNECTION_NAME if kind == "offline" else ONLINE_STORE_CONNECTION_NAME
    return f"{prefix}-{hashlib.sha256(store.encode()).hexdigest()[:8]}"


@sdk_built("store-settings")
def store_settings() -> RestBody:
    """`featureStoreSettings` as azure-ai-ml's FeatureStore entity writes it at creation (no names)."""
    from azure.ai.ml.entities import FeatureStore

    return FeatureStore(name="x")._to_rest_object().as_dict()["properties"]["featureStoreSettings"]


@sdk_built("connection-properties")
def connection_properties(kind: str, target: str, client_id: str, resource_id: str) -> RestBody:
    """A store connection's REST properties from azure-ai-ml's WorkspaceConnection entity."""
    from azure.ai.ml.entities import ManagedIdentityConfiguration, WorkspaceConnection

    entity = WorkspaceConnection(
        name="x",
        type="azure_data_lake_gen2" if kind == "offline" else "redis",
        target=target,
        credentials=ManagedIdentityConfiguration(client_id=client_id, resource_id=resource_id),
    )
    return entity._to_rest_object().as_dict()["properties"]


@sdk_built("entity-properties")
def entity_properties(entity: str, tags: Mapping[str, str]) -> RestBody:
    from azure.ai.ml.entities import DataColumn, DataColumnType, FeatureStoreEntity

    body = FeatureStoreEntity(
        name=entity,
        version="1",
        index_columns=[DataColumn(name=entity, type=DataColumnType.STRING)],
        description=f"records keyed by {entity}",
        tags=dict(tags),
    )._to_rest_object()
    return body.as_dict()["properties"]


def featureset_properties_body(
    group: FeatureGroup, version: str, recurrence: Recurrence, alert_email: str, tags: Mapping[str, str]
) -> RestBody:
    """`_featureset_properties_body`, cached by the group's and the recurrence's fields."""
    inputs = {
        "group": group.model_dump(mode="json"),
        "version": version,
        "recurrence": asdict(recurrence),
        "alert_email": alert_email,
        "tags": dict(tags),
    }
    return cached_json(
        "featureset-body", inputs, lambda: _featureset_properties_body(group, version, recurrence, alert_email, tags)
    )


def _featureset_properties_body(
    group: FeatureGroup, version: str, recurrence: Recurrence, alert_email: str, tags: Mapping[str, str]
) -> dict[str, Any]:
    """A feature set version's REST properties from azure-ai-ml's FeatureSet entity."""
    from azure.ai.ml.entities import (
        FeatureSet,
        FeatureSetSpecification,
        MaterializationComputeResource,
        MaterializationSettings,
        RecurrencePattern,
        RecurrenceTrigger,
    )
    from azure.ai.ml.entities._notification.notification import Notification

    pattern = (
        RecurrencePattern(hours=list(recurrence.hours), minutes=list(recurrence.minutes), week_days=None)
        if recurrence.hours or recurrence.minutes
        else None
    )
    if pattern is not None and recurrence.week_days:
        pattern.week_days = [d.lower() for d in recurrence.week_days]
    trigger = RecurrenceTrigger(
        frequency=recurrence.frequency.lower(),
        interval=recurrence.interval,
        schedule=pattern,
        start_time=recurrence.start_time,
        time_zone="UTC",
    )
    entity = FeatureSet(
        name=group.name,
        version=version,
        entities=[f"azureml:{group.entity}:1"],
        specification=FeatureSetSpecification(path=spec_path(group.name, version)),
        materialization_settings=MaterializationSettings(
            schedule=trigger,
            offline_enabled=True,
            online_enabled=group.online,
            resource=MaterializationComputeResource(instance_type=MATERIALIZATION_INSTANCE),
            notification=Notification(email_on=["JobFailed"], emails=[alert_email]),
        ),
        description=group.description or None,
        tags=dict(tags),
    )
    props = entity._to_rest_object().as_dict()["properties"]
    schedule = props["materializationSettings"]["schedule"]
    # REST enums are case-insensitive; pulumi_azure_native's enums are capitalised.
    schedule["frequency"] = schedule["frequency"].capitalize()
    if "weekDays" in (schedule.get("schedule") or {}):
        schedule["schedule"]["weekDays"] = [d.capitalize() for d in schedule["schedule"]["weekDays"]]
    return props


def spec_path(group: str, version: str) -> str:
    return f"azureml://datastores/{CODE_DATASTORE}/paths/featuresets/{group}/{version}/"


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
        settings, platform = deployment.settings, deployment.platform
        resource_group_name = foundation.resource_group_name
        groups = platform.feature_store.feature_groups
        any_online = any(g.online for g in groups)
        private = settings.public_network_access == "Disabled"
        names = foundation.names

        def grant_to(role_name: str, role: str, scope: pulumi.Input[str], principal: pulumi.Input[str]) -> Any:
            return grant(
                self,
                name,
                role_name,
                role,
                scope,
                principal_id=principal,
                subscription_id=foundation.subscription_id,
                prefix=settings.prefix,
            )

        self.online = None
        if any_online:
            # TLS 1.2 only, private unless asked. Access keys stay available: azure-ai-ml's feature
            # store template grants the materialization identity Contributor on the cache (which
            # lists keys), and materialization through Entra ID alone is not documented. Azure Cache
            # for Redis takes no customer-managed key (documented gap).
            self.online = redis.Redis(
                f"{name}-online",
                name=names.apply(lambda n: n.redis),
                resource_group_name=resource_group_name,
                location=settings.location,
                sku=redis.SkuArgs(name=redis.SkuName.STANDARD, family=redis.SkuFamily.C, capacity=1),
                disable_access_key_authentication=False,
                enable_non_ssl_port=False,
                minimum_tls_version=redis.TlsVersion.TLS_VERSION_1_2,
                public_network_access=redis.PublicNetworkAccess(settings.public_network_access),
                redis_configuration=redis.RedisCommonPropertiesRedisConfigurationArgs(aad_enabled="true"),
                tags=settings.tags,
                opts=self.protected(deployment),
            )
            redis.AccessPolicyAssignment(
                f"{name}-online-access",
                access_policy_assignment_name="mlops-materialization",
                access_policy_name="Data Contributor",
                cache_name=self.online.name,
                resource_group_name=resource_group_name,
                object_id=foundation.identity_principal_id,
                object_id_alias="mlops-identity",
                opts=self.child(),
            )
            grant_to("online", "Contributor", self.online.id, foundation.identity_principal_id)
            grant_to(
                "online-pe",
                "Azure AI Enterprise Network Connection Approver",
                self.online.id,
                foundation.workspace_identity_principal_id,
            )

        extra_rules = private_endpoint_rules({"redis": (self.online.id, "redisCache")}) if self.online else {}
        feature_store_settings = store_settings()
        self.store = ml.Workspace(
            f"{name}-workspace",
            workspace_name=settings.feature_store,
            resource_group_name=resource_group_name,
            location=settings.location,
            kind="FeatureStore",
            feature_store_settings=feature_store_settings,
            **foundation.workspace_args(extra_rules),
            tags=settings.tags,
            opts=self.protected(
                deployment,
                depends_on=[foundation.workspace],
                ignore_changes=[
                    "featureStoreSettings.offlineStoreConnectionName",
                    "featureStoreSettings.onlineStoreConnectionName",
                    "encryption.keyVaultProperties.keyIdentifier",
                ],
            ),
        )
        # azure-ai-ml's template: AzureML Data Scientist on the store for the materialization
        # identity; the documented workspace-identity set: Contributor on the workspace.
        grant_to("featurestore", "AzureML Data Scientist", self.store.id, foundation.identity_principal_id)
        grant_to("featurestore-ws", "Contributor", self.store.id, foundation.workspace_identity_principal_id)
        # The last workspace that takes the customer-managed key at creation exists: lock its vault.
        foundation.lock_key_vault([self.store])
        network = dynamic.ManagedNetworkProvision(
            f"{name}-managed-network", workspace_id=self.store.id, include_spark=True, opts=self.child()
        )
        if private and foundation.subnet_id is not None:
            private_endpoint(
                self,
                name,
                "featurestore",
                self.store.id,
                "amlworkspace",
                ("privatelink.api.azureml.ms", "privatelink.notebooks.azure.net"),
                foundation.subnet_id,
                foundation.zone_ids,
                settings,
            )

        # Datastores of the feature store: the data account (feature sources, offline store) and
        # the code account (feature set specs), both identity-based.
        for store_name, kind, account, container in (
            (DATA_DATASTORE, "adls", "data_account", "data"),
            (CODE_DATASTORE, "blob", "code_account", "code"),
        ):
            ml.Datastore(
                f"{name}-datastore-{store_name}",
                name=store_name,
                workspace_name=self.store.name,
                resource_group_name=resource_group_name,
                properties=names.apply(
                    lambda n, kind=kind, account=account, container=container: datastore_properties(  # type: ignore[misc]  # mypy cannot type a lambda with a default argument (python/mypy#15459)
                        kind, getattr(n, account), container
                    )
                ),
                opts=self.child(),
            )

        # Connections first, named after they exist.
        connections = []
        offline_name, online_name = (
            connection_name("offline", settings.feature_store),
            connection_name("online", settings.feature_store),
        )
        targets = [("offline", offline_name, foundation.data_container_id)]
        if self.online is not None:
            targets.append(("online", online_name, self.online.id))
        for kind, conn_name, target in targets:
            connections.append(
                ml.WorkspaceConnection(
                    f"{name}-{kind}",
                    connection_name=conn_name,
                    workspace_name=self.store.name,
                    resource_group_name=resource_group_name,
                    properties=pulumi.Output.all(target, foundation.identity_client_id, foundation.identity_id).apply(
                        lambda a, kind=kind: connection_properties(kind, a[0], a[1], a[2])  # type: ignore[misc]  # mypy cannot type a lambda with a default argument (python/mypy#15459)
                    ),
                    opts=self.child(),
                )
            )
        named = {
            **copy.deepcopy(feature_store_settings),
            "offlineStoreConnectionName": offline_name,
            **({"onlineStoreConnectionName": online_name} if self.online is not None else {}),
        }
        names_set = dynamic.ArmPatch(
            f"{name}-connection-names",
            resource_id=self.store.id,
            api_version=dynamic.ML_API_VERSION,
            patch={"properties": {"featureStoreSettings": named}},
            opts=self.child(depends_on=connections),
        )

        entities: dict[str, ml.FeaturestoreEntityVersion] = {}
        published: dict[str, dict[str, object]] = {}
        handed: dict[str, FeatureGroupOut] = {}
        for group in groups:
            if group.entity not in entities:
                body = entity_properties(group.entity, settings.tags)
                entity_container = ml.FeaturestoreEntityContainerEntity(
                    f"{name}-entity-{group.entity}",
                    name=group.entity,
                    workspace_name=self.store.name,
                    resource_group_name=resource_group_name,
                    properties=ml.FeaturestoreEntityContainerPropertiesArgs(
                        description=body["description"], tags=settings.tags
                    ),
                    opts=self.protected(deployment),
                )
                entities[group.entity] = ml.FeaturestoreEntityVersion(
                    f"{name}-entity-{group.entity}-v1",
                    name=group.entity,
                    version="1",
                    workspace_name=self.store.name,
                    resource_group_name=resource_group_name,
                    properties=body,
                    opts=self.protected(deployment, depends_on=[entity_container]),
                )
            template = featureset_spec(group, settings)
            version = featureset_version(template)
            folder = f"featuresets/{group.name}/{version}/"
            spec_text = names.apply(lambda n, group=group: featureset_spec(group, settings, n.data_account))  # type: ignore[misc]  # mypy cannot type a lambda with a default argument (python/mypy#15459)
            # One folder and one resource per version; retain_on_delete: when the spec changes,
            # Pulumi drops the old version from its state but leaves it (and its spec) in Azure,
            # so what was published keeps reading the spec it was published with.
            spec_blob = storage.Blob(
                f"{name}-{group.name}-spec-{version}",
                blob_name=folder + SPEC_FILE,
                container_name=foundation.code_container_name,
                account_name=foundation.code_account_name,
                resource_group_name=resource_group_name,
                content_type="application/x-yaml",
                source=spec_text.apply(pulumi.StringAsset),
                opts=self.child(retain_on_delete=True),
            )
            featureset = ml.FeaturesetContainerEntity(
                f"{name}-{group.name}",
                name=group.name,
                workspace_name=self.store.name,
                resource_group_name=resource_group_name,
                properties=ml.FeaturesetContainerPropertiesArgs(
                    description=group.description or None, tags=settings.tags
                ),
                opts=self.protected(deployment),
            )
            body = featureset_properties_body(
                group, version, settings.materialization, platform.monitor.alert_email, settings.tags
            )
            ml.FeaturesetVersion(
                f"{name}-{group.name}-{version}",
                name=group.name,
                version=version,
                workspace_name=self.store.name,
                resource_group_name=resource_group_name,
                properties=spec_text.apply(
                    lambda text, body=body: {  # type: ignore[misc, arg-type]  # mypy cannot type a lambda with a default argument (python/mypy#15459)
                        **body,
                        "properties": {**body.get("properties", {}), **featureset_properties(text)},
                    }
                ),
                # Versions are immutable; a superseded one is retained in Azure, not deleted.
                opts=self.child(
                    retain_on_delete=True,
                    depends_on=[featureset, entities[group.entity], spec_blob, names_set, network],
                ),
            )
            offline = names.apply(lambda n, group=group: offline_uri(group.name, n.data_account))  # type: ignore[misc]  # mypy cannot type a lambda with a default argument (python/mypy#15459)
            published[group.name] = {"id": featureset.id, "offline": offline, "online": group.online}
            handed[group.name] = FeatureGroupOut(featureset.id, offline)
        self.out = FeatureStoreOut(self.store.name, handed)
        self.publish(feature_groups=published)
