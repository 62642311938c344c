"""Components' own Outputs, read under @pulumi.runtime.test (the decorator makes the asserts run)."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from infra.config import load_stack_file, resolve_file
from infra.plan import use_offline_mocks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def mocks():
    use_offline_mocks("aws", "aws-dev")


@pytest.fixture
def deployment():
    return resolve_file(load_stack_file(ROOT / "Pulumi.aws-dev.yaml"))[1]


@pulumi.runtime.test
def test_foundation_publishes_s3_uri_key_and_role(deployment):
    from providers.aws.foundation import Foundation

    foundation = Foundation("t", deployment)

    def check(values):
        uri, key, role = values
        assert uri == "s3://t-data-mock"
        assert key.startswith("arn:aws:kms:eu-west-1:123456789012:key/")
        assert role == "arn:aws:iam::123456789012:role/t-sagemaker-mock"

    return pulumi.Output.all(
        *(foundation.published[k] for k in ("storage_uri", "encryption_key", "execution_identity"))
    ).apply(check)


@pulumi.runtime.test
def test_registry_version_arn(deployment):
    from providers.aws.model_registry import ModelRegistry

    registry = ModelRegistry("t", deployment)

    def check(arn):
        assert arn == "arn:aws:sagemaker:eu-west-1:123456789012:model-package/churn-dev-models/3"

    return registry.version_arn(3).apply(check)


def test_publish_rejects_a_missing_contract_key(deployment):
    from providers.base import Capability

    class Broken(Capability):
        cloud = "aws"
        capability = "Endpoint"

    with pytest.raises(TypeError, match=r"must publish exactly \['endpoint', 'serving'\]"):
        Broken("b").publish(endpoint=None)
