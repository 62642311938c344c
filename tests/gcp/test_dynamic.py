"""The dynamic providers call Vertex AI with the real aiplatform clients, against a local fake:
create, read (`pulumi refresh`), update, delete, and a create interrupted after Vertex accepted it."""

from __future__ import annotations

import json
import threading

import pytest

from providers.gcp import dynamic
from providers.gcp.dynamic import (
    CPU_METRIC,
    ApprovalCheckProvider,
    DeployedModelProvider,
    deployed_model_id,
    main,
)
from tests.gcp.fake_gcs import FakeGcs
from tests.gcp.fake_vertex import FakeVertex

PROJECT, REGION = "my-ml-project", "europe-west4"
MODEL = f"projects/{PROJECT}/locations/{REGION}/models/churn-dev-churn"
APPROVALS = "my-ml-project-churn-dev-gate"  # written here, not read from the code
ENDPOINT = f"projects/{PROJECT}/locations/{REGION}/endpoints/1966262384"
ATTACHMENT = f"projects/tenant-p/regions/{REGION}/serviceAttachments/sa-1966262384"


@pytest.fixture()
def vertex():
    fake = FakeVertex()
    url = fake.start()
    fake.url = url
    yield fake
    fake.stop()


@pytest.fixture()
def gcs():
    fake = FakeGcs(buckets={APPROVALS: {}})
    fake.url = fake.start()
    yield fake
    fake.stop()


def approval_props(vertex: FakeVertex, mode: str, version: str = "1", gcs: FakeGcs | None = None) -> dict:
    props = {
        "project": PROJECT,
        "region": REGION,
        "model_id": "churn-dev-churn",
        "version": version,
        "mode": mode,
        "api_endpoint": vertex.url,
    }
    if gcs is not None:
        props |= {"approvals_bucket": APPROVALS, "storage_endpoint": gcs.url}
    return props


def deploy_props(vertex: FakeVertex, **overrides) -> dict:
    props = {
        "project": PROJECT,
        "region": REGION,
        "endpoint": ENDPOINT,
        "model_id": "churn-dev-churn",
        "version": "1",
        "machine_type": "e2-standard-2",
        "accelerator_type": "",
        "accelerator_count": 0,
        "min_replicas": 1.0,
        "max_replicas": 4.0,
        "cpu_target": 70.0,
        "display_name": "churn-dev-churn-v1",
        "api_endpoint": vertex.url,
    }
    return props | overrides


def calls(vertex: FakeVertex) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in vertex.requests]


def approve_argv(version: str, vertex: FakeVertex, gcs: FakeGcs, action: str = "approve") -> list[str]:
    return [
        action,
        *("--project", PROJECT, "--region", REGION, "--platform", "churn-dev", "--model", "churn-dev-churn"),
        *("--version", version, "--api-endpoint", vertex.url, "--storage-endpoint", gcs.url),
    ]


def records(gcs: FakeGcs) -> dict[str, dict]:
    return {name: json.loads(data) for name, data in gcs.buckets[APPROVALS].items()}


def object_calls(gcs: FakeGcs) -> list[tuple[str, str]]:
    """The requests on objects (the client also looks the bucket itself up, in the background)."""
    return [(r.method, r.path) for r in gcs.requests if "/o" in r.path.split(APPROVALS, 1)[-1]]


# --- the approval check: reads, never writes ------------------------------------------------------

ARTIFACTS = "gs://my-ml-project-churn-dev-mlops/runs/1/model"


def upload(vertex: FakeVertex, labels: dict, aliases: tuple[str, ...] = (), artifact: str = ARTIFACTS) -> str:
    """What any code running as the pipeline identity can do (it holds aiplatform.models.upload):
    UploadModel with the real client, choosing the new version's labels and aliases."""
    from google.cloud import aiplatform_v1 as v1

    client = dynamic.model_service(REGION, vertex.url)
    body = v1.Model(display_name="churn-dev-churn", artifact_uri=artifact, labels=labels, version_aliases=list(aliases))
    parent = f"projects/{PROJECT}/locations/{REGION}"
    if any(k.startswith(f"{MODEL}@") for k in vertex.models):
        request = v1.UploadModelRequest(parent=parent, model=body, parent_model=MODEL)
    else:
        request = v1.UploadModelRequest(parent=parent, model=body, model_id="churn-dev-churn")
    result = client.upload_model(request=request).result()
    return f"{MODEL}@{result.model_version_id}"


