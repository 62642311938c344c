"""One drift episode replayed against the retraining wiring the plan declares: the Logic App's own
definition, run by a small interpreter of its expressions, against the fake ARM server's jobs.
Exactly one retraining starts; alerts while it runs, and within the cooldown after it, start none."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from infra.config import load_stack_file
from infra.plan import plan
from tests.azure.fake_arm import WS, FakeArm
from tests.azure.logic_interpreter import Run

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 3, 5, 18, 5, tzinfo=UTC)
ALERT = {"schemaId": "azureMonitorCommonAlertSchema", "data": {"essentials": {"alertRule": "churn-dev-drift"}}}


@pytest.fixture(scope="module")
def definition():
    planned = plan(load_stack_file(ROOT / "Pulumi.azure-dev.yaml"))
    workflow = planned.one("azure-native:logic:Workflow").inputs["definition"]
    return workflow, planned.outputs["model_registry"].split("/models/")[0]


def _with_fake_workspace(definition: dict, planned_workspace_id: str) -> dict:
    import json

    return json.loads(json.dumps(definition).replace(planned_workspace_id, WS))


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _alert(arm: FakeArm, definition: dict, clock: Clock, body=ALERT) -> Run:
    return Run(definition, arm.url, clock).run(body)


def _submitted(run: Run) -> list:
    return [(m, u, b) for m, u, b in run.requests if m == "PUT"]


def test_one_drift_episode_starts_exactly_one_retraining(definition):
    workflow, workspace = definition
    assert workspace.endswith("/workspaces/churn-dev-ws")
    flow = _with_fake_workspace(workflow, workspace)
    clock = Clock(T0)
    with FakeArm() as arm:
        arm.now = clock
        # History: three old drift retrainings (long finished) and a person's run in flight; the
        # listing spans several pages (the fake pages by two).
        for i, (trigger, status) in enumerate([("drift", "Completed"), ("drift", "Failed"), ("drift", "Canceled")]):
            arm.jobs[f"old-{i}"] = {
                "name": f"old-{i}",
                "properties": {"tags": {"trigger": trigger}, "status": status},
                "systemData": {"createdAt": (T0 - timedelta(days=10 + i)).isoformat()},
            }
        arm.jobs["by-hand"] = {
            "name": "by-hand",
            "properties": {"tags": {"trigger": "manual"}, "status": "Running"},
            "systemData": {"createdAt": (T0 - timedelta(minutes=5)).isoformat()},
        }

        first = _alert(arm, flow, clock)
        (put,) = _submitted(first)
        assert put[1].startswith(f"{arm.url}{WS}/jobs/") and put[1].endswith("?api-version=2025-12-01")
        job = put[2]["properties"]
        assert job["tags"]["trigger"] == "drift"  # `mlops runs` shows the trigger
        assert job["jobType"] == "Pipeline" and "gate_register" in job["jobs"]
        listing = [u for m, u, _ in first.requests if m == "GET"]
        assert len(listing) == 2 and "tag=trigger" in listing[0]  # 4 jobs carry a trigger tag: 2 pages of 2
        started = put[1].split("/jobs/")[1].split("?")[0]

        clock.at = T0 + timedelta(minutes=15)  # the next alert of the same episode: the run is in flight
        second = _alert(arm, flow, clock)
        assert _submitted(second) == []
        assert second.outputs["not_started"] == "a drift-started retraining is in flight"

        arm.jobs[started]["properties"]["status"] = "Completed"
        clock.at = T0 + timedelta(hours=3)  # finished, but within the 24 h cooldown
        third = _alert(arm, flow, clock)
        assert _submitted(third) == []
        assert third.outputs["not_started"] == "within the cooldown of the last drift-started retraining"

        clock.at = T0 + timedelta(hours=24, minutes=1)  # a new episode after the cooldown
        fourth = _alert(arm, flow, clock)
        assert len(_submitted(fourth)) == 1
        assert sum(1 for j in arm.jobs.values() if j["properties"]["tags"].get("trigger") == "drift") == 5


def test_the_workflow_runs_one_alert_at_a_time(definition):
    workflow, _ = definition
    trigger = workflow["triggers"]["drift_alert"]
    assert trigger["runtimeConfiguration"] == {"concurrency": {"runs": 1}}
    assert workflow["actions"]["list_runs"]["runtimeConfiguration"] == {"paginationPolicy": {"minimumItemCount": 5000}}


def test_the_builtin_engine_answers_event_grid_and_retrains_on_a_breach_event():
    from providers.azure.retraining_trigger import workflow_definition

    flow = workflow_definition(
        f"https://management.azure.com{WS}/jobs",
        {"jobType": "Pipeline", "jobs": {}, "tags": {"team": "ml"}},
        "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/retrain",
        cooldown_hours=24,
        event_grid=True,
    )
    clock = Clock(T0)
    with FakeArm() as arm:
        arm.now = clock
        validation = [
            {
                "id": "1",
                "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
                "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
            }
        ]
        answered = Run(flow, arm.url, clock).run(validation)
        assert answered.response == {
            "statusCode": 200,
            "body": {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
        }
        assert answered.requests == []  # a handshake lists and submits nothing
        breach = [
            {
                "id": "2",
                "eventType": "Microsoft.MachineLearningServices.RunStatusChanged",
                "data": {
                    "runStatus": "Completed",
                    "runTags": {
                        "azureml_modelmonitor_threshold_breached": "has failed due to one or more features violating "
                        "metric thresholds"
                    },
                },
            }
        ]
        first = Run(flow, arm.url, clock).run(breach)
        # Event Grid gets its success reply for a breach event too: a delivery without one is retried.
        assert first.response == {"statusCode": 202}
        (put,) = _submitted(first)
        assert put[2]["properties"]["tags"] == {"team": "ml", "trigger": "drift"}
        clock.at = T0 + timedelta(hours=1)
        assert _submitted(Run(flow, arm.url, clock).run(breach)) == []


def test_a_zero_cooldown_still_waits_for_the_run_in_flight():
    from providers.azure.retraining_trigger import workflow_definition

    flow = workflow_definition(f"https://management.azure.com{WS}/jobs", {"jobType": "Pipeline"}, "id", 0)
    clock = Clock(T0)
    with FakeArm() as arm:
        arm.now = clock
        assert len(_submitted(Run(flow, arm.url, clock).run(ALERT))) == 1
        clock.at = T0 + timedelta(minutes=1)
        assert _submitted(Run(flow, arm.url, clock).run(ALERT)) == []
        for job in arm.jobs.values():
            job["properties"]["status"] = "Completed"
        clock.at = T0 + timedelta(minutes=2)
        assert len(_submitted(Run(flow, arm.url, clock).run(ALERT))) == 1
