"""The Azure program under Pulumi mocks: the inputs that make the platform secure and correct.

Expected values are literal. The example stack's suffix is 9a37a12b27 (see test_translate.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from infra.config import load_stack_file
from infra.plan import plan
from providers.base import NOT_SERVING

ROOT = Path(__file__).resolve().parents[2]
ML = "azure-native:machinelearningservices:"
DYNAMIC = "pulumi-python:dynamic:Resource"
SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"
RG = f"{SUB}/resourceGroups/churn-dev-rg"
WS = f"{RG}/providers/Microsoft.MachineLearningServices/workspaces/churn-dev-ws"
FS = f"{RG}/providers/Microsoft.MachineLearningServices/workspaces/churn-dev-fs"


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


def _dynamic(planned, key: str) -> list:
    return [r for r in planned.by_type(DYNAMIC) if key in r.inputs]


def test_four_storage_accounts_each_with_its_job(planned):
    accounts = {r.inputs["accountName"]: r.inputs for r in planned.by_type("azure-native:storage:StorageAccount")}
    assert set(accounts) == {
        "churndevdata9a37a12b27",
        "churndevws9a37a12b27",
        "churndevcode9a37a12b27",
        "churndevgate9a37a12b27",
    }
    data, ws, code, gate = (
        accounts["churndevdata9a37a12b27"],
        accounts["churndevws9a37a12b27"],
        accounts["churndevcode9a37a12b27"],
        accounts["churndevgate9a37a12b27"],
    )
    # ADLS Gen2 for data and the offline store; a plain account for the workspaces (they refuse HNS).
    assert data["isHnsEnabled"] is True and ws["isHnsEnabled"] is False and code["isHnsEnabled"] is False
    assert data["allowSharedKeyAccess"] is False and ws["allowSharedKeyAccess"] is False
    # The approval records (written by approvers, read by `pulumi up`'s approval check): plain
    # blobs, Entra ID only, reachable from the deployer's and approvers' network like the code account.
    assert gate["isHnsEnabled"] is False and gate["allowSharedKeyAccess"] is False
    assert gate["publicNetworkAccess"] == "Enabled" and gate["networkRuleSet"]["defaultAction"] == "Allow"
    # Pulumi's Blob resource writes with the account key: only the code account keeps it.
    assert code["allowSharedKeyAccess"] is True
    for private in (data, ws):
        assert private["publicNetworkAccess"] == "Disabled" and private["networkRuleSet"]["defaultAction"] == "Deny"
    # The code account is reachable by the deployer's `pulumi up` (uploads through the data plane).
    assert code["publicNetworkAccess"] == "Enabled" and code["networkRuleSet"]["defaultAction"] == "Allow"
    for workspace in planned.by_type(ML + "Workspace"):
        assert workspace.inputs["storageAccount"].endswith("/storageAccounts/churndevws9a37a12b27")
    assert all(c.inputs["publicAccess"] == "None" for c in planned.by_type("azure-native:storage:BlobContainer"))


def test_key_vaults_rbac_purge_protection_and_a_key_that_does_not_expire(planned):
    vaults = {r.inputs["vaultName"]: r for r in planned.by_type("azure-native:keyvault:Vault")}
    assert set(vaults) == {"churn-dev-kv-9a37a12b27", "churn-dev-wkv-9a37a12b27"}
    for vault in vaults.values():
        props = vault.inputs["properties"]
        assert props["enableRbacAuthorization"] is True and props["enablePurgeProtection"] is True
        assert props["enableSoftDelete"] is True and props["softDeleteRetentionInDays"] == 90
        assert not props.get("accessPolicies") and vault.protect
    # The CMK vault is created open and locked afterwards (tests/azure/test_first_deploy.py).
    props = vaults["churn-dev-wkv-9a37a12b27"].inputs["properties"]
    assert props["publicNetworkAccess"] == "Disabled"
    assert props["networkAcls"] == {"defaultAction": "Deny", "bypass": "AzureServices"}
    key = planned.one("azure-native:keyvault:Key")
    assert key.inputs["vaultName"] == "churn-dev-kv-9a37a12b27" and key.protect
    props = key.inputs["properties"]
    assert (props["kty"], props["keySize"], props["keyOps"]) == ("RSA-HSM", 3072, ["wrapKey", "unwrapKey"])
    # rotated yearly; no expiry, so the version a workspace pins keeps working after a rotation
    assert props["rotationPolicy"] == {
        "lifetimeActions": [{"action": {"type": "rotate"}, "trigger": {"timeAfterCreate": "P1Y"}}]
    }


def test_the_key_vault_holding_the_key_is_not_the_workspaces(planned):
    for ws in planned.by_type(ML + "Workspace"):
        assert ws.inputs["keyVault"].endswith("/vaults/churn-dev-wkv-9a37a12b27")
        assert ws.inputs["encryption"]["keyVaultProperties"]["keyVaultArmId"].endswith(
            "/vaults/churn-dev-kv-9a37a12b27"
        )


def test_workspaces_private_cmk_and_identities(planned):
    workspaces = {r.inputs["kind"]: r for r in planned.by_type(ML + "Workspace")}
    assert set(workspaces) == {"Default", "FeatureStore"}
    for ws in workspaces.values():
        i = ws.inputs
        assert i["publicNetworkAccess"] == "Disabled" and i["hbiWorkspace"] is True
        assert i["systemDatastoresAuthMode"] == "Identity"
        assert i["encryption"]["status"] == "Enabled"
        assert i["encryption"]["keyVaultProperties"]["keyIdentifier"].startswith(
            "https://churn-dev-kv-9a37a12b27.vault.azure.net/keys/churn-dev-cmk/"
        )
        assert i["encryption"]["identity"]["userAssignedIdentity"].endswith("/churn-dev-cmk-id")
        assert [x.rsplit("/", 1)[-1] for x in i["identity"]["userAssignedIdentities"]] == [
            "churn-dev-ws-id",
            "churn-dev-id",
            "churn-dev-cmk-id",
        ]
        assert i["primaryUserAssignedIdentity"].endswith("/churn-dev-ws-id")
        assert "sku" not in i and "v1LegacyMode" not in i  # what azure-ai-ml sends: Azure's defaults
        # the kit re-keys a workspace by hand (docs/azure.md), never on a refresh after a rotation
        assert "encryption.keyVaultProperties.keyIdentifier" in ws.ignore_changes
        assert ws.protect


def test_the_managed_network_reaches_only_approved_destinations(planned):
    for ws in planned.by_type(ML + "Workspace"):
        network = ws.inputs["managedNetwork"]
        assert network["isolationMode"] == "AllowOnlyApprovedOutbound"
        rules = {
            name: (
                rule["type"],
                rule["destination"]["serviceResourceId"].rsplit("/", 1)[-1],
                rule["destination"]["subresourceTarget"],
                rule["destination"]["sparkEnabled"],
            )
            for name, rule in network["outboundRules"].items()
        }
        expected = {
            "data-blob": ("PrivateEndpoint", "churndevdata9a37a12b27", "blob", True),
            "data-dfs": ("PrivateEndpoint", "churndevdata9a37a12b27", "dfs", True),
            "code-blob": ("PrivateEndpoint", "churndevcode9a37a12b27", "blob", True),
        }
        if ws.inputs["kind"] == "FeatureStore":
            expected["redis"] = ("PrivateEndpoint", "churn-dev-online-9a37a12b27", "redisCache", True)
        assert rules == expected  # no FQDN rule: nothing reaches the internet (no Azure Firewall)
        assert ws.inputs["serverlessComputeSettings"] == {"serverlessComputeNoPublicIP": True}
    provisions = {
        (r.inputs["workspace_id"], r.inputs["include_spark"], r.inputs["arm_url"])
        for r in _dynamic(planned, "workspace_id")
    }
    assert provisions == {(WS, True, "https://management.azure.com"), (FS, True, "https://management.azure.com")}


def test_a_private_registry_builds_images_on_a_compute_cluster(planned):
    build = planned.one(ML + "Compute").inputs
    assert build["computeName"] == "imgbuild"
    props = build["properties"]
    assert props["computeType"] == "AmlCompute" and props["disableLocalAuth"] is True
    assert props["properties"]["scaleSettings"]["minNodeCount"] == 0
    assert props["properties"]["enableNodePublicIp"] is False
    patches = {r.inputs["resource_id"]: r.inputs["patch"] for r in _dynamic(planned, "resource_id")}
    assert patches[WS] == {"properties": {"imageBuildCompute": "imgbuild"}}


def test_registry_cmk_through_its_system_identity_past_the_vault_firewall(planned):
    acr = planned.one("azure-native:containerregistry:Registry")
    i = acr.inputs
    assert i["sku"] == {"name": "Premium"} and i["adminUserEnabled"] is False and i["anonymousPullEnabled"] is False
    assert i["publicNetworkAccess"] == "Disabled" and i["networkRuleBypassOptions"] == "AzureServices"
    assert i["identity"]["type"] == "SystemAssigned, UserAssigned"
    assert [x.rsplit("/", 1)[-1] for x in i["identity"]["userAssignedIdentities"]] == ["churn-dev-cmk-id"]
    # versionless key: the registry follows the key's rotation
    assert i["encryption"]["keyVaultProperties"]["keyIdentifier"] == (
        "https://churn-dev-kv-9a37a12b27.vault.azure.net/keys/churn-dev-cmk"
    )
    assert "encryption.keyVaultProperties.identity" in acr.ignore_changes
    patches = {r.inputs["resource_id"]: r.inputs for r in _dynamic(planned, "resource_id")}
    registry = f"{RG}/providers/Microsoft.ContainerRegistry/registries/churndevacr9a37a12b27"
    assert patches[registry]["patch"] == {"properties": {"encryption": {"keyVaultProperties": {"identity": "system"}}}}
    assert patches[registry]["api_version"] == "2023-01-01-preview"


def test_inbound_private_endpoints_and_their_dns(planned):
    endpoints = {
        r.inputs["privateEndpointName"]: (
            r.inputs["privateLinkServiceConnections"][0]["privateLinkServiceId"].rsplit("/", 1)[-1],
            r.inputs["privateLinkServiceConnections"][0]["groupIds"],
        )
        for r in planned.by_type("azure-native:network:PrivateEndpoint")
    }
    assert endpoints == {
        "churn-dev-pe-workspace": ("churn-dev-ws", ["amlworkspace"]),
        "churn-dev-pe-featurestore": ("churn-dev-fs", ["amlworkspace"]),
        "churn-dev-pe-data-blob": ("churndevdata9a37a12b27", ["blob"]),
        "churn-dev-pe-data-dfs": ("churndevdata9a37a12b27", ["dfs"]),
        "churn-dev-pe-ws-blob": ("churndevws9a37a12b27", ["blob"]),
        "churn-dev-pe-ws-file": ("churndevws9a37a12b27", ["file"]),
    }
    zones = {r.inputs["privateZoneName"] for r in planned.by_type("azure-native:privatedns:PrivateZone")}
    assert zones == {
        "privatelink.api.azureml.ms",
        "privatelink.notebooks.azure.net",
        "privatelink.blob.core.windows.net",
        "privatelink.dfs.core.windows.net",
        "privatelink.file.core.windows.net",
    }
    links = planned.by_type("azure-native:privatedns:VirtualNetworkLink")
    assert len(links) == 5 and all(link.inputs["registrationEnabled"] is False for link in links)
    groups = {
        r.inputs["privateEndpointName"]: sorted(c["name"] for c in r.inputs["privateDnsZoneConfigs"])
        for r in planned.by_type("azure-native:network:PrivateDnsZoneGroup")
    }
    assert groups["churn-dev-pe-workspace"] == ["privatelink-api-azureml-ms", "privatelink-notebooks-azure-net"]
    vnet = planned.one("azure-native:network:VirtualNetwork").inputs
    assert vnet["addressSpace"] == {"addressPrefixes": ["10.250.0.0/24"]}


def test_public_access_declares_no_private_network_nor_build_cluster(tmp_path):
    public = _variant(tmp_path, **{"network.public_access": True})
    for typ in (
        "azure-native:network:VirtualNetwork",
        "azure-native:network:PrivateEndpoint",
        "azure-native:privatedns:PrivateZone",
        ML + "Compute",
    ):
        assert public.by_type(typ) == [], typ
    for ws in public.by_type(ML + "Workspace"):
        assert ws.inputs["managedNetwork"]["isolationMode"] == "AllowInternetOutbound"
        assert ws.inputs["publicNetworkAccess"] == "Enabled"


def test_app_insights_accepts_the_deployments_telemetry(planned, tmp_path):
    # Deployments send with the instrumentation key over the public ingestion endpoint (the
    # managed network's AzureMonitor rule): with local auth off or ingestion private, it is dropped.
    ai = planned.one("azure-native:applicationinsights:Component").inputs
    assert ai["disableLocalAuth"] is False and ai["publicNetworkAccessForIngestion"] == "Enabled"
    assert ai["publicNetworkAccessForQuery"] == "Disabled"
    assert planned.one(ML + "OnlineDeployment").inputs["properties"]["appInsightsEnabled"] is True
    public = _variant(tmp_path, **{"network.public_access": True})
    assert public.one("azure-native:applicationinsights:Component").inputs["publicNetworkAccessForQuery"] == "Enabled"


def test_deployment_scaling_and_data_collection(planned):
    deployment = planned.one(ML + "OnlineDeployment")
    props = deployment.inputs["properties"]
    assert deployment.inputs["deploymentName"] == "model-v1"
    assert props["instanceType"] == "Standard_D2as_v4"
    assert props["scaleSettings"] == {"scaleType": "Default"}
    assert deployment.inputs["sku"]["capacity"] == 1
    assert "sku.capacity" in deployment.ignore_changes  # the autoscaler owns the count after creation
    # Only the request columns the scoring script logs with Azure ML's collector (no payload logging).
    assert props["dataCollector"] == {
        "collections": {
            "model_inputs": {
                "dataCollectionMode": "Enabled",
                "samplingRate": 0.2,
                "dataId": f"{WS}/data/churn-dev-model-v1-model_inputs/versions/1",
            }
        },
        "rollingRate": "Hour",
    }
    assert props["codeConfiguration"]["scoringScript"] == "mlops_azure_score.py"
    (data,) = planned.by_type(ML + "DataVersion")
    assert (data.inputs["name"], data.inputs["version"]) == ("churn-dev-model-v1-model_inputs", "1")
    assert data.inputs["properties"]["dataType"] == "uri_folder"
    assert data.inputs["properties"]["dataUri"] == (
        "azureml://datastores/mlopscapture/paths/modelDataCollector/churn-dev-ep-9a37a12b27/model-v1/model_inputs"
    )
    capture = next(
        c for c in planned.by_type("azure-native:storage:BlobContainer") if c.inputs["containerName"] == "capture"
    )
    assert capture.inputs["accountName"] == "churndevws9a37a12b27" and capture.protect  # captured requests: data
    assert props["model"].endswith("/models/churn-dev-churn/versions/1")
    assert props["environmentId"].endswith("/environments/churn-dev-steps-env/versions/" + _env_version(planned))
    assert planned.outputs["serving"] == (f"model version 1 of {WS}/models/churn-dev-churn")
    endpoint = planned.one(ML + "OnlineEndpoint").inputs
    assert endpoint["endpointName"] == "churn-dev-ep-9a37a12b27"
    assert endpoint["properties"]["authMode"] == "AADToken"
    assert endpoint["properties"]["publicNetworkAccess"] == "Disabled"
    assert [i.rsplit("/", 1)[-1] for i in endpoint["identity"]["userAssignedIdentities"]] == ["churn-dev-id"]


def _env_version(planned) -> str:
    return planned.one(ML + "EnvironmentVersion").inputs["version"]


def test_the_environment_is_built_offline_from_a_wheelhouse_on_a_documented_inference_base(planned):
    env = planned.one(ML + "EnvironmentVersion").inputs
    version = env["version"]
    base = f"https://churndevcode9a37a12b27.blob.core.windows.net/code/env/{version}/"
    assert env["properties"]["build"] == {"contextUri": base, "dockerfilePath": "Dockerfile"}
    assert "image" not in env["properties"] and "condaFile" not in env["properties"]
    blobs = {b.inputs["blobName"]: b.inputs["source"] for b in planned.by_type("azure-native:storage:Blob")}
    dockerfile = blobs[f"env/{version}/Dockerfile"]["text"]
    assert dockerfile.splitlines()[0] == "FROM mcr.microsoft.com/azureml/minimal-py312-inference:latest"
    assert "pip install --no-index" in dockerfile and "--find-links /tmp/mlops/wheels" in dockerfile
    requirements = blobs[f"env/{version}/requirements.txt"]["text"].splitlines()
    # the framework the model is trained with is the one it is served with, exactly
    assert "scikit-learn==1.4.2" in requirements
    assert {
        "azure-ai-ml==1.35.2",
        "azure-identity==1.27.0",
        "azure-storage-blob==12.31.1",
        "pyarrow==17.0.0",
        "azureml-ai-monitoring==1.0.0",
    } <= set(requirements)
    assert all("==" in line for line in requirements)  # everything pinned: the wheelhouse is a lock
    archive = blobs[f"env/{version}/wheelhouse.tar.gz"]
    assert archive["asset"] == "FileAsset" and archive["path"] == f".mlops/wheelhouse/azure/churn-{version}.tar.gz"


def test_the_training_schedule_and_its_job(planned):
    schedules = {r.inputs["name"]: r.inputs["properties"] for r in planned.by_type(ML + "Schedule")}
    training = schedules["churn-dev-training"]
    assert training["trigger"] == {"triggerType": "Cron", "expression": "0 3 * * *", "timeZone": "UTC"}
    job = training["action"]["jobDefinition"]
    assert training["action"]["actionType"] == "CreateJob" and job["jobType"] == "Pipeline"
    assert set(job["jobs"]) == {
        "validate",
        "features",
        "store_features",
        "training_data",
        "train",
        "evaluate",
        "gate_register",
    }
    # the runtime identity, named (not whichever identity the workspace would pick)
    assert job["identity"] == {
        "identityType": "Managed",
        "clientId": "66afa422-2a3e-5d87-9fa1-0a41bd27576f",
        "resourceId": f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/churn-dev-id",
    }
    components = {r.inputs["name"]: r.inputs["version"] for r in planned.by_type(ML + "ComponentVersion")}
    for node in job["jobs"].values():
        cid = node["componentId"]
        name, version = cid.split("/components/")[1].split("/versions/")
        # the SDK's wire format: an ARM id without `azureml:`
        assert cid.startswith(f"{WS}/components/") and components[name] == version
    for component in planned.by_type(ML + "ComponentVersion"):
        spec = component.inputs["properties"]["componentSpec"]
        assert spec["code"].startswith(f"azureml:{WS}/codes/churn-dev-steps/versions/")
        assert spec["environment"].startswith(f"azureml:{WS}/environments/churn-dev-steps-env/versions/")
        assert spec["tags"] == {"mlops-platform": "churn", "mlops-environment": "dev", "team": "ml-platform"}
    assert job["inputs"]["input_data"]["uri"] == "azureml://datastores/mlopsdata/paths/churn/raw/"
    io = json.loads(job["jobs"]["store_features"]["environment_variables"]["MLOPS_IO"])
    assert io == {
        "kind": "azure",
        "client_id": "66afa422-2a3e-5d87-9fa1-0a41bd27576f",
        "features": {
            "account_url": "https://churndevdata9a37a12b27.blob.core.windows.net",
            "container": "data",
            "prefix": "features/",
        },
    }
    # The steps that reach the feature store (and the gate, which writes the baseline) and no other.
    assert {n for n, j in job["jobs"].items() if "environment_variables" in j} == {
        "store_features",
        "training_data",
        "gate_register",
    }
    assert job["jobs"]["gate_register"]["inputs"]["baseline"] == {
        "job_input_type": "literal",
        "value": "${{parent.jobs.training_data.outputs.baseline}}",
    }


def test_the_kit_drift_check_runs_on_the_monitor_schedule(planned):
    schedules = {r.inputs["name"]: r.inputs["properties"] for r in planned.by_type(ML + "Schedule")}
    monitor = schedules["churn-dev-monitor"]
    assert monitor["trigger"] == {"triggerType": "Cron", "expression": "0 * * * *", "timeZone": "UTC"}
    assert monitor["isEnabled"] is True and monitor["action"]["actionType"] == "CreateJob"
    job = monitor["action"]["jobDefinition"]
    assert job["jobType"] == "Pipeline" and list(job["jobs"]) == ["drift"]
    # The window ends at the trigger time (Azure ML resolves it in a pipeline's string inputs).
    assert job["inputs"]["trigger_time"] == {"jobInputType": "literal", "value": "${{creation_context.trigger_time}}"}
    node = job["jobs"]["drift"]
    assert node["inputs"]["baseline"] == {
        "job_input_type": "uri_folder",
        "uri": "azureml://datastores/mlopsdata/paths/baselines/churn-dev-churn/1/",
    }
    assert json.loads(node["environment_variables"]["MLOPS_IO"]) == {
        "kind": "azure",
        "client_id": "66afa422-2a3e-5d87-9fa1-0a41bd27576f",
        "capture": {
            "account_url": "https://churndevws9a37a12b27.blob.core.windows.net",
            "container": "capture",
            "prefix": "modelDataCollector/churn-dev-ep-9a37a12b27/model-v1/model_inputs/",
        },
        "drift": {
            "endpoint": "https://churn-dev-dce-0000.westeurope-1.ingest.monitor.azure.com",
            "rule": "dcr-c02c7925e51256708acc690f84a0147a",
            "stream": "Custom-MlopsDrift_CL",
            "monitor": "churn-dev-monitor",
        },
    }
    assert job["outputs"]["result"]["uri"] == "azureml://datastores/mlopsdata/paths/drift/churn-dev-monitor/${{name}}/"
    (component,) = [r for r in planned.by_type(ML + "ComponentVersion") if r.inputs["name"] == "churn_dev_drift"]
    assert component.inputs["properties"]["componentSpec"]["command"] == (
        "python mlops_azure_drift.py --baseline ${{inputs.baseline}} --out ${{outputs.result}} --threshold 0.2 "
        "--min_samples 100 --trigger_time '${{inputs.trigger_time}}' --schedule "
        '\'{"minute":[0],"hour":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23],"dow":[0,1,2,3,4,5,6]}\''
    )
    # What the drift check publishes and the alerts read: the table's columns, the rule's stream.
    table = planned.one("azure-native:operationalinsights:Table").inputs
    assert (table["tableName"], table["workspaceName"]) == ("MlopsDrift_CL", "churn-dev-logs")
    assert [(c["name"], c["type"]) for c in table["schema"]["columns"]] == [
        ("TimeGenerated", "dateTime"),
        ("Monitor", "string"),
        ("Feature", "string"),
        ("Statistic", "string"),
        ("Value", "real"),
        ("Threshold", "real"),
        ("Drifted", "boolean"),
        ("Status", "string"),
        ("Samples", "int"),
        ("WindowStart", "dateTime"),
        ("WindowEnd", "dateTime"),
    ]
    rule = planned.one("azure-native:monitor:DataCollectionRule").inputs
    assert rule["dataFlows"] == [
        {
            "streams": ["Custom-MlopsDrift_CL"],
            "destinations": ["drift"],
            "transformKql": "source",
            "outputStream": "Custom-MlopsDrift_CL",
        }
    ]
    declared = rule["streamDeclarations"]["Custom-MlopsDrift_CL"]["columns"]
    assert [c["name"] for c in declared] == [c["name"] for c in table["schema"]["columns"]]


def test_the_builtin_engine_compares_the_same_request_columns(tmp_path):
    result = _variant(tmp_path, **{"monitor.engine": "builtin"})
    monitor = next(r for r in result.by_type(ML + "Schedule") if r.inputs["name"] == "churn-dev-monitor")
    definition = monitor.inputs["properties"]["action"]["monitorDefinition"]
    assert definition["computeConfiguration"]["computeIdentity"] == {"computeIdentityType": "AmlToken"}
    assert definition["monitoringTarget"]["deploymentId"].endswith("/deployments/model-v1")
    signal = definition["signals"]["data-drift"]
    assert {(t["dataType"], t["metric"], t["threshold"]["value"]) for t in signal["metricThresholds"]} == {
        ("Numerical", "JensenShannonDistance", 0.2),
        ("Categorical", "JensenShannonDistance", 0.2),
    }
    assert signal["productionData"] == {
        "inputDataType": "Rolling",
        "jobInputType": "uri_folder",
        "uri": "azureml:churn-dev-model-v1-model_inputs:1",
        "dataContext": "model_inputs",
        "windowSize": "PT1H",  # the schedule's interval: each request judged once
        "windowOffset": "P0D",
    }
    assert signal["referenceData"] == {
        "inputDataType": "Fixed",
        "jobInputType": "mltable",
        "uri": "azureml://datastores/mlopsdata/paths/baselines/churn-dev-churn/1/",
        "dataContext": "training",
    }
    assert signal["features"] == {
        "filterType": "FeatureSubset",
        "features": [
            "tenure_months",
            "monthly_charges",
            "total_charges",
            "support_calls",
            "contract_type",
            "payment_method",
            "paperless_billing",
            "avg_monthly_spend",
            "support_calls_per_year",
        ],
    }
    # No log alert on its runs: a breach does not fail them. Event Grid carries the breach tag.
    assert result.by_type("azure-native:monitor:ScheduledQueryRule") == []
    (subscription,) = result.by_type("azure-native:eventgrid:SystemTopicEventSubscription")
    assert subscription.inputs["filter"] == {
        "isSubjectCaseSensitive": False,  # pulumi_azure_native's default
        "includedEventTypes": ["Microsoft.MachineLearningServices.RunStatusChanged"],
        "advancedFilters": [
            {
                "operatorType": "StringContains",
                "key": "data.RunTags.azureml_modelmonitor_threshold_breached",
                "values": ["has failed due to one or more features violating metric thresholds"],
            }
        ],
    }
    assert "/triggers/drift_alert/" in subscription.inputs["destination"]["endpointUrl"]
    topic = result.one("azure-native:eventgrid:SystemTopic").inputs
    assert topic["topicType"] == "Microsoft.MachineLearningServices.Workspaces"
    assert topic["source"] == WS
    workflow = result.one("azure-native:logic:Workflow").inputs["definition"]
    assert list(workflow["actions"]) == ["subscription_validation"]  # Event Grid's handshake first
    assert result.outputs["drift_alarm"] == [
        f"{RG}/providers/Microsoft.EventGrid/systemTopics/churn-dev-ml-events/eventSubscriptions/churn-dev-drift-breach"
    ]


def test_the_workspace_reads_data_through_an_identity_based_adls_datastore(planned):
    stores = {
        (r.inputs["workspaceName"], r.inputs["name"]): r.inputs["properties"] for r in planned.by_type(ML + "Datastore")
    }
    assert set(stores) == {
        ("churn-dev-ws", "mlopsdata"),
        ("churn-dev-ws", "mlopscapture"),
        ("churn-dev-ws", "mlopscode"),
        ("churn-dev-fs", "mlopsdata"),
        ("churn-dev-fs", "mlopscode"),
    }
    capture = stores[("churn-dev-ws", "mlopscapture")]
    assert (capture["datastoreType"], capture["accountName"], capture["containerName"]) == (
        "AzureBlob",
        "churndevws9a37a12b27",
        "capture",
    )
    data = stores[("churn-dev-ws", "mlopsdata")]
    assert (data["datastoreType"], data["accountName"], data["filesystem"]) == (
        "AzureDataLakeGen2",
        "churndevdata9a37a12b27",
        "data",
    )
    assert data["credentials"] == {"credentialsType": "None"}  # identity-based: the job's identity
    for workspace in ("churn-dev-ws", "churn-dev-fs"):
        code = stores[(workspace, "mlopscode")]
        assert (code["datastoreType"], code["accountName"], code["containerName"]) == (
            "AzureBlob",
            "churndevcode9a37a12b27",
            "code",
        )


def test_retrain_wiring(planned):
    groups = {g.inputs["actionGroupName"]: g.inputs for g in planned.by_type("azure-native:monitor:ActionGroup")}
    group = groups["churn-dev-drift"]
    assert group["emailReceivers"][0]["emailAddress"] == "ml-oncall@example.com"
    # A missing drift check e-mails and never retrains.
    assert groups["churn-dev-checks"]["emailReceivers"][0]["emailAddress"] == "ml-oncall@example.com"
    assert "logicAppReceivers" not in groups["churn-dev-checks"]
    workflow = planned.one("azure-native:logic:Workflow")
    receiver = group["logicAppReceivers"][0]
    assert receiver["resourceId"].endswith("/workflows/churn-dev-retrain")
    assert "/triggers/drift_alert/" in receiver["callbackUrl"]
    decide = workflow.inputs["definition"]["actions"]["decide"]
    action = decide["actions"]["submit_training"]["inputs"]
    assert action["method"] == "PUT"
    assert action["uri"] == f"https://management.azure.com{WS}/jobs/@{{guid()}}?api-version=2025-12-01"
    assert action["authentication"]["type"] == "ManagedServiceIdentity"
    assert action["authentication"]["identity"].endswith("/churn-dev-retrain-id")
    schedule_job = next(r for r in planned.by_type(ML + "Schedule") if r.inputs["name"] == "churn-dev-training").inputs[
        "properties"
    ]["action"]["jobDefinition"]
    assert action["body"]["properties"]["jobs"] == schedule_job["jobs"]
    assert action["body"]["properties"]["identity"] == schedule_job["identity"]
    assert action["body"]["properties"]["tags"]["trigger"] == "drift"
    diag = planned.one("azure-native:monitor:DiagnosticSetting").inputs
    assert diag["logs"][0]["category"] == "AmlRunStatusChangedEvent"
    assert planned.outputs["retrain_target"].endswith("/workflows/churn-dev-retrain")


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
    assert _dynamic(result, "endpoint_id") == []
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


def test_traffic_is_routed_after_the_deployment_exists(planned):
    endpoint = planned.one(ML + "OnlineEndpoint")
    assert "traffic" not in endpoint.inputs["properties"]
    assert "properties.traffic" in endpoint.ignore_changes
    (traffic,) = _dynamic(planned, "endpoint_id")
    assert traffic.inputs["traffic"] == {"model-v1": 100}
    assert traffic.inputs["endpoint_id"] == f"{WS}/onlineEndpoints/churn-dev-ep-9a37a12b27"
    assert traffic.inputs["arm_url"] == "https://management.azure.com"
    assert traffic.parent == planned.one("mlops:azure:Endpoint").urn


def test_outputs_follow_the_contract(planned):
    out = planned.outputs
    assert out["storage_uri"] == "abfss://data@churndevdata9a37a12b27.dfs.core.windows.net/"
    assert (
        out["encryption_key"] == f"{RG}/providers/Microsoft.KeyVault/vaults/churn-dev-kv-9a37a12b27/keys/churn-dev-cmk"
    )
    assert out["execution_identity"] == f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/churn-dev-id"
    assert out["drift_alarm"] == [
        f"{RG}/providers/Microsoft.Insights/scheduledQueryRules/churn-dev-drift",
        f"{RG}/providers/Microsoft.Insights/scheduledQueryRules/churn-dev-drift-check-missing",
    ]
    assert out["monitor"] == f"{WS}/schedules/churn-dev-monitor"
    assert out["feature_groups"] == {
        "customer_profile": {
            "id": f"{FS}/featuresets/customer_profile",
            "offline": "abfss://data@churndevdata9a37a12b27.dfs.core.windows.net/features/customer_profile/",
            "online": True,
        }
    }


def test_deployment_autoscales_through_azure_monitor(planned):
    deployment_id = f"{WS}/onlineEndpoints/churn-dev-ep-9a37a12b27/deployments/model-v1"
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
        assert trigger["metricNamespace"] == "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments"
        assert rule["scaleAction"] == {
            "direction": rule["scaleAction"]["direction"],
            "type": "ChangeCount",
            "value": "1",
            "cooldown": "PT5M",
        }
    out, in_ = rules["Increase"]["metricTrigger"], rules["Decrease"]["metricTrigger"]
    assert (out["operator"], out["threshold"]) == ("GreaterThan", 70)
    assert (in_["operator"], in_["threshold"]) == ("LessThan", 35)


def test_featureset_version_is_the_hash_of_its_spec(planned):
    from providers.azure.feature_store import featureset_version

    specs = {}
    for blob in planned.by_type("azure-native:storage:Blob"):
        name = blob.inputs["blobName"]
        if name.endswith("/FeatureSetSpec.yaml"):
            specs[name.split("/")[1]] = (name, blob.inputs["source"]["text"])
    versions = planned.by_type(ML + "FeaturesetVersion")
    assert versions and {v.inputs["name"] for v in versions} == set(specs)
    for v in versions:
        blob_name, text = specs[v.inputs["name"]]
        template = text.replace("churndevdata9a37a12b27", "{data_account}")
        assert v.inputs["version"] == featureset_version(template)
        assert blob_name == f"featuresets/{v.inputs['name']}/{v.inputs['version']}/FeatureSetSpec.yaml"
        path = v.inputs["properties"]["specification"]["path"]
        assert path == f"azureml://datastores/mlopscode/paths/featuresets/{v.inputs['name']}/{v.inputs['version']}/"
        # a schema change (one column retyped) is a new version, not an edit of a published one
        changed = template.replace("type: double", "type: string", 1).replace("type: long", "type: string", 1)
        assert changed != template and featureset_version(changed) != v.inputs["version"]


def test_training_pipeline_output_is_the_job_file_next_to_the_code(planned):
    uri = planned.outputs["training_pipeline"]
    prefix = "https://churndevcode9a37a12b27.blob.core.windows.net/code/"
    assert uri.startswith(prefix) and uri.endswith("/pipeline.json")
    (blob,) = [b for b in planned.by_type("azure-native:storage:Blob") if b.inputs["blobName"] == uri[len(prefix) :]]
    job_file = json.loads(blob.inputs["source"]["text"])
    schedule = next(r for r in planned.by_type(ML + "Schedule") if r.inputs["name"] == "churn-dev-training")
    scheduled = schedule.inputs["properties"]["action"]["jobDefinition"]["jobs"]
    # The file, the schedule's job and the Logic App's job are one pipeline: same steps.
    assert set(job_file["jobs"]) == set(scheduled)
    assert WS in json.dumps(job_file) and "mlops-template" not in json.dumps(job_file)
