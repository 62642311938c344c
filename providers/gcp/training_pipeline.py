"""The compiled KFP pipeline and its step code in the bucket, run on a Vertex AI schedule."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from providers.base import Capability, Deployment, asset
from providers.gcp import pipeline_definition
from providers.gcp.feature_store import FeatureStoreOut
from providers.gcp.foundation import FoundationOut
from providers.gcp.model_registry import RegistryOut
from providers.gcp.translate import GcpSettings


@dataclass(frozen=True)
class TrainingOut:
    """What a run of the training pipeline is created from (the retraining workflow makes one)."""

    template_name: pulumi.Output[str]
    """The compiled template's object name in the platform's bucket."""
    uploads: list[pulumi.Resource]
    """The code and the template: a run must not start before they exist."""
    pipeline_root: pulumi.Output[str]
    service_account: pulumi.Output[str]
    kms_key: pulumi.Output[str]
    parameter_values: Mapping[str, pulumi.Input[str]]
    display_name: str
    image: pulumi.Output[str]
    """The step and serving image, by digest: Vertex AI's prebuilt image of the framework version."""
    code_uri: pulumi.Output[str]
    """`gs://<bucket>/code/<pipeline>/<digest>`: the code bundle (the drift job runs from it too)."""


class TrainingPipeline(Capability):
    cloud = "gcp"
    capability = "TrainingPipeline"
    out: TrainingOut

    def __init__(
        self,
        name: str,
        deployment: Deployment[GcpSettings],
        foundation: FoundationOut,
        features: FeatureStoreOut,
        registry: RegistryOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        settings = deployment.settings
        pdef = deployment.pipeline
        gate = deployment.platform.pipeline.quality_gate
        bucket = foundation.bucket_name

        # Step code as objects under a content-hashed prefix: Vertex mounts them at /gcs/<bucket>/...
        # (the pipeline's files, the kit's with the GCP step I/O as mlops_io.py, the drift job)
        code = pipeline_definition.code_bundle(pdef)
        code_prefix = code.prefix.rstrip("/")
        uploads: list[pulumi.Resource] = [
            gcp.storage.BucketObject(
                f"{name}-code-{file_name.replace('.', '-').replace('_', '-')}",
                bucket=bucket,
                name=f"{code.prefix}{file_name}",
                source=asset(source),
                opts=self.child(),
            )
            for file_name, source in code.files.items()
        ]

        # The framework's prebuilt image: Google supports only its `:latest` tag, so each `pulumi up`
        # resolves the tag to a digest and every step and the served model use that digest.
        # (after the APIs: on a fresh project the look-up waits for artifactregistry.googleapis.com)
        image = gcp.artifactregistry.get_docker_image_output(
            **settings.image_lookup, opts=pulumi.InvokeOutputOptions(depends_on=foundation.apis)
        ).self_link
        spec = pipeline_definition.training_spec_json(
            pdef,
            display_name=settings.pipeline_display_name,
            gate_metric=gate.metric,
            gate_threshold=gate.threshold,
            approval=registry.approval_mode,
            step_limits=settings.step_limits,
            accelerator=settings.step_accelerator,
            io_config=settings.io_config,
        )
        spec_text = image.apply(lambda digest: pipeline_definition.with_image(spec, digest))
        template = gcp.storage.BucketObject(
            f"{name}-template",
            bucket=bucket,
            name=f"pipelines/{settings.pipeline_display_name}/pipeline.json",
            content=spec_text,
            content_type="application/json",
            # informational: the approval mode compiled into this template's register task
            metadata={"mlops-approval": deployment.platform.registry.approval},
            opts=self.child(),
        )

        root = pulumi.Output.concat(foundation.bucket_url, "/pipeline-root/", settings.pipeline_display_name)
        # String parameters only: the Schedules API takes them as strings (numbers keep defaults).
        parameter_values: dict[str, pulumi.Input[str]] = {
            "code_uri": pulumi.Output.concat(foundation.bucket_url, "/", code_prefix),
            "input_data": pulumi.Output.concat(foundation.bucket_url, f"/data/{pdef.name}/"),
            "project": settings.project,
            "location": settings.region,
            "model_id": settings.model_id,
            "serving_image": image,
            "kms_key": foundation.key_id,
            # each registered version's drift baseline lands under <baseline_root>/v<version>/
            "baseline_root": pulumi.Output.concat(
                foundation.bucket_url, f"/{pipeline_definition.BASELINE_DIR}/", settings.model_id
            ),
        }
        uploads.append(template)

        self.schedule = None
        if settings.training_schedule:
            self.schedule = gcp.colab.Schedule(
                f"{name}-schedule",
                project=settings.project,
                location=settings.region,
                display_name=f"{settings.pipeline_display_name}-schedule",
                cron=settings.training_schedule,
                max_concurrent_run_count="1",
                allow_queueing=False,
                create_pipeline_job_request=gcp.colab.ScheduleCreatePipelineJobRequestArgs(
                    parent=f"projects/{settings.project}/locations/{settings.region}",
                    pipeline_job=gcp.colab.ScheduleCreatePipelineJobRequestPipelineJobArgs(
                        display_name=settings.pipeline_display_name,
                        pipeline_spec=spec_text,
                        runtime_config=gcp.colab.ScheduleCreatePipelineJobRequestPipelineJobRuntimeConfigArgs(
                            gcs_output_directory=root,
                            parameter_values=parameter_values,
                        ),
                        service_account=foundation.account_email,
                        encryption_spec=gcp.colab.ScheduleCreatePipelineJobRequestPipelineJobEncryptionSpecArgs(
                            kms_key_name=foundation.key_id
                        ),
                        labels={**settings.labels, "trigger": "schedule"},
                    ),
                ),
                opts=self.child(depends_on=uploads),
            )

        self.out = TrainingOut(
            template_name=template.name,
            uploads=uploads,
            pipeline_root=root,
            service_account=foundation.account_email,
            kms_key=foundation.key_id,
            parameter_values=parameter_values,
            display_name=settings.pipeline_display_name,
            image=image,
            code_uri=pulumi.Output.from_input(parameter_values["code_uri"]),
        )
        self.publish(
            training_pipeline=pulumi.Output.concat(foundation.bucket_url, "/", template.name),
            training_schedule=self.schedule.id if self.schedule is not None else None,
        )
