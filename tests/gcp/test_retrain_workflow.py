"""Issue 9 item 5 / issue 11 item 5 on GCP: one retraining per drift episode, and drift that persists
past the cooldown gets its retraining.

The retraining workflow the plan declares (its Workflows YAML, as `pulumi up` would deploy it) is run
by a small interpreter (tests/gcp/workflow_harness.py) whose HTTP calls go to the fake Vertex AI
server (ListPipelineJobs / CreatePipelineJob, and Cloud Monitoring's timeSeries.list of the
drifted-feature counter), replaying the notifications of drift episodes on one clock
(`Simulation`: deliveries, sleeping executions, runs ending, drift checks publishing).
"""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from providers.gcp.retraining_trigger import workflow_source
from tests.gcp.fake_vertex import FakeVertex
from tests.gcp.workflow_harness import Harness, Simulation, Unsupported, WorkflowError, _parse_time

HOST = "europe-west4-aiplatform.googleapis.com"
MONITORING = "monitoring.googleapis.com"
PARENT = "projects/my-ml-project/locations/europe-west4"
BUCKET = "my-ml-project-churn-dev-mlops"
TEMPLATE = "pipelines/churn-dev-churn/pipeline.json"
SPEC = {"pipelineInfo": {"name": "churn-dev-churn"}, "root": {"dag": {"tasks": {}}}}
DRIFTED = "logging.googleapis.com/user/churn-dev-drifted-features"
T0 = 1_736_132_400.0  # 2025-01-06T03:00:00Z
HOUR = 3600.0
MINUTE = 60.0


def notification(state: str, incident: str) -> dict:
    """What Eventarc hands the workflow for a Cloud Monitoring Pub/Sub notification (schema 1.2)."""
    payload = {"version": "1.2", "incident": {"incident_id": incident, "state": state, "policy_name": "drift"}}
    return {"data": {"message": {"data": base64.b64encode(json.dumps(payload).encode()).decode()}}}


@pytest.fixture()
def vertex():
    fake = FakeVertex()
    fake.url = fake.start()
    fake.now = T0
    fake.counters[DRIFTED] = []  # no drift check has found a drifted column yet
    yield fake
    fake.stop()


def harness(source: str, vertex: FakeVertex) -> Harness:
    return Harness(
        source,
        hosts={HOST: vertex.url, MONITORING: vertex.url},
        objects={(BUCKET, TEMPLATE): SPEC},
        now=lambda: vertex.now,
    )


def simulation(source: str, vertex: FakeVertex) -> Simulation:
    return Simulation(harness(source, vertex), start=T0, set_clock=lambda t: setattr(vertex, "now", t))


def drift_checks(vertex: FakeVertex, first_hour: int, last_hour: int, columns: int = 3) -> None:
    """Hourly drift checks (published 4 minutes past the hour) that each found `columns` drifted."""
    vertex.counters[DRIFTED] += [(T0 + h * HOUR + 4 * MINUTE, columns) for h in range(first_hour, last_hour + 1)]


def runs_end_after(sim: Simulation, vertex: FakeVertex, hours: float, until: float) -> None:
    """Every drift-started run succeeds `hours` after its creation (checked each minute)."""

    def finish() -> None:
        for job in vertex.pipeline_jobs.values():
            if job["state"] == "PIPELINE_STATE_PENDING" and _parse_time(job["createTime"]) + hours * HOUR <= vertex.now:
                job["state"] = "PIPELINE_STATE_SUCCEEDED"

    t = T0
    while t <= until:
        sim.at(t, finish)
        t += MINUTE


@pytest.fixture()
def planned_source(gcp_plan) -> str:
    (workflow,) = [r.inputs for r in gcp_plan.resources if r.type == "gcp:workflows/workflow:Workflow"]
    return workflow["sourceContents"]


def jobs(vertex: FakeVertex) -> list[str]:
    return sorted(vertex.pipeline_jobs)


def created(vertex: FakeVertex) -> list[tuple[str, str]]:
    """(run id, createTime) of every run, oldest first."""
    found = sorted(vertex.pipeline_jobs.values(), key=lambda j: j["createTime"])
    return [(j["name"].rsplit("/", 1)[-1], j["createTime"]) for j in found]


