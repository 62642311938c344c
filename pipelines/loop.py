"""The whole MLOps loop on this machine, with the step code the clouds run.

validate -> features (into a local feature store) -> training set (point-in-time) -> train ->
evaluate -> quality gate -> register (a local registry with versions and approval) -> serve the
approved version on loopback (the serving code every cloud runs) -> generated traffic, captured ->
the drift check (the kit's drift step) -> on drift, retrain on the newest data and register a new
version: once per drift episode (a second alert within the cooldown starts nothing).

Everything lives under one work directory: ``data/raw`` (the raw batches), ``feature_store``
(offline store, captured requests, drift results), ``registry`` (versions), ``runs/<n>`` (each
pipeline run's step outputs), ``traffic/<n>`` and ``drift/<n>``, and ``report.html``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from pipelines import get_pipeline, write_sample_data
from pipelines.kit import STORE_STEP
from pipelines.local import LocalRunResult, StepFailedError, run_pipeline, run_steps, step_env
from pipelines.spec import OutputRef, PipelineDef, parse_source

BATCH_START = "2024-01-01"
TRAFFIC_CHUNK = 25


@dataclass(frozen=True)
class LoopOptions:
    pipeline: str
    workdir: Path
    rows: int = 3000
    requests: int = 400
    seed: int = 7
    drift: Mapping[str, float] = field(default_factory=dict)
    """Numeric raw columns to shift in the traffic (and in the data the world then produces)."""
    gate: tuple[str, float] = ("roc_auc", 0.7)
    drift_threshold: float = 0.2
    min_samples: int = 100
    approval: str = "auto"
    """auto: a version passing the gate is approved at registration; manual: it waits, and the loop
    approves it as the local operator (said so in the registry) before serving it."""
    cooldown_hours: float = 24.0
    stop_after: str | None = None
    """validate | train | register | serve | traffic | drift | retrain: where the loop ends (each stage
    includes the ones before it; `mlops loop --stop-after` lists the same choices)."""
    corrupt: str | None = None
    """A raw column whose values are broken in the first batch: validation must stop the loop."""


@dataclass
class Version:
    version: int
    status: str  # pending | approved | rejected
    trigger: str  # initial | drift
    metrics: dict[str, float]
    created: str
    approved_by: str = ""
    path: str = ""


@dataclass
class LoopResult:
    workdir: Path
    stages: list[str] = field(default_factory=list)
    versions: list[Version] = field(default_factory=list)
    drift_checks: list[dict[str, Any]] = field(default_factory=list)
    retrainings: list[dict[str, Any]] = field(default_factory=list)
    traffic: list[dict[str, int]] = field(default_factory=list)
    stopped: str = ""
    report: Path | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["workdir"] = str(self.workdir)
        out["report"] = str(self.report) if self.report else None
        return out


# ---- the local registry ----------------------------------------------------------------------
class LocalRegistry:
    """Versions of one model under ``<root>/<n>/`` (the model folder) with ``version.json``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def versions(self) -> list[Version]:
        found = sorted(self.root.glob("*/version.json"), key=lambda p: int(p.parent.name))
        return [Version(**json.loads(p.read_text(encoding="utf-8"))) for p in found]

    def register(self, model_dir: Path, metrics: Mapping[str, float], trigger: str, approval: str) -> Version:
        number = max((v.version for v in self.versions()), default=0) + 1
        folder = self.root / str(number)
        shutil.copytree(model_dir, folder / "model")
        status = "approved" if approval == "auto" else "pending"
        version = Version(
            version=number,
            status=status,
            trigger=trigger,
            metrics=dict(metrics),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            approved_by="registration (approval: auto)" if status == "approved" else "",
            path=str(folder / "model"),
        )
        self._save(version)
        return version

    def approve(self, number: int, by: str) -> Version:
        version = next(v for v in self.versions() if v.version == number)
        version.status, version.approved_by = "approved", by
        self._save(version)
        return version

    def latest_approved(self) -> Version | None:
        approved = [v for v in self.versions() if v.status == "approved"]
        return approved[-1] if approved else None

    def _save(self, version: Version) -> None:
        (self.root / str(version.version) / "version.json").write_text(
            json.dumps(asdict(version), indent=2) + "\n", encoding="utf-8"
        )


