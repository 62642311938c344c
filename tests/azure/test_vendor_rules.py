"""The Azure plans held against Azure's own machine-readable rules (providers/azure/vendor_rules.py).

Two kinds of test:
- the validator itself, on small synthetic bodies: it refuses what Azure refuses and passes a
  valid body;
- class tests over whole plans: `Pulumi.azure-dev.yaml` and two stacks with every option on. Each
  class of rule is one test per plan. Tests that find real defects today are marked
  `xfail(strict=True)` with the exact violations in the reason: fix the provider, the test
  passes, strict xfail turns that into a failure, and the mark is removed.

Expected values are written here, literally, never imported from the code under test.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from infra.config import load_stack_file
from infra.plan import plan
from providers.azure import vendor_rules as vr

ROOT = Path(__file__).resolve().parents[2]
ML = "azure-native:machinelearningservices:"
SUB = "/subscriptions/00000000-0000-0000-0000-000000000000"
RG = f"{SUB}/resourceGroups/rg-x"
WS = f"{RG}/providers/Microsoft.MachineLearningServices/workspaces/ws-x"
UAI = f"{RG}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-x"


# ---------------------------------------------------------------------------------------------
# Synthetic bodies: the validator refuses what Azure refuses, and passes a valid body
# ---------------------------------------------------------------------------------------------


def _deployment(name: str = "blue", **props) -> dict:
    properties = {
        "endpointComputeType": "Managed",
        "instanceType": "Standard_DS2_v2",
        "model": f"{WS}/models/m/versions/1",
        "environmentId": f"{WS}/environments/e/versions/1",
        "codeConfiguration": {"codeId": f"{WS}/codes/c/versions/1", "scoringScript": "score.py"},
        "scaleSettings": {"scaleType": "Default"},
        "appInsightsEnabled": True,
        "egressPublicNetworkAccess": "Disabled",
        "dataCollector": {
            "collections": {"model_inputs": {"dataCollectionMode": "Enabled", "samplingRate": 0.5}},
            "rollingRate": "Hour",
        },
    }
    properties.update(props)
    return {
        "type": ML + "OnlineDeployment",
        "name": "dep",
        "inputs": {
            "deploymentName": name,
            "endpointName": "ep-x",
            "workspaceName": "ws-x",
            "resourceGroupName": "rg-x",
            "location": "westeurope",
            "kind": "Managed",
            "sku": {"name": "Default", "capacity": 1.0},
            "properties": properties,
        },
    }


def _monitor_schedule(compute_identity: dict | None = None) -> dict:
    compute = {"computeType": "ServerlessSpark", "instanceType": "standard_e4s_v3", "runtimeVersion": "3.4"}
    if compute_identity is not None:
        compute["computeIdentity"] = compute_identity
    return {
        "type": ML + "Schedule",
        "name": "mon",
        "inputs": {
            "name": "mon",
            "workspaceName": "ws-x",
            "resourceGroupName": "rg-x",
            "properties": {
                "isEnabled": True,
                "trigger": {"triggerType": "Cron", "expression": "0 * * * *", "timeZone": "UTC"},
                "action": {
                    "actionType": "CreateMonitor",
                    "monitorDefinition": {
                        "computeConfiguration": compute,
                        "signals": {
                            "drift": {
                                "signalType": "DataDrift",
                                "features": {"filterType": "AllFeatures"},
                                "metricThresholds": [
                                    {
                                        "dataType": "Numerical",
                                        "metric": "JensenShannonDistance",
                                        "threshold": {"value": 0.2},
                                    }
                                ],
                                "productionData": {
                                    "inputDataType": "Rolling",
                                    "jobInputType": "mltable",
                                    "uri": "azureml:prod:1",
                                    "dataContext": "model_inputs",
                                    "windowSize": "P1D",
                                    "windowOffset": "P0D",
                                },
                                "referenceData": {
                                    "inputDataType": "Fixed",
                                    "jobInputType": "mltable",
                                    "uri": "azureml:baseline:1",
                                    "dataContext": "training",
                                },
                            }
                        },
                    },
                },
            },
        },
    }


def test_a_valid_deployment_body_passes():
    assert vr.check_plan([_deployment("blue")]) == []


def test_deployment_name_v1_is_refused():
    found = vr.check_plan([_deployment("v1")])
    assert [(v.field, v.severity) for v in found] == [("deploymentName", "refused")]
    assert "3-32" in found[0].rule and "how-to-manage-quotas" in found[0].source


@pytest.mark.parametrize("name", ["ab", "a" * 33, "1blue", "blue-", "blue_green"])
def test_other_bad_deployment_names_are_refused(name):
    assert [v.field for v in vr.check_plan([_deployment(name)])] == ["deploymentName"]


@pytest.mark.parametrize("name", ["abc", "a" * 32, "blue-green", "v001"])
def test_good_deployment_names_pass(name):
    assert vr.check_plan([_deployment(name)]) == []


def test_a_wrong_enum_value_is_refused():
    found = vr.check_plan([_deployment("blue", egressPublicNetworkAccess="Off")])
    assert [(v.field, v.severity) for v in found] == [("properties.egressPublicNetworkAccess", "refused")]
    assert "EgressPublicNetworkAccessType" in found[0].rule


def test_a_wrong_discriminator_is_refused():
    found = vr.check_plan([_deployment("blue", scaleSettings={"scaleType": "Sometimes"})])
    # pulumi_azure_native matches no union member; azure-ai-ml's entity refuses the body too.
    assert {(v.field, v.severity) for v in found} == {("properties.scaleSettings", "refused"), ("", "refused")}
    assert any("Unsupported online scale setting type" in v.rule for v in found)


def test_an_input_the_sdk_class_does_not_have_is_refused():
    found = vr.check_plan([_deployment("blue", minInstances=2)])
    assert {(v.field, v.severity) for v in found} == {
        ("properties.minInstances", "refused"),  # not a ManagedOnlineDeploymentArgs argument, nor a REST field
        ("properties.minInstances", "differs"),  # and azure-ai-ml's entity drops it
    }
    assert any("ManagedOnlineDeploymentArgs" in v.rule for v in found)
    assert any("is not a field of" in v.rule for v in found)


def test_a_field_the_sdk_entity_drops_is_reported():
    # azure-ai-ml's MonitorSchedule always sends an AmlToken compute identity for serverless Spark
    # (entities/_monitoring/compute.py): a managed identity in the body does not survive it.
    identity = {
        "computeIdentityType": "ManagedIdentity",
        "identity": {"type": "UserAssigned", "userAssignedIdentities": [UAI]},
    }
    found = vr.check_plan([_monitor_schedule(identity)])
    assert {(v.field, v.severity) for v in found} == {
        ("properties.action.monitorDefinition.computeConfiguration.computeIdentity.computeIdentityType", "differs"),
        ("properties.action.monitorDefinition.computeConfiguration.computeIdentity.identity", "differs"),
    }


def test_the_same_monitor_without_it_round_trips():
    assert vr.check_plan([_monitor_schedule()]) == []


def test_an_integer_field_given_a_fraction_is_refused():
    found = vr.check_plan([_deployment("blue", requestSettings={"maxConcurrentRequestsPerInstance": 1.5})])
    field = "properties.requestSettings.maxConcurrentRequestsPerInstance"
    assert {(v.field, v.severity) for v in found} == {(field, "refused"), (field, "differs")}
    assert any("takes an integer" in v.rule for v in found)


def test_autoscale_on_the_documented_metric_namespace_passes_and_the_short_one_is_refused():
    dep = f"{WS}/onlineEndpoints/ep-x/deployments/blue"

    def autoscale(namespace: str) -> dict:
        trigger = {
            "metricName": "CpuUtilizationPercentage",
            "metricNamespace": namespace,
            "metricResourceUri": dep,
            "timeGrain": "PT1M",
            "statistic": "Average",
            "timeWindow": "PT5M",
            "timeAggregation": "Average",
            "operator": "GreaterThan",
            "threshold": 70.0,
        }
        action = {"direction": "Increase", "type": "ChangeCount", "value": "1", "cooldown": "PT5M"}
        return {
            "type": "azure-native:monitor:AutoscaleSetting",
            "name": "as",
            "inputs": {
                "resourceGroupName": "rg-x",
                "targetResourceUri": dep,
                "profiles": [
                    {
                        "name": "cpu",
                        "capacity": {"minimum": "1", "maximum": "2", "default": "1"},
                        "rules": [{"metricTrigger": trigger, "scaleAction": action}],
                    }
                ],
            },
        }

    assert vr.check_plan([autoscale("Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments")]) == []
    found = vr.check_plan([autoscale("Microsoft.MachineLearningServices/onlineEndpoints/deployments")])
    assert [v.field for v in found] == ["profiles[0].rules[0].metricTrigger.metricNamespace"]


def test_a_recurrence_pattern_is_refused_below_a_day_and_passes_from_a_day():
    def featureset(frequency: str) -> dict:
        return {
            "type": ML + "FeaturesetVersion",
            "name": "fs",
            "inputs": {
                "name": "g",
                "version": "1",
                "workspaceName": "fs-x",
                "resourceGroupName": "rg-x",
                "properties": {
                    "entities": ["azureml:customer_id:1"],
                    "specification": {"path": "azureml://datastores/d/paths/featuresets/g/1/"},
                    "materializationSettings": {
                        "storeType": "Offline",
                        "schedule": {
                            "triggerType": "Recurrence",
                            "frequency": frequency,
                            "interval": 1,
                            "schedule": {"hours": [2], "minutes": [0]},
                        },
                    },
                },
            },
        }

    assert [v.field for v in vr.check_plan([featureset("Hour")])] == [
        "properties.materializationSettings.schedule.schedule"
    ]
    assert vr.check_plan([featureset("Day")]) == []


def test_the_scheduled_query_rule_operator_is_held_to_its_documented_values():
    # pulumi_azure_native 3.29's monitor.ConditionOperator holds another API's values (eq, gt, ...);
    # the validator uses the scheduled query rule operator Microsoft documents instead.
    def rule(operator: str) -> dict:
        return {
            "type": "azure-native:monitor:ScheduledQueryRule",
            "name": "q",
            "inputs": {
                "resourceGroupName": "rg-x",
                "scopes": [f"{RG}/providers/Microsoft.OperationalInsights/workspaces/l"],
                "criteria": {
                    "allOf": [
                        {
                            # a documented table and column: only the operator is under test here
                            "query": 'AmlRunStatusChangedEvent | where Status == "Failed"',
                            "timeAggregation": "Count",
                            "operator": operator,
                            "threshold": 0,
                        }
                    ]
                },
            },
        }

    assert vr.check_plan([rule("GreaterThan")]) == []
    assert [v.field for v in vr.check_plan([rule("gt")])] == ["criteria.allOf[0].operator"]


# ---------------------------------------------------------------------------------------------
# Class tests over whole plans
# ---------------------------------------------------------------------------------------------


def _stack(name: str, **changes) -> dict:
    document = yaml.safe_load((ROOT / "Pulumi.azure-dev.yaml").read_text())
    platform = document["config"]["mlops:platform"]
    for dotted, value in changes.items():
        *path, last = dotted.split(".")
        node = platform
        for part in path:
            node = node.setdefault(part, {})
        node[last] = copy.deepcopy(value)
    return document


# Every option on: a training schedule, a served version, three feature groups over two entities,
# online and offline groups.
GROUPS = [
    {
        "name": "customer_profile",
        "entity": "customer_id",
        "event_time": "event_time",
        "online": True,
        "description": "profile",
        # the nine features the churn pipeline's data contract reads
        "features": [
            {"name": "tenure_months", "type": "int"},
            {"name": "monthly_charges", "type": "float"},
            {"name": "contract_type", "type": "string"},
            {"name": "support_calls", "type": "int"},
            {"name": "total_charges", "type": "float"},
            {"name": "payment_method", "type": "string"},
            {"name": "paperless_billing", "type": "bool"},
            {"name": "avg_monthly_spend", "type": "float"},
            {"name": "support_calls_per_year", "type": "float"},
        ],
    },
    {
        "name": "usage_daily",
        "entity": "customer_id",
        "event_time": "day",
        "online": False,
        "features": [{"name": "minutes", "type": "float"}, {"name": "roaming", "type": "bool"}],
    },
    {
        "name": "account_risk",
        "entity": "account_id",
        "event_time": "scored_at",
        "online": True,
        "features": [{"name": "risk", "type": "float"}, {"name": "since", "type": "timestamp"}],
    },
]
STACKS = {
    "azure-dev": None,
    "all-private-retrain": {
        "pipeline.schedule": "0 3 * * 1-5",
        "endpoint.model_version": 3,
        "feature_store.feature_groups": GROUPS,
        "network.public_access": False,
        "monitor.retrain_on_drift": True,
    },
    "all-public-no-retrain": {
        "pipeline.schedule": "0 3 * * 1-5",
        "endpoint.model_version": 3,
        "feature_store.feature_groups": GROUPS,
        "network.public_access": True,
        "monitor.retrain_on_drift": False,
    },
    # Azure ML's own monitor: its body round-trips through azure-ai-ml's MonitorSchedule too.
    "builtin-monitor": {"monitor.engine": "builtin"},
}
_PLANS: dict[str, list[dict]] = {}


def resources(stack: str, tmp_path_factory) -> list[dict]:
    if stack not in _PLANS:
        if STACKS[stack] is None:
            path = ROOT / "Pulumi.azure-dev.yaml"
        else:
            path = tmp_path_factory.mktemp(stack) / f"Pulumi.{stack}.yaml"
            path.write_text(yaml.safe_dump(_stack(stack, **STACKS[stack])))
        # check=False: the class tests report what the rules find themselves (with the check on,
        # `plan` would stop at the first refusal); test_mlops_plan_passes_the_check_on_every_stack
        # runs the plan as `mlops plan` does.
        _PLANS[stack] = [r.to_json() for r in plan(load_stack_file(path), check=False).resources]
    return _PLANS[stack]


def _key(violation) -> str:
    """`<resource> <field>`, a feature set version's content hash replaced by `<version>`."""
    return f"{re.sub(r'-[0-9a-f]{12}$', '-<version>', violation.resource)} {violation.field}"


