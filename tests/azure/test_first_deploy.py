"""What a first `pulumi up` of the example Azure stack needs, held against the plan: registered
resource providers, the CMK vault's firewall closed only after everything took the key, the client
VNet's reach to every private storage account, the code on a workspace datastore.

Expected values are literal (the example stack's suffix is 9a37a12b27, see test_translate.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from infra.config import load_stack_file
from infra.plan import plan
from providers import registry

ROOT = Path(__file__).resolve().parents[2]
DYNAMIC = "pulumi-python:dynamic:Resource"
VAULT_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/churn-dev-rg/providers/"
    "Microsoft.KeyVault/vaults/churn-dev-kv-9a37a12b27"
)

# pulumi_azure_native module -> the resource provider namespace its resources are created in.
MODULE_NAMESPACE = {
    "resources": "Microsoft.Resources",
    "authorization": "Microsoft.Authorization",
    "storage": "Microsoft.Storage",
    "keyvault": "Microsoft.KeyVault",
    "containerregistry": "Microsoft.ContainerRegistry",
    "managedidentity": "Microsoft.ManagedIdentity",
    "machinelearningservices": "Microsoft.MachineLearningServices",
    "applicationinsights": "Microsoft.Insights",
    "monitor": "Microsoft.Insights",
    "operationalinsights": "Microsoft.OperationalInsights",
    "network": "Microsoft.Network",
    "privatedns": "Microsoft.Network",
    "redis": "Microsoft.Cache",
    "logic": "Microsoft.Logic",
    "eventgrid": "Microsoft.EventGrid",
}
# Registered in every subscription ("Azure resource providers and types": registered by default).
ALWAYS_REGISTERED = {"Microsoft.Resources", "Microsoft.Authorization"}


@pytest.fixture(scope="module")
def planned():
    return plan(load_stack_file(ROOT / "Pulumi.azure-dev.yaml"))


def _needed_namespaces(planned) -> set[str]:
    needed = set()
    for r in planned.resources:
        if not r.type.startswith("azure-native:"):
            continue
        module = r.type.split(":")[1]
        assert module in MODULE_NAMESPACE, f"{r.type}: which resource provider creates it? add it here"
        needed.add(MODULE_NAMESPACE[module])
        if r.type == "azure-native:machinelearningservices:Workspace":
            if (r.inputs.get("encryption") or {}).get("status") == "Enabled":
                # "Use customer-managed keys with Azure Machine Learning", Prerequisites: Azure ML
                # creates Cosmos DB and Search in the subscription for a CMK workspace.
                needed |= {"Microsoft.DocumentDB", "Microsoft.Search"}
            if r.inputs.get("managedNetwork"):
                needed.add("Microsoft.Network")  # "Workspace Managed Virtual Network Isolation"
    return needed - ALWAYS_REGISTERED


# --- finding 3: resource providers ------------------------------------------------------------


def test_every_resource_provider_the_plan_needs_is_listed_printed_and_documented(planned, capsys):
    needed = _needed_namespaces(planned)
    assert {"Microsoft.DocumentDB", "Microsoft.Search", "Microsoft.Network"} <= needed
    listed = set(registry.catalog("azure").RESOURCE_PROVIDERS)
    assert needed <= listed, f"not in the first-deploy list: {sorted(needed - listed)}"
    hints = registry.first_deploy_hints("azure")
    for namespace in needed:
        assert f"az provider register --namespace {namespace}" in hints
    from infra.cli import main

    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "az provider register --namespace Microsoft.DocumentDB" in out
    assert "az provider register --namespace Microsoft.Search" in out
    docs = (ROOT / "docs" / "azure.md").read_text()
    row = next(line for line in docs.splitlines() if line.startswith("| 3 | Resource providers registered"))
    for namespace in needed:
        assert namespace.removeprefix("Microsoft.") in row, namespace
    assert "how-to-setup-customer-managed-keys" in row


# --- finding 2: the CMK vault, open at creation, locked after ----------------------------------


def _closure(planned, urn: str) -> set[str]:
    by_urn = {r.urn: r for r in planned.resources}
    seen: set[str] = set()
    todo = list(by_urn[urn].dependencies)
    while todo:
        dep = todo.pop()
        if dep in seen or dep not in by_urn:
            continue
        seen.add(dep)
        todo.extend(by_urn[dep].dependencies)
    return seen


def test_the_cmk_vault_is_created_open_and_locked_after_everything_took_its_key(planned):
    vault = next(
        r for r in planned.by_type("azure-native:keyvault:Vault") if r.inputs["vaultName"].endswith("-kv-9a37a12b27")
    )
    props = vault.inputs["properties"]
    assert props["publicNetworkAccess"] == "Enabled"
    assert props["networkAcls"] == {"defaultAction": "Allow", "bypass": "AzureServices"}
    assert set(vault.ignore_changes) == {"properties.publicNetworkAccess", "properties.networkAcls.defaultAction"}
    locks = [r for r in planned.by_type(DYNAMIC) if r.inputs.get("resource_id") == VAULT_ID]
    assert len(locks) == 1
    lock = locks[0]
    assert lock.inputs["patch"] == {
        "properties": {"networkAcls": {"defaultAction": "Deny"}, "publicNetworkAccess": "Disabled"}
    }
    assert lock.inputs["api_version"] == "2024-11-01"  # pulumi_azure_native 3.29 keyvault.Vault
    before = _closure(planned, lock.urn)
    # Every resource that names the key or its vault in its inputs takes the key at creation
    # (encryption blocks); all of them exist before the firewall closes.
    users = {
        r.urn
        for r in planned.resources
        if r.type not in ("azure-native:keyvault:Vault", "azure-native:keyvault:Key", DYNAMIC)
        and r.type != "azure-native:authorization:RoleAssignment"
        and ("churn-dev-kv-9a37a12b27" in json.dumps(r.inputs))
    }
    names = {r.urn: r.name for r in planned.resources}
    assert sorted(names[u] for u in users) == [
        "churn-dev-feature-store-workspace",
        "churn-dev-foundation-acr",
        "churn-dev-foundation-approvals",
        "churn-dev-foundation-code",
        "churn-dev-foundation-storage",
        "churn-dev-foundation-workspace",
        "churn-dev-foundation-workspace-storage",
    ]
    assert users <= before, sorted(names[u] for u in users - before)
    # ... and the registry already reaches the key as its system identity (a trusted service).
    switch = next(
        r for r in planned.by_type(DYNAMIC) if str(r.inputs.get("resource_id", "")).endswith("/churndevacr9a37a12b27")
    )
    assert switch.urn in before


def _as_dicts(planned) -> list[dict]:
    return [{"type": r.type, "name": r.name, "inputs": json.loads(json.dumps(r.inputs))} for r in planned.resources]


def test_mlops_plan_refuses_a_cmk_vault_firewalled_at_creation_and_a_lock_patch_it_cannot_send(planned):
    from providers.azure import vendor_rules

    resources = _as_dicts(planned)
    assert vendor_rules.check_dependencies(resources) == []
    vault = next(
        r
        for r in resources
        if r["type"] == "azure-native:keyvault:Vault" and r["inputs"]["vaultName"] == "churn-dev-kv-9a37a12b27"
    )
    vault["inputs"]["properties"]["networkAcls"]["defaultAction"] = "Deny"
    found = vendor_rules.check_dependencies(resources)
    assert [(v.resource, v.field) for v in found] == [
        ("churn-dev-foundation-vault", "properties.networkAcls.defaultAction")
    ]
    assert "61064" in found[0].source
    lock = next(r for r in resources if r["inputs"].get("resource_id") == VAULT_ID)
    assert vendor_rules.check_arm_patch(lock) == [] and vendor_rules.check_dynamic_api_version(lock) == []
    lock["inputs"]["patch"] = {"properties": {"networkAcls": {"defaultActon": "Deny"}}}
    assert [v.field for v in vendor_rules.check_arm_patch(lock)] == ["patch.properties.networkAcls.defaultActon"]
    lock["inputs"]["api_version"] = "2023-07-01"
    assert [v.field for v in vendor_rules.check_dynamic_api_version(lock)] == ["api-version"]


# --- finding 4: every private storage account a client uses has a private endpoint --------------

# storage account -> the sub-resources people, CI, Studio and the SDK use on it (from the client VNet)
CLIENT_SUBRESOURCES = {
    "churndevdata9a37a12b27": {"blob", "dfs"},  # raw data in, features, the offline store (ADLS)
    "churndevws9a37a12b27": {"blob", "file"},  # workspaceblobstore (outputs, logs, models), workspacefilestore
    "churndevcode9a37a12b27": {"blob"},  # step code, specs, build context (pulumi up uploads)
}
ZONE_OF = {
    "blob": "privatelink.blob.core.windows.net",
    "dfs": "privatelink.dfs.core.windows.net",
    "file": "privatelink.file.core.windows.net",
}


def test_every_private_storage_account_clients_use_has_a_private_endpoint_per_sub_resource(planned):
    endpoints = {
        (
            r.inputs["privateLinkServiceConnections"][0]["privateLinkServiceId"].rsplit("/", 1)[-1],
            group,
        ): r.inputs["privateEndpointName"]
        for r in planned.by_type("azure-native:network:PrivateEndpoint")
        for group in r.inputs["privateLinkServiceConnections"][0]["groupIds"]
    }
    dns = {
        r.inputs["privateEndpointName"]: {c["name"] for c in r.inputs["privateDnsZoneConfigs"]}
        for r in planned.by_type("azure-native:network:PrivateDnsZoneGroup")
    }
    zones = {r.inputs["privateZoneName"] for r in planned.by_type("azure-native:privatedns:PrivateZone")}
    private = [
        r.inputs["accountName"]
        for r in planned.by_type("azure-native:storage:StorageAccount")
        if r.inputs["publicNetworkAccess"] == "Disabled"
    ]
    assert private, "the example stack is private"
    for account in private:
        assert account in CLIENT_SUBRESOURCES, f"{account}: which sub-resources do clients use? add it here"
        for group in sorted(CLIENT_SUBRESOURCES[account]):
            assert (account, group) in endpoints, f"no private endpoint to {account} ({group})"
            zone = ZONE_OF[group]
            assert zone in zones and zone.replace(".", "-") in dns[endpoints[account, group]], (account, group)


# --- finding 5: every storage location an Azure ML asset names is on a datastore of its workspace ---

# Created by Azure ML with every workspace ("Create datastores": workspaceblobstore, workspacefilestore, ...).
SYSTEM_DATASTORES = {"workspaceblobstore", "workspacefilestore", "workspaceartifactstore", "workspaceworkingdirectory"}
_BLOB = re.compile(r"https://([a-z0-9]+)\.(?:blob|dfs)\.core\.windows\.net/([a-z0-9-]+)")
_ABFSS = re.compile(r"abfss://([a-z0-9-]+)@([a-z0-9]+)\.dfs\.core\.windows\.net")
_AZUREML = re.compile(r"azureml://datastores/([A-Za-z0-9_]+)/")


def test_every_storage_location_an_asset_names_is_on_a_datastore_of_its_workspace(planned):
    stores: dict[str, dict[str, tuple[str, str]]] = {}
    for r in planned.by_type("azure-native:machinelearningservices:Datastore"):
        props = r.inputs["properties"]
        container = props.get("containerName") or props.get("filesystem")
        stores.setdefault(r.inputs["workspaceName"], {})[r.inputs["name"]] = (props["accountName"], container)
    checked = 0
    for r in planned.resources:
        workspace = r.inputs.get("workspaceName")
        if not r.type.startswith("azure-native:machinelearningservices:") or not isinstance(workspace, str):
            continue
        text = json.dumps(r.inputs)
        on = set(stores.get(workspace, {}).values())
        for account, container in _BLOB.findall(text):
            assert (account, container) in on, f"{r.name}: {account}/{container} is on no datastore of {workspace}"
            checked += 1
        for container, account in _ABFSS.findall(text):
            assert (account, container) in on, f"{r.name}: {account}/{container} is on no datastore of {workspace}"
            checked += 1
        for store in _AZUREML.findall(text):
            assert store in SYSTEM_DATASTORES | set(stores.get(workspace, {})), f"{r.name}: no datastore {store}"
            checked += 1
    assert checked >= 6
    assert stores["churn-dev-ws"]["mlopscode"] == ("churndevcode9a37a12b27", "code")


# --- finding 6: no legacy egress flag on a deployment in a managed-network workspace -------------


def test_no_deployment_in_a_managed_network_workspace_sets_the_legacy_egress_flag(planned):
    from providers.azure import vendor_rules

    managed = {
        r.inputs["workspaceName"]
        for r in planned.by_type("azure-native:machinelearningservices:Workspace")
        if r.inputs.get("managedNetwork")
    }
    deployments = planned.by_type("azure-native:machinelearningservices:OnlineDeployment")
    assert deployments and managed == {"churn-dev-ws", "churn-dev-fs"}
    # Left out, pulumi_azure_native sends the API's default "Enabled" (its Args fill it in): the
    # legacy isolation ("Disabled", a private endpoint per deployment) is never asked for.
    from pulumi_azure_native import machinelearningservices as ml

    assert ml.ManagedOnlineDeploymentArgs(endpoint_compute_type="Managed").egress_public_network_access == "Enabled"
    for dep in deployments:
        assert dep.inputs["workspaceName"] in managed
        assert dep.inputs["properties"].get("egressPublicNetworkAccess", "Enabled") == "Enabled", dep.name
    # The REST model takes "Disabled" (tests/azure/test_vendor_rules.py), so this rule keeps it out:
    resources = _as_dicts(planned)
    dep = next(r for r in resources if r["type"] == "azure-native:machinelearningservices:OnlineDeployment")
    dep["inputs"]["properties"]["egressPublicNetworkAccess"] = "Disabled"
    assert [(v.resource, v.field) for v in vendor_rules.check_dependencies(resources)] == [
        ("churn-dev-endpoint-deployment", "properties.egressPublicNetworkAccess")
    ]


# --- finding 7: names a destroyed stack leaves reserved are checked by doctor and documented ------


def test_every_vault_that_keeps_its_name_after_destroy_is_announced_by_doctor_and_documented(planned, capsys):
    keeping = [
        r.inputs["vaultName"]
        for r in planned.by_type("azure-native:keyvault:Vault")
        if r.inputs["properties"].get("enableSoftDelete") and r.inputs["properties"].get("enablePurgeProtection")
    ]
    assert sorted(keeping) == ["churn-dev-kv-9a37a12b27", "churn-dev-wkv-9a37a12b27"]
    from infra.cli import main

    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert 'az keyvault list-deleted --query "[].name" -o tsv' in out
    docs = (ROOT / "docs" / "azure.md").read_text()
    section = docs.split("## Re-deploying after destroy", 1)[1].split("\n## ", 1)[0]
    for pattern in ("`<prefix>-kv-<sfx>`", "`<prefix>-wkv-<sfx>`", "az keyvault recover", "soft-delete-overview"):
        assert pattern in section


# --- finding 10: on a private stack, an account open to keys or the internet is a documented exception ---


def test_on_a_private_stack_only_the_documented_accounts_keep_keys_or_public_access(planned):
    accounts = {r.inputs["accountName"]: r.inputs for r in planned.by_type("azure-native:storage:StorageAccount")}
    with_keys = {name for name, a in accounts.items() if a["allowSharedKeyAccess"] is not False}
    public = {name for name, a in accounts.items() if a["publicNetworkAccess"] != "Disabled"}
    # The code account: shared keys (Pulumi's Blob uploads with them) and the deployer's network.
    # The approvals account: the deployer's network only (`pulumi up`'s approval check and the
    # approvers read and write records from outside the client VNet); never shared keys.
    assert with_keys == {"churndevcode9a37a12b27"}
    assert public == {"churndevcode9a37a12b27", "churndevgate9a37a12b27"}
    docs = (ROOT / "docs" / "azure.md").read_text()
    gap = docs.split("- **Shared keys and public network access on the code account**", 1)[1].split("\n- **", 1)[0]
    for reason in ("pulumi/pulumi-azure-native#2015", "allow_shared_key_access=False", "publicNetworkAccess: Disabled"):
        assert reason in gap
    gap = docs.split("- **Public network access on the approvals account**", 1)[1].split("\n- **", 1)[0]
    for reason in ("`<prefix>gate<sfx>`", "ApprovedVersionCheck", "no shared key", "networkRuleSet.ipRules"):
        assert reason in gap


# --- the loop's Log Analytics table: created after its workspace, before the rules that query it -----


def test_the_drift_table_waits_for_its_workspace_and_the_rules_over_it_wait_for_the_table(planned):
    """A table names its workspace by name only, and Azure validates a log search rule's query
    against the table when the rule is created: both orders must be in the dependency graph
    (audit2-azure findings 1 and 2)."""
    (workspace,) = [r for r in planned.resources if r.type == "azure-native:operationalinsights:Workspace"]
    tables = [r for r in planned.resources if r.type == "azure-native:operationalinsights:Table"]
    assert [t.inputs["tableName"] for t in tables] == ["MlopsDrift_CL"]
    for table in tables:
        assert workspace.urn in _closure(planned, table.urn), table.name
        assert table.protect is True  # the drift history is data (catalog.DATA_BEARING)
        rules = [
            r
            for r in planned.resources
            if r.type == "azure-native:monitor:ScheduledQueryRule" and table.inputs["tableName"] in json.dumps(r.inputs)
        ]
        assert len(rules) == 2  # the drift alert and the missing-check alert
        for rule in rules:
            assert table.urn in _closure(planned, rule.urn), rule.name
