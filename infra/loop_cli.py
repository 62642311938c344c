"""`mlops loop NAME --local`: the whole MLOps loop on this machine (pipelines/loop.py)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from infra.cli import EXIT_OK, EXIT_RUN_FAILED, MAX_SEED, _parse_gate, _stack_args, command, load_stack
from providers.spec import SpecError

MAX_ROWS = 200_000
MAX_REQUESTS = 100_000


def _args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="a pipeline defined in pipelines/")
    parser.add_argument("--local", action="store_true", required=True, help="run the loop on this machine")
    parser.add_argument("--rows", type=int, default=3000, help="rows of the first training batch (300 to 200,000)")
    parser.add_argument("--requests", type=int, default=400, help="requests per traffic round (10 to 100,000)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--drift",
        action="append",
        default=[],
        metavar="COLUMN=SHIFT",
        help="shift a numeric raw column of the traffic (and of the data the world then produces), "
        "e.g. monthly_charges=30; repeatable",
    )
    parser.add_argument("--gate", metavar="METRIC:THRESHOLD", help="quality gate (default roc_auc:0.7, or --stack's)")
    parser.add_argument(
        "--stop-after", choices=("validate", "train", "register", "serve", "traffic", "drift", "retrain")
    )
    parser.add_argument(
        "--corrupt", metavar="COLUMN", help="break values of a raw column: validation must stop the loop"
    )
    parser.add_argument("--workdir", type=Path, help="where everything goes (default: a new temporary dir, kept)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    _stack_args(parser, required=False)


def _drift(pairs: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for pair in pairs:
        column, sep, shift = pair.partition("=")
        try:
            if not sep or not column.strip():
                raise ValueError
            out[column.strip()] = float(shift)
        except ValueError:
            raise SpecError("--drift", f"must look like COLUMN=SHIFT (e.g. monthly_charges=30), got {pair!r}") from None
    return out


def _options(args: argparse.Namespace):  # -> LoopOptions
    import pipelines
    from pipelines.loop import LoopOptions

    if args.name not in pipelines.available():
        raise SpecError("pipeline", f"unknown pipeline {args.name!r}; defined: {', '.join(pipelines.available())}")
    if not 300 <= args.rows <= MAX_ROWS:
        raise SpecError("--rows", f"must be between 300 and {MAX_ROWS:,}, got {args.rows}")
    if not 10 <= args.requests <= MAX_REQUESTS:
        raise SpecError("--requests", f"must be between 10 and {MAX_REQUESTS:,}, got {args.requests}")
    if not 0 <= args.seed <= MAX_SEED:
        raise SpecError("--seed", f"must be between 0 and {MAX_SEED}, got {args.seed}")
    drift = _drift(args.drift)
    values: dict[str, object] = {}
    if args.stack is not None or args.config_file is not None:
        from infra.config import resolve_file

        if args.gate is not None:
            raise SpecError("--gate", "give --gate or --stack (whose platform has the gate), not both")
        _, deployment = resolve_file(load_stack(args))
        p = deployment.platform
        if p.pipeline.name != args.name:
            raise SpecError(
                "mlops:platform.pipeline.name", f"the stack runs pipeline {p.pipeline.name!r}, not {args.name!r}"
            )
        values = {
            "gate": (p.pipeline.quality_gate.metric, p.pipeline.quality_gate.threshold),
            "drift_threshold": p.monitor.drift_threshold,
            "min_samples": p.monitor.min_samples,
            "approval": p.registry.approval,
            "cooldown_hours": float(p.monitor.retrain_cooldown_hours),
        }
    else:
        values["gate"] = _parse_gate(args.gate or "roc_auc:0.7")
    pipeline = pipelines.get_pipeline(args.name)
    gate = values["gate"]
    assert isinstance(gate, tuple)
    if gate[0] not in pipeline.metrics:
        raise SpecError("--gate", f"unknown metric {gate[0]!r}; {args.name} has {', '.join(pipeline.metrics)}")
    if args.corrupt is not None and not args.corrupt.isidentifier():
        raise SpecError("--corrupt", f"must be a column name, got {args.corrupt!r}")
    if args.workdir is not None and args.workdir.exists() and not args.workdir.is_dir():
        raise SpecError("--workdir", f"{args.workdir} exists and is not a directory")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix=f"mlops-loop-{args.name}-"))
    return LoopOptions(
        pipeline=args.name,
        workdir=workdir,
        rows=args.rows,
        requests=args.requests,
        seed=args.seed,
        drift=drift,
        stop_after=args.stop_after,
        corrupt=args.corrupt,
        **values,  # type: ignore[arg-type]
    )


def summary(result) -> str:  # noqa: ANN001 - a LoopResult
    lines = ["", "versions:"]
    lines += [f"  v{v.version}  {v.status:<9} {v.trigger:<8} {_metric_text(v.metrics)}" for v in result.versions] or [
        "  (none registered)"
    ]
    for number, check in enumerate(result.drift_checks, start=1):
        if check["status"] == "skipped":
            lines.append(f"drift check {number}: skipped ({check['reason']})")
            continue
        lines.append(f"drift check {number} (version {check['version']}, {check['n_current']} requests):")
        for name, found in check["features"].items():
            mark = "DRIFT" if found["drifted"] else "ok"
            lines.append(f"  {name:<28} {found['statistic']:<5} {found['value']:.3f}  {mark}")
    lines.append("retraining:")
    lines += [
        f"  round {r['round']}: {'started' if r['started'] else 'not started'} - {r['why']}" for r in result.retrainings
    ] or ["  none"]
    if result.stopped:
        lines.append(f"stopped: {result.stopped}")
    lines.append(f"report: {result.report}")
    return "\n".join(lines) + "\n"


def _metric_text(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.3f}" for k, v in sorted(metrics.items()))


def _run(args: argparse.Namespace) -> int:
    from pipelines.loop import run_loop

    options = _options(args)
    try:
        from tqdm import tqdm

        bar = lambda **kw: tqdm(file=sys.stderr, leave=False, **kw)  # noqa: E731
    except ImportError:  # pragma: no cover - tqdm comes with the local extra
        bar = None
    print(f"mlops loop {options.pipeline}: everything under {options.workdir}", file=sys.stderr)
    try:
        result = run_loop(options, say=lambda line: print(line, file=sys.stderr, flush=True), bar=bar)
    except ValueError as exc:
        raise SpecError("--drift" if "shift" in str(exc) else "pipeline", str(exc)) from None
    if args.format == "json":
        sys.stdout.write(json.dumps(result.to_json(), indent=2, default=str) + "\n")
    else:
        sys.stdout.write(summary(result))
    return EXIT_RUN_FAILED if result.stopped else EXIT_OK


command("loop", "run the whole loop on this machine: train, register, serve, traffic, drift, retrain")((_args, _run))