def test_one_drift_episode_starts_exactly_one_retraining(planned_source, vertex):
    """Drift for three hourly checks: one run, named after the incident; the notification delivered
    again, and another incident opening while the run is in flight, start nothing."""
    sim = simulation(planned_source, vertex)
    drift_checks(vertex, 0, 2)
    runs_end_after(sim, vertex, 2, T0 + 12 * HOUR)
    sim.deliver(T0 + 5 * MINUTE, notification("open", "0.Abc_1"))
    sim.deliver(T0 + 6 * MINUTE, notification("open", "0.Abc_1"))  # Pub/Sub delivers at least once
    sim.deliver(T0 + 1 * HOUR, notification("open", "0.def"))  # while the run is in flight
    sim.deliver(T0 + 6 * HOUR, notification("closed", "0.def"))
    sim.run(T0 + 12 * HOUR)
    first = f"{PARENT}/pipelineJobs/churn-dev-churn-drift-0-abc-1"
    assert jobs(vertex) == [first]
    job = vertex.pipeline_jobs[first]
    assert job["labels"] == {
        "mlops-platform": "churn",
        "mlops-environment": "dev",
        "team": "ml-platform",
        "trigger": "drift",
        "incident": "0-abc_1",
    }
    assert job["pipelineSpec"] == SPEC
    assert job["serviceAccount"] == "churn-dev-ml@my-ml-project.iam.gserviceaccount.com"

    # the run ended at 02:05, so both remaining executions sleep to the end of its cooldown (03:05:01
    # the next day), find no drifted column in the two windows before, and end
    results = sim.run(T0 + 30 * HOUR)
    over = "episode over: no drifted request column in the last 7200 s; runs started: "
    assert [(d - T0, e - T0, r) for d, e, r in results] == [
        (6 * MINUTE, 6 * MINUTE, f"not started: run {first} was started for incident 0.Abc_1"),
        (6 * HOUR, 6 * HOUR, "ignored: incident state closed"),
        (5 * MINUTE, 24 * HOUR + 5 * MINUTE + 1, over + "1"),
        (1 * HOUR, 24 * HOUR + 5 * MINUTE + 1, over + "0"),
    ]
    assert jobs(vertex) == [first]
    assert sim.asleep == 0


def test_drift_that_persists_through_the_cooldown_gets_one_retraining_per_cooldown(planned_source, vertex):
    """Issue 11 item 5: the incident opens within the cooldown of the last drift-started run and stays
    open (the policy notifies once). Nothing at first; exactly one run once the cooldown has passed;
    none within the new cooldown; one more after it while drift goes on; a notification delivered
    again starts nothing; once the drift stops, the execution ends."""
    sim = simulation(planned_source, vertex)
    earlier = f"{PARENT}/pipelineJobs/churn-dev-churn-drift-0-old"
    vertex.pipeline_jobs[earlier] = {
        "name": earlier,
        "displayName": "churn-dev-churn",
        "labels": {"trigger": "drift", "incident": "0-old"},
        "state": "PIPELINE_STATE_SUCCEEDED",
        "createTime": "2025-01-06T01:00:00.000000Z",  # T0 - 2 h: its cooldown ends at T0 + 22 h
    }
    drift_checks(vertex, 0, 59)  # the drift goes on for 60 hourly checks, then stops
    runs_end_after(sim, vertex, 3, T0 + 70 * HOUR)
    sim.deliver(T0 + 5 * MINUTE, notification("open", "0.persist"))
    sim.deliver(T0 + 9 * MINUTE, notification("open", "0.persist"))  # delivered again before any run
    sim.deliver(T0 + 23 * HOUR, notification("open", "0.persist"))  # delivered again after its run

    sim.run(T0 + 22 * HOUR)
    assert jobs(vertex) == [earlier]  # nothing within the cooldown, however long the incident stays open
    assert sim.asleep == 2  # the notification and its second delivery wait for the cooldown

    sim.run(T0 + 22 * HOUR + 2)
    second = "churn-dev-churn-drift-after-2025-01-06t01-00-00-000000z"
    assert created(vertex) == [
        ("churn-dev-churn-drift-0-old", "2025-01-06T01:00:00.000000Z"),
        (second, "2025-01-07T01:00:01.000000Z"),  # one second past the cooldown: exactly one run
    ]
    assert vertex.pipeline_jobs[f"{PARENT}/pipelineJobs/{second}"]["labels"]["incident"] == "0-persist"

    sim.run(T0 + 46 * HOUR)  # within the new run's cooldown: nothing more
    assert len(vertex.pipeline_jobs) == 2
    delivered_again = [r for d, _, r in sim.results if d == T0 + 23 * HOUR]
    assert delivered_again == [f"not started: run {PARENT}/pipelineJobs/{second} was started for incident 0.persist"]

    sim.run(T0 + 72 * HOUR)
    assert created(vertex)[2:] == [
        ("churn-dev-churn-drift-after-2025-01-07t01-00-01-000000z", "2025-01-08T01:00:02.000000Z"),
    ]
    # the drift stopped after the check published at T0 + 59 h 4 min; both executions sleep through the
    # third run's cooldown (to 01:00:03 on 01-09), find no drifted column in the two windows before,
    # and end: the one that started both runs, and the second delivery, which started none
    ended = [(d - T0, e - T0, r) for d, e, r in sim.results if d != T0 + 23 * HOUR]
    over = "episode over: no drifted request column in the last 7200 s; runs started: "
    assert ended == [(5 * MINUTE, 70 * HOUR + 3, over + "2"), (9 * MINUTE, 70 * HOUR + 3, over + "0")]
    assert sim.asleep == 0