def test_a_version_uploaded_already_labelled_approved_is_not_approved_in_manual_mode(vertex, gcs):
    """The forgery: the uploader registers a version with label approval=approved and alias
    `approved` (UploadModelRequest.model.labels / version_aliases). Without an approval record,
    which only approvers can write, manual mode refuses it, at `up` and at `refresh`."""
    name = upload(vertex, {"approval": "approved"}, ("approved",))
    assert vertex.models[name]["labels"] == {"approval": "approved"}  # the upload carried them
    assert vertex.models[name]["versionAliases"] == ["approved"]
    provider = ApprovalCheckProvider()
    with pytest.raises(Exception, match=r"label alone is not an approval.*providers.gcp.dynamic approve") as refused:
        provider.create(approval_props(vertex, "manual", gcs=gcs))
    assert f"no approval record under gs://{APPROVALS}/{MODEL}/versions/1/" in str(refused.value)
    assert provider.read(name, approval_props(vertex, "manual", gcs=gcs)).outs["approved"] is False
    # in auto mode the pipeline approving at registration is the configured behaviour
    assert provider.create(approval_props(vertex, "auto", gcs=gcs)).outs["approved"] is True


@pytest.mark.parametrize("mode", ["manual", "auto"])
@pytest.mark.parametrize("state", ["pending", "revoked", None])
def test_an_unapproved_version_is_refused_and_left_as_it_is(vertex, gcs, mode, state):
    vertex.models[f"{MODEL}@1"] = {"versionAliases": [], "labels": {"approval": state} if state else {}}
    provider = ApprovalCheckProvider()
    with pytest.raises(Exception, match=r"is not approved .*Deploying never approves.* providers.gcp.dynamic approve"):
        provider.create(approval_props(vertex, mode, gcs=gcs))
    assert calls(vertex) == [("GET", f"/v1/{MODEL}@1")]
    assert vertex.models[f"{MODEL}@1"]["labels"] == ({"approval": state} if state else {})
    assert records(gcs) == {}


@pytest.mark.parametrize("mode", ["manual", "auto"])
def test_the_check_never_changes_the_registry_nor_the_records(vertex, gcs, mode):
    """Issue 9 item 11, the class: every operation of the check, in either mode, only reads."""
    upload(vertex, {"approval": "pending"})
    upload(vertex, {"approval": "pending"})
    assert main(approve_argv("1", vertex, gcs)) == 0
    assert main(approve_argv("2", vertex, gcs)) == 0
    before = (json.dumps(vertex.models, sort_keys=True), records(gcs))
    vertex.requests.clear()
    gcs.requests.clear()
    provider = ApprovalCheckProvider()
    created = provider.create(approval_props(vertex, mode, gcs=gcs))
    assert created.id == f"{MODEL}@1" and created.outs["approved"] is True
    provider.diff(created.id, created.outs, approval_props(vertex, mode, "2", gcs))
    provider.update(created.id, created.outs, approval_props(vertex, mode, "2", gcs))
    provider.read(created.id, created.outs)
    provider.delete(created.id, created.outs)
    assert {method for method, _ in calls(vertex)} == {"GET"}
    assert {method for method, _ in object_calls(gcs)} == {"GET"}
    assert (json.dumps(vertex.models, sort_keys=True), records(gcs)) == before


