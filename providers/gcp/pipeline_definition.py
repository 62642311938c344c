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

from pipelines.spec import OutputRef, ParamRef, PipelineDef, parse_source

STEP_IMAGE = "mlops-kit.invalid/step-image:resolved-at-deploy"
"""Stands for the step image while compiling: `with_image` swaps in the digest `pulumi up` resolved
(Vertex AI's prebuilt prediction image of the framework, so training and serving share one
runtime). Never a real image: a spec that still holds it is refused (vendor_rules.check_images)."""
GATE_TASK = "quality-gate-metric"
REGISTER_TASK = "register-model"
GATE_FAILED_TASK = "quality-gate-missed"
# What the lightweight components install on the step image, pinned exactly (constraints.txt).
AIPLATFORM_PACKAGE = "google-cloud-aiplatform==2.7.0"
BIGQUERY_PACKAGE = "google-cloud-bigquery==3.47.0"
LOGGING_PACKAGE = "google-cloud-logging==3.17.0"

# The interpreter every step container calls: the prebuilt images are not documented to ship a bare
# `python` (only `python3` is relied on, as KFP's own launcher and vertex_server.container_spec() do).
PYTHON = "python3"

# Runs before every step: `$1` is the code location (gs://... or a local dir), the rest is the
# step's argv from PipelineDef.command. gs:// arguments become their Cloud Storage FUSE paths.
STEP_PROLOGUE = r"""set -eu
gcs() { printf '%s' "$1" | sed 's#^gs://#/gcs/#'; }
code=$(gcs "$1"); shift
python3 -m pip install --quiet --no-cache-dir --disable-pip-version-check -r "$code/requirements.txt"
cd "$code"
for arg do shift; set -- "$@" "$(gcs "$arg")"; done
exec "$@"
"""

# Parameters the schedule / retraining workflow fill with deploy-time values. The approval mode is
# not one of them: it is compiled into the register task, so a run started by hand cannot change it.
RUNTIME_PARAMS = ("code_uri", "project", "location", "model_id", "serving_image", "kms_key")
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
        """
        import json

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
):
    """The KFP pipeline function (not yet compiled); `compile_spec` compiles it.

    `approval` ("manual" | "auto") is compiled into the register task as a constant."""
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


def _drift_components(image: str = STEP_IMAGE):
    from kfp import dsl

    @dsl.component(base_image=image, packages_to_install=[BIGQUERY_PACKAGE])
    def export_requests(project: str, table: str, hours: int, out: dsl.Output[dsl.Dataset]) -> str:
        """Instances logged by the endpoint in the last `hours`, as CSV; returns the CSV's URI."""
        import csv
        import json
        import os

        from google.cloud import bigquery

        query = (
            f"SELECT request_payload FROM `{table}` "
            f"WHERE logging_time > TIMESTAMP_SUB(CURRENT_TIMESTAMP(), INTERVAL {int(hours)} HOUR)"
        )
        rows: list[dict] = []
        for row in bigquery.Client(project=project).query(query).result():
            payloads = row["request_payload"]
            for payload in payloads if isinstance(payloads, list) else [payloads]:
                body = json.loads(payload)
                instances = body.get("instances", [body]) if isinstance(body, dict) else body
                rows.extend(i for i in instances if isinstance(i, dict))
        os.makedirs(out.path, exist_ok=True)
        columns = sorted({k for r in rows for k in r})
        with open(os.path.join(out.path, "requests.csv"), "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        return out.uri

    @dsl.component(base_image=image, packages_to_install=[LOGGING_PACKAGE])
    def drift_check(requests_uri: str, baseline_uri: str, threshold: float, platform: str, project: str) -> float:
        """Largest per-feature distance between baseline and live data; logged for the alert.

        Numeric feature: the L-infinity distance between the two empirical CDFs (the two-sample
        Kolmogorov-Smirnov statistic). Other features: the L-infinity distance between the category
        frequency vectors. Both lie in [0, 1], like SageMaker Model Monitor's baseline drift check.
        """
        import bisect
        import csv
        import glob
        import json
        import os

        def rows(uri: str) -> list[dict]:
            """Every row of every *.csv under `uri` (one header, checked to be the same in each)."""
            path = uri.replace("gs://", "/gcs/", 1) if uri.startswith("gs://") else uri
            files = sorted(glob.glob(os.path.join(path, "*.csv"))) if os.path.isdir(path) else [path]
            if not files:
                raise FileNotFoundError(f"no *.csv in {uri}")
            out: list[dict] = []
            header = None
            for name in files:
                with open(name, newline="", encoding="utf-8") as handle:
                    reader = csv.DictReader(handle)
                    if header is not None and reader.fieldnames != header:
                        raise ValueError(f"{name} has columns {reader.fieldnames}, the others {header}")
                    header = reader.fieldnames
                    out.extend(reader)
            return out

        def numbers(values: list[str]) -> list[float] | None:
            try:
                return sorted(float(v) for v in values if v != "")
            except ValueError:
                return None

        def ks(a: list[float], b: list[float]) -> float:
            if not a or not b:
                return 0.0
            return max(abs(bisect.bisect_right(a, x) / len(a) - bisect.bisect_right(b, x) / len(b)) for x in a + b)

        def linf(a: list[str], b: list[str]) -> float:
            if not a or not b:
                return 0.0
            cats = set(a) | set(b)
            return max(abs(a.count(c) / len(a) - b.count(c) / len(b)) for c in cats)

        base, live = rows(baseline_uri), rows(requests_uri)
        distances: dict[str, float] = {}
        if base and live:
            for column in sorted(set(base[0]) & set(live[0])):
                a, b = [r[column] for r in base], [r[column] for r in live]
                na, nb = numbers(a), numbers(b)
                distances[column] = ks(na, nb) if na is not None and nb is not None else linf(a, b)
        worst = max(distances, key=distances.get) if distances else ""
        score = distances.get(worst, 0.0)
        entry = {
            "mlops_platform": platform,
            "max_drift": score,
            "feature": worst,
            "threshold": threshold,
            "drifted": score > threshold,
            "distances": distances,
        }
        print(json.dumps(entry))
        if project:  # empty in local tests: nothing to alert on
            from google.cloud import logging as cloud_logging

            cloud_logging.Client(project=project).logger("mlops-drift").log_struct(entry)
        return score

    return export_requests, drift_check


def build_drift_pipeline(display_name: str, drift_threshold: float, window_hours: int = 24, image: str = STEP_IMAGE):
    """export request logs -> drift_check; the drift statistic is logged for the alert policy.

    The threshold and the window are compiled in as parameter defaults (known at plan time).
    """
    from kfp import dsl

    export_requests, drift_check = _drift_components(image)

    @dsl.pipeline(name=display_name, description="Drift of logged requests against the training data.")
    def drift(
        project: str,
        requests_table: str,
        baseline_uri: str,
        platform: str,
        drift_threshold: float = float(drift_threshold),
        window_hours: int = int(window_hours),
    ) -> None:
        exported = export_requests(project=project, table=requests_table, hours=window_hours)
        exported.set_caching_options(False).set_display_name("export-requests")
        drift_check(
            requests_uri=exported.outputs["Output"],
            baseline_uri=baseline_uri,
            threshold=drift_threshold,
            platform=platform,
            project=project,
        ).set_caching_options(False).set_display_name("drift-check")

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
