"""Benchmark: wall time and peak memory of `mlops plan` per example stack (each in a fresh process).

    python benchmarks/plan.py [--repeat N]

Prints one line per cloud: import + plan time (median of N fresh processes), resources, peak RSS.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import json, resource, sys, time
t0 = time.perf_counter()
from pathlib import Path
from infra.config import load_stack_file
from infra.plan import plan
result = plan(load_stack_file(Path(sys.argv[1])))
seconds = time.perf_counter() - t0
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "resources": len(result.resources), "peak_mb": peak_mb}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'stack':<10} {'median s':>9} {'min s':>7} {'resources':>10} {'peak MB':>8}")
    for cloud in ("aws", "gcp", "azure"):
        runs = []
        for _ in range(args.repeat):
            out = subprocess.run(
                [sys.executable, "-c", PROBE, str(ROOT / f"Pulumi.{cloud}-dev.yaml")],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            runs.append(json.loads(out.strip().splitlines()[-1]))
        times = [r["seconds"] for r in runs]
        print(
            f"{cloud + '-dev':<10} {statistics.median(times):>9.2f} {min(times):>7.2f} "
            f"{runs[0]['resources']:>10} {max(r['peak_mb'] for r in runs):>8.0f}"
        )


if __name__ == "__main__":
    main()