def test_a_person_approves_with_the_command_then_the_check_passes(vertex, gcs):
    name = upload(vertex, {"approval": "pending"})
    vertex.requests.clear()
    assert main(approve_argv("1", vertex, gcs)) == 0
    # the record first (create only: never overwrites), then the label and alias people see
    (written,) = [r for r in gcs.requests if r.method == "POST"]
    assert written.path == f"/upload/storage/v1/b/{APPROVALS}/o" and written.query["ifGenerationMatch"] == "0"
    assert calls(vertex) == [
        ("GET", f"/v1/{MODEL}@1"),  # what the record is about
        ("GET", f"/v1/{MODEL}@approved"),  # nobody holds the alias yet (404)
        ("POST", f"/v1/{MODEL}@1:mergeVersionAliases"),
        ("GET", f"/v1/{MODEL}@1"),
        ("PATCH", f"/v1/{MODEL}@1"),
    ]
    assert vertex.requests[2].body == {"versionAliases": ["approved"]}
    assert "updateMask=labels" in vertex.requests[4].query
    assert vertex.requests[4].body["labels"] == {"approval": "approved"}
    ((key, record),) = records(gcs).items()
    assert key.startswith(f"{MODEL}/versions/1/") and key.endswith("-approved.json")
    assert {k: record[k] for k in ("kind", "model", "version", "decision", "artifact_uri")} == {
        "kind": "mlops-approval",
        "model": MODEL,
        "version": "1",
        "decision": "approved",
        "artifact_uri": ARTIFACTS,
    }
    assert record["version_create_time"] == vertex.models[name]["versionCreateTime"]
    result = ApprovalCheckProvider().create(approval_props(vertex, "manual", gcs=gcs))
    assert (result.id, result.outs["approved"]) == (f"{MODEL}@1", True)


def test_an_approver_needs_only_to_create_objects(vertex, gcs, capsys):
    """roles/storage.objectCreator: no list, no read, no overwrite, no bucket metadata. The command
    never reads the bucket; the client's own background look-up of the bucket (google-cloud-storage
    `BucketMetadataCache`) is refused with 403, which the client tolerates."""
    upload(vertex, {"approval": "pending"})
    gcs.permissions = {"storage.objects.create"}  # roles/storage.objectCreator, written literally
    assert main(approve_argv("1", vertex, gcs)) == 0
    assert "approved by unknown (the credentials do not name their principal) at" in capsys.readouterr().out
    assert [m for m, _ in object_calls(gcs)] == ["POST"]
    for _ in range(200):  # the look-up runs on a background thread
        if any(r.path == f"/storage/v1/b/{APPROVALS}" for r in gcs.requests):
            break
        threading.Event().wait(0.01)
    looked_up = [(r.method, r.status) for r in gcs.requests if r.path == f"/storage/v1/b/{APPROVALS}"]
    assert looked_up == [("GET", 403)]
    assert main(approve_argv("1", vertex, gcs)) == 0  # and the next write still goes through
    gcs.permissions = None
    assert ApprovalCheckProvider().create(approval_props(vertex, "manual", gcs=gcs)).outs["approved"] is True


def test_approving_a_new_version_moves_the_alias(vertex, gcs):
    upload(vertex, {"approval": "pending"})
    upload(vertex, {"approval": "pending"})
    assert main(approve_argv("1", vertex, gcs)) == 0
    vertex.requests.clear()
    assert main(approve_argv("2", vertex, gcs)) == 0
    merges = [(r.path, r.body) for r in vertex.requests if r.path.endswith(":mergeVersionAliases")]
    assert merges == [
        (f"/v1/{MODEL}@1:mergeVersionAliases", {"versionAliases": ["-approved"]}),
        (f"/v1/{MODEL}@2:mergeVersionAliases", {"versionAliases": ["approved"]}),
    ]
    assert vertex.models[f"{MODEL}@1"]["versionAliases"] == []
    # version 1 stays approved (deployable); the alias marks the latest approval
    assert vertex.models[f"{MODEL}@1"]["labels"]["approval"] == "approved"
    for version in ("1", "2"):
        assert ApprovalCheckProvider().create(approval_props(vertex, "manual", version, gcs)).outs["approved"]


