"""The cloud-neutral ``PipelineDef`` as a SageMaker Pipeline definition, built offline.

``build_definition(pipeline, DefinitionSettings(...))`` drives the SageMaker Python SDK v3
(``PipelineSession`` + ``Processor`` / ``ModelTrainer`` / ``ModelBuilder``) and returns
``Pipeline(...).definition()``. It runs inside ``Output.apply`` at every
``pulumi preview``, so it makes no network call and needs no credentials: the step
code is already in S3 (``code_prefix``, uploaded by Pulumi ``BucketObject``s), every
URI given to the SDK is an ``s3://`` URI or a pipeline variable, the session gets an
explicit region and default bucket, and the SDK's local config files are ignored so
the JSON depends only on the pipeline and its ``DefinitionSettings``.

How each step kind maps (the SAME script with the SAME argv as the local runner,
``PipelineDef.command``):

* ``processing`` / ``evaluation`` -> ``ProcessingStep`` of a plain ``Processor`` on
  the region's scikit-learn image. ``ScriptProcessor``/``FrameworkProcessor`` are not
  used because they upload a code file or a generated ``runproc.sh`` at build time,
  and they cannot install ``requirements.txt`` without that upload. Inputs are
  mounted at ``/opt/ml/processing/input/<name>``, outputs written to
  ``/opt/ml/processing/output/<name>`` and uploaded to
  ``s3://<bucket>/runs/<pipeline>/<execution id>/<step>/<output>``; the code prefix
  is mounted at ``/opt/ml/processing/code``. The evaluation step declares a
  ``PropertyFile`` on ``<metrics_output>/<metrics_file>`` for the quality gate.
* ``training`` -> ``TrainingStep`` from ``ModelTrainer.train()`` so SageMaker itself
  packs ``/opt/ml/model`` into ``model.tar.gz`` (what a model package needs).
  ``ModelTrainer``'s ``SourceCode`` mode cannot be used: it always uploads its own
  driver scripts (the ``sm_drivers`` channel) at build time. So the trainer is built
  without ``SourceCode`` and the step (``sagemaker_sdk.command_training_step_class``) sets the job's
  ``ContainerEntrypoint``/``ContainerArguments`` to the same command line.
  Inputs are channels at ``/opt/ml/input/data/<name>``, the model output is
  ``/opt/ml/model``; the code prefix is the ``steps_code`` channel.

Every container runs ``/bin/bash <code dir>/run.sh [--untar ARCHIVE]... python <script>``
with the step's arguments (``argv[2:]`` of ``PipelineDef.command``) as
``ContainerArguments``: each entrypoint item is one short line (CreateProcessingJob and
CreateTrainingJob allow 256 characters per item and no line break). ``run.sh``
(``run_script``) ships in the step-code bundle; it changes to the code directory,
unpacks ``model.tar.gz`` in inputs that read a training step's model (the scripts
expect the model *directory*, as locally), installs ``requirements.txt`` with pip,
then ``exec``s ``python <script> <args...>``. With ``wheelhouse=True`` (private network)
pip installs from ``wheelhouse.zip`` next to the step code with ``--no-index``: the
jobs run network-isolated; otherwise from PyPI (needs outbound network).

The kit's steps (``mlops_*.py``) that read or write the feature store (``store_features``,
``training_data``) get ``$MLOPS_IO`` pointing at the step I/O configuration (``io_config``: an
``s3://`` JSON object mounted at ``/opt/ml/processing/input/mlops_io``; its values are too long for
a ``ProcessingEnvironmentValue``, 256 characters in botocore's model) and run with the network
(not isolated; in the private subnets when private): ``PutRecord`` needs featurestore-runtime.

The drift baseline is ``training_data``'s ``baseline`` output (the request columns of the training
rows). After registration, ``publish_baseline`` (if-branch, after ``register_model``) copies it to
``s3://<bucket>/monitoring/baselines/<model package version>/`` (``ModelPackageVersion`` of the
register step's properties, DescribeModelPackage's output), where the drift check of the endpoint
serving that version reads it: the baseline is the served version's own training data, not the
latest run's. With ``engine="builtin"``, ``data_baseline`` (``QualityCheckStep``, skip check,
register new baseline; the Model Monitor analyzer, KMS, no network) describes the same CSV and
``publish_baseline`` copies its ``statistics.json`` / ``constraints.json`` next to it (what the
Model Monitor job definition reads).

After the steps: a ``ConditionStep`` ``JsonGet(metrics.<gate_metric>) >= threshold``
whose if-branch is a ``ModelStep`` from ``ModelBuilder.register()`` (model package in
the group, with the approval status and the evaluation report as model statistics)
and whose else-branch is a ``FailStep`` naming the metric, its value and the threshold.
The package's container is the scikit-learn serving image with
``SAGEMAKER_PROGRAM=serve.py`` and ``SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code``: the
training step's ``model.tar.gz`` carries ``code/serve.py`` (train.py copies it), so the
endpoint loads ``model.joblib`` through serve.py's ``model_fn`` with nothing to download.

Pipeline parameters: one per ``PipelineDef.params`` (``input_data`` defaults to
``s3://<bucket>/datasets/<pipeline>/raw/``) plus ``trigger`` (who started the run:
``manual``, ``schedule``, ``drift``), recorded on the registered model package.

KMS: processing volume and output keys, training volume and output keys are all
``kms_key_arn`` (no volume key where ``volume_kms`` is False: local-NVMe instance
types, whose storage the hardware encrypts, refuse one). Role: ``role_arn`` for every
job and the model. Network (``_apply_network``): every job encrypts inter-container
traffic; with ``vpc`` every job is in the VPC's subnets and network-isolated, but the kit's
feature-store steps; without, the baseline and publish jobs alone are isolated (the steps
pip-install from PyPI). Experiments are
off (``PipelineExperimentConfig: null``): the execution role has no Experiments rights.

Offline build: what the SDK needs to make no call and a JSON that depends only on the settings
(environment, session, two speed patches, the command-line training step) is in
``sagemaker_sdk.py``, each workaround with what it works around and why.

Limits: with a public network, pip needs outbound network from the jobs.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipelines.kit import DATASET_STEP
from pipelines.spec import OutputRef, ParamDef, ParamRef, PipelineDef, StepDef, parse_source
from providers import cache
from providers.aws.sagemaker_sdk import command_training_step_class, lean_sdk, offline_session, sdk_env

RUN_SCRIPT = "run.sh"
"""The container bootstrap in the step-code bundle (``run_script``)."""
WHEELHOUSE = "wheelhouse.zip"
"""The pinned requirements as wheels, next to the step code (private network only)."""
TRIGGER_PARAM = "trigger"
"""Extra pipeline parameter the schedule and the drift rule set (``schedule`` / ``drift``)."""
TRIGGER_DEFAULT = "manual"

PROCESSING_INPUT = "/opt/ml/processing/input"
PROCESSING_OUTPUT = "/opt/ml/processing/output"
PROCESSING_CODE = "/opt/ml/processing/code"
TRAINING_INPUT = "/opt/ml/input/data"
TRAINING_MODEL = "/opt/ml/model"
TRAINING_EXTRA_OUTPUT = "/opt/ml/output/data"
CODE_CHANNEL = "steps_code"
MODEL_ARCHIVE = "model.tar.gz"

GATE_STEP = "quality_gate"
REGISTER_STEP = "register_model"
FAIL_STEP = "gate_failed"
BASELINE_STEP = "data_baseline"
PUBLISH_STEP = "publish_baseline"
BASELINE_OUTPUT = "baseline"
BASELINES_PREFIX = "monitoring/baselines"
"""`s3://<bucket>/monitoring/baselines/<version>/`: the drift baseline of each registered version."""
IO_INPUT = "mlops_io"
IO_DIR = f"/opt/ml/processing/input/{IO_INPUT}"
IO_FILE = "mlops_io.json"
IO_STEPS = ("store_features", "training_data")
"""The kit steps that reach the feature store through ``mlops_io``: they need ``$MLOPS_IO`` and a network."""
STEP_REQUIREMENTS = "mlops_io_requirements.txt"
"""What the AWS ``mlops_io.py`` needs, pinned (``providers/aws/step_requirements.txt``), installed by run.sh."""
SERVE_SCRIPT = "serve.py"
"""Inference script in the steps dir; train.py copies it to ``code/`` inside the model archive."""
SERVE_CODE_DIR = "/opt/ml/model/code"
"""Where the scikit-learn serving container finds code that ships inside model.tar.gz."""
METRICS_PROPERTY_FILE = "metrics"
MODEL_SHIPS_ENV = "MLOPS_MODEL_SHIPS"
"""Training environment: distributions ``mlops_model.save`` copies into the model (comma-separated)."""

MAX_RUNTIME_SECONDS = 3 * 3600
VOLUME_GB = 30
_SENTINEL = "\x00param:{}\x00"

# `/bin/bash <code dir>/run.sh [--untar ARCHIVE]... python <script> <args...>`. pip may replace
# the image's system packages (the sklearn 1.4-2-py312 image's Python is Ubuntu's, which PEP 668
# marks externally managed: PIP_BREAK_SYSTEM_PACKAGES lets pip do what the job is for).
_RUN_SCRIPT = """#!/bin/bash
# mlops-kit: starts a pipeline step in its SageMaker container (generated; see
# providers/aws/pipeline_definition.py). Usage: run.sh [--untar ARCHIVE]... PYTHON SCRIPT [ARGS...]
set -euo pipefail
cd "$(dirname "$0")"
while [ "${{1:-}}" = "--untar" ]; do
  tar -xzf "$2" -C "$(dirname "$2")"
  shift 2
