"""Benchmark: what the kit's program costs over a raw Pulumi program declaring the same resources.

    python benchmarks/plan.py [--repeat N] [--clouds aws,gcp,azure] [--groups 1,10,40] [--keep]

For each example stack (`Pulumi.<cloud>-*.yaml`: every example pipeline), in fresh processes
(imports included, median of N runs):
- kit: the real Pulumi program (`infra.program`, what `pulumi preview`/`up` runs) under the offline
  mocks (`infra.plan.plan` with the vendor checks off), with the plan-time cache warm (the
  content-addressed `.mlops/cache/` of what the vendor SDKs build: a hit imports no SDK builder; an
  untimed run first fills it, so a fresh checkout measures warm runs too);
- kit cold: the same once with an empty cache (`MLOPS_CACHE_DIR` a fresh folder): the first plan
  after a change to the pipeline, the kit or an SDK version;
- +checks: what `mlops plan` costs, the program and then the vendor-rule checks
  (`Provider.check_plan`, which load the vendors' own models: botocore, the aiplatform protos,
  azure-ai-ml); a raw program checks nothing, so `plan/raw` is the kit's whole price;
- raw: a program that imports the same Pulumi SDK and registers exactly the resources the kit
  declared (same types, names, parents and inputs, and the same resource options: the aliases and
  dependencies each registration carried, read back from the kit's own plan) with
  `pulumi.CustomResource` / `ComponentResource`, under the same mocks; the time it spends importing
  the kit's mock classes is not counted. pulumi_azure_native's classes add one type alias per API
  version of the resource to every construction (2,820 on azure-dev's 165 resources; aws-dev
  carries 24, gcp-dev 3), and the SDK turns each into Outputs and a URN before registering: any
  program using those classes pays it. The raw program is a lower bound on such a program, since
  `CustomResource` skips the typed classes' own `__init__`;
- bare: the raw program without those options (no aliases, no dependencies), a floor no program
  using the SDK's classes reaches, printed so the cost of the aliases stays visible;
- kit/raw: the overhead of the kit's program (validation, translation, components, step-code
  bundles), the figure to hold within 2x.
The run refuses a baseline that declared other resources, aliases or dependencies than the kit.
Then the kit's plan time of each `<cloud>-dev` stack with 1, 10 and 40 feature groups (extra groups of
three features).
Peak memory is the process's max RSS: the kit's once its program has run (as the raw program's), and
again after the vendor-rule checks (`+checks MB`, what `mlops plan` peaks at).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

KIT = """
import json, resource, sys, time
t0 = time.perf_counter()
from pathlib import Path
from infra.config import load_stack_file
from infra.plan import plan
result = plan(load_stack_file(Path(sys.argv[1]), sys.argv[2]), check=False)
program = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the program's, as the raw one's
t1 = time.perf_counter()
from infra.config import resolve_file
provider, _ = resolve_file(load_stack_file(Path(sys.argv[1]), sys.argv[2]))
violations = provider.check_plan([r.to_json() for r in result.resources])
checks = time.perf_counter() - t1
if len(sys.argv) > 3:
    document = result.to_json()
    for planned, r in zip(result.resources, document["resources"]):
        r["aliases"], r["dependencies"] = planned.aliases, planned.dependencies
    Path(sys.argv[3]).write_text(json.dumps(document))
checks_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": program, "checks": checks, "violations": len(violations),
                  "resources": len(result.resources), "peak_mb": peak, "checks_peak_mb": checks_peak,
                  "aliases": sum(len(r.aliases) for r in result.resources),
                  "dependencies": sum(len(r.dependencies) for r in result.resources)}))