@pytest.mark.parametrize("mode", ["manual", "auto"])
def test_refresh_sees_a_revoked_approval_and_the_next_up_fails(vertex, gcs, mode):
    upload(vertex, {"approval": "approved" if mode == "auto" else "pending"})
    if mode == "manual":
        assert main(approve_argv("1", vertex, gcs)) == 0
    provider = ApprovalCheckProvider()
    created = provider.create(approval_props(vertex, mode, gcs=gcs))
    assert main(approve_argv("1", vertex, gcs, "revoke")) == 0  # a person revokes it out of band
    assert vertex.models[f"{MODEL}@1"]["labels"]["approval"] == "revoked"
    refreshed = provider.read(created.id, created.outs)
    assert (refreshed.id, refreshed.outs["approved"]) == (created.id, False)
    assert provider.diff(created.id, refreshed.outs, approval_props(vertex, mode, gcs=gcs)).changes
    with pytest.raises(
        Exception, match=r"not approved \(its newest approval record .*-revoked.json#\d+\) says 'revoked'"
    ):
        provider.update(created.id, refreshed.outs, approval_props(vertex, mode, gcs=gcs))
    # Relabelling it by hand (anyone with models.update) does not undo the revocation: the record rules.
    vertex.models[f"{MODEL}@1"]["labels"]["approval"] = "approved"
    assert provider.read(created.id, created.outs).outs["approved"] is False
    # Records are append-only: approving again is a newer record.
    assert main(approve_argv("1", vertex, gcs)) == 0
    assert len(records(gcs)) == (3 if mode == "manual" else 2)
    assert provider.update(created.id, refreshed.outs, approval_props(vertex, mode, gcs=gcs)).outs["approved"]


def test_a_record_about_another_upload_approves_nothing(vertex, gcs):
    """The model is deleted and created again: its version 1 is another upload. The old record
    names the old artifact and creation time, so it does not approve the new version 1."""
    upload(vertex, {"approval": "pending"})
    assert main(approve_argv("1", vertex, gcs)) == 0
    vertex.models.clear()
    vertex.now += 86_400
    upload(vertex, {"approval": "approved"}, artifact="gs://elsewhere/model")
    with pytest.raises(Exception, match=r"is about another upload \(artifact_uri, version_create_time differ\)"):
        ApprovalCheckProvider().create(approval_props(vertex, "manual", gcs=gcs))


@pytest.mark.parametrize("a_clock", ["20990101T000000.000000Z", "99991231T235959.999999Z"])
def test_the_newest_record_is_the_servers_not_the_approvers_clock(vertex, gcs, a_clock):
    """Approver A's clock is ahead (a laptop set wrong, or a name forward-dated on purpose: objectCreator
    may create any name): A approves, then B revokes, then A labels the version approved again (models.update).
    The revocation is newer by the time Cloud Storage stamps each object with, whatever the names say
    (A's sorts last), so the version stays revoked."""
    name = upload(vertex, {"approval": "pending"})
    a_record = {
        "kind": "mlops-approval",
        "model": MODEL,
        "version": "1",
        "decision": "approved",
        "by": "a@example.com",
        "at": a_clock,
        "artifact_uri": ARTIFACTS,
        "version_create_time": vertex.models[name]["versionCreateTime"],
        "reason": "",
    }
    storage_client = dynamic.storage_client(PROJECT, gcs.url)  # approver A, create-only as the command does
    storage_client.bucket(APPROVALS).blob(f"{MODEL}/versions/1/{a_clock}-approved.json").upload_from_string(
        json.dumps(a_record), content_type="application/json", if_generation_match=0
    )
    assert main(approve_argv("1", vertex, gcs, "revoke")) == 0  # approver B, later in real time
    vertex.models[name]["labels"]["approval"] = "approved"  # A relabels it
    names = sorted(records(gcs))
    assert [n.rsplit("-", 1)[-1] for n in names] == ["revoked.json", "approved.json"]  # by name, A's is last
    with pytest.raises(Exception, match=r"newest approval record .*-revoked.json#\d+\) says 'revoked'"):
        ApprovalCheckProvider().create(approval_props(vertex, "manual", gcs=gcs))


def test_a_deleted_revocation_still_revokes(vertex, gcs):
    """Whoever holds storage.objects.delete on the bucket (project owners and editors through the
    bucket's default bindings) deletes the revocation: the bucket is versioned, the deleted record
    stays as a noncurrent generation, and the records are listed with every generation."""
    from google.cloud import storage

    upload(vertex, {"approval": "pending"})
    assert main(approve_argv("1", vertex, gcs)) == 0
    assert main(approve_argv("1", vertex, gcs, "revoke")) == 0
    (revocation,) = [n for n in records(gcs) if n.endswith("-revoked.json")]
    storage_client = dynamic.storage_client(PROJECT, gcs.url)
    storage_client.bucket(APPROVALS).blob(revocation).delete()  # an editor, with the real client
    assert isinstance(storage_client, storage.Client) and revocation not in records(gcs)
    vertex.models[f"{MODEL}@1"]["labels"]["approval"] = "approved"  # and relabels it (models.update)
    with pytest.raises(Exception, match=r"-revoked.json#\d+\) says 'revoked'"):
        ApprovalCheckProvider().create(approval_props(vertex, "manual", gcs=gcs))


