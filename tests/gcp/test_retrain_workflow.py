"""Issue 9 item 5 / issue 11 item 5 on GCP: one retraining per drift episode, and drift that persists
past the cooldown gets its retraining.

The retraining workflow the plan declares (its Workflows YAML, as `pulumi up` would deploy it) is run
by a small interpreter (tests/gcp/workflow_harness.py) whose HTTP calls go to the fake Vertex AI
server (ListPipelineJobs / CreatePipelineJob, and Cloud Monitoring's timeSeries.list of the
drifted-feature counter), replaying the notifications of drift episodes on one clock
(`Simulation`: deliveries, sleeping executions, the executions each hands over to, new revisions
deployed, runs ending, drift checks publishing).
"""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from providers.gcp.retraining_trigger import run_id_stem, workflow_source
from tests.gcp.fake_vertex import FakeVertex
from tests.gcp.workflow_harness import Harness, Simulation, Unsupported, WorkflowError, _parse_time

HOST = "europe-west4-aiplatform.googleapis.com"
MONITORING = "monitoring.googleapis.com"
PARENT = "projects/my-ml-project/locations/europe-west4"
BUCKET = "my-ml-project-churn-dev-mlops"
TEMPLATE = "pipelines/churn-dev-churn/pipeline.json"
SPEC = {"pipelineInfo": {"name": "churn-dev-churn"}, "root": {"dag": {"tasks": {}}}}
DRIFTED = "logging.googleapis.com/user/churn-dev-drifted-features"
WORKFLOW = "projects/my-ml-project/locations/europe-west4/workflows/churn-dev-retrain"
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
        name=WORKFLOW,
    )


def simulation(source: str, vertex: FakeVertex) -> Simulation:
    return Simulation(harness(source, vertex), start=T0, set_clock=lambda t: setattr(vertex, "now", t))


def source_with(**changes) -> str:
    """The workflow as workflow_source compiles it for the example stack, with `changes`."""
    args = {
        "project": "my-ml-project",
        "region": "europe-west4",
        "workflow": "churn-dev-retrain",
        "bucket": BUCKET,
        "template": TEMPLATE,
        "root": f"gs://{BUCKET}/pipeline-root/churn-dev-churn",
        "service_account": "churn-dev-ml@my-ml-project.iam.gserviceaccount.com",
        "kms_key": "projects/my-ml-project/locations/europe-west4/keyRings/k/cryptoKeys/c",
        "display_name": "churn-dev-churn",
        "parameter_values": {"code_uri": "gs://b/code/churn/aaa"},
        "labels": {"mlops-platform": "churn"},
        "cooldown_hours": 24,
        "window_seconds": 3600,
        "drift_metric": "churn-dev-drifted-features",
        "episode_seconds": 7200,
    }
    return workflow_source(**{**args, **changes})


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
    """Drift for three hourly checks: one run, named after the drift window it was decided in; the
    notification delivered again, and another incident opening while the run is in flight, start nothing."""
    sim = simulation(planned_source, vertex)
    drift_checks(vertex, 0, 2)
    runs_end_after(sim, vertex, 2, T0 + 12 * HOUR)
    sim.deliver(T0 + 5 * MINUTE, notification("open", "0.Abc_1"))
    sim.deliver(T0 + 6 * MINUTE, notification("open", "0.Abc_1"))  # Pub/Sub delivers at least once
    sim.deliver(T0 + 1 * HOUR, notification("open", "0.def"))  # while the run is in flight
    sim.deliver(T0 + 6 * HOUR, notification("closed", "0.def"))
    sim.run(T0 + 12 * HOUR)
    first = f"{PARENT}/pipelineJobs/churn-dev-churn-drift-first-2025-01-06t03-00-00-000000z"
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

    # the run ended at 02:05, so both remaining chains sleep to the end of its cooldown (03:05:01
    # the next day), find no drifted column in the two windows (and 10 minutes) before, and end
    results = sim.run(T0 + 30 * HOUR)
    over = "episode over: no drifted request column in the last 7800 s; runs started: "
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
    over = "episode over: no drifted request column in the last 7800 s; runs started: "
    assert ended == [(5 * MINUTE, 70 * HOUR + 3, over + "2"), (9 * MINUTE, 70 * HOUR + 3, over + "0")]
    assert sim.asleep == 0
    # three days of episode, yet no execution slept more than once: each handed over after its sleep
    assert max(e["sleeps"] for e in sim.executions) == 1
    assert len(sim.handed_over) >= 10


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
    assert f"{PARENT}/pipelineJobs/churn-dev-churn-drift-first-2025-01-06t03-00-00-000000z" in vertex.pipeline_jobs


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
    # the condition's alignment period (7200 s) and 600 s more: logs-based metrics "may take up to 10
    # minutes to update" ("Troubleshooting logs-based metrics"), so the newest check may not be counted
    assert query == {
        "filter": f'metric.type="{DRIFTED}" AND resource.type="global"',
        "interval.startTime": "2025-01-06T01:50:00.000000Z",
        "interval.endTime": "2025-01-06T04:00:00.000000Z",
        "aggregation.alignmentPeriod": "7800s",
        "aggregation.perSeriesAligner": "ALIGN_SUM",
        "aggregation.crossSeriesReducer": "REDUCE_SUM",
    }
    assert [c[1] for c in run.calls if c[1].startswith(f"https://{MONITORING}/")] == [
        f"https://{MONITORING}/v3/projects/my-ml-project/timeSeries"
    ]


