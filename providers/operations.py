"""Day-two operations on a deployed stack, the same on every cloud: the interface and its results.

Each cloud implements `Operations` in `providers/<cloud>/operations.py` with its own SDK (boto3,
google-cloud-aiplatform, azure-ai-ml), found through `providers.registry.operations(cloud)`, so an
AWS user never imports GCP or Azure code. This module imports no cloud SDK.

An `Operations` object is built from one stack's outputs (`pulumi stack output --json`: the keys
and meanings of `providers/base.py`, full ids on every cloud) and that stack's flat config (the
`Pulumi.<stack>.yaml` values, e.g. `aws:profile`, when the file is at hand). It answers:

- `versions()`: every registry version with its status (pending, approved, rejected), the gate
  metrics the pipeline recorded, its creation time, how it was started, and its share of the
  endpoint's traffic (None when it serves nothing);
- `set_status(version, "approved" | "rejected", reason)`;
- `promote(version, target, source_stack)`: the version copied into `target`'s registry (another
  account, project or workspace, or the same one under another stack), returning the version
  number it has there;
- `start_run(wait)` / `runs(limit)`: the training pipeline;
- `invoke(records)`: one prediction from the endpoint (the request is checked before, by the CLI,
  against the pipeline's data contract: `check_request`);
- `drift()`: the latest drift result per feature, the alert state, the last drift-started run.

What a user did wrong (an unknown version, a version not approved, a stack with no endpoint) is an
`OperationError`: one line, exit 2. An SDK error is turned into one line by the cloud's
`describe_error`; anything else is a bug.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

TRIGGERS = ("schedule", "drift", "person")
"""Who started a run. Each cloud records it its own way (a pipeline parameter, a label, a tag)."""
UNKNOWN = "unknown"

PROMOTED_TAG = "promoted_model"
"""The `mlops:platform.tags` entry `mlops model promote` writes: `v<target version>-from-<stack>`.
`mlops diff` reads it to say "model version 6 -> 7 (promoted from aws-dev)"."""
_PROMOTED_RE = re.compile(r"^v(?P<version>[0-9]+)-from-(?P<stack>[a-z0-9_-]+)$")


class OperationError(Exception):
    """What the user asked cannot be done as asked: one line, exit 2."""


class UnknownVersion(OperationError):
    pass


class NotApproved(OperationError):
    pass


class NoEndpoint(OperationError):
    pass


class Unsupported(OperationError):
    """What this cloud does not expose (said as a limitation, not hidden)."""


# ---- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelVersion:
    version: int
    status: str
    """pending | approved | rejected"""
    metrics: dict[str, float]
    created: str | None
    """ISO-8601, UTC."""
    trigger: str
    """what started the run that registered it: schedule | drift | person | unknown"""
    traffic: int | None
    """percent of the endpoint's traffic it takes; None when it is not deployed."""
    id: str
    """the cloud's full id of this version."""
    note: str = ""
    """e.g. the reason of a rejection, or where a promoted version came from."""


@dataclass(frozen=True)
class Run:
    id: str
    status: str
    """running | succeeded | failed | stopped | unknown (the cloud's own word in `detail`)."""
    trigger: str
    started: str | None
    ended: str | None
    detail: str = ""

    @property
    def duration_s(self) -> float | None:
        if not self.started:
            return None
        end = datetime.fromisoformat(self.ended) if self.ended else None
        if end is None and self.status != "running":
            return None
        end = end or datetime.now(UTC)
        return max(0.0, (end - datetime.fromisoformat(self.started)).total_seconds())

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "duration_s": self.duration_s}


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    value: float | None
    drifted: bool | None


@dataclass(frozen=True)
class AlertState:
    id: str
    state: str
    """alarm | ok | insufficient data | unknown (the cloud's own word in `detail`)."""
    since: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class DriftReport:
    checked: str | None
    """when the latest drift result was published (None: no result yet)."""
    threshold: float | None
    features: tuple[FeatureDrift, ...]
    alerts: tuple[AlertState, ...]
    last_retraining: Run | None
    notes: tuple[str, ...] = ()
    """what this cloud does not expose, said in one line each."""

    def to_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "threshold": self.threshold,
            "features": [asdict(f) for f in self.features],
            "alerts": [asdict(a) for a in self.alerts],
            "last_retraining": self.last_retraining.to_json() if self.last_retraining else None,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Prediction:
    output: Any
    """the endpoint's answer, parsed from JSON when it is JSON."""
    endpoint: str


@dataclass(frozen=True)
class Promotion:
    source_id: str
    target_id: str
    target_version: int
    copied: bool
    """False when the target registry already is the source's (nothing to copy)."""
    target_status: str
    steps: tuple[str, ...] = ()
    """what was done, one line each (policy granted, artifact copied, version created, ...)."""


