"""`mlops stack new NAME --cloud C --from STACK` and `mlops stack list`.

`stack new` writes the same platform on another cloud (or environment). The new
`Pulumi.NAME.yaml` carries the source's `mlops:platform` (its text is copied, so comments survive;
a round trip proves the parsed value is identical), `mlops:cloud: C`, and C's provider keys from
`--set` or as empty placeholders marked `# TODO`. `--set mlops:platform.<path>=VALUE` edits the
platform (e.g. `mlops:platform.environment=prod`); then the platform is written from its parsed
value. A new cloud or environment starts with `endpoint.model_version: null` (no model exists in
the new registry yet). The source cloud's provider keys are dropped, and so are encrypted values:
Pulumi encrypts them per stack, so they must be set again with `pulumi config set --secret`.

The target cloud's rules are checked before anything is written, with stand-in values for the
provider keys still to fill in.
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
from infra.config import (
    PROJECT,
    StackFile,
    find_stack_file,
    load_stack_file,
    project_root,
    resolve,
    resolve_file,
    stack_dir,
    stack_files,
    stack_name_from_path,
)
from providers import registry
from providers.spec import CLOUDS, SpecError

_RESERVED = ("mlops:cloud", "mlops:platform")
_PLATFORM = "mlops:platform."
_STACK_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def provider_keys(cloud: str) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """(required keys, optional keys, implemented) for `cloud`, from its catalog (no SDK needed)."""
    required, optional = registry.config_keys(cloud)
    return required, optional, cloud in registry.implemented()


def _namespaces(cloud: str) -> set[str]:
    required, optional = registry.config_keys(cloud)
    return {key.split(":", 1)[0] for key in required + optional}


def check_stack_name(name: str) -> str:
    """Pulumi's rule (1-100 of letters, digits, '-', '_', '.'), and not `.` or `..`, which a
    local backend cannot store (nor this directory hold as Pulumi.<name>.yaml)."""
    if not 1 <= len(name) <= 100 or not set(name) <= _STACK_NAME_CHARS or name in (".", ".."):
        raise SpecError(
            "NAME", f"a stack name is 1-100 letters, digits, '-', '_' and '.' (not '.' or '..'), got {name!r}"
        )
    return name


def _platform_value(text: str) -> Any:
    """`--set mlops:platform.x=VALUE`: VALUE read as a YAML 1.2 scalar (4, true, null, prod)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        value = YAML(typ="safe", pure=True).load(text)
    except YAMLError:
        return text
    return value if value is None or isinstance(value, str | int | float | bool) else text


def _parse_sets(pairs: list[str], cloud: str) -> tuple[dict[str, str], dict[str, Any]]:
    """(provider and other keys, platform edits by dotted path)."""
    values: dict[str, str] = {}
    edits: dict[str, Any] = {}
    allowed = _namespaces(cloud) | {PROJECT}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or ":" not in key or not value:
            raise SpecError("--set", f"must look like namespace:key=value, got {pair!r}")
        if key.startswith(_PLATFORM):
            path = key[len(_PLATFORM) :]
            if not path or any(not part for part in path.split(".")):
                raise SpecError(f"--set {key}", "must name a platform key, e.g. mlops:platform.environment=prod")
            edits[path] = _platform_value(value)
            continue
        if key in _RESERVED:
            raise SpecError(f"--set {key}", "is written by `mlops stack new` itself")
        if key.split(":", 1)[0] not in allowed:
            raise SpecError(
                f"--set {key}",
                f"is not a {cloud} provider key nor an mlops key "
                f"(expected one of: {', '.join(registry.config_keys(cloud)[0])}, or {_PLATFORM}<path>)",
            )
        values[key] = value
    return values, edits


def _apply(platform: dict[str, Any], path: str, value: Any) -> None:
    node: Any = platform
    parts = path.split(".")
    for i, part in enumerate(parts[:-1]):
        if not isinstance(node, dict):
            raise SpecError(f"--set {_PLATFORM}{path}", f"{'.'.join(parts[:i])} is not a mapping")
        node = node.setdefault(part, {})
    if not isinstance(node, dict):
        raise SpecError(f"--set {_PLATFORM}{path}", f"{'.'.join(parts[:-1])} is not a mapping")
    node[parts[-1]] = value


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


