"""Build the Azure ML pipeline job for a cloud-neutral `PipelineDef`, offline, with azure-ai-ml.

One command component per step, each running exactly `PipelineDef.command(...)` with Azure ML's
`${{inputs.x}}` / `${{outputs.y}}` placeholders as paths, then a `gate_register` component that
applies the quality gate and registers the model with its approval tag. Nothing here touches the
network. References are in azure-ai-ml's wire format (what its resolvers send): a component's code
and environment as `azureml:<workspace ARM id>/codes|environments/<name>/versions/<version>`, a
pipeline node's component as `<workspace ARM id>/components/<name>/versions/<version>`, the job's
identity as the runtime identity's client and resource id. The workspace and identity are not
known offline: a parseable template id stands in and the Pulumi program fills it in (`fill`).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.package import CodeBundle, bundle
from pipelines.spec import OutputRef, ParamRef, PipelineDef, parse_source

GATE_STEP = "gate_register"
GATE_SCRIPT_NAME = "gate_register.py"
# azure-ai-ml warns on stderr about every experimental schema class it loads ("Class ... is an
# experimental class"): noise in a plan or a `pulumi up` log, not something the user can act on.
logging.getLogger("azure.ai.ml._utils._experimental").setLevel(logging.ERROR)

# The scoring script: the kit's serving code (the same on every cloud) plus Azure ML's data
# collector of the request columns (job_scripts/mlops_azure_score.py).
SCORE_SCRIPT_NAME = "mlops_azure_score.py"
# Template ids the SDK parses like real ones; `fill` puts the real ones in.
WORKSPACE_ID = (
    "/subscriptions/00000000-0000-0000-0000-00000000cafe/resourceGroups/mlops-template-rg/providers/"
    "Microsoft.MachineLearningServices/workspaces/mlops-template-ws"
)
IDENTITY_ID = (
    "/subscriptions/00000000-0000-0000-0000-00000000cafe/resourceGroups/mlops-template-rg/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/mlops-template-id"
)
IDENTITY_CLIENT_ID = "00000000-0000-0000-0000-0000000c1e17"
# Stand-ins for names known only once the program runs (they carry the stack's suffix), inside the
# step I/O configuration (`$MLOPS_IO`): `fill` puts the real ones in, like the ids above.
DATA_ACCOUNT = "mlopstemplatedata"
CAPTURE_ACCOUNT = "mlopstemplatecapture"
ENDPOINT = "mlops-template-endpoint"
DCE_ENDPOINT = "https://mlops-template-dce.ingest.monitor.azure.com"
DCR_ID = "dcr-00000000000000000000000000000000"
IO_STEPS = ("mlops_store_features.py", "mlops_training_data.py")
"""The kit steps that reach a store through `mlops_io` (and the gate, which writes the baseline)."""

# Runs in the pipeline's last job (a real file, linted and tested: job_scripts/gate_register.py).
# Self-contained: azure-ai-ml and azure-identity are in the environment (providers/azure/wheelhouse.py).
# Exit 1 = gate failed (the pipeline run fails, nothing registered).
GATE_SCRIPT = Path(__file__).resolve().parent / "job_scripts" / GATE_SCRIPT_NAME
SCORE_SCRIPT = Path(__file__).resolve().parent / "job_scripts" / "mlops_azure_score.py"
DRIFT_SCRIPT = Path(__file__).resolve().parent / "job_scripts" / "mlops_azure_drift.py"
STEP_IO = Path(__file__).resolve().parent / "step_io.py"
DRIFT_STEP = "drift"


@dataclass
class BuiltPipeline:
    job: Any  # azure.ai.ml.entities.PipelineJob
    components: dict[str, Any] = field(default_factory=dict)  # component name -> CommandComponent
    node_components: dict[str, str] = field(default_factory=dict)  # node name -> component name


def code_ref(name: str, version: str) -> str:
    """A code asset as azure-ai-ml sends it in a component (`azureml:` + its ARM id)."""
    return f"azureml:{WORKSPACE_ID}/codes/{name}/versions/{version}"


def environment_ref(name: str, version: str) -> str:
    return f"azureml:{WORKSPACE_ID}/environments/{name}/versions/{version}"


def code_bundle(pipeline: PipelineDef) -> CodeBundle:
    """The code asset: the pipeline's files (step scripts, requirements), the kit's (with the Azure
    step I/O as `mlops_io.py`), the gate, the scoring script and the drift wrapper."""
    extra = {GATE_SCRIPT_NAME: GATE_SCRIPT, SCORE_SCRIPT.name: SCORE_SCRIPT, DRIFT_SCRIPT.name: DRIFT_SCRIPT}
    return bundle(pipeline, extra, io_module=STEP_IO)


def io_config(*, features: bool = True, capture_prefix: str | None = None, drift_monitor: str | None = None) -> str:
    """`$MLOPS_IO` for the Azure step I/O (providers/azure/step_io.py), with the stand-in names."""
    config: dict[str, Any] = {"kind": "azure", "client_id": IDENTITY_CLIENT_ID}
    if features:
        config["features"] = {
            "account_url": f"https://{DATA_ACCOUNT}.blob.core.windows.net",
            "container": "data",
            "prefix": "features/",
        }
    if capture_prefix is not None:
        config["capture"] = {
            "account_url": f"https://{CAPTURE_ACCOUNT}.blob.core.windows.net",
            "container": "capture",
            "prefix": capture_prefix,
        }
    if drift_monitor is not None:
        config["drift"] = {
            "endpoint": DCE_ENDPOINT,
            "rule": DCR_ID,
            "stream": "Custom-MlopsDrift_CL",
            "monitor": drift_monitor,
        }
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def digest(files: dict[str, bytes]) -> str:
    """A content hash of named blobs (the same scheme as a code bundle's)."""
    return CodeBundle("digest", {name: data.decode() for name, data in files.items()}).digest


def component_name(prefix: str, step: str) -> str:
    return f"{prefix}-{step}".replace("-", "_")


def build(
    pipeline: PipelineDef,
    *,
    prefix: str,
    code: str,
    environment: str,
    instance_type: str,
    gate_metric: str,
    gate_threshold: float,
    approval: str,
    model_name: str,
    data_root: str,
    tags: dict[str, str] | None = None,
) -> BuiltPipeline:
    """The pipeline job. `code`/`environment` are `code_ref`/`environment_ref` references;
    `data_root` an `azureml://datastores/...` folder (input data and the training split go there)."""
    from azure.ai.ml import Input, Output, command, dsl
    from azure.ai.ml.entities import JobResourceConfiguration, ManagedIdentityConfiguration

    built = BuiltPipeline(job=None)
    param_types = {p.name: p.type for p in pipeline.params}
    sdk_type = {"string": "string", "int": "integer", "float": "number"}

    for step in pipeline.steps:
        inputs: dict[str, Any] = {name: Input(type="uri_folder") for name in step.inputs}
        paths = {name: f"${{{{inputs.{name}}}}}" for name in step.inputs}
        paths.update({name: f"${{{{outputs.{name}}}}}" for name in step.outputs})
        params: dict[str, str] = {}
        for source in step.params.values():
            ref = parse_source(source)
            if isinstance(ref, ParamRef):
                inputs[ref.name] = Input(type=sdk_type[param_types[ref.name]])
                params[ref.name] = f"${{{{inputs.{ref.name}}}}}"
        argv = pipeline.command(step.name, paths, params)
        cname = component_name(prefix, step.name)
        built.components[cname] = command(
            name=cname,
            display_name=step.name,
            description=step.description or None,
            command=" ".join(argv),
            inputs=inputs,
            outputs={name: Output(type="uri_folder") for name in step.outputs},
            code=code,
            environment=environment,
            is_deterministic=False,
            tags=dict(tags or {}),
        ).component
        built.node_components[step.name] = cname

    gate_name = component_name(prefix, GATE_STEP)
    built.components[gate_name] = command(
        name=gate_name,
        display_name="quality gate and register",
        command=(
            f"python {GATE_SCRIPT_NAME} --metrics ${{{{inputs.metrics}}}} --model ${{{{inputs.model}}}} "
            "--metric ${{inputs.metric}} --threshold ${{inputs.threshold}} "
            "--model_name ${{inputs.model_name}} --approval ${{inputs.approval}} --baseline ${{inputs.baseline}}"
        ),
        inputs={
            "metrics": Input(type="uri_folder"),
            "baseline": Input(type="uri_folder"),
            # direct: the script gets the azureml:// URI and registers it without copying the files
            "model": Input(type="uri_folder", mode="direct"),
            "metric": Input(type="string"),
            "threshold": Input(type="number"),
            "model_name": Input(type="string"),
            "approval": Input(type="string"),
        },
        code=code,
        environment=environment,
        is_deterministic=False,
        tags=dict(tags or {}),
    ).component
    built.node_components[GATE_STEP] = gate_name

    pipeline_params = [p for p in pipeline.params if p.name != "input_data"]

    def body(**kwargs: Any) -> dict[str, Any]:
        produced: dict[str, Any] = {}
        for step in pipeline.steps:
            comp = built.components[built.node_components[step.name]]
            args: dict[str, Any] = {}
            for name, source in step.inputs.items():
                ref = parse_source(source)
                if isinstance(ref, ParamRef):
                    args[name] = kwargs[ref.name]
                elif isinstance(ref, OutputRef):
                    args[name] = produced[ref.step].outputs[ref.output]
            for source in step.params.values():
                ref = parse_source(source)
                if isinstance(ref, ParamRef):
                    args[ref.name] = kwargs[ref.name]
            node = comp(**args)
            node.name = step.name
            if step.script in IO_STEPS:
                # The step reaches the feature store through `mlops_io` (step_io.py), configured so.
                node.environment_variables = {"MLOPS_IO": io_config()}
            node.resources = JobResourceConfiguration(instance_type=instance_type, instance_count=1)
            produced[step.name] = node
        gate = built.components[gate_name](
            metrics=produced[pipeline.metrics_step].outputs[pipeline.metrics_output],
            model=produced[pipeline.model_step].outputs[pipeline.model_output],
            baseline=produced[BASELINE[0]].outputs[BASELINE[1]],
            metric=gate_metric,
            threshold=gate_threshold,
            model_name=model_name,
            approval=approval,
        )
        gate.name = GATE_STEP
        gate.environment_variables = {"MLOPS_IO": io_config()}  # it writes the version's baseline
        gate.resources = JobResourceConfiguration(instance_type=instance_type, instance_count=1)
        train_split = _training_split(pipeline)
        return {"training_data": produced[train_split[0]].outputs[train_split[1]]}

    # dsl.pipeline needs a real signature: build one from the pipeline's parameters.
    signature = ["input_data"] + [p.name for p in pipeline_params]
    namespace: dict[str, Any] = {"body": body}
    exec(  # noqa: S102 - a generated def with the pipeline's parameter names, nothing user-supplied
        f"def {pipeline.name}({', '.join(signature)}):\n    return body({', '.join(f'{n}={n}' for n in signature)})\n",
        namespace,
    )
    func = dsl.pipeline(
        namespace[pipeline.name], name=pipeline.name, description=pipeline.description, default_compute="serverless"
    )
    defaults = {p.name: p.default for p in pipeline_params}
    job = func(input_data=Input(type="uri_folder", path=f"{data_root}/{pipeline.name}/raw/"), **defaults)
    # The runtime identity, named (Microsoft Learn "Model training on serverless compute":
    # `identity=ManagedIdentityConfiguration(client_id=...)`), not whichever the workspace picks.
    job.identity = ManagedIdentityConfiguration(client_id=IDENTITY_CLIENT_ID, resource_id=IDENTITY_ID)
    job.experiment_name = f"{prefix}-{pipeline.name}"
    job.display_name = f"{prefix}-{pipeline.name}"
    job.settings.default_compute = "serverless"
    # A stable place for the training split: the monitor's reference data.
    job.outputs.training_data.path = f"{data_root}/{pipeline.name}/training/"
    job.outputs.training_data.mode = "rw_mount"
    built.job = job
    return built


def build_drift(
    *,
    prefix: str,
    code: str,
    environment: str,
    instance_type: str,
    baseline: str,
    threshold: float,
    min_samples: int,
    schedule: dict[str, list[int]],
    capture_prefix: str,
    monitor: str,
    data_root: str,
    tags: dict[str, str] | None = None,
) -> BuiltPipeline:
    """The kit's drift check as a one-node pipeline job for the monitor's schedule: the window ends at
    the schedule's trigger time (`${{creation_context.trigger_time}}`, which Azure ML resolves only in
    a pipeline job's string inputs) and starts at the schedule's previous fire time."""
    from azure.ai.ml import Input, Output, command, dsl
    from azure.ai.ml.entities import JobResourceConfiguration, ManagedIdentityConfiguration

    built = BuiltPipeline(job=None)
    cname = component_name(prefix, DRIFT_STEP)
    built.components[cname] = command(
        name=cname,
        display_name="drift check",
        description="The kit's drift statistic over the requests captured in the last schedule interval.",
        command=(
            f"python {DRIFT_SCRIPT.name} --baseline ${{{{inputs.baseline}}}} --out ${{{{outputs.result}}}} "
            f"--threshold {threshold} --min_samples {min_samples} --trigger_time '${{{{inputs.trigger_time}}}}' "
            f"--schedule '{json.dumps(schedule, separators=(',', ':'))}'"
        ),
        inputs={"baseline": Input(type="uri_folder"), "trigger_time": Input(type="string")},
        outputs={"result": Output(type="uri_folder")},
        code=code,
        environment=environment,
        environment_variables={
            "MLOPS_IO": io_config(features=False, capture_prefix=capture_prefix, drift_monitor=monitor)
        },
        is_deterministic=False,
        tags=dict(tags or {}),
    ).component
    built.node_components[DRIFT_STEP] = cname

    def drift(trigger_time):  # noqa: ANN001, ANN202 - the SDK reads real annotations, none here
        node = built.components[cname](baseline=Input(type="uri_folder", path=baseline), trigger_time=trigger_time)
        node.name = DRIFT_STEP
        node.environment_variables = {
            "MLOPS_IO": io_config(features=False, capture_prefix=capture_prefix, drift_monitor=monitor)
        }
        node.resources = JobResourceConfiguration(instance_type=instance_type, instance_count=1)
        return {"result": node.outputs.result}

    func = dsl.pipeline(drift, name=f"{prefix}-drift", description="drift check", default_compute="serverless")
    # Any: azure-ai-ml annotates PipelineJob.settings Optional and .outputs as dict[str, str | Output],
    # while a built job has settings and its outputs are PipelineOutput nodes, read by attribute.
    job: Any = func(trigger_time="${{creation_context.trigger_time}}")
    job.identity = ManagedIdentityConfiguration(client_id=IDENTITY_CLIENT_ID, resource_id=IDENTITY_ID)
    job.experiment_name = monitor
    job.display_name = monitor
    job.settings.default_compute = "serverless"
    job.tags = {**dict(tags or {}), "mlops-role": "drift-check"}
    # One folder per run (`${{name}}`: the job's name, Microsoft Learn "Schedule machine learning
    # pipeline jobs", supported expressions): drift.json of every check is kept.
    job.outputs.result.path = f"{data_root}/drift/{monitor}/${{{{name}}}}/"
    job.outputs.result.mode = "rw_mount"
    built.job = job
    return built


def training_data_path(data_root: str, pipeline: PipelineDef) -> str:
    return f"{data_root}/{pipeline.name}/training/"


BASELINE = ("training_data", "baseline")
"""The kit's training_data step writes the drift baseline (the request columns of the training rows)."""


def baseline_path(data_root: str, model_name: str, version: int | str) -> str:
    """Where the gate step leaves a registered version's baseline (`mlops_io.write_baseline`)."""
    return f"{data_root}/baselines/{model_name}/{version}/"


def _training_split(pipeline: PipelineDef) -> tuple[str, str]:
    source = pipeline.step(pipeline.model_step).inputs
    ref = parse_source(next(iter(source.values())))
    if isinstance(ref, OutputRef):
        return ref.step, ref.output
    return pipeline.steps[0].name, pipeline.steps[0].outputs[0]


def component_spec(component: Any) -> dict[str, Any]:
    """The component as the SDK dumps it (what `az ml component create -f` would send)."""
    return component._to_dict()


def job_yaml(built: BuiltPipeline) -> dict[str, Any]:
    """The pipeline job in the SDK's YAML form (inline components): what `load_job` reads back."""
    return built.job._to_dict()


def rest_job(built: BuiltPipeline, versions: dict[str, str]) -> dict[str, Any]:
    """The REST `properties` of the pipeline job, each node pointing at its registered component
    `<workspace id>/components/<name>/versions/<version>` (no `azureml:`: what the SDK sends)."""
    originals = {name: node._component for name, node in built.job.jobs.items()}
    try:
        for node_name, node in built.job.jobs.items():
            cname = built.node_components[node_name]
            node._component = f"{WORKSPACE_ID}/components/{cname}/versions/{versions[cname]}"
        rest = built.job._to_rest_object()
        return rest.as_dict()["properties"]
    finally:
        for node_name, node in built.job.jobs.items():
            node._component = originals[node_name]


def compile_training(pipeline: PipelineDef, **kwargs: Any) -> dict[str, Any]:
    """`build`'s pipeline job as the program declares it, JSON only: per component its spec and
    version (the spec's digest), the REST job pointing at those versions, the job's YAML form and
    the binding problems. Cached by everything it depends on (providers/azure/sdk_cache.py)."""
    from providers.azure.sdk_cache import cached_json, jsonable

    def compiled() -> dict[str, Any]:
        built = build(pipeline, **kwargs)
        return _compiled(built, json.loads(json.dumps(job_yaml(built), default=str)))

    return cached_json("training-job", {"pipeline": jsonable(pipeline), **kwargs}, compiled)


def compile_drift(**kwargs: Any) -> dict[str, Any]:
    """`build_drift`'s one-node job, JSON only (as `compile_training`)."""
    from providers.azure.sdk_cache import cached_json

    def compiled() -> dict[str, Any]:
        return _compiled(build_drift(**kwargs), None)

    return cached_json("drift-job", kwargs, compiled)


def _compiled(built: BuiltPipeline, yaml_form: dict[str, Any] | None) -> dict[str, Any]:
    specs = {name: component_spec(component) for name, component in built.components.items()}
    versions = {name: digest({"spec": json.dumps(spec, sort_keys=True).encode()}) for name, spec in specs.items()}
    return {
        "specs": specs,
        "versions": versions,
        "rest": rest_job(built, versions),
        "yaml": yaml_form,
        "problems": check_bindings(yaml_form) if yaml_form is not None else [],
    }


def fill(
    value: Any, workspace_id: str, identity_id: str, identity_client_id: str, names: dict[str, str] | None = None
) -> Any:
    """Put the real workspace and identity ids (and `names`: stand-in -> real, e.g. `DATA_ACCOUNT`)
    where the templates stand (any JSON value)."""
    if isinstance(value, dict):
        return {k: fill(v, workspace_id, identity_id, identity_client_id, names) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, workspace_id, identity_id, identity_client_id, names) for v in value]
    if isinstance(value, str):
        out = (
            value.replace(WORKSPACE_ID, workspace_id)
            .replace(IDENTITY_ID, identity_id)
            .replace(IDENTITY_CLIENT_ID, identity_client_id)
        )
        for stand_in, real in (names or {}).items():
            out = out.replace(stand_in, real)
        return out
    return value


