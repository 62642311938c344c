"""Day-two commands on a GCP stack: the real google-cloud-aiplatform and google-cloud-logging clients
against a local fake of the Vertex AI and Cloud Logging REST APIs (tests/ops/fake_gcp.py)."""

from __future__ import annotations

import json

import pytest

from infra.cli import main
from tests.gcp.fake_gcs import FakeGcs
from tests.ops.conftest import example, project, write_outputs
from tests.ops.fake_gcp import FakeGcp

DEV = "projects/my-ml-project/locations/europe-west4"
PROD = "projects/my-ml-prod/locations/europe-west4"
MODEL = f"{DEV}/models/churn-dev-churn"
PROD_MODEL = f"{PROD}/models/churn-prod-churn"
ENDPOINT = f"{DEV}/endpoints/1234567890"
SCHEDULE = f"{DEV}/schedules/987"
KEY = "projects/my-ml-prod/locations/europe-west4/keyRings/churn-prod/cryptoKeys/churn-prod"
DEV_APPROVALS, PROD_APPROVALS = "my-ml-project-churn-dev-gate", "my-ml-prod-churn-prod-gate"
RECORD = {
    "tenure_months": 12,
    "monthly_charges": 70.5,
    "total_charges": 846.0,
    "support_calls": 2,
    "contract_type": "monthly",
    "payment_method": "card",
    "paperless_billing": True,
    "avg_monthly_spend": 70.5,
    "support_calls_per_year": 2.0,
}


def outputs(project_id: str, prefix: str, *, serving: int | None, approval: str = "manual") -> dict:
    where = f"projects/{project_id}/locations/europe-west4"
    return {
        "cloud": "gcp",
        "region": "europe-west4",
        "platform": prefix,
        "storage_uri": f"gs://{project_id}-{prefix}-mlops",
        "encryption_key": f"projects/{project_id}/locations/europe-west4/keyRings/{prefix}/cryptoKeys/{prefix}",
        "execution_identity": f"{prefix}-ml@{project_id}.iam.gserviceaccount.com",
        "feature_groups": {},
        "model_registry": f"{where}/models/{prefix}-churn",
        "approval": approval,
        "training_pipeline": f"gs://{project_id}-{prefix}-mlops/pipelines/{prefix}-churn/pipeline.json",
        "training_schedule": f"{where}/schedules/987",
        "endpoint": f"{where}/endpoints/1234567890" if serving else None,
        "serving": f"model version {serving} of {where}/models/{prefix}-churn" if serving else "nothing served",
        "monitor": f"{where}/schedules/988" if serving else None,
        "drift_alarm": [f"projects/{project_id}/alertPolicies/555"] if serving else [],
        "alert_topic": f"projects/{project_id}/notificationChannels/777",
        "retrain_target": f"{where}/workflows/{prefix}-retrain" if serving else None,
    }


PROD_STACK = (
    example("gcp")
    .replace("gcp:project: my-ml-project", "gcp:project: my-ml-prod  # production project")
    .replace("    environment: dev\n", "    environment: prod\n    # every version is approved by a person\n")
)


