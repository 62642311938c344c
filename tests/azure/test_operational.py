"""Operational settings asserted literally, on inputs beyond the example stack (issue 16).

Protection of every data-bearing resource, encryption of every store, scale-in against scale-out
for every instance size and CPU target, the drift alert's evaluation, and every numeric knob at
its bounds (accepted at the edge, refused one past it).
"""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from infra.config import load_stack_file, resolve
from infra.plan import plan
from providers.spec import SpecError

ROOT = Path(__file__).resolve().parents[2]
ML = "azure-native:machinelearningservices:"
BASE = load_stack_file(ROOT / "Pulumi.azure-dev.yaml").config


def _document(**changes) -> dict:
    document = yaml.safe_load((ROOT / "Pulumi.azure-dev.yaml").read_text())
    platform = document["config"]["mlops:platform"]
    for dotted, value in changes.items():
        *path, last = dotted.split(".")
        node = platform
        for part in path:
            node = node.setdefault(part, {})
        node[last] = copy.deepcopy(value)
    return document


def _plan(tmp_path: Path, **changes):
    path = tmp_path / "Pulumi.azure-op.yaml"
    path.write_text(yaml.safe_dump(_document(**changes)))
    return plan(load_stack_file(path))


@pytest.fixture(scope="module")
def planned():
    return plan(load_stack_file(ROOT / "Pulumi.azure-dev.yaml"))


# ------------------------------------------------------------------------------------------------
# Protection
# ------------------------------------------------------------------------------------------------

# The kit's list of data-bearing types is providers/azure/catalog.py DATA_BEARING; these are the
# resources of those types it deliberately leaves unprotected, and why.
UNPROTECTED = {
    # Step code and feature-set specs only: `pulumi up` rewrites them from the repository.
    ("azure-native:storage:BlobContainer", "churn-dev-foundation-code-container"),
}
# Feature set versions are not `protect`ed: protection would block the move to a new version
# (a new schema). They are `retain_on_delete` (a superseded version stays in Azure), which the
# plan does not record, so the exception is by type.
UNPROTECTED_TYPES = {ML + "FeaturesetVersion"}


def test_every_data_bearing_resource_is_protected(planned):
    from providers.azure.catalog import DATA_BEARING

    seen = set()
    for r in planned.resources:
        if r.type not in DATA_BEARING:
            continue
        seen.add(r.type)
        if (r.type, r.name) in UNPROTECTED or r.type in UNPROTECTED_TYPES:
            assert not r.protect, f"{r.name} is listed as unprotected but is protected: update the list"
            continue
        assert r.protect, f"{r.type} {r.name} holds data and is not protected"
    # the example covers every data-bearing type the kit declares
    assert seen == set(DATA_BEARING)


def test_the_resource_group_and_both_key_vaults_are_protected(planned):
    assert planned.one("azure-native:resources:ResourceGroup").protect
    assert {r.inputs["vaultName"] for r in planned.by_type("azure-native:keyvault:Vault") if r.protect} == {
        "churn-dev-kv-9a37a12b27",
        "churn-dev-wkv-9a37a12b27",
    }


def test_protect_data_false_protects_nothing(tmp_path):
    unprotected = _plan(tmp_path, protect_data=False)
    assert [r.name for r in unprotected.resources if r.protect] == []


# ------------------------------------------------------------------------------------------------
# Encryption of every store
# ------------------------------------------------------------------------------------------------


def test_every_storage_account_is_encrypted_with_the_customer_managed_key(planned):
    accounts = planned.by_type("azure-native:storage:StorageAccount")
    assert len(accounts) == 4  # data, workspaces, step code, approval records
    for account in accounts:
        encryption = account.inputs["encryption"]
        assert encryption["keySource"] == "Microsoft.Keyvault"
        assert encryption["requireInfrastructureEncryption"] is True
        assert encryption["keyVaultProperties"] == {
            "keyName": "churn-dev-cmk",
            "keyVaultUri": "https://churn-dev-kv-9a37a12b27.vault.azure.net/",
        }
        assert encryption["encryptionIdentity"]["encryptionUserAssignedIdentity"].endswith("/churn-dev-cmk-id")
        assert encryption["services"] == {
            "blob": {"enabled": True, "keyType": "Account"},
            "file": {"enabled": True, "keyType": "Account"},
        }
        assert account.inputs["minimumTlsVersion"] == "TLS1_2" and account.inputs["enableHttpsTrafficOnly"] is True
        assert account.inputs["allowBlobPublicAccess"] is False


def test_the_registry_and_both_workspaces_are_encrypted_with_the_key(planned):
    acr = planned.one("azure-native:containerregistry:Registry").inputs["encryption"]
    assert acr["status"] == "enabled"
    for ws in planned.by_type(ML + "Workspace"):
        assert ws.inputs["encryption"]["status"] == "Enabled"
        assert ws.inputs["hbiWorkspace"] is True  # compute scratch disks encrypted, less telemetry


