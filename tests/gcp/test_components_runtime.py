"""GCP components' own Outputs, read under @pulumi.runtime.test with the offline mocks."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pytest

from infra.config import load_stack_file, resolve_file
from infra.plan import use_offline_mocks

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def mocks():
    use_offline_mocks("gcp", "gcp-dev")


@pytest.fixture
def deployment():
    return resolve_file(load_stack_file(ROOT / "Pulumi.gcp-dev.yaml"))[1]


@pulumi.runtime.test
def test_foundation_publishes_bucket_key_path_and_identity(deployment):
    from providers.gcp.foundation import Foundation

    foundation = Foundation("t", deployment)

    def check(values):
        uri, key, identity = values
        assert uri == "gs://my-ml-project-churn-dev-mlops"
        assert key == "projects/my-ml-project/locations/europe-west4/keyRings/churn-dev-mlops/cryptoKeys/churn-dev-cmek"
        assert identity == "churn-dev-ml@my-ml-project.iam.gserviceaccount.com"

    keys = ("storage_uri", "encryption_key", "execution_identity")
    return pulumi.Output.all(*(foundation.published[k] for k in keys)).apply(check)


@pulumi.runtime.test
def test_endpoint_publishes_the_endpoint_path_and_deploys_to_it(deployment):
    from providers.gcp.endpoint import Endpoint
    from providers.gcp.foundation import Foundation
    from providers.gcp.model_registry import ModelRegistry

    foundation = Foundation("f", deployment)
    registry = ModelRegistry("r", deployment)
    endpoint = Endpoint("e", deployment, foundation, registry)
    assert endpoint.published["serving"] == (
        "model version 1 of projects/my-ml-project/locations/europe-west4/models/churn-dev-churn"
    )
    model = "projects/my-ml-project/locations/europe-west4/models/churn-dev-churn"
    assert registry.published["model_registry"] == model

    def check(values):
        published, endpoint_id, deployed_to = values
        assert published == endpoint_id == deployed_to
        assert published == "projects/my-ml-project/locations/europe-west4/endpoints/1966262384"

    # the DeployedModel's endpoint input is the AiEndpoint's id Output (a replacement flows in)
    return pulumi.Output.all(endpoint.published["endpoint"], endpoint.endpoint.id, endpoint.deployed.endpoint).apply(
        check
    )


@pulumi.runtime.test
def test_retraining_trigger_publishes_a_list_of_alert_policy_ids(deployment):
    from providers.gcp.endpoint import Endpoint
    from providers.gcp.foundation import Foundation
    from providers.gcp.model_monitor import ModelMonitor
    from providers.gcp.model_registry import ModelRegistry
    from providers.gcp.retraining_trigger import RetrainingTrigger
    from providers.gcp.training_pipeline import TrainingPipeline

    foundation = Foundation("f", deployment)
    registry = ModelRegistry("r", deployment)
    training = TrainingPipeline("p", deployment, foundation, registry)
    endpoint = Endpoint("e", deployment, foundation, registry)
    monitor = ModelMonitor("m", deployment, foundation, endpoint)
    trigger = RetrainingTrigger("t", deployment, foundation, training, monitor)

    def check(values):
        alarms, topic, target, schedule = values
        assert isinstance(alarms, list) and len(alarms) == 1
        assert alarms[0].startswith("projects/my-ml-project/alertPolicies/")
        assert topic.startswith("projects/my-ml-project/notificationChannels/")  # the e-mail channel
        assert target == "projects/my-ml-project/locations/europe-west4/workflows/churn-dev-retrain"
        assert schedule.startswith("projects/my-ml-project/locations/europe-west4/schedules/")

    return pulumi.Output.all(
        pulumi.Output.all(*trigger.published["drift_alarm"]),
        trigger.published["alert_topic"],
        trigger.published["retrain_target"],
        monitor.published["monitor"],
    ).apply(check)
