"""Each cloud's catalog (providers/<cloud>/catalog.py): plain data, real Pulumi types, no stale entry."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import load_stack_file
from infra.plan import plan
from providers import registry

ROOT = Path(__file__).resolve().parents[2]
_PACKAGES = {"aws": "pulumi_aws", "gcp": "pulumi_gcp", "azure-native": "pulumi_azure_native"}
TOKENS = sorted(set(registry.data_bearing()) | set(registry.replace_on_change()))


def _module_dir(token: str) -> Path | None:
    package, module = token.split(":")[0], token.split(":")[1].split("/")[0]
    spec = importlib.util.find_spec(_PACKAGES[package])
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / module


@pytest.mark.parametrize("token", TOKENS)
def test_token_exists_in_the_installed_sdk(token):
    directory = _module_dir(token)
    if directory is None:
        pytest.skip(f"{token.split(':')[0]} SDK not installed")
    quoted = re.compile(rf"""['"]{re.escape(token)}['"]""")
    assert any(quoted.search(f.read_text(encoding="utf-8")) for f in directory.glob("*.py")), token


@pytest.mark.parametrize("cloud", registry.clouds())
def test_each_catalog_holds_its_own_cloud_only(cloud):
    prefixes = {"aws": "aws:", "gcp": "gcp:", "azure": "azure-native:"}
    cat = registry.catalog(cloud)
    assert cat.DATA_BEARING and all(t.startswith(prefixes[cloud]) for t in cat.DATA_BEARING)
    assert all(t.startswith(prefixes[cloud]) for t in cat.REPLACE_ON_CHANGE)
    # Every data-bearing type says which inputs replace it.
    assert set(cat.DATA_BEARING) <= set(cat.REPLACE_ON_CHANGE)
    assert all(t.startswith(prefixes[cloud]) for t in getattr(cat, "REPLACE_WHEN", {}))


def test_the_cloud_neutral_code_names_no_clouds_resource_type():
    """A cloud's resource types (what it stores, what replaces what) live in its catalog: a Pulumi type
    token of any cloud quoted in infra/, pipelines/ or the core provider modules is a cloud's knowledge
    outside its folder (it was: GCP's BigQuery schema rule in infra/diff/resources.py)."""
    token = re.compile(r"""['"](aws|gcp|azure-native):[a-zA-Z0-9]+/[a-zA-Z0-9]+:[A-Za-z0-9]+['"]""")
    core = [*(ROOT / "infra").rglob("*.py"), *(ROOT / "pipelines").rglob("*.py"), *(ROOT / "providers").glob("*.py")]
    found = [
        f"{path.relative_to(ROOT)}: {m.group(0)}"
        for path in core
        for m in token.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []


@pytest.mark.parametrize("cloud", registry.clouds())
def test_a_catalog_imports_no_sdk(cloud):
    probe = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        f"from providers import registry; registry.catalog({cloud!r}); registry.data_bearing()\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout)
    sdks = ("pulumi_aws", "pulumi_gcp", "pulumi_azure_native", "sagemaker", "boto3", "google.cloud", "kfp", "azure.")
    assert [m for m in loaded if m.startswith(sdks)] == []
    assert [m for m in loaded if m.startswith(("providers.aws", "providers.gcp", "providers.azure"))] == []


@pytest.fixture(scope="module")
def declared_types() -> set[str]:
    types: set[str] = set()
    for cloud in registry.clouds():
        result = plan(load_stack_file(ROOT / f"Pulumi.{cloud}-dev.yaml"))
        types |= {r.type for r in result.resources}
    return types


@pytest.mark.parametrize("token", TOKENS)
def test_no_stale_entry(token, declared_types):
    # A type no example plan declares is knowledge nobody checks: it must go (or say why it stays).
    assert token in declared_types
