"""Drift over the threshold -> alert by e-mail and, with retrain_on_drift, run the training pipeline.

drift log entry (ModelMonitor) -> logging.Metric counting entries over the threshold ->
monitoring.AlertPolicy -> e-mail channel (+ Pub/Sub channel -> pubsub.Topic -> eventarc.Trigger ->
workflows.Workflow that creates a Vertex pipeline job from the compiled template in the bucket).

The Pub/Sub half exists only when retraining is wired (a model is served and retrain_on_drift).
One drift incident starts one job: the policy notifies only when an incident opens
(`notification_prompts=["OPENED"]`; by default Cloud Monitoring also notifies when it closes), and
the workflow itself ignores any notification whose incident state is not `open`.
"""

from __future__ import annotations

from urllib.parse import quote

import pulumi
import pulumi_gcp as gcp
import yaml

from providers.base import Capability, Deployment
from providers.gcp.foundation import ENCRYPTER, VERTEX_RETRAIN_PERMISSIONS, FoundationOut, vertex_role
from providers.gcp.model_monitor import MonitorOut
from providers.gcp.training_pipeline import TrainingOut
from providers.gcp.translate import GcpSettings

PUBSUB_EVENT = "google.cloud.pubsub.topic.v1.messagePublished"
# Cloud Monitoring notifies on these incident events; only an opening incident starts retraining.
NOTIFY_ON = ["OPENED"]
# Pub/Sub notification payload (schema 1.2): {"incident": {"state": "open" | "closed", ...}, ...}
OPEN_STATE = "open"


def workflow_source(
    *,
    project: str,
    region: str,
    bucket: str,
    template: str,
    root: str,
    service_account: str,
    kms_key: str,
    display_name: str,
    parameter_values: dict[str, str],
    labels: dict[str, str],
) -> str:
    """Workflows YAML: read the compiled pipeline spec, create a pipeline job from it."""
    url = f"https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}/pipelineJobs"
    steps = [
        {
            # Eventarc delivers the Pub/Sub message as a CloudEvent; the notification is base64 JSON.
            "read_incident": {
                "assign": [
                    {"notification": "${json.decode(base64.decode(event.data.message.data))}"},
                    {"state": '${map.get(notification, ["incident", "state"])}'},
                ]
            }
        },
        {
            # Only an incident that opens starts a job (never its closing, nor a test message).
            "only_when_opened": {"switch": [{"condition": f'${{state != "{OPEN_STATE}"}}', "next": "ignored"}]}
        },
        {
            "read_template": {
                "call": "googleapis.storage.v1.objects.get",
                "args": {
                    "bucket": bucket,
                    "object": quote(template, safe=""),
                    "alt": "media",
                },  # path-encoded
                "result": "spec",
            }
        },
        {
            "create_pipeline_job": {
                "call": "http.post",
                "args": {
                    "url": url,
                    "auth": {"type": "OAuth2"},
                    "body": {
                        "displayName": display_name,
                        "pipelineSpec": "${spec}",
                        "serviceAccount": service_account,
                        "encryptionSpec": {"kmsKeyName": kms_key},
                        "labels": {**labels, "trigger": "drift"},
                        "runtimeConfig": {"gcsOutputDirectory": root, "parameterValues": parameter_values},
                    },
                },
                "result": "job",
            }
        },
        {"done": {"return": "${job.body.name}"}},
        {"ignored": {"return": '${"ignored: incident state " + default(state, "missing")}'}},
    ]
    return yaml.safe_dump({"main": {"params": ["event"], "steps": steps}}, sort_keys=False)


