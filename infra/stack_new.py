"""`mlops stack new NAME --cloud C --from STACK`: the same platform on another cloud (or environment).

The new `Pulumi.NAME.yaml` carries the source's `mlops:platform` unchanged (its text is copied, so
comments survive; a round trip proves the parsed value is identical), `mlops:cloud: C`, and C's
provider keys from `--set` or as empty placeholders marked `# TODO`. The source cloud's provider
keys are dropped, and so are encrypted values: Pulumi encrypts them per stack, so they must be set
again with `pulumi config set --secret`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from infra.cli import EXIT_INVALID, EXIT_OK, command
from infra.config import PROJECT, find_stack_file, load_stack_file, resolve_file
from providers import registry
from providers.spec import CLOUDS, SpecError

_RESERVED = ("mlops:cloud", "mlops:platform")
_STACK_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def provider_keys(cloud: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(required keys, optional keys, implemented) for `cloud`, from its catalog (no SDK needed)."""
    required, optional = registry.config_keys(cloud)
    return required, optional, cloud in registry.implemented()


def _namespaces(cloud: str) -> set[str]:
    required, optional = registry.config_keys(cloud)
    return {key.split(":", 1)[0] for key in required + optional}


def _parse_sets(pairs: list[str], cloud: str) -> dict[str, str]:
    values: dict[str, str] = {}
    allowed = _namespaces(cloud) | {PROJECT}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or ":" not in key or not value:
            raise SpecError("--set", f"must look like namespace:key=value, got {pair!r}")
        if key in _RESERVED:
            raise SpecError(f"--set {key}", "is written by `mlops stack new` itself")
        if key.split(":", 1)[0] not in allowed:
            raise SpecError(
                f"--set {key}",
                f"is not a {cloud} provider key nor an mlops key "
                f"(expected one of: {', '.join(registry.config_keys(cloud)[0])}, or {PROJECT}:...)",
            )
        values[key] = value
    return values


def _platform_block(text: str) -> list[str] | None:
    """The raw lines of the `mlops:platform` value under `config:`, re-indented for a new file."""
    lines = text.splitlines()
    for start, line in enumerate(lines):
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        key = next((k for k in ("mlops:platform:", "platform:") if stripped.startswith(k)), None)
        if key is None or indent == 0:
            continue
        block = ["  mlops:platform:" + stripped[len(key) :]]
        for follow in lines[start + 1 :]:
            body = follow.strip()
            if body and not body.startswith("#") and len(follow) - len(follow.lstrip(" ")) <= indent:
                break
            block.append("  " + follow[indent:] if follow[:indent].strip() == "" else follow)
        while block and not block[-1].strip():
            block.pop()
        return block
    return None


def _scalar(value: Any) -> str:
    dumped = yaml.safe_dump(value, default_flow_style=True, width=1000).strip()
    return dumped.removesuffix("\n...").removesuffix("...").strip()


def render_stack(
    name: str, cloud: str, source_path: Path, source_stack: str, sets: dict[str, str], argv: str
) -> tuple[str, list[str]]:
    """The new stack file's text and the keys still to fill in."""
    source = load_stack_file(source_path, source_stack)
    if "mlops:platform" not in source.config:
        raise SpecError(f"{source_path}: mlops:platform", "is required in the source stack")
    if "mlops:platform" in source.secret_keys:
        raise SpecError(f"{source_path}: mlops:platform", "is encrypted: it cannot be copied offline")
    required, optional, _ = provider_keys(cloud)
    todo: list[str] = []
    out = [
        f"# Created by `{argv}`.",
        f"# The platform description is copied unchanged from {source_path.name}: keep the two in step,",
        "# and compare them with `mlops plan --format json` + `mlops diff`.",
        "config:",
        f"  mlops:cloud: {cloud}",
    ]
    for key in required:
        if key in sets:
            out.append(f"  {key}: {_scalar(sets[key])}")
        else:
            todo.append(key)
            out.append(f'  {key}: ""  # TODO: set {key} (pulumi config set {key} VALUE -s {name})')
    for key, value in sets.items():
        if key not in required:
            out.append(f"  {key}: {_scalar(value)}")
    for key in optional:
        if key not in sets:
            out.append(f"  # {key}: optional")
    for key in sorted(source.config):
        if key in _RESERVED or key in sets or key.split(":", 1)[0] != PROJECT:
            continue
        if key in source.secret_keys:
            out.append(
                f"  # TODO: {key} is encrypted in {source_path.name}; set it again with "
                f"`pulumi config set --secret {key} VALUE -s {name}`"
            )
            continue
        out.append(f"  {key}: {_scalar(source.config[key])}")
    block = _platform_block(source_path.read_text(encoding="utf-8"))
    if block is not None:
        candidate = "\n".join(out + block) + "\n"
        if _parsed_platform(candidate) == source.config["mlops:platform"]:
            return candidate, todo
    # The text could not be lifted as is (unusual layout): write the parsed value instead.
    dumped = yaml.safe_dump({"mlops:platform": source.config["mlops:platform"]}, sort_keys=False, width=100)
    out += ["  " + line for line in dumped.splitlines()]
    return "\n".join(out) + "\n", todo