done
py="$1"; shift
command -v "$py" >/dev/null 2>&1 || py=python3
export PIP_BREAK_SYSTEM_PACKAGES=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
{install}
exec "$py" "$@"
"""
_PYPI_INSTALL = '"$py" -m pip install --quiet {requirements}'
_WHEELHOUSE_INSTALL = """wheels="$(mktemp -d)"
"$py" -m zipfile -e {wheelhouse} "$wheels"
"$py" -m pip install --quiet --no-index --find-links "$wheels" {requirements}"""


def parameter_names(pipeline: PipelineDef) -> list[str]:
    """Names of the SageMaker pipeline parameters ``build_definition`` declares, in order."""
    return [p.name for p in pipeline.params] + [TRIGGER_PARAM]


@dataclass(frozen=True)
class DefinitionSettings:
    """Everything but the ``PipelineDef`` a SageMaker pipeline definition depends on; with the
    pipeline's files and the SDK's version, the plan-time cache key of ``build_definition``."""

    region: str
    role_arn: str
    """The role of every job and of the registered model."""
    bucket: str
    """A bucket name (not a URI): run outputs, datasets and baselines live there."""
    kms_key_arn: str
    """Volume and output key of every job."""
    instance_type: str
    """The training step's instance."""
    inference_instance_type: str
    """What the registered package lists for real-time inference (the endpoint's)."""
    image_table: str
    """The sagemaker SDK's image table for training and serving (``translate.framework_image``)."""
    image_version: str
    pipeline_name: str
    model_package_group: str
    approval_status: str
    """``PendingManualApproval`` or ``Approved``: the registered version's status."""
    gate_metric: str
    """One of ``PipelineDef.metrics``: the evaluation metric the quality gate compares."""
    gate_threshold: float
    code_prefix: str
    """``s3://.../``: must already hold every step script (``serve.py`` included) and
    ``requirements.txt`` as flat objects: the SDK uploads nothing."""
    volume_kms: bool = True
    """False for local-NVMe instance types, whose storage the hardware encrypts (no key may be named)."""
    vpc: Mapping[str, list[str]] | None = None
    """``{"Subnets": [...], "SecurityGroupIds": [...]}`` puts every job there, isolated."""
    io_config: str | None = None
    """The ``s3://`` URI of the step I/O configuration (``mlops_io.json``) the kit's feature-store
    steps read."""
    engine: str = "kit"
    """``kit`` (the kit's drift check) or ``builtin`` (Model Monitor, which also needs
    ``data_baseline``'s statistics and constraints)."""
    model_ships: tuple[str, ...] = ()
    """Distributions the serving image lacks (``FrameworkImage.ships``): the training job's
    ``MODEL_SHIPS_ENV`` names them and ``mlops_model.save`` copies them into the model."""
    processing_instance_type: str | None = None
    """The processing and baseline jobs' instance (None: ``instance_type``),
    ``translate.processing_instance``: a GPU for the train step only."""
    processing_volume_kms: bool | None = None
    """``volume_kms`` of the processing and baseline jobs (None: ``volume_kms``)."""
    supported_instance_types: tuple[str, ...] | None = None
    """What the package lists for real-time and batch inference (None: ``[inference_instance_type]``),
    ``translate.serving_instances``."""


