"""Day two on a deployed stack, the same commands on every cloud (`providers/operations.py`):

    mlops model list    --stack NAME                       registry versions, status, metrics, traffic
    mlops model approve VERSION --stack NAME
    mlops model reject  VERSION --stack NAME [--reason TEXT]
    mlops model promote VERSION --stack NAME --to STACK    copy into STACK's registry, set its model_version
    mlops run  --stack NAME [--wait]                       start the training pipeline
    mlops runs --stack NAME [--limit N]                    recent runs: status, trigger, duration
    mlops invoke --stack NAME --data FILE                  one prediction, the request schema checked first
    mlops drift --stack NAME                               latest drift per feature, alert state, last retraining

Every command reads the stack's outputs from `pulumi stack output --json --stack NAME` (the Pulumi
CLI on PATH) or from `--outputs FILE` holding that JSON, prints a table or `--format json`, and
exits 0, 2 (bad input or a refusal of the cloud, one line) or 4 (`mlops run --wait`: the run failed).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from infra.cli import EXIT_INVALID, EXIT_OK, EXIT_RUN_FAILED, command
from providers.operations import (
    DriftReport,
    ModelVersion,
    OperationError,
    Operations,
    Run,
    check_request,
    load_outputs,
    promotion_tag,
    read_records,
)
from providers.spec import SpecError

POLL_SECONDS = 15.0
MAX_RUNS = 100


# ---- shared plumbing ---------------------------------------------------------------------------------


def _stack_options(parser: argparse.ArgumentParser, formats: bool = True) -> None:
    parser.add_argument("--stack", "-s", required=True, help="the deployed stack (name or org/project/stack)")
    parser.add_argument(
        "--outputs",
        type=Path,
        metavar="FILE",
        help="the stack's outputs as JSON (`pulumi stack output --json --stack NAME`); needed when the "
        "Pulumi CLI is not on PATH",
    )
    if formats:
        parser.add_argument("--format", choices=("table", "json"), default="table")


def _project_root() -> Path:
    from infra.config import project_root

    return project_root()


def stack_config(stack: str, required: bool = False) -> tuple[dict[str, Any], Path | None]:
    """The flat config of `Pulumi.<stack>.yaml` and its path ({}, None when there is no such file)."""
    from infra.config import find_stack_file, load_stack_file

    try:
        path = find_stack_file(stack)
    except SpecError:
        if required:
            raise
        return {}, None
    return dict(load_stack_file(path, stack.split("/")[-1]).config), path


def operations_for(
    stack: str, outputs_file: Path | None, option: str = "--outputs", cloud: str | None = None
) -> Operations:
    """The operations of `stack` on its cloud; with `cloud`, a stack on another cloud is refused
    before that cloud's code is imported."""
    from providers import registry

    outputs = load_outputs(stack, outputs_file, cwd=_project_root(), option=option)
    if outputs.cloud not in registry.clouds():
        raise OperationError(f"{outputs.source}: cloud {outputs.cloud!r} is not one of {', '.join(registry.clouds())}")
    if cloud is not None and outputs.cloud != cloud:
        raise OperationError(
            f"--to: stack {stack} is on {outputs.cloud} and the version's stack on {cloud}: promote copies a "
            "version within one cloud (move the platform with `mlops stack new` and train there)"
        )
    config, _ = stack_config(stack)
    return registry.operations(outputs.cloud, key=f"{option} cloud")(outputs=outputs, config=config)


def _one_line(exc: BaseException) -> str | None:
    """An SDK error of any cloud loaded in this process, in one line (None: not one: a bug)."""
    for cls in Operations.__subclasses__():
        line = cls.describe_error(exc)
        if line:
            return line.splitlines()[0] if line.strip() else None
    return None