class RetrainingTrigger(Capability):
    cloud = "gcp"
    capability = "RetrainingTrigger"

    def __init__(
        self,
        name: str,
        deployment: Deployment[GcpSettings],
        foundation: FoundationOut,
        monitor: MonitorOut,
        training: TrainingOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        s = deployment.settings
        mon = deployment.platform.monitor

        email = gcp.monitoring.NotificationChannel(
            f"{name}-email",
            project=s.project,
            type="email",
            display_name=f"{s.prefix} drift alerts",
            labels={"email_address": mon.alert_email},
            user_labels=s.labels,
            opts=self.child(depends_on=foundation.apis),
        )

        self.topic: gcp.pubsub.Topic | None = None
        self.metric: gcp.logging.Metric | None = None
        self.alert: gcp.monitoring.AlertPolicy | None = None
        self.workflow: gcp.workflows.Workflow | None = None
        if monitor.schedule is None:
            # Nothing served, so no drift check runs: no drift metric to alert on and nothing for
            # drift to start. The e-mail channel stays: it is what notifies alert_email.
            self.publish(drift_alarm=[], alert_topic=email.name, retrain_target=None)
            return

        channels: list[pulumi.Input[str]] = [email.name]
        if mon.retrain_on_drift:
            channels.append(self._pubsub_channel(name, deployment, foundation))

        # Counts drift checks whose largest per-feature distance is over the threshold.
        metric_name = f"{s.prefix}-drift-over-threshold"
        self.metric = gcp.logging.Metric(
            f"{name}-drift-metric",
            project=s.project,
            name=metric_name,
            description=f"drift checks of {s.prefix} over drift_threshold {mon.drift_threshold}",
            filter=(
                f'logName="{monitor.log_name}" AND jsonPayload.mlops_platform="{s.prefix}" '
                f"AND jsonPayload.max_drift>{mon.drift_threshold}"
            ),
            metric_descriptor=gcp.logging.MetricMetricDescriptorArgs(metric_kind="DELTA", value_type="INT64", unit="1"),
            # The entries live in the platform's CMEK log bucket only (excluded from _Default).
            bucket_name=foundation.log_bucket,
            opts=self.child(),
        )
        self.alert = gcp.monitoring.AlertPolicy(
            f"{name}-drift-alarm",
            project=s.project,
            display_name=f"{s.prefix} feature drift over {mon.drift_threshold}",
            combiner="OR",
            conditions=[
                gcp.monitoring.AlertPolicyConditionArgs(
                    display_name="drift check over threshold",
                    condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                        filter=self.metric.name.apply(lambda m: f'metric.type="logging.googleapis.com/user/{m}"'),
                        comparison="COMPARISON_GT",
                        threshold_value=0,
                        duration="0s",
                        aggregations=[
                            gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                                alignment_period="300s", per_series_aligner="ALIGN_SUM"
                            )
                        ],
                    ),
                )
            ],
            notification_channels=channels,
            # Default is OPENED and CLOSED: the close notification would start a second job.
            alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(notification_prompts=NOTIFY_ON),
            documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
                content=(
                    f"A drift check of {s.prefix} found a feature whose distance to the training data "
                    f"is over {mon.drift_threshold}. See log {monitor.log_name}."
                ),
                mime_type="text/markdown",
            ),
            user_labels=s.labels,
            opts=self.child(),
        )

        if mon.retrain_on_drift:
            self.workflow = self._retrain_path(name, deployment, foundation, training)

        self.publish(
            drift_alarm=[self.alert.name],  # projects/<project>/alertPolicies/<id>
            alert_topic=email.name,  # projects/<project>/notificationChannels/<id>
            retrain_target=self.workflow.id if self.workflow is not None else None,
        )

    def _pubsub_channel(
        self, name: str, deployment: Deployment[GcpSettings], foundation: FoundationOut
    ) -> pulumi.Output[str]:
        """The topic drift notifications go to for the retraining workflow, and its channel."""
        s = deployment.settings
        project = gcp.organizations.get_project_output(project_id=s.project)
        self.topic = gcp.pubsub.Topic(
            f"{name}-topic",
            project=s.project,
            name=f"{s.prefix}-drift-alerts",
            kms_key_name=foundation.key_id,
            labels=s.labels,
            opts=self.child(depends_on=foundation.key_ready),
        )
        to_topic = gcp.monitoring.NotificationChannel(
            f"{name}-pubsub",
            project=s.project,
            type="pubsub",
            display_name=f"{s.prefix} drift events",
            labels={"topic": self.topic.id},
            user_labels=s.labels,
            opts=self.child(),
        )
        # Cloud Monitoring publishes as its notification service agent, which Google creates with
        # the project's first Pub/Sub notification channel: grant it after the channel exists (a
        # fresh project has no such agent yet, and the grant would fail). The channel needs no
        # grant to be created, only to deliver.
        gcp.pubsub.TopicIAMMember(
            f"{name}-topic-publisher",
            project=s.project,
            topic=self.topic.name,
            role="roles/pubsub.publisher",
            member=project.number.apply(
                lambda n: f"serviceAccount:service-{n}@gcp-sa-monitoring-notification.iam.gserviceaccount.com"
            ),
            opts=self.child(depends_on=[to_topic]),
        )
        return to_topic.name

    def _retrain_path(
        self, name: str, deployment: Deployment[GcpSettings], foundation: FoundationOut, training: TrainingOut
    ) -> gcp.workflows.Workflow:
        s = deployment.settings
        account = gcp.serviceaccount.Account(
            f"{name}-identity",
            project=s.project,
            account_id=s.workflow_account_id,
            display_name=f"mlops {s.prefix}: starts retraining on drift",
            opts=self.child(depends_on=foundation.apis),
        )
        retrain_role = vertex_role(
            f"{name}-vertex-role",
            s.project,
            s.prefix,
            "retrain",
            VERTEX_RETRAIN_PERMISSIONS,
            self.child(depends_on=foundation.apis),
        )
        grants = [
            # create pipeline jobs (custom role: nothing else in Vertex AI)
            gcp.projects.IAMMember(
                f"{name}-identity-vertex",
                project=s.project,
                role=retrain_role.name,
                member=account.member,
                opts=self.child(),
            ),
            # run the workflow it is the trigger of. Bound on the project: pulumi_gcp (10.x) has no
            # IAM resource for a single workflow (pulumi_gcp.workflows holds only Workflow), so it
            # cannot be scoped to the workflow. No eventarc.eventReceiver: "You don't need to grant
            # the role if you are routing direct events from Cloud Pub/Sub" ("Roles and permissions
            # for Workflows targets", https://cloud.google.com/eventarc/standard/docs/workflows/roles-permissions).
            gcp.projects.IAMMember(
                f"{name}-identity-workflows-invoker",
                project=s.project,
                role="roles/workflows.invoker",
                member=account.member,
                opts=self.child(),
            ),
            # read the compiled template, and only it (an IAM condition on the object's name)
            gcp.storage.BucketIAMMember(
                f"{name}-identity-template",
                bucket=foundation.bucket_name,
                role="roles/storage.objectViewer",
                member=account.member,
                condition=gcp.storage.BucketIAMMemberConditionArgs(
                    title="the training template only",
                    description=f"mlops {s.prefix}: the retraining workflow reads the compiled pipeline",
                    expression=training.template_name.apply(
                        lambda obj: f'resource.name == "projects/_/buckets/{s.bucket_name}/objects/{obj}"'
                    ),
                ),
                opts=self.child(),
            ),
            # start the job as the pipeline identity
            gcp.serviceaccount.IAMMember(
                f"{name}-identity-act-as",
                service_account_id=foundation.account_name,
                role="roles/iam.serviceAccountUser",
                member=account.member,
                opts=self.child(),
            ),
        ]
        workflows_agent = gcp.projects.ServiceIdentity(
            f"{name}-workflows-agent",
            project=s.project,
            service="workflows.googleapis.com",
            opts=self.child(depends_on=foundation.apis),
        )
        key_grant = gcp.kms.CryptoKeyIAMMember(
            f"{name}-key-workflows",
            crypto_key_id=foundation.key_id,
            role=ENCRYPTER,
            member=workflows_agent.member,
            opts=self.child(),
        )
        source = pulumi.Output.all(
            bucket=foundation.bucket_name,
            template=training.template_name,
            root=training.pipeline_root,
            service_account=training.service_account,
            kms_key=training.kms_key,
            params=pulumi.Output.from_input(training.parameter_values),
        ).apply(
            lambda v: workflow_source(
                project=s.project,
                region=s.region,
                bucket=v["bucket"],
                template=v["template"],
                root=v["root"],
                service_account=v["service_account"],
                kms_key=v["kms_key"],
                display_name=s.pipeline_display_name,
                parameter_values=v["params"],
                labels=s.labels,
            )
        )
        workflow = gcp.workflows.Workflow(
            f"{name}-workflow",
            project=s.project,
            region=s.region,
            name=f"{s.prefix}-retrain",
            description=f"mlops {s.prefix}: start the training pipeline on drift",
            service_account=account.id,
            source_contents=source,
            crypto_key_name=foundation.key_id,
            call_log_level="LOG_ERRORS_ONLY",
            labels=s.labels,
            opts=self.child(depends_on=[*grants, key_grant]),
        )
        gcp.eventarc.Trigger(
            f"{name}-on-drift",
            project=s.project,
            location=s.region,
            name=f"{s.prefix}-on-drift",
            matching_criterias=[gcp.eventarc.TriggerMatchingCriteriaArgs(attribute="type", value=PUBSUB_EVENT)],
            transport=gcp.eventarc.TriggerTransportArgs(
                pubsub=gcp.eventarc.TriggerTransportPubsubArgs(topic=self.topic.id)
            ),
            destination=gcp.eventarc.TriggerDestinationArgs(workflow=workflow.id),
            service_account=account.email,
            labels=s.labels,
            opts=self.child(depends_on=grants),
        )
        return workflow
