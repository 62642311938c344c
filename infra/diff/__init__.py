"""Compare two offline plans (`mlops plan --format json`) the way a reviewer needs it.

Two levels:
- ML level, read from the validated platform descriptions: "endpoint max replicas 4 -> 8".
- Resource level, matched by URN (stack part ignored, so two stacks of one platform compare):
  created, deleted and updated resources with the changed input paths.

A change is dangerous when it deletes or replaces a data-bearing resource, or deletes a protected
one. Which types hold data and which inputs force a replacement is this kit's knowledge of the
providers (each `providers/<cloud>/catalog.py`, read through the registry), not Pulumi's: the
real engine decides replacements from the provider schema, and aliases (which turn a rename into
an update) cannot be seen offline. `pulumi preview` is the authority; this diff is the early,
offline warning.

The package, by concern: `load` (plan files), `walk` (structural diff), `secrets`, `ml` (platform
lines), `resources` (resource lines and danger), `render` (Markdown, JSON).
"""

from __future__ import annotations

from typing import Any

from infra.diff.load import PlanFileError, load_plan
from infra.diff.ml import ml_changes, show
from infra.diff.render import marker, render_json, render_markdown
from infra.diff.resources import resource_changes
from infra.diff.result import Change, MlChange, PlanDiff, ResourceChange
from infra.diff.secrets import redact, secret_paths
from infra.diff.walk import MISSING, walk_diff

__all__ = [
    "MISSING",
    "Change",
    "MlChange",
    "PlanDiff",
    "PlanFileError",
    "ResourceChange",
    "diff_plans",
    "load_plan",
    "marker",
    "ml_changes",
    "redact",
    "render_json",
    "render_markdown",
    "resource_changes",
    "secret_paths",
    "show",
    "walk_diff",
]


def diff_plans(base: dict[str, Any], head: dict[str, Any]) -> PlanDiff:
    return PlanDiff(
        base_stack=base["stack"],
        head_stack=head["stack"],
        base_cloud=base.get("cloud"),
        head_cloud=head.get("cloud"),
        ml=ml_changes(base, head),
        resources=resource_changes(base, head),
    )