# ---- one retraining per drift episode ---------------------------------------------------------
class RetrainGuard:
    """The rule every cloud's retrain wiring applies: no second drift-started run while one is in
    flight, and none within the cooldown of the last one. State in ``<root>/retrain.json``."""

    def __init__(self, root: Path, cooldown: timedelta) -> None:
        self.path = root / "retrain.json"
        self.cooldown = cooldown
        root.mkdir(parents=True, exist_ok=True)

    def _state(self) -> dict[str, Any]:
        return json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else {}

    def decide(self, now: datetime) -> tuple[bool, str]:
        state = self._state()
        if state.get("running"):
            return False, f"a drift-started retraining is in flight (since {state['started']})"
        if state.get("started"):
            until = datetime.fromisoformat(state["started"]) + self.cooldown
            if now < until:
                return (
                    False,
                    f"within the cooldown of the last retraining (until {until.isoformat(timespec='seconds')})",
                )
        return True, "drift above the threshold"

    def start(self, now: datetime) -> None:
        self.path.write_text(json.dumps({"running": True, "started": now.isoformat()}) + "\n", encoding="utf-8")

    def finish(self) -> None:
        state = self._state()
        state["running"] = False
        self.path.write_text(json.dumps(state) + "\n", encoding="utf-8")


# ---- the loop ----------------------------------------------------------------------------------
Progress = Callable[[str], None]


def run_loop(options: LoopOptions, say: Progress = print, bar: Callable[..., Any] | None = None) -> LoopResult:
    """Run the loop; `say` gets one line per stage, `bar(total=..., desc=...)` makes a progress bar
    (tqdm's signature) for the traffic."""
    pipeline = get_pipeline(options.pipeline)
    if options.gate[0] not in pipeline.metrics:
        raise ValueError(f"gate metric {options.gate[0]!r} is not one of {', '.join(pipeline.metrics)}")
    work = Path(options.workdir).resolve()
    for folder in ("data", "feature_store", "registry", "runs", "traffic", "drift"):
        shutil.rmtree(work / folder, ignore_errors=True)
    raw, store = work / "data" / "raw", work / "feature_store"
    registry = LocalRegistry(work / "registry")
    guard = RetrainGuard(work / "feature_store" / "guard", timedelta(hours=options.cooldown_hours))
    result = LoopResult(workdir=work)

    def done(stage: str) -> bool:
        result.stages.append(stage)
        return options.stop_after == stage

    # 1. data, validation, features, feature store, training, evaluation, gate
    write_sample_data(
        options.pipeline, raw, rows=options.rows, seed=options.seed, start=BATCH_START, name="batch-1.csv"
    )
    if options.corrupt:
        _corrupt(raw / "batch-1.csv", options.corrupt)
    say(f"[1/7] pipeline run 1 on {options.rows} rows: validate -> features -> feature store -> train -> evaluate")
    run = _pipeline_run(pipeline, work / "runs" / "1", raw, store, options, result, say)
    if run is None:
        return _finish(result, say)
    if done("validate") or done("train"):
        return _finish(result, say)

    # 2. register, approve
    version = _register(registry, run, "initial", options, say, result)
    if version is None or done("register"):
        return _finish(result, say)

    # 3..6: serve, traffic, drift, retrain (one round, then a second round to show de-duplication)
    for round_number in (1, 2):
        served = registry.latest_approved()
        assert served is not None
        with _Server(Path(served.path), store / "capture") as server:
            say(f"[3/7] serving version {served.version} on {server.url}")
            if done("serve"):
                return _finish(result, say)
            since = datetime.now(UTC)
            traffic = _traffic(pipeline, work, round_number, options, server.url, bar)
            result.traffic.append(traffic)
            say(
                f"[4/7] traffic round {round_number}: {traffic['sent']} requests, {traffic['scored']} scored, "
                f"{traffic['refused']} refused"
                + (f" (drift injected: {_shift_text(options.drift)})" if options.drift else "")
            )
            if done("traffic"):
                return _finish(result, say)
        check = _drift_check(work, round_number, run, store, since, options)
        check["version"] = served.version
        result.drift_checks.append(check)
        say("[5/7] " + _drift_line(check))
        if done("drift"):
            return _finish(result, say)
        if not check.get("drifted"):
            say("[6/7] no drift: nothing to retrain")
            break
        allowed, why = guard.decide(datetime.now(UTC))
        if not allowed:
            result.retrainings.append({"round": round_number, "started": False, "why": why})
            say(f"[6/7] drift again, retraining NOT started: {why}")
            break
        guard.start(datetime.now(UTC))
        result.retrainings.append({"round": round_number, "started": True, "why": why})
        try:
            # The world has changed: its new data (labelled, shifted like the traffic) lands in the
            # raw folder; the retraining reads the newest data the feature store holds.
            batch = len(list(raw.glob("batch-*.csv"))) + 1
            write_sample_data(
                options.pipeline,
                raw,
                rows=options.rows // 2,
                seed=options.seed + 100 + batch,
                start=_later(batch),
                shift=options.drift,
                name=f"batch-{batch}.csv",
            )
            say(f"[6/7] drift -> retraining (run {round_number + 1}) on every batch in the feature store")
            run = _pipeline_run(pipeline, work / "runs" / str(round_number + 1), raw, store, options, result, say)
            if run is None:
                return _finish(result, say)
            if _register(registry, run, "drift", options, say, result) is None:
                return _finish(result, say)
        finally:
            guard.finish()
        if done("retrain"):
            return _finish(result, say)
    return _finish(result, say)