def test_only_this_pipelines_drift_runs_count(planned_source, vertex):
    """A drift-started run of another platform, or a scheduled run of this one, blocks nothing."""
    vertex.pipeline_jobs[f"{PARENT}/pipelineJobs/other"] = {
        "name": f"{PARENT}/pipelineJobs/other",
        "displayName": "fraud-dev-fraud",
        "labels": {"trigger": "drift"},
        "state": "PIPELINE_STATE_RUNNING",
        "createTime": "2025-01-06T02:59:00.000000Z",
    }
    vertex.pipeline_jobs[f"{PARENT}/pipelineJobs/nightly"] = {
        "name": f"{PARENT}/pipelineJobs/nightly",
        "displayName": "churn-dev-churn",
        "labels": {"trigger": "schedule"},
        "state": "PIPELINE_STATE_RUNNING",
        "createTime": "2025-01-06T02:59:00.000000Z",
    }
    sim = simulation(planned_source, vertex)
    sim.deliver(T0, notification("open", "7"))
    sim.run(T0 + 2 * HOUR)
    assert f"{PARENT}/pipelineJobs/churn-dev-churn-drift-7" in vertex.pipeline_jobs


def test_the_guard_lists_drift_runs_with_a_filter_the_api_documents(planned_source, vertex):
    run = harness(planned_source, vertex)
    assert run.run(notification("open", "1"), sleep=lambda s: setattr(vertex, "now", vertex.now + s)).startswith(
        "episode over"
    )
    (listing,) = [c for c in run.calls if c[0] == "GET" and c[1].endswith("/pipelineJobs")]
    # proto ListPipelineJobsRequest.filter: display_name `=`, labels "key-value equality"; order_by
    # create_time desc
    assert listing[2] == {
        "filter": 'display_name="churn-dev-churn" AND labels.trigger="drift"',
        "orderBy": "create_time desc",
        "pageSize": 1,
    }


def test_the_episode_goes_on_while_the_policys_condition_is_met(planned_source, vertex):
    """After its sleep the workflow asks Cloud Monitoring what the alert condition evaluates: the
    drifted-feature counter of the planned metric, summed over the condition's alignment period (two
    windows) and across every series (projects.timeSeries.list query parameters)."""
    run = harness(planned_source, vertex)
    run.run(notification("open", "1"), sleep=lambda s: setattr(vertex, "now", vertex.now + s))
    assert [c[1] for c in run.calls if c[0] == "SLEEP"] == ["3600"]  # the run is in flight: one window
    (query,) = [c[2] for c in run.calls if c[1].startswith(f"https://{MONITORING}/")]
    assert query == {
        "filter": f'metric.type="{DRIFTED}" AND resource.type="global"',
        "interval.startTime": "2025-01-06T02:00:00.000000Z",
        "interval.endTime": "2025-01-06T04:00:00.000000Z",
        "aggregation.alignmentPeriod": "7200s",
        "aggregation.perSeriesAligner": "ALIGN_SUM",
        "aggregation.crossSeriesReducer": "REDUCE_SUM",
    }
    assert [c[1] for c in run.calls if c[1].startswith(f"https://{MONITORING}/")] == [
        f"https://{MONITORING}/v3/projects/my-ml-project/timeSeries"
    ]


