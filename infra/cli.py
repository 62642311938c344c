"""The `mlops` command line.

Exit status: 0 success, 2 invalid input (one line naming the key and the rule), 1 a bug,
3 `mlops diff --fail-on-danger` found a dangerous change, 4 a local pipeline run failed (a step
rejected its data or failed, or the model missed the quality gate).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from providers.spec import SpecError

EXIT_OK, EXIT_BUG, EXIT_INVALID, EXIT_DANGER, EXIT_RUN_FAILED = 0, 1, 2, 3, 4
MAX_ROWS = 1_000_000

# Further sub-commands register themselves here: name -> (configure parser, run).
Command = tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]
_COMMANDS: dict[str, tuple[str, Command]] = {}


def command(name: str, help_: str) -> Callable[[Command], Command]:
    def register(cmd: Command) -> Command:
        _COMMANDS[name] = (help_, cmd)
        return cmd

    return register


def _stack_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    group = parser.add_mutually_exclusive_group(required=required)
    group.add_argument(
        "--stack",
        "-s",
        help="stack name or org/project/stack: reads Pulumi.<stack>.yaml beside Pulumi.yaml (searched upward)",
    )
    group.add_argument("--config-file", type=Path, help="a file in the Pulumi.<stack>.yaml format")
    parser.add_argument("--stack-name", help="stack name to use with --config-file (default: from the file name)")


def load_stack(args: argparse.Namespace):  # -> StackFile
    """The stack file named by --stack or --config-file; its warnings go to stderr."""
    from infra.config import find_stack_file, load_stack_file

    if args.config_file is not None:
        stack_file = load_stack_file(args.config_file, args.stack_name or None)
    else:
        path = find_stack_file(args.stack)
        stack_file = load_stack_file(path, args.stack.split("/")[-1])
    for warning in stack_file.warnings:
        print(f"mlops: warning: {warning}", file=sys.stderr)
    return stack_file


def check_output(path: Path | None, key: str = "--output") -> None:
    """Refuse an output path that cannot be written, before any work (a directory, a file's child)."""
    if path is None:
        return
    if path.is_dir():
        raise SpecError(key, f"{path} is a directory; give a file name, e.g. {path / 'plan.json'}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise SpecError(key, f"{parent} is a file, not a directory")
            break


def write_output(path: Path, text: str, key: str = "--output") -> None:
    """Write `text` to `path`, creating its missing parent directories."""
    check_output(path, key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SpecError(key, f"cannot write {path}: {exc.strerror}") from None


# --- validate ---------------------------------------------------------------------------------


def _validate_args(parser: argparse.ArgumentParser) -> None:
    _stack_args(parser)


def _validate(args: argparse.Namespace) -> int:
    from infra.config import resolve_file

    stack_file = load_stack(args)
    provider, deployment = resolve_file(stack_file)
    p = deployment.platform
    print(
        f"{stack_file.stack}: valid ({provider.cloud}, {deployment.region}, platform {p.prefix}, "
        f"{len(p.feature_store.feature_groups)} feature group(s), pipeline {p.pipeline.name})"
    )
    return EXIT_OK


command("validate", "check a stack's platform description against the portable and cloud rules")(
    (_validate_args, _validate)
)


# --- plan -------------------------------------------------------------------------------------


def _plan_args(parser: argparse.ArgumentParser) -> None:
    _stack_args(parser)
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--output", "-o", type=Path, help="write to this file instead of stdout")


TABLE_WIDTH = 120


def short_type(type_: str) -> str:
    """`aws:s3/bucket:Bucket` -> `aws:s3:Bucket`, as `pulumi preview` shows types."""
    parts = type_.split(":")
    if len(parts) == 3 and "/" in parts[1]:
        parts[1] = parts[1].split("/", 1)[0]
    return ":".join(parts)


def _fit(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def render_table(plan: Any, width: int = TABLE_WIDTH) -> str:
    """The plan as `pulumi preview` shows one: a tree under the stack and the components, an
    operation mark per resource (`+` create: an offline plan starts from an empty stack), short
    type names, lines of at most `width` characters, and a closing count."""
    children: dict[str | None, list[Any]] = {}
    for resource in plan.resources:
        children.setdefault(resource.parent, []).append(resource)
    rows: list[tuple[str, str, str]] = [("", "pulumi:pulumi:Stack", f"{PROJECT_NAME}-{plan.stack}")]

    def walk(parent: str | None, indent: str) -> None:
        items = children.get(parent, [])
        for i, resource in enumerate(items):
            last = i == len(items) - 1
            branch = indent + ("└─ " if last else "├─ ")
            note = "protected" if resource.protect else ""
            rows.append((branch, short_type(resource.type), resource.name + (f"  [{note}]" if note else "")))
            walk(resource.urn, indent + ("   " if last else "│  "))

    walk(None, "")
    type_width = min(max(len(b) + len(t) for b, t, _ in rows), 64)
    name_width = max(width - 5 - type_width - 2, 20)
    lines = [f"Previewing stack {plan.stack} ({plan.cloud}): offline plan under Pulumi mocks", ""]
    lines.append(f"     {'Type'.ljust(type_width)}  Name")
    for branch, type_, name in rows:
        cell = branch + _fit(type_, type_width - len(branch))
        lines.append(f" +   {cell.ljust(type_width)}  {_fit(name, name_width)}".rstrip())
    lines += ["", "Outputs:"]
    for key, value in plan.outputs.items():
        shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        lines.append(_fit(f"    {key}: {shown}", width))
    protected = sum(1 for r in plan.resources if r.protect)
    lines += ["", "Resources:", f"    + {len(plan.resources) + 1} to create"]
    if protected:
        lines.append(f"    ({protected} protected: `pulumi destroy` refuses them until unprotected)")
    return "\n".join(lines) + "\n"


PROJECT_NAME = "mlops"


def _progress(stack: str, cloud: str) -> Callable[[int, str], None]:
    """Progress on stderr while the program declares resources: a live count on a terminal,
    one line per 10 resources otherwise."""
    tty = sys.stderr.isatty()

    def on_resource(count: int, type_: str) -> None:
        if tty:
            print(f"\r  declaring resources: {count} ({short_type(type_)})\033[K", end="", file=sys.stderr, flush=True)
        elif count % 10 == 0:
            print(f"  declared {count} resources", file=sys.stderr, flush=True)

    return on_resource


def _plan(args: argparse.Namespace) -> int:
    import time

    from infra.config import resolve_file

    check_output(args.output)
    stack_file = load_stack(args)
    resolve_file(stack_file)  # invalid input fails here, in one line, before any progress is shown
    started = time.monotonic()
    print(
        f"mlops plan: {stack_file.stack}: loading the program (the cloud's SDK imports take a few seconds)",
        file=sys.stderr,
        flush=True,
    )
    from infra.plan import plan

    cloud = str(stack_file.config.get("mlops:cloud"))
    result = plan(stack_file, on_resource=_progress(stack_file.stack, cloud))
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr)
    print(
        f"mlops plan: {stack_file.stack}: {len(result.resources)} resources declared in "
        f"{time.monotonic() - started:.1f}s",
        file=sys.stderr,
    )
    text = (
        json.dumps(result.to_json(), indent=2, sort_keys=False) + "\n"
        if args.format == "json"
        else render_table(result)
    )
    if args.output:
        write_output(args.output, text)
        print(f"wrote {args.output} ({len(result.resources)} resources)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


command("plan", "show every resource the Pulumi program declares, offline, under mocks")((_plan_args, _plan))


# --- pipeline run -----------------------------------------------------------------------------


MAX_SEED = 2**32 - 1  # numpy's seed range


def _pipeline_args(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="pipeline_action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run every step of a pipeline on this machine, on generated data")
    run.add_argument("name", help="a pipeline defined in pipelines/")
    run.add_argument("--local", action="store_true", required=True, help="run every step on this machine")
    run.add_argument(
        "--rows", type=int, default=2000, help=f"rows of generated data, 100 to {MAX_ROWS:,} (default 2000)"
    )
    run.add_argument("--seed", type=int, default=7, help=f"seed of the generated data, 0 to {MAX_SEED}")
    run.add_argument(
        "--workdir", type=Path, help="where step outputs go, kept (default: a temporary dir, removed after the run)"
    )
    run.add_argument(
        "--gate",
        metavar="METRIC:THRESHOLD",
        help="quality gate, e.g. roc_auc:0.75 (or 'roc_auc>=0.75', quoted: an unquoted >= is a shell "
        "redirection); default roc_auc:0.75, or the gate of --stack",
    )
    _stack_args(run, required=False)  # --stack / --config-file: that stack's platform gives the gate
    new = actions.add_parser(
        "new",
        help="scaffold pipelines/NAME/ from a working pipeline, with an example stack per cloud",
        description="Copy a working pipeline into pipelines/NAME/, renamed, each file saying what to replace, "
        "and write Pulumi.<cloud>-NAME.yaml per cloud with the feature groups of its data contract. As it "
        "stands it validates, runs locally and plans on every cloud.",
    )
    new.add_argument("name", help="the new pipeline's name: 3-20 lowercase letters and digits")
    new.add_argument(
        "--from", dest="source", default="churn", metavar="PIPELINE", help="the pipeline to copy (default churn)"
    )
    new.add_argument("--dry-run", action="store_true", help="list what would be written; write nothing")
    listing = actions.add_parser(
        "list",
        help="every pipeline: steps, feature groups and features read, request schema, framework",
        description="Every folder of pipelines/: its steps, the feature groups and features it reads, its "
        "request schema and framework; a broken one with its one-line error (then exit status 2).",
    )
    listing.add_argument("--format", choices=("table", "json"), default="table")


def _parse_gate(text: str) -> tuple[str, float]:
    import math
    import re

    match = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(>=|:)\s*(.*?)\s*", text)
    try:
        if match is None:
            raise ValueError
        metric, threshold = match.group(1), match.group(3)
        value = float(threshold)
    except ValueError:
        raise SpecError("--gate", f"must look like roc_auc:0.75 (or 'roc_auc>=0.75', quoted), got {text!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise SpecError("--gate", f"threshold must be between 0 and 1, got {threshold!r}")
    return metric, value


def _stack_gate(args: argparse.Namespace) -> tuple[tuple[str, float], Any]:
    """The quality gate and the validated deployment of --stack / --config-file."""
    from infra.config import resolve_file

    stack_file = load_stack(args)
    _, deployment = resolve_file(stack_file)
    gate = deployment.platform.pipeline.quality_gate
    if deployment.platform.pipeline.name != args.name:
        raise SpecError(
            "mlops:platform.pipeline.name",
            f"stack {stack_file.stack} runs pipeline {deployment.platform.pipeline.name!r}, not {args.name!r}",
        )
    return (gate.metric, gate.threshold), deployment


def _register_line(deployment: Any, model_path: Path, kept: bool) -> str:
    where = str(model_path) if kept else "the model"
    if deployment is None:
        return (
            f"would register {where} as a new version in the model registry (with --stack: which registry, "
            "and whether a person must approve it)"
        )
    p = deployment.platform
    approval = (
        "it waits for a person to approve it (registry.approval: manual)"
        if p.registry.approval == "manual"
        else "approved at once (registry.approval: auto)"
    )
    return (
        f"would register {where} as a new version of {p.prefix}-{p.pipeline.name} in the {deployment.cloud} "
        f"model registry of stack {deployment.stack}; {approval}"
    )


def _pipeline(args: argparse.Namespace) -> int:
    if args.pipeline_action == "list":
        return _pipeline_list(args)
    if args.pipeline_action == "new":
        return _pipeline_new(args)
    return _pipeline_run(args)


def _pipeline_run(args: argparse.Namespace) -> int:
    import shutil

    import pipelines
    from pipelines.local import StepFailedError, check_gate, run_local

    pipeline = pipelines.get_pipeline(args.name)  # unknown or broken: one line, exit 2
    if not 100 <= args.rows <= MAX_ROWS:
        raise SpecError("--rows", f"must be between 100 and {MAX_ROWS:,}, got {args.rows}")
    if not 0 <= args.seed <= MAX_SEED:
        raise SpecError("--seed", f"must be between 0 and {MAX_SEED}, got {args.seed}")
    deployment = None
    if args.stack is not None or args.config_file is not None:
        if args.gate is not None:
            raise SpecError("--gate", "give --gate or --stack (whose platform has the gate), not both")
        gate, deployment = _stack_gate(args)
    else:
        gate = _parse_gate(args.gate or "roc_auc:0.75")
    try:
        check_gate(pipeline, gate)
    except ValueError as exc:
        raise SpecError("--gate", str(exc)) from None
    if args.workdir is not None and args.workdir.exists() and not args.workdir.is_dir():
        raise SpecError("--workdir", f"{args.workdir} exists and is not a directory")
    if args.workdir is not None:
        try:
            args.workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpecError("--workdir", f"cannot create {args.workdir}: {exc.strerror}") from None
    keep = args.workdir is not None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"mlops-{args.name}-"))
    try:
        return _run_pipeline(args, gate, workdir, keep, deployment, run_local, StepFailedError)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _run_pipeline(
    args: argparse.Namespace,
    gate: tuple[str, float],
    workdir: Path,
    keep: bool,
    deployment: Any,
    run_local: Callable[..., Any],
    step_failed: type[Exception],
) -> int:
    started: dict[str, float] = {}

    def progress(event: str, step: str) -> None:
        import time

        if event == "start":
            started[step] = time.monotonic()
            print(f"  > {step} ...", flush=True)
        else:
            print(f"  ✓ {step} ({time.monotonic() - started.get(step, time.monotonic()):.1f}s)", flush=True)

    where = workdir if keep else f"{workdir} (temporary, removed afterwards; keep it with --workdir)"
    print(f"pipeline {args.name}: local run of every step in {where}")
    try:
        result = run_local(args.name, workdir, rows=args.rows, seed=args.seed, quality_gate=gate, on_event=progress)
    except step_failed as exc:
        # The pipeline rejected its data or a step crashed: a failed run, not invalid config.
        print(f"mlops: {exc}", file=sys.stderr)
        return EXIT_RUN_FAILED
    print("metrics:")
    for name, value in sorted(result.metrics.items()):
        print(f"  {name}: {value:.4f}")
    verdict = "PASSED" if result.gate_passed else "FAILED"
    print(f"quality gate {result.gate_metric} >= {result.gate_threshold}: {verdict}")
    if not result.gate_passed:
        # As on the clouds: a model that misses the gate is not registered.
        print("model not registered: it missed the quality gate", file=sys.stderr)
        return EXIT_RUN_FAILED
    if keep:
        print(f"model: {result.model_path}")
    print(_register_line(deployment, result.model_path, keep))
    return EXIT_OK


def _pipeline_list(args: argparse.Namespace) -> int:
    import pipelines

    found = pipelines.discover()
    if args.format == "json":
        print(json.dumps([_pipeline_json(f) for f in found], indent=2))
    else:
        sys.stdout.write(_pipeline_table(found))
    broken = [f for f in found if f.error is not None]
    for f in broken:
        print(f"mlops: pipeline {f.name!r} is broken: {f.error}", file=sys.stderr)
    return EXIT_INVALID if broken else EXIT_OK


def _pipeline_json(found: Any) -> dict[str, Any]:
    import pipelines

    out: dict[str, Any] = {"name": found.name, "folder": pipelines.display(found.folder)}
    if found.error is not None:
        return {**out, "error": str(found.error)}
    p = found.pipeline
    contract = p.contract.to_json()
    return {
        **out,
        "description": p.description,
        "framework": {"name": p.framework.name, "version": p.framework.version},
        "task": contract["task"],
        "steps": [
            {"name": s.name, "kind": s.kind, "script": s.script, "after": list(s.upstream_steps())} for s in p.steps
        ],
        "entity": contract["entity"],
        "event_time": contract["event_time"],
        "label": contract["label"],
        "reads": contract["reads"],
        "request": contract["request"],
        "metrics": list(p.metrics),
        "error": None,
    }


def _columns(label: str, columns: Sequence[Any], prefix: str = "") -> list[str]:
    """`label prefix a (int), b (string), ...`, wrapped to the table width under an indent."""
    import textwrap

    glue = "\0"  # keeps a column and its type on one line
    text = prefix + ", ".join(f"{c.name}{glue}({c.type})" for c in columns)
    lines = textwrap.wrap(text, TABLE_WIDTH, initial_indent=f"  {label:<10}", subsequent_indent=" " * 12)
    return [line.replace(glue, " ") for line in lines]


def _pipeline_table(found: Sequence[Any]) -> str:
    import pipelines

    if not found:
        return "no pipeline folders in pipelines/\n"
    lines: list[str] = []
    for f in found:
        if f.error is not None:
            lines += [f"{f.name}  BROKEN: {f.error}", ""]
            continue
        p, c = f.pipeline, f.pipeline.contract
        lines.append(f"{p.name}  {p.framework.name} {p.framework.version}, {c.task}  ({pipelines.display(f.folder)})")
        lines.append(f"  {p.description}")
        lines.append(f"  steps:    {' -> '.join(s.name for s in p.steps)}")
        lines.append(f"  keys:     entity {c.entity}, event time {c.event_time}, label {c.label.name} ({c.label.type})")
        for i, read in enumerate(c.reads):
            lines += _columns("" if i else "reads:", read.features, f"{read.group}: ")
        lines += _columns("request:", c.request)
        lines.append(f"  metrics:  {', '.join(p.metrics)}")
        lines.append("")
    return "\n".join(lines)


def _pipeline_new(args: argparse.Namespace) -> int:
    import pipelines
    from infra.config import project_root, stack_dir
    from pipelines import scaffold
    from providers import registry

    try:
        source = pipelines.get_pipeline(args.source)
    except pipelines.UnknownPipelineError:
        raise SpecError(
            "--from", f"unknown pipeline {args.source!r}; pipelines/ holds: {', '.join(pipelines.available())}"
        ) from None
    except pipelines.BrokenPipelineError as exc:
        raise SpecError("--from", f"pipeline {args.source!r} is broken: {exc}") from None
    scaffold.check_name(args.name, pipelines.kit_names(), pipelines.available())
    target_root = pipelines.roots()[0]
    stacks = stack_dir(project_root(target_root.parent))
    defaults = {cloud: _scaffold_defaults(cloud, source, stacks) for cloud in registry.implemented()}
    plan = scaffold.plan(args.name, source, pipelines.folders()[args.source], target_root, stacks, defaults)
    if args.dry_run:
        print(f"pipeline {args.name}: would scaffold from {args.source} (dry run: nothing written)")
        for path in plan.files:
            print(f"  would write {_shown(path)}")
        return EXIT_OK
    written = plan.write()
    try:
        _check_scaffold(plan)
    except BaseException:
        plan.remove(written)
        raise
    print(f"pipeline {args.name}: scaffolded from {args.source}")
    for path in written:
        print(f"  wrote {_shown(path)}")
    print("next: replace what the REPLACE comment at the top of each file names, then check each step with")
    print(f"  mlops pipeline run {args.name} --local")
    for stack in plan.stacks:
        print(f"  mlops validate --stack {stack} && mlops plan --stack {stack}")
    return EXIT_OK


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _scaffold_defaults(cloud: str, source: Any, stacks: Path) -> Any:
    """Provider keys and gate of a new stack on `cloud`: from a stack of `source` on that cloud, else
    from any stack on it, else the cloud catalog's stand-ins and the gate roc_auc >= 0.75."""
    from infra.config import load_stack_file, stack_files
    from pipelines.scaffold import StackDefaults
    from providers import registry

    required, optional = registry.config_keys(cloud)
    candidates: list[tuple[int, str, dict[str, Any]]] = []
    for name, path in stack_files(stacks).items():
        try:
            config = load_stack_file(path, name).config
        except SpecError:
            continue
        platform = config.get("mlops:platform")
        if config.get("mlops:cloud") != cloud or not isinstance(platform, dict):
            continue
        if not all(isinstance(config.get(key), str) for key in required):
            continue
        same = isinstance(platform.get("pipeline"), dict) and platform["pipeline"].get("name") == source.name
        candidates.append((0 if same else 1, name, config))
    gate = ("roc_auc" if "roc_auc" in source.metrics else source.metrics[0], 0.75)
    if not candidates:
        return StackDefaults(registry.example_config(cloud), gate)
    rank, name, config = min(candidates, key=lambda c: (c[0], c[1]))
    keys = {key: config[key] for key in (*required, *optional) if isinstance(config.get(key), str | int | bool)}
    stack_gate = config["mlops:platform"]["pipeline"].get("quality_gate")
    if rank == 0 and isinstance(stack_gate, dict) and stack_gate.get("metric") in source.metrics:
        gate = (stack_gate["metric"], float(stack_gate.get("threshold", gate[1])))
    return StackDefaults(keys, gate, name)


def _check_scaffold(plan: Any) -> None:
    """The new pipeline loads and validates, and each new stack passes its cloud's rules."""
    import pipelines
    from infra.config import load_stack_file, resolve_file

    pipelines.get_pipeline(plan.name)
    for stack, path in plan.stacks.items():
        resolve_file(load_stack_file(path, stack))


command("pipeline", "pipelines: `run` one locally, `new` scaffolds one, `list` shows them all")(
    (_pipeline_args, _pipeline)
)


# --- doctor -----------------------------------------------------------------------------------


def _doctor_args(parser: argparse.ArgumentParser) -> None:
    del parser  # no options


LOCAL_MODULES = ("pandas", "sklearn", "pandera", "joblib", "numpy", "xgboost")


def _doctor(args: argparse.Namespace) -> int:
    """What this installation can do: Python, each cloud's extra, the local run, the Pulumi CLI."""
    import importlib.util
    import platform
    import shutil

    from providers import registry

    del args
    ok = (3, 11) <= sys.version_info[:2] < (3, 14)
    print(f"mlops-kit {version()}")
    print(f"python     {platform.python_version()} ({sys.executable}): {'ok' if ok else 'needs 3.11 to 3.13'}")
    for cloud in registry.clouds():
        missing = registry.missing_modules(cloud)
        extra = registry.extra(cloud)
        state = (
            "installed" if not missing else f"not installed (missing {', '.join(missing)}): pip install -e '.[{extra}]'"
        )
        print(f"{cloud:<10} {state}")
        hints = registry.first_deploy_hints(cloud)
        if hints:
            print(f"{'':<10} before the first deploy (once per subscription):")
            for hint in hints:
                print(f"{'':<12}{hint}")
        hints = registry.redeploy_hints(cloud)
        if hints:
            print(f"{'':<10} after `pulumi destroy`:")
            for hint in hints:
                print(f"{'':<12}{hint}")
    local_missing = [m for m in LOCAL_MODULES if importlib.util.find_spec(m) is None]
    local = (
        "installed"
        if not local_missing
        else f"not installed (missing {', '.join(local_missing)}): pip install -e '.[local]'"
    )
    print(f"{'local run':<10} {local}  (mlops pipeline run --local)")
    pulumi = shutil.which("pulumi")
    print(
        f"{'pulumi':<10} "
        + (f"CLI at {pulumi}" if pulumi else "CLI not on PATH: needed for pulumi preview/up only, not for mlops plan")
    )
    return EXIT_OK if ok else EXIT_INVALID


command("doctor", "what this installation can do: Python, cloud extras, local run, Pulumi CLI")((_doctor_args, _doctor))


# --- entry point ------------------------------------------------------------------------------


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("mlops-kit")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def _load_extensions() -> None:
    """Modules that add sub-commands (kept out of this file to keep it small)."""
    import importlib

    for module in ("infra.diff_cli", "infra.stack_new", "infra.loop_cli", "infra.ops_cli"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def build_parser() -> argparse.ArgumentParser:
    _load_extensions()
    parser = argparse.ArgumentParser(
        prog="mlops",
        description="One platform description, the whole MLOps loop on AWS, GCP or Azure.",
        epilog="exit status: 0 success, 2 invalid input, 3 dangerous change (diff --fail-on-danger), "
        "4 a local pipeline run failed, 1 a bug",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    subs = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_, (configure, _)) in _COMMANDS.items():
        configure(subs.add_parser(name, help=help_, description=help_))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _, (_, run) = _COMMANDS[args.command]
    os.environ.setdefault("PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION", "true")
    try:
        return run(args)
    except SpecError as exc:
        print(f"mlops: invalid config: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # `python -m infra.cli` runs this file as __main__; extensions register on `infra.cli`, so
    # run that module's main, not this copy's (which would not see their commands).
    from infra import cli as _cli

    sys.exit(_cli.main())