def _found(check, stack: str, tmp_path_factory) -> list:
    out = []
    for r in resources(stack, tmp_path_factory):
        out += check(r)
    return out


class UnexpectedViolation(Exception):
    """A violation not in the known list: a new defect, never an expected failure."""


def _assert_clean(found: list, known: set[str]) -> None:
    """Fails with UnexpectedViolation (a real failure) on anything not listed in `known`, then
    asserts there is nothing at all (the strict xfail while `known` is not empty)."""
    keys = {_key(v) for v in found}
    unexpected = sorted(str(v) for v in found if _key(v) not in known)
    if unexpected:
        raise UnexpectedViolation("\n".join(unexpected))
    assert sorted(keys) == [], "\n".join(sorted(str(v) for v in found))


def known_today(table: dict[str, set[str]]):
    """Parametrize over the stacks; a stack with known violations is a strict xfail whose reason
    lists exactly those violations."""
    params = []
    for stack in STACKS:
        known = table.get(stack, set())
        marks = [strict_xfail("; ".join(sorted(known)))] if known else []
        params.append(pytest.param(stack, known, marks=marks, id=stack))
    return pytest.mark.parametrize(("stack", "known"), params)


def strict_xfail(reason: str):
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)


def _each(stacks, violations: set[str]) -> dict[str, set[str]]:
    return {s: set(violations) for s in stacks}


