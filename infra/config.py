"""The one place stack configuration is read and turned into a validated `Deployment`.

Two sources feed it: a `Pulumi.<stack>.yaml` file (the CLI) and `pulumi.Config` (the program
under `pulumi up` or under mocks). Both go through `resolve`, so `mlops validate` and `pulumi up`
accept and reject exactly the same descriptions.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pipelines
from providers import registry
from providers.base import Deployment, Provider, Target
from providers.spec import SpecError, check_data_contract, parse_cloud, parse_platform

PROJECT = "mlops"
KNOWN_KEYS = (f"{PROJECT}:cloud", f"{PROJECT}:platform")
"""The `mlops:` keys the program reads; any other plain `mlops:` key is refused (a typo, dead config)."""
SECRET_PLACEHOLDER = "[secret]"
SECRET_KEY_RE = re.compile(
    r"(password|passwd|passphrase|secret|token|private_?key|connection_?string|access_?key|api_?key)", re.IGNORECASE
)
"""Key names whose values are secrets: never shown by `mlops diff`, and warned about in plain text."""
MAX_FILE_BYTES = 1 << 20
MAX_VALUES = 100_000
"""Values a stack file may expand to (YAML aliases repeat a node: a billion-laughs file is refused)."""
MAX_DEPTH = 64
_STACK_FILE_RE = re.compile(r"^Pulumi\.(?P<stack>[A-Za-z0-9_.-]+)\.ya?ml$")


@dataclass(frozen=True)
class StackFile:
    stack: str
    path: Path
    config: dict[str, Any]
    """Flat `namespace:key` -> value, as in the file; secure values replaced by a placeholder."""
    secret_keys: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    """Things to tell the user that do not make the file invalid (secrets in plain text)."""


def stack_name_from_path(path: Path) -> str | None:
    match = _STACK_FILE_RE.match(path.name)
    return match.group("stack") if match else None


def read_yaml(path: Path) -> Any:
    """A YAML file read as Pulumi reads stack files: YAML 1.2 (`no` is a string, `010` is ten),
    duplicate keys refused, and no more than MAX_VALUES values once aliases are expanded."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    if not path.is_file():
        raise SpecError(str(path), "no such stack file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SpecError(str(path), f"is {size:,} bytes; a stack file is at most {MAX_FILE_BYTES:,}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpecError(str(path), "is not UTF-8 text") from None
    reader = YAML(typ="safe", pure=True)  # pure: the C loader reads YAML 1.1
    reader.allow_duplicate_keys = True  # checked below, naming the key's path
    try:
        node = reader.compose(text)
        if node is None:
            return None
        _check_node(path, node, "", 0, {}, set())
        return reader.constructor.construct_document(node)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise SpecError(str(path), f"is not valid YAML{where}") from None
    except RecursionError:
        raise SpecError(str(path), f"nests deeper than {MAX_DEPTH} levels") from None


def _check_node(path: Path, node: Any, where: str, depth: int, sizes: dict[int, int], open_: set[int]) -> int:
    """Duplicate keys, depth and expanded size of a composed YAML node; returns its expanded size."""
    from ruamel.yaml.nodes import MappingNode, SequenceNode

    if id(node) in sizes:
        return sizes[id(node)]  # an alias to a node already counted: it counts again where used
    if id(node) in open_:
        raise SpecError(f"{path}: {where or 'config'}", "a YAML alias refers to a node that contains it")
    if depth > MAX_DEPTH:
        raise SpecError(f"{path}: {where}", f"nests deeper than {MAX_DEPTH} levels")
    open_.add(id(node))
    size = 1
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if not isinstance(key_node, MappingNode | SequenceNode) else "?"
            line = key_node.start_mark.line + 1
            child = key if where in ("", "config") else f"{where}.{key}"
            if where == "" and key == "config":
                child = "config"
            if key in seen and key != "<<":
                raise SpecError(
                    f"{path}: {child}",
                    f"duplicate key (lines {seen[key]} and {line}); Pulumi refuses it: keep one",
                )
            seen[key] = line
            size += _check_node(path, value_node, child, depth + 1, sizes, open_)
    elif isinstance(node, SequenceNode):
        for i, item in enumerate(node.value):
            size += _check_node(path, item, f"{where}[{i}]", depth + 1, sizes, open_)
    open_.discard(id(node))
    sizes[id(node)] = size
    if size > MAX_VALUES:
        raise SpecError(
            f"{path}: {where or 'config'}",
            f"expands to more than {MAX_VALUES:,} values (YAML aliases repeat nodes): refused",
        )
    return size


def load_stack_file(path: Path, stack: str | None = None) -> StackFile:
    """Read a file in the `Pulumi.<stack>.yaml` format; bad YAML or shape is a SpecError."""
    document = read_yaml(path) or {}
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
        except (TypeError, ValueError):
            # YAML reads `2024-01-01` as a date; Pulumi config holds strings, numbers, lists, maps.
            raise SpecError(key, f"{value!r} is not a plain value: quote it") from None
        if isinstance(value, dict) and set(value) == {"secure"}:
            # Encrypted by the Pulumi CLI; offline we cannot (and must not) decrypt it.
            config[key] = SECRET_PLACEHOLDER
            secrets.append(key)
        else:
            config[key] = value
    for key in config:
        if key.startswith(f"{PROJECT}:") and key not in KNOWN_KEYS and key not in secrets:
            if SECRET_KEY_RE.search(key):
                continue  # the user's own secret, in plain text: warned about below
            names = [known.split(":", 1)[1] for known in KNOWN_KEYS]  # compare what follows `mlops:`
            close = difflib.get_close_matches(key.split(":", 1)[1], names, n=1, cutoff=0.6)
            hint = f"did you mean {PROJECT}:{close[0]}?" if close else f"the kit reads {' and '.join(KNOWN_KEYS)}"
            raise SpecError(key, f"unknown key, {hint}")
    name = stack or stack_name_from_path(path) or path.stem
    return StackFile(
        stack=name, path=path, config=config, secret_keys=tuple(secrets), warnings=tuple(secret_warnings(config))
    )


_SECRET_VALUE_RE = re.compile(
    r"^(AKIA|ASIA)[0-9A-Z]{16}$|-----BEGIN [A-Z ]*PRIVATE KEY-----|^gh[pousr]_[A-Za-z0-9]{30,}"
)


def secret_warnings(config: dict[str, Any]) -> list[str]:
    """Plain-text values that look like secrets: under a secret-looking key, or shaped like a key."""
    found: list[str] = []

    def visit(value: Any, where: str, top: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                visit(v, f"{where}.{k}", top)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                visit(v, f"{where}[{i}]", top)
        elif isinstance(value, str) and value and value != SECRET_PLACEHOLDER:
            name = where.rsplit(".", 1)[-1] if "." in where else where.split(":", 1)[-1]
            if SECRET_KEY_RE.search(name) or _SECRET_VALUE_RE.search(value):
                path = "" if where == top else " --path"
                found.append(
                    f"{where}: looks like a secret in plain text; store it encrypted: "
                    f"pulumi config set --secret{path} '{where}' VALUE"
                )

    for key, value in config.items():
        visit(value, key, key)
    return found


def stack_files(root: Path) -> dict[str, Path]:
    """Stack name -> file, for every `Pulumi.<stack>.yaml` in `root`."""
    found: dict[str, Path] = {}
    for candidate in sorted(root.glob("Pulumi.*.y*ml")):
        name = stack_name_from_path(candidate)
        if name and candidate.is_file():
            found.setdefault(name, candidate)
    return found


def find_project_root(start: Path) -> Path | None:
    """The nearest directory at or above `start` holding Pulumi.yaml, as the Pulumi CLI finds it."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / "Pulumi.yaml").is_file() or (directory / "Pulumi.yml").is_file():
            return directory
    return None


def project_root(start: Path | None = None) -> Path:
    """`find_project_root` from `start` (default: the current directory), or `start` itself."""
    start = (start or Path.cwd()).resolve()
    return find_project_root(start) or start


def stack_dir(root: Path) -> Path:
    """Where a project's stack files live: its root, or `stackConfigDir` from Pulumi.yaml."""
    project = root / "Pulumi.yaml"
    if project.is_file():
        try:
            document = read_yaml(project)
        except SpecError:
            return root
        if isinstance(document, dict) and isinstance(document.get("stackConfigDir"), str):
            return root / document["stackConfigDir"]
    return root


def find_stack_file(stack: str, root: Path | None = None) -> Path:
    """`Pulumi.<stack>.yaml` of the project around `root` (default: found upward from the current
    directory). `stack` may be fully qualified, `org/project/stack`, as Pulumi prints it."""
    parts = stack.split("/")
    if len(parts) > 3 or not all(parts):
        raise SpecError("--stack", f"must be a stack name or org/project/stack, got {stack!r}")
    if len(parts) == 3 and parts[1] != PROJECT:
        raise SpecError("--stack", f"project {parts[1]!r} is not this project ({PROJECT!r}, Pulumi.yaml)")
    name = parts[-1]
    directory = stack_dir(project_root(root))
    for suffix in ("yaml", "yml"):
        candidate = directory / f"Pulumi.{name}.{suffix}"
        if candidate.is_file():
            return candidate
    existing = ", ".join(stack_files(directory)) or "none"
    raise SpecError("--stack", f"no stack file Pulumi.{name}.yaml in {directory} (stacks there: {existing})")


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
    pipeline = pipelines.get_pipeline(platform.pipeline.name)
    check_data_contract(platform, pipeline)
    target = Target(
        stack=stack,
        cloud=cloud,
        platform=platform,
        pipeline=pipeline,
        cloud_config=cloud_config,
        region=provider.region(cloud_config),
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
