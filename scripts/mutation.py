"""Mutation testing: how many planted defects the tests catch, module by module.

    python scripts/mutation.py [--only NAME ...] [--list] [--keep DIR] [--workers N] [--minutes M] [--json FILE]

For each target below, a copy of the project gets mutmut (https://github.com/boxed/mutmut) pointed
at one module and the tests that exercise it; mutmut changes one thing at a time (an operator, a
constant, a comparison, a returned value) and runs those tests. A mutant the tests fail on is
*killed*; one they pass is a *survivor*: a defect of that shape would reach users unnoticed, or
the mutation changes nothing that matters (an equivalent mutant). The script prints each target's
score and its survivors (`mutmut show` gives the diff of each), and a total.

Too slow for every CI run (minutes per module on two cores): `.github/workflows/mutation.yml`
runs it weekly; run it yourself after changing a module's tests. Each target lists only the tests
that exercise its module without planning a whole stack where it can (mutmut runs, per mutant, the
listed tests that call the mutated function, session fixtures included): a mutant then costs
seconds, not minutes. `--workers` (default 1) is how many mutants run at once; `--minutes` bounds
each target's wall-clock time: mutmut is stopped and the mutants it did not reach are reported as
"not checked", so a partial score is never mistaken for a whole one.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("infra", "providers", "pipelines", "tests", ".github", "docs", "pyproject.toml", "Pulumi.yaml")

# name -> (module to mutate, the tests that should catch a defect in it). The kit's step scripts
# (pipelines/kit/mlops_*.py) are not here: they run as top-level modules of a code bundle, which
# mutmut's per-test bookkeeping does not follow; their own tests hold literal expectations.
TARGETS: dict[str, tuple[str, list[str]]] = {
    "spec": ("providers/spec.py", ["tests/spec"]),
    "cron": ("providers/cron.py", ["tests/providers/test_cron.py", "tests/spec"]),
    "config": ("infra/config.py", ["tests/infra/test_config.py", "tests/infra/test_config_rules.py"]),
    "diff-ml": ("infra/diff/ml.py", ["tests/diff/test_ml_lines.py"]),
    "diff-resources": (
        "infra/diff/resources.py",
        ["tests/diff/test_resource_changes.py", "tests/diff/test_bigquery_schema_changes.py"],
    ),
    "base": ("providers/base.py", ["tests/providers/test_base.py"]),
    "aws-translate": (
        "providers/aws/translate.py",
        ["tests/aws/test_translate.py", "tests/aws/test_sizes.py", "tests/aws/test_translate_settings.py"],
    ),
    "gcp-translate": (
        "providers/gcp/translate.py",
        ["tests/gcp/test_translate.py", "tests/gcp/test_translate_settings.py"],
    ),
    "azure-translate": (
        "providers/azure/translate.py",
        ["tests/azure/test_translate.py", "tests/azure/test_translate_settings.py"],
    ),
}


# Targets whose tests leave threads behind in mutmut's own process (the Pulumi runtime's gRPC in
# base; the AWS SDKs in aws-translate): a mutant's test process forked from it can deadlock, idle
# (never reaching mutmut's CPU limit: the run stalls) or burning CPU until the limit (a "timeout"
# whatever the mutant did). mutmut's fork server starts each from a clean process instead.
FORK_UNSAFE = {"base", "aws-translate"}


def _config(module: str, tests: list[str], name: str = "") -> str:
    existing = [t for t in tests if (ROOT / t).exists()]
    return (
        "\n[tool.mutmut]\n"
        f"source_paths = [{json.dumps(module)}]\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(existing)}\n"
        f"also_copy = {json.dumps(_also_copy())}\n"
        + ('process_isolation = "forkserver"\n' if name in FORK_UNSAFE else "")
    )


def _also_copy() -> list[str]:
    return [p for p in COPIED if p != "tests"] + [p.name for p in ROOT.glob("Pulumi.*.yaml")]


def run_target(name: str, keep: Path | None, workers: int = 1, minutes: float | None = None) -> dict[str, object]:
    module, tests = TARGETS[name]
    work = Path(tempfile.mkdtemp(prefix=f"mutation-{name}-")) if keep is None else keep / name
    work.mkdir(parents=True, exist_ok=True)
    for item in (*COPIED, *(p.name for p in ROOT.glob("Pulumi.*.yaml"))):
        source = ROOT / item
        target = work / item
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.is_file():
            shutil.copyfile(source, target)
    with (work / "pyproject.toml").open("a", encoding="utf-8") as handle:
        handle.write(_config(module, tests, name))
    mutmut = [sys.executable, "-m", "mutmut"]
    started = time.monotonic()
    # Its own session, so that a wall-clock bound stops mutmut and every test process it forked.
    log = (work / "mutmut.log").open("w", encoding="utf-8")
    process = subprocess.Popen(
        [*mutmut, "run", "--max-children", str(workers)],
        cwd=work,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    stopped = False
    try:
        process.wait(timeout=None if minutes is None else minutes * 60)
    except subprocess.TimeoutExpired:
        stopped = True
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    seconds = round(time.monotonic() - started)
    log.close()
    # mutmut exits non-zero when the unmutated tests fail (then no mutant is checked): say why.
    failure = None
    if not stopped and process.returncode != 0:
        lines = (work / "mutmut.log").read_text(encoding="utf-8", errors="replace").splitlines()
        failure = "\n".join(lines[-15:])
    listing = subprocess.run([*mutmut, "results", "--all", "true"], cwd=work, capture_output=True, text=True).stdout
    statuses: dict[str, list[str]] = {}
    for line in listing.splitlines():
        found = re.match(r"^\s*(\S+):\s*(\w[\w ]*)$", line)
        if found:
            statuses.setdefault(found[2].strip(), []).append(found[1])
    killed = len(statuses.get("killed", []))
    survived = statuses.get("survived", [])
    total = sum(len(v) for v in statuses.values())
    durations = _durations(work / "mutants" / (module + ".meta"))
    if keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "target": name,
        "module": module,
        "tests": tests,
        "mutants": total,
        "killed": killed,
        "survived": survived,
        "other": {k: len(v) for k, v in statuses.items() if k not in ("killed", "survived")},
        "seconds": seconds,
        "stopped_after_minutes": minutes if stopped else None,
        # mutmut's fork server records no per-mutant durations: then the run's seconds per mutant checked
        "median_seconds_per_mutant": round(statistics.median(durations), 2)
        if durations and statistics.median(durations) > 0
        else round(seconds / max(1, total - len(statuses.get("not checked", []))), 2),
        "failure": failure,
    }


def _durations(meta: Path) -> list[float]:
    """Wall-clock seconds of each mutant mutmut ran (from its bookkeeping file)."""
    try:
        return [float(d) for d in json.loads(meta.read_text(encoding="utf-8"))["durations_by_key"].values()]
    except (OSError, ValueError, KeyError):
        return []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", choices=sorted(TARGETS), help="targets to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the targets and their tests")
    parser.add_argument("--keep", type=Path, help="keep each target's copy (with its mutants) under this dir")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--workers", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument(
        "--minutes", type=float, help="stop each target after this many minutes; unreached mutants are 'not checked'"
    )
    args = parser.parse_args()
    if args.list:
        for name, (module, tests) in TARGETS.items():
            print(f"{name:<16} {module:<40} {' '.join(tests)}")
        return
    results = []
    for name in args.only or list(TARGETS):
        result = run_target(name, args.keep, args.workers, args.minutes)
        results.append(result)
        score = result["killed"] / result["mutants"] if result["mutants"] else 0.0
        stopped = f", STOPPED after {args.minutes} min (partial)" if result["stopped_after_minutes"] else ""
        print(
            f"{name:<16} {result['killed']:>4}/{result['mutants']:<4} killed ({score:.0%}), "
            f"{len(result['survived'])} survived, {result['other']} in {result['seconds']} s, "
            f"median {result['median_seconds_per_mutant']} s per mutant{stopped}",
            flush=True,
        )
        if result["failure"]:
            print(f"    mutmut failed (exit status not 0), the end of its output:\n{result['failure']}")
        for mutant in result["survived"]:
            print(f"    survived: {mutant}")
    killed = sum(r["killed"] for r in results)
    total = sum(r["mutants"] for r in results)
    print(f"total: {killed}/{total} killed ({killed / total:.0%})" if total else "no mutants")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
