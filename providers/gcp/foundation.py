"""Enabled APIs, a Cloud KMS key used as CMEK everywhere, a private bucket, the pipeline identity."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from providers.base import Capability, Deployment
from providers.gcp.translate import GcpSettings

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
)
KEY_ROTATION = "7776000s"  # 90 days
ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
# What the pipeline and serving identity needs on the project; data access is granted per
# resource (bucket here, datasets in FeatureStore / Endpoint).
PROJECT_ROLES = (
    "roles/aiplatform.user",  # run pipeline jobs, upload model versions
    "roles/bigquery.jobUser",  # query the feature and request-log tables
    "roles/logging.logWriter",  # the drift check writes its result as a log entry
)


class Foundation(Capability):
    cloud = "gcp"
    capability = "Foundation"

    def __init__(self, name: str, deployment: Deployment, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(name, opts)
        s: GcpSettings = deployment.settings
        self.settings = s
        labels = s.labels

        # Left enabled on destroy: other workloads in the project may use the same APIs.
        self.apis = [
            gcp.projects.Service(
                f"{name}-api-{api.split('.')[0]}",
                project=s.project,
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
            project=s.project,
            name=f"{s.prefix}-mlops",
            location=s.region,
            opts=self.protected(deployment, depends_on=self.apis),
        )
        self.key = gcp.kms.CryptoKey(
            f"{name}-key",
            name=f"{s.prefix}-cmek",
            key_ring=self.key_ring.id,
            rotation_period=KEY_ROTATION,
            purpose="ENCRYPT_DECRYPT",
            labels=labels,
            opts=self.protected(deployment),
        )

        # Each Google service agent that encrypts with the key on the kit's behalf.
        vertex_agent = gcp.projects.ServiceIdentity(
            f"{name}-vertex-agent", project=s.project, service="aiplatform.googleapis.com", opts=after_apis
        )
        pubsub_agent = gcp.projects.ServiceIdentity(
            f"{name}-pubsub-agent", project=s.project, service="pubsub.googleapis.com", opts=after_apis
        )
        storage_agent = gcp.storage.get_project_service_account_output(project=s.project)
        bigquery_agent = gcp.bigquery.get_default_service_account_output(project=s.project)
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
        # Anything encrypted with the key must wait until the agents may use it.
        self.key_ready = self.key_grants

        self.bucket = gcp.storage.Bucket(
            f"{name}-bucket",
            project=s.project,
            name=s.bucket_name,
            location=s.region,
            uniform_bucket_level_access=True,
            public_access_prevention="enforced",
            encryption=gcp.storage.BucketEncryptionArgs(default_kms_key_name=self.key.id),
            versioning=gcp.storage.BucketVersioningArgs(enabled=True),
            force_destroy=False,
            labels=labels,
            opts=self.protected(deployment, depends_on=self.key_grants),
        )

        self.account = gcp.serviceaccount.Account(
            f"{name}-identity",
            project=s.project,
            account_id=s.service_account_id,
            display_name=f"mlops {s.prefix}: pipelines, serving, drift checks",
            opts=self.child(depends_on=self.apis),
        )
        self.project_grants = [
            gcp.projects.IAMMember(
                f"{name}-identity-{role.split('/')[1].replace('.', '-')}",
                project=s.project,
                role=role,
                member=self.account.member,
                opts=self.child(),
            )
            for role in PROJECT_ROLES
        ]
        gcp.storage.BucketIAMMember(
            f"{name}-identity-bucket",
            bucket=self.bucket.name,
            role="roles/storage.objectAdmin",
            member=self.account.member,
            opts=self.child(),
        )
        self.publish(
            storage_uri=self.bucket.url,
            encryption_key=self.key.id,
            execution_identity=self.account.email,
        )
