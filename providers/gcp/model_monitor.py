"""Drift monitoring: the kit's drift step as a scheduled Vertex AI pipeline (`monitor.engine: kit`).

pulumi-gcp has no resource for Vertex AI Model Monitoring (and `monitor.engine: builtin` is refused
on GCP, see `GcpProvider.limitations`), so a one-task compiled KFP pipeline runs the kit's own drift
statistic (`mlops_drift.py`, the code every cloud runs) with the GCP step I/O, on
`monitor.schedule`: it reads the requests the endpoint logged to BigQuery in the window (the
schedule's interval), skips a window under `monitor.min_samples`, compares each request column with
the baseline of the version served, and writes the result as log entries (`logs/mlops-drift`,
resource `global`); RetrainingTrigger's log-based metrics and alert policies act on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from providers.base import Capability, Deployment
from providers.gcp import pipeline_definition
from providers.gcp.endpoint import EndpointOut
from providers.gcp.foundation import FoundationOut
from providers.gcp.training_pipeline import TrainingOut
from providers.gcp.translate import DRIFT_LOG, GcpSettings


@dataclass(frozen=True)
class MonitorOut:
    schedule: pulumi.Resource | None
    """None when nothing is monitored (nothing served)."""
    log_name: str
    """`projects/<p>/logs/mlops-drift`: where each drift check writes its result."""


class ModelMonitor(Capability):
    cloud = "gcp"
    capability = "ModelMonitor"
    out: MonitorOut

    def __init__(
        self,
        name: str,
        deployment: Deployment[GcpSettings],
        foundation: FoundationOut,
        endpoint: EndpointOut,
        training: TrainingOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        settings = deployment.settings
        monitor = deployment.platform.monitor
        display = f"{settings.prefix}-drift"
        log_name = f"projects/{settings.project}/logs/{DRIFT_LOG}"
        if not deployment.serves_model:
            # Nothing is served, so no request is logged and there is nothing to monitor yet (as on
            # the other clouds): no drift pipeline, no schedule, no alert downstream.
            self.out = MonitorOut(None, log_name)
            self.publish(monitor=None)
            return

        spec = pipeline_definition.drift_spec_json(
            display,
            monitor.drift_threshold,
            monitor.min_samples,
            settings.drift_window_seconds,
            io_config=settings.io_config,
        )
        # The same image, by digest, as the training steps and the served model.
        spec_text = training.image.apply(lambda digest: pipeline_definition.with_image(spec, digest))
        template = gcp.storage.BucketObject(
            f"{name}-template",
            bucket=foundation.bucket_name,
            name=f"pipelines/{display}/pipeline.json",
            content=spec_text,
            content_type="application/json",
            opts=self.child(),
        )

        schedule = gcp.colab.Schedule(
            f"{name}-schedule",
            project=settings.project,
            location=settings.region,
            display_name=f"{display}-schedule",
            cron=settings.monitor_schedule,
            max_concurrent_run_count="1",
            allow_queueing=False,
            create_pipeline_job_request=gcp.colab.ScheduleCreatePipelineJobRequestArgs(
                parent=f"projects/{settings.project}/locations/{settings.region}",
                pipeline_job=gcp.colab.ScheduleCreatePipelineJobRequestPipelineJobArgs(
                    display_name=display,
                    pipeline_spec=spec_text,
                    runtime_config=gcp.colab.ScheduleCreatePipelineJobRequestPipelineJobRuntimeConfigArgs(
                        gcs_output_directory=pulumi.Output.concat(foundation.bucket_url, "/pipeline-root/", display),
                        parameter_values={
                            "code_uri": training.code_uri,
                            # the baseline of the version served (the register step wrote it)
                            "baseline_uri": foundation.bucket_name.apply(
                                lambda bucket: pipeline_definition.baseline_uri(
                                    bucket, settings.model_id, deployment.model_version or 0
                                )
                            ),
                        },
                    ),
                    service_account=foundation.account_email,
                    encryption_spec=gcp.colab.ScheduleCreatePipelineJobRequestPipelineJobEncryptionSpecArgs(
                        kms_key_name=foundation.key_id
                    ),
                    labels={**settings.labels, "trigger": "monitor"},
                ),
            ),
            opts=self.child(depends_on=[template, endpoint.endpoint, *training.uploads]),
        )
        self.out = MonitorOut(schedule, log_name)
        self.publish(monitor=schedule.id)  # projects/.../locations/.../schedules/<id>