def build_definition(pipeline: PipelineDef, settings: DefinitionSettings) -> str:
    """The SageMaker pipeline definition JSON for ``pipeline``; no network, no credentials.

    Read from the plan-time cache when neither ``pipeline`` (its repr and its folder), ``settings``,
    the sagemaker SDK's version nor the kit's code (``providers/``, ``pipelines/``) changed; built by
    the SDK otherwise.
    """
    _check_inputs(pipeline, settings)

    def build() -> str:
        with sdk_env(settings.region), lean_sdk():
            return _Builder(pipeline, settings).definition()

    return cache.cached_text(
        "aws-pipeline-definition",
        {**dataclasses.asdict(settings), "pipeline": repr(pipeline)},
        build,
        distributions=["sagemaker"],
        # the pipeline's folder (steps, requirements), which may lie outside the kit's own code
        sources=[pipeline.requirements.parent],
    )


def run_script(pipeline: PipelineDef, *, wheelhouse: bool) -> str:
    """``run.sh``: what every container runs before ``exec python <script> ...`` (ships in the bundle).

    Installs the pipeline's requirements and the step I/O's (``mlops_io_requirements.txt``).
    ``wheelhouse``: from ``wheelhouse.zip`` next to it with ``--no-index`` (no network needed)
    instead of from PyPI.
    """
    requirements = " ".join(f"-r {shlex.quote(name)}" for name in (pipeline.requirements.name, STEP_REQUIREMENTS))
    install = (
        _WHEELHOUSE_INSTALL.format(wheelhouse=WHEELHOUSE, requirements=requirements)
        if wheelhouse
        else _PYPI_INSTALL.format(requirements=requirements)
    )
    return _RUN_SCRIPT.format(install=install)