@pytest.fixture
def world(tmp_path, monkeypatch):
    fake = FakeGcp()
    fake.add_version(MODEL, {"approval": "approved", "managed-by": "mlops"}, "roc_auc=0.8100", "2025-01-01T03:00:00Z")
    fake.add_version(MODEL, {"approval": "rejected", "managed-by": "mlops"}, "roc_auc=0.7900", "2025-01-02T03:00:00Z")
    fake.add_version(MODEL, {"approval": "pending", "managed-by": "mlops"}, "roc_auc=0.8400", "2025-01-03T03:00:00Z")
    fake.add_version(PROD_MODEL, {"approval": "approved"}, "roc_auc=0.8000", "2024-12-01T03:00:00Z")
    fake.endpoints[ENDPOINT] = {
        "name": ENDPOINT,
        # Vertex AI names the project by number in what it answers
        "deployedModels": [
            {"id": "4711", "model": MODEL.replace("my-ml-project", "123456789012"), "modelVersionId": "1"}
        ],
        "trafficSplit": {"4711": 100},
    }
    fake.schedules[SCHEDULE] = {
        "name": SCHEDULE,
        "createPipelineJobRequest": {
            "parent": DEV,
            "pipelineJob": {
                "displayName": "churn-dev-churn",
                "labels": {"team": "ml-platform", "trigger": "schedule"},
                "runtimeConfig": {"parameterValues": {"approval": "manual", "model_id": "churn-dev-churn"}},
                "serviceAccount": "churn-dev-ml@my-ml-project.iam.gserviceaccount.com",
            },
        },
    }
    for job_id, trigger, state, created in (
        ("sched-1", "schedule", "PIPELINE_STATE_SUCCEEDED", "2025-01-03T03:00:00Z"),
        ("drift-1", "drift", "PIPELINE_STATE_FAILED", "2025-01-04T05:00:00Z"),
    ):
        fake.jobs[f"{DEV}/pipelineJobs/{job_id}"] = {
            "name": f"{DEV}/pipelineJobs/{job_id}",
            "displayName": "churn-dev-churn",
            "labels": {"trigger": trigger},
            "state": state,
            "createTime": created,
            "startTime": created,
            "endTime": created.replace(":00:00Z", ":42:30Z"),
        }
    url = fake.start()
    monkeypatch.setattr("providers.gcp.operations.API_ENDPOINT", url)
    monkeypatch.setattr("providers.gcp.operations.LOGGING_ENDPOINT", url)
    gcs = FakeGcs(buckets={DEV_APPROVALS: {}, PROD_APPROVALS: {}})
    monkeypatch.setattr("providers.gcp.operations.STORAGE_ENDPOINT", gcs.start())
    # the versions labelled approved were approved by a person: their approval records exist
    from providers.gcp.dynamic import ApprovalRecords, model_service

    client = model_service("europe-west4", url)
    for bucket, project_id, version in (
        (DEV_APPROVALS, "my-ml-project", f"{MODEL}@1"),
        (PROD_APPROVALS, "my-ml-prod", f"{PROD_MODEL}@1"),
    ):
        ApprovalRecords(bucket, project_id, gcs.url).write(version, "approved", client.get_model(name=version))
    gcs.requests.clear()
    root = project(tmp_path, {"gcp-dev": example("gcp"), "gcp-prod": PROD_STACK})
    monkeypatch.chdir(root)
    files = {
        "gcp-dev": write_outputs(root, "gcp-dev", outputs("my-ml-project", "churn-dev", serving=1)),
        "gcp-prod": write_outputs(root, "gcp-prod", outputs("my-ml-prod", "churn-prod", serving=1)),
    }
    yield type("World", (), {"fake": fake, "fake_url": url, "gcs": gcs, "files": files, "root": root})
    fake.stop()
    gcs.stop()


def decisions(world, bucket: str, version: str) -> list[str]:
    """The decisions recorded for `version`, oldest first."""
    prefix = f"{version.replace('@', '/versions/')}/"
    return [
        json.loads(data)["decision"]
        for name, data in sorted(world.gcs.buckets[bucket].items())
        if name.startswith(prefix)
    ]


def cli(world, *args: str, stack: str = "gcp-dev") -> int:
    return main([*args, "--stack", stack, "--outputs", str(world.files[stack])])


def one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


def test_model_list(world, capsys):
    assert cli(world, "model", "list", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["registry"] == MODEL
    rows = [(v["version"], v["status"], v["traffic"], v["metrics"], v["created"]) for v in doc["versions"]]
    assert rows == [
        (3, "pending", None, {"roc_auc": 0.84}, "2025-01-03T03:00:00+00:00"),
        (2, "rejected", None, {"roc_auc": 0.79}, "2025-01-02T03:00:00+00:00"),
        (1, "approved", 100, {"roc_auc": 0.81}, "2025-01-01T03:00:00+00:00"),
    ]
    assert {v["trigger"] for v in doc["versions"]} == {"unknown"}  # the model records no trigger on GCP


def test_approve_and_reject(world, capsys):
    assert cli(world, "model", "approve", "3") == 0
    assert "version 3 approved (was pending)" in capsys.readouterr().out
    assert decisions(world, DEV_APPROVALS, f"{MODEL}@3") == ["approved"]  # what the deploy gate trusts
    assert world.fake.models[f"{MODEL}@3"]["labels"]["approval"] == "approved"
    assert "approved" in world.fake.models[f"{MODEL}@3"]["versionAliases"]  # the gate's alias moved here
    assert cli(world, "model", "reject", "3", "--reason", "bias on contract_type") == 0
    assert "version 3 rejected (was approved)" in capsys.readouterr().out
    assert decisions(world, DEV_APPROVALS, f"{MODEL}@3") == ["approved", "rejected"]
    state = world.fake.models[f"{MODEL}@3"]
    assert state["labels"] == {"approval": "rejected", "managed-by": "mlops"}
    assert "approved" not in state["versionAliases"]
    assert state["versionDescription"] == "roc_auc=0.8400; rejected with mlops model reject: bias on contract_type"
    assert cli(world, "model", "list", "--format", "json") == 0
    listed = json.loads(capsys.readouterr().out)["versions"][0]
    assert (listed["status"], listed["metrics"], listed["note"]) == (
        "rejected",
        {"roc_auc": 0.84},
        "rejected with mlops model reject: bias on contract_type",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("model", "approve", "7"), f"mlops: stack gcp-dev: no version 7 in {MODEL} (versions: 1, 2, 3)"),
        (
            ("model", "promote", "2", "--to", "gcp-prod"),
            "mlops: stack gcp-dev: version 2 is rejected, not approved; only an approved version is promoted "
            "(mlops model approve 2 --stack gcp-dev)",
        ),
    ],
)
def test_bad_input(world, capsys, args, message):
    extra = ["--to-outputs", str(world.files["gcp-prod"])] if "promote" in args else []
    assert cli(world, *args, *extra) == 2
    assert one_line_error(capsys) == message
    assert (world.root / "Pulumi.gcp-prod.yaml").read_text() == PROD_STACK
    assert [k for k in world.fake.models if k.startswith(PROD_MODEL)] == [f"{PROD_MODEL}@1"]


