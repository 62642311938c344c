"""`check_data_contract`: the platform's feature store holds what the pipeline reads (issue 16:
`scripts/mutation.py --only spec` showed none of its feature-group refusals was tested). Each
mismatch is refused with the key to change and the rule, written here literally."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from pipelines import get_pipeline
from providers.spec import SpecError, check_data_contract, parse_platform

ROOT = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((ROOT / "Pulumi.aws-dev.yaml").read_text())["config"]["mlops:platform"]
GROUP = "mlops:platform.feature_store.feature_groups[0]"


def _changed(change) -> dict:
    data = copy.deepcopy(BASE)
    change(data["feature_store"]["feature_groups"])
    return data


def _rename_group(groups):
    groups[0]["name"] = "customers"
    groups.append({**copy.deepcopy(groups[0]), "name": "orders", "online": False})


def _no_groups(groups):
    groups.clear()


def _second_group_first(groups):
    groups.insert(0, {**copy.deepcopy(groups[0]), "name": "other", "online": False})


def _entity(groups):
    groups[0]["entity"] = "account_id"


def _event_time(groups):
    groups[0]["event_time"] = "updated_at"


def _drop_feature(groups):
    groups[0]["features"] = [f for f in groups[0]["features"] if f["name"] != "support_calls"]


def _retype_feature(groups):
    for feature in groups[0]["features"]:
        if feature["name"] == "tenure_months":
            feature["type"] = "float"


@pytest.mark.parametrize(
    ("change", "key", "rule"),
    [
        (
            _rename_group,
            "mlops:platform.feature_store.feature_groups",
            "pipeline 'churn' reads feature group 'customer_profile', which the platform does not declare "
            "(declared: customers, orders)",
        ),
        (
            _no_groups,
            "mlops:platform.feature_store.feature_groups",
            "pipeline 'churn' reads feature group 'customer_profile', which the platform does not declare "
            "(declared: none)",
        ),
        (_entity, f"{GROUP}.entity", "is 'account_id'; pipeline 'churn' keys its data by 'customer_id'"),
        (_event_time, f"{GROUP}.event_time", "is 'updated_at'; pipeline 'churn' times its data by 'event_time'"),
        (
            _drop_feature,
            f"{GROUP}.features",
            "lacks 'support_calls' (int), which pipeline 'churn' writes and reads",
        ),
        (
            _retype_feature,
            f"{GROUP}.features",
            "declares 'tenure_months' as float; pipeline 'churn' reads it as int",
        ),
    ],
)
def test_each_mismatch_names_the_key_and_the_rule(change, key, rule):
    platform = parse_platform(_changed(change))
    with pytest.raises(SpecError) as info:
        check_data_contract(platform, get_pipeline("churn"))
    assert info.value.key == key
    assert info.value.rule == rule


def test_the_group_is_found_by_name_and_its_key_carries_its_index():
    data = _changed(_second_group_first)
    check_data_contract(parse_platform(data), get_pipeline("churn"))  # no error: found at index 1
    data["feature_store"]["feature_groups"][1]["entity"] = "account_id"
    with pytest.raises(SpecError) as info:
        check_data_contract(parse_platform(data), get_pipeline("churn"))
    assert info.value.key == "mlops:platform.feature_store.feature_groups[1].entity"


def test_the_key_prefix_is_the_callers():
    platform = parse_platform(_changed(_entity))
    with pytest.raises(SpecError) as info:
        check_data_contract(platform, get_pipeline("churn"), key="stack.platform")
    assert info.value.key == "stack.platform.feature_store.feature_groups[0].entity"


def test_the_example_platform_holds_what_churn_reads():
    check_data_contract(parse_platform(copy.deepcopy(BASE)), get_pipeline("churn"))  # no error
