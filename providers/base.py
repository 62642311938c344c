"""The cloud-neutral contract every provider implements.

A provider turns one validated `Platform` into seven Pulumi components, one per capability,
typed `mlops:<cloud>:<Capability>`. The program only talks to this module; it never asks which
cloud it is on. What each capability guarantees, on every cloud:

- Foundation: a customer-managed encryption key; private, encrypted, versioned storage for data,
  artifacts and captured requests; one least-privilege identity the ML services run as.
- FeatureStore: each feature group with its entity, event time and typed features in an offline
  store; groups with `online: true` also in a low-latency online store. Protected.
- ModelRegistry: a versioned model registry; with `approval: manual` a new version is not
  deployable until a person approves it. Protected.
- TrainingPipeline: the cloud-neutral pipeline from `pipelines/` (validate -> features -> train ->
  evaluate -> quality gate -> register), running the same step scripts, on `pipeline.schedule`.
- Endpoint: a private real-time endpoint serving `endpoint.model_version` between the replica bounds
  on the CPU target, capturing `data_capture_percent` of requests. With `model_version: null` it
  declares nothing that needs a model and says so in the `serving` output.
- ModelMonitor: drift of the captured requests against the training data on `monitor.schedule`.
- RetrainingTrigger: drift above `monitor.drift_threshold` alerts `monitor.alert_email` and, when
  `retrain_on_drift`, starts the training pipeline.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pulumi

from pipelines.spec import PipelineDef
from providers.spec import Platform

CAPABILITIES = (
    "Foundation",
    "FeatureStore",
    "ModelRegistry",
    "TrainingPipeline",
    "Endpoint",
    "ModelMonitor",
    "RetrainingTrigger",
)

# The stack outputs each capability publishes: the same keys AND the same meaning on every cloud.
# An "id" is the cloud's full identifier of the resource (AWS ARN, GCP resource path
# `projects/...` or `//service/...`, Azure ARM id `/subscriptions/...`), never a short name.
#   storage_uri        URI of the platform's storage (s3://..., gs://..., abfss://...@....dfs.core.windows.net/)
#   encryption_key     id of the customer-managed key
#   execution_identity id of the identity the ML services run as (role ARN, service account email, identity id)
#   feature_groups     {group: {"id": id of the group, "offline": id of its offline table/location,
#                               "online": bool}}
#   model_registry     id of the registry (model package group, Vertex model, Azure model container)
#   approval           "manual" | "auto"
#   training_pipeline  id or URI of what a run starts from (pipeline ARN, compiled template URI, ...)
#   training_schedule  id of the schedule, or None when pipeline.schedule is null
#   endpoint           id of the endpoint serving the model, or None when nothing is served
#   serving            one sentence: which version is served, or why nothing is (NOT_SERVING)
#   monitor            id of the drift-check schedule, or None when nothing is monitored
#   drift_alarm        list of ids of the alert rules that fire on drift ([] when there is none)
#   alert_topic        id of what notifies alert_email (topic, channel, action group)
#   retrain_target     id of what drift starts (the pipeline, or the workflow that starts it), or None
OUTPUT_KEYS: dict[str, tuple[str, ...]] = {
    "Foundation": ("storage_uri", "encryption_key", "execution_identity"),
    "FeatureStore": ("feature_groups",),
    "ModelRegistry": ("model_registry", "approval"),
    "TrainingPipeline": ("training_pipeline", "training_schedule"),
    "Endpoint": ("endpoint", "serving"),
    "ModelMonitor": ("monitor",),
    "RetrainingTrigger": ("drift_alarm", "alert_topic", "retrain_target"),
}
STACK_OUTPUT_KEYS = ("cloud", "region", "platform") + tuple(key for keys in OUTPUT_KEYS.values() for key in keys)

NOT_SERVING = "nothing served: endpoint.model_version is null (set it to an approved registry version)"


@dataclass(frozen=True)
class Deployment:
    """Everything a provider needs, validated: the platform, its cloud and that cloud's settings."""

    stack: str
    cloud: str
    platform: Platform
    pipeline: PipelineDef
    cloud_config: Mapping[str, Any]
    """The cloud's own provider keys, e.g. {"region": "eu-west-1"} from `aws:region`."""
    settings: Any = None
    """The provider's translation of the portable values (instance types, cron, names)."""
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def region(self) -> str:
        return str(self.cloud_config.get("region") or self.cloud_config.get("location"))