def test_promote_to_another_project(world, capsys):
    args = ["model", "promote", "1", "--to", "gcp-prod", "--to-outputs", str(world.files["gcp-prod"])]
    assert cli(world, *args) == 0
    out = capsys.readouterr().out
    copy = world.fake.models[f"{PROD_MODEL}@2"]
    assert copy["encryptionSpec"] == {"kmsKeyName": KEY}
    assert copy["labels"] == {"approval": "pending", "managed-by": "mlops", "promoted-from": "gcp-dev"}
    assert copy["versionDescription"] == f"roc_auc=0.8100; promoted from gcp-dev version 1 ({MODEL}@1)"
    assert copy["versionAliases"] == []  # not approved in production until a person says so
    copy_call = next(r for r in world.fake.requests if r[1].endswith("/models:copy"))
    assert copy_call[1] == f"/v1/{PROD}/models:copy"
    assert copy_call[3] == {
        "sourceModel": f"{MODEL}@1",
        "encryptionSpec": {"kmsKeyName": KEY},
        "parentModel": PROD_MODEL,
    }
    expected = PROD_STACK.replace(
        "    tags: {team: ml-platform}\n", "    tags: {team: ml-platform, promoted_model: v2-from-gcp-dev}\n"
    ).replace(
        "      model_version: 1\n",
        f"      model_version: 2  # promoted from gcp-dev version 1 ({MODEL}@1) by mlops model promote\n",
    )
    assert (world.root / "Pulumi.gcp-prod.yaml").read_text() == expected
    assert "mlops model approve 2 --stack gcp-prod" in out
    assert out.splitlines()[-1].endswith("`mlops diff` shows: model version 1 -> 2 (promoted from gcp-dev)")


def test_approve_writes_a_record_whenever_the_gate_does_not_approve_this_upload(world, capsys):
    """The class: `mlops model approve N` leaves the deploy gate passing, whatever the label says
    beforehand. Version 4 was uploaded already labelled approved (or approved before records existed):
    approving writes its record. Version 1 has its record: approving again writes nothing."""
    from providers.gcp.dynamic import ApprovalRecords, approval_state, model_service

    world.fake.add_version(
        MODEL, {"approval": "approved", "managed-by": "mlops"}, "roc_auc=0.9", "2025-01-05T03:00:00Z"
    )
    assert cli(world, "model", "approve", "4") == 0
    assert "version 4 approved (was pending)" in capsys.readouterr().out
    assert decisions(world, DEV_APPROVALS, f"{MODEL}@4") == ["approved"]
    client = model_service("europe-west4", world.fake_url)
    gate = approval_state(
        client, ApprovalRecords(DEV_APPROVALS, "my-ml-project", world.gcs.url), f"{MODEL}@4", "manual"
    )
    assert gate[0] is True, gate
    assert cli(world, "model", "approve", "1") == 0
    assert "version 1 already approved" in capsys.readouterr().out
    assert decisions(world, DEV_APPROVALS, f"{MODEL}@1") == ["approved"]  # the fixture's, nothing added


# What the kit grants `registry.approvers` (providers/gcp/model_registry.py), written literally: the
# custom role on the project, roles/storage.objectCreator on the approvals bucket.
APPROVER_VERTEX = {"aiplatform.models.get", "aiplatform.models.list", "aiplatform.models.update"}
APPROVER_STORAGE = {"storage.objects.create"}