ALL = tuple(STACKS)
# Nothing is known to be wrong today: every class test must pass on every stack. (Until issue 10 was
# fixed, these tables listed each violation and the tests were strict xfails.)
NONE: dict[str, set[str]] = {}
DEPENDENCIES = INPUTS = NAMES = AUTOSCALE = RECURRENCE = FEATURE_STORE = ROUND_TRIP = TRAFFIC = NONE


@known_today(DEPENDENCIES)
def test_documented_rules_between_resources(stack, known, tmp_path_factory):
    _assert_clean(vr.check_dependencies(resources(stack, tmp_path_factory)), known)


@known_today(INPUTS)
def test_inputs_are_sdk_arguments_and_enum_values(stack, known, tmp_path_factory):
    _assert_clean(_found(lambda r: vr.check_pulumi_inputs(r)[0], stack, tmp_path_factory), known)


@known_today(NAMES)
def test_names_follow_the_documented_rules(stack, known, tmp_path_factory):
    _assert_clean(_found(vr.check_names, stack, tmp_path_factory), known)


@known_today(AUTOSCALE)
def test_autoscale_reads_the_deployments_own_metrics(stack, known, tmp_path_factory):
    _assert_clean(_found(vr.check_autoscale, stack, tmp_path_factory), known)


@known_today(RECURRENCE)
def test_recurrences_use_patterns_only_where_azure_takes_them(stack, known, tmp_path_factory):
    _assert_clean(_found(vr.check_recurrence, stack, tmp_path_factory), known)


