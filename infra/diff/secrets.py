"""Secret values in plans: found by placeholder or by key name, never shown."""

from __future__ import annotations

import json
from typing import Any

from infra.config import SECRET_KEY_RE as _SECRET_KEY_RE
from infra.config import SECRET_PLACEHOLDER
from infra.diff.walk import MISSING, _as_json, _join


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