"""

RAW = """
import importlib, json, resource, sys, time
t0 = time.perf_counter()
import pulumi
from pulumi.runtime import settings
plan = json.loads(open(sys.argv[1]).read())
package = {"aws": "pulumi_aws", "gcp": "pulumi_gcp", "azure": "pulumi_azure_native"}[plan["cloud"]]
# The typed classes of these resources (what a hand-written program imports). Reading the class
# off its module matters: the Pulumi SDKs register each module as a `pulumi._utils._LazyModule`,
# so `import_module` alone returns a stub and loads none of the classes a real program uses.
for token in {r["type"] for r in plan["resources"] if r["custom"] and not r["type"].startswith("pulumi")}:
    _, path, cls = token.split(":")
    module = path.split("/")[0]
    module = {"lambda": "lambda_"}.get(module, module)  # a Python keyword: pulumi_aws.lambda_
    getattr(importlib.import_module(f"{package}.{module}" if module != "index" else package), cls)
kit_imports = time.perf_counter()  # the kit's mock classes: not what a raw program pays
from infra.plan import _RecordingMonitor, OfflineMocks
fakes = importlib.import_module(f"providers.{plan['cloud']}.mocks")
kit_imports = time.perf_counter() - kit_imports
monitor = _RecordingMonitor(OfflineMocks(fakes))
settings.ROOT.set(None)
pulumi.runtime.set_mocks(monitor.mocks, project="mlops", stack=plan["stack"], preview=False, monitor=monitor)

bare = sys.argv[2] == "bare"
by_urn = {r["urn"]: r for r in plan["resources"]}
order, seen = [], set()
def visit(urn):  # parents and dependencies before the resources that name them
    if urn in seen or urn not in by_urn:
        return
    seen.add(urn)
    r = by_urn[urn]
    for before in [r["parent"], *([] if bare else r["dependencies"])]:
        if before:
            visit(before)
    order.append(r)
for urn in by_urn:
    visit(urn)

def alias(a):
    if "urn" in a:
        return a["urn"]
    parent = None if a.get("noParent") else a.get("parentUrn", ...)
    return pulumi.Alias(name=a.get("name", ...), type_=a.get("type", ...), stack=a.get("stack", ...),
                        project=a.get("project", ...), parent=parent)

sent = {"aliases": 0, "dependencies": 0}

@pulumi.runtime.test
def program():
    made = {}
    for r in order:
        opts = pulumi.ResourceOptions(parent=made.get(r["parent"]), protect=r["protect"])
        if not bare:  # the options the kit's registration carried (pulumi_<cloud>'s classes add aliases)
            opts.aliases = [alias(a) for a in r["aliases"]] or None
            opts.depends_on = [made[u] for u in r["dependencies"] if u in made] or None
            sent["aliases"] += len(opts.aliases or [])
            sent["dependencies"] += len(opts.depends_on or [])
        if r["custom"]:
            made[r["urn"]] = pulumi.CustomResource(r["type"], r["name"], dict(r["inputs"]), opts)
        else:
            made[r["urn"]] = pulumi.ComponentResource(r["type"], r["name"], None, opts)
    return pulumi.Output.all(*[m.urn for m in made.values()])

