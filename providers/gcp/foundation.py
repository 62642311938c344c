"""Enabled APIs, a Cloud KMS key used as CMEK everywhere, a private bucket, the pipeline identity."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from providers.base import Capability, Deployment
from providers.gcp.dynamic import MetadataStore
from providers.gcp.translate import LOG_RETENTION_DAYS, GcpSettings

APIS = (
    "aiplatform.googleapis.com",
    "bigquery.googleapis.com",
    "cloudkms.googleapis.com",
    "storage.googleapis.com",
    "iam.googleapis.com",
    "pubsub.googleapis.com",
    "monitoring.googleapis.com",
    "logging.googleapis.com",
    "eventarc.googleapis.com",
    "workflows.googleapis.com",
    "compute.googleapis.com",  # the VPC, address and forwarding rule of the private endpoint
    "artifactregistry.googleapis.com",  # resolving the framework image's tag to its digest
)
KEY_ROTATION = "7776000s"  # 90 days
ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
# Vertex AI permissions of the pipeline identity, instead of the project-wide predefined
# `roles/aiplatform.user` (which may create and delete endpoints, datasets, feature stores, ... of
# the whole project). Vertex AI has no resource-level IAM for models or pipeline jobs, so this
# custom role is granted on the project, but it holds only what the kit's jobs call:
VERTEX_PIPELINE_PERMISSIONS = (
    # register step (pipeline_definition.register_model): GetModel, UploadModel (a new version of
    # the model, or the model itself). No models.update: this identity can neither approve nor
    # revoke a version (labels, aliases); approving is a reviewer's, with their own identity.
    "aiplatform.models.get",
    "aiplatform.models.upload",
    # waiting on UploadModel's long-running operation
    "aiplatform.operations.list",
    # the KFP launcher of every pipeline task records its inputs/outputs in Vertex ML Metadata
    "aiplatform.metadataStores.get",
    "aiplatform.artifacts.create",
    "aiplatform.artifacts.get",
    "aiplatform.artifacts.list",
    "aiplatform.artifacts.update",
    "aiplatform.contexts.create",
    "aiplatform.contexts.get",
    "aiplatform.contexts.list",
    "aiplatform.contexts.update",
    "aiplatform.contexts.addContextArtifactsAndExecutions",
    "aiplatform.contexts.addContextChildren",
    "aiplatform.executions.create",
    "aiplatform.executions.get",
    "aiplatform.executions.list",
    "aiplatform.executions.update",
    "aiplatform.executions.addExecutionEvents",
    # its own pipeline job (the driver reads the job it belongs to)
    "aiplatform.pipelineJobs.get",
)
"""Not included, because the kit never calls them as this identity: models.update (approval),
endpoints.* (deploy, undeploy and mutate are done by `pulumi up`'s own identity through the
dynamic provider; the deployed model runs as Vertex AI's own identity), *.delete, customJobs.*
(Vertex Pipelines launches the task containers itself)."""
# What drift starts: the retraining workflow lists the drift-started pipeline jobs (one in flight,
# or one within the cooldown, starts nothing), then creates one pipeline job (run as the pipeline
# identity, which it may act as on that service account only).
VERTEX_RETRAIN_PERMISSIONS = (
    "aiplatform.pipelineJobs.create",
    "aiplatform.pipelineJobs.get",
    "aiplatform.pipelineJobs.list",
)
# Predefined roles the pipeline identity holds on the project: job-level, not data-level; data
# access is granted per resource (bucket here, datasets in FeatureStore / Endpoint).
PROJECT_ROLES = (
    "roles/bigquery.jobUser",  # run query jobs (the tables are granted per dataset)
    "roles/logging.logWriter",  # the drift check writes its result as a log entry
)


def custom_role_id(prefix: str, purpose: str) -> str:
    """IAM custom role ids are 3-64 of [a-zA-Z0-9_.]: `churn_dev_mlops_pipeline`."""
    return f"{prefix}_mlops_{purpose}".replace("-", "_")[:64]


def vertex_role(
    name: str, project: str, prefix: str, purpose: str, permissions: tuple[str, ...], opts: pulumi.ResourceOptions
) -> gcp.projects.IAMCustomRole:
    """A project custom role with exactly `permissions` (granted as `projects/<p>/roles/<id>`)."""
    return gcp.projects.IAMCustomRole(
        name,
        project=project,
        role_id=custom_role_id(prefix, purpose),
        title=f"mlops {prefix}: {purpose}",
        description=f"Least-privilege Vertex AI permissions for the mlops {prefix} {purpose} identity",
        permissions=sorted(permissions),
        stage="GA",
        opts=opts,
    )


@dataclass(frozen=True)
class FoundationOut:
    """What the other GCP components use of the foundation."""

    key_id: pulumi.Output[str]
    key_ready: list[pulumi.Resource]
    """Depend on these before creating anything encrypted with the key (the agents' grants)."""
    bucket_name: pulumi.Output[str]
    bucket_url: pulumi.Output[str]
    account_email: pulumi.Output[str]
    account_member: pulumi.Output[str]
    account_name: pulumi.Output[str]
    """The pipeline identity's full resource name (for grants on the account itself)."""
    apis: list[pulumi.Resource]
    """The enabled APIs: a resource of an API's service depends on them."""
    log_bucket: pulumi.Output[str]
    """`projects/<p>/locations/<r>/buckets/<id>`: the CMEK log bucket holding the drift-check entries."""


class Foundation(Capability):
    cloud = "gcp"
    capability = "Foundation"
    out: FoundationOut

    def __init__(
        self, name: str, deployment: Deployment[GcpSettings], opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(name, opts)
        settings = deployment.settings
        labels = settings.labels

        # Left enabled on destroy: other workloads in the project may use the same APIs.
        self.apis = [
            gcp.projects.Service(
                f"{name}-api-{api.split('.')[0]}",
                project=settings.project,
                service=api,
                disable_on_destroy=False,
                opts=self.child(),
            )
            for api in APIS
        ]
        after_apis = self.child(depends_on=self.apis)

        # Key rings cannot be deleted in GCP; keys are scheduled for destruction: both protected.
        self.key_ring = gcp.kms.KeyRing(
            f"{name}-keyring",
            project=settings.project,
            name=f"{settings.prefix}-mlops",
            location=settings.region,
            opts=self.protected(deployment, depends_on=self.apis),
        )
        self.key = gcp.kms.CryptoKey(
            f"{name}-key",
            name=f"{settings.prefix}-cmek",
            key_ring=self.key_ring.id,
            rotation_period=KEY_ROTATION,
            purpose="ENCRYPT_DECRYPT",
            labels=labels,
            opts=self.protected(deployment),
        )

        # Each Google service agent that encrypts with the key on the kit's behalf.
        vertex_agent = gcp.projects.ServiceIdentity(
            f"{name}-vertex-agent", project=settings.project, service="aiplatform.googleapis.com", opts=after_apis
        )
        pubsub_agent = gcp.projects.ServiceIdentity(
            f"{name}-pubsub-agent", project=settings.project, service="pubsub.googleapis.com", opts=after_apis
        )
        # Look-ups run at preview too: on a fresh project they wait for their API like resources do.
        after_apis_invoke = pulumi.InvokeOutputOptions(depends_on=self.apis)
        storage_agent = gcp.storage.get_project_service_account_output(project=settings.project, opts=after_apis_invoke)
        bigquery_agent = gcp.bigquery.get_default_service_account_output(
            project=settings.project, opts=after_apis_invoke
        )
        agents = {
            "vertex": vertex_agent.member,
            "pubsub": pubsub_agent.member,
            "storage": storage_agent.member,
            "bigquery": bigquery_agent.member,
        }
        self.key_grants = [
            gcp.kms.CryptoKeyIAMMember(
                f"{name}-key-{agent}",
                crypto_key_id=self.key.id,
                role=ENCRYPTER,
                member=member,
                opts=self.child(),
            )
            for agent, member in agents.items()
        ]

        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            project=settings.project,
            name=settings.bucket_name,
            location=settings.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=self.key.id),
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            force_destroy=False,
            labels=labels,
            opts=self.protected(deployment, depends_on=self.key_grants),
        )

        self.log_bucket = self._log_bucket(name, deployment)

        # Vertex ML Metadata (every pipeline task's artifacts and executions) under the key, after
        # Vertex AI's agent may use it; adopted as it is when the region already has one (dynamic.py).
        self.metadata_store = MetadataStore(
            f"{name}-metadata-store",
            {"project": settings.project, "region": settings.region, "kms_key": self.key.id},
            opts=self.child(depends_on=self.key_grants),
        )

        self.account = gcp.serviceaccount.Account(
            f"{name}-identity",
            project=settings.project,
            account_id=settings.service_account_id,
            display_name=f"mlops {settings.prefix}: pipelines, serving, drift checks",
            opts=self.child(depends_on=self.apis),
        )
        self.vertex_role = vertex_role(
            f"{name}-vertex-role",
            settings.project,
            settings.prefix,
            "pipeline",
            VERTEX_PIPELINE_PERMISSIONS,
            after_apis,
        )
        gcp.projects.IAMMember(
            f"{name}-identity-vertex",
            project=settings.project,
            role=self.vertex_role.name,
            member=self.account.member,
            opts=self.child(),
        )
        for role in PROJECT_ROLES:
            gcp.projects.IAMMember(
                f"{name}-identity-{role.split('/')[1].replace('.', '-')}",
                project=settings.project,
                role=role,
                member=self.account.member,
                opts=self.child(),
            )
        gcp.storage.BucketIAMMember(
            f"{name}-identity-bucket",
            bucket=self.bucket.name,
            role="roles/storage.objectAdmin",
            member=self.account.member,
            opts=self.child(),
        )
        self.out = FoundationOut(
            key_id=self.key.id,
            key_ready=list(self.key_grants),
            bucket_name=self.bucket.name,
            bucket_url=self.bucket.url,
            account_email=self.account.email,
            account_member=self.account.member,
            account_name=self.account.name,
            apis=list(self.apis),
            log_bucket=self.log_bucket.id,
        )
        self.publish(
            storage_uri=self.bucket.url,
            encryption_key=self.key.id,
            execution_identity=self.account.email,
        )

    def _log_bucket(self, name: str, deployment: Deployment[GcpSettings]) -> gcp.logging.ProjectBucketConfig:
        """The platform's drift-check log entries, under the platform's key: a CMEK log bucket, a sink
        routing them there, and an exclusion keeping them out of `_Default` (Google-managed key).

        Cloud Logging encrypts with its own service account ("Configure CMEK for log storage",
        https://cloud.google.com/logging/docs/routing/managed-encryption-storage): it needs
        encrypter/decrypter on the key before the bucket is created with it, and the key must be
        in the bucket's location."""
        settings = deployment.settings
        logging_agent = gcp.logging.get_project_cmek_settings_output(
            project=settings.project, opts=pulumi.InvokeOutputOptions(depends_on=self.apis)
        )
        grant = gcp.kms.CryptoKeyIAMMember(
            f"{name}-key-logging",
            crypto_key_id=self.key.id,
            role=ENCRYPTER,
            member=logging_agent.service_account_id.apply(lambda email: f"serviceAccount:{email}"),
            opts=self.child(),
        )
        bucket = gcp.logging.ProjectBucketConfig(
            f"{name}-log-bucket",
            project=settings.project,
            location=settings.region,
            bucket_id=settings.log_bucket_id,
            description=f"mlops {settings.prefix}: drift-check results, under the platform's key",
            retention_days=LOG_RETENTION_DAYS,
            cmek_settings=gcp.logging.ProjectBucketConfigCmekSettingsArgs(kms_key_name=self.key.id),
            opts=self.protected(deployment, depends_on=[grant, *self.apis]),
        )
        gcp.logging.ProjectSink(
            f"{name}-log-sink",
            project=settings.project,
            name=f"{settings.prefix}-mlops-logs",
            description=f"mlops {settings.prefix}: drift-check results to the CMEK log bucket",
            destination=pulumi.Output.concat("logging.googleapis.com/", bucket.id),
            filter=settings.drift_log_filter,
            opts=self.child(),
        )
        gcp.logging.ProjectExclusion(
            f"{name}-log-exclusion",
            project=settings.project,
            name=f"{settings.prefix}-mlops-drift",
            description=f"mlops {settings.prefix}: drift-check results are kept in {settings.log_bucket_id} only",
            filter=settings.drift_log_filter,
            opts=self.child(depends_on=self.apis),
        )
        return bucket
