"""The one place stack configuration is read and turned into a validated `Deployment`.

Two sources feed it: a `Pulumi.<stack>.yaml` file (the CLI) and `pulumi.Config` (the program
under `pulumi up` or under mocks). Both go through `resolve`, so `mlops validate` and `pulumi up`
accept and reject exactly the same descriptions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

import pipelines
from providers import registry
from providers.base import Deployment, Provider, Target
from providers.spec import SpecError, parse_cloud, parse_platform

PROJECT = "mlops"
SECRET_PLACEHOLDER = "[secret]"
_STACK_FILE_RE = re.compile(r"^Pulumi\.(?P<stack>[A-Za-z0-9_.-]+)\.ya?ml$")


@dataclass(frozen=True)
class StackFile:
    stack: str
    path: Path
    config: dict[str, Any]
    """Flat `namespace:key` -> value, as in the file; secure values replaced by a placeholder."""
    secret_keys: tuple[str, ...]


def stack_name_from_path(path: Path) -> str | None:
    match = _STACK_FILE_RE.match(path.name)
    return match.group("stack") if match else None


def load_stack_file(path: Path, stack: str | None = None) -> StackFile:
    """Read a file in the `Pulumi.<stack>.yaml` format; bad YAML or shape is a SpecError."""
    if not path.is_file():
        raise SpecError(str(path), "no such stack file")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise SpecError(str(path), "is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SpecError(str(path), f"is not valid YAML{where}") from None
    if not isinstance(document, dict) or not isinstance(document.get("config", {}), dict):
        raise SpecError(f"{path}: config", "must be a mapping of `namespace:key: value`")
    raw = document.get("config") or {}
    config: dict[str, Any] = {}
    secrets: list[str] = []
    for key, value in raw.items():
        key = str(key)
        if ":" not in key:
            key = f"{PROJECT}:{key}"  # Pulumi's rule: an unqualified key is the project's
        try:
            json.dumps(value)
        except TypeError:
            # YAML reads `2024-01-01` as a date; Pulumi config holds strings, numbers, lists, maps.
            raise SpecError(key, f"{value!r} is not a plain value: quote it") from None
        if isinstance(value, dict) and set(value) == {"secure"}:
            # Encrypted by the Pulumi CLI; offline we cannot (and must not) decrypt it.
            config[key] = SECRET_PLACEHOLDER
            secrets.append(key)
        else:
            config[key] = value
    name = stack or stack_name_from_path(path) or path.stem
    return StackFile(stack=name, path=path, config=config, secret_keys=tuple(secrets))


def find_stack_file(stack: str, root: Path | None = None) -> Path:
    root = root or Path.cwd()
    for suffix in ("yaml", "yml"):
        candidate = root / f"Pulumi.{stack}.{suffix}"
        if candidate.is_file():
            return candidate
    raise SpecError("--stack", f"no stack file Pulumi.{stack}.yaml in {root}")


def resolve(stack: str, get: Callable[[str], Any]) -> tuple[Provider[Any], Deployment[Any]]:
    """Validate everything a stack says and return its provider and translated deployment.

    `get("ns:key")` returns a config value (objects already parsed) or None.
    """
    cloud = parse_cloud(get("mlops:cloud"))
    platform = parse_platform(get("mlops:platform"))
    provider = registry.get(cloud)
    cloud_config = provider.read_config(get)
    for limitation in provider.limitations(platform):
        if limitation.severity == "refuse":
            raise SpecError(limitation.key, f"{limitation.message} (not possible on {cloud})")
    target = Target(
        stack=stack,
        cloud=cloud,
        platform=platform,
        pipeline=pipelines.get_pipeline(platform.pipeline.name),
        cloud_config=cloud_config,
        region=str(cloud_config[provider.region_key]),
    )
    settings = provider.translate(target)
    return provider, Deployment(**vars(target), settings=settings)


def resolve_file(stack_file: StackFile) -> tuple[Provider, Deployment]:
    return resolve(stack_file.stack, stack_file.config.get)


def pulumi_getter() -> Callable[[str], Any]:
    """A `get` over `pulumi.Config`, for the program (real deployment or mocks)."""
    import pulumi

    def get(key: str) -> Any:
        namespace, _, name = key.partition(":")
        value = pulumi.Config(namespace).get(name)
        if value is None:
            return None
        try:
            return json.loads(value)
        except ValueError:
            return value

    return get