def test_an_unreadable_newest_record_approves_nothing(vertex, gcs):
    upload(vertex, {"approval": "pending"})
    assert main(approve_argv("1", vertex, gcs)) == 0
    client = dynamic.storage_client(PROJECT, gcs.url)
    client.bucket(APPROVALS).blob(f"{MODEL}/versions/1/x-approved.json").upload_from_string(b"[not json")
    with pytest.raises(Exception, match=r"x-approved.json#\d+\) says 'unreadable'"):
        ApprovalCheckProvider().create(approval_props(vertex, "manual", gcs=gcs))


def test_a_missing_approvals_bucket_is_named(vertex, gcs, capsys):
    """Before the `pulumi up` that creates it: the check names it, and the approval command says so in
    one line with exit 2 (no traceback), changing nothing in the registry."""
    upload(vertex, {"approval": "approved"})
    del gcs.buckets[APPROVALS]
    with pytest.raises(RuntimeError, match=f"the approvals bucket gs://{APPROVALS} does not exist"):
        ApprovalCheckProvider().create(approval_props(vertex, "manual", gcs=gcs))
    before = json.dumps(vertex.models, sort_keys=True)
    for action in ("approve", "revoke", "status"):
        assert main(approve_argv("1", vertex, gcs, action)) == 2
        assert capsys.readouterr().err.splitlines() == [
            f"python -m providers.gcp.dynamic: the approvals bucket gs://{APPROVALS} does not exist: it is the "
            "ModelRegistry's, created by `pulumi up` (run `pulumi up` once with this revision of the kit, then approve)"
        ]
    assert json.dumps(vertex.models, sort_keys=True) == before


def test_status_reads_the_record(vertex, gcs, capsys):
    upload(vertex, {"approval": "approved"}, ("approved",))
    assert main([*approve_argv("1", vertex, gcs, "status")]) == 0
    assert "not approved (it carries the label approval=approved but there is no approval record" in (
        capsys.readouterr().out
    )
    assert main(approve_argv("1", vertex, gcs)) == 0
    capsys.readouterr()
    assert main([*approve_argv("1", vertex, gcs, "status")]) == 0
    assert f"{MODEL}@1: approved (approved by " in capsys.readouterr().out


def test_a_missing_version_is_a_clear_error_and_reads_as_gone(vertex, gcs):
    with pytest.raises(Exception, match="does not exist: the training pipeline registers versions"):
        ApprovalCheckProvider().create(approval_props(vertex, "auto", "9", gcs))
    assert calls(vertex) == [("GET", f"/v1/{MODEL}@9")]
    gone = ApprovalCheckProvider().read(f"{MODEL}@9", approval_props(vertex, "auto", "9", gcs))
    assert (gone.id, gone.outs) == ("", {})


def test_approval_diff_replaces_on_a_new_version_and_updates_on_mode(vertex, gcs):
    provider = ApprovalCheckProvider()
    old = approval_props(vertex, "manual", "1", gcs) | {"approved": True}
    new_version = provider.diff("x", old, approval_props(vertex, "manual", "2", gcs))
    assert new_version.changes and new_version.replaces == ["version"]
    mode = provider.diff("x", old, approval_props(vertex, "auto", "1", gcs))
    assert mode.changes and not mode.replaces
    assert not provider.diff("x", old, approval_props(vertex, "manual", "1", gcs)).changes


