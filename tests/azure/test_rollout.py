"""Safe rollout on Azure (issue 13): the traffic resource moves a new deployment in by steps, bakes,
reads the new deployment's errors and p99 latency from Azure Monitor, and reverts on a breach. Run
with the real clients (azure-ai-ml's for the traffic, ARM's metrics REST) against the fake ARM."""

from __future__ import annotations

import urllib.parse
from datetime import UTC, datetime, timedelta

import pytest

from providers.azure.dynamic import RolloutReverted, TrafficProvider, breach, roll_out, steps
from tests.azure.fake_arm import FakeArm

CANARY = {
    "strategy": "canary",
    "canary_percent": 10,
    "step_percent": 25,
    "bake_minutes": 10,
    "rollback_on": {"error_rate": 0.05, "p99_latency_ms": None},
}
LINEAR = {**CANARY, "strategy": "linear", "rollback_on": {"error_rate": 0.05, "p99_latency_ms": 500}}


@pytest.fixture()
def arm(monkeypatch):
    import azure.core.pipeline.policies._authentication as auth

    monkeypatch.setattr(auth, "_enforce_https", lambda request: request.context.options.pop("enforce_https", None))
    with FakeArm() as fake:
        yield fake


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


def _served(arm: FakeArm, endpoint: str) -> list[dict]:
    return [
        body["properties"]["traffic"]
        for method, path, body in arm.requests
        if method == "PUT" and f"/onlineEndpoints/{endpoint}?" in path
    ]


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


def _endpoint(arm: FakeArm) -> str:
    endpoint_id = arm.add_endpoint("churn-dev-ep", deployments={"model-v1", "model-v2"})
    arm.endpoints["churn-dev-ep"]["properties"]["traffic"] = {"model-v1": 100}
    return endpoint_id


def test_a_healthy_canary_takes_its_share_bakes_then_takes_all(arm):
    endpoint_id = _endpoint(arm)
    arm.metrics["model-v2"] = {"requests": {"2xx": 400, "4xx": 30, "5xx": 4}, "p99": 120.0}
    waits = Waits()
    routed = roll_out(endpoint_id, {"model-v2": 100}, CANARY, arm.url, sleep=waits.sleep, now=waits.now)
    assert routed == {"model-v2": 100}
    assert _served(arm, "churn-dev-ep") == [{"model-v1": 90, "model-v2": 10}, {"model-v2": 100}]
    assert waits.slept == [600]
    # The metrics read: the new deployment's requests by status class, then its p99, over the bake.
    reads = [p for m, p, _ in arm.requests if m == "GET" and "/providers/Microsoft.Insights/metrics" in p]
    assert len(reads) == 2
    assert "metricnames=RequestsPerMinute" in reads[0] and "deployment%20eq%20'model-v2'" in reads[0]
    # What Azure Monitor decodes from the query string is the bake (an unencoded `+` would be a space).
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(reads[0]).query)
    assert query["timespan"] == ["2024-03-05T18:00:00+00:00/2024-03-05T18:10:00+00:00"]
    assert "metricnames=RequestLatency_P99" in reads[1]


def test_an_error_rate_breach_sends_all_traffic_back(arm):
    endpoint_id = _endpoint(arm)
    arm.metrics["model-v2"] = {"requests": {"2xx": 80, "5xx": 20}, "p99": 120.0}  # 20% server errors
    waits = Waits()
    with pytest.raises(RolloutReverted) as reverted:
        roll_out(endpoint_id, {"model-v2": 100}, CANARY, arm.url, sleep=waits.sleep, now=waits.now)
    assert str(reverted.value) == (
        "rollout of model-v2 reverted at 10%: error rate 0.200 > 0.05 over 10 min (100 requests); "
        "all traffic is back on model-v1"
    )
    assert _served(arm, "churn-dev-ep") == [{"model-v1": 90, "model-v2": 10}, {"model-v1": 100}]
    assert arm.endpoints["churn-dev-ep"]["properties"]["traffic"] == {"model-v1": 100}


