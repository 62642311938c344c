"""Drift monitoring as a scheduled Vertex AI pipeline: pulumi-gcp has no model-monitoring resource.

A small compiled KFP pipeline reads the requests the endpoint logged to BigQuery since the last
run, compares every feature with the training data, and writes the largest distance as a log entry
(`logs/mlops-drift`); RetrainingTrigger's log-based metric and alert policy act on it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pulumi
import pulumi_gcp as gcp
from croniter import croniter

from providers.base import Capability, Deployment
from providers.gcp import pipeline_definition
from providers.gcp.endpoint import Endpoint
from providers.gcp.foundation import Foundation
from providers.gcp.translate import GcpSettings

DRIFT_LOG = "mlops-drift"


def window_hours(cron: str) -> int:
    """Hours between two runs of `cron` (at least 1): each run looks at the requests since the last."""
    it = croniter(cron, datetime(2025, 1, 6, tzinfo=UTC))
    first, second = it.get_next(datetime), it.get_next(datetime)
    return max(1, math.ceil((second - first).total_seconds() / 3600))


class ModelMonitor(Capability):
    cloud = "gcp"
    capability = "ModelMonitor"

    def __init__(
        self,
        name: str,
        deployment: Deployment,
        foundation: Foundation,
        endpoint: Endpoint,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        s: GcpSettings = deployment.settings
        monitor = deployment.platform.monitor
        display = f"{s.prefix}-drift"
        self.log_name = f"projects/{s.project}/logs/{DRIFT_LOG}"
        self.schedule: gcp.colab.Schedule | None = None
        self.spec: dict | None = None
        if deployment.platform.endpoint.model_version is None:
            # Nothing is served, so no request is logged and there is nothing to monitor yet (as on
            # the other clouds): no drift pipeline, no schedule, no alert downstream.
            self.publish(monitor=None)
            return

        spec = pipeline_definition.compile_spec(
            pipeline_definition.build_drift_pipeline(display, monitor.drift_threshold, window_hours(s.monitor_schedule))
        )
        self.spec = spec
        self.template_object = gcp.storage.BucketObject(
            f"{name}-template",
            bucket=foundation.bucket.name,
            name=f"pipelines/{display}/pipeline.json",
            content=pipeline_definition.spec_json(spec),
            content_type="application/json",
            opts=self.child(),
        )

        self.schedule = gcp.colab.Schedule(
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
                    pipeline_spec=pipeline_definition.spec_json(spec),
                    runtime_config=gcp.colab.ScheduleCreatePipelineJobRequestPipelineJobRuntimeConfigArgs(
                        gcs_output_directory=pulumi.Output.concat(foundation.bucket.url, "/pipeline-root/", display),
                        parameter_values={
                            "project": s.project,
                            "requests_table": endpoint.requests_table,
                            # The data the training pipeline reads (its `input_data`).
                            "baseline_uri": pulumi.Output.concat(
                                foundation.bucket.url, f"/data/{deployment.pipeline.name}/"
                            ),
                            "platform": s.prefix,
                        },
                    ),
                    service_account=foundation.account.email,
                    encryption_spec=gcp.colab.ScheduleCreatePipelineJobRequestPipelineJobEncryptionSpecArgs(
                        kms_key_name=foundation.key.id
                    ),
                    labels={**s.labels, "trigger": "monitor"},
                ),
            ),
            opts=self.child(depends_on=[self.template_object, endpoint.endpoint]),
        )
        self.publish(monitor=self.schedule.id)  # projects/.../locations/.../schedules/<id>
