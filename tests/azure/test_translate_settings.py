"""providers/azure/translate.py: the example stack's whole settings and each helper's table,
written out literally (the tests `scripts/mutation.py --only azure-translate` runs per mutant, with
tests/azure/test_translate.py). No stack is planned.

Sources: the Azure naming rules each check cites (storage accounts 3-24 lowercase alphanumerics,
Key Vault 3-24, online endpoints 3-32), the portable size table (issue 11), Azure ML recurrence
triggers (Microsoft Learn, "CLI (v2) schedule YAML schema").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.config import load_stack_file, resolve_file
from providers.azure import translate as t
from providers.spec import SpecError

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_stack_translates_to_exactly_these_settings():
    _, deployment = resolve_file(load_stack_file(ROOT / "Pulumi.azure-dev.yaml"))
    assert deployment.settings == t.AzureSettings(
        location="westeurope",
        prefix="churn-dev",
        tags={"mlops-platform": "churn", "mlops-environment": "dev", "team": "ml-platform"},
        resource_group="churn-dev-rg",
        workspace="churn-dev-ws",
        feature_store="churn-dev-fs",
        model_name="churn-dev-churn",
        deployment_name="model-v1",
        endpoint_size=t.VmSize(name="Standard_D2as_v4", vcpus=2, memory_gb=8, gpu=None),
        training_size=t.VmSize(name="Standard_D4s_v3", vcpus=4, memory_gb=16, gpu=None),
        public_network_access="Disabled",
        materialization=t.Recurrence("Hour", 1, start_time="2020-01-01T00:00:00"),
        feature_types={
            "customer_profile": {
                "tenure_months": "Long",
                "monthly_charges": "Double",
                "contract_type": "String",
                "support_calls": "Long",
                "total_charges": "Double",
                "payment_method": "String",
                "paperless_billing": "Boolean",
                "avg_monthly_spend": "Double",
                "support_calls_per_year": "Double",
            }
        },
    )


def test_the_settings_name_the_global_names_of_a_suffix():
    _, deployment = resolve_file(load_stack_file(ROOT / "Pulumi.azure-dev.yaml"))
    assert deployment.settings.names("0123456789").key_vault == "churn-dev-kv-0123456789"
    assert deployment.settings.names("9a37a12b27").endpoint == "churn-dev-ep-9a37a12b27"


def test_the_suffix_is_the_resource_groups_hash():
    # sha256("/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/churn-dev-rg")[:10]
    assert t.unique_suffix("00000000-0000-0000-0000-000000000000", "churn-dev-rg") == "9a37a12b27"
    assert t.unique_suffix("00000000-0000-0000-0000-000000000000", "CHURN-DEV-RG") == "9a37a12b27"


def test_global_names_end_in_the_suffix_and_fit():
    assert t.global_names("churn-dev", "0123456789") == t.GlobalNames(
        data_account="churndevdata0123456789",
        workspace_account="churndevws0123456789",
        code_account="churndevcode0123456789",
        approvals_account="churndevgate0123456789",
        key_vault="churn-dev-kv-0123456789",
        workspace_vault="churn-dev-wkv-0123456789",
        registry="churndevacr0123456789",
        redis="churn-dev-online-0123456789",
        endpoint="churn-dev-ep-0123456789",
    )
    # A long prefix is cut so each name fits (24 for accounts and vaults, 32 for the endpoint).
    assert t.global_names("a-very-long-platform-name-prod", "abcdef0123") == t.GlobalNames(
        data_account="averylongpdataabcdef0123",
        workspace_account="averylongplawsabcdef0123",
        code_account="averylongpcodeabcdef0123",
        approvals_account="averylongpgateabcdef0123",
        key_vault="a-very-lon-kv-abcdef0123",
        workspace_vault="a-very-lo-wkv-abcdef0123",
        registry="averylongplatformnameprodacrabcdef0123",
        redis="a-very-long-platform-name-prod-online-abcdef0123",
        endpoint="a-very-long-platfo-ep-abcdef0123",
    )


@pytest.mark.parametrize(
    ("cron", "recurrence"),
    [
        ("* * * * *", t.Recurrence("Minute", 1, start_time="2020-01-01T00:00:00")),
        ("*/15 * * * *", t.Recurrence("Minute", 15, start_time="2020-01-01T00:00:00")),
        ("10-59/20 * * * *", t.Recurrence("Minute", 20, start_time="2020-01-01T00:10:00")),
        ("5 * * * *", t.Recurrence("Hour", 1, start_time="2020-01-01T00:05:00")),
        ("0 3 * * *", t.Recurrence("Day", 1, hours=(3,), minutes=(0,))),
        ("30 2,14 * * *", t.Recurrence("Day", 1, hours=(2, 14), minutes=(30,))),
        (
            "0 3 * * 1-5",
            t.Recurrence(
                "Week", 1, hours=(3,), minutes=(0,), week_days=("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")
            ),
        ),
        ("0 3 * * 0,7", t.Recurrence("Week", 1, hours=(3,), minutes=(0,), week_days=("Sunday",))),
        ("0 3 * * 6", t.Recurrence("Week", 1, hours=(3,), minutes=(0,), week_days=("Saturday",))),
    ],
)
def test_each_cron_shape_a_recurrence_expresses(cron, recurrence):
    assert t.cron_to_recurrence(cron, "k") == recurrence


@pytest.mark.parametrize(
    ("cron", "rule"),
    [
        ("0 3 1 * *", "'0 3 1 * *': Azure materialization schedules cannot pick days of the month or months"),
        ("0 3 * 2 *", "'0 3 * 2 *': Azure materialization schedules cannot pick days of the month or months"),
        (
            "5,20 * * * *",
            "'5,20 * * * *': every hour, an Azure recurrence fires at one minute or every N minutes "
            "(N dividing 60); use e.g. '*/15 * * * *' or '5 * * * *'",
        ),
        (
            "*/7 * * * *",
            "'*/7 * * * *': every hour, an Azure recurrence fires at one minute or every N minutes "
            "(N dividing 60); use e.g. '*/15 * * * *' or '5 * * * *'",
        ),
        (
            "20-59/20 * * * *",
            "'20-59/20 * * * *': every hour, an Azure recurrence fires at one minute or every N minutes "
            "(N dividing 60); use e.g. '*/15 * * * *' or '5 * * * *'",
        ),
        (
            "* 3 * * *",
            "'* 3 * * *': with fixed hours or week days an Azure recurrence needs fixed minutes, e.g. '0 3 * * *'",
        ),
        ("0 * * * 1", "'0 * * * 1': on chosen week days an Azure recurrence needs fixed hours"),
    ],
)
def test_a_cron_a_recurrence_cannot_express_is_refused(cron, rule):
    with pytest.raises(SpecError) as raised:
        t.cron_to_recurrence(cron, "k")
    assert (raised.value.key, raised.value.rule) == ("k", rule)


def test_schedules_must_not_restrict_days_of_month_or_months():
    t.check_schedule(None, "k")
    t.check_schedule("0 3 * * 1-5", "k")
    with pytest.raises(SpecError) as raised:
        t.check_schedule("0 3 1 * *", "k")
    assert (raised.value.key, raised.value.rule) == (
        "k",
        "'0 3 1 * *': Azure ML schedules ignore the day-of-month and month fields (they would fire every day); "
        "use '*' there (a day of the week is fine)",
    )


def test_the_deployment_name_fits_32_characters():
    assert t.deployment_name(7) == "model-v7"
    assert t.deployment_name(10**24) == "model-v" + "1" + "0" * 24  # 32 characters
    with pytest.raises(SpecError) as raised:
        t.deployment_name(10**25)
    assert (raised.value.key, raised.value.rule) == (
        "mlops:platform.endpoint.model_version",
        f"version {10**25} gives the deployment name 'model-v{10**25}', over 32 characters",
    )


@pytest.mark.parametrize(
    ("location", "rule"),
    [
        (
            "West Europe",
            "must be an Azure region name in lowercase without spaces (e.g. westeurope), got 'West Europe'",
        ),
        (3, "must be an Azure region name in lowercase without spaces (e.g. westeurope), got 3"),
        ("westeurope2", "unknown Azure region 'westeurope2' (e.g. westeurope, eastus2)"),
    ],
)
def test_a_bad_location_is_refused(location, rule):
    with pytest.raises(SpecError) as raised:
        t.check_location(location)
    assert (raised.value.key, raised.value.rule) == ("azure-native:location", rule)
    assert t.check_location("westeurope") == "westeurope"


# --- found by mutation testing (scripts/mutation.py --only azure-translate) -------------------------

GOOD = t.global_names("churn-dev", "0123456789")


def test_a_cut_prefix_ending_in_a_hyphen_loses_it():
    names = t.global_names("abcdefghijklmnopq-prod", "0123456789")
    assert names.endpoint == "abcdefghijklmnopq-ep-0123456789"  # prefix cut to 18: "abcdefghijklmnopq-"
    assert (names.key_vault, names.workspace_vault) == ("abcdefghij-kv-0123456789", "abcdefghi-wkv-0123456789")


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        (
            {"data_account": "ab"},
            "gives the Azure storage account name 'ab' (2 characters); storage account names must be 3-24 "
            "lowercase letters and digits: shorten the name",
        ),
        (
            {"code_account": "Code0123"},
            "gives the Azure storage account name 'Code0123' (8 characters); storage account names must be 3-24 "
            "lowercase letters and digits: shorten the name",
        ),
        (
            {"key_vault": "1abc"},
            "gives the Azure Key Vault name '1abc' (4 characters); vault names must be 3-24 letters, digits and "
            "single hyphens, starting with a letter: shorten the name",
        ),
        (
            {"workspace_vault": "a--b"},
            "gives the Azure Key Vault name 'a--b' (4 characters); vault names must be 3-24 letters, digits and "
            "single hyphens, starting with a letter: shorten the name",
        ),
        ({"registry": "ab"}, "gives the container registry name 'ab'; it must be 5-50 letters and digits"),
        ({"redis": "a--b"}, "gives the Redis cache name 'a--b'; it must be 1-63 letters, digits, hyphens"),
        ({"endpoint": "ab"}, "gives the online endpoint name 'ab'; it must be 3-32 characters"),
        ({"endpoint": "a" * 33}, f"gives the online endpoint name '{'a' * 33}'; it must be 3-32 characters"),
        ({"endpoint": "abc-"}, "gives the online endpoint name 'abc-'; it must be 3-32 characters"),
    ],
)
def test_a_global_name_breaking_azures_rule_is_refused_naming_the_key(change, rule):
    import dataclasses

    with pytest.raises(SpecError) as raised:
        t.check_names(dataclasses.replace(GOOD, **change), "k")
    assert (raised.value.key, raised.value.rule) == ("k", rule)


def test_endpoint_names_of_3_and_32_characters_are_accepted():
    import dataclasses

    for endpoint in ("abc", "a" * 32):
        assert t.check_names(dataclasses.replace(GOOD, endpoint=endpoint), "k").endpoint == endpoint


def test_a_bad_cron_is_refused_under_the_key_given():
    for check in (t.cron_to_recurrence, t.check_schedule):
        with pytest.raises(SpecError) as raised:
            check("61 * * * *", "k")
        assert (raised.value.key, raised.value.rule) == ("k", "'61 * * * *': minute 61 is out of range 0-59")


@pytest.mark.parametrize("section", ["endpoint", "pipeline"])
def test_gpu_where_azure_ml_offers_none_lists_the_regions_that_do(section):
    import copy

    import yaml

    from infra.config import resolve

    config = copy.deepcopy(yaml.safe_load((ROOT / "Pulumi.azure-dev.yaml").read_text(encoding="utf-8"))["config"])
    config["azure-native:location"] = "brazilsouth"
    config["mlops:platform"][section]["instance"] = "gpu"
    with pytest.raises(SpecError) as raised:
        resolve("azure-dev", config.get)
    assert (raised.value.key, raised.value.rule) == (
        f"mlops:platform.{section}.instance",
        "gpu (Standard_NC4as_T4_v3) is not offered to Azure ML in brazilsouth; pick small|medium|large or a region "
        "among australiaeast, canadacentral, centralindia, eastus, eastus2, francecentral, japaneast, koreacentral, "
        "northcentralus, northeurope, southcentralus, southeastasia, swedencentral, uksouth, westeurope, westus2, "
        "westus3",
    )


def test_nothing_served_and_public_access_in_azures_terms():
    import copy

    import yaml

    from infra.config import resolve

    config = copy.deepcopy(yaml.safe_load((ROOT / "Pulumi.azure-dev.yaml").read_text(encoding="utf-8"))["config"])
    config["mlops:platform"]["endpoint"]["model_version"] = None
    config["mlops:platform"].setdefault("network", {})["public_access"] = True
    settings = resolve("azure-dev", config.get)[1].settings
    assert (settings.deployment_name, settings.public_network_access) == (None, "Enabled")