def test_a_check_declared_before_the_approvals_bucket_is_checked_again_in_place(vertex, gcs):
    """Upgrading a stack: the check's state has no approvals_bucket; the next `up` updates it (same
    URN, nothing replaced) and so applies the record rule to the version already served."""
    upload(vertex, {"approval": "approved"})  # approved by label, before approval records existed
    provider = ApprovalCheckProvider()
    old = provider.create(approval_props(vertex, "manual")).outs  # the label's rule, as before
    diff = provider.diff("x", old, approval_props(vertex, "manual", gcs=gcs))
    assert diff.changes and diff.replaces == []
    with pytest.raises(Exception, match="no approval record"):
        provider.update("x", old, approval_props(vertex, "manual", gcs=gcs))
    assert main(approve_argv("1", vertex, gcs)) == 0  # a reviewer records the approval
    assert provider.update("x", old, approval_props(vertex, "manual", gcs=gcs)).outs["approved"] is True


# --- deployed model -----------------------------------------------------------------------------


def test_deploy_model_request(vertex):
    result = DeployedModelProvider().create(deploy_props(vertex))
    deploy = next(r for r in vertex.requests if r.method == "POST")
    assert (deploy.method, deploy.path) == ("POST", f"/v1/{ENDPOINT}:deployModel")
    assert deploy.body["trafficSplit"] == {"0": 100}
    deployed = deploy.body["deployedModel"]
    assert deployed["model"] == f"{MODEL}@1"
    # the serving container runs as Vertex AI's own identity, without access to the project
    assert "serviceAccount" not in deployed
    # a deterministic id: 10 digits, no leading zero
    assert deployed["id"] == deployed_model_id(deploy_props(vertex)) == result.outs["deployed_model_id"]
    assert len(deployed["id"]) == 10 and deployed["id"][0] != "0" and deployed["id"].isdigit()
    resources = deployed["dedicatedResources"]
    assert (resources["minReplicaCount"], resources["maxReplicaCount"]) == (1, 4)
    assert resources["machineSpec"] == {"machineType": "e2-standard-2"}
    assert resources["autoscalingMetricSpecs"] == [{"metricName": CPU_METRIC, "target": 70}]
    assert result.id == f"{ENDPOINT}/deployedModels/{deployed['id']}"


def test_the_id_changes_with_everything_that_replaces_the_deployment(vertex):
    base = deploy_props(vertex)
    ids = {deployed_model_id(base)}
    for key, value in (
        ("version", "2"),
        ("machine_type", "e2-standard-4"),
        ("endpoint", ENDPOINT + "1"),
        ("accelerator_type", "NVIDIA_TESLA_T4"),
        ("display_name", "x"),
    ):
        ids.add(deployed_model_id(base | {key: value}))
    assert len(ids) == 6
    assert deployed_model_id(base | {"min_replicas": 3, "api_endpoint": "http://other"}) in ids  # scaling: in place


def test_deploy_gpu_sets_the_accelerator(vertex):
    DeployedModelProvider().create(
        deploy_props(vertex, machine_type="n1-highmem-4", accelerator_type="NVIDIA_TESLA_T4", accelerator_count=1.0)
    )
    from google.cloud.aiplatform_v1 import AcceleratorType

    deploy = next(r for r in vertex.requests if r.method == "POST")
    spec = deploy.body["deployedModel"]["dedicatedResources"]["machineSpec"]
    # The REST transport sends enums as their numbers.
    assert spec == {
        "machineType": "n1-highmem-4",
        "acceleratorType": AcceleratorType.NVIDIA_TESLA_T4.value,
        "acceleratorCount": 1,
    }


def test_read_reports_what_is_live(vertex):
    vertex.endpoint(ENDPOINT)["privateServiceConnectConfig"] = {
        "enablePrivateServiceConnect": True,
        "serviceAttachment": ATTACHMENT,
    }
    provider = DeployedModelProvider()
    created = provider.create(deploy_props(vertex))
    assert created.outs["service_attachment"] == ATTACHMENT
    live = provider.read(created.id, created.outs)
    assert live.id == created.id
    wanted = ("min_replicas", "max_replicas", "cpu_target", "machine_type", "version", "service_attachment")
    assert {k: live.outs[k] for k in wanted} == {
        "min_replicas": 1,
        "max_replicas": 4,
        "cpu_target": 70,
        "machine_type": "e2-standard-2",
        "version": "1",
        "service_attachment": ATTACHMENT,
    }
    # someone scales it by hand: refresh sees it, and the next `up` brings it back
    deployed = vertex.endpoints[ENDPOINT]["deployedModels"][0]
    deployed["dedicatedResources"]["maxReplicaCount"] = 9
    drifted = provider.read(created.id, created.outs)
    assert drifted.outs["max_replicas"] == 9
    assert provider.diff(created.id, drifted.outs, deploy_props(vertex)).changes