def guarded(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """User errors and cloud refusals: one line on stderr, exit 2. Anything else propagates (a bug)."""

    def wrapper(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except OperationError as exc:
            print(f"mlops: {exc}", file=sys.stderr)
            return EXIT_INVALID
        except SpecError:
            raise  # the CLI's own one-line handler
        except Exception as exc:
            line = _one_line(exc)
            if line is None:
                raise
            print(f"mlops: {line}", file=sys.stderr)
            return EXIT_INVALID

    return wrapper


def _version(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise OperationError(f"VERSION must be a registry version number (1, 2, ...), got {text!r}")
    return int(text)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[("-" if c is None else str(c)) for c in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines) + "\n"


def _emit(args: argparse.Namespace, doc: dict[str, Any], text: str) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n" if args.format == "json" else text)


def _metrics_text(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in sorted(metrics.items())) or "-"


def _version_json(v: ModelVersion) -> dict[str, Any]:
    return asdict(v)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _runs_rows(runs: Sequence[Run]) -> list[list[Any]]:
    """The last segment of each run's id (the full id is in --format json)."""
    return [
        [r.id.rstrip("/").rsplit("/", 1)[-1], r.status, r.trigger, r.started, _duration(r.duration_s)] for r in runs
    ]


# ---- mlops model ---------------------------------------------------------------------------------------


def _model_args(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="registry versions: status, gate metrics, created, traffic share")
    _stack_options(listing)
    for name, help_ in (("approve", "approve a version for deployment"), ("reject", "reject a version")):
        sub = actions.add_parser(name, help=help_)
        sub.add_argument("version", metavar="VERSION")
        _stack_options(sub)
        if name == "reject":
            sub.add_argument("--reason", default="", help="why (recorded in the registry)")
    promote = actions.add_parser(
        "promote",
        help="copy an approved version into another stack's registry and set that stack's endpoint.model_version",
    )
    promote.add_argument("version", metavar="VERSION")
    _stack_options(promote)
    promote.add_argument("--to", required=True, metavar="STACK", help="the stack to promote to (same cloud)")
    promote.add_argument(
        "--to-outputs", type=Path, metavar="FILE", help="the target stack's outputs as JSON (without the Pulumi CLI)"
    )


@guarded
def _model(args: argparse.Namespace) -> int:
    if args.action == "list":
        return _model_list(args)
    if args.action in ("approve", "reject"):
        return _model_status(args)
    return _model_promote(args)


def _model_list(args: argparse.Namespace) -> int:
    ops = operations_for(args.stack, args.outputs)
    versions = ops.versions()
    endpoint = ops.outputs.get("endpoint")
    served = [f"version {v.version} ({v.traffic}%)" for v in versions if v.traffic]
    head = [
        f"stack {ops.stack} ({ops.cloud}): registry {ops.registry_id} (approval: {ops.approval})",
        f"endpoint {endpoint}: serves {', '.join(served) or 'no version of this registry'}"
        if endpoint
        else f"endpoint: none ({ops.outputs.get('serving') or 'nothing served'})",
    ]
    rows = [
        [v.version, v.status, f"{v.traffic}%" if v.traffic is not None else None, v.created, v.trigger]
        + [_metrics_text(v.metrics), v.note or None]
        for v in versions
    ]
    text = "\n".join(head) + "\n\n"
    text += table(["VERSION", "STATUS", "TRAFFIC", "CREATED", "TRIGGER", "METRICS", "NOTE"], rows) if rows else ""
    if not rows:
        text += "no version registered yet: the training pipeline registers one when it passes the quality gate\n"
    doc = {
        "stack": ops.stack,
        "cloud": ops.cloud,
        "registry": ops.registry_id,
        "approval": ops.approval,
        "endpoint": endpoint,
        "versions": [_version_json(v) for v in versions],
    }
    _emit(args, doc, text)
    return EXIT_OK


def _model_status(args: argparse.Namespace) -> int:
    number = _version(args.version)
    status = "approved" if args.action == "approve" else "rejected"
    ops = operations_for(args.stack, args.outputs)
    before = ops.version(number)
    after = before if before.status == status else ops.set_status(number, status, getattr(args, "reason", ""))
    verb = "already " + status if before.status == status else f"{status} (was {before.status})"
    text = f"stack {ops.stack}: version {number} {verb}: {after.id}\n"
    if status == "rejected" and after.traffic:
        print(
            f"mlops: warning: version {number} still takes {after.traffic}% of the traffic of "
            f"{ops.outputs.get('endpoint')} until endpoint.model_version names another version",
            file=sys.stderr,
        )
    _emit(args, {"stack": ops.stack, "before": before.status, "version": _version_json(after)}, text)
    return EXIT_OK


def _model_promote(args: argparse.Namespace) -> int:
    from infra.config import load_stack_file, resolve_file
    from infra.promote import set_model_version

    number = _version(args.version)
    if args.to.split("/")[-1] == args.stack.split("/")[-1]:
        raise OperationError(f"--to: {args.to} is the stack the version comes from")
    _, target_file = stack_config(args.to, required=True)
    assert target_file is not None
    source = operations_for(args.stack, args.outputs)
    target = operations_for(args.to, args.to_outputs, option="--to-outputs", cloud=source.cloud)
    where = str(target_file)
    text = target_file.read_text(encoding="utf-8")
    old = load_stack_file(target_file, args.to.split("/")[-1]).config
    platform = old.get("mlops:platform") or old.get("platform") or {}
    old_version = (platform.get("endpoint") or {}).get("model_version")
    source.require_approved(number)  # refused before anything is copied
    _check_rewrite(text, args.to, number, args.stack, where, set_model_version, resolve_file, load_stack_file)

    promotion = source.promote(number, target, args.stack)
    comment = f"promoted from {args.stack} version {number} ({promotion.source_id}) by mlops model promote"
    new_text = set_model_version(
        text, promotion.target_version, comment, promotion_tag(promotion.target_version, args.stack), where
    )
    target_file.write_text(new_text, encoding="utf-8")
    change = (
        f"model version {old_version} -> {promotion.target_version}"
        if old_version is not None
        else f"start serving model version {promotion.target_version}"
    )
    lines = [f"promoted {args.stack} version {number} to {args.to}:"]
    lines += [f"  {step}" for step in promotion.steps]
    lines.append(f"  set endpoint.model_version: {promotion.target_version} in {where} (comments kept)")
    if promotion.target_status != "approved":
        lines.append(
            f"  version {promotion.target_version} is {promotion.target_status} in {args.to}'s registry "
            f"(registry.approval: manual there): mlops model approve {promotion.target_version} --stack {args.to}"
        )
    lines.append(
        f"next: open a pull request with {target_file.name}; `mlops diff` shows: {change} (promoted from {args.stack})"
    )
    doc = {
        "source": {"stack": args.stack, "version": number, "id": promotion.source_id},
        "target": {
            "stack": args.to,
            "version": promotion.target_version,
            "id": promotion.target_id,
            "status": promotion.target_status,
            "copied": promotion.copied,
            "previous_model_version": old_version,
        },
        "stack_file": where,
        "steps": list(promotion.steps),
    }
    _emit(args, doc, "\n".join(lines) + "\n")
    return EXIT_OK


def _check_rewrite(
    text: str,
    stack: str,
    number: int,
    source_stack: str,
    where: str,
    rewrite: Callable[..., str],
    resolve_file: Callable[..., Any],
    load_stack_file: Callable[..., Any],
) -> None:
    """The target file, rewritten as it will be, must still be a valid stack: checked before any copy."""
    candidate = rewrite(text, number, "check", promotion_tag(number, source_stack), where)
    name = stack.split("/")[-1]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"Pulumi.{name}.yaml"
        path.write_text(candidate, encoding="utf-8")
        try:
            resolve_file(load_stack_file(path, name))
        except SpecError as exc:
            raise OperationError(f"{where} would not be valid with model_version {number}: {exc}") from None


command("model", "the model registry of a deployed stack: list, approve, reject, promote")((_model_args, _model))


# ---- mlops run / runs ------------------------------------------------------------------------------------


def _run_args(parser: argparse.ArgumentParser) -> None:
    _stack_options(parser)
    parser.add_argument(
        "--wait", action="store_true", help=f"wait for the run to end (exit {EXIT_RUN_FAILED} if it fails)"
    )
    parser.add_argument("--timeout", type=float, default=180.0, metavar="MINUTES", help="with --wait (default 180)")


@guarded
def _run(args: argparse.Namespace) -> int:
    if not 0 < args.timeout <= 7 * 24 * 60:
        raise OperationError(f"--timeout must be between 0 and {7 * 24 * 60} minutes, got {args.timeout:g}")
    ops = operations_for(args.stack, args.outputs)
    run = ops.start_run()
    print(f"stack {ops.stack}: started run {run.id} ({run.status})", file=sys.stderr)
    if args.wait:
        deadline = time.monotonic() + args.timeout * 60
        last = run.status
        while run.status == "running" and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
            run = ops.run(run.id)
            if run.status != last:
                print(f"  {run.status} ({run.detail})", file=sys.stderr)
                last = run.status
    rows = _runs_rows([run])
    _emit(
        args,
        {"stack": ops.stack, "run": run.to_json()},
        table(["RUN", "STATUS", "TRIGGER", "STARTED", "DURATION"], rows),
    )
    if args.wait and run.status == "running":
        print(f"mlops: run {run.id} still running after {args.timeout:g} minutes", file=sys.stderr)
        return EXIT_RUN_FAILED
    if args.wait and run.status != "succeeded":
        print(f"mlops: run {run.id} ended {run.status}: {run.detail}", file=sys.stderr)
        return EXIT_RUN_FAILED
    return EXIT_OK


def _runs_args(parser: argparse.ArgumentParser) -> None:
    _stack_options(parser)
    parser.add_argument("--limit", type=int, default=10, help=f"how many (1 to {MAX_RUNS}, default 10)")


@guarded
def _runs(args: argparse.Namespace) -> int:
    if not 1 <= args.limit <= MAX_RUNS:
        raise OperationError(f"--limit must be between 1 and {MAX_RUNS}, got {args.limit}")
    ops = operations_for(args.stack, args.outputs)
    runs = ops.runs(args.limit)
    text = f"stack {ops.stack} ({ops.cloud}): training pipeline {ops.outputs.get('training_pipeline')}\n\n"
    text += table(["RUN", "STATUS", "TRIGGER", "STARTED", "DURATION"], _runs_rows(runs)) if runs else "no run yet\n"
    _emit(args, {"stack": ops.stack, "runs": [r.to_json() for r in runs]}, text)
    return EXIT_OK


command("run", "start the training pipeline of a deployed stack")((_run_args, _run))
command("runs", "recent training runs of a deployed stack: status, trigger, duration")((_runs_args, _runs))


# ---- mlops invoke ------------------------------------------------------------------------------------


def _invoke_args(parser: argparse.ArgumentParser) -> None:
    _stack_options(parser)
    parser.add_argument("--data", type=Path, required=True, metavar="FILE", help="request records (.json or .csv)")


def request_columns(config: dict[str, Any], stack: str) -> tuple[Any, ...]:
    """The request schema of the stack's pipeline (its data contract)."""
    import pipelines
    from providers.spec import parse_platform

    raw = config.get("mlops:platform") or config.get("platform")
    platform = parse_platform(raw)
    try:
        pipeline = pipelines.get_pipeline(platform.pipeline.name)
    except pipelines.UnknownPipelineError as exc:
        raise SpecError("mlops:platform.pipeline.name", str(exc)) from None
    return tuple(pipeline.contract.request)


@guarded
def _invoke(args: argparse.Namespace) -> int:
    records = read_records(args.data)
    config, _ = stack_config(args.stack, required=True)
    checked = check_request(records, request_columns(config, args.stack))
    ops = operations_for(args.stack, args.outputs)
    ops.outputs.endpoint()  # no endpoint: one line, exit 2, before any client is built
    prediction = ops.invoke(checked)
    text = f"{prediction.endpoint}:\n{json.dumps(prediction.output, indent=2, default=str)}\n"
    _emit(
        args,
        {"stack": ops.stack, "endpoint": prediction.endpoint, "records": len(checked), "output": prediction.output},
        text,
    )
    return EXIT_OK


command("invoke", "one prediction from a deployed stack's endpoint, the request checked against its schema")(
    (_invoke_args, _invoke)
)


# ---- mlops drift ---------------------------------------------------------------------------------------


def _drift_args(parser: argparse.ArgumentParser) -> None:
    _stack_options(parser)


def drift_text(ops: Operations, report: DriftReport) -> str:
    lines = [
        f"stack {ops.stack} ({ops.cloud}): drift of the requests to {ops.outputs.get('endpoint')}",
        f"latest result: {report.checked or 'none yet'}"
        + (f", threshold {report.threshold:g}" if report.threshold is not None else ""),
        "",
    ]
    if report.features:
        rows = [
            [
                f.feature,
                "-" if f.value is None else f"{f.value:.3f}",
                {True: "DRIFT", False: "ok", None: "-"}[f.drifted],
            ]
            for f in report.features
        ]
        lines.append(table(["FEATURE", "DISTANCE", "STATE"], rows))
    lines.append("alerts:")
    lines += [f"  {a.state:<18} since {a.since or '-'}  {a.id}" for a in report.alerts] or ["  none declared"]
    last = report.last_retraining
    lines.append(
        "last retraining started by drift: "
        + (f"{last.id} ({last.status}, started {last.started}, {_duration(last.duration_s)})" if last else "none")
    )
    lines += [f"note: {n}" for n in report.notes]
    return "\n".join(lines) + "\n"


@guarded
def _drift(args: argparse.Namespace) -> int:
    ops = operations_for(args.stack, args.outputs)
    ops.outputs.endpoint()
    report = ops.drift()
    _emit(args, {"stack": ops.stack, "cloud": ops.cloud, **report.to_json()}, drift_text(ops, report))
    return EXIT_OK


command("drift", "latest drift result per feature, alert state and last retraining of a deployed stack")(
    (_drift_args, _drift)
)
