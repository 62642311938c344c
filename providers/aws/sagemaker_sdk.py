"""What the sagemaker SDK needs to build a pipeline definition offline, deterministically and fast.

``pipeline_definition.build_definition`` drives the SageMaker Python SDK v3 (sagemaker-core,
-mlops, -train, -serve) inside ``Output.apply`` at every ``pulumi preview``: no network, no
credentials, and a JSON that depends only on its arguments. The SDK assumes none of that. Each
workaround below, what it works around and why (files under ``site-packages/sagemaker/``, SDK
3.27):

* ``sdk_env(region)``, an environment for the build, restored afterwards (the process's
  environment is shared):

  - ``AWS_DEFAULT_REGION``: importing ``sagemaker.mlops`` / ``sagemaker.serve`` builds a boto3
    client, which raises ``NoRegionError`` without a region;
  - ``AWS_EC2_METADATA_DISABLED``: with no credentials anywhere, that client walks the
    credential chain to the EC2 metadata endpoint (a network call, seconds of timeouts off EC2);
  - ``SAGEMAKER_VALIDATE_ROLE=false``: ``ModelTrainer`` checks its role with
    iam:SimulatePrincipalPolicy (``core/helper/iam_role_resolver.py``) and there is no argument
    to skip it; at preview the role may not exist yet;
  - ``SAGEMAKER_ADMIN_CONFIG_OVERRIDE`` / ``SAGEMAKER_USER_CONFIG_OVERRIDE`` at ``/dev/null``: the
    user's sagemaker config ("intelligent defaults") would silently add settings to the JSON;
  - the SDK's loggers at ERROR and its "Running within a PipelineSession" warning ignored: it
    narrates every step it builds, true and useless in a plan or a ``pulumi up`` log;
  - ``boto3.DEFAULT_SESSION`` put back: the import-time client creates boto3's process-wide
    default session under these settings; later boto3 users get the normal chain.

* ``offline_session(region, bucket)``, the ``PipelineSession`` every SDK object gets:

  - an explicit region and placeholder keys: creating a client resolves credentials, and
    without any the chain ends at the EC2 metadata endpoint. Nothing is signed or sent;
  - ``_default_bucket`` set: ``Session.default_bucket()`` (``core/helper/session_helper.py``)
    returns it when set, and otherwise asks STS for the account and S3 for the bucket (and may
    create it). There is no public setter;
  - ``sagemaker_config=SDK_CONFIG``: an explicit config skips the config-file search (and its S3
    fetches) and sets ``TelemetryOptOut``; telemetry otherwise sends a ``requests.get`` to S3
    from a background thread for each SDK call (``core/telemetry/telemetry_logging.py``).

* ``lean_sdk()``, two costs that change nothing in the JSON (speed only; if a future SDK moves
  either attribute, the patch is skipped and the build is slower):

  - ``SageMakerConfig.get_sagemaker_config_value`` (``core/config/config_manager.py``)
    re-validates a non-empty session config against its JSON schema (~0.2 s) at each of the ~60
    config lookups of a build. ``SDK_CONFIG`` is a constant that ``Session.__init__`` already
    validated, so lookups skip it (any other config is still validated);
  - ``ProcessingStep.__init__`` (``mlops/workflow/steps.py``) instantiates
    ``LocalSagemakerClient`` (a local-mode session with fresh boto3 clients, ~0.2 s per step)
    only to read a method name: ``_NoLocalClient`` has the two names it reads.

* ``command_training_step_class()``: a ``TrainingStep`` whose request runs a given command line
  (``AlgorithmSpecification.ContainerEntrypoint`` / ``ContainerArguments``). ``ModelTrainer``'s
  ``SourceCode`` mode always uploads its own driver scripts at build time (the ``sm_drivers``
  channel, ``train/model_trainer.py``), and a plan uploads nothing; so the trainer is built
  without ``SourceCode`` and the step sets the entrypoint itself.

Nothing here imports sagemaker or boto3 at module level: a plan whose definitions are all in the
plan-time cache must not pay for the SDK (``tests/contract/test_plan_imports.py``). Measured:
import + first build about 3 s, later builds about 0.8 s.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from typing import Any

SDK_CONFIG = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}
"""The session's sagemaker config: telemetry off. ``lean_sdk`` recognises it by identity."""
_OFFLINE_KEY = "offline-build-no-calls"
"""Placeholder access key and secret: nothing is signed or sent with them."""


