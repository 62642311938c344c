"""Azure's own rules: each broken one is a SpecError naming the key to change."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from infra.config import load_stack_file, resolve
from providers.azure import translate as t
from providers.spec import SpecError

ROOT = Path(__file__).resolve().parents[2]
BASE = load_stack_file(ROOT / "Pulumi.azure-dev.yaml").config


def _resolve(**changes):
    config = copy.deepcopy(BASE)
    platform = config["mlops:platform"]
    for dotted, value in changes.items():
        if dotted == "location":
            config["azure-native:location"] = value
            continue
        *path, last = dotted.split(".")
        node = platform
        for part in path:
            node = node[part]
        node[last] = value
    return resolve("azure-dev", config.get)


def test_example_stack_translates():
    _, deployment = _resolve()
    s = deployment.settings
    assert (s.resource_group, s.workspace, s.feature_store) == ("churn-dev-rg", "churn-dev-ws", "churn-dev-fs")
    assert s.deployment_name == "model-v1"
    assert s.endpoint_instance == "Standard_D2as_v4" and s.training_instance == "Standard_D4s_v3"
    assert s.public_network_access == "Disabled"
    assert s.feature_types["customer_profile"]["tenure_months"] == "Long"
    assert s.materialization == t.Recurrence("Hour", 1, start_time="2020-01-01T00:00:00")


# The suffix of the example stack: sha256("/subscriptions/00000000-0000-0000-0000-000000000000/
# resourcegroups/churn-dev-rg") starts 9a37a12b27 (computed once by hand, written here literally).
def test_the_suffix_is_stable_per_stack_and_differs_across_subscriptions_and_groups():
    sub = "00000000-0000-0000-0000-000000000000"
    assert t.unique_suffix(sub, "churn-dev-rg") == "9a37a12b27"
    assert t.unique_suffix(sub.upper(), "CHURN-DEV-RG") == "9a37a12b27"  # ARM ids are case-insensitive
    assert t.unique_suffix("11111111-1111-1111-1111-111111111111", "churn-dev-rg") != "9a37a12b27"
    assert t.unique_suffix(sub, "churn-prod-rg") != "9a37a12b27"


def test_every_globally_unique_name_carries_the_suffix():
    assert t.global_names("churn-dev", "9a37a12b27") == t.GlobalNames(
        data_account="churndevdata9a37a12b27",
        workspace_account="churndevws9a37a12b27",
        code_account="churndevcode9a37a12b27",
        approvals_account="churndevgate9a37a12b27",
        key_vault="churn-dev-kv-9a37a12b27",
        workspace_vault="churn-dev-wkv-9a37a12b27",
        registry="churndevacr9a37a12b27",
        redis="churn-dev-online-9a37a12b27",
        endpoint="churn-dev-ep-9a37a12b27",
    )


# Every valid platform name, at the longest (20 characters) and with the longest environment:
# each Azure name still follows Azure's rule (cut to fit; the suffix keeps it unique).
@pytest.mark.parametrize("name", ["abc", "a" * 20, "a-b-c-d-e-f-g-h-i-jk", "customer-churn-model"])
@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_names_fit_azures_rules_for_every_valid_platform_name(name, environment):
    names = t.global_names(f"{name}-{environment}", "f0f0f0f0f0")
    assert t.check_names(names) == names
    for account in (names.data_account, names.workspace_account, names.code_account, names.approvals_account):
        assert 3 <= len(account) <= 24 and account.isalnum() and account.endswith("f0f0f0f0f0")
    for vault in (names.key_vault, names.workspace_vault):
        assert 3 <= len(vault) <= 24 and "--" not in vault and vault[0].isalpha() and vault.endswith("-f0f0f0f0f0")
    assert 3 <= len(names.endpoint) <= 32 and names.endpoint.endswith("-f0f0f0f0f0")
    _, deployment = _resolve(name=name, environment=environment)
    assert deployment.settings.prefix == f"{name}-{environment}"


@pytest.mark.parametrize(("version", "name"), [(1, "model-v1"), (3, "model-v3"), (10**24, "model-v" + "1" + "0" * 24)])
def test_deployment_names_begin_with_a_letter_and_fit_32_characters(version, name):
    assert t.deployment_name(version) == name


def test_a_version_too_long_for_a_deployment_name_names_the_key():
    with pytest.raises(SpecError) as err:
        t.deployment_name(10**25)
    assert err.value.key == "mlops:platform.endpoint.model_version"


# Portable sizes (CONTEXT: small 2 vCPU / 8 GB, medium 4/16, large 8/32, gpu 4 vCPU, >= 16 GB, one
# T4), written out from Microsoft Learn: training = "What are compute targets in Azure Machine
# Learning?" (supported series DSv3, NCasT4_v3) + "Dv3 and Dsv3-series"; serving = "Managed online
# endpoints SKU list" + "Dav4 and Dasv4-series"; gpu = "NCasT4_v3-series".
SIZES = {
    "training": {
        "small": ("Standard_D2s_v3", 2, 8, None),
        "medium": ("Standard_D4s_v3", 4, 16, None),
        "large": ("Standard_D8s_v3", 8, 32, None),
        "gpu": ("Standard_NC4as_T4_v3", 4, 28, "1 x NVIDIA T4"),
    },
    "serving": {
        "small": ("Standard_D2as_v4", 2, 8, None),
        "medium": ("Standard_D4as_v4", 4, 16, None),
        "large": ("Standard_D8as_v4", 8, 32, None),
        "gpu": ("Standard_NC4as_T4_v3", 4, 28, "1 x NVIDIA T4"),
    },
}
PORTABLE = {"small": (2, 8), "medium": (4, 16), "large": (8, 32)}


@pytest.mark.parametrize("use", ["training", "serving"])
def test_sizes_map_to_the_portable_table(use):
    table = t.TRAINING_SIZES if use == "training" else t.ENDPOINT_SIZES
    got = {size: (v.name, v.vcpus, v.memory_gb, v.gpu) for size, v in table.items()}
    assert got == SIZES[use]
    for size, (vcpus, memory) in PORTABLE.items():
        _, cpus, mem, gpu = got[size]
        assert cpus == vcpus and abs(mem - memory) <= memory * 0.10 and gpu is None
    _, cpus, mem, gpu = got["gpu"]
    assert cpus == 4 and mem >= 16 and gpu == "1 x NVIDIA T4"


@pytest.mark.parametrize("size", ["small", "medium", "large", "gpu"])
def test_each_size_reaches_the_deployment_and_the_jobs(size):
    _, deployment = _resolve(**{"endpoint.instance": size, "pipeline.instance": size})
    assert deployment.settings.endpoint_instance == SIZES["serving"][size][0]
    assert deployment.settings.training_instance == SIZES["training"][size][0]


@pytest.mark.parametrize("name", ["Bad_Name", "ab", "x" * 25])
def test_storage_rule(name):
    with pytest.raises(SpecError, match="storage account"):
        t.check_storage_account(name)


@pytest.mark.parametrize("name", ["ab", "1vault", "a--b-vault", "v" * 25, "vault-"])
def test_key_vault_rule(name):
    with pytest.raises(SpecError) as err:
        t.check_key_vault(name)
    assert err.value.key == "mlops:platform.name" and "Key Vault" in err.value.rule


def test_key_vault_accepts_valid():
    assert t.check_key_vault("churn-dev-kv") == "churn-dev-kv"


@pytest.mark.parametrize(
    ("location", "rule"),
    [
        ("West Europe", "lowercase without spaces"),
        ("westeurope2", "unknown Azure region"),
        (42, "lowercase without spaces"),
    ],
)
def test_location_rules(location, rule):
    with pytest.raises(SpecError) as err:
        _resolve(location=location)
    assert err.value.key == "azure-native:location"
    assert rule in err.value.rule


def test_location_is_required():
    config = {k: v for k, v in BASE.items() if k != "azure-native:location"}
    with pytest.raises(SpecError) as err:
        resolve("azure-dev", config.get)
    assert err.value.key == "azure-native:location"


def test_gpu_mapping_needs_a_gpu_region():
    with pytest.raises(SpecError) as err:
        _resolve(**{"endpoint.instance": "gpu", "location": "brazilsouth"})
    assert err.value.key == "mlops:platform.endpoint.instance"
    _, deployment = _resolve(**{"endpoint.instance": "gpu"})
    assert deployment.settings.endpoint_instance == "Standard_NC4as_T4_v3"


@pytest.mark.parametrize("key", ["pipeline.schedule", "monitor.schedule"])
@pytest.mark.parametrize("cron", ["0 3 1 * *", "0 3 * 6 *", "0 3 1-15 * *"])
def test_schedules_restricting_day_of_month_or_month_are_refused(key, cron):
    # Azure ML cron triggers ignore those fields ("DAYS and MONTH are not supported ... treat as *"):
    # the schedule would fire every day.
    with pytest.raises(SpecError) as err:
        _resolve(**{key: cron})
    assert err.value.key == f"mlops:platform.{key}" and "ignore the day-of-month and month" in err.value.rule


@pytest.mark.parametrize("cron", ["0 3 * * 1-5", "*/15 * * * *", "30 2 * * sun"])
def test_day_of_week_schedules_are_kept(cron):
    _resolve(**{"pipeline.schedule": cron, "monitor.schedule": cron})


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("*/15 * * * *", t.Recurrence("Minute", 15, start_time="2020-01-01T00:00:00")),
        ("5,35 * * * *", t.Recurrence("Minute", 30, start_time="2020-01-01T00:05:00")),
        ("* * * * *", t.Recurrence("Minute", 1, start_time="2020-01-01T00:00:00")),
        ("7 * * * *", t.Recurrence("Hour", 1, start_time="2020-01-01T00:07:00")),
        ("5 */6 * * *", t.Recurrence("Day", 1, hours=(0, 6, 12, 18), minutes=(5,))),
        ("30 2 * * *", t.Recurrence("Day", 1, hours=(2,), minutes=(30,))),
        ("0,30 2,14 * * *", t.Recurrence("Day", 1, hours=(2, 14), minutes=(0, 30))),
        ("0 4 * * 1,3", t.Recurrence("Week", 1, hours=(4,), minutes=(0,), week_days=("Monday", "Wednesday"))),
        (
            "0 4 * * mon-wed",
            t.Recurrence("Week", 1, hours=(4,), minutes=(0,), week_days=("Monday", "Tuesday", "Wednesday")),
        ),
        ("0 4 * * 0-7", t.Recurrence("Day", 1, hours=(4,), minutes=(0,))),
        ("0,30 * * * *", t.Recurrence("Minute", 30, start_time="2020-01-01T00:00:00")),
        ("0 */12 * * *", t.Recurrence("Day", 1, hours=(0, 12), minutes=(0,))),
    ],
)
def test_online_sync_schedule_to_recurrence(cron, expected):
    assert t.cron_to_recurrence(cron, "k") == expected


@pytest.mark.parametrize(
    "cron", ["*/5,7 * * * *", "*/7 * * * *", "5,20 * * * *", "0 3 1 * *", "0 0 * 2 *", "5 * * * 1", "* 3 * * *"]
)
def test_schedules_a_recurrence_cannot_express_exit_2_naming_the_key(tmp_path, cron):
    import subprocess
    import sys

    import yaml

    document = yaml.safe_load((ROOT / "Pulumi.azure-dev.yaml").read_text())
    document["config"]["mlops:platform"]["feature_store"]["online_sync_schedule"] = cron
    path = tmp_path / "Pulumi.az-t.yaml"
    path.write_text(yaml.safe_dump(document))
    proc = subprocess.run(
        [sys.executable, "-m", "infra.cli", "validate", "--config-file", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("mlops: invalid config: mlops:platform.feature_store.online_sync_schedule: ")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_online_sync_schedule_not_expressible():
    with pytest.raises(SpecError) as err:
        _resolve(**{"feature_store.online_sync_schedule": "0 0 1 * *"})
    assert err.value.key == "mlops:platform.feature_store.online_sync_schedule"