@known_today(FEATURE_STORE)
def test_feature_store_is_wired_the_way_azure_ai_ml_does_it(stack, known, tmp_path_factory):
    _assert_clean(vr.check_feature_store(resources(stack, tmp_path_factory)), known)


def _round_trip(r: dict) -> list:
    """What azure-ai-ml's entities would send differently, less the differences docs/azure.md
    justifies (vr.JUSTIFIED, checked on its own below)."""
    _, seen = vr.check_pulumi_inputs(r)
    found = (
        vr.check_round_trip(r, seen, "00000000-0000-0000-0000-000000000000")
        + vr.check_component_references(r)
        + vr.check_workflow_jobs(r)
    )
    return [v for v in found if not vr.justification(v)]


@known_today(ROUND_TRIP)
def test_bodies_survive_azure_ai_ml_entities(stack, known, tmp_path_factory):
    _assert_clean(_found(_round_trip, stack, tmp_path_factory), known)


@known_today({})
def test_bodies_use_only_fields_of_the_azure_ai_ml_rest_model(stack, known, tmp_path_factory):
    _assert_clean(_found(vr.check_rest_model, stack, tmp_path_factory), known)


@known_today(TRAFFIC)
def test_traffic_resource_body_and_api_version(stack, known, tmp_path_factory):
    res = resources(stack, tmp_path_factory)
    _assert_clean(_found(lambda r: vr.check_traffic_resource(r, res, "0"), stack, tmp_path_factory), known)
    assert [r for r in res if vr._dynamic_kind(r) == "traffic"], "the stack serves a model: a traffic resource"


