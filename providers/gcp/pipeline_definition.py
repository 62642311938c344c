"""The cloud-neutral pipeline as a Kubeflow (KFP v2) pipeline spec for Vertex AI Pipelines.

Compiled with `kfp` in-process, without network, at every `pulumi preview`: the result is a plain
dict (the PipelineSpec) that the program stores as a bucket object and hands to `colab.Schedule`.
Values only known at deploy time (bucket, project) are pipeline *parameters*, filled by the
schedule's `parameter_values`, so the compiled spec never depends on an Output.

Each step of `PipelineDef` becomes a container component running exactly
`PipelineDef.command(step, paths, params)` (paths are KFP's artifact paths under `/gcs/`), behind
a small shell prologue (`STEP_PROLOGUE`) that installs requirements.txt and enters the steps
directory, which Vertex mounts from Cloud Storage at `/gcs/<bucket>/...`. Every step runs on one
image: Vertex AI's prebuilt prediction image of the pipeline's framework version, by digest
(`STEP_IMAGE` while compiling, `with_image` at deploy time), the image the model is served on.
"""

# No `from __future__ import annotations`: kfp reads the component annotations at runtime.

import inspect
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml

from pipelines.package import CodeBundle, bundle
from pipelines.spec import KIT_PREFIX, OutputRef, ParamRef, PipelineDef, parse_source

STEP_IMAGE = "mlops-kit.invalid/step-image:resolved-at-deploy"
"""Stands for the step image while compiling: `with_image` swaps in the digest `pulumi up` resolved
(Vertex AI's prebuilt prediction image of the framework, so training and serving share one
runtime). Never a real image: a spec that still holds it is refused (vendor_rules.check_images)."""
GATE_TASK = "quality-gate-metric"
REGISTER_TASK = "register-model"
GATE_FAILED_TASK = "quality-gate-missed"
# What the lightweight components install on the step image, pinned exactly (constraints.txt).
AIPLATFORM_PACKAGE = "google-cloud-aiplatform==2.7.0"

# The GCP files of the code bundle, next to the pipeline's and the kit's: the step I/O module (as
# `mlops_io.py`), what it needs installed, and the drift job's entry point.
HERE = Path(__file__).resolve().parent
STEP_IO = HERE / "step_io.py"
DRIFT_JOB = HERE / "drift_job.py"
IO_REQUIREMENTS = "mlops_io_requirements.txt"
STEP_REQUIREMENTS_FILE = HERE / "step_requirements.txt"
"""What the kit steps install on top of the pipeline's requirements, pinned to constraints.txt's versions
(read from a file, not from step_io.py: importing that module at plan time would import pandas)."""
DRIFT_SCRIPT = "mlops_gcp_drift.py"

# The interpreter every step container calls: the prebuilt images are not documented to ship a bare
# `python` (only `python3` is relied on, as KFP's own launcher and vertex_server.container_spec() do).
PYTHON = "python3"

# Runs before every step: `$1` is the code location (gs://... or a local dir), the rest is the
# step's argv from PipelineDef.command. gs:// arguments become their Cloud Storage FUSE paths. A
# kit step (the one that has `$MLOPS_IO`) also installs what the GCP step I/O needs.
STEP_PROLOGUE = r"""set -eu
gcs() { printf '%s' "$1" | sed 's#^gs://#/gcs/#'; }
code=$(gcs "$1"); shift
python3 -m pip install --quiet --no-cache-dir --disable-pip-version-check -r "$code/requirements.txt"
if [ -n "${MLOPS_IO:-}" ]; then
  python3 -m pip install --quiet --no-cache-dir --disable-pip-version-check -r "$code/mlops_io_requirements.txt"
fi
cd "$code"
for arg do shift; set -- "$@" "$(gcs "$arg")"; done
exec "$@"
"""
MLOPS_IO = "MLOPS_IO"
BASELINE_DIR = "baselines"
"""`gs://<bucket>/baselines/<model id>/v<version>/`: each registered version's drift baseline."""


def code_bundle(pipeline: PipelineDef) -> CodeBundle:
    """The step code Vertex runs: the pipeline's files, the kit's with the GCP step I/O as
    `mlops_io.py`, the I/O's pinned requirements, and the drift job's entry point."""
    extra: dict[str, Path | str] = {IO_REQUIREMENTS: STEP_REQUIREMENTS_FILE, DRIFT_SCRIPT: DRIFT_JOB}
    return bundle(pipeline, extra, io_module=STEP_IO)


