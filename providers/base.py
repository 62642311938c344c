"""The cloud-neutral contract every provider implements.

A provider turns one validated `Platform` into seven Pulumi components, one per capability,
typed `mlops:<cloud>:<Capability>` and named `<name>-<environment>-<capability>` on every cloud.
The program only talks to this module; it never asks which cloud it is on. What each capability
guarantees, on every cloud:

- Foundation: a customer-managed encryption key; private, encrypted, versioned storage for data,
  artifacts and captured requests; least-privilege identities the ML services run as.
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

The seven are declared in one order, and each takes what the ones before it hand over, in the same
order on every cloud (see `Provider.build`): what a component hands on is its `out`, a small frozen
dataclass defined next to the component (never attributes read off another component).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Generic, Literal, TypeVar

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

S = TypeVar("S")


def component_name(prefix: str, capability: str) -> str:
    """The logical (URN) name of a capability's component: `churn-dev-feature-store`."""
    return f"{prefix}-{re.sub(r'(?<!^)(?=[A-Z])', '-', capability).lower()}"


def asset(source: Path | str) -> pulumi.Asset:
    """A code bundle file as a Pulumi asset: a file on disk, or generated text."""
    return pulumi.FileAsset(str(source)) if isinstance(source, Path) else pulumi.StringAsset(source)


def serving_sentence(version: int, registry: str) -> str:
    """The `serving` output when a version is served (`NOT_SERVING` otherwise)."""
    return f"model version {version} of {registry}"


@dataclass(frozen=True)
class Target:
    """A validated description before the cloud translated it: what `Provider.translate` reads."""

    stack: str
    cloud: str
    platform: Platform
    pipeline: PipelineDef
    cloud_config: Mapping[str, Any]
    """The cloud's own provider keys by logical name, e.g. {"region": "eu-west-1"} from `aws:region`."""
    region: str
    """Where the platform lives (`aws:region`, `gcp:region`, `azure-native:location`)."""

    @property
    def model_version(self) -> int | None:
        """The registry version to serve, or None. THE one place that decides whether anything is
        served (translation and components read it here, never off the description): with None,
        nothing that needs a model is declared on any cloud: no model, deployment, autoscaling,
        monitor schedule or drift alarm. An endpoint that can exist without a model (Vertex AI's,
        Azure ML's) is still declared, so its address and network are ready; SageMaker's cannot
        (an endpoint configuration names a model), so AWS declares none."""
        return self.platform.endpoint.model_version

    @property
    def serves_model(self) -> bool:
        return self.model_version is not None


@dataclass(frozen=True)
class Deployment(Target, Generic[S]):
    """Everything a provider's components need: the target and the cloud's typed settings."""

    settings: S
    """The provider's translation of the portable values (instance types, cron, names)."""


@dataclass(frozen=True)
class Limitation:
    """A portable setting this cloud cannot honour as described.

    `refuse`: `mlops validate` / `pulumi up` stop with exit 2 naming `key`. `note`: harmless, said
    in one line by `validate` and `plan`.
    """

    key: str
    message: str
    severity: Literal["refuse", "note"] = "refuse"