@pytest.mark.parametrize("stack", list(STACKS))
def test_every_dynamic_resource_writes_with_pulumi_azure_natives_api_version(stack, tmp_path_factory):
    res = resources(stack, tmp_path_factory)
    kinds = sorted(vr._dynamic_kind(r) for r in res if r["type"] == vr.DYNAMIC)
    # every stack serves a model: the deploy-time approval check reads its version
    assert set(kinds) >= {"traffic", "network", "patch", "approval"} and "unknown" not in kinds
    assert _found(vr.check_dynamic_api_version, stack, tmp_path_factory) == []
    assert _found(vr.check_arm_patch, stack, tmp_path_factory) == []


def test_a_dynamic_resource_on_another_api_version_is_refused():
    patch = {
        "type": vr.DYNAMIC,
        "name": "p",
        "inputs": {"resource_id": WS, "api_version": "2024-10-01", "patch": {"properties": {"imageBuildCompute": "c"}}},
    }
    assert [(v.field, v.severity) for v in vr.check_plan([patch])] == [("api-version", "refused")]
    registry = f"{RG}/providers/Microsoft.ContainerRegistry/registries/acr"
    bad = {**patch, "inputs": {**patch["inputs"], "resource_id": registry, "api_version": "2023-01-01-preview"}}
    bad["inputs"]["patch"] = {"properties": {"encryption": {"keyVaultProperties": {"idenity": "system"}}}}
    assert [(v.field, v.severity) for v in vr.check_plan([bad])] == [
        ("patch.encryption.keyVaultProperties.idenity", "refused")
    ]
    ws_typo = {**patch, "inputs": {**patch["inputs"], "api_version": "2025-12-01"}}
    ws_typo["inputs"]["patch"] = {"properties": {"imageBuildComptue": "c"}}
    assert [v.field for v in vr.check_plan([ws_typo])] == ["patch.properties.imageBuildComptue"]


