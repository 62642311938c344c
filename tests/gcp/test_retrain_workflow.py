"""Issue 9 item 5 / issue 11 item 5 on GCP: one drift episode starts exactly one retraining.

The retraining workflow the plan declares (its Workflows YAML, as `pulumi up` would deploy it) is run
by a small interpreter (tests/gcp/workflow_harness.py) whose HTTP calls go to the fake Vertex AI
server (ListPipelineJobs / CreatePipelineJob), replaying notifications of one drift episode.
"""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from providers.gcp.retraining_trigger import workflow_source
from tests.gcp.fake_vertex import FakeVertex
from tests.gcp.workflow_harness import Harness, Unsupported, WorkflowError

HOST = "europe-west4-aiplatform.googleapis.com"
PARENT = "projects/my-ml-project/locations/europe-west4"
BUCKET = "my-ml-project-churn-dev-mlops"
TEMPLATE = "pipelines/churn-dev-churn/pipeline.json"
SPEC = {"pipelineInfo": {"name": "churn-dev-churn"}, "root": {"dag": {"tasks": {}}}}
T0 = 1_736_132_400.0  # 2025-01-06T03:00:00Z
HOUR = 3600.0


def notification(state: str, incident: str) -> dict:
    """What Eventarc hands the workflow for a Cloud Monitoring Pub/Sub notification (schema 1.2)."""
    payload = {"version": "1.2", "incident": {"incident_id": incident, "state": state, "policy_name": "drift"}}
    return {"data": {"message": {"data": base64.b64encode(json.dumps(payload).encode()).decode()}}}


@pytest.fixture()
def vertex():
    fake = FakeVertex()
    fake.url = fake.start()
    fake.now = T0
    yield fake
    fake.stop()


def harness(source: str, vertex: FakeVertex) -> Harness:
    return Harness(source, hosts={HOST: vertex.url}, objects={(BUCKET, TEMPLATE): SPEC}, now=lambda: vertex.now)


@pytest.fixture()
def planned_source(gcp_plan) -> str:
    (workflow,) = [r.inputs for r in gcp_plan.resources if r.type == "gcp:workflows/workflow:Workflow"]
    return workflow["sourceContents"]


def jobs(vertex: FakeVertex) -> list[str]:
    return sorted(vertex.pipeline_jobs)


def test_one_drift_episode_starts_exactly_one_retraining(planned_source, vertex):
    run = harness(planned_source, vertex).run
    # the incident opens: one run, named after the incident, labelled trigger=drift
    first = run(notification("open", "0.Abc_1"))
    assert first == f"{PARENT}/pipelineJobs/churn-dev-churn-drift-0-abc-1"
    (job,) = vertex.pipeline_jobs.values()
    assert job["labels"] == {
        "mlops-platform": "churn",
        "mlops-environment": "dev",
        "team": "ml-platform",
        "trigger": "drift",
    }
    assert job["pipelineSpec"] == SPEC
    assert job["serviceAccount"] == "churn-dev-ml@my-ml-project.iam.gserviceaccount.com"

    # the same notification again (Pub/Sub delivers at least once) while the run is in flight
    vertex.now = T0 + 60
    assert run(notification("open", "0.Abc_1")) == (
        f"not started: drift-started run {PARENT}/pipelineJobs/churn-dev-churn-drift-0-abc-1 is PIPELINE_STATE_PENDING"
    )
    # the episode goes on: another incident opens while the run is still running
    vertex.pipeline_jobs[first]["state"] = "PIPELINE_STATE_RUNNING"
    vertex.now = T0 + HOUR
    assert run(notification("open", "0.def")).endswith("is PIPELINE_STATE_RUNNING")
    # the run ended; drift is alerted again 2 hours after it started: within the 24 h cooldown
    vertex.pipeline_jobs[first]["state"] = "PIPELINE_STATE_SUCCEEDED"
    vertex.now = T0 + 2 * HOUR
    assert run(notification("open", "0.ghi")) == (
        f"not started: drift-started run {PARENT}/pipelineJobs/churn-dev-churn-drift-0-abc-1 was created at "
        "2025-01-06T03:00:00.000000Z, within the cooldown of 24 h"
    )
    # closing notifications never start anything
    assert run(notification("closed", "0.ghi")) == "ignored: incident state closed"
    assert jobs(vertex) == [first]

    # a new episode after the cooldown starts one new run
    vertex.now = T0 + 24 * HOUR + 1
    second = run(notification("open", "0.jkl"))
    assert jobs(vertex) == [first, second] and second.endswith("/churn-dev-churn-drift-0-jkl")


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
    started = harness(planned_source, vertex).run(notification("open", "7"))
    assert started == f"{PARENT}/pipelineJobs/churn-dev-churn-drift-7"


def test_the_guard_lists_drift_runs_with_a_filter_the_api_documents(planned_source, vertex):
    run = harness(planned_source, vertex)
    run.run(notification("open", "1"))
    (listing,) = [c for c in run.calls if c[0] == "GET" and c[1].endswith("/pipelineJobs")]
    # proto ListPipelineJobsRequest.filter: display_name `=`, labels "key-value equality"; order_by
    # create_time desc
    assert listing[2] == {
        "filter": 'display_name="churn-dev-churn" AND labels.trigger="drift"',
        "orderBy": "create_time desc",
        "pageSize": 1,
    }


def test_a_redelivered_notification_after_the_run_finds_the_run(vertex):
    """With no cooldown, the same incident delivered after its run ended still starts nothing: the
    run's id is derived from the incident (CreatePipelineJob answers ALREADY_EXISTS)."""
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
    )
    run = harness(source, vertex).run
    first = run(notification("open", "42"))
    vertex.pipeline_jobs[first]["state"] = "PIPELINE_STATE_FAILED"
    vertex.now = T0 + 10
    assert run(notification("open", "42")) == "not started: run churn-dev-churn-drift-42 exists for this incident"
    assert jobs(vertex) == [first]
    # another incident is another episode: with no cooldown it starts one
    assert run(notification("open", "43")).endswith("/churn-dev-churn-drift-43")


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