def baseline_uri(bucket: str, model_id: str, version: int | str) -> str:
    """Where the register step copies a version's drift baseline (the drift job reads it)."""
    return f"gs://{bucket}/{BASELINE_DIR}/{model_id}/v{version}/"


def is_kit_step(script: str) -> bool:
    return script.startswith(KIT_PREFIX)


# Parameters the schedule / retraining workflow fill with deploy-time values. The approval mode is
# not one of them: it is compiled into the register task, so a run started by hand cannot change it.
RUNTIME_PARAMS = ("code_uri", "project", "location", "model_id", "serving_image", "kms_key", "baseline_root")
_PARAM_TYPES = {"string": (str, "String"), "int": (int, "Integer"), "float": (float, "Float")}


def container_argv(argv: list[str]) -> list[str]:
    """`PipelineDef.command`'s argv as the step image runs it: its interpreter is `python3`."""
    return [PYTHON, *argv[1:]] if argv and argv[0] == "python" else list(argv)


def step_argv(pipeline: PipelineDef, step_name: str) -> list[Any]:
    """The step's argv with KFP placeholders in place of paths and parameter values."""
    step = pipeline.step(step_name)
    paths: dict[str, Any] = {}
    for name, source in step.inputs.items():
        is_param = isinstance(parse_source(source), ParamRef)
        paths[name] = {"inputValue": name} if is_param else {"inputPath": name}
    for name in step.outputs:
        paths[name] = {"outputPath": name}
    # Sentinels for the pipeline params this step uses, swapped for placeholders below.
    used = {ref.name: arg for arg, src in step.params.items() if isinstance(ref := parse_source(src), ParamRef)}
    sentinels = {pname: f"\x00{arg}\x00" for pname, arg in used.items()}
    argv = container_argv(pipeline.command(step_name, {k: f"\x01{k}\x01" for k in paths}, sentinels))
    out: list[Any] = []
    for token in argv:
        if token.startswith("\x01"):
            out.append(paths[token.strip("\x01")])
        elif token.startswith("\x00"):
            out.append({"inputValue": token.strip("\x00")})
        else:
            out.append(token)
    return out


def component_yaml(pipeline: PipelineDef, step_name: str, image: str = STEP_IMAGE) -> str:
    step = pipeline.step(step_name)
    inputs: list[dict[str, str]] = [{"name": "code_uri", "type": "String"}]
    for name, source in step.inputs.items():
        ref = parse_source(source)
        inputs.append(
            {"name": name, "type": _PARAM_TYPES[pipeline.param(ref.name).type][1]}
            if isinstance(ref, ParamRef)
            else {"name": name}
        )
    for arg, source in step.params.items():
        ref = parse_source(source)
        if isinstance(ref, ParamRef):
            inputs.append({"name": arg, "type": _PARAM_TYPES[pipeline.param(ref.name).type][1]})
    spec = {
        "name": f"{pipeline.name}-{step.name}",
        "description": step.description,
        "inputs": inputs,
        "outputs": [{"name": name} for name in step.outputs],
        "implementation": {
            "container": {
                "image": image,
                "command": ["sh", "-c", STEP_PROLOGUE, "mlops-step"],
                "args": [{"inputValue": "code_uri"}, *step_argv(pipeline, step_name)],
            }
        },
    }
    return yaml.safe_dump(spec, sort_keys=False)


def with_image(spec_json_text: str, image: str) -> str:
    """The compiled spec with every step on `image` (a digest resolved at deploy time)."""
    return spec_json_text.replace(STEP_IMAGE, image)


def _read_metric_component(image: str = STEP_IMAGE):
    from kfp import dsl

    @dsl.component(base_image=image)
    def read_metric(metrics: dsl.Input[dsl.Artifact], metrics_file: str, metric: str) -> float:
        """The gate metric from the evaluation step's metrics file."""
        import json
        import os

        with open(os.path.join(metrics.path, metrics_file), encoding="utf-8") as handle:
            return float(json.load(handle)["metrics"][metric])

    return read_metric


def _gate_failed_component(image: str = STEP_IMAGE):
    from kfp import dsl

    @dsl.component(base_image=image)
    def gate_failed(metric: str, value: float, threshold: float) -> None:
        """Fails the run: a model under the quality gate is not registered, and the run says so
        (Failed, as on SageMaker and Azure ML), instead of ending Succeeded with a skipped branch."""
        raise RuntimeError(f"quality gate missed: {metric}={value:.4f} < {threshold}; the model is not registered")

    return gate_failed


