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


def _stack_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--stack", "-s", help="stack name: reads Pulumi.<stack>.yaml in the current directory")
    group.add_argument("--config-file", type=Path, help="a file in the Pulumi.<stack>.yaml format")
    parser.add_argument("--stack-name", help="stack name to use with --config-file (default: from the file name)")


def load_stack(args: argparse.Namespace):  # -> StackFile
    from infra.config import find_stack_file, load_stack_file

    if args.config_file is not None:
        return load_stack_file(args.config_file, args.stack_name or None)
    return load_stack_file(find_stack_file(args.stack), args.stack)


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


def _short(urn: str | None) -> str:
    """A parent's capability: `...::mlops:aws:Foundation::churn-dev` -> `Foundation`."""
    if not urn:
        return ""
    qualified = urn.split("::")[-2]
    return qualified.rsplit("$", 1)[-1].rsplit(":", 1)[-1]


def render_table(plan: Any) -> str:
    rows = [(r.type, r.name, _short(r.parent), "protected" if r.protect else "") for r in plan.resources]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(("TYPE", "NAME", "PARENT", ""))]
    lines = [f"stack {plan.stack} ({plan.cloud}): {len(rows)} resources, offline plan under Pulumi mocks", ""]
    header = ("TYPE", "NAME", "PARENT", "")
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    lines.append("")
    lines.append("outputs:")
    for key, value in plan.outputs.items():
        shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        lines.append(f"  {key}: {shown}")
    return "\n".join(lines) + "\n"


def _plan(args: argparse.Namespace) -> int:
    from infra.plan import plan

    stack_file = load_stack(args)
    result = plan(stack_file)
    text = (
        json.dumps(result.to_json(), indent=2, sort_keys=False) + "\n"
        if args.format == "json"
        else render_table(result)
    )
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output} ({len(result.resources)} resources)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


command("plan", "show every resource the Pulumi program declares, offline, under mocks")((_plan_args, _plan))


# --- pipeline run -----------------------------------------------------------------------------


def _pipeline_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("run",))
    parser.add_argument("name", help="a pipeline defined in pipelines/")
    parser.add_argument("--local", action="store_true", required=True, help="run every step on this machine")
    parser.add_argument(
        "--rows", type=int, default=2000, help=f"rows of generated data, 100 to {MAX_ROWS:,} (default 2000)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, help="where step outputs go (default: a temporary dir)")
    parser.add_argument(
        "--gate",
        metavar="METRIC>=THRESHOLD",
        default="roc_auc>=0.75",
        help="quality gate to apply (default roc_auc>=0.75)",
    )


def _parse_gate(text: str) -> tuple[str, float]:
    import math

    metric, sep, threshold = text.partition(">=")
    try:
        if not sep:
            raise ValueError
        value = float(threshold)
    except ValueError:
        raise SpecError("--gate", f"must look like roc_auc>=0.75, got {text!r}") from None
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise SpecError("--gate", f"threshold must be between 0 and 1, got {threshold.strip()!r}")
    return metric.strip(), value


def _pipeline(args: argparse.Namespace) -> int:
    import pipelines
    from pipelines.local import StepFailedError, check_gate, run_local

    if args.name not in pipelines.available():
        raise SpecError("pipeline", f"unknown pipeline {args.name!r}; defined: {', '.join(pipelines.available())}")
    if not 100 <= args.rows <= MAX_ROWS:
        raise SpecError("--rows", f"must be between 100 and {MAX_ROWS:,}, got {args.rows}")
    gate = _parse_gate(args.gate)
    try:
        check_gate(pipelines.get_pipeline(args.name), gate)
    except ValueError as exc:
        raise SpecError("--gate", str(exc)) from None
    if args.workdir is not None and args.workdir.exists() and not args.workdir.is_dir():
        raise SpecError("--workdir", f"{args.workdir} exists and is not a directory")
    if args.workdir is not None:
        try:
            args.workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpecError("--workdir", f"cannot create {args.workdir}: {exc.strerror}") from None
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"mlops-{args.name}-"))
    started: dict[str, float] = {}

    def progress(event: str, step: str) -> None:
        import time

        if event == "start":
            started[step] = time.monotonic()
            print(f"  > {step} ...", flush=True)
        else:
            print(f"  ✓ {step} ({time.monotonic() - started.get(step, time.monotonic()):.1f}s)", flush=True)

    print(f"pipeline {args.name}: local run of every step in {workdir}")
    try:
        result = run_local(args.name, workdir, rows=args.rows, seed=args.seed, quality_gate=gate, on_event=progress)
    except StepFailedError as exc:
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
    print(f"model: {result.model_path}")
    return EXIT_OK


command("pipeline", "run a cloud-neutral pipeline's step code locally")((_pipeline_args, _pipeline))


# --- entry point ------------------------------------------------------------------------------


def _load_extensions() -> None:
    """Modules that add sub-commands (kept out of this file to keep it small)."""
    import importlib

    for module in ("infra.diff_cli", "infra.stack_new"):
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
    )
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