def test_refresh_sees_a_manual_undeploy_and_delete_tolerates_it(vertex):
    provider = DeployedModelProvider()
    created = provider.create(deploy_props(vertex))
    vertex.endpoints[ENDPOINT]["deployedModels"] = []  # undeployed out of band
    gone = provider.read(created.id, created.outs)
    assert (gone.id, gone.outs) == ("", {})
    vertex.requests.clear()
    provider.delete(created.id, created.outs)  # `pulumi destroy` after the out-of-band change
    assert calls(vertex) == [("GET", f"/v1/{ENDPOINT}")]


def test_delete_tolerates_a_deleted_endpoint(vertex):
    provider = DeployedModelProvider()
    created = provider.create(deploy_props(vertex))
    vertex.strict = True
    del vertex.endpoints[ENDPOINT]
    provider.delete(created.id, created.outs)
    assert provider.read(created.id, created.outs).id == ""


def test_delete_undeploys(vertex):
    provider = DeployedModelProvider()
    result = provider.create(deploy_props(vertex))
    vertex.requests.clear()
    provider.delete(result.id, result.outs)
    undeploy = next(r for r in vertex.requests if r.method == "POST")
    assert undeploy.path == f"/v1/{ENDPOINT}:undeployModel"
    assert undeploy.body == {"deployedModelId": result.outs["deployed_model_id"]}
    assert vertex.endpoints[ENDPOINT]["deployedModels"] == []


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
    live = provider.read("x", result.outs).outs
    assert (live["min_replicas"], live["max_replicas"], live["cpu_target"]) == (2, 6, 60)


def test_new_version_replaces_create_before_delete(vertex):
    provider = DeployedModelProvider()
    old = provider.create(deploy_props(vertex))
    diff = provider.diff("x", old.outs, deploy_props(vertex, version="2"))
    assert diff.replaces == ["version"] and diff.delete_before_replace is False
    new = provider.create(deploy_props(vertex, version="2", display_name="churn-dev-churn-v2"))
    split = vertex.endpoints[ENDPOINT]["trafficSplit"]
    assert split == {old.outs["deployed_model_id"]: 0, new.outs["deployed_model_id"]: 100}
    provider.delete(old.id, old.outs)
    assert [d["id"] for d in vertex.endpoints[ENDPOINT]["deployedModels"]] == [new.outs["deployed_model_id"]]


def test_a_replaced_endpoint_replaces_the_deployment(vertex):
    """The endpoint path comes from the AiEndpoint resource: a new endpoint means a new deployment."""
    olds = deploy_props(vertex)
    news = deploy_props(vertex, endpoint=ENDPOINT.replace("1966262384", "2000000001"))
    diff = DeployedModelProvider().diff("id", olds, news)
    assert diff.changes and diff.replaces == ["endpoint"]
    assert diff.delete_before_replace is False
    created = DeployedModelProvider().create(news)
    assert created.id.startswith(news["endpoint"] + "/deployedModels/")
    assert any(path.startswith(f"/v1/{news['endpoint']}:deployModel") for _, path in calls(vertex))


def _deploys(vertex: FakeVertex) -> list:
    return [r for r in vertex.requests if r.path.endswith(":deployModel")]


def test_an_interrupted_create_does_not_deploy_a_second_model(vertex, monkeypatch):
    """`pulumi up` dies after Vertex accepted the deployment; the next `up` creates again: it finds
    the deployment by its id and adopts it, so one model is deployed (and billed), not two."""
    monkeypatch.setattr(dynamic, "OPERATION_TIMEOUT_S", 0.3)
    monkeypatch.setattr(dynamic, "POLL_S", 0.05)
    vertex.hang_deploys = True
    provider = DeployedModelProvider()
    with pytest.raises(Exception):  # noqa: B017 - whatever ends the first run (here: the operation's timeout)
        provider.create(deploy_props(vertex))
    vertex.finish_deploys()  # the deployment completes while nobody is watching
    vertex.hang_deploys = False

    result = provider.create(deploy_props(vertex))
    assert len(_deploys(vertex)) == 1  # adopted, not deployed again
    assert [d["id"] for d in vertex.endpoints[ENDPOINT]["deployedModels"]] == [result.outs["deployed_model_id"]]


