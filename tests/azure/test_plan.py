"""The Azure program under Pulumi mocks: the inputs that make the platform secure and correct."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infra.config import load_stack_file
from infra.plan import plan
from providers.azure.foundation import FORBIDDEN_ROLES, ROLES
from providers.base import NOT_SERVING

ROOT = Path(__file__).resolve().parents[2]
ML = "azure-native:machinelearningservices:"
DYNAMIC = "pulumi-python:dynamic:Resource"


@pytest.fixture(scope="module")
def planned():
    return plan(load_stack_file(ROOT / "Pulumi.azure-dev.yaml"))


def _variant(tmp_path: Path, **platform_changes) -> object:
    document = yaml.safe_load((ROOT / "Pulumi.azure-dev.yaml").read_text())
    platform = document["config"]["mlops:platform"]
    for dotted, value in platform_changes.items():
        *path, last = dotted.split(".")
        node = platform
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    path = tmp_path / "Pulumi.azure-variant.yaml"
    path.write_text(yaml.safe_dump(document))
    return plan(load_stack_file(path))


def test_storage_accounts_are_locked_down(planned):
    accounts = {r.inputs["accountName"]: r for r in planned.by_type("azure-native:storage:StorageAccount")}
    assert set(accounts) == {"churndevdata", "churndevcode"}
    for account in accounts.values():
        i = account.inputs
        assert i["allowBlobPublicAccess"] is False
        assert i["minimumTlsVersion"] == "TLS1_2"
        assert i["enableHttpsTrafficOnly"] is True
        assert i["encryption"]["keySource"] == "Microsoft.Keyvault"
        assert i["encryption"]["keyVaultProperties"]["keyName"] == "churn-dev-cmk"
        assert i["encryption"]["encryptionIdentity"]["encryptionUserAssignedIdentity"].endswith("/churn-dev-id")
        assert account.protect
    data, code = accounts["churndevdata"].inputs, accounts["churndevcode"].inputs
    assert data["allowSharedKeyAccess"] is False
    # The data account is private; the code account is reachable by the deployer's `pulumi up`,
    # which uploads the step code through the blob data plane.
    assert data["publicNetworkAccess"] == "Disabled" and data["networkRuleSet"]["defaultAction"] == "Deny"
    assert code["publicNetworkAccess"] == "Enabled" and code["networkRuleSet"]["defaultAction"] == "Allow"
    # Pulumi's Blob resource writes with the account key: only the code account keeps it.
    assert accounts["churndevcode"].inputs["allowSharedKeyAccess"] is True
    assert all(c.inputs["publicAccess"] == "None" for c in planned.by_type("azure-native:storage:BlobContainer"))


def test_key_vault_rbac_purge_protection_and_key(planned):
    vault = planned.one("azure-native:keyvault:Vault")
    props = vault.inputs["properties"]
    assert props["enableRbacAuthorization"] is True
    assert props["enablePurgeProtection"] is True
    assert props["enableSoftDelete"] is True
    assert props["publicNetworkAccess"] == "Disabled"
    assert not props.get("accessPolicies")
    key = planned.one("azure-native:keyvault:Key")
    assert key.inputs["properties"]["kty"] == "RSA-HSM" and key.protect


def test_workspaces_private_cmk_and_identity(planned):
    workspaces = {r.inputs["kind"]: r.inputs for r in planned.by_type(ML + "Workspace")}
    assert set(workspaces) == {"Default", "FeatureStore"}
    for ws in workspaces.values():
        assert ws["publicNetworkAccess"] == "Disabled"
        assert ws["encryption"]["status"] == "Enabled"
        assert ws["encryption"]["keyVaultProperties"]["keyIdentifier"].startswith("https://churn-dev-kv.vault")
        assert ws["identity"]["type"] == "UserAssigned"
        assert ws["managedNetwork"]["isolationMode"] == "AllowOnlyApprovedOutbound"
    acr = planned.one("azure-native:containerregistry:Registry").inputs
    assert acr["adminUserEnabled"] is False and acr["publicNetworkAccess"] == "Disabled"
    endpoint = planned.one(ML + "OnlineEndpoint").inputs
    assert endpoint["properties"]["authMode"] == "AADToken"
    assert endpoint["properties"]["publicNetworkAccess"] == "Disabled"


def test_roles_are_narrow_and_scoped(planned):
    assignments = planned.by_type("azure-native:authorization:RoleAssignment")
    assert assignments
    custom = planned.one("azure-native:authorization:RoleDefinition").inputs
    allowed = set(ROLES.values()) | {custom["roleDefinitionId"]}
    for a in assignments:
        role = a.inputs["roleDefinitionId"]
        guid = role.rsplit("/", 1)[-1]
        assert guid not in FORBIDDEN_ROLES
        assert "/roleDefinitions/" in role and guid in allowed
        # scoped to one resource, never the subscription or a resource group
        assert "/providers/" in a.inputs["scope"], a.inputs["scope"]
    by_role = {a.inputs["roleDefinitionId"].rsplit("/", 1)[-1]: a.inputs["scope"] for a in assignments}
    assert by_role[ROLES["Storage Blob Data Contributor"]].endswith("/storageAccounts/churndevdata")
    assert by_role[ROLES["Key Vault Crypto Service Encryption User"]].endswith("/vaults/churn-dev-kv")
    actions = custom["permissions"][0]["actions"]
    assert all(a.startswith("Microsoft.MachineLearningServices/workspaces/") for a in actions)
    assert not any("*" in a or "delete" in a for a in actions)


def test_deployment_scaling_and_data_collection(planned):
    props = planned.one(ML + "OnlineDeployment").inputs["properties"]
    assert props["instanceType"] == "Standard_DS2_v2"
    # Managed deployments: Default scale settings, a fixed count = sku.capacity = min replicas...
    assert props["scaleSettings"] == {"scaleType": "Default"}
    assert planned.one(ML + "OnlineDeployment").inputs["sku"]["capacity"] == 1
    collections = props["dataCollector"]["collections"]
    assert set(collections) == {"request", "response"}
    assert all(
        c["samplingRate"] == pytest.approx(0.2) and c["dataCollectionMode"] == "Enabled" for c in collections.values()
    )
    assert props["model"].endswith("/models/churn-dev-churn/versions/1")
    assert planned.outputs["serving"] == (
        "model version 1 of /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/churn-dev-rg/"
        "providers/Microsoft.MachineLearningServices/workspaces/churn-dev-ws/models/churn-dev-churn"
    )


def test_schedules_and_drift_signal(planned):
    schedules = {r.inputs["name"]: r.inputs["properties"] for r in planned.by_type(ML + "Schedule")}
    training, monitor = schedules["churn-dev-training"], schedules["churn-dev-monitor"]
    assert training["trigger"] == {"triggerType": "Cron", "expression": "0 3 * * *", "timeZone": "UTC"}
    job = training["action"]["jobDefinition"]
    assert training["action"]["actionType"] == "CreateJob" and job["jobType"] == "Pipeline"
    assert set(job["jobs"]) == {"validate", "features", "train", "evaluate", "gate_register"}
    components = {r.inputs["name"]: r.inputs["version"] for r in planned.by_type(ML + "ComponentVersion")}
    for node in job["jobs"].values():
        cid = node["componentId"]
        name, version = cid.split("/components/")[1].split("/versions/")
        assert cid.startswith("azureml:/subscriptions/") and components[name] == version
    assert monitor["trigger"]["expression"] == "0 * * * *"
    assert monitor["isEnabled"] is True
    definition = monitor["action"]["monitorDefinition"]
    signal = definition["signals"]["data-drift"]
    assert signal["signalType"] == "DataDrift"
    assert {(t["dataType"], t["metric"], t["threshold"]["value"]) for t in signal["metricThresholds"]} == {
        ("Numerical", "JensenShannonDistance", 0.2),
        ("Categorical", "JensenShannonDistance", 0.2),
    }
    assert "/churn-dev-ep/v1/request/" in signal["productionData"]["uri"]
    assert signal["referenceData"]["uri"].endswith("/churn/training/")
    outputs = job["outputs"]["training_data"]
    assert outputs["uri"] == signal["referenceData"]["uri"]  # the pipeline writes what the monitor reads
    assert definition["monitoringTarget"]["deploymentId"].endswith("/deployments/v1")


def test_retrain_wiring(planned):
    group = planned.one("azure-native:monitor:ActionGroup").inputs
    assert group["emailReceivers"][0]["emailAddress"] == "ml-oncall@example.com"
    workflow = planned.one("azure-native:logic:Workflow")
    receiver = group["logicAppReceivers"][0]
    assert receiver["resourceId"].endswith("/workflows/churn-dev-retrain")
    assert "/triggers/drift_alert/" in receiver["callbackUrl"]
    action = workflow.inputs["definition"]["actions"]["submit_training"]["inputs"]
    assert action["method"] == "PUT"
    assert action["uri"].startswith("https://management.azure.com/subscriptions/")
    assert "/workspaces/churn-dev-ws/jobs/@{guid()}?api-version=2025-12-01" in action["uri"]
    assert action["authentication"]["type"] == "ManagedServiceIdentity"
    assert action["authentication"]["identity"].endswith("/churn-dev-retrain-id")
    schedule_job = next(r for r in planned.by_type(ML + "Schedule") if r.inputs["name"] == "churn-dev-training").inputs[
        "properties"
    ]["action"]["jobDefinition"]
    assert action["body"]["properties"]["jobs"] == schedule_job["jobs"]
    rule = planned.one("azure-native:monitor:ScheduledQueryRule").inputs
    assert rule["actions"]["actionGroups"][0].endswith("/actionGroups/churn-dev-drift")
    assert 'ExperimentName == "churn-dev-monitor"' in rule["criteria"]["allOf"][0]["query"]
    assert rule["actions"]["customProperties"]["drift_threshold"] == "0.2"
    diag = planned.one("azure-native:monitor:DiagnosticSetting").inputs
    assert diag["logs"][0]["category"] == "AmlRunStatusChangedEvent"
    assert planned.outputs["retrain_target"].endswith("/workflows/churn-dev-retrain")


def test_feature_store(planned):
    version = planned.one(ML + "FeaturesetVersion")
    mat = version.inputs["properties"]["materializationSettings"]
    assert mat["storeType"] == "OnlineAndOffline"
    assert mat["schedule"]["frequency"] == "Hour" and mat["schedule"]["schedule"]["minutes"] == [0]
    # The container is protected; versions are immutable, named by their spec's hash and retained
    # in Azure (retain_on_delete) when superseded, so they are not `protect`ed (that would block
    # the new version's rollout).
    assert planned.one(ML + "FeaturesetContainerEntity").protect and not version.protect
    redis = planned.one("azure-native:redis:Redis").inputs
    assert redis["disableAccessKeyAuthentication"] is True and redis["enableNonSslPort"] is False
    assert planned.one(ML + "ModelContainer").protect


def test_every_resource_is_tagged_where_it_can_be(planned):
    for r in planned.resources:
        if r.custom and "tags" in r.inputs:
            assert r.inputs["tags"]["mlops-platform"] == "churn"


def test_no_model_version_means_no_deployment(tmp_path):
    result = _variant(
        tmp_path,
        **{"endpoint.model_version": None, "monitor.retrain_on_drift": False, "network.public_access": True},
    )
    assert result.by_type(ML + "OnlineDeployment") == []
    assert result.outputs["serving"] == NOT_SERVING and result.outputs["endpoint"] is None
    assert [r.inputs["name"] for r in result.by_type(ML + "Schedule")] == ["churn-dev-training"]
    assert result.outputs["monitor"] is None and result.outputs["drift_alarm"] == []
    assert result.by_type("azure-native:monitor:ScheduledQueryRule") == []
    assert result.by_type(DYNAMIC) == []
    assert result.by_type("azure-native:logic:Workflow") == []
    assert not result.one("azure-native:monitor:ActionGroup").inputs.get("logicAppReceivers")
    assert result.outputs["retrain_target"] is None
    assert result.one(ML + "OnlineEndpoint").inputs["properties"]["publicNetworkAccess"] == "Enabled"


def test_unapproved_version_is_refused():
    from types import SimpleNamespace

    from providers.azure.endpoint import NotApprovedError, approved_model_id

    ok = SimpleNamespace(id="/m/versions/2", properties=SimpleNamespace(tags={"approval": "approved"}))
    assert approved_model_id(ok, "m", 2) == "/m/versions/2"
    with pytest.raises(NotApprovedError, match="approval='pending'"):
        approved_model_id(SimpleNamespace(id="x", properties=SimpleNamespace(tags={"approval": "pending"})), "m", 2)


def test_data_bearing_resources_are_protected(planned):
    protected = {r.type for r in planned.resources if r.protect}
    assert {
        ML + "Workspace",  # the model registry, runs and lineage live here
        "azure-native:containerregistry:Registry",
        "azure-native:storage:StorageAccount",
        "azure-native:keyvault:Vault",
        "azure-native:keyvault:Key",
        ML + "ModelContainer",
    } <= protected
    assert all(r.protect for r in planned.by_type(ML + "Workspace"))


def test_traffic_is_routed_after_the_deployment_exists(planned):
    endpoint = planned.one(ML + "OnlineEndpoint")
    assert "traffic" not in endpoint.inputs["properties"]
    assert "properties.traffic" in endpoint.ignore_changes
    traffic = planned.one(DYNAMIC)
    assert traffic.inputs["traffic"] == {"v1": 100}
    assert traffic.inputs["endpoint_id"].endswith("/onlineEndpoints/churn-dev-ep")
    assert traffic.inputs["arm_url"] == "https://management.azure.com"
    component = planned.one("mlops:azure:Endpoint").urn
    assert traffic.parent == component


def test_outputs_follow_the_contract(planned):
    out = planned.outputs
    assert out["encryption_key"].endswith("/providers/Microsoft.KeyVault/vaults/churn-dev-kv/keys/churn-dev-cmk")
    assert out["execution_identity"].endswith("/userAssignedIdentities/churn-dev-id")
    assert out["drift_alarm"] == [
        "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/churn-dev-rg/providers/"
        "Microsoft.Insights/scheduledQueryRules/churn-dev-drift"
    ]
    assert out["monitor"].endswith("/schedules/churn-dev-monitor")
    for group, value in out["feature_groups"].items():
        assert set(value) == {"id", "offline", "online"}
        assert value["id"].endswith(f"/featuresets/{group}")
        assert value["offline"] == f"abfss://data@churndevdata.dfs.core.windows.net/features/{group}/"


def test_docs_list_every_identity_and_role(planned):
    from providers.azure.foundation import ROLES

    docs = (ROOT / "docs" / "azure.md").read_text()
    names = {v: k for k, v in ROLES.items()}
    for identity in planned.by_type("azure-native:managedidentity:UserAssignedIdentity"):
        suffix = identity.inputs["resourceName"].removeprefix("churn-dev")
        assert f"`<prefix>{suffix}`" in docs, suffix
    custom = planned.one("azure-native:authorization:RoleDefinition").inputs["roleDefinitionId"]
    for assignment in planned.by_type("azure-native:authorization:RoleAssignment"):
        guid = assignment.inputs["roleDefinitionId"].rsplit("/", 1)[-1]
        assert guid == custom or f"| {names[guid]} |" in docs, names.get(guid, guid)
    assert "pipeline submitter" in docs


def test_deployment_autoscales_through_azure_monitor(planned):
    deployment_id = planned.one(DYNAMIC).inputs["endpoint_id"] + "/deployments/v1"
    setting = planned.one("azure-native:monitor:AutoscaleSetting").inputs
    assert setting["enabled"] is True
    assert setting["targetResourceUri"] == deployment_id
    (profile,) = setting["profiles"]
    assert profile["capacity"] == {"minimum": "1", "maximum": "4", "default": "1"}
    rules = {r["scaleAction"]["direction"]: r for r in profile["rules"]}
    assert set(rules) == {"Increase", "Decrease"}
    for rule in rules.values():
        trigger = rule["metricTrigger"]
        assert trigger["metricName"] == "CpuUtilizationPercentage"
        assert trigger["metricResourceUri"] == deployment_id
        assert trigger["metricNamespace"] == "Microsoft.MachineLearningServices/onlineEndpoints/deployments"
        assert rule["scaleAction"]["type"] == "ChangeCount" and rule["scaleAction"]["value"] == "1"
    out, in_ = rules["Increase"]["metricTrigger"], rules["Decrease"]["metricTrigger"]
    assert (out["operator"], out["threshold"]) == ("GreaterThan", 70)
    assert in_["operator"] == "LessThan" and 0 < in_["threshold"] < out["threshold"]


def test_one_failed_monitor_run_fires_the_alert_once(planned):
    rule = planned.one("azure-native:monitor:ScheduledQueryRule").inputs
    assert rule["autoMitigate"] is False
    # Non-overlapping windows: each failed run is in exactly one evaluation's window.
    assert rule["windowSize"] == rule["evaluationFrequency"]
    periods = rule["criteria"]["allOf"][0]["failingPeriods"]
    assert periods == {"minFailingPeriodsToAlert": 1, "numberOfEvaluationPeriods": 1}


def test_app_insights_follows_the_network_setting(planned, tmp_path):
    ai = planned.one("azure-native:applicationinsights:Component").inputs
    assert ai["publicNetworkAccessForIngestion"] == "Disabled"
    assert ai["publicNetworkAccessForQuery"] == "Disabled"
    assert ai["disableLocalAuth"] is True
    public = _variant(tmp_path, **{"network.public_access": True})
    ai = public.one("azure-native:applicationinsights:Component").inputs
    assert ai["publicNetworkAccessForIngestion"] == "Enabled"
    assert ai["publicNetworkAccessForQuery"] == "Enabled"


def test_write_roles_are_on_the_workspace_identity_only(planned):
    from providers.azure import mocks as offline

    identities = {
        r.inputs["resourceName"]: offline.principal_id(r.inputs["resourceName"])
        for r in planned.by_type("azure-native:managedidentity:UserAssignedIdentity")
    }
    assert len(set(identities.values())) == len(identities)  # the fake tells identities apart
    runtime, workspace = identities["churn-dev-id"], identities["churn-dev-ws-id"]
    grants: dict[str, set[str]] = {}
    for a in planned.by_type("azure-native:authorization:RoleAssignment"):
        guid = a.inputs["roleDefinitionId"].rsplit("/", 1)[-1]
        grants.setdefault(a.inputs["principalId"], set()).add(guid)
    assert ROLES["Key Vault Secrets Officer"] not in grants[runtime]
    assert ROLES["AcrPush"] not in grants[runtime]
    assert {ROLES["Key Vault Secrets User"], ROLES["AcrPull"]} <= grants[runtime]
    assert {ROLES["Storage Blob Data Contributor"], ROLES["Key Vault Crypto Service Encryption User"]} <= (
        grants[runtime]
    )
    assert grants[workspace] == {
        ROLES["Key Vault Secrets Officer"],
        ROLES["AcrPush"],
        ROLES["Storage Blob Data Contributor"],
    }
    for ws in planned.by_type(ML + "Workspace"):
        assert ws.inputs["primaryUserAssignedIdentity"].endswith("/churn-dev-ws-id")
        assert ws.inputs["encryption"]["identity"]["userAssignedIdentity"].endswith("/churn-dev-id")
    # Jobs, the deployment and the monitor's Spark run as the runtime identity.
    endpoint = planned.one(ML + "OnlineEndpoint").inputs
    assert [i.rsplit("/", 1)[-1] for i in endpoint["identity"]["userAssignedIdentities"]] == ["churn-dev-id"]


def test_featureset_version_is_the_hash_of_its_spec(planned):
    from providers.azure.feature_store import featureset_version

    specs = {}
    for blob in planned.by_type("azure-native:storage:Blob"):
        name = blob.inputs["blobName"]
        if name.endswith("/FeaturesetSpec.yaml"):
            specs[name.split("/")[1]] = (name, blob.inputs["source"]["text"])
    versions = planned.by_type(ML + "FeaturesetVersion")
    assert versions and {v.inputs["name"] for v in versions} == set(specs)
    for v in versions:
        blob_name, text = specs[v.inputs["name"]]
        assert v.inputs["version"] == featureset_version(text)
        assert blob_name == f"featuresets/{v.inputs['name']}/{v.inputs['version']}/FeaturesetSpec.yaml"
        path = v.inputs["properties"]["specification"]["path"]
        assert path.endswith("/code/" + blob_name.removesuffix("FeaturesetSpec.yaml"))
        # a schema change (one column retyped) is a new version, not an edit of a published one
        changed = text.replace("type: double", "type: string", 1).replace("type: long", "type: string", 1)
        assert changed != text and featureset_version(changed) != v.inputs["version"]


def test_training_pipeline_output_is_the_job_file_next_to_the_code(planned):
    import json

    uri = planned.outputs["training_pipeline"]
    prefix = "https://churndevcode.blob.core.windows.net/code/"
    assert uri.startswith(prefix) and uri.endswith("/pipeline.json")
    (blob,) = [b for b in planned.by_type("azure-native:storage:Blob") if b.inputs["blobName"] == uri[len(prefix) :]]
    job_file = json.loads(blob.inputs["source"]["text"])
    schedule = next(r for r in planned.by_type(ML + "Schedule") if r.inputs["name"] == "churn-dev-training")
    scheduled = schedule.inputs["properties"]["action"]["jobDefinition"]["jobs"]
    # The file, the schedule's job and the Logic App's job are one pipeline: same steps.
    assert set(job_file["jobs"]) == set(scheduled)
