"""Azure Machine Learning provider: the seven capabilities on Azure ML, with pulumi-azure-native."""

from __future__ import annotations

from typing import ClassVar

from providers.base import Components, Deployment, Provider


class AzureProvider(Provider):
    cloud = "azure"
    config_keys: ClassVar = {"location": "azure-native:location"}
    optional_config_keys: ClassVar = {"subscription_id": "azure-native:subscriptionId"}
    unsupported: ClassVar = {
        "feature_store online encryption": "Azure Cache for Redis (the online store) takes no customer-managed key",
    }

    def translate(self, deployment: Deployment):
        from providers.azure.translate import translate

        return translate(deployment)

    def build(self, deployment: Deployment) -> Components:
        from providers.azure.endpoint import Endpoint
        from providers.azure.feature_store import FeatureStore
        from providers.azure.foundation import Foundation
        from providers.azure.model_monitor import ModelMonitor
        from providers.azure.model_registry import ModelRegistry
        from providers.azure.retraining_trigger import RetrainingTrigger
        from providers.azure.training_pipeline import TrainingPipeline

        prefix = deployment.platform.prefix
        foundation = Foundation(f"{prefix}-foundation", deployment)
        feature_store = FeatureStore(f"{prefix}-features", deployment, foundation)
        registry = ModelRegistry(f"{prefix}-registry", deployment, foundation)
        training = TrainingPipeline(f"{prefix}-training", deployment, foundation, registry)
        endpoint = Endpoint(f"{prefix}-endpoint", deployment, foundation, registry, training)
        model_monitor = ModelMonitor(f"{prefix}-monitor", deployment, foundation, training, endpoint)
        trigger = RetrainingTrigger(f"{prefix}-retrain", deployment, foundation, training, model_monitor)
        return Components(foundation, feature_store, registry, training, endpoint, model_monitor, trigger)
