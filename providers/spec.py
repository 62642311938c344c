"""The cloud-neutral platform description: what `mlops:platform` in a stack file may say.

Every rule here is portable. Rules that belong to one cloud (name lengths, cron dialects,
instance families) live in that cloud's `translate.py` and run before any resource is declared.
A failed rule is reported as one `SpecError` that names the key and the rule.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipelines.spec import PORTABLE_FEATURE_TYPES as PORTABLE_FEATURE_TYPES  # re-exported: one list, in pipelines/
from pipelines.spec import FeatureType, PipelineDef
from providers import cron
from providers import registry as _registry
from providers.errors import SpecError

CLOUDS = _registry.clouds()

DESCRIPTION_MAX = 1000
"""The kit's portable cap on free-text descriptions (a cloud's own, smaller limit is its translate's)."""

_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{2,19}$")
_IDENT_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _cron(value: str) -> str:
    """Checked against the portable grammar (providers/cron.py), kept in its plain unix form."""
    try:
        return cron.parse(value, "cron").unix()
    except SpecError as exc:
        raise ValueError(exc.rule) from None


def _identifier(value: str) -> str:
    if not _IDENT_RE.match(value):
        raise ValueError(
            "must be 1-63 characters of lowercase letters, digits and underscores, "
            f"starting with a letter, got {value!r}"
        )
    return value


Cron = Annotated[str, AfterValidator(_cron)]
Identifier = Annotated[str, AfterValidator(_identifier)]
InstanceSize = Literal["small", "medium", "large", "gpu"]
INSTANCE_SIZES: tuple[str, ...] = get_args(InstanceSize)


class _Model(BaseModel):
    # strict: `max_replicas: "4"` or `true` is an error, not silently 4 or 1.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Feature(_Model):
    name: Identifier
    """Column name; lowercase snake_case so it is legal on every cloud."""
    type: FeatureType
    """Portable type; each cloud maps it to its own (see the provider's translate.py)."""


class FeatureGroup(_Model):
    name: Identifier
    entity: Identifier
    """The record identifier column."""
    event_time: Identifier
    """The event-time column used for point-in-time joins."""
    online: bool = True
    """Also serve the latest values from a low-latency online store."""
    features: list[Feature] = Field(min_length=1)
    description: str = Field(default="", max_length=DESCRIPTION_MAX)
    """Set once, at creation. Each cloud may allow less (SageMaker: 128 characters)."""

    @model_validator(mode="after")
    def _unique_columns(self) -> FeatureGroup:
        names = [f.name for f in self.features]
        for reserved in (self.entity, self.event_time):
            if reserved in names:
                raise ValueError(
                    f"feature {reserved!r} repeats the entity or event_time column; those are added by the kit"
                )
        if self.entity == self.event_time:
            raise ValueError("entity and event_time must be different columns")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate feature names: {', '.join(dupes)}")
        return self


class FeatureStore(_Model):
    feature_groups: list[FeatureGroup] = Field(default_factory=list)
    online_sync_schedule: Cron = "0 * * * *"
    """How often offline data is copied to the online store where the cloud syncs on a schedule."""

    @field_validator("feature_groups")
    @classmethod
    def _unique_groups(cls, groups: list[FeatureGroup]) -> list[FeatureGroup]:
        names = [g.name for g in groups]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate feature group names: {', '.join(dupes)}")
        return groups


class Registry(_Model):
    approval: Literal["manual", "auto"] = "manual"
    """manual: a new model version waits for a person to approve it; auto: approved on registration."""
    approvers: list[str] = Field(default_factory=list)
    """Who may approve versions, in the cloud's principal syntax; the kit grants them exactly what
    approving needs. GCP: IAM members (`group:reviewers@example.com`, `user:`, `serviceAccount:`,
    `domain:`), validated by providers/gcp/translate.py. AWS: IAM role, user or group ARNs of the
    stack's account, given the approver policy (providers/aws/approval.py). Azure: `user:`, `group:` or
    `servicePrincipal:` + an Entra object id, given the approval records container
    (providers/azure/translate.py). Empty: the admins grant it."""


class QualityGate(_Model):
    metric: Identifier = "roc_auc"
    """One of the metrics the pipeline's evaluation step reports (`PipelineDef.metrics`); checked
    against the pipeline by `check_data_contract`, where the platform meets its pipeline."""
    threshold: float = Field(ge=0.0, le=1.0)
    """The evaluated metric must be >= threshold for the model to be registered."""


