"""Foundation: resource group, customer-managed key, storage, registry, identities, the workspace,
its managed network and, when private, the inbound private endpoints a client reaches it through.

Every role is scoped to one resource. Each identity and its roles, with the source of each, is
listed in docs/azure.md (Identities and their role assignments) and written out literally in
tests/azure/test_identities.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import pulumi
from pulumi_azure_native import (
    applicationinsights,
    authorization,
    containerregistry,
    keyvault,
    managedidentity,
    network,
    operationalinsights,
    privatedns,
    resources,
    storage,
)
from pulumi_azure_native import machinelearningservices as ml

from providers.azure import dynamic
from providers.azure.sdk_cache import RestBody, sdk_built
from providers.azure.translate import AzureSettings, GlobalNames, unique_suffix
from providers.base import Capability, Deployment

# Built-in role definition GUIDs (the same in every tenant), by name.
ROLES = {
    "Contributor": "b24988ac-6180-42a0-ab88-20f7382dd24c",
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Key Vault Administrator": "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    "Key Vault Crypto Service Encryption User": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
    "Azure AI Enterprise Network Connection Approver": "b556d68e-0be0-4f35-a333-ad7ee1ce17ea",
    "Monitoring Metrics Publisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "Reader": "acdd72a7-3385-48ef-bd42-f606fba81ae7",
}
APPROVALS_CONTAINER = "approvals"
"""The container of the approval records, in the approvals account (see `_approvals`)."""
REGISTRY_API_VERSION = "2023-01-01-preview"
"""What pulumi_azure_native 3.29 uses for containerregistry.Registry (the ArmPatch of the registry too)."""
KEYVAULT_API_VERSION = "2024-11-01"
"""What pulumi_azure_native 3.29 uses for keyvault.Vault (the ArmPatch that locks the CMK vault too)."""
VAULT_LOCK = {"properties": {"networkAcls": {"defaultAction": "Deny"}, "publicNetworkAccess": "Disabled"}}
"""The CMK vault's firewall, set once every resource that takes the key at creation exists."""
IMAGE_BUILD_COMPUTE = "imgbuild"
VNET_CIDR = "10.250.0.0/24"
# Inbound private endpoints (client side) and their private DNS zones: Microsoft Learn "Azure
# Private Endpoint private DNS zone values" (Azure Machine Learning amlworkspace:
# privatelink.api.azureml.ms and privatelink.notebooks.azure.net; Storage blob / dfs).
WORKSPACE_ZONES = ("privatelink.api.azureml.ms", "privatelink.notebooks.azure.net")
STORAGE_ZONES = {"blob": "privatelink.blob.core.windows.net", "dfs": "privatelink.dfs.core.windows.net"}
FILE_ZONE = "privatelink.file.core.windows.net"
# The workspace's default storage, as clients and Studio reach it: blob (workspaceblobstore: job
# outputs, logs, models) and file (workspacefilestore) (Microsoft Learn "Use Azure Machine
# Learning studio in an Azure virtual network": the studio reads "Azure Storage Account (blob &
# file)"; the storage private endpoint must be in the workspace private endpoint's VNet).
WORKSPACE_STORAGE_ZONES = {"blob": STORAGE_ZONES["blob"], "file": FILE_ZONE}


def role_definition_id(subscription_id: pulumi.Input[str], role: str) -> pulumi.Output[str]:
    guid = ROLES[role]
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", guid
    )


def grant(
    owner: pulumi.Resource,
    owner_name: str,
    role_name: str,
    role: str,
    scope: pulumi.Input[str],
    *,
    principal_id: pulumi.Input[str],
    subscription_id: pulumi.Input[str],
    prefix: str,
    depends_on: list[pulumi.Resource] | None = None,
) -> authorization.RoleAssignment:
    """One role assignment to `principal_id`, scoped to one resource, parented to `owner`."""
    return authorization.RoleAssignment(
        f"{owner_name}-role-{role_name}",
        principal_id=principal_id,
        principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
        role_definition_id=role_definition_id(subscription_id, role),
        scope=scope,
        description=f"mlops {prefix}: {role}",
        opts=pulumi.ResourceOptions(parent=owner, depends_on=depends_on or []),
    )


def private_endpoint_rules(targets: Mapping[str, tuple[pulumi.Input[str], str]]) -> dict[str, Any]:
    """Managed-network outbound private endpoint rules, Spark enabled: `{rule: (resource id, sub-resource)}`
    (Microsoft Learn "Workspace Managed Virtual Network Isolation": private endpoint rules; "Configure
    for serverless Spark jobs": `spark_enabled: true`)."""
    return {
        rule: ml.PrivateEndpointOutboundRuleArgs(
            type="PrivateEndpoint",
            category=ml.RuleCategory.USER_DEFINED,
            destination=ml.PrivateEndpointDestinationArgs(
                service_resource_id=resource_id, subresource_target=subresource, spark_enabled=True
            ),
        )
        for rule, (resource_id, subresource) in targets.items()
    }


