"""Run a pipeline on this machine, one subprocess per step.

Each step runs as ``sys.executable`` + the exact argv from
``PipelineDef.command`` with the steps dir as working directory - the same
command line the clouds run - so a green local run tests the cloud contract,
including that the scripts work without the ``pipelines`` package.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pipelines import get_pipeline, write_sample_data
from pipelines.package import bundle
from pipelines.spec import OutputRef, ParamRef, PipelineDef, parse_source

STDERR_TAIL_LINES = 20


class LocalRunError(RuntimeError):
    """Base class for local run failures."""


class StepFailedError(LocalRunError):
    """A step script exited non-zero; carries the tail of its stderr."""

    def __init__(self, step: str, returncode: int, stderr_tail: str) -> None:
        self.step = step
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        super().__init__(f"step {step!r} failed with exit code {returncode}:\n{stderr_tail}")


@dataclass
class StepResult:
    name: str
    seconds: float
    outputs: dict[str, Path]


@dataclass
class LocalRunResult:
    pipeline: str
    steps: list[StepResult]
    metrics: dict[str, float]
    gate_metric: str | None
    gate_threshold: float | None
    gate_passed: bool | None
    model_path: Path  # the model output directory (holds the framework's model file)
    workdir: Path
    outputs: dict[str, dict[str, Path]] = field(default_factory=dict)
    """Each step's output directories, by step and output name."""


def check_gate(pipeline: PipelineDef, quality_gate: tuple[str, float] | None) -> None:
    """Reject an unknown gate metric before spending time on a run."""
    if quality_gate is not None and quality_gate[0] not in pipeline.metrics:
        raise ValueError(
            f"unknown quality gate metric {quality_gate[0]!r} for pipeline "
            f"{pipeline.name!r}; available: {', '.join(pipeline.metrics)}"
        )


def run_local(
    name: str,
    workdir: Path,
    *,
    rows: int = 2000,
    seed: int = 7,
    quality_gate: tuple[str, float] | None = None,
    on_event: Callable[[str, str], None] | None = None,
    params: Mapping[str, str] | None = None,
) -> LocalRunResult:
    """Generate data, run every step, read the metrics and apply the gate.

    ``seed`` seeds the synthetic data; ``params`` overrides pipeline params
    (``input_data`` is always the generated data dir). ``on_event`` receives
    ``("start" | "done", step_name)``. Raises ``StepFailedError`` if a step fails.
    The feature store is a fresh local one under ``workdir/feature_store``.
    """
    pipeline = get_pipeline(name)
    check_gate(pipeline, quality_gate)
    workdir = Path(workdir).resolve()
    raw_dir = workdir / "data" / "raw"
    shutil.rmtree(raw_dir, ignore_errors=True)
    write_sample_data(name, raw_dir, rows=rows, seed=seed)
    store = workdir / "feature_store"
    shutil.rmtree(store, ignore_errors=True)
    return run_pipeline(pipeline, workdir, raw_dir, store, quality_gate=quality_gate, on_event=on_event, params=params)


def run_pipeline(
    pipeline: PipelineDef,
    workdir: Path,
    raw_dir: Path,
    store: Path,
    *,
    quality_gate: tuple[str, float] | None = None,
    on_event: Callable[[str, str], None] | None = None,
    params: Mapping[str, str] | None = None,
) -> LocalRunResult:
    """Run every step of `pipeline` on the raw batches in `raw_dir`, with the local feature store
    (and capture, drift results) under `store`: the clouds' code bundle, built into
    ``workdir/code``, with the local step I/O as its ``mlops_io.py``."""
    workdir = Path(workdir).resolve()
    produced, results = run_steps(pipeline, workdir, raw_dir, store, on_event=on_event, params=params)
    metrics = _read_metrics(pipeline, produced[pipeline.metrics_step][pipeline.metrics_output])
    gate_metric = gate_threshold = gate_passed = None
    if quality_gate is not None:
        gate_metric, gate_threshold = quality_gate[0], float(quality_gate[1])
        gate_passed = metrics[gate_metric] >= gate_threshold
    return LocalRunResult(
        pipeline=pipeline.name,
        steps=results,
        metrics=metrics,
        gate_metric=gate_metric,
        gate_threshold=gate_threshold,
        gate_passed=gate_passed,
        model_path=produced[pipeline.model_step][pipeline.model_output],
        workdir=workdir,
        outputs=produced,
    )


