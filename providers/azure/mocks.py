"""What the offline plan's mocks answer for Azure: computed attributes and invoke results.

Values are obviously fake (a zero subscription, example.invalid hosts); they only need the shape
the program reads (ids, URIs, principal ids), so the plan shows real wiring between resources.
"""

from __future__ import annotations

import uuid
from typing import Any

SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
TENANT = "11111111-1111-1111-1111-111111111111"
_RG = "/subscriptions/" + SUBSCRIPTION + "/resourceGroups/{rg}"

# Pulumi type -> (ARM provider path, the input holding the physical name)
_ARM: dict[str, tuple[str, str]] = {
    "azure-native:storage:StorageAccount": ("Microsoft.Storage/storageAccounts", "accountName"),
    "azure-native:keyvault:Vault": ("Microsoft.KeyVault/vaults", "vaultName"),
    "azure-native:keyvault:Key": ("Microsoft.KeyVault/vaults/{vaultName}/keys", "keyName"),
    "azure-native:managedidentity:UserAssignedIdentity": (
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "resourceName",
    ),
    "azure-native:operationalinsights:Workspace": (
        "Microsoft.OperationalInsights/workspaces",
        "workspaceName",
    ),
    "azure-native:applicationinsights:Component": ("Microsoft.Insights/components", "resourceName"),
    "azure-native:containerregistry:Registry": ("Microsoft.ContainerRegistry/registries", "registryName"),
    "azure-native:machinelearningservices:Workspace": (
        "Microsoft.MachineLearningServices/workspaces",
        "workspaceName",
    ),
    "azure-native:machinelearningservices:OnlineEndpoint": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/onlineEndpoints",
        "endpointName",
    ),
    "azure-native:machinelearningservices:OnlineDeployment": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/onlineEndpoints/{endpointName}/deployments",
        "deploymentName",
    ),
    "azure-native:machinelearningservices:ModelContainer": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/models",
        "name",
    ),
    "azure-native:machinelearningservices:FeaturesetContainerEntity": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/featuresets",
        "name",
    ),
    "azure-native:machinelearningservices:Schedule": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/schedules",
        "name",
    ),
    "azure-native:monitor:ActionGroup": ("Microsoft.Insights/actionGroups", "actionGroupName"),
    "azure-native:monitor:ScheduledQueryRule": ("Microsoft.Insights/scheduledQueryRules", "ruleName"),
    "azure-native:monitor:AutoscaleSetting": ("Microsoft.Insights/autoscalesettings", "autoscaleSettingName"),
    "azure-native:logic:Workflow": ("Microsoft.Logic/workflows", "workflowName"),
    "azure-native:cache:Redis": ("Microsoft.Cache/redis", "name"),
    "azure-native:redis:Redis": ("Microsoft.Cache/redis", "name"),
    "azure-native:storage:BlobContainer": (
        "Microsoft.Storage/storageAccounts/{accountName}/blobServices/default/containers",
        "containerName",
    ),
    "azure-native:machinelearningservices:Compute": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/computes",
        "computeName",
    ),
    "azure-native:machinelearningservices:Datastore": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/datastores",
        "name",
    ),
    "azure-native:machinelearningservices:WorkspaceConnection": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/connections",
        "connectionName",
    ),
    "azure-native:machinelearningservices:FeaturestoreEntityContainerEntity": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/featurestoreEntities",
        "name",
    ),
    "azure-native:machinelearningservices:CodeVersion": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/codes/{name}/versions",
        "version",
    ),
    "azure-native:machinelearningservices:EnvironmentVersion": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/environments/{name}/versions",
        "version",
    ),
    "azure-native:machinelearningservices:ComponentVersion": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/components/{name}/versions",
        "version",
    ),
    "azure-native:machinelearningservices:FeaturesetVersion": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/featuresets/{name}/versions",
        "version",
    ),
    "azure-native:machinelearningservices:FeaturestoreEntityVersion": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/featurestoreEntities/{name}/versions",
        "version",
    ),
    "azure-native:machinelearningservices:DataContainer": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/data",
        "name",
    ),
    "azure-native:machinelearningservices:DataVersion": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/data/{name}/versions",
        "version",
    ),
    "azure-native:machinelearningservices:ComponentContainer": (
        "Microsoft.MachineLearningServices/workspaces/{workspaceName}/components",
        "name",
    ),
    "azure-native:monitor:DataCollectionEndpoint": (
        "Microsoft.Insights/dataCollectionEndpoints",
        "dataCollectionEndpointName",
    ),
    "azure-native:monitor:DataCollectionRule": ("Microsoft.Insights/dataCollectionRules", "dataCollectionRuleName"),
    "azure-native:operationalinsights:Table": (
        "Microsoft.OperationalInsights/workspaces/{workspaceName}/tables",
        "tableName",
    ),
    "azure-native:eventgrid:SystemTopic": ("Microsoft.EventGrid/systemTopics", "systemTopicName"),
    "azure-native:eventgrid:SystemTopicEventSubscription": (
        "Microsoft.EventGrid/systemTopics/{systemTopicName}/eventSubscriptions",
        "eventSubscriptionName",
    ),
    "azure-native:network:VirtualNetwork": ("Microsoft.Network/virtualNetworks", "virtualNetworkName"),
    "azure-native:network:Subnet": ("Microsoft.Network/virtualNetworks/{virtualNetworkName}/subnets", "subnetName"),
    "azure-native:network:PrivateEndpoint": ("Microsoft.Network/privateEndpoints", "privateEndpointName"),
    "azure-native:privatedns:PrivateZone": ("Microsoft.Network/privateDnsZones", "privateZoneName"),
}
_PATH_KEYS = (
    "vaultName",
    "workspaceName",
    "endpointName",
    "accountName",
    "name",
    "virtualNetworkName",
    "systemTopicName",
)