@sdk_built("datastore-properties")
def datastore_properties(kind: str, account: str, container: str) -> RestBody:
    """An identity-based datastore's REST body as azure-ai-ml writes it (its entity's `_to_rest_object()`)."""
    from azure.ai.ml.entities import AzureBlobDatastore, AzureDataLakeGen2Datastore

    entity = (
        AzureDataLakeGen2Datastore(name="x", account_name=account, filesystem=container)
        if kind == "adls"
        else AzureBlobDatastore(name="x", account_name=account, container_name=container)
    )
    return entity._to_rest_object().as_dict()["properties"]


@dataclass(frozen=True)
class FoundationOut:
    """What the other Azure components use of the foundation."""

    subscription_id: pulumi.Output[str]
    resource_group_name: pulumi.Output[str]
    resource_group_id: pulumi.Output[str]
    names: pulumi.Output[GlobalNames]
    """The globally unique names (their suffix comes from the subscription and resource group)."""
    identity_id: pulumi.Output[str]
    """The runtime identity: jobs, the scoring container, the monitor and materialization run as it."""
    identity_principal_id: pulumi.Output[str]
    identity_client_id: pulumi.Output[str]
    workspace_identity_principal_id: pulumi.Output[str]
    """The workspaces' own (primary) identity."""
    workspace: pulumi.Resource
    workspace_id: pulumi.Output[str]
    workspace_name: pulumi.Output[str]
    workspace_args: Callable[[Mapping[str, Any]], dict[str, Any]]
    """What a feature store workspace shares with the workspace, given its extra outbound rules."""
    network_ready: pulumi.Resource
    """The workspace's managed network, provisioned with Spark: deployments and Spark jobs wait for it."""
    data_container_id: pulumi.Output[str]
    code_account_name: pulumi.Output[str]
    code_container_name: pulumi.Output[str]
    registry_id: pulumi.Output[str]
    log_analytics_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str] | None
    """The subnet of the inbound private endpoints (None when `network.public_access`)."""
    zone_ids: Mapping[str, pulumi.Output[str]]
    """Private DNS zone name -> id (empty when `network.public_access`)."""
    lock_key_vault: Callable[[Sequence[pulumi.Resource]], pulumi.Resource | None]
    """Close the CMK vault's firewall once these (the last workspaces) and the foundation's own key
    users exist; called once, by the component that creates the last workspace (None when public)."""
    approvals_account_name: pulumi.Output[str] | None = None
    """The account of the approval records (container `approvals`): only approvers write to it."""
    approvals_ready: Sequence[pulumi.Resource] = ()
    """The approvals container and the deployer's read access to it: the deploy-time check waits for them."""


