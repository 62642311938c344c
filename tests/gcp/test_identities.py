"""Issue 16 item 1 for GCP: every identity's exact grants, written here literally.

Each grant of a plan becomes (who, what, where): the identity (the kit's service accounts by id,
Google's service agents by their domain), the role (a custom role as its literal permission list),
and the scope of the binding (project, bucket (+ IAM condition), dataset, service account, topic,
key). A change to any grant fails this test until a person updates the table.
"""

from __future__ import annotations

import re

import pytest

from infra.config import load_stack_file
from infra.plan import plan
from tests.gcp.conftest import write_stack

PROJECT = "my-ml-project"
KEY = f"projects/{PROJECT}/locations/europe-west4/keyRings/churn-dev-mlops/cryptoKeys/churn-dev-cmek"
BUCKET = "my-ml-project-churn-dev-mlops"
APPROVALS = "my-ml-project-churn-dev-gate"  # the approval records: only approvers may write there
ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"

PIPELINE_PERMISSIONS = (
    # Vertex ML Metadata, as the KFP launcher of every pipeline task records inputs and outputs
    "aiplatform.artifacts.create",
    "aiplatform.artifacts.get",
    "aiplatform.artifacts.list",
    "aiplatform.artifacts.update",
    "aiplatform.contexts.addContextArtifactsAndExecutions",
    "aiplatform.contexts.addContextChildren",
    "aiplatform.contexts.create",
    "aiplatform.contexts.get",
    "aiplatform.contexts.list",
    "aiplatform.contexts.update",
    "aiplatform.executions.addExecutionEvents",
    "aiplatform.executions.create",
    "aiplatform.executions.get",
    "aiplatform.executions.list",
    "aiplatform.executions.update",
    "aiplatform.metadataStores.get",
    # the register step: read the model, upload a version; never update (approval) or delete
    "aiplatform.models.get",
    "aiplatform.models.upload",
    "aiplatform.operations.list",  # waiting on UploadModel's operation
    "aiplatform.pipelineJobs.get",  # the driver reads its own job
)
# the retraining workflow lists the drift-started runs (in flight? within the cooldown?), then creates one;
# after a sleep it reads the drifted-feature metric (does the episode go on?)
RETRAIN_PERMISSIONS = (
    "aiplatform.pipelineJobs.create",
    "aiplatform.pipelineJobs.get",
    "aiplatform.pipelineJobs.list",
    "monitoring.timeSeries.list",
)