def test_health_that_cannot_be_read_sends_all_traffic_back(arm, monkeypatch):
    """A rollout never leaves traffic on a version whose health nobody could read."""
    import providers.azure.dynamic as dynamic

    def unreadable(*args, **kwargs):
        raise RuntimeError("Azure Monitor answered 400")

    monkeypatch.setattr(dynamic, "deployment_health", unreadable)
    endpoint_id = _endpoint(arm)
    waits = Waits()
    with pytest.raises(RolloutReverted) as reverted:
        roll_out(endpoint_id, {"model-v2": 100}, CANARY, arm.url, sleep=waits.sleep, now=waits.now)
    assert str(reverted.value) == (
        "rollout of model-v2 reverted at 10%: its health could not be read (Azure Monitor answered 400); "
        "all traffic is back on model-v1"
    )
    assert _served(arm, "churn-dev-ep") == [{"model-v1": 90, "model-v2": 10}, {"model-v1": 100}]


def test_a_latency_breach_in_a_linear_rollout_reverts_at_that_step(arm):
    endpoint_id = _endpoint(arm)
    arm.metrics["model-v2"] = {"requests": {"2xx": 100}, "p99": 900.0}
    waits = Waits()
    with pytest.raises(RolloutReverted, match=r"at 25%: p99 latency 900 ms > 500 ms"):
        roll_out(endpoint_id, {"model-v2": 100}, LINEAR, arm.url, sleep=waits.sleep, now=waits.now)
    assert _served(arm, "churn-dev-ep") == [{"model-v1": 75, "model-v2": 25}, {"model-v1": 100}]


def test_a_healthy_linear_rollout_walks_every_step(arm):
    endpoint_id = _endpoint(arm)
    arm.metrics["model-v2"] = {"requests": {"2xx": 100}, "p99": 200.0}
    waits = Waits()
    roll_out(endpoint_id, {"model-v2": 100}, LINEAR, arm.url, sleep=waits.sleep, now=waits.now)
    assert _served(arm, "churn-dev-ep") == [
        {"model-v1": 75, "model-v2": 25},
        {"model-v1": 50, "model-v2": 50},
        {"model-v1": 25, "model-v2": 75},
        {"model-v2": 100},
    ]
    assert waits.slept == [600, 600, 600]


def test_the_first_version_takes_all_traffic_at_once(arm):
    endpoint_id = arm.add_endpoint("churn-dev-ep", deployments={"model-v1"})
    waits = Waits()
    roll_out(endpoint_id, {"model-v1": 100}, CANARY, arm.url, sleep=waits.sleep, now=waits.now)
    assert _served(arm, "churn-dev-ep") == [{"model-v1": 100}] and waits.slept == []


@pytest.mark.parametrize(
    ("health", "why"),
    [
        ({"error_rate": 0.05, "p99_latency_ms": 499.0}, None),  # at the limits: not a breach
        ({"error_rate": 0.051, "p99_latency_ms": None}, "error rate 0.051 > 0.05"),
        ({"error_rate": None, "p99_latency_ms": 501.0}, "p99 latency 501 ms > 500 ms"),
        ({"error_rate": None, "p99_latency_ms": None}, None),  # no request during the bake
    ],
)
def test_what_is_a_breach(health, why):
    assert breach(health, {"error_rate": 0.05, "p99_latency_ms": 500}) == why


def test_the_provider_update_rolls_out_and_a_breach_fails_the_update(arm, monkeypatch):
    import providers.azure.dynamic as dynamic

    endpoint_id = _endpoint(arm)
    arm.metrics["model-v2"] = {"requests": {"2xx": 50, "5xx": 50}}
    monkeypatch.setattr(dynamic.time, "sleep", lambda seconds: None)
    olds = {"endpoint_id": endpoint_id, "traffic": {"model-v1": 100}, "arm_url": arm.url, "rollout": CANARY}
    news = {**olds, "traffic": {"model-v2": 100.0}}
    assert TrafficProvider().diff("id", olds, news).changes
    with pytest.raises(RolloutReverted):
        TrafficProvider().update("id", olds, news)
    assert arm.endpoints["churn-dev-ep"]["properties"]["traffic"] == {"model-v1": 100}


def test_the_shadow_gets_its_mirrored_share(arm):
    from providers.azure.dynamic import set_traffic

    endpoint_id = arm.add_endpoint("churn-dev-ep", deployments={"model-v1", "model-v3"})
    set_traffic(endpoint_id, {"model-v1": 100}, arm.url, mirror={"model-v3": 20.0})
    props = arm.endpoints["churn-dev-ep"]["properties"]
    assert (props["traffic"], props["mirrorTraffic"]) == ({"model-v1": 100}, {"model-v3": 20})