def test_an_approval_check_on_another_api_version_or_an_unknown_dynamic_resource_is_refused():
    version = f"{WS}/models/churn-dev-churn/versions/3"
    check = {
        "type": vr.DYNAMIC,
        "name": "churn-dev-endpoint-approval",
        "inputs": {"version_id": version, "api_version": "2025-12-01", "approvals_account": "a", "mode": "manual"},
    }
    assert vr.check_dynamic_api_version(check) == []  # pulumi_azure_native 3.29 ModelVersion
    old = {**check, "inputs": {**check["inputs"], "api_version": "2024-10-01"}}
    assert [(v.field, v.severity) for v in vr.check_plan([old])] == [("api-version", "refused")]
    unknown = {"type": vr.DYNAMIC, "name": "x", "inputs": {"target": version}}
    assert [(v.field, v.severity) for v in vr.check_plan([unknown])] == [("kind", "refused")]


def test_a_justified_difference_is_a_note_and_no_other_is():
    assert set(vr.JUSTIFIED) == {(ML + "Workspace", r"^properties\.encryption\.identity$")}
    note = vr.Violation("w", ML + "Workspace", "properties.encryption.identity", "dropped", "sdk", "differs")
    other = vr.Violation("w", ML + "Workspace", "properties.encryption.status", "dropped", "sdk", "differs")
    assert vr.justification(note) and vr.justification(other) is None


@pytest.mark.parametrize("stack", list(STACKS))
def test_check_plan_leaves_only_the_justified_notes(stack, tmp_path_factory):
    found = vr.check_plan(resources(stack, tmp_path_factory))
    assert {(v.severity, v.type, v.field) for v in found} == {
        ("note", ML + "Workspace", "properties.encryption.identity")
    }
    assert sorted(v.resource for v in found) == ["churn-dev-feature-store-workspace", "churn-dev-foundation-workspace"]


@pytest.mark.parametrize("stack", list(STACKS))
def test_custom_roles_are_assigned_within_their_assignable_scopes(stack, tmp_path_factory):
    assert vr.check_custom_roles(resources(stack, tmp_path_factory)) == []


# Azure built-in roles the kit may grant: role definition id -> (name, documented source). Written
# out from Microsoft Learn "Azure built-in roles" (https://learn.microsoft.com/en-us/azure/
# role-based-access-control/built-in-roles) and its category pages; a grant of any other id fails
# until a person checks the page and adds it here. Why each identity holds which role is in
# tests/azure/test_identities.py and docs/azure.md.
_ROLES_PAGE = "https://learn.microsoft.com/en-us/azure/role-based-access-control/built-in-roles"
BUILT_IN_ROLES = {
    "b24988ac-6180-42a0-ab88-20f7382dd24c": ("Contributor", f"{_ROLES_PAGE}/privileged#contributor"),
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": ("Storage Blob Data Contributor", f"{_ROLES_PAGE}/storage"),
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": ("Storage Blob Data Reader", f"{_ROLES_PAGE}/storage"),
    "00482a5a-887f-4fb3-b363-3b7fe8e74483": ("Key Vault Administrator", f"{_ROLES_PAGE}/security"),
    "e147488a-f6f5-4113-8e2d-b22465e65bf6": ("Key Vault Crypto Service Encryption User", f"{_ROLES_PAGE}/security"),
    "7f951dda-4ed3-4680-a7ca-43fe172d538d": ("AcrPull", f"{_ROLES_PAGE}/containers"),
    "f6c7c914-8db3-469d-8ca1-694a8f32e121": ("AzureML Data Scientist", f"{_ROLES_PAGE}/ai-machine-learning"),
    "b556d68e-0be0-4f35-a333-ad7ee1ce17ea": (
        "Azure AI Enterprise Network Connection Approver",
        f"{_ROLES_PAGE}/ai-machine-learning#azure-ai-enterprise-network-connection-approver",
    ),
    "3913510d-42f4-4e42-8a64-420c390055eb": ("Monitoring Metrics Publisher", f"{_ROLES_PAGE}/monitor"),
}
NEVER = {
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9": "User Access Administrator",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
}


