"""Azure components' own published Outputs, read under @pulumi.runtime.test (which runs the asserts)."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from infra.config import load_stack_file, resolve_file
from infra.plan import use_offline_mocks
from providers.azure import offline

ROOT = Path(__file__).resolve().parents[2]
RG = f"/subscriptions/{offline.SUBSCRIPTION}/resourceGroups/churn-dev-rg/providers/"


@pytest.fixture(autouse=True)
def mocks():
    use_offline_mocks("azure", "azure-dev")


@pytest.fixture
def deployment():
    return resolve_file(load_stack_file(ROOT / "Pulumi.azure-dev.yaml"))[1]


@pulumi.runtime.test
def test_foundation_publishes_uri_key_id_and_identity_id(deployment):
    from providers.azure.foundation import Foundation

    foundation = Foundation("t", deployment)

    def check(values):
        uri, key, identity = values
        assert uri == "abfss://data@churndevdata.dfs.core.windows.net/"
        assert key == RG + "Microsoft.KeyVault/vaults/churn-dev-kv/keys/churn-dev-cmk"
        assert identity == RG + "Microsoft.ManagedIdentity/userAssignedIdentities/churn-dev-id"

    keys = ("storage_uri", "encryption_key", "execution_identity")
    return pulumi.Output.all(*(foundation.published[k] for k in keys)).apply(check)


@pulumi.runtime.test
def test_feature_store_publishes_group_ids(deployment):
    from providers.azure.feature_store import FeatureStore
    from providers.azure.foundation import Foundation

    store = FeatureStore("t-features", deployment, Foundation("t", deployment))
    groups = store.published["feature_groups"]
    assert set(groups) == {g.name for g in deployment.platform.feature_store.feature_groups}

    def check(ids):
        for (group, value), resource_id in zip(groups.items(), ids, strict=True):
            assert resource_id == RG + f"Microsoft.MachineLearningServices/workspaces/churn-dev-fs/featuresets/{group}"
            assert value["offline"] == f"abfss://data@churndevdata.dfs.core.windows.net/features/{group}/"
            assert isinstance(value["online"], bool)

    return pulumi.Output.all(*(value["id"] for value in groups.values())).apply(check)
