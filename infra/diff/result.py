"""What a diff is made of: changes per resource, platform lines, the whole diff."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from infra.diff.walk import MISSING


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
    notable: str | None = None
    """Why a reviewer should look twice (less oversight, less protection, more exposure), or None."""


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
    def notable(self) -> list[MlChange]:
        return [m for m in self.ml if m.notable]

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
            "notable": len(self.notable),
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
                {"path": m.path, "text": m.text, "old": m.old, "new": m.new, "known": m.known, "notable": m.notable}
                for m in self.ml
            ],
            "resources": [r.to_json() for r in self.resources],
        }
