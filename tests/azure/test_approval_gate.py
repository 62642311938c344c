"""The approval gate cannot be forged by the identity that registers models (issue 10; the defect
class found on GCP, issue 9 item 10).

The runtime identity runs the gate step and registers versions: the step code can register a
version already tagged `approval: approved`. Replayed here with the real clients (azure-ai-ml's
MLClient against tests/azure/fake_arm.py, azure-storage-blob against tests/azure/fake_blob.py):
with `registry.approval: manual` the deploy-time check (providers/azure/dynamic.py
ApprovalCheckProvider) refuses that version until an approver writes a record; with `auto` the tag
set at registration is the configured approval.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import types
from pathlib import Path

import pytest
import yaml

from providers.azure import pipeline_definition as pdef
from providers.azure.dynamic import ApprovalCheckProvider, ApprovalRecords
from providers.azure.model_registry import approve
from tests.azure.fake_arm import WS, FakeArm, ml_client
from tests.azure.fake_blob import FakeBlob

ROOT = Path(__file__).resolve().parents[2]
MODEL_URI = "azureml://subscriptions/sub/resourcegroups/rg/workspaces/ws/datastores/workspaceblobstore/paths/m/"
ACCOUNT = "churndevgate9a37a12b27"
VERSION_ID = f"{WS}/models/churn-dev-churn/versions/3"


@pytest.fixture()
def world(monkeypatch):
    # azure-core refuses bearer tokens over plain http; the fake has no TLS. Test-only relaxation.
    import azure.core.pipeline.policies._authentication as auth

    monkeypatch.setattr(auth, "_enforce_https", lambda request: request.context.options.pop("enforce_https", None))
    with FakeArm() as arm, FakeBlob() as blob:
        yield types.SimpleNamespace(
            arm=arm, blob=blob, records=ApprovalRecords(ACCOUNT, "approvals", blob.account_url(ACCOUNT))
        )


def _gate_module() -> types.ModuleType:
    module = types.ModuleType("gate_register")
    exec(compile(pdef.GATE_SCRIPT.read_text(), pdef.GATE_SCRIPT_NAME, "exec"), module.__dict__)  # noqa: S102
    return module


def _forge(world) -> None:
    """What step code running as the runtime identity can do: register version 3 with the gate
    step's own code, passing `auto` although the platform's registry is manual."""
    world.arm.add_model("churn-dev-churn", "2", {"approval": "pending"}, MODEL_URI)
    model = _gate_module().register(ml_client(world.arm.url), "churn-dev-churn", MODEL_URI, {"roc_auc": 0.9}, "auto")
    assert model.version == "3" and model.tags["approval"] == "approved"


def _check(world, mode: str) -> dict:
    props = {
        "version_id": VERSION_ID,
        "api_version": "2025-12-01",
        "mode": mode,
        "approvals_account": ACCOUNT,
        "approvals_container": "approvals",
        "arm_url": world.arm.url,
        "blob_url": world.blob.account_url(ACCOUNT),
    }
    return ApprovalCheckProvider().create(props).outs


def test_a_version_the_uploader_tagged_approved_is_refused_in_manual_mode(world):
    _forge(world)
    with pytest.raises(Exception, match="there is no approval record under") as err:
        _check(world, "manual")
    assert f"{world.blob.url}/{ACCOUNT}/approvals/churn-dev-churn/versions/3/" in str(err.value)
    assert "its tag says approval=approved" in str(err.value)
    # the check only reads
    assert [m for m, _, _ in world.arm.requests if m != "GET"] == ["PUT"]  # the forger's registration
    assert not [r for r in world.blob.requests if r[0] == "PUT"]


def test_the_same_version_is_accepted_in_auto_mode(world):
    _forge(world)
    outs = _check(world, "auto")
    assert outs["approved"] is True
    assert outs["why"] == "approved at registration (registry.approval: auto)"


def test_an_approvers_record_approves_it_in_manual_mode(world):
    _forge(world)
    approve(ml_client(world.arm.url), "churn-dev-churn", 3, approver="alice", records=world.records)
    outs = _check(world, "manual")
    assert outs["approved"] is True
    (name,) = world.blob.names(ACCOUNT, "approvals")
    assert name.startswith("churn-dev-churn/versions/3/") and name.endswith("-approved.json")
    record = json.loads(world.blob.blobs[(ACCOUNT, "approvals", name)])
    assert record["kind"] == "mlops-approval"
    assert record["decision"] == "approved"
    assert record["by"] == "alice"
    assert record["version_id"] == VERSION_ID.lower()
    assert record["model_uri"] == MODEL_URI
    assert outs["why"].startswith("approved by alice at ")


def test_a_record_about_another_registration_approves_nothing(world):
    world.arm.add_model("churn-dev-churn", "3", {"approval": "pending"}, MODEL_URI)
    approve(ml_client(world.arm.url), "churn-dev-churn", 3, records=world.records)
    # version 3 deleted and registered again on other files (what a forger could try next)
    world.arm.add_model("churn-dev-churn", "3", {"approval": "approved"}, MODEL_URI + "other/")
    with pytest.raises(Exception, match="is about another registration \\(model_uri differ\\)"):
        _check(world, "manual")


@pytest.mark.parametrize("mode", ["manual", "auto"])
def test_a_newer_rejection_stops_the_deploy_in_both_modes(world, mode):
    _forge(world)
    approve(ml_client(world.arm.url), "churn-dev-churn", 3, records=world.records)
    model = ml_client(world.arm.url).models.get(name="churn-dev-churn", version="3")
    world.records.write(VERSION_ID, "rejected", model, "drifts on day one", by="bob")
    with pytest.raises(Exception, match="-rejected.json\\) says 'rejected'"):
        _check(world, mode)


def test_refresh_reads_the_approval_back(world):
    # `pulumi refresh` (the provider's read): a rejection made after the last `up` shows in the state
    world.arm.add_model("churn-dev-churn", "3", {"approval": "pending"}, MODEL_URI)
    approve(ml_client(world.arm.url), "churn-dev-churn", 3, approver="alice", records=world.records)
    props = {**_check(world, "manual")}
    assert props["approved"] is True and props["api_version"] == "2025-12-01"
    model = ml_client(world.arm.url).models.get(name="churn-dev-churn", version="3")
    world.records.write(VERSION_ID, "rejected", model, "drifts on day one", by="bob")
    writes = ([r for r in world.blob.requests if r[0] != "GET"], [r for r in world.arm.requests if r[0] != "GET"])
    read = ApprovalCheckProvider().read(f"{VERSION_ID}/approval", props)
    assert read.id == f"{VERSION_ID}/approval"
    assert read.outs["approved"] is False and "-rejected.json) says 'rejected'" in read.outs["why"]
    # it only reads
    assert writes == (
        [r for r in world.blob.requests if r[0] != "GET"],
        [r for r in world.arm.requests if r[0] != "GET"],
    )


def test_records_are_written_create_only(world):
    world.arm.add_model("churn-dev-churn", "3", {"approval": "pending"}, MODEL_URI)
    approve(ml_client(world.arm.url), "churn-dev-churn", 3, records=world.records)
    (put,) = [r for r in world.blob.requests if r[0] == "PUT"]
    assert put[1].startswith("approvals/churn-dev-churn/versions/3/")
    # azure-storage-blob's overwrite=False is `If-None-Match: *`: the fake refuses an existing name
    (name,) = world.blob.names(ACCOUNT, "approvals")
    from azure.core.exceptions import ResourceExistsError

    with pytest.raises(ResourceExistsError):
        world.records.client.upload_blob(name, b"{}", overwrite=False)


# ---- registry.approvers: typed Entra object ids, validated ------------------------------------------


def _stack(tmp_path: Path, approvers: list) -> Path:
    document = yaml.safe_load((ROOT / "Pulumi.azure-dev.yaml").read_text())
    document["config"]["mlops:platform"].setdefault("registry", {})["approvers"] = copy.deepcopy(approvers)
    path = tmp_path / "Pulumi.azure-dev.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.mark.parametrize(
    ("approvers", "line"),
    [
        (
            ["group:2b7e0c55-8a1f-4a83-9a53-0d6f3c1e9b11", "group:reviewers@example.com"],
            "mlops: invalid config: mlops:platform.registry.approvers[1]: 'group:reviewers@example.com' is not "
            "user:, group: or servicePrincipal: followed by a Microsoft Entra object id (a GUID, e.g. from "
            "`az ad group show --group NAME --query id`)",
        ),
        (
            # no type: pulumi_azure_native would send principalType User, which ARM refuses for a group
            ["2b7e0c55-8a1f-4a83-9a53-0d6f3c1e9b11"],
            "mlops: invalid config: mlops:platform.registry.approvers[0]: '2b7e0c55-8a1f-4a83-9a53-0d6f3c1e9b11' "
            "is not user:, group: or servicePrincipal: followed by a Microsoft Entra object id (a GUID, e.g. from "
            "`az ad group show --group NAME --query id`)",
        ),
        (
            ["serviceAccount:2b7e0c55-8a1f-4a83-9a53-0d6f3c1e9b11"],
            "mlops: invalid config: mlops:platform.registry.approvers[0]: "
            "'serviceAccount:2b7e0c55-8a1f-4a83-9a53-0d6f3c1e9b11' is not user:, group: or servicePrincipal: "
            "followed by a Microsoft Entra object id (a GUID, e.g. from `az ad group show --group NAME --query id`)",
        ),
        (
            ["user:2b7e0c55-8a1f-4a83-9a53-0d6f3c1e9b11", "group:2B7E0C55-8A1F-4A83-9A53-0D6F3C1E9B11"],
            "mlops: invalid config: mlops:platform.registry.approvers[1]: 2B7E0C55-8A1F-4A83-9A53-0D6F3C1E9B11 "
            "is listed twice",
        ),
    ],
)
def test_malformed_approvers_exit_2_naming_the_key(tmp_path, approvers, line):
    path = _stack(tmp_path, approvers)
    done = subprocess.run(
        [sys.executable, "-m", "infra.cli", "validate", "--config-file", str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [line]


def test_each_approver_type_is_a_principal_type_of_pulumi_azure_native():
    # the oracle: the vendor's enum, not our copy of it
    from pulumi_azure_native.authorization import PrincipalType

    from providers.azure.translate import check_approvers

    guid = "2b7e0c55-8a1f-4a83-9a53-0d6f3c1e9b11"
    typed = check_approvers([f"user:{guid}", f"group:{guid[:-1]}2", f"servicePrincipal:{guid[:-1]}3"])
    assert [t for t, _ in typed] == ["User", "Group", "ServicePrincipal"]
    assert {t for t, _ in typed} <= {m.value for m in PrincipalType}