def test_a_redelivered_notification_after_the_run_finds_the_run(vertex):
    """With no cooldown, the same incident delivered after its run ended still starts nothing: the
    latest run carries the incident's label; another incident with drift going on starts one."""
    source = workflow_source(
        project="my-ml-project",
        region="europe-west4",
        bucket=BUCKET,
        template=TEMPLATE,
        root=f"gs://{BUCKET}/pipeline-root/churn-dev-churn",
        service_account="churn-dev-ml@my-ml-project.iam.gserviceaccount.com",
        kms_key="projects/my-ml-project/locations/europe-west4/keyRings/k/cryptoKeys/c",
        display_name="churn-dev-churn",
        parameter_values={"code_uri": "gs://b/code"},
        labels={"mlops-platform": "churn"},
        cooldown_hours=0,
        window_seconds=3600,
        drift_metric="churn-dev-drifted-features",
        episode_seconds=7200,
    )
    sim = simulation(source, vertex)
    drift_checks(vertex, 0, 0)
    sim.deliver(T0 + 5 * MINUTE, notification("open", "42"))
    sim.run(T0 + 10 * MINUTE)
    (first,) = jobs(vertex)
    vertex.pipeline_jobs[first]["state"] = "PIPELINE_STATE_FAILED"
    sim.deliver(T0 + 20 * MINUTE, notification("open", "42"))
    sim.run(T0 + 30 * MINUTE)
    assert sim.results[-1][2] == f"not started: run {first} was started for incident 42"
    assert jobs(vertex) == [first]
    # another incident is another notification: with no cooldown and drift going on, it starts one
    sim.deliver(T0 + 40 * MINUTE, notification("open", "43"))
    sim.run(T0 + 41 * MINUTE)
    assert [j for j, _ in created(vertex)] == [
        "churn-dev-churn-drift-42",
        "churn-dev-churn-drift-after-2025-01-06t03-05-00-000000z",
    ]


def test_a_cooldown_or_window_the_workflow_cannot_sleep_is_refused():
    """sys.sleep takes at most 31536000 s (one year): a longer wait could never be kept."""
    common = {
        "project": "p",
        "region": "europe-west4",
        "bucket": BUCKET,
        "template": TEMPLATE,
        "root": "gs://b/r",
        "service_account": "a@p.iam.gserviceaccount.com",
        "kms_key": "k",
        "display_name": "churn-dev-churn",
        "parameter_values": {},
        "labels": {},
        "drift_metric": "m",
        "episode_seconds": 7200,
    }
    workflow_source(**common, cooldown_hours=8760, window_seconds=3600)
    with pytest.raises(ValueError, match="cooldown of 31539600 s"):
        workflow_source(**common, cooldown_hours=8761, window_seconds=3600)


def test_an_unexpected_api_error_fails_the_execution(planned_source, vertex, monkeypatch):
    """Only ALREADY_EXISTS is expected; anything else fails the execution (visible in Workflows)."""
    monkeypatch.setattr(vertex, "_create_job", lambda *a: (500, {"error": {"code": 500, "status": "INTERNAL"}}))
    with pytest.raises(WorkflowError) as raised:
        harness(planned_source, vertex).run(notification("open", "9"))
    assert raised.value.value["code"] == 500
    assert jobs(vertex) == []


def test_the_harness_refuses_what_it_does_not_implement(vertex):
    source = yaml.safe_dump({"main": {"params": ["event"], "steps": [{"x": {"return": '${sys.get_env("X")}'}}]}})
    with pytest.raises(Unsupported):
        harness(source, vertex).run({})
    source = yaml.safe_dump({"main": {"params": ["event"], "steps": [{"x": {"call": "http.request", "args": {}}}]}})
    with pytest.raises(Unsupported):
        harness(source, vertex).run({})
    # a sleep past Workflows' maximum, or with no clock to advance
    for seconds in (31_536_001, -1, "60"):
        step = {"x": {"call": "sys.sleep", "args": {"seconds": seconds}}}
        source = yaml.safe_dump({"main": {"params": ["event"], "steps": [step]}})
        with pytest.raises(Unsupported):
            harness(source, vertex).run({}, sleep=lambda s: None)
    source = yaml.safe_dump(
        {"main": {"params": ["event"], "steps": [{"x": {"call": "sys.sleep", "args": {"seconds": 1}}}]}}
    )
    with pytest.raises(Unsupported):
        harness(source, vertex).run({})
