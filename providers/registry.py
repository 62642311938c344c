"""Provider registry: cloud name -> implementation, imported only when chosen.

This is the one place that knows which clouds exist, so an AWS stack never imports GCP or Azure
code (nor their Pulumi SDKs), and the other way round.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from providers.spec import CLOUDS, SpecError

if TYPE_CHECKING:
    from providers.base import Provider

# cloud -> (module, class, pip extra that installs its SDKs)
_PROVIDERS: dict[str, tuple[str, str, str]] = {
    "aws": ("providers.aws", "AwsProvider", "aws"),
    "gcp": ("providers.gcp", "GcpProvider", "gcp"),
    "azure": ("providers.azure", "AzureProvider", "azure"),
}
assert tuple(_PROVIDERS) == CLOUDS


def clouds() -> tuple[str, ...]:
    """Every cloud the contract names (implemented or not)."""
    return tuple(_PROVIDERS)


def implemented() -> tuple[str, ...]:
    """Clouds whose provider package exists in this checkout."""
    return tuple(c for c in _PROVIDERS if importlib.util.find_spec(_PROVIDERS[c][0]) is not None and _has_class(c))


def _has_class(cloud: str) -> bool:
    module_name, class_name, _ = _PROVIDERS[cloud]
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        return False
    with open(spec.origin, encoding="utf-8") as handle:
        return f"class {class_name}" in handle.read()


def get(cloud: str, key: str = "mlops:cloud") -> Provider:
    """The provider for `cloud`; an unknown, unimplemented or uninstalled one is a SpecError."""
    if cloud not in _PROVIDERS:
        raise SpecError(key, f"unknown cloud {cloud!r}; must be one of {', '.join(_PROVIDERS)}")
    module_name, class_name, extra = _PROVIDERS[cloud]
    if not _has_class(cloud):
        raise SpecError(key, f"the {cloud} provider is not implemented yet")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith(("providers", "pipelines", "infra")):
            raise SpecError(
                key,
                f"the {cloud} provider needs the package {exc.name!r}: pip install -e '.[{extra}]'",
            ) from exc
        raise
    return getattr(module, class_name)()