@pytest.mark.parametrize("stack", list(STACKS))
def test_every_granted_role_is_a_documented_built_in_role(stack, tmp_path_factory):
    granted = vr.granted_role_ids(resources(stack, tmp_path_factory))
    assert granted, "the plan grants no built-in role at all"
    unknown = [(name, guid) for name, guid, _ in granted if guid not in BUILT_IN_ROLES]
    assert unknown == []
    assert not {guid for _, guid, _ in granted} & set(NEVER)
    # every role is scoped to one resource: never a resource group or the subscription
    for name, _, scope in granted:
        assert "/providers/" in scope, (name, scope)


def test_the_built_in_list_holds_no_role_the_kit_no_longer_grants(tmp_path_factory):
    granted = {guid for stack in STACKS for _, guid, _ in vr.granted_role_ids(resources(stack, tmp_path_factory))}
    assert granted == set(BUILT_IN_ROLES)


@pytest.mark.parametrize("stack", list(STACKS))
def test_an_autoscaled_capacity_is_left_to_the_autoscaler(stack, tmp_path_factory):
    res = resources(stack, tmp_path_factory)
    scaled = {r["inputs"].get("targetResourceUri") for r in res if r["type"] == "azure-native:monitor:AutoscaleSetting"}
    deployments = [r for r in res if r["type"] == ML + "OnlineDeployment"]
    assert scaled and deployments
    for d in deployments:
        ignored = d.get("ignore_changes") or []
        assert "sku.capacity" in ignored or "sku" in ignored, d["name"]


def test_every_dynamic_provider_reads_the_resource_back():
    # Without read(), `pulumi refresh` never sees a change made outside Pulumi (issue 10 item 13).
    from pulumi.dynamic import ResourceProvider

    from providers.azure import dynamic

    providers = [
        c
        for c in vars(dynamic).values()
        if isinstance(c, type) and issubclass(c, ResourceProvider) and c is not ResourceProvider
    ]
    assert {c.__name__ for c in providers} == {
        "TrafficProvider",
        "ArmPatchProvider",
        "NetworkProvider",
        "ApprovalCheckProvider",
    }
    for cls in providers:
        assert cls.read is not ResourceProvider.read, cls.__name__


@pytest.mark.parametrize("stack", ["azure-dev"])
def test_check_plan_is_the_union_of_the_checks(stack, tmp_path_factory):
    res = resources(stack, tmp_path_factory)
    union = set()
    for r in res:
        found, seen = vr.check_pulumi_inputs(r)
        union |= set(found)
        union |= set(vr.check_rest_model(r))
        union |= set(vr.check_round_trip(r, seen, "00000000-0000-0000-0000-000000000000"))
        for check in (
            vr.check_names,
            vr.check_autoscale,
            vr.check_recurrence,
            vr.check_component_references,
            vr.check_workflow_jobs,
        ):
            union |= set(check(r))
        union |= set(vr.check_traffic_resource(r, res, "00000000-0000-0000-0000-000000000000"))
        union |= set(vr.check_dynamic_api_version(r)) | set(vr.check_arm_patch(r))
    union |= set(vr.check_feature_store(res)) | set(vr.check_custom_roles(res)) | set(vr.check_dependencies(res))
    assert sorted(union) == vr._check_plan(res)