def _pipeline_run(
    pipeline: PipelineDef,
    folder: Path,
    raw: Path,
    store: Path,
    options: LoopOptions,
    result: LoopResult,
    say: Progress,
) -> LocalRunResult | None:
    try:
        run = run_pipeline(pipeline, folder, raw, store, quality_gate=options.gate)
    except StepFailedError as exc:
        report = folder / exc.step / "report" / "report.json"
        detail = ""
        if report.is_file():
            problems = json.loads(report.read_text(encoding="utf-8")).get("problems", [])
            detail = "; ".join(f"column {p['column']!r}: {p['check']} ({p['count']} value(s))" for p in problems)
        result.stopped = f"step {exc.step!r} stopped the run: {detail or exc.stderr_tail.splitlines()[-1]}"
        say(f"stopped: {result.stopped}; nothing downstream ran")
        return None
    metrics = ", ".join(f"{k} {v:.3f}" for k, v in sorted(run.metrics.items()))
    say(f"      metrics: {metrics}")
    if not run.gate_passed:
        result.stopped = (
            f"quality gate {options.gate[0]} >= {options.gate[1]} missed ({run.metrics[options.gate[0]]:.3f})"
        )
        say(f"stopped: {result.stopped}; the model is not registered")
        return None
    return run


def _register(
    registry: LocalRegistry, run: LocalRunResult, trigger: str, options: LoopOptions, say: Progress, result: LoopResult
) -> Version | None:
    version = registry.register(run.model_path, run.metrics, trigger, options.approval)
    say(f"[2/7] registered version {version.version} ({trigger}): {version.status}")
    if version.status == "pending":
        version = registry.approve(version.version, "the local operator (mlops loop)")
        say(f"      approved version {version.version} as {version.approved_by}")
    result.versions = registry.versions()
    return version


def _corrupt(path: Path, column: str) -> None:
    frame = pd.read_csv(path, dtype=str)
    if column not in frame.columns:
        raise ValueError(f"--corrupt: the raw data has no column {column!r}; columns: {', '.join(frame.columns)}")
    frame.loc[frame.index[::7], column] = "not-a-value"
    frame.to_csv(path, index=False)


def _later(batch: int) -> str:
    return (datetime.fromisoformat(BATCH_START) + timedelta(days=120 * (batch - 1))).date().isoformat()


def _shift_text(drift: Mapping[str, float]) -> str:
    return ", ".join(f"{k} {v:+g}" for k, v in drift.items())


def _requests(pipeline: PipelineDef, folder: Path, raw: Path, store: Path) -> pd.DataFrame:
    """The request rows of a raw batch: the pipeline's own steps up to the feature store, on it."""
    store_step = pipeline.step(STORE_STEP)
    source = parse_source(store_step.inputs["features"])
    assert isinstance(source, OutputRef)
    produced, _ = run_steps(pipeline, folder, raw, store, until=source.step)
    contract = pipeline.contract
    keys = [contract.entity, contract.event_time]
    tables = []
    for read in contract.reads:
        out = produced[source.step][source.output]
        path = out / f"{read.group}.csv"
        frame = pd.read_csv(path if path.is_file() else next(out.glob(f"{read.group}/*.csv")), dtype=str)
        tables.append(frame[[*keys, *(c.name for c in read.features)]])
    joined = tables[0]
    for table in tables[1:]:
        joined = joined.merge(table, on=keys, how="inner")
    return joined[list(contract.request_names)]


