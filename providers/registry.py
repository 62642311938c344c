"""Provider registry: cloud name -> implementation, imported only when chosen.

This is the one place that knows which clouds exist, so an AWS stack never imports GCP or Azure
code (nor their Pulumi SDKs), and the other way round. Each cloud's plain-data knowledge (the
resources that hold data, its provider keys, the modules its extra installs) lives in
`providers/<cloud>/catalog.py` and is read through the functions below.

No import of `providers.spec` here: `spec` derives its list of clouds from this module.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from providers.errors import SpecError

if TYPE_CHECKING:
    from providers.base import Provider
    from providers.operations import Operations

# cloud -> (package, provider class). The pip extra and everything else is in the catalog.
_PROVIDERS: dict[str, tuple[str, str]] = {
    "aws": ("providers.aws", "AwsProvider"),
    "gcp": ("providers.gcp", "GcpProvider"),
    "azure": ("providers.azure", "AzureProvider"),
}


def clouds() -> tuple[str, ...]:
    """Every cloud the contract names (implemented or not)."""
    return tuple(_PROVIDERS)


def implemented() -> tuple[str, ...]:
    """Clouds whose provider package exists in this checkout."""
    return tuple(c for c in _PROVIDERS if _has_class(c))


def _has_class(cloud: str) -> bool:
    module_name, class_name = _PROVIDERS[cloud]
    spec = importlib.util.find_spec(module_name)
    if spec is None or spec.origin is None:
        return False
    with open(spec.origin, encoding="utf-8") as handle:
        return f"class {class_name}" in handle.read()


def _known(cloud: str, key: str = "mlops:cloud") -> None:
    if cloud not in _PROVIDERS:
        raise SpecError(key, f"unknown cloud {cloud!r}; must be one of {', '.join(_PROVIDERS)}")


# --- each cloud's catalog (plain data, no SDK import) -----------------------------------------


_CATALOGS: dict[str, ModuleType] = {}


def catalog(cloud: str) -> ModuleType:
    """`providers/<cloud>/catalog.py`, loaded on its own: neither that cloud's SDK nor its provider
    package (`providers/<cloud>/__init__.py`) is imported, so reading every cloud's catalog (the
    diff, doctor) loads no other cloud's code."""
    _known(cloud)
    if cloud not in _CATALOGS:
        package = importlib.util.find_spec(_PROVIDERS[cloud][0])  # imports `providers` only
        if package is None or not package.submodule_search_locations:
            raise SpecError("mlops:cloud", f"the {cloud} provider is not in this checkout")
        path = Path(next(iter(package.submodule_search_locations))) / "catalog.py"
        spec = importlib.util.spec_from_file_location(f"{_PROVIDERS[cloud][0]}.catalog", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _CATALOGS[cloud] = module
    return _CATALOGS[cloud]


def extra(cloud: str) -> str:
    """The pip extra that installs `cloud`'s SDKs."""
    return str(catalog(cloud).EXTRA)


def required_modules(cloud: str) -> tuple[str, ...]:
    return tuple(catalog(cloud).REQUIRED_MODULES)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a missing parent package, or a module set to None
        return False


def missing_modules(cloud: str) -> tuple[str, ...]:
    """The modules of `cloud`'s extra that are not installed (empty when the extra is)."""
    return tuple(m for m in required_modules(cloud) if not _installed(m))


def config_keys(cloud: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) provider config keys of `cloud`, e.g. (("aws:region",), ())."""
    cat = catalog(cloud)
    return tuple(cat.CONFIG_KEYS.values()), tuple(cat.OPTIONAL_CONFIG_KEYS.values())


def example_config(cloud: str) -> dict[str, str]:
    """Valid stand-in values for `cloud`'s provider keys (to check its rules before they are set)."""
    return dict(catalog(cloud).EXAMPLE_CONFIG)


def region_key(cloud: str) -> str:
    """The stack config key that holds `cloud`'s region (`aws:region`, `azure-native:location`)."""
    return str(catalog(cloud).REGION_KEY)


def data_bearing() -> dict[str, str]:
    """Pulumi type -> what it holds, over every cloud: a delete or replace of one loses data."""
    return {t: what for cloud in _PROVIDERS for t, what in catalog(cloud).DATA_BEARING.items()}


def first_deploy_hints(cloud: str) -> tuple[str, ...]:
    """One-off commands `cloud` needs before its first deploy (e.g. resource provider registration)."""
    return tuple(getattr(catalog(cloud), "FIRST_DEPLOY_HINTS", ()))


def redeploy_hints(cloud: str) -> tuple[str, ...]:
    """What `cloud` keeps after a destroy that a new deploy of the same stack runs into."""
    return tuple(getattr(catalog(cloud), "REDEPLOY_HINTS", ()))


def replace_on_change() -> dict[str, tuple[str, ...]]:
    """Pulumi type -> top-level inputs whose change replaces the resource, over every cloud."""
    return {t: keys for cloud in _PROVIDERS for t, keys in catalog(cloud).REPLACE_ON_CHANGE.items()}


def replace_when() -> dict[str, Callable[[dict[str, Any], dict[str, Any]], list[str]]]:
    """Pulumi type -> f(old inputs, new inputs) -> the inputs whose change replaces the resource, for
    replacements that depend on how a property changes (a cloud's optional `REPLACE_WHEN`)."""
    return {t: f for cloud in _PROVIDERS for t, f in getattr(catalog(cloud), "REPLACE_WHEN", {}).items()}


# --- the provider itself ----------------------------------------------------------------------


def get(cloud: str, key: str = "mlops:cloud") -> Provider:
    """The provider for `cloud`; an unknown, unimplemented or uninstalled one is a SpecError."""
    _known(cloud, key)
    module_name, class_name = _PROVIDERS[cloud]
    if not _has_class(cloud):
        raise SpecError(key, f"the {cloud} provider is not implemented yet")
    missing = missing_modules(cloud)
    if missing:
        raise SpecError(
            key,
            f"{cloud} needs the '{extra(cloud)}' extra (missing: {', '.join(missing)}): "
            f"pip install -e '.[{extra(cloud)}]' -c constraints.txt",
        )
    module = importlib.import_module(module_name)
    return getattr(module, class_name)()


def operations(cloud: str, key: str = "mlops:cloud") -> type[Operations]:
    """`cloud`'s day-two operations (`providers/<cloud>/operations.py`, its SDK only), imported when
    asked for: reading an AWS stack never imports GCP or Azure code."""
    _known(cloud, key)
    missing = missing_modules(cloud)
    if missing:
        raise SpecError(
            key,
            f"{cloud} needs the '{extra(cloud)}' extra (missing: {', '.join(missing)}): "
            f"pip install -e '.[{extra(cloud)}]' -c constraints.txt",
        )
    module = importlib.import_module(f"{_PROVIDERS[cloud][0]}.operations")
    return module.OPERATIONS