# (identity, role, scope) for the example stack (Pulumi.gcp-dev.yaml: a served model, retraining on).
GCP_DEV_GRANTS = {
    # the pipeline identity: runs pipeline jobs and drift checks (not the served model)
    ("churn-dev-ml", "custom:churn_dev_mlops_pipeline", f"project {PROJECT}"),
    ("churn-dev-ml", "roles/bigquery.jobUser", f"project {PROJECT}"),
    ("churn-dev-ml", "roles/logging.logWriter", f"project {PROJECT}"),
    ("churn-dev-ml", "roles/storage.objectAdmin", f"bucket {BUCKET}"),
    ("churn-dev-ml", "roles/bigquery.dataEditor", "dataset churn_dev_features"),
    ("churn-dev-ml", "roles/bigquery.dataViewer", "dataset churn_dev_serving_logs"),
    # the retraining workflow's identity: starts one pipeline job as the pipeline identity
    ("churn-dev-retrain", "custom:churn_dev_mlops_retrain", f"project {PROJECT}"),
    # start the retraining workflow: workflows.executions.create only, not roles/workflows.invoker
    ("churn-dev-retrain", "custom:churn_dev_mlops_invoker", f"project {PROJECT}"),
    (
        "churn-dev-retrain",
        "roles/storage.objectViewer",
        f'bucket {BUCKET} if resource.name == "projects/_/buckets/{BUCKET}/objects/'
        'pipelines/churn-dev-churn/pipeline.json"',
    ),
    (
        "churn-dev-retrain",
        "roles/iam.serviceAccountUser",
        f"service account projects/{PROJECT}/serviceAccounts/churn-dev-ml@{PROJECT}.iam.gserviceaccount.com",
    ),
    # Google's service agents: the platform's key only, and the alert topic
    ("agent gcp-sa-aiplatform", ENCRYPTER, f"key {KEY}"),
    ("agent gcp-sa-pubsub", ENCRYPTER, f"key {KEY}"),
    ("agent gs-project-accounts", ENCRYPTER, f"key {KEY}"),
    ("agent bigquery-encryption", ENCRYPTER, f"key {KEY}"),
    ("agent gcp-sa-logging", ENCRYPTER, f"key {KEY}"),
    ("agent gcp-sa-workflows", ENCRYPTER, f"key {KEY}"),
    ("agent gcp-sa-monitoring-notification", "roles/pubsub.publisher", "topic churn-dev-drift-alerts"),
}
# Nothing served, no retraining: no retrain identity, no workflow agent, no topic.
MINIMAL_GRANTS = {
    g
    for g in GCP_DEV_GRANTS
    if g[0] not in ("churn-dev-retrain", "agent gcp-sa-workflows", "agent gcp-sa-monitoring-notification")
}
# what the approval command calls as the approver: GetModel / ListModelVersions, UpdateModel (labels),
# MergeVersionAliases (aiplatform.models.update). The role exists in every stack (it grants nothing by
# itself: without registry.approvers, project admins grant it).
APPROVER_PERMISSIONS = ("aiplatform.models.get", "aiplatform.models.list", "aiplatform.models.update")
CUSTOM_ROLES = {
    "churn_dev_mlops_pipeline": PIPELINE_PERMISSIONS,
    "churn_dev_mlops_retrain": RETRAIN_PERMISSIONS,
    "churn_dev_mlops_invoker": ("workflows.executions.create",),
    "churn_dev_mlops_approver": APPROVER_PERMISSIONS,
}
# With registry.approvers: exactly these grants are added, and nothing else changes.
APPROVERS = ("group:ml-reviewers@example.com", "user:ana@example.com")
APPROVER_GRANTS = {
    ("group:ml-reviewers", "roles/storage.objectCreator", f"bucket {APPROVALS}"),
    ("group:ml-reviewers", "custom:churn_dev_mlops_approver", f"project {PROJECT}"),
    ("user:ana", "roles/storage.objectCreator", f"bucket {APPROVALS}"),
    ("user:ana", "custom:churn_dev_mlops_approver", f"project {PROJECT}"),
}

SCOPES = {
    "gcp:projects/iAMMember:IAMMember": ("project", "project"),
    "gcp:storage/bucketIAMMember:BucketIAMMember": ("bucket", "bucket"),
    "gcp:bigquery/datasetIamMember:DatasetIamMember": ("dataset", "datasetId"),
    "gcp:serviceaccount/iAMMember:IAMMember": ("service account", "serviceAccountId"),
    "gcp:pubsub/topicIAMMember:TopicIAMMember": ("topic", "topic"),
    "gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember": ("key", "cryptoKeyId"),
}
GRANT_TYPES_NOT_USED = (
    # Bindings that replace a whole policy or role membership: the kit never uses them (they would
    # remove grants other teams made).
    "gcp:projects/iAMBinding:IAMBinding",
    "gcp:projects/iAMPolicy:IAMPolicy",
    "gcp:storage/bucketIAMBinding:BucketIAMBinding",
    "gcp:storage/bucketIAMPolicy:BucketIAMPolicy",
)


def _who(member: str) -> str:
    email = member.removeprefix("serviceAccount:")
    agent = re.fullmatch(r"(?:service-\d+|bq-\d+)@([a-z-]+)\.iam\.gserviceaccount\.com", email)
    if agent:
        return f"agent {agent.group(1)}"
    return email.split("@", 1)[0]


def grants(result) -> set[tuple[str, str, str]]:
    roles = {
        f"projects/{r.inputs['project']}/roles/{r.inputs['roleId']}": f"custom:{r.inputs['roleId']}"
        for r in result.by_type("gcp:projects/iAMCustomRole:IAMCustomRole")
    }
    found = set()
    for r in result.resources:
        if r.type in GRANT_TYPES_NOT_USED:
            pytest.fail(f"{r.name}: {r.type} replaces grants it does not own")
        if r.type not in SCOPES:
            continue
        what, field = SCOPES[r.type]
        scope = f"{what} {r.inputs[field]}"
        condition = r.inputs.get("condition")
        if condition:
            scope += f" if {condition['expression']}"
        found.add((_who(r.inputs["member"]), roles.get(r.inputs["role"], r.inputs["role"]), scope))
    return found


