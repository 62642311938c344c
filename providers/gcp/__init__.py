"""GCP / Vertex AI: the platform on Vertex AI Pipelines, Feature Store v2, Model Registry, endpoints."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from providers.base import Components, Deployment, Provider
from providers.gcp.translate import GcpSettings


class GcpProvider(Provider):
    cloud = "gcp"
    config_keys: ClassVar[Mapping[str, str]] = {"project": "gcp:project", "region": "gcp:region"}

    def translate(self, deployment: Deployment) -> GcpSettings:
        # Imported by module path: `providers.gcp.translate` must stay the module, not the function.
        from providers.gcp.translate import translate as to_gcp

        return to_gcp(deployment)

    def build(self, deployment: Deployment) -> Components:
        # Imported here: pulumi_gcp is only loaded when a GCP stack is built.
        from providers.gcp.endpoint import Endpoint
        from providers.gcp.feature_store import FeatureStore
        from providers.gcp.foundation import Foundation
        from providers.gcp.model_monitor import ModelMonitor
        from providers.gcp.model_registry import ModelRegistry
        from providers.gcp.retraining_trigger import RetrainingTrigger
        from providers.gcp.training_pipeline import TrainingPipeline

        prefix = deployment.platform.prefix
        foundation = Foundation(f"{prefix}-foundation", deployment)
        feature_store = FeatureStore(f"{prefix}-features", deployment, foundation)
        registry = ModelRegistry(f"{prefix}-registry", deployment)
        training = TrainingPipeline(f"{prefix}-training", deployment, foundation, registry)
        endpoint = Endpoint(f"{prefix}-serving", deployment, foundation, registry)
        monitor = ModelMonitor(f"{prefix}-monitor", deployment, foundation, endpoint)
        trigger = RetrainingTrigger(f"{prefix}-retrain", deployment, foundation, training, monitor)
        return Components(foundation, feature_store, registry, training, endpoint, monitor, trigger)
