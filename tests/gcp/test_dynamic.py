"""The dynamic providers call Vertex AI with the real aiplatform clients, against a local fake."""

from __future__ import annotations

import pytest

from providers.gcp.dynamic import (
    CPU_METRIC,
    ApprovalProvider,
    DeployedModelProvider,
    main,
)
from tests.gcp.fake_vertex import FakeVertex

PROJECT, REGION = "my-ml-project", "europe-west4"
MODEL = f"projects/{PROJECT}/locations/{REGION}/models/churn-dev-churn"
ENDPOINT = f"projects/{PROJECT}/locations/{REGION}/endpoints/1966262384"


@pytest.fixture()
def vertex():
    fake = FakeVertex()
    url = fake.start()
    fake.url = url
    yield fake
    fake.stop()


def approval_props(vertex: FakeVertex, mode: str, version: str = "1") -> dict:
    return {
        "project": PROJECT,
        "region": REGION,
        "model_id": "churn-dev-churn",
        "version": version,
        "mode": mode,
        "api_endpoint": vertex.url,
    }


def deploy_props(vertex: FakeVertex, **overrides) -> dict:
    props = {
        "project": PROJECT,
        "region": REGION,
        "endpoint": ENDPOINT,
        "model_id": "churn-dev-churn",
        "version": "1",
        "machine_type": "n1-standard-2",
        "accelerator_type": "",
        "accelerator_count": 0,
        "min_replicas": 1.0,
        "max_replicas": 4.0,
        "cpu_target": 70.0,
        "service_account": "churn-dev-ml@my-ml-project.iam.gserviceaccount.com",
        "display_name": "churn-dev-churn-v1",
        "api_endpoint": vertex.url,
    }
    return props | overrides


def calls(vertex: FakeVertex) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in vertex.requests]


# --- registry approval --------------------------------------------------------------------------


def test_manual_approval_fails_until_a_person_approves(vertex):
    vertex.models[f"{MODEL}@1"] = {"versionAliases": [], "labels": {"approval": "pending"}}
    provider = ApprovalProvider()
    with pytest.raises(Exception, match=r"not approved .* python -m providers.gcp.dynamic approve"):
        provider.create(approval_props(vertex, "manual"))
    # only read: a manual gate never approves by itself
    assert calls(vertex) == [("GET", f"/v1/{MODEL}@1")]

    vertex.requests.clear()
    argv = [
        "approve",
        "--project",
        PROJECT,
        "--region",
        REGION,
        "--model",
        "churn-dev-churn",
        "--version",
        "1",
    ]
    assert main([*argv, "--api-endpoint", vertex.url]) == 0
    assert calls(vertex) == [
        ("GET", f"/v1/{MODEL}@approved"),  # nobody holds the alias yet (404)
        ("POST", f"/v1/{MODEL}@1:mergeVersionAliases"),
        ("GET", f"/v1/{MODEL}@1"),
        ("PATCH", f"/v1/{MODEL}@1"),
        ("GET", f"/v1/{MODEL}@1"),  # the status the command prints
    ]
    assert vertex.requests[1].body == {"versionAliases": ["approved"]}
    assert "updateMask=labels" in vertex.requests[3].query
    assert vertex.requests[3].body["labels"] == {"approval": "approved"}

    result = provider.create(approval_props(vertex, "manual"))
    assert result.id == f"{MODEL}@1"
    assert result.outs["approved"] is True