def vertex_permission(method: str, path: str) -> str:
    """The IAM permission each Vertex AI call the fake answers needs (REST reference, "IAM Permissions")."""
    name, _, verb = path.removeprefix("/v1/").partition(":")
    if "/models/" in name:
        if verb == "listVersions":
            return "aiplatform.models.list"
        if verb == "mergeVersionAliases" or method == "PATCH":
            return "aiplatform.models.update"
        return "aiplatform.models.get" if method == "GET" and not verb else f"unmapped {method} {path}"
    if "/endpoints/" in name and method == "GET" and not verb:
        return "aiplatform.endpoints.get"
    return f"unmapped {method} {path}"


@pytest.fixture
def as_approver(world, monkeypatch):
    """The fakes refuse every call the approver's grants do not allow (403 PERMISSION_DENIED)."""
    answer = world.fake.answer

    def guarded(method: str, path: str, query: dict, body):
        permission = vertex_permission(method, path)
        if permission not in APPROVER_VERTEX:
            return 403, {
                "error": {"code": 403, "message": f"Permission '{permission}' denied", "status": "PERMISSION_DENIED"}
            }
        return answer(method, path, query, body)

    monkeypatch.setattr(world.fake, "answer", guarded)
    world.gcs.permissions = set(APPROVER_STORAGE)
    return world


def test_an_approver_with_exactly_the_kits_grants_approves_and_rejects(as_approver, capsys):
    world = as_approver
    world.fake.add_version(
        MODEL, {"approval": "approved", "managed-by": "mlops"}, "roc_auc=0.9", "2025-01-05T03:00:00Z"
    )
    assert cli(world, "model", "approve", "3") == 0
    assert "version 3 approved (was pending)" in capsys.readouterr().out
    assert cli(world, "model", "reject", "3", "--reason", "bias") == 0
    # labelled approved by the approval just made, but the approver cannot read the record back
    assert "version 3 rejected (was unknown)" in capsys.readouterr().out
    # labelled approved, records unreadable to an approver: the gate's verdict is unknown, so a record is written
    assert cli(world, "model", "approve", "4", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["before"], doc["version"]["status"]) == ("unknown", "approved")
    world.gcs.permissions = None
    assert decisions(world, DEV_APPROVALS, f"{MODEL}@3") == ["approved", "rejected"]
    assert decisions(world, DEV_APPROVALS, f"{MODEL}@4") == ["approved"]
    refused = {(r[0], r[1]) for r in world.fake.requests if "/endpoints/" in r[1]}
    assert refused == {("GET", f"/v1/{ENDPOINT}")}  # asked, refused, tolerated: traffic is unknown


def test_a_version_labelled_approved_without_a_record_is_not_promoted(world, capsys):
    """A version the uploader labelled approved itself (no approval record; the registry is
    manual) is not promoted: in a target with registry.approval auto it would become approved."""
    world.fake.add_version(
        MODEL, {"approval": "approved", "managed-by": "mlops"}, "roc_auc=0.9", "2025-01-05T03:00:00Z"
    )
    args = ["model", "promote", "4", "--to", "gcp-prod", "--to-outputs", str(world.files["gcp-prod"])]
    assert cli(world, *args) == 2
    assert one_line_error(capsys) == (
        "mlops: stack gcp-dev: version 4 is not approved by the approval gate (it carries the label "
        f"approval=approved but there is no approval record under gs://{DEV_APPROVALS}/{MODEL}/versions/4/: with "
        "registry.approval manual the label alone is not an approval (whoever can upload a model can set it)); "
        "only an approved version is promoted (mlops model approve 4 --stack gcp-dev)"
    )
    assert [k for k in world.fake.models if k.startswith(PROD_MODEL)] == [f"{PROD_MODEL}@1"]


def test_run_runs_and_wait(world, capsys, monkeypatch):
    assert cli(world, "runs", "--format", "json") == 0
    runs = json.loads(capsys.readouterr().out)["runs"]
    assert [(r["id"].rsplit("/", 1)[-1], r["status"], r["trigger"], r["duration_s"]) for r in runs] == [
        ("drift-1", "failed", "drift", 2550.0),
        ("sched-1", "succeeded", "schedule", 2550.0),
    ]

    def finish(_seconds):
        for job in world.fake.jobs.values():
            if job["state"] == "PIPELINE_STATE_PENDING":
                job.update(
                    state="PIPELINE_STATE_SUCCEEDED", startTime=job["createTime"], endTime="2025-03-01T10:20:00Z"
                )

    monkeypatch.setattr("infra.ops_cli.time.sleep", finish)
    assert cli(world, "run", "--wait", "--format", "json") == 0
    run = json.loads(capsys.readouterr().out)["run"]
    assert (run["status"], run["trigger"], run["duration_s"]) == ("succeeded", "person", 1200.0)
    created = world.fake.jobs[run["id"]]
    assert created["labels"] == {"team": "ml-platform", "trigger": "manual"}
    assert created["runtimeConfig"] == {"parameterValues": {"approval": "manual", "model_id": "churn-dev-churn"}}