def test_the_provider_refuses_refused_requests_and_prints_notes(capsys):
    from providers.azure import AzureProvider

    provider = AzureProvider()
    refused = provider.check_plan([_deployment("v1")])
    assert len(refused) == 1 and refused[0].startswith("[refused] dep (") and "deploymentName" in refused[0]
    assert provider.check_plan([_deployment("blue")]) == []
    workspace = {
        "type": ML + "Workspace",
        "name": "ws",
        "inputs": {
            "workspaceName": "ws-x",
            "resourceGroupName": "rg-x",
            "location": "westeurope",
            "encryption": {
                "status": "Enabled",
                "keyVaultProperties": {
                    "keyIdentifier": "https://kv.vault.azure.net/keys/k/0123",
                    "keyVaultArmId": f"{RG}/providers/Microsoft.KeyVault/vaults/kv",
                },
                "identity": {"userAssignedIdentity": UAI},
            },
        },
    }
    capsys.readouterr()
    assert provider.check_plan([workspace]) == []
    assert "[note] ws (azure-native:machinelearningservices:Workspace) properties.encryption.identity" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("stack", list(STACKS))
def test_mlops_plan_passes_the_check_on_every_stack(stack, tmp_path_factory):
    # What `mlops plan` runs after planning (infra/plan.py): any line here is exit 2.
    from providers.azure import AzureProvider

    assert AzureProvider().check_plan(resources(stack, tmp_path_factory)) == []


# ---- log search alerts name only columns of the table they read (issue 10 item 9) ----

# The drift alert main shipped before the loop wave: AmlRunStatusChangedEvent has no ExperimentName
# (Microsoft Learn table reference), so the alert never matched a row.
DEAD_QUERY = (
    "AmlRunStatusChangedEvent\n"
    '| where ExperimentName == "churn-dev-monitor"\n'
    '| where Status == "Failed"\n'
    "| project TimeGenerated, RunId, ExperimentName, Status"
)


def _rule(query: str) -> dict:
    return {
        "type": "azure-native:monitor:ScheduledQueryRule",
        "name": "churn-dev-retraining-trigger-drift-alert",
        "inputs": {"criteria": {"allOf": [{"query": query}]}},
    }


def test_a_log_alert_naming_a_column_its_table_lacks_is_refused():
    (found,) = vr.check_log_queries([_rule(DEAD_QUERY)])
    assert (found.field, found.severity) == ("criteria.allOf[0].query", "refused")
    assert found.rule.startswith("names ['ExperimentName'], not columns of AmlRunStatusChangedEvent")


def test_a_custom_tables_columns_come_from_the_plan():
    table = {
        "type": "azure-native:operationalinsights:Table",
        "name": "t",
        "inputs": {"tableName": "MlopsDrift_CL", "schema": {"columns": [{"name": "Monitor"}, {"name": "Value"}]}},
    }
    assert vr.check_log_queries([table, _rule('MlopsDrift_CL\n| where Monitor == "m" and Value > 0.2')]) == []
    (found,) = vr.check_log_queries([table, _rule('MlopsDrift_CL\n| where Feature == "x"')])
    assert "names ['Feature']" in found.rule
    (unknown,) = vr.check_log_queries([_rule("NoSuchTable_CL | where A == 1")])
    assert "reads 'NoSuchTable_CL'" in unknown.rule


@pytest.mark.parametrize("stack", list(STACKS))
def test_every_log_alert_of_every_stack_reads_columns_that_exist(stack, tmp_path_factory):
    res = resources(stack, tmp_path_factory)
    assert vr.check_log_queries(res) == []
    rules = sorted(r["inputs"]["ruleName"] for r in res if r["type"] == "azure-native:monitor:ScheduledQueryRule")
    # The kit engine: the drift alert and the missing-check alert; the builtin engine: Event Grid.
    expected = [] if stack == "builtin-monitor" else ["churn-dev-drift", "churn-dev-drift-check-missing"]
    assert rules == expected
