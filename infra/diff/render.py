"""The diff as Markdown (a pull-request comment) or JSON."""

from __future__ import annotations

import json
from typing import Any

from infra.diff.ml import show
from infra.diff.result import Change, PlanDiff
from infra.diff.walk import MISSING

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
        lines += [f"- **{m.text}** — ⚠️ {m.notable}" if m.notable else f"- {m.text}" for m in diff.ml]
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