class Capability(pulumi.ComponentResource):
    """Base of the seven components. Subclasses set `cloud` and `capability`, set `out` (what they
    hand to the components declared after them) and call `publish` last."""

    cloud: ClassVar[str]
    capability: ClassVar[str]
    out: Any = None

    def __init__(self, name: str, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(f"mlops:{self.cloud}:{self.capability}", name, None, opts)
        self.published: dict[str, pulumi.Input[Any]] = {}

    def child(self, **kwargs: Any) -> pulumi.ResourceOptions:
        """Options for a child resource: parented here, plus whatever the caller adds."""
        return pulumi.ResourceOptions(parent=self, **kwargs)

    def protected(self, deployment: Deployment[Any], **kwargs: Any) -> pulumi.ResourceOptions:
        """Options for a data-bearing child: protected unless `protect_data: false`."""
        return pulumi.ResourceOptions(parent=self, protect=deployment.platform.protect_data, **kwargs)

    def publish(self, **outputs: pulumi.Input[Any]) -> None:
        expected = set(OUTPUT_KEYS[self.capability])
        if set(outputs) != expected:
            raise TypeError(f"{type(self).__name__} must publish exactly {sorted(expected)}, got {sorted(outputs)}")
        self.published = dict(outputs)
        self.register_outputs(outputs)


@dataclass(frozen=True)
class ComponentClasses:
    """A provider's seven component classes. The constructors take, in this order:

    Foundation(name, deployment)
    FeatureStore(name, deployment, foundation)
    ModelRegistry(name, deployment, foundation)
    TrainingPipeline(name, deployment, foundation, feature_store, model_registry)
    Endpoint(name, deployment, foundation, model_registry, training_pipeline)
    ModelMonitor(name, deployment, foundation, endpoint, training_pipeline)
    RetrainingTrigger(name, deployment, foundation, model_monitor, training_pipeline)

    where each collaborator is the `out` of that component.
    """

    foundation: Callable[..., Capability]
    feature_store: Callable[..., Capability]
    model_registry: Callable[..., Capability]
    training_pipeline: Callable[..., Capability]
    endpoint: Callable[..., Capability]
    model_monitor: Callable[..., Capability]
    retraining_trigger: Callable[..., Capability]


@dataclass(frozen=True)
class Components:
    """The seven components of one platform, in declaration order."""

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


class Provider(ABC, Generic[S]):
    """One cloud. Subclasses live in `providers/<cloud>/__init__.py` and are found by the registry.

    A provider module imports no cloud SDK at import time: `components()` imports them when the
    platform is built, so planning one cloud never loads another's SDK.
    """

    cloud: ClassVar[str]
    config_keys: ClassVar[Mapping[str, str]]
    """Provider config the kit needs: logical name -> stack config key, e.g. {"region": "aws:region"}."""
    optional_config_keys: ClassVar[Mapping[str, str]] = {}
    region_key: ClassVar[str]
    """The stack config key (one of `config_keys`) that says where the platform lives, e.g. `aws:region`."""

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

    def region(self, cloud_config: Mapping[str, Any]) -> str:
        """Where the platform lives, from the provider keys `read_config` returned."""
        logical = next(name for name, key in self.config_keys.items() if key == self.region_key)
        return str(cloud_config[logical])

    def limitations(self, platform: Platform) -> list[Limitation]:
        """What of `platform` this cloud cannot honour (declared, not hidden). Default: nothing."""
        return []

    def check_plan(self, resources: list[dict[str, Any]]) -> list[str]:
        """Every request in an offline plan that the cloud would refuse, one line each naming the
        resource, the field and the vendor's rule (held against the vendor's own machine-readable
        model, see `providers/<cloud>/vendor_rules.py`). `resources` are `{"type", "name", "inputs"}`
        as in `mlops plan --format json`. Default: nothing checked."""
        return []

    @abstractmethod
    def translate(self, target: Target) -> S:
        """Check the platform against this cloud's rules and map the portable values.

        Raises `SpecError(key, rule)` for the first broken rule, before any resource is declared.
        """

    @abstractmethod
    def components(self) -> ComponentClasses:
        """The seven component classes (imports the cloud's Pulumi SDK)."""

    def build(self, deployment: Deployment[S]) -> Components:
        """Declare the seven components, each given what the ones before it hand over."""
        classes = self.components()
        prefix = deployment.platform.prefix

        def name(capability: str) -> str:
            return component_name(prefix, capability)

        foundation = classes.foundation(name("Foundation"), deployment)
        features = classes.feature_store(name("FeatureStore"), deployment, foundation.out)
        registry = classes.model_registry(name("ModelRegistry"), deployment, foundation.out)
        training = classes.training_pipeline(
            name("TrainingPipeline"), deployment, foundation.out, features.out, registry.out
        )
        endpoint = classes.endpoint(name("Endpoint"), deployment, foundation.out, registry.out, training.out)
        monitor = classes.model_monitor(name("ModelMonitor"), deployment, foundation.out, endpoint.out, training.out)
        trigger = classes.retraining_trigger(
            name("RetrainingTrigger"), deployment, foundation.out, monitor.out, training.out
        )
        return Components(foundation, features, registry, training, endpoint, monitor, trigger)

    def deploy(self, deployment: Deployment[S]) -> dict[str, pulumi.Input[Any]]:
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