class Capability(pulumi.ComponentResource):
    """Base of the seven components. Subclasses set `cloud` and `capability` and call `publish`."""

    cloud: ClassVar[str]
    capability: ClassVar[str]

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"mlops:{self.cloud}:{self.capability}", name, None, opts)
        self.published: dict[str, pulumi.Input[Any]] = {}

    def child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        """Options for a child resource: parented here, plus whatever the caller adds."""
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def protected(self, deployment: Deployment, **kwargs: Any) -> pulumi.ResourceOptions:
        """Options for a data-bearing child: protected unless `protect_data: false`."""
        return pulumi.ResourceOptions(parent=self, protect=deployment.platform.protect_data, **kwargs)

    def publish(self, **outputs: pulumi.Input[Any]) -> None:
        expected = set(OUTPUT_KEYS[self.capability])
        if set(outputs) != expected:
            raise TypeError(f"{type(self).__name__} must publish exactly {sorted(expected)}, got {sorted(outputs)}")
        self.published = dict(outputs)
        self.register_outputs(outputs)


@dataclass
class Components:
    """The seven components of one platform, in dependency order."""

    foundation: Capability
    feature_store: Capability
    model_registry: Capability
    training_pipeline: Capability
    endpoint: Capability
    model_monitor: Capability
    retraining_trigger: Capability

    def all(self) -> list[Capability]:
        return [
            self.foundation,
            self.feature_store,
            self.model_registry,
            self.training_pipeline,
            self.endpoint,
            self.model_monitor,
            self.retraining_trigger,
        ]


class Provider(ABC):
    """One cloud. Subclasses live in `providers/<cloud>/__init__.py` and are found by the registry."""

    cloud: ClassVar[str]
    config_keys: ClassVar[Mapping[str, str]]
    """Provider config the kit needs: logical name -> stack config key, e.g. {"region": "aws:region"}."""
    optional_config_keys: ClassVar[Mapping[str, str]] = {}
    unsupported: ClassVar[Mapping[str, str]] = {}
    """Portable settings this cloud cannot honour, with the reason (declared, not hidden)."""

    def read_config(self, get: Callable[[str], Any]) -> dict[str, Any]:
        """Read this cloud's provider keys; a missing one is a SpecError naming the key."""
        from providers.spec import SpecError

        values: dict[str, Any] = {}
        for logical, key in self.config_keys.items():
            value = get(key)
            if value in (None, ""):
                raise SpecError(key, f"is required when mlops:cloud is {self.cloud}")
            values[logical] = value
        for logical, key in self.optional_config_keys.items():
            value = get(key)
            if value not in (None, ""):
                values[logical] = value
        return values

    @abstractmethod
    def translate(self, deployment: Deployment) -> Any:
        """Check the platform against this cloud's rules and map the portable values.

        Raises `SpecError(key, rule)` for the first broken rule, before any resource is declared.
        """

    @abstractmethod
    def build(self, deployment: Deployment) -> Components:
        """Declare the seven components for an already translated deployment."""

    def deploy(self, deployment: Deployment) -> dict[str, pulumi.Input[Any]]:
        """Declare the platform and return the stack outputs (the same keys on every cloud)."""
        components = self.build(deployment)
        outputs: dict[str, pulumi.Input[Any]] = {
            "cloud": self.cloud,
            "region": deployment.region,
            "platform": deployment.platform.prefix,
        }
        for component in components.all():
            outputs.update(component.published)
        missing = [key for key in STACK_OUTPUT_KEYS if key not in outputs]
        if missing:
            raise TypeError(f"provider {self.cloud} did not publish {missing}")
        return outputs