def entrypoint(code_dir: str, archives: list[str], argv: list[str]) -> list[str]:
    """``ContainerEntrypoint``: run.sh, the archives to unpack, then ``python <script>``."""
    untar = [item for archive in archives for item in ("--untar", archive)]
    return ["/bin/bash", f"{code_dir}/{RUN_SCRIPT}", *untar, *argv[:2]]


def _check_inputs(pipeline: PipelineDef, settings: DefinitionSettings) -> None:
    pipeline.validate()
    if settings.bucket.startswith("s3://") or "/" in settings.bucket:
        raise ValueError(f"bucket must be a bucket name, not {settings.bucket!r}")
    if not settings.code_prefix.startswith("s3://"):
        raise ValueError(
            f"code_prefix must be an s3:// URI (the SDK must upload nothing), not {settings.code_prefix!r}"
        )
    if settings.gate_metric not in pipeline.metrics:
        raise ValueError(
            f"unknown quality gate metric {settings.gate_metric!r} for pipeline {pipeline.name!r}; "
            f"available: {', '.join(pipeline.metrics)}"
        )
    if settings.approval_status not in ("PendingManualApproval", "Approved"):
        raise ValueError(f"approval_status must be PendingManualApproval or Approved, not {settings.approval_status!r}")
    reserved = {GATE_STEP, REGISTER_STEP, FAIL_STEP, BASELINE_STEP, PUBLISH_STEP}
    taken = {s.name for s in pipeline.steps} & reserved
    if taken:
        raise ValueError(f"step names reserved by the SageMaker pipeline: {', '.join(sorted(taken))}")
    if TRIGGER_PARAM in {p.name for p in pipeline.params}:
        raise ValueError(f"param name {TRIGGER_PARAM!r} is reserved by the SageMaker pipeline")
    if not (pipeline.steps_dir / SERVE_SCRIPT).is_file():
        raise ValueError(
            f"{pipeline.steps_dir} has no {SERVE_SCRIPT}: the registered model runs it as its inference code"
        )
    if settings.engine not in ("kit", "builtin"):
        raise ValueError(f"engine must be kit or builtin, not {settings.engine!r}")
    names = {s.name for s in pipeline.steps}
    if DATASET_STEP not in names or BASELINE_OUTPUT not in pipeline.step(DATASET_STEP).outputs:
        raise ValueError(f"pipeline {pipeline.name!r} has no {DATASET_STEP}.{BASELINE_OUTPUT}: the drift baseline")
    if settings.io_config is not None and not settings.io_config.startswith("s3://"):
        raise ValueError(f"io_config must be an s3:// URI, not {settings.io_config!r}")
    if settings.io_config is None and names & set(IO_STEPS):
        raise ValueError(
            f"steps {', '.join(sorted(names & set(IO_STEPS)))} need io_config (the step I/O configuration)"
        )
    for step in pipeline.steps:
        if step.kind == "training" and CODE_CHANNEL in step.inputs:
            raise ValueError(f"step {step.name!r}: input name {CODE_CHANNEL!r} is reserved for the step code")


