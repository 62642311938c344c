"""Foundation: resource group, CMK in Key Vault, private storage, logs, registry, identity, workspace."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi_azure_native import (
    applicationinsights,
    authorization,
    containerregistry,
    keyvault,
    managedidentity,
    operationalinsights,
    resources,
    storage,
)
from pulumi_azure_native import machinelearningservices as ml

from providers.azure.translate import AzureSettings
from providers.base import Capability, Deployment

# Built-in role definition GUIDs (the same in every tenant). Only data-plane or narrow roles:
# never Owner/Contributor, never at subscription scope.
ROLES = {
    "Storage Blob Data Contributor": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    "Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    "Key Vault Crypto Service Encryption User": "e147488a-f6f5-4113-8e2d-b22465e65bf6",
    "Key Vault Secrets Officer": "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    "Key Vault Secrets User": "4633458b-17de-408a-b874-0445c86b69e6",
    "AcrPull": "7f951dda-4ed3-4680-a7ca-43fe172d538d",
    "AcrPush": "8311e382-0749-4cb8-b61a-304f252e45ec",
    "AzureML Data Scientist": "f6c7c914-8db3-469d-8ca1-694a8f32e121",
}
FORBIDDEN_ROLES = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",  # Owner
    "b24988ac-6180-42a0-ab88-20f7382dd24c",  # Contributor
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",  # User Access Administrator
}


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
) -> authorization.RoleAssignment:
    """One role assignment to `principal_id`, scoped to one resource, parented to `owner`."""
    return authorization.RoleAssignment(
        f"{owner_name}-role-{role_name}",
        principal_id=principal_id,
        principal_type="ServicePrincipal",
        role_definition_id=role_definition_id(subscription_id, role),
        scope=scope,
        description=f"mlops {prefix}: {role}",
        opts=pulumi.ResourceOptions(parent=owner),
    )


@dataclass(frozen=True)
class FoundationOut:
    """What the other Azure components use of the foundation."""

    subscription_id: pulumi.Output[str]
    resource_group_name: pulumi.Output[str]
    resource_group_id: pulumi.Output[str]
    identity_id: pulumi.Output[str]
    """The runtime identity: jobs, the scoring container, the monitor and materialization run as it."""
    identity_principal_id: pulumi.Output[str]
    identity_client_id: pulumi.Output[str]
    workspace: pulumi.Resource
    workspace_id: pulumi.Output[str]
    workspace_name: pulumi.Output[str]
    workspace_args: Mapping[str, Any]
    """What a feature store workspace shares with the workspace: identities, CMK, storage, network."""
    code_account_name: pulumi.Output[str]
    code_container_name: pulumi.Output[str]
    log_analytics_id: pulumi.Output[str]


class Foundation(Capability):
    cloud = "azure"
    capability = "Foundation"
    out: FoundationOut

    def __init__(
        self, name: str, deployment: Deployment[AzureSettings], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(name, opts)
        s = deployment.settings
        self.settings = s
        private = s.public_network_access == "Disabled"
        tags = s.tags
        self.client = authorization.get_client_config_output(opts=pulumi.InvokeOutputOptions(parent=self))

        self.resource_group = resources.ResourceGroup(
            f"{name}-rg",
            resource_group_name=s.resource_group,
            location=s.location,
            tags=tags,
            opts=self.protected(deployment),
        )
        rg = self.resource_group.name
        self.identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            resource_name_=f"{s.prefix}-id",
            resource_group_name=rg,
            location=s.location,
            tags=tags,
            opts=self.child(),
        )
        # The workspace's own (primary) identity: the workspace writes its connection secrets into
        # the Key Vault and pushes the environment images it builds into the registry. Those two
        # write rights stay on this identity; the runtime identity above (jobs, deployment,
        # monitor, feature store materialization) only reads secrets and pulls images.
        self.workspace_identity = managedidentity.UserAssignedIdentity(
            f"{name}-workspace-identity",
            resource_name_=f"{s.prefix}-ws-id",
            resource_group_name=rg,
            location=s.location,
            tags=tags,
            opts=self.child(),
        )

        # Key Vault: RBAC only (no access policies), purge protection, soft delete.
        self.vault = keyvault.Vault(
            f"{name}-vault",
            vault_name=s.key_vault,
            resource_group_name=rg,
            location=s.location,
            tags=tags,
            properties=keyvault.VaultPropertiesArgs(
                tenant_id=self.client.tenant_id,
                sku=keyvault.SkuArgs(family="A", name="premium"),
                enable_rbac_authorization=True,
                enable_purge_protection=True,
                enable_soft_delete=True,
                soft_delete_retention_in_days=90,
                public_network_access=s.public_network_access,
                network_acls=keyvault.NetworkRuleSetArgs(
                    default_action="Deny" if private else "Allow", bypass="AzureServices"
                ),
            ),
            opts=self.protected(deployment),
        )
        self.key = keyvault.Key(
            f"{name}-cmk",
            key_name=f"{s.prefix}-cmk",
            vault_name=self.vault.name,
            resource_group_name=rg,
            properties=keyvault.KeyPropertiesArgs(
                kty="RSA-HSM",
                key_size=3072,
                key_ops=["wrapKey", "unwrapKey"],
                rotation_policy=keyvault.RotationPolicyArgs(
                    attributes=keyvault.KeyRotationPolicyAttributesArgs(expiry_time="P2Y"),
                    lifetime_actions=[
                        keyvault.LifetimeActionArgs(
                            action=keyvault.ActionArgs(type="rotate"),
                            trigger=keyvault.TriggerArgs(time_after_create="P1Y"),
                        )
                    ],
                ),
            ),
            tags=tags,
            opts=self.protected(deployment),
        )
        crypto = self.grant("crypto", "Key Vault Crypto Service Encryption User", self.vault.id)
        secrets = self.grant("secrets", "Key Vault Secrets User", self.vault.id)
        ws_secrets = self.grant(
            "ws-secrets",
            "Key Vault Secrets Officer",
            self.vault.id,
            principal_id=self.workspace_identity.principal_id,
        )

        # Data: no public blobs, no shared keys, TLS 1.2, CMK through the identity. HNS on: it is
        # also the feature store's offline (ADLS Gen2) store.
        self.storage = self._account(
            f"{name}-storage", s.storage_account, deployment, shared_keys=False, hns=True, depends_on=[crypto]
        )
        self._blob_service(f"{name}-storage-blobs", self.storage, rg, versioning=False)
        self.data_container = storage.BlobContainer(
            f"{name}-data",
            container_name="data",
            account_name=self.storage.name,
            resource_group_name=rg,
            public_access="None",
            opts=self.protected(deployment),
        )
        # Step code only. Pulumi's storage.Blob writes with the account key
        # (pulumi/pulumi-azure-native#2015), so this account keeps shared keys; it holds no data.
        # Reachable from the network because `pulumi up` uploads the code from the deployer's machine
        # through the blob data plane; requests still need the key or Entra ID (no anonymous access).
        self.code_account = self._account(
            f"{name}-code",
            s.code_account,
            deployment,
            shared_keys=True,
            hns=False,
            depends_on=[crypto],
            reachable_by_deployer=True,
        )
        self._blob_service(f"{name}-code-blobs", self.code_account, rg, versioning=True)
        self.code_container = storage.BlobContainer(
            f"{name}-code-container",
            container_name="code",
            account_name=self.code_account.name,
            resource_group_name=rg,
            public_access="None",
            opts=self.child(),
        )
        blob_data = self.grant("blob-data", "Storage Blob Data Contributor", self.storage.id)
        blob_code = self.grant("blob-code", "Storage Blob Data Reader", self.code_account.id)
        # The workspace's identity-based system datastores live on the data account.
        ws_blob = self.grant(
            "ws-blob-data",
            "Storage Blob Data Contributor",
            self.storage.id,
            principal_id=self.workspace_identity.principal_id,
        )

        self.log_analytics = operationalinsights.Workspace(
            f"{name}-logs",
            workspace_name=f"{s.prefix}-logs",
            resource_group_name=rg,
            location=s.location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=30,
            tags=tags,
            opts=self.child(),
        )
        self.app_insights = applicationinsights.Component(
            f"{name}-appinsights",
            resource_name_=f"{s.prefix}-ai",
            resource_group_name=rg,
            location=s.location,
            kind="web",
            application_type="web",
            workspace_resource_id=self.log_analytics.id,
            ingestion_mode="LogAnalytics",
            disable_local_auth=True,
            # Private unless `network.public_access`: ingestion/query then need an Azure Monitor
            # private link scope (not created by the kit, see docs/azure.md).
            public_network_access_for_ingestion=s.public_network_access,
            public_network_access_for_query=s.public_network_access,
            tags=tags,
            opts=self.child(),
        )
        # Premium is the tier that takes a customer-managed key and private access.
        self.registry = containerregistry.Registry(
            f"{name}-acr",
            registry_name=s.container_registry,
            resource_group_name=rg,
            location=s.location,
            sku=containerregistry.SkuArgs(name="Premium"),
            admin_user_enabled=False,
            anonymous_pull_enabled=False,
            public_network_access=s.public_network_access,
            identity=containerregistry.IdentityPropertiesArgs(
                # this API takes {identity id: {}}, not a list
                type="UserAssigned",
                user_assigned_identities=self.identity.id.apply(lambda i: {i: {}}),
            ),
            encryption=containerregistry.EncryptionPropertyArgs(
                status="enabled",
                key_vault_properties=containerregistry.KeyVaultPropertiesArgs(
                    key_identifier=self.key.key_uri, identity=self.identity.client_id
                ),
            ),
            tags=tags,
            opts=self.protected(deployment, depends_on=[crypto]),
        )
        # Jobs and the deployment only pull; the workspace (its own identity) builds and pushes
        # the environment images.
        acr = self.grant("acr", "AcrPull", self.registry.id)
        ws_acr = self.grant("ws-acr", "AcrPush", self.registry.id, principal_id=self.workspace_identity.principal_id)

        self.workspace = ml.Workspace(
            f"{name}-workspace",
            workspace_name=s.workspace,
            resource_group_name=rg,
            location=s.location,
            kind="Default",
            sku=ml.SkuArgs(name="Basic", tier="Basic"),
            **self.workspace_args(deployment),
            tags=tags,
            # Holds the model registry, runs and their lineage: data-bearing.
            opts=self.protected(
                deployment,
                depends_on=[crypto, secrets, blob_data, blob_code, acr, ws_secrets, ws_blob, ws_acr],
            ),
        )
        self.grant("ml", "AzureML Data Scientist", self.workspace.id)

        self.out = FoundationOut(
            subscription_id=self.client.subscription_id,
            resource_group_name=self.resource_group.name,
            resource_group_id=self.resource_group.id,
            identity_id=self.identity.id,
            identity_principal_id=self.identity.principal_id,
            identity_client_id=self.identity.client_id,
            workspace=self.workspace,
            workspace_id=self.workspace.id,
            workspace_name=self.workspace.name,
            workspace_args=self.workspace_args(deployment),
            code_account_name=self.code_account.name,
            code_container_name=self.code_container.name,
            log_analytics_id=self.log_analytics.id,
        )
        self.publish(
            storage_uri=pulumi.Output.concat("abfss://data@", self.storage.name, ".dfs.core.windows.net/"),
            encryption_key=self.key.id,
            execution_identity=self.identity.id,
        )

    def workspace_args(self, deployment: Deployment[AzureSettings]) -> dict[str, Any]:
        """What the workspace and the feature store share: identity, CMK, storage, private network."""
        s = deployment.settings
        private = s.public_network_access == "Disabled"
        return dict(
            # Both attached: the workspace acts as its own identity; jobs, the deployment and the
            # monitor run as the runtime identity.
            identity=ml.ManagedServiceIdentityArgs(
                type="UserAssigned",
                user_assigned_identities=[self.workspace_identity.id, self.identity.id],
            ),
            primary_user_assigned_identity=self.workspace_identity.id,
            storage_account=self.storage.id,
            key_vault=self.vault.id,
            application_insights=self.app_insights.id,
            container_registry=self.registry.id,
            encryption=ml.EncryptionPropertyArgs(
                status="Enabled",
                key_vault_properties=ml.KeyVaultPropertiesArgs(
                    key_identifier=self.key.key_uri_with_version, key_vault_arm_id=self.vault.id
                ),
                identity=ml.IdentityForCmkArgs(user_assigned_identity=self.identity.id),
            ),
            hbi_workspace=True,
            public_network_access=s.public_network_access,
            system_datastores_auth_mode="identity",
            managed_network=ml.ManagedNetworkSettingsArgs(
                isolation_mode="AllowOnlyApprovedOutbound" if private else "AllowInternetOutbound"
            ),
            serverless_compute_settings=ml.ServerlessComputeSettingsArgs(serverless_compute_no_public_ip=private),
            v1_legacy_mode=False,
        )

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

    def _account(
        self,
        res_name: str,
        account: str,
        deployment: Deployment[AzureSettings],
        *,
        shared_keys: bool,
        hns: bool,
        depends_on: list,
        reachable_by_deployer: bool = False,
    ) -> storage.StorageAccount:
        s = deployment.settings
        private = s.public_network_access == "Disabled" and not reachable_by_deployer
        return storage.StorageAccount(
            res_name,
            account_name=account,
            resource_group_name=self.resource_group.name,
            location=s.location,
            kind="StorageV2",
            sku=storage.SkuArgs(name="Standard_ZRS" if deployment.platform.environment == "prod" else "Standard_LRS"),
            is_hns_enabled=hns,
            allow_blob_public_access=False,
            allow_shared_key_access=shared_keys,
            default_to_o_auth_authentication=True,
            allow_cross_tenant_replication=False,
            minimum_tls_version="TLS1_2",
            enable_https_traffic_only=True,
            public_network_access="Disabled" if private else "Enabled",
            network_rule_set=storage.NetworkRuleSetArgs(
                default_action="Deny" if private else "Allow", bypass="AzureServices"
            ),
            identity=storage.IdentityArgs(type="UserAssigned", user_assigned_identities=[self.identity.id]),
            encryption=storage.EncryptionArgs(
                key_source="Microsoft.Keyvault",
                require_infrastructure_encryption=True,
                key_vault_properties=storage.KeyVaultPropertiesArgs(
                    key_name=self.key.name, key_vault_uri=self.vault.properties.vault_uri
                ),
                encryption_identity=storage.EncryptionIdentityArgs(encryption_user_assigned_identity=self.identity.id),
                services=storage.EncryptionServicesArgs(
                    blob=storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
                    file=storage.EncryptionServiceArgs(enabled=True, key_type="Account"),
                ),
            ),
            tags=s.tags,
            opts=self.protected(deployment, depends_on=depends_on),
        )

    def _blob_service(
        self, res_name: str, account: storage.StorageAccount, rg: pulumi.Input[str], versioning: bool
    ) -> storage.BlobServiceProperties:
        # Blob versioning is not available on HNS accounts; soft delete is.
        return storage.BlobServiceProperties(
            res_name,
            account_name=account.name,
            resource_group_name=rg,
            blob_services_name="default",
            is_versioning_enabled=versioning or None,
            delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=14),
            container_delete_retention_policy=storage.DeleteRetentionPolicyArgs(enabled=True, days=14),
            opts=self.child(),
        )
