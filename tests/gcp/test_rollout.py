"""Safe rollout on GCP (issue 13): a new version is deployed next to the served one with 0 % of the
traffic, then takes `traffic_split` in steps; each step bakes, the new deployed model's error rate
and p99 latency are read from Cloud Monitoring, and a breach gives the previous split back and
undeploys the new model. The real aiplatform v1 client talks to the local fake Vertex server, which
also answers Cloud Monitoring's `timeSeries.list` (the fake Monitoring answer: `FakeVertex.metrics`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest

from providers.gcp import dynamic
from providers.gcp.dynamic import DeployedModelProvider, RolloutReverted, breach, deployed_model_id, steps
from tests.gcp.fake_vertex import FakeVertex

PROJECT, REGION = "my-ml-project", "europe-west4"
MODEL = f"projects/{PROJECT}/locations/{REGION}/models/churn-dev-churn"
ENDPOINT = f"projects/{PROJECT}/locations/{REGION}/endpoints/1966262384"

CANARY = {
    "strategy": "canary",
    "canary_percent": 10,
    "step_percent": 25,
    "bake_minutes": 10,
    "rollback_on": {"error_rate": 0.05, "p99_latency_ms": None},
}
LINEAR = {**CANARY, "strategy": "linear", "rollback_on": {"error_rate": 0.05, "p99_latency_ms": 500}}


@pytest.fixture()
def vertex():
    fake = FakeVertex()
    fake.url = fake.start()
    yield fake
    fake.stop()


class Waits:
    """Stands in for time.sleep and the clock: each bake advances the clock, nothing waits."""

    def __init__(self) -> None:
        self.at = datetime(2024, 3, 5, 18, 0, tzinfo=UTC)
        self.slept: list[int] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(int(seconds))
        self.at += timedelta(seconds=seconds)

    def now(self) -> datetime:
        return self.at


@pytest.fixture()
def waits(monkeypatch):
    found = Waits()
    monkeypatch.setattr(dynamic.time, "sleep", found.sleep)
    monkeypatch.setattr(dynamic, "_now", found.now)
    return found


def props(vertex: FakeVertex, version: str, rollout: dict | None) -> dict:
    out = {
        "project": PROJECT,
        "region": REGION,
        "endpoint": ENDPOINT,
        "model_id": "churn-dev-churn",
        "version": version,
        "machine_type": "e2-standard-2",
        "accelerator_type": "",
        "accelerator_count": 0,
        "min_replicas": 1.0,
        "max_replicas": 4.0,
        "cpu_target": 70.0,
        "display_name": f"churn-dev-churn-v{version}",
        "api_endpoint": vertex.url,
        "monitoring_url": vertex.url,
    }
    return out | ({"rollout": rollout} if rollout is not None else {})


OLD_ID = "1000000001"


def serving_v1(vertex: FakeVertex) -> None:
    """Version 1 serves all traffic (deployed by an earlier `pulumi up`)."""
    state = vertex.endpoint(ENDPOINT)
    state["deployedModels"].append({"id": OLD_ID, "model": MODEL, "modelVersionId": "1"})
    state["trafficSplit"] = {OLD_ID: 100}
    vertex.requests.clear()


def splits(vertex: FakeVertex) -> list[dict]:
    """Every traffic split the endpoint was given, in order: DeployModel's, then UpdateEndpoint's."""
    wanted = {("POST", f"/v1/{ENDPOINT}:deployModel"), ("PATCH", f"/v1/{ENDPOINT}")}
    return [r.body.get("trafficSplit") for r in vertex.requests if (r.method, r.path) in wanted]


# --- the steps and what a breach is --------------------------------------------------------------


@pytest.mark.parametrize(
    ("rollout", "shares"),
    [
        ({"strategy": "all_at_once"}, [100]),
        ({"strategy": "canary", "canary_percent": 10}, [10, 100]),
        ({"strategy": "linear", "step_percent": 25}, [25, 50, 75, 100]),
        ({"strategy": "linear", "step_percent": 30}, [30, 60, 90, 100]),
        ({"strategy": "linear", "step_percent": 50}, [50, 100]),
    ],
)
def test_the_steps_of_each_strategy(rollout, shares):
    assert steps(rollout) == shares


@pytest.mark.parametrize(
    ("health", "why"),
    [
        ({"error_rate": 0.05, "p99_latency_ms": 500.0}, None),  # at the limits: not a breach
        ({"error_rate": 0.051, "p99_latency_ms": None}, "error rate 0.051 > 0.05"),
        ({"error_rate": None, "p99_latency_ms": 501.0}, "p99 latency 501 ms > 500 ms"),
        ({"error_rate": None, "p99_latency_ms": None}, None),  # no prediction during the bake
    ],
)
def test_what_is_a_breach(health, why):
    assert breach(health, {"error_rate": 0.05, "p99_latency_ms": 500}) == why


# --- the rollout through the provider, against the fake ----------------------------------------


def test_a_healthy_canary_starts_at_zero_takes_its_share_bakes_then_takes_all(vertex, waits):
    serving_v1(vertex)
    new = deployed_model_id(props(vertex, "2", CANARY))
    vertex.metrics[new] = {"predictions": 400, "errors": 4, "p99": 120.0}
    DeployedModelProvider().create(props(vertex, "2", CANARY))
    assert splits(vertex) == [
        {"0": 0, OLD_ID: 100},  # deployed next to version 1 with no traffic
        {OLD_ID: 90, new: 10},
        {new: 100},
    ]
    assert waits.slept == [600]
    assert vertex.endpoints[ENDPOINT]["trafficSplit"] == {new: 100}
    # the bake's metrics: the new deployed model's predictions, errors, then its p99 latency
    reads = [parse_qs(r.query) for r in vertex.requests if r.path == f"/v3/projects/{PROJECT}/timeSeries"]
    assert [q["filter"][0].split('"')[1] for q in reads] == [
        "aiplatform.googleapis.com/prediction/online/prediction_count",
        "aiplatform.googleapis.com/prediction/online/error_count",
        "aiplatform.googleapis.com/prediction/online/prediction_latencies",
    ]
    for query in reads:
        assert f'metric.labels.deployed_model_id="{new}"' in query["filter"][0]
        assert 'resource.labels.endpoint_id="1966262384"' in query["filter"][0]
        assert (query["interval.startTime"], query["interval.endTime"]) == (
            ["2024-03-05T18:00:00Z"],
            ["2024-03-05T18:10:00Z"],
        )
        assert query["aggregation.alignmentPeriod"] == ["600s"]
    assert [q["aggregation.perSeriesAligner"][0] for q in reads] == ["ALIGN_SUM", "ALIGN_SUM", "ALIGN_PERCENTILE_99"]


def test_a_healthy_linear_rollout_walks_every_step(vertex, waits):
    serving_v1(vertex)
    new = deployed_model_id(props(vertex, "2", LINEAR))
    vertex.metrics[new] = {"predictions": 100, "errors": 0, "p99": 200.0}
    DeployedModelProvider().create(props(vertex, "2", LINEAR))
    assert splits(vertex) == [
        {"0": 0, OLD_ID: 100},
        {OLD_ID: 75, new: 25},
        {OLD_ID: 50, new: 50},
        {OLD_ID: 25, new: 75},
        {new: 100},
    ]
    assert waits.slept == [600, 600, 600]


def test_an_error_rate_breach_gives_the_previous_split_back_and_fails_the_update(vertex, waits):
    serving_v1(vertex)
    new = deployed_model_id(props(vertex, "2", CANARY))
    vertex.metrics[new] = {"predictions": 100, "errors": 20, "p99": 120.0}  # 20 % errors
    with pytest.raises(RolloutReverted) as reverted:
        DeployedModelProvider().create(props(vertex, "2", CANARY))
    assert str(reverted.value) == (
        f"rollout of deployed model {new} reverted at 10%: error rate 0.200 > 0.05 over 10 min (100 predictions); "
        f"the previous traffic split {{'{OLD_ID}': 100}} is back and {new} is undeployed"
    )
    assert splits(vertex) == [{"0": 0, OLD_ID: 100}, {OLD_ID: 90, new: 10}, {OLD_ID: 100}]
    state = vertex.endpoints[ENDPOINT]
    assert state["trafficSplit"] == {OLD_ID: 100}
    assert [d["id"] for d in state["deployedModels"]] == [OLD_ID]  # the new model is undeployed
    undeploys = [r.body for r in vertex.requests if r.path.endswith(":undeployModel")]
    assert undeploys == [{"deployedModelId": new}]


def test_a_p99_latency_breach_in_a_linear_rollout_reverts_at_that_step(vertex, waits):
    serving_v1(vertex)
    new = deployed_model_id(props(vertex, "2", LINEAR))
    vertex.metrics[new] = {"predictions": 100, "errors": 0, "p99": 900.0}
    with pytest.raises(RolloutReverted, match=r"at 25%: p99 latency 900 ms > 500 ms over 10 min"):
        DeployedModelProvider().create(props(vertex, "2", LINEAR))
    assert splits(vertex) == [{"0": 0, OLD_ID: 100}, {OLD_ID: 75, new: 25}, {OLD_ID: 100}]
    assert vertex.endpoints[ENDPOINT]["trafficSplit"] == {OLD_ID: 100}
    assert waits.slept == [600]


def test_unreadable_health_reverts_like_a_breach(vertex, waits):
    """No verdict is no licence to go on: a Monitoring error gives the previous split back too."""
    serving_v1(vertex)
    new = deployed_model_id(props(vertex, "2", CANARY))
    vertex.monitoring_denied = True
    with pytest.raises(RolloutReverted) as reverted:
        DeployedModelProvider().create(props(vertex, "2", CANARY))
    assert str(reverted.value) == (
        f"rollout of deployed model {new} reverted at 10%: its health over the bake could not be read (reading "
        f"aiplatform.googleapis.com/prediction/online/prediction_count of deployed model {new} from Cloud "
        'Monitoring: HTTP 403 {"error": {"code": 403, "message": "Permission monitoring.timeSeries.list denied (or '
        'it may not exist).", "status": "PERMISSION_DENIED"}}); '
        f"the previous traffic split {{'{OLD_ID}': 100}} is back and {new} is undeployed"
    )
    assert splits(vertex) == [{"0": 0, OLD_ID: 100}, {OLD_ID: 90, new: 10}, {OLD_ID: 100}]
    assert [d["id"] for d in vertex.endpoints[ENDPOINT]["deployedModels"]] == [OLD_ID]


def test_a_bake_without_predictions_judges_nothing_and_goes_on(vertex, waits):
    serving_v1(vertex)
    new = deployed_model_id(props(vertex, "2", CANARY))
    DeployedModelProvider().create(props(vertex, "2", CANARY))  # Monitoring has no series for it
    assert vertex.endpoints[ENDPOINT]["trafficSplit"] == {new: 100}


@pytest.mark.parametrize("rollout", [None, {"strategy": "all_at_once", "bake_minutes": 10}])
def test_all_at_once_is_unchanged(vertex, waits, rollout):
    """One DeployModel giving the new version 100 %, no UpdateEndpoint, no bake, no metric read."""
    serving_v1(vertex)
    new = deployed_model_id(props(vertex, "2", rollout))
    DeployedModelProvider().create(props(vertex, "2", rollout))
    assert splits(vertex) == [{"0": 100}]
    assert [(r.method, r.path) for r in vertex.requests] == [
        ("GET", f"/v1/{ENDPOINT}"),
        ("POST", f"/v1/{ENDPOINT}:deployModel"),
        ("GET", f"/v1/{ENDPOINT}"),
    ]
    assert waits.slept == []
    assert vertex.endpoints[ENDPOINT]["trafficSplit"] == {OLD_ID: 0, new: 100}


def test_the_first_version_takes_all_traffic_at_once_even_with_a_canary(vertex, waits):
    new = deployed_model_id(props(vertex, "1", CANARY))
    DeployedModelProvider().create(props(vertex, "1", CANARY))
    assert splits(vertex) == [{"0": 100}] and waits.slept == []
    assert vertex.endpoints[ENDPOINT]["trafficSplit"] == {new: 100}


def test_a_create_interrupted_mid_rollout_adopts_the_model_and_rolls_out_again(vertex, waits):
    """`pulumi up` died during a bake ({v1: 90, v2: 10}): the next one adopts the deployed model
    (no second DeployModel) and walks the steps again from the first."""
    serving_v1(vertex)
    new = deployed_model_id(props(vertex, "2", CANARY))
    state = vertex.endpoints[ENDPOINT]
    state["deployedModels"].append({"id": new, "model": MODEL, "modelVersionId": "2", "dedicatedResources": {}})
    state["trafficSplit"] = {OLD_ID: 90, new: 10}
    vertex.metrics[new] = {"predictions": 100, "errors": 20}
    provider = DeployedModelProvider()
    with pytest.raises(RolloutReverted, match=rf"the previous traffic split {{'{OLD_ID}': 100}} is back"):
        provider.create(props(vertex, "2", CANARY))
    assert not [r for r in vertex.requests if r.path.endswith(":deployModel")]
    assert state["trafficSplit"] == {OLD_ID: 100}


def test_a_rollout_change_alone_changes_nothing_live(vertex):
    olds = props(vertex, "2", CANARY) | {"deployed_model_id": "1234567890"}
    diff = DeployedModelProvider().diff("id", olds, props(vertex, "2", LINEAR))
    assert not diff.changes and diff.replaces == []


# --- the request bodies, held against the installed aiplatform_v1 protos -----------------------


def test_every_rollout_request_is_what_the_protos_accept(vertex, waits):
    from providers.gcp import vendor_rules as vr

    serving_v1(vertex)
    new = deployed_model_id(props(vertex, "2", LINEAR))
    vertex.metrics[new] = {"predictions": 100, "errors": 0, "p99": 900.0}  # walks to the revert
    with pytest.raises(RolloutReverted):
        DeployedModelProvider().create(props(vertex, "2", LINEAR))
    checked = 0
    for r in vertex.requests:
        if r.method == "POST" and r.path.endswith(":deployModel"):
            request = {"endpoint": ENDPOINT, **r.body}
            assert vr.check_request("DeployModelRequest", request) == [], request
            checked += 1
        elif r.method == "PATCH":
            mask = parse_qs(r.query)["updateMask"]
            assert mask == ["trafficSplit"]
            request = {"endpoint": r.body, "updateMask": mask[0]}
            assert vr.check_request("UpdateEndpointRequest", request) == [], request
            checked += 1
        elif r.path.endswith(":undeployModel"):
            assert vr.check_request("UndeployModelRequest", {"endpoint": ENDPOINT, **r.body}) == []
            checked += 1
    assert checked == 4  # DeployModel, two UpdateEndpoint (25 %, back to v1), UndeployModel


def test_the_update_endpoint_rule_catches_a_split_that_does_not_add_up():
    """The class: any split the rollout sends that the API refuses (proto Endpoint.traffic_split:
    the percentages add up to 100) is a violation."""
    from providers.gcp import vendor_rules as vr

    body = {"endpoint": {"trafficSplit": {"1": 90, "2": 20}}, "updateMask": "trafficSplit"}
    assert [(v.field, v.rule) for v in vr.check_request("UpdateEndpointRequest", body)] == [
        ("endpoint.trafficSplit", "traffic percentages add up to 110, not 100")
    ]
    misnamed = {"endpoint": {"trafficSplits": {"1": 100}}, "updateMask": "trafficSplit"}
    assert [v.field for v in vr.check_request("UpdateEndpointRequest", misnamed)] == ["endpoint.trafficSplits"]
