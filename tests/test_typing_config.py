"""The type checker reads every pulumi_<cloud> service the providers use (pyproject.toml [tool.mypy]).

mypy skips the pulumi_* services not listed in the override (they count as Any, silently): a service
a provider starts using must be listed, or its resources go unchecked; a listed service nothing
uses any more is dropped. Pure source reading: no cloud SDK is imported.
"""

from __future__ import annotations

import ast
import importlib.util
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("pulumi_aws", "pulumi_azure_native", "pulumi_gcp")


def _overrides() -> tuple[set[str], set[str]]:
    """(patterns mypy skips, patterns mypy reads) among the pulumi_* overrides."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    skipped: set[str] = set()
    read: set[str] = set()
    for override in config.get("overrides", []):
        modules = override["module"] if isinstance(override["module"], list) else [override["module"]]
        modules = [m for m in modules if m.split(".")[0] in PACKAGES]
        if override.get("follow_imports") == "skip":
            skipped.update(modules)
        elif modules:
            read.update(modules)
    return skipped, read


def _is_module(package: str, name: str) -> bool:
    """`package.name` is a module or subpackage of the installed package (not a function it exports)."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, package
    folder = Path(next(iter(spec.submodule_search_locations)))
    return (folder / name).is_dir() or (folder / f"{name}.py").is_file()


def _used_modules() -> set[str]:
    """Every `pulumi_<cloud>.<module>` a file of providers/ names: `from pulumi_x import m`, `x.m.`
    after `import pulumi_x as x`, and the module of a top-level function (`aws.get_caller_identity`)."""
    used: set[str] = set()
    for path in sorted((ROOT / "providers").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] in PACKAGES:
                        aliases[a.asname or a.name] = a.name
                        if "." in a.name:
                            used.add(a.name)
            elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
                for a in node.names:
                    if "." not in node.module and _is_module(node.module, a.name):
                        used.add(f"{node.module}.{a.name}")
                    else:
                        used.add(node.module)
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases:
                package = aliases[node.value.id]
                if package in PACKAGES:
                    name = node.attr
                    if _is_module(package, name):
                        used.add(f"{package}.{name}")
                    elif name.endswith("_output") and _is_module(package, name.removesuffix("_output")):
                        used.add(f"{package}.{name.removesuffix('_output')}")
    return used


def _matches(module: str, pattern: str) -> bool:
    if pattern.endswith(".*"):
        base = pattern.removesuffix(".*")
        return module == base or module.startswith(base + ".")
    return module == pattern


def test_the_pulumi_packages_are_skipped_but_for_what_the_kit_uses() -> None:
    skipped, _ = _overrides()
    assert skipped == {"pulumi_aws.*", "pulumi_azure_native.*", "pulumi_gcp.*"}


def test_every_pulumi_service_a_provider_uses_is_type_checked() -> None:
    _, read = _overrides()
    used = _used_modules()
    assert {"pulumi_aws.sagemaker", "pulumi_azure_native.machinelearningservices", "pulumi_gcp.vertex"} <= used
    unchecked = sorted(m for m in used if not any(_matches(m, p) for p in read))
    assert unchecked == [], f"add to the follow_imports='silent' override in pyproject.toml: {unchecked}"


def test_no_pulumi_service_is_read_that_no_provider_uses() -> None:
    _, read = _overrides()
    used = _used_modules()
    services = {p for p in read if p.endswith(".*")}
    stale = sorted(p for p in services if not any(_matches(m, p) for m in used))
    assert stale == [], f"listed in pyproject.toml's mypy override but used by no provider: {stale}"