class Foundation(Capability):
    cloud = "azure"
    capability = "Foundation"
    out: FoundationOut

    def __init__(
        self, name: str, deployment: Deployment[AzureSettings], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(name, opts)
        settings = deployment.settings
        self.settings = settings
        self.deployment = deployment
        private = settings.public_network_access == "Disabled"
        tags = settings.tags
        self.client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))
        self.names = self.client.subscription_id.apply(
            lambda sub: settings.names(unique_suffix(sub, settings.resource_group))
        )

        def named(attr: str) -> pulumi.Output[str]:
            return self.names.apply(lambda n: getattr(n, attr))

        self.resource_group = resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=settings.resource_group,
            location=settings.location,
            tags=tags,
            opts=self.protected(deployment),
        )
        resource_group_name = self.resource_group.name
        self.rg = resource_group_name

        def identity(res: str, suffix: str) -> managedidentity.UserAssignedIdentity:
            return managedidentity.UserAssignedIdentity(
                f"{name}-{res}",
                resource_name_=f"{settings.prefix}-{suffix}",
                resource_group_name=resource_group_name,
                location=settings.location,
                tags=tags,
                opts=self.child(),
            )

        # Runtime: pipeline jobs, the scoring container, the monitor's Spark, materialization.
        self.identity = identity("identity", "id")
        # The workspaces' primary identity: the workspace itself talks to its associated resources.
        self.workspace_identity = identity("workspace-identity", "ws-id")
        # Encryption only: storage, registry and workspace reach the customer-managed key as it.
        self.cmk_identity = identity("cmk-identity", "cmk-id")

        # Key Vault holding the customer-managed key, and nothing else: RBAC, purge protection.
        # Created open and locked (`lock_key_vault`) once every resource that takes the key at
        # creation exists: a registry's CMK is set at creation through a user-assigned identity,
        # which does not pass a Key Vault firewall (see docs/azure.md, Customer-managed key).
        self.vault = self._vault(f"{name}-vault", named("key_vault"), private, deployment, lock_later=private)
        self.key = keyvault.Key(
            f"{name}-cmk",
            key_name=f"{settings.prefix}-cmk",
            vault_name=self.vault.name,
            resource_group_name=resource_group_name,
            properties=keyvault.KeyPropertiesArgs(
                kty=keyvault.JsonWebKeyType.RS_A_HSM,
                key_size=3072,
                key_ops=["wrapKey", "unwrapKey"],
                # A new version every year; versions never expire, so the workspace (which pins a
                # version) keeps working after a rotation. Storage and the registry follow the key
                # (versionless URI); see docs/azure.md for re-keying the workspace.
                rotation_policy=keyvault.RotationPolicyArgs(
                    lifetime_actions=[
                        keyvault.LifetimeActionArgs(
                            action=keyvault.ActionArgs(type=keyvault.KeyRotationPolicyActionType.ROTATE),
                            trigger=keyvault.TriggerArgs(time_after_create="P1Y"),
                        )
                    ],
                ),
            ),
            tags=tags,
            opts=self.protected(deployment),
        )
        crypto = self.grant(
            "cmk-crypto",
            "Key Vault Crypto Service Encryption User",
            self.vault.id,
            principal_id=self.cmk_identity.principal_id,
        )
        # The workspaces' own Key Vault (their connection secrets): the workspace identity's broad
        # documented roles sit on this vault, never on the one holding the key.
        self.workspace_vault = self._vault(f"{name}-workspace-vault", named("workspace_vault"), private, deployment)

        # Storage: data (ADLS Gen2: datastore and offline feature store), the workspaces' default
        # storage (plain: a workspace refuses HNS there), step code (reachable by `pulumi up`).
        self.storage = self._account(f"{name}-storage", named("data_account"), deployment, hns=True, deps=[crypto])
        self._blob_service(f"{name}-storage-blobs", self.storage, versioning=False)
        self.data_container = storage.BlobContainer(
            f"{name}-data",
            container_name="data",
            account_name=self.storage.name,
            resource_group_name=resource_group_name,
            public_access=storage.PublicAccess.NONE,
            opts=self.protected(deployment),
        )
        self.workspace_storage = self._account(
            f"{name}-workspace-storage", named("workspace_account"), deployment, hns=False, deps=[crypto]
        )
        self._blob_service(f"{name}-workspace-storage-blobs", self.workspace_storage, versioning=True)
        # Pulumi's storage.Blob writes with the account key (pulumi/pulumi-azure-native#2015), so
        # this account keeps shared keys; it holds no data. Reachable from the network because
        # `pulumi up` uploads to it from the deployer's machine; requests still need the key or
        # Entra ID (no anonymous access). Jobs reach it through a managed-network private endpoint.
        self.code_account = self._account(
            f"{name}-code",
            named("code_account"),
            deployment,
            hns=False,
            deps=[crypto],
            shared_keys=True,
            reachable_by_deployer=True,
        )
        self._blob_service(f"{name}-code-blobs", self.code_account, versioning=True)
        self.code_container = storage.BlobContainer(
            f"{name}-code-container",
            container_name="code",
            account_name=self.code_account.name,
            resource_group_name=resource_group_name,
            public_access=storage.PublicAccess.NONE,
            opts=self.child(),
        )

        self.log_analytics = operationalinsights.Workspace(
            f"{name}-logs",
            workspace_name=f"{settings.prefix}-logs",
            resource_group_name=resource_group_name,
            location=settings.location,
            sku=operationalinsights.WorkspaceSkuArgs(name=operationalinsights.WorkspaceSkuNameEnum.PER_GB2018),
            retention_in_days=30,
            tags=tags,
            opts=self.child(),
        )
        # Deployments send telemetry with the instrumentation key from Azure ML's managed network,
        # through the public ingestion endpoint (the managed network's required `AzureMonitor`
        # rule): local auth and public ingestion stay on, or that telemetry is dropped. Queries
        # stay private unless `network.public_access`.
        self.app_insights = applicationinsights.Component(
            f"{name}-appinsights",
            resource_name_=f"{settings.prefix}-ai",
            resource_group_name=resource_group_name,
            location=settings.location,
            kind="web",
            application_type=applicationinsights.ApplicationType.WEB,
            workspace_resource_id=self.log_analytics.id,
            ingestion_mode=applicationinsights.IngestionMode.LOG_ANALYTICS,
            disable_local_auth=False,
            public_network_access_for_ingestion=applicationinsights.PublicNetworkAccessType.ENABLED,
            public_network_access_for_query=applicationinsights.PublicNetworkAccessType(settings.public_network_access),
            tags=tags,
            opts=self.child(),
        )

        # Premium: the tier that takes a customer-managed key and private access. The key is set at
        # creation through a user-assigned identity (the only way ACR takes a CMK); with the Key
        # Vault behind its firewall, the registry then switches to its system identity, allowed
        # past the firewall as a trusted service (Microsoft Learn "Encrypt registry using a
        # customer-managed key", Advanced scenario: Key Vault firewall).
        self.registry = containerregistry.Registry(
            f"{name}-acr",
            registry_name=named("registry"),
            resource_group_name=resource_group_name,
            location=settings.location,
            sku=containerregistry.SkuArgs(name=containerregistry.SkuName.PREMIUM),
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            public_network_access=containerregistry.PublicNetworkAccess(settings.public_network_access),
            network_rule_bypass_options=containerregistry.NetworkRuleBypassOptions.AZURE_SERVICES,
            identity=containerregistry.IdentityPropertiesArgs(
                # this API takes {identity id: {}}, not a list
                type=containerregistry.ResourceIdentityType.SYSTEM_ASSIGNED_USER_ASSIGNED,
                user_assigned_identities=self.cmk_identity.id.apply(
                    lambda i: {i: containerregistry.UserIdentityPropertiesArgs()}
                ),
            ),
            encryption=containerregistry.EncryptionPropertyArgs(
                status=containerregistry.EncryptionStatus.ENABLED,
                key_vault_properties=containerregistry.KeyVaultPropertiesArgs(
                    key_identifier=self.key.key_uri, identity=self.cmk_identity.client_id
                ),
            ),
            tags=tags,
            opts=self.protected(
                deployment, depends_on=[crypto], ignore_changes=["encryption.keyVaultProperties.identity"]
            ),
        )
        registry_crypto = self.grant(
            "acr-crypto",
            "Key Vault Crypto Service Encryption User",
            self.vault.id,
            # Azure sets the principal of the system-assigned identity the registry declares.
            principal_id=self.registry.identity.apply(lambda i: cast(str, i.principal_id if i else None)),
        )
        self.acr_key_identity = dynamic.ArmPatch(
            f"{name}-acr-key-identity",
            resource_id=self.registry.id,
            api_version=REGISTRY_API_VERSION,
            # "system" is the ACR service's word for its system-assigned identity (azure-cli
            # `az acr encryption rotate-key --identity [system]`).
            patch={"properties": {"encryption": {"keyVaultProperties": {"identity": "system"}}}},
            opts=self.child(depends_on=[registry_crypto]),
        )

        grants = self._identity_grants()
        self.network = self._inbound_network(name, deployment) if private else None
        self.workspace = ml.Workspace(
            f"{name}-workspace",
            workspace_name=settings.workspace,
            resource_group_name=resource_group_name,
            location=settings.location,
            kind="Default",
            **self.workspace_args({}),
            tags=tags,
            # Holds the model registry, runs and their lineage: data-bearing.
            opts=self.protected(
                deployment,
                depends_on=[crypto, *grants],
                ignore_changes=["encryption.keyVaultProperties.keyIdentifier", "imageBuildCompute"],
            ),
        )
        self.grant("ml", "AzureML Data Scientist", self.workspace.id)
        self.grant(
            "ws-contributor", "Contributor", self.workspace.id, principal_id=self.workspace_identity.principal_id
        )
        self.datastore = ml.Datastore(
            f"{name}-datastore",
            name="mlopsdata",
            workspace_name=self.workspace.name,
            resource_group_name=resource_group_name,
            properties=named("data_account").apply(lambda a: datastore_properties("adls", a, "data")),
            opts=self.child(),
        )
        # The code asset and the environment's build context live on the code account: a datastore
        # of the workspace there, as azure-ai-ml's own uploads always land on one.
        ml.Datastore(
            f"{name}-code-datastore",
            name="mlopscode",
            workspace_name=self.workspace.name,
            resource_group_name=resource_group_name,
            properties=named("code_account").apply(lambda a: datastore_properties("blob", a, "code")),
            opts=self.child(),
        )
        ready: list[pulumi.Resource] = []
        if private:
            # A private registry cannot build images itself: a compute cluster in the managed
            # network builds them (Microsoft Learn "Workspace Managed Virtual Network Isolation",
            # Configure image builds). Zero nodes when idle.
            build = ml.Compute(
                f"{name}-image-build",
                compute_name=IMAGE_BUILD_COMPUTE,
                workspace_name=self.workspace.name,
                resource_group_name=resource_group_name,
                location=settings.location,
                identity=ml.ManagedServiceIdentityArgs(
                    type=ml.ManagedServiceIdentityType.USER_ASSIGNED,
                    user_assigned_identities=[self.workspace_identity.id],
                ),
                properties=ml.AmlComputeArgs(
                    compute_type="AmlCompute",
                    disable_local_auth=True,
                    properties=ml.AmlComputePropertiesArgs(
                        vm_size=settings.training_instance,
                        vm_priority=ml.VmPriority.DEDICATED,
                        enable_node_public_ip=False,
                        remote_login_port_public_access=ml.RemoteLoginPortPublicAccess.DISABLED,
                        scale_settings=ml.ScaleSettingsArgs(
                            min_node_count=0, max_node_count=1, node_idle_time_before_scale_down="PT10M"
                        ),
                    ),
                ),
                tags=tags,
                opts=self.child(),
            )
            ready.append(
                dynamic.ArmPatch(
                    f"{name}-image-build-compute",
                    resource_id=self.workspace.id,
                    api_version=dynamic.ML_API_VERSION,
                    patch={"properties": {"imageBuildCompute": IMAGE_BUILD_COMPUTE}},
                    opts=self.child(depends_on=[build]),
                )
            )
        # Online deployments and serverless Spark need the managed network provisioned (with Spark).
        self.network_ready = dynamic.ManagedNetworkProvision(
            f"{name}-managed-network",
            workspace_id=self.workspace.id,
            include_spark=True,
            opts=self.child(depends_on=ready),
        )
        if private:
            self._private_endpoint(name, "workspace", self.workspace.id, "amlworkspace", WORKSPACE_ZONES)

        self._approvals(name, named("approvals_account"), deployment, crypto)
        self.out = FoundationOut(
            subscription_id=self.client.subscription_id,
            resource_group_name=self.resource_group.name,
            resource_group_id=self.resource_group.id,
            names=self.names,
            identity_id=self.identity.id,
            identity_principal_id=self.identity.principal_id,
            identity_client_id=self.identity.client_id,
            workspace_identity_principal_id=self.workspace_identity.principal_id,
            workspace=self.workspace,
            workspace_id=self.workspace.id,
            workspace_name=self.workspace.name,
            workspace_args=self.workspace_args,
            network_ready=self.network_ready,
            data_container_id=self.data_container.id,
            code_account_name=self.code_account.name,
            code_container_name=self.code_container.name,
            registry_id=self.registry.id,
            log_analytics_id=self.log_analytics.id,
            subnet_id=self.network[0] if self.network else None,
            zone_ids=self.network[1] if self.network else {},
            lock_key_vault=self.lock_key_vault,
            approvals_account_name=self.approvals_account.name,
            approvals_ready=self.approvals_ready,
        )
        self.publish(
            storage_uri=pulumi.Output.concat("abfss://data@", self.storage.name, ".dfs.core.windows.net/"),
            encryption_key=self.key.id,
            execution_identity=self.identity.id,
        )

    def lock_key_vault(self, after: Sequence[pulumi.Resource]) -> pulumi.Resource | None:
        """Close the CMK vault's firewall (private stacks) after the registry switched to its system
        identity and the storage accounts and workspaces (the foundation's and `after`) exist."""
        if self.settings.public_network_access != "Disabled":
            return None
        return dynamic.ArmPatch(
            f"{self._name}-vault-lock",
            resource_id=self.vault.id,
            api_version=KEYVAULT_API_VERSION,
            patch=VAULT_LOCK,
            opts=self.child(
                depends_on=[
                    self.acr_key_identity,
                    self.storage,
                    self.workspace_storage,
                    self.code_account,
                    self.approvals_account,
                    self.workspace,
                    *after,
                ]
            ),
        )

    # -- approval records ------------------------------------------------------------------------

    def _approvals(
        self, name: str, account: pulumi.Input[str], deployment: Deployment[AzureSettings], crypto: pulumi.Resource
    ) -> None:
        """The account of the model approval records (providers/azure/dynamic.py ApprovalRecords).

        The runtime identity, which registers model versions (and could register one already tagged
        approved), holds NO role here, so it cannot write a record: only `registry.approvers`
        (Storage Blob Data Contributor on the container) can. A separate account rather than a
        container of the data account under a role-assignment condition: conditions are not
        evaluated for access granted by ACLs on a hierarchical-namespace account, which the data
        account is (Microsoft Learn "Security considerations for Azure role assignment conditions in
        Azure Blob Storage", https://learn.microsoft.com/azure/storage/blobs/storage-auth-abac-security),
        and the data role's control-plane actions (container write/delete) take no condition. No shared
        keys (Entra ID only); reachable from the deployer's network like the code account, because
        `pulumi up` reads the records (docs/azure.md, Approving a model version)."""
        settings = self.settings
        self.approvals_account = self._account(
            f"{name}-approvals",
            account,
            deployment,
            hns=False,
            deps=[crypto],
            reachable_by_deployer=True,
        )
        self._blob_service(f"{name}-approvals-blobs", self.approvals_account, versioning=True)
        container = storage.BlobContainer(
            f"{name}-approvals-container",
            container_name=APPROVALS_CONTAINER,
            account_name=self.approvals_account.name,
            resource_group_name=self.rg,
            public_access=storage.PublicAccess.NONE,
            opts=self.protected(deployment),
        )
        # The deployer (`pulumi up` runs the deploy-time check as it) reads the records. Its principal
        # type is not known here (a user, or CI's service principal), so none is given.
        reader = authorization.RoleAssignment(
            f"{name}-role-approvals-deployer",
            principal_id=self.client.object_id,
            role_definition_id=role_definition_id(self.client.subscription_id, "Storage Blob Data Reader"),
            scope=container.id,
            description=f"mlops {settings.prefix}: the deployer reads the approval records",
            opts=self.child(),
        )
        for principal_type, approver in settings.approvers:
            # A user, group or service principal, typed as the stack says (`group:<object id>`). A record
            # is a new blob per decision (create-only writes); versioning keeps any overwritten or deleted one.
            authorization.RoleAssignment(
                f"{name}-role-approver-{approver}",
                principal_id=approver,
                principal_type=principal_type,
                role_definition_id=role_definition_id(self.client.subscription_id, "Storage Blob Data Contributor"),
                scope=container.id,
                description=f"mlops {settings.prefix}: approver writes approval records",
                opts=self.child(),
            )
            # Reading the version it approves (its path and creation time go into the record).
            authorization.RoleAssignment(
                f"{name}-role-approver-{approver}-reader",
                principal_id=approver,
                principal_type=principal_type,
                role_definition_id=role_definition_id(self.client.subscription_id, "Reader"),
                scope=self.workspace.id,
                description=f"mlops {settings.prefix}: approver reads model versions",
                opts=self.child(),
            )
        self.approvals_ready = (container, reader)

    # -- identities ---------------------------------------------------------------------------

    def _identity_grants(self) -> list[authorization.RoleAssignment]:
        """The roles the workspace needs before it is created (its identity's documented set on its
        associated resources, the runtime identity's data access)."""
        workspace_principal_id = self.workspace_identity.principal_id
        grants = [
            # Runtime identity: data in and out, step code and specs read, images pulled.
            self.grant("blob-data", "Storage Blob Data Contributor", self.storage.id),
            self.grant("blob-workspace", "Storage Blob Data Contributor", self.workspace_storage.id),
            self.grant("blob-code", "Storage Blob Data Reader", self.code_account.id),
            self.grant("acr", "AcrPull", self.registry.id),
            # Workspace identity: the documented set for a user-assigned workspace identity
            # (Microsoft Learn "Set up authentication between Azure Machine Learning and other
            # services", User-assigned managed identity), each on its one resource.
            self.grant("ws-storage", "Contributor", self.workspace_storage.id, principal_id=workspace_principal_id),
            self.grant(
                "ws-storage-data",
                "Storage Blob Data Contributor",
                self.workspace_storage.id,
                principal_id=workspace_principal_id,
            ),
            self.grant("ws-vault", "Contributor", self.workspace_vault.id, principal_id=workspace_principal_id),
            self.grant(
                "ws-vault-data", "Key Vault Administrator", self.workspace_vault.id, principal_id=workspace_principal_id
            ),
            self.grant("ws-acr", "Contributor", self.registry.id, principal_id=workspace_principal_id),
            self.grant("ws-appinsights", "Contributor", self.app_insights.id, principal_id=workspace_principal_id),
            # The environment's build context lives on the code account (not documented: the kit's).
            self.grant(
                "ws-code", "Storage Blob Data Reader", self.code_account.id, principal_id=workspace_principal_id
            ),
        ]
        # The managed network's private endpoints to these resources are approved by the
        # workspace identity: "If you are using UAI workspace please make sure to add the Azure
        # AI Enterprise Network Connection Approver role to your identity" (Microsoft Learn
        # "Workspace Managed Virtual Network Isolation").
        for role_name, target in (
            ("pe-data", self.storage.id),
            ("pe-workspace-storage", self.workspace_storage.id),
            ("pe-code", self.code_account.id),
            ("pe-vault", self.workspace_vault.id),
            ("pe-acr", self.registry.id),
        ):
            grants.append(
                self.grant(
                    role_name,
                    "Azure AI Enterprise Network Connection Approver",
                    target,
                    principal_id=workspace_principal_id,
                )
            )
        return grants

    def grant(
        self,
        role_name: str,
        role: str,
        scope: pulumi.Input[str],
        principal_id: pulumi.Input[str] | None = None,
        parent: pulumi.Resource | None = None,
    ) -> authorization.RoleAssignment:
        """One role assignment for the runtime identity (or `principal_id`), scoped to one resource."""
        owner = parent or self
        return grant(
            owner,
            owner._name,
            role_name,
            role,
            scope,
            principal_id=principal_id or self.identity.principal_id,
            subscription_id=self.client.subscription_id,
            prefix=self.settings.prefix,
        )

    # -- the workspace --------------------------------------------------------------------------

    def workspace_args(self, extra_rules: Mapping[str, Any]) -> dict[str, Any]:
        """What the workspace and the feature store share: identities, CMK, storage, private network."""
        settings = self.settings
        private = settings.public_network_access == "Disabled"
        rules = private_endpoint_rules(
            {
                "data-blob": (self.storage.id, "blob"),
                "data-dfs": (self.storage.id, "dfs"),
                "code-blob": (self.code_account.id, "blob"),
            }
        )
        return dict(
            # The workspace acts as its own identity; jobs, the deployment and the monitor run as
            # the runtime identity; the CMK identity reaches the key.
            identity=ml.ManagedServiceIdentityArgs(
                type=ml.ManagedServiceIdentityType.USER_ASSIGNED,
                user_assigned_identities=[self.workspace_identity.id, self.identity.id, self.cmk_identity.id],
            ),
            primary_user_assigned_identity=self.workspace_identity.id,
            storage_account=self.workspace_storage.id,
            key_vault=self.workspace_vault.id,
            application_insights=self.app_insights.id,
            container_registry=self.registry.id,
            encryption=ml.EncryptionPropertyArgs(
                status=ml.EncryptionStatus.ENABLED,
                key_vault_properties=ml.KeyVaultPropertiesArgs(
                    key_identifier=self.key.key_uri_with_version, key_vault_arm_id=self.vault.id
                ),
                identity=ml.IdentityForCmkArgs(user_assigned_identity=self.cmk_identity.id),
            ),
            hbi_workspace=True,
            public_network_access=ml.PublicNetworkAccessType(settings.public_network_access),
            system_datastores_auth_mode=ml.SystemDatastoresAuthMode.IDENTITY,
            managed_network=ml.ManagedNetworkSettingsArgs(
                isolation_mode=ml.IsolationMode.ALLOW_ONLY_APPROVED_OUTBOUND
                if private
                else ml.IsolationMode.ALLOW_INTERNET_OUTBOUND,
                outbound_rules={**rules, **extra_rules},
            ),
            serverless_compute_settings=ml.ServerlessComputeSettingsArgs(serverless_compute_no_public_ip=private),
        )

    # -- inbound private network ----------------------------------------------------------------

    def _inbound_network(
        self, name: str, deployment: Deployment[AzureSettings]
    ) -> tuple[pulumi.Output[str], dict[str, pulumi.Output[str]]]:
        """A virtual network for the clients of a private platform (people, CI), its private DNS
        zones, and private endpoints to the data account (raw data goes in through it) and to the
        workspace's default storage (job outputs, logs and models, read by Studio and the SDK)."""
        settings = self.settings
        vnet = network.VirtualNetwork(
            f"{name}-vnet",
            virtual_network_name=f"{settings.prefix}-vnet",
            resource_group_name=self.rg,
            location=settings.location,
            address_space=network.AddressSpaceArgs(address_prefixes=[VNET_CIDR]),
            tags=settings.tags,
            opts=self.child(ignore_changes=["subnets"]),
        )
        subnet = network.Subnet(
            f"{name}-endpoints-subnet",
            subnet_name="private-endpoints",
            virtual_network_name=vnet.name,
            resource_group_name=self.rg,
            address_prefix=VNET_CIDR,
            private_endpoint_network_policies=network.VirtualNetworkPrivateEndpointNetworkPolicies.DISABLED,
            opts=self.child(),
        )
        zones: dict[str, pulumi.Output[str]] = {}
        for zone_name in (*WORKSPACE_ZONES, *STORAGE_ZONES.values(), FILE_ZONE):
            zone = privatedns.PrivateZone(
                f"{name}-zone-{zone_name.split('.')[1]}",
                private_zone_name=zone_name,
                resource_group_name=self.rg,
                location="global",
                tags=settings.tags,
                opts=self.child(),
            )
            privatedns.VirtualNetworkLink(
                f"{name}-zone-{zone_name.split('.')[1]}-link",
                private_zone_name=zone.name,
                virtual_network_link_name=f"{settings.prefix}-vnet",
                resource_group_name=self.rg,
                location="global",
                registration_enabled=False,
                virtual_network=privatedns.SubResourceArgs(id=vnet.id),
                tags=settings.tags,
                opts=self.child(),
            )
            zones[zone_name] = zone.id
        self._subnet, self._zones = subnet.id, zones
        for subresource, zone_name in STORAGE_ZONES.items():
            self._private_endpoint(name, f"data-{subresource}", self.storage.id, subresource, (zone_name,))
        for subresource, zone_name in WORKSPACE_STORAGE_ZONES.items():
            self._private_endpoint(name, f"ws-{subresource}", self.workspace_storage.id, subresource, (zone_name,))
        return subnet.id, zones

    def _private_endpoint(
        self, name: str, what: str, target: pulumi.Input[str], group: str, zones: tuple[str, ...]
    ) -> network.PrivateEndpoint:
        return private_endpoint(self, name, what, target, group, zones, self._subnet, self._zones, self.settings)

    # -- building blocks ----------------------------------------------------------------------------

    def _vault(
        self,
        res_name: str,
        vault_name: pulumi.Input[str],
        private: bool,
        deployment: Deployment[AzureSettings],
        lock_later: bool = False,
    ) -> keyvault.Vault:
        """A Key Vault; with `lock_later` created open, its firewall left to `lock_key_vault`."""
        settings = self.settings
        closed = private and not lock_later
        return keyvault.Vault(
            res_name,
            vault_name=vault_name,
            resource_group_name=self.rg,
            location=settings.location,
            tags=settings.tags,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=self.client.tenant_id,
                sku=keyvault.SkuArgs(family=keyvault.SkuFamily.A, name=keyvault.SkuName.PREMIUM),
                enable_rbac_authorization=True,
                enable_purge_protection=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=90,
                public_network_access="Disabled" if closed else "Enabled",
                network_acls=keyvault.NetworkRuleSetArgs(
                    default_action=keyvault.NetworkRuleAction.DENY if closed else keyvault.NetworkRuleAction.ALLOW,
                    bypass=keyvault.NetworkRuleBypassOptions.AZURE_SERVICES,
                ),
            ),
            opts=self.protected(
                deployment,
                ignore_changes=["properties.publicNetworkAccess", "properties.networkAcls.defaultAction"]
                if lock_later
                else None,
            ),
        )

    def _account(
        self,
        res_name: str,
        account: pulumi.Input[str],
        deployment: Deployment[AzureSettings],
        *,
        hns: bool,
        deps: list[pulumi.Resource],
        shared_keys: bool = False,
        reachable_by_deployer: bool = False,
    ) -> storage.StorageAccount:
        settings = deployment.settings
        private = settings.public_network_access == "Disabled" and not reachable_by_deployer
        return storage.StorageAccount(
            res_name,
            account_name=account,
            resource_group_name=self.rg,
            location=settings.location,
            kind=storage.Kind.STORAGE_V2,
            sku=storage.SkuArgs(
                name=storage.SkuName.STANDARD_ZRS
                if deployment.platform.environment == "prod"
                else storage.SkuName.STANDARD_LRS
            ),
            is_hns_enabled=hns,
            allow_blob_public_access=False,
            allow_shared_key_access=shared_keys,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            minimum_tls_version=storage.MinimumTlsVersion.TLS1_2,
            enable_https_traffic_only=True,
            public_network_access=storage.PublicNetworkAccess.DISABLED
            if private
            else storage.PublicNetworkAccess.ENABLED,
            network_rule_set=storage.NetworkRuleSetArgs(
                default_action=storage.DefaultAction.DENY if private else storage.DefaultAction.ALLOW,
                bypass=storage.Bypass.AZURE_SERVICES,
            ),
            identity=storage.IdentityArgs(
                type=storage.IdentityType.USER_ASSIGNED, user_assigned_identities=[self.cmk_identity.id]
            ),
            encryption=storage.EncryptionArgs(
                key_source=storage.KeySource.MICROSOFT_KEYVAULT,
                require_infrastructure_encryption=True,
                # No key version: the account follows the key's rotation.
                key_vault_properties=storage.KeyVaultPropertiesArgs(
                    key_name=self.key.name, key_vault_uri=self.vault.properties.vault_uri
                ),
                encryption_identity=storage.EncryptionIdentityArgs(
                    encryption_user_assigned_identity=self.cmk_identity.id
                ),
                services=storage.EncryptionServicesArgs(
                    blob=storage.EncryptionServiceArgs(enabled=True, key_type=storage.KeyType.ACCOUNT),
                    file=storage.EncryptionServiceArgs(enabled=True, key_type=storage.KeyType.ACCOUNT),
                ),
            ),
            tags=settings.tags,
            opts=self.protected(deployment, depends_on=deps),
        )

    def _blob_service(self, res_name: str, account: storage.StorageAccount, versioning: bool) -> None:
        # Blob versioning is not available on HNS accounts; soft delete is.
        storage.BlobServiceProperties(
            res_name,
            account_name=account.name,
            resource_group_name=self.rg,
            blob_services_name="default",
            is_versioning_enabled=versioning or None,
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=14),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=14),
            opts=self.child(),
        )


