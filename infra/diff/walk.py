"""The generic structural diff: leaf-level (path, old, new) between two JSON values."""

from __future__ import annotations

import json
import re
from typing import Any

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<absent>"})()


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


def _top(path: str) -> str:
    return re.split(r"[.\[<]", path, maxsplit=1)[0]
