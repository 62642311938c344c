"""TrainingPipeline: step code as a code asset, an environment built from a wheelhouse (no
internet), one registered component per step, and an `ml.Schedule` that creates the pipeline job
on `pipeline.schedule`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi_azure_native import machinelearningservices as ml
from pulumi_azure_native import storage

from providers.azure import pipeline_definition as pdef
from providers.azure import wheelhouse
from providers.azure.feature_store import FeatureStoreOut
from providers.azure.foundation import FoundationOut
from providers.azure.model_registry import RegistryOut
from providers.azure.sdk_cache import RestBody, sdk_built
from providers.azure.translate import AzureSettings
from providers.base import Capability, Deployment, asset

DATA_ROOT = "azureml://datastores/mlopsdata/paths"
"""The data account (ADLS Gen2), through the workspace's identity-based datastore `mlopsdata`."""
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def job_args(rest: dict[str, Any], fill: pulumi.Output[Any]) -> ml.PipelineJobArgs:
    """The REST pipeline job as Pulumi args (nodes stay free-form JSON, as the API takes them)."""
    inputs: dict[str, Any] = {}
    for key, value in rest.get("inputs", {}).items():
        if value["jobInputType"] == "literal":
            inputs[key] = ml.LiteralJobInputArgs(job_input_type="literal", value=value["value"])
        else:
            inputs[key] = ml.UriFolderJobInputArgs(job_input_type=value["jobInputType"], uri=value["uri"])
    outputs = {
        key: ml.UriFolderJobOutputArgs(
            job_output_type=value["jobOutputType"], uri=value.get("uri"), mode=value.get("mode")
        )
        for key, value in rest.get("outputs", {}).items()
    }
    return ml.PipelineJobArgs(
        job_type="Pipeline",
        display_name=rest.get("displayName"),
        description=rest.get("description"),
        experiment_name=rest.get("experimentName"),
        identity=fill.apply(
            lambda f: ml.ManagedIdentityArgs(
                identity_type="Managed",
                client_id=f(rest["identity"])["clientId"],
                resource_id=f(rest["identity"])["resourceId"],
            )
        ),
        inputs=inputs,
        outputs=outputs,
        settings={k: v for k, v in rest.get("settings", {}).items() if not k.startswith("_")},
        jobs=fill.apply(lambda f: f(rest["jobs"])),
    )


@sdk_built("environment-properties")
def environment_properties(code_base: str, context: str, tags: dict[str, str], framework: str) -> RestBody:
    """The environment version's REST properties from azure-ai-ml's Environment entity: a Docker
    build context (a blob folder) instead of a conda file."""
    from azure.ai.ml.entities import BuildContext, Environment

    entity = Environment(
        name="x",
        version="1",
        build=BuildContext(path=f"{code_base}{context}/", dockerfile_path="Dockerfile"),
        os_type="Linux",
        description=f"pipeline steps and serving ({framework} pinned), built from a wheelhouse",
        tags=dict(tags),
    )
    return entity._to_rest_object().as_dict()["properties"]


@dataclass(frozen=True)
class TrainingOut:
    code_id: pulumi.Output[str]
    """The code asset version (step scripts and the scoring script)."""
    environment_id: pulumi.Output[str]
    job_body: pulumi.Output[dict[str, Any]]
    """The pipeline job as the REST API takes it (what the retraining workflow submits)."""
    environment_version: pulumi.Resource
    training_data: str
    """Where the pipeline writes the training split."""
    code_ref: str
    """The code asset as a component references it (`pipeline_definition.code_ref`)."""
    environment_ref: str
    fill: pulumi.Output[Any]
    """`value -> value` with the template ids and stand-in names replaced by the real ones."""


