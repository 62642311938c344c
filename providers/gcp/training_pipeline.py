"""The compiled KFP pipeline and its step code in the bucket, run on a Vertex AI schedule."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from providers.base import Capability, Deployment
from providers.gcp import pipeline_definition
from providers.gcp.foundation import Foundation
from providers.gcp.model_registry import ModelRegistry
from providers.gcp.translate import GcpSettings


class TrainingPipeline(Capability):
    cloud = "gcp"
    capability = "TrainingPipeline"

    def __init__(
        self,
        name: str,
        deployment: Deployment,
        foundation: Foundation,
        registry: ModelRegistry,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        s: GcpSettings = deployment.settings
        pdef = deployment.pipeline
        gate = deployment.platform.pipeline.quality_gate
        bucket = foundation.bucket.name

        # Step code and requirements as objects: Vertex mounts them at /gcs/<bucket>/code/...
        code_prefix = f"code/{pdef.name}"
        self.code = [
            gcp.storage.BucketObject(
                f"{name}-code-{path.stem}",
                bucket=bucket,
                name=f"{code_prefix}/steps/{path.name}",
                source=pulumi.FileAsset(str(path)),
                opts=self.child(),
            )
            for path in sorted(pdef.steps_dir.glob("*.py"))
            if not path.name.startswith("_")
        ]
        self.code.append(
            gcp.storage.BucketObject(
                f"{name}-code-requirements",
                bucket=bucket,
                name=f"{code_prefix}/requirements.txt",
                source=pulumi.FileAsset(str(pdef.requirements)),
                opts=self.child(),
            )
        )

        spec = pipeline_definition.compile_spec(
            pipeline_definition.build_training_pipeline(
                pdef,
                display_name=s.pipeline_display_name,
                gate_metric=gate.metric,
                gate_threshold=gate.threshold,
                step_limits=s.step_limits,
                accelerator=s.step_accelerator,
            )
        )
        self.spec = spec
        self.template_object = gcp.storage.BucketObject(
            f"{name}-template",
            bucket=bucket,
            name=f"pipelines/{s.pipeline_display_name}/pipeline.json",
            content=pipeline_definition.spec_json(spec),
            content_type="application/json",
            # what a run started by hand from this template must pass as its `approval` parameter
            metadata={"mlops-approval": deployment.platform.registry.approval},
            opts=self.child(),
        )

        self.root = pulumi.Output.concat(foundation.bucket.url, "/pipeline-root/", s.pipeline_display_name)
        # String parameters only: the Schedules API takes them as strings (numbers keep defaults).
        self.parameter_values = {
            "code_uri": pulumi.Output.concat(foundation.bucket.url, "/", code_prefix),
            "input_data": pulumi.Output.concat(foundation.bucket.url, f"/data/{pdef.name}/"),
            "project": s.project,
            "location": s.region,
            "model_id": s.model_id,
            "serving_image": s.serving_image,
            "approval": registry.approval_mode,
        }
        self.service_account = foundation.account.email
        self.kms_key = foundation.key.id
        self.labels = s.labels

        self.schedule = None
        if s.training_schedule:
            self.schedule = gcp.colab.Schedule(
                f"{name}-schedule",
                project=s.project,
                location=s.region,
                display_name=f"{s.pipeline_display_name}-schedule",
                cron=s.training_schedule,
                max_concurrent_run_count="1",
                allow_queueing=False,
                create_pipeline_job_request=gcp.colab.ScheduleCreatePipelineJobRequestArgs(
                    parent=f"projects/{s.project}/locations/{s.region}",
                    pipeline_job=gcp.colab.ScheduleCreatePipelineJobRequestPipelineJobArgs(
                        display_name=s.pipeline_display_name,
                        pipeline_spec=pipeline_definition.spec_json(spec),
                        runtime_config=gcp.colab.ScheduleCreatePipelineJobRequestPipelineJobRuntimeConfigArgs(
                            gcs_output_directory=self.root,
                            parameter_values=self.parameter_values,
                        ),
                        service_account=self.service_account,
                        encryption_spec=gcp.colab.ScheduleCreatePipelineJobRequestPipelineJobEncryptionSpecArgs(
                            kms_key_name=self.kms_key
                        ),
                        labels={**s.labels, "trigger": "schedule"},
                    ),
                ),
                opts=self.child(depends_on=[*self.code, self.template_object]),
            )

        self.publish(
            training_pipeline=pulumi.Output.concat(foundation.bucket.url, "/", self.template_object.name),
            training_schedule=self.schedule.id if self.schedule is not None else None,
        )
