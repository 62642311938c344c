"""The dynamic providers (providers/azure/dynamic.py) against a local fake ARM, through the real
clients: azure-ai-ml's MLClient for the endpoint traffic, plain ARM requests for the patches.

The fake, like Azure, refuses traffic to a deployment that does not exist and answers writes with
an asynchronous operation; it also refuses a traffic value that is not an integer (the REST model
types it int32).
"""

from __future__ import annotations

import pytest

from providers.azure import dynamic
from providers.azure.dynamic import (
    ArmPatchProvider,
    NetworkProvider,
    TrafficProvider,
    read_traffic,
    set_traffic,
)
from tests.azure.fake_arm import WS, FakeArm, ml_client

REGISTRY = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acr"


@pytest.fixture()
def arm(monkeypatch):
    # azure-core refuses bearer tokens over plain http; the fake has no TLS. Test-only relaxation.
    import azure.core.pipeline.policies._authentication as auth

    monkeypatch.setattr(auth, "_enforce_https", lambda request: request.context.options.pop("enforce_https", None))
    with FakeArm() as fake:
        yield fake


def _puts(arm: FakeArm, endpoint: str) -> list[tuple[str, dict]]:
    return [
        (path, body)
        for method, path, body in arm.requests
        if method == "PUT" and f"/onlineEndpoints/{endpoint}?" in path
    ]


def test_traffic_to_a_missing_deployment_is_refused(arm):
    endpoint_id = arm.add_endpoint("churn-dev-ep")
    with pytest.raises(Exception, match=r"Deployments \['model-v1'\] do not exist"):
        set_traffic(endpoint_id, {"model-v1": 100}, arm.url)