def test_the_one_store_without_a_customer_managed_key_is_declared():
    # Azure Cache for Redis takes no customer-managed key: the provider says so (a note), literally.
    from providers.azure import AzureProvider
    from providers.spec import parse_platform

    platform = parse_platform(BASE["mlops:platform"])
    (limitation,) = AzureProvider().limitations(platform)
    assert limitation.severity == "note"
    assert limitation.key == "mlops:platform.feature_store.feature_groups[0].online"
    assert "takes no customer-managed key" in limitation.message


# ------------------------------------------------------------------------------------------------
# Autoscaling: every size, CPU targets at their bounds, no flapping
# ------------------------------------------------------------------------------------------------

# target_cpu_percent -> (scale-out above, scale-in below). Azure scales on the deployment's average
# CPU percent, the same figure whatever the size: no per-vCPU conversion.
THRESHOLDS = {10: (10, 5), 11: (11, 5), 50: (50, 25), 70: (70, 35), 95: (95, 47)}


@pytest.mark.parametrize(("target", "expected"), THRESHOLDS.items())
def test_scale_in_stays_far_enough_under_scale_out(target, expected):
    from providers.azure.endpoint import scale_in_threshold

    out, in_ = expected
    assert (target, scale_in_threshold(target)) == (out, in_)
    # After one instance fewer, the same load averages at most in * n/(n-1) <= 2 * in (n >= 2):
    # never over the scale-out threshold, so a scale-in never triggers a scale-out.
    assert 2 * in_ <= out


@pytest.mark.parametrize("size", ["small", "medium", "large", "gpu"])
def test_every_size_autoscales_on_the_declared_target(size, tmp_path):
    result = _plan(
        tmp_path,
        **{"endpoint.instance": size, "endpoint.target_cpu_percent": 95, "monitor.retrain_on_drift": False},
    )
    profile = result.one("azure-native:monitor:AutoscaleSetting").inputs["profiles"][0]
    rules = {r["scaleAction"]["direction"]: r["metricTrigger"] for r in profile["rules"]}
    assert (rules["Increase"]["operator"], rules["Increase"]["threshold"]) == ("GreaterThan", 95)
    assert (rules["Decrease"]["operator"], rules["Decrease"]["threshold"]) == ("LessThan", 47)
    for trigger in rules.values():
        assert (trigger["timeWindow"], trigger["timeGrain"], trigger["statistic"]) == ("PT5M", "PT1M", "Average")
    expected = {"small": "Standard_D2as_v4", "medium": "Standard_D4as_v4", "large": "Standard_D8as_v4"}
    expected["gpu"] = "Standard_NC4as_T4_v3"
    assert result.one(ML + "OnlineDeployment").inputs["properties"]["instanceType"] == expected[size]


# ------------------------------------------------------------------------------------------------
# The drift alert's evaluation (its query is the one-loop wave's, see docs/azure.md)
# ------------------------------------------------------------------------------------------------


def _rules(result) -> dict:
    return {r.inputs["ruleName"]: r.inputs for r in result.by_type("azure-native:monitor:ScheduledQueryRule")}


def test_the_alert_evaluates_non_overlapping_windows_without_auto_mitigation(planned):
    rule = _rules(planned)["churn-dev-drift"]
    assert (rule["evaluationFrequency"], rule["windowSize"]) == ("PT15M", "PT15M")
    assert rule["autoMitigate"] is False and rule["enabled"] is True and rule["severity"] == 2
    (condition,) = rule["criteria"]["allOf"]
    assert condition["failingPeriods"] == {"minFailingPeriodsToAlert": 1, "numberOfEvaluationPeriods": 1}
    assert (condition["operator"], condition["threshold"], condition["timeAggregation"]) == ("GreaterThan", 0, "Count")
    assert condition["query"] == (
        "MlopsDrift_CL\n"
        '| where Monitor == "churn-dev-monitor" and Status == "ok" and Value > 0.2\n'
        "| project TimeGenerated, Feature, Value, Threshold, WindowEnd"
    )


# monitor.schedule -> the missing-check alert's window: two intervals, rounded up to a window Azure
# log alerts take; none past two days (a note says so).
MISSING_WINDOWS = {"0 * * * *": "PT2H", "*/15 * * * *": "PT1H", "0 */2 * * *": "PT4H", "0 3 * * *": "P2D"}


@pytest.mark.parametrize(("schedule", "window"), MISSING_WINDOWS.items())
def test_a_drift_check_that_stops_running_alerts(schedule, window, tmp_path):
    rule = _rules(_plan(tmp_path, **{"monitor.schedule": schedule}))["churn-dev-drift-check-missing"]
    assert (rule["evaluationFrequency"], rule["windowSize"]) == ("PT1H", window)
    (condition,) = rule["criteria"]["allOf"]
    assert (condition["operator"], condition["threshold"], condition["timeAggregation"]) == ("LessThan", 1, "Count")
    assert (
        condition["query"] == 'MlopsDrift_CL\n| where Monitor == "churn-dev-monitor"\n| project TimeGenerated, Status'
    )


