"""Compare two offline plans (`mlops plan --format json`) the way a reviewer needs it.

Two levels:
- ML level, read from the validated platform descriptions: "endpoint max replicas 4 -> 8".
- Resource level, matched by URN (stack part ignored, so two stacks of one platform compare):
  created, deleted and updated resources with the changed input paths.

A change is dangerous when it deletes or replaces a data-bearing resource, or deletes a protected
one. Both tables below (`DATA_BEARING`, `REPLACE_ON_CHANGE`) are this kit's knowledge of the
providers, not Pulumi's: the real engine decides replacements from the provider schema, and
aliases (which turn a rename into an update) cannot be seen offline. `pulumi preview` is the
authority; this diff is the early, offline warning.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from infra.config import SECRET_PLACEHOLDER

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<absent>"})()

# Pulumi type -> what it holds. ONE table, every cloud: a delete or replace of one of these loses
# data (objects, keys that decrypt data, features, model versions). Checked against the installed
# SDKs by tests/diff/test_tables.py.
DATA_BEARING: dict[str, dict[str, str]] = {
    "aws": {
        "aws:s3/bucket:Bucket": "bucket",
        "aws:s3/bucketV2:BucketV2": "bucket",
        "aws:kms/key:Key": "encryption key",
        "aws:sagemaker/featureGroup:FeatureGroup": "feature group",
        "aws:sagemaker/modelPackageGroup:ModelPackageGroup": "model registry",
        "aws:glue/catalogDatabase:CatalogDatabase": "offline feature store catalog",
        "aws:glue/catalogTable:CatalogTable": "offline feature store table",
        "aws:ecr/repository:Repository": "container image repository",
    },
    "gcp": {
        "gcp:storage/bucket:Bucket": "bucket",
        "gcp:kms/keyRing:KeyRing": "key ring",
        "gcp:kms/cryptoKey:CryptoKey": "encryption key",
        "gcp:bigquery/dataset:Dataset": "BigQuery dataset",
        "gcp:bigquery/table:Table": "BigQuery table",
        "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore": "online feature store",
        "gcp:vertex/aiFeatureGroup:AiFeatureGroup": "feature group",
        "gcp:vertex/aiFeatureGroupFeature:AiFeatureGroupFeature": "feature",
        "gcp:vertex/aiFeatureOnlineStoreFeatureview:AiFeatureOnlineStoreFeatureview": "feature view",
        "gcp:artifactregistry/repository:Repository": "artifact repository",
    },
    "azure": {
        "azure-native:resources:ResourceGroup": "resource group (holds everything in it)",
        "azure-native:storage:StorageAccount": "storage account",
        "azure-native:storage:BlobContainer": "blob container",
        "azure-native:redis:Redis": "online feature store (Redis)",
        "azure-native:keyvault:Vault": "key vault",
        "azure-native:keyvault:Key": "encryption key",
        "azure-native:containerregistry:Registry": "container registry",
        "azure-native:machinelearningservices:Workspace": "ML workspace / feature store",
        "azure-native:machinelearningservices:Registry": "model registry",
        "azure-native:machinelearningservices:RegistryModelContainer": "registered model",
        "azure-native:machinelearningservices:ModelContainer": "registered model",
        "azure-native:machinelearningservices:FeaturesetContainerEntity": "feature set",
        "azure-native:machinelearningservices:FeaturesetVersion": "feature set version",
        "azure-native:machinelearningservices:FeaturestoreEntityContainerEntity": "feature store entity",
        "azure-native:machinelearningservices:FeaturestoreEntityVersion": "feature store entity version",
    },
}
DATA_BEARING_TYPES: dict[str, str] = {t: what for table in DATA_BEARING.values() for t, what in table.items()}

# Pulumi type -> top-level inputs (camelCase) the provider cannot update in place: a change
# replaces the resource (delete + create, or create + delete). The kit's knowledge, from the
# providers' force-new / URL-path properties; not exhaustive, and Pulumi's schema decides.
REPLACE_ON_CHANGE: dict[str, tuple[str, ...]] = {
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix", "objectLockEnabled"),
    "aws:s3/bucketV2:BucketV2": ("bucket", "bucketPrefix", "objectLockEnabled"),
    "aws:kms/key:Key": ("customerMasterKeySpec", "keyUsage", "multiRegion", "customKeyStoreId", "xksKeyId"),
    "aws:sagemaker/featureGroup:FeatureGroup": (
        "featureGroupName",
        "recordIdentifierFeatureName",
        "eventTimeFeatureName",
        "featureDefinitions",
        "offlineStoreConfig",
        "roleArn",
        "description",
    ),
    "aws:sagemaker/modelPackageGroup:ModelPackageGroup": (
        "modelPackageGroupName",
        "modelPackageGroupDescription",
    ),
    "aws:glue/catalogDatabase:CatalogDatabase": ("name", "catalogId"),
    "aws:glue/catalogTable:CatalogTable": ("name", "databaseName", "catalogId"),
    "aws:ecr/repository:Repository": ("name",),
    "gcp:storage/bucket:Bucket": ("name", "location", "project"),
    "gcp:kms/keyRing:KeyRing": ("name", "location", "project"),
    "gcp:kms/cryptoKey:CryptoKey": ("name", "keyRing", "purpose", "importOnly", "skipInitialVersionCreation"),
    "gcp:bigquery/dataset:Dataset": ("datasetId", "location", "project"),
    "gcp:bigquery/table:Table": ("tableId", "datasetId", "project"),
    "gcp:vertex/aiFeatureOnlineStore:AiFeatureOnlineStore": ("name", "region", "project"),
    "gcp:vertex/aiFeatureGroup:AiFeatureGroup": ("name", "region", "project"),
    "gcp:vertex/aiFeatureGroupFeature:AiFeatureGroupFeature": ("name", "featureGroup", "region", "project"),
    "gcp:vertex/aiFeatureOnlineStoreFeatureview:AiFeatureOnlineStoreFeatureview": (
        "name",
        "featureOnlineStore",
        "region",
        "project",
    ),
    "gcp:artifactregistry/repository:Repository": (
        "repositoryId",
        "format",
        "location",
        "project",
        "kmsKeyName",
    ),
    "azure-native:resources:ResourceGroup": ("resourceGroupName", "location"),
    "azure-native:storage:StorageAccount": ("accountName", "resourceGroupName", "location"),
    "azure-native:storage:BlobContainer": ("containerName", "accountName", "resourceGroupName"),
    "azure-native:redis:Redis": ("name", "resourceGroupName", "location"),
    "azure-native:keyvault:Vault": ("vaultName", "resourceGroupName", "location"),
    "azure-native:keyvault:Key": ("keyName", "vaultName", "resourceGroupName"),
    "azure-native:containerregistry:Registry": ("registryName", "resourceGroupName", "location"),
    "azure-native:machinelearningservices:Workspace": (
        "workspaceName",
        "resourceGroupName",
        "location",
        "kind",
    ),
    "azure-native:machinelearningservices:Registry": ("registryName", "resourceGroupName", "location"),
    "azure-native:machinelearningservices:RegistryModelContainer": (
        "modelName",
        "registryName",
        "resourceGroupName",
    ),
    "azure-native:machinelearningservices:ModelContainer": ("name", "workspaceName", "resourceGroupName"),
    "azure-native:machinelearningservices:FeaturesetContainerEntity": (
        "name",
        "workspaceName",
        "resourceGroupName",
    ),
    "azure-native:machinelearningservices:FeaturesetVersion": (
        "name",
        "version",
        "workspaceName",
        "resourceGroupName",
    ),
    "azure-native:machinelearningservices:FeaturestoreEntityContainerEntity": (
        "name",
        "workspaceName",
        "resourceGroupName",
    ),
    "azure-native:machinelearningservices:FeaturestoreEntityVersion": (
        "name",
        "version",
        "workspaceName",
        "resourceGroupName",
    ),
    # Not data-bearing, listed so the diff says "replace" where it is one.
    "aws:sagemaker/endpointConfiguration:EndpointConfiguration": (
        "name",
        "productionVariants",
        "dataCaptureConfig",
        "kmsKeyArn",
        "shadowProductionVariants",
    ),
    "aws:sagemaker/model:Model": ("name", "primaryContainer", "containers", "executionRoleArn", "vpcConfig"),
    "aws:sagemaker/endpoint:Endpoint": ("name",),
    "aws:iam/role:Role": ("name", "namePrefix", "path"),
    "gcp:serviceaccount/account:Account": ("accountId", "project"),
    "gcp:vertex/aiEndpoint:AiEndpoint": ("name", "location", "region", "project", "encryptionSpec"),
    "azure-native:machinelearningservices:OnlineEndpoint": (
        "endpointName",
        "workspaceName",
        "resourceGroupName",
    ),
    "azure-native:machinelearningservices:OnlineDeployment": (
        "deploymentName",
        "endpointName",
        "workspaceName",
        "resourceGroupName",
    ),
}


def _bigquery_schema_replaces(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """BigQuery changes a table's schema in place only by adding columns (or relaxing REQUIRED to
    NULLABLE); the provider replaces the table, and drops its rows, for anything else."""
    try:
        before = {c["name"]: c for c in json.loads(old.get("schema") or "[]")}
        after = {c["name"]: c for c in json.loads(new.get("schema") or "[]")}
    except (TypeError, ValueError):
        return []
    for name, column in before.items():
        kept = after.get(name)
        if kept is None or kept.get("type") != column.get("type"):
            return ["schema"]
        if kept.get("mode", "NULLABLE") == "REQUIRED" and column.get("mode", "NULLABLE") != "REQUIRED":
            return ["schema"]
    return []


# Replacements that depend on how a property changes, not only on whether it does.
REPLACE_WHEN: dict[str, Callable[[dict[str, Any], dict[str, Any]], list[str]]] = {
    "gcp:bigquery/table:Table": _bigquery_schema_replaces,
}

# Keys whose values are never shown even when the plan did not mark them secret.
_SECRET_KEY_RE = re.compile(
    r"(password|passphrase|secret|token|private_?key|connection_?string|access_?key)", re.IGNORECASE
)

# ML-level labels: path pattern (fnmatch, `[name]` is a list item matched by name) -> label.
ML_LABELS: dict[str, str] = {
    "cloud": "cloud",
    "region": "region",
    "name": "platform name (renames every physical resource)",
    "environment": "environment",
    "tags.*": "tag {0}",
    "protect_data": "protect data-bearing resources",
    "network.public_access": "public network access",
    "feature_store.online_sync_schedule": "online store sync schedule",
    "registry.approval": "approval mode",
    "pipeline.name": "training pipeline",
    "pipeline.schedule": "training schedule",
    "pipeline.instance": "training instance size",
    "pipeline.quality_gate.metric": "quality gate metric",
    "pipeline.quality_gate.threshold": "quality gate threshold",
    "endpoint.model_version": "model version",
    "endpoint.instance": "endpoint instance size",
    "endpoint.min_replicas": "endpoint min replicas",
    "endpoint.max_replicas": "endpoint max replicas",
    "endpoint.target_cpu_percent": "endpoint CPU target %",
    "endpoint.data_capture_percent": "data capture %",
    "monitor.schedule": "drift check schedule",
    "monitor.drift_threshold": "drift threshold",
    "monitor.retrain_on_drift": "retrain on drift",
    "monitor.alert_email": "alert email",
}
_GROUP_RE = re.compile(r"^feature_store\.feature_groups\[(?P<group>[^\]]+)\](?:\.(?P<rest>.*))?$")
_FEATURE_RE = re.compile(r"^features\[(?P<feature>[^\]]+)\](?:\.(?P<rest>.*))?$")

_OPS_ORDER = {"delete": 0, "replace": 1, "update": 2, "create": 3}


class PlanFileError(ValueError):
    """A plan file that cannot be read; the message names the file and the problem."""


# --- reading ----------------------------------------------------------------------------------


def load_plan(path: Path) -> dict[str, Any]:
    """Read and check the shape of a `mlops plan --format json` file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PlanFileError(f"{path}: no such file") from None
    except OSError as exc:
        raise PlanFileError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise PlanFileError(f"{path}: not valid JSON ({exc})") from None
    problem = _shape_problem(data)
    if problem:
        raise PlanFileError(f"{path}: not an mlops plan: {problem}")
    return data