def _parsed_platform(text: str) -> Any:
    try:
        return (yaml.safe_load(text) or {}).get("config", {}).get("mlops:platform")
    except yaml.YAMLError:
        return None


def _resolve_source(value: str, root: Path) -> tuple[Path, str]:
    path = Path(value)
    if value.endswith((".yaml", ".yml")) and (path.is_file() or (root / path).is_file()):
        path = path if path.is_file() else root / path
        from infra.config import stack_name_from_path

        return path, stack_name_from_path(path) or path.stem
    return find_stack_file(value, root), value


def _new_args(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="stack_action", required=True, metavar="ACTION")
    new = actions.add_parser("new", help="write Pulumi.NAME.yaml: the platform of another stack on a cloud")
    new.add_argument("name", help="the new stack's name, e.g. gcp-dev")
    new.add_argument("--cloud", required=True, choices=CLOUDS, help="the target cloud")
    new.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="STACK",
        help="the stack (or Pulumi.<stack>.yaml file) whose platform description to copy",
    )
    new.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a provider key of the target cloud, e.g. gcp:project=my-project (repeatable)",
    )
    new.add_argument("--dir", type=Path, default=Path("."), help="where stack files live (default: .)")
    new.add_argument("--force", action="store_true", help="overwrite an existing Pulumi.NAME.yaml")


def _new(args: argparse.Namespace) -> int:
    name: str = args.name
    if not name or not set(name) <= _STACK_NAME_CHARS:
        raise SpecError("NAME", f"a stack name is letters, digits, '-', '_' and '.', got {name!r}")
    root: Path = args.dir
    target = root / f"Pulumi.{name}.yaml"
    if target.exists() and not args.force:
        print(f"mlops stack new: {target} exists; pass --force to overwrite it", file=sys.stderr)
        return EXIT_INVALID
    source_path, source_stack = _resolve_source(args.source, root)
    sets = _parse_sets(args.sets, args.cloud)
    argv = f"mlops stack new {name} --cloud {args.cloud} --from {args.source}" + "".join(
        f" --set {k}=..." for k in sets
    )
    text, todo = render_stack(name, args.cloud, source_path, source_stack, sets, argv)
    _, _, implemented = provider_keys(args.cloud)

    if todo or not implemented:
        _write(target, text)
        print(f"wrote {target} ({args.cloud}, platform from {source_path.name})")
        if todo:
            print(f"left to fill in ({len(todo)}): " + ", ".join(todo))
            print(f"then: mlops validate --config-file {target}")
        if not implemented:
            print(f"not validated: the {args.cloud} provider is not implemented in this checkout")
        return EXIT_OK

    # Everything is given: validate before the file appears, so a bad stack is never left behind.
    fd, tmp_name = tempfile.mkstemp(prefix=f".Pulumi.{name}.", suffix=".yaml", dir=root)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        provider, deployment = resolve_file(load_stack_file(tmp, name))
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    print(
        f"wrote {target} ({provider.cloud}, {deployment.region}, platform {deployment.platform.prefix} "
        f"from {source_path.name}): valid"
    )
    return EXIT_OK


def _write(target: Path, text: str) -> None:
    target.write_text(text, encoding="utf-8")


command("stack", "manage stack files: `stack new` copies a platform to another cloud or environment")((_new_args, _new))
