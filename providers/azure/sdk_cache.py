"""Plan-time cache of what azure-ai-ml builds (issue 14): the REST bodies of its entities and the
compiled pipeline jobs, keyed by everything they depend on (`providers/cache.py`: the inputs,
azure-ai-ml's installed version, the kit's source folders). On a hit nothing imports azure-ai-ml
(seconds of a plan); on a miss the SDK builds exactly as before. `MLOPS_NO_CACHE=1` turns it off.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from providers import cache

SDK = ("azure-ai-ml",)
"""The distributions whose version changes what is built."""

F = TypeVar("F", bound=Callable[..., Any])
RestBody = Any
"""A REST body as azure-ai-ml's entity writes it (`_to_rest_object().as_dict()`, camelCase keys),
handed to pulumi_azure_native as is: it is none of the SDK's snake_case Args/ArgsDict types, so Any."""


def jsonable(value: Any) -> Any:
    """Every field of a (nested) dataclass as JSON values: the key of what is built from it."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, set | frozenset) else items
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def cached_json(kind: str, inputs: Any, build: Callable[[], Any]) -> Any:
    """`build()`'s JSON value, from the cache when `inputs`, the SDK and the kit code are unchanged."""
    text = cache.cached_text(f"azure-{kind}", inputs, lambda: json.dumps(build()), distributions=SDK)
    return json.loads(text)


def sdk_built(kind: str) -> Callable[[F], F]:
    """Cache a function of JSON arguments that returns a JSON value built with azure-ai-ml."""

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def cached(*args: Any, **kwargs: Any) -> Any:
            return cached_json(kind, {"args": list(args), "kwargs": kwargs}, lambda: fn(*args, **kwargs))

        cached.uncached = fn  # type: ignore[attr-defined]
        return cached  # type: ignore[return-value]

    return wrap
