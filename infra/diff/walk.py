"""The generic structural diff: leaf-level (path, old, new) between two JSON values."""

from __future__ import annotations

import difflib
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
        return _list_diff(old, new, path, by_name)
    parsed_old, parsed_new = _as_json(old), _as_json(new)
    if (
        (parsed_old is not old or parsed_new is not new)
        and isinstance(parsed_old, dict | list)
        and isinstance(parsed_new, dict | list)
    ):
        return walk_diff(parsed_old, parsed_new, f"{path}<json>", by_name)
    return [(path, old, new)]


def _list_diff(old: list[Any], new: list[Any], path: str, by_name: bool) -> list[tuple[str, Any, Any]]:
    """Lists aligned on equal items (difflib), so an inserted or removed item is one change, not a
    shift of every later index. Items that replace each other are compared leaf by leaf."""
    a = [json.dumps(item, sort_keys=True, default=str) for item in old]
    b = [json.dumps(item, sort_keys=True, default=str) for item in new]
    changes: list[tuple[str, Any, Any]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        paired = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(paired):
            changes += walk_diff(old[i1 + k], new[j1 + k], _join(path, j1 + k), by_name)
        changes += [(_join(path, i), old[i], MISSING) for i in range(i1 + paired, i2)]
        changes += [(_join(path, j), MISSING, new[j]) for j in range(j1 + paired, j2)]
    return changes


def _top(path: str) -> str:
    return re.split(r"[.\[<]", path, maxsplit=1)[0]