def test_approving_a_new_version_moves_the_alias(vertex):
    vertex.models[f"{MODEL}@1"] = {
        "versionAliases": ["default", "approved"],
        "labels": {"approval": "approved"},
    }
    vertex.models[f"{MODEL}@2"] = {"versionAliases": [], "labels": {"approval": "pending"}}
    argv = [
        "approve",
        "--project",
        PROJECT,
        "--region",
        REGION,
        "--model",
        "churn-dev-churn",
        "--version",
        "2",
    ]
    assert main([*argv, "--api-endpoint", vertex.url]) == 0
    merges = [(r.path, r.body) for r in vertex.requests if r.path.endswith(":mergeVersionAliases")]
    assert merges == [
        (f"/v1/{MODEL}@1:mergeVersionAliases", {"versionAliases": ["-approved"]}),
        (f"/v1/{MODEL}@2:mergeVersionAliases", {"versionAliases": ["approved"]}),
    ]
    assert vertex.models[f"{MODEL}@1"]["versionAliases"] == ["default"]
    # version 1 stays approved (deployable); the alias marks the latest approval
    assert vertex.models[f"{MODEL}@1"]["labels"]["approval"] == "approved"
    assert vertex.models[f"{MODEL}@2"] == {"versionAliases": ["approved"], "labels": {"approval": "approved"}}


def test_missing_version_is_a_clear_error(vertex):
    with pytest.raises(Exception, match="does not exist: the training pipeline registers versions"):
        ApprovalProvider().create(approval_props(vertex, "auto", "9"))
    assert calls(vertex) == [("GET", f"/v1/{MODEL}@9")]


def test_manual_delete_leaves_a_persons_approval(vertex):
    vertex.models[f"{MODEL}@1"] = {"versionAliases": ["approved"], "labels": {"approval": "approved"}}
    ApprovalProvider().delete(f"{MODEL}@1", approval_props(vertex, "manual"))
    assert vertex.requests == []
    assert vertex.models[f"{MODEL}@1"]["versionAliases"] == ["approved"]


def test_auto_approval_sets_and_revokes(vertex):
    vertex.models[f"{MODEL}@2"] = {
        "versionAliases": [],
        "labels": {"approval": "pending", "managed-by": "mlops"},
    }
    provider = ApprovalProvider()
    result = provider.create(approval_props(vertex, "auto", "2"))
    assert result.id == f"{MODEL}@2"
    assert ("POST", f"/v1/{MODEL}@2:mergeVersionAliases") in calls(vertex)
    assert vertex.models[f"{MODEL}@2"] == {
        "versionAliases": ["approved"],
        "labels": {"approval": "approved", "managed-by": "mlops"},
    }

    vertex.requests.clear()
    provider.delete(result.id, result.outs)
    merge = next(r for r in vertex.requests if r.method == "POST")
    assert (merge.path, merge.body) == (
        f"/v1/{MODEL}@2:mergeVersionAliases",
        {"versionAliases": ["-approved"]},
    )
    assert vertex.models[f"{MODEL}@2"]["versionAliases"] == []
    assert vertex.models[f"{MODEL}@2"]["labels"]["approval"] == "revoked"


def test_approval_diff_replaces_on_a_new_version_and_updates_on_mode(vertex):
    provider = ApprovalProvider()
    old = approval_props(vertex, "manual", "1")
    new_version = provider.diff("x", old, approval_props(vertex, "manual", "2"))
    assert new_version.changes and new_version.replaces == ["version"]
    vertex.models[f"{MODEL}@1"] = {"versionAliases": [], "labels": {"approval": "pending"}}
    mode = provider.diff("x", old, approval_props(vertex, "auto", "1"))
    assert mode.changes and not mode.replaces
    updated = provider.update("x", old, approval_props(vertex, "auto", "1"))
    assert updated.outs["approved"] is True
    assert vertex.models[f"{MODEL}@1"]["versionAliases"] == ["approved"]


# --- deployed model -----------------------------------------------------------------------------