def _shape_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "expected a JSON object"
    if not isinstance(data.get("stack"), str):
        return '"stack" must be a string'
    if not isinstance(data.get("resources"), list):
        return '"resources" must be a list'
    for i, res in enumerate(data["resources"]):
        if not isinstance(res, dict) or not all(isinstance(res.get(k), str) for k in ("urn", "type", "name")):
            return f'resources[{i}] needs string "urn", "type" and "name"'
        if not isinstance(res.get("inputs", {}), dict):
            return f"resources[{i}].inputs must be an object"
    for key in ("platform", "outputs"):
        if not isinstance(data.get(key, {}), dict):
            return f'"{key}" must be an object'
    return None


# --- generic structural diff --------------------------------------------------------------------


def _join(path: str, key: Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if isinstance(key, str) and key.startswith("["):
        return f"{path}{key}"
    return f"{path}.{key}" if path else str(key)


def _keyed(items: list[Any]) -> dict[str, Any] | None:
    """A list of objects with unique "name"s, as a mapping (so an insert is not a shift)."""
    if not items or not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        return None
    names = [i["name"] for i in items]
    return {f"[{n}]": i for n, i in zip(names, items, strict=True)} if len(set(names)) == len(names) else None


def _as_json(value: Any) -> Any:
    """A string holding a JSON object or list (policies, pipeline definitions) is compared parsed."""
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def walk_diff(old: Any, new: Any, path: str = "", by_name: bool = False) -> list[tuple[str, Any, Any]]:
    """Leaf-level differences as (path, old, new); MISSING marks an absent side."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        changes: list[tuple[str, Any, Any]] = []
        for key in sorted(set(old) | set(new), key=str):
            changes += walk_diff(old.get(key, MISSING), new.get(key, MISSING), _join(path, key), by_name)
        return changes
    if isinstance(old, list) and isinstance(new, list):
        if by_name:
            keyed_old, keyed_new = _keyed(old), _keyed(new)
            if keyed_old is not None and keyed_new is not None:
                changes = walk_diff(keyed_old, keyed_new, path, by_name)
                if not changes and list(keyed_old) != list(keyed_new):
                    changes = [(_join(path, "(order)"), list(keyed_old), list(keyed_new))]
                return changes
        changes = []
        for i in range(max(len(old), len(new))):
            a = old[i] if i < len(old) else MISSING
            b = new[i] if i < len(new) else MISSING
            changes += walk_diff(a, b, _join(path, i), by_name)
        return changes
    parsed_old, parsed_new = _as_json(old), _as_json(new)
    if (
        (parsed_old is not old or parsed_new is not new)
        and isinstance(parsed_old, dict | list)
        and isinstance(parsed_new, dict | list)
    ):
        return walk_diff(parsed_old, parsed_new, f"{path}<json>", by_name)
    return [(path, old, new)]


# --- secrets ------------------------------------------------------------------------------------


def secret_paths(value: Any, path: str = "") -> set[str]:
    """Paths whose value is the secret placeholder or sits under a secret-looking key."""
    found: set[str] = set()
    if isinstance(value, str) and value == SECRET_PLACEHOLDER:
        found.add(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            sub = _join(path, key)
            # A secret-looking key hides its text value (settings such as a boolean stay visible).
            if isinstance(key, str) and _SECRET_KEY_RE.search(key) and isinstance(item, str) and item:
                found.add(sub)
            found |= secret_paths(item, sub)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            found |= secret_paths(item, _join(path, i))
    return found


def _under(path: str, secrets: set[str]) -> bool:
    return any(
        path == s
        or path.startswith(s + ".")
        or path.startswith(s + "[")
        or path.startswith(s + "<")
        or s.startswith(path + ".")
        or s.startswith(path + "[")
        or s.startswith(path + "<")
        for s in secrets
        if s
    )


def redact(value: Any, path: str, secrets: set[str]) -> Any:
    """The value with every secret sub-path (of either plan) shown as the placeholder."""
    if value is MISSING or value is None:
        return value
    if path in secrets or (isinstance(value, str) and SECRET_PLACEHOLDER in value):
        return SECRET_PLACEHOLDER
    if isinstance(value, dict):
        return {k: redact(v, _join(path, k), secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, _join(path, i), secrets) for i, v in enumerate(value)]
    if any(path.startswith(s + ".") or path.startswith(s + "[") or path.startswith(s + "<") for s in secrets):
        return SECRET_PLACEHOLDER
    parsed = _as_json(value)
    if parsed is not value:
        return json.dumps(redact(parsed, f"{path}<json>", secrets), sort_keys=True)
    return value


# --- the result ---------------------------------------------------------------------------------


@dataclass
class Change:
    path: str
    old: Any
    new: Any
    secret: bool = False
    replaces: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "old": None if self.old is MISSING else self.old,
            "new": None if self.new is MISSING else self.new,
            "old_absent": self.old is MISSING,
            "new_absent": self.new is MISSING,
            "secret": self.secret,
            "replaces": self.replaces,
        }


@dataclass
class MlChange:
    path: str
    text: str
    old: Any
    new: Any
    known: bool
    """False when no label matched: the generic fallback wrote the text."""


@dataclass
class ResourceChange:
    op: str  # create | delete | update | replace
    urn: str
    type: str
    name: str
    protect: bool
    data_bearing: str | None
    changes: list[Change] = field(default_factory=list)
    dangerous: bool = False
    reasons: list[str] = field(default_factory=list)
    """Why the change is dangerous (empty when it is not)."""
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["changes"] = [c.to_json() for c in self.changes]
        return out


@dataclass
class PlanDiff:
    base_stack: str
    head_stack: str
    base_cloud: str | None
    head_cloud: str | None
    ml: list[MlChange]
    resources: list[ResourceChange]

    @property
    def stacks(self) -> str:
        return self.head_stack if self.base_stack == self.head_stack else f"{self.base_stack} -> {self.head_stack}"

    @property
    def dangerous(self) -> list[ResourceChange]:
        return [r for r in self.resources if r.dangerous]

    def count(self, op: str) -> int:
        return sum(1 for r in self.resources if r.op == op)

    @property
    def summary(self) -> dict[str, int]:
        return {
            "create": self.count("create"),
            "update": self.count("update") + self.count("replace"),
            "replace": self.count("replace"),
            "delete": self.count("delete"),
            "dangerous": len(self.dangerous),
            "ml_changes": len(self.ml),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "base": {"stack": self.base_stack, "cloud": self.base_cloud},
            "head": {"stack": self.head_stack, "cloud": self.head_cloud},
            "summary": self.summary,
            "dangerous": [
                {"op": r.op, "urn": r.urn, "type": r.type, "name": r.name, "reasons": r.reasons} for r in self.dangerous
            ],
            "ml_changes": [
                {"path": m.path, "text": m.text, "old": m.old, "new": m.new, "known": m.known} for m in self.ml
            ],
            "resources": [r.to_json() for r in self.resources],
        }


# --- ML level -----------------------------------------------------------------------------------


def show(value: Any) -> str:
    if value is MISSING:
        return "(absent)"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True)


def _feature_text(feature: Any) -> str:
    if isinstance(feature, dict):
        return f"{feature.get('name')} ({feature.get('type')})" if feature.get("type") else str(feature.get("name"))
    return show(feature)


def _ml_text(path: str, old: Any, new: Any) -> tuple[str, bool]:
    """A reviewer's sentence for one platform change, and whether a label knew the path."""
    if path == "endpoint.model_version":
        if old in (None, MISSING):
            return f"start serving model version {new}", True
        if new in (None, MISSING):
            return f"stop serving (model version {old} -> none)", True
        return f"model version {old} -> {new}", True
    if path == "pipeline.schedule" and new in (None, MISSING):
        return f"training schedule {show(old)} -> on demand only", True
    group = _GROUP_RE.match(path)
    if group:
        name, rest = group["group"], group["rest"]
        if rest is None:
            if old is MISSING:
                feats = ", ".join(_feature_text(f) for f in (new or {}).get("features", []))
                return f"+ feature group {name} ({feats})", True
            if new is MISSING:
                return f"- feature group {name} (its data is deleted)", True
            return f"feature group {name}: {show(old)} -> {show(new)}", False
        feature = _FEATURE_RE.match(rest)
        if feature:
            fname, frest = feature["feature"], feature["rest"]
            if frest is None and old is MISSING:
                return f"feature group {name}: + feature {_feature_text(new)}", True
            if frest is None and new is MISSING:
                return f"feature group {name}: - feature {_feature_text(old)}", True
            if frest == "type":
                return f"feature group {name}: feature {fname} type changed {show(old)} -> {show(new)}", True
            return f"feature group {name}: feature {fname} {frest or ''} {show(old)} -> {show(new)}", False
        if rest == "features.(order)":
            return f"feature group {name}: feature order {', '.join(old)} -> {', '.join(new)}", True
        known = rest in ("entity", "event_time", "online", "description")
        label = rest.replace("_", " ")
        return f"feature group {name}: {label} {show(old)} -> {show(new)}", known
    for pattern, label in ML_LABELS.items():
        if fnmatch.fnmatchcase(path, pattern):
            text = label.format(path.rsplit(".", 1)[-1])
            if old is MISSING:
                return f"{text}: set to {show(new)}", True
            if new is MISSING:
                return f"{text}: removed (was {show(old)})", True
            return f"{text} {show(old)} -> {show(new)}", True
    return f"{path} {show(old)} -> {show(new)}", False


def ml_changes(base: dict[str, Any], head: dict[str, Any]) -> list[MlChange]:
    def view(plan: dict[str, Any]) -> dict[str, Any]:
        top = {"cloud": plan.get("cloud"), **(plan.get("platform") or {})}
        region = (plan.get("outputs") or {}).get("region")
        if region is not None:
            top["region"] = region
        return top

    if not base.get("platform") or not head.get("platform"):
        # A stack that appears or goes away: one line, not every key of its description.
        plan, verb = (head, "new stack") if not base.get("platform") else (base, "stack removed")
        if not plan.get("platform"):
            return []
        p = plan["platform"]
        region = (plan.get("outputs") or {}).get("region")
        where = f" {region}" if region else ""
        text = f"{verb}: {plan.get('cloud')}{where}, platform {p.get('name')}-{p.get('environment')}"
        return [MlChange("", text, None, None, True)]
    old, new = view(base), view(head)
    secrets = secret_paths(old) | secret_paths(new)
    out = []
    for path, a, b in walk_diff(old, new, by_name=True):
        if _under(path, secrets):
            out.append(MlChange(path, f"{path}: changed (secret)", SECRET_PLACEHOLDER, SECRET_PLACEHOLDER, True))
            continue
        text, known = _ml_text(path, a, b)
        out.append(MlChange(path, text, None if a is MISSING else a, None if b is MISSING else b, known))
    return out


# --- resource level -----------------------------------------------------------------------------


def _key(urn: str) -> str:
    """The URN without its stack: `urn:pulumi:<stack>::<project>::<type path>::<name>`."""
    parts = urn.split("::", 1)
    head = parts[0]
    if head.startswith("urn:pulumi:") and len(parts) == 2:
        return "urn:pulumi:*::" + parts[1]
    return urn


def _top(path: str) -> str:
    return re.split(r"[.\[<]", path, maxsplit=1)[0]


def resource_changes(base: dict[str, Any], head: dict[str, Any]) -> list[ResourceChange]:
    old = {_key(r["urn"]): r for r in base["resources"]}
    new = {_key(r["urn"]): r for r in head["resources"]}
    secrets_by_key = {
        key: secret_paths((old.get(key) or {}).get("inputs") or {})
        | secret_paths((new.get(key) or {}).get("inputs") or {})
        for key in set(old) | set(new)
    }
    out: list[ResourceChange] = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        res = b or a
        assert res is not None
        data = DATA_BEARING_TYPES.get(res["type"])
        rc = ResourceChange(
            op="update",
            urn=res["urn"],
            type=res["type"],
            name=res["name"],
            protect=bool((a or {}).get("protect") or (b or {}).get("protect")),
            data_bearing=data,
        )
        secrets = secrets_by_key[key]
        if a is None:
            rc.op = "create"
        elif b is None:
            rc.op = "delete"
            rc.protect = bool(a.get("protect"))
            if data:
                rc.reasons.append(f"deletes a {data}: its data is lost")
            if a.get("protect"):
                rc.reasons.append("the resource is protected: `pulumi up` will refuse until it is unprotected")
        else:
            forced = set(REPLACE_ON_CHANGE.get(res["type"], ()))
            if res["type"] in REPLACE_WHEN:
                forced |= set(REPLACE_WHEN[res["type"]](a.get("inputs") or {}, b.get("inputs") or {}))
            # Pulumi does not apply changes to `ignore_changes` properties: neither does the diff.
            ignored = set(b.get("ignore_changes") or ())
            for path, x, y in walk_diff(a.get("inputs") or {}, b.get("inputs") or {}):
                if _top(path) in ignored:
                    continue
                secret = _under(path, secrets)
                change = Change(
                    path=path,
                    old=SECRET_PLACEHOLDER if secret and x is not MISSING else redact(x, path, secrets),
                    new=SECRET_PLACEHOLDER if secret and y is not MISSING else redact(y, path, secrets),
                    secret=secret,
                    replaces=_top(path) in forced,
                )
                rc.changes.append(change)
            if bool(a.get("protect")) != bool(b.get("protect")):
                rc.changes.append(Change("(protect)", bool(a.get("protect")), bool(b.get("protect"))))
            if not rc.changes:
                continue
            replacing = sorted({_top(c.path) for c in rc.changes if c.replaces})
            if replacing:
                rc.op = "replace"
                if data:
                    names = ", ".join(f"`{p}`" for p in replacing)
                    rc.reasons.append(f"replaces a {data} ({names} cannot change in place): its data is lost")
        rc.dangerous = bool(rc.reasons)
        out.append(rc)
    _note_renames(out)
    out.sort(key=lambda r: (not r.dangerous, _OPS_ORDER[r.op], r.type, r.name, r.urn))
    return out


def _note_renames(changes: list[ResourceChange]) -> None:
    """A delete and a create of the same type look like a rename (a URN change: delete + create)."""
    creates: dict[str, list[ResourceChange]] = {}
    for rc in changes:
        if rc.op == "create":
            creates.setdefault(rc.type, []).append(rc)
    for rc in changes:
        if rc.op == "delete" and creates.get(rc.type):
            other = creates[rc.type].pop(0)
            rc.notes.append(
                f"looks renamed to `{other.name}`: a URN change is a delete + create "
                "(an alias would make it an update; aliases cannot be seen offline)"
            )
            other.notes.append(f"looks like the new name of `{rc.name}` (deleted)")


def diff_plans(base: dict[str, Any], head: dict[str, Any]) -> PlanDiff:
    return PlanDiff(
        base_stack=base["stack"],
        head_stack=head["stack"],
        base_cloud=base.get("cloud"),
        head_cloud=head.get("cloud"),
        ml=ml_changes(base, head),
        resources=resource_changes(base, head),
    )


# --- rendering ----------------------------------------------------------------------------------

_ICONS = {"delete": "🗑️", "replace": "♻️", "update": "✏️", "create": "➕"}


def _code(value: Any, limit: int = 80) -> str:
    text = show(value)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = text.replace("`", "'").replace("\n", " ")
    return f"`{text}`"


def _pair(old: Any, new: Any, limit: int = 80) -> tuple[str, str]:
    """Both values, cut around their first difference when long."""
    a, b = show(old), show(new)
    if len(a) > limit or len(b) > limit:
        start = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
        start = max(0, start - 20)
        if start:
            a, b = "…" + a[start:], "…" + b[start:]
    return _code(a, limit), _code(b, limit)


def _change_line(change: Change) -> str:
    if change.secret:
        if change.old is MISSING:
            return f"`{change.path}`: added (secret)"
        if change.new is MISSING:
            return f"`{change.path}`: removed (secret)"
        return f"`{change.path}`: changed (secret)"
    flag = " — forces replacement" if change.replaces else ""
    if change.old is MISSING:
        return f"`{change.path}`: + {_code(change.new)}{flag}"
    if change.new is MISSING:
        return f"`{change.path}`: - {_code(change.old)}{flag}"
    a, b = _pair(change.old, change.new)
    return f"`{change.path}`: {a} -> {b}{flag}"


def marker(diff: PlanDiff) -> str:
    return f"<!-- mlops-diff:{diff.head_stack} -->"


def render_markdown(diff: PlanDiff) -> str:
    s = diff.summary
    same = diff.base_cloud == diff.head_cloud or None in (diff.base_cloud, diff.head_cloud)
    clouds = diff.head_cloud or diff.base_cloud if same else f"{diff.base_cloud} -> {diff.head_cloud}"
    lines = [marker(diff), f"### mlops diff: `{diff.stacks}` ({clouds})", ""]
    replaced = f" ({s['replace']} replaced)" if s["replace"] else ""
    lines.append(
        f"**{s['create']} to create, {s['update']} to update{replaced}, {s['delete']} to delete, "
        f"{s['dangerous']} dangerous** · {s['ml_changes']} platform change(s)"
    )
    lines.append("")
    if not diff.ml and not diff.resources:
        lines += ["No changes.", ""]
        return "\n".join(lines)
    if diff.base_stack != diff.head_stack:
        lines += [
            f"> Different stacks: deploying `{diff.head_stack}` leaves `{diff.base_stack}` as it is. "
            f"The deletes below are what retiring `{diff.base_stack}` (`pulumi destroy`) would remove.",
            "",
        ]
    if diff.dangerous:
        lines += ["#### ⚠️ dangerous changes", ""]
        for rc in diff.dangerous:
            lines.append(f"- **{rc.op}** `{rc.type}` **{rc.name}**: " + "; ".join(rc.reasons + rc.notes))
        lines.append("")
    if diff.ml:
        lines += ["#### Platform changes", ""]
        lines += [f"- {m.text}" for m in diff.ml]
        lines.append("")
    if diff.resources:
        lines += [f"<details><summary>Resource changes ({len(diff.resources)})</summary>", ""]
        for rc in diff.resources:
            tags = [
                t for t in (rc.data_bearing and f"data: {rc.data_bearing}", "protected" if rc.protect else None) if t
            ]
            extra = f" ({', '.join(tags)})" if tags else ""
            lines.append(f"- {_ICONS[rc.op]} **{rc.op}** `{rc.type}` **{rc.name}**{extra}")
            lines += [f"  - {_change_line(c)}" for c in rc.changes]
            lines += [f"  - _{note}_" for note in rc.notes]
        lines += ["", "</details>", ""]
    lines.append(
        "<sub>Offline plan under Pulumi mocks (`mlops plan`): cloud-computed values are not known, "
        "aliases are not seen; `pulumi preview` is the authority.</sub>"
    )
    lines.append("")
    return "\n".join(lines)


def render_json(diff: PlanDiff) -> str:
    return json.dumps(diff.to_json(), indent=2, sort_keys=True, default=show) + "\n"
