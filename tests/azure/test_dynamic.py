"""EndpointTraffic (providers/azure/dynamic.py) against a local fake ARM that, like Azure, refuses
traffic to a deployment that does not exist."""

from __future__ import annotations

import pytest

from providers.azure.dynamic import TrafficProvider, endpoint_body, set_traffic
from tests.azure.fake_arm import FakeArm


@pytest.fixture()
def arm():
    with FakeArm() as fake:
        yield fake


def test_traffic_to_a_missing_deployment_is_refused(arm):
    endpoint_id = arm.add_endpoint("churn-dev-ep")
    with pytest.raises(Exception, match=r"HTTP 400: Deployments \['v1'\] do not exist"):
        set_traffic(endpoint_id, {"v1": 100}, arm.url)


def test_create_routes_traffic_once_the_deployment_exists(arm):
    endpoint_id = arm.add_endpoint("churn-dev-ep", deployments={"v1"})
    props = {"endpoint_id": endpoint_id, "traffic": {"v1": 100}, "arm_url": arm.url}
    result = TrafficProvider().create(props)
    assert result.id == endpoint_id + "/traffic"
    assert arm.endpoints["churn-dev-ep"]["properties"]["traffic"] == {"v1": 100}
    assert arm.operations == [0]  # the async operation was polled until it succeeded
    method, path, body = next(r for r in arm.requests if r[0] == "PUT")
    assert path == endpoint_id + "?api-version=2024-10-01"
    # only writable fields go back; the rest of the endpoint is left as it was
    assert "scoringUri" not in body["properties"] and "provisioningState" not in body["properties"]
    assert body["properties"]["authMode"] == "AADToken"
    assert body["properties"]["publicNetworkAccess"] == "Disabled"
    assert body["identity"] == {"type": "UserAssigned", "userAssignedIdentities": {"/subscriptions/sub/id": {}}}


def test_version_change_moves_traffic_then_delete_clears_it(arm):
    endpoint_id = arm.add_endpoint("churn-dev-ep", deployments={"v1", "v2"})
    provider = TrafficProvider()
    old = {"endpoint_id": endpoint_id, "traffic": {"v1": 100}, "arm_url": arm.url}
    new = {**old, "traffic": {"v2": 100}}
    provider.create(old)
    diff = provider.diff("x", old, new)
    assert diff.changes and not diff.replaces
    provider.update("x", old, new)
    assert arm.endpoints["churn-dev-ep"]["properties"]["traffic"] == {"v2": 100}
    provider.delete("x", new)
    assert arm.endpoints["churn-dev-ep"]["properties"]["traffic"] == {}
    # a replaced endpoint is a new resource; a deleted one needs nothing
    assert provider.diff("x", old, {**old, "endpoint_id": endpoint_id + "2"}).replaces == ["endpoint_id"]
    provider.delete("x", {**old, "endpoint_id": endpoint_id + "-gone"})


def test_endpoint_body_keeps_location_kind_and_tags():
    body = endpoint_body(
        {"location": "westeurope", "kind": "Managed", "tags": {"a": "b"}, "properties": {"authMode": "Key"}},
        {"v3": 100},
    )
    assert body == {
        "location": "westeurope",
        "kind": "Managed",
        "tags": {"a": "b"},
        "properties": {"authMode": "Key", "traffic": {"v3": 100}},
    }