class Pipeline(_Model):
    name: str
    """A pipeline defined in `pipelines/` (see `pipelines.available()`)."""
    schedule: Cron | None = None
    """Five-field cron, UTC; null = run only on demand and on drift."""
    instance: InstanceSize = "medium"
    quality_gate: QualityGate

    @field_validator("name")
    @classmethod
    def _known_pipeline(cls, value: str) -> str:
        import pipelines  # cloud-neutral, no SDK

        known = pipelines.available()
        if value not in known:
            raise ValueError(f"unknown pipeline {value!r}; defined in pipelines/: {', '.join(known) or 'none'}")
        try:
            pipelines.get_pipeline(value)
        except pipelines.BrokenPipelineError as exc:
            raise ValueError(f"pipeline {value!r} is broken: {exc}") from None
        return value


class RollbackOn(_Model):
    """What makes a rollout go back to the version served before (either is enough)."""

    error_rate: float | None = Field(default=0.05, gt=0.0, le=1.0)
    """Share of invocations of the new version that fail (server errors), over a bake period."""
    p99_latency_ms: int | None = Field(default=None, ge=1, le=600_000)
    """99th percentile model latency of the new version, in milliseconds, over a bake period."""


class Rollout(_Model):
    """How a new `model_version` takes traffic from the one served before it.

    all_at_once: the new version takes all traffic at once. canary: it takes `canary_percent` for
    `bake_minutes`, then the rest. linear: it takes `step_percent` more every `bake_minutes`. During
    a canary or linear rollout, a breach of `rollback_on` sends all traffic back to the old version.
    """

    strategy: Literal["all_at_once", "canary", "linear"] = "all_at_once"
    canary_percent: int = Field(default=10, ge=1, le=50)
    step_percent: int = Field(default=25, ge=5, le=50)
    bake_minutes: int = Field(default=10, ge=1, le=1440)
    rollback_on: RollbackOn = Field(default_factory=RollbackOn)


class Shadow(_Model):
    """A second version that receives a copy of live requests; its answers are not returned."""

    model_version: int = Field(ge=1)
    sample_percent: int = Field(default=100, ge=1, le=100)


class Endpoint(_Model):
    model_version: int | None = Field(default=None, ge=1)
    """Registry version to serve; null = nothing is served yet (no model exists on a first deploy)."""
    instance: InstanceSize = "small"
    min_replicas: int = Field(default=1, ge=1, le=100)
    max_replicas: int = Field(default=2, ge=1, le=100)
    target_cpu_percent: int = Field(default=70, ge=10, le=95)
    data_capture_percent: int = Field(default=20, ge=1, le=100)
    """Share of requests captured; at least 1, since the drift monitor reads nothing else."""
    rollout: Rollout = Field(default_factory=Rollout)
    shadow: Shadow | None = None
    """Where the cloud supports shadow traffic (a provider refuses it where it does not)."""

    @model_validator(mode="after")
    def _bounds(self) -> Endpoint:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas ({self.max_replicas}) must be >= min_replicas ({self.min_replicas})")
        if self.shadow is not None:
            if self.model_version is None:
                raise ValueError("shadow needs a served model_version to shadow")
            if self.shadow.model_version == self.model_version:
                raise ValueError(f"shadow.model_version ({self.shadow.model_version}) is the version served")
        return self


class Monitor(_Model):
    schedule: Cron = "0 * * * *"
    """When the drift check runs; each run compares the requests captured since the previous one."""
    drift_threshold: float = Field(gt=0.0, le=1.0)
    """Largest per-feature distance tolerated between the training data and live requests: the
    kit's statistic (Kolmogorov-Smirnov D for numbers, L-infinity for categories), in [0, 1]."""
    engine: Literal["kit", "builtin"] = "kit"
    """kit: the kit's own drift step (the same statistic on every cloud). builtin: the cloud's
    own monitor (SageMaker Model Monitor, Azure ML monitoring), where the cloud offers one."""
    min_samples: int = Field(default=100, ge=30, le=1_000_000)
    """A window with fewer captured requests is skipped, never judged (few samples look drifted)."""
    retrain_on_drift: bool = True
    retrain_cooldown_hours: int = Field(default=24, ge=0, le=24 * 30)
    """After a drift-started retraining, further drift starts none for this long (one per episode)."""
    alert_email: str

    @field_validator("alert_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL_RE.match(value):
            raise ValueError(f"must be an e-mail address, got {value!r}")
        return value


class Network(_Model):
    public_access: bool = False
    """Allow public network access to workspaces and endpoints. Off by default."""


class Platform(_Model):
    name: str
    environment: Literal["dev", "staging", "prod"]
    tags: dict[str, str] = Field(default_factory=dict)
    protect_data: bool = True
    """Protect data-bearing resources (storage, feature groups, registry) from deletion."""
    network: Network = Field(default_factory=Network)
    feature_store: FeatureStore = Field(default_factory=FeatureStore)
    registry: Registry = Field(default_factory=Registry)
    pipeline: Pipeline
    endpoint: Endpoint = Field(default_factory=Endpoint)
    monitor: Monitor

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(
                "must be 3-20 characters of lowercase letters, digits and hyphens, "
                f"starting with a letter, got {value!r}"
            )
        if value.endswith("-") or "--" in value:
            raise ValueError(f"must not end with a hyphen or contain '--', got {value!r}")
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: dict[str, str]) -> dict[str, str]:
        for key, value in tags.items():
            if key.startswith("mlops-"):
                raise ValueError(f"tag key {key!r}: the mlops- prefix is the kit's own (mlops-platform, ...)")
            if not re.match(r"^[a-z][a-z0-9_-]{0,62}$", key):
                raise ValueError(
                    f"tag key {key!r} must be 1-63 lowercase letters, digits, '_' or '-', "
                    "starting with a letter (the rule every cloud accepts)"
                )
            if len(value) > 63 or not re.match(r"^[a-z0-9_-]*$", value):
                raise ValueError(
                    f"tag {key!r} value {value!r} must be at most 63 lowercase letters, digits, '_' or '-'"
                )
        return tags

    @property
    def prefix(self) -> str:
        """Stable base of every physical name: `<name>-<environment>`."""
        return f"{self.name}-{self.environment}"

    @property
    def all_tags(self) -> dict[str, str]:
        return {"mlops-platform": self.name, "mlops-environment": self.environment, **self.tags}