@contextlib.contextmanager
def sdk_env(region: str) -> Iterator[None]:
    """Environment, loggers and warnings for the build, all restored afterwards (see the module)."""
    overrides = {
        "SAGEMAKER_VALIDATE_ROLE": "false",
        "AWS_DEFAULT_REGION": region,
        "AWS_EC2_METADATA_DISABLED": "true",
        "SAGEMAKER_ADMIN_CONFIG_OVERRIDE": os.devnull,
        "SAGEMAKER_USER_CONFIG_OVERRIDE": os.devnull,
    }
    import boto3

    saved = {k: os.environ.get(k) for k in overrides}
    sdk_loggers = [logging.getLogger(n) for n in ("sagemaker", "sagemaker.config")]
    saved_levels = [lg.level for lg in sdk_loggers]
    for lg in sdk_loggers:
        lg.setLevel(logging.ERROR)
    quiet = warnings.catch_warnings()
    quiet.__enter__()
    warnings.filterwarnings("ignore", message="Running within a PipelineSession")
    default_session = boto3.DEFAULT_SESSION
    os.environ.update(overrides)
    try:
        yield
    finally:
        quiet.__exit__(None, None, None)
        for lg, level in zip(sdk_loggers, saved_levels, strict=True):
            lg.setLevel(level)
        boto3.DEFAULT_SESSION = default_session
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def offline_session(region: str, bucket: str) -> Any:
    """A ``PipelineSession`` that makes no call: explicit region, placeholder keys, ``bucket`` as its
    default bucket, ``SDK_CONFIG`` (no config-file search, no telemetry)."""
    import boto3
    from sagemaker.core.workflow.pipeline_context import PipelineSession

    boto_session = boto3.Session(region_name=region, aws_access_key_id=_OFFLINE_KEY, aws_secret_access_key=_OFFLINE_KEY)
    session = PipelineSession(boto_session=boto_session, sagemaker_config=SDK_CONFIG)
    session._default_bucket = bucket  # only this stops a bucket lookup
    return session


class _NoLocalClient:
    """Stands in for ``LocalSagemakerClient``, which ``ProcessingStep`` builds only to read a
    method name (a local-mode session with fresh boto3 clients, ~0.2 s per step)."""

    def create_processing_job(self) -> None: ...

    def create_transform_job(self) -> None: ...


@contextlib.contextmanager
def lean_sdk() -> Iterator[None]:
    """Skip two costs of the SDK that change nothing in the definition (speed only; see the module)."""
    from sagemaker.core.config.config_manager import SageMakerConfig
    from sagemaker.mlops.workflow import steps

    patches: list[tuple[Any, str, Any]] = []
    original = SageMakerConfig.__dict__.get("validate_sagemaker_config")
    if isinstance(original, staticmethod):
        check = original.__func__

        def validate(sagemaker_config: dict | None = None) -> None:
            if sagemaker_config is not SDK_CONFIG:
                check(sagemaker_config)

        patches.append((SageMakerConfig, "validate_sagemaker_config", staticmethod(validate)))
    if hasattr(steps, "LocalSagemakerClient"):
        patches.append((steps, "LocalSagemakerClient", _NoLocalClient))
    saved = [(obj, name, obj.__dict__[name]) for obj, name, _ in patches]
    for obj, name, value in patches:
        setattr(obj, name, value)
    try:
        yield
    finally:
        for obj, name, value in saved:
            setattr(obj, name, value)


_TRAINING_STEP_CLASS: type | None = None


def command_training_step_class() -> type:
    """``TrainingStep`` that runs a given command line instead of the image's default entrypoint:
    ``cls(container_entrypoint=[...], container_arguments=[...], **TrainingStep kwargs)``."""
    global _TRAINING_STEP_CLASS  # built lazily: the SDK is imported only when a definition is built
    if _TRAINING_STEP_CLASS is None:
        from sagemaker.mlops.workflow.steps import TrainingStep

        class _CommandTrainingStep(TrainingStep):
            def __init__(self, *, container_entrypoint: list[str], container_arguments: list[Any], **kwargs: Any):
                super().__init__(**kwargs)
                self._entrypoint = container_entrypoint
                self._arguments = container_arguments

            @property
            def arguments(self) -> dict:
                request = super().arguments
                spec = request.setdefault("AlgorithmSpecification", {})
                spec["ContainerEntrypoint"] = list(self._entrypoint)
                spec["ContainerArguments"] = list(self._arguments)
                return request

        _TRAINING_STEP_CLASS = _CommandTrainingStep
    return _TRAINING_STEP_CLASS