def new_platform(source: StackFile, cloud: str, edits: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The edits to make to the source platform (by dotted path), and notes on them for the user.

    A new cloud or environment starts with `endpoint.model_version: null`: its registry holds no
    model yet."""
    edits = dict(edits)
    notes: list[str] = []
    platform = source.config["mlops:platform"]
    if not isinstance(platform, dict):
        raise SpecError(f"{source.path}: mlops:platform", "must be a mapping (the platform description)")
    environment = edits.get("environment", platform.get("environment"))
    moved = cloud != source.config.get("mlops:cloud") or environment != platform.get("environment")
    endpoint = platform.get("endpoint")
    served = isinstance(endpoint, dict) and endpoint.get("model_version") is not None
    if moved and served and "endpoint.model_version" not in edits:
        edits["endpoint.model_version"] = None
        notes.append(
            "endpoint.model_version set to null: the new registry holds no model yet (train, approve, then set it)"
        )
    return edits, notes


def _edited(platform: Any, edits: dict[str, Any]) -> Any:
    import copy

    result = copy.deepcopy(platform)
    for path, value in edits.items():
        _apply(result, path, value)
    return result


def _round_trip_block(source_path: Path, edits: dict[str, Any]) -> list[str] | None:
    """The source's platform with `edits` applied, comments and flow style kept (ruamel round trip)."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.indent(mapping=2, sequence=4, offset=2)
    rt.width = 4096
    rt.representer.add_representer(type(None), lambda r, _: r.represent_scalar("tag:yaml.org,2002:null", "null"))
    try:
        document = rt.load(source_path.read_text(encoding="utf-8"))
        config = document["config"]
        key = "mlops:platform" if "mlops:platform" in config else "platform"
        platform = config[key]
        for path, value in edits.items():
            _apply(platform, path, value)
        out = io.StringIO()
        rt.dump({"mlops:platform": platform}, out)
    except (YAMLError, KeyError, TypeError, AttributeError):
        return None
    return ["  " + line if line else line for line in out.getvalue().rstrip("\n").splitlines()]


def render_stack(
    name: str,
    cloud: str,
    source_path: Path,
    source_stack: str,
    sets: dict[str, str],
    argv: str,
    edits: dict[str, Any] | None = None,
) -> tuple[str, list[str], list[str]]:
    """The new stack file's text, the keys still to fill in, and notes on what changed."""
    source = load_stack_file(source_path, source_stack)
    if "mlops:platform" not in source.config:
        raise SpecError(f"{source_path}: mlops:platform", "is required in the source stack")
    if "mlops:platform" in source.secret_keys:
        raise SpecError(f"{source_path}: mlops:platform", "is encrypted: it cannot be copied offline")
    edits, notes = new_platform(source, cloud, edits or {})
    platform = _edited(source.config["mlops:platform"], edits)
    required, optional, _ = provider_keys(cloud)
    todo: list[str] = []
    out = [
        f"# Created by `{argv}`.",
        f"# The platform description comes from {source_path.name}: keep the two in step,",
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
    lifted = _platform_block(source_path.read_text(encoding="utf-8")) if not edits else None
    for block in (lifted, _round_trip_block(source_path, edits)):
        if block is not None:
            candidate = "\n".join(out + block) + "\n"
            if _parsed_platform(candidate) == platform:
                return candidate, todo, notes
    # The text could not be lifted (unusual layout): write the parsed value.
    dumped = yaml.safe_dump({"mlops:platform": platform}, sort_keys=False, width=100)
    out += ["  " + line for line in dumped.splitlines()]
    return "\n".join(out) + "\n", todo, notes


def _parsed_platform(text: str) -> Any:
    """The platform the new file's text holds, read as stack files are read (YAML 1.2)."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return (YAML(typ="safe", pure=True).load(text) or {}).get("config", {}).get("mlops:platform")
    except YAMLError:
        return None


def _resolve_source(value: str, root: Path) -> tuple[Path, str]:
    path = Path(value)
    if value.endswith((".yaml", ".yml")) and (path.is_file() or (root / path).is_file()):
        path = path if path.is_file() else root / path
        return path, stack_name_from_path(path) or path.stem
    return find_stack_file(value, root), value.split("/")[-1]


def _stack_args(parser: argparse.ArgumentParser) -> None:
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
        help="a provider key of the target cloud (gcp:project=my-project) or a platform key "
        "(mlops:platform.environment=prod); repeatable",
    )
    new.add_argument("--dir", type=Path, help="where stack files live (default: beside Pulumi.yaml, searched upward)")
    new.add_argument("--force", action="store_true", help="overwrite an existing Pulumi.NAME.yaml")
    new.add_argument("--dry-run", action="store_true", help="print the file and the checks; write nothing")
    listing = actions.add_parser("list", help="every stack here: cloud, region, environment, valid or why not")
    listing.add_argument("--dir", type=Path, help="where stack files live (default: beside Pulumi.yaml)")


def _with_stand_ins(text: str, name: str, cloud: str, todo: list[str]) -> tuple[Any, Any]:
    """Resolve the new stack's text, stand-in values in place of the keys still to fill in."""
    import io

    from ruamel.yaml import YAML

    document = YAML(typ="safe", pure=True).load(io.StringIO(text))
    config = dict(document["config"])
    config.update({key: registry.example_config(cloud)[key] for key in todo})
    return resolve(name, config.get)


def _new(args: argparse.Namespace) -> int:
    name = check_stack_name(args.name)
    root: Path = args.dir or stack_dir(project_root())
    target = root / f"Pulumi.{name}.yaml"
    if target.exists() and not args.force and not args.dry_run:
        print(f"mlops stack new: {target} exists; pass --force to overwrite it", file=sys.stderr)
        return EXIT_INVALID
    source_path, source_stack = _resolve_source(args.source, root)
    sets, edits = _parse_sets(args.sets, args.cloud)
    argv = f"mlops stack new {name} --cloud {args.cloud} --from {args.source}" + "".join(
        f" --set {k}=..." for k in sets
    )
    argv += "".join(f" --set {_PLATFORM}{path}={value}" for path, value in edits.items())
    text, todo, notes = render_stack(name, args.cloud, source_path, source_stack, sets, argv, edits)
    _, _, implemented = provider_keys(args.cloud)
    if not implemented:
        verdict = f"not validated: the {args.cloud} provider is not implemented in this checkout"
    elif todo:
        # The target cloud's rules, checked now with stand-ins for the keys still to fill in.
        provider, _ = _with_stand_ins(text, name, args.cloud, todo)
        stand_ins = ", ".join(f"{k}={registry.example_config(args.cloud)[k]}" for k in todo)
        verdict = f"valid on {provider.cloud} (checked with {stand_ins} in place of the keys to fill in)"
    else:
        verdict = ""
    if args.dry_run:
        sys.stdout.write(text)
        print(f"mlops stack new: dry run, {target} not written", file=sys.stderr)
        for note in notes:
            print(f"  {note}", file=sys.stderr)
        if verdict:
            print(f"  {verdict}", file=sys.stderr)
        if not todo and implemented:
            _check_complete(text, name, root)
            print("  valid", file=sys.stderr)
        return EXIT_OK
    if todo or not implemented:
        _write(target, text)
        print(f"wrote {target} ({args.cloud}, platform from {source_path.name})")
        for note in notes:
            print(f"  {note}")
        if todo:
            print(f"left to fill in ({len(todo)}): " + ", ".join(todo))
            print(f"then: mlops validate --config-file {target}")
        print(verdict)
        return EXIT_OK

    # Everything is given: validate before the file appears, so a bad stack is never left behind.
    provider, deployment = _check_complete(text, name, root, target)
    print(
        f"wrote {target} ({provider.cloud}, {deployment.region}, platform {deployment.platform.prefix} "
        f"from {source_path.name}): valid"
    )
    for note in notes:
        print(f"  {note}")
    return EXIT_OK


def _check_complete(text: str, name: str, root: Path, target: Path | None = None) -> tuple[Any, Any]:
    """Resolve the text as a stack file; move it to `target` when given and valid."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".Pulumi.{name}.", suffix=".yaml", dir=root)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        result = resolve_file(load_stack_file(tmp, name))
        if target is not None:
            tmp.replace(target)
        return result
    finally:
        tmp.unlink(missing_ok=True)


def _write(target: Path, text: str) -> None:
    target.write_text(text, encoding="utf-8")


def _list(args: argparse.Namespace) -> int:
    root: Path = args.dir or stack_dir(project_root())
    files = stack_files(root)
    if not files:
        print(f"no stack files (Pulumi.<stack>.yaml) in {root}")
        return EXIT_OK
    rows = [("STACK", "CLOUD", "REGION", "ENVIRONMENT", "STATUS")]
    for name, path in files.items():
        cloud = region = environment = "-"
        try:
            stack_file = load_stack_file(path, name)
            raw_cloud = stack_file.config.get("mlops:cloud")
            cloud = str(raw_cloud) if raw_cloud else "-"
            platform = stack_file.config.get("mlops:platform")
            if isinstance(platform, dict):
                environment = str(platform.get("environment", "-"))
            if raw_cloud in registry.clouds():
                region = str(stack_file.config.get(registry.region_key(raw_cloud)) or "-")
            resolve_file(stack_file)
            status = "valid" + (f" ({len(stack_file.warnings)} warning(s))" if stack_file.warnings else "")
        except SpecError as exc:
            status = f"invalid: {exc}"
        rows.append((name, cloud, region, environment, status))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4])
    return EXIT_OK


def _stack(args: argparse.Namespace) -> int:
    return _list(args) if args.stack_action == "list" else _new(args)


command("stack", "stack files: `stack new` copies a platform to another cloud or environment, `stack list`")(
    (_stack_args, _stack)
)
