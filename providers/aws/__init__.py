"""AWS: SageMaker, S3, KMS, IAM, EventBridge, CloudWatch and SNS."""

from __future__ import annotations

from typing import Any

import pulumi

from providers.aws import translate as _translate
from providers.base import Components, Deployment, Provider


class AwsProvider(Provider):
    cloud = "aws"
    config_keys = {"region": "aws:region"}

    def translate(self, deployment: Deployment) -> Any:
        return _translate.translate(deployment)

    def build(self, deployment: Deployment) -> Components:
        # Imported here: pulumi_aws is only loaded once AWS is the chosen cloud.
        from providers.aws.endpoint import Endpoint
        from providers.aws.feature_store import FeatureStore
        from providers.aws.foundation import Foundation
        from providers.aws.model_monitor import ModelMonitor
        from providers.aws.model_registry import ModelRegistry
        from providers.aws.retraining_trigger import RetrainingTrigger
        from providers.aws.training_pipeline import TrainingPipeline

        name = deployment.platform.prefix
        foundation = Foundation(name, deployment)
        feature_store = FeatureStore(name, deployment, foundation)
        registry = ModelRegistry(name, deployment)
        pipeline = TrainingPipeline(name, deployment, foundation, registry)
        endpoint = Endpoint(name, deployment, foundation, registry)
        monitor = ModelMonitor(name, deployment, foundation, endpoint)
        trigger = RetrainingTrigger(name, deployment, foundation, monitor, pipeline)
        pulumi.log.debug(f"declared {name} on aws")
        return Components(foundation, feature_store, registry, pipeline, endpoint, monitor, trigger)