class _Builder:
    """One build: SDK objects for each step, wired by step properties."""

    def __init__(self, pipeline: PipelineDef, settings: DefinitionSettings) -> None:
        from sagemaker.core import image_uris

        self.pipeline = pipeline
        self.settings = settings
        # What the settings leave to a default, resolved once.
        self.code_prefix = settings.code_prefix if settings.code_prefix.endswith("/") else settings.code_prefix + "/"
        self.processing_instance_type = settings.processing_instance_type or settings.instance_type
        processing_volume_kms = (
            settings.volume_kms if settings.processing_volume_kms is None else settings.processing_volume_kms
        )
        self.supported_instance_types = list(settings.supported_instance_types or [settings.inference_instance_type])
        self.gate_threshold = float(settings.gate_threshold)
        self.vpc = dict(settings.vpc) if settings.vpc else None
        self.session = offline_session(settings.region, settings.bucket)

        def image(instance_type: str, scope: str) -> str:
            return image_uris.retrieve(
                settings.image_table,
                region=settings.region,
                version=settings.image_version,
                py_version="py3",
                instance_type=instance_type,
                image_scope=scope,
            )

        self.image = image(settings.instance_type, "training")
        self.processing_image = image(self.processing_instance_type, "training")
        self.inference_image = image(settings.inference_instance_type, "inference")
        self.volume_key = settings.kms_key_arn if settings.volume_kms else None
        self.processing_volume_key = settings.kms_key_arn if processing_volume_kms else None
        self.params: dict[str, Any] = {}
        self.steps: dict[str, Any] = {}  # step name -> SDK step
        self.sdk_steps: list[Any] = []
        self.metrics_file: Any = None

    # ---- parameters -------------------------------------------------------------
    def _declare_params(self) -> list[Any]:
        from sagemaker.core.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString

        kinds = {"string": ParameterString, "int": ParameterInteger, "float": ParameterFloat}
        out = []
        for param in self.pipeline.params:
            default = self._param_default(param)
            var = kinds[param.type](name=param.name, default_value=default)
            self.params[param.name] = var
            out.append(var)
        trigger = ParameterString(name=TRIGGER_PARAM, default_value=TRIGGER_DEFAULT)
        self.params[TRIGGER_PARAM] = trigger
        out.append(trigger)
        return out

    def _param_default(self, param: ParamDef) -> Any:
        if param.name == "input_data":
            return f"s3://{self.settings.bucket}/datasets/{self.pipeline.name}/raw/"
        return {"string": str, "int": int, "float": float}[param.type](param.default)

    def _arg(self, value: str) -> Any:
        """An argv element: a literal, or the (string form of the) pipeline parameter it stands for."""
        for name, var in self.params.items():
            if value == _SENTINEL.format(name):
                return var if isinstance(var.default_value, str) else var.to_string()
        return value

    # ---- wiring -----------------------------------------------------------------
    def _source_uri(self, step: StepDef, input_name: str) -> Any:
        ref = parse_source(step.inputs[input_name])
        if isinstance(ref, ParamRef):
            return self.params[ref.name]
        if not isinstance(ref, OutputRef):
            raise ValueError(f"step {step.name!r}: input {input_name!r} is neither a param nor a step output")
        producer = self.pipeline.step(ref.step)
        sdk = self.steps[ref.step]
        if producer.kind == "training":
            if ref.output != self._model_output(producer):
                raise ValueError(
                    f"step {step.name!r} reads {ref.step}.{ref.output}: on SageMaker only a training "
                    "step's model output can feed later steps"
                )
            return sdk.properties.ModelArtifacts.S3ModelArtifacts
        return sdk.properties.ProcessingOutputConfig.Outputs[ref.output].S3Output.S3Uri

    def _reads_model(self, step: StepDef, input_name: str) -> bool:
        ref = parse_source(step.inputs[input_name])
        return isinstance(ref, OutputRef) and self.pipeline.step(ref.step).kind == "training"

    def _model_output(self, step: StepDef) -> str:
        return self.pipeline.model_output if step.name == self.pipeline.model_step else step.outputs[0]

    def _output_uri(self, *parts: str) -> Any:
        from sagemaker.core.workflow.execution_variables import ExecutionVariables
        from sagemaker.core.workflow.functions import Join

        base = f"s3://{self.settings.bucket}/runs/{self.pipeline.name}"
        return Join(on="/", values=[base, ExecutionVariables.PIPELINE_EXECUTION_ID, *parts])

    def _command(self, step: StepDef, paths: Mapping[str, str], code_dir: str) -> tuple[list[str], list[Any]]:
        """(ContainerEntrypoint, ContainerArguments) that run ``PipelineDef.command`` exactly."""
        sentinels = {p.name: _SENTINEL.format(p.name) for p in self.pipeline.params}
        argv = self.pipeline.command(step.name, paths, sentinels)
        archives = [f"{paths[name]}/{MODEL_ARCHIVE}" for name in step.inputs if self._reads_model(step, name)]
        return entrypoint(code_dir, archives, argv), [self._arg(a) for a in argv[2:]]

    # ---- steps ------------------------------------------------------------------
    def _processor(self, step_name: str, command: list[str], env: Mapping[str, str] | None = None) -> Any:
        from sagemaker.core.processing import Processor

        return Processor(
            role=self.settings.role_arn,
            image_uri=self.processing_image,
            instance_count=1,
            instance_type=self.processing_instance_type,
            entrypoint=command,
            volume_size_in_gb=VOLUME_GB,
            volume_kms_key=self.processing_volume_key,
            output_kms_key=self.settings.kms_key_arn,
            max_runtime_in_seconds=MAX_RUNTIME_SECONDS,
            base_job_name=f"{self.pipeline.name}-{step_name}".replace("_", "-"),
            sagemaker_session=self.session,
            env={"PYTHONUNBUFFERED": "1", **(env or {})},
        )

    def _processing_step(self, step: StepDef) -> Any:
        from sagemaker.core.workflow.properties import PropertyFile
        from sagemaker.mlops.workflow.steps import ProcessingStep

        paths = {name: f"{PROCESSING_INPUT}/{name}" for name in step.inputs}
        paths.update({name: f"{PROCESSING_OUTPUT}/{name}" for name in step.outputs})
        command, arguments = self._command(step, paths, PROCESSING_CODE)

        inputs = [_s3_input(name, self._source_uri(step, name), paths[name]) for name in step.inputs]
        inputs.append(_s3_input(CODE_CHANNEL, self.code_prefix, PROCESSING_CODE))
        env: dict[str, str] = {}
        if step.name in IO_STEPS:
            # The step I/O's configuration is a file: its values (offline store URIs) are too long for
            # an environment value (ProcessingEnvironmentValue: 256 characters).
            inputs.append(_s3_input(IO_INPUT, self.settings.io_config, IO_DIR))
            env["MLOPS_IO"] = io_environment()
        outputs = [_s3_output(name, self._output_uri(step.name, name), paths[name]) for name in step.outputs]
        processor = self._processor(step.name, command, env)
        property_files = []
        if step.name == self.pipeline.metrics_step:
            self.metrics_file = PropertyFile(
                name=METRICS_PROPERTY_FILE, output_name=self.pipeline.metrics_output, path=self.pipeline.metrics_file
            )
            property_files.append(self.metrics_file)
        return ProcessingStep(
            name=step.name,
            step_args=processor.run(inputs=inputs, outputs=outputs, arguments=arguments),
            description=step.description or None,
            property_files=property_files or None,
        )

    def _training_step(self, step: StepDef) -> Any:
        from sagemaker.core.shapes import Channel, DataSource, S3DataSource, StoppingCondition
        from sagemaker.train import ModelTrainer
        from sagemaker.train.configs import Compute, OutputDataConfig

        model_output = self._model_output(step)
        paths = {name: f"{TRAINING_INPUT}/{name}" for name in step.inputs}
        paths.update({name: f"{TRAINING_EXTRA_OUTPUT}/{name}" for name in step.outputs})
        paths[model_output] = TRAINING_MODEL
        command, arguments = self._command(step, paths, f"{TRAINING_INPUT}/{CODE_CHANNEL}")

        def channel(name: str, uri: Any) -> Any:
            return Channel(
                channel_name=name,
                data_source=DataSource(
                    s3_data_source=S3DataSource(
                        s3_data_type="S3Prefix", s3_uri=uri, s3_data_distribution_type="FullyReplicated"
                    )
                ),
                input_mode="File",
            )

        channels = [channel(name, self._source_uri(step, name)) for name in step.inputs]
        channels.append(channel(CODE_CHANNEL, self.code_prefix))
        trainer = ModelTrainer(
            sagemaker_session=self.session,
            role=self.settings.role_arn,
            training_image=self.image,
            base_job_name=f"{self.pipeline.name}-{step.name}".replace("_", "-"),
            compute=Compute(
                instance_type=self.settings.instance_type,
                instance_count=1,
                volume_size_in_gb=VOLUME_GB,
                volume_kms_key_id=self.volume_key,
            ),
            stopping_condition=StoppingCondition(max_runtime_in_seconds=MAX_RUNTIME_SECONDS),
            output_data_config=OutputDataConfig(
                s3_output_path=self._output_uri(step.name), kms_key_id=self.settings.kms_key_arn
            ),
            input_data_config=channels,
            environment={
                "PYTHONUNBUFFERED": "1",
                **({MODEL_SHIPS_ENV: ",".join(self.settings.model_ships)} if self.settings.model_ships else {}),
            },
        )
        return command_training_step_class()(
            name=step.name,
            step_args=trainer.train(),
            description=step.description or None,
            container_entrypoint=command,
            container_arguments=arguments,
        )

    def _data_baseline(self) -> Any:
        """Model Monitor's data-quality statistics and constraints of training_data's baseline (the
        request columns of the training rows, with a header): ``engine="builtin"`` only. ``skip_check``:
        nothing to compare with; ``register_new_baseline``: its result is the new baseline."""
        from sagemaker.core.model_monitor.dataset_format import DatasetFormat
        from sagemaker.mlops.workflow.check_job_config import CheckJobConfig
        from sagemaker.mlops.workflow.quality_check_step import DataQualityCheckConfig, QualityCheckStep

        settings = self.settings
        check_job = CheckJobConfig(
            role=settings.role_arn,
            instance_count=1,
            instance_type=self.processing_instance_type,
            volume_size_in_gb=VOLUME_GB,
            volume_kms_key=self.processing_volume_key,
            output_kms_key=settings.kms_key_arn,
            max_runtime_in_seconds=MAX_RUNTIME_SECONDS,
            base_job_name=f"{self.pipeline.name}-baseline",
            sagemaker_session=self.session,
        )
        return QualityCheckStep(
            name=BASELINE_STEP,
            quality_check_config=DataQualityCheckConfig(
                baseline_dataset=self._baseline_uri(),
                dataset_format=DatasetFormat.csv(header=True),
                output_s3_uri=self._output_uri(BASELINE_STEP),
            ),
            check_job_config=check_job,
            skip_check=True,
            register_new_baseline=True,
            description=f"Model Monitor data-quality statistics of {DATASET_STEP}.{BASELINE_OUTPUT}.",
        )

    def _baseline_uri(self) -> Any:
        return self.steps[DATASET_STEP].properties.ProcessingOutputConfig.Outputs[BASELINE_OUTPUT].S3Output.S3Uri

    def _publish_baseline(self, register: Any) -> Any:
        """Copy the baseline (and, for Model Monitor, its statistics and constraints) to
        ``monitoring/baselines/<registered version>/``, where the drift check of an endpoint
        serving that version reads it. A copy with ``cp``: no code, no network."""
        from sagemaker.core.workflow.functions import Join
        from sagemaker.mlops.workflow.steps import ProcessingStep

        settings = self.settings
        version = register.properties.ModelPackageVersion
        out_path = f"{PROCESSING_OUTPUT}/{BASELINE_OUTPUT}"
        inputs = [_s3_input(BASELINE_OUTPUT, self._baseline_uri(), f"{PROCESSING_INPUT}/{BASELINE_OUTPUT}")]
        if settings.engine == "builtin":
            inputs.append(
                _s3_input(BASELINE_STEP, self._output_uri(BASELINE_STEP), f"{PROCESSING_INPUT}/{BASELINE_STEP}")
            )
        command = ["cp", "-R", *(f"{i.s3_input.local_path}/." for i in inputs), f"{out_path}/"]
        processor = self._processor(PUBLISH_STEP, command)
        step = ProcessingStep(
            name=PUBLISH_STEP,
            step_args=processor.run(
                inputs=inputs,
                outputs=[
                    _s3_output(
                        BASELINE_OUTPUT,
                        Join(on="/", values=[f"s3://{settings.bucket}/{BASELINES_PREFIX}", version]),
                        out_path,
                    )
                ],
            ),
            description=f"The drift baseline of the registered version -> s3://{settings.bucket}/{BASELINES_PREFIX}/<version>/.",
        )
        if settings.engine == "builtin":
            step.add_depends_on([BASELINE_STEP])
        return step

    def _gate(self) -> Any:
        from sagemaker.core.model_metrics import MetricsSource, ModelMetrics
        from sagemaker.core.workflow.conditions import ConditionGreaterThanOrEqualTo
        from sagemaker.core.workflow.functions import Join, JsonGet
        from sagemaker.mlops.workflow.condition_step import ConditionStep
        from sagemaker.mlops.workflow.fail_step import FailStep
        from sagemaker.mlops.workflow.model_step import ModelStep
        from sagemaker.serve.model_builder import ModelBuilder

        settings = self.settings
        metrics_step = self.steps[self.pipeline.metrics_step]
        model_step = self.steps[self.pipeline.model_step]
        metric_value = JsonGet(
            step_name=metrics_step.name,
            property_file=self.metrics_file,
            json_path=f"metrics.{settings.gate_metric}",
        )
        report_uri = Join(
            on="/",
            values=[
                metrics_step.properties.ProcessingOutputConfig.Outputs[self.pipeline.metrics_output].S3Output.S3Uri,
                self.pipeline.metrics_file,
            ],
        )
        builder = ModelBuilder(
            image_uri=self.inference_image,
            s3_model_data_url=model_step.properties.ModelArtifacts.S3ModelArtifacts,
            role_arn=settings.role_arn,
            sagemaker_session=self.session,
            instance_type=settings.inference_instance_type,
            # The sklearn container imports serve.py from the unpacked archive (train.py put it
            # there), so the endpoint needs no code upload and no network.
            env_vars={"SAGEMAKER_PROGRAM": SERVE_SCRIPT, "SAGEMAKER_SUBMIT_DIRECTORY": SERVE_CODE_DIR},
        )
        register = ModelStep(
            name=REGISTER_STEP,
            step_args=builder.register(
                model_package_group_name=settings.model_package_group,
                content_types=["text/csv", "application/json"],
                response_types=["application/json"],
                inference_instances=self.supported_instance_types,
                transform_instances=self.supported_instance_types,
                approval_status=settings.approval_status,
                model_metrics=ModelMetrics(
                    model_statistics=MetricsSource(content_type="application/json", s3_uri=report_uri)
                ),
                customer_metadata_properties={
                    "pipeline": settings.pipeline_name,
                    TRIGGER_PARAM: self.params[TRIGGER_PARAM],
                    # CustomerMetadataValue allows letters, digits, spaces and _.:/=+-@ only (no '>').
                    "gate_metric": settings.gate_metric,
                    "gate_threshold": str(self.gate_threshold),
                },
            ),
            description=f"Register the model in {settings.model_package_group} ({settings.approval_status}).",
        )
        fail = FailStep(
            name=FAIL_STEP,
            error_message=Join(
                on="",
                values=[
                    f"quality gate failed: {settings.gate_metric} = ",
                    metric_value,
                    f", required >= {self.gate_threshold}",
                ],
            ),
            description=f"Stop: {settings.gate_metric} below {self.gate_threshold}.",
        )
        return ConditionStep(
            name=GATE_STEP,
            conditions=[ConditionGreaterThanOrEqualTo(left=metric_value, right=self.gate_threshold)],
            if_steps=[register, self._publish_baseline(register)],
            else_steps=[fail],
            description=f"Register only if {settings.gate_metric} >= {self.gate_threshold}.",
        )

    def definition(self) -> str:
        from sagemaker.mlops.workflow.pipeline import Pipeline

        parameters = self._declare_params()
        for step in self.pipeline.steps:
            sdk = self._training_step(step) if step.kind == "training" else self._processing_step(step)
            self.steps[step.name] = sdk
            self.sdk_steps.append(sdk)
            if step.name == DATASET_STEP and self.settings.engine == "builtin":
                self.sdk_steps.append(self._data_baseline())
        self.sdk_steps.append(self._gate())
        definition = Pipeline(
            name=self.settings.pipeline_name,
            parameters=parameters,
            steps=self.sdk_steps,
            sagemaker_session=self.session,
            # No experiment, run group or run per execution: the execution role has no Experiments
            # rights, and nothing reads them ("Amazon SageMaker Experiments Integration",
            # https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines-experiments.html).
            pipeline_experiment_config=None,
        ).definition()
        return json.dumps(_apply_network(json.loads(definition), self.vpc))


