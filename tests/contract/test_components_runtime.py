"""Every cloud's seven components, built by the provider itself, under @pulumi.runtime.test.

The decorator makes the asserts inside `apply` run. Each component publishes exactly its contract
keys, and the resolved values are the cloud's full ids: expected values are written here, literally,
per cloud (a mock value that is random per name is matched by a pattern).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pulumi
import pytest

from infra.config import load_stack_file, resolve_file
from infra.plan import use_offline_mocks
from providers.base import OUTPUT_KEYS, Capability

ROOT = Path(__file__).resolve().parents[2]
AZ = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/churn-dev-rg/providers/"
AZ_WS = AZ + "Microsoft.MachineLearningServices/workspaces/"

EXPECTED: dict[str, dict[str, Any]] = {
    "aws": {
        "storage_uri": "s3://churn-dev-foundation-data-mock",
        "encryption_key": re.compile(r"^arn:aws:kms:eu-west-1:123456789012:key/"),
        "execution_identity": "arn:aws:iam::123456789012:role/churn-dev-foundation-sagemaker-mock",
        "feature_groups": {
            "customer_profile": {
                "id": "arn:aws:sagemaker:eu-west-1:123456789012:feature-group/churn-dev-customer_profile",
                "offline": "s3://churn-dev-foundation-data-mock/feature-store/123456789012/sagemaker/eu-west-1/"
                "offline-store/churn-dev-customer_profile-1700000000/data",
                "online": True,
            }
        },
        "model_registry": "arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/churn-dev-models",
        "approval": "manual",
        "training_pipeline": "arn:aws:sagemaker:eu-west-1:123456789012:pipeline/churn-dev-churn",
        "training_schedule": re.compile(r"^arn:aws:scheduler:eu-west-1:123456789012:schedule/churn-dev/"),
        "endpoint": "arn:aws:sagemaker:eu-west-1:123456789012:endpoint/churn-dev-endpoint-small",
        "serving": "model version 1 of arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/churn-dev-models",
        # the kit's drift check (the default engine): a Scheduler schedule creating the drift job
        "monitor": "arn:aws:scheduler:eu-west-1:123456789012:schedule/churn-dev-drift/churn-dev-drift-check",
        # the drift alarm and the silent-check alarm (a drift check that stopped running)
        "drift_alarm": [
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:churn-dev-feature-drift",
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:churn-dev-drift-check-silent",
        ],
        "alert_topic": re.compile(r"^arn:aws:sns:eu-west-1:123456789012:"),
        # drift starts the pipeline through the retrain guard (one retraining per episode)
        "retrain_target": "arn:aws:lambda:eu-west-1:123456789012:function:churn-dev-retrain-guard",
    },
    "gcp": {
        "storage_uri": "gs://my-ml-project-churn-dev-mlops",
        "encryption_key": "projects/my-ml-project/locations/europe-west4/keyRings/churn-dev-mlops/"
        "cryptoKeys/churn-dev-cmek",
        "execution_identity": "churn-dev-ml@my-ml-project.iam.gserviceaccount.com",
        "feature_groups": {
            "customer_profile": {
                "id": "projects/my-ml-project/locations/europe-west4/featureGroups/churn_dev_customer_profile",
                "offline": "projects/my-ml-project/datasets/churn_dev_features/tables/customer_profile",
                "online": True,
            }
        },
        "model_registry": "projects/my-ml-project/locations/europe-west4/models/churn-dev-churn",
        "approval": "manual",
        "training_pipeline": "gs://my-ml-project-churn-dev-mlops/pipelines/churn-dev-churn/pipeline.json",
        "training_schedule": re.compile(r"^projects/my-ml-project/locations/europe-west4/schedules/\d+$"),
        "endpoint": "projects/my-ml-project/locations/europe-west4/endpoints/1966262384",
        "serving": "model version 1 of projects/my-ml-project/locations/europe-west4/models/churn-dev-churn",
        "monitor": re.compile(r"^projects/my-ml-project/locations/europe-west4/schedules/\d+$"),
        "drift_alarm": [re.compile(r"^projects/my-ml-project/alertPolicies/\d+$")],
        "alert_topic": re.compile(r"^projects/my-ml-project/notificationChannels/\d+$"),
        "retrain_target": "projects/my-ml-project/locations/europe-west4/workflows/churn-dev-retrain",
    },
    "azure": {
        # 9a37a12b27: the stack's suffix (sha256 of the resource group's ARM id, see tests/azure)
        "storage_uri": "abfss://data@churndevdata9a37a12b27.dfs.core.windows.net/",
        "encryption_key": AZ + "Microsoft.KeyVault/vaults/churn-dev-kv-9a37a12b27/keys/churn-dev-cmk",
        "execution_identity": AZ + "Microsoft.ManagedIdentity/userAssignedIdentities/churn-dev-id",
        "feature_groups": {
            "customer_profile": {
                "id": AZ_WS + "churn-dev-fs/featuresets/customer_profile",
                "offline": "abfss://data@churndevdata9a37a12b27.dfs.core.windows.net/features/customer_profile/",
                "online": True,
            }
        },
        "model_registry": AZ_WS + "churn-dev-ws/models/churn-dev-churn",
        "approval": "manual",
        "training_pipeline": re.compile(
            r"^https://churndevcode9a37a12b27\.blob\.core\.windows\.net/code/churn/[0-9a-f]{12}/"
        ),
        "training_schedule": AZ_WS + "churn-dev-ws/schedules/churn-dev-training",
        "endpoint": AZ_WS + "churn-dev-ws/onlineEndpoints/churn-dev-ep-9a37a12b27",
        "serving": "model version 1 of " + AZ_WS + "churn-dev-ws/models/churn-dev-churn",
        "monitor": AZ_WS + "churn-dev-ws/schedules/churn-dev-monitor",
        # the drift alert and the alert on a drift check that stopped writing results
        "drift_alarm": [
            AZ + "Microsoft.Insights/scheduledQueryRules/churn-dev-drift",
            AZ + "Microsoft.Insights/scheduledQueryRules/churn-dev-drift-check-missing",
        ],
        "alert_topic": AZ + "Microsoft.Insights/actionGroups/churn-dev-drift",
        "retrain_target": AZ + "Microsoft.Logic/workflows/churn-dev-retrain",
    },
}
COMPONENT_NAMES = [
    "churn-dev-foundation",
    "churn-dev-feature-store",
    "churn-dev-model-registry",
    "churn-dev-training-pipeline",
    "churn-dev-endpoint",
    "churn-dev-model-monitor",
    "churn-dev-retraining-trigger",
]


def _matches(actual: Any, expected: Any) -> bool:
    if isinstance(expected, re.Pattern):
        return isinstance(actual, str) and expected.search(actual) is not None
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and set(actual) == set(expected)
            and all(_matches(actual[k], v) for k, v in expected.items())
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_matches(a, e) for a, e in zip(actual, expected, strict=True))
        )
    return actual == expected


@pytest.fixture(params=sorted(EXPECTED))
def cloud(request) -> str:
    use_offline_mocks(request.param, f"{request.param}-dev")
    return request.param


@pulumi.runtime.test
def test_components_publish_the_contract_with_full_ids(cloud):
    provider, deployment = resolve_file(load_stack_file(ROOT / f"Pulumi.{cloud}-dev.yaml"))
    components = provider.build(deployment)
    assert [c._name for c in components.all()] == COMPONENT_NAMES
    published: dict[str, Any] = {}
    for component in components.all():
        assert set(component.published) == set(OUTPUT_KEYS[component.capability])
        published.update(component.published)
    keys = sorted(published)

    def check(values: list[Any]) -> None:
        resolved = dict(zip(keys, values, strict=True))
        wrong = {k: resolved[k] for k in keys if not _matches(resolved[k], EXPECTED[cloud][k])}
        assert wrong == {}

    return pulumi.Output.all(*(pulumi.Output.from_input(published[k]) for k in keys)).apply(check)


def test_publish_rejects_a_missing_contract_key():
    use_offline_mocks("aws", "aws-dev")

    class Broken(Capability):
        cloud = "aws"
        capability = "Endpoint"

    with pytest.raises(TypeError, match=r"must publish exactly \['endpoint', 'serving'\]"):
        Broken("b").publish(endpoint=None)