def _register_component(image: str = STEP_IMAGE):
    from kfp import dsl

    @dsl.component(base_image=image, packages_to_install=[AIPLATFORM_PACKAGE])
    def register_model(
        model: dsl.Input[dsl.Artifact],
        baseline: dsl.Input[dsl.Artifact],
        baseline_root: str,
        project: str,
        location: str,
        model_id: str,
        serving_image: str,
        kms_key: str,
        approval: str,
        gate_metric: str,
        gate_value: float,
        serving_spec: str = "",
        api_endpoint: str = "",
    ) -> str:
        """Upload the model as a new version of `model_id` in Vertex Model Registry, under the
        platform's customer-managed key.

        `approval` is compiled into the pipeline (a run cannot override it). "auto": the version is
        registered approved (label approval=approved): registration is the only moment a pipeline
        changes approval state. "manual": label approval=pending, until a reviewer approves it with
        their own identity (`python -m providers.gcp.dynamic approve`); this identity cannot update
        models, so it can neither approve nor revoke an existing version.

        Then the training set's drift baseline (the request columns of the training rows) is copied
        to `<baseline_root>/v<version>/`: the drift job of the version served compares live
        requests with exactly the data that version was trained on.
        """
        import json
        import os
        import shutil

        from google.api_core import exceptions
        from google.api_core.client_options import ClientOptions
        from google.cloud import aiplatform_v1 as v1

        options = ClientOptions(api_endpoint=api_endpoint or f"{location}-aiplatform.googleapis.com")
        if api_endpoint.startswith("http://"):  # a local fake in tests
            from google.auth.credentials import AnonymousCredentials

            client = v1.ModelServiceClient(transport="rest", client_options=options, credentials=AnonymousCredentials())
        else:
            client = v1.ModelServiceClient(client_options=options)
        parent = f"projects/{project}/locations/{location}"
        name = f"{parent}/models/{model_id}"
        extra = json.loads(serving_spec) if serving_spec else {}
        body = v1.Model(
            display_name=model_id,
            artifact_uri=model.uri,
            # the kit's server running the model's own code/serve.py (providers/gcp/vertex_server.py)
            container_spec=v1.ModelContainerSpec(
                image_uri=serving_image,
                command=extra.get("command", []),
                ports=[v1.Port(container_port=int(p["containerPort"])) for p in extra.get("ports", [])],
                predict_route=extra.get("predictRoute", ""),
                health_route=extra.get("healthRoute", ""),
            ),
            labels={"approval": "approved" if approval == "auto" else "pending", "managed-by": "mlops"},
            version_description=f"{gate_metric}={gate_value:.4f}",
            encryption_spec=v1.EncryptionSpec(kms_key_name=kms_key),
        )
        try:
            client.get_model(name=name)
            request = v1.UploadModelRequest(parent=parent, model=body, parent_model=name)
        except exceptions.NotFound:
            request = v1.UploadModelRequest(parent=parent, model=body, model_id=model_id)
        result = client.upload_model(request=request).result()
        # gs:// -> the Cloud Storage FUSE mount Vertex AI Pipelines gives every task
        target = baseline_root.rstrip("/").replace("gs://", "/gcs/", 1) + f"/v{result.model_version_id}"
        source = baseline.path
        for root, _dirs, files in os.walk(source):
            for file_name in sorted(files):
                relative = os.path.relpath(os.path.join(root, file_name), source)
                os.makedirs(os.path.dirname(os.path.join(target, relative)), exist_ok=True)
                shutil.copyfile(os.path.join(root, file_name), os.path.join(target, relative))
        return f"{name}@{result.model_version_id}"

    return register_model