def _arm_id(typ: str, name: str, inputs: dict[str, Any]) -> str:
    if typ == "azure-native:authorization:RoleDefinition":
        role = inputs.get("roleDefinitionId")
        return f"{inputs.get('scope')}/providers/Microsoft.Authorization/roleDefinitions/{role}"
    if typ == "pulumi-python:dynamic:Resource":
        if "version_id" in inputs:
            return f"{inputs['version_id']}/approval"  # ApprovedVersionCheck's id
        if "endpoint_id" in inputs:
            return f"{inputs['endpoint_id']}/traffic"  # EndpointTraffic's id
        if "workspace_id" in inputs:
            return f"{inputs['workspace_id']}/managedNetwork"  # ManagedNetworkProvision's id
        if "resource_id" in inputs:
            return f"{inputs['resource_id']}#patch"  # ArmPatch's id
    if typ == "azure-native:resources:ResourceGroup":
        return f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{inputs.get('resourceGroupName', name)}"
    path, name_key = _ARM.get(typ, ("Microsoft.Mock/" + typ.rsplit(":", 1)[-1], "name"))
    path = path.format(**{k: inputs.get(k, k) for k in _PATH_KEYS})
    base = _RG.format(rg=inputs.get("resourceGroupName", "rg"))
    return f"{base}/providers/{path}/{inputs.get(name_key) or name}"