def test_deploy_model_request(vertex):
    result = DeployedModelProvider().create(deploy_props(vertex))
    request = vertex.requests[0]
    assert (request.method, request.path) == ("POST", f"/v1/{ENDPOINT}:deployModel")
    assert request.body["trafficSplit"] == {"0": 100}
    deployed = request.body["deployedModel"]
    assert deployed["model"] == f"{MODEL}@1"
    assert deployed["serviceAccount"] == "churn-dev-ml@my-ml-project.iam.gserviceaccount.com"
    resources = deployed["dedicatedResources"]
    assert resources["minReplicaCount"] == 1
    assert resources["maxReplicaCount"] == 4
    assert resources["machineSpec"] == {"machineType": "n1-standard-2"}
    assert resources["autoscalingMetricSpecs"] == [{"metricName": CPU_METRIC, "target": 70}]
    assert result.outs["deployed_model_id"] == "4243"
    assert result.id == f"{ENDPOINT}/deployedModels/4243"


def test_deploy_gpu_sets_the_accelerator(vertex):
    DeployedModelProvider().create(
        deploy_props(vertex, machine_type="n1-standard-8", accelerator_type="NVIDIA_TESLA_T4", accelerator_count=1.0)
    )
    from google.cloud.aiplatform_v1 import AcceleratorType

    spec = vertex.requests[0].body["deployedModel"]["dedicatedResources"]["machineSpec"]
    # The REST transport sends enums as their numbers.
    assert spec == {
        "machineType": "n1-standard-8",
        "acceleratorType": AcceleratorType.NVIDIA_TESLA_T4.value,
        "acceleratorCount": 1,
    }


def test_scaling_change_mutates_in_place(vertex):
    provider = DeployedModelProvider()
    olds = provider.create(deploy_props(vertex)).outs
    news = deploy_props(vertex, min_replicas=2.0, max_replicas=6.0, cpu_target=60.0)
    diff = provider.diff("x", olds, news)
    assert diff.changes and diff.replaces == []
    vertex.requests.clear()
    result = provider.update("x", olds, news)
    request = vertex.requests[0]
    assert (request.method, request.path) == ("POST", f"/v1/{ENDPOINT}:mutateDeployedModel")
    assert request.body["deployedModel"]["id"] == olds["deployed_model_id"]
    resources = request.body["deployedModel"]["dedicatedResources"]
    assert (resources["minReplicaCount"], resources["maxReplicaCount"]) == (2, 6)
    assert resources["autoscalingMetricSpecs"] == [{"metricName": CPU_METRIC, "target": 60}]
    assert set(request.body["updateMask"].split(",")) == {
        "dedicatedResources.minReplicaCount",
        "dedicatedResources.maxReplicaCount",
        "dedicatedResources.autoscalingMetricSpecs",
    }
    assert result.outs["deployed_model_id"] == olds["deployed_model_id"]


def test_new_version_replaces_create_before_delete(vertex):
    provider = DeployedModelProvider()
    diff = provider.diff("x", deploy_props(vertex), deploy_props(vertex, version="2"))
    assert diff.replaces == ["version"]
    assert diff.delete_before_replace is False


def test_delete_undeploys(vertex):
    provider = DeployedModelProvider()
    result = provider.create(deploy_props(vertex))
    vertex.requests.clear()
    provider.delete(result.id, result.outs)
    request = vertex.requests[0]
    assert (request.method, request.path) == ("POST", f"/v1/{ENDPOINT}:undeployModel")
    assert request.body == {"deployedModelId": result.outs["deployed_model_id"]}


def test_a_replaced_endpoint_replaces_the_deployment(vertex):
    """The endpoint path comes from the AiEndpoint resource: a new endpoint means a new deployment."""
    olds = deploy_props(vertex)
    news = deploy_props(vertex, endpoint=ENDPOINT.replace("1966262384", "2000000001"))
    diff = DeployedModelProvider().diff("id", olds, news)
    assert diff.changes and diff.replaces == ["endpoint"]
    assert diff.delete_before_replace is False
    created = DeployedModelProvider().create(news)
    assert created.id.startswith(news["endpoint"] + "/deployedModels/")
    assert calls(vertex)[-1][1].startswith(f"/v1/{news['endpoint']}:deployModel")