def build_training_pipeline(
    pipeline: PipelineDef,
    *,
    display_name: str,
    gate_metric: str,
    gate_threshold: float,
    approval: str = "manual",
    step_limits: tuple[str, str] = ("4", "16G"),
    accelerator: tuple[str, int] | None = None,
    image: str = STEP_IMAGE,
    io_config: dict[str, Any] | None = None,
):
    """The KFP pipeline function (not yet compiled); `compile_spec` compiles it.

    `approval` ("manual" | "auto") is compiled into the register task as a constant. `io_config`
    is the kit steps' `$MLOPS_IO` (GcpSettings.io_config), compiled onto each of them."""
    from kfp import components, dsl

    if gate_metric not in pipeline.metrics:
        raise ValueError(f"gate metric {gate_metric!r} is not produced by pipeline {pipeline.name!r}")
    if approval not in ("manual", "auto"):
        raise ValueError(f"approval must be manual or auto, got {approval!r}")
    steps = {
        s.name: components.load_component_from_text(component_yaml(pipeline, s.name, image)) for s in pipeline.steps
    }
    read_metric, register_model = _read_metric_component(image), _register_component(image)
    gate_failed = _gate_failed_component(image)
    baseline_step, baseline_output = _baseline_source(pipeline)
    io_env = json.dumps(io_config, sort_keys=True, separators=(",", ":")) if io_config else ""
    from providers.gcp import vertex_server

    serving_spec = json.dumps(vertex_server.container_spec(), sort_keys=True)

    def body(*values: Any) -> None:  # kfp passes the parameters positionally, in signature order
        kw = dict(zip(names, values, strict=True))
        tasks: dict[str, Any] = {}
        for step in pipeline.steps:
            args: dict[str, Any] = {"code_uri": kw["code_uri"]}
            for name, source in step.inputs.items():
                ref = parse_source(source)
                if isinstance(ref, ParamRef):
                    args[name] = kw[ref.name]
                elif isinstance(ref, OutputRef):
                    args[name] = tasks[ref.step].outputs[ref.output]
            for arg, source in step.params.items():
                ref = parse_source(source)
                if isinstance(ref, ParamRef):
                    args[arg] = kw[ref.name]
            task = steps[step.name](**args).set_display_name(step.name)
            task.set_cpu_limit(step_limits[0]).set_memory_limit(step_limits[1])
            if accelerator and step.kind == "training":
                task.set_accelerator_type(accelerator[0]).set_accelerator_limit(accelerator[1])
            task.set_caching_options(False)
            if io_env and is_kit_step(step.script):
                task.set_env_variable(MLOPS_IO, io_env)
            tasks[step.name] = task
        gate = read_metric(
            metrics=tasks[pipeline.metrics_step].outputs[pipeline.metrics_output],
            metrics_file=pipeline.metrics_file,
            metric=gate_metric,
        ).set_display_name(GATE_TASK)
        gate.set_caching_options(False)  # a cached metric would gate a new model on an old score
        with dsl.If(gate.output >= gate_threshold, name="quality-gate"):
            register_model(
                model=tasks[pipeline.model_step].outputs[pipeline.model_output],
                baseline=tasks[baseline_step].outputs[baseline_output],
                baseline_root=kw["baseline_root"],
                project=kw["project"],
                location=kw["location"],
                model_id=kw["model_id"],
                serving_image=kw["serving_image"],
                kms_key=kw["kms_key"],
                approval=approval,
                gate_metric=gate_metric,
                gate_value=gate.output,
                serving_spec=serving_spec,
            ).set_display_name(REGISTER_TASK).set_caching_options(False)  # a cached run registers nothing
        with dsl.Else(name="quality-gate-missed"):
            gate_failed(metric=gate_metric, value=gate.output, threshold=gate_threshold).set_display_name(
                GATE_FAILED_TASK
            ).set_caching_options(False)

    # Deploy-time values first (no default), then the pipeline's own parameters.
    params = [
        inspect.Parameter(extra, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str) for extra in RUNTIME_PARAMS
    ]
    params += [
        inspect.Parameter(
            p.name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=p.default,
            annotation=_PARAM_TYPES[p.type][0],
        )
        for p in pipeline.params
    ]
    names = [p.name for p in params]
    body.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    body.__name__ = display_name.replace("-", "_")
    return dsl.pipeline(name=display_name, description=pipeline.description)(body)


def _baseline_source(pipeline: PipelineDef) -> tuple[str, str]:
    """The step output holding the drift baseline: the kit's training-data step's `baseline`."""
    from pipelines.kit import DATASET_STEP

    for step in pipeline.steps:
        if step.name == DATASET_STEP and "baseline" in step.outputs:
            return step.name, "baseline"
    raise ValueError(
        f"pipeline {pipeline.name!r} has no {DATASET_STEP!r} step with a baseline output "
        "(pipelines.kit.training_data): the drift job would have nothing to compare with"
    )


DRIFT_TASK = "drift"