program()
seconds = time.perf_counter() - t0 - kit_imports
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "resources": len(monitor.recorded), "peak_mb": peak, **sent}))
"""


def _run(code: str, *argv: str, env: dict[str, str] | None = None) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True, check=True, env=env
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _with_groups(stack_file: Path, extra: int, directory: Path) -> Path:
    document = yaml.safe_load(stack_file.read_text(encoding="utf-8"))
    groups = document["config"]["mlops:platform"]["feature_store"]["feature_groups"]
    entity, event_time = groups[0]["entity"], groups[0]["event_time"]
    for i in range(extra):
        groups.append(
            {
                "name": f"extra_{i:02d}",
                "entity": entity,
                "event_time": event_time,
                "online": i % 2 == 0,
                "features": [
                    {"name": f"f{i}_a", "type": "float"},
                    {"name": f"f{i}_b", "type": "int"},
                    {"name": f"f{i}_c", "type": "string"},
                ],
            }
        )
    path = directory / f"{stack_file.stem}-{extra + 1}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--clouds", default="aws,gcp,azure")
    parser.add_argument("--groups", default="1,10,40", help="feature-group counts for the scaling table")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (plans, stacks) and print it")
    args = parser.parse_args()
    clouds = [c for c in args.clouds.split(",") if c]
    scratch = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    try:
        _compare(clouds, args.repeat, scratch)
        _scaling(clouds, args.repeat, [int(n) for n in args.groups.split(",") if n], scratch)
    finally:
        if args.keep:
            print(f"\nscratch: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def _compare(clouds: list[str], repeat: int, scratch: Path) -> None:
    header = (
        *("stack", "kit s", "raw s", "kit/raw", "+checks s", "plan/raw", "kit cold s", "bare s"),
        *("kit MB", "raw MB", "+checks MB", "cold MB", "resources", "aliases"),
    )
    print(f"{header[0]:<10} " + " ".join(f"{h:>10}" for h in header[1:]))
    stacks = [(cloud, path) for cloud in clouds for path in sorted(ROOT.glob(f"Pulumi.{cloud}-*.yaml"))]
    for cloud, stack_file in stacks:
        stack = stack_file.stem.removeprefix("Pulumi.")
        plan_json = scratch / f"{stack}.json"
        _run(KIT, str(stack_file), stack)  # untimed: fills the plan-time cache the timed runs read
        kit: list[dict[str, float]] = [_run(KIT, str(stack_file), stack, str(plan_json))]
        raw: list[dict[str, float]] = []
        bare: list[dict[str, float]] = []
        # Interleaved (kit, raw, bare, kit, ...): a shared machine that slows down for a while slows
        # all three, instead of only the runs that happened to fall in that while.
        for round_ in range(repeat):
            if round_:
                kit.append(_run(KIT, str(stack_file), stack))
            raw.append(_run(RAW, str(plan_json), "options"))
            bare.append(_run(RAW, str(plan_json), "bare"))
        empty = scratch / f"cache-{stack}"
        cold = _run(KIT, str(stack_file), stack, env={**os.environ, "MLOPS_CACHE_DIR": str(empty)})
        for run in raw + bare:  # the baselines declare what the kit declared, no fewer
            if run["resources"] != kit[0]["resources"]:
                sys.exit(
                    f"{cloud}: the raw program declared {run['resources']} resources, the kit {kit[0]['resources']}"
                )
        for run in raw:  # ... with the options its registrations carried
            for key in ("aliases", "dependencies"):
                if run[key] != kit[0][key]:
                    sys.exit(f"{cloud}: the raw program sent {run[key]} {key}, the kit's registrations {kit[0][key]}")
        kit_s, raw_s, checks_s = _median(kit, "seconds"), _median(raw, "seconds"), _median(kit, "checks")
        cells = [
            f"{kit_s:.2f}",
            f"{raw_s:.2f}",
            f"{kit_s / raw_s:.1f}x",
            f"{kit_s + checks_s:.2f}",
            f"{(kit_s + checks_s) / raw_s:.1f}x",
            f"{cold['seconds']:.2f}",
            f"{_median(bare, 'seconds'):.2f}",
            f"{max(r['peak_mb'] for r in kit):.0f}",
            f"{max(r['peak_mb'] for r in raw):.0f}",
            f"{max(r['checks_peak_mb'] for r in kit):.0f}",
            f"{cold['checks_peak_mb']:.0f}",
            f"{int(kit[0]['resources'])}",
            f"{int(kit[0]['aliases'])}",
        ]
        print(f"{stack:<10} " + " ".join(f"{c:>10}" for c in cells))


def _scaling(clouds: list[str], repeat: int, counts: list[int], scratch: Path) -> None:
    if not counts:
        return
    print()
    print(f"{'stack':<10} " + " ".join(f"{f'{n} groups s':>12}" for n in counts))
    for cloud in clouds:
        stack_file = ROOT / f"Pulumi.{cloud}-dev.yaml"
        cells = []
        for n in counts:
            path = _with_groups(stack_file, n - 1, scratch)
            _run(KIT, str(path), f"{cloud}-dev")  # untimed: fills the cache for this many groups
            runs = [_run(KIT, str(path), f"{cloud}-dev") for _ in range(repeat)]
            cells.append(f"{_median(runs, 'seconds'):>12.2f}")
        print(f"{cloud + '-dev':<10} " + " ".join(cells))


if __name__ == "__main__":
    main()