def custom_roles(result) -> dict[str, tuple[str, ...]]:
    return {
        r.inputs["roleId"]: tuple(r.inputs["permissions"])
        for r in result.by_type("gcp:projects/iAMCustomRole:IAMCustomRole")
    }


def test_every_grant_of_the_example_stack(gcp_plan):
    assert grants(gcp_plan) == GCP_DEV_GRANTS
    assert custom_roles(gcp_plan) == CUSTOM_ROLES
    accounts = {r.inputs["accountId"] for r in gcp_plan.by_type("gcp:serviceaccount/account:Account")}
    assert accounts == {"churn-dev-ml", "churn-dev-retrain"}  # no serving account: see below


def test_every_grant_with_nothing_served_and_no_retraining(tmp_path):
    def change(config):
        config["mlops:platform"]["endpoint"]["model_version"] = None
        config["mlops:platform"]["monitor"]["retrain_on_drift"] = False

    result = plan(load_stack_file(write_stack(tmp_path, "gcp-min", change)))
    assert grants(result) == MINIMAL_GRANTS
    assert custom_roles(result) == {
        "churn_dev_mlops_pipeline": PIPELINE_PERMISSIONS,
        "churn_dev_mlops_approver": APPROVER_PERMISSIONS,
    }


def test_the_served_model_runs_as_vertex_ais_own_identity(gcp_plan):
    """Issue 9 item 10: the deployed model does not run as the pipeline identity (object admin on
    the bucket). With no service account the container runs as Vertex AI's identity, which "doesn't
    have access to the resource project" (proto DeployedModel.service_account) and reads only the
    model artifacts Vertex hands it (AIP_STORAGE_URI, "Use a custom service account")."""
    (deployed,) = [r for r in gcp_plan.by_type("pulumi-python:dynamic:Resource") if "machine_type" in r.inputs]
    assert "service_account" not in deployed.inputs


def test_only_approvers_may_write_approval_records(tmp_path):
    """The approval gate cannot be forged by the identity that uploads versions: the pipeline
    identity (`churn-dev-ml`, which holds aiplatform.models.upload), the retraining identity and the
    served model's identity (Vertex AI's own: no account of the kit) have NO binding on the
    approvals bucket; the approvers have exactly roles/storage.objectCreator there (create objects:
    no overwrite, no delete, no read), plus the approver role on the project."""

    def change(config):
        config["mlops:platform"]["registry"]["approvers"] = list(APPROVERS)

    result = plan(load_stack_file(write_stack(tmp_path, "gcp-approvers", change)))
    found = grants(result)
    on_approvals = {g for g in found if g[2].startswith(f"bucket {APPROVALS}")}
    assert on_approvals == {
        ("group:ml-reviewers", "roles/storage.objectCreator", f"bucket {APPROVALS}"),
        ("user:ana", "roles/storage.objectCreator", f"bucket {APPROVALS}"),
    }
    assert found == GCP_DEV_GRANTS | APPROVER_GRANTS
    assert custom_roles(result) == CUSTOM_ROLES
    # no project-wide storage role either, for anyone (it would reach the approvals bucket)
    assert not {g for g in found if g[1].startswith("roles/storage.") and g[2].startswith("project ")}


def test_no_identity_of_the_kit_can_approve_a_model_version(gcp_plan):
    """Issue 9 item 10: approving (UpdateModel labels, MergeVersionAliases) needs aiplatform.models.update;
    no identity the kit creates holds it, so approval is a reviewer's, with their own identity. And
    nobody has a binding on the approvals bucket unless registry.approvers names them."""
    granted = {what for _, what, _ in grants(gcp_plan)}
    for role, permissions in custom_roles(gcp_plan).items():
        assert "aiplatform.models.update" not in permissions or f"custom:{role}" not in granted, role
    predefined = {what for _, what, _ in grants(gcp_plan) if what.startswith("roles/")}
    assert not predefined & {"roles/aiplatform.user", "roles/aiplatform.admin", "roles/owner", "roles/editor"}
    assert not [g for g in grants(gcp_plan) if g[2].startswith(f"bucket {APPROVALS}")]