def test_a_redelivered_notification_after_the_run_finds_the_run(vertex):
    """With no cooldown, the same incident delivered after its run ended still starts nothing: the
    latest run carries the incident's label; another incident with drift going on starts one."""
    source = source_with(cooldown_hours=0)
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
        "churn-dev-churn-drift-first-2025-01-06t03-00-00-000000z",
        "churn-dev-churn-drift-after-2025-01-06t03-05-00-000000z",
    ]


def test_a_cooldown_or_window_the_workflow_cannot_sleep_is_refused():
    """sys.sleep takes at most 31536000 s (one year): a longer wait could never be kept."""
    common = {
        "project": "p",
        "workflow": "w",
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


# --- audit 3 of the persistent-drift workflow ---------------------------------------------------------


def test_a_run_started_after_a_deploy_uses_that_deploys_values(vertex):
    """Finding 1: an execution sleeping through a cooldown must not start a run with the step code of
    the deploy it began on (the old code prefix is deleted when new code ships). After its sleep it
    hands over to a new execution, which runs the workflow's latest revision."""
    sim = simulation(source_with(parameter_values={"code_uri": "gs://b/code/churn/aaa"}), vertex)
    earlier = f"{PARENT}/pipelineJobs/churn-dev-churn-drift-first-2025-01-06t01-00-00-000000z"
    vertex.pipeline_jobs[earlier] = {
        "name": earlier,
        "displayName": "churn-dev-churn",
        "labels": {"trigger": "drift", "incident": "0-old"},
        "state": "PIPELINE_STATE_SUCCEEDED",
        "createTime": "2025-01-06T01:00:00.000000Z",  # its cooldown ends at T0 + 22 h
    }
    drift_checks(vertex, 0, 30)
    sim.deliver(T0 + 5 * MINUTE, notification("open", "0.persist"))
    sim.run(T0 + HOUR)
    assert sim.asleep == 1  # waiting for the cooldown
    sim.deploy(source_with(parameter_values={"code_uri": "gs://b/code/churn/bbb"}))  # new step code
    sim.run(T0 + 23 * HOUR)
    (second,) = [j for j in vertex.pipeline_jobs.values() if j["name"] != earlier]
    assert second["runtimeConfig"]["parameterValues"] == {"code_uri": "gs://b/code/churn/bbb"}


def test_no_execution_lives_past_one_sleep(vertex):
    """Finding 2: Workflows bounds one execution's duration and steps; the episode's rule is kept by a
    chain of executions, each of which sleeps once and hands over. A run stuck in flight for 10 days
    with a one-minute window: every execution takes a few dozen steps and ends within one window."""
    sim = simulation(source_with(window_seconds=60, episode_seconds=120), vertex)
    vertex.counters[DRIFTED] = [(T0 + m * MINUTE + 30, 2) for m in range(0, 10 * 24 * 60 + 10)]
    sim.deliver(T0 + 5 * MINUTE, notification("open", "0.stuck"))
    sim.run(T0 + 6 * HOUR)  # the run never leaves PENDING
    assert len(vertex.pipeline_jobs) == 1
    executions = sim.executions
    assert len(executions) == 6 * 60 - 5 + 1  # one per minute: the delivery, then one per window
    assert max(e["sleeps"] for e in executions) <= 1
    assert max(e["steps"] for e in executions) <= 30
    assert max(e["ended"] - e["started"] for e in executions if e["ended"]) <= 60
    assert sim.asleep == 1


def test_a_drift_check_not_counted_yet_does_not_end_the_episode(vertex):
    """Finding 3: a 5-minute window, drift going on, and the metric 10 minutes behind (the documented
    worst case): the query looks back 10 minutes further than the condition's alignment, so it still
    sees drift, and the episode's next run comes when the cooldown ends."""
    sim = simulation(source_with(window_seconds=300, episode_seconds=600, cooldown_hours=1), vertex)
    vertex.counter_lag = 600
    vertex.counters[DRIFTED] = [(T0 + m * 5 * MINUTE, 1) for m in range(-6, 40)]  # every check drifts
    runs_end_after(sim, vertex, 0.25, T0 + 3 * HOUR)
    sim.deliver(T0 + MINUTE, notification("open", "0.fast"))
    sim.run(T0 + 90 * MINUTE)
    assert [r for _, _, r in sim.results] == []  # the chain goes on
    assert [t for _, t in created(vertex)] == ["2025-01-06T03:01:00.000000Z", "2025-01-06T04:01:01.000000Z"]


def test_a_transient_error_of_a_read_is_retried(vertex):
    """Finding 6: 503 on the run listing and on the drift query are retried (http.default_retry)."""
    drift_checks(vertex, 0, 3)
    vertex.faults += [("GET", "/pipelineJobs", 503, "UNAVAILABLE"), ("GET", "/timeSeries", 503, "UNAVAILABLE")]
    vertex.faults += [("GET", "/pipelineJobs", 429, "RESOURCE_EXHAUSTED")]
    run = harness(source_with(), vertex)
    clock = []

    def advance(seconds: float) -> None:
        clock.append(seconds)
        vertex.now += seconds

    assert run.run(notification("open", "1"), sleep=advance).startswith("episode over")
    assert [c[1:3] for c in run.calls if c[0] == "RETRY"] == [
        ("http.default_retry", 503),
        ("http.default_retry", 429),
        ("http.default_retry", 503),
    ]
    assert len(vertex.pipeline_jobs) == 1 and vertex.faults == []


def test_an_unexpected_error_of_a_read_still_fails_the_execution(vertex):
    vertex.faults.append(("GET", "/pipelineJobs", 500, "INTERNAL"))
    with pytest.raises(WorkflowError) as raised:
        harness(source_with(), vertex).run(notification("open", "1"))
    assert raised.value.value["code"] == 500
    vertex.monitoring_denied = True  # after the sleep: the drift query answers 403
    with pytest.raises(WorkflowError) as raised:
        harness(source_with(), vertex).run(
            notification("open", "1"), sleep=lambda s: setattr(vertex, "now", vertex.now + s)
        )
    assert raised.value.value["code"] == 403
    assert len(vertex.pipeline_jobs) == 1


def test_a_conflict_other_than_already_exists_fails_the_execution(vertex):
    """Finding 7: HTTP 409 is also ABORTED's mapping (google/rpc/code.proto): only ALREADY_EXISTS means
    the run is there; an aborted create fails the execution instead of returning "exists"."""
    vertex.faults.append(("POST", "/pipelineJobs", 409, "ABORTED"))
    with pytest.raises(WorkflowError) as raised:
        harness(source_with(), vertex).run(notification("open", "1"))
    assert raised.value.value["body"]["error"]["status"] == "ABORTED"
    assert jobs(vertex) == []


def test_two_incidents_deciding_at_once_start_one_run(vertex):
    """Finding 5: no drift-started run yet, two incidents delivered at the same instant: the first run
    is named after the drift window the decision falls in, so the second gets ALREADY_EXISTS."""
    sim = simulation(source_with(), vertex)
    sim.harness.interleave = True  # both list (no run yet) before either creates
    drift_checks(vertex, 0, 0)
    sim.deliver(T0 + 5 * MINUTE, notification("open", "0.aaa"))
    sim.deliver(T0 + 5 * MINUTE, notification("open", "0.bbb"))
    sim.run(T0 + 6 * MINUTE)
    assert jobs(vertex) == [f"{PARENT}/pipelineJobs/churn-dev-churn-drift-first-2025-01-06t03-00-00-000000z"]
    assert [r for _, _, r in sim.results] == [
        "not started: run churn-dev-churn-drift-first-2025-01-06t03-00-00-000000z exists"
    ]


PIPELINE_JOB_ID = r"^[a-z][-a-z0-9]{0,126}$"
"""CreatePipelineJobRequest.pipeline_job_id: "less than 128 characters, and valid characters are
/[a-z][0-9]-/" (aiplatform_v1 proto comment); a letter first (the SDK's _VALID_NAME_PATTERN)."""


@pytest.mark.parametrize(
    "display_name",
    ["churn-dev-churn_v2", "churn-dev-" + "a" * 117, "churn-dev-" + "a" * 116 + "_b", "churn-dev-" + "x" * 300],
)
def test_run_ids_meet_the_pipeline_job_id_rule_and_keep_their_suffix(vertex, display_name):
    """Finding 8: a pipeline name may hold `_` and be long; each run id the workflow builds (the first,
    and one after a run whose createTime has nine fractional digits) meets the rule, and two runs never
    share an id because the display name was cut."""
    import re

    from providers.gcp.vendor_rules import _check_id

    source = source_with(display_name=display_name, cooldown_hours=0)
    sim = simulation(source, vertex)
    drift_checks(vertex, 0, 3)
    sim.deliver(T0, notification("open", "1"))
    sim.run(T0 + 1)
    (first,) = vertex.pipeline_jobs.values()
    first["state"] = "PIPELINE_STATE_SUCCEEDED"
    first["createTime"] = "2025-01-06T03:00:00.123456789Z"
    sim.deliver(T0 + 2, notification("open", "2"))
    sim.run(T0 + 3)
    ids = [j["name"].rsplit("/", 1)[-1] for j in vertex.pipeline_jobs.values()]
    assert len(ids) == 2
    for job_id in ids:
        assert re.match(PIPELINE_JOB_ID, job_id), job_id
        assert _check_id(job_id, "CreatePipelineJobRequest", "pipeline_job_id", "r", "p", strictly_less=True) == []
    assert ids[0].endswith("-drift-first-2025-01-06t03-00-00-000000z")
    assert ids[1].endswith("-drift-after-2025-01-06t03-00-00-123456789z")


def test_long_display_names_that_differ_at_the_end_keep_apart():
    a, b = "churn-dev-" + "x" * 200 + "a", "churn-dev-" + "x" * 200 + "b"
    assert run_id_stem(a) != run_id_stem(b)
    assert len(run_id_stem(a)) == 127 - 13 - 30  # room for -drift-after- and a 30-character timestamp
    assert run_id_stem("churn-dev-churn_v2") == "churn-dev-churn-v2"


def test_the_hand_over_argument_stays_under_32_kb(vertex):
    """Execution.argument: "The size limit is 32KB": an incident id of any length is cut."""
    drift_checks(vertex, 0, 3)
    run = harness(source_with(), vertex)
    run.run(notification("open", "0." + "z" * 100_000), sleep=lambda s: setattr(vertex, "now", vertex.now + s))
    post = next(c for c in run.calls if c[1].startswith("https://workflowexecutions.googleapis.com/"))
    assert post[1] == f"https://workflowexecutions.googleapis.com/v1/{WORKFLOW}/executions"
    assert len(post[3]["argument"].encode()) < 1024
    assert json.loads(post[3]["argument"]) == {"handover": {"incident": "0." + "z" * 254, "started": 1}}


def test_the_workflow_identity_may_create_executions_of_its_workflow(gcp_plan):
    """The hand-over calls executions.create on this workflow: its identity needs
    workflows.executions.create there (roles/workflows.invoker holds it: "Workflows Invoker", IAM
    basic and predefined roles reference; or a custom role listing it)."""
    from tests.gcp.test_identities import custom_roles, grants

    predefined = {"roles/workflows.invoker": {"workflows.executions.create"}}
    held = set()
    for who, role, scope in grants(gcp_plan):
        if who == "churn-dev-retrain" and scope == "project my-ml-project":
            held |= predefined.get(role, set(custom_roles(gcp_plan).get(role.removeprefix("custom:"), ())))
    assert "workflows.executions.create" in held
    (workflow,) = [r.inputs for r in gcp_plan.resources if r.type == "gcp:workflows/workflow:Workflow"]
    assert workflow["name"] == "churn-dev-retrain"
    steps = {k: v for step in yaml.safe_load(workflow["sourceContents"])["main"]["steps"] for k, v in step.items()}
    assert (
        steps["hand_over"]["try"]["args"]["url"]
        == f"https://workflowexecutions.googleapis.com/v1/{WORKFLOW}/executions"
    )
