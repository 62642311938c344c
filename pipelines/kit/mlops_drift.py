"""Kit step: the one drift statistic, the same on every cloud.

CLI: ``--baseline DIR --out DIR --threshold T [--min_samples N] [--current DIR] [--since ISO]
[--until ISO]``. Compares each request column (the data contract's) of the live requests with the
training baseline (``training_data``'s ``baseline/``) and writes ``drift.json``; then hands the
result to ``mlops_io.publish_drift`` (each cloud's: a CloudWatch metric, a Cloud Logging entry, an
Azure Monitor metric), which is what the drift alert reads.

The statistic, per column, a distance in [0, 1] (0 = same distribution):
- numbers and timestamps: the two-sample Kolmogorov-Smirnov statistic D (``scipy.stats.ks_2samp``),
  the largest gap between the two empirical distribution functions;
- strings and booleans: the L-infinity distance between the two category frequency vectors, the
  largest gap in the share of any one category.
A column drifts when its distance is ABOVE ``monitor.drift_threshold``; the run reports the
largest. A window with fewer than ``min_samples`` requests is skipped (reported, never a verdict):
with few samples D is large by chance alone (same distribution, 20 requests: D around 0.2).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlops_schema import SchemaError, coerce, load_contract, read_table

RESULT_FILE = "drift.json"
NUMERIC = ("int", "float", "timestamp")


def distance(baseline: pd.Series, current: pd.Series, kind: str) -> tuple[str, float]:
    """(statistic name, value) for one column of the contract's type `kind`."""
    if kind in NUMERIC:
        from scipy.stats import ks_2samp

        b, c = _numbers(baseline, kind), _numbers(current, kind)
        return "ks", float(ks_2samp(b, c).statistic)
    b_share = baseline.astype(str).value_counts(normalize=True)
    c_share = current.astype(str).value_counts(normalize=True)
    categories = b_share.index.union(c_share.index)
    gaps = (b_share.reindex(categories, fill_value=0.0) - c_share.reindex(categories, fill_value=0.0)).abs()
    return "linf", float(gaps.max())


def _numbers(values: pd.Series, kind: str) -> np.ndarray:
    if kind == "timestamp":
        return values.astype("int64").to_numpy(dtype=float)
    return values.to_numpy(dtype=float)


def compare(
    baseline: pd.DataFrame,
    current: pd.DataFrame,
    request: list[dict[str, str]],
    threshold: float,
    min_samples: int,
) -> dict[str, Any]:
    """The drift result of one window: per column, its statistic and value; the verdict."""
    result: dict[str, Any] = {
        "statistic": "ks for numbers and timestamps, linf for strings and booleans",
        "threshold": threshold,
        "min_samples": min_samples,
        "n_baseline": len(baseline),
        "n_current": len(current),
        "features": {},
    }
    if len(current) < min_samples:
        result.update(status="skipped", reason=f"{len(current)} requests < min_samples {min_samples}", drifted=False)
        result["max"] = None
        return result
    base = coerce(baseline, request, where="baseline")
    live = coerce(current, request, where="captured requests")
    for column in request:
        name = column["name"]
        statistic, value = distance(base[name], live[name], column["type"])
        result["features"][name] = {"statistic": statistic, "value": value, "drifted": value > threshold}
    values = [f["value"] for f in result["features"].values()]
    result.update(status="ok", max=max(values), drifted=any(f["drifted"] for f in result["features"].values()))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="training_data's baseline/ dir")
    parser.add_argument("--out", type=Path, required=True, help="output dir for drift.json")
    parser.add_argument("--threshold", type=float, required=True)
    parser.add_argument("--min_samples", type=int, default=100)
    parser.add_argument("--current", type=Path, help="captured requests as tables (default: mlops_io.read_captured)")
    parser.add_argument("--since", type=datetime.fromisoformat, help="window start (ISO-8601, inclusive)")
    parser.add_argument("--until", type=datetime.fromisoformat, help="window end (ISO-8601, exclusive)")
    args = parser.parse_args(argv)
    import mlops_io

    contract = load_contract()
    request = contract["request"]
    try:
        baseline = read_table(args.baseline)
        if args.current is not None:
            current = read_table(args.current)
        else:
            current = mlops_io.read_captured(args.since, args.until)
        result = compare(baseline, current, request, args.threshold, args.min_samples)
    except (SchemaError, FileNotFoundError) as exc:
        print(f"drift: {exc}", file=sys.stderr)
        return 1
    result["window"] = {
        "since": args.since.isoformat() if args.since else None,
        "until": (args.until or datetime.now(timezone.utc)).isoformat(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / RESULT_FILE).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    mlops_io.publish_drift(result)
    if result["status"] == "skipped":
        print(f"drift: skipped ({result['reason']})")
    else:
        print(f"drift: largest {result['max']:.3f} (threshold {args.threshold}); drifted: {result['drifted']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
