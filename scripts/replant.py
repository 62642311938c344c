"""Replant issue 16's defects, one at a time, and check that a test catches each.

    python scripts/replant.py [--only ID ...] [--list] [--check-clean]

Issue 16 planted 29 realistic defects in a copy of the kit; 15 passed every test. Each of those 15
is written out below as one textual substitution (or a small function) in one file, with the tests
that must catch it. For every defect the script copies the project to a temporary directory,
applies the defect there (never in this tree), runs the listed tests with
`-x -q -p no:cacheprovider`, and prints one line:

    CAUGHT       the tests failed; the first failing test id is shown
    MISSED       every listed test passed: a defect of this kind reaches users unnoticed
    NOT-APPLIED  the old text is not in the file (exactly once): the code moved, update the table

Exit status 0 only when every selected defect is CAUGHT. `--check-clean` first runs each defect's
tests on the unchanged copy (they must pass, or a CAUGHT would mean nothing).

Where today's code does a thing another way than the issue's wording, the description says which
closest equivalent is planted. This is not mutation testing (scripts/mutation.py does that, with
mutmut, module by module): these are the defects a person actually wrote, kept as a regression
suite for the tests themselves.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Defect:
    id: str
    description: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    # For the cases one substitution cannot express: takes the file's text, returns the defective text.
    apply: Callable[[str], str] | None = None

    def plant(self, text: str) -> str | None:
        """The defective text, or None when the old text is not in `text` exactly once."""
        if text.count(self.old) != 1:
            return None
        if self.apply is not None:
            return self.apply(text)
        return text.replace(self.old, self.new, 1)


DEFECTS: tuple[Defect, ...] = (
    Defect(
        "aws-iam-action",
        "an IAM action renamed to one AWS does not have (logs:DescribeLogStreams -> logs:DescribeLogStream, "
        "in the SageMaker execution role's policy)",
        "providers/aws/foundation.py",
        '"logs:DescribeLogStreams",',
        '"logs:DescribeLogStream",',
        ("tests/aws/test_identities.py", "tests/aws/test_vendor_rules.py"),
    ),
    Defect(
        "azure-runtime-workspace-role",
        "the Azure runtime identity loses its role on the workspace (AzureML Data Scientist grant dropped)",
        "providers/azure/foundation.py",
        '        self.grant("ml", "AzureML Data Scientist", self.workspace.id)\n',
        "",
        ("tests/azure/test_identities.py",),
    ),
    Defect(
        "azure-blob-reader-id",
        "the Storage Blob Data Reader role id replaced by the Storage Blob Data Contributor id "
        "(in the kit's role-name -> GUID table)",
        "providers/azure/foundation.py",
        '"Storage Blob Data Reader": "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",',
        '"Storage Blob Data Reader": "ba92f5b4-2d11-453d-a403-e96b0029c9fe",',
        ("tests/azure/test_identities.py", "tests/azure/test_vendor_rules.py"),
    ),
    Defect(
        "aws-kms-resource-star",
        'a KMS statement widened to Resource "*": the key policy itself can only say "*" (it means '
        '"this key"), so the closest equivalent is planted: the execution role\'s "Key" statement '
        "(kms:Encrypt/Decrypt/...) from the platform's key ARN to every key",
        "providers/aws/foundation.py",
        '                        "kms:DescribeKey",\n                    ],\n                    "Resource": key_arn,',
        '                        "kms:DescribeKey",\n                    ],\n                    "Resource": "*",',
        ("tests/aws/test_identities.py",),
    ),
    Defect(
        "aws-monitor-network-isolation",
        "network isolation switched off on the monitoring job (DataQualityJobDefinition network_config)",
        "providers/aws/model_monitor.py",
        "enable_network_isolation=True,",
        "enable_network_isolation=False,",
        ("tests/aws/test_plan.py", "tests/aws/test_network.py"),
    ),
    Defect(
        "gcp-keyring-protect",
        "protect dropped from the GCP key ring",
        "providers/gcp/foundation.py",
        "opts=self.protected(deployment, depends_on=self.apis),",
        "opts=self.child(depends_on=self.apis),",
        ("tests/gcp/test_plan.py", "tests/gcp/test_platform_rules.py"),
    ),
    Defect(
        "azure-rg-protect",
        "protect dropped from the Azure resource group",
        "providers/azure/foundation.py",
        "            tags=tags,\n            opts=self.protected(deployment),\n        )\n"
        "        resource_group_name = self.resource_group.name",
        "            tags=tags,\n            opts=self.child(),\n        )\n"
        "        resource_group_name = self.resource_group.name",
        ("tests/azure/test_plan.py", "tests/azure/test_operational.py"),
    ),
    Defect(
        "gcp-permission-misspelt",
        "a GCP custom-role permission misspelt (aiplatform.executions.addExecutionEvents -> ...addExecutionEvent)",
        "providers/gcp/foundation.py",
        '"aiplatform.executions.addExecutionEvents",',
        '"aiplatform.executions.addExecutionEvent",',
        ("tests/gcp/test_identities.py", "tests/gcp/test_vendor_rules.py"),
    ),
    Defect(
        "aws-alarm-missing-data",
        "the drift alarm told to treat missing data as breaching (no request in a window = drift)",
        "providers/aws/retraining_trigger.py",
        # the drift alarm's own line (the file has other alarms that treat missing data the same way)
        'is the silent-check alarm\'s to say.\n                    treat_missing_data="notBreaching",',
        'is the silent-check alarm\'s to say.\n                    treat_missing_data="breaching",',
        ("tests/aws/test_plan.py", "tests/aws/test_operations.py"),
    ),
    Defect(
        "azure-scale-in-flapping",
        "Azure scale-in set 5 points under scale-out (flapping) instead of half the target",
        "providers/azure/endpoint.py",
        "return max(1, target_cpu_percent // 2)",
        "return max(1, target_cpu_percent - 5)",
        ("tests/azure/test_operational.py", "tests/azure/test_plan.py"),
    ),
    Defect(
        "diff-bq-required",
        "a BigQuery column tightened to REQUIRED no longer flagged as a replace by `mlops diff`",
        "providers/gcp/catalog.py",
        'if was != now and (was, now) != ("REQUIRED", "NULLABLE"):',
        'if was != now and now != "REQUIRED" and (was, now) != ("REQUIRED", "NULLABLE"):',
        ("tests/diff/test_bigquery_schema_changes.py", "tests/diff/test_diff.py"),
    ),
    Defect(
        "spec-max-replicas",
        "endpoint.max_replicas allowed up to 1000 (the portable bound is 100)",
        "providers/spec.py",
        "max_replicas: int = Field(default=2, ge=1, le=100)",
        "max_replicas: int = Field(default=2, ge=1, le=1000)",
        ("tests/spec", "tests/infra/test_config.py"),
    ),
    Defect(
        "aws-vcpu-table",
        "the AWS vCPU table halving the CPU target of one size (large: ml.m5.2xlarge listed with 4 vCPUs, "
        "so its invocations-per-instance CPU target is half what it should be)",
        "providers/aws/translate.py",
        '"large": ("ml.m5.2xlarge", 8, 32, None),',
        '"large": ("ml.m5.2xlarge", 4, 32, None),',
        ("tests/aws/test_sizes.py", "tests/aws/test_translate.py"),
    ),
    Defect(
        "drift-sample-size",
        "the two-sample drift statistic dividing by the wrong sample size: the numeric KS statistic is "
        "SciPy's own, so the kit's hand-written half is planted: the categorical L-infinity distance "
        "divides the current window's counts by the baseline's size",
        "pipelines/kit/mlops_drift.py",
        "c_share = current.astype(str).value_counts(normalize=True)",
        "c_share = current.astype(str).value_counts() / len(baseline)",
        ("tests/pipelines/test_kit.py",),
    ),
    Defect(
        "azure-gate-strict",
        "Azure's quality gate turning >= into > (a model exactly at the threshold is refused)",
        "providers/azure/job_scripts/gate_register.py",
        "return float(metrics[metric]) >= float(threshold), metrics",
        "return float(metrics[metric]) > float(threshold), metrics",
        ("tests/azure/test_operational.py", "tests/azure/test_mlclient.py"),
    ),
)


def copy_project(dest: Path) -> None:
    """The working tree's files (tracked and untracked, minus ignored ones) into `dest`."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if not source.is_file():
            continue  # deleted in the working tree
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def run_tests(work: Path, tests: tuple[str, ...]) -> tuple[bool, str]:
    """(passed, first failing test id or '')."""
    env = {**os.environ, "PYTHONPATH": str(work), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode == 0:
        return True, ""
    found = re.search(r"^(?:FAILED|ERROR) (.+?)(?: - .*)?$", done.stdout, re.MULTILINE)
    if found:
        return False, found[1]
    tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or [f"exit {done.returncode}"]
    return False, f"(pytest exit {done.returncode}: {tail[0][:100]})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ids = [d.id for d in DEFECTS]
    parser.add_argument("--only", nargs="+", choices=ids, metavar="ID", help="defects to plant (default: all)")
    parser.add_argument("--list", action="store_true", help="list the defects, their files and tests")
    parser.add_argument("--check-clean", action="store_true", help="first run each defect's tests unchanged")
    args = parser.parse_args()
    chosen = [d for d in DEFECTS if not args.only or d.id in args.only]
    if args.list:
        for d in chosen:
            print(f"{d.id:<30} {d.file:<46} {' '.join(d.tests)}\n    {d.description}")
        return 0
    width = max(len(d.id) for d in chosen)
    failures = 0
    with tempfile.TemporaryDirectory(prefix="replant-") as tmp:
        work = Path(tmp)
        copy_project(work)
        if args.check_clean:
            for tests in dict.fromkeys(d.tests for d in chosen):
                passed, first = run_tests(work, tests)
                print(f"{'clean':<{width}}  {'PASS' if passed else 'FAIL ' + first}  {' '.join(tests)}", flush=True)
                if not passed:
                    return 1
        for d in chosen:
            path = work / d.file
            original = path.read_text(encoding="utf-8")
            planted = d.plant(original)
            if planted is None:
                print(f"{d.id:<{width}}  NOT-APPLIED  {d.file}: old text found {original.count(d.old)} times")
                failures += 1
                continue
            started = time.monotonic()
            path.write_text(planted, encoding="utf-8")
            try:
                passed, first = run_tests(work, d.tests)
            finally:
                path.write_text(original, encoding="utf-8")
            seconds = time.monotonic() - started
            if passed:
                print(f"{d.id:<{width}}  MISSED       ({seconds:.0f} s) {' '.join(d.tests)}", flush=True)
                failures += 1
            else:
                print(f"{d.id:<{width}}  CAUGHT       ({seconds:.0f} s) {first}", flush=True)
    print(f"{len(chosen) - failures}/{len(chosen)} caught")
    return 0 if failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