def drift_component_yaml(image: str = STEP_IMAGE) -> str:
    """The drift job's one container: the step prologue, then the kit's drift statistic
    (`mlops_drift.py`, through `mlops_gcp_drift.py`, which only sets the window) over the requests
    the endpoint logged in the window ending at the run's scheduled time, with the GCP step I/O."""
    spec = {
        "name": "mlops-drift",
        "description": "The kit's drift statistic over the window's logged requests; published for the alerts.",
        "inputs": [
            {"name": "code_uri", "type": "String"},
            {"name": "baseline_uri", "type": "String"},
            {"name": "drift_threshold", "type": "Float"},
            {"name": "min_samples", "type": "Integer"},
            {"name": "window_seconds", "type": "Integer"},
            {"name": "scheduled", "type": "String"},
            {"name": "created", "type": "String"},
        ],
        "outputs": [{"name": "drift"}],
        "implementation": {
            "container": {
                "image": image,
                "command": ["sh", "-c", STEP_PROLOGUE, "mlops-step"],
                "args": [
                    {"inputValue": "code_uri"},
                    PYTHON,
                    DRIFT_SCRIPT,
                    "--baseline",
                    {"inputValue": "baseline_uri"},
                    "--out",
                    {"outputPath": "drift"},
                    "--threshold",
                    {"inputValue": "drift_threshold"},
                    "--min_samples",
                    {"inputValue": "min_samples"},
                    "--window_seconds",
                    {"inputValue": "window_seconds"},
                    "--scheduled",
                    {"inputValue": "scheduled"},
                    "--created",
                    {"inputValue": "created"},
                ],
            }
        },
    }
    return yaml.safe_dump(spec, sort_keys=False)


def build_drift_pipeline(
    display_name: str,
    drift_threshold: float,
    min_samples: int,
    window_seconds: int,
    *,
    io_config: dict[str, Any] | None = None,
    image: str = STEP_IMAGE,
):
    """The drift job: one task running the kit's drift step on the served version's baseline.

    The threshold, the minimum sample size and the window (the schedule's interval) are compiled in
    as parameter defaults (known at plan time); the code and the baseline are deploy-time values."""
    from kfp import components, dsl

    drift_op = components.load_component_from_text(drift_component_yaml(image))
    io_env = json.dumps(io_config, sort_keys=True, separators=(",", ":")) if io_config else ""

    @dsl.pipeline(name=display_name, description="Drift of logged requests against the training data.")
    def drift(
        code_uri: str,
        baseline_uri: str,
        drift_threshold: float = float(drift_threshold),
        min_samples: int = int(min_samples),
        window_seconds: int = int(window_seconds),
    ) -> None:
        task = drift_op(
            code_uri=code_uri,
            baseline_uri=baseline_uri,
            drift_threshold=drift_threshold,
            min_samples=min_samples,
            window_seconds=window_seconds,
            scheduled=dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER,
            created=dsl.PIPELINE_JOB_CREATE_TIME_UTC_PLACEHOLDER,
        )
        task.set_caching_options(False).set_display_name(DRIFT_TASK)
        task.set_cpu_limit("2").set_memory_limit("8G")
        if io_env:
            task.set_env_variable(MLOPS_IO, io_env)

    return drift


def compile_spec(pipeline_func: Any) -> dict[str, Any]:
    """Compile with kfp (no network) and return the PipelineSpec as a dict."""
    from kfp import compiler

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pipeline.yaml"
        compiler.Compiler().compile(pipeline_func, str(path))
        return yaml.safe_load(path.read_text(encoding="utf-8"))


def spec_json(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True, separators=(",", ":"))


# ---- plan-time cache (issue 14): a compiled spec is rebuilt only when something it depends on changed

CACHE_DISTRIBUTIONS = ("kfp", "kfp-pipeline-spec", "google-cloud-aiplatform", "protobuf", "PyYAML")
"""The installed packages whose version changes a compiled spec (the builder, its protos, its YAML)."""


def training_spec_json(pipeline: PipelineDef, **options: Any) -> str:
    """`spec_json(compile_spec(build_training_pipeline(pipeline, **options)))`, from the
    content-addressed cache (providers/cache.py) when the pipeline, the options, the SDK versions
    and the kit's code are unchanged; kfp builds it on a miss."""
    from providers import cache

    inputs = {"pipeline": repr(pipeline), "options": options}
    return cache.cached_text(
        "gcp-training-spec",
        inputs,
        lambda: spec_json(compile_spec(build_training_pipeline(pipeline, **options))),
        distributions=CACHE_DISTRIBUTIONS,
    )


def drift_spec_json(
    display_name: str, drift_threshold: float, min_samples: int, window_seconds: int, **options: Any
) -> str:
    """The compiled drift job spec, cached like `training_spec_json`."""
    from providers import cache

    inputs = {
        "display_name": display_name,
        "drift_threshold": drift_threshold,
        "min_samples": min_samples,
        "window_seconds": window_seconds,
        "options": options,
    }
    return cache.cached_text(
        "gcp-drift-spec",
        inputs,
        lambda: spec_json(
            compile_spec(build_drift_pipeline(display_name, drift_threshold, min_samples, window_seconds, **options))
        ),
        distributions=CACHE_DISTRIBUTIONS,
    )