def principal_id(identity_name: str) -> str:
    """A distinct, stable fake principal id per identity (from its name or ARM id's last segment),
    so a role assigned to the wrong identity shows in the plan."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "mlops-offline/principal/" + identity_name.rsplit("/", 1)[-1]))


def client_id(identity_name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "mlops-offline/client/" + identity_name.rsplit("/", 1)[-1]))


def fake_state(typ: str, name: str, inputs: dict[str, Any]) -> tuple[dict[str, Any], str]:
    resource_id = _arm_id(typ, name, inputs)
    name_key = "resourceGroupName" if typ == "azure-native:resources:ResourceGroup" else _ARM.get(typ, ("", "name"))[1]
    extra: dict[str, Any] = {"id": resource_id, "name": inputs.get(name_key) or inputs.get("name") or name}
    identity = inputs.get("identity")
    if isinstance(identity, dict) and "systemassigned" in str(identity.get("type", "")).replace(" ", "").lower():
        # A system-assigned identity: ARM answers its principal (distinct per resource).
        extra["identity"] = {
            **identity,
            "principalId": principal_id(resource_id.rsplit("/", 1)[-1] + "-system"),
            "tenantId": TENANT,
        }
        identity = extra["identity"]
    if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
        # Inputs list the identity ids; ARM answers a map id -> {principalId, clientId}.
        extra["identity"] = {
            **identity,
            "userAssignedIdentities": {
                i: {"principalId": principal_id(i), "clientId": client_id(i)}
                for i in identity["userAssignedIdentities"]
                if isinstance(i, str)
            },
        }
    if typ == "azure-native:storage:StorageAccount":
        account = inputs.get("accountName", name)
        extra["primaryEndpoints"] = {
            "blob": f"https://{account}.blob.core.windows.net/",
            "dfs": f"https://{account}.dfs.core.windows.net/",
        }
    elif typ == "azure-native:keyvault:Vault":
        extra["properties"] = {
            **inputs.get("properties", {}),
            "vaultUri": f"https://{inputs.get('vaultName', name)}.vault.azure.net/",
        }
    elif typ == "azure-native:keyvault:Key":
        uri = f"https://{inputs.get('vaultName')}.vault.azure.net/keys/{inputs.get('keyName', name)}"
        extra.update(keyUri=uri, keyUriWithVersion=uri + "/0123456789abcdef0123456789abcdef")
    elif typ == "azure-native:managedidentity:UserAssignedIdentity":
        identity_name = inputs.get("resourceName") or name
        extra.update(principalId=principal_id(identity_name), clientId=client_id(identity_name), tenantId=TENANT)
    elif typ == "azure-native:applicationinsights:Component":
        extra.update(connectionString="InstrumentationKey=00000000;IngestionEndpoint=https://example.invalid/")
    elif typ == "azure-native:containerregistry:Registry":
        extra["loginServer"] = f"{inputs.get('registryName', name)}.azurecr.io"
    elif typ == "azure-native:machinelearningservices:OnlineEndpoint":
        extra["properties"] = {
            **inputs.get("properties", {}),
            "scoringUri": f"https://{inputs.get('endpointName')}.{inputs.get('location', 'region')}"
            ".inference.ml.azure.com/score",
        }
    elif typ == "azure-native:monitor:DataCollectionEndpoint":
        dce = inputs.get("dataCollectionEndpointName", name)
        extra["logsIngestion"] = {
            "endpoint": f"https://{dce}-0000.{inputs.get('location', 'region')}-1.ingest.monitor.azure.com"
        }
    elif typ == "azure-native:monitor:DataCollectionRule":
        extra["immutableId"] = "dcr-" + uuid.uuid5(uuid.NAMESPACE_URL, resource_id).hex
    elif typ == "azure-native:redis:Redis":
        extra["hostName"] = f"{inputs.get('name', name)}.redis.cache.windows.net"
    return extra, resource_id


def fake_call(token: str, args: dict[str, Any]) -> dict[str, Any]:
    if token == "azure-native:authorization:getClientConfig":
        return {
            "clientId": "44444444-4444-4444-4444-444444444444",
            "objectId": "55555555-5555-5555-5555-555555555555",
            "subscriptionId": SUBSCRIPTION,
            "tenantId": TENANT,
        }
    if token == "azure-native:logic:listWorkflowTriggerCallbackUrl":
        return {
            "value": f"https://example.invalid/workflows/{args.get('workflowName')}/triggers/"
            f"{args.get('triggerName')}/paths/invoke?sig=offline",
            "method": "POST",
        }
    if token == "azure-native:machinelearningservices:getModelVersion":
        # Offline there is no registry: answer as an approved version, so the plan shows the
        # deployment; `pulumi up` reads the real tag and refuses an unapproved version.
        return {
            "id": f"/subscriptions/{SUBSCRIPTION}/models/{args.get('name')}/versions/{args.get('version')}",
            "name": args.get("version"),
            "properties": {"tags": {"approval": "approved"}},
        }
    return {}