def fill_names(value: Any, names: dict[str, str]) -> Any:
    """Replace stand-in names (`DATA_ACCOUNT`, `CAPTURE_ACCOUNT`, ...) in any JSON value."""
    if isinstance(value, dict):
        return {k: fill_names(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_names(v, names) for v in value]
    if isinstance(value, str):
        for stand_in, real in names.items():
            value = value.replace(stand_in, real)
    return value


_BINDING = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def check_bindings(job: dict[str, Any]) -> list[str]:
    """Problems in a pipeline job's YAML form that the SDK's `_validate()` lets through.

    Every `${{parent.inputs.X}}` must name a pipeline input; every `${{parent.jobs.J.outputs.O}}` a
    job J whose component declares output O; every `${{parent.outputs.O}}` a pipeline output; each
    node input/output must be declared by its component; every required component input must be
    bound; and each `${{inputs.x}}`/`${{outputs.y}}` in a component command must be declared.
    """
    problems: list[str] = []
    jobs = job.get("jobs") or {}
    parent_inputs = set(job.get("inputs") or {})
    parent_outputs = set(job.get("outputs") or {})

    def component_of(name: str) -> dict[str, Any]:
        comp = jobs[name].get("component")
        return comp if isinstance(comp, dict) else {}

    def check_ref(where: str, text: Any) -> None:
        if not isinstance(text, str):
            return
        for ref in _BINDING.findall(text):
            parts = ref.split(".")
            if parts[:2] == ["parent", "inputs"] and len(parts) == 3:
                if parts[2] not in parent_inputs:
                    problems.append(f"{where}: {ref} names no pipeline input")
            elif parts[:2] == ["parent", "outputs"] and len(parts) == 3:
                if parts[2] not in parent_outputs:
                    problems.append(f"{where}: {ref} names no pipeline output")
            elif parts[:2] == ["parent", "jobs"] and len(parts) == 5 and parts[3] == "outputs":
                if parts[2] not in jobs:
                    problems.append(f"{where}: {ref} names no job {parts[2]!r}")
                elif parts[4] not in (component_of(parts[2]).get("outputs") or {}):
                    problems.append(f"{where}: {ref}: job {parts[2]!r} declares no output {parts[4]!r}")
            else:
                problems.append(f"{where}: unsupported binding {ref}")

    for name, node in jobs.items():
        comp = component_of(name)
        declared_in = comp.get("inputs") or {}
        declared_out = comp.get("outputs") or {}
        bound = node.get("inputs") or {}
        for key, value in bound.items():
            if key not in declared_in:
                problems.append(f"job {name}: input {key!r} is not declared by its component")
            check_ref(f"job {name} input {key}", value.get("path") if isinstance(value, dict) else value)
        for key, value in (node.get("outputs") or {}).items():
            if key not in declared_out:
                problems.append(f"job {name}: output {key!r} is not declared by its component")
            check_ref(f"job {name} output {key}", value.get("path") if isinstance(value, dict) else value)
        for key, spec in declared_in.items():
            optional = isinstance(spec, dict) and (spec.get("optional") or "default" in spec)
            if key not in bound and not optional:
                problems.append(f"job {name}: required input {key!r} is not bound")
        for kind, ref in re.findall(r"\$\{\{\s*(inputs|outputs)\.([A-Za-z0-9_]+)\s*\}\}", comp.get("command", "")):
            if ref not in (declared_in if kind == "inputs" else declared_out):
                problems.append(f"job {name}: command uses {kind}.{ref}, which its component does not declare")
    return problems