def _traffic(
    pipeline: PipelineDef, work: Path, round_number: int, options: LoopOptions, url: str, bar: Callable[..., Any] | None
) -> dict[str, int]:
    folder = work / "traffic" / str(round_number)
    raw = folder / "raw"
    write_sample_data(
        options.pipeline,
        raw,
        rows=options.requests,
        seed=options.seed + 10 * round_number,
        start=_later(round_number + 1),
        shift=options.drift,
    )
    # A scratch store: making requests must not write into the platform's feature store.
    rows = _requests(pipeline, folder, raw, folder / "scratch-store")
    records = json.loads(rows.to_json(orient="records"))
    counts = {"sent": 0, "scored": 0, "refused": 0}
    progress = bar(total=len(records), desc=f"traffic round {round_number}", unit="req") if bar else None
    for start in range(0, len(records), TRAFFIC_CHUNK):
        chunk = records[start : start + TRAFFIC_CHUNK]
        status, _ = post(url, chunk)
        counts["sent"] += len(chunk)
        counts["scored" if status == 200 else "refused"] += len(chunk)
        if progress is not None:
            progress.update(len(chunk))
    if progress is not None:
        progress.close()
    return counts


def _drift_check(
    work: Path, round_number: int, run: LocalRunResult, store: Path, since: datetime, options: LoopOptions
) -> dict[str, Any]:
    """The kit's drift step, run as every cloud runs it, over the requests captured since `since`."""
    out = work / "drift" / str(round_number)
    code = run.workdir / "code"
    baseline = run.outputs["training_data"]["baseline"]
    argv = [sys.executable, "mlops_drift.py", "--baseline", str(baseline), "--out", str(out)]
    argv += ["--threshold", str(options.drift_threshold), "--min_samples", str(options.min_samples)]
    argv += ["--since", since.isoformat()]
    proc = subprocess.run(argv, cwd=code, env=step_env(store), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise StepFailedError("drift", proc.returncode, proc.stderr.strip())
    check = json.loads((out / "drift.json").read_text(encoding="utf-8"))
    check["baseline_path"] = str(baseline / "baseline.csv")  # what the report plots
    check["capture_dir"] = str(store / "capture")
    return check


def _drift_line(check: dict[str, Any]) -> str:
    if check["status"] == "skipped":
        return f"drift check on version {check['version']}: skipped ({check['reason']})"
    drifted = [n for n, f in check["features"].items() if f["drifted"]]
    verdict = f"DRIFT in {', '.join(drifted)}" if drifted else "no drift"
    return (
        f"drift check on version {check['version']} ({check['n_current']} requests): largest {check['max']:.3f}, "
        f"threshold {check['threshold']}: {verdict}"
    )


def _finish(result: LoopResult, say: Progress) -> LoopResult:
    from pipelines.report import write_report

    result.report = write_report(result)
    say(f"[7/7] report: {result.report}")
    return result


# ---- loopback serving ----------------------------------------------------------------------------
class _Server:
    """The model folder's own serving code (``code/mlops_serve.py``) in a thread on loopback."""

    def __init__(self, model_dir: Path, capture: Path) -> None:
        self.model_dir, self.capture = model_dir, capture

    def __enter__(self) -> _Server:
        serve = _import_serving_code(self.model_dir / "code")
        self.server = serve.make_server(self.model_dir, capture=self.capture)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/invocations"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def _import_serving_code(code: Path) -> Any:
    """The model folder's own `mlops_serve` (with its `mlops_schema`), imported without leaving
    them in `sys.modules`: the process's own kit modules (a step's, another model's) stay as they were."""
    import importlib

    names = ("mlops_serve", "mlops_schema")
    saved = {name: sys.modules.pop(name, None) for name in names}
    sys.path.insert(0, str(code))
    try:
        return importlib.import_module("mlops_serve")
    finally:
        sys.path.remove(str(code))
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def post(url: str, records: list[dict[str, Any]], timeout: float = 30.0) -> tuple[int, dict[str, Any]]:
    """POST records as JSON; (status, body) also for a 4xx (a refused request is an answer)."""
    body = json.dumps(records).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
