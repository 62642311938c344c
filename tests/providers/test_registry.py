"""providers/registry.py: the one list of clouds, each cloud's catalog, the extra check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import load_stack_file, resolve
from providers import registry, spec
from providers.spec import SpecError

ROOT = Path(__file__).resolve().parents[2]


def test_the_registry_is_the_one_list_of_clouds():
    assert registry.clouds() == ("aws", "gcp", "azure")
    assert registry.clouds() == spec.CLOUDS
    assert set(registry.implemented()) == {"aws", "gcp", "azure"}


@pytest.mark.parametrize(
    ("cloud", "required", "optional", "region"),
    [
        ("aws", ("aws:region",), (), "aws:region"),
        ("gcp", ("gcp:project", "gcp:region"), (), "gcp:region"),
        ("azure", ("azure-native:location",), ("azure-native:subscriptionId",), "azure-native:location"),
    ],
)
def test_config_keys_and_region_key(cloud, required, optional, region):
    assert registry.config_keys(cloud) == (required, optional)
    assert registry.region_key(cloud) == region
    assert registry.extra(cloud) == cloud
    # The provider class reads the same keys the catalog names.
    provider = registry.get(cloud)
    assert tuple(provider.config_keys.values()) == required
    assert tuple(provider.optional_config_keys.values()) == optional


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_example_config_is_valid_for_the_cloud(cloud):
    config = dict(load_stack_file(ROOT / f"Pulumi.{cloud}-dev.yaml").config)
    for key in registry.config_keys(cloud)[0]:
        config.pop(key)
    config.update(registry.example_config(cloud))
    provider, _ = resolve("t", config.get)
    assert provider.cloud == cloud


@pytest.mark.parametrize("cloud", ["aws", "gcp", "azure"])
def test_required_modules_are_in_the_extra(cloud):
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    distributions = " ".join(extras[registry.extra(cloud)]).lower().replace("-", "_").replace(".", "_")
    assert registry.missing_modules(cloud) == ()  # installed here
    for module in registry.required_modules(cloud):
        top = {"google.cloud.aiplatform": "google_cloud_aiplatform", "azure.ai.ml": "azure_ai_ml"}.get(module, module)
        top = {"azure.identity": "azure_identity", "botocore": "boto3"}.get(top, top)
        assert top.replace(".", "_") in distributions, (module, extras[registry.extra(cloud)])


def test_a_missing_extra_is_one_line_naming_it(monkeypatch):
    monkeypatch.setattr(registry, "_installed", lambda module: module != "pulumi_gcp")
    with pytest.raises(SpecError) as info:
        registry.get("gcp")
    assert info.value.key == "mlops:cloud"
    assert info.value.rule == (
        "gcp needs the 'gcp' extra (missing: pulumi_gcp): pip install -e '.[gcp]' -c constraints.txt"
    )


@pytest.mark.parametrize(("cloud", "hidden"), [("gcp", "pulumi_gcp"), ("azure", "azure.ai.ml"), ("aws", "sagemaker")])
def test_plan_without_the_extra_exits_2_in_one_line(cloud, hidden):
    # The module is made unimportable the way a missing install is: find_spec finds nothing.
    probe = (
        "import sys, importlib.util\n"
        f"sys.modules[{hidden!r}] = None\n"
        "from infra.cli import main\n"
        f"sys.exit(main(['plan', '--stack', '{cloud}-dev']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr == (
        f"mlops: invalid config: mlops:cloud: {cloud} needs the '{cloud}' extra (missing: {hidden}): "
        f"pip install -e '.[{cloud}]' -c constraints.txt\n"
    )


def test_unknown_and_unimplemented_clouds(monkeypatch):
    with pytest.raises(SpecError, match="unknown cloud 'oracle'"):
        registry.get("oracle")
    with pytest.raises(SpecError, match="unknown cloud 'oracle'"):
        registry.catalog("oracle")
    monkeypatch.setitem(registry._PROVIDERS, "gcp", ("providers.not_there", "Nope"))
    assert "gcp" not in registry.implemented()
    with pytest.raises(SpecError, match="the gcp provider is not implemented yet"):
        registry.get("gcp")


def test_data_tables_merge_every_cloud():
    data = registry.data_bearing()
    assert data["aws:s3/bucket:Bucket"] == "bucket"
    assert data["gcp:bigquery/table:Table"] == "BigQuery table"
    assert data["azure-native:keyvault:Key"] == "encryption key"
    assert registry.replace_on_change()["aws:sagemaker/endpoint:Endpoint"] == ("name",)
