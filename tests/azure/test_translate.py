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
    assert (s.storage_account, s.code_account, s.key_vault) == (
        "churndevdata",
        "churndevcode",
        "churn-dev-kv",
    )
    assert s.endpoint_instance == "Standard_DS2_v2" and s.training_instance == "Standard_DS4_v2"
    assert s.public_network_access == "Disabled"
    assert s.feature_types["customer_profile"]["tenure_months"] == "Long"
    assert s.materialization == t.Recurrence("Hour", 1, minutes=(0,))


def test_storage_account_name_too_long_names_the_platform_name():
    with pytest.raises(SpecError) as err:
        _resolve(**{"name": "customerchurnmodel", "environment": "staging"})
    assert err.value.key == "mlops:platform.name"
    assert "storage account" in err.value.rule and "3-24 lowercase" in err.value.rule


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


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("*/15 * * * *", t.Recurrence("Minute", 15)),
        ("5 */6 * * *", t.Recurrence("Hour", 6, minutes=(5,))),
        ("30 2 * * *", t.Recurrence("Day", 1, hours=(2,), minutes=(30,))),
        ("0 4 * * 1,3", t.Recurrence("Week", 1, hours=(4,), minutes=(0,), week_days=("Monday", "Wednesday"))),
        (
            "0 4 * * mon-wed",
            t.Recurrence("Week", 1, hours=(4,), minutes=(0,), week_days=("Monday", "Tuesday", "Wednesday")),
        ),
        ("0 4 * * 0-7", t.Recurrence("Day", 1, hours=(4,), minutes=(0,))),
        ("0,30 * * * *", t.Recurrence("Minute", 30)),
        ("0 */12 * * *", t.Recurrence("Hour", 12, minutes=(0,))),
    ],
)
def test_online_sync_schedule_to_recurrence(cron, expected):
    assert t.cron_to_recurrence(cron, "k") == expected


@pytest.mark.parametrize("cron", ["*/5,7 * * * *", "*/7 * * * *", "0 3 1 * *", "0 0 * 2 *", "5 * * * 1"])
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