def io_environment() -> str:
    """``$MLOPS_IO`` of a feature-store step: where its configuration file is mounted."""
    return json.dumps({"kind": "aws", "file": f"{IO_DIR}/{IO_FILE}"}, separators=(",", ":"))


def _apply_network(definition: dict[str, Any], vpc: Mapping[str, list[str]] | None) -> dict[str, Any]:
    """Every job of the definition (inside Condition branches too) encrypts inter-container traffic;
    with ``vpc``, every job is in its subnets and network-isolated but the feature-store steps
    (``IO_STEPS``: featurestore-runtime and S3 through the VPC endpoints); without, the baseline and
    publish jobs alone are isolated (the other steps pip-install from PyPI). Set on the requests the
    pipeline service sends (CreateProcessingJob ``NetworkConfig``, CreateTrainingJob top-level
    members), after the SDK built them: its QualityCheck request cannot serialise a NetworkConfig."""

    def walk(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            args = step.get("Arguments") or {}
            kind = step.get("Type")
            isolated = step.get("Name") not in IO_STEPS and (
                vpc is not None or kind == "QualityCheck" or step.get("Name") == PUBLISH_STEP
            )
            if kind in ("Processing", "QualityCheck"):
                args["NetworkConfig"] = {
                    "EnableInterContainerTrafficEncryption": True,
                    "EnableNetworkIsolation": isolated,
                    **({"VpcConfig": dict(vpc)} if vpc else {}),
                }
            elif kind == "Training":
                args["EnableInterContainerTrafficEncryption"] = True
                args["EnableNetworkIsolation"] = isolated
                if vpc:
                    args["VpcConfig"] = dict(vpc)
            elif kind == "Condition":
                walk(args.get("IfSteps") or [])
                walk(args.get("ElseSteps") or [])

    walk(definition.get("Steps") or [])
    return definition


def _s3_input(name: str, uri: Any, local: str) -> Any:
    from sagemaker.core.shapes import ProcessingInput, ProcessingS3Input

    return ProcessingInput(
        input_name=name,
        s3_input=ProcessingS3Input(
            s3_uri=uri,
            local_path=local,
            s3_data_type="S3Prefix",
            s3_input_mode="File",
            s3_data_distribution_type="FullyReplicated",
        ),
    )


def _s3_output(name: str, uri: Any, local: str) -> Any:
    from sagemaker.core.shapes import ProcessingOutput, ProcessingS3Output

    return ProcessingOutput(
        output_name=name,
        s3_output=ProcessingS3Output(s3_uri=uri, local_path=local, s3_upload_mode="EndOfJob"),
    )
