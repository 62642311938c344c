"""GCP / Vertex AI: the platform on Vertex AI Pipelines, Feature Store v2, Model Registry, endpoints."""

from __future__ import annotations

from typing import ClassVar

from providers.base import ComponentClasses, Provider, Target
from providers.gcp import catalog
from providers.gcp import translate as _translate  # the module: `providers.gcp.translate` stays importable as one
from providers.gcp.translate import GcpSettings


class GcpProvider(Provider[GcpSettings]):
    cloud = "gcp"
    config_keys: ClassVar = catalog.CONFIG_KEYS
    optional_config_keys: ClassVar = catalog.OPTIONAL_CONFIG_KEYS
    region_key: ClassVar[str] = catalog.REGION_KEY

    def translate(self, target: Target) -> GcpSettings:
        return _translate.translate(target)

    def components(self) -> ComponentClasses:
        # Imported here: pulumi_gcp is only loaded when a GCP stack is built.
        from providers.gcp.endpoint import Endpoint
        from providers.gcp.feature_store import FeatureStore
        from providers.gcp.foundation import Foundation
        from providers.gcp.model_monitor import ModelMonitor
        from providers.gcp.model_registry import ModelRegistry
        from providers.gcp.retraining_trigger import RetrainingTrigger
        from providers.gcp.training_pipeline import TrainingPipeline

        return ComponentClasses(
            foundation=Foundation,
            feature_store=FeatureStore,
            model_registry=ModelRegistry,
            training_pipeline=TrainingPipeline,
            endpoint=Endpoint,
            model_monitor=ModelMonitor,
            retraining_trigger=RetrainingTrigger,
        )