def step_env(store: Path) -> dict[str, str]:
    """The environment a step runs with on this machine: the local step I/O rooted at `store`."""
    env = {**os.environ, "MLOPS_IO": json.dumps({"kind": "local", "root": str(Path(store).resolve())})}
    env.pop("MLOPS_CONTRACT", None)
    return env


def run_steps(
    pipeline: PipelineDef,
    workdir: Path,
    raw_dir: Path,
    store: Path,
    *,
    until: str | None = None,
    on_event: Callable[[str, str], None] | None = None,
    params: Mapping[str, str] | None = None,
) -> tuple[dict[str, dict[str, Path]], list[StepResult]]:
    """Run the steps in order (up to and including `until`) from the code bundle in ``workdir/code``;
    returns each step's output directories and timings. Raises StepFailedError."""
    workdir = Path(workdir).resolve()
    values = {**pipeline.param_defaults(), **(params or {}), "input_data": str(raw_dir)}
    code_dir = workdir / "code"
    shutil.rmtree(code_dir, ignore_errors=True)
    bundle(pipeline).write(code_dir)
    env = step_env(store)

    # Clear every step's outputs first: stale files from an earlier run would be read as part of
    # a folder's tables, or pass for results of a run that failed early.
    for step in pipeline.steps:
        for out in step.outputs:
            shutil.rmtree(workdir / step.name / out, ignore_errors=True)

    produced: dict[str, dict[str, Path]] = {}
    results: list[StepResult] = []
    for step in pipeline.steps:
        outputs = {out: workdir / step.name / out for out in step.outputs}
        paths = {inp: str(_resolve(src, produced, values)) for inp, src in step.inputs.items()}
        paths.update({out: str(path) for out, path in outputs.items()})
        argv = pipeline.command(step.name, paths, values)
        argv[0] = sys.executable

        _emit(on_event, "start", step.name)
        started = time.perf_counter()
        proc = subprocess.run(argv, cwd=code_dir, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-STDERR_TAIL_LINES:])
            raise StepFailedError(step.name, proc.returncode, tail)
        results.append(StepResult(step.name, time.perf_counter() - started, outputs))
        produced[step.name] = outputs
        _emit(on_event, "done", step.name)
        if step.name == until:
            break
    return produced, results


def _resolve(source: str, produced: Mapping[str, Mapping[str, Path]], values: Mapping[str, str]):
    ref = parse_source(source)
    if isinstance(ref, ParamRef):
        return values[ref.name]
    if isinstance(ref, OutputRef):
        return produced[ref.step][ref.output]
    raise ValueError(f"input source {source!r} is neither a param nor a step output")


def _read_metrics(pipeline: PipelineDef, metrics_dir: Path) -> dict[str, float]:
    path = metrics_dir / pipeline.metrics_file
    if not path.is_file():
        raise LocalRunError(f"step {pipeline.metrics_step!r} wrote no {pipeline.metrics_file}")
    metrics = json.loads(path.read_text()).get("metrics", {})
    missing = [m for m in pipeline.metrics if m not in metrics]
    if missing:
        raise LocalRunError(f"{path} lacks metrics: {', '.join(missing)}")
    return {k: float(v) for k, v in metrics.items()}


def _emit(on_event: Callable[[str, str], None] | None, event: str, step: str) -> None:
    if on_event is not None:
        on_event(event, step)