def _error_key(prefix: str, loc: tuple[Any, ...]) -> str:
    parts = [prefix]
    for item in loc:
        if isinstance(item, int):
            parts[-1] += f"[{item}]"
        else:
            parts.append(str(item))
    return ".".join(parts)


def parse_platform(raw: Any, key: str = "mlops:platform") -> Platform:
    """Validate a raw `mlops:platform` value; the first broken rule raises `SpecError`."""
    if not isinstance(raw, dict):
        raise SpecError(key, "must be a mapping (the platform description), see the README")
    try:
        return Platform.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(x for x in err["loc"] if not str(x).startswith("function-after"))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key (check the spelling against the config reference)"
        elif err["type"] == "missing":
            message = "is required"
        return _raise(SpecError(_error_key(key, loc), message))


def _raise(error: Exception) -> Any:
    raise error


def parse_cloud(raw: Any, key: str = "mlops:cloud") -> str:
    if raw is None:
        raise SpecError(key, f"is required: one of {', '.join(CLOUDS)}")
    if raw not in CLOUDS:
        raise SpecError(key, f"unknown cloud {raw!r}; must be one of {', '.join(CLOUDS)}")
    return str(raw)


def check_data_contract(platform: Platform, pipeline: PipelineDef, key: str = "mlops:platform") -> None:
    """The platform's feature store holds what the pipeline reads, typed the same way, and its
    quality gate judges a metric the pipeline reports.

    Every feature group the pipeline's data contract reads exists in `feature_store.feature_groups`
    with the same entity and event-time columns, and every feature it reads is declared there with
    the same portable type; `pipeline.quality_gate.metric` is one of the pipeline's `metrics`. The
    first mismatch is a SpecError naming the key to change.
    """
    gate = platform.pipeline.quality_gate.metric
    if gate not in pipeline.metrics:
        raise SpecError(
            f"{key}.pipeline.quality_gate.metric",
            f"{gate!r} is not a metric pipeline {pipeline.name!r} reports; its metrics: {', '.join(pipeline.metrics)}",
        )
    contract = pipeline.contract
    groups = {g.name: (i, g) for i, g in enumerate(platform.feature_store.feature_groups)}
    for read in contract.reads:
        if read.group not in groups:
            declared = ", ".join(groups) or "none"
            raise SpecError(
                f"{key}.feature_store.feature_groups",
                f"pipeline {pipeline.name!r} reads feature group {read.group!r}, which the platform does not "
                f"declare (declared: {declared})",
            )
        index, group = groups[read.group]
        gkey = f"{key}.feature_store.feature_groups[{index}]"
        if group.entity != contract.entity:
            raise SpecError(
                f"{gkey}.entity",
                f"is {group.entity!r}; pipeline {pipeline.name!r} keys its data by {contract.entity!r}",
            )
        if group.event_time != contract.event_time:
            raise SpecError(
                f"{gkey}.event_time",
                f"is {group.event_time!r}; pipeline {pipeline.name!r} times its data by {contract.event_time!r}",
            )
        declared_types = {f.name: f.type for f in group.features}
        for column in read.features:
            if column.name not in declared_types:
                raise SpecError(
                    f"{gkey}.features",
                    f"lacks {column.name!r} ({column.type}), which pipeline {pipeline.name!r} writes and reads",
                )
            if declared_types[column.name] != column.type:
                raise SpecError(
                    f"{gkey}.features",
                    f"declares {column.name!r} as {declared_types[column.name]}; pipeline {pipeline.name!r} "
                    f"reads it as {column.type}",
                )