def test_create_routes_traffic_with_azure_ai_mls_own_body(arm):
    endpoint_id = arm.add_endpoint("churn-dev-ep", deployments={"model-v1"})
    # Pulumi hands a dynamic provider its numbers as floats: the body must carry integers.
    props = {"endpoint_id": endpoint_id, "traffic": {"model-v1": 100.0}, "arm_url": arm.url}
    result = TrafficProvider().create(props)
    assert result.id == endpoint_id + "/traffic"
    assert result.outs["traffic"] == {"model-v1": 100}
    assert arm.endpoints["churn-dev-ep"]["properties"]["traffic"] == {"model-v1": 100}
    assert arm.operations == [0]  # the async operation was polled until it succeeded
    ((path, body),) = _puts(arm, "churn-dev-ep")
    assert path == endpoint_id + "?api-version=2025-12-01"  # what pulumi_azure_native uses too
    assert body["properties"]["traffic"] == {"model-v1": 100}
    assert isinstance(body["properties"]["traffic"]["model-v1"], int)
    # azure-ai-ml's entity keeps what the endpoint is: auth mode, network access, identity, tags
    assert body["properties"]["authMode"] == "AADToken"
    assert body["properties"]["publicNetworkAccess"] == "Disabled"
    uai = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id"
    assert body["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {uai: {}}}
    assert body["tags"] == {"mlops-platform": "churn"}
    assert "scoringUri" not in body["properties"] and "provisioningState" not in body["properties"]
    # and Microsoft's client reads back what was routed
    assert ml_client(arm.url).online_endpoints.get("churn-dev-ep").traffic == {"model-v1": 100}


def test_read_sees_a_manual_change_and_the_next_up_restores_it(arm):
    endpoint_id = arm.add_endpoint("churn-dev-ep", deployments={"model-v1", "model-v2"})
    provider = TrafficProvider()
    declared = {"endpoint_id": endpoint_id, "traffic": {"model-v1": 100}, "arm_url": arm.url}
    provider.create(declared)
    set_traffic(endpoint_id, {"model-v2": 100}, arm.url)  # someone moved it by hand

    refreshed = provider.read(endpoint_id + "/traffic", declared)
    assert refreshed.id == endpoint_id + "/traffic"
    assert refreshed.outs["traffic"] == {"model-v2": 100}
    assert refreshed.inputs["traffic"] == {"model-v2": 100}  # recorded, so the next diff sees it

    diff = provider.diff(refreshed.id, refreshed.inputs, declared)
    assert diff.changes and not diff.replaces
    provider.update(refreshed.id, refreshed.inputs, declared)
    assert read_traffic(endpoint_id, arm.url) == {"model-v1": 100}


def test_read_of_a_deleted_endpoint_reports_it_gone(arm):
    endpoint_id = arm.add_endpoint("churn-dev-ep", deployments={"model-v1"})
    props = {"endpoint_id": endpoint_id, "traffic": {"model-v1": 100}, "arm_url": arm.url}
    del arm.endpoints["churn-dev-ep"]
    assert TrafficProvider().read(endpoint_id + "/traffic", props).id is None


def test_version_change_moves_traffic_then_delete_clears_it(arm):
    endpoint_id = arm.add_endpoint("churn-dev-ep", deployments={"model-v1", "model-v2"})
    provider = TrafficProvider()
    old = {"endpoint_id": endpoint_id, "traffic": {"model-v1": 100}, "arm_url": arm.url}
    new = {**old, "traffic": {"model-v2": 100}}
    provider.create(old)
    diff = provider.diff("x", old, new)
    assert diff.changes and not diff.replaces
    assert not provider.diff("x", old, {**old, "traffic": {"model-v1": 100.0}}).changes  # float == int
    provider.update("x", old, new)
    assert arm.endpoints["churn-dev-ep"]["properties"]["traffic"] == {"model-v2": 100}
    provider.delete("x", new)
    assert arm.endpoints["churn-dev-ep"]["properties"]["traffic"] == {}
    # a replaced endpoint is a new resource; a deleted one needs nothing
    assert provider.diff("x", old, {**old, "endpoint_id": endpoint_id + "2"}).replaces == ["endpoint_id"]
    provider.delete("x", {**old, "endpoint_id": endpoint_id + "-gone"})


def test_arm_patch_sets_the_field_and_puts_it_back_when_a_put_dropped_it(arm):
    arm.add_resource(
        REGISTRY,
        {
            "location": "westeurope",
            "properties": {"encryption": {"status": "enabled", "keyVaultProperties": {"identity": "uai-client"}}},
        },
    )
    provider = ArmPatchProvider()
    props = {
        "resource_id": REGISTRY,
        "api_version": "2023-01-01-preview",
        "patch": {"properties": {"encryption": {"keyVaultProperties": {"identity": "system"}}}},
        "arm_url": arm.url,
    }
    created = provider.create(props)
    assert created.outs["observed"] == {"properties.encryption.keyVaultProperties.identity": "system"}
    method, path, body = [r for r in arm.requests if r[0] == "PATCH"][0]
    assert path == REGISTRY + "?api-version=2023-01-01-preview" and body == props["patch"]
    resource = arm.resources[REGISTRY.lower()]
    assert resource["properties"]["encryption"] == {"status": "enabled", "keyVaultProperties": {"identity": "system"}}

    assert not provider.diff(created.id, props, props).changes  # live value is what the patch says
    resource["properties"]["encryption"]["keyVaultProperties"]["identity"] = "uai-client"  # Pulumi's PUT
    assert provider.diff(created.id, props, props).changes
    assert provider.read(created.id, props).outs["observed"] == {
        "properties.encryption.keyVaultProperties.identity": "uai-client"
    }
    provider.update(created.id, props, props)
    assert resource["properties"]["encryption"]["keyVaultProperties"]["identity"] == "system"
    provider.delete(created.id, props)  # nothing to undo
    assert resource["properties"]["encryption"]["keyVaultProperties"]["identity"] == "system"


def test_managed_network_is_provisioned_with_spark_and_reprovisioned_if_it_is_not(arm):
    provider = NetworkProvider()
    props = {"workspace_id": WS, "include_spark": True, "arm_url": arm.url}
    created = provider.create(props)
    assert created.outs["status"] == {"status": "Active", "sparkReady": True}
    method, path, body = [r for r in arm.requests if r[0] == "POST"][0]
    assert path == WS + "/provisionManagedNetwork?api-version=2025-12-01" and body == {"includeSpark": True}
    assert not provider.diff(created.id, props, props).changes
    arm.workspace["properties"]["managedNetwork"]["status"] = {"status": "Inactive", "sparkReady": False}
    assert provider.diff(created.id, props, props).changes
    assert provider.read(created.id, props).outs["status"] == {"status": "Inactive", "sparkReady": False}


def test_the_api_version_is_pulumi_azure_natives():
    from providers.azure.vendor_rules import pulumi_api_version

    assert pulumi_api_version("azure-native:machinelearningservices:OnlineEndpoint") == dynamic.ML_API_VERSION
