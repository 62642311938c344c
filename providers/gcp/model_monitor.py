"""Drift monitoring as a scheduled Vertex AI pipeline: pulumi-gcp has no model-monitoring resource.

A small compiled KFP pipeline reads the requests the endpoint logged to BigQuery since the last
run, compares every feature with the training data, and writes the largest distance as a log entry
(`logs/mlops-drift`); RetrainingTrigger's log-based metric and alert policy act on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import pulumi
import pulumi_gcp as gcp
from croniter import croniter

from providers.base import Capability, Deployment
from providers.gcp import pipeline_definition
from providers.gcp.endpoint import EndpointOut
from providers.gcp.foundation import FoundationOut
from providers.gcp.training_pipeline import TrainingOut
from providers.gcp.translate import DRIFT_LOG, GcpSettings


def window_hours(cron: str) -> int:
    """Hours between two runs of `cron` (at least 1): each run looks at the requests since the last."""
    it = croniter(cron, datetime(2025, 1, 6, tzinfo=UTC))
    first, second = it.get_next(datetime), it.get_next(datetime)
    return max(1, math.ceil((second - first).total_seconds() / 3600))


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
        s = deployment.settings
        monitor = deployment.platform.monitor
        display = f"{s.prefix}-drift"
        log_name = f"projects/{s.project}/logs/{DRIFT_LOG}"
        if not deployment.serves_model:
            # Nothing is served, so no request is logged and there is nothing to monitor yet (as on
            # the other clouds): no drift pipeline, no schedule, no alert downstream.
            self.out = MonitorOut(None, log_name)
            self.publish(monitor=None)
            return

        spec = pipeline_definition.spec_json(
            pipeline_definition.compile_spec(
                pipeline_definition.build_drift_pipeline(
                    display, monitor.drift_threshold, window_hours(s.monitor_schedule)
                )
            )
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
            project=s.project,
            location=s.region,
            display_name=f"{display}-schedule",
            cron=s.monitor_schedule,
            max_concurrent_run_count="1",
            allow_queueing=False,
            create_pipeline_job_request=gcp.colab.ScheduleCreatePipelineJobRequestArgs(
                parent=f"projects/{s.project}/locations/{s.region}",
                pipeline_job=gcp.colab.ScheduleCreatePipelineJobRequestPipelineJobArgs(
                    display_name=display,
                    pipeline_spec=spec_text,
                    runtime_config=gcp.colab.ScheduleCreatePipelineJobRequestPipelineJobRuntimeConfigArgs(
                        gcs_output_directory=pulumi.Output.concat(foundation.bucket_url, "/pipeline-root/", display),
                        parameter_values={
                            "project": s.project,
                            "requests_table": endpoint.requests_table,
                            # The data the training pipeline reads (its `input_data`).
                            "baseline_uri": pulumi.Output.concat(
                                foundation.bucket_url, f"/data/{deployment.pipeline.name}/"
                            ),
                            "platform": s.prefix,
                        },
                    ),
                    service_account=foundation.account_email,
                    encryption_spec=gcp.colab.ScheduleCreatePipelineJobRequestPipelineJobEncryptionSpecArgs(
                        kms_key_name=foundation.key_id
                    ),
                    labels={**s.labels, "trigger": "monitor"},
                ),
            ),
            opts=self.child(depends_on=[template, endpoint.endpoint]),
        )
        self.out = MonitorOut(schedule, log_name)
        self.publish(monitor=schedule.id)  # projects/.../locations/.../schedules/<id>
