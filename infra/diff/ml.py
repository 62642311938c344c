"""ML-level lines, read from the validated platform descriptions: "endpoint max replicas 4 -> 8"."""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from typing import Any

from infra.config import SECRET_PLACEHOLDER
from infra.diff.result import MlChange
from infra.diff.secrets import _under, secret_paths
from infra.diff.walk import MISSING, walk_diff

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
    "endpoint.rollout.strategy": "rollout",
    "endpoint.rollout.canary_percent": "canary %",
    "endpoint.rollout.step_percent": "rollout step %",
    "endpoint.rollout.bake_minutes": "rollout bake minutes",
    "endpoint.rollout.rollback_on.error_rate": "rollback on error rate",
    "endpoint.rollout.rollback_on.p99_latency_ms": "rollback on p99 latency ms",
    "endpoint.shadow": "shadow",
    "endpoint.shadow.model_version": "shadow model version",
    "endpoint.shadow.sample_percent": "shadow sample %",
    "monitor.schedule": "drift check schedule",
    "monitor.drift_threshold": "drift threshold",
    "monitor.engine": "drift check engine",
    "monitor.min_samples": "drift check minimum samples",
    "monitor.retrain_on_drift": "retrain on drift",
    "monitor.retrain_cooldown_hours": "retrain cooldown hours",
    "monitor.alert_email": "alert email",
}
_GROUP_RE = re.compile(r"^feature_store\.feature_groups\[(?P<group>[^\]]+)\](?:\.(?P<rest>.*))?$")
_FEATURE_RE = re.compile(r"^features\[(?P<feature>[^\]]+)\](?:\.(?P<rest>.*))?$")


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
            # walk_diff keys a list by `[name]`: the reviewer reads the names.
            order = [", ".join(key.strip("[]") for key in keys) for keys in (old, new)]
            return f"feature group {name}: feature order {order[0]} -> {order[1]}", True
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


# Platform changes a reviewer should look at twice: path -> (is it the risky direction, why).
NOTABLE: dict[str, tuple[Callable[[Any, Any], bool], str]] = {
    "registry.approval": (
        lambda old, new: new == "auto",
        "no person approves new model versions any more: a version that passes the quality gate is approved",
    ),
    "protect_data": (
        lambda old, new: new is False,
        "data-bearing resources lose Pulumi protection: a later change can delete them",
    ),
    "network.public_access": (
        lambda old, new: new is True,
        "workspaces and endpoints become reachable from the public internet",
    ),
    "monitor.retrain_on_drift": (lambda old, new: new is False, "drift no longer starts retraining"),
}


def _notable(path: str, old: Any, new: Any) -> str | None:
    rule = NOTABLE.get(path)
    if rule is None or old == new:
        return None
    risky, why = rule
    return why if risky(None if old is MISSING else old, None if new is MISSING else new) else None


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
    promoted = _promoted_from(new)
    out = []
    for path, a, b in walk_diff(old, new, by_name=True):
        if _under(path, secrets):
            out.append(MlChange(path, f"{path}: changed (secret)", SECRET_PLACEHOLDER, SECRET_PLACEHOLDER, True))
            continue
        text, known = _ml_text(path, a, b)
        if path == "endpoint.model_version" and promoted and promoted[0] == b:
            text += f" (promoted from {promoted[1]})"
        out.append(
            MlChange(path, text, None if a is MISSING else a, None if b is MISSING else b, known, _notable(path, a, b))
        )
    return out


def _promoted_from(platform: dict[str, Any]) -> tuple[int, str] | None:
    """(version, source stack) from the `tags.promoted_model` entry `mlops model promote` writes."""
    from providers.operations import PROMOTED_TAG, parse_promotion_tag

    tags = platform.get("tags")
    return parse_promotion_tag(tags.get(PROMOTED_TAG)) if isinstance(tags, dict) else None