class TrainingPipeline(Capability):
    cloud = "azure"
    capability = "TrainingPipeline"
    out: TrainingOut

    def __init__(
        self,
        name: str,
        deployment: Deployment[AzureSettings],
        foundation: FoundationOut,
        features: FeatureStoreOut,
        registry: RegistryOut,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(name, opts)
        settings, platform, pipeline = deployment.settings, deployment.platform, deployment.pipeline
        resource_group_name, workspace_name = foundation.resource_group_name, foundation.workspace_name

        # Code asset: every file as a blob under a content-addressed folder, so a new version of
        # the code is a new folder and a new asset version (assets are immutable).
        code_uri = foundation.names.apply(lambda n: f"https://{n.code_account}.blob.core.windows.net/code/")
        code = pdef.code_bundle(pipeline)
        self.code_version_name = code.digest
        folder = f"{pipeline.name}/{self.code_version_name}"
        blobs = [
            storage.Blob(
                f"{name}-code-{fname.replace('.', '-').replace('_', '-')}",
                blob_name=f"{folder}/{fname}",
                container_name=foundation.code_container_name,
                account_name=foundation.code_account_name,
                resource_group_name=resource_group_name,
                content_type="text/x-python" if fname.endswith(".py") else "text/plain",
                source=asset(source),
                opts=self.child(),
            )
            for fname, source in code.files.items()
        ]
        code_container = ml.CodeContainer(
            f"{name}-code",
            name=f"{settings.prefix}-steps",
            workspace_name=workspace_name,
            resource_group_name=resource_group_name,
            properties=ml.CodeContainerPropertiesArgs(
                description=f"step code of pipeline {pipeline.name}", tags=settings.tags
            ),
            opts=self.child(),
        )
        self.code = ml.CodeVersion(
            f"{name}-code-version",
            name=code_container.name,
            version=self.code_version_name,
            workspace_name=workspace_name,
            resource_group_name=resource_group_name,
            properties=ml.CodeVersionPropertiesArgs(
                code_uri=code_uri.apply(lambda base: f"{base}{folder}/"), tags=settings.tags
            ),
            opts=self.child(depends_on=blobs),
        )
        env_container = ml.EnvironmentContainer(
            f"{name}-env",
            name=f"{settings.prefix}-steps-env",
            workspace_name=workspace_name,
            resource_group_name=resource_group_name,
            properties=ml.EnvironmentContainerPropertiesArgs(tags=settings.tags),
            opts=self.child(),
        )
        # The image every step runs in and the model is served from, built by Azure ML from a
        # build context in the code account: Dockerfile, requirements (the framework pinned), and
        # the wheelhouse `python -m providers.azure.wheelhouse <pipeline>` downloads beforehand.
        self.env_version_name = wheelhouse.digest(pipeline)
        context = f"env/{self.env_version_name}"
        context_files: dict[str, pulumi.Asset] = {
            "Dockerfile": pulumi.StringAsset(wheelhouse.dockerfile()),
            "requirements.txt": pulumi.StringAsset(wheelhouse.requirements(pipeline)),
            wheelhouse.ARCHIVE: pulumi.FileAsset(str(wheelhouse.archive_path(pipeline, PROJECT_ROOT))),
        }
        context_blobs = [
            storage.Blob(
                f"{name}-env-{fname.replace('.', '-').lower()}",
                blob_name=f"{context}/{fname}",
                container_name=foundation.code_container_name,
                account_name=foundation.code_account_name,
                resource_group_name=resource_group_name,
                source=source,
                opts=self.child(),
            )
            for fname, source in context_files.items()
        ]
        self.environment = ml.EnvironmentVersion(
            f"{name}-env-version",
            name=env_container.name,
            version=self.env_version_name,
            workspace_name=workspace_name,
            resource_group_name=resource_group_name,
            properties=code_uri.apply(
                lambda base: environment_properties(base, context, settings.tags, pipeline.framework.name)
            ),
            opts=self.child(depends_on=context_blobs),
        )

        gate = platform.pipeline.quality_gate
        code_ref = pdef.code_ref(f"{settings.prefix}-steps", self.code_version_name)
        environment_ref = pdef.environment_ref(f"{settings.prefix}-steps-env", self.env_version_name)
        compiled = pdef.compile_training(
            pipeline,
            prefix=settings.prefix,
            code=code_ref,
            environment=environment_ref,
            instance_type=settings.training_instance,
            gate_metric=gate.metric,
            gate_threshold=gate.threshold,
            approval=platform.registry.approval,
            model_name=registry.model_name,
            data_root=DATA_ROOT,
            tags=settings.tags,
        )
        problems = compiled["problems"]
        if problems:  # a kit bug, not a config error: fail loudly before anything is declared
            raise RuntimeError("pipeline bindings are broken: " + "; ".join(problems))
        self.training_data = pdef.training_data_path(DATA_ROOT, pipeline)

        fill = pulumi.Output.all(
            foundation.workspace_id, foundation.identity_id, foundation.identity_client_id, foundation.names
        ).apply(
            lambda ids: lambda value: pdef.fill(value, ids[0], ids[1], ids[2], {pdef.DATA_ACCOUNT: ids[3].data_account})
        )
        versions: dict[str, str] = compiled["versions"]
        components = []
        for cname, spec in compiled["specs"].items():
            container = ml.ComponentContainer(
                f"{name}-{cname}",
                name=cname,
                workspace_name=workspace_name,
                resource_group_name=resource_group_name,
                properties=ml.ComponentContainerPropertiesArgs(description=spec.get("description"), tags=settings.tags),
                opts=self.child(),
            )
            components.append(
                ml.ComponentVersion(
                    f"{name}-{cname}-version",
                    name=cname,
                    version=versions[cname],
                    workspace_name=workspace_name,
                    resource_group_name=resource_group_name,
                    # Tags travel inside the spec, where azure-ai-ml's Component entity puts them.
                    properties=ml.ComponentVersionPropertiesArgs(
                        component_spec=fill.apply(lambda f, spec=spec: f(spec))  # type: ignore[misc]  # mypy cannot type a lambda with a default argument (python/mypy#15459)
                    ),
                    opts=self.child(depends_on=[container, self.code, self.environment]),
                )
            )

        rest = compiled["rest"]
        self.job_body = fill.apply(lambda f: f(rest))
        # The job definition as a file next to the code: `az ml job create -f` runs it by hand.
        definition = storage.Blob(
            f"{name}-definition",
            blob_name=f"{folder}/pipeline.json",
            container_name=foundation.code_container_name,
            account_name=foundation.code_account_name,
            resource_group_name=resource_group_name,
            content_type="application/json",
            source=fill.apply(lambda f: pulumi.StringAsset(json.dumps(f(compiled["yaml"]), indent=1, default=str))),
            opts=self.child(),
        )
        self.schedule = None
        if platform.pipeline.schedule:
            self.schedule = ml.Schedule(
                f"{name}-schedule",
                name=f"{settings.prefix}-training",
                workspace_name=workspace_name,
                resource_group_name=resource_group_name,
                properties=ml.SchedulePropertiesArgs(
                    display_name=f"{settings.prefix} training",
                    trigger=ml.CronTriggerArgs(
                        trigger_type="Cron", expression=platform.pipeline.schedule, time_zone="UTC"
                    ),
                    action=ml.JobScheduleActionArgs(action_type="CreateJob", job_definition=job_args(rest, fill)),
                    is_enabled=True,
                    tags=settings.tags,
                ),
                opts=self.child(depends_on=[*components, foundation.network_ready]),
            )
        self.out = TrainingOut(
            code_id=self.code.id,
            environment_id=self.environment.id,
            job_body=self.job_body,
            training_data=self.training_data,
            environment_version=self.environment,
            code_ref=code_ref,
            environment_ref=environment_ref,
            fill=fill,
        )
        self.publish(
            training_pipeline=pulumi.Output.all(definition.id, code_uri).apply(
                lambda a: f"{a[1]}{folder}/pipeline.json"
            ),
            training_schedule=self.schedule.id if self.schedule else None,
        )