def private_endpoint(
    owner: Capability,
    name: str,
    what: str,
    target: pulumi.Input[str],
    group: str,
    zones: tuple[str, ...],
    subnet_id: pulumi.Input[str],
    zone_ids: Mapping[str, pulumi.Input[str]],
    settings: AzureSettings,
) -> network.PrivateEndpoint:
    """An inbound private endpoint in the clients' subnet, registered in its private DNS zones."""
    endpoint = network.PrivateEndpoint(
        f"{name}-pe-{what}",
        private_endpoint_name=f"{settings.prefix}-pe-{what}",
        resource_group_name=settings.resource_group,
        location=settings.location,
        subnet=network.SubnetArgs(id=subnet_id),
        private_link_service_connections=[
            network.PrivateLinkServiceConnectionArgs(
                name=f"{settings.prefix}-{what}", private_link_service_id=target, group_ids=[group]
            )
        ],
        tags=settings.tags,
        opts=pulumi.ResourceOptions(parent=owner),
    )
    network.PrivateDnsZoneGroup(
        f"{name}-pe-{what}-dns",
        private_endpoint_name=endpoint.name,
        private_dns_zone_group_name="default",
        resource_group_name=settings.resource_group,
        private_dns_zone_configs=[
            network.PrivateDnsZoneConfigArgs(name=zone.replace(".", "-"), private_dns_zone_id=zone_ids[zone])
            for zone in zones
        ],
        opts=pulumi.ResourceOptions(parent=owner),
    )
    return endpoint