def test_run_without_schedule(world, capsys, tmp_path):
    no_schedule = {**outputs("my-ml-project", "churn-dev", serving=1), "training_schedule": None}
    path = write_outputs(tmp_path, "x", no_schedule)
    assert main(["run", "--stack", "gcp-dev", "--outputs", str(path)]) == 2
    assert one_line_error(capsys).startswith("mlops: stack gcp-dev has no training schedule: on gcp `mlops run`")


def test_invoke(world, capsys, tmp_path):
    world.fake.predictions = [0.27]
    data = tmp_path / "r.csv"
    data.write_text(",".join(RECORD) + "\n" + ",".join(str(v).lower() for v in RECORD.values()) + "\n")
    assert cli(world, "invoke", "--data", str(data), "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["output"] == {"predictions": [0.27], "deployed_model_id": "4711", "model_version_id": "1"}
    sent = next(r for r in world.fake.requests if r[1].endswith(":predict"))
    assert sent[1] == f"/v1/{ENDPOINT}:predict"
    assert sent[3]["instances"] == [RECORD]  # the CSV's text, typed by the contract

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**RECORD, "paperless_billing": "maybe"}))
    assert cli(world, "invoke", "--data", str(bad)) == 2
    assert (
        one_line_error(capsys) == "mlops: --data: column 'paperless_billing' must be true/false (or 1/0), got 'maybe'"
    )


# What the kit's drift step returns for one judged window (pipelines/kit/mlops_drift.py `compare`).
DRIFT_RESULT = {
    "statistic": "ks for numbers and timestamps, linf for strings and booleans",
    "threshold": 0.2,
    "min_samples": 100,
    "n_baseline": 500,
    "n_current": 240,
    "features": {
        "monthly_charges": {"statistic": "ks", "value": 0.34, "drifted": True},
        "tenure_months": {"statistic": "ks", "value": 0.08, "drifted": False},
    },
    "status": "ok",
    "max": 0.34,
    "drifted": True,
    "window": {"since": "2025-01-04T03:00:00+00:00", "until": "2025-01-04T04:00:00+00:00"},
}


def test_drift(world, capsys):
    from providers.gcp.step_io import drift_entries

    for payload in drift_entries(DRIFT_RESULT, "churn-dev"):
        world.fake.log_entries.append(
            {
                "logName": "projects/my-ml-project/logs/mlops-drift",
                "timestamp": "2025-01-04T04:00:00Z",
                "jsonPayload": payload,
            }
        )
    assert cli(world, "drift", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["checked"] == "2025-01-04T04:00:00+00:00"
    assert doc["features"] == [
        {"feature": "monthly_charges", "value": 0.34, "drifted": True},
        {"feature": "tenure_months", "value": 0.08, "drifted": False},
    ]
    assert [(a["id"], a["state"]) for a in doc["alerts"]] == [("projects/my-ml-project/alertPolicies/555", "unknown")]
    assert doc["last_retraining"]["id"] == f"{DEV}/pipelineJobs/drift-1"
    logged = next(r for r in world.fake.requests if r[1] == "/v2/entries:list")
    # the platform's CMEK log bucket, through its view: the entries are excluded from _Default
    assert logged[3]["resourceNames"] == [
        "projects/my-ml-project/locations/europe-west4/buckets/churn-dev-mlops-logs/views/_AllLogs"
    ]


def test_drift_of_a_skipped_window_says_so(world, capsys):
    from providers.gcp.step_io import drift_entries

    skipped = {
        **DRIFT_RESULT,
        "n_current": 12,
        "features": {},
        "status": "skipped",
        "reason": "12 requests < min_samples 100",
        "max": None,
        "drifted": False,
    }
    for payload in drift_entries(skipped, "churn-dev"):
        world.fake.log_entries.append(
            {
                "logName": "projects/my-ml-project/logs/mlops-drift",
                "timestamp": "2025-01-04T05:00:00Z",
                "jsonPayload": payload,
            }
        )
    assert cli(world, "drift", "--format", "json") == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["checked"] == "2025-01-04T05:00:00+00:00"
    assert doc["features"] == []
    assert "the latest window was not judged: 12 requests < min_samples 100" in doc["notes"]