def test_a_weekly_check_is_not_watched_for_absence_and_says_so(tmp_path):
    from providers.azure import AzureProvider
    from providers.spec import parse_platform

    result = _plan(tmp_path, **{"monitor.schedule": "0 3 * * 1"})
    assert set(_rules(result)) == {"churn-dev-drift"}
    platform = parse_platform(
        {**BASE["mlops:platform"], "monitor": {**BASE["mlops:platform"]["monitor"], "schedule": "0 3 * * 1"}}
    )
    notes = [x for x in AzureProvider().limitations(platform) if x.key == "mlops:platform.monitor.schedule"]
    assert [n.severity for n in notes] == ["note"]


# ------------------------------------------------------------------------------------------------
# Numeric knobs at their bounds
# ------------------------------------------------------------------------------------------------


def test_the_knobs_at_their_upper_bounds_reach_azure(tmp_path):
    result = _plan(
        tmp_path,
        **{
            "endpoint.min_replicas": 100,
            "endpoint.max_replicas": 100,
            "endpoint.target_cpu_percent": 95,
            "endpoint.data_capture_percent": 100,
            "monitor.drift_threshold": 1.0,
            "pipeline.quality_gate.threshold": 1.0,
        },
    )
    profile = result.one("azure-native:monitor:AutoscaleSetting").inputs["profiles"][0]
    assert profile["capacity"] == {"minimum": "100", "maximum": "100", "default": "100"}
    deployment = result.one(ML + "OnlineDeployment").inputs
    assert deployment["sku"]["capacity"] == 100
    for collection in deployment["properties"]["dataCollector"]["collections"].values():
        assert collection["samplingRate"] == 1.0
    monitor = next(r for r in result.by_type(ML + "Schedule") if r.inputs["name"] == "churn-dev-monitor")
    drift = monitor.inputs["properties"]["action"]["jobDefinition"]["jobs"]["drift"]
    (component,) = [r for r in result.by_type(ML + "ComponentVersion") if r.inputs["name"] == "churn_dev_drift"]
    assert "--threshold 1.0 --min_samples 100 " in component.inputs["properties"]["componentSpec"]["command"]
    assert drift["componentId"].endswith("/components/churn_dev_drift/versions/" + component.inputs["version"])
    assert "Value > 1.0\n" in _rules(result)["churn-dev-drift"]["criteria"]["allOf"][0]["query"]
    training = next(r for r in result.by_type(ML + "Schedule") if r.inputs["name"] == "churn-dev-training")
    gate = training.inputs["properties"]["action"]["jobDefinition"]["jobs"]["gate_register"]["inputs"]
    # (azure-ai-ml writes a pipeline node's inputs with snake_case keys: its own node wire format)
    assert gate["threshold"] == {"job_input_type": "literal", "value": "1.0"}


def test_the_knobs_at_their_lower_bounds_reach_azure(tmp_path):
    result = _plan(
        tmp_path,
        **{
            "endpoint.min_replicas": 1,
            "endpoint.max_replicas": 1,
            "endpoint.target_cpu_percent": 10,
            "endpoint.data_capture_percent": 1,
            "pipeline.quality_gate.threshold": 0.0,
        },
    )
    profile = result.one("azure-native:monitor:AutoscaleSetting").inputs["profiles"][0]
    assert profile["capacity"] == {"minimum": "1", "maximum": "1", "default": "1"}
    rules = {r["scaleAction"]["direction"]: r["metricTrigger"]["threshold"] for r in profile["rules"]}
    assert rules == {"Increase": 10, "Decrease": 5}
    deployment = result.one(ML + "OnlineDeployment").inputs
    for collection in deployment["properties"]["dataCollector"]["collections"].values():
        assert collection["samplingRate"] == 0.01


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("endpoint.min_replicas", 0),
        ("endpoint.min_replicas", 101),
        ("endpoint.max_replicas", 101),
        ("endpoint.target_cpu_percent", 9),
        ("endpoint.target_cpu_percent", 96),
        ("endpoint.data_capture_percent", 0),
        ("endpoint.data_capture_percent", 101),
        ("endpoint.model_version", 0),
        ("monitor.drift_threshold", 0.0),
        ("monitor.drift_threshold", 1.01),
        ("pipeline.quality_gate.threshold", -0.01),
        ("pipeline.quality_gate.threshold", 1.01),
    ],
)
def test_one_past_each_bound_is_refused_naming_the_key(key, value):
    config = copy.deepcopy(BASE)
    node = config["mlops:platform"]
    *path, last = key.split(".")
    for part in path:
        node = node[part]
    node[last] = value
    if key == "endpoint.min_replicas" and value > 100:
        node["max_replicas"] = value
    with pytest.raises(SpecError) as err:
        resolve("azure-dev", config.get)
    assert err.value.key == f"mlops:platform.{key}"