def test_a_create_retried_while_the_first_deployment_is_still_under_way_waits_for_it(vertex, monkeypatch):
    monkeypatch.setattr(dynamic, "OPERATION_TIMEOUT_S", 0.3)
    monkeypatch.setattr(dynamic, "POLL_S", 0.05)
    vertex.hang_deploys = True
    provider = DeployedModelProvider()
    with pytest.raises(Exception):  # noqa: B017
        provider.create(deploy_props(vertex))
    monkeypatch.setattr(dynamic, "OPERATION_TIMEOUT_S", 5)
    threading.Timer(0.5, vertex.finish_deploys).start()  # still deploying when the retry starts
    result = provider.create(deploy_props(vertex))
    refused = _deploys(vertex)[1]
    assert len(_deploys(vertex)) == 2 and refused.body["deployedModel"]["id"] == result.outs["deployed_model_id"]
    assert len(vertex.endpoints[ENDPOINT]["deployedModels"]) == 1  # the second one was ALREADY_EXISTS


def test_adopting_an_interrupted_deployment_applies_the_scaling_asked_for(vertex, monkeypatch):
    monkeypatch.setattr(dynamic, "OPERATION_TIMEOUT_S", 0.3)
    vertex.hang_deploys = True
    provider = DeployedModelProvider()
    with pytest.raises(Exception):  # noqa: B017
        provider.create(deploy_props(vertex))
    vertex.finish_deploys()
    vertex.hang_deploys = False
    result = provider.create(deploy_props(vertex, max_replicas=6.0))  # scaling is not part of the id
    assert len(_deploys(vertex)) == 1
    assert provider.read(result.id, result.outs).outs["max_replicas"] == 6


# --- Vertex ML Metadata store (audit finding 7) -----------------------------------------------------

KEY = f"projects/{PROJECT}/locations/{REGION}/keyRings/churn-dev-mlops/cryptoKeys/churn-dev-cmek"
STORE = f"projects/{PROJECT}/locations/{REGION}/metadataStores/default"


def store_props(vertex: FakeVertex, key: str = KEY) -> dict:
    return {"project": PROJECT, "region": REGION, "kms_key": key, "api_endpoint": vertex.url}


def test_the_metadata_store_is_created_under_the_platforms_key(vertex):
    result = dynamic.MetadataStoreProvider().create(store_props(vertex))
    assert result.id == STORE
    (create,) = [r for r in vertex.requests if r.method == "POST"]
    assert create.path == f"/v1/projects/{PROJECT}/locations/{REGION}/metadataStores"
    assert "metadataStoreId=default" in create.query
    assert create.body["encryptionSpec"] == {"kmsKeyName": KEY}
    assert result.outs["kms_key_name"] == KEY and result.outs["under_platform_key"] is True
    assert dynamic.MetadataStoreProvider().read(STORE, store_props(vertex)).outs["kms_key_name"] == KEY


def test_an_existing_metadata_store_is_adopted_never_recreated_nor_deleted(vertex):
    vertex.metadata_stores[STORE] = {"name": STORE}  # created by an earlier pipeline run: Google's key
    provider = dynamic.MetadataStoreProvider()
    result = provider.create(store_props(vertex))
    assert [r.method for r in vertex.requests] == ["GET"]  # read, not created
    assert result.outs["kms_key_name"] == "" and result.outs["under_platform_key"] is False
    vertex.requests.clear()
    provider.delete(STORE, result.outs)
    assert vertex.requests == [] and STORE in vertex.metadata_stores
    assert provider.read(STORE, store_props(vertex)).id == STORE
    del vertex.metadata_stores[STORE]
    assert provider.read(STORE, store_props(vertex)).id == ""  # gone: refresh says so
