"""What the kit's tools know about Azure without importing any Azure SDK: plain data only.

Read through `providers.registry`: by `mlops diff`, `mlops stack new` and the extra check.
"""

from __future__ import annotations

EXTRA = "azure"
REQUIRED_MODULES = ("pulumi_azure_native", "azure.ai.ml", "azure.identity")
CONFIG_KEYS = {"location": "azure-native:location"}
OPTIONAL_CONFIG_KEYS = {"subscription_id": "azure-native:subscriptionId"}
EXAMPLE_CONFIG = {"azure-native:location": "westeurope"}
"""Valid stand-ins for the provider keys: `mlops stack new` checks the cloud's rules with them
while the real values are still to be filled in."""
REGION_KEY = "azure-native:location"

DATA_BEARING: dict[str, str] = {
    "azure-native:resources:ResourceGroup": "resource group (holds everything in it)",
    "azure-native:storage:StorageAccount": "storage account",
    "azure-native:storage:BlobContainer": "blob container",
    "azure-native:redis:Redis": "online feature store (Redis)",
    "azure-native:keyvault:Vault": "key vault",
    "azure-native:keyvault:Key": "encryption key",
    "azure-native:containerregistry:Registry": "container registry",
    "azure-native:machinelearningservices:Workspace": "ML workspace / feature store",
    "azure-native:machinelearningservices:ModelContainer": "registered model",
    "azure-native:machinelearningservices:FeaturesetContainerEntity": "feature set",
    "azure-native:machinelearningservices:FeaturesetVersion": "feature set version",
    "azure-native:machinelearningservices:FeaturestoreEntityContainerEntity": "feature store entity",
    "azure-native:machinelearningservices:FeaturestoreEntityVersion": "feature store entity version",
    "azure-native:operationalinsights:Table": "drift-check history (Log Analytics table)",
}

REPLACE_ON_CHANGE: dict[str, tuple[str, ...]] = {
    "azure-native:resources:ResourceGroup": ("resourceGroupName", "location"),
    "azure-native:storage:StorageAccount": ("accountName", "resourceGroupName", "location"),
    "azure-native:storage:BlobContainer": ("containerName", "accountName", "resourceGroupName"),
    "azure-native:redis:Redis": ("name", "resourceGroupName", "location"),
    "azure-native:keyvault:Vault": ("vaultName", "resourceGroupName", "location"),
    "azure-native:keyvault:Key": ("keyName", "vaultName", "resourceGroupName"),
    "azure-native:containerregistry:Registry": ("registryName", "resourceGroupName", "location"),
    "azure-native:machinelearningservices:Workspace": ("workspaceName", "resourceGroupName", "location", "kind"),
    "azure-native:machinelearningservices:ModelContainer": ("name", "workspaceName", "resourceGroupName"),
    "azure-native:machinelearningservices:FeaturesetContainerEntity": ("name", "workspaceName", "resourceGroupName"),
    "azure-native:machinelearningservices:FeaturesetVersion": ("name", "version", "workspaceName", "resourceGroupName"),
    "azure-native:machinelearningservices:FeaturestoreEntityContainerEntity": (
        "name",
        "workspaceName",
        "resourceGroupName",
    ),
    "azure-native:machinelearningservices:FeaturestoreEntityVersion": (
        "name",
        "version",
        "workspaceName",
        "resourceGroupName",
    ),
    # Not data-bearing: listed so the diff says "replace" where it is one.
    "azure-native:machinelearningservices:OnlineEndpoint": ("endpointName", "workspaceName", "resourceGroupName"),
    "azure-native:machinelearningservices:OnlineDeployment": (
        "deploymentName",
        "endpointName",
        "workspaceName",
        "resourceGroupName",
    ),
    "azure-native:operationalinsights:Table": ("tableName", "workspaceName", "resourceGroupName"),
}

RESOURCE_PROVIDERS: dict[str, str] = {
    # namespace -> why a first deploy needs it registered in the subscription (source in docs/azure.md)
    "Microsoft.MachineLearningServices": "workspaces, feature store, endpoints, jobs",
    "Microsoft.Storage": "storage accounts",
    "Microsoft.KeyVault": "Key Vaults and the customer-managed key",
    "Microsoft.ContainerRegistry": "the container registry",
    "Microsoft.Insights": "Application Insights, autoscale, diagnostic settings, alerts, action group",
    "Microsoft.OperationalInsights": "Log Analytics",
    "Microsoft.Logic": "the retraining Logic App",
    "Microsoft.Cache": "Redis (online feature store)",
    "Microsoft.ManagedIdentity": "user-assigned identities",
    "Microsoft.Network": "managed network, private endpoints, private DNS zones, client VNet",
    "Microsoft.EventGrid": "the Event Grid system topic of the retraining trigger (loop wave)",
    # A workspace with a customer-managed key: Azure ML creates Cosmos DB and Search in the
    # subscription (Microsoft Learn "Use customer-managed keys with Azure Machine Learning").
    "Microsoft.DocumentDB": "Cosmos DB that Azure ML creates for a CMK workspace's metadata",
    "Microsoft.Search": "Azure AI Search that Azure ML creates for a CMK workspace's metadata",
}
"""Resource providers to register once per subscription before the first `pulumi up`
(pulumi-azure-native has no registration resource). `mlops doctor` prints the commands."""

FIRST_DEPLOY_HINTS: tuple[str, ...] = tuple(f"az provider register --namespace {ns}" for ns in RESOURCE_PROVIDERS)

REDEPLOY_HINTS: tuple[str, ...] = (
    "Key Vaults keep their names 90 days after `pulumi destroy` (soft delete, purge protection);",
    "a stack brought up again within 90 days fails on them. List them with",
    'az keyvault list-deleted --query "[].name" -o tsv  (then docs/azure.md, Re-deploying after destroy)',
)
"""What `mlops doctor` prints about deploying a destroyed stack again."""