# ---- stack outputs -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackOutputs:
    """One stack's outputs: `pulumi stack output --json --stack NAME`."""

    stack: str
    values: Mapping[str, Any]
    source: str = ""
    """where they were read from (a file, or the Pulumi CLI), for messages."""

    @property
    def cloud(self) -> str:
        return str(self.values.get("cloud") or "")

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def require(self, key: str, what: str) -> Any:
        value = self.values.get(key)
        if value in (None, "", []):
            raise OperationError(f"stack {self.stack} has no {key} output ({what}); read from {self.source}")
        return value

    def endpoint(self) -> str:
        value = self.values.get("endpoint")
        if not value:
            serving = self.values.get("serving") or "nothing served"
            raise NoEndpoint(f"stack {self.stack} has no endpoint ({serving})")
        return str(value)


def outputs_command(stack: str) -> list[str]:
    return ["pulumi", "stack", "output", "--json", "--stack", stack]


def load_outputs(
    stack: str,
    outputs_file: Path | None,
    *,
    cwd: Path | None = None,
    which: Callable[[str], str | None] = shutil.which,
    run: Callable[..., Any] = subprocess.run,
    option: str = "--outputs",
) -> StackOutputs:
    """The outputs of `stack`: from `outputs_file` when given, else from the Pulumi CLI."""
    if outputs_file is not None:
        try:
            text = Path(outputs_file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise OperationError(f"{option}: {outputs_file}: no such file") from None
        except OSError as exc:
            raise OperationError(f"{option}: {outputs_file}: cannot read ({exc.strerror})") from None
        source = str(outputs_file)
    else:
        if which("pulumi") is None:
            raise OperationError(
                f"{option}: the Pulumi CLI is not on PATH, so the outputs of stack {stack} cannot be read; "
                f"give {option} FILE holding the JSON of `{' '.join(outputs_command(stack))}`"
            )
        proc = run(outputs_command(stack), cwd=cwd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            lines = [line for line in (proc.stderr or "").splitlines() if line.strip()]
            raise OperationError(
                f"`{' '.join(outputs_command(stack))}` failed: {lines[-1] if lines else f'exit {proc.returncode}'}"
            )
        text, source = proc.stdout, "pulumi stack output"
    try:
        values = json.loads(text)
    except ValueError as exc:
        raise OperationError(f"{option}: {source} is not JSON ({exc})") from None
    if not isinstance(values, dict):
        raise OperationError(f"{option}: {source} must hold a JSON object of stack outputs")
    if not values.get("cloud"):
        raise OperationError(f"{option}: {source} has no `cloud` output: not the outputs of an mlops stack")
    return StackOutputs(stack=stack, values=values, source=source)


def resource_name(full_id: str) -> str:
    """The last path segment of an id (ARN `.../name`, `projects/.../name`, ARM `.../name`)."""
    return str(full_id).rstrip("/").rsplit("/", 1)[-1]


# ---- request schema ---------------------------------------------------------------------------------


def read_records(path: Path) -> list[dict[str, Any]]:
    """Request records from a JSON file (a record, a list of records, or {"instances": [...]} /
    {"data": [...]}, as the serving code accepts) or a CSV file with a header row."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OperationError(f"--data: {path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise OperationError(f"--data: {path}: cannot read ({getattr(exc, 'strerror', None) or exc})") from None
    if Path(path).suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        if not rows:
            raise OperationError(f"--data: {path}: no record (a CSV file needs a header row and one row)")
        return [dict(r) for r in rows]
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise OperationError(f"--data: {path} is not JSON ({exc}); give a .json or a .csv file") from None
    if isinstance(doc, dict):
        for key in ("instances", "data"):
            if key in doc:
                doc = doc[key]
                break
        else:
            doc = [doc]
    if not isinstance(doc, list) or not doc or not all(isinstance(r, dict) for r in doc):
        raise OperationError(f"--data: {path} must hold a record, a list of records or {{'instances': [...]}}")
    return doc


def check_request(records: Sequence[Mapping[str, Any]], columns: Sequence[Any]) -> list[dict[str, Any]]:
    """Refuse records the model would refuse, before anything is sent: a missing or unknown column,
    or a value of the wrong type (the data contract's `request` columns, the rule the serving code
    applies, `pipelines/kit/mlops_schema.py`). Returns the records typed by the contract, as JSON values,
    in column order."""
    import pandas as pd

    from pipelines.kit.mlops_schema import SchemaError, coerce

    names = [c.name for c in columns]
    for i, row in enumerate(records):
        missing = [n for n in names if n not in row]
        if missing:
            raise OperationError(
                f"--data: record {i} lacks column {missing[0]!r} (the request columns are {', '.join(names)})"
            )
        unknown = sorted(set(row) - set(names))
        if unknown:
            raise OperationError(
                f"--data: record {i} carries column {unknown[0]!r}, not a request column ({', '.join(names)})"
            )
    frame = pd.DataFrame([[row[n] for n in names] for row in records], columns=names, dtype=object)
    try:
        typed = coerce(frame, [{"name": c.name, "type": c.type} for c in columns], where="--data")
    except SchemaError as exc:
        raise OperationError(str(exc)) from None
    return [{n: _plain(row[n]) for n in names} for row in typed.to_dict(orient="records")]


def _plain(value: Any) -> Any:
    """A pandas/numpy scalar as the JSON value it is (a CSV's "12" becomes 12 for an int column)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value.item() if hasattr(value, "item") else value


# ---- promotion provenance ---------------------------------------------------------------------------


def stack_slug(stack: str) -> str:
    """A stack name as a tag value every cloud accepts ([a-z0-9_-])."""
    return re.sub(r"[^a-z0-9_-]", "-", stack.split("/")[-1].lower())


def promotion_tag(version: int, source_stack: str) -> str:
    """`v7-from-aws-dev`: at most 63 characters (the portable tag rule)."""
    return f"v{version}-from-{stack_slug(source_stack)}"[:63]


def parse_promotion_tag(value: Any) -> tuple[int, str] | None:
    match = _PROMOTED_RE.match(str(value or ""))
    return (int(match["version"]), match["stack"]) if match else None


# ---- small shared helpers --------------------------------------------------------------------------


def iso(value: Any) -> str | None:
    """A datetime (aware or naive UTC), an ISO string or epoch seconds as ISO-8601 UTC, seconds."""
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    elif isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="seconds")
    return str(value)


def metrics_of(values: Mapping[str, Any], known: Sequence[str] = ()) -> dict[str, float]:
    """The numeric entries of `values` (only `known` names when given), as floats."""
    out: dict[str, float] = {}
    for key, value in values.items():
        if known and key not in known:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        if math.isfinite(number):
            out[str(key)] = number
    return out


def traffic_shares(weights: Mapping[str, float]) -> dict[str, int]:
    """Weights (any scale) as whole percents that add up to 100 (largest remainder)."""
    total = sum(max(0.0, w) for w in weights.values())
    if total <= 0:
        return {k: 0 for k in weights}
    raw = {k: max(0.0, w) * 100 / total for k, w in weights.items()}
    shares = {k: int(v) for k, v in raw.items()}
    left = 100 - sum(shares.values())
    for key in sorted(raw, key=lambda k: raw[k] - shares[k], reverse=True)[:left]:
        shares[key] += 1
    return shares


# ---- the interface ---------------------------------------------------------------------------------


@dataclass
class Operations(ABC):
    """Day-two operations on one deployed stack of one cloud."""

    cloud: ClassVar[str]
    outputs: StackOutputs
    config: Mapping[str, Any] = field(default_factory=dict)
    """The stack file's flat config (`aws:profile`, `mlops:platform`, ...), or {}."""

    @property
    def stack(self) -> str:
        return self.outputs.stack

    @property
    def approval(self) -> str:
        return str(self.outputs.get("approval") or "manual")

    @property
    def registry_id(self) -> str:
        return str(self.outputs.require("model_registry", "the model registry"))

    # -- the registry
    @abstractmethod
    def versions(self) -> list[ModelVersion]:
        """Every version, newest first."""

    def version(self, number: int) -> ModelVersion:
        every = self.versions()
        for found in every:
            if found.version == number:
                return found
        numbers = sorted(v.version for v in every)
        known = f"versions: {', '.join(map(str, numbers))}" if numbers else "no version registered yet"
        raise UnknownVersion(f"stack {self.stack}: no version {number} in {self.registry_id} ({known})")

    @abstractmethod
    def set_status(self, number: int, status: str, reason: str = "") -> ModelVersion:
        """Approve or reject one version (`status`: approved | rejected)."""

    @abstractmethod
    def promote(self, number: int, target: Operations, source_stack: str) -> Promotion:
        """Copy approved version `number` into `target`'s registry (same cloud)."""

    def require_approved(self, number: int) -> ModelVersion:
        found = self.version(number)
        if found.status != "approved":
            raise NotApproved(
                f"stack {self.stack}: version {number} is {found.status}, not approved; only an approved version "
                f"is promoted (mlops model approve {number} --stack {self.stack})"
            )
        return found

    def initial_status(self) -> str:
        """The status a version gets in this registry when it arrives (registry.approval)."""
        return "approved" if self.approval == "auto" else "pending"

    # -- the training pipeline
    @abstractmethod
    def start_run(self) -> Run:
        """Start the training pipeline as a person (trigger `person`)."""

    @abstractmethod
    def run(self, run_id: str) -> Run:
        """One run, as it is now."""

    @abstractmethod
    def runs(self, limit: int = 10) -> list[Run]:
        """The most recent runs, newest first."""

    # -- the endpoint
    @abstractmethod
    def invoke(self, records: list[dict[str, Any]]) -> Prediction:
        """One prediction request with `records` (already checked against the request schema)."""

    # -- drift
    @abstractmethod
    def drift(self) -> DriftReport:
        """The latest drift result per feature, the alert state, the last drift-started run."""

    def last_drift_run(self) -> Run | None:
        return next((r for r in self.runs(limit=50) if r.trigger == "drift"), None)

    # -- errors
    @classmethod
    def describe_error(cls, exc: BaseException) -> str | None:
        """One line for an error raised by this cloud's SDK (None: not an SDK error, a bug)."""
        return None
